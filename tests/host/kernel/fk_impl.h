// Private to the userland kernel's implementation (tests/host/kernel/*.cc): shared state and the
// concrete types behind the DDI's opaque handles.
#pragma once

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddifm.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fk.h"
#include "fk_internal.h"

namespace fk::impl {

// ---- core (fk_core.cc) ----
struct AtomicCounters {
  std::atomic<uint64_t> kmem_allocs{0}, dma_binds{0}, bounce_binds{0}, bounce_copies{0},
      bounce_bytes{0}, syncs{0}, syncs_fordev{0}, syncs_forcpu{0}, reg_reads{0}, reg_writes{0},
      interrupts{0}, interrupts_claimed{0}, interrupts_unclaimed{0}, timeouts_fired{0},
      taskq_dispatches{0};
};
AtomicCounters &ctr();
const Options &opts();
bool is_booted();
// Failure injection: true when this eligible operation of class cls must fail.
bool should_fail(unsigned cls, int itype = 0);
// Console output (cmn_err and dev_err).
void console_emit(int level, const std::string &prefix, const char *fmt, va_list ap);

// Leak registry: objects a driver must give back.
void track(const char *kind, const void *obj, uint64_t size, const void *site);
bool untrack(const char *kind, const void *obj);  // false if it was not tracked
bool tracked(const char *kind, const void *obj);
void clear_tracking();

// ---- memory (fk_mem.cc) ----
enum Zone : unsigned { kZoneKmem = 1, kZoneDma = 2, kZoneLow = 4 };
struct Constraints {
  uint64_t lo = 0, hi = ~0ull;
  uint64_t align = 16;
  uint64_t seg = ~0ull;  // boundary mask: the block may not cross a (seg + 1) boundary
};
void arena_init(const Options &o);
void arena_fini();
// Physically contiguous memory from zones (in order: kmem, dma, low as masked) meeting c.
void *arena_alloc(size_t size, unsigned zones, const Constraints &c);
void arena_free(void *va, size_t size);
uint64_t arena_va_to_pa(const void *va);
void *arena_pa_to_va(uint64_t pa);
// Bytes [pa, pa+len) are arena memory (contiguous in VA for identity segments only: callers go
// page by page).
bool arena_contains(uint64_t pa, uint64_t len);
void fill_pattern(void *p, size_t len);
uint64_t kmem_bytes_outstanding();

// ---- sync (fk_sync.cc) ----
// The big lock that guards every kmutex/kcondvar's internal state.
std::mutex &sync_mu();
// Per-thread context.
struct ThreadCtx {
  bool in_intr = false;
  uint_t intr_pri = 0;
  bool in_quiesce = false;
  bool is_callout = false;
  bool in_timeout = false;           // running a timeout(9F) function
  std::atomic<bool> blocked{false};  // waiting in a kernel primitive (mutex, cv, delay)
};
ThreadCtx &tctx();
// Options::thread_lag_us: set at boot; thread_lag() sleeps that long (real time), and is called
// by a thread that was just made runnable, before it goes on.
void set_thread_lag(int us);
void thread_lag();
void sync_reset();  // at boot/shutdown
// Serials of every kmutex held right now, by any thread (the sync audit's deferred verdicts).
std::vector<uint64_t> held_mutex_serials();

// ---- clock (fk_clock.cc) ----
constexpr int64_t kTickNs = 10'000'000;  // hz = 100
void clock_init(ClockMode mode);
void clock_fini();
int64_t clock_now();
// Run fn at when_ns. callout: on the callout thread; otherwise inline in whoever moves the
// clock (must be quick and non-blocking). Returns an id (never 0).
uint64_t clock_add(int64_t when_ns, std::function<void()> fn, bool callout);
// Cancel; true when removed before it ran. wait: if it is running on the callout thread (and
// that is not the calling thread), wait for it to finish.
bool clock_cancel(uint64_t id, bool wait);
bool clock_pending(uint64_t id);
// Virtual clock: move to target firing due events; wait: run each callout to completion (or
// until the callout thread blocks in a kernel primitive) before the next one.
void clock_advance_to(int64_t target, bool wait);
// Sleep the calling thread until the clock reaches when_ns (delay()).
void clock_sleep_until(int64_t when_ns);
bool clock_idle();  // no callout running or queued
void taskqs_fini();
bool taskqs_idle();
bool taskqs_blocked();  // every running task waits in a kernel primitive

// ---- DMA (fk_dma.cc) ----
bool dma_read(uint64_t pa, void *buf, size_t len);
bool dma_write(uint64_t pa, const void *buf, size_t len);
uint64_t dma_va_to_pa(const void *va);  // shadow memory (sync audit) or arena
void dma_fini();
// The kmutex with this serial was released (mutex_exit, mutex_destroy): settles the sync
// audit's suspicions that waited for it.
void sync_audit_mutex_released(uint64_t serial);
bool sync_audit_waiting();  // device reads wait for a lock's release to be judged

// ---- device tree (fk_devtree.cc) ----
void devtree_init();
void devtree_fini();
// No interrupt handler running or deliverable on any node.
bool intr_idle();
bool intr_runnable();  // a handler is deliverable, or runs and is not blocked in a primitive

}  // namespace fk::impl

// The access handle behind ddi_acc_handle_t: registers, PCI config space or DMA memory.
struct __ddi_acc_handle {
  enum class Kind { kRegs, kConfig, kDmaMem } kind;
  dev_info_t *dip = nullptr;
  unsigned rnumber = 0;
  uint8_t *base = nullptr;  // the address ddi_get/put see
  uint64_t reg_offset = 0;  // offset of base within the register set
  uint64_t len = 0;
  ddi_device_acc_attr_t attr{};
  void *mem = nullptr;  // DmaMem for kDmaMem
  int fm_status = DDI_FM_OK;
};

// An interrupt handle and the per-node PCI state (registers, interrupts).
struct __ddi_intr_handle {
  dev_info_t *dip = nullptr;
  int type = 0;
  int inum = 0;
  uint_t pri = 5;
  ddi_intr_handler_t *handler = nullptr;
  void *arg1 = nullptr, *arg2 = nullptr;
  bool enabled = false;
  bool running = false;
  bool stop = false;
  std::atomic<bool> *thread_blocked = nullptr;  // the handler thread's ThreadCtx::blocked
  uint64_t pending = 0;                         // MSI/MSI-X messages not yet handled
  uint64_t line_gen = 0;  // FIXED: seen line generation when a storm paused delivery
  bool storm = false;
  std::thread thread;
  std::thread::id tid;
};

namespace fk {

struct PciState {
  DeviceBackend *dev = nullptr;
  unsigned device = 0, function = 0;
  std::unique_ptr<DeviceHost> host;
  std::mutex mu;  // interrupt state
  std::condition_variable cv;
  int itype = 0;  // allocated interrupt type
  std::vector<ddi_intr_handle_t> handles;
  bool line = false;  // INTx asserted
  uint64_t line_gen = 0;
  bool quiesced = false;
  std::vector<ddi_acc_handle_t> maps;
};

}  // namespace fk
