// The fake HBA driver (see fake_hba.h). Structured as an illumos HBA driver would be: attach
// of the HBA node sets up the transport and registers iport "iport0"; attach of the iport
// fills in the framework's copy of the tran and creates the target map; commands queue under
// the HBA mutex and complete from a task queue with the mutex dropped.
#include "fake_hba.h"

#include <sys/modctl.h>

#include <algorithm>
#include <cstring>

#include "fk_internal.h"

namespace fake_hba {
namespace {

struct Dev {  // per-LUN HBA private data (scsi_device_hba_private)
  char target[64];
  uint64_t lun;
};

struct Cmd {  // per-packet HBA private data (tran_hba_len)
  scsi_pkt *pkt;
  Cmd *next;
  uint32_t magic;
};
constexpr uint32_t kCmdMagic = 0xC0DECAFE;

struct State {
  std::mutex mu;  // guards the model below (never held across framework calls)
  Config cfg;
  Stats stats;
  std::map<std::string, Target> bus;
  int busy = 0;
  bool hold = false;
  // driver state
  dev_info_t *hba = nullptr;
  dev_info_t *iport = nullptr;
  scsi_hba_tran_t *hba_tran = nullptr;
  scsi_hba_tgtmap_t *map = nullptr;
  kmutex_t hba_mu;  // the HBA's own lock (a kernel mutex: the lock checker sees it)
  bool hba_mu_init = false;
  Cmd *qhead = nullptr;
  Cmd *qtail = nullptr;
  size_t qlen = 0;
  ddi_taskq_t *tq = nullptr;
  std::vector<Seen> seen;
  std::vector<std::string> activations;
  std::vector<std::pair<std::string, int>> deactivations;
};

State &st() {
  static State *s = new State();
  return *s;
}

void default_attr(ddi_dma_attr_t *a) {
  *a = ddi_dma_attr_t{};
  a->dma_attr_version = DMA_ATTR_V0;
  a->dma_attr_addr_lo = 0;
  a->dma_attr_addr_hi = ~0ull;
  a->dma_attr_count_max = 0xFFFFFFFFull;
  a->dma_attr_align = 1;
  a->dma_attr_burstsizes = 0x7FF;
  a->dma_attr_minxfer = 1;
  a->dma_attr_maxxfer = 0xFFFFFFFFull;
  a->dma_attr_seg = ~0ull;
  a->dma_attr_sgllen = 64;
  a->dma_attr_granular = 1;
}

// ---- command emulation ----

struct Outcome {
  uint8_t status = STATUS_GOOD;
  uint8_t key = 0, asc = 0, ascq = 0;
  size_t xfer = 0;  // bytes moved
  size_t resid = 0;
  bool gone = false;           // no such target: selection timeout
  uchar_t reason = CMD_CMPLT;  // else: the command did not complete (nothing moved)
};

uint32_t be32(const uint8_t *p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t be64(const uint8_t *p) { return (uint64_t{be32(p)} << 32) | be32(p + 4); }
void put32(uint8_t *p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
void put64(uint8_t *p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}

// Copies between a device-side byte range and the packet's DMA cookies; checks each cookie
// against the DMA attributes the framework bound with.
size_t dma_copy(scsi_pkt *pkt, uint8_t *dev, size_t len, bool to_memory, Stats *stats,
                const ddi_dma_attr_t &attr) {
  size_t done = 0;
  stats->max_cookies = std::max<uint64_t>(stats->max_cookies, pkt->pkt_numcookies);
  if (pkt->pkt_numcookies > static_cast<uint_t>(attr.dma_attr_sgllen)) {
    stats->cookie_errors++;
  }
  for (uint_t i = 0; i < pkt->pkt_numcookies && done < len; i++) {
    const ddi_dma_cookie_t &c = pkt->pkt_cookies[i];
    uint64_t pa = c.dmac_laddress;
    uint64_t sz = c.dmac_size;
    if (pa < attr.dma_attr_addr_lo || pa + sz - 1 > attr.dma_attr_addr_hi ||
        sz - 1 > attr.dma_attr_count_max ||
        (attr.dma_attr_align > 1 && pa % attr.dma_attr_align != 0) ||
        (pa & ~attr.dma_attr_seg) != ((pa + sz - 1) & ~attr.dma_attr_seg)) {
      stats->cookie_errors++;
    }
    size_t n = std::min<size_t>(sz, len - done);
    auto *mem = static_cast<uint8_t *>(fk::pa_to_va(pa));
    if (mem == nullptr) {
      stats->cookie_errors++;
      break;
    }
    if (to_memory) {
      memcpy(mem, dev + done, n);
    } else {
      memcpy(dev + done, mem, n);
    }
    done += n;
  }
  return done;
}

Outcome check(uint8_t key, uint8_t asc, uint8_t ascq) {
  Outcome o;
  o.status = STATUS_CHECK;
  o.key = key;
  o.asc = asc;
  o.ascq = ascq;
  return o;
}

// A command the target did not complete (an injected failure): nothing moved.
Outcome not_completed(uchar_t reason) {
  Outcome o;
  o.reason = reason;
  return o;
}

// Moves the model's bytes to the packet's memory: at most len bytes, and no more than DMA-bound.
Outcome data_in(scsi_pkt *pkt, uint8_t *data, size_t len) {
  State &s = st();
  size_t dma_len = pkt->pkt_numcookies > 0 ? pkt->pkt_dma_len : 0;
  Outcome o;
  o.xfer = dma_copy(pkt, data, std::min(len, dma_len), true, &s.stats, s.cfg.dma_attr);
  return o;
}

// INQUIRY with EVPD: pages 0x00, 0x80 and 0x83 when the target has VPD.
Outcome exec_vpd_inquiry(scsi_pkt *pkt, const Target &tg, size_t alloc) {
  const uint8_t *cdb = pkt->pkt_cdbp;
  if (!tg.vpd || (cdb[2] != 0x00 && cdb[2] != 0x80 && cdb[2] != 0x83) ||
      (cdb[2] == 0x83 && tg.vpd_83_fails)) {
    return check(KEY_ILLEGAL_REQUEST, 0x24, 0);
  }
  uint8_t page[16] = {0, cdb[2]};
  size_t n = 4;
  if (cdb[2] == 0x00) {
    page[3] = 3;
    page[4] = 0x00;
    page[5] = 0x80;
    page[6] = 0x83;
    n = 7;
  } else if (cdb[2] == 0x80) {
    page[3] = 4;
    memcpy(page + 4, "SN01", 4);
    n = 8;
  }
  return data_in(pkt, page, std::min(alloc, n));
}

Outcome exec_inquiry(scsi_pkt *pkt, Target &tg, const Lun *lun) {
  const uint8_t *cdb = pkt->pkt_cdbp;
  size_t alloc = (size_t{cdb[3]} << 8) | cdb[4];
  if (cdb[1] & 1) return exec_vpd_inquiry(pkt, tg, alloc);
  if (tg.fail_inquiries > 0) {
    tg.fail_inquiries--;
    return not_completed(tg.fail_reason);
  }
  uint8_t inq[96] = {};
  inq[0] = lun != nullptr ? DTYPE_DIRECT : DTYPE_NOTPRESENT;
  inq[2] = tg.ansi;
  inq[3] = 2;
  inq[4] = sizeof(inq) - 5;
  inq[7] = 0x02;  // CmdQue
  memcpy(inq + 8, "FAKE    ", 8);
  memcpy(inq + 16, "FAKEDISK        ", 16);
  memcpy(inq + 32, "0001", 4);
  return data_in(pkt, inq, std::min({alloc, sizeof(inq), tg.inquiry_len}));
}

Outcome exec_report_luns(scsi_pkt *pkt, Target &tg, Lun *lun) {
  if (!tg.report_luns) {
    return check(KEY_ILLEGAL_REQUEST, 0x20, 0);
  }
  if (tg.fail_report_luns > 0) {
    tg.fail_report_luns--;
    return not_completed(tg.fail_reason);
  }
  if (lun != nullptr && !lun->pending.empty() && lun->pending.front()[1] == 0x3f &&
      lun->pending.front()[2] == 0x0e) {
    lun->pending.pop_front();  // REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED
  }
  std::vector<uint8_t> data(8 + 8 * tg.luns.size());
  put32(data.data(), static_cast<uint32_t>(8 * tg.luns.size()));
  size_t i = 0;
  for (auto &[n, ignored] : tg.luns) {
    uint8_t *e = data.data() + 8 + 8 * i++;
    if (n < 256) {
      e[1] = static_cast<uint8_t>(n);
    } else {
      e[0] = static_cast<uint8_t>(0x40 | ((n >> 8) & 0x3f));
      e[1] = static_cast<uint8_t>(n);
    }
  }
  size_t alloc = be32(pkt->pkt_cdbp + 6);
  return data_in(pkt, data.data(), std::min(alloc, data.size()));
}

// READ/WRITE(10) and (16) against the LUN's blocks.
Outcome exec_read_write(scsi_pkt *pkt, Lun *lun) {
  State &s = st();
  const uint8_t *cdb = pkt->pkt_cdbp;
  uint8_t op = cdb[0];
  size_t dma_len = pkt->pkt_numcookies > 0 ? pkt->pkt_dma_len : 0;
  bool g4 = op == SCMD_READ_G4 || op == SCMD_WRITE_G4;
  uint64_t lba = g4 ? be64(cdb + 2) : be32(cdb + 2);
  uint64_t count = g4 ? be32(cdb + 10) : ((uint32_t{cdb[7]} << 8) | cdb[8]);
  if (lba + count > lun->blocks) {
    return check(KEY_ILLEGAL_REQUEST, 0x21, 0);
  }
  size_t bytes = count * lun->block_size;
  size_t n = std::min(bytes, dma_len);
  bool rd = op == SCMD_READ_G1 || op == SCMD_READ_G4;
  Outcome o;
  o.xfer = dma_copy(pkt, lun->data.data() + lba * lun->block_size, n, rd, &s.stats, s.cfg.dma_attr);
  o.resid = bytes - o.xfer;
  return o;
}

// The commands of an existing LUN with no unit attention pending.
Outcome exec_lun_command(scsi_pkt *pkt, Lun *lun) {
  const uint8_t *cdb = pkt->pkt_cdbp;
  switch (cdb[0]) {
    case SCMD_TEST_UNIT_READY:
      return Outcome{};
    case SCMD_READ_CAPACITY: {
      uint8_t d[8];
      put32(d, static_cast<uint32_t>(std::min<uint64_t>(lun->blocks - 1, 0xFFFFFFFFull)));
      put32(d + 4, lun->block_size);
      return data_in(pkt, d, sizeof(d));
    }
    case SCMD_SVC_ACTION_IN_G4: {
      if ((cdb[1] & 0x1f) != SSVC_ACTION_READ_CAPACITY_G4) {
        return check(KEY_ILLEGAL_REQUEST, 0x24, 0);
      }
      uint8_t d[32] = {};
      put64(d, lun->blocks - 1);
      put32(d + 8, lun->block_size);
      return data_in(pkt, d, std::min(sizeof(d), size_t{be32(cdb + 10)}));
    }
    case SCMD_READ_G1:
    case SCMD_WRITE_G1:
    case SCMD_READ_G4:
    case SCMD_WRITE_G4:
      return exec_read_write(pkt, lun);
    case SCMD_SYNCHRONIZE_CACHE:
    case SCMD_SYNCHRONIZE_CACHE_G4:
      st().stats.syncs++;
      return Outcome{};
    default:
      return check(KEY_ILLEGAL_REQUEST, 0x20, 0);
  }
}

// Runs one command against the model (st().mu held).
Outcome execute(scsi_pkt *pkt, const Dev *dev) {
  State &s = st();
  auto t = s.bus.find(dev->target);
  if (t == s.bus.end()) {
    Outcome o;
    o.gone = true;
    return o;
  }
  Target &tg = t->second;
  auto l = tg.luns.find(dev->lun);
  Lun *lun = l == tg.luns.end() ? nullptr : &l->second;
  uint8_t op = pkt->pkt_cdbp[0];
  if (op == SCMD_INQUIRY) return exec_inquiry(pkt, tg, lun);
  if (op == SCMD_REPORT_LUNS) return exec_report_luns(pkt, tg, lun);
  if (tg.fail_commands > 0) {
    tg.fail_commands--;
    return not_completed(tg.fail_reason);
  }
  if (lun == nullptr) {
    return check(KEY_ILLEGAL_REQUEST, 0x25, 0);  // LOGICAL UNIT NOT SUPPORTED
  }
  if (!lun->pending.empty()) {
    auto ua = lun->pending.front();
    lun->pending.pop_front();
    return check(ua[0], ua[1], ua[2]);
  }
  if (lun->data.size() != lun->blocks * lun->block_size) {
    lun->data.resize(lun->blocks * lun->block_size);
  }
  return exec_lun_command(pkt, lun);
}

void finish(scsi_pkt *pkt, const Outcome &o) {
  if (o.gone) {
    pkt->pkt_reason = CMD_DEV_GONE;
    pkt->pkt_state = STATE_GOT_BUS;
    pkt->pkt_resid = static_cast<ssize_t>(pkt->pkt_dma_len);
    return;
  }
  if (o.reason != CMD_CMPLT) {
    pkt->pkt_reason = o.reason;
    pkt->pkt_state = STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD;
    pkt->pkt_statistics |= o.reason == CMD_RESET     ? STAT_DEV_RESET
                           : o.reason == CMD_ABORTED ? STAT_ABORTED
                           : o.reason == CMD_TIMEOUT ? STAT_TIMEOUT
                                                     : 0;
    pkt->pkt_resid = static_cast<ssize_t>(pkt->pkt_dma_len);
    return;
  }
  pkt->pkt_reason = CMD_CMPLT;
  pkt->pkt_state = STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD | STATE_GOT_STATUS;
  if (o.xfer > 0) {
    pkt->pkt_state |= STATE_XFERRED_DATA;
  }
  pkt->pkt_resid = static_cast<ssize_t>(pkt->pkt_dma_len > o.xfer ? pkt->pkt_dma_len - o.xfer : 0);
  if (o.resid > 0) {
    pkt->pkt_resid = static_cast<ssize_t>(o.resid);
  }
  pkt->pkt_scbp[0] = o.status;
  if (o.status == STATUS_CHECK && pkt->pkt_scblen >= sizeof(struct scsi_arq_status)) {
    auto *arq = reinterpret_cast<struct scsi_arq_status *>(pkt->pkt_scbp);
    memset(&arq->sts_rqpkt_status, 0, sizeof(arq->sts_rqpkt_status));
    arq->sts_rqpkt_reason = CMD_CMPLT;
    arq->sts_rqpkt_resid = 0;
    arq->sts_rqpkt_state =
        STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD | STATE_XFERRED_DATA | STATE_GOT_STATUS;
    arq->sts_rqpkt_statistics = 0;
    auto *sense = reinterpret_cast<uint8_t *>(&arq->sts_sensedata);
    memset(sense, 0, sizeof(arq->sts_sensedata));
    sense[0] = 0x70;
    sense[2] = o.key;
    sense[7] = 10;
    sense[12] = o.asc;
    sense[13] = o.ascq;
    pkt->pkt_state |= STATE_ARQ_DONE;
  }
}

Dev *dev_of(scsi_pkt *pkt) {
  scsi_device *sd = scsi_address_device(&pkt->pkt_address);
  return sd != nullptr ? static_cast<Dev *>(scsi_device_hba_private_get(sd)) : nullptr;
}

void run(scsi_pkt *pkt) {
  Dev *dev = dev_of(pkt);
  std::lock_guard<std::mutex> g(st().mu);
  Outcome o;
  if (dev == nullptr) {
    o.gone = true;
  } else {
    o = execute(pkt, dev);
  }
  finish(pkt, o);
  st().stats.completed++;
}

void complete(scsi_pkt *pkt) {
  State &s = st();
  unsigned defects;
  {
    std::lock_guard<std::mutex> g(s.mu);
    defects = s.cfg.defects;
  }
  if (defects & kCompleteWithLockHeld) {
    mutex_enter(&s.hba_mu);
    scsi_hba_pkt_comp(pkt);
    mutex_exit(&s.hba_mu);
    return;
  }
  scsi_hba_pkt_comp(pkt);
  if (defects & kDoubleComplete) {
    scsi_hba_pkt_comp(pkt);  // e.g. a reset path that forgot the packet was already done
  }
}

// The "interrupt": runs queued commands and completes them with the HBA mutex dropped.
void worker(void *) {
  State &s = st();
  for (;;) {
    mutex_enter(&s.hba_mu);
    bool hold;
    {
      std::lock_guard<std::mutex> g(s.mu);
      hold = s.hold;
    }
    Cmd *list = hold ? nullptr : s.qhead;
    if (!hold) {
      s.qhead = s.qtail = nullptr;
      s.qlen = 0;
    }
    mutex_exit(&s.hba_mu);
    if (list == nullptr) {
      return;
    }
    while (list != nullptr) {
      Cmd *c = list;
      list = c->next;
      c->next = nullptr;
      run(c->pkt);
      complete(c->pkt);
    }
  }
}

// tran_start may run in interrupt or timeout context (a target driver's retry): no sleeping.
void kick() { (void)ddi_taskq_dispatch(st().tq, worker, nullptr, DDI_NOSLEEP); }

// ---- tran vectors ----

int fake_tgt_init(dev_info_t *, dev_info_t *, scsi_hba_tran_t *, struct scsi_device *sd) {
  const char *ua = scsi_device_unit_address(sd);
  if (ua == nullptr) {
    return DDI_FAILURE;
  }
  const char *comma = strrchr(ua, ',');
  if (comma == nullptr || static_cast<size_t>(comma - ua) >= sizeof(Dev::target)) {
    return DDI_FAILURE;
  }
  int64_t lun64 = scsi_device_prop_get_int64(sd, SCSI_DEVICE_PROP_PATH,
                                             const_cast<char *>(SCSI_ADDR_PROP_LUN64), -1);
  if (lun64 < 0) {
    return DDI_FAILURE;
  }
  auto *d = static_cast<Dev *>(kmem_zalloc(sizeof(Dev), KM_SLEEP));
  memcpy(d->target, ua, static_cast<size_t>(comma - ua));
  // scsi_lun64_t to the bus's LUN number: peripheral LUNs are their number already; a
  // flat-space LUN is in full 64-bit form, method 01b in the top byte.
  uint64_t lun = static_cast<uint64_t>(lun64);
  if (lun > 0x3fff && (lun >> 62) == 1 && (lun & 0x0000ffffffffffffull) == 0) {
    lun = (lun >> 48) & 0x3fff;
  }
  d->lun = lun;
  scsi_device_hba_private_set(sd, d);
  std::lock_guard<std::mutex> g(st().mu);
  st().stats.tgt_inits++;
  return DDI_SUCCESS;
}

void fake_tgt_free(dev_info_t *, dev_info_t *, scsi_hba_tran_t *, struct scsi_device *sd) {
  auto *d = static_cast<Dev *>(scsi_device_hba_private_get(sd));
  if (d != nullptr) {
    kmem_free(d, sizeof(Dev));
  }
  scsi_device_hba_private_set(sd, nullptr);
  std::lock_guard<std::mutex> g(st().mu);
  st().stats.tgt_frees++;
}

// The start of tran_start: TRAN_BUSY while the test asks for it, else counts and records the
// packet and gives the defects in force.
bool admit(scsi_pkt *pkt, unsigned *defects) {
  State &s = st();
  std::lock_guard<std::mutex> g(s.mu);
  if (s.busy > 0) {
    s.busy--;
    s.stats.busy_returned++;
    return false;
  }
  s.stats.started++;
  *defects = s.cfg.defects;
  scsi_device *sd = scsi_address_device(&pkt->pkt_address);
  char *ua = sd != nullptr ? scsi_device_unit_address(sd) : nullptr;
  s.seen.push_back(Seen{ua != nullptr ? ua : "", pkt->pkt_cdbp[0], pkt->pkt_cdbp[1],
                        pkt->pkt_cdbp[2], pkt->pkt_flags, pkt->pkt_time, pkt});
  return true;
}

// FLAG_NOINTR: complete before returning.
int start_polled(scsi_pkt *pkt) {
  State &s = st();
  bool call;
  {
    std::lock_guard<std::mutex> g(s.mu);
    s.stats.polled++;
    call = s.cfg.polled_calls_pkt_comp;
  }
  run(pkt);
  if (call) {
    scsi_hba_pkt_comp(pkt);
  }
  return TRAN_ACCEPT;
}

// Queues the command for the completion thread.
void enqueue(Cmd *cmd) {
  State &s = st();
  mutex_enter(&s.hba_mu);
  cmd->next = nullptr;
  if (s.qtail != nullptr) {
    s.qtail->next = cmd;
  } else {
    s.qhead = cmd;
  }
  s.qtail = cmd;
  s.qlen++;
  mutex_exit(&s.hba_mu);
  kick();
}

int fake_start(struct scsi_address *, struct scsi_pkt *pkt) {
  State &s = st();
  unsigned defects;
  if (!admit(pkt, &defects)) return TRAN_BUSY;
  auto *cmd = static_cast<Cmd *>(pkt->pkt_ha_private);
  if (cmd == nullptr || cmd->magic != kCmdMagic || cmd->pkt != pkt) {
    return TRAN_BADPKT;
  }
  if (pkt->pkt_flags & FLAG_NOINTR) return start_polled(pkt);
  if (defects & kCompleteThenBusy) {
    run(pkt);
    scsi_hba_pkt_comp(pkt);
    {
      std::lock_guard<std::mutex> g(s.mu);
      s.cfg.defects &= ~kCompleteThenBusy;  // once: the retry then goes through normally
    }
    return TRAN_BUSY;
  }
  if (defects & kSyncCompleteAccept) {
    run(pkt);
    scsi_hba_pkt_comp(pkt);
    return TRAN_ACCEPT;
  }
  if (defects & kNeverComplete) {
    return TRAN_ACCEPT;  // dropped on the floor
  }
  enqueue(cmd);
  return TRAN_ACCEPT;
}

// Takes queued packets matching a predicate off the queue.
template <class Pred>
std::vector<scsi_pkt *> take(Pred pred) {
  State &s = st();
  std::vector<scsi_pkt *> out;
  mutex_enter(&s.hba_mu);
  Cmd **pp = &s.qhead;
  s.qtail = nullptr;
  while (*pp != nullptr) {
    Cmd *c = *pp;
    if (pred(c->pkt)) {
      *pp = c->next;
      c->next = nullptr;
      s.qlen--;
      out.push_back(c->pkt);
    } else {
      s.qtail = c;
      pp = &c->next;
    }
  }
  mutex_exit(&s.hba_mu);
  return out;
}

int fake_abort(struct scsi_address *ap, struct scsi_pkt *pkt) {
  scsi_device *sd = scsi_address_device(ap);
  auto victims = take([&](scsi_pkt *p) {
    return pkt != nullptr ? p == pkt : scsi_address_device(&p->pkt_address) == sd;
  });
  {
    std::lock_guard<std::mutex> g(st().mu);
    st().stats.aborts++;
  }
  for (scsi_pkt *p : victims) {
    p->pkt_reason = CMD_ABORTED;
    p->pkt_statistics |= STAT_ABORTED;
    p->pkt_state = STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD;
    scsi_hba_pkt_comp(p);
  }
  return victims.empty() && pkt != nullptr ? 0 : 1;
}

int fake_reset(struct scsi_address *ap, int level) {
  scsi_device *sd = scsi_address_device(ap);
  Dev *dev = sd != nullptr ? static_cast<Dev *>(scsi_device_hba_private_get(sd)) : nullptr;
  auto match = [&](scsi_pkt *p) {
    if (level == RESET_ALL) {
      return true;
    }
    Dev *d = dev_of(p);
    if (d == nullptr || dev == nullptr || strcmp(d->target, dev->target) != 0) {
      return false;
    }
    return level == RESET_TARGET || d->lun == dev->lun;
  };
  auto victims = take(match);
  {
    std::lock_guard<std::mutex> g(st().mu);
    st().stats.resets++;
    st().stats.last_reset_level = static_cast<uint64_t>(level);
    for (auto &[addr, t] : st().bus) {
      for (auto &[n, l] : t.luns) {
        bool hit = level == RESET_ALL || (dev != nullptr && addr == dev->target &&
                                          (level == RESET_TARGET || n == dev->lun));
        if (hit) {
          l.pending.push_back({KEY_UNIT_ATTENTION, 0x29, 0x00});  // POWER ON, RESET
        }
      }
    }
  }
  for (scsi_pkt *p : victims) {
    p->pkt_reason = CMD_RESET;
    p->pkt_statistics |= level == RESET_ALL ? STAT_BUS_RESET : STAT_DEV_RESET;
    scsi_hba_pkt_comp(p);
  }
  return 1;
}

int fake_getcap(struct scsi_address *, char *cap, int) {
  switch (scsi_hba_lookup_capstr(cap)) {
    case SCSI_CAP_ARQ:
    case SCSI_CAP_TAGGED_QING:
    case SCSI_CAP_UNTAGGED_QING:
      return 1;
    case SCSI_CAP_DMA_MAX:
      return static_cast<int>(std::min<uint64_t>(st().cfg.dma_attr.dma_attr_maxxfer, 0x7fffffff));
    case SCSI_CAP_CDB_LEN:
      return 16;
    case SCSI_CAP_INTERCONNECT_TYPE:
      return INTERCONNECT_PARALLEL;
    case SCSI_CAP_LUN_RESET:
      return st().cfg.lun_reset ? 1 : -1;
    default:
      return -1;
  }
}

int fake_setcap(struct scsi_address *, char *cap, int value, int) {
  switch (scsi_hba_lookup_capstr(cap)) {
    case SCSI_CAP_ARQ:
    case SCSI_CAP_TAGGED_QING:
      return value != 0 ? 1 : 0;
    default:
      return -1;
  }
}

int fake_pkt_ctor(struct scsi_pkt *pkt, scsi_hba_tran_t *tran, int) {
  auto *cmd = static_cast<Cmd *>(pkt->pkt_ha_private);
  cmd->pkt = pkt;
  cmd->magic = kCmdMagic;
  std::lock_guard<std::mutex> g(st().mu);
  st().stats.constructed++;
  st().stats.ctor_without_private += tran->tran_hba_private != &st() ? 1 : 0;
  return 0;
}

void fake_pkt_dtor(struct scsi_pkt *pkt, scsi_hba_tran_t *) {
  auto *cmd = static_cast<Cmd *>(pkt->pkt_ha_private);
  cmd->magic = 0;
  std::lock_guard<std::mutex> g(st().mu);
  st().stats.constructed--;
}

int fake_setup_pkt(struct scsi_pkt *pkt, int (*)(caddr_t), caddr_t) {
  bool plant, scribble;
  {
    std::lock_guard<std::mutex> g(st().mu);
    plant = (st().cfg.defects & kCompleteUnsubmitted) != 0;
    st().cfg.defects &= ~kCompleteUnsubmitted;  // once
    scribble = st().cfg.scribble_in_setup;
    st().stats.setups++;
    st().stats.setup_saw_cookies += pkt->pkt_numcookies > 0 ? 1 : 0;
  }
  if (scribble) {
    memset(pkt->pkt_cdbp, 0xff, pkt->pkt_cdblen);
    memset(pkt->pkt_scbp, 0xff, pkt->pkt_scblen);
  }
  if (plant) {
    scsi_hba_pkt_comp(pkt);
  }
  return 0;
}

void fake_teardown_pkt(struct scsi_pkt *) {
  std::lock_guard<std::mutex> g(st().mu);
  st().stats.teardowns++;
}

// ---- attach / detach ----

void map_activate(void *priv, char *addr, scsi_tgtmap_tgt_type_t, void **) {
  auto *s = static_cast<State *>(priv);
  std::lock_guard<std::mutex> g(s->mu);
  s->activations.push_back(addr);
}

boolean_t map_deactivate(void *priv, char *addr, scsi_tgtmap_tgt_type_t, void *,
                         scsi_tgtmap_deact_rsn_t rsn) {
  auto *s = static_cast<State *>(priv);
  std::lock_guard<std::mutex> g(s->mu);
  s->deactivations.emplace_back(addr, static_cast<int>(rsn));
  return B_FALSE;
}

int iport_attach(dev_info_t *dip) {
  State &s = st();
  const char *ua = scsi_hba_iport_unit_address(dip);
  if (ua == nullptr || strcmp(ua, "iport0") != 0) {
    return DDI_FAILURE;
  }
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(dip));
  if (tran == nullptr) {
    return DDI_FAILURE;
  }
  {
    std::lock_guard<std::mutex> g(s.mu);
    s.stats.iport_private_null = tran->tran_hba_private == nullptr;
  }
  tran->tran_hba_private = &s;
  tran->tran_tgt_init = fake_tgt_init;
  tran->tran_tgt_free = fake_tgt_free;
  tran->tran_start = fake_start;
  tran->tran_abort = fake_abort;
  tran->tran_reset = fake_reset;
  tran->tran_getcap = fake_getcap;
  tran->tran_setcap = fake_setcap;
  scsi_tgtmap_mode_t mode;
  int settle;
  {
    std::lock_guard<std::mutex> g(s.mu);
    mode = s.cfg.mode;
    settle = s.cfg.settle_usec;
  }
  bool callbacks;
  {
    std::lock_guard<std::mutex> g(s.mu);
    callbacks = s.cfg.map_callbacks;
  }
  // csync: the 2022 pvscsi's 100 ms.
  if (scsi_hba_tgtmap_create(dip, mode, 100000, settle, &s, callbacks ? map_activate : nullptr,
                             callbacks ? map_deactivate : nullptr, &s.map) != DDI_SUCCESS) {
    return DDI_FAILURE;
  }
  s.iport = dip;
  return DDI_SUCCESS;
}

int fake_attach(dev_info_t *dip, ddi_attach_cmd_t cmd) {
  if (cmd != DDI_ATTACH) {
    return DDI_FAILURE;
  }
  if (scsi_hba_iport_unit_address(dip) != nullptr) {
    return iport_attach(dip);
  }
  State &s = st();
  s.tq = ddi_taskq_create(dip, "fake_hba", 1, TASKQ_DEFAULTPRI, 0);
  if (s.tq == nullptr) {
    return DDI_FAILURE;
  }
  scsi_hba_tran_t *tran = scsi_hba_tran_alloc(dip, SCSI_HBA_CANSLEEP);
  mutex_init(&s.hba_mu, const_cast<char *>("fake_hba"), MUTEX_DRIVER, nullptr);
  s.hba_mu_init = true;
  auto fail = [&] {
    if (tran != nullptr) {
      scsi_hba_tran_free(tran);
    }
    mutex_destroy(&s.hba_mu);
    s.hba_mu_init = false;
    ddi_taskq_destroy(s.tq);
    s.tq = nullptr;
    return DDI_FAILURE;
  };
  if (tran == nullptr) {
    return fail();
  }
  tran->tran_hba_private = &s;
  // The packet cache is the HBA's: scsi_hba_attach_setup creates it when tran_setup_pkt is set.
  tran->tran_setup_pkt = fake_setup_pkt;
  tran->tran_teardown_pkt = fake_teardown_pkt;
  tran->tran_pkt_constructor = fake_pkt_ctor;
  tran->tran_pkt_destructor = fake_pkt_dtor;
  tran->tran_hba_len = sizeof(Cmd);
  ddi_dma_attr_t attr;
  {
    std::lock_guard<std::mutex> g(s.mu);
    attr = s.cfg.dma_attr;
  }
  if (scsi_hba_attach_setup(dip, &attr, tran,
                            SCSI_HBA_HBA | SCSI_HBA_ADDR_COMPLEX | SCSI_HBA_TRAN_CDB |
                                SCSI_HBA_TRAN_SCB) != DDI_SUCCESS) {
    return fail();
  }
  if (scsi_hba_iport_register(dip, const_cast<char *>("iport0")) != DDI_SUCCESS) {
    (void)scsi_hba_detach(dip);
    return fail();
  }
  s.hba = dip;
  s.hba_tran = tran;
  return DDI_SUCCESS;
}

int fake_detach(dev_info_t *dip, ddi_detach_cmd_t cmd) {
  if (cmd != DDI_DETACH) {
    return DDI_FAILURE;
  }
  State &s = st();
  if (scsi_hba_iport_unit_address(dip) != nullptr) {
    scsi_hba_tgtmap_destroy(s.map);
    s.map = nullptr;
    s.iport = nullptr;
    return DDI_SUCCESS;
  }
  ddi_taskq_wait(s.tq);
  if (scsi_hba_detach(dip) != DDI_SUCCESS) {
    return DDI_FAILURE;
  }
  scsi_hba_tran_free(s.hba_tran);
  s.hba_tran = nullptr;
  ddi_taskq_destroy(s.tq);
  s.tq = nullptr;
  mutex_destroy(&s.hba_mu);
  s.hba_mu_init = false;
  s.hba = nullptr;
  return DDI_SUCCESS;
}

// nulldev/nodev have no parameters; C++ wants the exact vector types.
int fake_identify(dev_info_t *) { return DDI_SUCCESS; }
int fake_probe(dev_info_t *) { return 0; }  // DDI_PROBE_DONTCARE
int fake_reset_dev(dev_info_t *, ddi_reset_cmd_t) { return DDI_FAILURE; }

struct dev_ops fake_ops = {
    DEVO_REV,   0,           ddi_no_info, fake_identify,
    fake_probe, fake_attach, fake_detach, fake_reset_dev,
    nullptr,    nullptr,     nullptr,     ddi_quiesce_not_needed,
};

struct modldrv fake_modldrv = {&mod_driverops, "fake SCSI HBA", &fake_ops};
struct modlinkage fake_modlinkage = {MODREV_1, {&fake_modldrv, nullptr}};

}  // namespace

// ---- test-facing model ----

void reset(const Config &cfg) {
  State &s = st();
  std::lock_guard<std::mutex> g(s.mu);
  s.cfg = cfg;
  if (s.cfg.dma_attr.dma_attr_sgllen == 0) {
    default_attr(&s.cfg.dma_attr);
  }
  s.stats = Stats{};
  s.seen.clear();
  s.activations.clear();
  s.deactivations.clear();
  s.bus.clear();
  s.busy = 0;
  s.hold = false;
}

Config &config() { return st().cfg; }

std::vector<Seen> seen() {
  std::lock_guard<std::mutex> g(st().mu);
  return st().seen;
}

std::vector<std::string> activations() {
  std::lock_guard<std::mutex> g(st().mu);
  return st().activations;
}

std::vector<std::pair<std::string, int>> deactivations() {
  std::lock_guard<std::mutex> g(st().mu);
  return st().deactivations;
}

void set_defects(unsigned defects) {
  std::lock_guard<std::mutex> g(st().mu);
  st().cfg.defects = defects;
}

void set_busy(int n) {
  std::lock_guard<std::mutex> g(st().mu);
  st().busy = n;
}

void set_hold(bool hold) {
  {
    std::lock_guard<std::mutex> g(st().mu);
    st().hold = hold;
  }
  if (!hold && st().tq != nullptr) {
    kick();
  }
}

size_t queued() {
  State &s = st();
  mutex_enter(&s.hba_mu);
  size_t n = s.qlen;
  mutex_exit(&s.hba_mu);
  return n;
}

Stats stats() {
  std::lock_guard<std::mutex> g(st().mu);
  return st().stats;
}

void put_target(const std::string &addr, const Target &t) {
  std::lock_guard<std::mutex> g(st().mu);
  st().bus[addr] = t;
}

void drop_target(const std::string &addr) {
  std::lock_guard<std::mutex> g(st().mu);
  st().bus.erase(addr);
}

void put_lun(const std::string &addr, uint64_t lun, const Lun &l) {
  std::lock_guard<std::mutex> g(st().mu);
  st().bus[addr].luns[lun] = l;
}

void drop_lun(const std::string &addr, uint64_t lun) {
  std::lock_guard<std::mutex> g(st().mu);
  st().bus[addr].luns.erase(lun);
}

void post_unit_attention(const std::string &addr, uint64_t lun, uint8_t key, uint8_t asc,
                         uint8_t ascq) {
  std::lock_guard<std::mutex> g(st().mu);
  st().bus[addr].luns[lun].pending.push_back({key, asc, ascq});
}

std::vector<uint8_t> read_back(const std::string &addr, uint64_t lun, uint64_t lba,
                               uint32_t nblocks) {
  std::lock_guard<std::mutex> g(st().mu);
  Lun &l = st().bus[addr].luns[lun];
  l.data.resize(l.blocks * l.block_size);
  size_t off = lba * l.block_size;
  size_t len = size_t{nblocks} * l.block_size;
  if (off + len > l.data.size()) {
    return {};
  }
  return std::vector<uint8_t>(l.data.begin() + static_cast<long>(off),
                              l.data.begin() + static_cast<long>(off + len));
}

int report_add(const std::string &addr) {
  return scsi_hba_tgtmap_tgt_add(st().map, SCSI_TGT_SCSI_DEVICE, const_cast<char *>(addr.c_str()),
                                 nullptr);
}

int report_remove(const std::string &addr) {
  return scsi_hba_tgtmap_tgt_remove(st().map, SCSI_TGT_SCSI_DEVICE,
                                    const_cast<char *>(addr.c_str()));
}

int report_full_set() {
  std::vector<std::string> addrs;
  {
    std::lock_guard<std::mutex> g(st().mu);
    for (auto &[a, t] : st().bus) {
      addrs.push_back(a);
    }
  }
  if (scsi_hba_tgtmap_set_begin(st().map) != DDI_SUCCESS) {
    return DDI_FAILURE;
  }
  for (const std::string &a : addrs) {
    if (scsi_hba_tgtmap_set_add(st().map, SCSI_TGT_SCSI_DEVICE, const_cast<char *>(a.c_str()),
                                nullptr) != DDI_SUCCESS) {
      (void)scsi_hba_tgtmap_set_flush(st().map);
      return DDI_FAILURE;
    }
  }
  return scsi_hba_tgtmap_set_end(st().map, 0);
}

int report_scan_luns(const std::string &addr) {
  scsi_hba_tgtmap_scan_luns(st().map, const_cast<char *>(addr.c_str()));
  return DDI_SUCCESS;
}

dev_info_t *hba_dip() { return st().hba; }
dev_info_t *iport_dip() { return st().iport; }
scsi_hba_tgtmap_t *tgtmap() { return st().map; }

}  // namespace fake_hba

extern "C" {

int _init(void) {
  int rv = scsi_hba_init(&fake_hba::fake_modlinkage);
  if (rv != 0) {
    return rv;
  }
  rv = mod_install(&fake_hba::fake_modlinkage);
  if (rv != 0) {
    scsi_hba_fini(&fake_hba::fake_modlinkage);
  }
  return rv;
}

int _fini(void) {
  int rv = mod_remove(&fake_hba::fake_modlinkage);
  if (rv == 0) {
    scsi_hba_fini(&fake_hba::fake_modlinkage);
  }
  return rv;
}

int _info(struct modinfo *modinfop) { return mod_info(&fake_hba::fake_modlinkage, modinfop); }

}  // extern "C"
