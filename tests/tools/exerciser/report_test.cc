#include "report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

#include "progress.h"

namespace exerciser {
namespace {

using nlohmann::json;

Report sample_report() {
  Report r;
  r.device = "mock";
  r.profile = "vmware";
  r.driver.interrupt_type = "MSI-X";
  r.driver.interrupt_vectors = 1;
  r.driver.req_ring_entries = 256;
  r.targets.push_back({0, 0, 2048, 512, "VMware", "Virtual disk"});
  r.ios = 100;
  r.reads = 40;
  r.writes = 60;
  r.bytes = 409600;
  r.doorbells = 50;
  r.interrupts = 25;
  r.register_reads = 25;
  r.register_writes = 150;
  r.compute_per_io();
  for (const auto &k : error_kinds()) r.errors[k] = 0;
  return r;
}

TEST(Latency, Percentiles) {
  LatencyStats s;
  EXPECT_EQ(s.percentile(50), 0u);
  for (uint64_t i = 1; i <= 100; i++) s.add(i * 1000);
  EXPECT_EQ(s.percentile(50), 50000u);
  EXPECT_EQ(s.percentile(99), 99000u);
  EXPECT_EQ(s.percentile(100), 100000u);
  EXPECT_EQ(s.max(), 100000u);
  EXPECT_DOUBLE_EQ(s.mean(), 50500.0);
  LatencyStats one;
  one.add(7);
  EXPECT_EQ(one.percentile(50), 7u);
  EXPECT_EQ(one.percentile(99), 7u);
}

TEST(Report, JudgeDecidesTheExitStatus) {
  Report r = sample_report();
  r.judge();
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_TRUE(r.failures.empty());
  r.errors_explained = 5;  // explained errors do not fail a run
  r.judge();
  EXPECT_EQ(r.exit_status, 0);
  for (int which = 0; which < 6; which++) {
    Report b = sample_report();
    switch (which) {
      case 0:
        b.verify_failures = 1;
        break;
      case 1:
        b.errors_unexplained = 1;
        break;
      case 2:
        b.leaked_bytes = 64;
        break;
      case 3:
        b.lock_violations = 1;
        break;
      case 4:
        b.sync_violations = 1;
        break;
      case 5:
        b.io_hung = true;
        break;
    }
    b.judge();
    EXPECT_EQ(b.exit_status, 1) << which;
    EXPECT_EQ(b.failures.size(), 1u) << which;
  }
}

TEST(Report, JsonHasTheIssueFields) {
  Report r = sample_report();
  r.errors["timeout"] = 2;
  r.events.push_back({10, "reset-bus", true, "", 1.5});
  r.judge();
  const json v = json::parse(report_json(r));
  for (const char *k :
       {"device", "targets", "ios", "reads", "writes", "bytes", "errors", "verify_failures", "iops",
        "latency_us", "doorbells", "interrupts", "doorbells_per_io", "interrupts_per_io",
        "hotplug_events", "resets", "leaked_bytes", "lock_violations", "sync_violations"})
    EXPECT_TRUE(v.contains(k)) << k;
  for (const char *k :
       {"register_reads", "register_writes", "register_reads_per_io", "register_writes_per_io"})
    EXPECT_TRUE(v.contains(k)) << k;
  ASSERT_EQ(v["targets"].size(), 1u);
  for (const char *k : {"target", "lun", "blocks", "block_size"})
    EXPECT_TRUE(v["targets"][0].contains(k)) << k;
  for (const char *k : {"p50", "p99", "max"}) EXPECT_TRUE(v["latency_us"].contains(k)) << k;
  EXPECT_EQ(v["errors"]["timeout"], 2);
  EXPECT_EQ(v["errors"].size(), error_kinds().size());
  EXPECT_EQ(v["verdict"], "verified");
  EXPECT_EQ(v["events"][0]["action"], "reset-bus");
  EXPECT_EQ(v["doorbells_per_io"], 0.5);
  EXPECT_EQ(v["interrupts_per_io"], 0.25);
  EXPECT_EQ(v["register_reads"], 25);
  EXPECT_EQ(v["register_reads_per_io"], 0.25);
  EXPECT_EQ(v["register_writes_per_io"], 1.5);
}

// The report's text: two-space indentation, members in a fixed order, counts as integers,
// figures as numbers, a missing profile as null.
TEST(Report, JsonLayoutAndTypes) {
  Report r = sample_report();
  r.profile = "";
  r.seconds_requested = 0.25;
  r.judge();
  const std::string text = report_json(r);
  EXPECT_EQ(text.rfind("{\n  \"tool\": \"pvscsi-exercise\",\n  \"report_version\": 1,\n", 0), 0u)
      << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\n  \"failures\": [],\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  \"profile\": null,\n"), std::string::npos) << text;
  const auto v = nlohmann::ordered_json::parse(text);
  std::vector<std::string> keys;
  for (const auto &m : v.items()) keys.push_back(m.key());
  const std::vector<std::string> want = {"tool",
                                         "report_version",
                                         "verdict",
                                         "exit_status",
                                         "failures",
                                         "device",
                                         "profile",
                                         "driver",
                                         "targets",
                                         "workload",
                                         "events",
                                         "ios",
                                         "reads",
                                         "writes",
                                         "bytes",
                                         "skipped",
                                         "errors",
                                         "errors_explained",
                                         "errors_unexplained",
                                         "error_samples",
                                         "verify_failures",
                                         "verify_samples",
                                         "verified_blocks",
                                         "final_check_blocks",
                                         "elapsed_s",
                                         "iops",
                                         "mb_per_s",
                                         "latency_us",
                                         "doorbells",
                                         "interrupts",
                                         "doorbells_per_io",
                                         "interrupts_per_io",
                                         "register_reads",
                                         "register_writes",
                                         "register_reads_per_io",
                                         "register_writes_per_io",
                                         "sched",
                                         "sched_seed",
                                         "trace_digest",
                                         "sched_steps",
                                         "sched_switches",
                                         "virtual_s",
                                         "device_values_rejected",
                                         "hotplug_events",
                                         "resets",
                                         "leaked_bytes",
                                         "leaks",
                                         "lock_violations",
                                         "sync_violations",
                                         "other_violations",
                                         "violation_samples"};
  EXPECT_EQ(keys, want);
  EXPECT_TRUE(v["workload"]["ops"].is_null());
  EXPECT_EQ(v["workload"]["seconds"], 0.25);
  EXPECT_TRUE(v["ios"].is_number_unsigned());
  EXPECT_TRUE(v["targets"][0]["block_size"].is_number_unsigned());
  EXPECT_TRUE(v["latency_us"]["p99"].is_number_unsigned());
  EXPECT_TRUE(v["iops"].is_number_float());
  EXPECT_TRUE(v["driver"]["msg_ring"].is_boolean());
  EXPECT_TRUE(v["trace_digest"].is_string());  // 16 hex digits: compared as text
  EXPECT_EQ(v["trace_digest"].get<std::string>().size(), 16u);
}

// Whatever the strings and figures hold, the report is valid JSON: quotes and control bytes
// escaped, bytes that are not UTF-8 replaced, NaN as null, 64-bit counts exact.
TEST(Report, JsonSurvivesOddStringsAndFigures) {
  Report r = sample_report();
  r.targets[0].vendor = "V\"e\\n\x01\x7f";
  r.targets[0].product = "bad \xff\xfe utf-8";
  r.elapsed_s = std::nan("");
  r.iops = std::numeric_limits<double>::infinity();
  r.seed = std::numeric_limits<uint64_t>::max();
  r.events.push_back({1, "reset-bus", false, "line\nbreak", 0.125});
  r.judge();
  std::string text;
  ASSERT_NO_THROW(text = report_json(r));
  const json v = json::parse(text);
  EXPECT_EQ(v["targets"][0]["vendor"], "V\"e\\n\x01\x7f");
  EXPECT_EQ(v["targets"][0]["product"], "bad \xef\xbf\xbd\xef\xbf\xbd utf-8");
  EXPECT_TRUE(v["elapsed_s"].is_null());
  EXPECT_TRUE(v["iops"].is_null());
  EXPECT_EQ(v["workload"]["seed"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(v["events"][0]["detail"], "line\nbreak");
  EXPECT_NE(text.find("\"V\\\"e\\\\n\\u0001\x7f\""), std::string::npos) << text;
}

TEST(Report, TablesSayWhatHappened) {
  Report r = sample_report();
  r.judge();
  const std::string d = discovery_table(r);
  EXPECT_NE(d.find("MSI-X"), std::string::npos);
  EXPECT_NE(d.find("2048"), std::string::npos);
  EXPECT_NE(d.find("Virtual disk"), std::string::npos);
  EXPECT_NE(result_table(r).find("VERIFIED"), std::string::npos);
  EXPECT_NE(result_table(r).find("register reads        25  (0.250 per I/O)"), std::string::npos)
      << result_table(r);
  EXPECT_NE(result_table(r).find("register writes       150  (1.500 per I/O)"), std::string::npos);
  r.verify_failures = 1;
  r.verify_samples.push_back("target 0 lun 0 lba 5: stale data");
  r.judge();
  const std::string t = result_table(r);
  EXPECT_NE(t.find("FAILED: 1 verify failures"), std::string::npos) << t;
  EXPECT_NE(t.find("stale data"), std::string::npos);
}

}  // namespace
}  // namespace exerciser

namespace exerciser {
namespace {

TEST(Progress, RendersABar) {
  EXPECT_EQ(Progress::render(0.5, "x", 10), "[#####.....]  50% x");
  EXPECT_EQ(Progress::render(2.0, "", 4), "[####] 100% ");
  EXPECT_EQ(Progress::render(-1, "", 4), "[....]   0% ");
}

TEST(Progress, OffUnlessATerminalOrForced) {
  FILE *f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Progress autop("auto", f);  // a file is not a terminal
  EXPECT_FALSE(autop.enabled());
  autop.update(0.5, "hidden");
  Progress never("never", f);
  EXPECT_FALSE(never.enabled());
  Progress always("always", f);
  EXPECT_TRUE(always.enabled());
  always.update(0.5, "shown");
  always.finish();
  std::fflush(f);
  std::rewind(f);
  char buf[256] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::string out(buf, n);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
  std::fclose(f);
}

}  // namespace
}  // namespace exerciser
