// Packets: scsi_init_pkt(9F) through tran_setup_pkt(9E) with a packet cache and framework DMA
// binding, scsi_transport(9F), scsi_hba_pkt_comp(9F), scsi_poll(9F), scsi_destroy_pkt(9F), and
// the bookkeeping that catches HBA completion mistakes.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "scsa_impl.h"

namespace fk::scsa {
namespace {

size_t round16(size_t n) { return (n + 15) & ~size_t{15}; }

std::string pkt_name(const scsi_pkt *pkt) {
  char buf[64];
  snprintf(buf, sizeof(buf), "pkt %p (cdb[0] 0x%02x)", static_cast<const void *>(pkt),
           pkt->pkt_cdbp != nullptr ? pkt->pkt_cdbp[0] : 0xff);
  return buf;
}

// The wrapper of a framework packet, or nullptr for a pointer the framework never handed out.
PktWrapper *lookup(scsi_pkt *pkt) {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  auto *w = reinterpret_cast<PktWrapper *>(pkt);
  if (pkt == nullptr || r.pkts.count(w) == 0 || w->magic != kPktMagic) {
    return nullptr;
  }
  return w;
}

int kmflag_for(int (*callback)(caddr_t)) { return callback == SLEEP_FUNC ? KM_SLEEP : KM_NOSLEEP; }

// The cache object's inline areas (DEFAULT_CDBLEN, DEFAULT_SCBLEN of scsi_resource.h).
constexpr size_t kDefaultCdbLen = 16;
constexpr size_t kDefaultScbLen = sizeof(struct scsi_arq_status);
// KMEM_FREE_PATTERN: what a DEBUG kernel writes over a freed buffer.
constexpr uint32_t kFreePattern = 0xdeadbeef;

size_t header_size() { return round16(sizeof(PktWrapper)); }

// The poisoned ranges of a cache object: the scsi_pkt and everything after the wrapper (HBA
// private and inline areas). The wrapper's own bookkeeping stays readable.
template <typename F>
void for_each_range(PktWrapper *w, F f) {
  f(reinterpret_cast<uchar_t *>(&w->pkt), sizeof(scsi_pkt));
  f(reinterpret_cast<uchar_t *>(w) + header_size(), w->alloc_size - header_size());
}

uchar_t pattern_byte(size_t i) { return static_cast<uchar_t>(kFreePattern >> (8 * (3 - i % 4))); }

void poison(PktWrapper *w) {
  for_each_range(w, [](uchar_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
      p[i] = pattern_byte(i);
    }
  });
}

// kmem_cache_alloc_debug's verify_and_copy_pattern: a byte of a freed object that is not the
// pattern was written after the free.
bool poison_intact(PktWrapper *w) {
  bool ok = true;
  for_each_range(w, [&ok](uchar_t *p, size_t n) {
    for (size_t i = 0; i < n && ok; i++) {
      ok = p[i] == pattern_byte(i);
    }
  });
  return ok;
}

// Constructs a cache object as scsi_hba_pkt_constructor does: zeroed, pkt_ha_private and the
// inline CDB / status areas set up, a DMA handle with the HBA's attributes, then
// tran_pkt_constructor(9E) with the HBA's transport (the cache's argument, never an iport's
// copy).
bool construct(PktWrapper *w, int (*callback)(caddr_t)) {
  Tran *c = w->cache;
  scsi_hba_tran_t *tran = c->tran;
  memset(&w->pkt, 0, sizeof(scsi_pkt));
  memset(reinterpret_cast<char *>(w) + header_size(), 0, w->alloc_size - header_size());
  w->state = PktWrapper::kIdle;
  w->in_start = w->completed_in_start = w->constructed = w->leaked = w->dma_bound = false;
  w->destroy_deferred = false;
  w->bp = nullptr;
  w->nwin = w->curwin = 0;
  w->cdb_cap = w->scb_cap = w->tgt_cap = 0;
  w->cdb_area = w->scb_area = nullptr;
  w->tgt_area = nullptr;
  w->cdb_inline = w->scb_inline = nullptr;
  w->next_free = nullptr;
  char *p = reinterpret_cast<char *>(w) + header_size();
  w->pkt.pkt_ha_private = p;
  p += round16(c->cache_hba_len);
  if (c->cache_flags & SCSI_HBA_TRAN_CDB) {
    w->cdb_inline = reinterpret_cast<uchar_t *>(p);
    w->pkt.pkt_cdbp = w->cdb_inline;
    p += round16(kDefaultCdbLen);
  }
  if (c->cache_flags & SCSI_HBA_TRAN_SCB) {
    w->scb_inline = reinterpret_cast<uchar_t *>(p);
    w->pkt.pkt_scbp = w->scb_inline;
  }
  if (ddi_dma_alloc_handle(tran->tran_hba_dip, &tran->tran_dma_attr,
                           callback == SLEEP_FUNC ? DDI_DMA_SLEEP : DDI_DMA_DONTWAIT, nullptr,
                           &w->pkt.pkt_handle) != DDI_SUCCESS) {
    return false;
  }
  if (tran->tran_pkt_constructor != nullptr &&
      tran->tran_pkt_constructor(&w->pkt, tran, kmflag_for(callback)) != 0) {
    ddi_dma_free_handle(&w->pkt.pkt_handle);
    return false;
  }
  w->constructed = true;
  return true;
}

// scsi_hba_pkt_destructor: tran_pkt_destructor(9E) with the HBA's transport, after checking
// that nobody moved the framework's pointers; then the DMA handle goes.
void destruct(PktWrapper *w) {
  scsi_hba_tran_t *tran = w->cache->tran;
  if (w->dma_bound) {
    violation(Check::kMisuse, pkt_name(&w->pkt) + " freed with its DMA still bound");
  }
  if (w->constructed && tran->tran_pkt_destructor != nullptr) {
    tran->tran_pkt_destructor(&w->pkt, tran);
  }
  if (w->pkt.pkt_ha_private != reinterpret_cast<char *>(w) + header_size() ||
      (w->cdb_inline != nullptr && w->pkt.pkt_cdbp != w->cdb_inline) ||
      (w->scb_inline != nullptr && w->pkt.pkt_scbp != w->scb_inline)) {
    violation(Check::kMisuse, "the HBA changed pkt_ha_private, pkt_cdbp or pkt_scbp of " +
                                  pkt_name(&w->pkt) + " (scsi_hba_pkt_destructor)");
  }
  if (w->pkt.pkt_handle != nullptr) {
    ddi_dma_free_handle(&w->pkt.pkt_handle);
  }
  w->constructed = false;
}

void release_memory(PktWrapper *w) {
  if (w->cookie_array != nullptr) {
    kmem_free(w->cookie_array, sizeof(ddi_dma_cookie_t) * w->cookie_cap);
  }
  w->magic = 0;
  kmem_free(w, w->alloc_size);
}

// kmem_cache_alloc of the HBA's packet cache, as a DEBUG kernel runs it: a freed object is
// checked for writes after its free, then constructed again; a new one is carved out.
PktWrapper *alloc_wrapper(Tran *c, int (*callback)(caddr_t)) {
  PktWrapper *w = nullptr;
  {
    std::lock_guard<std::mutex> g(c->mu);
    if (c->free_list != nullptr) {
      w = c->free_list;
      c->free_list = w->next_free;
      c->cached--;
    }
  }
  if (w != nullptr && !poison_intact(w)) {
    char buf[96];
    snprintf(buf, sizeof(buf), "packet %p was written after scsi_destroy_pkt freed it",
             static_cast<void *>(&w->pkt));
    violation(Check::kMisuse, std::string(buf) + " (kmem: buffer modified, 0xdeadbeef)");
  }
  if (w == nullptr) {
    size_t size = header_size() + round16(c->cache_hba_len);
    size += (c->cache_flags & SCSI_HBA_TRAN_CDB) ? round16(kDefaultCdbLen) : 0;
    size += (c->cache_flags & SCSI_HBA_TRAN_SCB) ? round16(kDefaultScbLen) : 0;
    w = static_cast<PktWrapper *>(kmem_zalloc(size, kmflag_for(callback)));
    if (w == nullptr) {
      return nullptr;
    }
    w->magic = kPktMagic;
    w->cache = c;
    w->alloc_size = size;
    std::lock_guard<std::mutex> g(c->mu);
    c->objects.insert(w);
  }
  if (!construct(w, callback)) {
    poison(w);
    std::lock_guard<std::mutex> g(c->mu);
    w->next_free = c->free_list;
    c->free_list = w;
    c->cached++;
    return nullptr;
  }
  std::lock_guard<std::mutex> g(reg().mu);
  reg().pkts.insert(w);
  return w;
}

// The packet is no longer one the framework hands out or accepts.
void forget(PktWrapper *w) {
  {
    std::lock_guard<std::mutex> g(reg().mu);
    reg().pkts.erase(w);
  }
  if (w->tran != nullptr) {
    std::lock_guard<std::mutex> g(w->tran->mu);
    w->tran->pkts.erase(w);
  }
  w->tran = nullptr;  // the transport may be freed before the cache
}

// kmem_cache_free of a DEBUG kernel: destructor, then the 0xdeadbeef fill; the object stays in
// the cache.
void free_wrapper(PktWrapper *w) {
  forget(w);
  destruct(w);
  poison(w);
  Tran *c = w->cache;
  std::lock_guard<std::mutex> g(c->mu);
  w->next_free = c->free_list;
  c->free_list = w;
  c->cached++;
}

void free_areas(PktWrapper *w) {
  if (w->cdb_area != nullptr) {
    kmem_free(w->cdb_area, w->cdb_cap);
  }
  if (w->scb_area != nullptr) {
    kmem_free(w->scb_area, w->scb_cap);
  }
  if (w->tgt_area != nullptr) {
    kmem_free(w->tgt_area, w->tgt_cap);
  }
  // As scsi_free_cache_pkt: the pointers go back to the object's own areas.
  if (w->cdb_area != nullptr) {
    w->pkt.pkt_cdbp = w->cdb_inline;
  }
  if (w->scb_area != nullptr) {
    w->pkt.pkt_scbp = w->scb_inline;
  }
  w->pkt.pkt_private = nullptr;
  w->cdb_area = w->scb_area = nullptr;
  w->tgt_area = nullptr;
  w->cdb_cap = w->scb_cap = w->tgt_cap = 0;
}

void unbind(PktWrapper *w) {
  if (w->dma_bound) {
    (void)ddi_dma_unbind_handle(w->pkt.pkt_handle);
    w->dma_bound = false;
  }
  w->pkt.pkt_numcookies = 0;
  w->pkt.pkt_cookies = nullptr;
  w->pkt.pkt_dma_len = 0;
  w->pkt.pkt_dma_offset = 0;
  w->bp = nullptr;
  w->nwin = w->curwin = 0;
}

// Copies the current window's cookies into the packet's cookie array.
bool load_cookies(PktWrapper *w, const ddi_dma_cookie_t &first, uint_t ncookies, off_t off,
                  size_t winlen, int kmflag) {
  if (ncookies > w->cookie_cap) {
    auto *arr =
        static_cast<ddi_dma_cookie_t *>(kmem_zalloc(sizeof(ddi_dma_cookie_t) * ncookies, kmflag));
    if (arr == nullptr) {
      return false;
    }
    if (w->cookie_array != nullptr) {
      kmem_free(w->cookie_array, sizeof(ddi_dma_cookie_t) * w->cookie_cap);
    }
    w->cookie_array = arr;
    w->cookie_cap = ncookies;
  }
  size_t total = 0;
  for (uint_t i = 0; i < ncookies; i++) {
    if (i == 0) {
      w->cookie_array[0] = first;
    } else {
      ddi_dma_nextcookie(w->pkt.pkt_handle, &w->cookie_array[i]);
    }
    total += w->cookie_array[i].dmac_size;
  }
  w->pkt.pkt_cookies = w->cookie_array;
  w->pkt.pkt_numcookies = ncookies;
  w->pkt.pkt_dma_offset = off;
  w->pkt.pkt_dma_len = winlen != 0 ? winlen : total;
  size_t done = static_cast<size_t>(off) + w->pkt.pkt_dma_len;
  w->pkt.pkt_resid = w->bp->b_bcount > done ? static_cast<ssize_t>(w->bp->b_bcount - done) : 0;
  return true;
}

// Binds bp for a new packet. DDI_DMA_MAPPED / DDI_DMA_PARTIAL_MAP on success.
int bind(PktWrapper *w, struct buf *bp, int flags, int (*callback)(caddr_t), caddr_t arg) {
  uint_t dflags = (bp->b_flags & B_READ) ? DDI_DMA_READ : DDI_DMA_WRITE;
  dflags |= (flags & PKT_CONSISTENT) ? DDI_DMA_CONSISTENT : DDI_DMA_STREAMING;
  if (flags & PKT_DMA_PARTIAL) {
    dflags |= DDI_DMA_PARTIAL;
  }
  ddi_dma_cookie_t cookie{};
  uint_t n = 0;
  int rv = ddi_dma_buf_bind_handle(w->pkt.pkt_handle, bp, dflags,
                                   callback == SLEEP_FUNC ? DDI_DMA_SLEEP : DDI_DMA_DONTWAIT, arg,
                                   &cookie, &n);
  if (rv != DDI_DMA_MAPPED && rv != DDI_DMA_PARTIAL_MAP) {
    // scsi_dma_buf_bind_attr: the buf carries the reason (none for a lack of resources).
    bioerror(bp, rv == DDI_DMA_NORESOURCES ? 0 : rv == DDI_DMA_TOOBIG ? EINVAL : EFAULT);
    return rv;
  }
  w->dma_bound = true;
  w->bp = bp;
  w->pkt.pkt_dma_flags = dflags;
  w->nwin = 1;
  w->curwin = 0;
  off_t off = 0;
  size_t len = 0;
  if (rv == DDI_DMA_PARTIAL_MAP) {
    if (ddi_dma_numwin(w->pkt.pkt_handle, &w->nwin) != DDI_SUCCESS ||
        ddi_dma_getwin(w->pkt.pkt_handle, 0, &off, &len, &cookie, &n) != DDI_SUCCESS) {
      unbind(w);
      return DDI_DMA_NORESOURCES;
    }
  }
  if (!load_cookies(w, cookie, n, off, len, kmflag_for(callback))) {
    unbind(w);
    return DDI_DMA_NORESOURCES;
  }
  return rv;
}

// Moves a partially bound packet to its next DMA window.
bool next_window(PktWrapper *w, int (*callback)(caddr_t)) {
  if (w->curwin + 1 >= w->nwin) {
    return false;
  }
  off_t off = 0;
  size_t len = 0;
  ddi_dma_cookie_t cookie{};
  uint_t n = 0;
  if (ddi_dma_getwin(w->pkt.pkt_handle, w->curwin + 1, &off, &len, &cookie, &n) != DDI_SUCCESS) {
    return false;
  }
  w->curwin++;
  return load_cookies(w, cookie, n, off, len, kmflag_for(callback));
}

void *alloc_area(size_t len, int kmflag) { return len == 0 ? nullptr : kmem_zalloc(len, kmflag); }

}  // namespace

void sync_for_device(scsi_pkt *pkt) {
  if (pkt->pkt_numcookies > 0 && (pkt->pkt_dma_flags & DDI_DMA_WRITE)) {
    (void)ddi_dma_sync(pkt->pkt_handle, pkt->pkt_dma_offset, pkt->pkt_dma_len, DDI_DMA_SYNC_FORDEV);
  }
}

void sync_for_cpu(scsi_pkt *pkt) {
  if (pkt->pkt_numcookies > 0 && (pkt->pkt_dma_flags & DDI_DMA_READ)) {
    (void)ddi_dma_sync(pkt->pkt_handle, pkt->pkt_dma_offset, pkt->pkt_dma_len, DDI_DMA_SYNC_FORCPU);
  }
}

// Hands a completed packet to the target driver: the data sync for the CPU, the LUN-change
// check of the auto request sense data, then pkt_comp.
void deliver(scsi_pkt *pkt) {
  Registry &r = reg();
  // Auto request sense: a REPORTED LUNS DATA HAS CHANGED unit attention (ASC 3Fh, ASCQ 0Eh)
  // asks for a LUN rescan of the target.
  if ((pkt->pkt_state & STATE_ARQ_DONE) && pkt->pkt_scbp != nullptr &&
      pkt->pkt_scblen >= sizeof(struct scsi_arq_status)) {
    auto *arq = reinterpret_cast<struct scsi_arq_status *>(pkt->pkt_scbp);
    const uchar_t *sense = reinterpret_cast<const uchar_t *>(&arq->sts_sensedata);
    if ((sense[2] & 0x0f) == KEY_UNIT_ATTENTION && sense[12] == 0x3f && sense[13] == 0x0e) {
      r.lun_change_uas++;
      scsi_device *sd = scsi_address_device(&pkt->pkt_address);
      if (sd != nullptr) {
        request_rescan_for(sd);
      }
    }
  }
  sync_for_cpu(pkt);
  pkt->pkt_flags |= FLAG_PKT_COMP_CALLED;
  if (pkt->pkt_comp != nullptr) {
    pkt->pkt_comp(pkt);
  }
}

void drain_pkt_cache(Tran *t) {
  std::set<PktWrapper *> objects;
  {
    std::lock_guard<std::mutex> g(t->mu);
    objects.swap(t->objects);
    t->free_list = nullptr;
    t->cached = 0;
  }
  size_t lost = 0;
  for (PktWrapper *w : objects) {
    if (w->constructed) {
      // Lost by scsi_init_pkt after a failed bind, or never destroyed (reported at detach):
      // kmem_cache_destroy warns that the cache is not empty. Its resources go back here so
      // that the leak accounting names the real culprit only.
      lost += w->leaked ? 1 : 0;
      forget(w);
      unbind(w);
      free_areas(w);
      destruct(w);
    } else if (!poison_intact(w)) {
      char buf[96];
      snprintf(buf, sizeof(buf), "packet %p was written after scsi_destroy_pkt freed it",
               static_cast<void *>(&w->pkt));
      violation(Check::kMisuse, std::string(buf) + " (kmem: buffer modified, 0xdeadbeef)");
    }
    release_memory(w);
  }
  if (lost > 0) {
    fprintf(stderr,
            "WARNING: kmem_cache_destroy: packet cache not empty: %zu packet(s) lost by "
            "scsi_init_pkt after a failed DMA bind\n",
            lost);
  }
}

void check_no_outstanding(Tran *t, const scsi_device *sd, const char *when) {
  std::vector<std::string> stuck;
  {
    std::lock_guard<std::mutex> g(t->mu);
    for (PktWrapper *w : t->pkts) {
      if (w->state != PktWrapper::kInTransport) {
        continue;
      }
      if (sd != nullptr) {
        const scsi_address &a = w->pkt.pkt_address;
        bool complex = (t->tran->tran_hba_flags & SCSI_HBA_ADDR_COMPLEX) != 0;
        if (complex ? a.a.a_sd != sd
                    : (a.a_target != sd->sd_address.a_target || a.a_lun != sd->sd_address.a_lun)) {
          continue;
        }
      }
      stuck.push_back(pkt_name(&w->pkt));
    }
  }
  for (const std::string &s : stuck) {
    violation(Check::kNotCompletedAtDetach, s + " never completed by " + when);
  }
}

namespace {

// The fields of a new packet the cache's constructor does not set.
void reset_pkt(scsi_pkt *pkt, const scsi_address *ap) {
  pkt->pkt_address = *ap;
  pkt->pkt_flags = 0;
  pkt->pkt_time = 0;
  pkt->pkt_resid = 0;
  pkt->pkt_state = 0;
  pkt->pkt_statistics = 0;
  pkt->pkt_reason = 0;
  pkt->pkt_dma_offset = 0;
  pkt->pkt_dma_len = 0;
  pkt->pkt_dma_flags = 0;
}

// Areas larger than the object's own come from kmem; the target driver's private area always
// does (DEFAULT_PRIVLEN is 0). False when an allocation failed.
bool alloc_pkt_areas(PktWrapper *w, const scsi_hba_tran_t *tran, int cmdlen, int statuslen,
                     int privatelen, int kmflag) {
  scsi_pkt *pkt = &w->pkt;
  bool ok = true;
  pkt->pkt_cdblen = static_cast<uint_t>(cmdlen);
  if ((tran->tran_hba_flags & SCSI_HBA_TRAN_CDB) && static_cast<size_t>(cmdlen) > kDefaultCdbLen) {
    w->cdb_cap = static_cast<size_t>(cmdlen);
    w->cdb_area = static_cast<uchar_t *>(alloc_area(w->cdb_cap, kmflag));
    ok = w->cdb_area != nullptr;
    pkt->pkt_cdbp = w->cdb_area != nullptr ? w->cdb_area : pkt->pkt_cdbp;
  }
  pkt->pkt_tgtlen = static_cast<uint_t>(privatelen);
  if (ok && privatelen > 0) {
    w->tgt_cap = static_cast<size_t>(privatelen);
    w->tgt_area = alloc_area(w->tgt_cap, kmflag);
    ok = w->tgt_area != nullptr;
    pkt->pkt_private = w->tgt_area;
  }
  pkt->pkt_scblen = static_cast<uint_t>(statuslen);
  if (ok && (tran->tran_hba_flags & SCSI_HBA_TRAN_SCB) &&
      static_cast<size_t>(statuslen) > kDefaultScbLen) {
    w->scb_cap = static_cast<size_t>(statuslen);
    w->scb_area = static_cast<uchar_t *>(alloc_area(w->scb_cap, kmflag));
    ok = w->scb_area != nullptr;
    pkt->pkt_scbp = w->scb_area != nullptr ? w->scb_area : pkt->pkt_scbp;
  }
  return ok;
}

// After tran_setup_pkt(9E): the CDB and status areas the packet needs exist. Else the packet is
// lost (illumos would have panicked in bzero) and false.
bool hba_left_areas(PktWrapper *w, int cmdlen, int statuslen) {
  const scsi_pkt *pkt = &w->pkt;
  if (pkt->pkt_cdbp == nullptr && cmdlen > 0) {
    violation(Check::kMisuse, "tran_setup_pkt left pkt_cdbp NULL without SCSI_HBA_TRAN_CDB");
  } else if (pkt->pkt_scbp == nullptr && statuslen > 0) {
    violation(Check::kMisuse, "tran_setup_pkt left pkt_scbp NULL without SCSI_HBA_TRAN_SCB");
  } else {
    return true;
  }
  w->leaked = true;
  forget(w);
  return false;
}

}  // namespace

// scsi_init_cache_pkt for a new packet: constructed by the cache, set up by the HBA
// (tran_setup_pkt(9E)), its areas zeroed. NULL when it cannot be had.
PktWrapper *new_cache_pkt(Tran *t, scsi_address *ap, int cmdlen, int statuslen, int privatelen,
                          int (*callback)(caddr_t)) {
  scsi_hba_tran_t *tran = ap->a_hba_tran;
  int kmflag = callback == SLEEP_FUNC ? KM_SLEEP : KM_NOSLEEP;
  PktWrapper *w = alloc_wrapper(t->cache, callback);
  if (w == nullptr) {
    return nullptr;
  }
  {
    std::lock_guard<std::mutex> g(t->mu);
    w->tran = t;
    t->pkts.insert(w);
  }
  scsi_pkt *pkt = &w->pkt;
  reset_pkt(pkt, ap);
  bool ok = alloc_pkt_areas(w, tran, cmdlen, statuslen, privatelen, kmflag);
  int rv =
      ok ? tran->tran_setup_pkt(pkt, callback == SLEEP_FUNC ? SLEEP_FUNC : NULL_FUNC, nullptr) : -1;
  if (rv == -1) {
    // Given back to the cache without tran_teardown_pkt, as illumos does.
    free_areas(w);
    free_wrapper(w);
    return nullptr;
  }
  if (rv != 0) {
    violation(Check::kMisuse, "tran_setup_pkt returned " + std::to_string(rv) +
                                  " (0 or -1): illumos takes it for success");
  }
  if (!hba_left_areas(w, cmdlen, statuslen)) {
    return nullptr;
  }
  if (cmdlen > 0) {
    memset(pkt->pkt_cdbp, 0, static_cast<size_t>(cmdlen));
  }
  if (privatelen > 0) {
    memset(pkt->pkt_private, 0, static_cast<size_t>(privatelen));
  }
  if (statuslen > 0) {
    memset(pkt->pkt_scbp, 0, static_cast<size_t>(statuslen));
  }
  return w;
}

// Binds the packet to bp (or moves it to its next DMA window) and checks the result as the DEBUG
// kernel's ASSERTs do. False when the bind failed; a new packet is then lost to the cache.
bool bind_pkt_data(PktWrapper *w, Tran *t, struct buf *bp, int flags, int (*callback)(caddr_t),
                   caddr_t arg, bool fresh) {
  scsi_pkt *pkt = &w->pkt;
  bool bound;
  if (!w->dma_bound) {
    int rv = bind(w, bp, flags, callback, arg);
    bound = rv == DDI_DMA_MAPPED || rv == DDI_DMA_PARTIAL_MAP;
  } else {
    bound = next_window(w, callback);
  }
  if (!bound) {
    if (fresh) {
      // scsi_init_cache_pkt returns NULL here without tran_teardown_pkt(9E) and without
      // freeing the packet: it is lost to the cache until the cache is destroyed.
      w->leaked = true;
      forget(w);
    }
    return false;
  }
  if (pkt->pkt_numcookies > static_cast<uint_t>(t->tran->tran_dma_attr.dma_attr_sgllen)) {
    violation(Check::kMisuse, "scsi_init_pkt: " + std::to_string(pkt->pkt_numcookies) +
                                  " cookies exceed dma_attr_sgllen");
  }
  uint64_t granular = t->cache->tran->tran_dma_attr.dma_attr_granular;
  if (granular > 1 && static_cast<uint64_t>(pkt->pkt_resid) % granular != 0) {
    violation(Check::kMisuse, "scsi_init_pkt: residue " + std::to_string(pkt->pkt_resid) +
                                  " not a multiple of dma_attr_granular");
  }
  return true;
}

}  // namespace fk::scsa

using fk::scsa::Check;
using fk::scsa::PktWrapper;
using fk::scsa::Tran;
using fk::scsa::violation;

extern "C" {

struct scsi_pkt *scsi_init_pkt(struct scsi_address *ap, struct scsi_pkt *in_pkt, struct buf *bp,
                               int cmdlen, int statuslen, int privatelen, int flags,
                               int (*callback)(caddr_t), caddr_t arg) {
  if (ap == nullptr || ap->a_hba_tran == nullptr) {
    violation(Check::kMisuse, "scsi_init_pkt: no scsi_address or transport");
    return nullptr;
  }
  scsi_hba_tran_t *tran = ap->a_hba_tran;
  Tran *t = fk::scsa::tran_of(tran);
  if (t == nullptr || !t->attached) {
    violation(Check::kMisuse, "scsi_init_pkt: transport not attached");
    return nullptr;
  }
  Tran *c = t->cache;
  if (c == nullptr) {
    if (tran->tran_init_pkt != nullptr) {  // legacy HBA: it allocates packets itself
      return tran->tran_init_pkt(ap, in_pkt, bp, cmdlen, statuslen, privatelen, flags, callback,
                                 arg);
    }
    // scsi_hba_attach_setup installs the cache's tran_init_pkt only when tran_setup_pkt is set
    // by then: illumos would call a NULL tran_init_pkt.
    violation(Check::kMisuse,
              "scsi_init_pkt: no tran_init_pkt (tran_setup_pkt must be set before "
              "scsi_hba_attach_setup, which creates the packet cache)");
    return nullptr;
  }
  if (cmdlen < 0 || statuslen < 0 || privatelen < 0) {
    violation(Check::kMisuse, "scsi_init_pkt: negative length");
    return nullptr;
  }

  // scsi_init_cache_pkt. A new packet: constructed by the cache, set up by the HBA
  // (tran_setup_pkt(9E)), its areas zeroed, and only then bound to the data.
  PktWrapper *w;
  bool fresh = in_pkt == nullptr;
  if (!fresh) {
    w = fk::scsa::lookup(in_pkt);
    if (w == nullptr) {
      violation(Check::kMisuse, "scsi_init_pkt: not a framework packet");
      return nullptr;
    }
  } else {
    w = fk::scsa::new_cache_pkt(t, ap, cmdlen, statuslen, privatelen, callback);
    if (w == nullptr) {
      return nullptr;
    }
  }

  scsi_pkt *pkt = &w->pkt;
  if (bp != nullptr && bp->b_bcount > 0) {
    if (!fk::scsa::bind_pkt_data(w, t, bp, flags, callback, arg, fresh)) {
      return nullptr;
    }
  } else if (fresh) {
    pkt->pkt_resid = 0;
  }
  return pkt;
}

namespace fk::scsa {
namespace {

// scsi_free_cache_pkt: teardown, unbind, the extra areas, then back to the cache.
void destroy_now(PktWrapper *w) {
  scsi_hba_tran_t *tran = w->tran->tran;
  if (tran->tran_teardown_pkt != nullptr) {
    tran->tran_teardown_pkt(&w->pkt);
  }
  unbind(w);
  free_areas(w);
  free_wrapper(w);
}

}  // namespace
}  // namespace fk::scsa

void scsi_destroy_pkt(struct scsi_pkt *pkt) {
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w == nullptr) {
    violation(Check::kMisuse, "scsi_destroy_pkt: not a live framework packet");
    return;
  }
  if (w->tran == nullptr) {
    violation(Check::kMisuse, "scsi_destroy_pkt: the packet's transport was freed before it");
    fk::scsa::forget(w);
    return;
  }
  if (w->state == PktWrapper::kInTransport) {
    violation(Check::kMisuse,
              "scsi_destroy_pkt: " + fk::scsa::pkt_name(pkt) + " still in transport");
  }
  {
    // A completion routine on another thread may destroy the packet before tran_start has
    // returned; scsi_transport still looks at it then, so it is freed when tran_start returns.
    std::lock_guard<std::mutex> g(w->tran->mu);
    if (w->in_start && w->start_thread != std::this_thread::get_id()) {
      w->destroy_deferred = true;
      return;
    }
  }
  fk::scsa::destroy_now(w);
}

void scsi_dmafree(struct scsi_pkt *pkt) {
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w != nullptr) {
    fk::scsa::unbind(w);
  }
}

void scsi_sync_pkt(struct scsi_pkt *pkt) {
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w != nullptr && w->dma_bound) {
    (void)ddi_dma_sync(
        pkt->pkt_handle, 0, 0,
        (pkt->pkt_dma_flags & DDI_DMA_READ) ? DDI_DMA_SYNC_FORCPU : DDI_DMA_SYNC_FORDEV);
  }
}

int scsi_pkt_allocated_correctly(struct scsi_pkt *pkt) {
  return fk::scsa::lookup(pkt) != nullptr ? 1 : 0;
}

}  // extern "C"

namespace fk::scsa {
namespace {

// Marks the packet in transport and gives its new generation; false (a misuse) when it already
// is in transport.
bool mark_in_transport(Tran *t, PktWrapper *w, uint64_t *gen) {
  std::lock_guard<std::mutex> g(t->mu);
  if (w->state == PktWrapper::kInTransport) {
    violation(Check::kMisuse, "scsi_transport: " + pkt_name(&w->pkt) + " already in transport");
    return false;
  }
  w->state = PktWrapper::kInTransport;
  w->gen++;
  w->transported_ns = fk::now_ns();
  *gen = w->gen;
  w->in_start = true;
  w->completed_in_start = false;
  w->start_thread = std::this_thread::get_id();
  return true;
}

// What tran_start's return value and the completions during it leave to do.
struct StartOutcome {
  bool sync_accepted = false;       // completed inside tran_start, which returned TRAN_ACCEPT
  bool completed_rejected = false;  // completed, and then not accepted
  bool destroy = false;             // scsi_destroy_pkt came during tran_start
};

StartOutcome settle_start(Tran *t, PktWrapper *w, uint64_t gen, int rv, bool polled) {
  StartOutcome so;
  std::lock_guard<std::mutex> g(t->mu);
  so.destroy = w->destroy_deferred;
  w->destroy_deferred = false;
  if (w->gen != gen) {  // it completed elsewhere and was transported again already
    return so;
  }
  w->in_start = false;
  if (rv == TRAN_ACCEPT) {
    if (polled) {
      // "The command has been completed upon return from scsi_transport(9F)."
      w->state = PktWrapper::kCompleted;
    } else if (w->completed_in_start) {
      so.sync_accepted = true;
    }
  } else {
    if (w->state == PktWrapper::kCompleted) {
      so.completed_rejected = true;
    }
    w->state = PktWrapper::kIdle;
  }
  return so;
}

void report_start_mistake(const StartOutcome &so, const void *pkt_addr, uchar_t op, int rv) {
  if (!so.sync_accepted && !so.completed_rejected) {
    return;
  }
  char name[64];
  snprintf(name, sizeof(name), "pkt %p (cdb[0] 0x%02x)", pkt_addr, op);
  if (so.sync_accepted) {
    violation(Check::kSyncCompletionAccepted,
              std::string(name) +
                  " completed synchronously inside tran_start, which then returned TRAN_ACCEPT");
  } else {
    violation(
        Check::kCompletionAfterReject,
        std::string(name) + " completed by the HBA, which then returned " + std::to_string(rv));
  }
}

// Hands the packet to tran_start as it is, with the bookkeeping that catches completion
// mistakes.
int start_pkt(PktWrapper *w, scsi_hba_tran_t *tran) {
  Registry &r = reg();
  scsi_pkt *pkt = &w->pkt;
  Tran *t = w->tran;
  uint64_t gen;
  if (!mark_in_transport(t, w, &gen)) {
    return TRAN_BADPKT;
  }
  bool polled = (pkt->pkt_flags & FLAG_NOINTR) != 0;
  // For messages only: after tran_start the packet may already be completed and reused.
  const void *pkt_addr = pkt;
  uchar_t op = pkt->pkt_cdbp != nullptr ? pkt->pkt_cdbp[0] : 0xff;
  sync_for_device(pkt);

  int rv = tran->tran_start(&pkt->pkt_address, pkt);

  StartOutcome so = settle_start(t, w, gen, rv, polled);
  if (rv == TRAN_ACCEPT) {
    r.accepted++;
  } else if (rv == TRAN_BUSY) {
    r.busy++;
  }
  if (so.sync_accepted) {
    deliver(pkt);  // late, but exactly once
  }
  report_start_mistake(so, pkt_addr, op, rv);
  if (so.destroy) {
    destroy_now(w);
  }
  return rv;
}

std::atomic<bool> g_dump_mode{false};

// scsi_transport's wait for a FLAG_NOINTR packet it turned into an interrupt-driven one. As
// illumos, a completed packet's pkt_comp becomes a marker that must never be called again.
struct NointrWait {
  std::mutex mu;
  fk::impl::HostCv cv;
};
NointrWait &nointr_wait() {
  static NointrWait *w = new NointrWait();
  return *w;
}

void nointr_callback_done(scsi_pkt *pkt) {
  violation(Check::kDoubleCompletion, pkt_name(pkt) +
                                          " completed again after its FLAG_NOINTR "
                                          "transport had finished");
}

void nointr_comp(scsi_pkt *pkt) {
  NointrWait &nw = nointr_wait();
  std::lock_guard<std::mutex> g(nw.mu);
  pkt->pkt_comp = nointr_callback_done;
  nw.cv.notify_all();
}

}  // namespace

void set_dump_mode(bool on) { g_dump_mode = on; }
uint64_t nointr_converted() { return reg().nointr_converted; }
bool dump_mode() { return g_dump_mode; }

namespace {

// scsi_poll's verdict on one attempt (rc: what scsi_transport returned): 0 when it ends the
// poll (*good: it succeeded), else the milliseconds to wait before the next attempt, with
// *extra_steps the 10 ms steps of the budget it costs beyond its own.
int poll_retry_ms(const scsi_pkt *pkt, int rc, bool *good, int *extra_steps) {
  *good = false;
  *extra_steps = 0;
  if (rc != TRAN_ACCEPT) {
    return rc == TRAN_BUSY ? 10 : 0;
  }
  uchar_t status = pkt->pkt_scbp != nullptr ? (pkt->pkt_scbp[0] & STATUS_MASK) : STATUS_GOOD;
  const uchar_t *sense = nullptr;
  if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_CHECK && (pkt->pkt_state & STATE_ARQ_DONE)) {
    sense = reinterpret_cast<const uchar_t *>(
        &reinterpret_cast<struct scsi_arq_status *>(pkt->pkt_scbp)->sts_sensedata);
  }
  if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_GOOD) {
    *good = true;
    return 0;
  }
  if (pkt->pkt_reason == CMD_DEV_GONE) {
    return 0;
  }
  if (pkt->pkt_reason == CMD_INCOMPLETE && pkt->pkt_state == 0) {
    return 10;
  }
  if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_QFULL) {
    return 10;
  }
  if ((pkt->pkt_reason == CMD_CMPLT && status == STATUS_BUSY) ||
      (sense != nullptr && (sense[2] & 0x0f) == KEY_NOT_READY && sense[12] == 0x04 &&
       sense[13] == 0x01)) {
    *extra_steps = 99;
    return 1000;
  }
  return 0;
}

// Waits between attempts: spinning in interrupt context or while dumping, else sleeping.
void poll_wait(int ms) {
  if (node::in_interrupt() || dump_mode()) {
    drv_usecwait(ms * 1000);
  } else {
    delay(drv_usectohz(ms * 1000));
  }
}

}  // namespace

}  // namespace fk::scsa

extern "C" {

// As illumos's scsi_transport (scsi_transport.c): a packet without FLAG_NOINTR goes to the HBA
// as it is. FLAG_NOINTR reaches the HBA only from interrupt context or while dumping (then, as
// with do_polled_io, every packet is sent polled and its completion routine called here); from
// an ordinary thread the packet is sent interrupt-driven with FLAG_IMMEDIATE_CB and this thread
// waits for its completion, then gets the caller's flags and completion routine back.
int scsi_transport(struct scsi_pkt *pkt) {
  fk::scsa::Registry &r = fk::scsa::reg();
  r.transports++;
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w == nullptr) {
    violation(Check::kMisuse, "scsi_transport: not a framework packet");
    return TRAN_BADPKT;
  }
  scsi_hba_tran_t *tran = pkt->pkt_address.a_hba_tran;
  if (tran == nullptr || tran->tran_start == nullptr) {
    violation(Check::kMisuse, "scsi_transport: transport has no tran_start");
    return TRAN_FATAL_ERROR;
  }
  pkt->pkt_flags &= ~FLAG_PKT_COMP_CALLED;  // a packet sent again
  bool dump = fk::scsa::dump_mode();
  bool nointr = (pkt->pkt_flags & FLAG_NOINTR) != 0;
  if (!dump && !nointr) {
    return fk::scsa::start_pkt(w, tran);
  }
  uint_t saved_flags = pkt->pkt_flags;
  void (*saved_comp)(struct scsi_pkt *) = pkt->pkt_comp;
  if (dump || fk::scsa::node::in_interrupt()) {
    if (nointr) {
      return fk::scsa::start_pkt(w, tran);
    }
    pkt->pkt_flags |= FLAG_NOINTR;
    pkt->pkt_comp = nullptr;
    int rv = fk::scsa::start_pkt(w, tran);
    pkt->pkt_flags = saved_flags;
    pkt->pkt_comp = saved_comp;
    if (rv != TRAN_ACCEPT) {
      return TRAN_FATAL_ERROR;  // as illumos: not to be retried
    }
    fk::scsa::deliver(pkt);
    return rv;
  }
  r.nointr_converted++;
  pkt->pkt_comp = fk::scsa::nointr_comp;
  pkt->pkt_flags = (pkt->pkt_flags & ~FLAG_NOINTR) | FLAG_IMMEDIATE_CB;
  int rv = fk::scsa::start_pkt(w, tran);
  if (rv == TRAN_ACCEPT) {
    // cv_wait in illumos; here the waiter also moves the virtual clock when nothing else does
    // (the command may need a device latency or the HBA's timeout to pass).
    fk::scsa::NointrWait &nw = fk::scsa::nointr_wait();
    fk::scsa::StallWatch watch;
    std::unique_lock<std::mutex> g(nw.mu);
    while (pkt->pkt_comp != fk::scsa::nointr_callback_done) {
      if (!nw.cv.wait_for_us(g, 200, "a FLAG_NOINTR packet")) {
        g.unlock();
        (void)watch.step();
        g.lock();
      }
    }
  }
  pkt->pkt_flags = saved_flags;
  pkt->pkt_comp = saved_comp;
  return rv;
}

void scsi_hba_pkt_comp(struct scsi_pkt *pkt) {
  fk::scsa::Registry &r = fk::scsa::reg();
  r.completions++;
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w == nullptr) {
    violation(Check::kNeverSubmitted, "scsi_hba_pkt_comp on a pointer that is not a live packet");
    return;
  }
  size_t held = fk::scsa::node::locks_held();
  if (held > 0) {
    violation(Check::kCompletionWithLockHeld, "scsi_hba_pkt_comp(" + fk::scsa::pkt_name(pkt) +
                                                  ") with " + std::to_string(held) +
                                                  " kernel mutex(es) held");
  }
  Tran *t = w->tran;
  {
    std::lock_guard<std::mutex> g(t->mu);
    if (w->state == PktWrapper::kIdle) {
      violation(Check::kNeverSubmitted,
                "completion of " + fk::scsa::pkt_name(pkt) + ", which was never transported");
      return;
    }
    if (w->state == PktWrapper::kCompleted) {
      violation(Check::kDoubleCompletion, fk::scsa::pkt_name(pkt) + " completed twice");
      return;
    }
    w->state = PktWrapper::kCompleted;
    bool polled = (pkt->pkt_flags & FLAG_NOINTR) != 0;
    if (!polled && w->in_start && w->start_thread == std::this_thread::get_id()) {
      // Completed from inside tran_start: the target driver must not see it before
      // scsi_transport returns (it would act on a packet the HBA may still reject), so
      // scsi_transport delivers it, or drops it, once tran_start has returned.
      w->completed_in_start = true;
      return;
    }
  }
  fk::scsa::deliver(pkt);
}

int scsi_poll(struct scsi_pkt *pkt) {
  // As illumos's scsi_poll (scsi_subr.c): the packet runs with FLAG_NOINTR and no completion
  // routine, for pkt_time (60 s when 0) counted in 10 ms steps. TRAN_BUSY, a packet that was
  // not dispatched (CMD_INCOMPLETE, no state) and QUEUE FULL are retried after 10 ms; BUSY and
  // NOT READY "becoming ready" (04/01) after 1 s, each costing a second of the budget. Anything
  // else ends it. Success syncs the data for the CPU.
  uint_t saved_flags = pkt->pkt_flags;
  void (*saved_comp)(struct scsi_pkt *) = pkt->pkt_comp;
  int saved_time = pkt->pkt_time;
  pkt->pkt_flags |= FLAG_NOINTR;
  pkt->pkt_comp = nullptr;
  if (pkt->pkt_time == 0) {
    pkt->pkt_time = SCSI_POLL_TIMEOUT;
  }
  int rval = -1;
  const int budget = pkt->pkt_time * 100;  // centiseconds
  for (int count = 0; count < budget; count++) {
    if (pkt->pkt_scbp != nullptr) {
      pkt->pkt_scbp[0] = 0;
    }
    pkt->pkt_reason = 0;
    pkt->pkt_state = 0;
    int rc = scsi_transport(pkt);
    bool good;
    int extra_steps;
    int poll_delay_ms = fk::scsa::poll_retry_ms(pkt, rc, &good, &extra_steps);
    if (good) {
      rval = 0;
    }
    if (poll_delay_ms == 0) {
      break;
    }
    count += extra_steps;
    fk::scsa::poll_wait(poll_delay_ms);
  }
  pkt->pkt_flags = saved_flags;
  pkt->pkt_comp = saved_comp;
  pkt->pkt_time = saved_time;
  if (rval == 0) {
    scsi_sync_pkt(pkt);
  }
  return rval;
}

}  // extern "C"
