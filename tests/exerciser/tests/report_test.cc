#include "report.h"

#include <gtest/gtest.h>

#include "json_parse.h"
#include "progress.h"

#include <cstdio>

namespace exerciser {
namespace {

using testing::JParser;
using testing::JValue;

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
  JValue v;
  JParser p(report_json(r));
  ASSERT_TRUE(p.parse(&v)) << p.error();
  for (const char *k :
       {"device", "targets", "ios", "reads", "writes", "bytes", "errors", "verify_failures", "iops",
        "latency_us", "doorbells", "interrupts", "doorbells_per_io", "interrupts_per_io",
        "hotplug_events", "resets", "leaked_bytes", "lock_violations", "sync_violations"})
    EXPECT_TRUE(v.has(k)) << k;
  for (const char *k :
       {"register_reads", "register_writes", "register_reads_per_io", "register_writes_per_io"})
    EXPECT_TRUE(v.has(k)) << k;
  ASSERT_EQ(v["targets"].arr.size(), 1u);
  for (const char *k : {"target", "lun", "blocks", "block_size"})
    EXPECT_TRUE(v["targets"].arr[0].has(k)) << k;
  for (const char *k : {"p50", "p99", "max"}) EXPECT_TRUE(v["latency_us"].has(k)) << k;
  EXPECT_EQ(v["errors"]["timeout"].num, 2);
  EXPECT_EQ(v["errors"].obj.size(), error_kinds().size());
  EXPECT_EQ(v["verdict"].str, "verified");
  EXPECT_EQ(v["events"].arr[0]["action"].str, "reset-bus");
  EXPECT_EQ(v["doorbells_per_io"].num, 0.5);
  EXPECT_EQ(v["interrupts_per_io"].num, 0.25);
  EXPECT_EQ(v["register_reads"].num, 25);
  EXPECT_EQ(v["register_reads_per_io"].num, 0.25);
  EXPECT_EQ(v["register_writes_per_io"].num, 1.5);
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
