// DMA: handles, memory, binding, cookies and ddi_dma_sync(9F), enforcing ddi_dma_attr(9S).
//
// Binding walks the object page by page (physical addresses from the arena), merges physically
// contiguous pieces, splits them at dma_attr_seg boundaries and at dma_attr_count_max + 1, then
// checks the result: every cookie inside [addr_lo, addr_hi], the first aligned to dma_attr_align,
// at most dma_attr_sgllen cookies (with sgllen 1, a multiple of dma_attr_granular). When the
// object cannot be described that way it is bounced, as the illumos root nexus does: a
// contiguous copy buffer that satisfies the attributes, filled on bind and ddi_dma_sync(FORDEV)
// and copied back on ddi_dma_sync(FORCPU/FORKERNEL) and unbind (counted). An object larger than
// dma_attr_maxxfer fails with DDI_DMA_TOOBIG unless bound with DDI_DMA_PARTIAL. With
// DDI_DMA_PARTIAL, an object that needs more than sgllen cookies or maxxfer bytes is split into
// windows (DDI_DMA_PARTIAL_MAP; ddi_dma_numwin/ddi_dma_getwin), each window bounced only when
// its cookies are out of the device's reach; switching windows syncs the old one for the CPU
// and the new one for the device.
//
// Sync audit (Options::sync_audit, non-coherent DMA memory): fk_sync_audit.cc.
// Device access to memory that no handle has bound is a violation "dma"
// (Options::check_dma_bound).
#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/buf.h>

#include <algorithm>
#include <cstdio>
#include <list>
#include <cstring>
#include <cstdlib>

#include "fk_internal.h"

struct __ddi_dma_handle {
  dev_info_t *dip = nullptr;
  ddi_dma_attr_t attr{};
  bool bound = false;
  uint8_t *obj = nullptr;  // bound object (kernel virtual)
  size_t len = 0;
  uint_t flags = 0;
  std::vector<ddi_dma_cookie_t> cookies;
  unsigned next = 0;          // for ddi_dma_nextcookie
  uint8_t *bounce = nullptr;  // copy buffer for bounced windows
  size_t bounce_len = 0;
  // DMA windows (one unless bound with DDI_DMA_PARTIAL and the object needs several).
  struct Window {
    size_t off = 0, len = 0;
    std::vector<ddi_dma_cookie_t> cookies;  // when not bounced
    bool bounce = false;
  };
  std::vector<Window> windows;
  unsigned curwin = 0;
  fk::impl::DmaMem *mem = nullptr;  // from ddi_dma_mem_alloc on this handle
};

namespace fk::impl {

std::mutex g_dma_mu;

namespace {

std::map<uint64_t, DmaMem *> g_mem_by_pa;              // sync-audit memory by device address
std::map<const uint8_t *, DmaMem *> g_mem_by_cpu;      // all DMA memory by driver address
std::map<uint64_t, std::pair<uint64_t, int>> g_bound;  // pa -> (len, count)
std::atomic<uint64_t> g_next_mem_serial{1};

DmaMem *mem_of_cpu(const void *va, size_t *off) {
  auto p = static_cast<const uint8_t *>(va);
  auto it = g_mem_by_cpu.upper_bound(p);
  if (it == g_mem_by_cpu.begin()) return nullptr;
  --it;
  DmaMem *m = it->second;
  if (p >= m->cpu + m->len) return nullptr;
  *off = p - m->cpu;
  return m;
}

}  // namespace

DmaMem *mem_of_pa(uint64_t pa, size_t *off) {
  auto it = g_mem_by_pa.upper_bound(pa);
  if (it == g_mem_by_pa.begin()) return nullptr;
  --it;
  DmaMem *m = it->second;
  if (pa >= m->pa + m->len) return nullptr;
  *off = pa - m->pa;
  return m;
}

namespace {

bool is_bound(uint64_t pa, uint64_t len) {
  // Bound ranges may overlap and abut: walk forward from the last one starting at or before pa.
  uint64_t cur = pa, end = pa + len;
  while (cur < end) {
    bool found = false;
    for (auto it = g_bound.begin(); it != g_bound.end() && it->first <= cur; ++it) {
      if (it->first + it->second.first > cur) {
        cur = it->first + it->second.first;
        found = true;
      }
    }
    if (!found) return false;
  }
  return true;
}

void bound_add(uint64_t pa, uint64_t len) {
  auto &e = g_bound[pa];
  if (e.second == 0 || e.first < len) e.first = std::max(e.first, len);
  e.second++;
}

void bound_remove(uint64_t pa) {
  auto it = g_bound.find(pa);
  if (it != g_bound.end() && --it->second.second == 0) g_bound.erase(it);
}

// Copy [off, off+len) of the object (clipped to the current window) to or from the window's
// copy buffer.
void copy_bounce(ddi_dma_handle_t h, size_t off, size_t len, bool fordev) {
  const auto &w = h->windows[h->curwin];
  size_t s = std::max(off, w.off), e = std::min(off + len, w.off + w.len);
  if (s >= e) return;
  if (fordev)
    memcpy(h->bounce + (s - w.off), h->obj + s, e - s);
  else
    memcpy(h->obj + s, h->bounce + (s - w.off), e - s);
  ctr().bounce_copies++;
  ctr().bounce_bytes += e - s;
}

// Sync [off, off+len) of the bound object.
void sync_range(ddi_dma_handle_t h, size_t off, size_t len, bool fordev) {
  if (h->windows[h->curwin].bounce) {
    copy_bounce(h, off, len, fordev);
    return;
  }
  std::lock_guard<std::mutex> lk(g_dma_mu);
  size_t moff;
  DmaMem *m = mem_of_cpu(h->obj + off, &moff);
  if (m != nullptr && m->cpu != m->dev) {
    size_t n = std::min(len, m->len - moff);
    audit_sync(m, moff, n, fordev);
  }
}

void cookie_push(std::vector<ddi_dma_cookie_t> &v, uint64_t pa, uint64_t len) {
  ddi_dma_cookie_t c{};
  c.dmac_laddress = pa;
  c.dmac_size = len;
  c.dmac_type = 0;
  v.push_back(c);
}

// Split a physically contiguous run into cookies obeying seg and count_max.
void split_run(const ddi_dma_attr_t &a, uint64_t pa, uint64_t len,
               std::vector<ddi_dma_cookie_t> &out) {
  uint64_t maxc = a.dma_attr_count_max == ~0ull ? ~0ull : a.dma_attr_count_max + 1;
  while (len > 0) {
    uint64_t n = len;
    if (a.dma_attr_seg != ~0ull) {
      uint64_t to_boundary = ((pa | a.dma_attr_seg) + 1) - pa;
      if (to_boundary != 0 && n > to_boundary) n = to_boundary;
    }
    if (n > maxc) n = maxc;
    cookie_push(out, pa, n);
    pa += n;
    len -= n;
  }
}

bool cookies_ok(const ddi_dma_attr_t &a, const std::vector<ddi_dma_cookie_t> &v) {
  if (v.empty()) return false;
  if (a.dma_attr_align > 1 && v[0].dmac_laddress % a.dma_attr_align != 0) return false;
  if (a.dma_attr_sgllen > 0 && v.size() > static_cast<size_t>(a.dma_attr_sgllen)) return false;
  for (size_t i = 0; i < v.size(); i++) {
    uint64_t s = v[i].dmac_laddress, e = s + v[i].dmac_size - 1;
    if (s < a.dma_attr_addr_lo || e > a.dma_attr_addr_hi) return false;
    // ddi_dma_attr(9S): with scatter/gather "a single segment ... can be less than the
    // granularity"; only the transfer as a whole (and so each partial window) is a multiple.
    if (a.dma_attr_granular > 1 && a.dma_attr_sgllen == 1 && i + 1 < v.size() &&
        v[i].dmac_size % a.dma_attr_granular != 0)
      return false;
  }
  return true;
}

Constraints constraints_of(const ddi_dma_attr_t &a) {
  Constraints c;
  c.lo = a.dma_attr_addr_lo;
  c.hi = a.dma_attr_addr_hi;
  c.align = std::max<uint64_t>(a.dma_attr_align, 16);
  c.seg = a.dma_attr_seg;
  return c;
}

// Cookies for [off, off+len) of the object at p: physically contiguous runs split at seg
// boundaries and count_max. false when some byte is not kernel memory.
bool object_cookies(const ddi_dma_attr_t &a, uint8_t *p, size_t off, size_t len,
                    std::vector<ddi_dma_cookie_t> &out) {
  uint64_t run_pa = 0, run_len = 0;
  for (size_t o = off; o < off + len;) {
    uint64_t pa = dma_va_to_pa(p + o);
    if (pa == 0) {
      char buf[128];
      snprintf(buf, sizeof buf, "DMA bind of %p+%zu: not kernel memory", (void *)p, o);
      report_violation("dma", buf);
      return false;
    }
    size_t n = std::min<size_t>(off + len - o, 4096 - ((uintptr_t)(p + o) % 4096));
    if (run_len != 0 && run_pa + run_len == pa) {
      run_len += n;
    } else {
      if (run_len != 0) split_run(a, run_pa, run_len, out);
      run_pa = pa;
      run_len = n;
    }
    o += n;
  }
  split_run(a, run_pa, run_len, out);
  return true;
}

bool in_range(const ddi_dma_attr_t &a, const std::vector<ddi_dma_cookie_t> &v, bool check_align) {
  if (check_align && a.dma_attr_align > 1 && v[0].dmac_laddress % a.dma_attr_align != 0)
    return false;
  for (auto &c : v)
    if (c.dmac_laddress < a.dma_attr_addr_lo ||
        c.dmac_laddress + c.dmac_size - 1 > a.dma_attr_addr_hi)
      return false;
  return true;
}

// Partial mapping: windows of at most sgllen cookies and maxxfer bytes, each but the last a
// multiple of the granularity; a window whose cookies the device cannot reach is bounced.
// Returns a DDI_DMA_* error, or DDI_DMA_MAPPED with h->windows filled.
int build_windows(ddi_dma_handle_t h) {
  const ddi_dma_attr_t &a = h->attr;
  size_t off = 0, bounce_max = 0;
  while (off < h->len) {
    std::vector<ddi_dma_cookie_t> rest;
    if (!object_cookies(a, h->obj, off, h->len - off, rest)) return DDI_DMA_NOMAPPING;
    __ddi_dma_handle::Window w;
    w.off = off;
    for (ddi_dma_cookie_t c : rest) {
      if (a.dma_attr_sgllen > 0 && w.cookies.size() == static_cast<size_t>(a.dma_attr_sgllen))
        break;
      uint64_t room = a.dma_attr_maxxfer - w.len;
      if (room == 0) break;
      if (c.dmac_size > room) c.dmac_size = room;
      w.cookies.push_back(c);
      w.len += c.dmac_size;
    }
    if (off + w.len < h->len && a.dma_attr_granular > 1) {
      size_t r = w.len % a.dma_attr_granular;
      while (r > 0 && !w.cookies.empty()) {
        ddi_dma_cookie_t &last = w.cookies.back();
        if (last.dmac_size > r) {
          last.dmac_size -= r;
          w.len -= r;
          r = 0;
        } else {
          w.len -= last.dmac_size;
          r -= last.dmac_size;
          w.cookies.pop_back();
        }
      }
    }
    if (w.len == 0) return DDI_DMA_NOMAPPING;
    if (!in_range(a, w.cookies, off == 0)) {
      w.bounce = true;
      w.cookies.clear();
      bounce_max = std::max(bounce_max, w.len);
    }
    off += w.len;
    h->windows.push_back(std::move(w));
  }
  if (bounce_max != 0) {
    void *b = arena_alloc(bounce_max, kZoneDma | kZoneLow, constraints_of(a));
    if (b == nullptr) return DDI_DMA_NORESOURCES;
    h->bounce = static_cast<uint8_t *>(b);
    h->bounce_len = bounce_max;
    ctr().bounce_binds++;
  }
  return DDI_DMA_MAPPED;
}

// Make window idx current: the previous one is synced for the CPU, the new one for the device.
void activate(ddi_dma_handle_t h, unsigned idx) {
  if (h->bound) {
    if (h->flags & DDI_DMA_READ) sync_range(h, 0, h->len, false);
    std::lock_guard<std::mutex> lk(g_dma_mu);
    for (auto &c : h->cookies) bound_remove(c.dmac_laddress);
  }
  h->curwin = idx;
  const auto &w = h->windows[idx];
  if (w.bounce) {
    h->cookies.clear();
    split_run(h->attr, arena_va_to_pa(h->bounce), w.len, h->cookies);
  } else {
    h->cookies = w.cookies;
  }
  if (h->flags & DDI_DMA_WRITE) sync_range(h, w.off, w.len, true);  // binding syncs for the device
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    for (auto &c : h->cookies) bound_add(c.dmac_laddress, c.dmac_size);
  }
  h->next = 1;
  h->bound = true;
}

void unbind_reset(ddi_dma_handle_t h) {
  if (h->bounce != nullptr) arena_free(h->bounce, h->bounce_len);
  h->bounce = nullptr;
  h->bounce_len = 0;
  h->windows.clear();
  h->cookies.clear();
  h->curwin = 0;
  h->obj = nullptr;
  h->len = 0;
}

int bind(ddi_dma_handle_t h, caddr_t addr, size_t len, uint_t flags, ddi_dma_cookie_t *cookiep,
         uint_t *ccountp) {
  if (h == nullptr) return DDI_DMA_BADATTR;
  if (h->bound) return DDI_DMA_INUSE;
  if (len == 0 || addr == nullptr) return DDI_DMA_NOMAPPING;
  if (should_fail(kFailDma)) return DDI_DMA_NORESOURCES;
  const ddi_dma_attr_t &a = h->attr;
  h->obj = reinterpret_cast<uint8_t *>(addr);
  h->len = len;
  h->flags = flags;
  std::vector<ddi_dma_cookie_t> cookies;
  if (!object_cookies(a, h->obj, 0, len, cookies)) {
    unbind_reset(h);
    return DDI_DMA_NOMAPPING;
  }
  int rv = DDI_DMA_MAPPED;
  if (len <= a.dma_attr_maxxfer && cookies_ok(a, cookies)) {
    __ddi_dma_handle::Window w;
    w.len = len;
    w.cookies = std::move(cookies);
    h->windows.push_back(std::move(w));
  } else if (flags & DDI_DMA_PARTIAL) {
    rv = build_windows(h);
  } else if (len > a.dma_attr_maxxfer) {
    rv = DDI_DMA_TOOBIG;
  } else {
    // Bounce the whole object through a contiguous buffer that satisfies the attributes.
    void *b = arena_alloc(len, kZoneDma | kZoneLow, constraints_of(a));
    if (b == nullptr) {
      rv = DDI_DMA_NORESOURCES;
    } else {
      std::vector<ddi_dma_cookie_t> bc;
      split_run(a, arena_va_to_pa(b), len, bc);
      if (!cookies_ok(a, bc)) {
        arena_free(b, len);
        rv = DDI_DMA_TOOBIG;
      } else {
        h->bounce = static_cast<uint8_t *>(b);
        h->bounce_len = len;
        ctr().bounce_binds++;
        __ddi_dma_handle::Window w;
        w.len = len;
        w.bounce = true;
        h->windows.push_back(std::move(w));
      }
    }
  }
  if (rv != DDI_DMA_MAPPED) {
    unbind_reset(h);
    return rv;
  }
  activate(h, 0);
  ctr().dma_binds++;
  if (cookiep != nullptr) *cookiep = h->cookies[0];
  if (ccountp != nullptr) *ccountp = static_cast<uint_t>(h->cookies.size());
  return h->windows.size() > 1 ? DDI_DMA_PARTIAL_MAP : DDI_DMA_MAPPED;
}

}  // namespace

uint64_t dma_va_to_pa(const void *va) {
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    size_t off;
    DmaMem *m = mem_of_cpu(va, &off);
    if (m != nullptr) return m->pa + off;
  }
  return arena_va_to_pa(va);
}

// A device's bus-master copy is not a CPU access: it must not trip AddressSanitizer's poisoning
// of free arena memory (fk_mem.cc). A device touching memory no handle bound is reported as a
// "dma" violation above instead. Volatile, so the loop does not become an intercepted memcpy.
__attribute__((no_sanitize_address)) static void device_copy(uint8_t *dst, const uint8_t *src,
                                                             size_t n) {
  volatile uint8_t *d = dst;
  const volatile uint8_t *s = src;
  for (size_t i = 0; i < n; i++) d[i] = s[i];
}

static bool dma_access_locked(uint64_t pa, uint8_t *buf, size_t len, bool write,
                              std::vector<Suspect> *suspects);

// Device access, page by page (scrambled kmem pages are not contiguous in virtual memory).
static bool dma_access(uint64_t pa, uint8_t *buf, size_t len, bool write) {
  if (len == 0) return true;
  if (!arena_contains(pa, len)) return false;
  std::vector<Suspect> suspects;
  bool ok;
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    DeviceAccessScope device;
    ok = dma_access_locked(pa, buf, len, write, write ? nullptr : &suspects);
  }
  if (!suspects.empty()) defer_suspects(suspects);
  return ok;
}

static bool dma_access_locked(uint64_t pa, uint8_t *buf, size_t len, bool write,
                              std::vector<Suspect> *suspects) {
  // An IOMMU checks whether or not unbound access is reported.
  if ((opts().check_dma_bound || opts().iommu) && !is_bound(pa, len)) {
    char msg[128];
    snprintf(msg, sizeof msg, "device %s of %zu byte(s) at pa 0x%llx: memory not bound for DMA",
             write ? "write" : "read", len, (unsigned long long)pa);
    report_violation("dma", msg);
    if (opts().iommu) return false;
  }
  size_t done = 0;
  while (done < len) {
    uint64_t cur = pa + done;
    size_t n = std::min<size_t>(len - done, 4096 - cur % 4096);
    size_t moff;
    DmaMem *m = mem_of_pa(cur, &moff);
    uint8_t *va;
    if (m != nullptr) {
      n = std::min(n, m->len - moff);
      va = m->dev + moff;
      if (!write && suspects != nullptr) {
        for (size_t i = 0; i < n; i++) {
          if (m->cpu[moff + i] != m->last[moff + i]) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "device read of %zu byte(s) at pa 0x%llx (offset %zu of DMA memory pa "
                     "0x%llx): byte at offset %zu written by the driver but not synced "
                     "DDI_DMA_SYNC_FORDEV (still not synced when the driver dropped its locks)",
                     len, (unsigned long long)pa, moff, (unsigned long long)m->pa, moff + i);
            suspects->push_back(Suspect{m->pa, m->serial, moff + i, msg, {}});
            break;
          }
        }
      }
    } else {
      va = static_cast<uint8_t *>(arena_pa_to_va(cur));
    }
    if (write)
      device_copy(va, buf + done, n);
    else
      device_copy(buf + done, va, n);
    done += n;
  }
  return true;
}

bool dma_read(uint64_t pa, void *buf, size_t len) {
  return dma_access(pa, static_cast<uint8_t *>(buf), len, false);
}

bool dma_write(uint64_t pa, const void *buf, size_t len) {
  return dma_access(pa, const_cast<uint8_t *>(static_cast<const uint8_t *>(buf)), len, true);
}

void dma_fini() {
  sync_audit_fini();
  std::lock_guard<std::mutex> lk(g_dma_mu);
  g_mem_by_pa.clear();
  g_mem_by_cpu.clear();
  g_bound.clear();
}

}  // namespace fk::impl

using namespace fk::impl;

extern "C" {

int ddi_dma_alloc_handle(dev_info_t *dip, ddi_dma_attr_t *attr, int (*waitfp)(caddr_t), caddr_t,
                         ddi_dma_handle_t *handlep) {
  if (attr == nullptr || handlep == nullptr) return DDI_DMA_BADATTR;
  const ddi_dma_attr_t &a = *attr;
  auto bad = [&](const char *why) {
    fk::report_violation("dma", std::string("ddi_dma_alloc_handle: bad attribute: ") + why);
    return DDI_DMA_BADATTR;
  };
  if (a.dma_attr_version != DMA_ATTR_V0) return bad("dma_attr_version");
  if (a.dma_attr_addr_hi <= a.dma_attr_addr_lo) return bad("dma_attr_addr_hi <= addr_lo");
  if (a.dma_attr_count_max == 0) return bad("dma_attr_count_max is 0");
  if (a.dma_attr_align == 0 || (a.dma_attr_align & (a.dma_attr_align - 1)) != 0)
    return bad("dma_attr_align is not a power of two");
  if (a.dma_attr_minxfer == 0 || (a.dma_attr_minxfer & (a.dma_attr_minxfer - 1)) != 0)
    return bad("dma_attr_minxfer is not a power of two");
  if (a.dma_attr_maxxfer == 0) return bad("dma_attr_maxxfer is 0");
  if (a.dma_attr_seg == 0) return bad("dma_attr_seg is 0");
  if (a.dma_attr_sgllen == 0) return bad("dma_attr_sgllen is 0");
  if (a.dma_attr_granular == 0) return bad("dma_attr_granular is 0");
  // A DEBUG x86 rootnex (rootnex_alloc_check_parms) refuses, in rootnex_valid_alloc_parms:
  // seg or count_max below a page offset, granular above a page or not dividing one, maxxfer
  // below a page, a seg not ending in 0xfff, and a largest cookie (min of seg + 1, maxxfer
  // rounded down to granular, count_max + 1) smaller than a page.
  constexpr uint64_t kPageOffset = 0xfff, kPageSize = 0x1000;
  if (a.dma_attr_seg < kPageOffset) return bad("dma_attr_seg below 0xfff");
  if (a.dma_attr_count_max < kPageOffset) return bad("dma_attr_count_max below 0xfff");
  if (a.dma_attr_granular > kPageSize) return bad("dma_attr_granular above the page size");
  if (a.dma_attr_maxxfer < kPageSize) return bad("dma_attr_maxxfer below the page size");
  if ((a.dma_attr_seg & kPageOffset) != kPageOffset) return bad("dma_attr_seg not ending in 0xfff");
  if (kPageSize & (a.dma_attr_granular - 1)) return bad("dma_attr_granular does not divide a page");
  {
    uint64_t seg = a.dma_attr_seg + 1 < a.dma_attr_seg ? a.dma_attr_seg : a.dma_attr_seg + 1;
    uint64_t cmax = a.dma_attr_count_max + 1 < a.dma_attr_count_max ? a.dma_attr_count_max
                                                                    : a.dma_attr_count_max + 1;
    uint64_t maxxfer = a.dma_attr_maxxfer - a.dma_attr_maxxfer % a.dma_attr_granular;
    uint64_t largest = std::min({seg, maxxfer, cmax});
    if (largest != 0 && largest <= 0xFFFFFFFFull && largest < kPageSize)
      return bad("largest cookie smaller than a page");
  }
  if (waitfp != DDI_DMA_SLEEP && waitfp != DDI_DMA_DONTWAIT)
    fk::report_violation("dma", "ddi_dma_alloc_handle: callback functions are not supported");
  if (waitfp == DDI_DMA_SLEEP)
    fk::check_may_sleep("ddi_dma_alloc_handle(DDI_DMA_SLEEP)", nullptr,
                        __builtin_return_address(0));
  if (should_fail(fk::kFailDma)) return DDI_DMA_NORESOURCES;
  auto *h = new __ddi_dma_handle;
  h->dip = dip;
  h->attr = a;
  *handlep = h;
  track("dma-handle", h, 0, __builtin_return_address(0));
  return DDI_SUCCESS;
}

void ddi_dma_free_handle(ddi_dma_handle_t *handlep) {
  if (handlep == nullptr || *handlep == nullptr) return;
  ddi_dma_handle_t h = *handlep;
  if (!untrack("dma-handle", h)) {
    fk::report_violation("dma", "ddi_dma_free_handle of a handle not allocated (double free?)");
    return;
  }
  if (h->bound) {
    fk::report_violation("dma", "ddi_dma_free_handle of a bound handle (missing unbind)");
    ddi_dma_unbind_handle(h);
  }
  if (h->mem != nullptr) {
    fk::report_violation("dma", "ddi_dma_free_handle before ddi_dma_mem_free of its memory");
    h->mem->handle = nullptr;
  }
  delete h;
  *handlep = nullptr;
}

int ddi_dma_mem_alloc(ddi_dma_handle_t h, size_t length, ddi_device_acc_attr_t *accattrp,
                      uint_t flags, int (*waitfp)(caddr_t), caddr_t, caddr_t *kaddrp,
                      size_t *real_length, ddi_acc_handle_t *handlep) {
  if (h == nullptr || kaddrp == nullptr || length == 0) return DDI_FAILURE;
  if (waitfp == DDI_DMA_SLEEP)
    fk::check_may_sleep("ddi_dma_mem_alloc(DDI_DMA_SLEEP)", nullptr, __builtin_return_address(0));
  if (h->mem != nullptr) {
    fk::report_violation("dma", "ddi_dma_mem_alloc on a handle that already has memory");
    return DDI_FAILURE;
  }
  if (should_fail(fk::kFailDma)) return DDI_FAILURE;
  const ddi_dma_attr_t &a = h->attr;
  size_t len = (length + 7) & ~size_t{7};
  if (a.dma_attr_minxfer > 1)
    len = (len + a.dma_attr_minxfer - 1) / a.dma_attr_minxfer * a.dma_attr_minxfer;
  if (a.dma_attr_sgllen == 1 && len - 1 > a.dma_attr_count_max) return DDI_FAILURE;
  if (len > a.dma_attr_maxxfer) return DDI_FAILURE;
  void *dev = arena_alloc(len, kZoneDma | kZoneLow, constraints_of(a));
  if (dev == nullptr) return DDI_FAILURE;
  auto *m = new DmaMem;
  m->serial = g_next_mem_serial++;
  m->dev = static_cast<uint8_t *>(dev);
  m->pa = arena_va_to_pa(dev);
  m->len = len;
  m->handle = h;
  fill_pattern(m->dev, len);
  if (fk::impl::opts().sync_audit) {
    size_t cap = (len + 4095) & ~size_t{4095};
    m->cpu = static_cast<uint8_t *>(aligned_alloc(4096, cap));
    memcpy(m->cpu, m->dev, len);
    m->last.assign(m->dev, m->dev + len);
  } else {
    m->cpu = m->dev;
  }
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    g_mem_by_cpu[m->cpu] = m;
    if (m->cpu != m->dev) g_mem_by_pa[m->pa] = m;
  }
  h->mem = m;
  auto *ah = new __ddi_acc_handle;
  ah->kind = __ddi_acc_handle::Kind::kDmaMem;
  ah->dip = h->dip;
  ah->base = m->cpu;
  ah->len = len;
  if (accattrp != nullptr) ah->attr = *accattrp;
  ah->mem = m;
  (void)flags;
  *kaddrp = reinterpret_cast<caddr_t>(m->cpu);
  if (real_length != nullptr) *real_length = len;
  if (handlep != nullptr) *handlep = ah;
  track("dma-mem", ah, len, __builtin_return_address(0));
  return DDI_SUCCESS;
}

void ddi_dma_mem_free(ddi_acc_handle_t *handlep) {
  if (handlep == nullptr || *handlep == nullptr) return;
  ddi_acc_handle_t ah = *handlep;
  if (!untrack("dma-mem", ah)) {
    fk::report_violation("dma", "ddi_dma_mem_free of memory not allocated (double free?)");
    return;
  }
  auto *m = static_cast<DmaMem *>(ah->mem);
  if (m->handle != nullptr) {
    if (m->handle->bound && m->handle->obj >= m->cpu && m->handle->obj < m->cpu + m->len)
      fk::report_violation("dma", "ddi_dma_mem_free of memory that is still bound");
    m->handle->mem = nullptr;
  }
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    g_mem_by_cpu.erase(m->cpu);
    g_mem_by_pa.erase(m->pa);
  }
  if (m->cpu != m->dev) free(m->cpu);
  arena_free(m->dev, m->len);
  delete m;
  delete ah;
  *handlep = nullptr;
}

int ddi_dma_addr_bind_handle(ddi_dma_handle_t h, struct as *, caddr_t addr, size_t len,
                             uint_t flags, int (*waitfp)(caddr_t), caddr_t,
                             ddi_dma_cookie_t *cookiep, uint_t *ccountp) {
  if (waitfp == DDI_DMA_SLEEP)
    fk::check_may_sleep("ddi_dma_addr_bind_handle(DDI_DMA_SLEEP)", nullptr,
                        __builtin_return_address(0));
  return bind(h, addr, len, flags, cookiep, ccountp);
}

int ddi_dma_buf_bind_handle(ddi_dma_handle_t h, struct buf *bp, uint_t flags,
                            int (*waitfp)(caddr_t), caddr_t, ddi_dma_cookie_t *cookiep,
                            uint_t *ccountp) {
  if (bp == nullptr) return DDI_DMA_NOMAPPING;
  if (waitfp == DDI_DMA_SLEEP)
    fk::check_may_sleep("ddi_dma_buf_bind_handle(DDI_DMA_SLEEP)", nullptr,
                        __builtin_return_address(0));
  if (bp->b_flags & B_PAGEIO) {
    fk::report_violation("dma", "ddi_dma_buf_bind_handle: B_PAGEIO buffers are not supported");
    return DDI_DMA_NOMAPPING;
  }
  return bind(h, bp->b_un.b_addr, bp->b_bcount, flags, cookiep, ccountp);
}

int ddi_dma_unbind_handle(ddi_dma_handle_t h) {
  if (h == nullptr || !h->bound) return DDI_FAILURE;
  if (h->flags & DDI_DMA_READ) sync_range(h, 0, h->len, false);  // unbinding syncs for the CPU
  {
    std::lock_guard<std::mutex> lk(g_dma_mu);
    for (auto &c : h->cookies) bound_remove(c.dmac_laddress);
  }
  h->bound = false;
  unbind_reset(h);
  return DDI_SUCCESS;
}

void ddi_dma_nextcookie(ddi_dma_handle_t h, ddi_dma_cookie_t *cookiep) {
  if (h == nullptr || !h->bound || h->next >= h->cookies.size()) {
    fk::report_violation("dma", "ddi_dma_nextcookie past the last cookie");
    return;
  }
  *cookiep = h->cookies[h->next++];
}

int ddi_dma_numwin(ddi_dma_handle_t h, uint_t *nwinp) {
  if (h == nullptr || !h->bound || nwinp == nullptr) return DDI_FAILURE;
  *nwinp = static_cast<uint_t>(h->windows.size());
  return DDI_SUCCESS;
}

int ddi_dma_getwin(ddi_dma_handle_t h, uint_t win, off_t *offp, size_t *lenp,
                   ddi_dma_cookie_t *cookiep, uint_t *ccountp) {
  if (h == nullptr || !h->bound || win >= h->windows.size()) return DDI_FAILURE;
  if (win != h->curwin) activate(h, win);
  h->next = 1;
  if (offp) *offp = static_cast<off_t>(h->windows[win].off);
  if (lenp) *lenp = h->windows[win].len;
  if (cookiep) *cookiep = h->cookies[0];
  if (ccountp) *ccountp = static_cast<uint_t>(h->cookies.size());
  return DDI_SUCCESS;
}

const ddi_dma_cookie_t *ddi_dma_cookie_iter(ddi_dma_handle_t h, const ddi_dma_cookie_t *prev) {
  if (h == nullptr || !h->bound) return nullptr;
  if (prev == nullptr) return &h->cookies[0];
  size_t i = prev - h->cookies.data();
  if (i >= h->cookies.size()) {
    fk::report_violation("dma", "ddi_dma_cookie_iter with a cookie not from this handle");
    return nullptr;
  }
  return i + 1 < h->cookies.size() ? &h->cookies[i + 1] : nullptr;
}

const ddi_dma_cookie_t *ddi_dma_cookie_get(ddi_dma_handle_t h, uint_t index) {
  if (h == nullptr || !h->bound || index >= h->cookies.size()) return nullptr;
  return &h->cookies[index];
}

const ddi_dma_cookie_t *ddi_dma_cookie_one(ddi_dma_handle_t h) {
  if (h == nullptr || !h->bound || h->cookies.size() != 1) {
    // illumos panics here: a driver may call it only for single-cookie bindings.
    fk::report_violation("dma", "ddi_dma_cookie_one on a binding without exactly one cookie");
    return h != nullptr && h->bound ? &h->cookies[0] : nullptr;
  }
  return &h->cookies[0];
}

uint_t ddi_dma_ncookies(ddi_dma_handle_t h) {
  if (h == nullptr || !h->bound) return 0;
  return static_cast<uint_t>(h->cookies.size());
}

int ddi_dma_sync(ddi_dma_handle_t h, off_t offset, size_t length, uint_t type) {
  switch_point("ddi_dma_sync");
  ctr().syncs++;
  if (type == DDI_DMA_SYNC_FORDEV)
    ctr().syncs_fordev++;
  else
    ctr().syncs_forcpu++;
  if (h == nullptr || !h->bound) {
    fk::report_violation("dma", "ddi_dma_sync of an unbound handle at " +
                                    fk::describe_site(__builtin_return_address(0)));
    return DDI_FAILURE;
  }
  if (offset < 0 || static_cast<size_t>(offset) > h->len) {
    fk::report_violation("dma", "ddi_dma_sync offset beyond the bound object");
    return DDI_FAILURE;
  }
  size_t len = length == 0 ? h->len - offset : length;
  if (len > h->len - offset) {
    fk::report_violation("dma", "ddi_dma_sync range beyond the bound object");
    len = h->len - offset;
  }
  if (type != DDI_DMA_SYNC_FORDEV && type != DDI_DMA_SYNC_FORCPU && type != DDI_DMA_SYNC_FORKERNEL)
    return DDI_FAILURE;
  sync_range(h, offset, len, type == DDI_DMA_SYNC_FORDEV);
  return DDI_SUCCESS;
}

int ddi_check_dma_handle(ddi_dma_handle_t h) { return h != nullptr ? DDI_SUCCESS : DDI_FAILURE; }

}  // extern "C"
