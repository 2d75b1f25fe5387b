// The run's results: latency percentiles, error counts by kind, the JSON report and the human
// table.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace exerciser {

// Collects latencies (nanoseconds) and answers percentiles (nearest rank).
class LatencyStats {
 public:
  void add(uint64_t ns) { samples_.push_back(ns); }
  size_t count() const { return samples_.size(); }
  // p in [0, 100]; 0 when empty.
  uint64_t percentile(double p) const;
  uint64_t max() const;
  double mean() const;

 private:
  mutable std::vector<uint64_t> samples_;
  mutable bool sorted_ = false;
  void sort() const;
};

// Error kinds, always present in the report (zero when none).
const std::vector<std::string> &error_kinds();

struct DiscoveredLun {
  uint32_t target = 0;
  uint64_t lun = 0;
  uint64_t blocks = 0;
  uint32_t block_size = 0;
  std::string vendor, product;
};

struct DriverInfo {
  std::string interrupt_type;  // "FIXED", "MSI", "MSI-X"
  uint32_t interrupt_vectors = 0;
  uint32_t req_ring_entries = 0, cmp_ring_entries = 0, msg_ring_entries = 0;
  bool msg_ring = false;
  bool req_call_threshold = false;  // supported by the device
  bool use_req_call_threshold = false;
  uint32_t max_targets = 0;
};

struct EventRecord {
  uint64_t at = 0;
  std::string action;
  bool ok = false;
  std::string detail;  // error text, or what happened
  double ms = 0;
};

struct Report {
  std::string device;   // "mock" or "qemu"
  std::string profile;  // mock profile, or "" for QEMU
  DriverInfo driver;
  std::vector<DiscoveredLun> targets;

  // Workload as run.
  std::string bs, pattern;
  uint32_t qd = 0;
  unsigned read_pct = 0;
  uint64_t seed = 0;
  bool verify = true;
  uint64_t ops_requested = 0;
  double seconds_requested = 0;

  uint64_t ios = 0, reads = 0, writes = 0, bytes = 0;
  uint64_t skipped = 0;  // ops for a LUN that was offline (hot-removed)
  std::map<std::string, uint64_t> errors;
  uint64_t errors_explained = 0, errors_unexplained = 0;
  std::vector<std::string> error_samples;  // unexplained ones first
  uint64_t verify_failures = 0;
  std::vector<std::string> verify_samples;
  uint64_t verified_blocks = 0;
  uint64_t final_check_blocks = 0;  // blocks read back after the workload
  double elapsed_s = 0;
  double iops = 0, mbps = 0;
  uint64_t p50_us = 0, p99_us = 0, max_us = 0;
  double mean_us = 0;

  uint64_t doorbells = 0, interrupts = 0;
  double doorbells_per_io = 0, interrupts_per_io = 0;
  uint64_t register_reads = 0, register_writes = 0;  // ddi_get/ddi_put on device registers
  double register_reads_per_io = 0, register_writes_per_io = 0;
  uint64_t hotplug_events = 0, resets = 0;
  std::vector<EventRecord> events;
  // Device values the driver rejected as invalid (its "bogus" kstat); from a device told to
  // write none (no fault event), each one is the driver misreading a good device: a failure.
  uint64_t device_values_rejected = 0;
  bool device_faults_injected = false;

  // Scheduling: "random", "fair", "pct" (deterministic, with its seed and the trace digest of
  // the whole run: the same for the same options) or "real" (host threads; digest 0).
  std::string sched;
  uint64_t sched_seed = 0;
  uint64_t trace_digest = 0;
  uint64_t sched_steps = 0, sched_switches = 0;
  double virtual_s = 0;  // deterministic mode: virtual time from boot to detach

  uint64_t leaked_bytes = 0;
  std::vector<std::string> leaks;
  uint64_t lock_violations = 0, sync_violations = 0, other_violations = 0;
  std::vector<std::string> violation_samples;

  std::string fatal;                  // the run could not start or finish (one line)
  bool io_hung = false;               // some I/O never completed (the run was cut short)
  std::vector<std::string> failures;  // why the run failed (empty: verified)
  int exit_status = 0;

  // The per-I/O figures from the counts and ios.
  void compute_per_io();
  // Fills failures and exit_status from the counts.
  void judge();
};

std::string report_json(const Report &r);
// The discovery table (printed before the workload).
std::string discovery_table(const Report &r);
// The result table (printed at the end).
std::string result_table(const Report &r);

}  // namespace exerciser
