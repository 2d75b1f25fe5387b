#include "qmp_client.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

namespace pvscsi_qemu {

bool send_all(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

using Clock = std::chrono::steady_clock;

bool parse_qmp_message(const std::string &line, Json *msg, std::string *error) {
  // The callback sees each value's depth; once past the limit it discards everything, so a
  // runaway nesting never becomes a tree that copies and dumps would recurse through.
  bool too_deep = false;
  auto depth_limit = [&too_deep](int depth, Json::parse_event_t, Json &) {
    too_deep = too_deep || depth > kMaxJsonDepth;
    return !too_deep;
  };
  try {
    Json v = Json::parse(line, depth_limit);
    if (too_deep) {
      *error = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
      return false;
    }
    *msg = std::move(v);
    return true;
  } catch (const Json::parse_error &e) {
    *error = e.what();
    return false;
  }
}

std::string json_string(const Json &obj, const char *key) {
  auto it = obj.find(key);  // end() when obj is not an object
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

QmpClient::~QmpClient() { close(); }

void QmpClient::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool QmpClient::connect(const std::string &path, Clock::time_point deadline,
                        const std::function<bool()> &alive, std::string *error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "QMP socket path too long: " + path;
    return false;
  }
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  while (true) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      *error = std::string("socket: ") + strerror(errno);
      return false;
    }
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0) {
      fd_ = fd;
      break;
    }
    int err = errno;
    ::close(fd);
    if (err != ENOENT && err != ECONNREFUSED) {
      *error = "cannot connect to QMP socket " + path + ": " + strerror(err);
      return false;
    }
    if (!alive()) {
      *error = "QEMU exited before its QMP socket appeared";
      return false;
    }
    if (Clock::now() >= deadline) {
      *error = "timed out waiting for QMP socket " + path;
      return false;
    }
    // QEMU creates the socket during start-up; poll for it in short bounded steps.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Json greeting;
  if (!read_message(deadline, &greeting, error)) {
    return false;
  }
  if (!greeting.contains("QMP")) {
    *error = "unexpected QMP greeting: " + greeting.dump();
    return false;
  }
  Json ret;
  return execute("qmp_capabilities", Json(), &ret, error);
}

bool QmpClient::read_message(Clock::time_point deadline, Json *msg, std::string *error) {
  while (true) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) {
        continue;
      }
      if (!parse_qmp_message(line, msg, error)) {
        *error = "bad QMP message (" + *error + "): " + line;
        return false;
      }
      return true;
    }
    if (fd_ < 0) {
      *error = "QMP not connected";
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      *error = "timed out waiting for a QMP message";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r == 0) {
      continue;  // the deadline check above ends the loop
    }
    char chunk[4096];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      *error = "QMP connection closed by QEMU";
      close();
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

bool QmpClient::execute(const std::string &name, const Json &args, Json *ret, std::string *error) {
  if (fd_ < 0) {
    *error = "QMP not connected";
    return false;
  }
  Json cmd = {{"execute", name}};
  if (args.is_object()) {
    cmd["arguments"] = args;
  }
  std::string out;
  try {
    out = cmd.dump() + "\n";
  } catch (const Json::type_error &e) {  // a string that is not UTF-8
    *error = name + ": " + e.what();
    return false;
  }
  if (!send_all(fd_, out)) {
    *error = "QMP write failed for " + name;
    return false;
  }
  Clock::time_point deadline = Clock::now() + timeout_;
  while (true) {
    Json msg;
    if (!read_message(deadline, &msg, error)) {
      *error = name + ": " + *error;
      return false;
    }
    if (msg.contains("event")) {
      events_.push_back(std::move(msg));
      continue;
    }
    if (auto r = msg.find("return"); r != msg.end()) {
      *ret = *r;
      return true;
    }
    if (auto e = msg.find("error"); e != msg.end()) {
      *error = name + " failed: " + json_string(*e, "class") + ": " + json_string(*e, "desc");
      return false;
    }
    *error = name + ": unexpected QMP reply " + msg.dump();
    return false;
  }
}

bool QmpClient::wait_event(const std::string &name, const std::function<bool(const Json &)> &match,
                           std::chrono::milliseconds timeout, Json *event, std::string *error) {
  Clock::time_point deadline = Clock::now() + timeout;
  size_t checked = 0;
  while (true) {
    for (; checked < events_.size(); checked++) {
      const Json &e = events_[checked];
      auto data = e.find("data");
      if (json_string(e, "event") == name && (!match || match(data != e.end() ? *data : Json()))) {
        *event = e;
        events_.erase(events_.begin() + static_cast<long>(checked));
        return true;
      }
    }
    Json msg;
    if (!read_message(deadline, &msg, error)) {
      *error = "waiting for QMP event " + name + ": " + *error;
      return false;
    }
    if (msg.contains("event")) {
      events_.push_back(std::move(msg));
    }
  }
}

}  // namespace pvscsi_qemu
