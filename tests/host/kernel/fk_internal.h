// The userland kernel's internal API: for the parts of the test kernel built on top of it (the
// SCSA framework in tests/host/scsa/, the target-driver client), and, in fk::impl, the shared
// state of the kernel's own implementation (tests/host/kernel/*.cc) and the concrete types
// behind the DDI's opaque handles. Host-side C++ (the standard library is fine here). Test code
// uses fk.h instead.
#pragma once

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/modctl.h>
#include <sys/ddifm.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "device.h"
#include "fk.h"
#include "scheduler.h"

namespace fk {

// A property value as stored on a node (ddi_prop_update_* or a driver.conf-like file).
struct PropValue {
  enum class Type { kBoolean, kInt, kInt64, kString, kByte } type = Type::kBoolean;
  std::vector<int64_t> ints;         // kInt, kInt64
  std::vector<std::string> strings;  // kString
  std::vector<uint8_t> bytes;        // kByte
};

struct PciState;  // registers, interrupts and config of a PCI node (fk_devtree.cc)

}  // namespace fk

// The structure behind dev_info_t. Nodes are created only by fk::create_child() (or the kernel's
// PCI node functions) and destroyed by fk::remove_node().
struct dev_info {
  std::string node_name;     // "pvscsi", "iport", "disk", ...
  std::string unit_address;  // ddi_get_name_addr(): "2", "v0", "w5,0", ... ("" for none)
  std::string driver_name;   // ddi_driver_name()
  int instance = -1;         // ddi_get_instance(): per driver name, from 0
  dev_info *parent = nullptr;
  std::vector<dev_info *> children;  // in creation order
  struct dev_ops *ops = nullptr;     // the driver bound to the node (may be null: no driver)
  bool attached = false;
  void *driver_private = nullptr;  // ddi_set_driver_private()
  void *scsa_private = nullptr;    // reserved for the SCSA framework (tests/host/scsa/)
  void *client_private = nullptr;  // reserved for the target-driver client
  // Properties: set by the driver (ddi_prop_update_*), and system properties (from the test or
  // a driver.conf-like file, and the hardware ones such as "reg"). Driver ones are looked up
  // first; then system; then the parent's unless DDI_PROP_DONTPASS.
  std::map<std::string, fk::PropValue> driver_props;
  std::map<std::string, fk::PropValue> system_props;
  fk::DeviceBackend *backend = nullptr;  // the PCI function behind the node, or null
  std::unique_ptr<fk::PciState> pci;     // kernel state for a PCI node (null otherwise)
  int fm_cap = 0;                        // after ddi_fm_init()
};

namespace fk {

// ---- device tree ----
// The root of the tree (created at boot).
dev_info_t *root_node();
// Create a child of parent bound to ops (may be null) with the given node name and unit address
// (ddi_get_name_addr). driver_name defaults to node_name; the instance number is the next free
// one for that driver name. The node starts detached.
dev_info_t *create_child(dev_info_t *parent, const char *node_name, struct dev_ops *ops,
                         const char *unit_address, const char *driver_name = nullptr);
// Run ops->devo_attach(dip, DDI_ATTACH) (after devo_probe when present); returns its result.
// Marks the node attached on DDI_SUCCESS.
int attach_node(dev_info_t *dip);
// Run ops->devo_detach(dip, cmd); on DDI_SUCCESS with DDI_DETACH the node is detached.
int detach_node(dev_info_t *dip, ddi_detach_cmd_t cmd = DDI_DETACH);
// Remove a detached node without children from the tree and free it. A node that is still
// attached or has children is a reported violation ("devtree") and is left in place.
void remove_node(dev_info_t *dip);
// Find a child by node name and unit address (null if none).
dev_info_t *find_child(dev_info_t *parent, const char *node_name, const char *unit_address);

// ---- locks ----
// How many kernel mutexes the calling thread holds, and which (innermost last).
int held_lock_count();
std::vector<const kmutex_t *> held_locks();
bool lock_held_by_me(const kmutex_t *mp);
// The name given to mutex_init (or "mutex@<address>").
std::string lock_name(const kmutex_t *mp);

// ---- context ----
// True on an interrupt thread while a ddi_intr handler runs.
bool in_interrupt();
// Report a violation if the calling thread may not sleep now (interrupt context, quiesce, or
// holding a mutex initialised at interrupt priority other than except). what names the
// operation ("cv_wait", "KM_SLEEP allocation", ...); site is the caller to report (default: the
// caller of check_may_sleep).
void check_may_sleep(const char *what, const kmutex_t *except = nullptr,
                     const void *site = nullptr);

// ---- failures and diagnostics ----
// A recorded failure that tests check (fk::violations()); kind is "lock", "sync", "dma",
// "kmem", "regs", "intr", "devtree", "scsa", ... Also printed to stderr.
void report_violation(const char *kind, const std::string &text);
// "function+0xoffset (file)" for a code address (e.g. __builtin_return_address(0)).
std::string describe_site(const void *pc);

// ---- memory ----
// Translate between kernel virtual addresses and the arena's physical addresses. 0 / null when
// the address is not arena memory.
uint64_t va_to_pa(const void *va);
void *pa_to_va(uint64_t pa);

}  // namespace fk

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

// ---- sync (fk_locks.cc) ----
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
// The lag thread_lag() sleeps (fk_clock.cc; task-queue threads read it too).
extern std::atomic<int> g_thread_lag_us;
void sync_reset();  // at boot/shutdown
// Serials of every kmutex held right now, by any thread (the sync audit's deferred verdicts).
std::vector<uint64_t> held_mutex_serials();

// ---- threads (fk_threads.cc) ----
// The deterministic scheduler (booted with Options::deterministic), else null.
sched::Scheduler *det();
// The calling thread is a scheduled thread of det().
bool on_det();
// A switch point (a kernel primitive): in deterministic mode another thread may run here.
void switch_point(const char *where);
// The one way host code sleeps in real time (scripts/check-host-sleeps.py keeps it so): the
// real-thread mode's heuristics. Called in a deterministic run it is a violation ("sched"):
// there, time moves only when nobody can run.
void host_sleep_us(int64_t us, const char *why);
// Fold a device event into the trace digest (deterministic mode only).
void det_note(uint64_t tag, uint64_t value);
void sched_start(const Options &o);  // boot: the booting thread becomes scheduled thread 0
void sched_stop();                   // shutdown: every other kernel thread has exited
// Deterministic mode: the clock is about to move to target_ns; past Options::time_limit_ns the
// run is a hang, fatal with every thread's story.
void check_time_limit(int64_t target_ns);
// Called when a deterministic run gets stuck: a text that tells the story of what the reporter
// knows (the SCSA framework: each packet still outstanding). Returns an id for removal.
uint64_t add_stuck_reporter(std::function<std::string()> fn);
void remove_stuck_reporter(uint64_t id);

// A host thread that runs kernel code: a scheduled thread when started by a scheduled thread in
// deterministic mode, a std::thread otherwise.
class KThread {
 public:
  void start(const std::string &name, std::function<void()> fn);
  void join();
  void detach();  // the thread goes on alone (a violation path: a handler removing itself)
  bool joinable() const { return id_ >= 0 || th_.joinable(); }
  // The host thread's id once it has started running (for "am I this thread" checks).
  std::thread::id tid() const { return tid_; }

 private:
  int id_ = -1;
  std::thread th_;
  std::thread::id tid_;
};

// A condition variable over a host std::mutex that the deterministic scheduler sees: a wait is a
// scheduler block, a notify a wake. The only way a host thread running kernel code may wait for
// another; in real-thread mode, a std::condition_variable.
class HostCv {
 public:
  // One wait (may return spuriously; callers loop on their condition).
  void wait(std::unique_lock<std::mutex> &lk, const char *what);
  template <class Pred>
  void wait(std::unique_lock<std::mutex> &lk, Pred pred, const char *what) {
    while (!pred()) wait(lk, what);
  }
  // Real-thread mode: wait at most us microseconds of real time (false: timed out). Deterministic
  // mode: a plain wait (true); time moves only when nobody can run.
  bool wait_for_us(std::unique_lock<std::mutex> &lk, int64_t us, const char *what);
  void notify_one();
  void notify_all();

 private:
  std::condition_variable cv_;
  std::vector<int> waiters_;  // scheduled threads waiting (deterministic mode)
};

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
// Deterministic mode's idle hook: fire the earliest pending event (and every other due at the
// same time) without waiting for callouts; false when nothing is pending.
bool clock_fire_next();
bool clock_idle();  // no callout running or queued
void taskqs_fini();
bool taskqs_idle();
bool taskqs_blocked();  // every running task waits in a kernel primitive

// ---- DMA (fk_dma.cc) ----
struct DmaMem {
  uint8_t *dev = nullptr;  // arena memory (what the device sees)
  uint8_t *cpu = nullptr;  // what the driver sees (== dev unless sync audit)
  uint64_t pa = 0;
  size_t len = 0;
  std::vector<uint8_t> last;  // L (sync audit)
  ddi_dma_handle_t handle = nullptr;
  int sync_reports = 0;
  uint64_t serial = 0;  // unique for the process's life
};

extern std::mutex g_dma_mu;  // DMA memory, bindings and the sync audit's state
// The sync-audit DMA memory holding device address pa, and the offset of pa in it (null if none).
// g_dma_mu held.
DmaMem *mem_of_pa(uint64_t pa, size_t *off);
// ThreadSanitizer: a device's accesses to memory it shares with the driver (its bus-master
// copies, and the sync audit looking at or updating the driver's view, whoever calls the sync)
// are DMA, not CPU threads racing; their ordering against the driver is what the sync audit
// checks. TSan is told to ignore them.
#if defined(__SANITIZE_THREAD__)
#define FK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FK_TSAN 1
#endif
#endif
#ifdef FK_TSAN
extern "C" {
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
}
struct DeviceAccessScope {
  DeviceAccessScope() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~DeviceAccessScope() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
};
#else
struct DeviceAccessScope {
  DeviceAccessScope() {}  // user-provided: no unused-variable warning
};
#endif

bool dma_read(uint64_t pa, void *buf, size_t len);
bool dma_write(uint64_t pa, const void *buf, size_t len);
uint64_t dma_va_to_pa(const void *va);  // shadow memory (sync audit) or arena
void dma_fini();

// ---- sync audit (fk_sync_audit.cc) ----
// A device read of bytes the driver changed and had not synced: settled once the kmutexes held
// at the read are all released (see fk_sync_audit.cc).
struct Suspect {
  uint64_t mem_pa, mem_serial;
  size_t off;  // first unsynced byte
  std::string text;
  std::vector<uint64_t> holders;  // kmutex serials still to be released
};
// Apply a sync to [off, off+len) of sync-audit memory. Called with g_dma_mu held.
void audit_sync(DmaMem *m, size_t off, size_t len, bool fordev);
// Device reads found unsynced bytes: wait for the kmutexes held now, or judge at once.
void defer_suspects(std::vector<Suspect> &found);
void sync_audit_fini();  // judges the suspicions still waiting (dma_fini)
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
  fk::impl::KThread thread;
};

namespace fk {

struct PciState {
  DeviceBackend *dev = nullptr;
  unsigned device = 0, function = 0;
  std::unique_ptr<DeviceHost> host;
  std::mutex mu;  // interrupt state
  fk::impl::HostCv cv;
  int itype = 0;  // allocated interrupt type
  std::vector<ddi_intr_handle_t> handles;
  bool line = false;  // INTx asserted
  uint64_t line_gen = 0;
  bool quiesced = false;
  std::vector<ddi_acc_handle_t> maps;
};

}  // namespace fk
