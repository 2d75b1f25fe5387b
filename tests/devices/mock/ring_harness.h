// Test scaffolding for the mock device: a DeviceHost with flat memory above 4 GiB, a recorded
// interrupt log and a manual clock with a sorted schedule; and a Harness that plays the driver
// at the register and ring level (no driver, no userland kernel).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "cdb.h"
#include "hand_driver.h"
#include "mock_device.h"

namespace pvscsi_mock::testing {

namespace hw = pvscsi::hw;

struct IrqEvent {
  enum Kind { kIntxHigh, kIntxLow, kMsi } kind;
  unsigned vector;
  int64_t at_ns;
};

class TestHost : public fk::DeviceHost {
 public:
  static constexpr uint64_t kBase = 0x1'2000'0000ull;  // above 4 GiB: 32-bit truncation fails

  explicit TestHost(size_t size = 4u << 20) : mem_(size, 0) {}

  bool dma_read(uint64_t paddr, void *buf, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    if (!in_range(paddr, len)) {
      dma_faults++;
      return false;
    }
    std::memcpy(buf, &mem_[paddr - kBase], len);
    return true;
  }
  bool dma_write(uint64_t paddr, const void *buf, size_t len) override {
    std::lock_guard<std::mutex> g(mu_);
    if (!in_range(paddr, len)) {
      dma_faults++;
      return false;
    }
    std::memcpy(&mem_[paddr - kBase], buf, len);
    return true;
  }
  void set_intx(bool asserted) override {
    std::lock_guard<std::mutex> g(mu_);
    intx = asserted;
    irqs.push_back({asserted ? IrqEvent::kIntxHigh : IrqEvent::kIntxLow, 0, clock_});
  }
  void send_msi(unsigned vector) override {
    std::lock_guard<std::mutex> g(mu_);
    irqs.push_back({IrqEvent::kMsi, vector, clock_});
  }
  int64_t now_ns() override {
    std::lock_guard<std::mutex> g(mu_);
    return clock_;
  }
  uint64_t schedule(int64_t when_ns, std::function<void()> fn) override {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t id = ++next_id_;
    if (fire_at_once) {
      // A host whose timer fires on another thread before schedule() has even returned (the
      // clock jumps to its time): what a busy host with a due event does.
      clock_ = std::max(clock_, when_ns);
      at_once_.emplace_back(std::move(fn));
      return id;
    }
    sched_[{when_ns, id}] = std::move(fn);
    return id;
  }
  // Waits for every call fired at once (and the ones they scheduled in turn).
  void join_fired() {
    for (;;) {
      std::vector<std::thread> ts;
      {
        std::lock_guard<std::mutex> g(mu_);
        ts.swap(at_once_);
      }
      if (ts.empty()) return;
      for (auto &t : ts) t.join();
    }
  }
  ~TestHost() override { join_fired(); }
  std::atomic<bool> fire_at_once{false};
  bool cancel(uint64_t id) override {
    std::lock_guard<std::mutex> g(mu_);
    for (auto it = sched_.begin(); it != sched_.end(); ++it) {
      if (it->first.second == id) {
        sched_.erase(it);
        return true;
      }
    }
    return false;
  }

  // Runs every scheduled call due up to now + ns, in time order, moving the clock to each.
  void advance(int64_t ns) {
    int64_t end;
    {
      std::lock_guard<std::mutex> g(mu_);
      end = clock_ + ns;
    }
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard<std::mutex> g(mu_);
        if (sched_.empty() || sched_.begin()->first.first > end) {
          clock_ = end;
          return;
        }
        auto it = sched_.begin();
        clock_ = std::max(clock_, it->first.first);
        fn = std::move(it->second);
        sched_.erase(it);
      }
      fn();
    }
  }
  size_t scheduled() {
    std::lock_guard<std::mutex> g(mu_);
    return sched_.size();
  }
  int64_t clock() {
    std::lock_guard<std::mutex> g(mu_);
    return clock_;
  }
  size_t msi_count() {
    std::lock_guard<std::mutex> g(mu_);
    size_t n = 0;
    for (auto &e : irqs) {
      n += e.kind == IrqEvent::kMsi;
    }
    return n;
  }

  // Memory for the "driver": a bump allocator of aligned physical ranges.
  uint64_t alloc(size_t len, size_t align = 4096) {
    next_ = (next_ + align - 1) / align * align;
    uint64_t p = kBase + next_;
    next_ += len;
    EXPECT_LE(next_, mem_.size()) << "test host memory exhausted";
    return p;
  }
  uint8_t *ptr(uint64_t paddr) { return &mem_[paddr - kBase]; }
  // Locked copies (the device may be writing from another thread).
  void read_mem(uint64_t paddr, void *dst, size_t len) {
    std::lock_guard<std::mutex> g(mu_);
    std::memcpy(dst, &mem_[paddr - kBase], len);
  }
  void write_mem(uint64_t paddr, const void *src, size_t len) {
    std::lock_guard<std::mutex> g(mu_);
    std::memcpy(&mem_[paddr - kBase], src, len);
  }
  uint32_t r32(uint64_t paddr) {
    uint32_t v;
    read_mem(paddr, &v, 4);
    return v;
  }
  void w32(uint64_t paddr, uint32_t v) { write_mem(paddr, &v, 4); }
  uint64_t end() const { return kBase + mem_.size(); }

  std::vector<IrqEvent> irqs;
  bool intx = false;
  uint64_t dma_faults = 0;

 private:
  bool in_range(uint64_t paddr, size_t len) const {
    return paddr >= kBase && len <= mem_.size() && paddr - kBase <= mem_.size() - len;
  }
  std::mutex mu_;
  std::vector<uint8_t> mem_;
  size_t next_ = 0;
  int64_t clock_ = 0;
  uint64_t next_id_ = 0;
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> sched_;
  std::vector<std::thread> at_once_;
};

// Direction of a test request.
enum class Dir { kNone, kIn, kOut };

// The result of one SCSI request as the driver sees it.
struct Done {
  hw::RingCmpDesc cmp{};
  std::vector<uint8_t> data;   // the data buffer after completion
  std::vector<uint8_t> sense;  // the sense buffer after completion
  uint16_t host() const { return cmp.host_status_raw(); }
  uint16_t scsi() const { return cmp.scsi_status_raw(); }
};

// A profile without the power-on unit attention, for tests that do not look at it.
inline Config quiet(Config c) {
  c.power_on_unit_attention = false;
  return c;
}
// QEMU's profile, quiet, with every request taking latency_ns.
inline Config quiet_qemu(int64_t latency_ns) {
  Config c = quiet(Config::qemu());
  c.latency_ns = latency_ns;
  return c;
}

// The host and the device a Harness plays the driver against (constructed before it).
struct HarnessParts {
  HarnessParts(const Config &cfg, size_t mem) : host(mem), dev(cfg) {}
  TestHost host;
  MockDevice dev;
};

// Plays the driver: the shared hand driver over this host's memory, plus a data, sense and SG
// buffer and synchronous runs on the manual clock.
class Harness : public HarnessParts, public pvscsi_hand::HandDriver {
 public:
  explicit Harness(const Config &cfg = Config::vmware(), size_t mem = 4u << 20)
      : HarnessParts(cfg, mem), HandDriver(dev, dev.register_rnumber(), host, pages(host)) {
    dev.connect(&host);
    data = host.alloc(256 * 1024);
    sense = host.alloc(4096);
    sgl = host.alloc(4096);
  }
  ~Harness() { dev.disconnect(); }

  uint32_t req_entries() { return 1u << rs_field(hw::RingsState::kReqNumEntriesLog2Offset); }
  uint32_t cmp_entries() { return 1u << rs_field(hw::RingsState::kCmpNumEntriesLog2Offset); }

  // Builds a request descriptor for a CDB.
  hw::RingReqDesc request(const std::vector<uint8_t> &cdb, uint32_t target = 0, uint16_t lun = 0,
                          Dir dir = Dir::kNone, uint64_t len = 0, uint64_t ctx = 0) {
    hw::RingReqDesc d{};
    d.set_context(ctx ? ctx : ++next_ctx);
    d.set_data_addr(len ? data : 0).set_data_len(len);
    d.set_sense_addr(sense).set_sense_len(18);
    d.set_flags(dir == Dir::kIn    ? hw::RequestFlag::kDirToHost
                : dir == Dir::kOut ? hw::RequestFlag::kDirToDevice
                                   : hw::RequestFlag::kDirNone);
    d.set_cdb_from(cdb.data(), uint32_t(cdb.size()));
    d.set_cdb_len(uint8_t(cdb.size()));
    d.set_lun(encode_sam_lun(lun));
    d.set_tag(hw::Tag::kSimple);
    d.set_target(uint8_t(target));
    return d;
  }

  // Puts a TEST UNIT READY for LUN 0 of target 0 on the ring, without a kick.
  void put_tur() { put(request({0, 0, 0, 0, 0, 0})); }

  // Submits one request, kicks, lets the clock run and returns its completion.
  Done run(const hw::RingReqDesc &d, int64_t wait_ns = 10'000'000) {
    std::memset(host.ptr(sense), 0xEE, 256);
    put(d);
    kick(d.cdb(0) == 0x28 || d.cdb(0) == 0x2A);
    Done r;
    std::vector<hw::RingCmpDesc> c = take();
    if (c.empty()) {
      host.advance(wait_ns);
      c = take();
    }
    EXPECT_EQ(c.size(), 1u) << "expected exactly one completion";
    if (!c.empty()) {
      r.cmp = c.back();
      EXPECT_EQ(r.cmp.context(), d.context());
    }
    const uint64_t len = std::min<uint64_t>(d.data_len(), 256 * 1024);
    if (d.data_addr() == data) {
      r.data.assign(host.ptr(data), host.ptr(data) + len);
    }
    r.sense.assign(host.ptr(sense), host.ptr(sense) + 18);
    return r;
  }
  // One SCSI command with a data-in buffer of len bytes (or data-out from `out`).
  Done scsi(const std::vector<uint8_t> &cdb, uint32_t target = 0, uint16_t lun = 0,
            Dir dir = Dir::kNone, uint64_t len = 0, const std::vector<uint8_t> &out = {}) {
    if (!out.empty()) {
      std::memcpy(host.ptr(data), out.data(), out.size());
    } else if (dir == Dir::kIn) {
      std::memset(host.ptr(data), 0xAA, std::min<uint64_t>(len, 256 * 1024));
    }
    return run(request(cdb, target, lun, dir, len));
  }
  // Clears the power-on unit attention of a LUN (TEST UNIT READY until GOOD).
  void clear_ua(uint32_t target = 0, uint16_t lun = 0) {
    for (int i = 0; i < 4; i++) {
      if (scsi({0, 0, 0, 0, 0, 0}, target, lun).scsi() == 0) {
        return;
      }
    }
  }

  uint64_t data = 0, sense = 0, sgl = 0;
  uint64_t next_ctx = 0;

 private:
  // The rings state page and every page SETUP_RINGS and SETUP_MSG_RING can name.
  static pvscsi_hand::RingPages pages(TestHost &host) {
    pvscsi_hand::RingPages p;
    p.state = host.alloc(4096);
    for (int i = 0; i < 32; i++) {
      p.req.push_back(host.alloc(4096));
    }
    for (int i = 0; i < 32; i++) {
      p.cmp.push_back(host.alloc(4096));
    }
    for (int i = 0; i < 16; i++) {
      p.msg.push_back(host.alloc(4096));
    }
    return p;
  }
};

// CDBs come from the client's builders (fk::client::cdb), as bytes for request().
namespace cdb = fk::client::cdb;
inline std::vector<uint8_t> bytes(const fk::client::Cdb &c) { return {c.bytes, c.bytes + c.len}; }

constexpr uint16_t raw(hw::HostStatus s) { return hw::to_raw(s); }

}  // namespace pvscsi_mock::testing
