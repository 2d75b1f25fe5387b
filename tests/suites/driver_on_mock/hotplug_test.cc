// Hotplug: targets and LUNs added and removed at run time, with I/O in flight; the message
// ring's failure modes (unknown types, overflow, failed dispatch).
#include <sys/cmn_err.h>

#include <atomic>
#include <thread>

#include "mock_hba.h"

namespace driver_on_mock {
namespace {

using fk::client::KBuf;
using fk::client::Result;
using pvscsi_mock::Profile;

pvscsi_mock::TargetSpec disk(uint32_t id, unsigned nluns = 1) {
  return disk_target(id, nluns, 8192);
}

class HotplugTest : public ProfileTest {};

TEST_P(HotplugTest, HotAddDuringIoToAnotherTarget) {
  Hba hba(mock_config(GetParam(), {0}, 1, 8192));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd0 = hba.lun(0, 0);
  ASSERT_NE(sd0, nullptr);
  fk::client::Queue q(sd0, 16);
  KBuf buf(4096);
  unsigned errors = 0;
  for (int i = 0; i < 200; i++) {
    q.read(uint64_t(i) * 8 % 8000, 8, 512, buf.data(), [&](const Result &r) { errors += !r.ok(); });
    if (i == 50) {
      ASSERT_TRUE(hba.dev().add_target(disk(9)));
    }
  }
  q.wait();
  EXPECT_EQ(errors, 0u);
  scsi_device *sd9 = hba.lun(9, 0);
  ASSERT_NE(sd9, nullptr) << "hot-added target did not appear";
  KBuf out(512), in(512);
  ShadowDisk::fill(out.data(), 512, 512, 0, 3, 9);
  EXPECT_TRUE(fk::client::write(sd9, 3, 1, 512, out.data()).ok());
  EXPECT_TRUE(fk::client::read(sd9, 3, 1, 512, in.data()).ok());
  EXPECT_TRUE(ShadowDisk::holds(in.data(), 512, 512, 0, 3, 9));
  EXPECT_EQ(hba.stat("hotplug_events"), 1u);
  EXPECT_EQ(fk::sdt_count("pvscsi__hotplug"), 1u);
  EXPECT_EQ(fk::sdt_last_args("pvscsi__hotplug").at(1), 9u);  // the target
}

TEST_P(HotplugTest, HotRemoveWithIoInFlight) {
  auto cfg = mock_config(GetParam(), {0, 4}, 1, 8192);
  cfg.latency_ns = 100000;  // keep requests in the device while it goes
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd0 = hba.lun(0, 0), *sd4 = hba.lun(4, 0);
  ASSERT_NE(sd4, nullptr);
  unsigned errors4 = 0, ok4 = 0, errors0 = 0;
  {
    fk::client::Queue q4(sd4, 16), q0(sd0, 8);
    KBuf buf4(4096), buf0(4096);
    for (int i = 0; i < 16; i++)
      q4.read(uint64_t(i) * 8, 8, 512, buf4.data(),
              [&](const Result &r) { r.ok() ? ok4++ : errors4++; });
    ASSERT_TRUE(hba.dev().remove_target(4));
    for (int i = 0; i < 64; i++)
      q0.read(uint64_t(i) * 8, 8, 512, buf0.data(), [&](const Result &r) { errors0 += !r.ok(); });
    q4.wait();
    q0.wait();
  }
  EXPECT_EQ(ok4 + errors4, 16u);  // every packet completed, none hangs
  EXPECT_GT(errors4, 0u);
  EXPECT_EQ(errors0, 0u);  // the other target is unaffected
  EXPECT_EQ(hba.lun(4, 0), nullptr) << "removed target is still there";
  EXPECT_NE(hba.lun(0, 0), nullptr);
}

TEST_P(HotplugTest, RemoveThenAddTheSameTargetAgain) {
  Hba hba(mock_config(GetParam(), {0, 2}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  for (int round = 0; round < 3; round++) {
    ASSERT_TRUE(hba.dev().remove_target(2));
    EXPECT_EQ(hba.lun(2, 0), nullptr) << "round " << round;
    ASSERT_TRUE(hba.dev().add_target(disk(2)));
    scsi_device *sd = hba.lun(2, 0);
    ASSERT_NE(sd, nullptr) << "round " << round;
    EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
  }
}

// The target map may merge a removal and the re-add that follows within its settle time into no
// change at all; the replacement's LUNs must still be enumerated (found by the allocation-failure
// sweep: a target whose LUN probe had failed stayed without LUNs for good).
TEST_F(DriverTest, TargetReplacedWithinTheSettleTimeIsEnumeratedAgain) {
  Hba hba(mock_config(Profile::kVmware, {0, 2}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  ASSERT_NE(hba.lun(2, 0), nullptr);
  ASSERT_EQ(hba.lun(2, 1), nullptr);
  int64_t start = fk::now_ns();
  ASSERT_TRUE(hba.dev().remove_target(2));
  fk::drain();
  ASSERT_TRUE(hba.dev().add_target(disk(2, 2)));  // the new disk has two LUNs
  fk::drain();
  ASSERT_LT(fk::now_ns() - start, 100000000) << "both reports must fall in one settle time";
  EXPECT_NE(hba.lun(2, 1), nullptr) << "the replacement's LUNs were not enumerated";
  EXPECT_NE(hba.lun(2, 0), nullptr);
}

TEST_P(HotplugTest, LunAddedAndRemovedTriggersRescan) {
  Hba hba(mock_config(GetParam(), {1}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  pvscsi_mock::LunSpec l3;
  l3.lun = 3;
  ASSERT_TRUE(hba.dev().add_lun(1, l3));
  EXPECT_NE(hba.lun(1, 3), nullptr) << "new LUN not found by the rescan";
  EXPECT_NE(hba.lun(1, 0), nullptr);
  ASSERT_TRUE(hba.dev().remove_lun(1, 3));
  EXPECT_EQ(hba.lun(1, 3), nullptr) << "removed LUN still there";
  EXPECT_NE(hba.lun(1, 0), nullptr);
}

TEST_P(HotplugTest, UnknownMessageTypesDoNotStallTheRing) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  std::array<uint32_t, 31> args{};
  for (uint32_t type : {2u, 7u, 0xFFFFFFFFu}) ASSERT_TRUE(hba.dev().post_message(type, args));
  ASSERT_TRUE(hba.dev().add_target(disk(6)));
  EXPECT_NE(hba.lun(6, 0), nullptr);
  EXPECT_EQ(hba.stat("unknown_msgs"), 3u);
}

TEST_P(HotplugTest, FloodLargerThanTheMessageRingLosesNoTarget) {
  auto cfg = mock_config(GetParam(), {0});
  cfg.max_targets = 64;
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  // With interrupts lost, 40 additions overflow the 32-entry ring: the device drops the
  // rest. The driver sees a full ring, and rescans every target.
  hba.dev().drop_next_interrupts(1000);
  for (uint32_t t = 10; t < 50; t++) ASSERT_TRUE(hba.dev().add_target(disk(t)));
  EXPECT_GT(hba.dev().counters().msgs_dropped, 0u);
  hba.dev().drop_next_interrupts(0);
  fk::advance(1000000000);  // the watchdog reaps what no interrupt announced
  for (uint32_t t = 10; t < 50; t++) EXPECT_NE(hba.lun(t, 0), nullptr) << "target " << t;
  EXPECT_GE(hba.stat("rescans"), 2u);
}

TEST_P(HotplugTest, FailedTaskDispatchIsRetried) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  fk::fail_nth(fk::kFailTaskqDispatch, 1);
  ASSERT_TRUE(hba.dev().add_target(disk(5)));
  fk::drain();
  EXPECT_EQ(fk::failures_injected(), 1u);
  fk::fail_clear();
  fk::advance(1000000000);  // the watchdog dispatches the recorded work again
  EXPECT_NE(hba.lun(5, 0), nullptr);
}

TEST_P(HotplugTest, RefusedTargetAddIsRetried) {
  // scsi_hba_tgtmap_tgt_add can fail (damap_addr_add: DAM_MAPFULL). The work must stay
  // recorded and be done again, at attach (discovery in iport attach) and on hotplug.
  Hba hba(mock_config(GetParam(), {0}));
  fk::fail_nth(fk::kFailTgtmapAdd, 1);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::failures_injected(), 1u);
  fk::fail_clear();
  fk::advance(1000000000);  // the watchdog dispatches the recorded work again
  EXPECT_NE(hba.lun(0, 0), nullptr);
  fk::fail_nth(fk::kFailTgtmapAdd, 1);
  ASSERT_TRUE(hba.dev().add_target(disk(5)));
  fk::drain();
  EXPECT_EQ(fk::failures_injected(), 1u);
  fk::fail_clear();
  fk::advance(1000000000);
  EXPECT_NE(hba.lun(5, 0), nullptr);
}

// A hot-added target whose LUN 0 INQUIRYs are all taken by resets (two probes of two INQUIRYs,
// a LUN reset between them): the framework drops the target from the map and tells only the
// deactivate callback (SCSI_TGT_DEACT_RSN_CFG_FAIL). The driver reports it again after a while,
// so the disk appears without the device announcing it again.
TEST_P(HotplugTest, InquiriesLostToResetsDuringSetUpDoNotLoseTheDisk) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  uint64_t failures = fk::scsa::config_failures();
  hba.dev().fail_next_requests(4, pvscsi::hw::to_raw(pvscsi::hw::HostStatus::kBusreset), 0, 5);
  ASSERT_TRUE(hba.dev().add_target(disk(5)));
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(fk::scsa::config_failures(), failures + 1);
  EXPECT_EQ(hba.lun(5, 0), nullptr);
  fk::advance(3000 * 1000000ll);  // the driver's retry: 2 s after the failure
  ASSERT_TRUE(fk::client::settle());
  ASSERT_NE(hba.lun(5, 0), nullptr) << "the disk was lost";
  KBuf out(512), in(512);
  ShadowDisk::fill(out.data(), 512, 512, 0, 1, 5);
  EXPECT_TRUE(fk::client::write(hba.lun(5, 0), 1, 1, 512, out.data()).ok());
  EXPECT_TRUE(fk::client::read(hba.lun(5, 0), 1, 1, 512, in.data()).ok());
  EXPECT_TRUE(ShadowDisk::holds(in.data(), 512, 512, 0, 1, 5));
  EXPECT_EQ(hba.stat("hotplug_events"), 1u);
}

// A target that keeps failing is retried a bounded number of times, with growing waits.
TEST_P(HotplugTest, ConfigFailureRetriesAreBounded) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  uint64_t failures = fk::scsa::config_failures();
  hba.dev().fail_next_requests(1000, pvscsi::hw::to_raw(pvscsi::hw::HostStatus::kBusreset), 0, 5);
  ASSERT_TRUE(hba.dev().add_target(disk(5)));
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE(fk::client::settle());
    fk::advance(10'000 * 1000000ll);
  }
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(fk::scsa::config_failures(), failures + 4);  // the first, then three retries
  EXPECT_EQ(hba.lun(5, 0), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Profiles, HotplugTest, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         profile_name);

}  // namespace
}  // namespace driver_on_mock
