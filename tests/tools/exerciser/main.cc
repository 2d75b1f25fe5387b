// pvscsi-exercise: load the pvscsi driver into the userland illumos kernel, attach it to a
// device, discover, run a verified workload through the target client, detach and report.
// See --help and README.md beside this file.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernel_backend.h"
#include "options.h"
#include "progress.h"
#include "report.h"
#include "runner.h"

using namespace exerciser;

namespace {

constexpr const char *kProgram = "pvscsi-exercise";
constexpr const char *kVersion = "pvscsi-exercise 1 (report_version 1, stamp version 1)";

int usage_error(const std::string &msg) {
  std::fprintf(stderr, "%s: %s\n", kProgram, msg.c_str());
  return kExitUsage;
}

bool write_json(const std::string &path, const std::string &text, std::string *err) {
  if (path == "-") {
    std::fputs(text.c_str(), stdout);
    std::fflush(stdout);
    return true;
  }
  FILE *f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    *err = "--json: cannot write '" + path + "'";
    return false;
  }
  const bool ok = std::fputs(text.c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !ok) {
    *err = "--json: error writing '" + path + "'";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  std::string err = parse_options(argc, argv, &o);
  if (!err.empty()) return usage_error(err);
  if (o.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (o.version) {
    std::printf("%s\n", kVersion);
    return 0;
  }
  err = validate_options(&o);
  if (!err.empty()) return usage_error(err);

  // Human-readable output goes to stdout, or to stderr when stdout carries the JSON.
  FILE *human = o.json_path == "-" ? stderr : stdout;
  auto say = [&](const std::string &s) {
    if (!o.quiet) {
      std::fputs(s.c_str(), human);
      std::fflush(human);
    }
  };

  Report r;
  r.device = o.device;
  r.profile = o.device == "mock" ? o.profile : "";
  r.bs = o.bs.text;
  r.pattern = o.sequential ? "sequential" : "random";
  r.qd = o.qd;
  r.read_pct = o.read_pct;
  r.seed = o.seed;
  r.verify = o.verify;
  r.ops_requested = o.seconds > 0 ? 0 : o.ops;
  r.seconds_requested = o.seconds;

  KernelBackend kb(o);
  // A deterministic run found stuck or hung (fk prints every thread's story): the report says
  // so, and the process ends here - threads are stuck in the kernel.
  kb.on_fatal([&](const std::string &verdict) {
    r.fatal = verdict;
    r.io_hung = true;
    r.sched = o.sched;
    r.sched_seed = o.sched_seed_given ? o.sched_seed : o.seed;
    r.judge();
    say(result_table(r));
    std::string jerr;
    if (!o.json_path.empty() && !write_json(o.json_path, report_json(r), &jerr))
      std::fprintf(stderr, "%s: %s\n", kProgram, jerr.c_str());
    std::fflush(nullptr);
    std::_Exit(kExitFailed);
  });
  err = kb.start();
  if (!err.empty()) {
    std::fprintf(stderr, "%s: %s\n", kProgram, err.c_str());
    r.fatal = err;
    r.driver = kb.driver_info();
    r.targets = kb.discovered();
    kb.finish(&r);
    r.judge();
    std::string jerr;
    if (!o.json_path.empty() && !write_json(o.json_path, report_json(r), &jerr))
      std::fprintf(stderr, "%s: %s\n", kProgram, jerr.c_str());
    return kExitFailed;
  }
  r.driver = kb.driver_info();
  r.targets = kb.discovered();
  say(discovery_table(r) + "\n");

  RunConfig rc;
  rc.luns = kb.workload_luns();
  rc.workload.bs = o.bs;
  rc.workload.read_pct = o.read_pct;
  rc.workload.sequential = o.sequential;
  rc.workload.seed = o.seed;
  rc.ops = o.ops;
  rc.seconds = o.seconds;
  rc.qd = o.qd;
  rc.verify = o.verify;
  rc.initially_zero = kb.initially_zero();
  rc.events = o.events;
  // The driver escalates an overdue command (abort, device reset, bus reset, adapter restart)
  // within a few timeouts; beyond that the I/O is hung.
  rc.hang_timeout_s = 4.0 * o.io_timeout_s + 30;
  Progress progress(o.progress);
  if (progress.enabled())
    rc.progress = [&](double f, const std::string &t) { progress.update(f, t); };

  const KernelBackend::Snapshot before = kb.snapshot();
  KernelBackend::Snapshot after;
  rc.on_workload_end = [&] { after = kb.snapshot(); };
  const bool finished = run_workload(kb, rc, &r);
  progress.finish();
  if (!finished) after = kb.snapshot();
  r.doorbells = after.doorbells - before.doorbells;
  r.interrupts = after.interrupts - before.interrupts;
  r.hotplug_events = after.hotplug_events - before.hotplug_events;
  r.resets = after.resets - before.resets;
  r.register_reads = after.register_reads - before.register_reads;
  r.register_writes = after.register_writes - before.register_writes;
  r.device_values_rejected = after.device_values_rejected - before.device_values_rejected;
  for (const Event &e : o.events) r.device_faults_injected |= e.corrupts_device_state();
  r.compute_per_io();

  if (finished) {
    kb.finish(&r);
  } else {
    kb.abandon();
  }
  r.judge();
  say(result_table(r));
  if (!o.json_path.empty() && !write_json(o.json_path, report_json(r), &err)) {
    std::fprintf(stderr, "%s: %s\n", kProgram, err.c_str());
    return kExitUsage;
  }
  if (!finished) {
    std::fflush(nullptr);
    std::_Exit(kExitFailed);  // threads are stuck in the kernel: do not run destructors
  }
  return r.exit_status;
}
