#include "scheduler.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace fk::sched {

namespace {

thread_local Scheduler *tls_sched = nullptr;
thread_local int tls_id = -1;

// Digest tags: what kind of decision or event a digest entry is.
enum : uint64_t { kTagPick = 1, kTagSpawn, kTagWake, kTagBlock, kTagExit, kTagQuiet };

[[noreturn]] void misuse(const char *what) {
  std::fprintf(stderr, "fk::sched: %s\n", what);
  std::abort();
}

}  // namespace

bool parse_policy(const std::string &text, Policy *out) {
  if (text == "fair") {
    *out = Policy::kFair;
  } else if (text == "random") {
    *out = Policy::kRandom;
  } else if (text == "pct") {
    *out = Policy::kPct;
  } else {
    return false;
  }
  return true;
}

const char *policy_name(Policy p) {
  switch (p) {
    case Policy::kFair:
      return "fair";
    case Policy::kRandom:
      return "random";
    case Policy::kPct:
      return "pct";
  }
  return "?";
}

Scheduler::Scheduler(const Options &opt) : opt_(opt), rng_(opt.seed) {
  if (opt_.policy == Policy::kPct && opt_.pct_depth > 1 && opt_.pct_steps > 0) {
    for (unsigned i = 0; i + 1 < opt_.pct_depth; i++) {
      change_points_.push_back(1 + next_random() % opt_.pct_steps);
    }
    std::sort(change_points_.begin(), change_points_.end());
  }
}

Scheduler::~Scheduler() {
  for (Thread *t : owned_) {
    if (t->host.joinable()) {
      t->host.join();
    }
    delete t;
  }
}

// splitmix64: small, fast, and the same sequence on every machine.
uint64_t Scheduler::next_random() {
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Scheduler::mix_locked(uint64_t a, uint64_t b) {
  for (uint64_t v : {a, b}) {
    for (int i = 0; i < 8; i++) {
      digest_ ^= (v >> (8 * i)) & 0xFF;
      digest_ *= 1099511628211ull;  // FNV-1a prime
    }
  }
}

void Scheduler::note(uint64_t tag, uint64_t value) {
  std::lock_guard<std::mutex> g(mu_);
  mix_locked(0x100 + tag, value);
}

int Scheduler::pick_locked() {
  std::vector<Thread *> runnable;
  for (auto &kv : threads_) {
    if (kv.second->state == Thread::State::kRunnable) {
      runnable.push_back(kv.second);
    }
  }
  if (runnable.empty()) {
    return -1;
  }
  switch (opt_.policy) {
    case Policy::kFair:
      for (Thread *t : runnable) {
        if (t->id > current_) {
          return t->id;
        }
      }
      return runnable.front()->id;
    case Policy::kRandom:
      return runnable[next_random() % runnable.size()]->id;
    case Policy::kPct: {
      Thread *best = runnable.front();
      for (Thread *t : runnable) {
        if (t->priority > best->priority) {
          best = t;
        }
      }
      return best->id;
    }
  }
  return runnable.front()->id;
}

void Scheduler::wait_turn_locked(std::unique_lock<std::mutex> &lk, Thread &t) {
  t.cv.wait(lk,
            [&] { return stuck_ || (current_ == t.id && t.state == Thread::State::kRunnable); });
}

void Scheduler::declare_stuck_locked(std::unique_lock<std::mutex> &lk) {
  if (stuck_) {
    return;
  }
  std::vector<Story> stories;
  for (auto &kv : threads_) {
    Thread *t = kv.second;
    if (t->state == Thread::State::kBlocked || t->state == Thread::State::kQuiet) {
      stories.push_back({t->id, t->name, t->waits_for, t->since_step});
    } else if (t->state == Thread::State::kRunnable) {
      stories.push_back({t->id, t->name, "runnable when the step limit was reached", steps_});
    }
  }
  stuck_ = true;
  current_ = -1;
  auto hook = on_stuck_;
  lk.unlock();
  if (hook) {
    hook(stories);
  }
  lk.lock();
  for (auto &kv : threads_) {
    kv.second->cv.notify_all();
  }
  all_done_.notify_all();
}

// The caller (thread `from`) gives up the baton: to the policy's pick, or - nobody runnable -
// after the idle hook made time pass; else the run is over (all done) or stuck.
void Scheduler::pass_locked(std::unique_lock<std::mutex> &lk, int from) {
  for (;;) {
    if (stuck_) {
      return;
    }
    if (opt_.max_steps != 0 && steps_ > opt_.max_steps) {
      declare_stuck_locked(lk);
      return;
    }
    int next = pick_locked();
    if (next >= 0) {
      mix_locked(kTagPick, uint64_t(next));
      if (next != from) {
        switches_++;
      }
      current_ = next;
      threads_[next]->cv.notify_all();
      return;
    }
    // Nobody can run: those waiting for quiet go first, before time may pass.
    bool quiet = false;
    for (auto &kv : threads_) {
      if (kv.second->state == Thread::State::kQuiet) {
        kv.second->state = Thread::State::kRunnable;
        kv.second->waits_for.clear();
        mix_locked(kTagQuiet, uint64_t(kv.first));
        quiet = true;
      }
    }
    if (quiet) {
      continue;
    }
    bool any_blocked = false;
    for (auto &kv : threads_) {
      any_blocked |= kv.second->state == Thread::State::kBlocked;
    }
    if (!any_blocked) {
      current_ = -1;  // every thread has exited
      all_done_.notify_all();
      return;
    }
    bool progressed = false;
    if (idle_) {
      in_idle_ = true;
      current_ = from;  // the idle hook runs as the thread that gave up the baton
      lk.unlock();
      progressed = idle_();
      lk.lock();
      in_idle_ = false;
    }
    if (!progressed && pick_locked() < 0) {
      declare_stuck_locked(lk);
      return;
    }
  }
}

// A new thread, runnable, with its id (the next in creation order) and its PCT priority.
Scheduler::Thread *Scheduler::add_thread_locked(const std::string &name) {
  auto *t = new Thread();
  t->id = next_id_++;
  t->name = name;
  t->priority = int64_t(opt_.pct_depth) + int64_t(next_random() >> 8);
  owned_.push_back(t);
  threads_[t->id] = t;
  return t;
}

bool Scheduler::run(const std::string &name, const std::function<void()> &fn) {
  if (tls_sched != nullptr) {
    misuse("run() from a scheduled thread");
  }
  {
    std::unique_lock<std::mutex> lk(mu_);
    Thread *t = add_thread_locked(name);
    current_ = t->id;
    tls_sched = this;
    tls_id = t->id;
  }
  fn();
  exit_current(tls_id);
  tls_sched = nullptr;
  tls_id = -1;
  std::unique_lock<std::mutex> lk(mu_);
  all_done_.wait(lk, [&] {
    if (stuck_) {
      return true;
    }
    for (auto &kv : threads_) {
      if (kv.second->state != Thread::State::kDone) {
        return false;
      }
    }
    return true;
  });
  lk.unlock();
  for (Thread *t : owned_) {
    if (t->host.joinable()) {
      t->host.join();
    }
  }
  lk.lock();
  return !stuck_;
}

void Scheduler::adopt(const std::string &name) {
  if (tls_sched != nullptr) {
    misuse("adopt() from a scheduled thread");
  }
  std::unique_lock<std::mutex> lk(mu_);
  if (current_ != -1 || !threads_.empty()) {
    misuse("adopt() of a scheduler already running");
  }
  Thread *t = add_thread_locked(name);
  current_ = t->id;
  tls_sched = this;
  tls_id = t->id;
}

void Scheduler::leave() {
  std::unique_lock<std::mutex> lk(mu_);
  if (tls_sched != this) {
    misuse("leave() from a thread that is not scheduled here");
  }
  int me = tls_id;
  for (auto &kv : threads_) {
    if (kv.first != me && kv.second->state != Thread::State::kDone && !stuck_) {
      misuse(("leave() while thread " + kv.second->name + " has not exited").c_str());
    }
  }
  threads_[me]->state = Thread::State::kDone;
  current_ = -1;
  tls_sched = nullptr;
  tls_id = -1;
  all_done_.notify_all();
}

int Scheduler::spawn(const std::string &name, std::function<void()> fn) {
  std::unique_lock<std::mutex> lk(mu_);
  if (tls_sched != this || (tls_id != current_ && !in_idle_)) {
    misuse("spawn() from a thread that does not hold the baton");
  }
  Thread *t = add_thread_locked(name);
  mix_locked(kTagSpawn, uint64_t(t->id));
  t->host = std::thread([this, t, fn = std::move(fn)] {
    tls_sched = this;
    tls_id = t->id;
    {
      std::unique_lock<std::mutex> l(mu_);
      wait_turn_locked(l, *t);
      if (stuck_) {
        t->state = Thread::State::kDone;
        all_done_.notify_all();
        return;
      }
    }
    fn();
    exit_current(t->id);
  });
  return t->id;
}

void Scheduler::exit_current(int id) {
  std::unique_lock<std::mutex> lk(mu_);
  Thread *t = threads_[id];
  t->state = Thread::State::kDone;
  steps_++;
  mix_locked(kTagExit, uint64_t(id));
  for (int j : t->joiners) {
    Thread *w = threads_[j];
    if (w->state == Thread::State::kBlocked) {
      w->state = Thread::State::kRunnable;
      w->waits_for.clear();
      mix_locked(kTagWake, uint64_t(j));
    }
  }
  t->joiners.clear();
  if (stuck_) {
    all_done_.notify_all();
    return;
  }
  pass_locked(lk, id);
  all_done_.notify_all();
}

void Scheduler::yield(const char *) {
  std::unique_lock<std::mutex> lk(mu_);
  if (stuck_ || in_idle_) {
    return;  // the run is over (the caller unwinds), or time is moving: not a switch point
  }
  int me = tls_id;
  if (tls_sched != this || me != current_) {
    misuse("yield() from a thread that does not hold the baton");
  }
  steps_++;
  if (opt_.policy == Policy::kPct) {
    for (size_t i = 0; i < change_points_.size(); i++) {
      if (change_points_[i] == steps_) {
        threads_[me]->priority = int64_t(opt_.pct_depth) - int64_t(i) - 1;
      }
    }
  }
  pass_locked(lk, me);
  wait_turn_locked(lk, *threads_[me]);
}

// The calling thread stops being runnable (blocked, or waiting for quiet) and gives up the
// baton until it is made runnable and picked again.
bool Scheduler::park_locked(std::unique_lock<std::mutex> &lk, Thread::State state,
                            const std::string &why) {
  int me = tls_id;
  if (tls_sched != this || me != current_) {
    misuse("block() from a thread that does not hold the baton");
  }
  if (stuck_) {
    return false;
  }
  Thread *t = threads_[me];
  t->state = state;
  t->waits_for = why;
  t->since_step = steps_;
  steps_++;
  mix_locked(kTagBlock, uint64_t(me));
  pass_locked(lk, me);
  wait_turn_locked(lk, *t);
  return !stuck_;
}

bool Scheduler::block(const std::string &waits_for) {
  std::unique_lock<std::mutex> lk(mu_);
  return park_locked(lk, Thread::State::kBlocked, waits_for);
}

bool Scheduler::wait_quiet(const char *what) {
  std::unique_lock<std::mutex> lk(mu_);
  return park_locked(lk, Thread::State::kQuiet, what);
}

bool Scheduler::join(int id) {
  std::unique_lock<std::mutex> lk(mu_);
  auto it = threads_.find(id);
  if (it == threads_.end()) {
    return true;
  }
  Thread *t = it->second;
  while (t->state != Thread::State::kDone) {
    t->joiners.push_back(tls_id);
    if (!park_locked(lk, Thread::State::kBlocked, "join " + t->name)) {
      return false;
    }
  }
  lk.unlock();
  if (t->host.joinable()) {
    t->host.join();
  }
  return true;
}

void Scheduler::wake(int id) {
  std::lock_guard<std::mutex> g(mu_);
  if (tls_sched != this || (tls_id != current_ && !in_idle_)) {
    misuse("wake() from a thread that does not hold the baton");
  }
  auto it = threads_.find(id);
  if (it != threads_.end() && it->second->state == Thread::State::kBlocked) {
    it->second->state = Thread::State::kRunnable;
    it->second->waits_for.clear();
    mix_locked(kTagWake, uint64_t(id));
  }
}

int Scheduler::self() const { return tls_sched == this ? tls_id : -1; }

void Scheduler::set_idle_hook(std::function<bool()> fn) {
  std::lock_guard<std::mutex> g(mu_);
  idle_ = std::move(fn);
}

void Scheduler::set_stuck_hook(std::function<void(const std::vector<Story> &)> fn) {
  std::lock_guard<std::mutex> g(mu_);
  on_stuck_ = std::move(fn);
}

std::vector<Story> Scheduler::stories() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Story> out;
  for (auto &kv : threads_) {
    const Thread *t = kv.second;
    if (t->state == Thread::State::kDone) {
      continue;
    }
    std::string what = t->state == Thread::State::kRunnable
                           ? (t->id == current_ ? "(running)" : "(runnable)")
                           : t->waits_for;
    out.push_back({t->id, t->name, what, t->since_step});
  }
  return out;
}

template <class T>
T Scheduler::locked(const T &field) const {
  std::lock_guard<std::mutex> g(mu_);
  return field;
}

uint64_t Scheduler::digest() const { return locked(digest_); }
uint64_t Scheduler::steps() const { return locked(steps_); }
uint64_t Scheduler::switches() const { return locked(switches_); }
bool Scheduler::stuck() const { return locked(stuck_); }

}  // namespace fk::sched
