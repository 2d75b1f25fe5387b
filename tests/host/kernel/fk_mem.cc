// Physical memory: the arena that backs all kernel and DMA memory, and kmem(9F).
//
// The arena is a set of segments, each a host mapping standing for a physical range. Anonymous
// arenas have a kmem zone whose pages are "scrambled" (physical page = virtual page ^ 1, so a
// buffer that spans a page boundary is never physically contiguous, as with real kmem), a DMA
// zone (identity) and an optional low zone below 4 GiB for bounce buffers. File-backed arenas
// (QEMU guest RAM) are identity-mapped and serve every zone.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sys/types.h>
#include <sys/kmem.h>
#include <sys/sunddi.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "fk_internal.h"

// AddressSanitizer: memory of the anonymous arena that is not allocated (never allocated, or
// freed) is poisoned, so a driver touching kmem or DMA memory after kmem_free or
// ddi_dma_mem_free - or past the end of a kmem buffer - is reported by ASan at the faulting
// access (tests/suites/robustness/planted_uaf_test.cc proves it). File-backed arenas (QEMU guest
// RAM) are not poisoned: the QEMU backend's own functions use guest memory the kernel never
// allocated.
#if defined(__SANITIZE_ADDRESS__)
#define FK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FK_ASAN 1
#endif
#endif
#ifdef FK_ASAN
#include <sanitizer/asan_interface.h>
#define FK_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define FK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define FK_POISON(p, n) ((void)(p), (void)(n))
#define FK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace fk::impl {
namespace {

constexpr uint64_t kPage = 4096;

struct Segment {
  uint64_t pa = 0;
  uint64_t size = 0;
  uint8_t *va = nullptr;
  bool scramble = false;
  bool poisoned = false;  // anonymous: free space is poisoned for ASan
  unsigned zones = 0;
  std::map<uint64_t, uint64_t> free;  // offset -> length, address ordered
};

std::mutex g_arena_mu;
std::vector<Segment> g_segs;

struct KmemRec {
  size_t size;
  const void *site;
};
std::mutex g_kmem_mu;
std::map<const void *, KmemRec> g_kmem;
uint64_t g_kmem_bytes = 0;

uint64_t seg_off_to_pa(const Segment &s, uint64_t off) {
  if (!s.scramble) return s.pa + off;
  return s.pa + (((off / kPage) ^ 1) * kPage) + off % kPage;
}

uint64_t seg_pa_to_off(const Segment &s, uint64_t pa) {
  uint64_t off = pa - s.pa;
  if (!s.scramble) return off;
  return (((off / kPage) ^ 1) * kPage) + off % kPage;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Find room in s; returns the offset or ~0.
uint64_t seg_find(Segment &s, uint64_t size, const Constraints &c) {
  for (auto it = s.free.begin(); it != s.free.end(); ++it) {
    uint64_t start = it->first, end = it->first + it->second;
    uint64_t off = start;
    for (int guard = 0; guard < 64; guard++) {
      // Alignment and range are physical; in scrambled segments only sub-page alignment holds,
      // and scrambled zones never serve constrained requests.
      uint64_t pa = seg_off_to_pa(s, off);
      uint64_t apa = align_up(pa, c.align);
      if (apa < c.lo) apa = align_up(c.lo, c.align);
      off += apa - pa;
      if (off + size > end) break;
      pa = seg_off_to_pa(s, off);
      if (pa + size - 1 > c.hi) return ~0ull;  // later blocks are higher still
      if (c.seg != ~0ull && (pa & ~c.seg) != ((pa + size - 1) & ~c.seg)) {
        off += ((pa | c.seg) + 1) - pa;  // next boundary
        continue;
      }
      return off;
    }
  }
  return ~0ull;
}

void seg_take(Segment &s, uint64_t off, uint64_t size) {
  auto it = s.free.upper_bound(off);
  --it;
  uint64_t bstart = it->first, blen = it->second;
  s.free.erase(it);
  if (off > bstart) s.free[bstart] = off - bstart;
  if (off + size < bstart + blen) s.free[off + size] = bstart + blen - (off + size);
}

void seg_give(Segment &s, uint64_t off, uint64_t size) {
  auto next = s.free.lower_bound(off);
  if (next != s.free.end() && next->first == off + size) {
    size += next->second;
    next = s.free.erase(next);
  }
  if (next != s.free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == off) {
      prev->second += size;
      return;
    }
  }
  s.free[off] = size;
}

Segment *seg_of_va(const void *va) {
  auto p = static_cast<const uint8_t *>(va);
  for (Segment &s : g_segs)
    if (p >= s.va && p < s.va + s.size) return &s;
  return nullptr;
}

uint8_t *map_anon(uint64_t size) {
  void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    perror("fk: arena mmap");
    abort();
  }
  FK_POISON(p, size);  // nothing is allocated yet
  return static_cast<uint8_t *>(p);
}

// A file-backed segment (e.g. guest RAM): identity-mapped, every zone.
Segment map_file_segment(const ArenaSegment &a) {
  int fd = a.fd;
  bool opened = false;
  if (fd < 0) {
    fd = open(a.path.c_str(), O_RDWR);
    if (fd < 0) {
      fprintf(stderr, "fk: cannot open arena file %s: %s\n", a.path.c_str(), strerror(errno));
      abort();
    }
    opened = true;
  }
  void *p = mmap(nullptr, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)a.file_offset);
  if (opened) close(fd);
  if (p == MAP_FAILED) {
    perror("fk: arena file mmap");
    abort();
  }
  Segment s;
  s.pa = a.paddr;
  s.size = a.size;
  s.va = static_cast<uint8_t *>(p);
  s.zones = kZoneKmem | kZoneDma | kZoneLow;
  // Physical address 0 reads as "no address" (va_to_pa): keep page 0 out of use.
  if (a.paddr == 0 && a.size > kPage)
    s.free[kPage] = a.size - kPage;
  else if (a.paddr != 0)
    s.free[0] = a.size;
  return s;
}

// The anonymous arena: a scrambled kmem zone, a contiguous DMA zone above it, and the low zone.
void add_anon_segments(const Options &o) {
  uint64_t half = (o.arena_size / 2) / (2 * kPage) * (2 * kPage);
  Segment k;
  k.pa = o.arena_base;
  k.size = half;
  k.va = map_anon(half);
  k.poisoned = true;
  k.scramble = true;
  k.zones = kZoneKmem;
  k.free[0] = half;
  g_segs.push_back(std::move(k));
  Segment d;
  d.pa = o.arena_base + half;
  d.size = half;
  d.va = map_anon(half);
  d.poisoned = true;
  d.zones = kZoneDma;
  d.free[0] = half;
  g_segs.push_back(std::move(d));
  if (o.low_size != 0) {
    Segment l;
    l.pa = o.low_base;
    l.size = o.low_size;
    l.va = map_anon(o.low_size);
    l.poisoned = true;
    l.zones = kZoneLow;
    l.free[0] = o.low_size;
    g_segs.push_back(std::move(l));
  }
}

}  // namespace

void arena_init(const Options &o) {
  std::lock_guard<std::mutex> lk(g_arena_mu);
  g_segs.clear();
  if (o.segments.empty()) {
    add_anon_segments(o);
    return;
  }
  for (const ArenaSegment &a : o.segments) g_segs.push_back(map_file_segment(a));
}

void arena_fini() {
  {
    std::lock_guard<std::mutex> lk(g_arena_mu);
    for (Segment &s : g_segs) {
      // The address range goes back to the host: it must not stay poisoned for whatever the
      // host maps there next.
      if (s.poisoned) FK_UNPOISON(s.va, s.size);
      munmap(s.va, s.size);
    }
    g_segs.clear();
  }
  std::lock_guard<std::mutex> lk(g_kmem_mu);
  g_kmem.clear();
  g_kmem_bytes = 0;
}

void *arena_alloc(size_t size, unsigned zones, const Constraints &c) {
  if (size == 0) return nullptr;
  uint64_t sz = align_up(size, 16);
  std::lock_guard<std::mutex> lk(g_arena_mu);
  for (unsigned z : {kZoneKmem, kZoneDma, kZoneLow}) {
    if (!(zones & z)) continue;
    for (Segment &s : g_segs) {
      if (!(s.zones & z)) continue;
      // Scrambled pages keep only sub-page alignment and no physical contiguity.
      if (s.scramble && (c.align > 16 || c.lo != 0 || c.hi != ~0ull || c.seg != ~0ull)) continue;
      uint64_t off = seg_find(s, sz, c);
      if (off == ~0ull) continue;
      seg_take(s, off, sz);
      // kmem is unpoisoned to its exact size, so an overrun of a kmem buffer is caught too; DMA
      // memory to the rounded size (the DDI may hand out more than asked).
      if (s.poisoned) FK_UNPOISON(s.va + off, z == kZoneKmem ? size : sz);
      return s.va + off;
    }
  }
  return nullptr;
}

void arena_free(void *va, size_t size) {
  uint64_t sz = align_up(size, 16);
  std::lock_guard<std::mutex> lk(g_arena_mu);
  Segment *s = seg_of_va(va);
  if (s == nullptr) return;
  seg_give(*s, static_cast<uint8_t *>(va) - s->va, sz);
  if (s->poisoned) FK_POISON(va, sz);
}

uint64_t arena_va_to_pa(const void *va) {
  std::lock_guard<std::mutex> lk(g_arena_mu);
  Segment *s = seg_of_va(va);
  if (s == nullptr) return 0;
  return seg_off_to_pa(*s, static_cast<const uint8_t *>(va) - s->va);
}

void *arena_pa_to_va(uint64_t pa) {
  std::lock_guard<std::mutex> lk(g_arena_mu);
  for (Segment &s : g_segs)
    if (pa >= s.pa && pa < s.pa + s.size) return s.va + seg_pa_to_off(s, pa);
  return nullptr;
}

bool arena_contains(uint64_t pa, uint64_t len) {
  std::lock_guard<std::mutex> lk(g_arena_mu);
  for (Segment &s : g_segs)
    if (pa >= s.pa && len <= s.size && pa - s.pa <= s.size - len) return true;
  return false;
}

void fill_pattern(void *p, size_t len) {
  if (!opts().fill_pattern) return;
  static const uint8_t kPat[4] = {0xfe, 0xca, 0xdd, 0xba};  // 0xbaddcafe little-endian
  auto b = static_cast<uint8_t *>(p);
  for (size_t i = 0; i < len; i++) b[i] = kPat[i % 4];
}

uint64_t kmem_bytes_outstanding() {
  std::lock_guard<std::mutex> lk(g_kmem_mu);
  return g_kmem_bytes;
}

namespace {

void *kmem_alloc_impl(size_t size, int kmflag, bool zero, const void *site) {
  if (!is_booted()) {
    fprintf(stderr, "fk: kmem_alloc before boot\n");
    abort();
  }
  if (size == 0) return nullptr;
  if (!(kmflag & KM_NOSLEEP)) check_may_sleep("KM_SLEEP allocation", nullptr, site);
  if ((kmflag & KM_NOSLEEP) && should_fail(kFailKmem)) return nullptr;
  Constraints c;
  c.align = 8;
  void *p = arena_alloc(size, kZoneKmem, c);
  if (p == nullptr) {
    if (kmflag & KM_NOSLEEP) return nullptr;
    fprintf(stderr, "fk: kmem arena exhausted allocating %zu bytes (KM_SLEEP)\n", size);
    abort();
  }
  if (zero)
    memset(p, 0, size);
  else
    fill_pattern(p, size);
  {
    std::lock_guard<std::mutex> lk(g_kmem_mu);
    g_kmem[p] = KmemRec{size, site};
    g_kmem_bytes += size;
  }
  ctr().kmem_allocs++;
  track("kmem", p, size, site);
  return p;
}

}  // namespace
}  // namespace fk::impl

using namespace fk::impl;

extern "C" {

void *kmem_alloc(size_t size, int kmflag) {
  return kmem_alloc_impl(size, kmflag, false, __builtin_return_address(0));
}

void *kmem_zalloc(size_t size, int kmflag) {
  return kmem_alloc_impl(size, kmflag, true, __builtin_return_address(0));
}

void kmem_free(void *buf, size_t size) {
  if (buf == nullptr) {
    if (size != 0) fk::report_violation("kmem", "kmem_free(NULL, " + std::to_string(size) + ")");
    return;
  }
  size_t real;
  {
    std::lock_guard<std::mutex> lk(g_kmem_mu);
    auto it = g_kmem.find(buf);
    if (it == g_kmem.end()) {
      char msg[160];
      snprintf(msg, sizeof msg, "kmem_free(%p, %zu) of memory not allocated (double free?) at %s",
               buf, size, fk::describe_site(__builtin_return_address(0)).c_str());
      fk::report_violation("kmem", msg);
      return;
    }
    real = it->second.size;
    if (real != size) {
      char msg[200];
      snprintf(msg, sizeof msg, "kmem_free(%p, %zu): allocated with size %zu (at %s), freed at %s",
               buf, size, real, fk::describe_site(it->second.site).c_str(),
               fk::describe_site(__builtin_return_address(0)).c_str());
      fk::report_violation("kmem", msg);
    }
    g_kmem.erase(it);
    g_kmem_bytes -= real;
  }
  untrack("kmem", buf);
  static const uint8_t kDead[4] = {0xef, 0xbe, 0xad, 0xde};  // 0xdeadbeef
  auto b = static_cast<uint8_t *>(buf);
  for (size_t i = 0; i < real; i++) b[i] = kDead[i % 4];
  arena_free(buf, real);
}

char *kmem_asprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  char *p =
      static_cast<char *>(kmem_alloc_impl(n + 1, KM_SLEEP, false, __builtin_return_address(0)));
  va_start(ap, fmt);
  vsnprintf(p, n + 1, fmt, ap);
  va_end(ap);
  return p;
}

void strfree(char *str) { kmem_free(str, strlen(str) + 1); }

}  // extern "C"

// kmem caches: objects from kmem with constructor/destructor.
struct kmem_cache {
  std::string name;
  size_t size;
  size_t align;
  int (*ctor)(void *, void *, int);
  void (*dtor)(void *, void *);
  void *priv;
  std::atomic<int64_t> outstanding{0};
};

extern "C" {

kmem_cache_t *kmem_cache_create(const char *name, size_t bufsize, size_t align,
                                int (*constructor)(void *, void *, int),
                                void (*destructor)(void *, void *), void (*)(void *), void *priv,
                                vmem_t *, int) {
  auto *cp = new kmem_cache;
  cp->name = name ? name : "";
  cp->size = bufsize;
  cp->align = align;
  cp->ctor = constructor;
  cp->dtor = destructor;
  cp->priv = priv;
  track("kmem-cache", cp, bufsize, __builtin_return_address(0));
  return cp;
}

void kmem_cache_destroy(kmem_cache_t *cp) {
  if (cp->outstanding != 0)
    fk::report_violation("kmem", "kmem_cache_destroy(" + cp->name + ") with " +
                                     std::to_string(cp->outstanding.load()) +
                                     " objects still allocated");
  untrack("kmem-cache", cp);
  delete cp;
}

void *kmem_cache_alloc(kmem_cache_t *cp, int kmflag) {
  void *p = kmem_alloc_impl(cp->size, kmflag, false, __builtin_return_address(0));
  if (p == nullptr) return nullptr;
  if (cp->ctor != nullptr && cp->ctor(p, cp->priv, kmflag) != 0) {
    kmem_free(p, cp->size);
    return nullptr;
  }
  cp->outstanding++;
  return p;
}

void kmem_cache_free(kmem_cache_t *cp, void *buf) {
  if (cp->dtor != nullptr) cp->dtor(buf, cp->priv);
  cp->outstanding--;
  kmem_free(buf, cp->size);
}

}  // extern "C"
