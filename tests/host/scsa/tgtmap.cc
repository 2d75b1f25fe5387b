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
#include <memory>
#include <optional>
#include <thread>

#include "fk.h"
#include "fk_internal.h"

#include "lun_list.h"
#include "scsa_impl.h"

namespace fk::scsa {
namespace {

constexpr uint32_t kMapMagic = 0x54474d50;  // "TGMP"

bool valid_map(__scsi_tgtmap *m) {
  std::lock_guard<std::mutex> g(reg().mu);
  return m != nullptr && reg().maps.count(m) != 0 && m->magic == kMapMagic;
}

// ---- commands issued by the framework itself ----

// Values of illumos (scsi_hba.c, scsi_confsubr.c, inquiry.h): REPORT LUNS runs with
// scsi_lunrpt_timeout (3 s) of pkt_time for up to scsi_lunrpt_default_max (256) LUNs; the probe
// INQUIRY is SUN_INQSIZE bytes and needs SUN_MIN_INQLEN of them; scsi_test retries TRAN_BUSY
// every scsi_test_busy_delay (10 ms) for scsi_test_busy_timeout (SCSI_POLL_TIMEOUT) seconds.
constexpr int kLunRptTimeout = 3;
constexpr size_t kLunRptDefaultMax = 256;
constexpr size_t kSunInqSize = sizeof(struct scsi_inquiry);
constexpr size_t kSunMinInqLen = 4;
constexpr int kTestBusyDelayUs = 10000;
constexpr size_t kMaxInquirySize = 0xF0;      // VPD 80h/83h
constexpr size_t kMaxInquirySizeEvpd = 0xFF;  // VPD 00h

// A packet with a consistent buffer, as the framework's probe and enumeration commands use.
struct FwCmd {
  struct buf *bp = nullptr;
  scsi_pkt *pkt = nullptr;
  FwCmd(scsi_device *sd, size_t len, int cdblen, int scblen) {
    bp = scsi_alloc_consistent_buf(&sd->sd_address, nullptr, len, B_READ, SLEEP_FUNC, nullptr);
    if (bp != nullptr) {
      pkt = scsi_init_pkt(&sd->sd_address, nullptr, bp, cdblen, scblen, 0, PKT_CONSISTENT,
                          SLEEP_FUNC, nullptr);
    }
  }
  ~FwCmd() {
    if (pkt != nullptr) {
      scsi_destroy_pkt(pkt);
    }
    if (bp != nullptr) {
      scsi_free_consistent_buf(bp);
    }
  }
  FwCmd(const FwCmd &) = delete;
  FwCmd &operator=(const FwCmd &) = delete;
  uint8_t *data() const { return reinterpret_cast<uint8_t *>(bp->b_un.b_addr); }
};

// scsi_test's verdicts (scsi_confsubr.c).
enum TestResult : uint32_t {
  kCmpltGood = 0x01,
  kCmpltBusy = 0x02,
  kCmpltCheck = 0x04,
  kCmpltOther = 0x08,
  kCmdIncomplete = 0x10,
  kNotCmplt = 0x20,
  kTranBusy = 0x40,
  kTranReject = 0x80,
};
bool test_failure(uint32_t r) {
  return (r & (kCmdIncomplete | kNotCmplt | kTranBusy | kTranReject)) != 0;
}

// As scsi_test (scsi_confsubr.c): the same packet sent again with FLAG_NOINTR and
// SCSI_POLL_TIMEOUT, a tag when the HBA does tagged queueing, TRAN_BUSY retried every 10 ms
// for up to 60 s; the result classified.
uint32_t scsi_test(scsi_pkt *pkt) {
  pkt->pkt_flags |= FLAG_NOINTR;
  pkt->pkt_time = SCSI_POLL_TIMEOUT;
  if (scsi_ifgetcap(&pkt->pkt_address, const_cast<char *>("tagged-qing"), 1) == 1) {
    pkt->pkt_flags |= FLAG_STAG;
  }
  int rc = TRAN_BUSY;
  for (int64_t waited = 0; waited / 1000000 <= SCSI_POLL_TIMEOUT; waited += kTestBusyDelayUs) {
    pkt->pkt_scbp[0] = 0;
    pkt->pkt_reason = 0;
    pkt->pkt_state = 0;
    rc = scsi_transport(pkt);
    if (rc != TRAN_BUSY) {
      break;
    }
    if (node::in_interrupt() || dump_mode()) {
      drv_usecwait(kTestBusyDelayUs);
    } else {
      delay(drv_usectohz(kTestBusyDelayUs));
    }
  }
  if (rc == TRAN_BUSY) {
    return kTranBusy;
  }
  if (rc != TRAN_ACCEPT) {
    return kTranReject;
  }
  if (pkt->pkt_reason == CMD_INCOMPLETE) {
    return kCmdIncomplete;
  }
  if (pkt->pkt_reason != CMD_CMPLT) {
    return kNotCmplt;
  }
  switch (pkt->pkt_scbp[0] & STATUS_MASK) {
    case STATUS_GOOD:
      return kCmpltGood;
    case STATUS_BUSY:
      return kCmpltBusy;
    case STATUS_CHECK:
      return kCmpltCheck;
    default:
      return kCmpltOther;
  }
}

// What a DEBUG kernel asserts about a completed framework command's residual.
bool resid_sane(const scsi_pkt *pkt, size_t buflen, const char *what) {
  if (pkt->pkt_resid < 0 || static_cast<size_t>(pkt->pkt_resid) > buflen) {
    violation(Check::kMisuse, std::string(what) + ": pkt_resid " + std::to_string(pkt->pkt_resid) +
                                  " outside 0.." + std::to_string(buflen) +
                                  " (a DEBUG kernel panics)");
    return false;
  }
  return true;
}

void setup_inquiry(scsi_pkt *pkt, size_t len, uint8_t evpd, uint8_t page) {
  memset(pkt->pkt_cdbp, 0, CDB_GROUP0);
  pkt->pkt_cdbp[0] = SCMD_INQUIRY;
  pkt->pkt_cdbp[1] = evpd;
  pkt->pkt_cdbp[2] = page;
  pkt->pkt_cdbp[4] = static_cast<uint8_t>(len);
}

// As send_scsi_INQUIRY (scsi_confsubr.c): an INQUIRY with EVPD and a page code; 0 and the
// length transferred when it completed GOOD, else -1.
int send_inquiry(scsi_device *sd, uint8_t *out, size_t buflen, uint8_t evpd, uint8_t page,
                 size_t *lenp) {
  *lenp = 0;
  FwCmd c(sd, buflen, CDB_GROUP0, static_cast<int>(sizeof(struct scsi_arq_status)));
  if (c.pkt == nullptr) {
    return -1;
  }
  setup_inquiry(c.pkt, buflen, evpd, page);
  c.pkt->pkt_flags = FLAG_NOINTR | FLAG_NOPARITY;
  if (scsi_test(c.pkt) != kCmpltGood || !resid_sane(c.pkt, buflen, "VPD INQUIRY")) {
    return -1;
  }
  *lenp = buflen - static_cast<size_t>(c.pkt->pkt_resid);
  memcpy(out, c.data(), *lenp);
  return 0;
}

// As scsi_device_identity (scsi_confsubr.c), which scsi_device_config runs after a successful
// probe: VPD page 00h (a failure there only means no pages), then 80h and 83h if listed, whose
// failure makes the device count as absent. Non-zero on failure.
int device_identity(scsi_device *sd) {
  uint8_t pages[kMaxInquirySizeEvpd] = {};
  size_t len = 0;
  bool pg80 = false, pg83 = false;
  if (send_inquiry(sd, pages, sizeof(pages), 1, 0x00, &len) == 0 && pages[1] == 0x00) {
    // Supported pages from byte 4, ascending; the page length is byte 3.
    for (size_t i = 4; i < sizeof(pages) && pages[i] <= 0x83 && i <= size_t{pages[3]} + 3; i++) {
      pg80 = pg80 || pages[i] == 0x80;
      pg83 = pg83 || pages[i] == 0x83;
    }
  }
  for (uint8_t page : {uint8_t{0x80}, uint8_t{0x83}}) {
    if ((page == 0x80 && !pg80) || (page == 0x83 && !pg83)) {
      continue;
    }
    uint8_t data[kMaxInquirySize] = {};
    if (send_inquiry(sd, data, sizeof(data), 1, page, &len) != 0) {
      return -1;
    }
    if (len > 0) {
      (void)ddi_prop_update_byte_array(
          DDI_DEV_T_NONE, sd->sd_dev,
          const_cast<char *>(page == 0x80 ? "inquiry-page-80" : "inquiry-page-83"), data,
          static_cast<uint_t>(len));
    }
  }
  return 0;
}

// As scsi_device_reportluns (scsi_hba.c): REPORT LUNS through scsi_poll with 3 s of pkt_time,
// room for 256 LUNs, once more with room for all when the target has more. false when it
// failed, or reported no LUNs at all (an illegal response).
bool report_luns(scsi_device *sd, std::vector<uint64_t> *out) {
  size_t nluns = kLunRptDefaultMax;
  for (int pass = 0; pass < 2; pass++) {
    size_t len = 8 + 8 * nluns;
    FwCmd c(sd, len, CDB_GROUP5, static_cast<int>(sizeof(struct scsi_arq_status)));
    if (c.pkt == nullptr) {
      return false;
    }
    uint8_t *cdb = c.pkt->pkt_cdbp;
    memset(cdb, 0, CDB_GROUP5);
    cdb[0] = SCMD_REPORT_LUNS;
    cdb[6] = static_cast<uint8_t>(len >> 24);
    cdb[7] = static_cast<uint8_t>(len >> 16);
    cdb[8] = static_cast<uint8_t>(len >> 8);
    cdb[9] = static_cast<uint8_t>(len);
    c.pkt->pkt_time = kLunRptTimeout;
    if (scsi_poll(c.pkt) < 0) {
      return false;
    }
    ReportLuns parsed;
    std::string err;
    if (!parse_report_luns(c.data(), len, &parsed, &err) || parsed.list_length == 0) {
      return false;
    }
    if (parsed.truncated && pass == 0) {
      nluns = parsed.list_length / 8;
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

// As scsi_device_config (scsi_hba.c) for one LUN node: scsi_probe, then the identity VPD
// pages. kAbsent: nothing usable answered (no node); kNoLun: a device answered but reports no
// logical unit here (illumos keeps such a LUN 0 node, bound to no target driver, for REPORT
// LUNS; other LUNs get no node); kExists: a logical unit.
enum class Probe { kAbsent, kNoLun, kExists };
// scsi_device_config probes with SLEEP_FUNC ((int (*)())1 in illumos; scsi_probe's type here).
int (*const kSleepFunc)() = reinterpret_cast<int (*)()>(uintptr_t{1});
Probe probe_lun(Lun *l) {
  if (scsi_probe(l->sd, kSleepFunc) != SCSIPROBE_EXISTS || device_identity(l->sd) != 0) {
    return Probe::kAbsent;
  }
  // scsi_device_createchild's lunexists.
  const uint8_t b0 = reinterpret_cast<const uint8_t *>(l->sd->sd_inq)[0];
  bool vu = (b0 & DPQ_VUNIQ) != 0;
  bool exists = (!vu && (b0 & DPQ_MASK) == DPQ_POSSIBLE) || (vu && l->lun == 0);
  if ((b0 & DTYPE_MASK) == DTYPE_UNKNOWN) {
    exists = false;
  }
  return exists ? Probe::kExists : Probe::kNoLun;
}

void online_lun(Lun *l) {
  set_online(l, true);
  notify(l, true);
}

// The LUNs to configure besides LUN 0, as scsi_hba_enum_lsf_of_t (scsi_hba.c) finds them
// through the probed LUN 0: REPORT LUNS for SCSI-2 and later; when it fails, or for SCSI-1,
// LUNs 0-7 (scsi_get_scsi_maxluns: 8 below SCSI-3), except that a SCSI-3 or later target
// enumerated for a target map (SE_HP, scsi_lunrpt_failed_do1lun) gets LUN 0 only.
std::vector<uint64_t> enumerate(Lun *l0) {
  const int ansi = reinterpret_cast<const uint8_t *>(l0->sd->sd_inq)[2] & 0x07;
  std::vector<uint64_t> luns;
  if (ansi >= SCSI_VERSION_2 && report_luns(l0->sd, &luns)) {
    return luns;
  }
  uint64_t maxluns = ansi >= 3 ? 1 : 8;
  for (uint64_t lun = 0; lun < maxluns; lun++) {
    luns.push_back(lun);
  }
  return luns;
}

// Configures the LUNs of `wanted` the target does not have yet, in order, then onlines them.
void configure_luns(__scsi_tgtmap *m, Target *tg, const std::vector<uint64_t> &wanted) {
  std::vector<Lun *> fresh;
  for (uint64_t lun : wanted) {
    if (tg->luns.count(lun) != 0) {
      continue;
    }
    Lun *l = create_lun(m, tg->addr, lun);
    if (l == nullptr) {
      continue;
    }
    if (!l->tgt_inited || probe_lun(l) != Probe::kExists) {
      destroy_lun(l);
      continue;
    }
    tg->luns[lun] = l;
    fresh.push_back(l);
  }
  for (Lun *l : fresh) {
    online_lun(l);
  }
}

// As scsi_tgtmap_scsi_config -> scsi_hba_bus_config_taddr (scsi_hba.c): LUN 0 first; when it
// cannot be configured the target fails (DAM_FAILURE) and nothing of it is kept. Else the other
// LUNs are enumerated through it.
bool config_target(__scsi_tgtmap *m, const std::string &addr, int type, void *priv) {
  auto *tg = new Target{addr, type, priv, {}};
  if (type != SCSI_TGT_SCSI_DEVICE) {
    m->targets[addr] = tg;
    return true;
  }
  Lun *l0 = create_lun(m, addr, 0);
  Probe p = Probe::kAbsent;
  if (l0 != nullptr && l0->tgt_inited) {
    p = probe_lun(l0);
  }
  if (p == Probe::kAbsent) {
    if (l0 != nullptr) {
      destroy_lun(l0);
    }
    delete tg;
    return false;
  }
  l0->present = p == Probe::kExists;
  tg->luns[0] = l0;
  m->targets[addr] = tg;
  std::vector<uint64_t> luns = enumerate(l0);
  configure_luns(m, tg, luns);
  if (l0->present) {
    online_lun(l0);
  }
  return true;
}

// A LUN rescan (scan_luns, a LUN-change unit attention): enumerate again through LUN 0;
// LUNs no longer reported go first, then new ones are configured. LUN 0 stays.
void rescan_target(__scsi_tgtmap *m, Target *tg) {
  reg().rescans++;
  auto it0 = tg->luns.find(0);
  if (it0 == tg->luns.end()) {
    return;
  }
  std::vector<uint64_t> luns = enumerate(it0->second);
  for (auto it = tg->luns.begin(); it != tg->luns.end();) {
    if (it->first != 0 && std::find(luns.begin(), luns.end(), it->first) == luns.end()) {
      destroy_lun(it->second);
      it = tg->luns.erase(it);
    } else {
      ++it;
    }
  }
  configure_luns(m, tg, luns);
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
      if (!config_target(m, a.addr, a.type, priv)) {
        // As damap's dam_addr_activate on DAM_FAILURE (damap.c): the deactivate callback hears
        // of it (SCSI_TGT_DEACT_RSN_CFG_FAIL; no unconfig runs) and the address leaves the
        // active set. Only a new report of the address activates it again.
        reg().cfg_failures++;
        {
          std::lock_guard<std::mutex> g(m->mu);
          m->state.drop(a.addr);
        }
        if (m->deactivate != nullptr) {
          (void)m->deactivate(m->priv, const_cast<char *>(a.addr.c_str()),
                              static_cast<scsi_tgtmap_tgt_type_t>(a.type), priv,
                              SCSI_TGT_DEACT_RSN_CFG_FAIL);
        }
      }
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
    m->work_cv.wait(
        lk, [m] { return m->stop_worker || m->jobs > 0; }, "target-map work");
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

// A throw-away REQUEST SENSE with a 1-byte status area, for a device without auto request sense;
// its pkt is null when there was no memory.
std::unique_ptr<FwCmd> probe_request_sense(scsi_device *sd) {
  auto rq = std::make_unique<FwCmd>(sd, SENSE_LENGTH, CDB_GROUP0, 1);
  if (rq->pkt == nullptr) {
    return rq;
  }
  memset(rq->pkt->pkt_cdbp, 0, CDB_GROUP0);
  rq->pkt->pkt_cdbp[0] = SCMD_REQUEST_SENSE;
  rq->pkt->pkt_cdbp[4] = static_cast<uint8_t>(SENSE_LENGTH);
  rq->pkt->pkt_flags = FLAG_NOINTR | FLAG_NOPARITY;
  return rq;
}

// scsi_hba_probe's INQUIRY after a partial success (see scsi_hba_probe). SCSIPROBE_EXISTS when it
// completed at last (its data still to be judged), else the probe's result.
int probe_retry_partial(scsi_device *sd, FwCmd &inq) {
  std::unique_ptr<FwCmd> rq;
  uint32_t str = scsi_test(inq.pkt);
  if (test_failure(str)) {
    return str == kCmdIncomplete ? SCSIPROBE_NORESP : SCSIPROBE_FAILURE;
  }
  if (str == kCmpltBusy) {
    return SCSIPROBE_BUSY;
  }
  if (str == kCmpltCheck && (inq.pkt->pkt_state & STATE_ARQ_DONE) == 0) {
    rq = probe_request_sense(sd);
    if (rq->pkt == nullptr) {
      return SCSIPROBE_NOMEM;
    }
    if (test_failure(scsi_test(rq->pkt))) {
      return SCSIPROBE_FAILURE;
    }
  }
  str = scsi_test(inq.pkt);
  if (test_failure(str)) {
    return SCSIPROBE_FAILURE;
  }
  if (str == kCmpltBusy) {
    return SCSIPROBE_BUSY;
  }
  if (str == kCmpltCheck) {
    if (rq != nullptr) {
      (void)scsi_test(rq->pkt);
    }
    str = scsi_test(inq.pkt);
    if (test_failure(str) || str == kCmpltCheck) {
      return SCSIPROBE_FAILURE;
    }
  }
  return SCSIPROBE_EXISTS;
}

// The probe's result from its INQUIRY's data, copied to sd_inq when it counts.
int probe_take_inquiry(scsi_device *sd, const FwCmd &inq) {
  constexpr size_t kInq = kSunInqSize;
  scsi_pkt *p = inq.pkt;
  if ((p->pkt_state & STATE_XFERRED_DATA) == 0 || p->pkt_resid > static_cast<ssize_t>(kInq) ||
      kInq - static_cast<size_t>(std::max<ssize_t>(p->pkt_resid, 0)) < kSunMinInqLen) {
    return SCSIPROBE_NONCCS;
  }
  if (!resid_sane(p, kInq, "probe INQUIRY")) {
    return SCSIPROBE_FAILURE;
  }
  memcpy(sd->sd_inq, inq.data(), kInq - static_cast<size_t>(p->pkt_resid));
  return SCSIPROBE_EXISTS;
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

uint64_t config_failures() { return reg().cfg_failures; }

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

// Deterministic mode: everything else runs until nobody can; if that moved nothing, time moves.
static bool step_det(uint64_t *last) {
  uint64_t before = progress();
  (void)fk::wait_quiet("progress");
  uint64_t after = progress();
  if (after != before || after != *last) {
    *last = after;
    return false;
  }
  return fk::run_next_event();
}

void stall_pause(int64_t us) {
  if (!fk::deterministic()) {
    fk::impl::host_sleep_us(us, "stall pause");
  }
}

bool StallWatch::step() {
  if (fk::impl::on_det()) {
    return step_det(&last);
  }
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

// Deterministic mode: exact - the HBA's threads and discovery run until nobody can; then the
// next event (a settle timer, a device latency) fires.
static bool settle_det() {
  for (;;) {
    fk::drain();
    if (!busy()) {
      return true;
    }
    (void)fk::wait_quiet("discovery");
    if (!busy()) {
      return true;
    }
    if (!fk::run_next_event()) {
      return false;
    }
  }
}

bool settle(int64_t max_real_ms) {
  if (fk::impl::on_det()) {
    return settle_det();
  }
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
        fk::impl::host_sleep_us(100, "settle: timers only");
      }
      continue;
    }
    // Discovery I/O runs: let it progress in real time, and move the clock only when it stalls.
    fk::impl::host_sleep_us(100, "settle: discovery I/O");
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
  m->worker.start(
      "tgtmap " + std::string(ddi_get_name_addr(iport_dip) ? ddi_get_name_addr(iport_dip) : ""),
      [m] { fk::scsa::worker_main(m); });
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
    while (m->queued != 0) {
      if (!m->idle_cv.wait_for_us(lk, 200, "the map's configuration pass")) {
        lk.unlock();
        (void)watch.step();
        lk.lock();
      }
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

// As scsi_hba_probe -> scsi_hba_probe_pi (scsi_confsubr.c): one INQUIRY packet of SUN_INQSIZE
// sent through scsi_test (FLAG_NOINTR, 60 s) up to five times - the first; once more after a
// failure other than CMD_INCOMPLETE (which means no response); once more after a partial
// success (BUSY, CHECK CONDITION, other status) for the HBA to negotiate; once more to see the
// check condition cleared (with a throw-away REQUEST SENSE, 1-byte status area, in between when
// there was no auto request sense); and a last time if it still reports CHECK CONDITION. BUSY
// after the second try gives up. The data counts only with STATE_XFERRED_DATA and at least
// SUN_MIN_INQLEN bytes (pkt_resid); else the device is non-CCS.
int scsi_hba_probe(struct scsi_device *sd, int (*callback)(void)) {
  (void)callback;
  using fk::scsa::FwCmd;
  using fk::scsa::scsi_test;
  using fk::scsa::test_failure;
  constexpr size_t kInq = fk::scsa::kSunInqSize;
  if (sd == nullptr) {
    return SCSIPROBE_FAILURE;
  }
  if (sd->sd_inq == nullptr) {
    sd->sd_inq = static_cast<struct scsi_inquiry *>(kmem_zalloc(kInq, KM_SLEEP));
  }
  memset(sd->sd_inq, 0, kInq);
  FwCmd inq(sd, kInq, CDB_GROUP0, static_cast<int>(sizeof(struct scsi_arq_status)));
  if (inq.pkt == nullptr) {
    return SCSIPROBE_NOMEM;
  }
  fk::scsa::setup_inquiry(inq.pkt, kInq, 0, 0);
  inq.pkt->pkt_flags = FLAG_NOINTR | FLAG_NOPARITY;
  uint32_t str = scsi_test(inq.pkt);
  if (test_failure(str)) {
    if (str == fk::scsa::kCmdIncomplete) {
      return SCSIPROBE_NORESP;
    }
    str = scsi_test(inq.pkt);
    if (test_failure(str)) {
      return SCSIPROBE_FAILURE;
    }
  }
  if (str != fk::scsa::kCmpltGood) {
    int rv = fk::scsa::probe_retry_partial(sd, inq);
    if (rv != SCSIPROBE_EXISTS) {
      return rv;
    }
  }
  return fk::scsa::probe_take_inquiry(sd, inq);
}

}  // extern "C"
