// Verified I/O through the driver on QEMU: random reads and writes of mixed sizes up to the
// driver's maximum transfer at queue depths up to the ring size, checked on every read and,
// afterwards, against the image files themselves.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "io_engine.h"
#include "pvscsi_hw.h"
#include "qemu_hba.h"

namespace driver_on_qemu {
namespace {

class IoTest : public QemuIntrTest {
 protected:
  // Random I/O over every disk at `depth`, n commands; then everything must be back, no
  // error, and the images must hold what was acknowledged.
  void run(unsigned block_size, unsigned depth, unsigned n, std::vector<unsigned> targets,
           uint64_t above_4g = 0) {
    HbaOptions o;
    o.offer_msi = GetParam();
    if (above_4g != 0) {
      // Almost all of the arena above 4 GiB: rings, SG lists and data buffers get 64-bit
      // addresses, which QEMU must see exactly as the driver wrote them.
      o.ram_bytes = 4ull << 20;  // QEMU needs at least 8 MiB below 4 GiB
      o.ram_above_4g = above_4g;
    }
    for (unsigned t : targets) o.disks.push_back(disk(t, 64, block_size));
    QemuHba *hba = start(o);
    ASSERT_NE(hba, nullptr);
    // With a high arena, fill the low part first so the driver's memory lands above 4 GiB.
    std::vector<std::unique_ptr<fk::client::KBuf>> low_filler;
    while (above_4g != 0) {
      low_filler.emplace_back(new fk::client::KBuf(4096));
      if (fk::va_to_pa(low_filler.back()->data()) >= (1ull << 32)) break;
    }
    ASSERT_EQ(hba->attach(), DDI_SUCCESS);
    EXPECT_EQ(hba->stat("intr_type"), expected_intr_type());
    std::vector<Disk> disks = hba->disks();
    ASSERT_EQ(disks.size(), targets.size());
    // The driver's maximum transfer: one SG list of 128 elements, 127 pages for any alignment.
    int dma_max = scsi_ifgetcap(&disks[0].sd->sd_address, const_cast<char *>("dma-max"), 1);
    ASSERT_EQ(dma_max, 127 * 4096);
    unsigned ring = hba->softc()->req_entries;
    if (above_4g != 0) {
      const pvscsi::pvscsi_softc *sc = hba->softc();
      EXPECT_GE(sc->req_ring.paddr, 1ull << 32);
      EXPECT_GE(sc->cmp_ring.paddr, 1ull << 32);
      EXPECT_GE(sc->rings_state.paddr, 1ull << 32);
      printf("[ figures  ] rings-state at pa 0x%llx, request ring 0x%llx, completion ring 0x%llx\n",
             (unsigned long long)sc->rings_state.paddr, (unsigned long long)sc->req_ring.paddr,
             (unsigned long long)sc->cmp_ring.paddr);
    }
    ASSERT_LE(depth, ring);
    {
      IoEngine io(block_size * 7919 + depth);
      io.set_depth(depth);
      for (const Disk &d : disks) {
        EXPECT_EQ(d.block_size, block_size);
        io.add_disk(d);
      }
      for (unsigned i = 0; i < n; i++) {
        if (i % 500 == 0) {
          // A full queue: QEMU only looks at the ring when kicked, so with the doorbell held
          // back `depth` commands pile up outstanding, then one kick starts them all.
          ASSERT_TRUE(io.wait_idle());
          hba->tap().drop_rw_kicks(true);
          for (unsigned k = 0; k < depth; k++)
            ASSERT_TRUE(io.submit_random(disks[k % disks.size()].target, uint32_t(dma_max), 60));
          EXPECT_EQ(io.outstanding(), depth);
          hba->tap().drop_rw_kicks(false);
          hba->tap().release_kicks();
        }
        ASSERT_TRUE(io.submit_random(disks[i % disks.size()].target, uint32_t(dma_max), 60))
            << "command " << i;
      }
      bool idle = io.wait_idle();
      std::vector<std::string> stuck = io.stuck();
      ASSERT_TRUE(idle) << stuck.size() << " packets never completed, first: " << stuck.front();
      // A read-back pass over everything written.
      for (const Disk &d : disks)
        for (uint64_t lba = 0; lba < d.blocks; lba += 127 * 4096 / block_size)
          ASSERT_TRUE(
              io.submit(d.target, false, lba,
                        uint32_t(std::min<uint64_t>(127 * 4096 / block_size, d.blocks - lba))));
      ASSERT_TRUE(io.wait_idle());
      IoStats s = io.stats();
      for (const auto &e : io.errors()) ADD_FAILURE() << e;
      EXPECT_EQ(s.completed, s.submitted);
      EXPECT_EQ(s.failed, 0u);
      EXPECT_EQ(s.rejected, 0u);
      EXPECT_GE(s.max_outstanding, depth) << "the queue depth was reached";
      auto bad = io.verify();
      for (const auto &m : bad) ADD_FAILURE() << m.image << " @" << m.offset << ": " << m.what;
      EXPECT_GT(io.oracle().blocks(), 1000u);
      if (above_4g != 0) {
        EXPECT_GE(s.high_buffers, s.submitted * 9 / 10) << "data buffers above 4 GiB";
      }
      RecordProperty("commands", int(s.completed));
      RecordProperty("max_outstanding", int(s.max_outstanding));
      RecordProperty("busy", int(s.busy));
      printf(
          "[ figures  ] %llu commands, %.1f MiB, max outstanding %u (ring %u), TRAN_BUSY %llu, "
          "%llu blocks checked on read, %zu blocks in the oracle\n",
          (unsigned long long)s.completed, double(s.bytes) / (1 << 20), s.max_outstanding, ring,
          (unsigned long long)s.busy, (unsigned long long)s.reads_checked, io.oracle().blocks());
    }
    EXPECT_EQ(hba->stat("bogus_values"), 0u);
    EXPECT_EQ(hba->stat("timeouts"), 0u);
  }
};

TEST_P(IoTest, Random512ByteBlocksDepth32) { run(512, 32, 1500, {1, 5, 40}); }

TEST_P(IoTest, Random512ByteBlocksRingDepth) { run(512, 256, 1500, {2, 7}); }

TEST_P(IoTest, Random4096ByteBlocks) { run(4096, 64, 1000, {3, 40}); }

TEST_P(IoTest, RandomWithArenaAboveFourGiB) { run(512, 128, 800, {4, 11}, 256ull << 20); }

// A full ring is the only busy condition: with the doorbell held back, the command after
// ring-size outstanding ones gets TRAN_BUSY (counted, not logged); once QEMU is kicked it goes.
TEST_P(IoTest, FullRingAnswersTranBusyOnly) {
  QemuHba *hba = start_attached_intr(options({disk(8, 32)}));
  ASSERT_NE(hba, nullptr);
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  unsigned ring = hba->softc()->req_entries;
  IoEngine io(31);
  io.set_depth(ring + 16);
  io.add_disk(disks[0]);
  unsigned outstanding_at_busy = 0;
  io.set_busy_hook([&] {
    if (outstanding_at_busy == 0) outstanding_at_busy = io.outstanding();
    hba->tap().drop_rw_kicks(false);
    hba->tap().release_kicks();
  });
  hba->tap().drop_rw_kicks(true);
  for (unsigned i = 0; i < ring + 16; i++)
    ASSERT_TRUE(io.submit(8, i % 2 == 0, uint64_t(i) * 8, 8));
  ASSERT_TRUE(io.wait_idle());
  EXPECT_GE(io.stats().busy, 1u);
  EXPECT_EQ(outstanding_at_busy, ring + 1) << "TRAN_BUSY only once the ring is full";
  EXPECT_GE(hba->stat("busy"), 1u);
  EXPECT_EQ(io.stats().failed, 0u);
  for (const auto &e : io.errors()) ADD_FAILURE() << e;
  EXPECT_TRUE(io.verify().empty());
}

PVIT_INTR_KINDS(IoTest);

}  // namespace
}  // namespace driver_on_qemu
