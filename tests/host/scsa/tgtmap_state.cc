#include "tgtmap_state.h"

namespace fk::scsa {

bool TgtMapState::set_begin() {
  if (mode_ != Mode::kFullSet) {
    return false;
  }
  // A new begin while a set is open restarts the set: the HBA gave up on the old one.
  in_set_ = true;
  building_.clear();
  return true;
}

bool TgtMapState::set_add(const std::string &addr, int type, void *priv) {
  if (mode_ != Mode::kFullSet || !in_set_ || addr.empty()) {
    return false;
  }
  building_[addr] = Entry{type, priv};
  return true;
}

bool TgtMapState::set_end(int64_t now_ns) {
  if (mode_ != Mode::kFullSet || !in_set_) {
    return false;
  }
  in_set_ = false;
  reported_ = std::move(building_);
  building_.clear();
  have_reported_ = true;
  // The report must stay unchanged for the settle time before it is acted on.
  set_deadline_ = now_ns + settle_ns_;
  return true;
}

bool TgtMapState::set_flush() {
  if (mode_ != Mode::kFullSet || !in_set_) {
    return false;
  }
  in_set_ = false;
  building_.clear();
  return true;
}

bool TgtMapState::tgt_add(const std::string &addr, int type, void *priv, int64_t now_ns) {
  if (mode_ != Mode::kPerAddr || addr.empty()) {
    return false;
  }
  peraddr_[addr] = PerAddr{true, type, priv, now_ns + settle_ns_};
  return true;
}

bool TgtMapState::tgt_remove(const std::string &addr, int type, int64_t now_ns) {
  if (mode_ != Mode::kPerAddr || addr.empty()) {
    return false;
  }
  auto pending = peraddr_.find(addr);
  if (pending == peraddr_.end() && active_.count(addr) == 0) {
    return false;  // never reported
  }
  void *priv = pending != peraddr_.end() ? pending->second.priv : nullptr;
  peraddr_[addr] = PerAddr{false, type, priv, now_ns + settle_ns_};
  return true;
}

int64_t TgtMapState::next_deadline() const {
  int64_t best = -1;
  if (mode_ == Mode::kFullSet) {
    best = set_deadline_;
  } else {
    for (const auto &[addr, p] : peraddr_) {
      if (best < 0 || p.deadline < best) {
        best = p.deadline;
      }
    }
  }
  return best;
}

std::vector<TgtMapState::Action> TgtMapState::expire(int64_t now_ns) {
  std::vector<Action> deact;
  std::vector<Action> act;
  if (mode_ == Mode::kFullSet) {
    if (set_deadline_ < 0 || now_ns < set_deadline_ || !have_reported_) {
      return {};
    }
    set_deadline_ = -1;
    for (auto it = active_.begin(); it != active_.end();) {
      if (reported_.count(it->first) == 0) {
        deact.push_back(
            Action{Action::Kind::kDeactivate, it->first, it->second.type, it->second.priv});
        it = active_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto &[addr, e] : reported_) {
      if (active_.count(addr) == 0) {
        act.push_back(Action{Action::Kind::kActivate, addr, e.type, e.priv});
        active_[addr] = e;
      }
    }
  } else {
    for (auto it = peraddr_.begin(); it != peraddr_.end();) {
      const PerAddr &p = it->second;
      if (p.deadline > now_ns) {
        ++it;
        continue;
      }
      auto a = active_.find(it->first);
      if (p.present && a == active_.end()) {
        act.push_back(Action{Action::Kind::kActivate, it->first, p.type, p.priv});
        active_[it->first] = Entry{p.type, p.priv};
      } else if (!p.present && a != active_.end()) {
        deact.push_back(
            Action{Action::Kind::kDeactivate, it->first, a->second.type, a->second.priv});
        active_.erase(a);
      }
      it = peraddr_.erase(it);
    }
  }
  deact.insert(deact.end(), act.begin(), act.end());
  return deact;
}

std::vector<TgtMapState::Action> TgtMapState::drain() {
  std::vector<Action> out;
  for (const auto &[addr, e] : active_) {
    out.push_back(Action{Action::Kind::kDeactivate, addr, e.type, e.priv});
  }
  active_.clear();
  peraddr_.clear();
  reported_.clear();
  building_.clear();
  in_set_ = false;
  set_deadline_ = -1;
  return out;
}

void TgtMapState::set_priv(const std::string &addr, void *priv) {
  auto it = active_.find(addr);
  if (it != active_.end()) {
    it->second.priv = priv;
  }
}

std::vector<std::string> TgtMapState::active_addrs() const {
  std::vector<std::string> out;
  for (const auto &[addr, e] : active_) {
    out.push_back(addr);
  }
  return out;
}

}  // namespace fk::scsa
