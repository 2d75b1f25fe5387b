// A small fk::DeviceHost over QemuDevice's shared guest RAM, for tests of the device backend
// and for the ring-loop baseline (no userland kernel involved), plus a bump allocator of guest
// pages from QemuDevice::arena_ranges().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "device.h"
#include "qemu_device.h"

namespace pvscsi_qemu {

class TestHost : public fk::DeviceHost {
 public:
  // Does not connect itself: call dev.connect(&host). The destructor disconnects it if it is
  // still the connected host.
  explicit TestHost(QemuDevice &dev);
  ~TestHost() override;

  bool dma_read(uint64_t paddr, void *buf, size_t len) override;
  bool dma_write(uint64_t paddr, const void *buf, size_t len) override;
  void set_intx(bool asserted) override;
  void send_msi(unsigned vector) override;
  int64_t now_ns() override;
  uint64_t schedule(int64_t when_ns, std::function<void()> fn) override;
  bool cancel(uint64_t id) override;

  // Waits (bounded) until the INTx line is at `level`; true when it is.
  bool wait_intx(bool level, std::chrono::milliseconds timeout);
  // Waits (bounded) until intx_raises() differs from `seen`; true when it does.
  bool wait_raise_after(unsigned seen, std::chrono::milliseconds timeout);
  // Waits (bounded) until msis() differs from `seen`; true when it does.
  bool wait_msi_after(unsigned seen, std::chrono::milliseconds timeout);
  bool intx() const;
  unsigned intx_raises() const;  // number of low->high transitions seen
  unsigned msis() const;

 private:
  void callout_loop();

  QemuDevice &dev_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool intx_ = false;
  unsigned raises_ = 0;
  unsigned msis_ = 0;
  // Callouts: id -> (when, fn); one thread runs them in time order.
  std::map<uint64_t, std::pair<int64_t, std::function<void()>>> callouts_;
  uint64_t next_id_ = 1;
  uint64_t running_ = 0;
  bool quit_ = false;
  std::thread callout_thread_;
};

// Hands out page-aligned, zeroed guest-physical memory; nothing is ever freed.
class GuestAllocator {
 public:
  explicit GuestAllocator(const QemuDevice &dev);
  // From the range that holds guest-physical `prefer_above` or higher first (e.g. 4 GiB to get
  // memory above 4 GiB when there is some), then any. Returns 0 when out of memory.
  uint64_t alloc(uint64_t size, uint64_t prefer_above = 0);
  uint8_t *ptr(uint64_t paddr, uint64_t len) const { return dev_.guest_ptr(paddr, len); }

 private:
  const QemuDevice &dev_;
  std::vector<MemoryRange> ranges_;
  std::vector<uint64_t> next_;  // next free offset within each range
};

}  // namespace pvscsi_qemu
