#include "ring_baseline.h"

#include <algorithm>
#include <random>
#include <vector>

#include "test_host.h"

namespace pvscsi_qemu {

namespace hw = pvscsi::hw;
using Clock = std::chrono::steady_clock;

namespace {

uint32_t pages_for(unsigned depth) {
  uint32_t pages = 1;
  while (pages * hw::kReqEntriesPerPage < depth) {
    pages *= 2;
  }
  return pages;
}

bool options_valid(const BaselineOptions &o, uint64_t disk_bytes) {
  return o.queue_depth != 0 && o.queue_depth <= 1024 && o.io_bytes != 0 &&
         o.io_bytes % o.block_size == 0 && o.io_bytes <= (1u << 20) && disk_bytes >= o.io_bytes &&
         o.write_percent <= 100;
}

// The timed loop on rings already set up: one buffer per queue slot (contexts are slot + 1),
// kept busy until total_ios have completed; its figures and any error go to `res`.
class IoLoop {
 public:
  IoLoop(QemuDevice &dev, TestHost &host, HandRings &rings, const BaselineOptions &o,
         uint64_t disk_bytes, BaselineResult *res)
      : dev_(dev),
        host_(host),
        rings_(rings),
        o_(o),
        res_(res),
        buf_(o.queue_depth),
        started_(o.queue_depth),
        is_write_(o.queue_depth),
        rng_(o.seed),
        blocks_(o.io_bytes / o.block_size),
        lbas_(disk_bytes / o.block_size - blocks_ + 1) {}

  // One data buffer per slot. False: guest memory ran out.
  bool allocate(GuestAllocator &mem) {
    for (unsigned i = 0; i < o_.queue_depth; i++) {
      buf_[i] = mem.alloc(o_.io_bytes);
      if (buf_[i] == 0) {
        res_->error = "out of guest memory for data buffers";
        return false;
      }
      free_slots_.push_back(o_.queue_depth - 1 - i);
    }
    return true;
  }

  void run() {
    lat_us_.reserve(o_.total_ios);
    const uint64_t reads0 = dev_.register_reads(), writes0 = dev_.register_writes();
    Clock::time_point t0 = Clock::now();
    while (res_->ios < o_.total_ios) {
      issue();
      if (!reap()) {
        return;
      }
    }
    summarise(t0, reads0, writes0);
  }

 private:
  // Fills every free slot with a random read or write and rings the doorbell (per request, or
  // once for the batch).
  void issue() {
    bool any = false;
    while (!free_slots_.empty() && issued_ < o_.total_ios) {
      unsigned slot = free_slots_.back();
      free_slots_.pop_back();
      ScsiRequest r;
      r.context = slot + 1;
      r.target = static_cast<uint8_t>(o_.target);
      bool write = rng_() % 100 < o_.write_percent;
      uint64_t lba = (static_cast<uint64_t>(rng_()) << 16 ^ rng_()) % lbas_;
      set_rw16(&r, write, lba, static_cast<uint32_t>(blocks_));
      r.data_paddr = buf_[slot];
      r.data_len = o_.io_bytes;
      is_write_[slot] = write;
      started_[slot] = Clock::now();
      rings_.submit(r);
      issued_++;
      if (o_.kick_every_request) {
        rings_.kick(true);
        res_->kicks++;
      } else {
        any = true;
      }
    }
    if (any) {
      rings_.kick(true);
      res_->kicks++;
    }
  }

  // Takes the completions there are, or waits for the next interrupt when there are none.
  // False: an error, set in res_.
  bool reap() {
    // Acknowledge first, then reap: a completion after the acknowledgement raises the line
    // again, one before it is already in the ring (see the test of the same rule).
    if (rings_.ack_interrupts() != 0) {
      res_->interrupts++;
    }
    unsigned raises = host_.intx_raises();
    std::vector<Completion> done = rings_.reap();
    Clock::time_point now = Clock::now();
    for (const Completion &c : done) {
      if (c.context == 0 || c.context > o_.queue_depth) {
        res_->error = "completion with unknown context " + std::to_string(c.context);
        return false;
      }
      unsigned slot = static_cast<unsigned>(c.context - 1);
      if (c.host_status != hw::to_raw(hw::HostStatus::kSuccess) ||
          c.scsi_status != hw::to_raw(hw::ScsiStatus::kGood)) {
        res_->failed_ios++;
      }
      lat_us_.push_back(std::chrono::duration<double, std::micro>(now - started_[slot]).count());
      (is_write_[slot] ? res_->writes : res_->reads)++;
      res_->ios++;
      free_slots_.push_back(slot);
    }
    if (done.empty() && rings_.outstanding() != 0) {
      if (!host_.wait_raise_after(raises, o_.timeout)) {
        res_->error = "no completion within " + std::to_string(o_.timeout.count()) + " ms (" +
                      std::to_string(rings_.outstanding()) + " outstanding)";
        return false;
      }
    }
    if (dev_.failed()) {
      res_->error = "device failed: " + dev_.error();
      return false;
    }
    return true;
  }

  // Rates, register traffic and latency percentiles of the finished loop.
  void summarise(Clock::time_point t0, uint64_t reads0, uint64_t writes0) {
    BaselineResult &res = *res_;
    res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    res.register_reads = dev_.register_reads() - reads0;
    res.register_writes = dev_.register_writes() - writes0;
    res.iops = res.seconds > 0 ? static_cast<double>(res.ios) / res.seconds : 0;
    std::sort(lat_us_.begin(), lat_us_.end());
    double sum = 0;
    for (double v : lat_us_) {
      sum += v;
    }
    if (!lat_us_.empty()) {
      res.mean_latency_us = sum / static_cast<double>(lat_us_.size());
      res.p50_latency_us = lat_us_[lat_us_.size() / 2];
      res.p99_latency_us = lat_us_[std::min(lat_us_.size() - 1, lat_us_.size() * 99 / 100)];
      res.max_latency_us = lat_us_.back();
    }
    res.ok = res.failed_ios == 0;
    if (!res.ok) {
      res.error = std::to_string(res.failed_ios) + " I/Os completed with an error status";
    }
  }

  QemuDevice &dev_;
  TestHost &host_;
  HandRings &rings_;
  const BaselineOptions &o_;
  BaselineResult *res_;
  std::vector<uint64_t> buf_;
  std::vector<Clock::time_point> started_;
  std::vector<bool> is_write_;
  std::vector<unsigned> free_slots_;
  std::mt19937 rng_;
  const uint64_t blocks_;
  const uint64_t lbas_;
  std::vector<double> lat_us_;
  uint64_t issued_ = 0;
};

}  // namespace

BaselineResult run_ring_baseline(QemuDevice &dev, const BaselineOptions &o) {
  BaselineResult res;
  uint64_t disk_bytes = o.disk_bytes != 0 ? o.disk_bytes : 16ull << 20;
  if (!options_valid(o, disk_bytes)) {
    res.error = "bad baseline options";
    return res;
  }
  TestHost host(dev);
  GuestAllocator mem(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrFixed, 1);
  struct Finish {
    QemuDevice &dev;
    ~Finish() {
      dev.write32(hw::Command::kOffset, hw::to_raw(hw::CommandCode::kAdapterReset));
      dev.set_intr_mode(0, 0);
      dev.disconnect();
    }
  } finish{dev};

  RingGeometry geo;
  geo.req_pages = pages_for(o.queue_depth);
  geo.cmp_pages = std::max<uint32_t>(1, geo.req_pages / 4);  // 128 vs 32 entries per page
  geo.msg_pages = 1;
  HandRings rings(dev, host, mem, geo);
  if (uint32_t st = rings.setup(); st != hw::kCommandStatusSuccess) {
    res.error = "ring set-up failed with status " + std::to_string(st);
    return res;
  }

  if (std::string err;
      !rings.clear_unit_attention(host, static_cast<uint8_t>(o.target), o.timeout, &err)) {
    res.error = err;
    return res;
  }

  IoLoop loop(dev, host, rings, o, disk_bytes, &res);
  if (loop.allocate(mem)) {
    loop.run();
  }
  return res;
}

}  // namespace pvscsi_qemu
