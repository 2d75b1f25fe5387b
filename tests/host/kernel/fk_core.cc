// The userland kernel's core: boot/shutdown, violations, console, SDT probes, failure injection,
// counters, the leak registry and the small DDI utility routines.
#include <dlfcn.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/cmn_err.h>
#include <sys/debug.h>
#include <sys/sdt.h>
#include <sys/atomic.h>
#include <sys/systm.h>

#include <cinttypes>
#include <cstdlib>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "fk_internal.h"

namespace fk::impl {
namespace {

struct FailRule {
  unsigned classes = 0;
  uint64_t nth = 0;  // 0: not by count
  double p = 0;
  int itype = 0;  // fail_intr_type
  uint64_t seen = 0;
  bool spent = false;
};

struct TrackRec {
  uint64_t size;
  const void *site;
};

struct SdtStat {
  uint64_t count = 0;
  std::vector<uintptr_t> last;
};

struct Core {
  std::mutex mu;
  Options opts;
  bool booted = false;
  std::vector<Violation> violations;
  std::vector<ConsoleMessage> console;
  std::map<std::string, SdtStat> sdt;
  std::function<void(const char *, int, const uintptr_t *)> sdt_hook;
  std::vector<FailRule> fail;
  std::mt19937_64 rng{1};
  uint64_t failures = 0;
  std::map<std::pair<std::string, const void *>, TrackRec> tracked;
};

Core &core() {
  static Core *c = new Core;  // never destroyed: threads may report late
  return *c;
}

AtomicCounters g_counters;

}  // namespace

AtomicCounters &ctr() { return g_counters; }
const Options &opts() { return core().opts; }
bool is_booted() { return core().booted; }

bool should_fail(unsigned cls, int itype) {
  Core &c = core();
  std::lock_guard<std::mutex> lk(c.mu);
  bool fail = false;
  for (FailRule &r : c.fail) {
    if (!(r.classes & cls) || r.spent) continue;
    if (r.itype != 0) {
      if (r.itype == itype) fail = true;
      continue;
    }
    r.seen++;
    if (r.nth != 0 && r.seen == r.nth) {
      r.spent = true;
      fail = true;
    } else if (r.nth == 0 && r.p > 0) {
      std::uniform_real_distribution<double> d(0.0, 1.0);
      if (d(c.rng) < r.p) fail = true;
    }
  }
  if (fail) c.failures++;
  return fail;
}

void console_emit(int level, const std::string &prefix, const char *fmt, va_list ap) {
  if (level == CE_IGNORE) return;
  bool to_console = true, to_log = true;
  if (fmt != nullptr && (fmt[0] == '!' || fmt[0] == '^' || fmt[0] == '?')) {
    if (fmt[0] == '!') to_console = false;
    if (fmt[0] == '^') to_log = false;
    if (fmt[0] == '?') {
      to_log = false;
      to_console = core().opts.verbose_boot;
    }
    fmt++;
  }
  char buf[1024];
  vsnprintf(buf, sizeof buf, fmt ? fmt : "(null)", ap);
  ConsoleMessage m{level, prefix + buf, to_console, to_log};
  bool echo;
  {
    std::lock_guard<std::mutex> lk(core().mu);
    core().console.push_back(m);
    echo = core().opts.echo_console;
  }
  static const char *const kLevel[] = {"", "NOTICE: ", "WARNING: ", "panic: "};
  if (echo || level == CE_PANIC) {
    fprintf(stderr, "%s%s%s", level <= CE_PANIC ? kLevel[level] : "", m.text.c_str(),
            level == CE_CONT ? "" : "\n");
  }
  if (level == CE_PANIC) {
    fflush(stderr);
    abort();
  }
}

void track(const char *kind, const void *obj, uint64_t size, const void *site) {
  std::lock_guard<std::mutex> lk(core().mu);
  core().tracked[{kind, obj}] = TrackRec{size, site};
}

bool untrack(const char *kind, const void *obj) {
  std::lock_guard<std::mutex> lk(core().mu);
  return core().tracked.erase({kind, obj}) != 0;
}

bool tracked(const char *kind, const void *obj) {
  std::lock_guard<std::mutex> lk(core().mu);
  return core().tracked.count({kind, obj}) != 0;
}

void clear_tracking() {
  std::lock_guard<std::mutex> lk(core().mu);
  core().tracked.clear();
}

}  // namespace fk::impl

namespace fk {
using namespace fk::impl;

void report_violation(const char *kind, const std::string &text) {
  {
    std::lock_guard<std::mutex> lk(core().mu);
    core().violations.push_back(Violation{kind, text});
  }
  fprintf(stderr, "fk: violation [%s]: %s\n", kind, text.c_str());
}

std::string describe_site(const void *pc) {
  if (pc == nullptr) return "?";
  Dl_info info;
  char buf[512];
  if (dladdr(pc, &info) != 0) {
    if (info.dli_sname != nullptr) {
      snprintf(buf, sizeof buf, "%s+0x%tx", info.dli_sname,
               (const char *)pc - (const char *)info.dli_saddr);
    } else {
      const char *file = info.dli_fname ? strrchr(info.dli_fname, '/') : nullptr;
      snprintf(buf, sizeof buf, "%s+0x%tx", file ? file + 1 : "?",
               (const char *)pc - (const char *)info.dli_fbase);
    }
    return buf;
  }
  snprintf(buf, sizeof buf, "%p", pc);
  return buf;
}

// The environment may choose the thread model and the schedule of a run: FK_DETERMINISTIC=1|0,
// FK_SCHED_SEED=N, FK_SCHED_POLICY=fair|random|pct (README.md, "Deterministic mode").
static void apply_sched_env(Options *o) {
  if (const char *e = std::getenv("FK_DETERMINISTIC"); e != nullptr && e[0] != '\0')
    o->deterministic = e[0] == '1';
  if (const char *e = std::getenv("FK_SCHED_SEED"); e != nullptr && e[0] != '\0')
    o->sched.seed = std::strtoull(e, nullptr, 0);
  if (const char *e = std::getenv("FK_SCHED_POLICY"); e != nullptr && e[0] != '\0') {
    if (!sched::parse_policy(e, &o->sched.policy))
      report_violation("boot", std::string("FK_SCHED_POLICY: unknown policy ") + e);
  }
}

void boot(const Options &o) {
  if (core().booted) {
    report_violation("boot", "boot() while already booted");
    return;
  }
  {
    std::lock_guard<std::mutex> lk(core().mu);
    core().opts = o;
    core().violations.clear();
    core().console.clear();
    core().sdt.clear();
    core().fail.clear();
    core().failures = 0;
    core().tracked.clear();
  }
  reset_counters();
  sync_reset();
  arena_init(o);
  int lag = o.thread_lag_us;
  if (lag < 0) {
    const char *env = std::getenv("FK_THREAD_LAG_US");
    lag = env != nullptr ? std::atoi(env) : 0;
  }
  set_thread_lag(lag);
  apply_sched_env(&core().opts);
  if (core().opts.clock != ClockMode::kVirtual) core().opts.deterministic = false;
  sched_start(core().opts);
  clock_init(o.clock);
  devtree_init();
  core().booted = true;
}

void shutdown() {
  if (!core().booted) return;
  devtree_fini();
  taskqs_fini();
  clock_fini();
  dma_fini();
  arena_fini();
  sched_stop();
  core().booted = false;
}

bool booted() { return core().booted; }
const Options &options() { return core().opts; }

std::vector<ConsoleMessage> console() {
  std::lock_guard<std::mutex> lk(core().mu);
  return core().console;
}

bool console_contains(const std::string &s) {
  std::lock_guard<std::mutex> lk(core().mu);
  for (const auto &m : core().console)
    if (m.text.find(s) != std::string::npos) return true;
  return false;
}

size_t console_count(int level) {
  std::lock_guard<std::mutex> lk(core().mu);
  size_t n = 0;
  for (const auto &m : core().console)
    if (m.level == level) n++;
  return n;
}

void clear_console() {
  std::lock_guard<std::mutex> lk(core().mu);
  core().console.clear();
}

// DTrace shows "a__b" as "a-b": accept either spelling.
static std::string probe_key(const std::string &probe) {
  std::string k;
  for (char c : probe) {
    if (c == '-')
      k += "__";
    else
      k += c;
  }
  return k;
}

uint64_t sdt_count(const std::string &probe) {
  std::lock_guard<std::mutex> lk(core().mu);
  auto it = core().sdt.find(probe_key(probe));
  return it == core().sdt.end() ? 0 : it->second.count;
}

std::vector<uintptr_t> sdt_last_args(const std::string &probe) {
  std::lock_guard<std::mutex> lk(core().mu);
  auto it = core().sdt.find(probe_key(probe));
  return it == core().sdt.end() ? std::vector<uintptr_t>{} : it->second.last;
}

void sdt_reset() {
  std::lock_guard<std::mutex> lk(core().mu);
  core().sdt.clear();
}

void set_sdt_hook(std::function<void(const char *, int, const uintptr_t *)> fn) {
  std::lock_guard<std::mutex> lk(core().mu);
  core().sdt_hook = std::move(fn);
}

std::vector<Leak> leaks() {
  std::lock_guard<std::mutex> lk(core().mu);
  std::vector<Leak> out;
  for (const auto &[key, rec] : core().tracked)
    out.push_back(Leak{key.first, rec.size, describe_site(rec.site)});
  return out;
}

uint64_t leaked_bytes() {
  std::lock_guard<std::mutex> lk(core().mu);
  uint64_t n = 0;
  for (const auto &[key, rec] : core().tracked)
    if (key.first == "kmem" || key.first == "dma-mem") n += rec.size;
  return n;
}

std::vector<Violation> violations() {
  std::lock_guard<std::mutex> lk(core().mu);
  return core().violations;
}

size_t violation_count(const std::string &kind) {
  std::lock_guard<std::mutex> lk(core().mu);
  size_t n = 0;
  for (const auto &v : core().violations)
    if (kind.empty() || v.kind == kind) n++;
  return n;
}

void clear_violations() {
  std::lock_guard<std::mutex> lk(core().mu);
  core().violations.clear();
}

void fail_nth(unsigned classes, uint64_t n) {
  std::lock_guard<std::mutex> lk(core().mu);
  FailRule r;
  r.classes = classes;
  r.nth = n;
  core().fail.push_back(r);
}

void fail_probability(unsigned classes, double p, uint64_t seed) {
  std::lock_guard<std::mutex> lk(core().mu);
  FailRule r;
  r.classes = classes;
  r.p = p;
  core().rng.seed(seed);
  core().fail.push_back(r);
}

void fail_intr_type(unsigned classes, int itype) {
  std::lock_guard<std::mutex> lk(core().mu);
  FailRule r;
  r.classes = classes;
  r.itype = itype;
  core().fail.push_back(r);
}

void fail_clear() {
  std::lock_guard<std::mutex> lk(core().mu);
  core().fail.clear();
  core().failures = 0;
}

uint64_t failures_injected() {
  std::lock_guard<std::mutex> lk(core().mu);
  return core().failures;
}

Counters counters() {
  AtomicCounters &a = ctr();
  Counters c;
  c.kmem_allocs = a.kmem_allocs;
  c.dma_binds = a.dma_binds;
  c.bounce_binds = a.bounce_binds;
  c.bounce_copies = a.bounce_copies;
  c.bounce_bytes = a.bounce_bytes;
  c.syncs = a.syncs;
  c.syncs_fordev = a.syncs_fordev;
  c.syncs_forcpu = a.syncs_forcpu;
  c.reg_reads = a.reg_reads;
  c.reg_writes = a.reg_writes;
  c.interrupts = a.interrupts;
  c.interrupts_claimed = a.interrupts_claimed;
  c.interrupts_unclaimed = a.interrupts_unclaimed;
  c.timeouts_fired = a.timeouts_fired;
  c.taskq_dispatches = a.taskq_dispatches;
  return c;
}

void reset_counters() {
  AtomicCounters &a = ctr();
  for (std::atomic<uint64_t> *p :
       {&a.kmem_allocs, &a.dma_binds, &a.bounce_binds, &a.bounce_copies, &a.bounce_bytes, &a.syncs,
        &a.syncs_fordev, &a.syncs_forcpu, &a.reg_reads, &a.reg_writes, &a.interrupts,
        &a.interrupts_claimed, &a.interrupts_unclaimed, &a.timeouts_fired, &a.taskq_dispatches})
    p->store(0);
}

uint64_t va_to_pa(const void *va) { return dma_va_to_pa(va); }
void *pa_to_va(uint64_t pa) { return arena_pa_to_va(pa); }
bool device_dma_read(uint64_t pa, void *buf, size_t len) { return dma_read(pa, buf, len); }
bool device_dma_write(uint64_t pa, const void *buf, size_t len) { return dma_write(pa, buf, len); }

}  // namespace fk

// ---- C entry points ----
extern "C" {

void fk_sdt_probe(const char *name, int nargs, uintptr_t a0, uintptr_t a1, uintptr_t a2,
                  uintptr_t a3) {
  using namespace fk::impl;
  uintptr_t args[4] = {a0, a1, a2, a3};
  std::function<void(const char *, int, const uintptr_t *)> hook;
  {
    std::lock_guard<std::mutex> lk(core().mu);
    SdtStat &s = core().sdt[name];
    s.count++;
    s.last.assign(args, args + nargs);
    hook = core().sdt_hook;
  }
  if (hook) hook(name, nargs, args);
}

void cmn_err(int level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fk::impl::console_emit(level, "", fmt, ap);
  va_end(ap);
}

void vcmn_err(int level, const char *fmt, va_list ap) {
  fk::impl::console_emit(level, "", fmt, ap);
}

void vpanic(const char *fmt, va_list ap) {
  fk::impl::console_emit(CE_PANIC, "", fmt, ap);
  abort();
}

void panic(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vpanic(fmt, ap);
}

int assfail(const char *expr, const char *file, int line) {
  char buf[512];
  snprintf(buf, sizeof buf, "assertion failed: %s, file: %s, line: %d", expr, file, line);
  fk::report_violation("assert", buf);
  fprintf(stderr, "panic: %s\n", buf);
  abort();
}

void assfail3(const char *expr, uintmax_t lv, const char *op, uintmax_t rv, const char *file,
              int line) {
  char buf[512];
  snprintf(buf, sizeof buf, "assertion failed: %s (0x%jx %s 0x%jx), file: %s, line: %d", expr, lv,
           op, rv, file, line);
  fk::report_violation("assert", buf);
  fprintf(stderr, "panic: %s\n", buf);
  abort();
}

size_t strlcpy(char *dst, const char *src, size_t len) {
  size_t n = strlen(src);
  if (len != 0) {
    size_t c = n < len - 1 ? n : len - 1;
    memcpy(dst, src, c);
    dst[c] = '\0';
  }
  return n;
}

size_t strlcat(char *dst, const char *src, size_t len) {
  size_t d = strnlen(dst, len);
  if (d == len) return len + strlen(src);
  return d + strlcpy(dst + d, src, len - d);
}

int ddi_ffs(long mask) { return mask == 0 ? 0 : __builtin_ctzl((unsigned long)mask) + 1; }
int ddi_fls(long mask) { return mask == 0 ? 0 : 64 - __builtin_clzl((unsigned long)mask); }

int ddi_strtol(const char *str, char **nptr, int base, long *result) {
  if (str == nullptr || result == nullptr) return EINVAL;
  errno = 0;
  char *end;
  long v = strtol(str, &end, base);
  if (errno != 0) return errno;
  if (end == str) return EINVAL;
  if (nptr) *nptr = end;
  *result = v;
  return 0;
}

int ddi_strtoul(const char *str, char **nptr, int base, unsigned long *result) {
  if (str == nullptr || result == nullptr) return EINVAL;
  errno = 0;
  char *end;
  unsigned long v = strtoul(str, &end, base);
  if (errno != 0) return errno;
  if (end == str) return EINVAL;
  if (nptr) *nptr = end;
  *result = v;
  return 0;
}

unsigned long ddi_ptob(dev_info_t *, unsigned long pages) { return pages << MMU_PAGESHIFT; }
unsigned long ddi_btop(dev_info_t *, unsigned long bytes) { return bytes >> MMU_PAGESHIFT; }
unsigned long ddi_btopr(dev_info_t *, unsigned long bytes) {
  return (bytes + MMU_PAGEOFFSET) >> MMU_PAGESHIFT;
}
int ddi_in_panic(void) { return 0; }

// Atomics (atomic_ops(9F)).
// One family per width: increment, decrement, add, their _nv forms, compare-and-swap, swap.
#define FK_ATOMIC_FAMILY(W)                                                                    \
  void atomic_inc_##W(volatile uint##W##_t *t) { __atomic_add_fetch(t, 1, __ATOMIC_SEQ_CST); } \
  void atomic_dec_##W(volatile uint##W##_t *t) { __atomic_sub_fetch(t, 1, __ATOMIC_SEQ_CST); } \
  void atomic_add_##W(volatile uint##W##_t *t, int##W##_t d) {                                 \
    __atomic_add_fetch(t, d, __ATOMIC_SEQ_CST);                                                \
  }                                                                                            \
  uint##W##_t atomic_inc_##W##_nv(volatile uint##W##_t *t) {                                   \
    return __atomic_add_fetch(t, 1, __ATOMIC_SEQ_CST);                                         \
  }                                                                                            \
  uint##W##_t atomic_dec_##W##_nv(volatile uint##W##_t *t) {                                   \
    return __atomic_sub_fetch(t, 1, __ATOMIC_SEQ_CST);                                         \
  }                                                                                            \
  uint##W##_t atomic_add_##W##_nv(volatile uint##W##_t *t, int##W##_t d) {                     \
    return __atomic_add_fetch(t, d, __ATOMIC_SEQ_CST);                                         \
  }                                                                                            \
  uint##W##_t atomic_cas_##W(volatile uint##W##_t *t, uint##W##_t cmp, uint##W##_t nv) {       \
    __atomic_compare_exchange_n(t, &cmp, nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);       \
    return cmp;                                                                                \
  }                                                                                            \
  uint##W##_t atomic_swap_##W(volatile uint##W##_t *t, uint##W##_t nv) {                       \
    return __atomic_exchange_n(t, nv, __ATOMIC_SEQ_CST);                                       \
  }
FK_ATOMIC_FAMILY(32)
FK_ATOMIC_FAMILY(64)
#undef FK_ATOMIC_FAMILY
void atomic_or_32(volatile uint32_t *t, uint32_t b) { __atomic_or_fetch(t, b, __ATOMIC_SEQ_CST); }
void atomic_and_32(volatile uint32_t *t, uint32_t b) { __atomic_and_fetch(t, b, __ATOMIC_SEQ_CST); }
// A sequentially consistent read-modify-write orders like a full fence (and, unlike a fence,
// is understood by ThreadSanitizer).
static int g_membar;
void membar_enter(void) { __atomic_fetch_add(&g_membar, 0, __ATOMIC_SEQ_CST); }
void membar_exit(void) { __atomic_fetch_add(&g_membar, 0, __ATOMIC_SEQ_CST); }
void membar_producer(void) { __atomic_fetch_add(&g_membar, 0, __ATOMIC_SEQ_CST); }
void membar_consumer(void) { __atomic_fetch_add(&g_membar, 0, __ATOMIC_SEQ_CST); }

}  // extern "C"
