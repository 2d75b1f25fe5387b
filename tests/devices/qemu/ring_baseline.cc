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

}  // namespace

BaselineResult run_ring_baseline(QemuDevice &dev, const BaselineOptions &o) {
  BaselineResult res;
  uint64_t disk_bytes = o.disk_bytes != 0 ? o.disk_bytes : 16ull << 20;
  if (o.queue_depth == 0 || o.queue_depth > 1024 || o.io_bytes == 0 ||
      o.io_bytes % o.block_size != 0 || o.io_bytes > (1u << 20) || disk_bytes < o.io_bytes ||
      o.write_percent > 100) {
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

  // One buffer per queue slot; contexts are slot + 1.
  std::vector<uint64_t> buf(o.queue_depth);
  std::vector<Clock::time_point> started(o.queue_depth);
  std::vector<bool> is_write(o.queue_depth);
  std::vector<unsigned> free_slots;
  for (unsigned i = 0; i < o.queue_depth; i++) {
    buf[i] = mem.alloc(o.io_bytes);
    if (buf[i] == 0) {
      res.error = "out of guest memory for data buffers";
      return res;
    }
    free_slots.push_back(o.queue_depth - 1 - i);
  }
  std::mt19937 rng(o.seed);
  const uint64_t blocks = o.io_bytes / o.block_size;
  const uint64_t lbas = disk_bytes / o.block_size - blocks + 1;
  std::vector<double> lat_us;
  lat_us.reserve(o.total_ios);

  uint64_t issued = 0;
  const uint64_t reads0 = dev.register_reads(), writes0 = dev.register_writes();
  Clock::time_point t0 = Clock::now();
  while (res.ios < o.total_ios) {
    bool any = false;
    while (!free_slots.empty() && issued < o.total_ios) {
      unsigned slot = free_slots.back();
      free_slots.pop_back();
      ScsiRequest r;
      r.context = slot + 1;
      r.target = static_cast<uint8_t>(o.target);
      bool write = rng() % 100 < o.write_percent;
      uint64_t lba = (static_cast<uint64_t>(rng()) << 16 ^ rng()) % lbas;
      set_rw16(&r, write, lba, static_cast<uint32_t>(blocks));
      r.data_paddr = buf[slot];
      r.data_len = o.io_bytes;
      is_write[slot] = write;
      started[slot] = Clock::now();
      rings.submit(r);
      issued++;
      if (o.kick_every_request) {
        rings.kick(true);
        res.kicks++;
      } else {
        any = true;
      }
    }
    if (any) {
      rings.kick(true);
      res.kicks++;
    }
    // Acknowledge first, then reap: a completion after the acknowledgement raises the line
    // again, one before it is already in the ring (see the test of the same rule).
    if (rings.ack_interrupts() != 0) {
      res.interrupts++;
    }
    unsigned raises = host.intx_raises();
    std::vector<Completion> done = rings.reap();
    Clock::time_point now = Clock::now();
    for (const Completion &c : done) {
      if (c.context == 0 || c.context > o.queue_depth) {
        res.error = "completion with unknown context " + std::to_string(c.context);
        return res;
      }
      unsigned slot = static_cast<unsigned>(c.context - 1);
      if (c.host_status != hw::to_raw(hw::HostStatus::kSuccess) ||
          c.scsi_status != hw::to_raw(hw::ScsiStatus::kGood)) {
        res.failed_ios++;
      }
      lat_us.push_back(std::chrono::duration<double, std::micro>(now - started[slot]).count());
      (is_write[slot] ? res.writes : res.reads)++;
      res.ios++;
      free_slots.push_back(slot);
    }
    if (done.empty() && rings.outstanding() != 0) {
      if (!host.wait_raise_after(raises, o.timeout)) {
        res.error = "no completion within " + std::to_string(o.timeout.count()) + " ms (" +
                    std::to_string(rings.outstanding()) + " outstanding)";
        return res;
      }
    }
    if (dev.failed()) {
      res.error = "device failed: " + dev.error();
      return res;
    }
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  res.register_reads = dev.register_reads() - reads0;
  res.register_writes = dev.register_writes() - writes0;
  res.iops = res.seconds > 0 ? static_cast<double>(res.ios) / res.seconds : 0;
  std::sort(lat_us.begin(), lat_us.end());
  double sum = 0;
  for (double v : lat_us) {
    sum += v;
  }
  if (!lat_us.empty()) {
    res.mean_latency_us = sum / static_cast<double>(lat_us.size());
    res.p50_latency_us = lat_us[lat_us.size() / 2];
    res.p99_latency_us = lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)];
    res.max_latency_us = lat_us.back();
  }
  res.ok = res.failed_ios == 0;
  if (!res.ok) {
    res.error = std::to_string(res.failed_ios) + " I/Os completed with an error status";
  }
  return res;
}

}  // namespace pvscsi_qemu
