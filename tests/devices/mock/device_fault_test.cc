// Hotplug, unit attentions, latency/batching/reordering and every fault knob.
#include <thread>

#include "ring_harness.h"

namespace pvscsi_mock::testing {
namespace {

using hw::CommandCode;

struct DevMsg {
  uint32_t type, bus, target;
  uint8_t lun[8];
};
DevMsg decode(const hw::RingMsgDesc &m) {
  hw::MsgDevStatusChanged d;
  std::memcpy(d.raw, m.raw, sizeof d.raw);
  DevMsg r{d.type_raw(), d.bus(), d.target(), {}};
  for (uint32_t i = 0; i < 8; i++) {
    r.lun[i] = d.lun().byte(i);
  }
  return r;
}

class Hotplug : public ::testing::TestWithParam<Profile> {
 protected:
  Hotplug() : h(quiet(Config::for_profile(GetParam()))) {
    h.dev.set_intr_mode(fk::kIntrMsi, 1);
    EXPECT_EQ(h.setup_rings(), 0u);
    EXPECT_NE(h.setup_msg_ring(), hw::kCommandStatusFailed);
    h.dev.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  }
  Harness h;
};

TEST_P(Hotplug, AddAndRemoveTargetPostMessages) {
  ASSERT_TRUE(h.dev.add_target(TargetSpec{5, {LunSpec{0}}}));
  EXPECT_FALSE(h.dev.add_target(TargetSpec{5}));     // exists
  EXPECT_FALSE(h.dev.add_target(TargetSpec{5000}));  // beyond max_targets
  EXPECT_EQ(
      h.dev.read32(hw::IntrStatus::kOffset) & (hw::IntrMask::kMsg0Mask | hw::IntrMask::kMsg1Mask),
      0x4u);
  EXPECT_EQ(h.host.msi_count(), 1u);
  auto msgs = h.take_msgs();
  ASSERT_EQ(msgs.size(), 1u);
  DevMsg m = decode(msgs[0]);
  EXPECT_EQ(m.type, hw::to_raw(hw::MsgType::kDevAdded));
  EXPECT_EQ(m.bus, 0u);
  EXPECT_EQ(m.target, 5u);
  EXPECT_EQ(m.lun[1], 0);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 5, 0).host(), 0);
  ASSERT_TRUE(h.dev.remove_target(5));
  EXPECT_FALSE(h.dev.remove_target(5));
  msgs = h.take_msgs();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(decode(msgs[0]).type, hw::to_raw(hw::MsgType::kDevRemoved));
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 5, 0).host(), raw(hw::HostStatus::kSeltimeo));
  EXPECT_EQ(h.dev.counters().msgs_posted, 2u);
}

TEST_P(Hotplug, LunChangesPostMessagesAndUnitAttention) {
  ASSERT_TRUE(h.dev.add_lun(0, LunSpec{3, LunKind::kDisk, 64, 4096}));
  EXPECT_FALSE(h.dev.add_lun(0, LunSpec{3}));
  EXPECT_FALSE(h.dev.add_lun(9, LunSpec{0}));  // no target 9
  auto msgs = h.take_msgs();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(decode(msgs[0]).lun[1], 3);
  EXPECT_TRUE(h.dev.has_lun(0, 3));
  Done d = h.scsi({0, 0, 0, 0, 0, 0}, 0, 0);
  EXPECT_EQ(d.scsi(), 2);
  EXPECT_EQ(d.sense[2], kSenseUnitAttention);
  EXPECT_EQ(d.sense[12], 0x3F);
  EXPECT_EQ(d.sense[13], 0x0E);
  ASSERT_TRUE(h.dev.remove_lun(0, 3));
  EXPECT_FALSE(h.dev.remove_lun(0, 3));
  msgs = h.take_msgs();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(decode(msgs[0]).type, hw::to_raw(hw::MsgType::kDevRemoved));
  EXPECT_TRUE(h.dev.has_unit_attention(0, 0, UnitAttention::kReportedLunsChanged));
  // Capacity change.
  ASSERT_TRUE(h.dev.set_capacity(0, 0, 100));
  EXPECT_FALSE(h.dev.set_capacity(0, 7, 100));
  h.scsi({0, 0, 0, 0, 0, 0});  // REPORTED LUNS DATA HAS CHANGED
  d = h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(d.sense[12], 0x2A);
  EXPECT_EQ(d.sense[13], 0x09);
}

TEST_P(Hotplug, RemovalWithIoInFlightAbortsIt) {
  Config cfg = quiet(Config::for_profile(GetParam()));
  cfg.latency_ns = 1'000'000;
  cfg.targets = {TargetSpec{0}, TargetSpec{1}};
  Harness b(cfg);
  ASSERT_EQ(b.setup_rings(), 0u);
  b.put(b.request({0, 0, 0, 0, 0, 0}, 1, 0, Dir::kNone, 0, 77));
  b.put(b.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, 78));
  b.kick(false);
  ASSERT_TRUE(b.dev.remove_target(1));
  auto c = b.take();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].context(), 77u);
  EXPECT_EQ(c[0].host_status_raw(), raw(hw::HostStatus::kAbortqueue));
  EXPECT_EQ(b.dev.counters().msgs_dropped, 1u);  // no message ring set up
  b.host.advance(2'000'000);
  c = b.take();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].context(), 78u);
}

TEST_P(Hotplug, FullRingDropsAndUnknownTypesPass) {
  for (uint32_t t = 1; t <= 32; t++) {
    ASSERT_TRUE(h.dev.add_target(TargetSpec{t % 16 == 0 ? 15u : t % 16, {}}) || true);
  }
  // The ring holds 32 messages; the driver has taken none: the rest were dropped.
  Counters c = h.dev.counters();
  EXPECT_EQ(c.msgs_posted + c.msgs_dropped, 15u);  // 15 distinct new targets (1..15)
  for (uint32_t t = 1; t <= 15; t++) {
    h.dev.remove_target(t);
  }
  for (uint32_t t = 1; t <= 15; t++) {
    h.dev.add_target(TargetSpec{t});
  }
  c = h.dev.counters();
  EXPECT_EQ(c.msgs_posted, 32u);
  EXPECT_EQ(c.msgs_dropped, 13u);
  EXPECT_EQ(h.take_msgs().size(), 32u);
  std::array<uint32_t, 31> args{};
  args[0] = 0xABCD;
  EXPECT_TRUE(h.dev.post_message(77, args));
  auto msgs = h.take_msgs();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type_raw(), 77u);
  EXPECT_EQ(msgs[0].args(0), 0xABCDu);
  // A hostile consumer index (ahead of the producer) is treated as a full ring.
  h.host.w32(h.rs + 132, h.msg_cons + 1000);
  EXPECT_FALSE(h.dev.post_message(78, args));
}

TEST_P(Hotplug, MessageIndicesWrap) {
  ASSERT_NE(h.setup_msg_ring(1, 0xFFFFFFFEu), hw::kCommandStatusFailed);
  for (uint32_t t = 1; t <= 6; t++) {
    ASSERT_TRUE(h.dev.add_target(TargetSpec{t}));
  }
  EXPECT_EQ(h.take_msgs().size(), 6u);
  EXPECT_EQ(h.rs_field(128), 4u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, Hotplug, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         [](const auto &info) {
                           return info.param == Profile::kVmware ? "vmware" : "qemu";
                         });

TEST(MockUnitAttention, PowerOnResetFirst) {
  Harness h(Config::qemu());
  ASSERT_EQ(h.setup_rings(), 0u);
  Done d = h.scsi({0x12, 0, 0, 0, 36, 0}, 0, 0, Dir::kIn, 36);  // INQUIRY is not held up
  EXPECT_EQ(d.scsi(), 0);
  d = h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(d.scsi(), 2);
  EXPECT_EQ(d.sense[12], 0x29);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).scsi(), 0);
}

// ---------------------------------------------------------------------------------------------
// Latency, batching, reordering

std::vector<uint64_t> contexts(const std::vector<hw::RingCmpDesc> &c) {
  std::vector<uint64_t> v;
  for (auto &d : c) {
    v.push_back(d.context());
  }
  return v;
}

TEST(MockTiming, PerTargetLatencyOrdersCompletions) {
  Config cfg = quiet(Config::qemu());
  cfg.targets = {TargetSpec{0}, TargetSpec{1}};
  cfg.latency_ns = 1'000;
  cfg.per_target_latency_ns[1] = 500'000;
  Harness h(cfg);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.put(h.request({0, 0, 0, 0, 0, 0}, 1, 0, Dir::kNone, 0, 1));
  h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, 2));
  h.kick(false);
  EXPECT_TRUE(h.take().empty());
  h.host.advance(1'000);
  EXPECT_EQ(contexts(h.take()), std::vector<uint64_t>{2});
  h.host.advance(498'999);
  EXPECT_TRUE(h.take().empty());
  h.host.advance(1);
  EXPECT_EQ(contexts(h.take()), std::vector<uint64_t>{1});
}

TEST(MockTiming, RandomLatencyIsSeededAndBounded) {
  auto run = [](uint64_t seed) {
    Config cfg = quiet(Config::qemu());
    cfg.latency_jitter_ns = 100'000;
    cfg.seed = seed;
    Harness h(cfg);
    EXPECT_EQ(h.setup_rings(), 0u);
    for (uint64_t i = 1; i <= 20; i++) {
      h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, i));
    }
    h.kick(false);
    std::vector<uint64_t> order;
    for (int step = 0; step < 100; step++) {
      h.host.advance(1'000);
      for (uint64_t c : contexts(h.take())) {
        order.push_back(c);
      }
    }
    EXPECT_EQ(order.size(), 20u);
    return order;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(MockTiming, BatchingHoldsCompletionsUntilEnoughAreDue) {
  Config cfg = quiet(Config::qemu());
  cfg.completion_batch = 3;
  cfg.latency_ns = 10;
  Harness h(cfg);
  h.dev.set_intr_mode(fk::kIntrMsi, 1);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  cfg.latency_ns = 0;
  h.put_tur();
  h.put_tur();
  h.kick(false);
  h.host.advance(100);
  EXPECT_EQ(h.take().size(), 2u);  // everything in the device is due: no waiting forever
  h.dev.set_target_hung(1, true);  // (no effect on target 0)
  for (int i = 0; i < 4; i++) {
    h.put_tur();
    h.kick(false);
  }
  h.host.advance(100);
  EXPECT_EQ(h.take().size(), 4u);
  EXPECT_EQ(h.host.msi_count(), 2u);  // one interrupt per batch
}

TEST(MockTiming, ReorderShufflesABatch) {
  Config cfg = quiet(Config::qemu());
  cfg.reorder = true;
  cfg.latency_ns = 10;
  Harness h(cfg);
  ASSERT_EQ(h.setup_rings(), 0u);
  std::vector<uint64_t> in;
  for (uint64_t i = 1; i <= 16; i++) {
    h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, i));
    in.push_back(i);
  }
  h.kick(false);
  h.host.advance(100);
  std::vector<uint64_t> out = contexts(h.take());
  EXPECT_NE(out, in);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, in);
}

// ---------------------------------------------------------------------------------------------
// Fault knobs

class Faults : public ::testing::Test {
 protected:
  Faults() : h(quiet(Config::qemu())) {
    h.dev.set_intr_mode(fk::kIntrMsi, 1);
    EXPECT_EQ(h.setup_rings(), 0u);
    h.dev.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  }
  Harness h;
};

TEST_F(Faults, HungTargetNeverCompletesUntilAbortedOrReleased) {
  h.dev.set_target_hung(0, true);
  h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, 5));
  h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, 6));
  h.kick(false);
  h.host.advance(1'000'000'000);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.dev.ring_state().outstanding, 2u);
  hw::CmdDescAbortCmd a{};
  a.set_context(5).set_target(0);
  ASSERT_EQ(h.command(CommandCode::kAbortCmd, a), 0u);
  auto c = h.take();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].host_status_raw(), raw(hw::HostStatus::kAbortqueue));
  h.dev.set_target_hung(0, false);
  c = h.take();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].context(), 6u);
  EXPECT_EQ(c[0].host_status_raw(), 0);
}

TEST_F(Faults, FailWithAnyHostOrScsiStatus) {
  h.dev.fail_next_requests(1, raw(hw::HostStatus::kHatimeout), 0);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).host(), raw(hw::HostStatus::kHatimeout));
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).host(), 0);
  h.dev.fail_next_requests(2, 0, kScsiBusy, 0);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).scsi(), kScsiBusy);
  Done d = h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(d.scsi(), kScsiBusy);
  EXPECT_EQ(d.sense[0], 0xEE);  // no sense without CHECK CONDITION
  h.dev.fail_next_requests(1, 0, kScsiCheckCondition);
  d = h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(d.scsi(), 2);
  EXPECT_EQ(d.sense[2], kSenseHardwareError);
  h.dev.fail_next_requests(1, 0, kScsiCheckCondition, -1, make_sense(sense::kMediumNotPresent));
  d = h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(d.sense[12], 0x3A);
  h.dev.fail_next_requests(1, raw(hw::HostStatus::kBusfree), 0, 3);  // only target 3
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).host(), 0);
}

TEST_F(Faults, BogusContexts) {
  struct Case {
    BogusContext kind;
    uint64_t context, expect;
  };
  const Case cases[] = {
      {BogusContext::kZero, 100, 0},
      {BogusContext::kOutOfRange, 101, 0x7FFFFFFF},
      {BogusContext::kAlreadyCompleted, 102, 101},  // the previous completion's context
      {BogusContext::kUpper32, 103, (uint64_t{1} << 32) | 103},
  };
  for (const Case &c : cases) {
    h.dev.corrupt_next_completion_context(c.kind);
    h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, c.context));
    h.kick(false);
    auto done = h.take();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].context(), c.expect);
  }
  // Only the next completion is corrupted.
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).host(), 0);
  EXPECT_TRUE(h.dev.inject_completion(0xDEAD, raw(hw::HostStatus::kBusreset), 0));
  auto done = h.take();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].context(), 0xDEADu);
  EXPECT_EQ(done[0].host_status_raw(), raw(hw::HostStatus::kBusreset));
}

TEST_F(Faults, CorruptIndicesAndSizes) {
  h.dev.corrupt_cmp_prod_index();
  EXPECT_EQ(h.rs_field(12), h.cmp_cons + 128 + 7);
  h.host.w32(h.rs + 12, h.cmp_cons);    // (the driver would reject it; restore for the harness)
  Done d = h.scsi({0, 0, 0, 0, 0, 0});  // the next real completion writes the true index
  EXPECT_EQ(d.host(), 0);
  EXPECT_EQ(h.rs_field(12), h.cmp_cons);
  h.dev.corrupt_log2_sizes(31, 40, 0xFFFFFFFF);
  EXPECT_EQ(h.rs_field(8), 31u);
  EXPECT_EQ(h.rs_field(20), 40u);
  EXPECT_EQ(h.rs_field(136), 0xFFFFFFFFu);
  // The device itself keeps using the real geometry.
  EXPECT_EQ(h.dev.ring_state().req_entries, 32u);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}).host(), 0);
}

TEST_F(Faults, DroppedDuplicatedAndSpuriousInterrupts) {
  h.dev.drop_next_interrupts(1);
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(h.host.msi_count(), 0u);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 1u);  // the status is still there
  h.dev.duplicate_next_interrupts(1);
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(h.host.msi_count(), 2u);
  h.dev.write32(hw::IntrStatus::kOffset, 0xF);
  h.dev.raise_spurious_interrupt();
  EXPECT_EQ(h.host.msi_count(), 3u);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 0u);
  h.dev.raise_spurious_interrupt((hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask) & 1);
  EXPECT_EQ(h.host.msi_count(), 4u);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 1u);
  EXPECT_TRUE(h.take().empty());  // nothing behind it
  Counters c = h.dev.counters();
  EXPECT_EQ(c.interrupts_dropped, 1u);
  EXPECT_EQ(c.interrupts_spurious, 2u);
}

TEST_F(Faults, IntxDropDuplicateAndSpuriousPulse) {
  h.dev.set_intr_mode(fk::kIntrFixed, 1);
  h.dev.write32(hw::IntrStatus::kOffset, 0xF);
  h.host.irqs.clear();
  h.dev.drop_next_interrupts(1);
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(h.host.intx);  // the assertion was lost...
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(h.host.intx);  // ...until the next event
  h.dev.duplicate_next_interrupts(1);
  h.scsi({0, 0, 0, 0, 0, 0});
  size_t highs = 0;
  for (auto &e : h.host.irqs) {
    highs += e.kind == IrqEvent::kIntxHigh;
  }
  EXPECT_EQ(highs, 2u);
  h.dev.write32(hw::IntrStatus::kOffset, 0xF);
  EXPECT_FALSE(h.host.intx);
  h.host.irqs.clear();
  h.dev.raise_spurious_interrupt();
  ASSERT_EQ(h.host.irqs.size(), 2u);  // a pulse
  EXPECT_EQ(h.host.irqs[0].kind, IrqEvent::kIntxHigh);
  EXPECT_EQ(h.host.irqs[1].kind, IrqEvent::kIntxLow);
}

TEST_F(Faults, RefuseCommands) {
  h.dev.refuse_command(CommandCode::kSetupRings, 2);
  EXPECT_EQ(h.setup_rings(), hw::kCommandStatusFailed);
  EXPECT_EQ(h.setup_rings(), hw::kCommandStatusFailed);
  EXPECT_EQ(h.setup_rings(), 0u);
  h.dev.refuse_command(CommandCode::kAdapterReset);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(h.command(CommandCode::kAdapterReset), hw::kCommandStatusFailed);
  }
  EXPECT_TRUE(h.dev.ring_state().rings_valid);
  h.dev.refuse_command(CommandCode::kAdapterReset, 0);
  EXPECT_EQ(h.command(CommandCode::kAdapterReset), 0u);
  EXPECT_EQ(h.dev.counters().commands_failed, 5u);
}

TEST_F(Faults, SpontaneousReset) {
  Harness b(quiet_qemu(1'000'000));
  ASSERT_EQ(b.setup_rings(), 0u);
  b.put_tur();
  b.kick(false);
  b.dev.write32(hw::Command::kOffset, hw::to_raw(CommandCode::kSetupMsgRing));  // partial
  b.dev.spontaneous_reset();
  auto c = b.take();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].host_status_raw(), raw(hw::HostStatus::kBusreset));
  EXPECT_FALSE(b.dev.ring_state().rings_valid);
  EXPECT_EQ(b.setup_rings(), 0u);  // the partial command was forgotten
  b.put_tur();
  b.kick(false);
  b.dev.schedule_spontaneous_reset(b.host.clock() + 500);
  b.host.advance(499);
  EXPECT_TRUE(b.dev.ring_state().rings_valid);
  b.host.advance(1);
  EXPECT_FALSE(b.dev.ring_state().rings_valid);
  EXPECT_EQ(b.take().size(), 1u);
}

TEST_F(Faults, ForcedThresholdWithoutPolling) {
  Harness v(quiet(Config::vmware()));
  ASSERT_EQ(v.setup_rings(), 0u);
  hw::CmdDescSetupReqCall en{};
  en.set_enable(1);
  ASSERT_EQ(v.command(CommandCode::kSetupReqCallThreshold, en), 0u);
  v.dev.force_req_call_threshold(64);
  EXPECT_EQ(v.rs_field(24), 64u);
  EXPECT_EQ(v.scsi({0, 0, 0, 0, 0, 0}).host(), 0);
  EXPECT_EQ(v.rs_field(24), 64u);
  v.dev.force_req_call_threshold(0);
  v.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(v.rs_field(24), 1u);
}

// Several threads hammer the registers while the host clock runs: the device must stay
// consistent (run under TSan/ASan to catch races; here every request must complete once).
TEST(MockThreads, ConcurrentRegisterAccess) {
  Config cfg = quiet(Config::vmware());
  cfg.latency_ns = 1'000;
  Harness h(cfg);
  h.dev.set_intr_mode(fk::kIntrMsix, 1);
  ASSERT_EQ(h.setup_rings(8, 2), 0u);
  h.dev.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  std::mutex ring;
  auto submitter = [&] {
    for (int i = 0; i < 100; i++) {
      {
        std::lock_guard<std::mutex> g(ring);
        h.put(h.request(bytes(cdb::read10(i, 1)), 0, 0, Dir::kIn, 512));
      }
      h.kick(true);
      h.dev.read32(hw::IntrStatus::kOffset);
    }
  };
  std::thread a(submitter), b(submitter);
  size_t done = 0;
  while (done < 200) {
    h.host.advance(1'000);
    std::lock_guard<std::mutex> g(ring);
    done += h.take().size();
    h.dev.write32(hw::IntrStatus::kOffset, 0xF);
    if (h.host.clock() > 1'000'000'000) {
      break;
    }
  }
  a.join();
  b.join();
  h.host.advance(1'000'000);
  done += h.take().size();
  EXPECT_EQ(done, 200u);
  EXPECT_EQ(h.dev.counters().requests, 200u);
}

}  // namespace
}  // namespace pvscsi_mock::testing

namespace pvscsi_mock::testing {
namespace {

TEST(MockConfig, ParseTopology) {
  std::vector<TargetSpec> t;
  std::string err;
  ASSERT_TRUE(Config::parse_topology("0:0=1G,1=64M/4096;2:0=cdrom;7:300=4096", &t, &err)) << err;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].id, 0u);
  ASSERT_EQ(t[0].luns.size(), 2u);
  EXPECT_EQ(t[0].luns[0].blocks, (1u << 30) / 512);
  EXPECT_EQ(t[0].luns[1].block_size, 4096u);
  EXPECT_EQ(t[0].luns[1].blocks, 16384u);
  EXPECT_EQ(t[1].luns[0].kind, LunKind::kCdrom);
  EXPECT_EQ(t[2].luns[0].lun, 300);
  EXPECT_EQ(t[2].luns[0].blocks, 8u);
  for (const char *bad :
       {"", "0", "x:0=1M", "0:0=", "0:0=1M/1024", "0:0=100", "0:0=1Q", "0:0=1M;0:1=1M",
        "0:0=1M,0=2M", "300:0=1M", "0:99999=1M", "0:0=-5", "0:0=99999999999999999999999G"}) {
    std::vector<TargetSpec> keep(1);
    err.clear();
    EXPECT_FALSE(Config::parse_topology(bad, &keep, &err)) << bad;
    EXPECT_NE(err.find("topology"), std::string::npos) << bad;
    EXPECT_EQ(keep.size(), 1u);
  }
}

TEST(MockTiming, VmwarePollingBacksOffWhileATargetHangs) {
  Config cfg = quiet(Config::vmware());
  cfg.latency_ns = 1'000;
  Harness h(cfg);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.set_target_hung(0, true);
  h.put_tur();
  h.kick(false);
  h.host.advance(1'000'000'000);  // one virtual second
  const uint64_t polls = h.dev.counters().polls;
  EXPECT_GT(polls, 900u);
  EXPECT_LT(polls, 1'100u);
  EXPECT_TRUE(h.dev.ring_state().polling);
  // A request put without a kick is still found, within the longest interval.
  h.put(h.request({0, 0, 0, 0, 0, 0}, 1));
  h.host.advance(1'000'000);
  EXPECT_EQ(h.dev.counters().requests, 2u);
}

}  // namespace
}  // namespace pvscsi_mock::testing
