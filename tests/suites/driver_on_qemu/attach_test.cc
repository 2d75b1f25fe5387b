// Attach, discovery, feature probes and QEMU's quirks: the unmodified driver on QEMU's pvscsi.
#include <gtest/gtest.h>

#include <atomic>
#include <ostream>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "cdb.h"
#include "client.h"
#include "io_engine.h"
#include "pvscsi_hw.h"
#include "qemu_hba.h"

namespace driver_on_qemu {
namespace {

namespace hw = pvscsi::hw;

fk::client::IoOptions sync_io() {
  fk::client::IoOptions o;
  o.drive_clock = false;
  o.timeout_s = 10;
  return o;
}

std::set<unsigned> targets_of(const std::vector<Disk> &disks) {
  std::set<unsigned> out;
  for (const Disk &d : disks) out.insert(d.target);
  return out;
}

// ---- attach and detach with 1 to 8 disks on sparse targets ----

struct Topology {
  const char *name;
  std::vector<unsigned> targets;
};

// Printed in test listings (and so in CTest names): the name, not the object's bytes.
void PrintTo(const Topology &t, std::ostream *os) { *os << t.name; }

class AttachTest : public QemuTest, public ::testing::WithParamInterface<Topology> {};

TEST_P(AttachTest, AttachDiscoverDetachThreeTimes) {
  const Topology &topo = GetParam();
  HbaOptions o;
  for (unsigned t : topo.targets) o.disks.push_back(disk(t, 8, t % 3 == 0 ? 4096 : 512));
  QemuHba *hba = start(o);
  ASSERT_NE(hba, nullptr);
  std::set<unsigned> want(topo.targets.begin(), topo.targets.end());
  unsigned highest = *want.rbegin();
  for (int round = 0; round < 3; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_EQ(hba->attach(), DDI_SUCCESS);
    std::vector<Disk> disks = hba->disks();
    EXPECT_EQ(targets_of(disks), want);
    for (const Disk &d : disks) {
      EXPECT_EQ(d.blocks * d.block_size, 8ull << 20) << "target " << d.target;
      EXPECT_EQ(d.block_size, d.target % 3 == 0 ? 4096u : 512u) << "target " << d.target;
      fk::client::Inquiry inq;
      fk::client::Result r = fk::client::inquiry(d.sd, &inq, sync_io());
      EXPECT_TRUE(r.ok()) << "INQUIRY of target " << d.target << ": " << r.describe();
      EXPECT_EQ(inq.dtype, 0) << "target " << d.target;
      EXPECT_EQ(inq.vendor, "QEMU");
      // One small write and read back through the driver on every disk.
      fk::client::KBuf buf(d.block_size), back(d.block_size);
      fk::client::ShadowDisk::pattern(buf.data(), d.block_size, d.target, 7, uint32_t(round + 1));
      EXPECT_TRUE(fk::client::write(d.sd, 7, 1, d.block_size, buf.data(), sync_io()).ok());
      EXPECT_TRUE(fk::client::read(d.sd, 7, 1, d.block_size, back.data(), sync_io()).ok());
      EXPECT_EQ(memcmp(buf.data(), back.data(), d.block_size), 0) << "target " << d.target;
    }
    // No CONFIG on QEMU: 16 targets assumed, raised by what discovery found beyond.
    const pvscsi::pvscsi_softc *sc = hba->softc();
    ASSERT_NE(sc, nullptr);
    EXPECT_EQ(sc->max_targets, highest >= 16 ? highest + 1 : 16u);
    EXPECT_EQ(hba->stat("bogus_values"), 0u);
    ASSERT_EQ(hba->detach(), DDI_SUCCESS);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sparse, AttachTest,
    ::testing::Values(Topology{"one_disk_target_5", {5}},
                      Topology{"three_disks_up_to_40", {1, 6, 40}},
                      Topology{"eight_disks_up_to_40", {1, 2, 3, 9, 15, 16, 33, 40}}),
    [](const ::testing::TestParamInfo<Topology> &i) { return std::string(i.param.name); });

// ---- feature probes as QEMU dictates ----

class ProbeTest : public QemuTest {};

const CommandRecord *find_command(const std::vector<CommandRecord> &cmds, hw::CommandCode code,
                                  bool with_data) {
  for (const auto &c : cmds)
    if (c.code == hw::to_raw(code) && (c.dwords > 0) == with_data) return &c;
  return nullptr;
}

TEST_F(ProbeTest, NoThresholdNoConfigMessageRingOn) {
  QemuHba *hba = start_attached({disk(2)});
  ASSERT_NE(hba, nullptr);
  const pvscsi::pvscsi_softc *sc = hba->softc();
  ASSERT_NE(sc, nullptr);
  EXPECT_TRUE(sc->have_msg_ring);
  EXPECT_FALSE(sc->have_threshold);
  EXPECT_FALSE(sc->use_threshold);
  EXPECT_EQ(sc->max_targets, hw::kDefaultTargets) << "no CONFIG: 16 targets assumed";
  EXPECT_EQ(sc->probe_limit, hw::kMaxTargetsQemu);
  // No MSI-X on QEMU: the driver's MSI-X -> MSI -> FIXED fallback lands on MSI.
  EXPECT_EQ(sc->intr_type, DDI_INTR_TYPE_MSI);
  EXPECT_EQ(hba->stat("intr_type"), uint64_t(DDI_INTR_TYPE_MSI));

  // What the driver sent and what QEMU answered, from the register traffic.
  std::vector<CommandRecord> cmds = hba->tap().commands();
  const CommandRecord *threshold =
      find_command(cmds, hw::CommandCode::kSetupReqCallThreshold, false);
  ASSERT_NE(threshold, nullptr) << "the threshold was not probed";
  EXPECT_EQ(threshold->status, hw::kCommandStatusFailed);
  EXPECT_EQ(find_command(cmds, hw::CommandCode::kSetupReqCallThreshold, true), nullptr)
      << "SETUP_REQCALLTHRESHOLD sent although QEMU does not implement it";
  // CONFIG answers -2 to the probe (QEMU knows the code) and fails after its descriptor.
  const CommandRecord *config = find_command(cmds, hw::CommandCode::kConfig, true);
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->dwords, hw::CmdConfig::kDwords);
  EXPECT_EQ(config->status, hw::kCommandStatusFailed);
  // SETUP_MSG_RING succeeds with QEMU's status 34 and the driver keeps the ring.
  const CommandRecord *msg = find_command(cmds, hw::CommandCode::kSetupMsgRing, true);
  ASSERT_NE(msg, nullptr);
  EXPECT_EQ(msg->dwords, hw::CmdSetupMsgRing::kDwords);
  EXPECT_EQ(msg->status, 34u);
  EXPECT_TRUE(hba->tap().msg_ring_set_up());

  // Doorbells: every READ/WRITE is kicked (no threshold to save them).
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  uint64_t kicks = hba->stat("kicks_rw");
  fk::client::KBuf buf(4096);
  for (int i = 0; i < 10; i++)
    ASSERT_TRUE(fk::client::read(disks[0].sd, uint64_t(i) * 8, 8, 512, buf.data(), sync_io()).ok());
  EXPECT_EQ(hba->stat("kicks_rw") - kicks, 10u);
  EXPECT_EQ(hba->stat("kicks_saved"), 0u);
  EXPECT_EQ(hba->stat("bogus_values"), 0u);
  EXPECT_EQ(fk::console_count(CE_WARN), 0u);
}

// Register accesses per I/O (each a VM exit on a hypervisor): with MSI the I/O path reads no
// register at all and writes one doorbell per request; with FIXED (QEMU withholding MSI, the
// driver falling back) each interrupt adds an INTR_STATUS read and its write-back.
void register_accesses_per_io(QemuHba *hba, bool msi) {
  ASSERT_NE(hba, nullptr);
  ASSERT_EQ(hba->attach(), DDI_SUCCESS);
  EXPECT_EQ(hba->stat("intr_type"), uint64_t(msi ? DDI_INTR_TYPE_MSI : DDI_INTR_TYPE_FIXED));
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  fk::client::KBuf buf(4096);
  constexpr unsigned kIos = 10;
  fk::Counters before = fk::counters();
  uint64_t intrs = hba->stat("interrupts");
  for (unsigned i = 0; i < kIos; i++)
    ASSERT_TRUE(fk::client::read(disks[0].sd, uint64_t(i) * 8, 8, 512, buf.data(), sync_io()).ok());
  fk::Counters after = fk::counters();
  uint64_t reads = after.reg_reads - before.reg_reads;
  uint64_t writes = after.reg_writes - before.reg_writes;
  uint64_t interrupts = hba->stat("interrupts") - intrs;
  EXPECT_GE(interrupts, uint64_t(kIos));
  if (msi) {
    EXPECT_EQ(reads, 0u);
    EXPECT_EQ(writes, uint64_t(kIos));  // the doorbell
  } else {
    EXPECT_EQ(reads, interrupts);                    // INTR_STATUS
    EXPECT_EQ(writes, uint64_t(kIos) + interrupts);  // doorbell + acknowledge
  }
}

TEST_F(ProbeTest, RegisterAccessesPerIoWithMsi) {
  HbaOptions o;
  o.disks = {disk(2)};
  register_accesses_per_io(start(o), true);
}

TEST_F(ProbeTest, RegisterAccessesPerIoWithFixed) {
  HbaOptions o;
  o.disks = {disk(2)};
  o.offer_msi = false;
  register_accesses_per_io(start(o), false);
}

// MSI delivery under load: the backend's qtest reader looks at the message word (no thread of
// its own), each look that finds it set is one delivery, and the driver's handler runs at most
// once per delivery (messages during a running handler are one pending interrupt). The I/O
// path reads no register.
TEST_F(ProbeTest, MsiUnderLoadOneHandlerRunPerDeliveryAtMost) {
  HbaOptions o;
  o.disks = {disk(2, 16)};
  QemuHba *hba = start_attached(o);
  ASSERT_NE(hba, nullptr);
  ASSERT_EQ(hba->stat("intr_type"), uint64_t(DDI_INTR_TYPE_MSI));
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  const pvscsi_qemu::MsiStats m0 = hba->qemu().msi_stats();
  const uint64_t intrs = hba->stat("interrupts");
  const fk::Counters before = fk::counters();
  IoEngine io(2026);
  io.set_depth(32);
  io.add_disk(disks[0]);
  constexpr unsigned kIos = 600;
  for (unsigned i = 0; i < kIos; i++) ASSERT_TRUE(io.submit_random(disks[0].target, 4096, 50));
  ASSERT_TRUE(io.wait_idle());
  EXPECT_EQ(io.stats().failed, 0u);
  EXPECT_EQ(io.stats().completed, uint64_t(kIos));
  const pvscsi_qemu::MsiStats m1 = hba->qemu().msi_stats();
  const uint64_t messages = m1.messages - m0.messages;
  const uint64_t handler_runs = hba->stat("interrupts") - intrs;
  EXPECT_GT(messages, 0u);
  EXPECT_LE(handler_runs, messages);
  EXPECT_GE(m1.looks - m0.looks, messages);
  EXPECT_EQ(fk::counters().reg_reads - before.reg_reads, 0u);
  printf(
      "[ figures  ] %u I/Os at depth 32: %llu MSI deliveries, %llu handler runs, %llu looks "
      "(%llu after an interval)\n",
      kIos, (unsigned long long)messages, (unsigned long long)handler_runs,
      (unsigned long long)(m1.looks - m0.looks),
      (unsigned long long)(m1.timed_looks - m0.timed_looks));
}

// QEMU withholding MSI: the driver falls back to FIXED and works.
TEST_F(ProbeTest, WithheldMsiFallsBackToFixed) {
  HbaOptions o;
  o.disks = {disk(2)};
  o.offer_msi = false;
  QemuHba *hba = start_attached(o);
  ASSERT_NE(hba, nullptr);
  EXPECT_EQ(hba->softc()->intr_type, DDI_INTR_TYPE_FIXED);
  EXPECT_EQ(hba->stat("intr_type"), uint64_t(DDI_INTR_TYPE_FIXED));
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  fk::client::KBuf buf(512), back(512);
  fk::client::ShadowDisk::pattern(buf.data(), 512, 2, 3, 1);
  EXPECT_TRUE(fk::client::write(disks[0].sd, 3, 1, 512, buf.data(), sync_io()).ok());
  EXPECT_TRUE(fk::client::read(disks[0].sd, 3, 1, 512, back.data(), sync_io()).ok());
  EXPECT_EQ(memcmp(buf.data(), back.data(), 512), 0);
}

TEST_F(ProbeTest, DiscoveryBeyondSixteenRaisesMaxTargets) {
  QemuHba *hba = start_attached({disk(3), disk(40)});
  ASSERT_NE(hba, nullptr);
  EXPECT_EQ(targets_of(hba->disks()), (std::set<unsigned>{3, 40}));
  EXPECT_EQ(hba->softc()->max_targets, 41u);
}

// ---- QEMU's quirks on ordinary commands: dataLen 0, DATARUN on short transfers ----

TEST_F(ProbeTest, InquiryAndReportLunsDespiteDataLenZeroAndDatarun) {
  QemuHba *hba = start_attached({disk(4)});
  ASSERT_NE(hba, nullptr);
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  scsi_device *sd = disks[0].sd;
  for (uint16_t alloc : {36, 96, 255, 4096}) {
    fk::client::KBuf b(alloc);
    fk::client::Result r =
        fk::client::command(sd, fk::client::cdb::inquiry(alloc), b.data(), alloc, true, sync_io());
    EXPECT_TRUE(r.ok()) << "INQUIRY " << alloc << ": " << r.describe();
    // QEMU's completion dataLen is always 0 ("unknown"): no residual is invented.
    EXPECT_EQ(r.resid, 0u) << "INQUIRY " << alloc;
    fk::client::Inquiry inq;
    std::string err;
    EXPECT_TRUE(fk::client::parse_inquiry(b.data(), alloc, &inq, &err)) << err;
    EXPECT_EQ(inq.vendor, "QEMU");
  }
  // REPORT LUNS into 4 KiB: QEMU moves 16 bytes and answers DATARUN + GOOD.
  fk::client::KBuf b(4096);
  fk::client::Result r =
      fk::client::command(sd, fk::client::cdb::report_luns(4096), b.data(), 4096, true, sync_io());
  EXPECT_TRUE(r.ok()) << "REPORT LUNS: " << r.describe();
  uint32_t list_len = uint32_t(b.data()[0]) << 24 | uint32_t(b.data()[1]) << 16 |
                      uint32_t(b.data()[2]) << 8 | b.data()[3];
  EXPECT_EQ(list_len, 8u) << "one LUN (LUN 0)";
  for (int i = 8; i < 16; i++) EXPECT_EQ(b.data()[i], 0) << "LUN 0";
  // A read longer than the command asks for: DATARUN, the data still arrives.
  fk::client::KBuf wbuf(512);
  fk::client::ShadowDisk::pattern(wbuf.data(), 512, 4, 3, 9);
  ASSERT_TRUE(fk::client::write(sd, 3, 1, 512, wbuf.data(), sync_io()).ok());
  fk::client::KBuf rbuf(1024);
  r = fk::client::command(sd, fk::client::cdb::read(3, 1), rbuf.data(), 1024, true, sync_io());
  EXPECT_TRUE(r.ok()) << "short READ: " << r.describe();
  EXPECT_EQ(memcmp(rbuf.data(), wbuf.data(), 512), 0);
  EXPECT_EQ(hba->stat("bogus_values"), 0u);
  EXPECT_EQ(fk::console_count(CE_WARN), 0u);
}

// ---- cleanup ----

class CleanupTest : public QemuTest {};

TEST_F(CleanupTest, NothingLeftBehind) {
  HbaOptions o;
  o.disks = {disk(1), disk(2)};
  QemuHba *hba = start(o);
  ASSERT_NE(hba, nullptr);
  std::string shm = hba->shm_path, dir = hba->run_dir;
  pid_t pid = hba->qemu_pid;
  EXPECT_EQ(access(shm.c_str(), F_OK), 0) << "the shared RAM file exists while QEMU runs";
  EXPECT_EQ(access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_FALSE(qemu_leftovers().empty()) << "the leftover check sees a running QEMU";
  ASSERT_EQ(hba->attach(), DDI_SUCCESS);
  {
    IoEngine io;
    for (const Disk &d : hba->disks()) io.add_disk(d);
    for (int i = 0; i < 200; i++) ASSERT_TRUE(io.submit_random(1 + i % 2, 65536));
    ASSERT_TRUE(io.wait_idle());
    EXPECT_TRUE(io.errors().empty());
  }
  finish();
  EXPECT_NE(access(shm.c_str(), F_OK), 0) << shm;
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir;
  EXPECT_NE(kill(pid, 0), 0) << "QEMU still running";
  std::vector<std::string> left = qemu_leftovers();
  EXPECT_TRUE(left.empty()) << left.front();
}

// ---- regression: the kernel's sync audit with a device that writes memory concurrently ----

// QEMU writes guest RAM (the arena) from its own process at any moment, unlike the mock, which
// goes through DeviceHost::dma_write. The sync audit read each device byte more than once per
// ddi_dma_sync(FORCPU) (compare, copy to the CPU view, copy to the last-synced view); a byte
// QEMU changed in between left the two views different, later reported as "ddi_dma_sync(FORCPU)
// discards 1 byte(s) the driver wrote" (seen at cmpProdIdx of the rings-state page under hot
// add). Here a thread plays the device on bytes the driver never touches (the rings-state
// padding) while this thread syncs FORKERNEL: no violation may come of it.
class KernelRegressionTest : public QemuTest {};

TEST_F(KernelRegressionTest, SyncAuditToleratesConcurrentDeviceWrites) {
  QemuHba *hba = start_attached({disk(1)});
  ASSERT_NE(hba, nullptr);
  const pvscsi::pvscsi_softc *sc = hba->softc();
  ASSERT_NE(sc, nullptr);
  uint8_t *dev = hba->qemu().guest_ptr(sc->rings_state.paddr, hw::kPageSize);
  ASSERT_NE(dev, nullptr);
  volatile uint8_t *pad = dev + hw::RingsState::kPad0Offset;
  std::atomic<bool> stop{false};
  std::thread device([&] {
    for (uint8_t v = 0; !stop.load(std::memory_order_relaxed); v++)
      for (int i = 0; i < 16; i++) pad[i] = uint8_t(v + i);
  });
  for (int i = 0; i < 200000 && fk::violation_count("sync") == 0; i++)
    (void)ddi_dma_sync(sc->rings_state.dmah, 0, 64, DDI_DMA_SYNC_FORKERNEL);
  stop = true;
  device.join();
  for (int i = 0; i < 16; i++) pad[i] = 0;
  (void)ddi_dma_sync(sc->rings_state.dmah, 0, 64, DDI_DMA_SYNC_FORKERNEL);
  EXPECT_EQ(fk::violation_count("sync"), 0u);
}

}  // namespace
}  // namespace driver_on_qemu
