// Tests of the DMA sync audit (fk_sync_audit.cc): a missing or misplaced ddi_dma_sync() is
// caught, correct syncs are silent.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <cstring>
#include <thread>

#include "kernel_test_util.h"

namespace {

using fk_test::AccAttr;
using fk_test::BaseAttr;
using fk_test::DmaTest;

class SyncAuditTest : public DmaTest {
 protected:
  caddr_t kaddr = nullptr;
  ddi_acc_handle_t acc = nullptr;
  uint64_t pa = 0;
  void SetUpMem() {
    fk::Options o;
    o.sync_audit = true;
    Boot(o);
    Alloc(BaseAttr());
    size_t real;
    ddi_device_acc_attr_t aa = AccAttr();
    ASSERT_EQ(ddi_dma_mem_alloc(h, 4096, &aa, DDI_DMA_CONSISTENT, DDI_DMA_SLEEP, nullptr, &kaddr,
                                &real, &acc),
              DDI_SUCCESS);
    memset(kaddr, 0, 4096);
    ddi_dma_cookie_t c;
    uint_t n;
    ASSERT_EQ(ddi_dma_addr_bind_handle(h, nullptr, kaddr, 4096, DDI_DMA_RDWR | DDI_DMA_CONSISTENT,
                                       DDI_DMA_SLEEP, nullptr, &c, &n),
              DDI_DMA_MAPPED);  // the bind syncs for the device
    pa = c.dmac_laddress;
    fk::clear_violations();
  }
  void TearDown() override {
    if (h != nullptr) ddi_dma_unbind_handle(h);
    if (acc != nullptr) ddi_dma_mem_free(&acc);
    DmaTest::TearDown();
  }
};

TEST_F(SyncAuditTest, MissingForDevIsCaughtAndDeviceSeesStaleData) {
  SetUpMem();
  kaddr[10] = 0x42;  // planted defect: no ddi_dma_sync(FORDEV)
  uint8_t b = 0;
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  EXPECT_EQ(b, 0) << "the device sees the stale byte";
  EXPECT_TRUE(HasViolation("sync", "not synced DDI_DMA_SYNC_FORDEV"));
}

// A device may read an index between the driver's store and its sync (it sees the old value,
// harmless): the verdict waits until the driver drops the locks it held.
TEST_F(SyncAuditTest, ReadBetweenStoreAndSyncUnderTheLockIsNotAViolation) {
  SetUpMem();
  kmutex_t mu;
  mutex_init(&mu, nullptr, MUTEX_DRIVER, nullptr);
  mutex_enter(&mu);
  kaddr[10] = 0x42;
  uint8_t b = 0;
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  EXPECT_EQ(b, 0) << "the device sees the stale byte";
  EXPECT_EQ(ddi_dma_sync(h, 10, 1, DDI_DMA_SYNC_FORDEV), DDI_SUCCESS);
  mutex_exit(&mu);
  EXPECT_FALSE(HasViolation("sync", "not synced"));
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  EXPECT_EQ(b, 0x42);
  mutex_destroy(&mu);
}

// Two threads take turns at the same store-read-sync under one lock, a device read between each
// store and its sync. The verdict on a read must be given before the lock can be entered again:
// given after, it saw the next holder's fresh, not yet synced store and reported a correct
// driver (found by the TSan run of ErrorsTest.SmallContextsNeverMatchAfterTheTagWraps: the
// completion consumer index written by the interrupt handler while a poller had just synced it).
TEST_F(SyncAuditTest, VerdictIsGivenBeforeTheNextHolderEnters) {
  SetUpMem();
  static kmutex_t mu;
  mutex_init(&mu, nullptr, MUTEX_DRIVER, nullptr);
  auto worker = [this] {
    for (int i = 0; i < 20000; i++) {
      mutex_enter(&mu);
      kaddr[10] = char(kaddr[10] + 1);
      uint8_t b = 0;
      EXPECT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
      EXPECT_EQ(ddi_dma_sync(h, 10, 1, DDI_DMA_SYNC_FORDEV), DDI_SUCCESS);
      mutex_exit(&mu);
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();
  EXPECT_EQ(fk::violation_count("sync"), 0u) << fk::violations().front().text;
  mutex_destroy(&mu);
}

TEST_F(SyncAuditTest, LockDroppedWithoutTheSyncIsAViolation) {
  SetUpMem();
  kmutex_t mu;
  mutex_init(&mu, nullptr, MUTEX_DRIVER, nullptr);
  mutex_enter(&mu);
  kaddr[10] = 0x42;  // planted defect: the lock is dropped without ddi_dma_sync(FORDEV)
  uint8_t b = 0;
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  EXPECT_FALSE(HasViolation("sync", "not synced")) << "judged before the lock was dropped";
  mutex_exit(&mu);
  EXPECT_TRUE(HasViolation("sync", "not synced DDI_DMA_SYNC_FORDEV"));
  mutex_destroy(&mu);
}

// cv_wait releases the mutex too: unsynced stores a device has read must be synced by then.
TEST_F(SyncAuditTest, CvWaitWithoutTheSyncIsAViolation) {
  SetUpMem();
  fk_test::MutexCv mc;
  kmutex_t &mu = mc.m;
  mutex_enter(&mu);
  kaddr[10] = 0x42;  // planted defect: the wait drops the lock without ddi_dma_sync(FORDEV)
  uint8_t b = 0;
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  std::thread mover([] {  // fires the wait's timeout once it is armed
    while (fk::pending_events() == 0) std::this_thread::yield();
    fk::run_next_event();
  });
  (void)cv_reltimedwait(&mc.cv, &mu, drv_usectohz(10000), TR_CLOCK_TICK);
  mover.join();
  EXPECT_TRUE(HasViolation("sync", "not synced DDI_DMA_SYNC_FORDEV"));
  EXPECT_EQ(ddi_dma_sync(h, 10, 1, DDI_DMA_SYNC_FORDEV), DDI_SUCCESS);
  mutex_exit(&mu);
}

TEST_F(SyncAuditTest, CorrectSyncsAreSilent) {
  SetUpMem();
  kaddr[10] = 0x42;
  ASSERT_EQ(ddi_dma_sync(h, 0, 64, DDI_DMA_SYNC_FORDEV), DDI_SUCCESS);
  uint8_t b = 0;
  ASSERT_TRUE(fk::device_dma_read(pa + 10, &b, 1));
  EXPECT_EQ(b, 0x42);
  uint8_t w = 0x99;
  ASSERT_TRUE(fk::device_dma_write(pa + 100, &w, 1));
  EXPECT_EQ(static_cast<uint8_t>(kaddr[100]), 0) << "no FORCPU yet: the CPU reads stale data";
  ASSERT_EQ(ddi_dma_sync(h, 64, 64, DDI_DMA_SYNC_FORCPU), DDI_SUCCESS);
  EXPECT_EQ(static_cast<uint8_t>(kaddr[100]), 0x99);
  EXPECT_EQ(fk::violation_count(), 0u);
  EXPECT_GE(fk::counters().syncs, 2u);
}

TEST_F(SyncAuditTest, ForDevOverUnsyncedDeviceDataIsCaught) {
  SetUpMem();
  uint8_t w = 0x99;
  ASSERT_TRUE(fk::device_dma_write(pa + 5, &w, 1));
  kaddr[5] = 0x11;  // the driver writes the same byte without FORCPU first
  ddi_dma_sync(h, 0, 0, DDI_DMA_SYNC_FORDEV);
  EXPECT_TRUE(HasViolation("sync", "not synced FORCPU first"));
}

TEST_F(SyncAuditTest, SyncOfUnboundHandleIsReported) {
  SetUpMem();
  ddi_dma_unbind_handle(h);
  EXPECT_EQ(ddi_dma_sync(h, 0, 0, DDI_DMA_SYNC_FORDEV), DDI_FAILURE);
  EXPECT_TRUE(HasViolation("dma", "unbound handle"));
}

}  // namespace
