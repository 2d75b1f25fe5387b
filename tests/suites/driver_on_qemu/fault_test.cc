// Planted faults: proof that these tests fail loudly - not by timing out - when the driver
// misbehaves. The tap (tap_device.h) makes what a driver bug would look like to the outside:
//  - a write that lands on the wrong LBA (the CDB the device executes is not the one asked
//    for), which the image oracle must catch, and a read-back must catch too;
//  - requests whose completions never come (the doorbell is swallowed, so QEMU never sees
//    them), which IoEngine::wait_idle must report within its bound, naming the packets.
// Each test asserts the detection, then undoes the fault so the run ends clean.
#include <gtest/gtest.h>

#include <chrono>

#include "io_engine.h"
#include "qemu_hba.h"

namespace driver_on_qemu {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class FaultTest : public QemuTest {
 protected:
  QemuHba *up(unsigned target) {
    HbaOptions o;
    o.disks = {disk(target, 16)};
    // The tap edits a request in guest memory behind the driver's back; with the sync audit on
    // that (deliberately) looks like a device overwriting driver-owned bytes.
    o.sync_audit = false;
    return start_attached(o);
  }
  // The HBA's one disk in the engine, after n random commands (write_pct % writes) went idle.
  // false (the test failed) when the disk is missing or a command did not go.
  bool warm_up(QemuHba *hba, IoEngine &io, unsigned target, int n, unsigned write_pct) {
    std::vector<Disk> disks = hba->disks();
    EXPECT_EQ(disks.size(), 1u);
    if (disks.size() != 1) return false;
    io.add_disk(disks[0]);
    for (int i = 0; i < n; i++) {
      if (!io.submit_random(target, 65536, write_pct)) {
        ADD_FAILURE() << "command " << i << " of the warm-up did not go";
        return false;
      }
    }
    return io.wait_idle();
  }
};

TEST_F(FaultTest, OracleCatchesMisdirectedWrite) {
  QemuHba *hba = up(3);
  ASSERT_NE(hba, nullptr);
  IoEngine io(21);
  ASSERT_TRUE(warm_up(hba, io, 3, 100, 100));
  ASSERT_TRUE(io.verify().empty()) << "clean before the fault";

  // The next WRITE goes 5000 blocks further than asked; the driver sees success.
  hba->tap().misdirect_next_write(5000);
  ASSERT_TRUE(io.submit(3, true, 100, 8));
  ASSERT_TRUE(io.wait_idle());
  Misdirect m = hba->tap().misdirect();
  ASSERT_TRUE(m.done);
  EXPECT_EQ(m.lba, 100u);
  EXPECT_EQ(m.new_lba, 5100u);
  EXPECT_EQ(io.stats().failed, 0u) << "the device acknowledged the misdirected write";

  // Detection 1: the oracle reads the image file and finds blocks 100..107 without the data.
  auto bad = io.verify();
  ASSERT_FALSE(bad.empty()) << "the oracle missed a misdirected write";
  EXPECT_EQ(bad.front().offset, 100u * 512) << bad.front().what;
  EXPECT_EQ(bad.size(), 8u);
  for (const auto &b : bad)
    printf("[ detected ] %s @%llu: %s\n", b.image.c_str(), (unsigned long long)b.offset,
           b.what.c_str());
  // Detection 2: reading the blocks back through the driver shows data from nowhere.
  ASSERT_TRUE(io.submit(3, false, 100, 8));
  ASSERT_TRUE(io.wait_idle());
  std::vector<std::string> errors = io.errors();
  ASSERT_EQ(errors.size(), 8u) << "read-back missed the misdirected write";
  printf("[ detected ] %s\n", errors.front().c_str());
}

TEST_F(FaultTest, LostCompletionsAreReportedNotWaitedFor) {
  QemuHba *hba = up(6);
  ASSERT_NE(hba, nullptr);
  IoEngine io(22);
  ASSERT_TRUE(warm_up(hba, io, 6, 50, 50));

  // Four commands whose completions never come.
  hba->tap().drop_rw_kicks(true);
  for (int i = 0; i < 4; i++) ASSERT_TRUE(io.submit(6, i % 2 == 0, uint64_t(1000 + 16 * i), 8));
  auto t0 = Clock::now();
  bool idle = io.wait_idle(milliseconds(1500));
  auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_FALSE(idle) << "lost completions went unnoticed";
  std::vector<std::string> stuck = io.stuck();
  ASSERT_EQ(stuck.size(), 4u);
  for (const auto &s : stuck) printf("[ detected ] never completed: %s\n", s.c_str());
  EXPECT_LT(waited, 3000) << "detection must be bounded, not a hang";
  EXPECT_EQ(hba->tap().dropped_kicks(), 4u);

  // Undo: one doorbell and QEMU completes them; the run ends clean.
  hba->tap().drop_rw_kicks(false);
  hba->tap().release_kicks();
  ASSERT_TRUE(io.wait_idle());
  EXPECT_EQ(io.stats().completed, io.stats().submitted);
  EXPECT_EQ(io.stats().failed, 0u);
  EXPECT_TRUE(io.errors().empty());
  EXPECT_TRUE(io.verify().empty());
}

}  // namespace
}  // namespace driver_on_qemu
