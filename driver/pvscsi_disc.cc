/*
 * pvscsi: discovery and hotplug - the iport and its target map, target probing, the message
 * ring (DEV_ADDED / DEV_REMOVED), and the task that reports changes to the framework.
 *
 * Work found in interrupt context is recorded in per-target bitmaps under the lock and done by
 * a single-threaded taskq; a failed dispatch leaves the bits set for the watchdog to retry, so
 * no notification the device delivered is ever lost.
 */
#include <sys/sdt.h>

#include "pvscsi.h"

namespace pvscsi {
namespace {

constexpr uint8_t kTestUnitReady[6] = {SCMD_TEST_UNIT_READY, 0, 0, 0, 0, 0};
constexpr int kProbeSeconds = 10;
constexpr int kProbeTries = 3;
constexpr uint8_t kCfgRetries = 3;     /* per target, until the device announces it again */
constexpr uint32_t kCfgRetryTicks = 4; /* watchdog ticks: 2 s, then 4 s, then 8 s */

pvscsi_softc *iport_softc(dev_info_t *dip) {
  dev_info_t *parent = ddi_get_parent(dip);
  if (parent == nullptr) return nullptr;
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(parent));
  return tran != nullptr ? static_cast<pvscsi_softc *>(tran->tran_hba_private) : nullptr;
}

/*
 * Is a target there? A polled TEST UNIT READY on LUN 0: selection timeout means absent; any
 * answer from the target (even CHECK CONDITION) means present. Discovery task only.
 * The probe has a budget - its wait, an abort, a reset of the target (pvscsi_poll) - and a
 * target that answers none of them keeps the state it was reported in (was): a target that
 * ignores aborts and resets costs neither a bus reset nor an adapter restart, which would fail
 * every other disk's I/O and start discovery again, forever.
 */
bool probe_target(pvscsi_softc *sc, uint32_t target, bool was) {
  for (int attempt = 0; attempt < kProbeTries; attempt++) {
    pvscsi_cmd *cmd = pvscsi_probe_cmd(sc, target);
    if (cmd == nullptr) return was;
    cmd->target = target; /* LUN 0, no packet, no deadline: zeroed at allocation */
    cmd->cdb = kTestUnitReady;
    cmd->cdblen = sizeof(kTestUnitReady);
    cmd->host_status = hw::HostStatus::kBusreset;
    int rc;
    while ((rc = pvscsi_start(sc, cmd)) == TRAN_BUSY)
      delay(drv_usectohz(1000));         /* the ring is full of real I/O; it drains */
    if (rc != TRAN_ACCEPT) return false; /* the adapter is dead */
    if (pvscsi_poll(sc, cmd, kProbeSeconds) != DDI_SUCCESS || cmd->step != Step::kNone)
      return was; /* no answer in time */
    hw::HostStatus status = cmd->host_status;
    if (status == hw::HostStatus::kSeltimeo) return false;
    /* A reset or abort got in the way: ask again. */
    if (status != hw::HostStatus::kBusreset && status != hw::HostStatus::kAbortqueue &&
        status != hw::HostStatus::kSentrst && status != hw::HostStatus::kRecvrst)
      return true;
  }
  return true;
}

/*
 * Report the recorded changes to the target map. Runs on the taskq, one instance at a time,
 * until no work is left.
 */
void discovery_task(void *arg) {
  auto *sc = static_cast<pvscsi_softc *>(arg);
  for (bool retry_later = false;;) {
    uint8_t pending[kMaxTargets / 8], present[kMaxTargets / 8], rescan[kMaxTargets / 8];
    bool all;
    scsi_hba_tgtmap_t *map;
    uint32_t limit;
    {
      LockGuard g(&sc->lock);
      map = sc->tgtmap;
      all = sc->rescan_all;
      if (!pvscsi_discovery_work(sc) || map == nullptr || retry_later) {
        /* Without an iport the work stays recorded; iport attach rescans everything. Work
         * the framework refused is the watchdog's to dispatch again. */
        sc->task_queued = false;
        if (retry_later) pvscsi_arm_watchdog(sc);
        return;
      }
      bcopy(sc->tgt_pending, pending, sizeof(pending));
      bcopy(sc->tgt_present, present, sizeof(present));
      bcopy(sc->lun_rescan, rescan, sizeof(rescan));
      for (uint32_t i = 0; i < kMaxTargets / 8; i++) sc->tgt_reported[i] &= ~sc->tgt_dropped[i];
      bzero(sc->tgt_dropped, sizeof(sc->tgt_dropped));
      bzero(sc->tgt_pending, sizeof(sc->tgt_pending));
      bzero(sc->lun_rescan, sizeof(sc->lun_rescan));
      sc->rescan_all = false;
      limit = sc->probe_limit > sc->max_targets ? sc->probe_limit : sc->max_targets;
      if (all) sc->stats.rescans++;
    }
    for (uint32_t t = 0; t < kMaxTargets; t++) {
      bool was = bit_test(sc->tgt_reported, t);
      bool now_present = (all && t < limit)     ? probe_target(sc, t, was)
                         : bit_test(pending, t) ? bit_test(present, t)
                         : all                  ? was && probe_target(sc, t, was)
                                                : was;
      char addr[16]; /* target addresses are hex, as tran_tgt_init reads them */
      (void)snprintf(addr, sizeof(addr), "%x", t);
      if (now_present && !was) {
        bool added = scsi_hba_tgtmap_tgt_add(map, SCSI_TGT_SCSI_DEVICE, addr, nullptr) ==
                     DDI_SUCCESS; /* damap_addr_add can fail (DAM_MAPFULL) */
        if (added) bit_set(sc->tgt_reported, t);
        LockGuard g(&sc->lock);
        if (t >= sc->max_targets) sc->max_targets = t + 1;
        /* Keep the work recorded, unless newer news of the target is, for a later pass. */
        if (!added && !bit_test(sc->tgt_pending, t)) {
          bit_set(sc->tgt_pending, t);
          bit_set(sc->tgt_present, t);
          retry_later = true;
        }
      } else if (!now_present && was) {
        (void)scsi_hba_tgtmap_tgt_remove(map, SCSI_TGT_SCSI_DEVICE, addr);
        bit_clear(sc->tgt_reported, t);
      }
      /* A LUN came or went, or the target was replaced (the map may merge its removal and the
       * add that follows into no change at all): enumerate its LUNs again. */
      if (now_present && (bit_test(rescan, t) || bit_test(pending, t)))
        (void)scsi_hba_tgtmap_scan_luns(map, addr);
    }
  }
}

}  // namespace

/* A probe command for target, or NULL when the device still holds one sent to it. Probe
 * commands the device still holds stay listed (cmd->next) and are reused once it gives them
 * back. Discovery task (and attach, for the first one) only. */
pvscsi_cmd *pvscsi_probe_cmd(pvscsi_softc *sc, uint32_t target) {
  pvscsi_cmd *cmd = nullptr;
  {
    LockGuard g(&sc->lock);
    for (pvscsi_cmd *c = sc->probe_cmd; c != nullptr; c = c->next) {
      if (c->ctx != 0 && c->target == target) return nullptr;
      if (c->ctx == 0) cmd = c;
    }
  }
  if (cmd != nullptr) return cmd;
  cmd = static_cast<pvscsi_cmd *>(kmem_zalloc(sizeof(pvscsi_cmd), KM_SLEEP));
  if (pvscsi_dma_alloc(sc, &cmd->dma, kCmdDmaBytes, &pvscsi_cmd_dma_attr, KM_SLEEP) !=
      DDI_SUCCESS) {
    kmem_free(cmd, sizeof(pvscsi_cmd));
    return nullptr;
  }
  cmd->tag = hw::Tag::kSimple;
  LockGuard g(&sc->lock);
  cmd->next = sc->probe_cmd;
  return sc->probe_cmd = cmd;
}

/*
 * Target map deactivation. The map drops a target whose LUN 0 could not be configured (its
 * INQUIRY lost to a reset, say) and tells only us: discovery forgets it (reported gone), and
 * the watchdog reports it again after a while, a few times with growing waits, so a transient
 * failure does not lose the disk until the device announces it again.
 */
boolean_t pvscsi_tgt_deactivate(void *priv, char *addr, scsi_tgtmap_tgt_type_t, void *,
                                scsi_tgtmap_deact_rsn_t rsn) {
  auto *sc = static_cast<pvscsi_softc *>(priv);
  unsigned long t;
  if (rsn != SCSI_TGT_DEACT_RSN_CFG_FAIL || ddi_strtoul(addr, nullptr, 16, &t) != 0 ||
      t >= kMaxTargets)
    return B_FALSE;
  LockGuard g(&sc->lock);
  /* The map no longer has it, whatever the device has announced since: discovery must not
   * take it for reported (an add announced meanwhile would otherwise be taken as done). */
  bit_set(sc->tgt_dropped, uint32_t(t));
  bit_set(sc->tgt_pending, uint32_t(t));
  bit_clear(sc->tgt_present, uint32_t(t));
  pvscsi_schedule_task(sc);
  if (sc->cfg_tries[t] >= kCfgRetries) return B_FALSE;
  bit_set(sc->tgt_cfgfail, uint32_t(t));
  sc->cfg_wait = kCfgRetryTicks << sc->cfg_tries[t]++;
  pvscsi_arm_watchdog(sc); /* it counts the wait down */
  return B_TRUE;
}

/* Watchdog tick, lock held: the wait is over and discovery has forgotten them: report again. */
void pvscsi_cfg_retry_tick(pvscsi_softc *sc) {
  if (sc->cfg_wait == 0 || --sc->cfg_wait > 0) return;
  if (sc->task_queued || pvscsi_discovery_work(sc)) {
    sc->cfg_wait = 1;
    return;
  }
  for (uint32_t i = 0; i < kMaxTargets / 8; i++) {
    sc->tgt_pending[i] |= sc->tgt_cfgfail[i];
    sc->tgt_present[i] |= sc->tgt_cfgfail[i];
    sc->tgt_cfgfail[i] = 0;
  }
}

/* Is there recorded discovery work? Lock held. */
bool pvscsi_discovery_work(const pvscsi_softc *sc) {
  bool work = sc->rescan_all;
  for (uint32_t i = 0; i < kMaxTargets / 8; i++)
    work = work || sc->tgt_pending[i] != 0 || sc->lun_rescan[i] != 0;
  return work;
}

/* Queue the discovery task unless it is queued already. Lock held. */
void pvscsi_schedule_task(pvscsi_softc *sc) {
  ASSERT(mutex_owned(&sc->lock));
  if (sc->task_queued || sc->detaching || sc->tgtmap == nullptr) return;
  if (ddi_taskq_dispatch(sc->taskq, discovery_task, sc, DDI_NOSLEEP) == DDI_SUCCESS)
    sc->task_queued = true;
  else
    pvscsi_arm_watchdog(sc); /* the bits stay set and the watchdog dispatches again */
}

/*
 * Drain the message ring. Lock held. Every message is consumed: hotplug messages become bits
 * of pending work, anything else is counted and skipped.
 */
void pvscsi_process_msgs(pvscsi_softc *sc) {
  ASSERT(mutex_owned(&sc->lock));
  hw::RingsState *rs = pvscsi_rings_state(sc);
  pvscsi_sync(sc->rings_state,
              hw::cover(hw::RingsState::kMsgProdIdxSpan, hw::RingsState::kMsgNumEntriesLog2Span),
              DDI_DMA_SYNC_FORKERNEL);
  uint32_t prod = rs->msg_prod_idx();
  uint32_t avail = prod - sc->msg_cons;
  if (avail > sc->msg_entries) {
    pvscsi_report_bogus(sc, "message producer index", prod);
    sc->restart_needed = true;
    return;
  }
  if (avail == 0) return;
  /* A full ring may have made the device drop messages: look at every target again. */
  if (avail == sc->msg_entries) sc->rescan_all = true;
  for (; avail > 0; avail--, sc->msg_cons++) {
    uint32_t idx = sc->msg_cons & (sc->msg_entries - 1);
    pvscsi_sync(sc->msg_ring, off_t(idx) * hw::RingMsgDesc::kSize, hw::RingMsgDesc::kSize,
                DDI_DMA_SYNC_FORKERNEL);
    const auto &m = *reinterpret_cast<const hw::MsgDevStatusChanged *>(
        sc->msg_ring.kaddr + idx * hw::RingMsgDesc::kSize);
    hw::MsgType type = m.type();
    if (!hw::is_known(type)) { /* DEV_ADDED and DEV_REMOVED */
      sc->stats.unknown_msgs++;
      continue;
    }
    uint32_t target = m.target();
    if (m.bus() != 0 || target >= kMaxTargets) {
      pvscsi_report_bogus(sc, "hotplug target", target);
      continue;
    }
    sc->stats.hotplug_events++;
    sc->cfg_tries[target] = 0; /* a new announcement: no retry pending, a fresh allowance */
    bit_clear(sc->tgt_cfgfail, target);
    bool added = type == hw::MsgType::kDevAdded;
    DTRACE_PROBE3(pvscsi__hotplug, pvscsi_softc *, sc, uint32_t, target, int, added);
    if (!m.lun().is_zero()) { /* a LUN-level change names a non-zero LUN */
      bit_set(sc->lun_rescan, target);
    } else {
      bit_set(sc->tgt_pending, target);
      bit_put(sc->tgt_present, target, added);
    }
  }
  rs->set_msg_cons_idx(sc->msg_cons);
  pvscsi_sync(sc->rings_state, hw::RingsState::kMsgConsIdxSpan, DDI_DMA_SYNC_FORDEV);
  pvscsi_schedule_task(sc);
}

int pvscsi_iport_attach(dev_info_t *dip) {
  pvscsi_softc *sc = iport_softc(dip);
  const char *ua = scsi_hba_iport_unit_address(dip);
  /* The framework's copy of the HBA's tran: its targets' tran_start etc. find us here. */
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(dip));
  if (sc == nullptr || tran == nullptr || ua == nullptr || strcmp(ua, "iport0") != 0)
    return DDI_FAILURE;
  tran->tran_hba_private = sc;
  scsi_hba_tgtmap_t *map;
  if (scsi_hba_tgtmap_create(dip, SCSI_TM_PERADDR, kTgtmapCsyncUsec, kTgtmapSettleUsec, sc, nullptr,
                             pvscsi_tgt_deactivate, &map) != DDI_SUCCESS)
    return DDI_FAILURE;
  bool run_here;
  {
    LockGuard g(&sc->lock);
    sc->tgtmap = map;
    sc->rescan_all = true;
    /* Discover in this thread unless the task is already queued (then it will). */
    run_here = !sc->task_queued;
    sc->task_queued = true;
  }
  if (run_here)
    discovery_task(sc);
  else
    ddi_taskq_wait(sc->taskq);
  return DDI_SUCCESS;
}

int pvscsi_iport_detach(dev_info_t *dip) {
  pvscsi_softc *sc = iport_softc(dip);
  if (sc == nullptr) return DDI_FAILURE;
  scsi_hba_tgtmap_t *map;
  {
    LockGuard g(&sc->lock);
    map = sc->tgtmap;
    sc->tgtmap = nullptr; /* no new discovery work starts */
  }
  ddi_taskq_wait(sc->taskq);
  if (map != nullptr) scsi_hba_tgtmap_destroy(map);
  LockGuard g(&sc->lock);
  bzero(sc->tgt_reported, sizeof(sc->tgt_reported));
  return DDI_SUCCESS;
}

/* A LUN node is being created: remember its target (as reported: hex) and 64-bit LUN. */
int pvscsi_tran_tgt_init(dev_info_t *dip, dev_info_t *, scsi_hba_tran_t *, struct scsi_device *sd) {
  pvscsi_softc *sc = iport_softc(dip);
  char *port;
  unsigned long target;
  if (scsi_device_prop_lookup_string(sd, SCSI_DEVICE_PROP_PATH,
                                     const_cast<char *>(SCSI_ADDR_PROP_TARGET_PORT),
                                     &port) != DDI_PROP_SUCCESS)
    return DDI_FAILURE;
  int rc = ddi_strtoul(port, nullptr, 16, &target);
  scsi_device_prop_free(sd, SCSI_DEVICE_PROP_PATH, port);
  if (rc != 0 || target >= kMaxTargets || sc == nullptr) return DDI_FAILURE;
  auto *l = static_cast<pvscsi_lun *>(kmem_zalloc(sizeof(pvscsi_lun), KM_SLEEP));
  l->target = uint32_t(target);
  l->lun = uint64_t(scsi_device_prop_get_int64(sd, SCSI_DEVICE_PROP_PATH,
                                               const_cast<char *>(SCSI_ADDR_PROP_LUN64), 0));
  scsi_device_hba_private_set(sd, l);
  LockGuard g(&sc->lock);
  l->next = sc->luns;
  sc->luns = l;
  return DDI_SUCCESS;
}

void pvscsi_tran_tgt_free(dev_info_t *dip, dev_info_t *, scsi_hba_tran_t *,
                          struct scsi_device *sd) {
  pvscsi_softc *sc = iport_softc(dip);
  auto *l = static_cast<pvscsi_lun *>(scsi_device_hba_private_get(sd));
  if (l == nullptr) return; /* else tgt_init found the softc */
  scsi_device_hba_private_set(sd, nullptr);
  {
    LockGuard g(&sc->lock);
    pvscsi_lun **pp = &sc->luns;
    while (*pp != l) pp = &(*pp)->next;
    *pp = l->next;
  }
  kmem_free(l, sizeof(pvscsi_lun));
}

}  // namespace pvscsi
