#include "qtest_client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "qmp_client.h"  // send_all

namespace pvscsi_qemu {

QtestClient::QtestClient(int fd, IrqCallback on_irq, std::chrono::milliseconds timeout)
    : fd_(fd), on_irq_(std::move(on_irq)), timeout_(timeout) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { reader(); });
}

QtestClient::~QtestClient() { close(); }

void QtestClient::close() {
  if (fd_ >= 0) {
    shutdown(fd_, SHUT_RDWR);
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
  fail("qtest connection closed");
}

void QtestClient::fail(const std::string &why) {
  std::lock_guard<std::mutex> g(mu_);
  if (!dead_) {
    dead_ = true;
    error_ = why;
  }
  cv_.notify_all();
}

bool QtestClient::dead() const {
  std::lock_guard<std::mutex> g(mu_);
  return dead_;
}

std::string QtestClient::error() const {
  std::lock_guard<std::mutex> g(mu_);
  return error_;
}

void QtestClient::set_watch(Watch watch) {
  {
    std::lock_guard<std::mutex> g(watch_mu_);
    watch_ = std::move(watch);
  }
  uint64_t one = 1;
  if (wake_fd_ >= 0 && ::write(wake_fd_, &one, sizeof one) < 0) {
    // The counter is far from overflowing; nothing else can fail here.
  }
}

int64_t QtestClient::run_watch(bool timed_out) {
  std::lock_guard<std::mutex> g(watch_mu_);
  return watch_ ? watch_(timed_out) : -1;
}

// Splits complete lines off `buf`: IRQ lines go to the callback, the rest answer commands.
void QtestClient::dispatch(std::string *buf) {
  size_t nl;
  while ((nl = buf->find('\n')) != std::string::npos) {
    std::string line = buf->substr(0, nl);
    buf->erase(0, nl + 1);
    if (line.compare(0, 4, "IRQ ") == 0) {
      // "IRQ raise N" / "IRQ lower N"
      bool raised = line.compare(4, 5, "raise") == 0;
      int irq = std::atoi(line.c_str() + 10);
      if (on_irq_) {
        on_irq_(irq, raised);
      }
      continue;
    }
    awaiting_reply_.store(false, std::memory_order_relaxed);
    std::lock_guard<std::mutex> g(mu_);
    replies_.push_back(std::move(line));
    cv_.notify_all();
  }
}

// Blocks in ppoll on the socket (and the wake-up eventfd) for at most the watch's interval;
// runs the watch after every read and every interval that passed without input.
void QtestClient::reader() {
  pthread_setname_np(pthread_self(), "qtest-reader");
  // Wait as long as asked: the default timer slack (50 us) would stretch a short interval.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::string buf;
  char chunk[4096];
  int64_t interval = run_watch(false);
  while (true) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const bool timed = interval >= 0 && !awaiting_reply_.load(std::memory_order_relaxed);
    timespec ts{interval / 1000000000, interval % 1000000000};
    int r = ppoll(p, wake_fd_ >= 0 ? 2 : 1, timed ? &ts : nullptr, nullptr);
    if (r < 0 && errno != EINTR) {
      fail("qtest poll error");
      return;
    }
    if (r > 0 && (p[1].revents & POLLIN) != 0) {
      uint64_t count;
      (void)!::read(wake_fd_, &count, sizeof count);
    }
    if (r > 0 && p[0].revents != 0) {
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
        continue;
      }
      if (n <= 0) {
        fail(n == 0 ? "qtest connection closed by QEMU" : "qtest read error");
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
      dispatch(&buf);
    }
    interval = run_watch(r == 0);
  }
}

bool QtestClient::command(const std::string &line, std::string *reply) {
  std::lock_guard<std::mutex> cmd(cmd_mu_);
  {
    std::lock_guard<std::mutex> g(mu_);
    if (dead_) {
      *reply = error_;
      return false;
    }
    replies_.clear();
  }
  awaiting_reply_.store(true, std::memory_order_relaxed);
  if (!send_all(fd_, line + "\n")) {
    fail("qtest write error (QEMU gone?)");
    *reply = error();
    return false;
  }
  std::unique_lock<std::mutex> g(mu_);
  if (!cv_.wait_for(g, timeout_, [this] { return dead_ || !replies_.empty(); })) {
    dead_ = true;
    error_ =
        "qtest command '" + line + "' timed out after " + std::to_string(timeout_.count()) + " ms";
    *reply = error_;
    return false;
  }
  if (replies_.empty()) {
    *reply = error_;
    return false;
  }
  std::string r = std::move(replies_.front());
  replies_.pop_front();
  if (r.compare(0, 2, "OK") == 0) {
    size_t start = r.find_first_not_of(' ', 2);
    *reply = start == std::string::npos ? "" : r.substr(start);
    return true;
  }
  *reply = "qtest command '" + line + "' failed: " + r;
  return false;
}

namespace {
const char *suffix(unsigned width) {
  switch (width) {
    case 1:
      return "b";
    case 2:
      return "w";
    case 8:
      return "q";
    default:
      return "l";
  }
}
uint64_t all_ones(unsigned width) { return width >= 8 ? ~0ull : (1ull << (8 * width)) - 1; }
std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}
}  // namespace

uint64_t QtestClient::read(uint64_t addr, unsigned width) {
  std::string reply;
  if (!command(std::string("read") + suffix(width) + " " + hex(addr), &reply)) {
    return all_ones(width);
  }
  return std::strtoull(reply.c_str(), nullptr, 0) & all_ones(width);
}

void QtestClient::write(uint64_t addr, unsigned width, uint64_t value) {
  std::string reply;
  command(std::string("write") + suffix(width) + " " + hex(addr) + " " + hex(value), &reply);
}

uint32_t QtestClient::in(uint16_t port, unsigned width) {
  std::string reply;
  if (!command(std::string("in") + suffix(width) + " " + hex(port), &reply)) {
    return static_cast<uint32_t>(all_ones(width));
  }
  return static_cast<uint32_t>(std::strtoull(reply.c_str(), nullptr, 0) & all_ones(width));
}

void QtestClient::out(uint16_t port, unsigned width, uint32_t value) {
  std::string reply;
  command(std::string("out") + suffix(width) + " " + hex(port) + " " + hex(value), &reply);
}

}  // namespace pvscsi_qemu
