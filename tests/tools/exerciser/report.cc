#include "report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sizes.h"

namespace exerciser {

// A digest as JSON and the table print it: 16 hex digits, so it compares as text.
static std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

void LatencyStats::sort() const {
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
}

uint64_t LatencyStats::percentile(double p) const {
  if (samples_.empty()) return 0;
  sort();
  if (p <= 0) return samples_.front();
  if (p >= 100) return samples_.back();
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  size_t rank = size_t((p / 100.0) * double(samples_.size()) + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > samples_.size()) rank = samples_.size();
  return samples_[rank - 1];
}

uint64_t LatencyStats::max() const {
  if (samples_.empty()) return 0;
  sort();
  return samples_.back();
}

double LatencyStats::mean() const {
  if (samples_.empty()) return 0;
  long double sum = 0;
  for (uint64_t s : samples_) sum += s;
  return double(sum / samples_.size());
}

const std::vector<std::string> &error_kinds() {
  static const std::vector<std::string> kinds = {
      "transport",        // scsi_transport refused the packet (after the client's retries)
      "timeout",          // CMD_TIMEOUT
      "reset",            // CMD_RESET
      "aborted",          // CMD_ABORTED
      "incomplete",       // CMD_INCOMPLETE / CMD_DEV_GONE: the target went away
      "tran_err",         // CMD_TRAN_ERR and other pkt_reasons
      "check_condition",  // CHECK CONDITION after the client's retries
      "scsi_status",      // BUSY, RESERVATION CONFLICT, ...
      "short_transfer",   // pkt_resid != 0
  };
  return kinds;
}

void Report::compute_per_io() {
  auto per_io = [&](uint64_t n) { return ios > 0 ? double(n) / double(ios) : 0.0; };
  doorbells_per_io = per_io(doorbells);
  interrupts_per_io = per_io(interrupts);
  register_reads_per_io = per_io(register_reads);
  register_writes_per_io = per_io(register_writes);
}

void Report::judge() {
  failures.clear();
  if (!fatal.empty()) failures.push_back(fatal);
  if (io_hung) failures.push_back("I/O hung: some commands never completed");
  if (ios == 0 && fatal.empty() && !io_hung)
    failures.push_back("no I/O was done (every LUN was offline?)");
  if (verify_failures > 0) failures.push_back(std::to_string(verify_failures) + " verify failures");
  if (errors_unexplained > 0)
    failures.push_back(std::to_string(errors_unexplained) +
                       " I/O errors not explained by an injected event");
  if (leaked_bytes > 0 || !leaks.empty())
    failures.push_back("leaks after detach: " + std::to_string(leaked_bytes) + " bytes in " +
                       std::to_string(leaks.size()) + " allocations");
  if (lock_violations > 0) failures.push_back(std::to_string(lock_violations) + " lock violations");
  if (sync_violations > 0) failures.push_back(std::to_string(sync_violations) + " sync violations");
  if (other_violations > 0)
    failures.push_back(std::to_string(other_violations) + " other kernel violations");
  if (device_values_rejected > 0 && !device_faults_injected)
    failures.push_back("the driver rejected " + std::to_string(device_values_rejected) +
                       " device value(s) as invalid, but no fault was injected");
  for (const auto &e : events) {
    if (!e.ok)
      failures.push_back("event " + std::to_string(e.at) + ":" + e.action + " failed: " + e.detail);
  }
  exit_status = failures.empty() ? 0 : 1;
}

std::string report_json(const Report &r) {
  using Json = nlohmann::ordered_json;  // members in the order written here
  Json j;
  j["tool"] = "pvscsi-exercise";
  j["report_version"] = 1;
  j["verdict"] = r.exit_status == 0 ? "verified" : "failed";
  j["exit_status"] = r.exit_status;
  j["failures"] = r.failures;
  j["device"] = r.device;
  j["profile"] = r.profile.empty() ? Json() : Json(r.profile);
  j["driver"] = {{"interrupt_type", r.driver.interrupt_type},
                 {"interrupt_vectors", r.driver.interrupt_vectors},
                 {"req_ring_entries", r.driver.req_ring_entries},
                 {"cmp_ring_entries", r.driver.cmp_ring_entries},
                 {"msg_ring_entries", r.driver.msg_ring_entries},
                 {"msg_ring", r.driver.msg_ring},
                 {"req_call_threshold", r.driver.req_call_threshold},
                 {"use_req_call_threshold", r.driver.use_req_call_threshold},
                 {"max_targets", r.driver.max_targets}};
  j["targets"] = Json::array();
  for (const auto &t : r.targets)
    j["targets"].push_back({{"target", t.target},
                            {"lun", t.lun},
                            {"blocks", t.blocks},
                            {"block_size", t.block_size},
                            {"capacity_bytes", t.blocks * t.block_size},
                            {"vendor", t.vendor},
                            {"product", t.product}});
  const bool timed = r.seconds_requested > 0;
  j["workload"] = {{"ops", timed ? Json() : Json(r.ops_requested)},
                   {"seconds", timed ? Json(r.seconds_requested) : Json()},
                   {"qd", r.qd},
                   {"bs", r.bs},
                   {"read_pct", r.read_pct},
                   {"pattern", r.pattern},
                   {"seed", r.seed},
                   {"verify", r.verify}};
  j["events"] = Json::array();
  for (const auto &e : r.events)
    j["events"].push_back(
        {{"at", e.at}, {"action", e.action}, {"ok", e.ok}, {"detail", e.detail}, {"ms", e.ms}});
  j["ios"] = r.ios;
  j["reads"] = r.reads;
  j["writes"] = r.writes;
  j["bytes"] = r.bytes;
  j["skipped"] = r.skipped;
  Json errors = Json::object();
  for (const auto &k : error_kinds()) {
    auto it = r.errors.find(k);
    errors[k] = it == r.errors.end() ? uint64_t(0) : it->second;
  }
  j["errors"] = errors;
  j["errors_explained"] = r.errors_explained;
  j["errors_unexplained"] = r.errors_unexplained;
  j["error_samples"] = r.error_samples;
  j["verify_failures"] = r.verify_failures;
  j["verify_samples"] = r.verify_samples;
  j["verified_blocks"] = r.verified_blocks;
  j["final_check_blocks"] = r.final_check_blocks;
  j["elapsed_s"] = r.elapsed_s;
  j["iops"] = r.iops;
  j["mb_per_s"] = r.mbps;
  j["latency_us"] = {{"p50", r.p50_us}, {"p99", r.p99_us}, {"max", r.max_us}, {"mean", r.mean_us}};
  j["doorbells"] = r.doorbells;
  j["interrupts"] = r.interrupts;
  j["doorbells_per_io"] = r.doorbells_per_io;
  j["interrupts_per_io"] = r.interrupts_per_io;
  j["register_reads"] = r.register_reads;
  j["register_writes"] = r.register_writes;
  j["register_reads_per_io"] = r.register_reads_per_io;
  j["register_writes_per_io"] = r.register_writes_per_io;
  j["sched"] = r.sched;
  j["sched_seed"] = r.sched_seed;
  j["trace_digest"] = hex64(r.trace_digest);
  j["sched_steps"] = r.sched_steps;
  j["sched_switches"] = r.sched_switches;
  j["virtual_s"] = r.virtual_s;
  j["device_values_rejected"] = r.device_values_rejected;
  j["hotplug_events"] = r.hotplug_events;
  j["resets"] = r.resets;
  j["leaked_bytes"] = r.leaked_bytes;
  j["leaks"] = r.leaks;
  j["lock_violations"] = r.lock_violations;
  j["sync_violations"] = r.sync_violations;
  j["other_violations"] = r.other_violations;
  j["violation_samples"] = r.violation_samples;
  // Non-finite doubles become null; bytes that are not UTF-8 (a device's INQUIRY strings, say)
  // become U+FFFD instead of an exception.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

namespace {

std::string pad(const std::string &s, size_t w, bool right = false) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

std::string fmt(const char *f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string human_bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt("%.1f GiB", double(b) / double(1ull << 30));
  if (b >= (1ull << 20)) return fmt("%.1f MiB", double(b) / double(1ull << 20));
  if (b >= (1ull << 10)) return fmt("%.1f KiB", double(b) / double(1ull << 10));
  return std::to_string(b) + " B";
}

}  // namespace

std::string discovery_table(const Report &r) {
  std::ostringstream o;
  o << "device     " << r.device << (r.profile.empty() ? "" : " (profile " + r.profile + ")")
    << "\n";
  o << "interrupts " << r.driver.interrupt_type << ", " << r.driver.interrupt_vectors
    << " vector(s)\n";
  o << "rings      request " << r.driver.req_ring_entries << ", completion "
    << r.driver.cmp_ring_entries << ", message "
    << (r.driver.msg_ring ? std::to_string(r.driver.msg_ring_entries) : std::string("none"))
    << " entries\n";
  o << "features   message ring " << (r.driver.msg_ring ? "yes" : "no")
    << ", request-call threshold "
    << (r.driver.req_call_threshold ? (r.driver.use_req_call_threshold ? "yes (used)" : "yes")
                                    : "no")
    << ", max targets " << r.driver.max_targets << "\n";
  o << "\n"
    << pad("target", 7) << pad("lun", 5) << pad("blocks", 12, true) << pad("bsize", 7, true)
    << pad("capacity", 11, true) << "  vendor/product\n";
  for (const auto &t : r.targets) {
    o << pad(std::to_string(t.target), 7) << pad(std::to_string(t.lun), 5)
      << pad(std::to_string(t.blocks), 12, true) << pad(std::to_string(t.block_size), 7, true)
      << pad(human_bytes(t.blocks * t.block_size), 11, true) << "  " << t.vendor << " " << t.product
      << "\n";
  }
  if (r.targets.empty()) o << "(no LUNs found)\n";
  return o.str();
}

std::string result_table(const Report &r) {
  std::ostringstream o;
  auto row = [&](const std::string &k, const std::string &v) { o << pad(k, 22) << v << "\n"; };
  row("I/Os", std::to_string(r.ios) + " (" + std::to_string(r.reads) + " reads, " +
                  std::to_string(r.writes) + " writes, " + human_bytes(r.bytes) + ")");
  if (r.skipped > 0) row("skipped (offline)", std::to_string(r.skipped));
  row("elapsed", fmt("%.3f s", r.elapsed_s));
  row("IOPS", fmt("%.0f", r.iops) + fmt("  (%.1f MB/s)", r.mbps));
  row("latency us", "p50 " + std::to_string(r.p50_us) + "  p99 " + std::to_string(r.p99_us) +
                        "  max " + std::to_string(r.max_us));
  row("doorbells", std::to_string(r.doorbells) + fmt("  (%.3f per I/O)", r.doorbells_per_io));
  row("interrupts", std::to_string(r.interrupts) + fmt("  (%.3f per I/O)", r.interrupts_per_io));
  row("register reads",
      std::to_string(r.register_reads) + fmt("  (%.3f per I/O)", r.register_reads_per_io));
  row("register writes",
      std::to_string(r.register_writes) + fmt("  (%.3f per I/O)", r.register_writes_per_io));
  if (r.sched == "real")
    row("threads", "host threads, host clock (no trace digest)");
  else if (!r.sched.empty())
    row("trace digest", hex64(r.trace_digest) + "  (" + r.sched + " seed " +
                            std::to_string(r.sched_seed) + ", " + std::to_string(r.sched_steps) +
                            " steps, " + std::to_string(r.sched_switches) + " switches, " +
                            fmt("%.3f", r.virtual_s) + " s of virtual time)");
  row("hotplug events", std::to_string(r.hotplug_events));
  row("resets", std::to_string(r.resets));
  for (const auto &e : r.events)
    row("event at " + std::to_string(e.at), e.action + (e.ok ? " ok" : " FAILED") +
                                                (e.detail.empty() ? "" : " (" + e.detail + ")") +
                                                fmt(", %.1f ms", e.ms));
  std::string errs;
  for (const auto &kv : r.errors) {
    if (kv.second == 0) continue;
    errs += (errs.empty() ? "" : ", ") + kv.first + " " + std::to_string(kv.second);
  }
  row("errors", errs.empty()
                    ? "none"
                    : errs + " (" + std::to_string(r.errors_explained) + " explained by events, " +
                          std::to_string(r.errors_unexplained) + " unexplained)");
  for (const auto &s : r.error_samples) row("", s);
  row("verified blocks", r.verify
                             ? std::to_string(r.verified_blocks) + " (" +
                                   std::to_string(r.final_check_blocks) + " in the final read-back)"
                             : std::string("verification off"));
  row("verify failures", std::to_string(r.verify_failures));
  for (const auto &s : r.verify_samples) row("", s);
  row("leaked after detach", std::to_string(r.leaked_bytes) + " bytes");
  for (const auto &s : r.leaks) row("", s);
  row("violations", "lock " + std::to_string(r.lock_violations) + ", sync " +
                        std::to_string(r.sync_violations) + ", other " +
                        std::to_string(r.other_violations));
  for (const auto &s : r.violation_samples) row("", s);
  o << "\n";
  if (r.exit_status == 0) {
    o << "VERIFIED: every block read back matched what was written; the kernel is clean.\n";
  } else {
    o << "FAILED:";
    for (size_t i = 0; i < r.failures.size(); i++) o << (i ? "; " : " ") << r.failures[i];
    o << "\n";
  }
  return o.str();
}

}  // namespace exerciser
