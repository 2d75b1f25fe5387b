// A QMP (QEMU Machine Protocol) client over a unix socket: greeting, capability negotiation,
// synchronous commands, and events kept in a queue until someone waits for them. Every wait is
// bounded. Used from one thread at a time (QemuDevice serializes it).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace pvscsi_qemu {

// Writes all of data to a connected stream socket (retrying EINTR, never raising SIGPIPE);
// false when the peer is gone. QMP and qtest both send line by line with it.
bool send_all(int fd, const std::string &data);

// QMP messages; members keep the order they were set in, so commands go out as written.
using Json = nlohmann::ordered_json;

// Parses one QMP line. false with a one-line *error on malformed JSON or nesting deeper than
// kMaxJsonDepth; never throws.
constexpr int kMaxJsonDepth = 64;
bool parse_qmp_message(const std::string &line, Json *msg, std::string *error);

// The string member `key` of `obj`; "" when obj is not an object, or the member is absent or not
// a string.
std::string json_string(const Json &obj, const char *key);

class QmpClient {
 public:
  QmpClient() = default;
  ~QmpClient();
  QmpClient(const QmpClient &) = delete;
  QmpClient &operator=(const QmpClient &) = delete;

  // Connects to the socket QEMU listens on, retrying until the deadline while alive() says the
  // server can still appear; reads the greeting and negotiates capabilities. false + *error.
  bool connect(const std::string &path, std::chrono::steady_clock::time_point deadline,
               const std::function<bool()> &alive, std::string *error);

  // Runs a command; true with the "return" value, or false with the error description.
  bool execute(const std::string &name, const Json &args, Json *ret, std::string *error);

  // Waits for an event named `name` whose data satisfies `match` (nullptr: any); events that
  // arrived earlier count. true with the event removed from the queue; false on timeout.
  bool wait_event(const std::string &name, const std::function<bool(const Json &)> &match,
                  std::chrono::milliseconds timeout, Json *event, std::string *error);

  void close();

  // Per-command timeout.
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 private:
  // Reads one message (a line), up to the deadline.
  bool read_message(std::chrono::steady_clock::time_point deadline, Json *msg, std::string *error);

  int fd_ = -1;
  std::string buf_;
  std::deque<Json> events_;
  std::chrono::milliseconds timeout_{10000};
};

}  // namespace pvscsi_qemu
