#include "test_host.h"

#include <cstring>

namespace pvscsi_qemu {

using Clock = std::chrono::steady_clock;

TestHost::TestHost(QemuDevice &dev) : dev_(dev) {
  callout_thread_ = std::thread([this] { callout_loop(); });
}

TestHost::~TestHost() {
  dev_.release_host(this);  // no interrupt reaches a destroyed host
  {
    std::lock_guard<std::mutex> g(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  callout_thread_.join();
}

bool TestHost::dma_read(uint64_t paddr, void *buf, size_t len) {
  const uint8_t *p = dev_.guest_ptr(paddr, len);
  if (p == nullptr) {
    return false;
  }
  std::memcpy(buf, p, len);
  return true;
}

bool TestHost::dma_write(uint64_t paddr, const void *buf, size_t len) {
  uint8_t *p = dev_.guest_ptr(paddr, len);
  if (p == nullptr) {
    return false;
  }
  std::memcpy(p, buf, len);
  return true;
}

void TestHost::set_intx(bool asserted) {
  std::lock_guard<std::mutex> g(mu_);
  if (asserted && !intx_) {
    raises_++;
  }
  intx_ = asserted;
  cv_.notify_all();
}

void TestHost::send_msi(unsigned) {
  std::lock_guard<std::mutex> g(mu_);
  msis_++;
  cv_.notify_all();
}

int64_t TestHost::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

uint64_t TestHost::schedule(int64_t when_ns, std::function<void()> fn) {
  std::lock_guard<std::mutex> g(mu_);
  uint64_t id = next_id_++;
  callouts_[id] = {when_ns, std::move(fn)};
  cv_.notify_all();
  return id;
}

bool TestHost::cancel(uint64_t id) {
  std::unique_lock<std::mutex> g(mu_);
  bool found = callouts_.erase(id) != 0;
  cv_.wait(g, [&] { return running_ != id; });
  return found;
}

void TestHost::callout_loop() {
  std::unique_lock<std::mutex> g(mu_);
  while (!quit_) {
    auto next = callouts_.end();
    for (auto it = callouts_.begin(); it != callouts_.end(); ++it) {
      if (next == callouts_.end() || it->second.first < next->second.first) {
        next = it;
      }
    }
    if (next == callouts_.end()) {
      cv_.wait(g);
      continue;
    }
    int64_t now = now_ns();
    if (next->second.first > now) {
      cv_.wait_for(g, std::chrono::nanoseconds(next->second.first - now));
      continue;
    }
    uint64_t id = next->first;
    std::function<void()> fn = std::move(next->second.second);
    callouts_.erase(next);
    running_ = id;
    g.unlock();
    fn();
    g.lock();
    running_ = 0;
    cv_.notify_all();
  }
}

bool TestHost::wait_intx(bool level, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(mu_);
  return cv_.wait_for(g, timeout, [&] { return intx_ == level; });
}

bool TestHost::wait_raise_after(unsigned seen, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(mu_);
  return cv_.wait_for(g, timeout, [&] { return raises_ != seen; });
}

bool TestHost::wait_msi_after(unsigned seen, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(mu_);
  return cv_.wait_for(g, timeout, [&] { return msis_ != seen; });
}

bool TestHost::intx() const {
  std::lock_guard<std::mutex> g(mu_);
  return intx_;
}

unsigned TestHost::intx_raises() const {
  std::lock_guard<std::mutex> g(mu_);
  return raises_;
}

unsigned TestHost::msis() const {
  std::lock_guard<std::mutex> g(mu_);
  return msis_;
}

GuestAllocator::GuestAllocator(const QemuDevice &dev)
    : dev_(dev), ranges_(dev.arena_ranges()), next_(ranges_.size(), 0) {}

uint64_t GuestAllocator::alloc(uint64_t size, uint64_t prefer_above) {
  constexpr uint64_t kPage = 4096;
  size = (size + kPage - 1) & ~(kPage - 1);
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < ranges_.size(); i++) {
      const MemoryRange &r = ranges_[i];
      if (pass == 0 && r.paddr + r.size <= prefer_above) {
        continue;
      }
      if (r.size - next_[i] >= size) {
        uint64_t paddr = r.paddr + next_[i];
        next_[i] += size;
        std::memset(dev_.guest_ptr(paddr, size), 0, size);
        return paddr;
      }
    }
  }
  return 0;
}

}  // namespace pvscsi_qemu
