// Hotplug and resets under load, on QEMU: every packet completes exactly once, nothing hangs,
// other disks are unaffected, and acknowledged data is in the images afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "io_engine.h"
#include "qemu_hba.h"

namespace driver_on_qemu {
namespace {

using std::chrono::milliseconds;

constexpr uint32_t kMaxXfer = 127 * 4096;

bool online(unsigned target) {
  for (const auto &l : fk::client::online_luns())
    if (strtoul(l.target.c_str(), nullptr, 16) == target && l.lun == 0) return true;
  return false;
}

void expect_clean(IoEngine &io) {
  for (const auto &e : io.errors()) ADD_FAILURE() << e;
  IoStats s = io.stats();
  EXPECT_EQ(s.completed, s.submitted) << "every transported packet completes exactly once";
  for (const auto &m : io.verify()) ADD_FAILURE() << m.image << " @" << m.offset << ": " << m.what;
}

class HotplugTest : public QemuIntrTest {};

TEST_P(HotplugTest, HotAddDuringIoAppearsAndTakesIo) {
  QemuHba *hba = start_attached_intr(options({disk(1, 32), disk(4, 32)}));
  ASSERT_NE(hba, nullptr);
  IoEngine io(11);
  io.set_depth(32);
  for (const Disk &d : hba->disks()) io.add_disk(d);
  for (int i = 0; i < 200; i++) ASSERT_TRUE(io.submit_random(i % 2 ? 1 : 4, kMaxXfer));
  // Commands in QEMU's (throttled) hands while the disk is added.
  hba->throttle(1, 50);
  hba->throttle(4, 50);
  // A slow host (TSan) may see a batch finish before it looks: submit until some is in flight.
  for (int k = 0; k < 20 && (k == 0 || io.outstanding() == 0); k++)
    for (int i = 0; i < 32; i++) ASSERT_TRUE(io.submit_random(i % 2 ? 1 : 4, kMaxXfer));
  unsigned before = io.outstanding();
  EXPECT_GT(before, 0u);
  hba->qemu().add_disk(disk(40, 16, 4096));
  hba->throttle(1, 0);
  hba->throttle(4, 0);
  // I/O to the other disks goes on while the new target comes up through the target map.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int during = 0;
  while (!online(40) && std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 8; i++, during++) ASSERT_TRUE(io.submit_random(i % 2 ? 1 : 4, 65536));
    (void)fk::client::settle(50);
  }
  ASSERT_TRUE(online(40)) << "target 40 did not come online within 10 s";
  Disk d40 = hba->wait_target(40, true, milliseconds(5000));
  ASSERT_EQ(d40.target, 40u);
  EXPECT_EQ(d40.block_size, 4096u);
  EXPECT_EQ(d40.blocks, 4096u);
  io.add_disk(d40);
  for (int i = 0; i < 300; i++)
    ASSERT_TRUE(io.submit_random(i % 3 == 0 ? 1 : i % 3 == 1 ? 4 : 40, kMaxXfer));
  ASSERT_TRUE(io.wait_idle()) << io.stuck().size() << " packets never completed";
  EXPECT_GT(io.ok_for(40), 50u);
  EXPECT_EQ(io.stats().failed, 0u);
  EXPECT_GE(hba->stat("hotplug_events"), 1u);
  EXPECT_GE(hba->softc()->max_targets, 41u);
  expect_clean(io);
  printf("[ figures  ] %u outstanding at device_add, %d commands while target 40 came up\n", before,
         during);
}

TEST_P(HotplugTest, HotRemoveDuringIoCompletesEverythingOthersUnaffected) {
  QemuHba *hba = start_attached_intr(options({disk(1, 32), disk(40, 32)}));
  ASSERT_NE(hba, nullptr);
  IoEngine io(12);
  io.set_depth(96);
  for (const Disk &d : hba->disks()) io.add_disk(d);
  for (int i = 0; i < 100; i++) ASSERT_TRUE(io.submit_random(i % 2 ? 1 : 40, kMaxXfer));
  ASSERT_TRUE(io.wait_idle());
  uint64_t ok40_before = io.ok_for(40);
  // Commands QEMU is working on (kicked) and commands it has not seen yet (doorbell held back)
  // when the disk goes away.
  hba->throttle(40, 20);
  for (int i = 0; i < 24; i++) ASSERT_TRUE(io.submit_random(40, kMaxXfer, 50));
  hba->tap().drop_rw_kicks(true);
  for (int i = 0; i < 48; i++) ASSERT_TRUE(io.submit_random(i % 3 == 0 ? 1 : 40, kMaxXfer, 50));
  unsigned at_remove = io.outstanding();
  hba->qemu().remove_disk(40);
  hba->tap().drop_rw_kicks(false);
  hba->tap().release_kicks();
  bool idle = io.wait_idle(milliseconds(5000));
  std::vector<std::string> stuck = io.stuck();
  ASSERT_TRUE(idle) << stuck.size()
                    << " packets never completed after hot remove, first: " << stuck.front();
  EXPECT_GT(io.failed_for(40), 0u) << "commands to the removed disk complete with an error";
  EXPECT_EQ(io.reasons()[CMD_DEV_GONE], 32u) << "the 32 QEMU saw only after the removal";
  // The target goes away; the other disk keeps working.
  Disk gone = hba->wait_target(40, false, milliseconds(5000));
  EXPECT_FALSE(online(40)) << "target 40 still online";
  EXPECT_EQ(gone.sd, nullptr);
  EXPECT_FALSE(io.submit(40, false, 0, 1)) << "the removed LUN is no longer used";
  for (int i = 0; i < 200; i++) ASSERT_TRUE(io.submit_random(1, kMaxXfer));
  ASSERT_TRUE(io.wait_idle());
  EXPECT_EQ(io.failed_for(1), 0u) << "the other disk is unaffected";
  EXPECT_GT(io.ok_for(1), 200u);
  EXPECT_GE(hba->stat("hotplug_events"), 1u);
  expect_clean(io);
  auto reasons = io.reasons();
  printf(
      "[ figures  ] %u outstanding at device_del; target 40: %llu ok before, %llu failed; "
      "reasons: DEV_GONE %llu ABORTED %llu RESET %llu\n",
      at_remove, (unsigned long long)ok40_before, (unsigned long long)io.failed_for(40),
      (unsigned long long)reasons[CMD_DEV_GONE], (unsigned long long)reasons[CMD_ABORTED],
      (unsigned long long)reasons[CMD_RESET]);
}

// ---- resets during I/O ----

class ResetTest : public QemuIntrTest {
 protected:
  // Load that is really in QEMU's hands when the reset comes: held back, then one kick, so
  // QEMU takes all of it at once into its (throttled) block layer.
  void load(IoEngine &io, const std::vector<unsigned> &targets, int n) {
    for (unsigned t : targets) hba_->throttle(t, 20);
    hba_->tap().drop_rw_kicks(true);
    for (int i = 0; i < n; i++)
      ASSERT_TRUE(io.submit_random(targets[i % targets.size()], kMaxXfer));
    hba_->tap().drop_rw_kicks(false);
    hba_->tap().release_kicks();
    std::this_thread::sleep_for(milliseconds(20));
    EXPECT_GT(io.outstanding(), 0u) << "nothing in flight when the reset comes";
  }
  // Afterwards: nothing lost, then ordinary I/O works again.
  void recover(IoEngine &io, const std::vector<unsigned> &targets, const char *what) {
    for (unsigned t : targets) hba_->throttle(t, 0);
    bool idle = io.wait_idle(milliseconds(5000));
    std::vector<std::string> stuck = io.stuck();
    ASSERT_TRUE(idle) << what << ": " << stuck.size()
                      << " packets never completed, first: " << stuck.front();
    uint64_t failed = io.stats().failed;
    for (int i = 0; i < 150; i++)
      ASSERT_TRUE(io.submit_random(targets[i % targets.size()], kMaxXfer));
    ASSERT_TRUE(io.wait_idle());
    // At most the first command per disk after a reset sees its unit attention.
    EXPECT_LE(io.stats().failed - failed, targets.size()) << what;
  }
};

TEST_P(ResetTest, BusDeviceAndAdapterResetsUnderLoad) {
  QemuHba *hba = start_attached_intr(options({disk(2, 32), disk(9, 32, 4096)}));
  ASSERT_NE(hba, nullptr);
  // The adapter restart is provoked by a corrupted rings-state page, which the driver reports.
  allow_warning("invalid message producer index");
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 2u);
  std::vector<unsigned> targets = {2, 9};
  IoEngine io(13);
  io.set_depth(128);
  for (const Disk &d : disks) io.add_disk(d);
  for (int i = 0; i < 200; i++) ASSERT_TRUE(io.submit_random(targets[i % 2], kMaxXfer));
  ASSERT_TRUE(io.wait_idle());
  uint64_t resets_seen = 0;

  // scsi_reset(9F) RESET_ALL: a bus reset.
  load(io, targets, 96);
  EXPECT_EQ(scsi_reset(&disks[0].sd->sd_address, RESET_ALL), 1);
  (void)io.reap();
  resets_seen = io.reasons()[CMD_RESET];
  EXPECT_GT(resets_seen, 0u) << "the bus reset completed nothing with CMD_RESET";
  recover(io, targets, "bus reset");
  EXPECT_EQ(hba->stat("bus_resets"), 1u);

  // scsi_reset(9F) RESET_TARGET: a device reset of target 9 while both disks are busy.
  load(io, targets, 96);
  EXPECT_EQ(scsi_reset(&disks[1].sd->sd_address, RESET_TARGET), 1);
  (void)io.reap();
  EXPECT_GT(io.reasons()[CMD_RESET], resets_seen) << "the device reset completed nothing";
  resets_seen = io.reasons()[CMD_RESET];
  recover(io, targets, "device reset");
  EXPECT_EQ(hba->stat("device_resets"), 1u);

  // Adapter restart: the device's message producer index turns to nonsense (a device that
  // cannot be trusted); the driver resets the adapter, completes what the device forgot, and
  // sets up fresh rings. QEMU writes msgProdIdx only on hotplug, so the value stays put.
  load(io, targets, 96);
  // And some the device has not even seen: the driver must complete those itself.
  hba->tap().drop_rw_kicks(true);
  for (int i = 0; i < 16; i++) ASSERT_TRUE(io.submit_random(targets[i % 2], 4096));
  ASSERT_TRUE(hba->tap().corrupt_msg_prod(0x40000000));
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (hba->stat("adapter_resets") == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(5));
  EXPECT_EQ(hba->stat("adapter_resets"), 1u) << "the watchdog runs every 500 ms";
  EXPECT_GE(hba->stat("bogus_values"), 1u);
  hba->tap().drop_rw_kicks(false);
  hba->tap().release_kicks();
  (void)io.wait_idle(milliseconds(5000));
  EXPECT_GE(io.reasons()[CMD_RESET], resets_seen + 16) << "the adapter restart";
  recover(io, targets, "adapter restart");
  // Both disks are still there after the restart's rescan.
  (void)fk::client::settle(5000);
  EXPECT_TRUE(online(2));
  EXPECT_TRUE(online(9));

  // A final read-back of everything: what was acknowledged before each reset is still there.
  for (const Disk &d : disks)
    for (uint64_t lba = 0; lba < d.blocks; lba += kMaxXfer / d.block_size)
      ASSERT_TRUE(io.submit(d.target, false, lba,
                            uint32_t(std::min<uint64_t>(kMaxXfer / d.block_size, d.blocks - lba))));
  ASSERT_TRUE(io.wait_idle());
  expect_clean(io);
  IoStats s = io.stats();
  auto reasons = io.reasons();
  printf("[ figures  ] %llu commands, %llu failed (RESET %llu, ABORTED %llu, CMPLT+error %llu)\n",
         (unsigned long long)s.completed, (unsigned long long)s.failed,
         (unsigned long long)reasons[CMD_RESET], (unsigned long long)reasons[CMD_ABORTED],
         (unsigned long long)(s.failed - reasons[CMD_RESET] - reasons[CMD_ABORTED]));
}

// The driver's escalation ladder against QEMU: a command the device never sees (its doorbell
// swallowed) is overdue after its pkt_time of 1 s; ABORT_CMD, RESET_DEVICE and RESET_BUS cannot
// complete what QEMU does not have, so the driver ends up restarting the adapter and completes
// the packet itself, once, with CMD_RESET. About 13 s of real time (1 + 2 + 5 + 5 s).
TEST_P(ResetTest, OverdueCommandEscalatesToAdapterRestart) {
  HbaOptions o = options({disk(5, 16)});
  o.sync_audit = true;
  QemuHba *hba = start_attached_intr(o);
  ASSERT_NE(hba, nullptr);
  std::vector<Disk> disks = hba->disks();
  ASSERT_EQ(disks.size(), 1u);
  IoEngine io(14);
  io.add_disk(disks[0]);
  for (int i = 0; i < 100; i++) ASSERT_TRUE(io.submit_random(5, kMaxXfer));
  ASSERT_TRUE(io.wait_idle());
  io.set_pkt_time(1);
  hba->tap().drop_rw_kicks(true);
  ASSERT_TRUE(io.submit(5, true, 4000, 16));
  auto t0 = std::chrono::steady_clock::now();
  bool idle = io.wait_idle(milliseconds(20000));
  auto secs =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count() /
      1000.0;
  hba->tap().drop_rw_kicks(false);
  ASSERT_TRUE(idle) << "the overdue command was never completed: " << io.stuck().front();
  // It timed out and the recovery was for it: CMD_TIMEOUT (sd.c sd_pkt_reason_cmd_timeout).
  EXPECT_EQ(io.reasons()[CMD_TIMEOUT], 1u);
  EXPECT_EQ(hba->stat("timeouts"), 1u);
  EXPECT_EQ(hba->stat("aborts"), 1u);
  EXPECT_EQ(hba->stat("device_resets"), 1u);
  EXPECT_EQ(hba->stat("bus_resets"), 1u);
  EXPECT_EQ(hba->stat("adapter_resets"), 1u);
  // After the restart the disk is back and works; what was acknowledged is intact.
  io.set_pkt_time(30);
  (void)fk::client::settle(5000);
  EXPECT_TRUE(online(5));
  for (int i = 0; i < 100; i++) ASSERT_TRUE(io.submit_random(5, kMaxXfer));
  ASSERT_TRUE(io.wait_idle());
  EXPECT_LE(io.stats().failed, 2u) << "the reset packet and at most one unit attention";
  expect_clean(io);
  printf("[ figures  ] overdue command completed with CMD_TIMEOUT after %.1f s\n", secs);
}

PVIT_INTR_KINDS(HotplugTest);
PVIT_INTR_KINDS(ResetTest);

}  // namespace
}  // namespace driver_on_qemu
