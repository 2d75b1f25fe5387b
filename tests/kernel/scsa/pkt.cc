// Packets: scsi_init_pkt(9F) through tran_setup_pkt(9E) with a packet cache and framework DMA
// binding, scsi_transport(9F), scsi_hba_pkt_comp(9F), scsi_poll(9F), scsi_destroy_pkt(9F), and
// the bookkeeping that catches HBA completion mistakes.
#include <atomic>
#include <chrono>
#include <condition_variable>
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

// A constructed packet from the tran's cache, or a new one (HBA private area, DMA handle,
// tran_pkt_constructor), as the kmem cache behind tran_setup_pkt(9E) would.
PktWrapper *alloc_wrapper(Tran *t, int (*callback)(caddr_t)) {
  {
    std::lock_guard<std::mutex> g(t->mu);
    if (t->free_list != nullptr) {
      PktWrapper *w = t->free_list;
      t->free_list = w->next_free;
      t->cached--;
      w->next_free = nullptr;
      return w;
    }
  }
  scsi_hba_tran_t *tran = t->tran;
  size_t hba_len = tran->tran_hba_len;
  size_t size = round16(sizeof(PktWrapper)) + round16(hba_len);
  auto *w = static_cast<PktWrapper *>(kmem_zalloc(size, kmflag_for(callback)));
  if (w == nullptr) {
    return nullptr;
  }
  w->magic = kPktMagic;
  w->tran = t;
  w->alloc_size = size;
  w->state = PktWrapper::kIdle;
  if (hba_len > 0) {
    w->pkt.pkt_ha_private = reinterpret_cast<char *>(w) + round16(sizeof(PktWrapper));
  }
  if (ddi_dma_alloc_handle(tran->tran_hba_dip, &tran->tran_dma_attr,
                           callback == SLEEP_FUNC ? DDI_DMA_SLEEP : DDI_DMA_DONTWAIT, nullptr,
                           &w->pkt.pkt_handle) != DDI_SUCCESS) {
    kmem_free(w, size);
    return nullptr;
  }
  if (tran->tran_pkt_constructor != nullptr &&
      tran->tran_pkt_constructor(&w->pkt, tran, kmflag_for(callback)) != 0) {
    ddi_dma_free_handle(&w->pkt.pkt_handle);
    kmem_free(w, size);
    return nullptr;
  }
  w->constructed = true;
  {
    std::lock_guard<std::mutex> g(t->mu);
    t->pkts.insert(w);
  }
  std::lock_guard<std::mutex> g(reg().mu);
  reg().pkts.insert(w);
  return w;
}

void destroy_wrapper(PktWrapper *w) {
  scsi_hba_tran_t *tran = w->tran->tran;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    reg().pkts.erase(w);
  }
  {
    std::lock_guard<std::mutex> g(w->tran->mu);
    w->tran->pkts.erase(w);
  }
  if (w->constructed && tran->tran_pkt_destructor != nullptr) {
    tran->tran_pkt_destructor(&w->pkt, tran);
  }
  if (w->pkt.pkt_handle != nullptr) {
    ddi_dma_free_handle(&w->pkt.pkt_handle);
  }
  if (w->cookie_array != nullptr) {
    kmem_free(w->cookie_array, sizeof(ddi_dma_cookie_t) * w->cookie_cap);
  }
  w->magic = 0;
  kmem_free(w, w->alloc_size);
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
  for (;;) {
    PktWrapper *w;
    {
      std::lock_guard<std::mutex> g(t->mu);
      w = t->free_list;
      if (w == nullptr) {
        break;
      }
      t->free_list = w->next_free;
      t->cached--;
    }
    destroy_wrapper(w);
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
  if (tran->tran_setup_pkt == nullptr) {
    if (tran->tran_init_pkt != nullptr) {  // legacy HBA: it allocates packets itself
      return tran->tran_init_pkt(ap, in_pkt, bp, cmdlen, statuslen, privatelen, flags, callback,
                                 arg);
    }
    violation(Check::kMisuse, "scsi_init_pkt: HBA has neither tran_setup_pkt nor tran_init_pkt");
    return nullptr;
  }
  if (cmdlen < 0 || statuslen < 0 || privatelen < 0) {
    violation(Check::kMisuse, "scsi_init_pkt: negative length");
    return nullptr;
  }
  int kmflag = callback == SLEEP_FUNC ? KM_SLEEP : KM_NOSLEEP;

  if (in_pkt != nullptr) {
    // An existing packet: allocate DMA resources for (the next portion of) the transfer.
    PktWrapper *w = fk::scsa::lookup(in_pkt);
    if (w == nullptr) {
      violation(Check::kMisuse, "scsi_init_pkt: not a framework packet");
      return nullptr;
    }
    if (bp != nullptr && bp->b_bcount > 0) {
      if (!w->dma_bound) {
        int rv = fk::scsa::bind(w, bp, flags, callback, arg);
        if (rv != DDI_DMA_MAPPED && rv != DDI_DMA_PARTIAL_MAP) {
          return nullptr;
        }
      } else if (!fk::scsa::next_window(w, callback)) {
        return nullptr;
      }
    }
    return in_pkt;
  }

  PktWrapper *w = fk::scsa::alloc_wrapper(t, callback);
  if (w == nullptr) {
    return nullptr;
  }
  scsi_pkt *pkt = &w->pkt;
  {
    // A cached wrapper is on t->pkts, which check_no_outstanding() reads from other threads.
    std::lock_guard<std::mutex> g(t->mu);
    w->state = PktWrapper::kIdle;
    w->completed_in_start = false;
    w->in_start = false;
  }

  // Framework-allocated areas: the CDB and status block when the HBA asked for them
  // (SCSI_HBA_TRAN_CDB / SCSI_HBA_TRAN_SCB), the target driver's private area always.
  bool ok = true;
  if (tran->tran_hba_flags & SCSI_HBA_TRAN_CDB) {
    w->cdb_cap = static_cast<size_t>(cmdlen);
    w->cdb_area = static_cast<uchar_t *>(fk::scsa::alloc_area(w->cdb_cap, kmflag));
    ok = ok && (cmdlen == 0 || w->cdb_area != nullptr);
  }
  if (tran->tran_hba_flags & SCSI_HBA_TRAN_SCB) {
    w->scb_cap = static_cast<size_t>(statuslen);
    w->scb_area = static_cast<uchar_t *>(fk::scsa::alloc_area(w->scb_cap, kmflag));
    ok = ok && (statuslen == 0 || w->scb_area != nullptr);
  }
  w->tgt_cap = static_cast<size_t>(privatelen);
  w->tgt_area = fk::scsa::alloc_area(w->tgt_cap, kmflag);
  ok = ok && (privatelen == 0 || w->tgt_area != nullptr);

  pkt->pkt_address = *ap;
  pkt->pkt_private = w->tgt_area;
  pkt->pkt_comp = nullptr;
  pkt->pkt_flags = 0;
  pkt->pkt_time = 0;
  pkt->pkt_scbp = w->scb_area;
  pkt->pkt_cdbp = w->cdb_area;
  pkt->pkt_resid = 0;
  pkt->pkt_state = 0;
  pkt->pkt_statistics = 0;
  pkt->pkt_reason = 0;
  pkt->pkt_cdblen = static_cast<uint_t>(cmdlen);
  pkt->pkt_tgtlen = static_cast<uint_t>(privatelen);
  pkt->pkt_scblen = static_cast<uint_t>(statuslen);
  pkt->pkt_numcookies = 0;
  pkt->pkt_cookies = nullptr;
  pkt->pkt_dma_len = 0;
  pkt->pkt_dma_offset = 0;
  pkt->pkt_dma_flags = 0;

  if (ok && bp != nullptr && bp->b_bcount > 0) {
    int rv = fk::scsa::bind(w, bp, flags, callback, arg);
    ok = rv == DDI_DMA_MAPPED || rv == DDI_DMA_PARTIAL_MAP;
  }
  if (ok && tran->tran_setup_pkt(pkt, callback, arg) != 0) {
    ok = false;
  } else if (ok) {
    if (pkt->pkt_cdbp == nullptr && cmdlen > 0) {
      violation(Check::kMisuse, "tran_setup_pkt left pkt_cdbp NULL without SCSI_HBA_TRAN_CDB");
    }
    if (pkt->pkt_scbp == nullptr && statuslen > 0) {
      violation(Check::kMisuse, "tran_setup_pkt left pkt_scbp NULL without SCSI_HBA_TRAN_SCB");
    }
    return pkt;
  }
  // Failure: give everything back.
  fk::scsa::unbind(w);
  fk::scsa::free_areas(w);
  std::lock_guard<std::mutex> g(t->mu);
  w->next_free = t->free_list;
  t->free_list = w;
  t->cached++;
  return nullptr;
}

void scsi_destroy_pkt(struct scsi_pkt *pkt) {
  PktWrapper *w = fk::scsa::lookup(pkt);
  if (w == nullptr) {
    violation(Check::kMisuse, "scsi_destroy_pkt: not a framework packet");
    return;
  }
  if (w->state == PktWrapper::kInTransport) {
    violation(Check::kMisuse,
              "scsi_destroy_pkt: " + fk::scsa::pkt_name(pkt) + " still in transport");
  }
  scsi_hba_tran_t *tran = w->tran->tran;
  if (tran->tran_teardown_pkt != nullptr) {
    tran->tran_teardown_pkt(pkt);
  }
  fk::scsa::unbind(w);
  fk::scsa::free_areas(w);
  pkt->pkt_cdbp = pkt->pkt_scbp = nullptr;
  pkt->pkt_private = nullptr;
  pkt->pkt_comp = nullptr;
  // The state stays kCompleted across the cache, so a late completion of a destroyed packet
  // is still reported as a second completion.
  Tran *t = w->tran;
  std::lock_guard<std::mutex> g(t->mu);
  w->next_free = t->free_list;
  t->free_list = w;
  t->cached++;
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

// Hands the packet to tran_start as it is, with the bookkeeping that catches completion
// mistakes.
int start_pkt(PktWrapper *w, scsi_hba_tran_t *tran) {
  Registry &r = reg();
  scsi_pkt *pkt = &w->pkt;
  Tran *t = w->tran;
  uint64_t gen;
  {
    std::lock_guard<std::mutex> g(t->mu);
    if (w->state == PktWrapper::kInTransport) {
      violation(Check::kMisuse, "scsi_transport: " + pkt_name(pkt) + " already in transport");
      return TRAN_BADPKT;
    }
    w->state = PktWrapper::kInTransport;
    w->gen++;
    gen = w->gen;
    w->in_start = true;
    w->completed_in_start = false;
    w->start_thread = std::this_thread::get_id();
  }
  bool polled = (pkt->pkt_flags & FLAG_NOINTR) != 0;
  // For messages only: after tran_start the packet may already be completed and reused.
  const void *pkt_addr = pkt;
  uchar_t op = pkt->pkt_cdbp != nullptr ? pkt->pkt_cdbp[0] : 0xff;
  sync_for_device(pkt);

  int rv = tran->tran_start(&pkt->pkt_address, pkt);

  bool sync_accepted = false;
  bool completed_rejected = false;
  {
    std::lock_guard<std::mutex> g(t->mu);
    if (w->gen == gen) {  // else it completed elsewhere and was transported again already
      w->in_start = false;
      if (rv == TRAN_ACCEPT) {
        if (polled) {
          // "The command has been completed upon return from scsi_transport(9F)."
          w->state = PktWrapper::kCompleted;
        } else if (w->completed_in_start) {
          sync_accepted = true;
        }
      } else {
        if (w->state == PktWrapper::kCompleted) {
          completed_rejected = true;
        }
        w->state = PktWrapper::kIdle;
      }
    }
  }
  if (rv == TRAN_ACCEPT) {
    r.accepted++;
  } else if (rv == TRAN_BUSY) {
    r.busy++;
  }
  if (sync_accepted) {
    deliver(pkt);  // late, but exactly once
  }
  if (sync_accepted || completed_rejected) {
    char name[64];
    snprintf(name, sizeof(name), "pkt %p (cdb[0] 0x%02x)", pkt_addr, op);
    if (sync_accepted) {
      violation(Check::kSyncCompletionAccepted,
                std::string(name) +
                    " completed synchronously inside tran_start, which then returned TRAN_ACCEPT");
    } else {
      violation(
          Check::kCompletionAfterReject,
          std::string(name) + " completed by the HBA, which then returned " + std::to_string(rv));
    }
  }
  return rv;
}

std::atomic<bool> g_dump_mode{false};

// scsi_transport's wait for a FLAG_NOINTR packet it turned into an interrupt-driven one. As
// illumos, a completed packet's pkt_comp becomes a marker that must never be called again.
struct NointrWait {
  std::mutex mu;
  std::condition_variable cv;
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
      if (!nw.cv.wait_for(g, std::chrono::microseconds(200),
                          [pkt] { return pkt->pkt_comp == fk::scsa::nointr_callback_done; })) {
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
    int poll_delay_ms;
    if (pkt->pkt_scbp != nullptr) {
      pkt->pkt_scbp[0] = 0;
    }
    pkt->pkt_reason = 0;
    pkt->pkt_state = 0;
    int rc = scsi_transport(pkt);
    if (rc != TRAN_ACCEPT) {
      if (rc != TRAN_BUSY) {
        break;
      }
      poll_delay_ms = 10;
    } else {
      uchar_t status = pkt->pkt_scbp != nullptr ? (pkt->pkt_scbp[0] & STATUS_MASK) : STATUS_GOOD;
      const uchar_t *sense = nullptr;
      if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_CHECK &&
          (pkt->pkt_state & STATE_ARQ_DONE)) {
        sense = reinterpret_cast<const uchar_t *>(
            &reinterpret_cast<struct scsi_arq_status *>(pkt->pkt_scbp)->sts_sensedata);
      }
      if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_GOOD) {
        rval = 0;
        break;
      }
      if (pkt->pkt_reason == CMD_DEV_GONE) {
        break;
      }
      if (pkt->pkt_reason == CMD_INCOMPLETE && pkt->pkt_state == 0) {
        poll_delay_ms = 10;
      } else if (pkt->pkt_reason == CMD_CMPLT && status == STATUS_QFULL) {
        poll_delay_ms = 10;
      } else if ((pkt->pkt_reason == CMD_CMPLT && status == STATUS_BUSY) ||
                 (sense != nullptr && (sense[2] & 0x0f) == KEY_NOT_READY && sense[12] == 0x04 &&
                  sense[13] == 0x01)) {
        poll_delay_ms = 1000;
        count += 99;
      } else {
        break;
      }
    }
    if (fk::scsa::node::in_interrupt() || fk::scsa::dump_mode()) {
      drv_usecwait(poll_delay_ms * 1000);
    } else {
      delay(drv_usectohz(poll_delay_ms * 1000));
    }
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
