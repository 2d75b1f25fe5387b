#include "runner.h"

#include <gtest/gtest.h>

#include "fake_backend.h"

namespace exerciser {
namespace {

std::vector<LunGeometry> luns() {
  return {LunGeometry{0, 0, 1024, 512}, LunGeometry{1, 0, 256, 4096}};
}

RunConfig config(uint64_t ops, uint32_t qd) {
  RunConfig c;
  c.luns = luns();
  std::string err;
  EXPECT_TRUE(parse_block_size_spec("4k,8k", &c.workload.bs, &err));
  c.workload.read_pct = 50;
  c.workload.seed = 11;
  c.ops = ops;
  c.qd = qd;
  c.hang_timeout_s = 5;
  return c;
}

TEST(Runner, CleanRunVerifies) {
  FakeBackend b(luns());
  Report r;
  ASSERT_TRUE(run_workload(b, config(2000, 8), &r));
  r.judge();
  EXPECT_EQ(r.exit_status, 0) << result_table(r);
  EXPECT_EQ(r.ios, 2000u);
  EXPECT_EQ(r.reads + r.writes, 2000u);
  EXPECT_GT(r.verified_blocks, 0u);
  EXPECT_GT(r.final_check_blocks, 0u);
  EXPECT_EQ(r.verify_failures, 0u);
  EXPECT_LE(b.max_in_flight(), 8u);
  EXPECT_GT(r.bytes, 0u);
  EXPECT_GT(r.max_us, 0u + 0 * r.p50_us);
}

TEST(Runner, QueueDepthOneIsSerial) {
  FakeBackend b(luns());
  Report r;
  ASSERT_TRUE(run_workload(b, config(300, 1), &r));
  EXPECT_EQ(b.max_in_flight(), 1u);
  r.judge();
  EXPECT_EQ(r.exit_status, 0);
}

TEST(Runner, WrittenDataCarriesStamps) {
  FakeBackend b(luns());
  RunConfig c = config(500, 4);
  c.workload.read_pct = 0;
  Report r;
  ASSERT_TRUE(run_workload(b, c, &r));
  // Every block on the disk is zeros or a valid stamp of this run for its own address.
  size_t stamped = 0;
  for (size_t i = 0; i < 2; i++) {
    const auto &g = c.luns[i];
    for (uint64_t lba = 0; lba < g.blocks; lba++) {
      const uint8_t *blk = b.disk(i).data() + lba * g.block_size;
      StampId id;
      uint32_t crc, bs;
      if (!read_stamp(blk, g.block_size, &id, &crc, &bs)) continue;
      stamped++;
      EXPECT_EQ(id.lba, lba);
      EXPECT_EQ(id.target, g.target);
      EXPECT_EQ(id.seed, 11u);
      EXPECT_EQ(verify_block(blk, g.block_size, Expectation::stamp(id)), "");
    }
  }
  EXPECT_GT(stamped, 100u);
}

TEST(Runner, CatchesACorruptedRead) {
  FakeBackend b(luns());
  RunConfig c = config(400, 4);
  Report r;
  b.corrupt_next_read();
  ASSERT_TRUE(run_workload(b, c, &r));
  r.judge();
  EXPECT_EQ(r.verify_failures, 1u);
  EXPECT_EQ(r.exit_status, 1);
  ASSERT_EQ(r.verify_samples.size(), 1u);
}

// A serial, in-order run (the same every time) of 60 commands with read_pct reads, after
// `plant` sets up a fault in the backend; judged.
template <class Plant>
Report serial_run(unsigned read_pct, Plant plant) {
  FakeBackend b(luns(), false);
  RunConfig c = config(60, 1);
  c.workload.read_pct = read_pct;
  plant(b);
  Report r;
  EXPECT_TRUE(run_workload(b, c, &r));
  r.judge();
  return r;
}

TEST(Runner, CatchesALostWrite) {
  Report r = serial_run(20, [](FakeBackend &b) { b.lose_next_write(); });
  // The final read-back sees it at the latest.
  EXPECT_GE(r.verify_failures, 1u);
  EXPECT_EQ(r.exit_status, 1);
  ASSERT_FALSE(r.verify_samples.empty());
  EXPECT_NE(r.verify_samples[0].find("lost write"), std::string::npos) << r.verify_samples[0];
}

TEST(Runner, CatchesAMisdirectedWrite) {
  Report r = serial_run(0, [](FakeBackend &b) { b.misdirect_next_write(); });
  EXPECT_GE(r.verify_failures, 1u);
}

TEST(Runner, UnexplainedErrorsFail) {
  FakeBackend b(luns());
  b.fail_next(3, "timeout");
  Report r;
  ASSERT_TRUE(run_workload(b, config(200, 4), &r));
  r.judge();
  EXPECT_EQ(r.errors["timeout"], 3u);
  EXPECT_EQ(r.errors_unexplained, 3u);
  EXPECT_EQ(r.exit_status, 1);
  EXPECT_EQ(r.verify_failures, 0u);  // failed writes are unknown, not failures
}

TEST(Runner, InjectedFaultsExplainTheirErrors) {
  FakeBackend b(luns());
  RunConfig c = config(300, 4);
  Event e;
  std::string err;
  ASSERT_TRUE(parse_event("100:fault=error,count=2", &e, &err));
  c.events.push_back(e);
  Report r;
  ASSERT_TRUE(run_workload(b, c, &r));
  r.judge();
  EXPECT_EQ(r.errors["tran_err"], 2u);
  EXPECT_EQ(r.errors_explained, 2u);
  EXPECT_EQ(r.errors_unexplained, 0u);
  EXPECT_EQ(r.exit_status, 0) << result_table(r);
}

TEST(Runner, HotRemoveAndAdd) {
  FakeBackend b(luns());
  RunConfig c = config(1000, 8);
  Event rm, add;
  std::string err;
  ASSERT_TRUE(parse_event("300:remove-target=1", &rm, &err));
  ASSERT_TRUE(parse_event("600:add-target=1", &add, &err));
  c.events = {rm, add};
  Report r;
  ASSERT_TRUE(run_workload(b, c, &r));
  r.judge();
  EXPECT_GT(r.skipped, 0u);
  EXPECT_EQ(r.errors_unexplained, 0u);
  EXPECT_EQ(r.verify_failures, 0u) << (r.verify_samples.empty() ? "" : r.verify_samples[0]);
  EXPECT_EQ(r.exit_status, 0) << result_table(r);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_TRUE(r.events[0].ok);
  EXPECT_EQ(b.events_seen(), (std::vector<std::string>{"remove-target=1", "add-target=1"}));
}

TEST(Runner, EventsBeyondTheRunAreReported) {
  FakeBackend b(luns());
  RunConfig c = config(50, 4);
  Event e;
  std::string err;
  ASSERT_TRUE(parse_event("500:reset-bus", &e, &err));
  c.events.push_back(e);
  c.seconds = 0;
  Report r;
  ASSERT_TRUE(run_workload(b, c, &r));
  r.judge();
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_FALSE(r.events[0].ok);
  EXPECT_EQ(r.exit_status, 1);
}

TEST(Runner, HungIoIsReportedNotWaitedForever) {
  FakeBackend b(luns());
  RunConfig c = config(100, 4);
  c.hang_timeout_s = 0.2;
  b.hang();
  Report r;
  EXPECT_FALSE(run_workload(b, c, &r));
  r.judge();
  EXPECT_TRUE(r.io_hung);
  EXPECT_EQ(r.exit_status, 1);
  // Unblock the fake so it can shut down with requests that reference r's buffers... they are
  // never completed, and the fake is destroyed without touching them.
}

TEST(Runner, SecondsMode) {
  FakeBackend b(luns());
  RunConfig c = config(0, 4);
  c.seconds = 0.2;
  Report r;
  ASSERT_TRUE(run_workload(b, c, &r));
  r.judge();
  EXPECT_GT(r.ios, 0u);
  EXPECT_GE(r.elapsed_s, 0.2);
  EXPECT_EQ(r.exit_status, 0);
}

}  // namespace
}  // namespace exerciser
