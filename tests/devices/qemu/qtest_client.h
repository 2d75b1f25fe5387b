// The qtest text protocol over a connected unix socket: one command line out, one "OK ..." or
// "FAIL ..." line back, with asynchronous "IRQ raise N" / "IRQ lower N" lines interleaved. A
// reader thread splits the two: IRQ lines go to a callback, the rest answer commands in order.
// Every wait is bounded; after a timeout or a closed socket the client is dead and every
// further command fails at once.
//
// A watch (set_watch) lets the reader thread look at something else the device may change
// without a qtest line (QEMU's MSI writes into guest RAM): it is called after every read of
// input - so each reply the host reads anyway is also a look - and whenever the interval it
// returned passes without input while no reply is awaited; the reader blocks on the socket in
// between, never sleeping or spinning.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace pvscsi_qemu {

class QtestClient {
 public:
  using IrqCallback = std::function<void(int irq, bool raised)>;
  // Called on the reader thread; `timed_out` is true when no input came within the interval.
  // Returns the next interval in ns (< 0: none, wait for input only).
  using Watch = std::function<int64_t(bool timed_out)>;

  // Takes ownership of fd (a connected stream socket) and starts the reader thread.
  QtestClient(int fd, IrqCallback on_irq, std::chrono::milliseconds timeout);
  ~QtestClient();
  QtestClient(const QtestClient &) = delete;
  QtestClient &operator=(const QtestClient &) = delete;

  // Sends one command; returns true with the text after "OK" (trimmed) in *reply, or false with
  // *reply describing the failure (FAIL line, timeout, connection closed).
  bool command(const std::string &line, std::string *reply);

  // Convenience wrappers; on failure they record the error (see error()) and return all-ones,
  // as a PCI master abort would.
  uint64_t read(uint64_t addr, unsigned width);
  void write(uint64_t addr, unsigned width, uint64_t value);
  uint32_t in(uint16_t port, unsigned width);
  void out(uint16_t port, unsigned width, uint32_t value);

  // Installs (or, with an empty function, removes) the watch. When it returns the reader uses
  // the new one, and the old one is not running and will not run again.
  void set_watch(Watch watch);

  bool dead() const;
  std::string error() const;
  // Shuts the socket down and joins the reader (idempotent).
  void close();

 private:
  void reader();
  void dispatch(std::string *buf);
  int64_t run_watch(bool timed_out);
  void fail(const std::string &why);

  int fd_;
  int wake_fd_ = -1;  // eventfd: wakes the reader to pick up a new watch
  // A command was sent and its reply not yet read: the reply will wake the reader (and the
  // watch looks then), so it waits without the watch's interval - no timer to arm.
  std::atomic<bool> awaiting_reply_{false};
  IrqCallback on_irq_;
  std::chrono::milliseconds timeout_;
  std::mutex cmd_mu_;  // one command in flight at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> replies_;
  bool dead_ = false;
  std::string error_;
  std::mutex watch_mu_;  // held while the watch runs
  Watch watch_;
  std::thread thread_;
};

}  // namespace pvscsi_qemu
