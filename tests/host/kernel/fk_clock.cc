// The kernel clock (virtual or real), callouts (timeout(9F), device schedule()), delays, lbolt,
// gethrtime (task queues: fk_taskq.cc).
//
// Events are ordered by (deadline, id), so events due at the same time fire in the order they
// were added. Callouts run on one callout thread; "wake" events (timed waits, delay) run inline
// in whoever moves the clock. In virtual mode time moves only through advance(),
// run_next_event(), drv_usecwait() and the optional auto-advance thread; in real mode a timer
// thread dispatches events as the host clock reaches them.
#include <sys/types.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>

#include <chrono>
#include <memory>
#include <cstdio>

#include "fk_internal.h"

namespace fk::impl {
namespace {

struct Event {
  std::function<void()> fn;
  bool callout;
};

struct Clock {
  std::mutex mu;
  HostCv cv;  // events changed, callout queue changed, callout finished
  ClockMode mode = ClockMode::kVirtual;
  int64_t now = 0;  // virtual time
  std::chrono::steady_clock::time_point boot;
  uint64_t next_id = 1;
  std::map<std::pair<int64_t, uint64_t>, Event> events;
  std::map<uint64_t, int64_t> when_of;                           // id -> deadline, while pending
  std::deque<std::pair<uint64_t, std::function<void()>>> ready;  // callouts to run
  uint64_t running = 0;                                          // id of the running callout
  bool stop = false;
  bool auto_advance = false;
  KThread callout_thread;
  std::thread timer_thread;  // real mode
  std::thread auto_thread;   // virtual mode auto-advance (real-thread mode only)
};

Clock *g_clock = nullptr;
// The callout thread's "blocked in a kernel primitive" flag (its ThreadCtx is thread-local).
std::atomic<std::atomic<bool> *> g_callout_blocked{nullptr};

bool callout_blocked() {
  std::atomic<bool> *b = g_callout_blocked.load();
  return b != nullptr && b->load();
}

int64_t now_locked(Clock &c) {
  if (c.mode == ClockMode::kReal)
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                c.boot)
        .count();
  return c.now;
}

void callout_main(Clock *c) {
  tctx().is_callout = true;
  g_callout_blocked = &tctx().blocked;
  std::unique_lock<std::mutex> lk(c->mu);
  for (;;) {
    c->cv.wait(
        lk, [c] { return c->stop || !c->ready.empty(); }, "callout work");
    if (c->ready.empty()) return;
    auto [id, fn] = std::move(c->ready.front());
    c->ready.pop_front();
    c->running = id;
    lk.unlock();
    fn();
    lk.lock();
    c->running = 0;
    c->cv.notify_all();
  }
}

// Pop the earliest event due at or before target; false if none. Called with c.mu held.
bool pop_due(Clock &c, int64_t target, uint64_t *id, Event *ev) {
  if (c.events.empty()) return false;
  auto it = c.events.begin();
  if (it->first.first > target) return false;
  *id = it->first.second;
  if (c.mode == ClockMode::kVirtual && it->first.first > c.now) c.now = it->first.first;
  *ev = std::move(it->second);
  c.when_of.erase(*id);
  c.events.erase(it);
  return true;
}

// The callout thread has nothing to do, or is blocked in a kernel primitive.
bool callouts_settled(Clock &c) { return c.ready.empty() && (c.running == 0 || callout_blocked()); }

// wait: the caller moves the clock on and lets what this event started run first. Real-thread
// mode: a callout runs to completion or until it blocks in a kernel primitive. Deterministic
// mode: every thread the event made runnable runs until none can (wait_quiet).
void dispatch(Clock &c, std::unique_lock<std::mutex> &lk, uint64_t id, Event &ev, bool wait) {
  det_note(0xC0, uint64_t(id));
  if (ev.callout) {
    c.ready.emplace_back(id, std::move(ev.fn));
    c.cv.notify_all();
    if (wait && on_det()) {
      lk.unlock();
      (void)fk::wait_quiet("the callout it fired");
      lk.lock();
    } else if (wait && std::this_thread::get_id() != c.callout_thread.tid()) {
      c.cv.wait(
          lk, [&c] { return c.stop || callouts_settled(c); }, "a callout to settle");
    }
  } else {
    lk.unlock();
    ev.fn();
    if (wait && on_det()) (void)fk::wait_quiet("the thread an event woke");
    lk.lock();
  }
}

void timer_main(Clock *c) {
  std::unique_lock<std::mutex> lk(c->mu);
  while (!c->stop) {
    if (c->events.empty()) {
      c->cv.wait(lk, "clock events");
      continue;
    }
    int64_t first = c->events.begin()->first.first;
    int64_t now = now_locked(*c);
    if (first > now) {
      (void)c->cv.wait_for_us(lk, (first - now + 999) / 1000, "the next event");
      continue;
    }
    uint64_t id;
    Event ev;
    while (pop_due(*c, now_locked(*c), &id, &ev)) dispatch(*c, lk, id, ev, false);
  }
}

void auto_main(Clock *c) {
  std::unique_lock<std::mutex> lk(c->mu);
  while (!c->stop && c->auto_advance) {
    if (c->events.empty() || !callouts_settled(*c)) {
      (void)c->cv.wait_for_us(lk, 200, "events");
      continue;
    }
    // Let running threads react to the last event before jumping ahead: no interrupt or task
    // queue work may be pending, and the kernel must stay idle for a moment.
    lk.unlock();
    host_sleep_us(200, "auto-advance");
    bool idle = intr_idle() && taskqs_idle();
    lk.lock();
    if (!idle || c->events.empty() || !c->auto_advance || !callouts_settled(*c)) continue;
    int64_t target = c->events.begin()->first.first;
    uint64_t id;
    Event ev;
    while (pop_due(*c, target, &id, &ev)) dispatch(*c, lk, id, ev, true);
  }
}

}  // namespace

void clock_init(ClockMode mode) {
  g_clock = new Clock;
  g_clock->mode = mode;
  g_clock->boot = std::chrono::steady_clock::now();
  g_clock->now = 0;
  Clock *c = g_clock;
  g_clock->callout_thread.start("callout", [c] { callout_main(c); });
  if (mode == ClockMode::kReal) g_clock->timer_thread = std::thread(timer_main, g_clock);
}

void clock_fini() {
  Clock *c = g_clock;
  if (c == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(c->mu);
    c->stop = true;
    c->auto_advance = false;
    c->events.clear();
    c->when_of.clear();
    c->cv.notify_all();
  }
  c->callout_thread.join();
  if (c->timer_thread.joinable()) c->timer_thread.join();
  if (c->auto_thread.joinable()) c->auto_thread.join();
  g_callout_blocked = nullptr;
  g_clock = nullptr;
  delete c;
}

int64_t clock_now() {
  if (g_clock == nullptr) return 0;
  std::lock_guard<std::mutex> lk(g_clock->mu);
  return now_locked(*g_clock);
}

uint64_t clock_add(int64_t when, std::function<void()> fn, bool callout) {
  Clock &c = *g_clock;
  std::lock_guard<std::mutex> lk(c.mu);
  uint64_t id = c.next_id++;
  c.events.emplace(std::make_pair(when, id), Event{std::move(fn), callout});
  c.when_of[id] = when;
  c.cv.notify_all();
  return id;
}

bool clock_cancel(uint64_t id, bool wait) {
  Clock *cp = g_clock;
  if (cp == nullptr) return false;
  Clock &c = *cp;
  std::unique_lock<std::mutex> lk(c.mu);
  auto w = c.when_of.find(id);
  if (w != c.when_of.end()) {
    c.events.erase({w->second, id});
    c.when_of.erase(w);
    return true;
  }
  for (auto it = c.ready.begin(); it != c.ready.end(); ++it) {
    if (it->first == id) {
      c.ready.erase(it);
      c.cv.notify_all();
      return true;
    }
  }
  if (wait && c.running == id && std::this_thread::get_id() != c.callout_thread.tid())
    c.cv.wait(
        lk, [&c, id] { return c.running != id; }, "a running callout");
  return false;
}

bool clock_pending(uint64_t id) {
  std::lock_guard<std::mutex> lk(g_clock->mu);
  return g_clock->when_of.count(id) != 0;
}

void clock_advance_to(int64_t target, bool wait) {
  check_time_limit(target);
  Clock &c = *g_clock;
  std::unique_lock<std::mutex> lk(c.mu);
  if (c.mode == ClockMode::kReal) return;
  uint64_t id;
  Event ev;
  while (pop_due(c, target, &id, &ev)) dispatch(c, lk, id, ev, wait);
  if (target > c.now) c.now = target;
}

bool clock_fire_next() {
  Clock &c = *g_clock;
  std::unique_lock<std::mutex> lk(c.mu);
  if (c.mode == ClockMode::kReal || c.events.empty()) return false;
  int64_t target = c.events.begin()->first.first;
  lk.unlock();
  check_time_limit(target);
  lk.lock();
  uint64_t id;
  Event ev;
  while (pop_due(c, target, &id, &ev)) dispatch(c, lk, id, ev, false);
  return true;
}

std::atomic<int> g_thread_lag_us{0};

void set_thread_lag(int us) { g_thread_lag_us = us > 0 ? us : 0; }

void thread_lag() {
  if (on_det()) return;  // a real-time lag means nothing to a scheduled run
  int us = g_thread_lag_us.load();
  if (us > 0) host_sleep_us(us, "thread lag");
}

// The waker clears the sleeper's "blocked" flag: a woken thread that the host has not run yet
// is runnable, not waiting for time, and drain() must not move the clock past it.
void clock_sleep_until(int64_t when) {
  struct Sleeper {
    std::mutex mu;
    HostCv cv;
    bool done = false;
  } s;
  std::atomic<bool> *blocked = &tctx().blocked;
  std::unique_lock<std::mutex> lk(s.mu);
  *blocked = true;
  (void)clock_add(
      when,
      [&s, blocked] {
        std::lock_guard<std::mutex> g(s.mu);
        s.done = true;
        *blocked = false;
        s.cv.notify_all();
      },
      false);
  s.cv.wait(
      lk, [&s] { return s.done; }, "delay");
  lk.unlock();
  thread_lag();
  *blocked = false;
}

bool clock_idle() {
  std::lock_guard<std::mutex> lk(g_clock->mu);
  return g_clock->ready.empty() && g_clock->running == 0;
}

}  // namespace fk::impl

namespace fk {
using namespace fk::impl;

int64_t now_ns() { return clock_now(); }

void advance(int64_t ns) {
  if (ns < 0) return;
  if (g_clock->mode == ClockMode::kReal) {
    host_sleep_us((ns + 999) / 1000, "advance on the real clock");
    return;
  }
  clock_advance_to(clock_now() + ns, true);
}

bool run_next_event() {
  Clock &c = *g_clock;
  int64_t target;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.mode == ClockMode::kReal || c.events.empty()) return false;
    target = c.events.begin()->first.first;
  }
  clock_advance_to(target, true);
  return true;
}

std::optional<int64_t> next_event_ns() {
  std::lock_guard<std::mutex> lk(g_clock->mu);
  if (g_clock->events.empty()) return std::nullopt;
  return g_clock->events.begin()->first.first;
}

size_t pending_events() {
  std::lock_guard<std::mutex> lk(g_clock->mu);
  return g_clock->events.size();
}

void set_auto_advance(bool on) {
  Clock &c = *g_clock;
  std::thread old;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    // Deterministic mode: time already moves whenever nothing can run.
    if (c.mode != ClockMode::kVirtual || c.auto_advance == on || det() != nullptr) return;
    c.auto_advance = on;
    c.cv.notify_all();
    if (on) {
      if (c.auto_thread.joinable()) old = std::move(c.auto_thread);
    } else {
      old = std::move(c.auto_thread);
    }
  }
  if (old.joinable()) old.join();
  if (on) {
    std::lock_guard<std::mutex> lk(c.mu);
    c.auto_thread = std::thread(auto_main, &c);
  }
}

bool kernel_runnable() {
  {
    std::lock_guard<std::mutex> lk(g_clock->mu);
    if (!callouts_settled(*g_clock)) return true;
  }
  return intr_runnable() || !taskqs_blocked();
}

// Deterministic mode: exact. Let every other thread run until none can; idle: done; else what
// is left waits for time (a delay, a device latency): fire the next event and go on.
static void drain_det() {
  for (;;) {
    if (clock_idle() && taskqs_idle() && intr_idle()) return;
    (void)fk::wait_quiet("drain");
    if (clock_idle() && taskqs_idle() && intr_idle()) return;
    if (!run_next_event()) return;  // nothing pending: the stuck check reports what is blocked
  }
}

void drain() {
  if (on_det()) {
    drain_det();
    return;
  }
  int quiet = 0;
  for (;;) {
    bool tq_idle = taskqs_idle(), irq_idle = intr_idle();
    bool settled;
    {
      std::lock_guard<std::mutex> lk(g_clock->mu);
      settled = callouts_settled(*g_clock);
    }
    if (clock_idle() && tq_idle && irq_idle) return;
    // Virtual clock: task-queue work blocked in a kernel primitive while no callout or
    // interrupt runs is waiting for time (a delay, a timed wait): after ~1 ms of that, jump
    // ahead. A task that is merely slow (a loaded machine, a sanitizer) is not overtaken.
    if (g_clock->mode == ClockMode::kVirtual && !tq_idle && settled && irq_idle &&
        taskqs_blocked() && pending_events() != 0) {
      if (++quiet >= 20) {
        run_next_event();
        quiet = 0;
      }
    } else {
      quiet = 0;
    }
    host_sleep_us(50, "drain");
  }
}

}  // namespace fk

using namespace fk::impl;

extern "C" {

hrtime_t gethrtime(void) { return clock_now(); }
clock_t ddi_get_lbolt(void) { return static_cast<clock_t>(clock_now() / kTickNs); }
int64_t ddi_get_lbolt64(void) { return clock_now() / kTickNs; }
time_t ddi_get_time(void) { return static_cast<time_t>(1700000000 + clock_now() / 1000000000); }

clock_t drv_usectohz(clock_t us) {
  if (us <= 0) return 0;
  return static_cast<clock_t>((static_cast<int64_t>(us) * 1000 + kTickNs - 1) / kTickNs);
}

clock_t drv_hztousec(clock_t ticks) {
  if (ticks <= 0) return 0;
  return static_cast<clock_t>(static_cast<int64_t>(ticks) * (kTickNs / 1000));
}

void drv_usecwait(clock_t us) {
  if (us <= 0) return;
  if (g_clock->mode == fk::ClockMode::kReal) {
    auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    while (std::chrono::steady_clock::now() < end) {
    }
    return;
  }
  // Busy-wait. Deterministic mode: the spinning thread waits for the clock to get there, as a
  // delay does (it stays off the other threads' way, as on a machine with a CPU each); the clock
  // moves when nobody can run, or with whoever moves it (a test's fk::advance), so a spinner
  // never drags time past what the rest of the system has seen. Real-thread mode: time passes
  // for everyone: due callouts run on the callout thread; wait for them unless that could
  // deadlock (this is the callout thread) - the wait ends when the callout finishes or blocks in
  // a kernel primitive.
  if (on_det()) {
    clock_sleep_until(clock_now() + static_cast<int64_t>(us) * 1000);
    return;
  }
  clock_advance_to(clock_now() + static_cast<int64_t>(us) * 1000, !tctx().is_callout);
}

void delay(clock_t ticks) {
  fk::check_may_sleep("delay", nullptr, __builtin_return_address(0));
  if (ticks <= 0) return;
  clock_sleep_until(clock_now() + static_cast<int64_t>(ticks) * kTickNs);
}

timeout_id_t timeout(void (*func)(void *), void *arg, clock_t ticks) {
  if (ticks <= 0) ticks = 1;
  const void *site = __builtin_return_address(0);
  auto holder = std::make_shared<std::atomic<uint64_t>>(0);
  uint64_t id = clock_add(
      clock_now() + static_cast<int64_t>(ticks) * kTickNs,
      [func, arg, holder] {
        // The callout can fire before timeout() has recorded it: wait until it has, so the
        // record is always removed (else a fired timeout would be reported as a leak).
        uint64_t me;
        while ((me = holder->load()) == 0) std::this_thread::yield();
        untrack("timeout", reinterpret_cast<void *>(me));
        ctr().timeouts_fired++;
        tctx().in_timeout = true;
        func(arg);
        tctx().in_timeout = false;
      },
      true);
  track("timeout", reinterpret_cast<void *>(id), 0, site);
  holder->store(id);
  return reinterpret_cast<timeout_id_t>(id);
}

clock_t untimeout(timeout_id_t tid) {
  uint64_t id = reinterpret_cast<uint64_t>(tid);
  if (id == 0) return -1;
  int64_t when = -1;
  {
    std::lock_guard<std::mutex> lk(g_clock->mu);
    auto it = g_clock->when_of.find(id);
    if (it != g_clock->when_of.end()) when = it->second;
  }
  if (clock_cancel(id, true)) {
    untrack("timeout", reinterpret_cast<void *>(id));
    if (when < 0) return 0;
    int64_t left = (when - clock_now() + kTickNs - 1) / kTickNs;
    return left > 0 ? left : 0;
  }
  return -1;
}

}  // extern "C"
