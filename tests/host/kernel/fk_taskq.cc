// Task queues (ddi_taskq_*): each queue's threads run dispatched tasks in order; the clock's
// auto-advance and fk::drain() ask whether every queue is idle or blocked.
#include <sys/types.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>

#include <algorithm>

#include "fk_internal.h"

struct ddi_taskq {
  std::string name;
  std::mutex mu;
  fk::impl::HostCv cv;
  std::deque<std::pair<void (*)(void *), void *>> q;
  int running = 0;
  bool stop = false;
  bool suspended = false;
  std::vector<std::unique_ptr<fk::impl::KThread>> threads;
  // Each thread's "blocked in a kernel primitive" flag while it runs a task (else null).
  std::vector<std::atomic<bool> *> running_blocked;
};

namespace fk::impl {
namespace {
std::mutex g_tq_mu;
std::vector<ddi_taskq *> g_taskqs;

void taskq_main(ddi_taskq *tq, size_t index) {
  std::unique_lock<std::mutex> lk(tq->mu);
  bool lagged = false;
  for (;;) {
    tq->cv.wait(
        lk, [tq] { return tq->stop || (!tq->suspended && !tq->q.empty()); }, "task-queue work");
    if (tq->q.empty() || (tq->stop && tq->suspended)) return;
    if (!lagged && g_thread_lag_us.load() > 0) {  // given work: runnable, not yet running
      lagged = true;
      lk.unlock();
      thread_lag();
      lk.lock();
      continue;
    }
    lagged = false;
    auto [fn, arg] = tq->q.front();
    tq->q.pop_front();
    tq->running++;
    tq->running_blocked[index] = &tctx().blocked;
    lk.unlock();
    fn(arg);
    lk.lock();
    tq->running_blocked[index] = nullptr;
    tq->running--;
    tq->cv.notify_all();
  }
}
}  // namespace

void taskqs_fini() {
  std::vector<ddi_taskq *> left;
  {
    std::lock_guard<std::mutex> lk(g_tq_mu);
    left = g_taskqs;
  }
  for (ddi_taskq *tq : left) ddi_taskq_destroy(tq);
}

bool taskqs_idle() {
  std::lock_guard<std::mutex> lk(g_tq_mu);
  for (ddi_taskq *tq : g_taskqs) {
    std::lock_guard<std::mutex> l2(tq->mu);
    if (!tq->q.empty() || tq->running != 0) return false;
  }
  return true;
}

// Every running task is blocked in a kernel primitive (delay, a timed wait, a mutex): it waits
// for time or for another thread, not for a CPU. Work queued while a thread is free to take it
// is about to run: not blocked.
bool taskqs_blocked() {
  std::lock_guard<std::mutex> lk(g_tq_mu);
  for (ddi_taskq *tq : g_taskqs) {
    std::lock_guard<std::mutex> l2(tq->mu);
    if (!tq->q.empty() && !tq->suspended && size_t(tq->running) < tq->threads.size()) return false;
    for (std::atomic<bool> *b : tq->running_blocked)
      if (b != nullptr && !b->load()) return false;
  }
  return true;
}

}  // namespace fk::impl

using namespace fk::impl;

extern "C" {

ddi_taskq_t *ddi_taskq_create(dev_info_t *, const char *name, int nthreads, pri_t, uint_t) {
  auto *tq = new ddi_taskq;
  tq->name = name ? name : "";
  if (nthreads < 1) nthreads = 1;
  tq->running_blocked.assign(size_t(nthreads), nullptr);
  for (int i = 0; i < nthreads; i++) {
    tq->threads.push_back(std::make_unique<KThread>());
    size_t index = size_t(i);
    tq->threads.back()->start("taskq " + tq->name + "#" + std::to_string(i),
                              [tq, index] { taskq_main(tq, index); });
  }
  {
    std::lock_guard<std::mutex> lk(g_tq_mu);
    g_taskqs.push_back(tq);
  }
  track("taskq", tq, 0, __builtin_return_address(0));
  return tq;
}

static bool on_taskq_thread(ddi_taskq *tq) {
  for (auto &t : tq->threads)
    if (t->tid() == std::this_thread::get_id()) return true;
  return false;
}

void ddi_taskq_destroy(ddi_taskq_t *tq) {
  if (on_taskq_thread(tq)) {
    fk::report_violation("taskq", "ddi_taskq_destroy(" + tq->name + ") from its own thread");
    return;
  }
  {
    std::unique_lock<std::mutex> lk(tq->mu);
    tq->suspended = false;
    tq->cv.notify_all();
    tq->cv.wait(
        lk, [tq] { return tq->q.empty() && tq->running == 0; }, "its tasks to finish");
    tq->stop = true;
    tq->cv.notify_all();
  }
  for (auto &t : tq->threads) t->join();
  {
    std::lock_guard<std::mutex> lk(g_tq_mu);
    g_taskqs.erase(std::find(g_taskqs.begin(), g_taskqs.end(), tq));
  }
  untrack("taskq", tq);
  delete tq;
}

int ddi_taskq_dispatch(ddi_taskq_t *tq, void (*func)(void *), void *arg, uint_t dflags) {
  if (dflags & DDI_NOSLEEP) {
    if (should_fail(fk::kFailTaskqDispatch)) return DDI_FAILURE;
  } else {
    fk::check_may_sleep("ddi_taskq_dispatch(DDI_SLEEP)", nullptr, __builtin_return_address(0));
  }
  {
    std::lock_guard<std::mutex> lk(tq->mu);
    tq->q.emplace_back(func, arg);
    ctr().taskq_dispatches++;
    tq->cv.notify_all();
  }
  switch_point("ddi_taskq_dispatch");
  return DDI_SUCCESS;
}

void ddi_taskq_wait(ddi_taskq_t *tq) {
  fk::check_may_sleep("ddi_taskq_wait", nullptr, __builtin_return_address(0));
  if (on_taskq_thread(tq)) {
    fk::report_violation("taskq", "ddi_taskq_wait(" + tq->name + ") from its own thread");
    return;
  }
  std::unique_lock<std::mutex> lk(tq->mu);
  tctx().blocked = true;
  tq->cv.wait(
      lk, [tq] { return (tq->q.empty() || tq->suspended) && tq->running == 0; }, "ddi_taskq_wait");
  tctx().blocked = false;
}

void ddi_taskq_suspend(ddi_taskq_t *tq) {
  std::unique_lock<std::mutex> lk(tq->mu);
  tq->suspended = true;
  tq->cv.wait(
      lk, [tq] { return tq->running == 0; }, "ddi_taskq_suspend");
}

boolean_t ddi_taskq_suspended(ddi_taskq_t *tq) {
  std::lock_guard<std::mutex> lk(tq->mu);
  return tq->suspended ? B_TRUE : B_FALSE;
}

void ddi_taskq_resume(ddi_taskq_t *tq) {
  std::lock_guard<std::mutex> lk(tq->mu);
  tq->suspended = false;
  tq->cv.notify_all();
}

}  // extern "C"
