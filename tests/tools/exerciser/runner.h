// The workload engine: keeps up to `qd` I/Os in flight through a Backend, never two that overlap
// on a LUN, stamps every block it writes, verifies every block it reads against the expected
// content, runs the scheduled events, classifies errors (explained by an event or not), and
// finally reads back every block it wrote.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend.h"
#include "events.h"
#include "expected.h"
#include "report.h"
#include "workload.h"

namespace exerciser {

struct RunConfig {
  std::vector<LunGeometry> luns;
  WorkloadSpec workload;
  uint64_t ops = 1000;  // when seconds == 0
  double seconds = 0;
  uint32_t qd = 16;
  bool verify = true;
  bool final_check = true;     // read back every written block at the end (when verifying)
  bool initially_zero = true;  // never-written blocks read as zeros
  std::vector<Event> events;
  // Bound on waiting for any completion while I/O is in flight; beyond it the run stops and
  // reports the I/Os as hung.
  double hang_timeout_s = 60;
  size_t max_samples = 8;  // error and verify-failure lines kept for the report
  // Called once the workload's I/O has completed, before the final read-back (e.g. to read
  // counters that should cover the workload only).
  std::function<void()> on_workload_end;
  // Called now and then with (fraction done, short text).
  std::function<void(double, const std::string &)> progress;
};

// Runs the workload; fills the I/O, error, verify, latency and event fields of *report.
// Returns false when I/O hung (some never completed): the backend must not be torn down
// normally then.
bool run_workload(Backend &backend, const RunConfig &config, Report *report);

}  // namespace exerciser
