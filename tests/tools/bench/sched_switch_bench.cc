// The cost of one switch between two threads, three ways, for the "sim" section of
// scripts/bench.sh (tests/tools/bench/sim_bench.py):
//   scheduler  two scheduled threads of fk::sched::Scheduler (fair policy, so every yield hands
//              the baton over): a host-thread baton pass, as in the userland kernel's
//              deterministic mode;
//   condvar    two host threads handing a flag over with one mutex and a condition variable each:
//              the bare handoff the scheduler is built on;
//   ucontext   two contexts of one host thread, swapcontext(): what a fiber-based scheduler would
//              pay instead.
// Prints one JSON object: ns per switch for each, and the scheduler's steps and switches.
//   pvscsi_sched_switch_bench [SWITCHES]      (default 200000)
#include <ucontext.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "scheduler.h"

namespace {

using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point t0) {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

double scheduler_ns(long n, uint64_t *steps, uint64_t *switches) {
  fk::sched::Options o;
  o.policy = fk::sched::Policy::kFair;
  fk::sched::Scheduler s(o);
  Clock::time_point t0;
  s.run("main", [&] {
    s.spawn("peer", [&] {
      for (long i = 0; i < n / 2; i++) s.yield("peer");
    });
    t0 = Clock::now();
    for (long i = 0; i < n / 2; i++) s.yield("main");
  });
  double ns = ns_since(t0);
  *steps = s.steps();
  *switches = s.switches();
  return *switches != 0 ? ns / double(*switches) : 0;
}

double condvar_ns(long n) {
  std::mutex mu;
  std::condition_variable cv[2];
  int turn = 0;
  auto player = [&](int me) {
    for (long i = 0; i < n / 2; i++) {
      std::unique_lock<std::mutex> lk(mu);
      cv[me].wait(lk, [&] { return turn == me; });
      turn = 1 - me;
      cv[1 - me].notify_one();
    }
  };
  Clock::time_point t0 = Clock::now();
  std::thread peer(player, 1);
  player(0);
  peer.join();
  return ns_since(t0) / double(n);
}

ucontext_t g_main_ctx, g_peer_ctx;
long g_rounds = 0;

void peer_fn() {
  for (long i = 0; i < g_rounds; i++) swapcontext(&g_peer_ctx, &g_main_ctx);
}

double ucontext_ns(long n) {
  static char stack[64 * 1024];
  g_rounds = n / 2;
  getcontext(&g_peer_ctx);
  g_peer_ctx.uc_stack.ss_sp = stack;
  g_peer_ctx.uc_stack.ss_size = sizeof stack;
  g_peer_ctx.uc_link = &g_main_ctx;
  makecontext(&g_peer_ctx, peer_fn, 0);
  Clock::time_point t0 = Clock::now();
  for (long i = 0; i < g_rounds; i++) swapcontext(&g_main_ctx, &g_peer_ctx);
  swapcontext(&g_main_ctx, &g_peer_ctx);  // lets peer_fn return through uc_link
  return ns_since(t0) / double(n);
}

}  // namespace

int main(int argc, char **argv) {
  long n = 200000;
  if (argc > 1) {
    char *end = nullptr;
    n = std::strtol(argv[1], &end, 10);
    if (end == argv[1] || *end != '\0' || n < 2) {
      std::fprintf(stderr, "pvscsi_sched_switch_bench: SWITCHES must be an integer >= 2, not %s\n",
                   argv[1]);
      return 2;
    }
  }
  uint64_t steps = 0, switches = 0;
  double sched = scheduler_ns(n, &steps, &switches);
  double cv = condvar_ns(n);
  double uc = ucontext_ns(n);
  std::printf(
      "{\"switches_asked\": %ld, \"scheduler_ns_per_switch\": %.1f, \"scheduler_steps\": %llu, "
      "\"scheduler_switches\": %llu, \"condvar_ns_per_switch\": %.1f, "
      "\"ucontext_ns_per_switch\": %.1f}\n",
      n, sched, (unsigned long long)steps, (unsigned long long)switches, cv, uc);
  return 0;
}
