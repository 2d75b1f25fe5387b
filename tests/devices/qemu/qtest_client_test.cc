// QtestClient's watch, against a scripted peer on a socket pair (no QEMU): the reader looks
// after every reply it reads, after the watch's interval when no input comes, never on a timer
// while a reply is awaited, and not at all once the watch is removed.
#include "qtest_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace pvscsi_qemu {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kBound = std::chrono::seconds(5);

// Plays QEMU: answers every command line with "OK" after `delay`.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {
    thread_ = std::thread([this] { run(); });
  }
  ~Peer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::atomic<int> delay_ms{0};
  std::atomic<int64_t> last_reply_ns{0};  // steady clock, when the last reply was written

 private:
  void run() {
    char c;
    while (::read(fd_, &c, 1) == 1) {
      if (c != '\n') continue;
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
      last_reply_ns = Clock::now().time_since_epoch().count();
      if (::write(fd_, "OK\n", 3) != 3) return;
    }
  }
  int fd_;
  std::thread thread_;
};

// Records every look: when, and whether it came after an interval without input.
struct Looks {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<int64_t, bool>> seen;
  int64_t interval_ns = -1;

  QtestClient::Watch watch() {
    return [this](bool timed_out) {
      std::lock_guard<std::mutex> g(mu);
      seen.push_back({Clock::now().time_since_epoch().count(), timed_out});
      cv.notify_all();
      return interval_ns;
    };
  }
  size_t count(bool timed) {
    std::lock_guard<std::mutex> g(mu);
    size_t n = 0;
    for (const auto &s : seen) n += s.second == timed;
    return n;
  }
  bool wait_for(bool timed, size_t n) {
    std::unique_lock<std::mutex> g(mu);
    return cv.wait_for(g, kBound, [&] {
      size_t k = 0;
      for (const auto &s : seen) k += s.second == timed;
      return k >= n;
    });
  }
};

class QtestWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    peer_.reset(new Peer(sv[1]));
    client_.reset(new QtestClient(sv[0], nullptr, std::chrono::milliseconds(5000)));
  }
  void TearDown() override {
    client_->close();
    client_.reset();
    peer_.reset();
  }
  Looks looks;  // outlives the client's reader, which may call its watch until close()
  std::unique_ptr<Peer> peer_;
  std::unique_ptr<QtestClient> client_;
};

TEST_F(QtestWatch, LooksAfterEveryReplyAndNeverOnATimerWithoutAnInterval) {
  looks.interval_ns = -1;  // input only
  client_->set_watch(looks.watch());
  std::string reply;
  for (size_t i = 1; i <= 5; i++) {
    ASSERT_TRUE(client_->command("readl 0x0", &reply));
    ASSERT_TRUE(looks.wait_for(false, i)) << "no look after reply " << i;
  }
  EXPECT_EQ(looks.count(true), 0u);
}

TEST_F(QtestWatch, LooksAfterTheIntervalWhenNoInputComes) {
  looks.interval_ns = 2'000'000;  // 2 ms
  client_->set_watch(looks.watch());
  EXPECT_TRUE(looks.wait_for(true, 3));
}

// While a reply is awaited the reply itself wakes the reader (and it looks then): no timer.
TEST_F(QtestWatch, NoTimedLookWhileAReplyIsAwaited) {
  looks.interval_ns = 1'000'000;  // 1 ms
  client_->set_watch(looks.watch());
  ASSERT_TRUE(looks.wait_for(true, 1));
  peer_->delay_ms = 200;
  const int64_t sent = Clock::now().time_since_epoch().count();
  std::string reply;
  ASSERT_TRUE(client_->command("readl 0x0", &reply));
  const int64_t replied = peer_->last_reply_ns.load();
  size_t during = 0;
  {
    std::lock_guard<std::mutex> g(looks.mu);
    for (const auto &s : looks.seen)
      // A timer armed before the command was sent may still fire once, within its 1 ms.
      during += s.second && s.first > sent + 5'000'000 && s.first < replied;
  }
  EXPECT_EQ(during, 0u);
  EXPECT_TRUE(looks.wait_for(false, 1));                     // the reply brought a look
  EXPECT_TRUE(looks.wait_for(true, looks.count(true) + 2));  // and timed looks resume
}

TEST_F(QtestWatch, RemovedWatchIsNotCalledAgain) {
  looks.interval_ns = 1'000'000;
  client_->set_watch(looks.watch());
  ASSERT_TRUE(looks.wait_for(true, 2));
  client_->set_watch(nullptr);
  size_t n;
  {
    std::lock_guard<std::mutex> g(looks.mu);
    n = looks.seen.size();
  }
  std::string reply;
  ASSERT_TRUE(client_->command("readl 0x0", &reply));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::lock_guard<std::mutex> g(looks.mu);
  EXPECT_EQ(looks.seen.size(), n);
}

}  // namespace
}  // namespace pvscsi_qemu
