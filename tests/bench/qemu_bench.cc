// On QEMU: the driver (userland kernel, target client) beside the minimal ring loop
// (tests/qemu/ring_baseline.h), against the same QEMU process in the same run: 4 KiB random
// I/O, half writes, queue depth 32. Order: ring loop, driver, ring loop, driver (the loop's and
// the driver's figures are each the mean of their two runs, so drift hits both alike).
#include <cstdio>
#include <exception>
#include <memory>

#include "bench.h"
#include "qemu_arena.h"
#include "pvscsi_hw.h"
#include "qemu_device.h"
#include "rig.h"
#include "ring_baseline.h"

namespace pvbench {

void run_qemu(const Options &o, Report *r) {
  const unsigned kQd = 32;
  const uint64_t kDiskBytes = 64ull << 20;
  const uint64_t ios = o.quick ? 2000 : 30000;
  std::unique_ptr<pvscsi_qemu::QemuDevice> dev;
  try {
    pvscsi_qemu::QemuOptions qo;
    qo.ram_below_4g = 256ull << 20;
    pvscsi_qemu::DiskSpec disk;
    disk.target = 0;
    disk.size_bytes = kDiskBytes;
    qo.disks.push_back(disk);
    dev.reset(new pvscsi_qemu::QemuDevice(qo));
  } catch (const std::exception &e) {
    fprintf(stderr, "qemu: QEMU did not start: %s; section skipped\n", e.what());
    r->info["qemu"] = std::string("skipped: ") + e.what();
    return;
  }
  auto &rows = r->sections["qemu"];
  // What one register access costs here: every access is a qtest round trip over a socket
  // (a doorbell in a real VM is a VM exit instead). Reads of INTR_MASK change nothing.
  {
    dev->write32(pvscsi::hw::IntrMask::kOffset, 0);
    const int n = o.quick ? 200 : 2000;
    double t0 = wall_seconds();
    for (int i = 0; i < n; i++) (void)dev->read32(pvscsi::hw::IntrMask::kOffset);
    double us = (wall_seconds() - t0) * 1e6 / n;
    Row row;
    row.str("who", "register-access")
        .num("accesses", n)
        .num("us_per_access", us)
        .num("doorbell_bound_iops", us > 0 ? 1e6 / us : 0);
    rows.push_back(row);
    fprintf(stderr, "  qemu register access: %.1f us\n", us);
  }
  double sum_iops[2] = {0, 0}, sum_lat[2] = {0, 0}, sum_p99[2] = {0, 0};
  int runs[2] = {0, 0};
  for (int round = 0; round < 2; round++) {
    // The ring loop.
    pvscsi_qemu::BaselineOptions bo;
    bo.queue_depth = kQd;
    bo.total_ios = ios;
    bo.write_percent = 50;
    bo.disk_bytes = kDiskBytes;
    bo.seed = 1 + round;
    pvscsi_qemu::BaselineResult b = pvscsi_qemu::run_ring_baseline(*dev, bo);
    if (!b.ok) {
      fprintf(stderr, "qemu: ring loop: %s\n", b.error.c_str());
    } else {
      Row row;
      row.str("who", "ring-loop")
          .num("round", round)
          .num("qd", kQd)
          .num("ios", double(b.ios))
          .num("failed", double(b.failed_ios))
          .num("iops", b.iops)
          .num("mean_lat_us", b.mean_latency_us)
          .num("p50_lat_us", b.p50_latency_us)
          .num("p99_lat_us", b.p99_latency_us)
          .num("doorbells_per_io", double(b.kicks) / double(b.ios))
          .num("interrupts_per_io", double(b.interrupts) / double(b.ios));
      rows.push_back(row);
      sum_iops[0] += b.iops, sum_lat[0] += b.mean_latency_us, sum_p99[0] += b.p99_latency_us;
      runs[0]++;
      fprintf(stderr, "  qemu ring loop: %.0f IOPS\n", b.iops);
    }
    // The driver.
    fk::Options ko;
    ko.clock = fk::ClockMode::kReal;
    ko.segments = pvscsi_qemu::arena_segments(*dev);
    Rig rig(ko, dev.get());
    if (!rig.ok()) {
      fprintf(stderr, "qemu: driver: %s\n", rig.error().c_str());
      continue;
    }
    Workload w;
    w.qd = kQd;
    w.ios = 500;
    w.write_percent = 50;
    w.disk_blocks = kDiskBytes / 512;
    w.io.drive_clock = false;
    (void)run_workload(rig.luns()[0].sd, w);  // warm-up (unit attention, packet cache)
    w.ios = ios;
    w.seed = 11 + round;
    uint64_t k0 = rig.stat("kicks_rw") + rig.stat("kicks_non_rw"), i0 = rig.stat("interrupts");
    WorkloadResult res = run_workload(rig.luns()[0].sd, w);
    uint64_t k1 = rig.stat("kicks_rw") + rig.stat("kicks_non_rw"), i1 = rig.stat("interrupts");
    double iops = double(res.ios) / res.seconds;
    Row row;
    row.str("who", "driver")
        .num("round", round)
        .num("qd", kQd)
        .num("ios", double(res.ios))
        .num("failed", double(res.errors))
        .num("iops", iops)
        .num("mean_lat_us", res.mean_lat_ns / 1000)
        .num("p50_lat_us", res.p50_lat_ns / 1000)
        .num("p99_lat_us", res.p99_lat_ns / 1000)
        .num("doorbells_per_io", double(k1 - k0) / double(res.ios))
        .num("interrupts_per_io", double(i1 - i0) / double(res.ios));
    rows.push_back(row);
    sum_iops[1] += iops, sum_lat[1] += res.mean_lat_ns / 1000, sum_p99[1] += res.p99_lat_ns / 1000;
    runs[1]++;
    fprintf(stderr, "  qemu driver: %.0f IOPS\n", iops);
  }
  dev->stop();
  if (runs[0] == 0 || runs[1] == 0) return;
  double ratio = (sum_iops[1] / runs[1]) / (sum_iops[0] / runs[0]);
  Row sum;
  sum.str("who", "summary")
      .num("ring_loop_iops", sum_iops[0] / runs[0])
      .num("driver_iops", sum_iops[1] / runs[1])
      .num("iops_ratio", ratio)
      .num("ring_loop_mean_lat_us", sum_lat[0] / runs[0])
      .num("driver_mean_lat_us", sum_lat[1] / runs[1])
      .num("ring_loop_p99_lat_us", sum_p99[0] / runs[0])
      .num("driver_p99_lat_us", sum_p99[1] / runs[1]);
  r->sections["qemu_summary"].push_back(sum);
  r->targets.push_back(
      {"QEMU IOPS driver / ring loop, qd 32", ratio, ">= 0.9", ratio >= 0.9,
       "QEMU has no request-call threshold: the driver rings one doorbell per I/O, the loop one "
       "per batch of 32; each is a qtest round trip (register-access row)"});
}

}  // namespace pvbench
