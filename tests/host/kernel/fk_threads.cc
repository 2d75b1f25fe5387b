// Kernel threads and the host's waits, real or deterministic (see README.md, "Deterministic
// mode"). Booted with Options::deterministic, the kernel owns one fk::sched::Scheduler: the
// booting thread is scheduled thread 0 ("main"), every thread the host starts is a scheduled
// thread, every wait is a scheduler block, and the kernel primitives are switch points. Virtual
// time moves only when no thread can run (the idle hook fires the next clock event). A run with
// nothing runnable and nothing scheduled is stuck: fatal, with every blocked thread's story.
#include <cstdio>
#include <cstdlib>

#include "fk_internal.h"

namespace fk::impl {
namespace {

sched::Scheduler *g_sched = nullptr;
uint64_t g_last_digest = 0, g_last_steps = 0, g_last_switches = 0;
// Stuck reporters register from static initializers (the SCSA framework's registry): built on
// first use and never destroyed, so no initialization order can lose one.
struct Reporters {
  std::mutex mu;
  std::vector<std::pair<uint64_t, std::function<std::string()>>> list;
  uint64_t next = 1;
};
Reporters &reporters() {
  static Reporters *r = new Reporters();
  return *r;
}

std::atomic<int64_t> g_time_limit{0};
std::function<void(const std::string &)> g_fatal_hook;

std::string hex_digest(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

[[noreturn]] void fatal_run(const std::string &why, const std::vector<sched::Story> &stories) {
  std::string text =
      "deterministic run " + why + " at " + std::to_string(clock_now()) + " ns (seed " +
      std::to_string(g_sched->options().seed) + ", policy " +
      sched::policy_name(g_sched->options().policy) + ", step " + std::to_string(g_sched->steps()) +
      ", trace digest " + hex_digest(g_sched->digest()) + "; replay: the same command, or " +
      "FK_SCHED_SEED=" + std::to_string(g_sched->options().seed) +
      " FK_SCHED_POLICY=" + sched::policy_name(g_sched->options().policy) + " for a test)\n";
  for (const sched::Story &s : stories)
    text += "  thread " + std::to_string(s.id) + " " + s.name + ": waits for " + s.waits_for +
            " since step " + std::to_string(s.since_step) + "\n";
  std::vector<std::function<std::string()>> fns;
  {
    std::lock_guard<std::mutex> g(reporters().mu);
    for (auto &r : reporters().list) fns.push_back(r.second);
  }
  for (auto &fn : fns) text += fn();
  std::fprintf(stderr, "fk: %s", text.c_str());
  std::fflush(stderr);
  if (g_fatal_hook) {
    auto hook = g_fatal_hook;
    hook(text.substr(0, text.find('\n')));
  }
  // Nothing can ever happen again: fail now (a crash to a fuzzer, a failed test to ctest) rather
  // than at a test timeout.
  std::abort();
}

void on_stuck(const std::vector<sched::Story> &stories) {
  fatal_run("stuck: nothing runnable and no clock event pending", stories);
}

}  // namespace

void check_time_limit(int64_t target_ns) {
  const int64_t limit = g_time_limit.load();
  if (g_sched == nullptr || limit <= 0 || target_ns <= limit) return;
  fatal_run("hung: the virtual clock would pass its limit of " + std::to_string(limit) +
                " ns (a livelock, or recovery that never ends)",
            g_sched->stories());
}

sched::Scheduler *det() { return g_sched; }

bool on_det() { return g_sched != nullptr && g_sched->self() >= 0; }

void switch_point(const char *where) {
  if (on_det()) g_sched->yield(where);
}

void host_sleep_us(int64_t us, const char *why) {
  if (on_det())
    report_violation("sched", std::string("a host sleep (") + why +
                                  ") in a deterministic run: time moves only when nobody can run");
  std::this_thread::sleep_for(std::chrono::microseconds(us));
}

void det_note(uint64_t tag, uint64_t value) {
  if (g_sched != nullptr) g_sched->note(tag, value);
}

void sched_start(const Options &o) {
  if (!o.deterministic) return;
  g_sched = new sched::Scheduler(o.sched);
  g_sched->set_idle_hook([] { return clock_fire_next(); });
  g_sched->set_stuck_hook(on_stuck);
  g_time_limit = o.time_limit_ns;
  g_sched->adopt("main");
}

void sched_stop() {
  if (g_sched == nullptr) return;
  g_last_digest = g_sched->digest();
  g_last_steps = g_sched->steps();
  g_last_switches = g_sched->switches();
  g_sched->leave();
  delete g_sched;
  g_sched = nullptr;
}

uint64_t add_stuck_reporter(std::function<std::string()> fn) {
  Reporters &r = reporters();
  std::lock_guard<std::mutex> g(r.mu);
  r.list.emplace_back(r.next, std::move(fn));
  return r.next++;
}

void remove_stuck_reporter(uint64_t id) {
  Reporters &r = reporters();
  std::lock_guard<std::mutex> g(r.mu);
  for (auto it = r.list.begin(); it != r.list.end(); ++it) {
    if (it->first == id) {
      r.list.erase(it);
      return;
    }
  }
}

// The host thread's id is recorded by the creator for a std::thread (others read it under the
// locks that hand the thread its work, after creation), and by the scheduled thread itself
// before it first runs kernel code (under the baton).
void KThread::start(const std::string &name, std::function<void()> fn) {
  if (on_det()) {
    id_ = g_sched->spawn(name, [this, fn = std::move(fn)] {
      tid_ = std::this_thread::get_id();
      fn();
    });
  } else {
    th_ = std::thread(std::move(fn));
    tid_ = th_.get_id();
  }
}

void KThread::join() {
  if (id_ >= 0) {
    if (!on_det()) {
      std::fprintf(stderr, "fk: join of a scheduled thread from an unscheduled one\n");
      std::abort();
    }
    g_sched->join(id_);
    id_ = -1;
  } else if (th_.joinable()) {
    th_.join();
  }
}

void KThread::detach() {
  if (th_.joinable()) th_.detach();
  id_ = -1;
}

void HostCv::wait(std::unique_lock<std::mutex> &lk, const char *what) {
  if (!on_det()) {
    cv_.wait(lk);
    return;
  }
  waiters_.push_back(g_sched->self());
  lk.unlock();
  g_sched->block(what);
  lk.lock();
}

bool HostCv::wait_for_us(std::unique_lock<std::mutex> &lk, int64_t us, const char *what) {
  if (on_det()) {
    wait(lk, what);
    return true;
  }
  return cv_.wait_for(lk, std::chrono::microseconds(us)) == std::cv_status::no_timeout;
}

void HostCv::notify_one() {
  cv_.notify_one();
  if (g_sched != nullptr && !waiters_.empty()) {
    int id = waiters_.front();
    waiters_.erase(waiters_.begin());
    g_sched->wake(id);
  }
}

void HostCv::notify_all() {
  cv_.notify_all();
  if (g_sched != nullptr && !waiters_.empty()) {
    std::vector<int> w;
    w.swap(waiters_);
    for (int id : w) g_sched->wake(id);
  }
}

}  // namespace fk::impl

namespace fk {

bool deterministic() { return impl::g_sched != nullptr; }

SchedTrace sched_trace() {
  if (impl::g_sched != nullptr)
    return {impl::g_sched->digest(), impl::g_sched->steps(), impl::g_sched->switches()};
  return {impl::g_last_digest, impl::g_last_steps, impl::g_last_switches};
}

void trace_note(uint64_t tag, uint64_t value) { impl::det_note(tag, value); }

void set_fatal_hook(std::function<void(const std::string &)> fn) {
  impl::g_fatal_hook = std::move(fn);
}

void set_time_limit_ns(int64_t limit_ns) { impl::g_time_limit = limit_ns; }

bool wait_quiet(const char *what) {
  if (!impl::on_det()) return false;
  impl::g_sched->wait_quiet(what);
  return true;
}

}  // namespace fk
