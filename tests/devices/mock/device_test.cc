// The mock device driven at the register and ring level: PCI identity, every command, probe
// semantics, interrupts, both profiles, hostile set-up. SCSI over the rings is in
// device_scsi_test.cc, hotplug and faults in device_fault_test.cc.
#include "ring_harness.h"

namespace pvscsi_mock::testing {
namespace {

using hw::CommandCode;
constexpr uint32_t kFailed = hw::kCommandStatusFailed;
constexpr uint32_t kIncomplete = hw::kCommandStatusIncomplete;

TEST(MockPci, IdentityRegionsAndBarSizing) {
  MockDevice vm(Config::vmware());
  EXPECT_EQ(vm.config_read(0, 2), 0x15ADu);
  EXPECT_EQ(vm.config_read(2, 2), 0x07C0u);
  EXPECT_EQ(vm.config_read(0x09, 1), 0x00u);  // prog-if
  EXPECT_EQ(vm.config_read(0x0B, 1), 0x01u);  // class: mass storage
  EXPECT_EQ(vm.config_read(0x3D, 1), 1u);     // INTA
  ASSERT_EQ(vm.num_regions(), 3u);
  EXPECT_EQ(vm.region(0).kind, fk::RegionInfo::Kind::kConfig);
  EXPECT_EQ(vm.region(1).kind, fk::RegionInfo::Kind::kIo);
  EXPECT_EQ(vm.region(2).kind, fk::RegionInfo::Kind::kMem32);
  EXPECT_EQ(vm.region(2).bar, 1u);
  EXPECT_EQ(vm.region(2).size, 32768u);
  vm.config_write(0x14, 4, 0xFFFFFFFF);  // BAR1 sizing
  EXPECT_EQ(vm.config_read(0x14, 4), 0xFFFF8000u);
  vm.config_write(0x00, 2, 0x1234);  // read-only
  EXPECT_EQ(vm.config_read(0, 2), 0x15ADu);
  EXPECT_EQ(vm.config_read(0x1000, 4), 0xFFFFFFFFu);  // out of range: no crash
  EXPECT_EQ(vm.config_read(0x100, 4), 0xFFFFFFFFu);   // no extended capabilities
  EXPECT_EQ(vm.config_read(0x100, 2), 0xFFFFu);
  vm.config_write(0x100, 4, 0);  // ignored
  EXPECT_EQ(vm.counters().bad_register_accesses, 1u);
  EXPECT_EQ(vm.intr_types(), fk::kIntrFixed | fk::kIntrMsi | fk::kIntrMsix);
  EXPECT_EQ(vm.intr_count(fk::kIntrMsix), 1);
  // Capability list: MSI then MSI-X.
  const uint32_t cap = vm.config_read(0x34, 1);
  EXPECT_EQ(vm.config_read(cap, 1), 0x05u);
  EXPECT_EQ(vm.config_read(vm.config_read(cap + 1, 1), 1), 0x11u);

  MockDevice q(Config::qemu());
  ASSERT_EQ(q.num_regions(), 2u);
  EXPECT_EQ(q.region(1).kind, fk::RegionInfo::Kind::kMem32);
  EXPECT_EQ(q.region(1).bar, 0u);
  EXPECT_EQ(q.intr_types(), fk::kIntrFixed | fk::kIntrMsi);
  EXPECT_EQ(q.intr_count(fk::kIntrMsix), 0);
  EXPECT_EQ(q.intr_count(fk::kIntrMsi), 1);
  q.config_write(0x10, 4, 0xFFFFFFFF);
  EXPECT_EQ(q.config_read(0x10, 4), 0xFFFF8000u);
}

TEST(MockRegisters, AccessRulesAndCounters) {
  Harness h(quiet(Config::qemu()));
  EXPECT_EQ(h.dev.read32(hw::LastSts0::kOffset), 0u);
  EXPECT_EQ(h.dev.read32(hw::LastSts3::kOffset), 0u);
  h.dev.write32(hw::Debug::kOffset, 7);
  EXPECT_EQ(h.dev.read32(hw::KickRwIo::kOffset), 0u);  // doorbells are not readable
  h.dev.reg_write(h.dev.register_rnumber(), hw::IntrMask::kOffset, 2, 1);  // 16-bit: refused
  h.dev.reg_read(h.dev.register_rnumber(), 0x8000, 4);                     // beyond the BAR
  h.dev.reg_read(h.dev.register_rnumber(), 0x6000, 4);  // MSI-X page without MSI-X
  h.dev.reg_read(7, 0, 4);                              // no such region
  Counters c = h.dev.counters();
  EXPECT_EQ(c.debug_writes, 1u);
  EXPECT_EQ(c.bad_register_accesses, 5u);
  EXPECT_EQ(h.dev.read32(hw::IntrMask::kOffset), 0u);
  h.dev.write32(hw::IntrMask::kOffset, 0xFFFFFFFF);
  EXPECT_EQ(h.dev.read32(hw::IntrMask::kOffset), hw::IntrMask::kFieldsMask);
  h.kick(true);
  h.kick(false);
  h.kick(false);
  c = h.dev.counters();
  EXPECT_EQ(c.kicks_rw, 1u);
  EXPECT_EQ(c.kicks_non_rw, 2u);
  h.dev.reset_counters();
  EXPECT_EQ(h.dev.counters().kicks_non_rw, 0u);
}

TEST(MockRegisters, MsixTableIsStorage) {
  Harness h(quiet(Config::vmware()));
  h.dev.write32(0x6000, 0xFEE00000);
  h.dev.write32(0x6008, 0x4041);
  EXPECT_EQ(h.dev.read32(0x6000), 0xFEE00000u);
  EXPECT_EQ(h.dev.read32(0x6008), 0x4041u);
  EXPECT_EQ(h.dev.read32(0x600C), 1u);  // masked at reset
  EXPECT_EQ(h.dev.read32(0x7000), 0u);  // PBA
  h.dev.read32(0x6010);                 // vector 1 does not exist
  EXPECT_EQ(h.dev.counters().bad_register_accesses, 1u);
}

TEST(MockCommands, ProtocolStatusesAndCounts) {
  Harness h(quiet(Config::vmware()));
  EXPECT_EQ(h.command(CommandCode::kFirst), kFailed);
  EXPECT_EQ(h.command(CommandCode::kIssueScsi), kFailed);
  h.dev.write32(hw::Command::kOffset, 99);  // unknown code
  EXPECT_EQ(h.status(), kFailed);
  // A command with a descriptor is incomplete until its last dword.
  h.dev.write32(hw::Command::kOffset, hw::to_raw(CommandCode::kSetupRings));
  EXPECT_EQ(h.status(), kIncomplete);
  h.dev.write32(hw::CommandData::kOffset, 1);
  EXPECT_EQ(h.status(), kIncomplete);
  // Writing COMMAND discards the partial one.
  EXPECT_EQ(h.command(CommandCode::kAdapterReset), 0u);
  h.dev.write32(hw::CommandData::kOffset, 1);  // no command pending: a violation, ignored
  EXPECT_EQ(h.status(), 0u);
  Counters c = h.dev.counters();
  EXPECT_EQ(c.commands[0], 1u);
  EXPECT_EQ(c.commands[2], 1u);
  EXPECT_EQ(c.commands[3], 1u);
  EXPECT_EQ(c.commands[1], 1u);
  EXPECT_EQ(c.commands_unknown, 1u);
  EXPECT_GE(c.bad_register_accesses, 1u);
  EXPECT_GE(c.commands_failed, 2u);
}

// Feature probe: write the code, read COMMAND_STATUS at once; -1 means unsupported.
TEST(MockCommands, ProbeSemanticsPerProfile) {
  struct Case {
    CommandCode code;
    bool vmware, qemu;
  };
  const Case cases[] = {
      // QEMU's CONFIG passes the probe (-2) and fails only once its descriptor is written.
      {CommandCode::kConfig, true, true},       {CommandCode::kSetupReqCallThreshold, true, false},
      {CommandCode::kSetupMsgRing, true, true}, {CommandCode::kResetDevice, true, true},
      {CommandCode::kAbortCmd, true, true},
  };
  Harness vm(quiet(Config::vmware()));
  Harness q(quiet(Config::qemu()));
  for (const Case &c : cases) {
    vm.dev.write32(hw::Command::kOffset, hw::to_raw(c.code));
    EXPECT_EQ(vm.status() != kFailed, c.vmware) << hw::to_raw(c.code);
    q.dev.write32(hw::Command::kOffset, hw::to_raw(c.code));
    EXPECT_EQ(q.status() != kFailed, c.qemu) << hw::to_raw(c.code);
  }
  EXPECT_EQ(vm.command(CommandCode::kGetMaxTargets), kFailed);
  EXPECT_EQ(q.command(CommandCode::kGetMaxTargets), kFailed);
  EXPECT_EQ(vm.command(CommandCode::kDeviceUnplug), 0u);
  EXPECT_EQ(q.command(CommandCode::kDeviceUnplug), kFailed);
  Config fb = quiet(Config::vmware());
  fb.get_max_targets_supported = true;
  fb.max_targets = 40;
  Harness f(fb);
  EXPECT_EQ(f.command(CommandCode::kGetMaxTargets), 40u);
}

TEST(MockCommands, SetupRingsRejectsBadPageCountsAndWritesNothing) {
  Harness h(quiet(Config::qemu()));
  for (auto [nreq, ncmp] : {std::pair{0u, 1u},
                            {1u, 0u},
                            {3u, 1u},
                            {1u, 6u},
                            {33u, 1u},
                            {64u, 64u},
                            {0xFFFFFFFFu, 1u}}) {
    std::memset(h.host.ptr(h.rs), 0x5A, 4096);
    hw::CmdDescSetupRings d = h.rings_desc(nreq, ncmp);
    EXPECT_EQ(h.command(CommandCode::kSetupRings, d), kFailed) << nreq << "/" << ncmp;
    EXPECT_EQ(h.rs_field(8), 0x5A5A5A5Au);
    EXPECT_EQ(h.rs_field(20), 0x5A5A5A5Au);
    EXPECT_FALSE(h.dev.ring_state().rings_valid);
  }
  // A rings-state page outside memory, or a PPN that overflows an address.
  hw::CmdDescSetupRings d = h.rings_desc(1, 1);
  d.set_rings_state_ppn(h.host.end() >> 12);
  EXPECT_EQ(h.command(CommandCode::kSetupRings, d), kFailed);
  d = h.rings_desc(1, 1);
  d.set_req_ring_ppns(0, ~uint64_t{0});
  EXPECT_EQ(h.command(CommandCode::kSetupRings, d), kFailed);
  EXPECT_FALSE(h.dev.ring_state().rings_valid);
  // The largest rings are fine.
  EXPECT_EQ(h.setup_rings(32, 32), 0u);
  EXPECT_EQ(h.rs_field(8), 10u);
  EXPECT_EQ(h.rs_field(20), 12u);
  RingState s = h.dev.ring_state();
  EXPECT_TRUE(s.rings_valid);
  EXPECT_EQ(s.req_entries, 1024u);
  EXPECT_EQ(s.cmp_entries, 4096u);
}

TEST(MockCommands, SetupMsgRingOnlyAfterRingsAndValidated) {
  Harness h(quiet(Config::qemu()));
  EXPECT_EQ(h.setup_msg_ring(1), kFailed);  // before SETUP_RINGS
  ASSERT_EQ(h.setup_rings(), 0u);
  EXPECT_EQ(h.setup_msg_ring(0), kFailed);
  EXPECT_EQ(h.setup_msg_ring(3), kFailed);
  EXPECT_EQ(h.setup_msg_ring(32), kFailed);
  EXPECT_FALSE(h.dev.ring_state().msg_valid);
  EXPECT_EQ(h.setup_msg_ring(16), hw::CmdSetupMsgRing::kDwords);  // QEMU: 34 on success
  EXPECT_EQ(h.rs_field(136), 9u);                                 // 16 pages x 32 entries
  EXPECT_EQ(h.dev.ring_state().msg_entries, 512u);
}

TEST(MockCommands, ConfigControllerPage) {
  Config cfg = quiet(Config::vmware());
  cfg.max_targets = 24;
  Harness h(cfg);
  const uint64_t page = h.host.alloc(4096);
  hw::CmdDescConfig d{};
  d.set_cmp_addr(page);
  d.set_config_addr_type(hw::ConfigAddrType::kController);
  d.set_config_page_num(hw::ConfigPageType::kController);
  ASSERT_EQ(h.command(CommandCode::kConfig, d), 0u);
  hw::ConfigPageController p;
  std::memcpy(p.raw, h.host.ptr(page), sizeof p.raw);
  EXPECT_TRUE(p.header().page_num() == hw::ConfigPageType::kController);
  EXPECT_TRUE(p.header().host_status() == hw::HostStatus::kSuccess);
  EXPECT_TRUE(p.header().scsi_status() == hw::ScsiStatus::kGood);
  EXPECT_EQ(p.num_phys(), 24u);
  EXPECT_EQ(p.manufacturer(0), 'V');
  // Another page: failure status, and the header says so.
  d.set_config_page_num(hw::ConfigPageType::kPhy);
  EXPECT_EQ(h.command(CommandCode::kConfig, d), kFailed);
  std::memcpy(p.raw, h.host.ptr(page), sizeof p.raw);
  EXPECT_EQ(p.header().host_status_raw(), raw(hw::HostStatus::kInvparam));
  EXPECT_TRUE(p.header().scsi_status() == hw::ScsiStatus::kCheckCondition);
  // A result page outside memory.
  d.set_config_page_num(hw::ConfigPageType::kController);
  d.set_cmp_addr(0x1000);
  EXPECT_EQ(h.command(CommandCode::kConfig, d), kFailed);
  EXPECT_GE(h.dev.counters().dma_errors, 1u);
}

TEST(MockCommands, QemuConfigFailsAfterItsDescriptorWritingNothing) {
  Harness h(quiet(Config::qemu()));
  const uint64_t page = h.host.alloc(4096);
  std::memset(h.host.ptr(page), 0xA5, 16);
  hw::CmdDescConfig d{};
  d.set_cmp_addr(page);
  d.set_config_addr_type(hw::ConfigAddrType::kController);
  d.set_config_page_num(hw::ConfigPageType::kController);
  EXPECT_EQ(h.command(CommandCode::kConfig, d), kFailed);
  EXPECT_EQ(static_cast<const uint8_t *>(h.host.ptr(page))[6], 0xA5);  // header untouched
}

TEST(MockCommands, ReqCallThresholdNeedsRingsAndPublishes) {
  Harness h(quiet(Config::vmware()));
  hw::CmdDescSetupReqCall d{};
  d.set_enable(1);
  EXPECT_EQ(h.command(CommandCode::kSetupReqCallThreshold, d), kFailed);
  ASSERT_EQ(h.setup_rings(), 0u);
  EXPECT_EQ(h.rs_field(24), 0u);
  EXPECT_EQ(h.command(CommandCode::kSetupReqCallThreshold, d), 0u);
  EXPECT_EQ(h.rs_field(24), 1u);
  EXPECT_TRUE(h.dev.ring_state().threshold_enabled);
  // A new SETUP_RINGS forgets it (as after a host reset).
  ASSERT_EQ(h.setup_rings(), 0u);
  EXPECT_FALSE(h.dev.ring_state().threshold_enabled);
}

// ---------------------------------------------------------------------------------------------
// Interrupts

TEST(MockInterrupts, IntxIsLevelWithW1cStatusAndMask) {
  Harness h(quiet(Config::qemu()));
  h.dev.set_intr_mode(fk::kIntrFixed, 1);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(h.host.intx);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 1u);
  h.dev.write32(hw::IntrStatus::kOffset, 0);  // writing 0s clears nothing
  EXPECT_TRUE(h.host.intx);
  h.dev.write32(hw::IntrStatus::kOffset, 1);
  EXPECT_FALSE(h.host.intx);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 0u);
  // Masked: status set, line low; unmasking raises it.
  h.dev.write32(hw::IntrMask::kOffset, 0);
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(h.host.intx);
  EXPECT_EQ(h.dev.read32(hw::IntrStatus::kOffset), 1u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  EXPECT_TRUE(h.host.intx);
  h.dev.write32(hw::IntrMask::kOffset, 0);
  EXPECT_FALSE(h.host.intx);
  Counters c = h.dev.counters();
  EXPECT_EQ(c.intx_asserts, 2u);
  EXPECT_EQ(c.msi_sent, 0u);
  // Switching to MSI drops the line.
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  EXPECT_TRUE(h.host.intx);
  h.dev.set_intr_mode(fk::kIntrMsi, 1);
  EXPECT_FALSE(h.host.intx);
}

TEST(MockInterrupts, MsiIsOneMessagePerEvent) {
  Harness h(quiet(Config::qemu()));
  h.dev.set_intr_mode(fk::kIntrMsi, 1);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  // Three requests, one kick: one pass, one message.
  for (int i = 0; i < 3; i++) {
    h.put_tur();
  }
  h.kick(false);
  EXPECT_EQ(h.take().size(), 3u);
  EXPECT_EQ(h.host.msi_count(), 1u);
  EXPECT_EQ(h.host.irqs.back().vector, 0u);
  h.dev.write32(hw::IntrMask::kOffset, 0);
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(h.host.msi_count(), 1u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask |
                                        hw::IntrMask::kCmpl1Mask));  // pending cause now enabled
  EXPECT_EQ(h.host.msi_count(), 2u);
  h.dev.set_intr_mode(0, 0);  // delivery off
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(h.host.msi_count(), 2u);
  EXPECT_FALSE(h.host.intx);
}

TEST(MockInterrupts, MsixOfferedByVmwareOnly) {
  Harness h(quiet(Config::vmware()));
  h.dev.set_intr_mode(fk::kIntrMsix, 1);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  h.scsi({0, 0, 0, 0, 0, 0});
  EXPECT_EQ(h.host.msi_count(), 1u);
  EXPECT_EQ(h.dev.ring_state().intr_mode, fk::kIntrMsix);
  Harness q(quiet(Config::qemu()));
  q.dev.set_intr_mode(fk::kIntrMsix, 1);  // not offered: delivery off
  EXPECT_EQ(q.dev.ring_state().intr_mode, 0);
}

TEST(MockInterrupts, VmwareCoalescesCompletionInterrupts) {
  Config cfg = quiet(Config::vmware());
  cfg.coalesce_ns = 10'000;
  cfg.latency_ns = 1'000;
  Harness h(cfg);
  h.dev.set_intr_mode(fk::kIntrMsix, 1);
  ASSERT_EQ(h.setup_rings(), 0u);
  h.dev.write32(hw::IntrMask::kOffset, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask));
  h.put_tur();
  h.kick(false);
  h.host.advance(1'000);
  EXPECT_EQ(h.take().size(), 1u);
  EXPECT_EQ(h.host.msi_count(), 1u);  // the first is immediate
  h.put_tur();
  h.kick(false);
  h.host.advance(1'000);
  EXPECT_EQ(h.take().size(), 1u);     // the completion is written...
  EXPECT_EQ(h.host.msi_count(), 1u);  // ...but its interrupt waits for the window
  h.put_tur();
  h.kick(false);
  h.host.advance(1'000);
  EXPECT_EQ(h.take().size(), 1u);
  EXPECT_EQ(h.host.msi_count(), 1u);
  h.host.advance(20'000);
  EXPECT_EQ(h.host.msi_count(), 2u);  // one interrupt for both
  EXPECT_EQ(h.host.irqs.back().at_ns, 11'000);
}

// ---------------------------------------------------------------------------------------------
// Resets and aborts

struct Busy {
  explicit Busy(Config cfg)
      : h([&] {
          cfg.latency_ns = 1'000'000;
          cfg.power_on_unit_attention = false;
          cfg.targets = {TargetSpec{0, {LunSpec{0}, LunSpec{1}}}, TargetSpec{1}};
          return cfg;
        }()) {
    h.dev.set_intr_mode(fk::kIntrMsi, 1);
    EXPECT_EQ(h.setup_rings(), 0u);
    h.dev.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
    h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 0, Dir::kNone, 0, 11));
    h.put(h.request({0, 0, 0, 0, 0, 0}, 0, 1, Dir::kNone, 0, 12));
    h.put(h.request({0, 0, 0, 0, 0, 0}, 1, 0, Dir::kNone, 0, 13));
    h.kick(false);
    EXPECT_EQ(h.dev.ring_state().outstanding, 3u);
    EXPECT_TRUE(h.take().empty());
  }
  std::map<uint64_t, uint16_t> take() {
    std::map<uint64_t, uint16_t> m;
    for (auto &c : h.take()) {
      m[c.context()] = c.host_status_raw();
    }
    return m;
  }
  Harness h;
};

TEST(MockResets, AdapterResetCompletesIntoOldRingThenInvalidates) {
  Busy b(Config::qemu());
  const size_t msis = b.h.host.msi_count();
  EXPECT_EQ(b.h.command(CommandCode::kAdapterReset), 0u);
  auto done = b.take();
  ASSERT_EQ(done.size(), 3u);
  for (auto &d : done) {
    EXPECT_EQ(d.second, raw(hw::HostStatus::kBusreset));
  }
  EXPECT_EQ(b.h.host.msi_count(), msis + 1);
  RingState s = b.h.dev.ring_state();
  EXPECT_FALSE(s.rings_valid);
  EXPECT_EQ(s.outstanding, 0u);
  EXPECT_TRUE(b.h.dev.has_unit_attention(0, 0, UnitAttention::kPowerOnReset));
  // Requests put after the reset are not processed until the rings are set up again.
  b.h.put_tur();
  b.h.kick(false);
  b.h.host.advance(10'000'000);
  EXPECT_EQ(b.h.dev.counters().requests, 3u);
  ASSERT_EQ(b.h.setup_rings(), 0u);
  b.h.clear_ua();
  EXPECT_EQ(b.h.scsi({0, 0, 0, 0, 0, 0}).scsi(), 0);
}

TEST(MockResets, ResetBusCompletesEverythingWithBusreset) {
  Busy b(Config::vmware());
  EXPECT_EQ(b.h.command(CommandCode::kResetBus), 0u);
  auto done = b.take();
  EXPECT_EQ(done.size(), 3u);
  EXPECT_EQ(done[13], raw(hw::HostStatus::kBusreset));
  EXPECT_TRUE(b.h.dev.ring_state().rings_valid);
  EXPECT_TRUE(b.h.dev.has_unit_attention(1, 0, UnitAttention::kPowerOnReset));
}

TEST(MockResets, ResetDeviceOnlyThatLun) {
  Busy b(Config::qemu());
  hw::CmdDescResetDevice d{};
  d.set_target(0).set_lun(hw::SamLun::from_lun64(1));
  EXPECT_EQ(b.h.command(CommandCode::kResetDevice, d), 0u);
  auto done = b.take();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[12], raw(hw::HostStatus::kBusreset));
  EXPECT_TRUE(b.h.dev.has_unit_attention(0, 1, UnitAttention::kPowerOnReset));
  EXPECT_FALSE(b.h.dev.has_unit_attention(0, 0, UnitAttention::kPowerOnReset));
  d.set_target(5);  // no such device
  EXPECT_EQ(b.h.command(CommandCode::kResetDevice, d), kFailed);
  d.set_target(0).set_lun(hw::SamLun::from_value(0x8001000000000000ull));  // undecodable LUN
  EXPECT_EQ(b.h.command(CommandCode::kResetDevice, d), kFailed);
  b.h.host.advance(2'000'000);
  EXPECT_EQ(b.take().size(), 2u);
}

TEST(MockResets, AbortCompletesWithAbortqueue) {
  Busy b(Config::vmware());
  hw::CmdDescAbortCmd d{};
  d.set_context(12).set_target(1);  // wrong target: nothing happens
  EXPECT_EQ(b.h.command(CommandCode::kAbortCmd, d), 0u);
  EXPECT_TRUE(b.take().empty());
  d.set_context(12).set_target(0);
  EXPECT_EQ(b.h.command(CommandCode::kAbortCmd, d), 0u);
  auto done = b.take();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[12], raw(hw::HostStatus::kAbortqueue));
  EXPECT_EQ(b.h.command(CommandCode::kAbortCmd, d), 0u);  // already gone: still success
  EXPECT_TRUE(b.take().empty());
  b.h.host.advance(2'000'000);
  done = b.take();
  EXPECT_EQ(done.size(), 2u);
  EXPECT_EQ(done[11], 0);
  EXPECT_EQ(done[13], 0);
}

// ---------------------------------------------------------------------------------------------
// Profiles: kick-only versus polling with a published threshold

TEST(MockProfiles, QemuProcessesOnlyOnKick) {
  Harness h(quiet_qemu(5'000));
  ASSERT_EQ(h.setup_rings(), 0u);
  h.put_tur();
  h.host.advance(100'000'000);
  EXPECT_TRUE(h.take().empty());
  EXPECT_EQ(h.dev.counters().requests, 0u);
  h.put_tur();
  h.kick(false);
  h.put_tur();  // after the kick: waits for the next one
  h.host.advance(100'000);
  EXPECT_EQ(h.take().size(), 2u);
  EXPECT_EQ(h.host.scheduled(), 0u);
  h.kick(false);
  h.host.advance(100'000);
  EXPECT_EQ(h.take().size(), 1u);
  EXPECT_EQ(h.dev.counters().polls, 0u);
}

TEST(MockProfiles, VmwarePollsWhileBusyAndAdaptsThreshold) {
  Config cfg = quiet(Config::vmware());
  cfg.latency_ns = 200'000;
  cfg.poll_interval_ns = 50'000;
  cfg.threshold_busy = 8;
  cfg.busy_outstanding = 4;
  Harness h(cfg);
  ASSERT_EQ(h.setup_rings(4, 1), 0u);
  hw::CmdDescSetupReqCall en{};
  en.set_enable(1);
  ASSERT_EQ(h.command(CommandCode::kSetupReqCallThreshold, en), 0u);
  EXPECT_EQ(h.rs_field(24), 1u);
  for (int i = 0; i < 5; i++) {
    h.put(h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512));
  }
  h.kick(true);
  h.host.advance(0);
  EXPECT_EQ(h.rs_field(24), 8u);  // busy: kick less often
  EXPECT_TRUE(h.dev.ring_state().polling);
  // Below the threshold the driver does not kick; the poll picks the request up.
  h.put(h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512));
  h.host.advance(60'000);
  EXPECT_EQ(h.dev.counters().requests, 6u);
  EXPECT_GE(h.dev.counters().polls, 1u);
  h.host.advance(1'000'000);
  EXPECT_EQ(h.take().size(), 6u);
  EXPECT_FALSE(h.dev.ring_state().polling);
  EXPECT_EQ(h.rs_field(24), 1u);      // idle again: every request kicks
  EXPECT_EQ(h.host.scheduled(), 0u);  // and the device stopped polling
  EXPECT_EQ(h.dev.counters().kicks_rw, 1u);
}

TEST(MockProfiles, CompletionDataLenPerProfile) {
  for (Profile p : {Profile::kVmware, Profile::kQemu}) {
    Harness h(quiet(Config::for_profile(p)));
    ASSERT_EQ(h.setup_rings(), 0u);
    Done d = h.scsi(bytes(cdb::read10(0, 2)), 0, 0, Dir::kIn, 1024);
    EXPECT_EQ(d.host(), 0);
    EXPECT_EQ(d.cmp.data_len(), p == Profile::kVmware ? 1024u : 0u);
    // A short transfer (INQUIRY has 36 bytes for a 96-byte buffer).
    d = h.scsi({0x12, 0, 0, 0, 96, 0}, 0, 0, Dir::kIn, 96);
    EXPECT_EQ(d.scsi(), 0);
    if (p == Profile::kVmware) {
      EXPECT_EQ(d.host(), 0);
      EXPECT_EQ(d.cmp.data_len(), 36u);
    } else {
      EXPECT_EQ(d.host(), raw(hw::HostStatus::kDatarun));
      EXPECT_EQ(d.cmp.data_len(), 0u);
    }
    // An over-run (2 blocks into a 1-block buffer) is DATARUN for both, and stays in bounds.
    std::memset(h.host.ptr(h.data), 0x77, 1024);
    d = h.scsi(bytes(cdb::read10(0, 2)), 0, 0, Dir::kIn, 512);
    EXPECT_EQ(d.host(), raw(hw::HostStatus::kDatarun));
    EXPECT_EQ(h.host.ptr(h.data)[512], 0x77);
  }
}

TEST(MockProfiles, ConfigFromName) {
  Config c;
  EXPECT_TRUE(Config::from_name("qemu", &c));
  EXPECT_EQ(c.profile, Profile::kQemu);
  EXPECT_FALSE(c.config_supported);
  EXPECT_TRUE(Config::from_name("vmware", &c));
  EXPECT_EQ(c.profile, Profile::kVmware);
  EXPECT_FALSE(Config::from_name("esx", &c));
  EXPECT_EQ(c.profile, Profile::kVmware);
}

// Regression (found by tests/tools/bench): a timer whose time has come may fire on another thread
// before schedule() returns its id. The device read the id before taking its lock, so that call
// erased nothing, the stale entry made every later arm_timer() think an earlier call was coming,
// and completions waited for the driver's next register access.
TEST(MockLifecycle, TimerFiringBeforeScheduleReturnsDoesNotStrandLaterOnes) {
  Harness h(quiet_qemu(5'000));
  ASSERT_EQ(h.setup_rings(), 0u);
  h.host.fire_at_once = true;
  for (int i = 0; i < 20; i++) {
    h.put_tur();
    h.kick(false);
    h.host.join_fired();
    ASSERT_EQ(h.take().size(), 1u) << "request " << i << " never completed";
  }
  h.host.fire_at_once = false;
}

TEST(MockLifecycle, DisconnectCancelsScheduledCalls) {
  Config cfg = quiet(Config::vmware());
  cfg.latency_ns = 1'000'000;
  auto h = std::make_unique<Harness>(cfg);
  ASSERT_EQ(h->setup_rings(), 0u);
  h->put_tur();
  h->kick(false);
  EXPECT_GT(h->host.scheduled(), 0u);
  h->dev.disconnect();
  EXPECT_EQ(h->host.scheduled(), 0u);
  h->host.advance(10'000'000);
  EXPECT_TRUE(h->take().empty());
  h->kick(false);  // registers still answer; nothing reaches the host
  EXPECT_EQ(h->host.scheduled(), 0u);
}

}  // namespace
}  // namespace pvscsi_mock::testing
