// Golden facts: interface values typed in by hand from /work/shared/reference/pvscsi-interface.md
// (VMware's header, FreeBSD and QEMU, as collected there), NOT derived from hw/pvscsi.yaml. A
// wrong value in the YAML cannot hide behind code generated from that same YAML: it fails here.
#include <gtest/gtest.h>

#include "pvscsi_hw.h"

namespace pvscsi {
namespace hw {
namespace {

TEST(Golden, PciIdentityAndBar) {
  EXPECT_EQ(kPciVendorId, 0x15AD);
  EXPECT_EQ(kPciDeviceId, 0x07C0);
  EXPECT_EQ(kPciClassCode, 0x010000u);
  EXPECT_EQ(kBarSize, 32768u);
  EXPECT_EQ(kPageSize, 4096u);
  EXPECT_EQ(kPageShift, 12u);
  EXPECT_EQ(kMsixTablePageFirst, 6u);
  EXPECT_EQ(kMsixPbaPageFirst, 7u);
}

TEST(Golden, RegisterOffsets) {
  EXPECT_EQ(Command::kOffset, 0x0000u);
  EXPECT_EQ(CommandData::kOffset, 0x0004u);
  EXPECT_EQ(CommandStatus::kOffset, 0x0008u);
  EXPECT_EQ(LastSts0::kOffset, 0x0100u);
  EXPECT_EQ(LastSts1::kOffset, 0x0104u);
  EXPECT_EQ(LastSts2::kOffset, 0x0108u);
  EXPECT_EQ(LastSts3::kOffset, 0x010cu);
  EXPECT_EQ(IntrStatus::kOffset, 0x100cu);
  EXPECT_EQ(IntrMask::kOffset, 0x2010u);
  EXPECT_EQ(KickNonRwIo::kOffset, 0x3014u);
  EXPECT_EQ(Debug::kOffset, 0x3018u);
  EXPECT_EQ(KickRwIo::kOffset, 0x4018u);
}

TEST(Golden, RegisterAccessTypes) {
  EXPECT_TRUE(Command::kAccess == RegAccess::kWo);
  EXPECT_TRUE(CommandData::kAccess == RegAccess::kWo);
  EXPECT_TRUE(CommandStatus::kAccess == RegAccess::kRo);
  EXPECT_TRUE(IntrStatus::kAccess == RegAccess::kW1c);
  EXPECT_TRUE(IntrMask::kAccess == RegAccess::kRw);
  EXPECT_TRUE(KickNonRwIo::kAccess == RegAccess::kDoorbell);
  EXPECT_TRUE(KickRwIo::kAccess == RegAccess::kDoorbell);
}

TEST(Golden, InterruptBits) {
  EXPECT_EQ(IntrStatus::kCmpl0Mask, 0x1u);
  EXPECT_EQ(IntrStatus::kCmpl1Mask, 0x2u);
  EXPECT_EQ(IntrStatus::kFieldsMask, 0xFu);
  EXPECT_EQ(IntrMask::kFieldsMask, 0xFu);
  EXPECT_EQ(IntrStatus(0xFFFFFFF5u).known().value(), 0x5u);
  EXPECT_EQ(IntrStatus::kMsg0Mask, 0x4u);
  EXPECT_EQ(IntrMask::kMsg1Mask, 0x8u);
  EXPECT_EQ(kMaxMsixVectors, 24u);
}

TEST(Golden, CommandCodesAndDescriptorSizes) {
  EXPECT_EQ(to_raw(CommandCode::kFirst), 0u);
  EXPECT_EQ(to_raw(CmdAdapterReset::kCode), 1u);
  EXPECT_EQ(to_raw(CmdIssueScsi::kCode), 2u);
  EXPECT_EQ(to_raw(CmdSetupRings::kCode), 3u);
  EXPECT_EQ(to_raw(CmdResetBus::kCode), 4u);
  EXPECT_EQ(to_raw(CmdResetDevice::kCode), 5u);
  EXPECT_EQ(to_raw(CmdAbortCmd::kCode), 6u);
  EXPECT_EQ(to_raw(CmdConfig::kCode), 7u);
  EXPECT_EQ(to_raw(CmdSetupMsgRing::kCode), 8u);
  EXPECT_EQ(to_raw(CmdDeviceUnplug::kCode), 9u);
  EXPECT_EQ(to_raw(CmdSetupReqCallThreshold::kCode), 10u);
  EXPECT_EQ(to_raw(CmdGetMaxTargets::kCode), 11u);

  EXPECT_EQ(CmdSetupRings::kDwords, 132u);
  EXPECT_EQ(CmdDescSetupRings::kSize, 528u);
  EXPECT_EQ(CmdSetupMsgRing::kDwords, 34u);
  EXPECT_EQ(CmdDescSetupMsgRing::kSize, 136u);
  EXPECT_EQ(CmdDescResetDevice::kSize, 12u);
  EXPECT_EQ(CmdDescAbortCmd::kSize, 16u);
  EXPECT_EQ(CmdDescConfig::kSize, 24u);
  EXPECT_EQ(CmdDescSetupReqCall::kSize, 4u);
  EXPECT_EQ(CmdAdapterReset::kDwords, 0u);
  EXPECT_EQ(CmdGetMaxTargets::kDwords, 0u);

  EXPECT_FALSE(CmdSetupRings::kOptional);
  EXPECT_TRUE(CmdSetupMsgRing::kOptional);
  EXPECT_TRUE(CmdSetupReqCallThreshold::kOptional);
  EXPECT_TRUE(CmdGetMaxTargets::kOptional);
  EXPECT_TRUE(CmdConfig::kOptional);
}

TEST(Golden, CommandStatus) {
  EXPECT_EQ(kCommandStatusSuccess, 0u);
  EXPECT_EQ(kCommandStatusFailed, 0xFFFFFFFFu);
  EXPECT_EQ(kCommandStatusIncomplete, 0xFFFFFFFEu);
}

TEST(Golden, DescriptorFieldOffsets) {
  EXPECT_EQ(CmdDescSetupRings::kRingsStatePpnOffset, 8u);
  EXPECT_EQ(CmdDescSetupRings::kReqRingPpnsOffset, 16u);
  EXPECT_EQ(CmdDescSetupRings::kCmpRingPpnsOffset, 272u);
  EXPECT_EQ(CmdDescSetupMsgRing::kRingPpnsOffset, 8u);
  EXPECT_EQ(CmdDescResetDevice::kLunOffset, 4u);
  EXPECT_EQ(CmdDescAbortCmd::kTargetOffset, 8u);
  EXPECT_EQ(CmdDescConfig::kConfigPageAddressOffset, 8u);
  EXPECT_EQ(CmdDescConfig::kConfigPageNumOffset, 16u);
}

TEST(Golden, RingsState) {
  EXPECT_EQ(RingsState::kReqProdIdxOffset, 0u);
  EXPECT_EQ(RingsState::kReqConsIdxOffset, 4u);
  EXPECT_EQ(RingsState::kReqNumEntriesLog2Offset, 8u);
  EXPECT_EQ(RingsState::kCmpProdIdxOffset, 12u);
  EXPECT_EQ(RingsState::kCmpConsIdxOffset, 16u);
  EXPECT_EQ(RingsState::kCmpNumEntriesLog2Offset, 20u);
  EXPECT_EQ(RingsState::kReqCallThresholdOffset, 24u);
  EXPECT_EQ(RingsState::kMsgProdIdxOffset, 128u);
  EXPECT_EQ(RingsState::kMsgConsIdxOffset, 132u);
  EXPECT_EQ(RingsState::kMsgNumEntriesLog2Offset, 136u);
  EXPECT_EQ(RingsState::kSize, 140u);
}

TEST(Golden, RequestDescriptor) {
  EXPECT_EQ(sizeof(RingReqDesc), 128u);
  EXPECT_EQ(RingReqDesc::kDataAddrOffset, 8u);
  EXPECT_EQ(RingReqDesc::kDataLenOffset, 16u);
  EXPECT_EQ(RingReqDesc::kSenseAddrOffset, 24u);
  EXPECT_EQ(RingReqDesc::kSenseLenOffset, 32u);
  EXPECT_EQ(RingReqDesc::kFlagsOffset, 36u);
  EXPECT_EQ(RingReqDesc::kCdbOffset, 40u);
  EXPECT_EQ(RingReqDesc::kCdbCount, 16u);
  EXPECT_EQ(RingReqDesc::kCdbLenOffset, 56u);
  EXPECT_EQ(RingReqDesc::kLunOffset, 57u);
  EXPECT_EQ(RingReqDesc::kTagOffset, 65u);
  EXPECT_EQ(RingReqDesc::kBusOffset, 66u);
  EXPECT_EQ(RingReqDesc::kTargetOffset, 67u);
  EXPECT_EQ(RingReqDesc::kVcpuHintOffset, 68u);

  // Little-endian at fixed offsets, whatever the host byte order.
  RingReqDesc d;
  d.set_context(0x1122334455667788ull).set_lun(SamLun::from_lun64(5)).set_target(7);
  EXPECT_EQ(d.raw[0], 0x88);
  EXPECT_EQ(d.raw[7], 0x11);
  EXPECT_EQ(d.raw[57], 0);  // SAM LUN byte 0: peripheral addressing, bus 0
  EXPECT_EQ(d.raw[58], 5);
  EXPECT_EQ(d.raw[67], 7);
}

TEST(Golden, CompletionMessageAndSg) {
  EXPECT_EQ(sizeof(RingCmpDesc), 32u);
  EXPECT_EQ(RingCmpDesc::kDataLenOffset, 8u);
  EXPECT_EQ(RingCmpDesc::kSenseLenOffset, 16u);
  EXPECT_EQ(RingCmpDesc::kHostStatusOffset, 20u);
  EXPECT_EQ(RingCmpDesc::kScsiStatusOffset, 22u);
  EXPECT_EQ(sizeof(RingMsgDesc), 128u);
  EXPECT_EQ(RingMsgDesc::kArgsCount, 31u);
  EXPECT_EQ(MsgDevStatusChanged::kBusOffset, 4u);
  EXPECT_EQ(MsgDevStatusChanged::kTargetOffset, 8u);
  EXPECT_EQ(MsgDevStatusChanged::kLunOffset, 12u);
  EXPECT_EQ(sizeof(SgElement), 16u);
  EXPECT_EQ(SgElement::kLengthOffset, 8u);
  EXPECT_EQ(SgElement::kFlagsOffset, 12u);
}

TEST(Golden, ConfigPages) {
  EXPECT_EQ(sizeof(ConfigPageHeader), 16u);
  EXPECT_EQ(ConfigPageHeader::kNumDwordsOffset, 4u);
  EXPECT_EQ(ConfigPageHeader::kHostStatusOffset, 6u);
  EXPECT_EQ(ConfigPageHeader::kScsiStatusOffset, 8u);
  EXPECT_EQ(sizeof(ConfigPageController), 480u);
  EXPECT_EQ(ConfigPageController::kNodeWwnOffset, 16u);
  EXPECT_EQ(ConfigPageController::kManufacturerOffset, 24u);
  EXPECT_EQ(ConfigPageController::kSerialNumberOffset, 152u);
  EXPECT_EQ(ConfigPageController::kNumPhysOffset, 472u);
  EXPECT_EQ(ConfigPageController::kUseConsecutivePhyWwnsOffset, 476u);
  EXPECT_EQ(to_raw(ConfigPageType::kController), 0x1958u);
  EXPECT_EQ(to_raw(ConfigPageType::kPhy), 0x1959u);
  EXPECT_EQ(to_raw(ConfigPageType::kDevice), 0x195Au);
  EXPECT_EQ(to_raw(ConfigAddrType::kController), 0x2120u);
  EXPECT_EQ(to_raw(ConfigAddrType::kBusTarget), 0x2121u);
  EXPECT_EQ(to_raw(ConfigAddrType::kPhy), 0x2122u);
}

TEST(Golden, StatusesFlagsTagsMessages) {
  EXPECT_EQ(to_raw(HostStatus::kSuccess), 0x00);
  EXPECT_EQ(to_raw(HostStatus::kDataUnderrun), 0x0C);
  EXPECT_EQ(to_raw(HostStatus::kSeltimeo), 0x11);
  EXPECT_EQ(to_raw(HostStatus::kDatarun), 0x12);
  EXPECT_EQ(to_raw(HostStatus::kLunmismatch), 0x17);
  EXPECT_EQ(to_raw(HostStatus::kInvparam), 0x1A);
  EXPECT_EQ(to_raw(HostStatus::kBadmsg), 0x1D);
  EXPECT_EQ(to_raw(HostStatus::kBusreset), 0x25);
  EXPECT_EQ(to_raw(HostStatus::kAbortqueue), 0x26);
  EXPECT_EQ(to_raw(HostStatus::kHatimeout), 0x30);
  EXPECT_EQ(to_raw(HostStatus::kScsiparity), 0x34);
  EXPECT_EQ(to_raw(ScsiStatus::kGood), 0x00);
  EXPECT_EQ(to_raw(ScsiStatus::kCheckCondition), 0x02);
  EXPECT_EQ(to_raw(RequestFlag::kWithSgList), 0x1u);
  EXPECT_EQ(to_raw(RequestFlag::kOutOfBandCdb), 0x2u);
  EXPECT_EQ(to_raw(RequestFlag::kDirNone), 0x4u);
  EXPECT_EQ(to_raw(RequestFlag::kDirToHost), 0x8u);
  EXPECT_EQ(to_raw(RequestFlag::kDirToDevice), 0x10u);
  EXPECT_EQ(to_raw(RequestFlag::kWithSgList | RequestFlag::kDirToDevice), 0x11u);
  EXPECT_EQ(to_raw(Tag::kSimple), 0x20);
  EXPECT_EQ(to_raw(Tag::kHeadOfQueue), 0x21);
  EXPECT_EQ(to_raw(Tag::kOrdered), 0x22);
  EXPECT_EQ(to_raw(MsgType::kDevAdded), 0u);
  EXPECT_EQ(to_raw(MsgType::kDevRemoved), 1u);
}

TEST(Golden, Limits) {
  EXPECT_EQ(kMaxReqRingPages, 32u);
  EXPECT_EQ(kMaxCmpRingPages, 32u);
  EXPECT_EQ(kMaxMsgRingPages, 16u);
  EXPECT_EQ(kReqEntriesPerPage, 32u);
  EXPECT_EQ(kCmpEntriesPerPage, 128u);
  EXPECT_EQ(kMsgEntriesPerPage, 32u);
  EXPECT_EQ(kMaxQueueDepth, 1024u);
  EXPECT_EQ(kMaxSgEntriesPerSegment, 128u);
  EXPECT_EQ(kDefaultTargets, 16u);
  EXPECT_EQ(kMaxTargetsQemu, 64u);
  EXPECT_EQ(ReqRing::kEntriesPerPage, 32u);
  EXPECT_EQ(ReqRing::kMaxPages, 32u);
  EXPECT_EQ(CmpRing::kEntriesPerPage, 128u);
  EXPECT_EQ(MsgRing::kMaxPages, 16u);
}

// The SAM LUN forms illumos uses (scsi_lun64_to_lun / scsi_lun_to_lun64, devid_scsi.c).
TEST(Golden, SamLunFormsOfLun64) {
  // Up to 255: peripheral device addressing, LUN in byte 1.
  EXPECT_EQ(SamLun::from_lun64(0).value(), 0u);
  EXPECT_EQ(SamLun::from_lun64(5).value(), 0x0005000000000000ull);
  EXPECT_EQ(SamLun::from_lun64(5).byte(0), 0);
  EXPECT_EQ(SamLun::from_lun64(5).byte(1), 5);
  // 256..0x3FFF: the upper six bits go in byte 0 (address method 00 kept).
  EXPECT_EQ(SamLun::from_lun64(0x3FFF).byte(0), 0x3F);
  EXPECT_EQ(SamLun::from_lun64(0x3FFF).byte(1), 0xFF);
  EXPECT_EQ(SamLun::from_lun64(0x0123).value(), 0x0123000000000000ull);
  // Beyond: the eight bytes themselves (a flat-space LUN 0x4001 arrives as 0x4001000000000000).
  EXPECT_EQ(SamLun::from_lun64(0x4001000000000000ull).byte(0), 0x40);
  EXPECT_EQ(SamLun::from_lun64(0x4001000000000000ull).byte(1), 0x01);
  EXPECT_EQ(SamLun::from_lun64(0x4000).value(), 0x4000u);
  EXPECT_EQ(SamLun::from_lun64(0x4000).byte(6), 0x40);
  EXPECT_EQ(SamLun().byte(8), 0);  // out of range
  // Round trips, both ways.
  for (uint64_t lun : {0ull, 1ull, 255ull, 256ull, 0x3FFFull, 0x4000ull, 0x4001000000000000ull,
                       0x0001000200030004ull}) {
    EXPECT_EQ(SamLun::from_lun64(lun).to_lun64(), lun) << lun;
  }
  // Flat space (method 01) is not the compatibility form, whatever its value.
  EXPECT_EQ(SamLun::from_value(0x4005000000000000ull).to_lun64(), 0x4005000000000000ull);
  // A second level set is not single-level.
  EXPECT_EQ(SamLun::from_value(0x0005000100000000ull).to_lun64(), 0x0005000100000000ull);
  EXPECT_TRUE(SamLun().is_zero());
  EXPECT_FALSE(SamLun::from_lun64(0x4000).is_zero());
  EXPECT_TRUE(SamLun::from_lun64(7) == SamLun::from_value(0x0007000000000000ull));
}

// Enum-typed fields hold any value a device writes; is_known() tells declared ones apart.
TEST(Golden, EnumFieldsKeepUndeclaredValues) {
  RingCmpDesc c;
  c.set_host_status(static_cast<HostStatus>(0x15));  // FreeBSD-only, not declared
  EXPECT_EQ(c.host_status_raw(), 0x15u);
  EXPECT_EQ(to_raw(c.host_status()), 0x15u);
  EXPECT_FALSE(is_known(c.host_status()));
  c.set_host_status(HostStatus::kSeltimeo);
  EXPECT_TRUE(is_known(c.host_status()));
  EXPECT_EQ(c.raw[RingCmpDesc::kHostStatusOffset], 0x11);
  EXPECT_TRUE(is_known(RequestFlag::kWithSgList | RequestFlag::kDirToHost));
  EXPECT_FALSE(is_known(static_cast<RequestFlag>(0x80000000u)));
  RequestFlag f = RequestFlag::kDirToDevice;
  f |= RequestFlag::kWithSgList;
  EXPECT_EQ(to_raw(f), 0x11u);
  EXPECT_TRUE(is_known(MsgType::kDevRemoved));
  EXPECT_FALSE(is_known(static_cast<MsgType>(7)));
}

TEST(Golden, FieldSpansCoverFields) {
  EXPECT_EQ(RingsState::kReqProdIdxSpan.offset, 0u);
  EXPECT_EQ(RingsState::kReqProdIdxSpan.size, 4u);
  FieldSpan both = cover(RingsState::kReqCallThresholdSpan, RingsState::kReqConsIdxSpan);
  EXPECT_EQ(both.offset, RingsState::kReqConsIdxOffset);
  EXPECT_EQ(both.end(), RingsState::kReqCallThresholdOffset + 4);
  FieldSpan inner = cover(RingReqDesc::kCdbSpan, RingReqDesc::kCdbSpan);
  EXPECT_EQ(inner.offset, RingReqDesc::kCdbOffset);
  EXPECT_EQ(inner.size, 16u);
}

TEST(Golden, CdbCopiesAreBounded) {
  RingReqDesc d;
  for (auto &b : d.raw) b = 0xEE;
  const uint8_t cdb[20] = {0x28, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
  d.set_cdb_from(cdb, 6);
  EXPECT_EQ(d.cdb(0), 0x28);
  EXPECT_EQ(d.cdb(5), 5);
  EXPECT_EQ(d.cdb(6), 0);  // the rest zeroed
  EXPECT_EQ(d.cdb(15), 0);
  EXPECT_EQ(d.raw[RingReqDesc::kCdbOffset - 1], 0xEE);  // neighbours untouched
  EXPECT_EQ(d.raw[RingReqDesc::kCdbLenOffset], 0xEE);
  d.set_cdb_from(cdb, 20);  // clamped to 16
  EXPECT_EQ(d.cdb(15), 15);
  EXPECT_EQ(d.raw[RingReqDesc::kCdbLenOffset], 0xEE);
  uint8_t out[20] = {};
  EXPECT_EQ(d.copy_cdb_to(out, 20), 16u);
  EXPECT_EQ(out[15], 15);
  EXPECT_EQ(out[16], 0);
}

}  // namespace
}  // namespace hw
}  // namespace pvscsi
