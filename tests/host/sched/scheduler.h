// A deterministic scheduler for host threads: exactly one scheduled thread runs at a time, and
// it changes hands only at switch points the threads call (yield, block, exit). Which runnable
// thread runs next is decided by a policy fed from a seeded PRNG, so one seed gives one
// interleaving: every decision is folded into a digest, and a failure is replayed by its seed.
//
// Threads hand one baton (a host thread per scheduled thread; the others wait on their own
// condition variable), so code that runs on it - the userland kernel's primitives and the
// driver - stays ordinary blocking C++.
//
// Policies:
//   kFair    round robin over the runnable threads, in id order from the one that ran;
//   kRandom  a uniformly random runnable thread at every switch point;
//   kPct     probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010): every thread
//            gets a random distinct priority, the highest-priority runnable thread runs, and at
//            depth - 1 random steps the running thread drops below all others. A bug that needs
//            d ordering constraints is found with probability >= 1 / (n * k^(d-1)) per seed
//            (n threads, k steps).
//
// When no thread is runnable, the idle hook may make time pass (advance a virtual clock to its
// next event, waking threads); when it cannot, and threads are still blocked, the run is
// stuck: the stuck hook gets every blocked thread's story (what it waits for, since which step)
// and the scheduler stops: blocked threads return from block() with false.
#ifndef PVSCSI_HOST_SCHED_H
#define PVSCSI_HOST_SCHED_H

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fk::sched {

enum class Policy { kFair, kRandom, kPct };

// "fair", "random" or "pct"; false for anything else.
bool parse_policy(const std::string &text, Policy *out);
const char *policy_name(Policy p);

struct Options {
  uint64_t seed = 1;
  Policy policy = Policy::kRandom;
  unsigned pct_depth = 3;      // PCT: bugs of this depth are targeted (d - 1 change points)
  uint64_t pct_steps = 20000;  // PCT: change points are drawn among this many steps
  uint64_t max_steps = 0;      // 0: unbounded; else the run stops (as stuck) past this step
};

// One blocked thread at the moment the run got stuck.
struct Story {
  int id;
  std::string name;
  std::string waits_for;
  uint64_t since_step;
};

class Scheduler {
 public:
  explicit Scheduler(const Options &opt);
  ~Scheduler();
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  // Runs fn as scheduled thread 0 on the calling thread and returns when every scheduled
  // thread has exited (or the run got stuck). Returns false if it got stuck.
  bool run(const std::string &name, const std::function<void()> &fn);

  // The calling (unscheduled) thread becomes scheduled thread 0 and holds the baton: for a
  // program whose main thread drives the run (the userland kernel booted in deterministic
  // mode). leave() gives it back; every other scheduled thread must have exited (join them).
  void adopt(const std::string &name);
  void leave();

  // From a scheduled thread: starts fn as a new scheduled thread (its id is returned and is the
  // same in every run with the same seed). It first runs when the policy picks it.
  int spawn(const std::string &name, std::function<void()> fn);

  // From a scheduled thread: a switch point. The policy picks who runs next (maybe the caller).
  void yield(const char *where);

  // From a scheduled thread: it cannot run until another wakes it; the baton moves on. Returns
  // false when the run is stopped (stuck): the caller must then unwind without touching shared
  // state.
  bool block(const std::string &waits_for);

  // From a scheduled thread: waits until thread id has exited, then joins its host thread.
  // Returns false when the run is stopped (stuck).
  bool join(int id);

  // From a scheduled thread: waits until no other thread is runnable (the rest of the system
  // has done what it can without time passing), before the idle hook may move time. Returns
  // false when the run is stopped (stuck).
  bool wait_quiet(const char *what);

  // From a scheduled thread: makes thread id runnable (no effect if it is not blocked).
  void wake(int id);

  // The calling thread's id, or -1 when it is not scheduled.
  int self() const;

  // Called with no thread runnable: make time pass and wake someone; return false if nothing
  // can happen any more. Runs on the thread that gave up the baton, without the scheduler lock.
  void set_idle_hook(std::function<bool()> fn);
  // Called once if the run gets stuck, with every blocked thread's story.
  void set_stuck_hook(std::function<void(const std::vector<Story> &)> fn);

  // Folds an external event (a device event, a time step) into the digest.
  void note(uint64_t tag, uint64_t value);

  // Every thread not yet exited: what it waits for (runnable ones say so), since which step.
  std::vector<Story> stories() const;

  uint64_t digest() const;
  uint64_t steps() const;     // switch points so far
  uint64_t switches() const;  // times the baton changed hands
  bool stuck() const;
  const Options &options() const { return opt_; }

 private:
  struct Thread {
    int id;
    std::string name;
    enum class State { kRunnable, kBlocked, kQuiet, kDone } state = State::kRunnable;
    std::vector<int> joiners;  // threads blocked in join() on this one
    std::string waits_for;
    uint64_t since_step = 0;
    int64_t priority = 0;  // PCT
    std::condition_variable cv;
    std::thread host;
  };

  template <class T>
  T locked(const T &field) const;  // a copy of field, read under mu_
  Thread *add_thread_locked(const std::string &name);
  uint64_t next_random();
  int pick_locked();
  void pass_locked(std::unique_lock<std::mutex> &lk, int from);
  void wait_turn_locked(std::unique_lock<std::mutex> &lk, Thread &t);
  void mix_locked(uint64_t a, uint64_t b);
  void declare_stuck_locked(std::unique_lock<std::mutex> &lk);
  void exit_current(int id);
  bool park_locked(std::unique_lock<std::mutex> &lk, Thread::State state, const std::string &why);

  const Options opt_;
  mutable std::mutex mu_;
  std::map<int, Thread *> threads_;  // all not yet joined, by id
  std::vector<Thread *> owned_;
  int current_ = -1;
  int next_id_ = 0;
  uint64_t rng_;
  uint64_t digest_ = 1469598103934665603ull;  // FNV-1a offset basis
  uint64_t steps_ = 0;
  uint64_t switches_ = 0;
  bool stuck_ = false;
  bool in_idle_ = false;
  std::vector<uint64_t> change_points_;  // PCT, ascending
  std::function<bool()> idle_;
  std::function<void(const std::vector<Story> &)> on_stuck_;
  std::condition_variable all_done_;
};

}  // namespace fk::sched

#endif  // PVSCSI_HOST_SCHED_H
