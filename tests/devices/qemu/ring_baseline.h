// The benchmark baseline: a minimal ring loop (no SCSA, no driver, no userland
// kernel) that pushes 4 KiB (or other) reads/writes through QEMU's pvscsi at a queue depth and
// reports IOPS and latency. Driver overhead on QEMU is then reported as a ratio to this.
// Doorbell policy: by default one KICK_RW_IO per batch (every request that fits is published,
// then one doorbell); kick_every_request rings one after each published request instead, as a
// driver must on a device with no request-call threshold (QEMU).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "hand_rings.h"
#include "qemu_device.h"

namespace pvscsi_qemu {

struct BaselineOptions {
  unsigned target = 0;        // a disk attached to the device
  uint32_t block_size = 512;  // that disk's logical block size
  uint64_t disk_bytes = 0;    // LBAs are drawn from [0, disk_bytes); 0: 16 MiB
  uint32_t io_bytes = 4096;   // per I/O; a multiple of block_size, at most 1 MiB
  unsigned queue_depth = 8;   // 1..1024 (request ring sized to fit)
  uint64_t total_ios = 1000;
  unsigned write_percent = 50;  // 0: all reads, 100: all writes
  uint32_t seed = 1;
  bool kick_every_request = false;           // false: one doorbell per batch; true: one per request
  std::chrono::milliseconds timeout{10000};  // bound on any wait for a completion
};

struct BaselineResult {
  bool ok = false;
  std::string error;  // why not ok
  uint64_t ios = 0, reads = 0, writes = 0, failed_ios = 0;
  uint64_t kicks = 0, interrupts = 0;
  uint64_t register_reads = 0, register_writes = 0;  // over the timed loop (QemuDevice counts)
  double seconds = 0, iops = 0;
  double mean_latency_us = 0, p50_latency_us = 0, p99_latency_us = 0, max_latency_us = 0;
};

// Runs the loop on `dev`, which must not be connected to a kernel: it connects its own TestHost,
// resets the adapter, sets up rings and leaves the device reset and disconnected afterwards.
// Never throws for device misbehaviour: a timeout or bad completion makes ok false.
BaselineResult run_ring_baseline(QemuDevice &dev, const BaselineOptions &options);

}  // namespace pvscsi_qemu
