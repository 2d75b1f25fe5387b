// Tests of the deterministic mode (fk_threads.cc): the kernel's threads one at a time under a
// seeded scheduler, one interleaving per seed, time moving only when nobody can run, stuck and
// hung runs fatal at once with every thread's story, and a host sleep reported.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/ksynch.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "fk_internal.h"
#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

// FK_DETERMINISTIC=0 (the ThreadSanitizer stage) forces host threads on every boot: these tests
// are about the deterministic mode and skip there.
bool forced_real_threads() {
  const char *e = std::getenv("FK_DETERMINISTIC");
  return e != nullptr && e[0] == '0';
}
#define SKIP_IF_FORCED_REAL() \
  if (forced_real_threads()) GTEST_SKIP() << "FK_DETERMINISTIC=0: host threads forced"

fk::Options det(uint64_t seed, fk::sched::Policy policy = fk::sched::Policy::kRandom) {
  fk::Options o;
  o.deterministic = true;
  o.sched.seed = seed;
  o.sched.policy = policy;
  return o;
}

// Three task-queue threads take turns at one kmutex, each delaying between its turns: the order
// of the turns is the interleaving.
struct Turns {
  kmutex_t mu;
  std::vector<int> order;
};
Turns g_turns;

void take_turns(void *arg) {
  const int who = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  for (int k = 0; k < 4; k++) {
    mutex_enter(&g_turns.mu);
    g_turns.order.push_back(who);
    mutex_exit(&g_turns.mu);
    if (k % 2 == 1) delay(1);
  }
}

struct TurnsRun {
  std::vector<int> order;
  uint64_t digest;
  int64_t end_ns;
};

TurnsRun run_turns(const fk::Options &o) {
  fk::boot(o);
  g_turns.order.clear();
  mutex_init(&g_turns.mu, nullptr, MUTEX_DRIVER, nullptr);
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "turns", 3, TASKQ_DEFAULTPRI, 0);
  for (intptr_t i = 0; i < 6; i++)
    EXPECT_EQ(ddi_taskq_dispatch(tq, take_turns, reinterpret_cast<void *>(i), DDI_SLEEP),
              DDI_SUCCESS);
  ddi_taskq_wait(tq);
  ddi_taskq_destroy(tq);
  mutex_destroy(&g_turns.mu);
  TurnsRun r{g_turns.order, fk::sched_trace().digest, fk::now_ns()};
  EXPECT_TRUE(fk::violations().empty());
  fk::shutdown();
  return r;
}

TEST_F(KernelTest, DeterministicSameSeedSameInterleaving) {
  SKIP_IF_FORCED_REAL();
  for (auto policy :
       {fk::sched::Policy::kRandom, fk::sched::Policy::kFair, fk::sched::Policy::kPct}) {
    TurnsRun a = run_turns(det(11, policy)), b = run_turns(det(11, policy));
    EXPECT_EQ(a.order.size(), 24u);
    EXPECT_EQ(a.order, b.order) << fk::sched::policy_name(policy);
    EXPECT_EQ(a.digest, b.digest) << fk::sched::policy_name(policy);
    EXPECT_NE(a.digest, 0u);
  }
  // Some other seed orders the turns otherwise (the random policy).
  TurnsRun a = run_turns(det(11));
  bool differs = false;
  for (uint64_t seed = 12; seed < 40 && !differs; seed++) {
    TurnsRun c = run_turns(det(seed));
    differs = c.order != a.order && c.digest != a.digest;
  }
  EXPECT_TRUE(differs) << "28 seeds all gave seed 11's interleaving";
  Boot();  // for TearDown
}

// Time moves exactly when nobody can run, to the next event: two delays of one tick each,
// taken in turn by six tasks on three threads, end at a whole number of ticks, the same in
// every run.
TEST_F(KernelTest, DeterministicTimeMovesOnlyToTheNextEvent) {
  SKIP_IF_FORCED_REAL();
  TurnsRun a = run_turns(det(3)), b = run_turns(det(4));
  EXPECT_EQ(a.end_ns % 10'000'000, 0) << a.end_ns;
  EXPECT_GE(a.end_ns, 2 * 10'000'000);
  EXPECT_EQ(a.end_ns, run_turns(det(3)).end_ns);
  EXPECT_GT(b.end_ns, 0);
  Boot();
}

// drv_usecwait in a deterministic run: the clock moves by exactly the wait.
TEST_F(KernelTest, DeterministicBusyWaitMovesTheClockByItsLength) {
  SKIP_IF_FORCED_REAL();
  Boot(det(1));
  int64_t t0 = fk::now_ns();
  drv_usecwait(250);
  EXPECT_EQ(fk::now_ns() - t0, 250'000);
}

TEST_F(KernelTest, DeterministicHostSleepIsAViolation) {
  SKIP_IF_FORCED_REAL();
  Boot(det(1));
  fk::impl::host_sleep_us(1, "a test");
  EXPECT_TRUE(HasViolation("sched", "a host sleep (a test) in a deterministic run"));
}

// Nothing runnable, no event: fatal at once, with what each thread waits for.
TEST(KernelDeathTest, DeterministicStuckRunIsFatalWithEveryThreadsStory) {
  SKIP_IF_FORCED_REAL();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fk::boot(det(5));
        static kmutex_t mu;
        static kcondvar_t cv;
        mutex_init(&mu, nullptr, MUTEX_DRIVER, nullptr);
        cv_init(&cv, nullptr, CV_DRIVER, nullptr);
        mutex_enter(&mu);
        cv_wait(&cv, &mu);  // nobody will ever signal it
      },
      "deterministic run stuck: nothing runnable and no clock event pending.*seed 5.*\n"
      ".*thread 0 main: waits for a condition variable");
}

// The clock passing the run's limit (a livelock moving time forever) is a hang, fatal at once.
TEST(KernelDeathTest, DeterministicHangPastTheTimeLimitIsFatal) {
  SKIP_IF_FORCED_REAL();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fk::Options o = det(2);
        o.time_limit_ns = 1'000'000'000;
        fk::boot(o);
        for (;;) delay(drv_usectohz(100'000));
      },
      "deterministic run hung: the virtual clock would pass its limit of 1000000000 ns");
}

}  // namespace
