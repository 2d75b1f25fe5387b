// Tests of the clock (fk_clock.cc): virtual and real time, callouts, delays, device
// schedules, drain() and kernel_runnable().
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

TEST_F(KernelTest, VirtualTimeFiresTimeoutsInDeadlineOrder) {
  Boot();
  static std::vector<int> order;
  order.clear();
  auto rec = [](void *arg) { order.push_back(static_cast<int>(reinterpret_cast<intptr_t>(arg))); };
  timeout(rec, reinterpret_cast<void *>(3), drv_usectohz(3000000));
  timeout(rec, reinterpret_cast<void *>(1), drv_usectohz(1000000));
  timeout_id_t two = timeout(rec, reinterpret_cast<void *>(2), drv_usectohz(2000000));
  timeout_id_t gone = timeout(rec, reinterpret_cast<void *>(9), drv_usectohz(2500000));
  EXPECT_GE(untimeout(gone), 0);
  fk::advance(1500000000);
  EXPECT_EQ(order, std::vector<int>({1}));
  fk::advance(10000000000);
  EXPECT_EQ(order, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(untimeout(two), -1) << "already fired";
  EXPECT_EQ(fk::now_ns(), 11500000000);
  EXPECT_EQ(fk::counters().timeouts_fired, 3u);
  EXPECT_TRUE(fk::leaks().empty());
}

TEST_F(KernelTest, SixteenSecondEscalationRunsInstantly) {
  Boot();
  // An escalation: 2 s -> abort, 10 s -> reset, 4 s -> restart, each step arming the next.
  static std::vector<int64_t> at;
  at.clear();
  static void (*step)(void *) = nullptr;
  step = [](void *arg) {
    intptr_t n = reinterpret_cast<intptr_t>(arg);
    at.push_back(gethrtime());
    static const clock_t kNext[] = {10, 4};
    if (n < 2) timeout(step, reinterpret_cast<void *>(n + 1), drv_sectohz(kNext[n]));
  };
  timeout(step, reinterpret_cast<void *>(0), drv_sectohz(2));
  int events = 0;
  while (fk::run_next_event()) events++;
  EXPECT_EQ(events, 3);
  EXPECT_EQ(at, std::vector<int64_t>({2000000000, 12000000000, 16000000000}));
}

TEST_F(KernelTest, CvTimedwaitTimesOutWhenTimeAdvances) {
  Boot();
  fk_test::MutexCv mc;
  kmutex_t &m = mc.m;
  kcondvar_t &cv = mc.cv;
  std::atomic<clock_t> r{0};
  std::atomic<bool> started{false};
  std::thread t([&] {
    mutex_enter(&m);
    started = true;
    r = cv_reltimedwait(&cv, &m, 500, TR_MILLISEC);
    mutex_exit(&m);
  });
  // Wait (without sleeping) until the waiter has registered its deadline.
  while (fk::pending_events() == 0) std::this_thread::yield();
  EXPECT_EQ(*fk::next_event_ns(), 500000000);
  fk::advance(499000000);
  EXPECT_EQ(r.load(), 0);
  fk::advance(1000000);
  t.join();
  EXPECT_EQ(r.load(), -1);
}

TEST_F(KernelTest, DelayWakesWhenTheClockReachesIt) {
  Boot();
  std::atomic<bool> done{false};
  std::thread t([&] {
    delay(drv_usectohz(1000000));
    done = true;
  });
  while (fk::pending_events() == 0) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  EXPECT_TRUE(fk::run_next_event());
  t.join();
  EXPECT_TRUE(done.load());
  EXPECT_EQ(fk::now_ns(), 1000000000);
}

TEST_F(KernelTest, DrvUsecwaitAdvancesVirtualTime) {
  Boot();
  hrtime_t t0 = gethrtime();
  for (int i = 0; i < 1000; i++) drv_usecwait(1000);
  EXPECT_EQ(gethrtime() - t0, 1000000000);
  EXPECT_EQ(ddi_get_lbolt(), 100);
  EXPECT_EQ(drv_usectohz(1), 1);
  EXPECT_EQ(drv_hztousec(1), 10000);
}

TEST_F(KernelTest, DeviceScheduleOrdersWithTimeouts) {
  Boot();
  fk_test::FakeDevice dev;
  dev_info_t *dip = fk::add_pci_node(&dev);
  static std::vector<int> order;
  order.clear();
  fk::DeviceHost *host = fk::device_host(dip);
  host->schedule(300, [] { order.push_back(2); });
  uint64_t id = host->schedule(200, [] { order.push_back(99); });
  host->schedule(100, [] { order.push_back(1); });
  EXPECT_TRUE(host->cancel(id));
  fk::advance(1000);
  EXPECT_EQ(order, std::vector<int>({1, 2}));
  fk::remove_node(dip);
}

// drain() waits for task-queue work; it moves the virtual clock only for a task that waits for
// time (blocked in delay()), never for one that is merely slow (a loaded machine, a sanitizer).
TEST_F(KernelTest, DrainJumpsOnlyForATaskWaitingForTime) {
  Boot();
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "tq", 1, TASKQ_DEFAULTPRI, 0);
  // A pending event drain could jump to.
  static std::atomic<int> fired;
  fired = 0;
  timeout_id_t tid = timeout([](void *) { fired++; }, nullptr, drv_usectohz(500000));
  // Slow work: 20 ms of real time on the CPU, no kernel primitive.
  ASSERT_EQ(ddi_taskq_dispatch(
                tq,
                [](void *) {
                  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
                  while (std::chrono::steady_clock::now() < end) {
                  }
                },
                nullptr, DDI_SLEEP),
            DDI_SUCCESS);
  fk::drain();
  EXPECT_EQ(fk::now_ns(), 0) << "drain moved the clock while a task was only running";
  EXPECT_EQ(fired.load(), 0);
  // Work that waits for time: drain jumps to the pending events until the task is done.
  ASSERT_EQ(ddi_taskq_dispatch(
                tq, [](void *) { delay(drv_usectohz(1000000)); }, nullptr, DDI_SLEEP),
            DDI_SUCCESS);
  fk::drain();
  EXPECT_EQ(fk::now_ns(), 1000000000);
  EXPECT_EQ(fired.load(), 1);
  (void)untimeout(tid);
  ddi_taskq_destroy(tq);
}

// DrainDoesNotOvertakeARunnableTask's tasks and callouts (plain functions, so the state they
// share is here) and its steps.
namespace lag {

ddi_taskq_t *tq;
std::atomic<int> fired;
std::atomic<int64_t> woke_at;
std::atomic<bool> holding;
kmutex_t mu;
kcondvar_t cv;
int64_t base;

void count(void *) { fired++; }

void dispatch(void (*fn)(void *)) {
  ASSERT_EQ(ddi_taskq_dispatch(tq, fn, nullptr, DDI_SLEEP), DDI_SUCCESS);
}

// Queued work that no thread has started yet.
void queued_work() {
  timeout_id_t tid = timeout(count, nullptr, drv_usectohz(500000));
  dispatch([](void *) {});
  fk::drain();
  EXPECT_EQ(fk::now_ns(), 0) << "drain moved the clock past queued work";
  EXPECT_EQ(fired.load(), 0);
  (void)untimeout(tid);
}

// Each wake case starts a task that is woken 1 s from now, with a timeout at 1.5 s that must not
// fire before the task has run.
void arm() {
  base = fk::now_ns();
  woke_at = -1;
  (void)timeout(count, nullptr, drv_usectohz(1500000));
}

void woken_after_one_second(const char *how, int cases) {
  fk::drain();
  EXPECT_EQ(woke_at.load() - base, 1000000000)
      << "drain moved the clock past a task woken from " << how;
  fk::advance(1000000000);
  EXPECT_EQ(fired.load(), cases);
}

void woken_from_delay() {
  arm();
  dispatch([](void *) {
    delay(drv_usectohz(1000000));
    woke_at = fk::now_ns();
  });
  woken_after_one_second("delay()", 1);
}

// Woken from mutex_enter() when the holder, which waits 1 s with it, lets go.
void woken_from_mutex_enter() {
  arm();
  holding = false;
  dispatch([](void *) {
    mutex_enter(&mu);
    holding = true;
    delay(drv_usectohz(1000000));
    mutex_exit(&mu);
  });
  while (!holding) std::this_thread::yield();
  dispatch([](void *) {
    mutex_enter(&mu);
    woke_at = fk::now_ns();
    mutex_exit(&mu);
  });
  woken_after_one_second("mutex_enter()", 2);
}

// Woken from cv_wait() by a timeout.
void woken_from_cv_wait() {
  arm();
  (void)timeout(
      [](void *) {
        mutex_enter(&mu);
        cv_signal(&cv);
        mutex_exit(&mu);
      },
      nullptr, drv_usectohz(1000000));
  dispatch([](void *) {
    mutex_enter(&mu);
    cv_wait(&cv, &mu);
    woke_at = fk::now_ns();
    mutex_exit(&mu);
  });
  woken_after_one_second("cv_wait()", 3);
}

}  // namespace lag

// A loaded machine (Options::thread_lag_us): a task-queue thread given work, or a thread woken
// from delay(), a mutex or a condition variable, runs 20 ms of real time later. drain() must not
// move the clock past such a thread: it is runnable, not waiting for time. (CI failed twice on
// this: work queued to a thread the host had not run yet counted as "blocked".)
TEST_F(KernelTest, DrainDoesNotOvertakeARunnableTask) {
  fk::Options o;
  o.thread_lag_us = 20000;
  Boot(o);
  lag::tq = ddi_taskq_create(nullptr, "tq", 2, TASKQ_DEFAULTPRI, 0);
  mutex_init(&lag::mu, nullptr, MUTEX_DRIVER, nullptr);
  cv_init(&lag::cv, nullptr, CV_DRIVER, nullptr);
  lag::fired = 0;
  lag::queued_work();
  lag::woken_from_delay();
  lag::woken_from_mutex_enter();
  lag::woken_from_cv_wait();
  ddi_taskq_destroy(lag::tq);
  cv_destroy(&lag::cv);
  mutex_destroy(&lag::mu);
}

// fk::kernel_runnable(), which waiters that move the clock on a real-time heuristic consult: a
// task or callout that runs (here it spins on a flag, in no kernel primitive) is runnable; a task
// blocked in delay() waits for time and is not; an idle kernel is not.
TEST_F(KernelTest, KernelRunnableSeesRunningWorkAndNotBlockedWork) {
  Boot();
  EXPECT_FALSE(fk::kernel_runnable()) << "idle";
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "tq", 1, TASKQ_DEFAULTPRI, 0);
  static std::atomic<int> stage;
  stage = 0;
  ASSERT_EQ(ddi_taskq_dispatch(
                tq,
                [](void *) {
                  while (stage == 0) std::this_thread::yield();
                  stage = 2;
                  delay(drv_usectohz(1000000));
                  stage = 3;
                },
                nullptr, DDI_SLEEP),
            DDI_SUCCESS);
  EXPECT_TRUE(fk::kernel_runnable()) << "a task queued or spinning";
  stage = 1;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((stage != 2 || fk::kernel_runnable()) && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_FALSE(fk::kernel_runnable()) << "a task blocked in delay() waits for time";
  EXPECT_EQ(fk::now_ns(), 0);
  fk::advance(1000000000);
  ddi_taskq_wait(tq);
  EXPECT_EQ(stage.load(), 3);
  EXPECT_FALSE(fk::kernel_runnable());
  ddi_taskq_destroy(tq);

  // A callout that runs: the clock is moved by another thread, which waits for it.
  static std::atomic<bool> release;
  release = false;
  (void)timeout(
      [](void *) {
        while (!release) std::this_thread::yield();
      },
      nullptr, drv_usectohz(1000));
  std::thread mover([] { fk::advance(50000000); });
  until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fk::kernel_runnable() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  EXPECT_TRUE(fk::kernel_runnable()) << "a callout that runs";
  release = true;
  mover.join();
  EXPECT_FALSE(fk::kernel_runnable());
}

TEST_F(KernelTest, RealClockFiresTimeouts) {
  fk::Options o;
  o.clock = fk::ClockMode::kReal;
  Boot(o);
  static std::promise<hrtime_t> fired;
  fired = std::promise<hrtime_t>();
  hrtime_t t0 = gethrtime();
  timeout([](void *) { fired.set_value(gethrtime()); }, nullptr, drv_usectohz(20000));
  auto f = fired.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_GE(f.get() - t0, 20000000);
}

}  // namespace
