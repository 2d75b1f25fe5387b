// Behaviour of the generated register types and mock-device skeleton: the access type decides
// the API, the COMMAND / COMMAND_DATA / COMMAND_STATUS protocol, access-violation accounting,
// and ring geometry.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "pvscsi_mock_skeleton.h"

namespace pvscsi {
namespace hw {
namespace {

// --- the register API follows the access type (checked at compile time) ----------------------

template <class R, class = void>
struct HasRead : std::false_type {};
template <class R>
struct HasRead<R, std::void_t<decltype(R::read(std::declval<struct FakeIo &>()))>>
    : std::true_type {};
template <class R, class = void>
struct HasWrite : std::false_type {};
template <class R>
struct HasWrite<
    R, std::void_t<decltype(std::declval<const R &>().write(std::declval<struct FakeIo &>()))>>
    : std::true_type {};
template <class R, class = void>
struct HasAck : std::false_type {};
template <class R>
struct HasAck<R,
              std::void_t<decltype(std::declval<const R &>().ack(std::declval<struct FakeIo &>()))>>
    : std::true_type {};
template <class R, class = void>
struct HasRing : std::false_type {};
template <class R>
struct HasRing<R, std::void_t<decltype(R::ring(std::declval<struct FakeIo &>()))>>
    : std::true_type {};

struct FakeIo {
  std::vector<std::pair<uint32_t, uint32_t>> writes;
  uint32_t next_read = 0;
  uint32_t last_read_offset = ~0u;
  uint32_t read32(uint32_t offset) {
    last_read_offset = offset;
    return next_read;
  }
  void write32(uint32_t offset, uint32_t value) { writes.emplace_back(offset, value); }
};

static_assert(HasRead<CommandStatus>::value && !HasWrite<CommandStatus>::value &&
                  !HasAck<CommandStatus>::value && !HasRing<CommandStatus>::value,
              "ro: read only");
static_assert(!HasRead<Command>::value && HasWrite<Command>::value && !HasRing<Command>::value,
              "wo: write only");
static_assert(HasRead<IntrMask>::value && HasWrite<IntrMask>::value && !HasAck<IntrMask>::value,
              "rw: read and write");
static_assert(HasRead<IntrStatus>::value && !HasWrite<IntrStatus>::value &&
                  HasAck<IntrStatus>::value,
              "w1c: read and ack");
static_assert(!HasRead<KickRwIo>::value && !HasWrite<KickRwIo>::value && HasRing<KickRwIo>::value &&
                  HasRing<KickNonRwIo>::value,
              "doorbell: ring only");

TEST(Registers, ReadWriteAckRingGoThroughTheIoPolicy) {
  FakeIo io;
  io.next_read = 0x5;
  IntrStatus s = IntrStatus::read(io);
  EXPECT_EQ(io.last_read_offset, 0x100Cu);
  EXPECT_EQ(s.cmpl_0(), 1u);
  EXPECT_EQ(s.cmpl_1(), 0u);
  EXPECT_EQ(s.msg_0(), 1u);
  s.ack(io);
  IntrMask().set_cmpl_0(1).set_msg_0(1).write(io);
  KickRwIo::ring(io);
  KickNonRwIo::ring(io);
  Command().set_code(CommandCode::kAdapterReset).write(io);
  CommandData().set_value(0xABCD).write(io);
  std::vector<std::pair<uint32_t, uint32_t>> expected = {
      {0x100C, 0x5}, {0x2010, 0x5}, {0x4018, 0}, {0x3014, 0}, {0x0, 1}, {0x4, 0xABCD}};
  EXPECT_EQ(io.writes, expected);
}

TEST(Registers, SendCommandWritesCodeThenDwordsAndReadsStatus) {
  FakeIo io;
  io.next_read = 0;
  CmdDescAbortCmd d;
  d.set_context(0x1122334455667788ull).set_target(9);
  EXPECT_EQ(send_command<CmdAbortCmd>(io, d), 0u);
  std::vector<std::pair<uint32_t, uint32_t>> expected = {{0x0, to_raw(CommandCode::kAbortCmd)},
                                                         {0x4, 0x55667788},
                                                         {0x4, 0x11223344},
                                                         {0x4, 9},
                                                         {0x4, 0}};
  EXPECT_EQ(io.writes, expected);
  EXPECT_EQ(io.last_read_offset, CommandStatus::kOffset);

  io.writes.clear();
  io.next_read = kCommandStatusFailed;
  EXPECT_EQ(send_command<CmdResetBus>(io), kCommandStatusFailed);
  EXPECT_EQ(start_command(io, CommandCode::kConfig), kCommandStatusFailed);
  expected = {{0x0, to_raw(CommandCode::kResetBus)}, {0x0, to_raw(CommandCode::kConfig)}};
  EXPECT_EQ(io.writes, expected);
  EXPECT_TRUE(Command().set_code(CommandCode::kConfig).code() == CommandCode::kConfig);
}

TEST(Registers, SettersTouchOnlyTheirBits) {
  IntrMask m(0xFFFFFFF0u);
  m.set_msg_1(1).set_cmpl_1(1).set_cmpl_1(0);
  EXPECT_EQ(m.value(), 0xFFFFFFF8u);
  EXPECT_EQ(IntrMask().set_cmpl_0(3).value(), 1u);  // truncated to the field width
}

// --- the skeleton ---------------------------------------------------------------------------

class TestDevice : public DeviceSkeleton<TestDevice> {
 public:
  // Register wiring, by register type (the mock does the same in its own code).
  uint32_t intr_status = 0;
  uint32_t intr_mask = 0;
  std::vector<uint32_t> acks;
  std::vector<bool> kicks;
  std::vector<uint32_t> debug_writes;
  uint32_t on_read(IntrStatus) { return intr_status; }
  void on_ack(IntrStatus bits) {
    acks.push_back(bits.value());
    intr_status &= ~bits.value();
  }
  uint32_t on_read(IntrMask) { return intr_mask; }
  void on_write(IntrMask v) { intr_mask = v.value(); }
  void on_ring(KickRwIo) { kicks.push_back(true); }
  void on_ring(KickNonRwIo) { kicks.push_back(false); }
  void on_write(Debug v) { debug_writes.push_back(v.value()); }
  uint32_t on_read(LastSts0) { return 0x100; }
  uint32_t on_read(LastSts1) { return 0x101; }
  uint32_t on_read(LastSts2) { return 0x102; }
  uint32_t on_read(LastSts3) { return 0x103; }

  // Commands.
  bool supported = true;
  CommandCode unsupported = CommandCode::kFirst;
  bool command_supported(CommandCode code) { return supported && code != unsupported; }
  std::vector<CommandCode> handled;
  CmdDescSetupRings rings;
  CmdDescAbortCmd abort;
  uint32_t handle(CmdAdapterReset) { return note(CommandCode::kAdapterReset, 0); }
  uint32_t handle(CmdIssueScsi) { return note(CommandCode::kIssueScsi, kCommandStatusFailed); }
  uint32_t handle(CmdSetupRings, const CmdDescSetupRings &d) {
    rings = d;
    return note(CommandCode::kSetupRings, 0);
  }
  uint32_t handle(CmdResetBus) { return note(CommandCode::kResetBus, 0); }
  uint32_t handle(CmdResetDevice, const CmdDescResetDevice &) {
    return note(CommandCode::kResetDevice, 0);
  }
  uint32_t handle(CmdAbortCmd, const CmdDescAbortCmd &d) {
    abort = d;
    return note(CommandCode::kAbortCmd, 0);
  }
  uint32_t handle(CmdConfig, const CmdDescConfig &) { return note(CommandCode::kConfig, 0); }
  uint32_t handle(CmdSetupMsgRing, const CmdDescSetupMsgRing &) {
    return note(CommandCode::kSetupMsgRing, 0);
  }
  uint32_t handle(CmdDeviceUnplug) { return note(CommandCode::kDeviceUnplug, 0); }
  uint32_t handle(CmdSetupReqCallThreshold, const CmdDescSetupReqCall &) {
    return note(CommandCode::kSetupReqCallThreshold, 0);
  }
  uint32_t handle(CmdGetMaxTargets) { return note(CommandCode::kGetMaxTargets, 64); }

  using DeviceSkeleton::set_command_status;

 private:
  uint32_t note(CommandCode code, uint32_t status) {
    handled.push_back(code);
    return status;
  }
};

void send(TestDevice &dev, CommandCode code) { dev.mmio_write32(Command::kOffset, to_raw(code)); }

TEST(Skeleton, SetupRingsCollectsEveryDwordBeforeTheHandlerRuns) {
  TestDevice dev;
  send(dev, CommandCode::kSetupRings);
  EXPECT_EQ(dev.command_status(), kCommandStatusIncomplete);
  EXPECT_TRUE(dev.command_pending());
  CmdDescSetupRings d;
  d.set_req_ring_num_pages(2).set_cmp_ring_num_pages(1).set_rings_state_ppn(0x123456789ull);
  d.set_req_ring_ppns(0, 0x1000).set_req_ring_ppns(1, 0x1001).set_cmp_ring_ppns(31, 0xFFFFF);
  for (uint32_t i = 0; i + 1 < CmdSetupRings::kDwords; ++i) {
    dev.mmio_write32(CommandData::kOffset, d.dword(i));
    ASSERT_EQ(dev.command_status(), kCommandStatusIncomplete) << "after dword " << i;
  }
  EXPECT_TRUE(dev.handled.empty());
  dev.mmio_write32(CommandData::kOffset, d.dword(CmdSetupRings::kDwords - 1));
  ASSERT_EQ(dev.handled.size(), 1u);
  EXPECT_EQ(dev.handled[0], CommandCode::kSetupRings);
  EXPECT_EQ(dev.command_status(), kCommandStatusSuccess);
  EXPECT_FALSE(dev.command_pending());
  EXPECT_EQ(dev.rings.req_ring_num_pages(), 2u);
  EXPECT_EQ(dev.rings.rings_state_ppn(), 0x123456789ull);
  EXPECT_EQ(dev.rings.req_ring_ppns(1), 0x1001u);
  EXPECT_EQ(dev.rings.cmp_ring_ppns(31), 0xFFFFFu);
  EXPECT_EQ(dev.mmio_read32(CommandStatus::kOffset), kCommandStatusSuccess);

  // One dword too many: a violation, and nothing runs again.
  dev.mmio_write32(CommandData::kOffset, 0);
  EXPECT_EQ(dev.access_violations(), 1u);
  EXPECT_EQ(dev.last_violation_offset(), CommandData::kOffset);
  EXPECT_EQ(dev.handled.size(), 1u);
}

TEST(Skeleton, CommandsWithoutDescriptorRunAtOnceAndReturnTheirStatus) {
  TestDevice dev;
  send(dev, CommandCode::kAdapterReset);
  EXPECT_EQ(dev.command_status(), 0u);
  send(dev, CommandCode::kGetMaxTargets);
  EXPECT_EQ(dev.command_status(), 64u);
  send(dev, CommandCode::kIssueScsi);
  EXPECT_EQ(dev.command_status(), kCommandStatusFailed);
  std::vector<CommandCode> expected = {CommandCode::kAdapterReset, CommandCode::kGetMaxTargets,
                                       CommandCode::kIssueScsi};
  EXPECT_EQ(dev.handled, expected);
}

TEST(Skeleton, UnknownFirstAndUnsupportedCodesFailAtOnce) {
  TestDevice dev;
  dev.mmio_write32(Command::kOffset, 99);
  EXPECT_EQ(dev.command_status(), kCommandStatusFailed);
  send(dev, CommandCode::kFirst);
  EXPECT_EQ(dev.command_status(), kCommandStatusFailed);
  dev.unsupported = CommandCode::kSetupReqCallThreshold;
  send(dev, CommandCode::kSetupReqCallThreshold);
  EXPECT_EQ(dev.command_status(), kCommandStatusFailed);
  EXPECT_FALSE(dev.command_pending());
  dev.mmio_write32(CommandData::kOffset, 1);  // nothing pending
  EXPECT_EQ(dev.access_violations(), 1u);
  EXPECT_TRUE(dev.handled.empty());
}

TEST(Skeleton, WritingCommandDiscardsAPartialCommand) {
  TestDevice dev;
  send(dev, CommandCode::kSetupRings);
  dev.mmio_write32(CommandData::kOffset, 7);
  dev.mmio_write32(CommandData::kOffset, 7);
  send(dev, CommandCode::kAbortCmd);
  EXPECT_EQ(dev.command_status(), kCommandStatusIncomplete);
  CmdDescAbortCmd d;
  d.set_context(0xAABBCCDD11223344ull).set_target(9);
  for (uint32_t i = 0; i < CmdAbortCmd::kDwords; ++i) {
    dev.mmio_write32(CommandData::kOffset, d.dword(i));
  }
  ASSERT_EQ(dev.handled.size(), 1u);
  EXPECT_EQ(dev.handled[0], CommandCode::kAbortCmd);
  EXPECT_EQ(dev.abort.context(), 0xAABBCCDD11223344ull);
  EXPECT_EQ(dev.abort.target(), 9u);
  EXPECT_EQ(dev.access_violations(), 0u);
}

TEST(Skeleton, ResetCommandStateForgetsThePartialCommand) {
  TestDevice dev;
  send(dev, CommandCode::kSetupReqCallThreshold);
  EXPECT_TRUE(dev.command_pending());
  dev.reset_command_state();
  dev.set_command_status(0);
  EXPECT_FALSE(dev.command_pending());
  dev.mmio_write32(CommandData::kOffset, 1);
  EXPECT_EQ(dev.access_violations(), 1u);
  EXPECT_TRUE(dev.handled.empty());
}

TEST(Skeleton, RegisterHooksAndAccessViolations) {
  TestDevice dev;
  dev.intr_status = 0x5;
  EXPECT_EQ(dev.mmio_read32(IntrStatus::kOffset), 0x5u);
  dev.mmio_write32(IntrStatus::kOffset, 0x1);
  EXPECT_EQ(dev.acks, std::vector<uint32_t>{0x1});
  EXPECT_EQ(dev.mmio_read32(IntrStatus::kOffset), 0x4u);
  dev.mmio_write32(IntrMask::kOffset, 0xF);
  EXPECT_EQ(dev.mmio_read32(IntrMask::kOffset), 0xFu);
  dev.mmio_write32(KickNonRwIo::kOffset, 123);
  dev.mmio_write32(KickRwIo::kOffset, 0);
  EXPECT_EQ(dev.kicks, (std::vector<bool>{false, true}));
  dev.mmio_write32(Debug::kOffset, 42);
  EXPECT_EQ(dev.debug_writes, std::vector<uint32_t>{42});
  EXPECT_EQ(dev.mmio_read32(LastSts2::kOffset), 0x102u);
  EXPECT_EQ(dev.access_violations(), 0u);

  EXPECT_EQ(dev.mmio_read32(KickRwIo::kOffset), 0u);  // doorbell: no read
  EXPECT_EQ(dev.last_violation_offset(), KickRwIo::kOffset);
  EXPECT_EQ(dev.mmio_read32(Command::kOffset), 0u);  // write-only
  dev.mmio_write32(CommandStatus::kOffset, 1);       // read-only
  EXPECT_EQ(dev.last_violation_offset(), CommandStatus::kOffset);
  dev.mmio_write32(LastSts0::kOffset, 1);  // read-only
  EXPECT_EQ(dev.mmio_read32(Debug::kOffset), 0u);
  EXPECT_EQ(dev.mmio_read32(0x7000), 0u);  // not a register
  dev.mmio_write32(0x2, 1);                // not a register (unaligned)
  EXPECT_EQ(dev.access_violations(), 7u);
  EXPECT_EQ(dev.last_violation_offset(), 0x2u);
  EXPECT_EQ(dev.kicks.size(), 2u);
  EXPECT_EQ(dev.debug_writes.size(), 1u);
}

// --- ring views -----------------------------------------------------------------------------

TEST(RingView, RejectsBadPageCounts) {
  const uint64_t ppns[64] = {1, 2, 3, 4};
  EXPECT_FALSE(RingView<ReqRing>().valid());
  EXPECT_FALSE(RingView<ReqRing>(ppns, 0).valid());
  EXPECT_FALSE(RingView<ReqRing>(ppns, 3).valid());
  EXPECT_FALSE(RingView<ReqRing>(ppns, 64).valid());
  EXPECT_FALSE(RingView<MsgRing>(ppns, 32).valid());
  EXPECT_FALSE(RingView<ReqRing>(nullptr, 1).valid());
  EXPECT_TRUE(RingView<ReqRing>(ppns, 32).valid());
  EXPECT_TRUE(RingView<MsgRing>(ppns, 16).valid());
  EXPECT_EQ(RingView<ReqRing>(ppns, 3).entry_paddr(0), 0u);
}

TEST(RingView, MapsFreeRunningIndicesToEntries) {
  const uint64_t ppns[2] = {0x100, 0x200};
  RingView<ReqRing> req(ppns, 2);
  EXPECT_EQ(req.entries(), 64u);
  EXPECT_EQ(req.entry_paddr(0), 0x100000u);
  EXPECT_EQ(req.entry_paddr(31), 0x100000u + 31 * 128);
  EXPECT_EQ(req.entry_paddr(32), 0x200000u);
  EXPECT_EQ(req.entry_paddr(64), 0x100000u);  // wraps
  EXPECT_EQ(req.entry_paddr(0xFFFFFFFFu), 0x200000u + 31 * 128);
  RingView<CmpRing> cmp(ppns, 1);
  EXPECT_EQ(cmp.entries(), 128u);
  EXPECT_EQ(cmp.entry_paddr(127), 0x100000u + 127 * 32);
  EXPECT_EQ(cmp.entry_paddr(128), 0x100000u);
  EXPECT_EQ(cmp.ppn(0), 0x100u);
  EXPECT_EQ(cmp.ppn(1), 0u);
}

}  // namespace
}  // namespace hw
}  // namespace pvscsi
