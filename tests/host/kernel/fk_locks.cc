// Mutexes and condition variables (mutex(9F), condvar(9F)) with a lock checker:
// - recursive mutex_enter, mutex_exit by a non-owner or of an unheld mutex;
// - a mutex entered in interrupt context that was not initialised with DDI_INTR_PRI;
// - mutexes entered in quiesce(9E) (which runs single-threaded with interrupts off);
// - sleeping while holding a mutex initialised at interrupt priority, or in interrupt context;
// - lock-order cycles: acquiring B while holding A records A->B; a later acquisition that closes
//   a cycle (B held, A wanted) is reported with both lock names and the call sites of both
//   orders.
// Every kmutex/kcondvar's internal state is guarded by one host mutex (sync_mu()).
#include <sys/types.h>
#include <sys/ksynch.h>
#include <sys/mutex.h>
#include <sys/condvar.h>
#include <sys/sunddi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <list>
#include <map>
#include <set>

#include "fk_internal.h"

namespace fk::impl {
namespace {

struct MutexImpl {
  std::string name;
  kmutex_t *km = nullptr;
  bool intr = false;  // initialised with an interrupt priority
  uintptr_t pri = 0;
  const void *init_site = nullptr;
  bool held = false;
  std::thread::id owner;
  int depth = 0;  // extra recursive entries (after a reported violation)
  const void *enter_site = nullptr;
  HostCv cv;
  std::vector<std::atomic<bool> *> sleepers;  // "blocked" flags of the threads waiting for it
  uint64_t serial = 0;  // unique for the process's life (addresses are reused)
  // Statistics (fk::lock_stats): real-time hold times.
  uint64_t acquisitions = 0, hold_ns_total = 0, hold_ns_max = 0;
  std::chrono::steady_clock::time_point held_since;
};

struct Waiter {
  HostCv cv;
  bool signaled = false;
  bool timed_out = false;
  std::atomic<bool> *blocked = nullptr;  // the waiting thread's flag: whoever wakes it clears it

  void wake() {
    *blocked = false;
    cv.notify_one();
  }
};

struct CvImpl {
  std::string name;
  std::list<Waiter *> waiters;
  const void *init_site = nullptr;
};

struct Edge {
  const void *site_a;  // where A was entered
  const void *site_b;  // where B was entered while A was held
};

std::mutex g_mu;
// Waiters in cv_block by serial: a timed wait's timeout finds its waiter here, or nothing when
// the waiter was signalled and has gone (the event may already be firing when it is cancelled).
std::map<uint64_t, Waiter *> g_waiters;
uint64_t g_next_waiter = 1;
// A -> (B -> edge): B was entered while A was held.
std::map<MutexImpl *, std::map<MutexImpl *, Edge>> g_order;
std::set<std::pair<MutexImpl *, MutexImpl *>> g_reported;

thread_local std::vector<MutexImpl *> t_held;
std::set<uint64_t> g_held_serials;  // every held mutex, by serial
std::set<MutexImpl *> g_live;       // every initialised mutex (lock statistics)
uint64_t g_next_serial = 1;
thread_local ThreadCtx t_ctx;

MutexImpl *impl_of(const kmutex_t *mp) { return static_cast<MutexImpl *>(mp->_opaque[0]); }

std::string name_of(MutexImpl *m) { return m->name; }

MutexImpl *init_mutex(kmutex_t *mp, const char *name, void *arg, const void *site) {
  auto *m = new MutexImpl;
  char buf[64];
  if (name != nullptr && name[0] != '\0') {
    m->name = name;
  } else {
    snprintf(buf, sizeof buf, "mutex@%p", (void *)mp);
    m->name = buf;
  }
  m->km = mp;
  m->serial = g_next_serial++;
  g_live.insert(m);
  m->pri = reinterpret_cast<uintptr_t>(arg);
  m->intr = arg != nullptr;
  m->init_site = site;
  mp->_opaque[0] = m;
  track("mutex", mp, 0, site);
  return m;
}

// DFS: is there a path from 'from' to 'to' in the order graph? Fills path (excluding 'from').
bool path_exists(MutexImpl *from, MutexImpl *to, std::vector<MutexImpl *> &path,
                 std::set<MutexImpl *> &seen) {
  if (from == to) return true;
  if (!seen.insert(from).second) return false;
  auto it = g_order.find(from);
  if (it == g_order.end()) return false;
  for (auto &[next, e] : it->second) {
    path.push_back(next);
    if (path_exists(next, to, path, seen)) return true;
    path.pop_back();
  }
  return false;
}

// Called with g_mu held, before blocking for m.
void record_order(MutexImpl *m, const void *site) {
  for (MutexImpl *h : t_held) {
    if (h == m) continue;
    auto &edges = g_order[h];
    if (edges.count(m)) continue;
    // Would h -> m close a cycle m -> ... -> h?
    std::vector<MutexImpl *> path;
    std::set<MutexImpl *> seen;
    if (path_exists(m, h, path, seen) && !g_reported.count({h, m})) {
      g_reported.insert({h, m});
      g_reported.insert({m, h});
      std::string text = "lock order inversion: " + name_of(m) + " entered at " +
                         describe_site(site) + " while holding " + name_of(h) + " (entered at " +
                         describe_site(h->enter_site) + "); earlier order ";
      MutexImpl *prev = m;
      for (MutexImpl *n : path) {
        const Edge &e = g_order[prev][n];
        text += name_of(prev) + " (at " + describe_site(e.site_a) + ") -> " + name_of(n) + " (at " +
                describe_site(e.site_b) + ")";
        if (n != h) text += ", ";
        prev = n;
      }
      report_violation("lock", text);
    }
    edges[m] = Edge{h->enter_site, site};
  }
}

void forget_order(MutexImpl *m) {
  g_order.erase(m);
  for (auto &[a, edges] : g_order) edges.erase(m);
  for (auto it = g_reported.begin(); it != g_reported.end();) {
    if (it->first == m || it->second == m)
      it = g_reported.erase(it);
    else
      ++it;
  }
}

// A waiter is blocked until release() clears its flag and wakes it (a runnable thread the host
// has not run yet is not blocked); the waiters that lose the race for the mutex block again.
void acquire(std::unique_lock<std::mutex> &lk, MutexImpl *m, const void *site) {
  while (m->held) {
    t_ctx.blocked = true;
    m->sleepers.push_back(&t_ctx.blocked);
    m->cv.wait(lk, "a kernel mutex");
    auto me = std::find(m->sleepers.begin(), m->sleepers.end(), &t_ctx.blocked);
    if (me != m->sleepers.end()) {  // a spurious wake-up: still waiting
      m->sleepers.erase(me);
      t_ctx.blocked = false;
      continue;
    }
    lk.unlock();
    thread_lag();
    lk.lock();
    t_ctx.blocked = false;
  }
  m->held = true;
  m->owner = std::this_thread::get_id();
  m->enter_site = site;
  m->acquisitions++;
  m->held_since = std::chrono::steady_clock::now();
  t_held.push_back(m);
  g_held_serials.insert(m->serial);
}

void release(MutexImpl *m) {
  const uint64_t held_ns = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - m->held_since)
                                        .count());
  m->hold_ns_total += held_ns;
  m->hold_ns_max = std::max(m->hold_ns_max, held_ns);
  g_held_serials.erase(m->serial);
  m->held = false;
  m->owner = std::thread::id();
  auto it = std::find(t_held.begin(), t_held.end(), m);
  if (it != t_held.end()) t_held.erase(it);
  for (std::atomic<bool> *b : m->sleepers) *b = false;
  m->sleepers.clear();
  m->cv.notify_all();
}

void enter(kmutex_t *mp, const void *site) {
  std::unique_lock<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  if (m == nullptr) {
    char buf[128];
    snprintf(buf, sizeof buf, "mutex_enter(%p) of an uninitialised mutex at %s", (void *)mp,
             describe_site(site).c_str());
    report_violation("lock", buf);
    m = init_mutex(mp, nullptr, nullptr, site);
  }
  if (m->held && m->owner == std::this_thread::get_id()) {
    m->depth++;
    std::string text = "recursive mutex_enter of " + m->name + ": entered at " +
                       describe_site(m->enter_site) + ", again at " + describe_site(site);
    lk.unlock();
    report_violation("lock", text);
    return;
  }
  if (t_ctx.in_quiesce) {
    std::string text = "mutex_enter of " + m->name + " in quiesce(9E) at " + describe_site(site);
    lk.unlock();
    report_violation("lock", text);
    lk.lock();
  }
  if (t_ctx.in_intr && !m->intr) {
    std::string text = "mutex " + m->name + " entered in an interrupt handler at " +
                       describe_site(site) +
                       " but was not initialised with DDI_INTR_PRI (mutex_init at " +
                       describe_site(m->init_site) + ")";
    lk.unlock();
    report_violation("lock", text);
    lk.lock();
  }
  record_order(m, site);
  acquire(lk, m, site);
}

}  // namespace

std::mutex &sync_mu() { return g_mu; }

std::vector<uint64_t> held_mutex_serials() {
  std::lock_guard<std::mutex> lk(g_mu);
  return std::vector<uint64_t>(g_held_serials.begin(), g_held_serials.end());
}
ThreadCtx &tctx() { return t_ctx; }

void sync_reset() {
  std::lock_guard<std::mutex> lk(g_mu);
  g_order.clear();
  g_reported.clear();
}

// The state of a condition variable waited on; one never initialised is reported and given
// state so that the wait goes on. Called and returns with g_mu held (lk).
static CvImpl *cv_impl_for_wait(std::unique_lock<std::mutex> &lk, kcondvar_t *cvp,
                                const void *site) {
  auto *c = static_cast<CvImpl *>(cvp->_opaque);
  if (c != nullptr) return c;
  lk.unlock();
  report_violation("lock",
                   "cv_wait on an uninitialised condition variable at " + describe_site(site));
  lk.lock();
  c = new CvImpl;
  c->init_site = site;
  cvp->_opaque = c;
  track("cv", cvp, 0, site);
  return c;
}

// A callout at deadline that times out the waiter registered as serial; returns its event id.
// Called and returns with g_mu held (lk).
static uint64_t cv_arm_deadline(std::unique_lock<std::mutex> &lk, int64_t deadline,
                                uint64_t serial) {
  lk.unlock();
  uint64_t ev = clock_add(
      deadline,
      [serial] {
        std::lock_guard<std::mutex> g(g_mu);
        auto it = g_waiters.find(serial);
        if (it == g_waiters.end()) return;
        it->second->timed_out = true;
        it->second->wake();
      },
      false);
  lk.lock();
  return ev;
}

// Condition-variable wait shared by cv_wait and the timed variants. deadline < 0: none.
// Returns true if signalled, false if timed out.
static bool cv_block(kcondvar_t *cvp, kmutex_t *mp, int64_t deadline, const void *site) {
  std::unique_lock<std::mutex> lk(g_mu);
  CvImpl *c = cv_impl_for_wait(lk, cvp, site);
  MutexImpl *m = impl_of(mp);
  if (m == nullptr || !m->held || m->owner != std::this_thread::get_id()) {
    std::string text = "cv_wait without holding " + (m ? m->name : std::string("the mutex")) +
                       " at " + describe_site(site);
    lk.unlock();
    report_violation("lock", text);
    return true;
  }
  lk.unlock();
  check_may_sleep("cv_wait", mp, site);
  // The wait releases the mutex: judge the device reads waiting for it first (see mutex_exit).
  fk::impl::sync_audit_mutex_released(m->serial);
  lk.lock();
  Waiter w;
  w.blocked = &t_ctx.blocked;
  c->waiters.push_back(&w);
  uint64_t serial = g_next_waiter++;
  g_waiters[serial] = &w;
  int depth = m->depth;
  m->depth = 0;
  const void *esite = m->enter_site;
  release(m);
  uint64_t ev = deadline >= 0 ? cv_arm_deadline(lk, deadline, serial) : 0;
  if (!w.signaled && !w.timed_out) t_ctx.blocked = true;  // else already woken
  w.cv.wait(
      lk, [&w] { return w.signaled || w.timed_out; }, "a condition variable");
  lk.unlock();
  thread_lag();
  lk.lock();
  t_ctx.blocked = false;
  c->waiters.remove(&w);
  g_waiters.erase(serial);
  bool signaled = w.signaled;
  if (ev != 0) {
    lk.unlock();
    clock_cancel(ev, false);
    lk.lock();
  }
  record_order(m, esite);  // re-entering m while holding others orders them before m
  acquire(lk, m, esite);
  m->depth = depth;
  return signaled;
}

}  // namespace fk::impl

namespace fk {
using namespace fk::impl;

int held_lock_count() { return static_cast<int>(t_held.size()); }

std::vector<const kmutex_t *> held_locks() {
  std::vector<const kmutex_t *> out;
  for (MutexImpl *m : t_held) out.push_back(m->km);
  return out;
}

bool lock_held_by_me(const kmutex_t *mp) {
  std::lock_guard<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  return m != nullptr && m->held && m->owner == std::this_thread::get_id();
}

std::string lock_name(const kmutex_t *mp) {
  std::lock_guard<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  return m ? m->name : "(uninitialised mutex)";
}

bool in_interrupt() { return t_ctx.in_intr; }

std::vector<LockStat> lock_stats() {
  std::vector<LockStat> out;
  std::lock_guard<std::mutex> lk(g_mu);
  for (MutexImpl *m : g_live) {
    if (m->acquisitions == 0) continue;
    LockStat st;
    st.mutex = m->km;
    st.name = m->name;
    st.site = describe_site(m->enter_site);
    st.acquisitions = m->acquisitions;
    st.hold_ns_total = m->hold_ns_total;
    st.hold_ns_max = m->hold_ns_max;
    out.push_back(st);
  }
  return out;
}

void reset_lock_stats() {
  std::lock_guard<std::mutex> lk(g_mu);
  for (MutexImpl *m : g_live) m->acquisitions = m->hold_ns_total = m->hold_ns_max = 0;
}

void check_may_sleep(const char *what, const kmutex_t *except, const void *site) {
  if (site == nullptr) site = __builtin_return_address(0);
  if (t_ctx.in_intr) {
    report_violation("lock", std::string(what) + " in interrupt context (may not sleep) at " +
                                 describe_site(site));
    return;
  }
  if (t_ctx.in_quiesce) {
    report_violation("lock", std::string(what) + " in quiesce(9E) at " + describe_site(site));
    return;
  }
  if (t_ctx.in_timeout) {
    // timeout(9F): "the function called by timeout() must not sleep".
    report_violation("lock", std::string(what) + " in a timeout(9F) function (may not sleep) at " +
                                 describe_site(site));
    return;
  }
  std::string held;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    for (MutexImpl *m : t_held)
      if (m->intr && m->km != except)
        held += (held.empty() ? "" : ", ") + m->name + " (entered at " +
                describe_site(m->enter_site) + ")";
  }
  if (!held.empty())
    report_violation("lock", std::string(what) + " at " + describe_site(site) +
                                 " while holding interrupt-priority mutex " + held);
}

}  // namespace fk

using namespace fk::impl;

extern "C" {

void mutex_init(kmutex_t *mp, char *name, kmutex_type_t, void *arg) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (impl_of(mp) != nullptr && tracked("mutex", mp)) {
    fk::report_violation("lock", "mutex_init of an initialised mutex " + impl_of(mp)->name);
    return;
  }
  init_mutex(mp, name, arg, __builtin_return_address(0));
}

void mutex_destroy(kmutex_t *mp) {
  std::unique_lock<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  if (m == nullptr) {
    lk.unlock();
    fk::report_violation("lock", "mutex_destroy of an uninitialised mutex at " +
                                     fk::describe_site(__builtin_return_address(0)));
    return;
  }
  if (m->held) {
    std::string text = "mutex_destroy of held mutex " + m->name + " (entered at " +
                       fk::describe_site(m->enter_site) + ")";
    lk.unlock();
    fk::report_violation("lock", text);
    lk.lock();
  }
  forget_order(m);
  g_held_serials.erase(m->serial);
  const uint64_t serial = m->serial;
  mp->_opaque[0] = nullptr;
  g_live.erase(m);
  delete m;
  lk.unlock();
  untrack("mutex", mp);
  fk::impl::sync_audit_mutex_released(serial);
}

void mutex_enter(kmutex_t *mp) {
  switch_point("mutex_enter");
  enter(mp, __builtin_return_address(0));
}

int mutex_tryenter(kmutex_t *mp) {
  std::unique_lock<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  if (m == nullptr) {
    lk.unlock();
    enter(mp, __builtin_return_address(0));
    return 1;
  }
  if (m->held) return 0;
  acquire(lk, m, __builtin_return_address(0));
  return 1;
}

void mutex_exit(kmutex_t *mp) {
  const void *site = __builtin_return_address(0);
  std::unique_lock<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  if (m == nullptr || !m->held) {
    std::string text = "mutex_exit of " + (m ? m->name : std::string("an uninitialised mutex")) +
                       " that is not held, at " + fk::describe_site(site);
    lk.unlock();
    fk::report_violation("lock", text);
    return;
  }
  if (m->owner != std::this_thread::get_id()) {
    std::string text = "mutex_exit of " + m->name + " by a non-owner at " +
                       fk::describe_site(site) + " (owner entered it at " +
                       fk::describe_site(m->enter_site) + ")";
    lk.unlock();
    fk::report_violation("lock", text);
    return;
  }
  if (m->depth > 0) {
    m->depth--;
    return;
  }
  if (fk::impl::sync_audit_waiting()) {
    // Device reads waiting for this lock are judged while it is still held: once it is
    // released, the next holder may store to the same bytes before the verdict is given.
    lk.unlock();
    fk::impl::sync_audit_mutex_released(m->serial);
    lk.lock();
    if ((m = impl_of(mp)) == nullptr) return;  // destroyed meanwhile (itself a violation)
  }
  release(m);
  lk.unlock();
  switch_point("mutex_exit");
}

int mutex_owned(const kmutex_t *mp) {
  std::lock_guard<std::mutex> lk(g_mu);
  MutexImpl *m = impl_of(mp);
  return m != nullptr && m->held && m->owner == std::this_thread::get_id();
}

void cv_init(kcondvar_t *cvp, char *name, kcv_type_t, void *) {
  auto *c = new CvImpl;
  c->name = name ? name : "";
  c->init_site = __builtin_return_address(0);
  std::lock_guard<std::mutex> lk(g_mu);
  cvp->_opaque = c;
  track("cv", cvp, 0, c->init_site);
}

void cv_destroy(kcondvar_t *cvp) {
  std::unique_lock<std::mutex> lk(g_mu);
  auto *c = static_cast<CvImpl *>(cvp->_opaque);
  if (c == nullptr) return;
  if (!c->waiters.empty()) {
    lk.unlock();
    fk::report_violation(
        "lock", "cv_destroy with waiters at " + fk::describe_site(__builtin_return_address(0)));
    lk.lock();
  }
  cvp->_opaque = nullptr;
  delete c;
  lk.unlock();
  untrack("cv", cvp);
}

void cv_wait(kcondvar_t *cvp, kmutex_t *mp) { cv_block(cvp, mp, -1, __builtin_return_address(0)); }

int cv_wait_sig(kcondvar_t *cvp, kmutex_t *mp) {
  cv_block(cvp, mp, -1, __builtin_return_address(0));
  return 1;
}

clock_t cv_timedwait(kcondvar_t *cvp, kmutex_t *mp, clock_t timeout) {
  int64_t deadline = static_cast<int64_t>(timeout) * kTickNs;
  int64_t now = clock_now();
  if (deadline <= now) return -1;
  if (!cv_block(cvp, mp, deadline, __builtin_return_address(0))) return -1;
  int64_t left = (deadline - clock_now() + kTickNs - 1) / kTickNs;
  return left > 0 ? left : 1;
}

clock_t cv_reltimedwait(kcondvar_t *cvp, kmutex_t *mp, clock_t delta, time_res_t res) {
  static const int64_t kUnit[] = {1, 1000, 1000000, 1000000000, kTickNs, 1};
  int64_t unit = kUnit[res < TR_COUNT ? res : TR_CLOCK_TICK];
  if (delta <= 0) return -1;
  int64_t deadline = clock_now() + static_cast<int64_t>(delta) * unit;
  if (!cv_block(cvp, mp, deadline, __builtin_return_address(0))) return -1;
  int64_t left = (deadline - clock_now() + kTickNs - 1) / kTickNs;
  return left > 0 ? left : 1;
}

void cv_signal(kcondvar_t *cvp) {
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto *c = static_cast<CvImpl *>(cvp->_opaque);
    if (c == nullptr) return;
    for (Waiter *w : c->waiters) {
      if (!w->signaled && !w->timed_out) {
        w->signaled = true;
        w->wake();
        break;
      }
    }
  }
  switch_point("cv_signal");
}

void cv_broadcast(kcondvar_t *cvp) {
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto *c = static_cast<CvImpl *>(cvp->_opaque);
    if (c == nullptr) return;
    for (Waiter *w : c->waiters) {
      w->signaled = true;
      w->wake();
    }
  }
  switch_point("cv_broadcast");
}

}  // extern "C"
