// Tests of the lock checker (fk_locks.cc): recursion, order inversions and cycles, exit by
// a non-owner, sleeping where a kernel may not, lock statistics and leaks.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;
using fk_test::PciTest;

// Takes inner while holding outer, then lets both go: the lock order outer -> inner.
void nest(kmutex_t *outer, kmutex_t *inner) {
  mutex_enter(outer);
  mutex_enter(inner);
  mutex_exit(inner);
  mutex_exit(outer);
}

TEST_F(KernelTest, RecursiveMutexEnterIsCaught) {
  Boot();
  kmutex_t m;
  mutex_init(&m, const_cast<char *>("planted_lock"), MUTEX_DRIVER, nullptr);
  mutex_enter(&m);
  mutex_enter(&m);  // planted
  mutex_exit(&m);
  mutex_exit(&m);
  mutex_destroy(&m);
  EXPECT_TRUE(HasViolation("lock", "recursive mutex_enter of planted_lock"));
  EXPECT_EQ(fk::violation_count("lock"), 1u);
}

TEST_F(KernelTest, LockOrderInversionIsCaughtWithBothNames) {
  Boot();
  kmutex_t a, b;
  mutex_init(&a, const_cast<char *>("lock_A"), MUTEX_DRIVER, nullptr);
  mutex_init(&b, const_cast<char *>("lock_B"), MUTEX_DRIVER, nullptr);
  nest(&a, &b);
  EXPECT_EQ(fk::violation_count(), 0u);
  nest(&b, &a);  // planted: B -> A after A -> B
  ASSERT_EQ(fk::violation_count("lock"), 1u);
  std::string t = fk::violations()[0].text;
  EXPECT_NE(t.find("lock_A"), std::string::npos);
  EXPECT_NE(t.find("lock_B"), std::string::npos);
  EXPECT_NE(t.find("inversion"), std::string::npos);
  mutex_destroy(&a);
  mutex_destroy(&b);
}

TEST_F(KernelTest, ExitByNonOwnerIsCaught) {
  Boot();
  kmutex_t m;
  mutex_init(&m, const_cast<char *>("owned"), MUTEX_DRIVER, nullptr);
  mutex_enter(&m);
  std::thread t([&] { mutex_exit(&m); });
  t.join();
  EXPECT_TRUE(HasViolation("lock", "non-owner"));
  EXPECT_TRUE(mutex_owned(&m));
  mutex_exit(&m);
  mutex_destroy(&m);
}

TEST_F(KernelTest, SleepingWhileHoldingInterruptLockIsCaught) {
  Boot();
  kmutex_t m;
  mutex_init(&m, const_cast<char *>("intr_lock"), MUTEX_DRIVER, DDI_INTR_PRI(5));
  mutex_enter(&m);
  void *p = kmem_alloc(16, KM_SLEEP);  // planted
  mutex_exit(&m);
  kmem_free(p, 16);
  mutex_destroy(&m);
  EXPECT_TRUE(HasViolation("lock", "intr_lock"));
  EXPECT_TRUE(HasViolation("lock", "KM_SLEEP"));
}

TEST_F(KernelTest, MutexAndCvCorrectUseIsSilent) {
  Boot();
  kmutex_t m;
  kcondvar_t cv;
  mutex_init(&m, nullptr, MUTEX_DRIVER, DDI_INTR_PRI(5));
  cv_init(&cv, nullptr, CV_DRIVER, nullptr);
  bool ready = false;
  std::thread t([&] {
    mutex_enter(&m);
    ready = true;
    cv_signal(&cv);
    mutex_exit(&m);
  });
  mutex_enter(&m);
  while (!ready) cv_wait(&cv, &m);  // cv_wait on the intr lock itself is fine
  EXPECT_EQ(fk::held_lock_count(), 1);
  mutex_exit(&m);
  t.join();
  EXPECT_EQ(mutex_tryenter(&m), 1);
  mutex_exit(&m);
  cv_destroy(&cv);
  mutex_destroy(&m);
  EXPECT_EQ(fk::violation_count(), 0u);
  EXPECT_TRUE(fk::leaks().empty());
}

// Lock statistics: acquisitions (enter, successful tryenter) and real-time hold times per
// kmutex; a failed tryenter is not an acquisition; reset clears; destroyed mutexes drop out.
TEST_F(KernelTest, LockStatsCountAcquisitionsAndHoldTimes) {
  Boot();
  kmutex_t m, other;
  mutex_init(&m, const_cast<char *>("stat lock"), MUTEX_DRIVER, nullptr);
  mutex_init(&other, nullptr, MUTEX_DRIVER, nullptr);
  auto find = [&](const kmutex_t *mp) {
    for (const fk::LockStat &st : fk::lock_stats())
      if (st.mutex == mp) return st;
    return fk::LockStat();
  };
  EXPECT_EQ(find(&m).acquisitions, 0u);
  for (int i = 0; i < 3; i++) {
    mutex_enter(&m);
    mutex_exit(&m);
  }
  mutex_enter(&m);
  std::thread t([&] { EXPECT_EQ(mutex_tryenter(&m), 0); });
  t.join();
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::microseconds(200)) {
  }
  mutex_exit(&m);
  fk::LockStat st = find(&m);
  EXPECT_EQ(st.name, "stat lock");
  EXPECT_EQ(st.acquisitions, 4u);
  EXPECT_GE(st.hold_ns_max, 200000u);
  EXPECT_GE(st.hold_ns_total, st.hold_ns_max);
  EXPECT_EQ(find(&other).acquisitions, 0u);
  fk::reset_lock_stats();
  EXPECT_EQ(find(&m).acquisitions, 0u);
  EXPECT_EQ(mutex_tryenter(&m), 1);
  mutex_exit(&m);
  EXPECT_EQ(find(&m).acquisitions, 1u);
  mutex_destroy(&m);
  mutex_destroy(&other);
  EXPECT_EQ(find(&m).acquisitions, 0u);
  EXPECT_EQ(fk::violation_count(), 0u);
}

TEST_F(KernelTest, UndestroyedMutexIsALeak) {
  Boot();
  kmutex_t m;
  mutex_init(&m, nullptr, MUTEX_DRIVER, nullptr);
  auto l = fk::leaks();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].kind, "mutex");
  mutex_destroy(&m);
}

TEST_F(PciTest, MutexWithoutIntrPriInHandlerIsCaught) {
  Attach();
  static kmutex_t plain;
  mutex_init(&plain, const_cast<char *>("plain"), MUTEX_DRIVER, nullptr);
  static std::atomic<int> calls;
  calls = 0;
  AddIsr(DDI_INTR_TYPE_MSI, [](caddr_t, caddr_t) -> uint_t {
    mutex_enter(&plain);
    mutex_exit(&plain);
    calls++;
    return DDI_INTR_CLAIMED;
  });
  SendMsiAndWait(calls);
  EXPECT_TRUE(HasViolation("lock", "not initialised with DDI_INTR_PRI"));
  mutex_destroy(&plain);
}

TEST_F(KernelTest, LongerLockCycleIsCaught) {
  Boot();
  kmutex_t a, b, c;
  mutex_init(&a, const_cast<char *>("ring_A"), MUTEX_DRIVER, nullptr);
  mutex_init(&b, const_cast<char *>("ring_B"), MUTEX_DRIVER, nullptr);
  mutex_init(&c, const_cast<char *>("ring_C"), MUTEX_DRIVER, nullptr);
  nest(&a, &b);
  nest(&b, &c);
  EXPECT_EQ(fk::violation_count(), 0u);
  nest(&c, &a);  // planted: closes A -> B -> C -> A
  EXPECT_TRUE(HasViolation("lock", "ring_B"));
  EXPECT_EQ(fk::violation_count("lock"), 1u);
  mutex_destroy(&a);
  mutex_destroy(&b);
  mutex_destroy(&c);
}

TEST_F(KernelTest, TaskqWaitWhileHoldingInterruptLockIsCaught) {
  Boot();
  kmutex_t m;
  mutex_init(&m, const_cast<char *>("hba_lock"), MUTEX_DRIVER, DDI_INTR_PRI(5));
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "tq", 1, TASKQ_DEFAULTPRI, 0);
  mutex_enter(&m);
  ddi_taskq_wait(tq);  // planted
  mutex_exit(&m);
  EXPECT_TRUE(HasViolation("lock", "ddi_taskq_wait"));
  ddi_taskq_destroy(tq);
  mutex_destroy(&m);
}

// quiesce(9E) runs single-threaded with interrupts off: no locks, no sleeping.
int bad_quiesce_calls;
kmutex_t quiesce_lock;
int BadQuiesce(dev_info_t *) {
  bad_quiesce_calls++;
  mutex_enter(&quiesce_lock);
  mutex_exit(&quiesce_lock);
  return DDI_SUCCESS;
}

TEST_F(KernelTest, LockInQuiesceIsCaught) {
  Boot();
  bad_quiesce_calls = 0;
  mutex_init(&quiesce_lock, nullptr, MUTEX_DRIVER, nullptr);
  static struct dev_ops ops = {};
  ops.devo_rev = DEVO_REV;
  ops.devo_quiesce = BadQuiesce;
  dev_info_t *dip = fk::create_child(fk::root_node(), "q", &ops, "1");
  EXPECT_EQ(fk::quiesce(dip), DDI_SUCCESS);
  EXPECT_EQ(bad_quiesce_calls, 1);
  EXPECT_TRUE(HasViolation("lock", "quiesce"));
  fk::remove_node(dip);
  mutex_destroy(&quiesce_lock);
}

TEST_F(PciTest, DelayInInterruptHandlerIsCaught) {
  Attach();
  static std::atomic<int> calls;
  calls = 0;
  AddIsr(DDI_INTR_TYPE_MSI, [](caddr_t, caddr_t) -> uint_t {
    void *p = kmem_alloc(8, KM_SLEEP);  // planted: may sleep
    kmem_free(p, 8);
    calls++;
    return DDI_INTR_CLAIMED;
  });
  SendMsiAndWait(calls);
  EXPECT_TRUE(HasViolation("lock", "interrupt context"));
}

TEST_F(KernelTest, SleepingInATimeoutFunctionIsCaught) {
  Boot();
  timeout(
      [](void *) {
        void *p = kmem_alloc(8, KM_SLEEP);  // planted
        kmem_free(p, 8);
      },
      nullptr, 1);
  timeout(
      [](void *) {
        void *p = kmem_alloc(8, KM_NOSLEEP);  // fine
        if (p != nullptr) kmem_free(p, 8);
      },
      nullptr, 2);
  fk::advance(100000000);
  EXPECT_EQ(fk::violation_count("lock"), 1u);
  EXPECT_TRUE(HasViolation("lock", "timeout(9F)"));
}

}  // namespace
