// Target maps (scsi_hba_tgtmap_create(9F) and friends) and LUN configuration: when a reported
// target settles, the framework activates it, enumerates its LUNs with REPORT LUNS (LUN 0 when
// REPORT LUNS is not supported), runs tran_tgt_init(9E) per LUN, probes it with INQUIRY and
// onlines it; a removal offlines the LUNs and calls tran_tgt_free(9E). Rescans (scan_luns, or
// a REPORTED LUNS DATA HAS CHANGED unit attention) re-enumerate. All configuration work runs
// on one task queue per map; the settle timers are timeout(9F)s on the kernel clock.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <optional>
#include <thread>

#include "../fk.h"
#include "../fk_impl.h"

#include "lun_list.h"
#include "scsa_impl.h"

namespace fk::scsa {
namespace {

constexpr uint32_t kMapMagic = 0x54474d50;  // "TGMP"

bool valid_map(__scsi_tgtmap *m) {
  std::lock_guard<std::mutex> g(reg().mu);
  return m != nullptr && reg().maps.count(m) != 0 && m->magic == kMapMagic;
}

// ---- synchronous commands issued by the framework itself ----

// The framework's own waits use host primitives: pkt_comp may run in the HBA's interrupt
// handler, where only interrupt-priority kernel mutexes may be entered.
struct SyncReq {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};

void sync_done(scsi_pkt *pkt) {
  SyncReq *req = *static_cast<SyncReq **>(pkt->pkt_private);
  std::lock_guard<std::mutex> g(req->mu);
  req->done = true;
  req->cv.notify_all();
}

struct CmdResult {
  bool transported = false;
  uchar_t reason = CMD_TRAN_ERR;
  uchar_t status = 0;
  bool have_sense = false;
  uchar_t key = 0, asc = 0, ascq = 0;
  size_t resid = 0;
  bool good() const { return transported && reason == CMD_CMPLT && status == STATUS_GOOD; }
};

CmdResult run_once(scsi_device *sd, const uint8_t *cdb, int cdblen, void *data, size_t len) {
  CmdResult res;
  struct buf *bp = nullptr;
  if (len > 0) {
    bp = getrbuf(KM_SLEEP);
    bp->b_un.b_addr = static_cast<caddr_t>(data);
    bp->b_bcount = len;
    bp->b_flags = B_READ;
  }
  scsi_pkt *pkt = scsi_init_pkt(&sd->sd_address, nullptr, bp, cdblen,
                                static_cast<int>(sizeof(struct scsi_arq_status)),
                                static_cast<int>(sizeof(SyncReq *)), 0, SLEEP_FUNC, nullptr);
  if (pkt == nullptr) {
    if (bp != nullptr) {
      freerbuf(bp);
    }
    return res;
  }
  SyncReq req;
  *static_cast<SyncReq **>(pkt->pkt_private) = &req;
  memcpy(pkt->pkt_cdbp, cdb, static_cast<size_t>(cdblen));
  pkt->pkt_comp = sync_done;
  pkt->pkt_time = 10;
  int rv = TRAN_BUSY;
  for (int tries = 0; tries < 1000; tries++) {
    rv = scsi_transport(pkt);
    if (rv != TRAN_BUSY) {
      break;
    }
    delay(drv_usectohz(10000));
  }
  if (rv == TRAN_ACCEPT) {
    {
      std::unique_lock<std::mutex> g(req.mu);
      req.cv.wait(g, [&req] { return req.done; });
    }
    res.transported = true;
    res.reason = pkt->pkt_reason;
    res.status = pkt->pkt_scbp[0] & STATUS_MASK;
    res.resid = static_cast<size_t>(pkt->pkt_resid);
    if (pkt->pkt_state & STATE_ARQ_DONE) {
      const auto *arq = reinterpret_cast<const struct scsi_arq_status *>(pkt->pkt_scbp);
      const auto *s = reinterpret_cast<const uchar_t *>(&arq->sts_sensedata);
      res.have_sense = true;
      res.key = s[2] & 0x0f;
      res.asc = s[12];
      res.ascq = s[13];
    }
  }
  scsi_destroy_pkt(pkt);
  if (bp != nullptr) {
    freerbuf(bp);
  }
  return res;
}

// Retries what sd would retry: busy targets and unit attentions.
CmdResult run_cmd(scsi_device *sd, const uint8_t *cdb, int cdblen, void *data, size_t len) {
  CmdResult res;
  for (int attempt = 0; attempt < 5; attempt++) {
    res = run_once(sd, cdb, cdblen, data, len);
    bool ua = res.transported && res.status == STATUS_CHECK && res.have_sense &&
              res.key == KEY_UNIT_ATTENTION;
    bool busy = res.transported && (res.status == STATUS_BUSY || res.status == STATUS_QFULL);
    if (!ua && !busy) {
      break;
    }
    if (busy) {
      delay(drv_usectohz(10000));
    }
  }
  return res;
}

// REPORT LUNS; false when the target does not support it (or it failed).
bool report_luns(scsi_device *sd, std::vector<uint64_t> *out) {
  size_t len = 8 + 8 * 256;
  for (int pass = 0; pass < 2; pass++) {
    auto *data = static_cast<uint8_t *>(kmem_zalloc(len, KM_SLEEP));
    uint8_t cdb[12] = {SCMD_REPORT_LUNS};
    cdb[6] = static_cast<uint8_t>(len >> 24);
    cdb[7] = static_cast<uint8_t>(len >> 16);
    cdb[8] = static_cast<uint8_t>(len >> 8);
    cdb[9] = static_cast<uint8_t>(len);
    CmdResult res = run_cmd(sd, cdb, sizeof(cdb), data, len);
    ReportLuns parsed;
    std::string err;
    bool ok =
        res.good() && parse_report_luns(data, len - std::min(res.resid, len - 8), &parsed, &err);
    kmem_free(data, len);
    if (!ok) {
      return false;
    }
    if (parsed.truncated && pass == 0) {
      len = 8 + size_t{parsed.list_length};
      continue;
    }
    *out = parsed.luns;
    return true;
  }
  return false;
}

// ---- LUNs ----

// stats() and luns() read the flag under reg().mu from other threads.
void set_online(Lun *l, bool online) {
  std::lock_guard<std::mutex> g(reg().mu);
  l->online = online;
}

void notify(Lun *l, bool online) {
  std::vector<TargetDriver *> drivers;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    drivers = reg().drivers;
  }
  LunInfo info = lun_info(l);
  for (TargetDriver *d : drivers) {
    if (online) {
      d->lun_online(info);
    } else {
      d->lun_offline(info);
    }
  }
}

Lun *create_lun(__scsi_tgtmap *m, const std::string &target, uint64_t lun) {
  scsi_hba_tran_t *tran = m->tran->tran;
  auto *l = new Lun();
  l->map = m;
  l->target = target;
  l->lun = lun;
  l->ua = lun_unit_address(target, lun);
  l->ua_len = l->ua.size() + 1;
  l->ua_cstr = static_cast<char *>(kmem_zalloc(l->ua_len, KM_SLEEP));
  memcpy(l->ua_cstr, l->ua.c_str(), l->ua_len);
  l->dip = node::create_child(m->iport_dip, "disk", l->ua.c_str(), false);
  if (l->dip == nullptr) {
    kmem_free(l->ua_cstr, l->ua_len);
    delete l;
    return nullptr;
  }
  auto *sd = static_cast<scsi_device *>(kmem_zalloc(sizeof(scsi_device), KM_SLEEP));
  l->sd = sd;
  sd->sd_address.a_hba_tran = tran;
  if (tran->tran_hba_flags & SCSI_HBA_ADDR_COMPLEX) {
    sd->sd_address.a.a_sd = sd;
  } else {
    // SPI form: the target address as a number (hex, any leading letters skipped).
    const char *p = target.c_str();
    while (*p != '\0' && !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
      p++;
    }
    sd->sd_address.a_target = static_cast<ushort_t>(strtoul(p, nullptr, 16));
    sd->sd_address.a_lun = static_cast<uchar_t>(lun);
  }
  sd->sd_dev = l->dip;
  mutex_init(&sd->sd_mutex, nullptr, MUTEX_DRIVER, nullptr);
  sd->sd_tran_safe = tran;
  ddi_set_driver_private(l->dip, sd);
  (void)ddi_prop_update_string(DDI_DEV_T_NONE, l->dip, SCSI_ADDR_PROP_TARGET_PORT,
                               const_cast<char *>(target.c_str()));
  (void)ddi_prop_update_int64(DDI_DEV_T_NONE, l->dip, SCSI_ADDR_PROP_LUN64,
                              static_cast<int64_t>(lun));
  (void)ddi_prop_update_int(DDI_DEV_T_NONE, l->dip, SCSI_ADDR_PROP_LUN, static_cast<int>(lun));
  {
    std::lock_guard<std::mutex> g(reg().mu);
    reg().luns[sd] = l;
  }
  if (tran->tran_tgt_init != nullptr &&
      tran->tran_tgt_init(m->iport_dip, l->dip, tran, sd) != DDI_SUCCESS) {
    return l;  // caller sees !tgt_inited and destroys it
  }
  l->tgt_inited = true;
  return l;
}

void destroy_lun(Lun *l) {
  scsi_hba_tran_t *tran = l->map->tran->tran;
  scsi_device *sd = l->sd;
  if (l->online) {
    notify(l, false);
    set_online(l, false);
  }
  check_no_outstanding(l->map->tran, sd, "LUN removal");
  if (l->tgt_inited && tran->tran_tgt_free != nullptr) {
    tran->tran_tgt_free(l->map->iport_dip, l->dip, tran, sd);
  }
  sd->sd_tran_safe = nullptr;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    reg().luns.erase(sd);
  }
  if (sd->sd_inq != nullptr) {
    kmem_free(sd->sd_inq, sizeof(struct scsi_inquiry));
  }
  mutex_destroy(&sd->sd_mutex);
  ddi_set_driver_private(l->dip, nullptr);
  ddi_prop_remove_all(l->dip);
  node::remove(l->dip);
  kmem_free(sd, sizeof(scsi_device));
  kmem_free(l->ua_cstr, l->ua_len);
  delete l;
}

// INQUIRY; true when a logical unit is present at this LUN.
bool probe_lun(Lun *l) {
  scsi_hba_tran_t *tran = l->map->tran->tran;
  if (tran->tran_tgt_probe != nullptr) {
    return tran->tran_tgt_probe(l->sd, nullptr) == SCSIPROBE_EXISTS;
  }
  return scsi_hba_probe(l->sd, nullptr) == SCSIPROBE_EXISTS;
}

void online_lun(Lun *l) {
  set_online(l, true);
  notify(l, true);
}

void configure_luns(__scsi_tgtmap *m, Target *tg, const std::vector<uint64_t> &wanted,
                    Lun *probe0) {
  std::vector<Lun *> fresh;
  bool keep0 = std::find(wanted.begin(), wanted.end(), 0) != wanted.end();
  for (uint64_t lun : wanted) {
    if (tg->luns.count(lun) != 0) {
      continue;
    }
    Lun *l = (lun == 0 && probe0 != nullptr) ? probe0 : create_lun(m, tg->addr, lun);
    if (l == nullptr) {
      continue;
    }
    if (!l->tgt_inited || !probe_lun(l)) {
      destroy_lun(l);
      if (l == probe0) {
        probe0 = nullptr;
      }
      continue;
    }
    if (l == probe0) {
      probe0 = nullptr;
    }
    tg->luns[lun] = l;
    fresh.push_back(l);
  }
  if (probe0 != nullptr && !keep0) {
    destroy_lun(probe0);
  }
  for (Lun *l : fresh) {
    online_lun(l);
  }
}

// The LUNs a target reports, through an existing LUN 0 or a probe LUN 0 (left in *probe0).
std::vector<uint64_t> enumerate(__scsi_tgtmap *m, Target *tg, Lun **probe0) {
  *probe0 = nullptr;
  Lun *via = nullptr;
  auto it = tg->luns.find(0);
  if (it != tg->luns.end()) {
    via = it->second;
  } else {
    via = create_lun(m, tg->addr, 0);
    if (via == nullptr) {
      return {};
    }
    if (!via->tgt_inited) {
      destroy_lun(via);
      return {};
    }
    *probe0 = via;
  }
  std::vector<uint64_t> luns;
  if (!report_luns(via->sd, &luns)) {
    luns = {0};  // REPORT LUNS not supported: LUN 0 only
  }
  return luns;
}

void config_target(__scsi_tgtmap *m, const std::string &addr, int type, void *priv) {
  auto *tg = new Target{addr, type, priv, {}};
  m->targets[addr] = tg;
  if (type != SCSI_TGT_SCSI_DEVICE) {
    return;
  }
  Lun *probe0 = nullptr;
  std::vector<uint64_t> luns = enumerate(m, tg, &probe0);
  configure_luns(m, tg, luns, probe0);
}

void rescan_target(__scsi_tgtmap *m, Target *tg) {
  reg().rescans++;
  Lun *probe0 = nullptr;
  std::vector<uint64_t> luns = enumerate(m, tg, &probe0);
  // Gone LUNs first, then new ones.
  for (auto it = tg->luns.begin(); it != tg->luns.end();) {
    if (std::find(luns.begin(), luns.end(), it->first) == luns.end()) {
      destroy_lun(it->second);
      it = tg->luns.erase(it);
    } else {
      ++it;
    }
  }
  configure_luns(m, tg, luns, probe0);
}

void deconfig_target(__scsi_tgtmap *m, const std::string &addr, scsi_tgtmap_deact_rsn_t why) {
  auto it = m->targets.find(addr);
  if (it == m->targets.end()) {
    return;
  }
  Target *tg = it->second;
  m->targets.erase(it);
  for (auto &[lun, l] : tg->luns) {
    destroy_lun(l);
  }
  if (m->deactivate != nullptr) {
    (void)m->deactivate(m->priv, const_cast<char *>(addr.c_str()),
                        static_cast<scsi_tgtmap_tgt_type_t>(tg->type), tg->priv, why);
  }
  delete tg;
}

void arm_locked(__scsi_tgtmap *m);

void process(void *arg) {
  auto *m = static_cast<__scsi_tgtmap *>(arg);
  std::vector<TgtMapState::Action> actions;
  std::set<std::string> rescans;
  {
    std::lock_guard<std::mutex> g(m->mu);
    if (!m->destroying) {
      actions = m->state.expire(gethrtime());
      rescans.swap(m->rescan);
    }
  }
  for (const TgtMapState::Action &a : actions) {
    if (a.kind == TgtMapState::Action::Kind::kDeactivate) {
      deconfig_target(m, a.addr, SCSI_TGT_DEACT_RSN_GONE);
    } else {
      void *priv = a.priv;
      if (m->activate != nullptr) {
        m->activate(m->priv, const_cast<char *>(a.addr.c_str()),
                    static_cast<scsi_tgtmap_tgt_type_t>(a.type), &priv);
      }
      {
        std::lock_guard<std::mutex> g(m->mu);
        m->state.set_priv(a.addr, priv);
      }
      config_target(m, a.addr, a.type, priv);
    }
  }
  for (const std::string &addr : rescans) {
    auto it = m->targets.find(addr);
    if (it != m->targets.end()) {
      rescan_target(m, it->second);
    }
  }
  reg().generation++;
  std::lock_guard<std::mutex> g(m->mu);
  m->queued--;
  arm_locked(m);
  m->idle_cv.notify_all();
}

void dispatch_locked(__scsi_tgtmap *m) {
  if (m->destroying) {
    return;
  }
  m->queued++;
  m->jobs++;
  m->work_cv.notify_one();
}

void worker_main(__scsi_tgtmap *m) {
  std::unique_lock<std::mutex> lk(m->mu);
  for (;;) {
    m->work_cv.wait(lk, [m] { return m->stop_worker || m->jobs > 0; });
    if (m->jobs == 0) {
      return;  // stopping, nothing left
    }
    m->jobs--;
    lk.unlock();
    process(m);
    lk.lock();
  }
}

void timer_fire(void *arg) {
  auto *m = static_cast<__scsi_tgtmap *>(arg);
  std::lock_guard<std::mutex> g(m->mu);
  m->timer_armed = false;
  m->timer = nullptr;
  dispatch_locked(m);
}

// Arms the settle timer for the earliest pending deadline (every new deadline is later than
// the ones already pending, so one timer is enough).
void arm_locked(__scsi_tgtmap *m) {
  if (m->destroying || m->timer_armed || m->queued > 0) {
    return;
  }
  int64_t deadline = m->state.next_deadline();
  if (deadline < 0) {
    return;
  }
  int64_t now = gethrtime();
  clock_t ticks = 1;
  if (deadline > now) {
    ticks = drv_usectohz(static_cast<clock_t>((deadline - now + 999) / 1000));
    if (ticks < 1) {
      ticks = 1;
    }
  }
  m->timer_armed = true;
  m->timer = timeout(timer_fire, m, ticks);
}

int report_result(__scsi_tgtmap *m, bool ok) {
  if (ok) {
    arm_locked(m);
  }
  return ok ? DDI_SUCCESS : DDI_FAILURE;
}

}  // namespace

LunInfo lun_info(const Lun *l) { return LunInfo{l->target, l->lun, l->ua, l->sd, l->dip}; }

void request_rescan_for(scsi_device *sd) {
  __scsi_tgtmap *m = nullptr;
  std::string target;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    auto it = reg().luns.find(sd);
    if (it == reg().luns.end()) {
      return;
    }
    m = it->second->map;
    target = it->second->target;
  }
  std::lock_guard<std::mutex> g(m->mu);
  if (m->destroying) {
    return;
  }
  bool idle = m->rescan.empty();
  m->rescan.insert(target);
  if (idle) {
    dispatch_locked(m);
  }
}

bool busy() {
  std::vector<__scsi_tgtmap *> maps;
  std::lock_guard<std::mutex> g(reg().mu);
  for (__scsi_tgtmap *m : reg().maps) {
    std::lock_guard<std::mutex> gm(m->mu);
    if (m->timer_armed || m->queued > 0 || m->state.pending() || !m->rescan.empty()) {
      return true;
    }
  }
  return false;
}

uint64_t discovery_generation() { return reg().generation; }

uint64_t progress() { return reg().completions + reg().generation; }

namespace {
constexpr int64_t kRunnableStallUs = 100'000;
}  // namespace

bool advance_if_stalled(int64_t stalled_us) {
  std::optional<int64_t> next = fk::next_event_ns();
  if (!next.has_value()) {
    return false;
  }
  // A near event (a device latency, a retry delay) may be fired soon; a far one (a driver's
  // command timeout, a watchdog) only when nothing has moved for much longer, so a device
  // thread that is merely slow in real time is not overtaken by virtual time. While a kernel
  // thread is runnable (an interrupt handler, a task or a callout the host has not run yet, as on
  // a loaded machine) the wait is longer still; not endless, as a task may be waiting here for
  // work that needs the clock (a detach that waits for discovery).
  int64_t ahead_ns = *next - fk::now_ns();
  int64_t need_us = ahead_ns <= 100'000'000 ? 200 : 20'000;
  if (stalled_us < need_us || (stalled_us < kRunnableStallUs && fk::kernel_runnable())) {
    return false;
  }
  return fk::run_next_event();
}

bool StallWatch::step() {
  uint64_t p = progress();
  auto now = std::chrono::steady_clock::now();
  if (p != last) {
    last = p;
    since = now;
    return false;
  }
  auto stalled = std::chrono::duration_cast<std::chrono::microseconds>(now - since).count();
  if (advance_if_stalled(stalled)) {
    since = std::chrono::steady_clock::now();
    return true;
  }
  return false;
}

bool settle(int64_t max_real_ms) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::milliseconds(max_real_ms);
  StallWatch watch;
  for (;;) {
    // The HBA's own threads (its discovery task, its interrupts) finish first: what they are
    // about to report to a map is not "settled" (on a loaded machine they lag behind this one).
    fk::drain();
    if (!busy()) {
      break;
    }
    auto now = clock::now();
    if (now > deadline) {
      return false;
    }
    bool working = false;
    {
      std::lock_guard<std::mutex> g(reg().mu);
      for (__scsi_tgtmap *m : reg().maps) {
        std::lock_guard<std::mutex> gm(m->mu);
        working = working || m->queued > 0;
      }
    }
    if (!working) {
      // Only settle timers pending: nothing runs that the jump could overtake.
      if (!fk::run_next_event()) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      continue;
    }
    // Discovery I/O runs: let it progress in real time, and move the clock only when it stalls.
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    (void)watch.step();
  }
  return true;
}

std::vector<LunInfo> luns(dev_info_t *dip) {
  std::vector<LunInfo> out;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    for (auto &[sd, l] : reg().luns) {
      if (l->online && (l->map->iport_dip == dip || ddi_get_parent(l->map->iport_dip) == dip)) {
        out.push_back(lun_info(l));
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const LunInfo &a, const LunInfo &b) {
    return a.target != b.target ? a.target < b.target : a.lun < b.lun;
  });
  return out;
}

void register_target_driver(TargetDriver *drv) {
  std::lock_guard<std::mutex> g(reg().mu);
  reg().drivers.push_back(drv);
}

void unregister_target_driver(TargetDriver *drv) {
  std::lock_guard<std::mutex> g(reg().mu);
  auto &d = reg().drivers;
  d.erase(std::remove(d.begin(), d.end(), drv), d.end());
}

}  // namespace fk::scsa

using fk::scsa::Check;
using fk::scsa::violation;

extern "C" {

int scsi_hba_tgtmap_create(dev_info_t *iport_dip, scsi_tgtmap_mode_t mode, int csync_usec,
                           int settle_usec, void *tgtmap_priv, scsi_tgt_activate_cb_t activate_cb,
                           scsi_tgt_deactivate_cb_t deactivate_cb, scsi_hba_tgtmap_t **tgtmapp) {
  // scsi_hba_tgtmap_create refuses a zero csync_usec (the window after creation in which a
  // bus_config waits for the targets present at creation) or settle_usec, and a node that is
  // not an iport.
  if (iport_dip == nullptr || tgtmapp == nullptr || settle_usec <= 0 || csync_usec <= 0 ||
      (mode != SCSI_TM_FULLSET && mode != SCSI_TM_PERADDR)) {
    violation(Check::kMisuse, "scsi_hba_tgtmap_create: bad arguments (csync_usec " +
                                  std::to_string(csync_usec) + ", settle_usec " +
                                  std::to_string(settle_usec) + ")");
    return DDI_FAILURE;
  }
  if (scsi_hba_iport_unit_address(iport_dip) == nullptr) {
    violation(Check::kMisuse, "scsi_hba_tgtmap_create on a node that is not an iport");
    return DDI_FAILURE;
  }
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(iport_dip));
  fk::scsa::Tran *t = tran != nullptr ? fk::scsa::tran_of(tran) : nullptr;
  if (t == nullptr || !t->attached) {
    violation(Check::kMisuse, "scsi_hba_tgtmap_create on a node with no attached transport");
    return DDI_FAILURE;
  }
  if (tran->tran_tgtmap != nullptr) {
    violation(Check::kMisuse, "scsi_hba_tgtmap_create: the iport already has a target map");
    return DDI_FAILURE;
  }
  auto *m = new __scsi_tgtmap(mode, settle_usec);
  m->magic = fk::scsa::kMapMagic;
  m->iport_dip = iport_dip;
  m->tran = t;
  m->priv = tgtmap_priv;
  m->activate = activate_cb;
  m->deactivate = deactivate_cb;
  m->csync_usec = csync_usec;
  m->settle_usec = settle_usec;
  m->worker = std::thread(fk::scsa::worker_main, m);
  {
    std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
    fk::scsa::reg().maps.insert(m);
  }
  tran->tran_tgtmap = m;
  *tgtmapp = m;
  return DDI_SUCCESS;
}

void scsi_hba_tgtmap_destroy(scsi_hba_tgtmap_t *m) {
  if (!fk::scsa::valid_map(m)) {
    violation(Check::kMisuse, "scsi_hba_tgtmap_destroy of an unknown map");
    return;
  }
  timeout_id_t timer = nullptr;
  {
    std::lock_guard<std::mutex> g(m->mu);
    m->destroying = true;
    if (m->timer_armed) {
      timer = m->timer;
    }
  }
  if (timer != nullptr) {
    (void)untimeout(timer);
  }
  {
    // Let a configuration pass in progress finish, then stop the thread. The pass may wait for
    // a command that needs time to pass (a hung target: the HBA's timeout and recovery), and
    // the caller is the one who would move the virtual clock: move it while nothing else does,
    // as settle() does. (A real detach just waits; time passes by itself.)
    std::unique_lock<std::mutex> lk(m->mu);
    fk::scsa::StallWatch watch;
    while (
        !m->idle_cv.wait_for(lk, std::chrono::microseconds(200), [m] { return m->queued == 0; })) {
      lk.unlock();
      (void)watch.step();
      lk.lock();
    }
    m->stop_worker = true;
    m->work_cv.notify_all();
  }
  m->worker.join();
  std::vector<fk::scsa::TgtMapState::Action> gone;
  {
    std::lock_guard<std::mutex> g(m->mu);
    gone = m->state.drain();
    m->timer_armed = false;
  }
  std::vector<std::string> addrs;
  for (auto &[addr, tg] : m->targets) {
    addrs.push_back(addr);
  }
  for (const std::string &addr : addrs) {
    fk::scsa::deconfig_target(m, addr, SCSI_TGT_DEACT_RSN_GONE);
  }
  {
    std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
    fk::scsa::reg().maps.erase(m);
  }
  m->tran->tran->tran_tgtmap = nullptr;
  m->magic = 0;
  fk::scsa::reg().generation++;
  delete m;
}

int scsi_hba_tgtmap_set_begin(scsi_hba_tgtmap_t *m) {
  if (!fk::scsa::valid_map(m)) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  return m->state.set_begin() ? DDI_SUCCESS : DDI_FAILURE;
}

int scsi_hba_tgtmap_set_add(scsi_hba_tgtmap_t *m, scsi_tgtmap_tgt_type_t type, char *addr,
                            void *priv) {
  if (!fk::scsa::valid_map(m) || addr == nullptr) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  return m->state.set_add(addr, type, priv) ? DDI_SUCCESS : DDI_FAILURE;
}

int scsi_hba_tgtmap_set_end(scsi_hba_tgtmap_t *m, uint_t flags) {
  (void)flags;
  if (!fk::scsa::valid_map(m)) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  return fk::scsa::report_result(m, m->state.set_end(gethrtime()));
}

int scsi_hba_tgtmap_set_flush(scsi_hba_tgtmap_t *m) {
  if (!fk::scsa::valid_map(m)) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  return m->state.set_flush() ? DDI_SUCCESS : DDI_FAILURE;
}

int scsi_hba_tgtmap_tgt_add(scsi_hba_tgtmap_t *m, scsi_tgtmap_tgt_type_t type, char *addr,
                            void *priv) {
  if (!fk::scsa::valid_map(m) || addr == nullptr) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  // damap.c damap_addr_add: a new address needs an id (i_ddi_strid_alloc: id_allocff_nosleep)
  // and the map's first report its soft state and kstats (dam_map_alloc); failing either
  // returns DAM_MAPFULL / DAM_FAILURE, and scsi_hba_tgtmap_tgt_add DDI_FAILURE.
  if (!m->state.active(addr) && fk::impl::should_fail(fk::kFailTgtmapAdd)) {
    return DDI_FAILURE;
  }
  return fk::scsa::report_result(m, m->state.tgt_add(addr, type, priv, gethrtime()));
}

int scsi_hba_tgtmap_tgt_remove(scsi_hba_tgtmap_t *m, scsi_tgtmap_tgt_type_t type, char *addr) {
  if (!fk::scsa::valid_map(m) || addr == nullptr) {
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(m->mu);
  return fk::scsa::report_result(m, m->state.tgt_remove(addr, type, gethrtime()));
}

void scsi_hba_tgtmap_scan_luns(scsi_hba_tgtmap_t *m, char *addr) {
  if (!fk::scsa::valid_map(m) || addr == nullptr) {
    return;
  }
  std::lock_guard<std::mutex> g(m->mu);
  if (m->destroying) {
    return;
  }
  bool idle = m->rescan.empty();
  m->rescan.insert(addr);
  if (idle) {
    fk::scsa::dispatch_locked(m);
  }
}

// ---- scsi_device services ----

char *scsi_device_unit_address(struct scsi_device *sd) {
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  auto it = fk::scsa::reg().luns.find(sd);
  return it == fk::scsa::reg().luns.end() ? nullptr : it->second->ua_cstr;
}

struct scsi_device *scsi_address_device(struct scsi_address *sa) {
  if (sa == nullptr || sa->a_hba_tran == nullptr ||
      !(sa->a_hba_tran->tran_hba_flags & SCSI_HBA_ADDR_COMPLEX)) {
    return nullptr;
  }
  return sa->a.a_sd;
}

void scsi_device_hba_private_set(struct scsi_device *sd, void *data) { sd->sd_hba_private = data; }

void *scsi_device_hba_private_get(struct scsi_device *sd) { return sd->sd_hba_private; }

int scsi_device_prop_get_int(struct scsi_device *sd, uint_t flags, char *name, int defvalue) {
  (void)flags;
  return ddi_prop_get_int(DDI_DEV_T_ANY, sd->sd_dev, DDI_PROP_DONTPASS, name, defvalue);
}

int64_t scsi_device_prop_get_int64(struct scsi_device *sd, uint_t flags, char *name,
                                   int64_t defvalue) {
  (void)flags;
  return ddi_prop_get_int64(DDI_DEV_T_ANY, sd->sd_dev, DDI_PROP_DONTPASS, name, defvalue);
}

int scsi_device_prop_lookup_string(struct scsi_device *sd, uint_t flags, char *name, char **data) {
  (void)flags;
  return ddi_prop_lookup_string(DDI_DEV_T_ANY, sd->sd_dev, DDI_PROP_DONTPASS, name, data);
}

int scsi_device_prop_update_int(struct scsi_device *sd, uint_t flags, char *name, int data) {
  (void)flags;
  return ddi_prop_update_int(DDI_DEV_T_NONE, sd->sd_dev, name, data);
}

int scsi_device_prop_update_int64(struct scsi_device *sd, uint_t flags, char *name, int64_t data) {
  (void)flags;
  return ddi_prop_update_int64(DDI_DEV_T_NONE, sd->sd_dev, name, data);
}

int scsi_device_prop_update_string(struct scsi_device *sd, uint_t flags, char *name, char *data) {
  (void)flags;
  return ddi_prop_update_string(DDI_DEV_T_NONE, sd->sd_dev, name, data);
}

int scsi_device_prop_remove(struct scsi_device *sd, uint_t flags, char *name) {
  (void)flags;
  return ddi_prop_remove(DDI_DEV_T_NONE, sd->sd_dev, name);
}

void scsi_device_prop_free(struct scsi_device *sd, uint_t flags, void *data) {
  (void)sd;
  (void)flags;
  ddi_prop_free(data);
}

int scsi_hba_probe(struct scsi_device *sd, int (*callback)(void)) {
  (void)callback;
  if (sd == nullptr) {
    return SCSIPROBE_FAILURE;
  }
  auto *inq =
      static_cast<struct scsi_inquiry *>(kmem_zalloc(sizeof(struct scsi_inquiry), KM_SLEEP));
  uint8_t cdb[6] = {SCMD_INQUIRY, 0, 0, 0, static_cast<uint8_t>(sizeof(struct scsi_inquiry)), 0};
  fk::scsa::CmdResult res =
      fk::scsa::run_cmd(sd, cdb, sizeof(cdb), inq, sizeof(struct scsi_inquiry));
  const uint8_t byte0 = reinterpret_cast<const uint8_t *>(inq)[0];
  if (!res.good()) {
    kmem_free(inq, sizeof(struct scsi_inquiry));
    return res.transported ? SCSIPROBE_NORESP : SCSIPROBE_FAILURE;
  }
  if ((byte0 & DPQ_MASK) != DPQ_POSSIBLE) {
    kmem_free(inq, sizeof(struct scsi_inquiry));
    return SCSIPROBE_NORESP;  // no logical unit at this LUN
  }
  if (sd->sd_inq != nullptr) {
    kmem_free(sd->sd_inq, sizeof(struct scsi_inquiry));
  }
  sd->sd_inq = inq;
  return SCSIPROBE_EXISTS;
}

}  // extern "C"
