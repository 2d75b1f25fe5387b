// HBA and iport attachment: scsi_hba_init/fini(9F), scsi_hba_tran_alloc/free(9F),
// scsi_hba_attach_setup/detach(9F), scsi_hba_iport_register(9F) and friends; capabilities,
// abort and reset; the registries and the violation log.
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "scsa_impl.h"

namespace fk::scsa {

// A deterministic run found stuck: the story of every packet still in transport.
static std::string stuck_packets(Registry *r) {
  std::lock_guard<std::mutex> g(r->mu);
  std::string out;
  for (PktWrapper *w : r->pkts) {
    if (w->state != PktWrapper::kInTransport) continue;
    const uchar_t *cdb = w->pkt.pkt_cdbp;
    char line[200];
    snprintf(line, sizeof line,
             "  packet %p: in transport since %lld ns (transport #%llu), opcode 0x%02x, "
             "pkt_time %d s%s\n",
             static_cast<const void *>(&w->pkt), static_cast<long long>(w->transported_ns),
             static_cast<unsigned long long>(w->gen), cdb != nullptr ? cdb[0] : 0, w->pkt.pkt_time,
             w->in_start ? ", tran_start still running" : "");
    out += line;
  }
  return out.empty() ? "  no packet in transport\n" : out;
}

Registry &reg() {
  static Registry *r = [] {
    auto *reg = new Registry();  // never destroyed: used until the process ends
    (void)fk::impl::add_stuck_reporter([reg] { return stuck_packets(reg); });
    return reg;
  }();
  return *r;
}

Tran *tran_of(scsi_hba_tran_t *tran) {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  auto it = r.trans.find(tran);
  return it == r.trans.end() ? nullptr : it->second;
}

Tran *tran_of_dip(dev_info_t *dip) {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  for (auto &[tran, t] : r.trans) {
    if (t->attached && t->dip == dip) {
      return t;
    }
  }
  return nullptr;
}

const char *check_name(Check c) {
  switch (c) {
    case Check::kDoubleCompletion:
      return "double-completion";
    case Check::kNotCompletedAtDetach:
      return "not-completed-at-detach";
    case Check::kCompletionWithLockHeld:
      return "completion-with-lock-held";
    case Check::kSyncCompletionAccepted:
      return "sync-completion-accepted";
    case Check::kNeverSubmitted:
      return "never-submitted";
    case Check::kCompletionAfterReject:
      return "completion-after-reject";
    case Check::kMisuse:
      return "misuse";
  }
  return "?";
}

void violation(Check check, const std::string &what) {
  {
    Registry &r = reg();
    std::lock_guard<std::mutex> g(r.mu);
    r.violations.push_back(Violation{check, what});
  }
  node::report(std::string("SCSA ") + check_name(check) + ": " + what);
}

std::vector<Violation> violations() {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  return r.violations;
}

size_t violation_count(Check c) {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  size_t n = 0;
  for (const Violation &v : r.violations) {
    n += v.check == c ? 1 : 0;
  }
  return n;
}

void clear_violations() {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  r.violations.clear();
}

Stats stats() {
  Registry &r = reg();
  Stats s{};
  std::lock_guard<std::mutex> g(r.mu);
  s.pkts_allocated = r.pkts.size();
  s.transports = r.transports;
  s.accepted = r.accepted;
  s.busy = r.busy;
  s.completions = r.completions;
  s.rescans = r.rescans;
  s.lun_change_uas = r.lun_change_uas;
  s.scsi_devices = r.luns.size();
  for (auto &[sd, l] : r.luns) {
    s.luns_online += l->online ? 1 : 0;
  }
  s.trans = r.trans.size();
  return s;
}

void reset_state() {
  Registry &r = reg();
  std::lock_guard<std::mutex> g(r.mu);
  r.trans.clear();
  r.iports.clear();
  r.maps.clear();
  r.luns.clear();
  r.pkts.clear();
  r.violations.clear();
}

namespace {

Iport *find_iport_locked(dev_info_t *iport_dip) {
  for (auto &[hba, list] : reg().iports) {
    for (Iport &ip : list) {
      if (ip.dip == iport_dip && iport_dip != nullptr) {
        return &ip;
      }
    }
  }
  return nullptr;
}

}  // namespace

namespace {

// The framework's copy of the HBA's transport for an iport, as iport_preattach_tran_scsi_device
// (scsi_hba.c) makes it before the iport attaches: a structure copy of the HBA's tran with
// tran_open_flag and tran_hba_private reset (the iport driver sets its own in attach(9E); the
// targets below the iport get this copy), tran_iport_dip set, SCSI_HBA_SCSA_FM / _PHCI and
// SCSI_HBA_HBA cleared and SCSI_HBA_SCSA_TA set. The HBA's packet cache is shared. Set as the
// iport node's driver private data; freed after the iport detaches.
scsi_hba_tran_t *clone_tran(dev_info_t *hba_dip, dev_info_t *iport_dip) {
  auto *hba_tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(hba_dip));
  Tran *ht = hba_tran != nullptr ? tran_of(hba_tran) : nullptr;
  if (ht == nullptr || !ht->attached) {
    return nullptr;
  }
  scsi_hba_tran_t *tran = scsi_hba_tran_alloc(iport_dip, SCSI_HBA_CANSLEEP);
  Tran *t = tran_of(tran);
  *tran = *hba_tran;
  tran->tran_open_flag = 0;
  tran->tran_hba_private = nullptr;
  tran->tran_iport_dip = iport_dip;
  tran->tran_hba_flags &= ~(SCSI_HBA_SCSA_FM | SCSI_HBA_SCSA_PHCI | SCSI_HBA_HBA);
  tran->tran_hba_flags |= SCSI_HBA_SCSA_TA;
  t->dip = iport_dip;
  t->is_iport = true;
  t->clone = true;
  t->cache = ht->cache;
  t->attached = true;
  ddi_set_driver_private(iport_dip, tran);
  return tran;
}

void free_clone(dev_info_t *iport_dip) {
  Tran *t = tran_of_dip(iport_dip);
  if (t == nullptr) {
    return;
  }
  detach_tran(t, iport_dip);
  scsi_hba_tran_free(t->tran);
}

void set_iport(dev_info_t *hba_dip, const std::string &ua, dev_info_t *dip, bool attached) {
  std::lock_guard<std::mutex> g(reg().mu);
  for (Iport &ip : reg().iports[hba_dip]) {
    if (ip.ua == ua) {
      ip.dip = dip;
      ip.attached = attached;
    }
  }
}

}  // namespace

int config_iports(dev_info_t *hba_dip) {
  std::vector<std::string> todo;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    for (Iport &ip : reg().iports[hba_dip]) {
      if (ip.dip == nullptr) {
        todo.push_back(ip.ua);
      }
    }
  }
  int rv = DDI_SUCCESS;
  for (const std::string &ua : todo) {
    dev_info_t *dip = node::create_child(hba_dip, "iport", ua.c_str(), true);
    if (dip == nullptr) {
      rv = DDI_FAILURE;
      continue;
    }
    set_iport(hba_dip, ua, dip, false);
    if (clone_tran(hba_dip, dip) == nullptr || node::attach(dip) != DDI_SUCCESS) {
      rv = DDI_FAILURE;
      free_clone(dip);
      set_iport(hba_dip, ua, nullptr, false);
      node::remove(dip);
      continue;
    }
    set_iport(hba_dip, ua, dip, true);
  }
  return rv;
}

int unconfig_iports(dev_info_t *hba_dip) {
  std::vector<dev_info_t *> dips;
  {
    std::lock_guard<std::mutex> g(reg().mu);
    for (Iport &ip : reg().iports[hba_dip]) {
      if (ip.dip != nullptr) {
        dips.push_back(ip.dip);
      }
    }
  }
  int rv = DDI_SUCCESS;
  for (dev_info_t *dip : dips) {
    bool attached;
    {
      std::lock_guard<std::mutex> g(reg().mu);
      Iport *ip = find_iport_locked(dip);
      attached = ip != nullptr && ip->attached;
    }
    if (attached && node::detach(dip) != DDI_SUCCESS) {
      rv = DDI_FAILURE;
      continue;
    }
    free_clone(dip);
    {
      std::lock_guard<std::mutex> g(reg().mu);
      Iport *ip = find_iport_locked(dip);
      if (ip != nullptr) {
        ip->attached = false;
        ip->dip = nullptr;
      }
    }
    node::remove(dip);
  }
  return rv;
}

void detach_tran(Tran *t, dev_info_t *dip) {
  if (t->tran->tran_tgtmap != nullptr) {
    violation(Check::kMisuse, "detach with the target map not destroyed");
  }
  check_no_outstanding(t, nullptr, "detach");
  size_t live = 0;
  {
    std::lock_guard<std::mutex> g(t->mu);
    live = t->pkts.size();
  }
  if (live > 0) {
    violation(Check::kMisuse, std::to_string(live) + " packet(s) not destroyed at detach");
  }
  drain_pkt_cache(t);
  t->attached = false;
  ddi_set_driver_private(dip, nullptr);
  if (!t->is_iport) {
    // The HBA is gone: forget the iports it registered (their nodes were unconfigured).
    std::lock_guard<std::mutex> g(reg().mu);
    auto it = reg().iports.find(dip);
    if (it != reg().iports.end()) {
      for (const Iport &ip : it->second) {
        if (ip.dip != nullptr) {
          node::report("SCSA: HBA detached with iport " + ip.ua + " still configured");
        }
      }
      reg().iports.erase(it);
    }
  }
}

}  // namespace fk::scsa

using fk::scsa::Check;
using fk::scsa::Tran;
using fk::scsa::violation;

extern "C" {

// scsi_hba.c scsi_hba_init: the first linkage is the HBA's modldrv, and the framework writes its
// dev_ops: devo_bus_ops (ASSERTed NULL before), devo_cb_ops when the HBA has none, and then
// devo_getinfo. So an HBA's dev_ops must be writable (a const one faults on illumos, and here),
// and scsi_hba_fini puts them back.
namespace {
alignas(16) unsigned char scsa_busops[256];  // the framework's bus_ops: opaque to the HBA
int scsa_open(dev_t *, int, int, cred_t *) { return 0; }
int scsa_close(dev_t, int, int, cred_t *) { return 0; }
int scsa_getinfo(dev_info_t *, ddi_info_cmd_t, void *, void **) { return DDI_FAILURE; }
struct cb_ops scsa_cbops = [] {
  struct cb_ops c {};
  c.cb_open = scsa_open;
  c.cb_close = scsa_close;
  return c;
}();
struct bus_ops *busops() {
  return reinterpret_cast<struct bus_ops *>(scsa_busops);
}

struct dev_ops *hba_dev_ops(struct modlinkage *modlp, const char *who) {
  auto *drv = modlp != nullptr ? static_cast<struct modldrv *>(modlp->ml_linkage[0]) : nullptr;
  if (drv == nullptr || drv->drv_dev_ops == nullptr) {
    violation(Check::kMisuse, std::string(who) + " without a modldrv and its dev_ops");
    return nullptr;
  }
  return drv->drv_dev_ops;
}
}  // namespace

int scsi_hba_init(struct modlinkage *modlp) {
  struct dev_ops *ops = hba_dev_ops(modlp, "scsi_hba_init");
  if (ops == nullptr) {
    return EINVAL;
  }
  if (ops->devo_bus_ops != nullptr) {
    violation(Check::kMisuse, "scsi_hba_init: devo_bus_ops already set (illumos ASSERTs NULL)");
  }
  ops->devo_bus_ops = busops();
  if (ops->devo_cb_ops == nullptr) {
    ops->devo_cb_ops = &scsa_cbops;
  }
  if (ops->devo_cb_ops->cb_open == scsa_open) {
    ops->devo_getinfo = scsa_getinfo;
  }
  return 0;
}

void scsi_hba_fini(struct modlinkage *modlp) {
  struct dev_ops *ops = hba_dev_ops(modlp, "scsi_hba_fini");
  if (ops == nullptr) {
    return;
  }
  if (ops->devo_cb_ops == &scsa_cbops) {
    ops->devo_cb_ops = nullptr;
  }
  if (ops->devo_getinfo == scsa_getinfo) {
    ops->devo_getinfo = nullptr;
  }
  ops->devo_bus_ops = nullptr;
}

scsi_hba_tran_t *scsi_hba_tran_alloc(dev_info_t *hba_dip, int flags) {
  int kmflag = (flags & SCSI_HBA_CANSLEEP) ? KM_SLEEP : KM_NOSLEEP;
  auto *tran = static_cast<scsi_hba_tran_t *>(kmem_zalloc(sizeof(scsi_hba_tran_t), kmflag));
  if (tran == nullptr) {
    return nullptr;
  }
  tran->tran_hba_dip = hba_dip;
  tran->tran_interconnect_type = INTERCONNECT_PARALLEL;
  tran->tran_hba_flags |= SCSI_HBA_SCSA_TA;
  auto *t = new Tran();
  t->tran = tran;
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  fk::scsa::reg().trans[tran] = t;
  return tran;
}

void scsi_hba_tran_free(scsi_hba_tran_t *tran) {
  Tran *t = fk::scsa::tran_of(tran);
  if (t == nullptr) {
    violation(Check::kMisuse, "scsi_hba_tran_free of a transport scsi_hba_tran_alloc never made");
    return;
  }
  if (t->attached) {
    violation(Check::kMisuse, "scsi_hba_tran_free before scsi_hba_detach");
    return;
  }
  fk::scsa::drain_pkt_cache(t);
  {
    // Packets still allocated through it (reported at detach) no longer have a transport.
    std::lock_guard<std::mutex> g(t->mu);
    for (fk::scsa::PktWrapper *w : t->pkts) {
      w->tran = nullptr;
    }
  }
  {
    std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
    fk::scsa::reg().trans.erase(tran);
  }
  delete t;
  kmem_free(tran, sizeof(scsi_hba_tran_t));
}

int scsi_hba_attach_setup(dev_info_t *dip, ddi_dma_attr_t *hba_dma_attr, scsi_hba_tran_t *tran,
                          int flags) {
  Tran *t = fk::scsa::tran_of(tran);
  if (t == nullptr || dip == nullptr) {
    violation(Check::kMisuse, "scsi_hba_attach_setup without a scsi_hba_tran_alloc'd transport");
    return DDI_FAILURE;
  }
  if (t->attached) {
    violation(Check::kMisuse, "scsi_hba_attach_setup: transport already attached");
    return DDI_FAILURE;
  }
  // "Verify that we are called on a SCSA HBA node ..., not on an iport node" (an ASSERT, then
  // DDI_FAILURE): an iport driver uses the framework's copy of the HBA's tran.
  if (scsi_hba_iport_unit_address(dip) != nullptr) {
    violation(Check::kMisuse, "scsi_hba_attach_setup on an iport node");
    return DDI_FAILURE;
  }
  if ((tran->tran_get_name == nullptr) != (tran->tran_get_bus_addr == nullptr)) {
    violation(Check::kMisuse,
              "scsi_hba_attach_setup: tran_get_name and tran_get_bus_addr: both or neither");
    return DDI_FAILURE;
  }
  if (!(flags & SCSI_HBA_HBA) && tran->tran_start == nullptr) {
    violation(Check::kMisuse,
              "scsi_hba_attach_setup: a transport that starts I/O needs tran_start");
    return DDI_FAILURE;
  }
  if (tran->tran_setup_pkt != nullptr &&
      (tran->tran_init_pkt != nullptr || tran->tran_destroy_pkt != nullptr)) {
    violation(Check::kMisuse,
              "scsi_hba_attach_setup: tran_setup_pkt with tran_init_pkt or tran_destroy_pkt");
    return DDI_FAILURE;
  }
  if (tran->tran_setup_pkt != nullptr && tran->tran_teardown_pkt == nullptr) {
    violation(Check::kMisuse, "scsi_hba_attach_setup: tran_setup_pkt without tran_teardown_pkt");
    return DDI_FAILURE;
  }
  if (hba_dma_attr == nullptr || hba_dma_attr->dma_attr_sgllen == 0 ||
      hba_dma_attr->dma_attr_addr_hi < hba_dma_attr->dma_attr_addr_lo) {
    violation(Check::kMisuse, "scsi_hba_attach_setup: no or unusable DMA attributes");
    return DDI_FAILURE;
  }
  tran->tran_dma_attr = *hba_dma_attr;
  tran->tran_hba_flags = (flags & ~SCSI_HBA_SCSA_TA) | (tran->tran_hba_flags & SCSI_HBA_SCSA_TA);
  tran->tran_hba_dip = dip;
  if (tran->tran_setup_pkt != nullptr) {
    // The tran_setup_pkt(9E) packet cache, its object geometry fixed now.
    t->cache = t;
    t->cache_hba_len = tran->tran_hba_len;
    t->cache_flags = tran->tran_hba_flags;
  }
  if (!(tran->tran_hba_flags & SCSI_HBA_HBA)) {
    tran->tran_iport_dip = dip;  // scsa_tran_setup
  }
  t->dip = dip;
  t->is_iport = false;
  t->attached = true;
  ddi_set_driver_private(dip, tran);
  return DDI_SUCCESS;
}

int scsi_hba_detach(dev_info_t *dip) {
  if (scsi_hba_iport_unit_address(dip) != nullptr) {
    violation(Check::kMisuse, "scsi_hba_detach on an iport node");
    return DDI_FAILURE;
  }
  Tran *t = fk::scsa::tran_of_dip(dip);
  if (t == nullptr) {
    violation(Check::kMisuse, "scsi_hba_detach of a node with no attached transport");
    return DDI_FAILURE;
  }
  fk::scsa::detach_tran(t, dip);
  return DDI_SUCCESS;
}

int scsi_hba_iport_register(dev_info_t *dip, char *port) {
  if (dip == nullptr || port == nullptr || port[0] == '\0') {
    violation(Check::kMisuse, "scsi_hba_iport_register: no node or empty port name");
    return DDI_FAILURE;
  }
  Tran *t = fk::scsa::tran_of_dip(dip);
  if (t == nullptr || !(t->tran->tran_hba_flags & SCSI_HBA_HBA)) {
    violation(Check::kMisuse, "scsi_hba_iport_register on a node not attached with SCSI_HBA_HBA");
    return DDI_FAILURE;
  }
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  auto &list = fk::scsa::reg().iports[dip];
  for (const fk::scsa::Iport &ip : list) {
    if (ip.ua == port) {
      return DDI_FAILURE;
    }
  }
  if (list.size() >= SCSI_HBA_MAX_IPORTS) {
    return DDI_FAILURE;
  }
  fk::scsa::Iport ip;
  ip.ua = port;
  ip.hba_dip = dip;
  list.push_back(ip);
  return DDI_SUCCESS;
}

char *scsi_hba_iport_unit_address(dev_info_t *dip) {
  if (dip == nullptr) {
    return nullptr;
  }
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  if (fk::scsa::find_iport_locked(dip) == nullptr) {
    return nullptr;
  }
  // The node's unit address is the port name it was registered with.
  return ddi_get_name_addr(dip);
}

int scsi_hba_iport_exist(dev_info_t *dip) {
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  auto it = fk::scsa::reg().iports.find(dip);
  return it != fk::scsa::reg().iports.end() && !it->second.empty() ? 1 : 0;
}

dev_info_t *scsi_hba_iport_find(dev_info_t *pdip, char *portnm) {
  std::lock_guard<std::mutex> g(fk::scsa::reg().mu);
  auto it = fk::scsa::reg().iports.find(pdip);
  if (it == fk::scsa::reg().iports.end() || portnm == nullptr) {
    return nullptr;
  }
  for (const fk::scsa::Iport &ip : it->second) {
    if (ip.ua == portnm) {
      return ip.dip;
    }
  }
  return nullptr;
}

int scsi_hba_lookup_capstr(char *capstr) {
  static const char *const kCaps[] = SCSI_CAP_ASCII;
  if (capstr == nullptr) {
    return -1;
  }
  for (int i = 0; kCaps[i] != nullptr; i++) {
    if (strcmp(capstr, kCaps[i]) == 0) {
      return i;
    }
  }
  return -1;
}

int scsi_hba_in_panic(void) { return 0; }

int scsi_ifgetcap(struct scsi_address *ap, char *cap, int whom) {
  if (ap == nullptr || ap->a_hba_tran == nullptr || cap == nullptr) {
    violation(Check::kMisuse, "scsi_ifgetcap: no address or capability");
    return -1;
  }
  if (ap->a_hba_tran->tran_getcap == nullptr) {
    return -1;
  }
  return ap->a_hba_tran->tran_getcap(ap, cap, whom);
}

int scsi_ifsetcap(struct scsi_address *ap, char *cap, int value, int whom) {
  if (ap == nullptr || ap->a_hba_tran == nullptr || cap == nullptr) {
    violation(Check::kMisuse, "scsi_ifsetcap: no address or capability");
    return -1;
  }
  if (ap->a_hba_tran->tran_setcap == nullptr) {
    return -1;
  }
  return ap->a_hba_tran->tran_setcap(ap, cap, value, whom);
}

int scsi_abort(struct scsi_address *ap, struct scsi_pkt *pkt) {
  if (ap == nullptr || ap->a_hba_tran == nullptr) {
    violation(Check::kMisuse, "scsi_abort: no address");
    return 0;
  }
  if (ap->a_hba_tran->tran_abort == nullptr) {
    return 0;
  }
  return ap->a_hba_tran->tran_abort(ap, pkt);
}

int scsi_reset(struct scsi_address *ap, int level) {
  if (ap == nullptr || ap->a_hba_tran == nullptr) {
    violation(Check::kMisuse, "scsi_reset: no address");
    return 0;
  }
  if (level != RESET_ALL && level != RESET_TARGET && level != RESET_LUN) {
    violation(Check::kMisuse, "scsi_reset: level " + std::to_string(level));
    return 0;
  }
  // scsi_control.c scsi_reset: RESET_LUN reaches the HBA only if it has the "lun-reset"
  // capability (tran_getcap(ap, "lun-reset", 1) == 1); otherwise it fails without a call.
  if (level == RESET_LUN &&
      (ap->a_hba_tran->tran_getcap == nullptr ||
       ap->a_hba_tran->tran_getcap(ap, const_cast<char *>("lun-reset"), 1) != 1)) {
    return 0;
  }
  if (ap->a_hba_tran->tran_reset == nullptr) {
    return 0;
  }
  return ap->a_hba_tran->tran_reset(ap, level);
}

int scsi_reset_notify(struct scsi_address *ap, int flag, void (*callback)(caddr_t), caddr_t arg) {
  if (ap == nullptr || ap->a_hba_tran == nullptr || ap->a_hba_tran->tran_reset_notify == nullptr) {
    return DDI_FAILURE;
  }
  return ap->a_hba_tran->tran_reset_notify(ap, flag, callback, arg);
}

void scsi_log(dev_info_t *dev, char *label, uint_t level, const char *fmt, ...) {
  (void)level;
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  fprintf(stderr, "scsi_log %s%s%s: %s\n", label != nullptr ? label : "", dev != nullptr ? " " : "",
          dev != nullptr ? ddi_node_name(dev) : "", buf);
}

}  // extern "C"
