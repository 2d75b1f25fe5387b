// The SCSI target emulation on its own: every command with good and bad parameters.
#include <gtest/gtest.h>

#include "scsi_target.h"

namespace pvscsi_mock {
namespace {

struct Lu {
  explicit Lu(LunSpec spec = {}, bool ua = false) : t(3, ua) {
    t.add_lun(spec);
    lun = spec.lun;
  }
  ScsiResult run(std::vector<uint8_t> cdb, const std::vector<uint8_t> &out = {}) {
    return t.execute(lun, cdb.data(), cdb.size(), out);
  }
  CdbShape shape(std::vector<uint8_t> cdb) { return t.shape(lun, cdb.data(), cdb.size()); }
  ScsiTarget t;
  uint16_t lun;
};

void expect_sense(const ScsiResult &r, Asc a) {
  ASSERT_EQ(r.status, kScsiCheckCondition);
  ASSERT_EQ(r.sense.size(), kSenseLen);
  EXPECT_EQ(r.sense[0], 0x70);
  EXPECT_EQ(r.sense[2], a.key);
  EXPECT_EQ(r.sense[12], a.asc);
  EXPECT_EQ(r.sense[13], a.ascq);
  EXPECT_TRUE(r.data_in.empty());
}

void expect_good(const ScsiResult &r) {
  EXPECT_EQ(r.status, kScsiGood);
  EXPECT_TRUE(r.sense.empty());
}

std::vector<uint8_t> rw10(uint8_t op, uint32_t lba, uint16_t n) {
  return {op,           0, uint8_t(lba >> 24), uint8_t(lba >> 16), uint8_t(lba >> 8),
          uint8_t(lba), 0, uint8_t(n >> 8),    uint8_t(n),         0};
}

TEST(ScsiTarget, SenseHelpersAndLunEncoding) {
  auto s = make_sense(sense::kLbaOutOfRange);
  EXPECT_EQ(s.size(), 18u);
  EXPECT_EQ(s[7], 10);
  uint8_t e[8];
  encode_lun(5, e);
  EXPECT_EQ(e[0], 0);
  EXPECT_EQ(e[1], 5);
  encode_lun(0x123, e);
  EXPECT_EQ(e[0], 0x41);
  EXPECT_EQ(e[1], 0x23);
  EXPECT_EQ(cdb_group_len(0x28), 10u);
  EXPECT_EQ(cdb_group_len(0x88), 16u);
  EXPECT_EQ(cdb_group_len(0xA8), 12u);
  EXPECT_EQ(cdb_group_len(0x7F), 0u);
}

TEST(ScsiTarget, InquiryStandardAndVpd) {
  Lu l;
  auto r = l.run({op::kInquiry, 0, 0, 0, 96, 0});
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 36u);
  EXPECT_EQ(r.data_in[0], 0x00);
  EXPECT_EQ(r.data_in[4], 31);
  EXPECT_EQ(std::string(r.data_in.begin() + 8, r.data_in.begin() + 14), "VMware");
  r = l.run({op::kInquiry, 0, 0, 0, 5, 0});  // truncated to the allocation length
  EXPECT_EQ(r.data_in.size(), 5u);
  r = l.run({op::kInquiry, 1, 0x00, 0, 255, 0});
  expect_good(r);
  EXPECT_EQ(r.data_in, (std::vector<uint8_t>{0, 0, 0, 3, 0x00, 0x80, 0x83}));
  r = l.run({op::kInquiry, 1, 0x80, 0, 255, 0});
  expect_good(r);
  EXPECT_EQ(r.data_in[1], 0x80);
  EXPECT_EQ(r.data_in.size(), 4u + r.data_in[3]);
  r = l.run({op::kInquiry, 1, 0x83, 0, 255, 0});
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 16u);
  EXPECT_EQ(r.data_in[5] & 0x0F, 0x03);  // NAA designator
  EXPECT_EQ(r.data_in[8] >> 4, 0x5);
  expect_sense(l.run({op::kInquiry, 1, 0xB0, 0, 255, 0}), sense::kInvalidFieldInCdb);
  expect_sense(l.run({op::kInquiry, 0, 0x80, 0, 255, 0}), sense::kInvalidFieldInCdb);
  expect_sense(l.run({op::kInquiry, 2, 0, 0, 255, 0}), sense::kInvalidFieldInCdb);
  EXPECT_TRUE(l.run({op::kInquiry, 0, 0, 0, 0, 0}).data_in.empty());
}

TEST(ScsiTarget, UnitAttentionsReportedOnceAndNotToInquiry) {
  Lu l({}, true);
  expect_good(l.run({op::kInquiry, 0, 0, 0, 36, 0}));
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kPowerOnReset);
  expect_good(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}));
  l.t.post_unit_attention(UnitAttention::kReportedLunsChanged);
  l.t.lun(0)->set_capacity(4096);
  // Reported in priority order, each once.
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kReportedLunsChanged);
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kCapacityChanged);
  expect_good(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}));
}

TEST(ScsiTarget, RequestSenseReturnsAndClearsUnitAttention) {
  Lu l({}, true);
  auto r = l.run({op::kRequestSense, 0, 0, 0, 252, 0});
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 18u);
  EXPECT_EQ(r.data_in[2], kSenseUnitAttention);
  EXPECT_EQ(r.data_in[12], 0x29);
  r = l.run({op::kRequestSense, 0, 0, 0, 252, 0});
  EXPECT_EQ(r.data_in[2], kSenseNoSense);
  r = l.run({op::kRequestSense, 0, 0, 0, 4, 0});
  EXPECT_EQ(r.data_in.size(), 4u);
}

TEST(ScsiTarget, ReadCapacity10And16) {
  Lu l(LunSpec{0, LunKind::kDisk, 1000, 4096});
  auto r = l.run({op::kReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 8u);
  EXPECT_EQ(be32(&r.data_in[0]), 999u);
  EXPECT_EQ(be32(&r.data_in[4]), 4096u);
  std::vector<uint8_t> c16(16, 0);
  c16[0] = op::kServiceActionIn16;
  c16[1] = op::kSaReadCapacity16;
  c16[13] = 32;
  r = l.run(c16);
  expect_good(r);
  ASSERT_EQ(r.data_in.size(), 32u);
  EXPECT_EQ(be64(&r.data_in[0]), 999u);
  EXPECT_EQ(be32(&r.data_in[8]), 4096u);
  EXPECT_EQ(l.shape(c16).bytes, 32u);
  c16[1] = 0x11;  // another service action
  expect_sense(l.run(c16), sense::kInvalidFieldInCdb);
  // More than 2^32 blocks: READ CAPACITY(10) says 0xFFFFFFFF.
  Lu big(LunSpec{0, LunKind::kDisk, 0x200000000ull, 512});
  r = big.run({op::kReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(be32(&r.data_in[0]), 0xFFFFFFFFu);
}

TEST(ScsiTarget, ReadWriteAllSizesRoundTrip) {
  for (uint32_t bs : {512u, 4096u}) {
    Lu l(LunSpec{0, LunKind::kDisk, 64, bs});
    std::vector<uint8_t> buf(2 * bs);
    for (size_t i = 0; i < buf.size(); i++) {
      buf[i] = uint8_t(i * 7 + bs);
    }
    expect_good(l.run({op::kWrite6, 0, 0, 5, 2, 0}, buf));
    auto r = l.run({op::kRead6, 0, 0, 5, 2, 0});
    expect_good(r);
    EXPECT_EQ(r.data_in, buf);
    r = l.run(rw10(op::kRead10, 5, 2));
    EXPECT_EQ(r.data_in, buf);
    r = l.run({op::kRead12, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0});
    EXPECT_EQ(r.data_in, buf);
    std::vector<uint8_t> c16(16, 0);
    c16[0] = op::kRead16;
    c16[9] = 5;
    c16[13] = 2;
    r = l.run(c16);
    EXPECT_EQ(r.data_in, buf);
    EXPECT_EQ(l.shape(c16).dir, DataDir::kIn);
    EXPECT_EQ(l.shape(c16).bytes, 2u * bs);
    c16[0] = op::kWrite16;
    EXPECT_EQ(l.shape(c16).dir, DataDir::kOut);
    expect_good(l.run(rw10(op::kWrite10, 10, 1), std::vector<uint8_t>(bs, 1)));
    expect_good(
        l.run({op::kWrite12, 0, 0, 0, 0, 11, 0, 0, 0, 1, 0, 0}, std::vector<uint8_t>(bs, 2)));
    expect_good(l.run(c16, std::vector<uint8_t>(2 * bs, 3)));
    std::vector<uint8_t> out(bs);
    ASSERT_TRUE(l.t.lun(0)->read_blocks(10, 1, out.data()));
    EXPECT_EQ(out, std::vector<uint8_t>(bs, 1));
    ASSERT_TRUE(l.t.lun(0)->read_blocks(11, 1, out.data()));
    EXPECT_EQ(out, std::vector<uint8_t>(bs, 2));
    // Unwritten blocks read as zeros and take no storage.
    r = l.run(rw10(op::kRead10, 40, 1));
    EXPECT_EQ(r.data_in, std::vector<uint8_t>(bs, 0));
    EXPECT_EQ(l.t.lun(0)->stored_blocks(), 4u);
  }
}

TEST(ScsiTarget, ReadWriteBadParameters) {
  Lu l(LunSpec{0, LunKind::kDisk, 100, 512});
  expect_sense(l.run(rw10(op::kRead10, 100, 1)), sense::kLbaOutOfRange);
  expect_sense(l.run(rw10(op::kRead10, 99, 2)), sense::kLbaOutOfRange);
  expect_sense(l.run(rw10(op::kWrite10, 0xFFFFFFFF, 1), std::vector<uint8_t>(512)),
               sense::kLbaOutOfRange);
  expect_good(l.run(rw10(op::kRead10, 99, 1)));
  expect_good(l.run(rw10(op::kRead10, 100, 0)));  // zero blocks at the end: no transfer
  auto bad = rw10(op::kRead10, 0, 1);
  bad[1] = 0x20;  // RDPROTECT
  expect_sense(l.run(bad), sense::kInvalidFieldInCdb);
  // READ(6) with 0 blocks means 256 blocks: beyond this disk.
  expect_sense(l.run({op::kRead6, 0, 0, 0, 0, 0}), sense::kLbaOutOfRange);
  // A short data-out writes only the whole blocks it carries.
  auto r = l.run(rw10(op::kWrite10, 0, 2), std::vector<uint8_t>(700, 9));
  expect_good(r);
  EXPECT_EQ(r.data_out_used, 512u);
  // CDB shorter than its group.
  std::vector<uint8_t> shortcdb = {op::kRead10, 0, 0, 0, 0, 0};
  expect_sense(l.run(shortcdb), sense::kInvalidOpcode);
  // Larger than the transfer limit.
  Lu huge(LunSpec{0, LunKind::kDisk, 1ull << 30, 512});
  std::vector<uint8_t> c16(16, 0);
  c16[0] = op::kRead16;
  c16[10] = 0x01;  // 2^24 blocks = 8 GiB
  expect_sense(huge.run(c16), sense::kInvalidFieldInCdb);
  // Write-protected.
  LunSpec wp{0, LunKind::kDisk, 10, 512};
  wp.write_protected = true;
  Lu w(wp);
  expect_sense(w.run(rw10(op::kWrite10, 0, 1), std::vector<uint8_t>(512)), sense::kWriteProtected);
}

TEST(ScsiTarget, InvalidOpcode) {
  Lu l;
  expect_sense(l.run({0x04, 0, 0, 0, 0, 0}), sense::kInvalidOpcode);  // FORMAT UNIT
  expect_sense(l.run({0xC0, 0, 0, 0, 0, 0}), sense::kInvalidOpcode);  // vendor specific
  expect_sense(l.run({}), sense::kInvalidOpcode);
  EXPECT_EQ(l.shape({0x04, 0, 0, 0, 0, 0}).dir, DataDir::kNone);
}

TEST(ScsiTarget, ModeSense6And10) {
  Lu l(LunSpec{0, LunKind::kDisk, 2048, 512});
  auto r = l.run({op::kModeSense6, 0, 0x3F, 0, 255, 0});
  expect_good(r);
  ASSERT_GE(r.data_in.size(), 4u + 8 + 20 + 12);
  EXPECT_EQ(r.data_in[0], r.data_in.size() - 1);
  EXPECT_EQ(r.data_in[3], 8);                           // block descriptor length
  EXPECT_EQ(be32(&r.data_in[4]), 2048u);                // blocks
  EXPECT_EQ(be24(&r.data_in[9]), 512u);                 // block length
  EXPECT_EQ(r.data_in[12], 0x08);                       // caching page
  EXPECT_EQ(r.data_in[14] & 0x04, 0x04);                // WCE
  r = l.run({op::kModeSense6, 0x08, 0x08, 0, 255, 0});  // DBD
  EXPECT_EQ(r.data_in[3], 0);
  EXPECT_EQ(r.data_in[4], 0x08);
  r = l.run({op::kModeSense10, 0x10, 0x0A, 0, 0, 0, 0, 0, 255, 0});  // LLBAA, control page
  expect_good(r);
  EXPECT_EQ(be16(&r.data_in[0]), r.data_in.size() - 2);
  EXPECT_EQ(be16(&r.data_in[6]), 16u);
  EXPECT_EQ(be64(&r.data_in[8]), 2048u);
  EXPECT_EQ(r.data_in[24], 0x0A);
  r = l.run({op::kModeSense6, 0, 0x3F, 0, 4, 0});
  EXPECT_EQ(r.data_in.size(), 4u);
  expect_sense(l.run({op::kModeSense6, 0, 0x1C, 0, 255, 0}), sense::kInvalidFieldInCdb);
  expect_sense(l.run({op::kModeSense6, 0, 0x08, 1, 255, 0}), sense::kInvalidFieldInCdb);
  r = l.run({op::kModeSense6, 0, 0x48, 0, 255, 0});  // changeable values: WCE not changeable
  expect_good(r);
  EXPECT_EQ(r.data_in[14] & 0x04, 0);
}

TEST(ScsiTarget, SynchronizeCacheAndStartStop) {
  Lu l(LunSpec{0, LunKind::kDisk, 100, 512});
  expect_good(l.run({op::kSynchronizeCache10, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  expect_good(l.run(rw10(op::kSynchronizeCache10, 50, 50)));
  expect_sense(l.run(rw10(op::kSynchronizeCache10, 50, 51)), sense::kLbaOutOfRange);
  std::vector<uint8_t> c16(16, 0);
  c16[0] = op::kSynchronizeCache16;
  expect_good(l.run(c16));
  c16[9] = 101;
  expect_sense(l.run(c16), sense::kLbaOutOfRange);
  expect_good(l.run({op::kStartStopUnit, 0, 0, 0, 0x00, 0}));  // stop
  EXPECT_TRUE(l.t.lun(0)->stopped());
  expect_sense(l.run(rw10(op::kRead10, 0, 1)), sense::kNotReadyInitCmdRequired);
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kNotReadyInitCmdRequired);
  expect_good(l.run({op::kStartStopUnit, 0, 0, 0, 0x01, 0}));  // start
  expect_good(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}));
  expect_good(l.run({op::kStartStopUnit, 0, 0, 0, 0x10, 0}));  // power condition: ignored
  EXPECT_FALSE(l.t.lun(0)->stopped());
}

TEST(ScsiTarget, CdromWithoutMedia) {
  Lu l(LunSpec{0, LunKind::kCdrom});
  auto r = l.run({op::kInquiry, 0, 0, 0, 36, 0});
  EXPECT_EQ(r.data_in[0], 0x05);
  EXPECT_EQ(r.data_in[1], 0x80);
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kMediumNotPresent);
  expect_sense(l.run(rw10(op::kRead10, 0, 1)), sense::kMediumNotPresent);
  expect_sense(l.run({op::kReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0}), sense::kMediumNotPresent);
  r = l.run({op::kRequestSense, 0, 0, 0, 18, 0});
  EXPECT_EQ(r.data_in[2], kSenseNotReady);
  EXPECT_EQ(r.data_in[12], 0x3A);
  expect_good(l.run({op::kStartStopUnit, 0, 0, 0, 0x02, 0}));  // eject: nothing to eject
}

TEST(ScsiTarget, ReportLuns) {
  ScsiTarget t(1, true);
  t.add_lun(LunSpec{0});
  t.add_lun(LunSpec{7});
  t.add_lun(LunSpec{300});
  EXPECT_FALSE(t.add_lun(LunSpec{7}));
  std::vector<uint8_t> c = {op::kReportLuns, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
  EXPECT_TRUE(t.addressable(0, op::kReportLuns));
  auto r = t.execute(0, c.data(), c.size(), {});
  ASSERT_EQ(r.status, kScsiGood);
  ASSERT_EQ(r.data_in.size(), 32u);
  EXPECT_EQ(be32(&r.data_in[0]), 24u);
  EXPECT_EQ(r.data_in[9], 0);
  EXPECT_EQ(r.data_in[17], 7);
  EXPECT_EQ(r.data_in[24], 0x41);
  EXPECT_EQ(r.data_in[25], 0x2C);
  c[2] = 1;  // well-known only
  r = t.execute(0, c.data(), c.size(), {});
  EXPECT_EQ(be32(&r.data_in[0]), 0u);
  c[2] = 7;
  r = t.execute(0, c.data(), c.size(), {});
  EXPECT_EQ(r.status, kScsiCheckCondition);
  c[2] = 0;
  c[9] = 8;
  c[8] = 0;  // allocation length 8 < 16
  r = t.execute(0, c.data(), c.size(), {});
  EXPECT_EQ(r.status, kScsiCheckCondition);
  EXPECT_EQ(r.sense[12], 0x24);
  // Without LUN 0, REPORT LUNS still answers at LUN 0 and clears REPORTED LUNS DATA HAS CHANGED.
  t.remove_lun(0);
  t.post_unit_attention(UnitAttention::kReportedLunsChanged);
  EXPECT_TRUE(t.addressable(0, op::kReportLuns));
  EXPECT_FALSE(t.addressable(0, op::kTestUnitReady));
  c[8] = 1;
  r = t.execute(0, c.data(), c.size(), {});
  EXPECT_EQ(be32(&r.data_in[0]), 16u);
  EXPECT_FALSE(t.lun(7)->has_unit_attention(UnitAttention::kReportedLunsChanged));
  EXPECT_TRUE(t.lun(7)->has_unit_attention(UnitAttention::kPowerOnReset));
}

TEST(ScsiTarget, CapacityChangeTruncatesStorage) {
  Lu l(LunSpec{0, LunKind::kDisk, 100, 512});
  std::vector<uint8_t> b(512, 5);
  ASSERT_TRUE(l.t.lun(0)->write_blocks(90, 1, b.data()));
  l.t.lun(0)->set_capacity(50);
  EXPECT_EQ(l.t.lun(0)->stored_blocks(), 0u);
  EXPECT_FALSE(l.t.lun(0)->read_blocks(50, 1, b.data()));
  expect_sense(l.run({op::kTestUnitReady, 0, 0, 0, 0, 0}), sense::kCapacityChanged);
  auto r = l.run({op::kReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(be32(&r.data_in[0]), 49u);
}

}  // namespace
}  // namespace pvscsi_mock
