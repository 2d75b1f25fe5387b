// Attach, detach, feature probes, interrupt fallback, ring sizing, discovery.
#include <sys/ddi_intr.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "mock_hba.h"

namespace driver_on_mock {
namespace {

using pvscsi_mock::Profile;

class AttachTest : public ProfileTest {};

TEST_P(AttachTest, AttachFindsTargetsAndDetachesClean) {
  Hba hba(mock_config(GetParam(), {0, 3, 7}, 2));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto luns = hba.luns();
  ASSERT_EQ(luns.size(), 6u);
  EXPECT_EQ(luns[0].unit_address, "0,0");
  EXPECT_EQ(luns[5].unit_address, "7,1");
  EXPECT_EQ(hba.detach(), DDI_SUCCESS);
}

TEST_P(AttachTest, RepeatedAttachDetachCycles) {
  for (int i = 0; i < 5; i++) {
    Hba hba(mock_config(GetParam(), {1, 2}));
    ASSERT_EQ(hba.attach(), DDI_SUCCESS) << "cycle " << i;
    EXPECT_EQ(hba.luns().size(), 2u);
    ASSERT_EQ(hba.detach(), DDI_SUCCESS);
  }
}

TEST_P(AttachTest, SparseTargetsUpToSixtyThree) {
  std::vector<uint32_t> targets = {0, 1, 5, 15, 16, 31, 40, 62, 63};
  auto cfg = mock_config(GetParam(), targets);
  cfg.max_targets = 64;
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto luns = hba.luns();
  ASSERT_EQ(luns.size(), targets.size());
  for (uint32_t t : targets) EXPECT_NE(hba.lun(t, 0), nullptr) << "target " << t;
}

TEST_P(AttachTest, FeatureProbesFollowTheDevice) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto rs = hba.dev().ring_state();
  EXPECT_TRUE(rs.rings_valid);
  EXPECT_TRUE(rs.msg_valid);
  // Threshold only where the device has it (VMware); QEMU answers -1 to the probe.
  EXPECT_EQ(rs.threshold_enabled, GetParam() == Profile::kVmware);
  // Default ring: 8 pages of 32 requests; the completion ring never smaller.
  EXPECT_EQ(rs.req_entries, 256u);
  EXPECT_GE(rs.cmp_entries, rs.req_entries);
  // The kstats say what was negotiated. QEMU: no CONFIG (16 targets assumed), status 34 from
  // SETUP_MSG_RING is success.
  EXPECT_EQ(hba.stat("req_ring_entries"), 256u);
  EXPECT_EQ(hba.stat("cmp_ring_entries"), rs.cmp_entries);
  EXPECT_EQ(hba.stat("msg_ring_entries"), 32u);
  EXPECT_EQ(hba.stat("req_call_threshold"), GetParam() == Profile::kVmware ? 2u : 0u);
  EXPECT_EQ(hba.stat("max_targets"), GetParam() == Profile::kVmware ? 16u : 16u);
  EXPECT_EQ(hba.stat("intr_type"),
            uint64_t(GetParam() == Profile::kVmware ? DDI_INTR_TYPE_MSIX : DDI_INTR_TYPE_MSI));
}

TEST_P(AttachTest, RingSizesFromPropertiesAreRoundedToPowersOfTwo) {
  Hba hba(mock_config(GetParam(), {0}));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 3);
  fk::set_prop_int(hba.dip(), "pvscsi-completion-ring-pages", 1);
  fk::set_prop_int(hba.dip(), "pvscsi-msg-ring-pages", 100);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto rs = hba.dev().ring_state();
  EXPECT_EQ(rs.req_entries, 4u * 32);
  EXPECT_EQ(rs.cmp_entries, 1u * 128);  // 128 completions cover 128 requests
  EXPECT_EQ(rs.msg_entries, 16u * 32);  // clamped to the device's 16 pages
}

TEST_P(AttachTest, LargestRingsAndThresholdOff) {
  Hba hba(mock_config(GetParam(), {0}));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 32);
  fk::set_prop_int(hba.dip(), "pvscsi-use-request-threshold", 0);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto rs = hba.dev().ring_state();
  EXPECT_EQ(rs.req_entries, 1024u);
  EXPECT_FALSE(rs.threshold_enabled);
  EXPECT_EQ(hba.stat("req_call_threshold"), GetParam() == Profile::kVmware ? 1u : 0u);
}

TEST_P(AttachTest, TargetIgnoringAbortsAndResetsCostsNoAdapterRestart) {
  // Target 3 swallows every command and ignores ABORT_CMD, RESET_DEVICE and RESET_BUS. Its
  // probe must end within a budget, without a bus reset or an adapter restart: those failed
  // every healthy disk's I/O and started discovery again - every 22 s, forever, and iport
  // attach never returned.
  auto cfg = mock_config(GetParam(), {0, 1, 3});
  cfg.max_targets = 16;
  Hba hba(cfg);
  hba.dev().set_target_deaf(3, true);
  // A backstop so that a driver that livelocks still lets the test end (and fail).
  std::atomic<bool> attached{false};
  std::thread backstop([&] {
    for (; !attached; std::this_thread::sleep_for(std::chrono::milliseconds(10)))
      if (hba.dev().counters().commands[int(pvscsi::hw::CommandCode::kAdapterReset)] >= 4) {
        hba.dev().set_target_deaf(3, false);
        break;
      }
  });
  int64_t start = fk::now_ns();
  int rc = hba.attach();
  attached = true;
  backstop.join();
  ASSERT_EQ(rc, DDI_SUCCESS);
  EXPECT_LT(fk::now_ns() - start, 60 * int64_t(NANOSEC)) << "discovery took too long";
  EXPECT_EQ(hba.stat("adapter_resets"), 0u);
  EXPECT_EQ(hba.stat("bus_resets"), 0u);
  EXPECT_EQ(hba.stat("rescans"), 1u);
  // The healthy disks are there and work; the deaf target is not reported.
  scsi_device *sd0 = hba.lun(0, 0), *sd1 = hba.lun(1, 0);
  ASSERT_NE(sd0, nullptr);
  ASSERT_NE(sd1, nullptr);
  EXPECT_EQ(hba.lun(3, 0), nullptr);
  fk::client::KBuf buf(512);
  EXPECT_TRUE(fk::client::read(sd0, 0, 1, 512, buf.data()).ok());
  fk::advance(60 * int64_t(NANOSEC));  // nothing starts over behind our back
  EXPECT_EQ(hba.stat("adapter_resets"), 0u);
  EXPECT_EQ(hba.stat("rescans"), 1u);
  EXPECT_TRUE(fk::client::read(sd1, 0, 1, 512, buf.data()).ok());
  // The device still holds the probe: detach proceeds anyway (the adapter reset of teardown
  // makes the device forget it before its memory is freed).
  EXPECT_EQ(hba.detach(), DDI_SUCCESS);
}

INSTANTIATE_TEST_SUITE_P(Profiles, AttachTest, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         profile_name);

class InterruptTest : public DriverTest {};

TEST_F(InterruptTest, PrefersMsix) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_MSIX);
}

TEST_F(InterruptTest, FallsBackToMsiWhenMsixAllocationFails) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_MSIX);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_MSI);
  fk::fail_clear();
}

TEST_F(InterruptTest, FallsBackToFixedWhenHandlersFail) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  fk::fail_intr_type(fk::kFailIntrAddHandler, DDI_INTR_TYPE_MSIX);
  fk::fail_intr_type(fk::kFailIntrAddHandler, DDI_INTR_TYPE_MSI);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_FIXED);
  fk::fail_clear();
  // FIXED works for I/O: the handler claims only with a cause and acks it.
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
  EXPECT_FALSE(hba.dev().ring_state().intx_asserted);
}

TEST_F(InterruptTest, FallsBackWhenEnablingFails) {
  // ddi_intr_enable can fail after allocation and handler set-up succeeded: the next type is
  // tried, as when allocation fails.
  Hba hba(mock_config(Profile::kVmware, {0}));
  fk::fail_intr_type(fk::kFailIntrEnable, DDI_INTR_TYPE_MSIX);
  fk::fail_intr_type(fk::kFailIntrEnable, DDI_INTR_TYPE_MSI);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  fk::fail_clear();
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_FIXED);
  EXPECT_EQ(hba.stat("intr_type"), uint64_t(DDI_INTR_TYPE_FIXED));
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
}

TEST_F(InterruptTest, QemuProfileUsesMsiThenFixed) {
  Hba hba(mock_config(Profile::kQemu, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_MSI);
}

TEST_F(InterruptTest, PropertyRestrictsTypes) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  fk::set_prop_int(hba.dip(), "pvscsi-intr-types", DDI_INTR_TYPE_FIXED);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::intr_info(hba.dip()).type, DDI_INTR_TYPE_FIXED);
}

TEST_F(InterruptTest, SpuriousFixedInterruptIsNotClaimed) {
  Hba hba(mock_config(Profile::kQemu, {0}));
  fk::set_prop_int(hba.dip(), "pvscsi-intr-types", DDI_INTR_TYPE_FIXED);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  uint64_t before = fk::counters().interrupts_unclaimed;
  hba.dev().raise_spurious_interrupt(0);
  fk::drain();
  EXPECT_GT(fk::counters().interrupts_unclaimed, before);
}

class AttachFailureTest : public DriverTest {};

TEST_F(AttachFailureTest, NoUsableInterruptFailsCleanly) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_MSIX);
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_MSI);
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_FIXED);
  EXPECT_NE(hba.attach_hba_only(), DDI_SUCCESS);
  fk::fail_clear();
}

TEST_F(AttachFailureTest, RefusedSetupRingsFailsCleanly) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  hba.dev().refuse_command(pvscsi::hw::CommandCode::kSetupRings);
  EXPECT_NE(hba.attach_hba_only(), DDI_SUCCESS);
}

TEST_F(AttachFailureTest, EveryDmaAllocationFailureIsClean) {
  // Fail the nth DMA operation of attach for every n until attach runs without meeting an
  // injected failure: each one must unwind completely or degrade (the CONFIG page is
  // optional), and the fixture checks for leaks and violations.
  unsigned failed = 0, degraded = 0;
  for (uint64_t n = 1; n < 200; n++) {
    Hba hba(mock_config(Profile::kVmware, {0}));
    fk::fail_nth(fk::kFailDma, n);
    int rc = hba.attach_hba_only();
    bool injected = fk::failures_injected() > 0;
    fk::fail_clear();
    if (rc != DDI_SUCCESS) {
      EXPECT_TRUE(injected) << "attach failed at n=" << n << " without an injected failure";
      failed++;
      continue;
    }
    EXPECT_EQ(hba.detach(), DDI_SUCCESS);
    if (!injected) {
      EXPECT_GE(failed, 8u) << "attach makes more DMA allocations than that";
      EXPECT_LE(degraded, 3u);
      return;
    }
    degraded++;
  }
  FAIL() << "attach never succeeded";
}

TEST_F(AttachFailureTest, EveryKmemNosleepFailureIsClean) {
  for (uint64_t n = 1; n < 100; n++) {
    Hba hba(mock_config(Profile::kVmware, {0}));
    fk::fail_nth(fk::kFailKmem | fk::kFailTaskqDispatch, n);
    int rc = hba.attach();
    bool injected = fk::failures_injected() > 0;
    fk::fail_clear();
    if (rc == DDI_SUCCESS) {
      EXPECT_EQ(hba.detach(), DDI_SUCCESS);
    }
    if (!injected) return;
  }
  FAIL() << "attach kept meeting injected failures";
}

TEST_F(AttachFailureTest, ConfigUnsupportedFallsBackToSixteenAndStillFindsHighTargets) {
  auto cfg = mock_config(Profile::kVmware, {2, 20});
  cfg.config_supported = false;
  cfg.max_targets = 64;
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_NE(hba.lun(2, 0), nullptr);
  EXPECT_NE(hba.lun(20, 0), nullptr);
}

TEST_F(AttachFailureTest, QuiesceStopsTheDevice) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  EXPECT_EQ(fk::quiesce(hba.dip()), DDI_SUCCESS);
  auto rs = hba.dev().ring_state();
  EXPECT_FALSE(rs.rings_valid);
  EXPECT_EQ(rs.intr_mask, 0u);
}

// Fast reboot quiesces every node, children first: the iport (an instance of this driver with
// no soft state of its own) before the HBA. Each must succeed without locks or waiting, and the
// device must end up stopped with nothing left that could interrupt.
TEST_F(AttachFailureTest, QuiesceOfEveryNodeStopsTheDevice) {
  Hba hba(mock_config(Profile::kVmware, {0, 1}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  size_t before = fk::violations().size();
  EXPECT_EQ(fk::quiesce_devices(), DDI_SUCCESS);
  EXPECT_EQ(fk::violations().size(), before);
  auto rs = hba.dev().ring_state();
  EXPECT_FALSE(rs.rings_valid);
  EXPECT_EQ(rs.intr_mask, 0u);
}

// illumos enumerates LUNs with REPORT LUNS given 3 s of pkt_time (scsi_lunrpt_timeout); when it
// fails, a SCSI-3 or later target gets LUN 0 only. The driver honours pkt_time to the watchdog's
// half-second (one profile: the waits cost real time): a target answering in 2.5 s shows all its
// LUNs; one that needs 4 s has its REPORT LUNS aborted (after 3 s, never before) and shows LUN 0
// only - as on illumos.
TEST_F(DriverTest, ReportLunsGetsThreeSecondsOnASlowTarget) {
  for (int64_t latency_ms : {2500, 4000}) {
    auto cfg = mock_config(Profile::kQemu, {0}, 3);
    cfg.per_target_latency_ns[0] = latency_ms * 1000000;
    Hba hba(cfg);
    ASSERT_EQ(hba.attach(), DDI_SUCCESS);
    EXPECT_EQ(hba.luns().size(), latency_ms < 3000 ? 3u : 1u) << latency_ms << " ms";
    EXPECT_EQ(hba.stat("aborts"), latency_ms < 3000 ? 0u : 1u) << latency_ms << " ms";
    ASSERT_EQ(hba.detach(), DDI_SUCCESS);
  }
}

}  // namespace
}  // namespace driver_on_mock
