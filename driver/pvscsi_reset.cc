/*
 * pvscsi: error handling - the watchdog, per-command escalation (abort, device reset, bus
 * reset, adapter restart), tran_abort and tran_reset.
 *
 * Every step runs under the one lock and never waits inside it: a step is sent, and the next
 * one is due when the command is still outstanding after its wait. A command's context stays
 * reserved until the device completes it (or an adapter reset makes the device forget it), so
 * a late completion can never land on a new command.
 */
#include <sys/sdt.h>
#include <sys/ddifm.h>

#include "pvscsi.h"

namespace pvscsi {

/* The three recovery commands. Lock held (command-register sequences are serialized). */
uint32_t send_abort(pvscsi_softc *sc, const pvscsi_cmd *cmd) {
  sc->stats.aborts++;
  return pvscsi_command<hw::CmdAbortCmd>(
      sc, hw::CmdDescAbortCmd().set_context(cmd->ctx).set_target(cmd->target));
}

uint32_t send_device_reset(pvscsi_softc *sc, uint32_t target, uint64_t lun) {
  sc->stats.device_resets++;
  DTRACE_PROBE2(pvscsi__reset, pvscsi_softc *, sc, int, RESET_TARGET);
  return pvscsi_command<hw::CmdResetDevice>(
      sc, hw::CmdDescResetDevice().set_target(target).set_lun(hw::SamLun::from_lun64(lun)));
}

uint32_t send_bus_reset(pvscsi_softc *sc) {
  sc->stats.bus_resets++;
  DTRACE_PROBE2(pvscsi__reset, pvscsi_softc *, sc, int, RESET_ALL);
  return pvscsi_command<hw::CmdResetBus>(sc);
}

/* RESET_DEVICE names one LUN: a target is reset LUN by LUN, each LUN with a node (LUN 0 when
 * none has one yet). Lock held. */
bool reset_target(pvscsi_softc *sc, uint32_t target) {
  bool ok = true, any = false;
  for (pvscsi_lun *l = sc->luns; l != nullptr; l = l->next)
    if (l->target == target) {
      any = true;
      ok = pvscsi_command_ok(send_device_reset(sc, target, l->lun)) && ok;
    }
  return any ? ok : pvscsi_command_ok(send_device_reset(sc, target, 0));
}

/* A reset covers every overdue command of its target (kMaxTargets: of the bus), so they all
 * take the step together and wait for it once: N overdue commands of a target cost N aborts,
 * but one target reset, and one bus reset. Lock held. */
void advance(pvscsi_softc *sc, uint32_t target, Step to) {
  hrtime_t deadline = gethrtime() + kResetWaitNsec;
  for (uint32_t i = 0; i < sc->req_entries; i++) {
    pvscsi_cmd *cmd = sc->ctx_table[i];
    if (cmd == nullptr || cmd->step == Step::kNone || cmd->step >= to) continue;
    if (target != kMaxTargets && cmd->target != target) continue;
    cmd->step = to;
    if (cmd->deadline != 0) cmd->deadline = deadline;
  }
}

static pvscsi_lun *ap_to_lun(struct scsi_address *ap) {
  return static_cast<pvscsi_lun *>(scsi_device_hba_private_get(scsi_address_device(ap)));
}

/* Take the next escalation step for an overdue command. Lock held. Returns the completions
 * the step produced (a device may complete synchronously). */
pvscsi_cmd *pvscsi_escalate(pvscsi_softc *sc, pvscsi_cmd *cmd) {
  ASSERT(mutex_owned(&sc->lock));
  switch (cmd->step) {
    case Step::kNone:
      sc->stats.timeouts++;
      (void)send_abort(sc, cmd);
      cmd->step = Step::kAbort;
      if (cmd->deadline != 0) cmd->deadline = gethrtime() + kAbortWaitNsec;
      break;
    case Step::kAbort:
      (void)reset_target(sc, cmd->target);
      advance(sc, cmd->target, Step::kDeviceReset);
      break;
    case Step::kDeviceReset:
      (void)send_bus_reset(sc);
      advance(sc, kMaxTargets, Step::kBusReset);
      break;
    case Step::kBusReset:
      return pvscsi_restart_adapter(sc);
  }
  return pvscsi_process_rings(sc);
}

/* Reset the adapter and start over. Lock held. ADAPTER_RESET completes what it can into the
 * old ring; that is drained first, then every command still outstanding is completed exactly
 * once with CMD_RESET (CMD_TIMEOUT if it was overdue), the rings are set up again, and discovery
 * looks at every target (the device drops hotplug messages while its rings are down). */
pvscsi_cmd *pvscsi_restart_adapter(pvscsi_softc *sc) {
  ASSERT(mutex_owned(&sc->lock));
  sc->stats.adapter_resets++;
  DTRACE_PROBE2(pvscsi__reset, pvscsi_softc *, sc, int, -1);
  pvscsi_stop(sc);
  pvscsi_cmd *done = pvscsi_process_rings(sc); /* if it proved bogus, nothing is drained */
  pvscsi_cmd *failed = nullptr, **tail = &failed;
  for (uint32_t i = 0; i < sc->req_entries; i++) {
    pvscsi_cmd *cmd = sc->ctx_table[i];
    if (cmd == nullptr) continue;
    cmd->host_status = hw::HostStatus::kBusreset;
    if (cmd->pkt != nullptr) pvscsi_fail_pkt(cmd, CMD_RESET, STAT_BUS_RESET, 0);
    pvscsi_retire(sc, cmd, &tail);
  }
  pvscsi_append(&done, failed);
  sc->restart_needed = false;
  if (pvscsi_setup_rings(sc) != DDI_SUCCESS) {
    /* Nothing more can be sent; every new command fails rather than hangs. */
    sc->dead = true;
    dev_err(sc->dip, CE_WARN, ce_fmt("!adapter did not accept its rings after a reset"));
    return done;
  }
  sc->rescan_all = true;
  pvscsi_schedule_task(sc);
  return done;
}

/* Periodic: reap completions whose interrupt was lost, escalate overdue commands, retry
 * discovery work whose dispatch failed, kick a device that stopped polling, and report the
 * service restored after a period without a bad value from the device. */
void pvscsi_watchdog(void *arg) {
  auto *sc = static_cast<pvscsi_softc *>(arg);
  LockGuard g(&sc->lock); /* the completions are called back once it is dropped */
  if (sc->detaching) return;
  g.done = pvscsi_service(sc);
  hrtime_t now = gethrtime();
  for (uint32_t i = 0; i < sc->req_entries; i++) {
    pvscsi_cmd *cmd = sc->ctx_table[i];
    if (cmd != nullptr && cmd->deadline != 0 && now > cmd->deadline)
      pvscsi_append(&g.done, pvscsi_escalate(sc, cmd));
  }
  pvscsi_cfg_retry_tick(sc);
  if (pvscsi_discovery_work(sc)) pvscsi_schedule_task(sc);
  if (sc->use_threshold) {
    /* Requests pending and none consumed for a whole period: the device stopped polling. */
    uint32_t cons = pvscsi_rings_state(sc, true)->req_cons_idx();
    if (cons != sc->req_prod && cons == sc->wd_req_cons) {
      RegIo io{sc};
      hw::KickRwIo::ring(io);
      sc->stats.kicks_rw++;
    }
    sc->wd_req_cons = cons;
  }
  if (sc->degraded && !sc->dead && sc->stats.bogus == sc->wd_bogus) {
    sc->degraded = false;
    ddi_fm_service_impact(sc->dip, DDI_SERVICE_RESTORED);
  }
  sc->wd_bogus = sc->stats.bogus;
  sc->watchdog = 0;
  if (sc->ctx_nfree != sc->req_entries || pvscsi_discovery_work(sc) || sc->cfg_wait != 0 ||
      (sc->degraded && !sc->dead))
    pvscsi_arm_watchdog(sc);
}

/* The watchdog runs only while there is something to watch (as the 2022 driver's timer):
 * commands outstanding, recorded discovery work, a target waiting to be reported again, or a
 * degraded service. Lock held. */
void pvscsi_arm_watchdog(pvscsi_softc *sc) {
  if (sc->watchdog == 0 && !sc->detaching)
    sc->watchdog = timeout(pvscsi_watchdog, sc, drv_usectohz(kWatchdogUsec));
}

/* Abort one packet, or every packet of the LUN when pkt is NULL. */
int pvscsi_tran_abort(struct scsi_address *ap, struct scsi_pkt *pkt) {
  auto *sc = static_cast<pvscsi_softc *>(ap->a_hba_tran->tran_hba_private);
  pvscsi_lun *lun = ap_to_lun(ap);
  if (lun == nullptr) return 0;
  int rc = 1;
  LockGuard g(&sc->lock);
  for (uint32_t i = 0; i < sc->req_entries; i++) {
    pvscsi_cmd *cmd = sc->ctx_table[i];
    if (cmd == nullptr || cmd->pkt == nullptr) continue;
    if (pkt != nullptr ? cmd->pkt == pkt : (cmd->target == lun->target && cmd->lun == lun->lun))
      if (!pvscsi_command_ok(send_abort(sc, cmd))) rc = 0;
  }
  g.done = pvscsi_process_rings(sc); /* called back once the lock is dropped */
  return rc;
}

int pvscsi_tran_reset(struct scsi_address *ap, int level) {
  auto *sc = static_cast<pvscsi_softc *>(ap->a_hba_tran->tran_hba_private);
  pvscsi_lun *lun = ap_to_lun(ap);
  bool ok;
  if (lun == nullptr && level != RESET_ALL) return 0;
  LockGuard g(&sc->lock);
  if (level == RESET_LUN) /* offered through the "lun-reset" capability */
    ok = pvscsi_command_ok(send_device_reset(sc, lun->target, lun->lun));
  else if (level == RESET_TARGET)
    ok = reset_target(sc, lun->target);
  else if (level == RESET_ALL)
    ok = pvscsi_command_ok(send_bus_reset(sc));
  else
    return 0;
  g.done = pvscsi_process_rings(sc); /* called back once the lock is dropped */
  return ok ? 1 : 0;
}

}  // namespace pvscsi
