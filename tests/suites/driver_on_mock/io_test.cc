// The I/O path: verified reads and writes, scatter/gather at the maximum cookie count, a full
// ring, polled I/O, sense data, residuals, doorbells and the request-call threshold.
#include <sys/cmn_err.h>

#include <random>

#include "mock_hba.h"

namespace driver_on_mock {
namespace {

using fk::client::KBuf;
using fk::client::Result;
using pvscsi_mock::Profile;

constexpr uint32_t kMaxXfer = 127 * 4096;  // the driver's dma_attr_maxxfer

class IoTest : public ProfileTest {};

TEST_P(IoTest, WriteThenReadBackBothBlockSizes) {
  for (uint32_t bs : {512u, 4096u}) {
    Hba hba(mock_config(GetParam(), {0}, 1, 4096, bs));
    ASSERT_EQ(hba.attach(), DDI_SUCCESS);
    scsi_device *sd = hba.lun(0, 0);
    ASSERT_NE(sd, nullptr);
    uint64_t blocks;
    uint32_t block_size;
    ASSERT_TRUE(fk::client::read_capacity(sd, &blocks, &block_size).ok());
    EXPECT_EQ(blocks, 4096u);
    EXPECT_EQ(block_size, bs);
    KBuf out(16 * bs), in(16 * bs);
    ShadowDisk::fill(out.data(), out.size(), bs, 0, 100, 7);
    ASSERT_TRUE(fk::client::write(sd, 100, 16, bs, out.data()).ok());
    ASSERT_TRUE(fk::client::read(sd, 100, 16, bs, in.data()).ok());
    EXPECT_TRUE(ShadowDisk::holds(in.data(), in.size(), bs, 0, 100, 7));
    // The device's own copy agrees (an oracle independent of the read path).
    std::vector<uint8_t> stored;
    ASSERT_TRUE(hba.dev().read_blocks(0, 0, 100, 16, &stored));
    EXPECT_EQ(memcmp(stored.data(), out.data(), out.size()), 0);
    // Every command fired its DTrace probes.
    EXPECT_GE(fk::sdt_count("pvscsi__submit"), 2u);
    EXPECT_EQ(fk::sdt_count("pvscsi__submit"), fk::sdt_count("pvscsi__complete"));
    ASSERT_EQ(hba.detach(), DDI_SUCCESS);
    fk::sdt_reset();
  }
}

TEST_P(IoTest, MaximumTransferWithMaximumCookieCount) {
  Hba hba(mock_config(GetParam(), {0}, 1, 65536));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  // Starting mid-page, 127 pages of data span 128 physically scattered pages: 128 cookies,
  // exactly one full SG list.
  KBuf out(kMaxXfer + 8192), in(kMaxXfer + 8192);
  auto mid_page = [](uint8_t *p) { return p + ((512 - (uintptr_t(p) & 4095)) & 4095); };
  uint8_t *o = mid_page(out.data()), *i = mid_page(in.data());
  ShadowDisk::fill(o, kMaxXfer, 512, 0, 0, 11);
  auto before = fk::counters();
  ASSERT_TRUE(fk::client::write(sd, 0, kMaxXfer / 512, 512, o).ok());
  ASSERT_TRUE(fk::client::read(sd, 0, kMaxXfer / 512, 512, i).ok());
  auto after = fk::counters();
  EXPECT_GT(after.dma_binds, before.dma_binds);
  EXPECT_TRUE(ShadowDisk::holds(i, kMaxXfer, 512, 0, 0, 11));
  // Buffers above 4 GiB, 128 cookies: the attributes fit, nothing bounces.
  EXPECT_EQ(after.bounce_copies, before.bounce_copies);
  EXPECT_EQ(after.bounce_binds, before.bounce_binds);
}

TEST_P(IoTest, FullQueueDepthRandomSizesVerified) {
  Hba hba(mock_config(GetParam(), {0, 1}, 1, 1 << 16));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 2);  // 64 slots
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  std::vector<scsi_device *> sds = {hba.lun(0, 0), hba.lun(1, 0)};
  ASSERT_NE(sds[0], nullptr);
  ASSERT_NE(sds[1], nullptr);
  const unsigned kDepth = 64, kOps = 4000;
  std::mt19937_64 rng(42);
  // Each target is written in disjoint regions first, then read back at random.
  struct Region {
    uint64_t lba;
    uint32_t nblocks;
    uint64_t seed;
  };
  std::vector<Region> written[2];
  unsigned errors = 0, mismatches = 0;
  uint64_t busy = 0;
  for (unsigned t = 0; t < 2; t++) {
    fk::client::Queue q(sds[t], kDepth);
    std::vector<std::unique_ptr<KBuf>> bufs;
    uint64_t lba = 0;
    for (unsigned n = 0; n < kOps / 4; n++) {
      uint32_t nblocks = 1 + rng() % 256;
      if (lba + nblocks > (1u << 16)) break;
      bufs.emplace_back(new KBuf(nblocks * 512));
      ShadowDisk::fill(bufs.back()->data(), nblocks * 512, 512, 0, lba, n + 1);
      written[t].push_back({lba, nblocks, n + 1});
      q.write(lba, nblocks, 512, bufs.back()->data(), [&](const Result &r) {
        if (!r.ok()) errors++;
        busy += r.busy_retries;
      });
      lba += nblocks;
    }
    q.wait();
    EXPECT_GE(q.max_outstanding(), kDepth / 2);
    for (unsigned n = 0; n < kOps / 4; n++) {
      const Region &reg = written[t][rng() % written[t].size()];
      auto buf = std::make_shared<KBuf>(reg.nblocks * 512);
      q.read(reg.lba, reg.nblocks, 512, buf->data(), [&, buf, reg](const Result &r) {
        if (!r.ok()) errors++;
        if (!ShadowDisk::holds(buf->data(), reg.nblocks * 512, 512, 0, reg.lba, reg.seed))
          mismatches++;
      });
    }
    q.wait();
  }
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(mismatches, 0u);
  // Contexts never run out: busy happens only with a full ring, and nothing is logged.
  EXPECT_EQ(fk::console_count(CE_WARN), 0u);
  EXPECT_EQ(hba.stat("busy"), busy);
}

TEST_P(IoTest, BusyOnlyWhenTheRingIsFull) {
  Hba hba(mock_config(GetParam(), {0}, 1, 1 << 14));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 1);  // 32 slots
  hba.dev();
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  // A hung target keeps everything outstanding: the 33rd command finds a full ring.
  hba.dev().set_target_hung(0, true);
  fk::client::IoOptions o;
  o.max_busy_retries = 0;
  o.timeout_s = 0;  // no timeout: nothing may escalate while we look
  fk::client::Queue q(sd, 40, o);
  KBuf buf(512);
  std::vector<Result> results;
  for (int i = 0; i < 33; i++)
    q.read(0, 1, 512, buf.data(), [&](const Result &r) { results.push_back(r); });
  q.poll();
  ASSERT_EQ(results.size(), 1u);  // only the 33rd finished: refused with TRAN_BUSY
  EXPECT_EQ(results[0].tran_rv, TRAN_BUSY);
  EXPECT_EQ(hba.stat("busy"), 1u);
  fk::advance(2000000);  // let a polling device pick up requests below its threshold
  EXPECT_EQ(hba.dev().counters().outstanding, 32u);
  // Release the target: all 32 complete, the ring accepts again.
  hba.dev().set_target_hung(0, false);
  fk::client::Result r = fk::client::test_unit_ready(sd);
  q.wait();
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(results.size(), 33u);
  EXPECT_EQ(fk::console_count(CE_WARN), 0u);
}

// A client that moves the clock itself (the fuzz scenario, the soak) must get control back when
// the HBA answers TRAN_BUSY: the HBA may need time (its watchdog) to make room, and nobody else
// moves the clock. Found by fuzzing: the queue blocked waiting for a completion forever.
TEST_P(IoTest, BusyCommandWaitsInTheQueueWhenTheCallerMovesTheClock) {
  Hba hba(mock_config(GetParam(), {0}, 1, 1 << 14));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 1);  // 32 slots
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().set_target_hung(0, true);
  fk::client::IoOptions o;
  o.drive_clock = false;
  o.timeout_s = 0;  // no timeout: nothing may escalate while we look
  fk::client::Queue q(sd, 40, o);
  KBuf buf(512);
  std::vector<Result> results;
  for (int i = 0; i < 33; i++)  // the 33rd finds the ring full, and read() returns
    q.read(0, 1, 512, buf.data(), [&](const Result &r) { results.push_back(r); });
  EXPECT_EQ(q.outstanding(), 33u);
  EXPECT_EQ(q.poll(), 0u) << "the ring is still full: the busy command waits";
  EXPECT_GE(hba.stat("busy"), 2u) << "poll() transports it again";
  hba.dev().set_target_hung(0, false);
  for (int i = 0; i < 1000 && results.size() < 33; i++) {
    fk::advance(1000000);
    fk::drain();
    q.poll();
  }
  ASSERT_EQ(results.size(), 33u);
  unsigned busy_retries = 0;
  for (const Result &r : results) {
    EXPECT_TRUE(r.ok()) << r.describe();
    busy_retries += r.busy_retries;
  }
  EXPECT_GE(busy_retries, 2u);
}

// sd retries a unit attention after a delay. A caller that moves the clock itself gets the
// retry from its own poll(), as a busy command: while it waits nobody may move the clock, and
// a retry left on a timeout(9F) would never come (the fuzz input
// regress-ua-retry-waits-for-the-clock hung so).
TEST_P(IoTest, UnitAttentionRetryComesFromPollWhenTheCallerMovesTheClock) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_EQ(scsi_reset(&sd->sd_address, RESET_TARGET), 1);  // a POWER ON unit attention
  fk::client::IoOptions o;
  o.drive_clock = false;
  fk::client::Queue q(sd, 1, o);
  KBuf buf(512);
  std::vector<Result> results;
  q.read(0, 1, 512, buf.data(), [&](const Result &r) { results.push_back(r); });
  // The device needs a little virtual time (its interrupt coalescing); sd's retry delay is
  // 100 ms: the retry must come from poll(), well before that delay would have passed.
  int64_t start = fk::now_ns();
  for (int i = 0; i < 50 && results.empty(); i++) {
    fk::advance(1000000);
    fk::drain();
    q.poll();
  }
  bool before_the_delay = !results.empty() && fk::now_ns() - start < 100000000;
  for (int i = 0; i < 50 && results.empty(); i++) {  // let a late retry finish, to judge it
    fk::advance(10000000);
    fk::drain();
    q.poll();
  }
  EXPECT_TRUE(before_the_delay) << "the retry waited for sd's delay on the clock";
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].ok()) << results[0].describe();
  EXPECT_EQ(results[0].ua_retries, 1u);
}

// The driver syncs each batch of new completion entries at once: one ddi_dma_sync, or two when
// the batch runs past the ring's end. A batch that wraps is read from both syncs (with the sync
// audit's non-coherent memory, a missed sync reads last lap's entries: bogus contexts).
TEST_P(IoTest, CompletionBatchThatWrapsTheRingIsSynced) {
  Hba hba(mock_config(GetParam(), {0}, 1, 1 << 14));
  fk::set_prop_int(hba.dip(), "pvscsi-request-ring-pages", 1);  // 32 slots, 128 completions
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  const unsigned kBatch = 20, kCmpEntries = 128;
  KBuf data(kBatch * 512);
  ShadowDisk::fill(data.data(), kBatch * 512, 512, 0, 0, 7);
  ASSERT_TRUE(fk::client::write(sd, 0, kBatch, 512, data.data()).ok());
  // Every command so far has completed: the next completion lands at commands % 128. Move it
  // to 10 entries before the ring's end.
  while ((hba.stat("commands") + 10) % kCmpEntries != 0)
    ASSERT_TRUE(fk::client::test_unit_ready(sd).ok());
  uint64_t bogus = hba.stat("bogus_values");
  // A hung target holds the whole batch; released, it completes them together.
  hba.dev().set_target_hung(0, true);
  fk::client::IoOptions o;
  o.timeout_s = 5;  // a missed completion ends in a timeout and a reset, not a hang
  fk::client::Queue q(sd, kBatch, o);
  std::vector<std::unique_ptr<KBuf>> bufs;
  unsigned ok = 0;
  for (unsigned i = 0; i < kBatch; i++) {
    bufs.emplace_back(new KBuf(512));
    KBuf *b = bufs.back().get();
    q.read(i, 1, 512, b->data(), [&, b, i](const Result &r) {
      ok += r.ok() && ShadowDisk::holds(b->data(), 512, 512, 0, i, 7) ? 1 : 0;
    });
  }
  fk::advance(2000000);  // a polling device picks up requests below its threshold
  ASSERT_EQ(hba.dev().counters().outstanding, kBatch);
  uint64_t interrupts = hba.stat("interrupts");
  hba.dev().set_target_hung(0, false);
  q.wait();
  EXPECT_EQ(ok, kBatch);
  EXPECT_EQ(hba.stat("bogus_values"), bogus);
  EXPECT_EQ(hba.stat("timeouts"), 0u);
  // Fewer interrupts than commands: some batch held several entries, one of them the wrap.
  EXPECT_LT(hba.stat("interrupts") - interrupts, uint64_t(kBatch));
}

TEST_P(IoTest, PolledIoWithoutInterrupts) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().drop_next_interrupts(1000000);
  // FLAG_NOINTR reaches the HBA only while dumping (or from interrupt context): illumos's
  // scsi_transport sends it interrupt-driven from an ordinary thread.
  fk::scsa::set_dump_mode(true);
  fk::client::IoOptions polled;
  polled.polled = true;
  polled.drive_clock = false;
  KBuf out(4096), in(4096);
  ShadowDisk::fill(out.data(), 4096, 512, 0, 8, 3);
  uint64_t intr = hba.stat("interrupts");
  uint64_t converted = fk::scsa::nointr_converted();
  ASSERT_TRUE(fk::client::write(sd, 8, 8, 512, out.data(), polled).ok());
  ASSERT_TRUE(fk::client::read(sd, 8, 8, 512, in.data(), polled).ok());
  // In dump mode a packet without FLAG_NOINTR is sent polled too.
  polled.polled = false;
  ASSERT_TRUE(fk::client::read(sd, 8, 8, 512, in.data(), polled).ok());
  fk::scsa::set_dump_mode(false);
  EXPECT_TRUE(ShadowDisk::holds(in.data(), 4096, 512, 0, 8, 3));
  EXPECT_EQ(hba.stat("interrupts"), intr);
  EXPECT_EQ(fk::scsa::nointr_converted(), converted);
  hba.dev().drop_next_interrupts(0);
}

TEST_P(IoTest, CheckConditionDeliversSense) {
  Hba hba(mock_config(GetParam(), {0}, 1, 1024));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  KBuf buf(512);
  Result r = fk::client::read(sd, 5000, 1, 512, buf.data());  // beyond capacity
  EXPECT_EQ(r.reason, CMD_CMPLT);
  EXPECT_EQ(r.status, STATUS_CHECK);
  EXPECT_TRUE(r.state & STATE_ARQ_DONE);
  EXPECT_EQ(r.sense.key, KEY_ILLEGAL_REQUEST);
  EXPECT_EQ(r.sense.asc, 0x21);  // LOGICAL BLOCK ADDRESS OUT OF RANGE
  // The device moved no data (dataLen 0): none is claimed, all of it is residual.
  EXPECT_FALSE(r.state & STATE_XFERRED_DATA);
  EXPECT_EQ(r.resid, 512u);
}

TEST_P(IoTest, TransportErrorsMapAndTransferNothing) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  KBuf buf(4096);
  fk::client::IoOptions o;
  o.retry_count = 0;  // the driver's outcome, not sd's recovery
  o.reset_on_error = false;
  using HS = pvscsi::hw::HostStatus;
  // BADMSG is a message other than COMMAND COMPLETE: CMD_BADMSG (scsi_pkt.h), as the 2022
  // driver maps it; the others keep their reasons. None moved data.
  for (auto [host, reason] : std::vector<std::pair<HS, int>>{{HS::kBadmsg, CMD_BADMSG},
                                                             {HS::kHahardware, CMD_TRAN_ERR},
                                                             {HS::kTagreject, CMD_TAG_REJECT}}) {
    hba.dev().fail_next_requests(1, pvscsi::hw::to_raw(host), 0);
    Result r = fk::client::read(sd, 0, 8, 512, buf.data(), o);
    EXPECT_EQ(r.reason, reason) << "host status " << int(host);
    EXPECT_EQ(r.resid, 4096u) << "host status " << int(host);
    EXPECT_FALSE(r.state & STATE_XFERRED_DATA);
  }
  EXPECT_TRUE(fk::client::read(sd, 0, 8, 512, buf.data()).ok());
}

TEST_P(IoTest, QueueTagsFollowThePacketFlags) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  // FLAG_HEAD (head of the HBA's queue) and FLAG_HTAG both mean the head-of-queue tag 0x21;
  // FLAG_OTAG ordered 0x22; FLAG_STAG and no flag simple 0x20.
  for (auto [flags, tag] : std::vector<std::pair<uint_t, unsigned>>{
           {0, 0x20}, {FLAG_STAG, 0x20}, {FLAG_OTAG, 0x22}, {FLAG_HTAG, 0x21}, {FLAG_HEAD, 0x21}}) {
    fk::client::IoOptions o;
    o.flags = flags;
    auto before = hba.dev().counters().by_tag[tag];
    EXPECT_TRUE(fk::client::test_unit_ready(sd, o).ok());
    EXPECT_EQ(hba.dev().counters().by_tag[tag], before + 1) << "pkt_flags 0x" << std::hex << flags;
  }
}

TEST_P(IoTest, BidirectionalPacketIsRefused) {
  // One request moves data one way (the direction flags exclude each other): a packet set up
  // for both directions is a bad packet, as the 2022 driver's tran_start says.
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  scsi_pkt *pkt = scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0,
                                int(sizeof(struct scsi_arq_status)), 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  memset(pkt->pkt_cdbp, 0, CDB_GROUP0);  // TEST UNIT READY
  pkt->pkt_dma_flags |= DDI_DMA_READ | DDI_DMA_WRITE;
  pkt->pkt_flags |= FLAG_NOINTR;
  pkt->pkt_time = 5;
  EXPECT_EQ(scsi_transport(pkt), TRAN_BADPKT);
  scsi_destroy_pkt(pkt);
  EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
}

TEST_P(IoTest, ShortTransfersAndDataLenZero) {
  // INQUIRY with a large allocation length returns less: QEMU reports dataLen 0 (unknown, no
  // residual), VMware the bytes moved (a residual). Neither is an error.
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  KBuf buf(255);
  fk::client::Cdb cdb = fk::client::cdb::inquiry(255);
  Result r = fk::client::command(sd, cdb, buf.data(), 255, true);
  EXPECT_TRUE(r.ok()) << r.describe();
  if (GetParam() == Profile::kVmware)
    EXPECT_GT(r.resid, 0u);
  else
    EXPECT_EQ(r.resid, 0u);
  EXPECT_EQ(buf.data()[0] & 0x1f, 0);  // a direct-access device
}

TEST_P(IoTest, HighLunsUseTheRightAddressing) {
  auto cfg = mock_config(GetParam(), {2});
  pvscsi_mock::LunSpec l5;
  l5.lun = 5;
  cfg.targets[0].luns.push_back(l5);
  if (GetParam() == Profile::kVmware) {
    pvscsi_mock::LunSpec l300;
    l300.lun = 300;  // flat addressing
    cfg.targets[0].luns.push_back(l300);
  }
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  // illumos's 64-bit LUNs: a plain number below 256, the SAM bytes above (flat space 300).
  std::vector<std::pair<uint64_t, uint16_t>> luns = {{0, 0}, {5, 5}};
  if (GetParam() == Profile::kVmware) luns.push_back({0x412c000000000000ull, 300});
  for (auto [lun64, l] : luns) {
    scsi_device *sd = hba.lun(2, lun64);
    ASSERT_NE(sd, nullptr) << "lun " << l;
    KBuf out(512), in(512);
    ShadowDisk::fill(out.data(), 512, 512, 0, 1, l + 1);
    ASSERT_TRUE(fk::client::write(sd, 1, 1, 512, out.data()).ok());
    ASSERT_TRUE(fk::client::read(sd, 1, 1, 512, in.data()).ok());
    EXPECT_TRUE(ShadowDisk::holds(in.data(), 512, 512, 0, 1, l + 1));
    std::vector<uint8_t> stored;
    ASSERT_TRUE(hba.dev().read_blocks(2, l, 1, 1, &stored));
    EXPECT_EQ(memcmp(stored.data(), out.data(), 512), 0) << "lun " << l;
  }
}

TEST_F(DriverTest, LunsUpToFourteenBitsRoundTrip) {
  // illumos keeps a single-level peripheral-addressed LUN, bus identifier included, as
  // lun64 = bytes 0-1 (devid_scsi.c scsi_lun_to_lun64), and scsi_lun64_to_lun turns every
  // lun64 up to 0x3FFF back into bytes 0-1. A target reporting LUNs 256.. that way must be
  // addressed with exactly those bytes, not with the number in bytes 6-7.
  auto cfg = mock_config(Profile::kVmware, {2});
  cfg.peripheral_bus_luns = true;
  const std::vector<uint16_t> numbers = {5, 255, 256, 300, 0x3FFF};
  for (uint16_t n : numbers) {
    pvscsi_mock::LunSpec l;
    l.lun = n;
    l.blocks = 64;
    cfg.targets[0].luns.push_back(l);
  }
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  for (uint16_t n :
       {uint16_t(0), uint16_t(5), uint16_t(255), uint16_t(256), uint16_t(300), uint16_t(0x3FFF)}) {
    scsi_device *sd = hba.lun(2, n);  // lun64 == the LUN number
    ASSERT_NE(sd, nullptr) << "lun64 " << n << " not online";
    KBuf out(512), in(512);
    ShadowDisk::fill(out.data(), 512, 512, 0, 3, n + 1);
    ASSERT_TRUE(fk::client::write(sd, 3, 1, 512, out.data()).ok()) << "lun64 " << n;
    ASSERT_TRUE(fk::client::read(sd, 3, 1, 512, in.data()).ok()) << "lun64 " << n;
    EXPECT_TRUE(ShadowDisk::holds(in.data(), 512, 512, 0, 3, n + 1));
    std::vector<uint8_t> stored;
    ASSERT_TRUE(hba.dev().read_blocks(2, n, 3, 1, &stored));
    EXPECT_EQ(memcmp(stored.data(), out.data(), 512), 0) << "lun64 " << n << " landed elsewhere";
  }
}

INSTANTIATE_TEST_SUITE_P(Profiles, IoTest, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         profile_name);

class DoorbellTest : public DriverTest {};

TEST_F(DoorbellTest, ThresholdSavesDoorbellsUnderLoadAndNeverStrandsARequest) {
  auto cfg = mock_config(Profile::kVmware, {0}, 1, 1 << 14);
  cfg.latency_ns = 200000;  // requests stay in the device, which polls while busy
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().reset_counters();
  {
    fk::client::Queue q(sd, 32);
    KBuf buf(4096);
    unsigned errors = 0;
    for (int i = 0; i < 2000; i++)
      q.read(uint64_t(i % 1000) * 8, 8, 512, buf.data(),
             [&](const Result &r) { errors += !r.ok(); });
    q.wait();
    EXPECT_EQ(errors, 0u);
  }
  auto c = hba.dev().counters();
  EXPECT_LT(c.kicks_rw, 2000u / 5) << "the threshold should save most doorbells at depth 32";
  EXPECT_GT(hba.stat("kicks_saved"), 1000u);
  // Depth 1: the device is idle, its threshold is 1, every request is kicked at once.
  hba.dev().reset_counters();
  KBuf one(512);
  for (int i = 0; i < 50; i++) ASSERT_TRUE(fk::client::read(sd, 0, 1, 512, one.data()).ok());
  EXPECT_EQ(hba.dev().counters().kicks_rw, 50u);
}

TEST_F(DoorbellTest, WithoutThresholdEveryReadWriteKicks) {
  Hba hba(mock_config(Profile::kQemu, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().reset_counters();
  KBuf buf(512);
  for (int i = 0; i < 20; i++) ASSERT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
  ASSERT_TRUE(fk::client::test_unit_ready(sd).ok());
  auto c = hba.dev().counters();
  EXPECT_EQ(c.kicks_rw, 20u);
  EXPECT_EQ(c.kicks_non_rw, 1u);
}

}  // namespace
}  // namespace driver_on_mock
