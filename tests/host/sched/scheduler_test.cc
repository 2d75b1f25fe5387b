// The deterministic scheduler on its own: one thread at a time, one interleaving per seed,
// planted races found within a seed budget, stuck runs reported at once with their stories.
#include "scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

namespace fk::sched {
namespace {

Options with(uint64_t seed, Policy p) {
  Options o;
  o.seed = seed;
  o.policy = p;
  return o;
}

// n workers each do `steps` increments of a shared counter, yielding between every step; the
// order of (worker, step) records the interleaving.
struct Workload {
  std::vector<int> order;
  std::atomic<int> running{0};
  int max_running = 0;

  void run(Scheduler &s, int n, int steps) {
    s.run("main", [&] {
      for (int w = 0; w < n; w++) {
        s.spawn("worker" + std::to_string(w), [&, w] {
          for (int i = 0; i < steps; i++) {
            int now = ++running;
            max_running = std::max(max_running, now);
            order.push_back(w);
            --running;
            s.yield("step");
          }
        });
      }
    });
  }
};

TEST(Sched, OnlyOneThreadRunsAtATime) {
  for (Policy p : {Policy::kFair, Policy::kRandom, Policy::kPct}) {
    Scheduler s(with(7, p));
    Workload w;
    w.run(s, 4, 50);
    EXPECT_EQ(w.max_running, 1) << policy_name(p);
    EXPECT_EQ(w.order.size(), 200u) << policy_name(p);
    EXPECT_FALSE(s.stuck());
  }
}

TEST(Sched, SameSeedSameInterleavingAndDigest) {
  for (Policy p : {Policy::kFair, Policy::kRandom, Policy::kPct}) {
    Scheduler a(with(42, p)), b(with(42, p));
    Workload wa, wb;
    wa.run(a, 3, 40);
    wb.run(b, 3, 40);
    EXPECT_EQ(wa.order, wb.order) << policy_name(p);
    EXPECT_EQ(a.digest(), b.digest()) << policy_name(p);
    EXPECT_EQ(a.steps(), b.steps());
  }
}

TEST(Sched, SeedsGiveDifferentInterleavings) {
  std::set<std::vector<int>> orders;
  std::set<uint64_t> digests;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    Scheduler s(with(seed, Policy::kRandom));
    Workload w;
    w.run(s, 3, 10);
    orders.insert(w.order);
    digests.insert(s.digest());
  }
  EXPECT_GE(orders.size(), 15u);
  EXPECT_EQ(digests.size(), orders.size());  // the digest tells interleavings apart
}

TEST(Sched, FairPolicyRoundRobins) {
  Scheduler s(with(1, Policy::kFair));
  Workload w;
  w.run(s, 3, 3);
  EXPECT_EQ(w.order, (std::vector<int>{0, 1, 2, 0, 1, 2, 0, 1, 2}));
}

// A lost update: read, switch point, write. Only some interleavings lose one.
bool lost_update(uint64_t seed, Policy p) {
  Scheduler s(with(seed, p));
  int counter = 0;
  s.run("main", [&] {
    for (int w = 0; w < 2; w++) {
      s.spawn("w", [&] {
        int v = counter;
        s.yield("between read and write");
        counter = v + 1;
      });
    }
  });
  return counter != 2;
}

TEST(Sched, PlantedLostUpdateIsFoundAndReplays) {
  int found = -1;
  for (uint64_t seed = 1; seed <= 100 && found < 0; seed++) {
    if (lost_update(seed, Policy::kRandom)) {
      found = int(seed);
    }
  }
  ASSERT_GE(found, 1) << "no seed in 100 lost the update";
  for (int i = 0; i < 5; i++) {
    EXPECT_TRUE(lost_update(uint64_t(found), Policy::kRandom)) << "seed " << found;
  }
}

// An ordering bug of depth 2 that a fair scheduler never shows: the consumer looks once, after
// 5 steps of its own, and must look exactly between the producer's two writes, which follow 20
// steps of other work.
bool ordering_bug(const Options &o) {
  Scheduler s(o);
  bool half = false, seen_half = false;
  s.run("main", [&] {
    s.spawn("producer", [&] {
      for (int i = 0; i < 20; i++) s.yield("work");
      half = true;
      s.yield("half published");
      half = false;
    });
    s.spawn("consumer", [&] {
      for (int i = 0; i < 5; i++) s.yield("work");
      seen_half = half;
    });
  });
  return seen_half;
}

TEST(Sched, PctFindsADepthTwoOrderingWithinItsBudget) {
  EXPECT_FALSE(ordering_bug(with(1, Policy::kFair)));
  int pct_hits = 0, first = 0;
  for (uint64_t seed = 1; seed <= 400; seed++) {
    Options o = with(seed, Policy::kPct);
    o.pct_depth = 2;
    o.pct_steps = 50;
    if (ordering_bug(o)) {
      pct_hits++;
      if (first == 0) first = int(seed);
    }
  }
  EXPECT_GE(pct_hits, 1);
  // The finding replays from its seed.
  Options again = with(uint64_t(first), Policy::kPct);
  again.pct_depth = 2;
  again.pct_steps = 50;
  EXPECT_TRUE(first == 0 || ordering_bug(again));
}

TEST(Sched, BlockAndWakeHandTheBaton) {
  Scheduler s(with(3, Policy::kRandom));
  std::vector<std::string> log;
  s.run("main", [&] {
    int waiter = s.spawn("waiter", [&] {
      log.push_back("waiting");
      ASSERT_TRUE(s.block("the signal"));
      log.push_back("woken");
    });
    while (log.empty()) s.yield("until the waiter waits");
    log.push_back("signal");
    s.wake(waiter);
  });
  EXPECT_EQ(log, (std::vector<std::string>{"waiting", "signal", "woken"}));
}

TEST(Sched, IdleHookMovesTimeOnlyWhenNothingRuns) {
  Scheduler s(with(5, Policy::kRandom));
  int64_t now = 0;
  std::vector<std::pair<int64_t, int>> timers;  // (deadline, thread)
  std::vector<int64_t> woke_at;
  s.set_idle_hook([&] {
    if (timers.empty()) return false;
    auto first = std::min_element(timers.begin(), timers.end());
    now = first->first;
    s.wake(first->second);
    timers.erase(first);
    return true;
  });
  s.run("main", [&] {
    for (int64_t d : {300, 100, 200}) {
      s.spawn("sleeper", [&, d] {
        timers.push_back({now + d, s.self()});
        ASSERT_TRUE(s.block("delay"));
        woke_at.push_back(now);
      });
    }
  });
  EXPECT_EQ(woke_at, (std::vector<int64_t>{100, 200, 300}));
  EXPECT_FALSE(s.stuck());
}

TEST(Sched, StuckRunIsReportedAtOnceWithStories) {
  Scheduler s(with(9, Policy::kRandom));
  std::vector<Story> stories;
  s.set_stuck_hook([&](const std::vector<Story> &st) { stories = st; });
  bool a_ok = true, b_ok = true;
  bool ok = s.run("main", [&] {
    s.spawn("a", [&] { a_ok = s.block("lock B"); });
    s.spawn("b", [&] { b_ok = s.block("lock A"); });
  });
  EXPECT_FALSE(ok);
  EXPECT_TRUE(s.stuck());
  EXPECT_FALSE(a_ok);
  EXPECT_FALSE(b_ok);
  ASSERT_EQ(stories.size(), 2u);
  std::set<std::string> waits{stories[0].waits_for, stories[1].waits_for};
  EXPECT_EQ(waits, (std::set<std::string>{"lock A", "lock B"}));
  EXPECT_EQ(stories[0].name, "a");
}

TEST(Sched, StepLimitStopsALivelock) {
  Options o = with(2, Policy::kFair);
  o.max_steps = 1000;
  Scheduler s(o);
  std::vector<Story> stories;
  s.set_stuck_hook([&](const std::vector<Story> &st) { stories = st; });
  bool stop = false;
  EXPECT_FALSE(s.run("main", [&] {
    s.spawn("spinner", [&] {
      while (!stop && !s.stuck()) s.yield("spin");
    });
  }));
  EXPECT_EQ(stories.size(), 1u);
  EXPECT_GE(s.steps(), 1000u);
}

// A program's own thread becomes scheduled thread 0 (adopt), starts workers, joins them and
// gives the baton back (leave): the same seed gives the same digest.
TEST(Sched, AdoptedThreadSpawnsJoinsAndLeaves) {
  auto once = [](uint64_t seed, std::vector<int> *order) {
    Scheduler s(with(seed, Policy::kRandom));
    s.adopt("main");
    std::vector<int> ids;
    for (int w = 0; w < 3; w++) {
      ids.push_back(s.spawn("w" + std::to_string(w), [&s, order, w] {
        for (int i = 0; i < 5; i++) {
          order->push_back(w);
          s.yield("step");
        }
      }));
    }
    for (int id : ids) EXPECT_TRUE(s.join(id));
    EXPECT_EQ(order->size(), 15u);  // every worker ran to its end before its join returned
    uint64_t d = s.digest();
    s.leave();
    EXPECT_EQ(s.self(), -1);
    return d;
  };
  std::vector<int> a, b;
  EXPECT_EQ(once(9, &a), once(9, &b));
  EXPECT_EQ(a, b);
}

// wait_quiet returns only once no other thread can run: here, once both workers have finished
// (they never block, so they are runnable until they exit).
TEST(Sched, WaitQuietLetsEveryRunnableThreadRunFirst) {
  Scheduler s(with(4, Policy::kRandom));
  int done = 0;
  EXPECT_TRUE(s.run("main", [&] {
    for (int w = 0; w < 2; w++) {
      s.spawn("w", [&] {
        for (int i = 0; i < 20; i++) s.yield("step");
        done++;
      });
    }
    EXPECT_EQ(done, 0);
    EXPECT_TRUE(s.wait_quiet("quiet"));
    EXPECT_EQ(done, 2);
  }));
}

// stories() says what every live thread waits for, and who runs.
TEST(Sched, StoriesNameWhatEachThreadWaitsFor) {
  Scheduler s(with(1, Policy::kFair));
  EXPECT_TRUE(s.run("main", [&] {
    int id = s.spawn("sleeper", [&] { EXPECT_TRUE(s.block("a test wait")); });
    EXPECT_TRUE(s.wait_quiet("the sleeper to block"));
    std::vector<Story> st = s.stories();
    ASSERT_EQ(st.size(), 2u);
    EXPECT_EQ(st[0].name, "main");
    EXPECT_EQ(st[0].waits_for, "(running)");
    EXPECT_EQ(st[1].name, "sleeper");
    EXPECT_EQ(st[1].waits_for, "a test wait");
    s.wake(id);
    EXPECT_TRUE(s.join(id));
  }));
}

TEST(Sched, PolicyNamesParse) {
  Policy p;
  EXPECT_TRUE(parse_policy("pct", &p));
  EXPECT_EQ(p, Policy::kPct);
  EXPECT_TRUE(parse_policy("fair", &p));
  EXPECT_STREQ(policy_name(p), "fair");
  EXPECT_FALSE(parse_policy("roundrobin", &p));
}

}  // namespace
}  // namespace fk::sched
