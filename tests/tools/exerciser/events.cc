#include "events.h"

#include <algorithm>

#include "sizes.h"

namespace exerciser {

bool Event::mock_only() const {
  switch (kind) {
    case Kind::kRemoveTarget:
    case Kind::kAddTarget:
    case Kind::kResetDevice:
    case Kind::kResetBus:
      return false;
    default:
      return true;
  }
}

namespace {

bool parse_target(const std::string &v, int64_t *t, std::string *error, const std::string &what) {
  uint64_t n = 0;
  if (!parse_uint(v, &n) || n > 255) {
    *error = what + ": target '" + v + "' is not a number 0..255";
    return false;
  }
  *t = int64_t(n);
  return true;
}

}  // namespace

bool parse_event(const std::string &text, Event *out, std::string *error) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    *error = "'" + text + "' is not OPS:ACTION (e.g. 500:remove-target=1)";
    return false;
  }
  Event ev;
  if (!parse_uint(text.substr(0, colon), &ev.at)) {
    *error = "'" + text.substr(0, colon) + "' in '" + text + "' is not a number of ops";
    return false;
  }
  const std::string action = text.substr(colon + 1);
  ev.text = action;
  const size_t eq = action.find('=');
  const std::string name = action.substr(0, eq);
  const std::string value = eq == std::string::npos ? "" : action.substr(eq + 1);
  const bool has_value = eq != std::string::npos;

  auto need_target = [&](Event::Kind k) {
    ev.kind = k;
    if (!has_value) {
      *error = "'" + action + "' needs a target: " + name + "=T";
      return false;
    }
    return parse_target(value, &ev.target, error, "'" + action + "'");
  };
  auto no_value = [&](Event::Kind k) {
    ev.kind = k;
    if (has_value) {
      *error = "'" + action + "' takes no value";
      return false;
    }
    return true;
  };

  bool ok = false;
  if (name == "remove-target") {
    ok = need_target(Event::Kind::kRemoveTarget);
  } else if (name == "add-target") {
    ok = need_target(Event::Kind::kAddTarget);
  } else if (name == "reset-device") {
    ok = need_target(Event::Kind::kResetDevice);
  } else if (name == "reset-bus") {
    ok = no_value(Event::Kind::kResetBus);
  } else if (name == "reset-adapter") {
    ok = no_value(Event::Kind::kResetAdapter);
  } else if (name == "fault") {
    // fault=KIND[,target=T][,count=N]
    std::vector<std::string> parts;
    size_t start = 0;
    while (true) {
      size_t comma = value.find(',', start);
      parts.push_back(
          value.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    const std::string &kind = parts[0];
    if (kind == "error") {
      ev.kind = Event::Kind::kFaultError;
    } else if (kind == "check-condition") {
      ev.kind = Event::Kind::kFaultCheckCondition;
    } else if (kind == "drop-irq") {
      ev.kind = Event::Kind::kFaultDropIrq;
    } else if (kind == "dup-irq") {
      ev.kind = Event::Kind::kFaultDupIrq;
    } else if (kind == "spurious-irq") {
      ev.kind = Event::Kind::kFaultSpuriousIrq;
    } else if (kind == "bad-cmp-index") {
      ev.kind = Event::Kind::kFaultBadCmpIndex;
    } else {
      *error = "'" + action + "': unknown fault '" + kind +
               "' (error, check-condition, drop-irq, dup-irq, spurious-irq, bad-cmp-index)";
      return false;
    }
    for (size_t i = 1; i < parts.size(); i++) {
      const std::string &p = parts[i];
      const size_t e = p.find('=');
      const std::string key = p.substr(0, e);
      const std::string v = e == std::string::npos ? "" : p.substr(e + 1);
      if (key == "target" && e != std::string::npos) {
        if (!parse_target(v, &ev.target, error, "'" + action + "'")) return false;
        if (!ev.injects_errors()) {
          *error = "'" + action + "': target= applies only to error and check-condition";
          return false;
        }
      } else if (key == "count" && e != std::string::npos) {
        uint64_t n = 0;
        if (!parse_uint(v, &n) || n == 0 || n > 1000000) {
          *error = "'" + action + "': count '" + v + "' is not a number 1..1000000";
          return false;
        }
        ev.count = uint32_t(n);
      } else {
        *error = "'" + action + "': unknown fault parameter '" + p + "' (target=T, count=N)";
        return false;
      }
    }
    ok = true;
  } else {
    *error = "unknown action '" + action +
             "' (remove-target=T, add-target=T, reset-device=T, reset-bus, reset-adapter, "
             "fault=KIND)";
    return false;
  }
  if (!ok) return false;
  *out = ev;
  return true;
}

EventSchedule::EventSchedule(std::vector<Event> events) : events_(std::move(events)) {
  std::stable_sort(events_.begin(), events_.end(),
                   [](const Event &a, const Event &b) { return a.at < b.at; });
}

std::vector<Event> EventSchedule::due(uint64_t submitted) {
  std::vector<Event> out;
  while (next_ < events_.size() && events_[next_].at <= submitted) out.push_back(events_[next_++]);
  return out;
}

std::vector<Event> EventSchedule::remaining() const {
  return std::vector<Event>(events_.begin() + long(next_), events_.end());
}

}  // namespace exerciser
