// The userland illumos kernel ("fk"): the test-facing API. Host-side C++.
//
// A test boots the kernel, loads the one driver linked into the executable (_init/_info),
// attaches PCI nodes backed by DeviceBackend objects (device.h), drives the clock, and inspects
// what the kernel recorded: console messages, kstats, SDT probe counts, leaks, violations and
// counters. See README.md in this directory for the models (arena, DMA, sync audit, lock
// checker, clock, interrupts).
#pragma once

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/kstat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "device.h"
#include "scheduler.h"

namespace fk {

enum class ClockMode {
  kVirtual,  // time moves only when a test advances it, or by drv_usecwait (busy-wait)
  kReal,     // time follows the host's monotonic clock
};

// Back the arena's physical range [paddr, paddr + size) with a file (e.g. QEMU's guest RAM in
// /dev/shm): either an open descriptor or a path, mapped shared from file_offset.
struct ArenaSegment {
  int fd = -1;
  std::string path;
  uint64_t file_offset = 0;
  uint64_t paddr = 0;
  uint64_t size = 0;
};

struct Options {
  // Anonymous arena (used when segments is empty): [arena_base, arena_base + arena_size), half
  // for kmem (pages physically scrambled, so a buffer spanning pages is never physically
  // contiguous) and half for DMA memory (physically contiguous). Above 4 GiB by default, so
  // 32-bit assumptions fail.
  uint64_t arena_base = 0x100000000ull;
  uint64_t arena_size = 256ull << 20;
  // Low memory below 4 GiB for bounce buffers and DMA memory whose attributes need it
  // (dma_attr_addr_hi < arena_base). low_size 0: none (then such requests fail).
  uint64_t low_base = 16ull << 20;
  uint64_t low_size = 16ull << 20;
  // File-backed arena: when non-empty, these segments are the whole arena (identity mapped;
  // kmem and DMA memory both come from them; low_* is ignored).
  std::vector<ArenaSegment> segments;
  // Sync audit: DMA memory from ddi_dma_mem_alloc is non-coherent. The driver sees a private
  // copy, the device the arena; ddi_dma_sync(FORDEV) publishes the bytes the driver changed,
  // FORCPU/FORKERNEL fetches the bytes the device changed. Reported as "sync": a device read of
  // bytes the driver changed without FORDEV (the device sees the old bytes); FORDEV over bytes
  // the device changed that were not synced FORCPU first; FORCPU discarding unsynced driver
  // changes. A driver read without FORCPU returns stale data (tests see the wrong behaviour).
  bool sync_audit = false;
  // Report device DMA to memory that no DMA handle has bound.
  bool check_dma_bound = true;
  // Report it and refuse it, as an IOMMU would (whatever check_dma_bound says): the access
  // fails (the device sees an error) and memory stays untouched. For harnesses whose device may be
  // told to DMA anywhere (a forged ring index) and that must keep their own memory intact to judge
  // the driver.
  bool iommu = false;
  // Fill new kmem_alloc and DMA memory with 0xbaddcafe, like a DEBUG kernel.
  bool fill_pattern = true;
  ClockMode clock = ClockMode::kVirtual;
  // Console messages also go to stderr.
  bool echo_console = false;
  // '?' messages reach the console (booted with -v).
  bool verbose_boot = false;
  // A loaded machine, modelled: a kernel thread made runnable (a task-queue thread given work, a
  // thread woken from a mutex, condition variable or delay) starts running this many
  // microseconds of real time later. -1: from the environment's FK_THREAD_LAG_US (default 0).
  // Virtual time must not depend on it: a test that passes only without lag has a race.
  int thread_lag_us = -1;
  // Deterministic simulation (README.md, "Deterministic mode"): the booting thread and every
  // kernel thread the host starts (callouts, task queues, interrupt threads, the tgtmap worker)
  // run one at a time under one fk::sched::Scheduler, switching only at kernel primitives;
  // virtual time moves exactly when no thread can run. One seed, one interleaving: the trace
  // digest (sched_trace) is the same on every run. Needs ClockMode::kVirtual and no host threads
  // of the test's own touching the kernel. Stuck (nothing runnable, no event) is fatal at once,
  // with every blocked thread's story.
  bool deterministic = false;
  fk::sched::Options sched;
  // Deterministic mode: a run whose virtual clock would pass this many nanoseconds is a hang
  // (a livelock spinning on the clock, a driver escalating forever): fatal at once, with every
  // thread's story. 0: no limit.
  int64_t time_limit_ns = 0;
};

// Boot with options (the kernel must not be booted); shutdown tears everything down (removes
// remaining nodes, stops threads, unmaps the arena). Leaks and violations survive until the
// next boot so a test can read them after shutdown.
void boot(const Options &options = Options());
void shutdown();
bool booted();
const Options &options();

// ---- the driver (the one linked into this executable) ----
// Call _init(); name is the driver's name (its module file name on illumos). Returns _init's
// result; DDI_SUCCESS-like 0 when mod_install succeeded.
int load_driver(const char *name);
// Call _info() (returns its result) and _fini() (returns its result; 0 unloads).
int driver_info();
int unload_driver();
// The dev_ops the driver installed (null before mod_install).
struct dev_ops *driver_ops();
const std::string &driver_name();

// ---- PCI nodes ----
struct PciNodeOptions {
  std::string node_name;  // default: the driver's name
  unsigned device = 2;    // PCI device number (unit address "2")
  unsigned function = 0;
};
// Create a PCI node for dev under the root, bound to the loaded driver: connects the device,
// builds "reg" (config space, then the BARs) and the identity properties ("vendor-id",
// "device-id", "class-code", ...) from its config space, applies driver.conf properties.
dev_info_t *add_pci_node(DeviceBackend *dev, const PciNodeOptions &o = PciNodeOptions());
// attach(9E), detach(9E), quiesce(9E) through the driver's dev_ops.
int attach(dev_info_t *dip);
int detach(dev_info_t *dip, ddi_detach_cmd_t cmd = DDI_DETACH);
int quiesce(dev_info_t *dip);
// Fast reboot's quiesce_devices() (common/os/devcfg.c): interrupts off everywhere, then
// quiesce(9E) of every attached node with a driver, children before parents (an HBA's iports
// before the HBA). A node whose quiesce fails or is missing is a reported violation ("devtree");
// returns DDI_FAILURE if any failed.
int quiesce_devices();
// Remove a detached node (disconnects its device).
void remove_node(dev_info_t *dip);

// ---- properties ----
void set_prop_int(dev_info_t *dip, const std::string &name, int value);
void set_prop_ints(dev_info_t *dip, const std::string &name, const std::vector<int> &values);
void set_prop_string(dev_info_t *dip, const std::string &name, const std::string &value);
void set_prop_strings(dev_info_t *dip, const std::string &name,
                      const std::vector<std::string> &values);
void set_prop_boolean(dev_info_t *dip, const std::string &name);
// driver.conf-like text: "name=value;" entries, values are integers (decimal or 0x hex) or
// quoted strings, comma-separated for arrays, '#' comments. The properties apply to every node
// of the driver created afterwards. Returns "" or an error "line N: ...".
std::string load_driver_conf(const std::string &text);
std::string load_driver_conf_file(const std::string &path);

// ---- console ----
struct ConsoleMessage {
  int level;         // CE_CONT, CE_NOTE, CE_WARN, CE_PANIC
  std::string text;  // formatted, without the '!', '^', '?' prefix
  bool to_console;   // '!' -> false
  bool to_log;       // '^', '?' -> false
};
std::vector<ConsoleMessage> console();
bool console_contains(const std::string &substring);
size_t console_count(int level);
void clear_console();

// ---- kstats ----
// The installed kstat (null if none).
kstat_t *kstat_find(const std::string &module, int instance, const std::string &name);
// A named kstat's value (after ks_update(KSTAT_READ), under ks_lock); nullopt when absent.
std::optional<uint64_t> kstat_value(const std::string &module, int instance,
                                    const std::string &name, const std::string &stat);

// ---- SDT probes ----
// probe as written in DTRACE_PROBE ("pvscsi__complete") or as DTrace names it
// ("pvscsi-complete").
uint64_t sdt_count(const std::string &probe);
std::vector<uintptr_t> sdt_last_args(const std::string &probe);
void sdt_reset();
// Called on every probe (any thread); empty function to remove.
void set_sdt_hook(std::function<void(const char *probe, int nargs, const uintptr_t *args)> fn);

// ---- leaks ----
struct Leak {
  std::string kind;  // "kmem", "dma-mem", "dma-handle", "acc-handle", "mutex", "cv", "taskq",
                     // "timeout", "kstat", "intr", "prop", "soft-state", "kmem-cache"
  uint64_t size;
  std::string site;  // where it was allocated
};
std::vector<Leak> leaks();
uint64_t leaked_bytes();  // kmem + DMA memory bytes still allocated

// ---- violations ----
struct Violation {
  std::string kind;  // "lock", "sync", "dma", "kmem", "regs", "intr", "devtree", "clock", ...
  std::string text;
};
std::vector<Violation> violations();
size_t violation_count(const std::string &kind = "");
void clear_violations();

// What a test left behind, a message each: every leak ("leak: KIND SIZE at SITE") and every
// violation of a kind not in allowed_kinds ("violation (KIND): TEXT").
inline std::vector<std::string> leftovers(const std::vector<std::string> &allowed_kinds = {}) {
  std::vector<std::string> out;
  for (const Leak &l : leaks())
    out.push_back("leak: " + l.kind + " " + std::to_string(l.size) + " at " + l.site);
  for (const Violation &v : violations()) {
    bool allowed = false;
    for (const std::string &k : allowed_kinds) allowed = allowed || k == v.kind;
    if (!allowed) out.push_back("violation (" + v.kind + "): " + v.text);
  }
  return out;
}

// ---- failure injection ----
enum FailClass : unsigned {
  kFailKmem = 1 << 0,            // KM_NOSLEEP kmem_alloc/zalloc/kmem_cache_alloc (KM_SLEEP
                                 // allocations never fail, as on illumos)
  kFailDma = 1 << 1,             // ddi_dma_alloc_handle, ddi_dma_mem_alloc, the bind calls
  kFailTaskqDispatch = 1 << 2,   // ddi_taskq_dispatch with DDI_NOSLEEP
  kFailIntrAlloc = 1 << 3,       // ddi_intr_alloc
  kFailIntrAddHandler = 1 << 4,  // ddi_intr_add_handler
  kFailIntrEnable = 1 << 5,      // ddi_intr_enable / block_enable
  kFailTimeout = 1 << 6,         // (reserved)
  kFailTgtmapAdd = 1 << 7,       // scsi_hba_tgtmap_tgt_add of an address not active in the map
                                 // (damap_addr_add: DAM_MAPFULL when its id or soft state
                                 // cannot be had without sleeping)
};
// Fail the nth (1-based) eligible operation of the given classes (counted together), once.
void fail_nth(unsigned classes, uint64_t n);
// Fail each eligible operation with probability p (deterministic for a seed).
void fail_probability(unsigned classes, double p, uint64_t seed = 1);
// Fail only operations of these classes for interrupt type itype (DDI_INTR_TYPE_*), e.g. all
// MSI-X allocations: fail_intr_type(kFailIntrAlloc, DDI_INTR_TYPE_MSIX).
void fail_intr_type(unsigned classes, int itype);
// Remove every rule and reset failures_injected().
void fail_clear();
// Failures injected since boot or the last fail_clear().
uint64_t failures_injected();

// ---- counters ----
struct Counters {
  uint64_t kmem_allocs = 0;
  uint64_t dma_binds = 0;
  uint64_t bounce_binds = 0;   // bindings that needed a bounce buffer
  uint64_t bounce_copies = 0;  // copies between a buffer and its bounce buffer
  uint64_t bounce_bytes = 0;
  uint64_t syncs = 0;  // ddi_dma_sync calls
  uint64_t syncs_fordev = 0;
  uint64_t syncs_forcpu = 0;  // FORCPU and FORKERNEL
  uint64_t reg_reads = 0;
  uint64_t reg_writes = 0;
  uint64_t interrupts = 0;  // handler invocations
  uint64_t interrupts_claimed = 0;
  uint64_t interrupts_unclaimed = 0;
  uint64_t timeouts_fired = 0;
  uint64_t taskq_dispatches = 0;
};
Counters counters();
void reset_counters();

// Lock statistics of the lock checker, per kmutex since its mutex_init or the last
// reset_lock_stats(): acquisitions (mutex_enter, a successful mutex_tryenter, the re-entry at
// the end of a cv_wait) and hold times in real (host steady-clock) nanoseconds, also under the
// virtual clock. `site` describes the latest mutex_enter call site (function+offset).
struct LockStat {
  const kmutex_t *mutex = nullptr;
  std::string name;
  std::string site;
  uint64_t acquisitions = 0;
  uint64_t hold_ns_total = 0;
  uint64_t hold_ns_max = 0;
};
std::vector<LockStat> lock_stats();  // every live kmutex acquired at least once
void reset_lock_stats();

// ---- the clock ----
int64_t now_ns();
// Virtual clock: move time forward by ns, firing every event due (timeouts, timed waits,
// delay, device schedule()) in deadline order; a callout runs to completion before the next
// event fires. Real clock: sleeps.
void advance(int64_t ns);
// Virtual clock: jump to the earliest pending event and fire it (with any others due at the
// same time). false when nothing is pending.
bool run_next_event();
std::optional<int64_t> next_event_ns();
size_t pending_events();
// Virtual clock: a background thread that jumps to the next event whenever events are pending
// (for code that sleeps in delay()/cv_timedwait with no test thread to advance time).
void set_auto_advance(bool on);
// Wait (real time) until no callout, interrupt or task-queue work is running or queued.
// Virtual clock: while every running task is blocked in a kernel primitive, no queued task has a
// free thread, and no callout or interrupt runs, for ~1 ms, jump to the next pending event (the
// work is waiting for time: a device's latency, a timeout). A thread woken but not yet run is
// runnable, not blocked: its waker clears its flag. Returns as soon as everything is idle, even
// if events (a periodic watchdog) are pending.
void drain();
// True while some kernel thread can go on without the clock moving: a callout ready or running
// (and not blocked in a kernel primitive), an interrupt deliverable or its handler running (not
// blocked), task-queue work queued with a free thread, or a task running and not blocked. Code
// that moves the virtual clock on a real-time heuristic ("nothing has moved for a while") waits
// longer while this holds, so a thread that is merely late is not overtaken.
bool kernel_runnable();

// ---- deterministic mode ----
bool deterministic();
struct SchedTrace {
  uint64_t digest = 0;  // FNV-1a of the ordered scheduling decisions and device events
  uint64_t steps = 0;
  uint64_t switches = 0;
};
// The running scheduler's trace, or the last one after shutdown (zeros if never deterministic).
SchedTrace sched_trace();
// Deterministic mode: called (on the thread that found it) when the run is stuck or hung, with
// the one-line verdict, after the stories are printed and before the process aborts: a tool
// writes its report here (and may end the process itself). Empty function to remove.
void set_fatal_hook(std::function<void(const std::string &verdict)> fn);
// Deterministic mode: move the hang limit (Options::time_limit_ns) to an absolute virtual time,
// e.g. a budget past the latest progress; 0 removes it.
void set_time_limit_ns(int64_t limit_ns);
// Fold an event (a device's) into the digest; no effect in real-thread mode.
void trace_note(uint64_t tag, uint64_t value);
// Deterministic mode: block until no other thread can run (true). Real-thread mode: false, at
// once (the caller falls back to its real-time wait).
bool wait_quiet(const char *what);

// ---- memory ----
uint64_t va_to_pa(const void *va);
void *pa_to_va(uint64_t pa);
// Bus-master access as a device would do it (same checks as DeviceHost::dma_read/dma_write).
bool device_dma_read(uint64_t pa, void *buf, size_t len);
bool device_dma_write(uint64_t pa, const void *buf, size_t len);
// The DeviceHost a node's device was connected to (tests may poke DMA through it).
DeviceHost *device_host(dev_info_t *dip);

// ---- interrupts (per node) ----
struct IntrInfo {
  int type = 0;  // the allocated type, 0 if none
  int allocated = 0;
  int enabled = 0;
  int handlers = 0;
};
IntrInfo intr_info(dev_info_t *dip);

}  // namespace fk
