/*
 * pvscsi: the I/O path - packet set-up, request submission with the request-call threshold,
 * completion ring processing, status mapping, interrupts and polled I/O.
 */
#include <sys/sdt.h>

#include "pvscsi.h"

namespace pvscsi {

/* Per-command SG list + sense buffer: 2 KiB aligned so the SG list never crosses a page. */
constexpr ddi_dma_attr_t pvscsi_cmd_dma_attr = pvscsi_dma_attr(kSgListBytes);

namespace {

constexpr uint_t kStateCompleted =
    STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD | STATE_GOT_STATUS;

pvscsi_cmd *pkt_to_cmd(struct scsi_pkt *pkt) {
  return static_cast<pvscsi_cmd *>(pkt->pkt_ha_private);
}

pvscsi_softc *ap_to_softc(struct scsi_address *ap) {
  return static_cast<pvscsi_softc *>(ap->a_hba_tran->tran_hba_private);
}

/* READ and WRITE go through KICK_RW_IO and honour the threshold; all else KICK_NON_RW_IO.
 * Their opcodes (08 0A 28 2A 88 8A A8 AA) are exactly those matching 0x08 under mask 0x5D. */
bool is_read_write(uint8_t op) { return (op & 0x5D) == 0x08; }

/* Write the request descriptor for cmd into ring slot idx. */
void build_request(pvscsi_softc *sc, pvscsi_cmd *cmd, uint32_t idx) {
  auto *d = reinterpret_cast<hw::RingReqDesc *>(sc->req_ring.kaddr + idx * hw::RingReqDesc::kSize);
  /* Every field is written each time; the bytes no field covers were zeroed at ring set-up. */
  struct scsi_pkt *pkt = cmd->pkt;
  uint_t n = (pkt != nullptr) ? pkt->pkt_numcookies : 0;
  uint64_t addr = 0;
  /* The direction is always set, whatever the number of cookies. */
  hw::RequestFlag flags = n == 0                                ? hw::RequestFlag::kDirNone
                          : (pkt->pkt_dma_flags & DDI_DMA_READ) ? hw::RequestFlag::kDirToHost
                                                                : hw::RequestFlag::kDirToDevice;
  if (n == 1) {
    addr = pkt->pkt_cookies[0].dmac_laddress;
  } else if (n > 1) {
    auto *sg = reinterpret_cast<hw::SgElement *>(cmd->dma.kaddr);
    for (uint_t i = 0; i < n; i++)
      sg[i]
          .set_addr(pkt->pkt_cookies[i].dmac_laddress)
          .set_length(uint32_t(pkt->pkt_cookies[i].dmac_size))
          .set_flags(hw::SgFlag{});
    pvscsi_sync(cmd->dma, 0, n * hw::SgElement::kSize, DDI_DMA_SYNC_FORDEV);
    addr = cmd->dma.paddr;
    flags |= hw::RequestFlag::kWithSgList;
  }
  d->set_context(cmd->ctx)
      .set_data_addr(addr)
      .set_data_len(n != 0 ? pkt->pkt_dma_len : 0)
      .set_sense_addr(cmd->dma.paddr + kSgListBytes)
      .set_sense_len(kSenseBufLen)
      .set_flags(flags)
      .set_cdb_len(cmd->cdblen)
      .set_tag(cmd->tag)
      .set_bus(0)
      .set_target(uint8_t(cmd->target))
      .set_cdb_from(cmd->cdb, cmd->cdblen)
      .set_lun(hw::SamLun::from_lun64(cmd->lun));
  pvscsi_sync(sc->req_ring, off_t(idx) * hw::RingReqDesc::kSize, hw::RingReqDesc::kSize,
              DDI_DMA_SYNC_FORDEV);
}

/* Doorbells: only when the device asks for them (request-call threshold) or cannot poll. Lock
 * held; the doorbell is rung once the lock is dropped (pvscsi_ring), so neither the interrupt
 * handler nor another submitter waits for a register write (a VM exit). */
Doorbell doorbell(pvscsi_softc *sc, uint8_t opcode) {
  if (!is_read_write(opcode)) {
    sc->stats.kicks_non_rw++;
    return Doorbell::kNonRw;
  }
  if (sc->use_threshold) {
    hw::RingsState *rs = pvscsi_rings_state(sc, true);
    uint32_t pending = sc->req_prod - rs->req_cons_idx();
    uint32_t threshold = rs->req_call_threshold();
    /* "Kick when reqProdIdx - reqConsIdx >= reqCallThreshold"; a nonsensical value kicks. */
    if (pending <= sc->req_entries && threshold != 0 && threshold <= sc->req_entries &&
        pending < threshold) {
      sc->stats.kicks_saved++;
      return Doorbell::kNone;
    }
  }
  sc->stats.kicks_rw++;
  return Doorbell::kRw;
}

void set_arq(pvscsi_cmd *cmd, uint32_t sense_len) {
  struct scsi_pkt *pkt = cmd->pkt;
  constexpr size_t kSenseAt = __builtin_offsetof(struct scsi_arq_status, sts_sensedata);
  if (sense_len == 0 || size_t(pkt->pkt_scblen) < sizeof(struct scsi_arq_status)) return;
  size_t room = size_t(pkt->pkt_scblen) - kSenseAt;
  size_t len = sense_len < kSenseBufLen ? sense_len : kSenseBufLen;
  if (len > room) len = room;
  pvscsi_sync(cmd->dma, kSgListBytes, len, DDI_DMA_SYNC_FORKERNEL);
  auto *arq = reinterpret_cast<struct scsi_arq_status *>(pkt->pkt_scbp);
  bcopy(cmd->dma.kaddr + kSgListBytes, &arq->sts_sensedata, len);
  arq->sts_rqpkt_reason = CMD_CMPLT;
  arq->sts_rqpkt_state = kStateCompleted | STATE_XFERRED_DATA;
  arq->sts_rqpkt_resid = ssize_t(room - len);
  arq->sts_rqpkt_statistics = 0;
  pkt->pkt_state |= STATE_ARQ_DONE;
}

/* Host statuses that end a command before it reached a SCSI status, as the target sees them. */
constexpr struct {
  hw::HostStatus host;
  uchar_t reason;
  uint_t stat;
} kHostMap[] = {
    {hw::HostStatus::kSeltimeo, CMD_DEV_GONE, 0},
    {hw::HostStatus::kAbortqueue, CMD_ABORTED, STAT_ABORTED},
    {hw::HostStatus::kBusreset, CMD_RESET, STAT_BUS_RESET},
    {hw::HostStatus::kSentrst, CMD_RESET, STAT_DEV_RESET},
    {hw::HostStatus::kRecvrst, CMD_RESET, STAT_DEV_RESET},
    {hw::HostStatus::kHatimeout, CMD_TIMEOUT, STAT_TIMEOUT},
    {hw::HostStatus::kBusfree, CMD_UNX_BUS_FREE, 0},
    {hw::HostStatus::kTagreject, CMD_TAG_REJECT, 0},
    {hw::HostStatus::kBadmsg, CMD_BADMSG, 0},
    {hw::HostStatus::kScsiparity, CMD_TRAN_ERR, STAT_PERR},
};

/* Map the device's host and SCSI status onto the packet (tran_start zeroed resid and stats).
 * dataLen 0 means "unknown" (QEMU): only 0 < dataLen < requested is a short transfer, except
 * after CHECK CONDITION, where no dataLen means nothing moved. */
void finish_pkt(pvscsi_cmd *cmd, const hw::RingCmpDesc &c) {
  struct scsi_pkt *pkt = cmd->pkt;
  hw::HostStatus host = c.host_status(); /* any value: one not in kHostMap is a TRAN_ERR */
  uint64_t moved = c.data_len() < pkt->pkt_dma_len ? c.data_len() : pkt->pkt_dma_len;
  if (host == hw::HostStatus::kSuccess || host == hw::HostStatus::kLinkedCommandCompleted ||
      host == hw::HostStatus::kLinkedCommandCompletedWithFlag ||
      host == hw::HostStatus::kDataUnderrun || host == hw::HostStatus::kDatarun) {
    bool check = c.scsi_status() == hw::ScsiStatus::kCheckCondition;
    pkt->pkt_reason = CMD_CMPLT;
    pkt->pkt_state = kStateCompleted;
    if (pkt->pkt_dma_len != 0 && (moved != 0 || !check)) pkt->pkt_state |= STATE_XFERRED_DATA;
    if (moved != 0 || check) pkt->pkt_resid = ssize_t(pkt->pkt_dma_len - moved);
    *pkt->pkt_scbp = uint8_t(c.scsi_status_raw()); /* the status byte, as the target sent it */
    if (check) set_arq(cmd, c.sense_len());
    return;
  }
  uchar_t reason = CMD_TRAN_ERR; /* anything else is a transport error */
  uint_t stat = 0;
  for (const auto &m : kHostMap)
    if (m.host == host) reason = m.reason, stat = m.stat;
  pvscsi_fail_pkt(cmd, reason, stat, moved);
}

}  // namespace

/* A command that ended without a SCSI status. One the driver timed out, and aborted or reset
 * for that, completes as CMD_TIMEOUT: sd treats the command that caused a recovery so, and its
 * innocent victims (CMD_RESET, CMD_ABORTED) apart (sd.c: sd_pkt_reason_cmd_reset). Nothing was
 * transferred but what the device reported. */
void pvscsi_fail_pkt(pvscsi_cmd *cmd, uchar_t reason, uint_t stat, uint64_t moved) {
  struct scsi_pkt *pkt = cmd->pkt;
  bool timed_out = cmd->step != Step::kNone && (reason == CMD_ABORTED || reason == CMD_RESET);
  pkt->pkt_reason = timed_out ? uchar_t(CMD_TIMEOUT) : reason;
  pkt->pkt_statistics = stat | (timed_out ? STAT_TIMEOUT : 0);
  pkt->pkt_state = reason == CMD_DEV_GONE ? uint_t(STATE_GOT_BUS)
                                          : STATE_GOT_BUS | STATE_GOT_TARGET | STATE_SENT_CMD;
  pkt->pkt_resid = ssize_t(pkt->pkt_dma_len - moved);
}

/* Release the context and record the completion; polled and internal commands are not listed. */
void pvscsi_retire(pvscsi_softc *sc, pvscsi_cmd *cmd, pvscsi_cmd ***tail) {
  uint16_t slot = uint16_t(uint16_t(cmd->ctx) - 1);
  sc->ctx_table[slot] = nullptr;
  sc->ctx_free[sc->ctx_nfree++] = slot;
  cmd->ctx = 0;
  cmd->done = true;
  DTRACE_PROBE2(pvscsi__complete, pvscsi_softc *, sc, struct scsi_pkt *, cmd->pkt);
  if (cmd->pkt != nullptr && !(cmd->pkt->pkt_flags & FLAG_NOINTR)) {
    cmd->next = nullptr;
    **tail = cmd;
    *tail = &cmd->next;
  }
}

int pvscsi_pkt_constructor(struct scsi_pkt *pkt, scsi_hba_tran_t *tran, int kmflag) {
  auto *sc = static_cast<pvscsi_softc *>(tran->tran_hba_private);
  pvscsi_cmd *cmd = pkt_to_cmd(pkt);
  bzero(cmd, sizeof(*cmd)); /* tran_setup_pkt sets cmd->pkt */
  int rc = pvscsi_dma_alloc(sc, &cmd->dma, kCmdDmaBytes, &pvscsi_cmd_dma_attr, kmflag);
  return rc == DDI_SUCCESS ? 0 : -1;
}

void pvscsi_pkt_destructor(struct scsi_pkt *pkt, scsi_hba_tran_t *) {
  pvscsi_dma_free(&pkt_to_cmd(pkt)->dma);
}

/* Runs before the framework binds the data (so no cookies yet); all else was preallocated, and
 * the rest of the command is set by tran_start. */
int pvscsi_tran_setup_pkt(struct scsi_pkt *pkt, int (*)(caddr_t), caddr_t) {
  pkt_to_cmd(pkt)->pkt = pkt;
  return 0;
}

void pvscsi_tran_teardown_pkt(struct scsi_pkt *) {}

/* Queue one command. Lock held. The only busy condition is a full ring: contexts are as many
 * as ring slots, and a slot's context is reused only once the device completed it. */
int pvscsi_submit(pvscsi_softc *sc, pvscsi_cmd *cmd, Doorbell *bell) {
  ASSERT(mutex_owned(&sc->lock));
  if (sc->dead) return TRAN_FATAL_ERROR;
  if (sc->ctx_nfree == 0 || sc->restart_needed) {
    sc->stats.busy++;
    return TRAN_BUSY;
  }
  uint16_t slot = sc->ctx_free[--sc->ctx_nfree];
  sc->ctx_table[slot] = cmd;
  /* Slot + 1 in the low 16 bits, a per-submission tag (1..65535) above: a stale or replayed
   * completion of a reused slot is rejected (found by fuzzing), and so is any small value such
   * as a zeroed or garbage context (the tag is never 0: found by the chaos soak). */
  if (++sc->next_tag == 0) sc->next_tag = 1;
  cmd->ctx = uint32_t(sc->next_tag) << 16 | (slot + 1u);
  cmd->done = false;
  cmd->step = Step::kNone;
  build_request(sc, cmd, sc->req_prod & (sc->req_entries - 1));
  sc->req_prod++;
  pvscsi_rings_state(sc)->set_req_prod_idx(sc->req_prod);
  pvscsi_sync(sc->rings_state, hw::RingsState::kReqProdIdxSpan, DDI_DMA_SYNC_FORDEV);
  sc->stats.commands++;
  pvscsi_arm_watchdog(sc);
  DTRACE_PROBE2(pvscsi__submit, pvscsi_softc *, sc, struct scsi_pkt *, cmd->pkt);
  *bell = doorbell(sc, cmd->cdb[0]);
  return TRAN_ACCEPT;
}

/* Queue one command under the lock; ring its doorbell once the lock is dropped. */
int pvscsi_start(pvscsi_softc *sc, pvscsi_cmd *cmd) {
  Doorbell bell = Doorbell::kNone;
  int rc;
  {
    LockGuard g(&sc->lock);
    rc = pvscsi_submit(sc, cmd, &bell);
  }
  RegIo io{sc};
  if (bell == Doorbell::kRw) hw::KickRwIo::ring(io);
  if (bell == Doorbell::kNonRw) hw::KickNonRwIo::ring(io);
  return rc;
}

int pvscsi_tran_start(struct scsi_address *ap, struct scsi_pkt *pkt) {
  pvscsi_softc *sc = ap_to_softc(ap);
  pvscsi_cmd *cmd = pkt_to_cmd(pkt);
  auto *lun = static_cast<pvscsi_lun *>(scsi_device_hba_private_get(scsi_address_device(ap)));
  /* dma_attr_sgllen bounds the cookies; the SG list in cmd->dma holds no more than that. The
   * device moves data one way per request: a bidirectional packet cannot be sent. */
  if (lun == nullptr || pkt->pkt_cdblen > hw::RingReqDesc::kCdbCount ||
      pkt->pkt_numcookies > hw::kMaxSgEntriesPerSegment ||
      (pkt->pkt_dma_flags & DDI_DMA_RDWR) == DDI_DMA_RDWR)
    return TRAN_BADPKT;

  pkt->pkt_reason = CMD_CMPLT;
  pkt->pkt_state = 0;
  pkt->pkt_statistics = 0;
  pkt->pkt_resid = 0;
  *pkt->pkt_scbp = 0;
  cmd->target = lun->target;
  cmd->lun = lun->lun;
  cmd->cdb = pkt->pkt_cdbp;
  cmd->cdblen = uint8_t(pkt->pkt_cdblen);
  /* FLAG_HEAD asks for the head of the queue: the device's head-of-queue tag. */
  cmd->tag = ((pkt->pkt_flags & (FLAG_HTAG | FLAG_HEAD)) ? hw::Tag::kHeadOfQueue
              : (pkt->pkt_flags & FLAG_OTAG)             ? hw::Tag::kOrdered
                                                         : hw::Tag::kSimple);
  bool polled = (pkt->pkt_flags & FLAG_NOINTR) != 0;
  /* pkt_time 0 means no timeout; polled commands keep their own clock. */
  cmd->deadline =
      (pkt->pkt_time > 0 && !polled) ? gethrtime() + hrtime_t(pkt->pkt_time) * NANOSEC : 0;

  int rc = pvscsi_start(sc, cmd);
  if (rc == TRAN_ACCEPT && polled)
    (void)pvscsi_poll(sc, cmd, pkt->pkt_time > 0 ? pkt->pkt_time : kPollTimeSec);
  return rc;
}

/* Drain the completion ring. Lock held. Returns the interrupt-mode packets to complete once
 * the lock is dropped. Every device-written value is checked before use. */
pvscsi_cmd *pvscsi_process_rings(pvscsi_softc *sc) {
  ASSERT(mutex_owned(&sc->lock));
  pvscsi_cmd *head = nullptr, **tail = &head;
  uint32_t prod = pvscsi_rings_state(sc, true)->cmp_prod_idx();
  uint32_t avail = prod - sc->cmp_cons;
  if (avail > sc->cmp_entries) {
    /* The device's producer index cannot be trusted: start over with fresh rings. */
    pvscsi_report_bogus(sc, "completion producer index", prod);
    sc->restart_needed = true;
    return head;
  }
  /* One sync for the new entries, two when they wrap (a length of 0 would mean all). */
  uint32_t first = sc->cmp_cons & (sc->cmp_entries - 1);
  uint32_t run = avail < sc->cmp_entries - first ? avail : sc->cmp_entries - first;
  if (run != 0)
    pvscsi_sync(sc->cmp_ring, off_t(first) * hw::RingCmpDesc::kSize, run * hw::RingCmpDesc::kSize,
                DDI_DMA_SYNC_FORKERNEL);
  if (avail > run)
    pvscsi_sync(sc->cmp_ring, 0, (avail - run) * hw::RingCmpDesc::kSize, DDI_DMA_SYNC_FORKERNEL);
  for (; avail > 0; avail--, sc->cmp_cons++) {
    uint32_t idx = sc->cmp_cons & (sc->cmp_entries - 1);
    const auto &c = *reinterpret_cast<const hw::RingCmpDesc *>(sc->cmp_ring.kaddr +
                                                               idx * hw::RingCmpDesc::kSize);
    uint64_t ctx = c.context();
    uint32_t slot = uint16_t(ctx) - 1u;
    pvscsi_cmd *cmd = slot < sc->req_entries ? sc->ctx_table[slot] : nullptr;
    if (cmd == nullptr || cmd->ctx != ctx) {
      pvscsi_report_bogus(sc, "completion context", ctx);
      continue;
    }
    cmd->host_status = c.host_status();
    if (cmd->pkt != nullptr) finish_pkt(cmd, c);
    pvscsi_retire(sc, cmd, &tail);
  }
  pvscsi_rings_state(sc)->set_cmp_cons_idx(sc->cmp_cons);
  pvscsi_sync(sc->rings_state, hw::RingsState::kCmpConsIdxSpan, DDI_DMA_SYNC_FORDEV);
  return head;
}

void pvscsi_complete_list(pvscsi_cmd *list) {
  for (pvscsi_cmd *next; list != nullptr; list = next) {
    next = list->next; /* the callback may reuse the packet */
    scsi_hba_pkt_comp(list->pkt);
  }
}

/* Reap completions and messages; restart the adapter if the device proved untrustworthy. */
pvscsi_cmd *pvscsi_service(pvscsi_softc *sc) {
  pvscsi_cmd *done = pvscsi_process_rings(sc);
  if (sc->have_msg_ring) pvscsi_process_msgs(sc);
  if (sc->restart_needed) pvscsi_append(&done, pvscsi_restart_adapter(sc));
  return done;
}

uint_t pvscsi_intr(caddr_t arg1, caddr_t) {
  auto *sc = reinterpret_cast<pvscsi_softc *>(arg1);
  if (sc->intr_type == DDI_INTR_TYPE_FIXED) {
    /* INTx is shared and level-triggered: claim only our causes, and clear them. */
    RegIo io{sc};
    hw::IntrStatus mine = hw::IntrStatus::read(io).known();
    if (mine.value() == 0) return DDI_INTR_UNCLAIMED;
    mine.ack(io);
  }
  LockGuard g(&sc->lock);
  sc->stats.interrupts++;
  g.done = pvscsi_service(sc);
  return DDI_INTR_CLAIMED;
}

/* Wait for a polled or internal command, reaping completions ourselves (crash dumps run with
 * interrupts off). Past its time, escalate with real waits between the steps. An internal
 * command's (a probe's) escalation ends with the reset of its target: DDI_FAILURE leaves it to
 * the device. */
int pvscsi_poll(pvscsi_softc *sc, pvscsi_cmd *cmd, int seconds) {
  hrtime_t deadline = gethrtime() + hrtime_t(seconds) * NANOSEC;
  for (;;) {
    bool finished, give_up = false;
    {
      LockGuard g(&sc->lock);
      g.done = pvscsi_service(sc);
      finished = cmd->done;
      if (!finished && gethrtime() > deadline) {
        give_up = cmd->pkt == nullptr && cmd->step == Step::kDeviceReset;
        if (!give_up) pvscsi_append(&g.done, pvscsi_escalate(sc, cmd));
        deadline = gethrtime() + (cmd->step == Step::kAbort ? kAbortWaitNsec : kResetWaitNsec);
        finished = cmd->done;
      }
    } /* completions are called back here */
    if (finished || give_up) return finished ? DDI_SUCCESS : DDI_FAILURE;
    drv_usecwait(100);
  }
}

int pvscsi_tran_getcap(struct scsi_address *ap, char *cap, int) {
  if (cap == nullptr) return -1;
  switch (scsi_hba_lookup_capstr(cap)) {
    case SCSI_CAP_ARQ:
    case SCSI_CAP_TAGGED_QING:
    case SCSI_CAP_UNTAGGED_QING:
    case SCSI_CAP_LUN_RESET: /* scsi_reset(RESET_LUN) reaches tran_reset only with it */
      return 1;
    case SCSI_CAP_CDB_LEN:
      return int(hw::RingReqDesc::kCdbCount);
    case SCSI_CAP_DMA_MAX:
      return int(ap_to_softc(ap)->data_dma_attr.dma_attr_maxxfer);
    case SCSI_CAP_INTERCONNECT_TYPE:
      return INTERCONNECT_PARALLEL;
    default:
      return -1;
  }
}

int pvscsi_tran_setcap(struct scsi_address *, char *cap, int value, int) {
  if (cap == nullptr) return -1;
  switch (scsi_hba_lookup_capstr(cap)) {
    case SCSI_CAP_ARQ:
    case SCSI_CAP_TAGGED_QING:
    case SCSI_CAP_UNTAGGED_QING:
      return value == 1 ? 1 : 0; /* always on */
    default:
      return -1;
  }
}

}  // namespace pvscsi
