// SCSI over the rings, on both profiles: every command good and bad, addressing, SG lists,
// direction checks, sense handling, hostile requests, index wrap-around.
#include "ring_harness.h"

namespace pvscsi_mock::testing {
namespace {

Config topology(Profile p) {
  Config c = Config::for_profile(p);
  c.power_on_unit_attention = false;
  c.targets = {
      TargetSpec{0,
                 {LunSpec{0, LunKind::kDisk, 4096, 512}, LunSpec{1, LunKind::kDisk, 1024, 4096}}},
      TargetSpec{2, {LunSpec{0, LunKind::kCdrom}}}};
  if (p == Profile::kVmware) {
    c.targets[0].luns.push_back(LunSpec{300, LunKind::kDisk, 16, 512});
  }
  return c;
}

class Scsi : public ::testing::TestWithParam<Profile> {
 protected:
  Scsi() : h(topology(GetParam())) { EXPECT_EQ(h.setup_rings(), 0u); }
  bool vmware() const { return GetParam() == Profile::kVmware; }
  void expect_check(const Done &d, uint8_t key, uint8_t asc) {
    EXPECT_EQ(d.host(), 0);
    ASSERT_EQ(d.scsi(), hw::to_raw(hw::ScsiStatus::kCheckCondition));
    EXPECT_EQ(d.cmp.sense_len(), 18u);
    EXPECT_EQ(d.sense[0], 0x70);
    EXPECT_EQ(d.sense[2], key);
    EXPECT_EQ(d.sense[12], asc);
  }
  void expect_good(const Done &d) {
    EXPECT_EQ(d.scsi(), 0);
    EXPECT_EQ(d.cmp.sense_len(), 0u);
    EXPECT_EQ(d.sense[0], 0xEE) << "sense written without CHECK CONDITION";
  }
  Harness h;
};

TEST_P(Scsi, InquiryTurRequestSense) {
  Done d = h.scsi({0x12, 0, 0, 0, 36, 0}, 0, 0, Dir::kIn, 36);
  expect_good(d);
  EXPECT_EQ(d.host(), 0);
  EXPECT_EQ(d.data[2], 0x05);
  d = h.scsi({0x12, 1, 0x83, 0, 64, 0}, 0, 1, Dir::kIn, 64);
  expect_good(d);
  EXPECT_EQ(d.data[1], 0x83);
  d = h.scsi({0x12, 1, 0x42, 0, 64, 0}, 0, 0, Dir::kIn, 64);
  expect_check(d, kSenseIllegalRequest, 0x24);
  EXPECT_EQ(d.cmp.data_len(), 0u);
  expect_good(h.scsi({0, 0, 0, 0, 0, 0}));
  d = h.scsi({0x03, 0, 0, 0, 18, 0}, 0, 0, Dir::kIn, 18);
  expect_good(d);
  EXPECT_EQ(d.data[0], 0x70);
  EXPECT_EQ(d.data[2], 0);
}

TEST_P(Scsi, ReadCapacityBothBlockSizes) {
  Done d = h.scsi({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, Dir::kIn, 8);
  expect_good(d);
  EXPECT_EQ(be32(&d.data[0]), 4095u);
  EXPECT_EQ(be32(&d.data[4]), 512u);
  std::vector<uint8_t> c16(16, 0);
  c16[0] = 0x9E;
  c16[1] = 0x10;
  c16[13] = 32;
  d = h.scsi(c16, 0, 1, Dir::kIn, 32);
  expect_good(d);
  EXPECT_EQ(be64(&d.data[0]), 1023u);
  EXPECT_EQ(be32(&d.data[8]), 4096u);
}

TEST_P(Scsi, ReadWriteEverySizeWithOracle) {
  struct Op {
    std::vector<uint8_t> w, r;
  };
  std::vector<uint8_t> w6 = {0x0A, 0, 0, 8, 2, 0}, r6 = {0x08, 0, 0, 8, 2, 0};
  std::vector<uint8_t> w12 = {0xAA, 0, 0, 0, 0, 8, 0, 0, 0, 2, 0, 0};
  std::vector<uint8_t> r12 = w12;
  r12[0] = 0xA8;
  const Op ops[] = {{w6, r6},
                    {bytes(cdb::write10(8, 2)), bytes(cdb::read10(8, 2))},
                    {w12, r12},
                    {bytes(cdb::write16(8, 2)), bytes(cdb::read16(8, 2))}};
  for (uint16_t lun : {0, 1}) {
    const uint32_t bs = lun == 0 ? 512 : 4096;
    uint8_t seed = 1;
    for (const Op &op : ops) {
      std::vector<uint8_t> buf(2 * bs);
      for (size_t i = 0; i < buf.size(); i++) {
        buf[i] = uint8_t(i * 13 + seed);
      }
      seed++;
      Done d = h.scsi(op.w, 0, lun, Dir::kOut, buf.size(), buf);
      expect_good(d);
      EXPECT_EQ(d.host(), 0);
      std::vector<uint8_t> stored;
      ASSERT_TRUE(h.dev.read_blocks(0, lun, 8, 2, &stored));
      EXPECT_EQ(stored, buf);
      d = h.scsi(op.r, 0, lun, Dir::kIn, buf.size());
      expect_good(d);
      EXPECT_EQ(d.data, buf);
    }
  }
  Counters c = h.dev.counters();
  EXPECT_EQ(c.scsi_by_opcode[0x0A], 2u);
  EXPECT_EQ(c.scsi_by_opcode[0x88], 2u);
  EXPECT_EQ(c.bytes_to_device, 4u * 2 * (512 + 4096));
  EXPECT_EQ(c.bytes_to_host, 4u * 2 * (512 + 4096));
}

TEST_P(Scsi, ReadWriteBadParameters) {
  expect_check(h.scsi(bytes(cdb::read10(4096, 1)), 0, 0, Dir::kIn, 512), kSenseIllegalRequest,
               0x21);
  expect_check(
      h.scsi(bytes(cdb::write16(~uint64_t{0}, 1)), 0, 0, Dir::kOut, 512, std::vector<uint8_t>(512)),
      kSenseIllegalRequest, 0x21);
  expect_check(h.scsi({0x04, 0, 0, 0, 0, 0}), kSenseIllegalRequest, 0x20);  // FORMAT UNIT
  std::vector<uint8_t> prot = bytes(cdb::read10(0, 1));
  prot[1] = 0xE0;
  expect_check(h.scsi(prot, 0, 0, Dir::kIn, 512), kSenseIllegalRequest, 0x24);
  // Sense only as long as the driver's buffer; none when its length is 0.
  hw::RingReqDesc r = h.request(bytes(cdb::read10(5000, 1)), 0, 0, Dir::kIn, 512);
  r.set_sense_len(8);
  Done d = h.run(r);
  EXPECT_EQ(d.cmp.sense_len(), 8u);
  EXPECT_EQ(d.sense[8], 0xEE);
  r = h.request(bytes(cdb::read10(5000, 1)), 0, 0, Dir::kIn, 512);
  r.set_sense_len(0);
  d = h.run(r);
  EXPECT_EQ(d.scsi(), 2);
  EXPECT_EQ(d.cmp.sense_len(), 0u);
  EXPECT_EQ(d.sense[0], 0xEE);
}

TEST_P(Scsi, ModeSenseSyncStartStop) {
  Done d = h.scsi({0x1A, 0, 0x3F, 0, 255, 0}, 0, 0, Dir::kIn, 255);
  expect_good(d);
  EXPECT_EQ(d.data[3], 8);
  d = h.scsi({0x5A, 0, 0x08, 0, 0, 0, 0, 0, 255, 0}, 0, 1, Dir::kIn, 255);
  expect_good(d);
  EXPECT_EQ(be32(&d.data[12]) & 0xFFFFFF, 4096u);
  expect_check(h.scsi({0x1A, 0, 0x19, 0, 255, 0}, 0, 0, Dir::kIn, 255), kSenseIllegalRequest, 0x24);
  expect_good(h.scsi(bytes(cdb::synchronize_cache10())));
  expect_good(h.scsi(bytes(cdb::synchronize_cache16())));
  expect_check(h.scsi(bytes(cdb::synchronize_cache10(5000, 1))), kSenseIllegalRequest, 0x21);
  expect_good(h.scsi({0x1B, 0, 0, 0, 0, 0}));
  expect_check(h.scsi({0, 0, 0, 0, 0, 0}), kSenseNotReady, 0x04);
  expect_good(h.scsi({0x1B, 0, 0, 0, 1, 0}));
  expect_good(h.scsi({0, 0, 0, 0, 0, 0}));
}

TEST_P(Scsi, ReportLunsAndCdrom) {
  Done d = h.scsi({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 0, 0, Dir::kIn, 256);
  expect_good(d);
  const uint32_t n = vmware() ? 3 : 2;
  EXPECT_EQ(be32(&d.data[0]), 8 * n);
  EXPECT_EQ(d.data[8 + 9], 1);
  expect_check(h.scsi({0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0}, 0, 0, Dir::kIn, 4),
               kSenseIllegalRequest, 0x24);
  expect_check(h.scsi({0, 0, 0, 0, 0, 0}, 2, 0), kSenseNotReady, 0x3A);
  expect_check(h.scsi(bytes(cdb::read10(0, 1)), 2, 0, Dir::kIn, 2048), kSenseNotReady, 0x3A);
  d = h.scsi({0x12, 0, 0, 0, 36, 0}, 2, 0, Dir::kIn, 36);
  EXPECT_EQ(d.data[0], 0x05);
}

TEST_P(Scsi, AbsentTargetOrLunIsSeltimeo) {
  const uint16_t seltimeo = raw(hw::HostStatus::kSeltimeo);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 1, 0).host(), seltimeo);  // no target 1
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 0, 5).host(), seltimeo);  // no LUN 5
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 200, 0).host(), seltimeo);
  hw::RingReqDesc r = h.request({0, 0, 0, 0, 0, 0});
  r.set_bus(1);
  EXPECT_EQ(h.run(r).host(), seltimeo);
  r = h.request({0, 0, 0, 0, 0, 0});
  r.set_lun(hw::SamLun::from_value(uint64_t(1) << 24));  // byte 4 set: a multi-level LUN
  EXPECT_EQ(h.run(r).host(), seltimeo);
  // Flat-space LUN 300: VMware reaches it, QEMU does not.
  Done d = h.scsi({0, 0, 0, 0, 0, 0}, 0, 300);
  EXPECT_EQ(d.host(), vmware() ? 0 : seltimeo);
  // REPORT LUNS at LUN 0 of a target without LUN 0 still answers.
  ASSERT_TRUE(h.dev.remove_lun(0, 0));
  d = h.scsi({0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 0, 0, Dir::kIn, 256);
  EXPECT_EQ(d.host(), vmware() ? 0 : raw(hw::HostStatus::kDatarun));
  EXPECT_EQ(d.scsi(), 0);
  EXPECT_EQ(h.scsi({0, 0, 0, 0, 0, 0}, 0, 0).host(), seltimeo);
  EXPECT_GE(h.dev.counters().bad_requests, 5u);
}

TEST_P(Scsi, DirectionMustMatchTheCdb) {
  const uint16_t badmsg = raw(hw::HostStatus::kBadmsg);
  EXPECT_EQ(h.scsi(bytes(cdb::read10(0, 1)), 0, 0, Dir::kOut, 512).host(), badmsg);
  EXPECT_EQ(h.scsi(bytes(cdb::read10(0, 1)), 0, 0, Dir::kNone, 512).host(), badmsg);
  EXPECT_EQ(h.scsi(bytes(cdb::write10(0, 1)), 0, 0, Dir::kIn, 512).host(), badmsg);
  hw::RingReqDesc r = h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512);
  r.set_flags(r.flags() | hw::RequestFlag::kDirToDevice);
  EXPECT_EQ(h.run(r).host(), raw(hw::HostStatus::kInvparam));
  // Nothing was written by the refused WRITE.
  std::vector<uint8_t> b;
  ASSERT_TRUE(h.dev.read_blocks(0, 0, 0, 1, &b));
  EXPECT_EQ(b, std::vector<uint8_t>(512, 0));
}

TEST_P(Scsi, HostileRequestFieldsAreRefused) {
  const uint16_t invparam = raw(hw::HostStatus::kInvparam);
  hw::RingReqDesc r = h.request({0, 0, 0, 0, 0, 0});
  r.set_cdb_len(0);
  EXPECT_EQ(h.run(r).host(), invparam);
  r = h.request({0, 0, 0, 0, 0, 0});
  r.set_cdb_len(200);
  EXPECT_EQ(h.run(r).host(), invparam);
  r = h.request({0, 0, 0, 0, 0, 0});
  r.raw[100] = 1;  // unused bytes: counted, not refused
  EXPECT_EQ(h.run(r).host(), 0);
  EXPECT_EQ(h.dev.counters().reserved_nonzero, 1u);
  r = h.request({0, 0, 0, 0, 0, 0});
  r.set_flags(r.flags() | hw::RequestFlag::kOutOfBandCdb);
  EXPECT_EQ(h.run(r).host(), invparam);
  r = h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512);
  r.set_data_len(~uint64_t{0});  // an absurd length: refused before any allocation
  EXPECT_EQ(h.run(r).host(), invparam);
  // Data, sense and SG addresses outside memory: master aborts, never a crash.
  r = h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512);
  r.set_data_addr(0x1000);
  EXPECT_EQ(h.run(r).host(), raw(hw::HostStatus::kHahardware));
  r = h.request(bytes(cdb::write10(0, 1)), 0, 0, Dir::kOut, 512);
  r.set_data_addr(h.host.end() - 100);
  EXPECT_EQ(h.run(r).host(), raw(hw::HostStatus::kHahardware));
  r = h.request(bytes(cdb::read10(0, 1)), 0, 0, Dir::kIn, 512);
  r.set_data_addr(~uint64_t{0} - 10);  // wraps around
  EXPECT_EQ(h.run(r).host(), invparam);
  r = h.request(bytes(cdb::read10(9999, 1)), 0, 0, Dir::kIn, 512);
  r.set_sense_addr(0x2000);
  Done d = h.run(r);
  EXPECT_EQ(d.host(), raw(hw::HostStatus::kSensfailed));
  EXPECT_EQ(d.scsi(), 2);
  EXPECT_GE(h.dev.counters().dma_errors, 3u);
  // The device still works.
  expect_good(h.scsi({0, 0, 0, 0, 0, 0}));
}

// SG lists: flat, bounded, validated.
class Sg : public Scsi {
 protected:
  // An SG list at `list` of (offset into the data area, length) elements.
  void write_sg(uint64_t list, const std::vector<std::pair<uint64_t, uint32_t>> &elems,
                uint32_t flags = 0) {
    for (size_t i = 0; i < elems.size(); i++) {
      hw::SgElement e{};
      e.set_addr(elems[i].first).set_length(elems[i].second).set_flags(hw::SgFlag(flags));
      std::memcpy(h.host.ptr(list + 16 * i), e.raw, 16);
    }
  }
  Done sg_run(const std::vector<uint8_t> &cdb, Dir dir, uint64_t len, uint64_t list) {
    hw::RingReqDesc r = h.request(cdb, 0, 0, dir, len);
    r.set_data_addr(list);
    r.set_flags(r.flags() | hw::RequestFlag::kWithSgList);
    return h.run(r);
  }
};

TEST_P(Sg, ScatterGatherRoundTrip) {
  // Three pieces of 512, 1024 and 512 bytes, out of order in memory.
  const uint64_t a = h.data, b = h.data + 8192, c = h.data + 4096;
  std::vector<uint8_t> buf(2048);
  for (size_t i = 0; i < buf.size(); i++) {
    buf[i] = uint8_t(i ^ 0x5C);
  }
  std::memcpy(h.host.ptr(a), &buf[0], 512);
  std::memcpy(h.host.ptr(b), &buf[512], 1024);
  std::memcpy(h.host.ptr(c), &buf[1536], 512);
  write_sg(h.sgl, {{a, 512}, {b, 1024}, {c, 512}});
  Done d = sg_run(bytes(cdb::write10(100, 4)), Dir::kOut, 2048, h.sgl);
  EXPECT_EQ(d.host(), 0);
  std::vector<uint8_t> stored;
  ASSERT_TRUE(h.dev.read_blocks(0, 0, 100, 4, &stored));
  EXPECT_EQ(stored, buf);
  std::memset(h.host.ptr(h.data), 0, 16384);
  d = sg_run(bytes(cdb::read10(100, 4)), Dir::kIn, 2048, h.sgl);
  EXPECT_EQ(d.host(), 0);
  EXPECT_EQ(0, std::memcmp(h.host.ptr(a), &buf[0], 512));
  EXPECT_EQ(0, std::memcmp(h.host.ptr(b), &buf[512], 1024));
  EXPECT_EQ(0, std::memcmp(h.host.ptr(c), &buf[1536], 512));
  // Elements longer than needed are fine (only data_len moves).
  write_sg(h.sgl, {{a, 4096}});
  EXPECT_EQ(sg_run(bytes(cdb::read10(100, 1)), Dir::kIn, 512, h.sgl).host(), 0);
}

TEST_P(Sg, BadListsAreRefused) {
  const uint16_t invparam = raw(hw::HostStatus::kInvparam);
  // Chained (flags set): unsupported.
  write_sg(h.sgl, {{h.data, 512}}, 1);
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, h.sgl).host(), invparam);
  // Too many elements: 129 x 4 bytes do not cover 1 KiB... then the bound trips first.
  std::vector<std::pair<uint64_t, uint32_t>> many(200, {h.data, 4});
  write_sg(h.sgl, many);
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 2)), Dir::kIn, 1024, h.sgl).host(), invparam);
  // 128 elements are fine.
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, h.sgl).host(), 0);
  // An element crossing the list's page boundary.
  const uint64_t edge = h.sgl + 4096 - 8;
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, edge).host(), invparam);
  // The list outside memory.
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, 0x3000).host(), invparam);
  // An element outside memory: a master abort on the data.
  write_sg(h.sgl, {{0x4000, 512}});
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, h.sgl).host(),
            raw(hw::HostStatus::kHahardware));
  // An element whose address + length wraps.
  write_sg(h.sgl, {{~uint64_t{0} - 16, 512}});
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, h.sgl).host(), invparam);
  // Zero-length elements do not count towards the data, the bound still holds.
  std::vector<std::pair<uint64_t, uint32_t>> zeros(130, {h.data, 0});
  write_sg(h.sgl, zeros);
  EXPECT_EQ(sg_run(bytes(cdb::read10(0, 1)), Dir::kIn, 512, h.sgl).host(), invparam);
}

// Free-running indices wrap past 2^32: the driver and the device start just below it.
TEST_P(Scsi, IndicesWrapPast2To32) {
  ASSERT_EQ(h.setup_rings(1, 1, 0xFFFFFFF0u), 0u);
  RingState s = h.dev.ring_state();
  EXPECT_EQ(s.req_cons, 0xFFFFFFF0u);
  EXPECT_EQ(s.cmp_prod, 0xFFFFFFF0u);
  uint64_t done = 0;
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < 7; i++) {
      std::vector<uint8_t> blk(512, uint8_t(round * 7 + i));
      std::memcpy(h.host.ptr(h.data + 512 * i), blk.data(), 512);
      hw::RingReqDesc r = h.request(bytes(cdb::write10(round * 7 + i, 1)), 0, 0, Dir::kOut, 512);
      r.set_data_addr(h.data + 512 * i);
      h.put(r);
    }
    h.kick(true);
    h.host.advance(1'000'000);
    for (auto &c : h.take()) {
      EXPECT_EQ(c.host_status_raw(), 0);
      done++;
    }
  }
  EXPECT_EQ(done, 42u);
  EXPECT_EQ(h.rs_field(4), 0xFFFFFFF0u + 42);  // reqConsIdx wrapped
  EXPECT_EQ(h.rs_field(12), 0xFFFFFFF0u + 42);
  EXPECT_LT(h.rs_field(12), 100u);
  for (int i = 0; i < 42; i++) {
    std::vector<uint8_t> b;
    ASSERT_TRUE(h.dev.read_blocks(0, 0, i, 1, &b));
    EXPECT_EQ(b[0], uint8_t(i));
  }
}

TEST_P(Scsi, RunawayProducerAndBadRingPagesAreContained) {
  // A producer index more than a ring ahead: nothing is taken.
  h.host.w32(h.rs + 0, h.req_prod + 1000);
  h.kick(false);
  EXPECT_EQ(h.dev.counters().requests, 0u);
  EXPECT_EQ(h.dev.counters().req_ring_overruns, 1u);
  h.host.w32(h.rs + 0, h.req_prod);
  // Ring pages outside memory: requests cannot be read, completions cannot be written.
  hw::CmdDescSetupRings d = h.rings_desc(1, 1);
  d.set_req_ring_ppns(0, 0x10);
  d.set_cmp_ring_ppns(0, 0x11);
  std::memset(h.host.ptr(h.rs), 0, 4096);
  ASSERT_EQ(h.command(hw::CommandCode::kSetupRings, d), 0u);
  h.host.w32(h.rs + 0, 3);
  h.kick(false);
  h.host.advance(1'000'000);
  EXPECT_EQ(h.rs_field(4), 3u);  // consumed (and dropped)
  EXPECT_GE(h.dev.counters().dma_errors, 3u);
  EXPECT_EQ(h.rs_field(12), 0u);
}

TEST_P(Scsi, CompletionRingOverflowIsCounted) {
  ASSERT_EQ(h.setup_rings(8, 1), 0u);  // 256 requests, 128 completions
  for (int i = 0; i < 130; i++) {
    h.put_tur();
  }
  h.kick(false);
  h.host.advance(1'000'000);
  EXPECT_EQ(h.dev.counters().completions, 130u);
  EXPECT_EQ(h.dev.counters().cmp_ring_overflows, 2u);
  EXPECT_EQ(h.dev.counters().max_outstanding, 130u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, Scsi, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         [](const auto &info) {
                           return info.param == Profile::kVmware ? "vmware" : "qemu";
                         });
INSTANTIATE_TEST_SUITE_P(Profiles, Sg, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         [](const auto &info) {
                           return info.param == Profile::kVmware ? "vmware" : "qemu";
                         });

}  // namespace
}  // namespace pvscsi_mock::testing

namespace pvscsi_mock::testing {
namespace {

// A request of random bytes, then fields drawn to reach deeper into the device: mostly
// known opcodes, plausible CDB lengths, targets, LUNs, buffers and flags, now and then a
// random SG list in the SG page.
hw::RingReqDesc hostile_request(Harness &h, std::mt19937_64 &rng, uint64_t context) {
  auto pick = [&](uint64_t n) { return uint64_t(rng() % n); };
  const uint8_t ops[] = {0x00, 0x03, 0x08, 0x0A, 0x12, 0x1A, 0x1B, 0x25, 0x28, 0x2A,
                         0x35, 0x5A, 0x88, 0x8A, 0x91, 0x9E, 0xA0, 0xA8, 0xAA, 0xFF};
  hw::RingReqDesc r{};
  for (auto &b : r.raw) {
    b = uint8_t(rng());
  }
  r.set_context(context);
  r.set_cdb(0, ops[pick(sizeof ops)]);
  r.set_cdb_len(uint8_t(pick(4) == 0 ? rng() : 6 + pick(11)));
  r.set_target(uint8_t(pick(5) == 0 ? rng() : pick(4)));
  r.set_bus(uint8_t(pick(10) == 0));
  uint64_t lun = 0;
  for (uint32_t k = 0; k < 8; k++) {
    lun = lun << 8 | (pick(4) == 0 ? uint8_t(rng()) : 0);
  }
  if (pick(2)) {  // byte 1: a small single-level LUN
    lun = (lun & ~(uint64_t(0xFF) << 48)) | uint64_t(pick(3)) << 48;
  }
  r.set_lun(hw::SamLun::from_value(lun));
  const uint64_t addrs[] = {h.data, h.sgl, 0, h.host.end() - 512, rng()};
  r.set_data_addr(addrs[pick(5)]);
  const uint64_t lens[] = {0, 18, 512, 4096, 65536, rng()};
  r.set_data_len(lens[pick(6)]);
  r.set_sense_addr(pick(3) ? h.sense : rng());
  r.set_sense_len(uint32_t(pick(3) ? 18 : rng()));
  r.set_flags(hw::RequestFlag(uint32_t(pick(4) == 0 ? rng() : pick(32))));
  if (pick(4) == 0) {  // a random SG list in the SG page
    for (uint32_t k = 0; k < 256; k++) {
      hw::SgElement e{};
      e.set_addr(pick(2) ? h.data + pick(8) * 4096 : rng())
          .set_length(uint32_t(pick(2) ? 512 : rng()))
          .set_flags(hw::SgFlag(pick(8) == 0 ? 1 : 0));
      h.host.write_mem(h.sgl + 16 * k, e.raw, 16);
    }
  }
  return r;
}

// Random garbage from a hostile driver: every request completes exactly once with some status,
// nothing crashes, nothing outside the buffers the request names is written.
TEST(MockHostile, RandomRequestsCompleteExactlyOnce) {
  for (Profile p : {Profile::kVmware, Profile::kQemu}) {
    Config cfg = Config::for_profile(p);
    cfg.targets = {TargetSpec{0, {LunSpec{0, LunKind::kDisk, 256, 512}, LunSpec{1}}},
                   TargetSpec{1, {LunSpec{0, LunKind::kDisk, 64, 4096}}},
                   TargetSpec{2, {LunSpec{0, LunKind::kCdrom}}}};
    Harness h(cfg);
    ASSERT_EQ(h.setup_rings(4, 4), 0u);
    std::mt19937_64 rng(p == Profile::kVmware ? 1 : 2);
    auto pick = [&](uint64_t n) { return uint64_t(rng() % n); };
    std::set<uint64_t> outstanding;
    uint64_t completed = 0;
    const uint64_t guard = h.host.alloc(4096);
    std::memset(h.host.ptr(guard), 0x3C, 4096);
    for (uint64_t i = 1; i <= 3000; i++) {
      h.put(hostile_request(h, rng, i));
      outstanding.insert(i);
      if (pick(8) == 0 || outstanding.size() >= 100) {
        h.kick(pick(2));
        h.host.advance(1'000'000);
        for (auto &c : h.take()) {
          ASSERT_EQ(outstanding.erase(c.context()), 1u) << "completed twice: " << c.context();
          completed++;
        }
      }
    }
    h.kick(false);
    h.host.advance(1'000'000);
    for (auto &c : h.take()) {
      ASSERT_EQ(outstanding.erase(c.context()), 1u);
      completed++;
    }
    EXPECT_TRUE(outstanding.empty());
    EXPECT_EQ(completed, 3000u);
    EXPECT_EQ(h.host.ptr(guard)[0], 0x3C);
    EXPECT_EQ(h.host.ptr(guard)[4095], 0x3C);
    Counters c = h.dev.counters();
    EXPECT_GT(c.bad_requests, 100u);
    EXPECT_GT(c.scsi_by_opcode[0x28] + c.scsi_by_opcode[0x2A], 100u);
  }
}

}  // namespace
}  // namespace pvscsi_mock::testing
