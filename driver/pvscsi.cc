/*
 * pvscsi: VMware paravirtual SCSI HBA driver - module linkage, attach, detach, quiesce, and the
 * device set-up shared by attach and adapter restart.
 */
#include <sys/errno.h>
#include <sys/conf.h>
#include <sys/modctl.h>
#include <sys/cmn_err.h>
#include <sys/kmem.h>
#include <sys/pci.h>
#include <sys/ddifm.h>

#include "pvscsi.h"

namespace pvscsi {
namespace {

void *pvscsi_sstate;

/* The DDI tables are built by constexpr functions, one a structure, that assign each member by
 * name: no table relies on the field order of sys/dditypes.h, sys/ddidmareq.h, sys/devops.h or
 * sys/modctl.h, and every table is still constant-initialized (a module's static constructors
 * never run). Members a function leaves out are zero. */
constexpr ddi_device_acc_attr_t acc_attr(ushort_t version, uchar_t endian) {
  ddi_device_acc_attr_t a{};
  a.devacc_attr_version = version;
  a.devacc_attr_endian_flags = endian;
  a.devacc_attr_dataorder = DDI_STRICTORDER_ACC;
  a.devacc_attr_access = DDI_DEFAULT_ACC;
  return a;
}
/* Registers: little-endian, strictly ordered (every access is a device side effect). Mutable,
 * as is the next: ddi_regs_map_setup(9F) and ddi_dma_mem_alloc(9F) take non-const pointers. */
ddi_device_acc_attr_t pvscsi_reg_attr = acc_attr(DDI_DEVICE_ATTR_V1, DDI_STRUCTURE_LE_ACC);
/* Shared memory: little-endian structures, accessed through the generated layouts. */
ddi_device_acc_attr_t pvscsi_mem_attr = acc_attr(DDI_DEVICE_ATTR_V0, DDI_NEVERSWAP_ACC);

/* Rings and the rings-state page: page aligned, any 64-bit address (the device takes page
 * numbers, so nothing limits us to 4 GiB), one contiguous segment per ring. */
constexpr ddi_dma_attr_t pvscsi_ring_dma_attr = pvscsi_dma_attr(hw::kPageSize);

/* Data: 64-bit, one SG list of kMaxSgEntriesPerSegment elements at most (chaining is not
 * portable), an element's length is 32 bits. maxxfer leaves room for a buffer starting
 * mid-page: (sgllen - 1) pages span at most sgllen pages. Granularity: whole sectors. */
constexpr ddi_dma_attr_t data_dma_attr() {
  ddi_dma_attr_t a = pvscsi_dma_attr(1);
  a.dma_attr_maxxfer = (hw::kMaxSgEntriesPerSegment - 1) * hw::kPageSize;
  a.dma_attr_sgllen = hw::kMaxSgEntriesPerSegment;
  a.dma_attr_granular = 512;
  return a;
}
constexpr ddi_dma_attr_t pvscsi_data_dma_attr = data_dma_attr();

/* As nulldev(9F), for identify (obsolete) and probe: DDI_SUCCESS is DDI_PROBE_DONTCARE (0). */
int pvscsi_nulldev(dev_info_t *) { return DDI_SUCCESS; }
int pvscsi_reset(dev_info_t *, ddi_reset_cmd_t) { return DDI_FAILURE; } /* obsolete: quiesce(9E) */

uint32_t pow2_pages(uint32_t v, uint32_t max) {
  uint32_t p = 1;
  while (p < v && p < max) p <<= 1;
  return p;
}

int prop_int(pvscsi_softc *sc, const char *name, int def) {
  return ddi_prop_get_int(DDI_DEV_T_ANY, sc->dip, DDI_PROP_DONTPASS, const_cast<char *>(name), def);
}

/* Map the first memory BAR of at least kBarSize bytes (QEMU has it at BAR0; VMware need not). */
int map_registers(pvscsi_softc *sc) {
  int *regs;
  uint_t nregs;
  if (ddi_prop_lookup_int_array(DDI_DEV_T_ANY, sc->dip, DDI_PROP_DONTPASS,
                                const_cast<char *>("reg"), &regs, &nregs) != DDI_PROP_SUCCESS) {
    dev_err(sc->dip, CE_WARN, ce_fmt("!no reg property"));
    return DDI_FAILURE;
  }
  uint_t per = sizeof(pci_regspec_t) / sizeof(int);
  int rnumber = -1;
  for (uint_t i = 1; i < nregs / per && rnumber < 0; i++) {
    const pci_regspec_t *rp = reinterpret_cast<const pci_regspec_t *>(&regs[i * per]);
    uint_t space = rp->pci_phys_hi & PCI_REG_ADDR_M;
    off_t size;
    if ((space == PCI_ADDR_MEM32 || space == PCI_ADDR_MEM64) &&
        ddi_dev_regsize(sc->dip, i, &size) == DDI_SUCCESS && size >= off_t(hw::kBarSize))
      rnumber = int(i);
  }
  ddi_prop_free(regs);
  if (rnumber < 0) {
    dev_err(sc->dip, CE_WARN, ce_fmt("!no memory BAR of at least %u bytes"), hw::kBarSize);
    return DDI_FAILURE;
  }
  if (ddi_regs_map_setup(sc->dip, rnumber, &sc->regs_base, 0, hw::kBarSize, &pvscsi_reg_attr,
                         &sc->regs_acch) != DDI_SUCCESS) { /* it leaves the handle NULL */
    dev_err(sc->dip, CE_WARN, ce_fmt("!cannot map registers"));
    return DDI_FAILURE;
  }
  return DDI_SUCCESS;
}

/* A command the device may not implement answers -1 as soon as its code is written. */
bool command_supported(pvscsi_softc *sc, hw::CommandCode code) {
  RegIo io{sc};
  return hw::start_command(io, code) != hw::kCommandStatusFailed;
}

int alloc_ring(pvscsi_softc *sc, pvscsi_dma *d, uint32_t pages) {
  return pvscsi_dma_alloc(sc, d, size_t(pages) * hw::kPageSize, &pvscsi_ring_dma_attr, KM_SLEEP);
}

/* Ask the CONFIG controller page for the number of targets; 0 when it cannot say. */
uint32_t read_max_targets(pvscsi_softc *sc) {
  pvscsi_dma page;
  if (!command_supported(sc, hw::CommandCode::kConfig) || alloc_ring(sc, &page, 1) != DDI_SUCCESS)
    return 0;
  auto *ctl = reinterpret_cast<hw::ConfigPageController *>(page.kaddr);
  /* Pre-fill an error, so a device that writes nothing is detected. */
  ctl->header()
      .set_host_status(hw::HostStatus::kInvparam)
      .set_scsi_status(hw::ScsiStatus::kCheckCondition);
  pvscsi_sync(page, 0, 0, DDI_DMA_SYNC_FORDEV);
  hw::CmdDescConfig d{};
  d.set_cmp_addr(page.paddr) /* configPageAddress 0: the controller */
      .set_config_addr_type(hw::ConfigAddrType::kController)
      .set_config_page_num(hw::ConfigPageType::kController);
  uint32_t status = pvscsi_command<hw::CmdConfig>(sc, d);
  pvscsi_sync(page, 0, 0, DDI_DMA_SYNC_FORKERNEL);
  uint32_t n = 0;
  if (pvscsi_command_ok(status) && ctl->header().host_status() == hw::HostStatus::kSuccess &&
      ctl->header().scsi_status() == hw::ScsiStatus::kGood) {
    uint32_t phys = ctl->num_phys();
    if (phys >= 1 && phys <= kMaxTargets)
      n = phys;
    else
      pvscsi_report_bogus(sc, "CONFIG numPhys", phys);
  }
  pvscsi_dma_free(&page);
  return n;
}

/* MSI-X, then MSI, then FIXED, each really tried (one vector allocated and the handler
 * installed, undone on failure); only the types below `below` (a DDI_INTR_TYPE_* bit: those
 * after a type that failed). */
int setup_interrupts(pvscsi_softc *sc, int below) {
  int types = 0;
  if (ddi_intr_get_supported_types(sc->dip, &types) != DDI_SUCCESS) return DDI_FAILURE;
  types &= prop_int(sc, "pvscsi-intr-types",
                    DDI_INTR_TYPE_MSIX | DDI_INTR_TYPE_MSI | DDI_INTR_TYPE_FIXED) &
           (below - 1);
  static const int order[] = {DDI_INTR_TYPE_MSIX, DDI_INTR_TYPE_MSI, DDI_INTR_TYPE_FIXED};
  for (int type : order) {
    int count = 0;
    if (!(types & type) ||
        ddi_intr_alloc(sc->dip, &sc->ihandle, type, 0, 1, &count, DDI_INTR_ALLOC_NORMAL) !=
            DDI_SUCCESS ||
        count < 1)
      continue;
    if (ddi_intr_get_pri(sc->ihandle, &sc->intr_pri) == DDI_SUCCESS &&
        ddi_intr_get_cap(sc->ihandle, &sc->intr_cap) == DDI_SUCCESS &&
        ddi_intr_add_handler(sc->ihandle, pvscsi_intr, reinterpret_cast<caddr_t>(sc), nullptr) ==
            DDI_SUCCESS) {
      sc->intr_type = type;
      return DDI_SUCCESS;
    }
    (void)ddi_intr_free(sc->ihandle);
    sc->ihandle = nullptr;
  }
  dev_err(sc->dip, CE_WARN, ce_fmt("!no usable interrupt (types 0x%x)"), types);
  return DDI_FAILURE;
}

bool enable_interrupts(pvscsi_softc *sc) {
  int rc = (sc->intr_cap & DDI_INTR_FLAG_BLOCK) ? ddi_intr_block_enable(&sc->ihandle, 1)
                                                : ddi_intr_enable(sc->ihandle);
  return sc->intr_enabled = rc == DDI_SUCCESS;
}

/* Disable the interrupt if it was enabled, remove its handler and free it. */
void release_interrupt(pvscsi_softc *sc) {
  if (sc->intr_enabled && (sc->intr_cap & DDI_INTR_FLAG_BLOCK))
    (void)ddi_intr_block_disable(&sc->ihandle, 1);
  else if (sc->intr_enabled)
    (void)ddi_intr_disable(sc->ihandle);
  sc->intr_enabled = false;
  (void)ddi_intr_remove_handler(sc->ihandle);
  (void)ddi_intr_free(sc->ihandle);
  sc->ihandle = nullptr;
}

constexpr uint_t kNumStats = sizeof(pvscsi_stats) / sizeof(uint64_t);

int kstat_update(kstat_t *ks, int rw) {
  if (rw == KSTAT_WRITE) return EACCES;
  auto *sc = static_cast<pvscsi_softc *>(ks->ks_private);
  auto *kn = static_cast<kstat_named_t *>(ks->ks_data);
  LockGuard g(&sc->lock);
  sc->stats.req_entries = sc->req_entries;
  sc->stats.cmp_entries = sc->cmp_entries;
  sc->stats.msg_entries = sc->have_msg_ring ? sc->msg_entries : 0;
  sc->stats.max_targets = sc->max_targets;
  sc->stats.intr_type = uint64_t(sc->intr_type);
  sc->stats.threshold = uint64_t(sc->have_threshold) + sc->use_threshold; /* 0, 1, 2: used */
  const uint64_t *v = &sc->stats.commands;
  for (size_t i = 0; i < kNumStats; i++) kn[i].value.ui64 = v[i];
  return 0;
}

void create_kstats(pvscsi_softc *sc) {
  static const char *const names[] = {"commands",         "kicks_rw",         "kicks_non_rw",
                                      "kicks_saved",      "interrupts",       "busy",
                                      "timeouts",         "aborts",           "device_resets",
                                      "bus_resets",       "adapter_resets",   "bogus_values",
                                      "hotplug_events",   "unknown_msgs",     "rescans",
                                      "req_ring_entries", "cmp_ring_entries", "msg_ring_entries",
                                      "max_targets",      "intr_type",        "req_call_threshold"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumStats, "one kstat per counter");
  sc->kstat = kstat_create(const_cast<char *>("pvscsi"), ddi_get_instance(sc->dip),
                           const_cast<char *>("stats"), const_cast<char *>("controller"),
                           KSTAT_TYPE_NAMED, kNumStats, 0);
  if (sc->kstat == nullptr) return;
  auto *kn = static_cast<kstat_named_t *>(sc->kstat->ks_data);
  for (uint_t i = 0; i < kNumStats; i++)
    kstat_named_init(&kn[i], const_cast<char *>(names[i]), KSTAT_DATA_UINT64);
  sc->kstat->ks_private = sc;
  sc->kstat->ks_update = kstat_update;
  kstat_install(sc->kstat);
}

/* Free whatever attach set up, in reverse order; safe on a partly attached instance. */
void teardown(pvscsi_softc *sc) {
  if (sc->kstat != nullptr) kstat_delete(sc->kstat);
  if (sc->regs_acch != nullptr) pvscsi_stop(sc);
  if (sc->ihandle != nullptr) release_interrupt(sc);
  /* No interrupt can queue hotplug work any more. */
  if (sc->taskq != nullptr) ddi_taskq_destroy(sc->taskq);
  if (sc->tran != nullptr) scsi_hba_tran_free(sc->tran);
  for (pvscsi_cmd *cmd = sc->probe_cmd, *next; cmd != nullptr; cmd = next) {
    next = cmd->next;
    pvscsi_dma_free(&cmd->dma);
    kmem_free(cmd, sizeof(pvscsi_cmd));
  }
  if (sc->ctx_table != nullptr) kmem_free(sc->ctx_table, sc->req_entries * sizeof(pvscsi_cmd *));
  if (sc->ctx_free != nullptr) kmem_free(sc->ctx_free, sc->req_entries * sizeof(uint16_t));
  pvscsi_dma *rings[] = {&sc->msg_ring, &sc->cmp_ring, &sc->req_ring, &sc->rings_state};
  for (pvscsi_dma *d : rings) pvscsi_dma_free(d);
  if (sc->intr_type != 0) mutex_destroy(&sc->lock); /* made once an interrupt type was chosen */
  if (sc->regs_acch != nullptr) ddi_regs_map_free(&sc->regs_acch);
  ddi_fm_fini(sc->dip);
  ddi_soft_state_free(pvscsi_sstate, ddi_get_instance(sc->dip));
}

bool setup_tran(pvscsi_softc *sc) {
  scsi_hba_tran_t *tran = sc->tran = scsi_hba_tran_alloc(sc->dip, SCSI_HBA_CANSLEEP);
  if (tran == nullptr) return false;
  tran->tran_hba_private = sc;
  tran->tran_tgt_init = pvscsi_tran_tgt_init;
  tran->tran_tgt_free = pvscsi_tran_tgt_free;
  tran->tran_start = pvscsi_tran_start;
  tran->tran_abort = pvscsi_tran_abort;
  tran->tran_reset = pvscsi_tran_reset;
  tran->tran_getcap = pvscsi_tran_getcap;
  tran->tran_setcap = pvscsi_tran_setcap;
  tran->tran_setup_pkt = pvscsi_tran_setup_pkt;
  tran->tran_teardown_pkt = pvscsi_tran_teardown_pkt;
  tran->tran_pkt_constructor = pvscsi_pkt_constructor;
  tran->tran_pkt_destructor = pvscsi_pkt_destructor;
  tran->tran_hba_len = sizeof(pvscsi_cmd);
  tran->tran_interconnect_type = INTERCONNECT_PARALLEL;
  sc->data_dma_attr = pvscsi_data_dma_attr;
  if (scsi_hba_attach_setup(sc->dip, &sc->data_dma_attr, tran,
                            SCSI_HBA_HBA | SCSI_HBA_TRAN_CDB | SCSI_HBA_TRAN_SCB |
                                SCSI_HBA_ADDR_COMPLEX) != DDI_SUCCESS)
    return false;
  if (scsi_hba_iport_register(sc->dip, const_cast<char *>("iport0")) != DDI_SUCCESS) {
    (void)scsi_hba_detach(sc->dip);
    return false;
  }
  return true;
}

int hba_attach(dev_info_t *dip) {
  int instance = ddi_get_instance(dip);
  if (ddi_soft_state_zalloc(pvscsi_sstate, instance) != DDI_SUCCESS) return DDI_FAILURE;
  auto *sc = static_cast<pvscsi_softc *>(ddi_get_soft_state(pvscsi_sstate, instance));
  sc->dip = dip;
  int fm_cap = DDI_FM_EREPORT_CAPABLE;
  ddi_fm_init(dip, &fm_cap, nullptr); /* no FM interrupt cookie needed (ddifm.c allows NULL) */

  if (map_registers(sc) != DDI_SUCCESS) goto fail;
  pvscsi_stop(sc);
  if (setup_interrupts(sc, DDI_INTR_TYPE_MSIX << 1) != DDI_SUCCESS) goto fail;
  mutex_init(&sc->lock, nullptr, MUTEX_DRIVER, DDI_INTR_PRI(sc->intr_pri));

  /* Optional features are probed before they are used. */
  sc->have_msg_ring = command_supported(sc, hw::CommandCode::kSetupMsgRing);
  sc->have_threshold = command_supported(sc, hw::CommandCode::kSetupReqCallThreshold);
  sc->max_targets = read_max_targets(sc);
  /* Without CONFIG assume 16 targets, but let discovery look as far as QEMU allows. */
  sc->probe_limit = sc->max_targets != 0 ? sc->max_targets : hw::kMaxTargetsQemu;
  if (sc->max_targets == 0) sc->max_targets = hw::kDefaultTargets;

  sc->req_pages = pow2_pages(prop_int(sc, "pvscsi-request-ring-pages", kDefaultReqRingPages),
                             hw::kMaxReqRingPages);
  sc->cmp_pages =
      pow2_pages(prop_int(sc, "pvscsi-completion-ring-pages", sc->req_pages), hw::kMaxCmpRingPages);
  /* Every outstanding request must have room for its completion. */
  while (sc->cmp_pages * hw::kCmpEntriesPerPage < sc->req_pages * hw::kReqEntriesPerPage)
    sc->cmp_pages <<= 1;
  sc->msg_pages =
      pow2_pages(prop_int(sc, "pvscsi-msg-ring-pages", kDefaultMsgRingPages), hw::kMaxMsgRingPages);
  sc->req_entries = sc->req_pages * hw::kReqEntriesPerPage;
  sc->cmp_entries = sc->cmp_pages * hw::kCmpEntriesPerPage;
  sc->msg_entries = sc->msg_pages * hw::kMsgEntriesPerPage;
  sc->use_threshold = sc->have_threshold && prop_int(sc, "pvscsi-use-request-threshold", 1) != 0;

  if (alloc_ring(sc, &sc->rings_state, 1) != DDI_SUCCESS ||
      alloc_ring(sc, &sc->req_ring, sc->req_pages) != DDI_SUCCESS ||
      alloc_ring(sc, &sc->cmp_ring, sc->cmp_pages) != DDI_SUCCESS ||
      (sc->have_msg_ring && alloc_ring(sc, &sc->msg_ring, sc->msg_pages) != DDI_SUCCESS))
    goto fail;

  sc->ctx_table =
      static_cast<pvscsi_cmd **>(kmem_zalloc(sc->req_entries * sizeof(pvscsi_cmd *), KM_SLEEP));
  sc->ctx_free = static_cast<uint16_t *>(kmem_zalloc(sc->req_entries * sizeof(uint16_t), KM_SLEEP));
  if (pvscsi_probe_cmd(sc, 0) == nullptr) goto fail; /* discovery always has one */

  sc->taskq = ddi_taskq_create(dip, "pvscsi_hotplug", 1, TASKQ_DEFAULTPRI, 0);
  if (sc->taskq == nullptr) goto fail;

  {
    LockGuard g(&sc->lock);
    if (pvscsi_setup_rings(sc) != DDI_SUCCESS) {
      dev_err(dip, CE_WARN, ce_fmt("!SETUP_RINGS failed"));
      goto fail;
    }
  }
  /* Enabling can fail too: fall back to the next type, as when allocation fails (the lock is
   * made again for the new priority; nothing can hold it yet). */
  while (!enable_interrupts(sc)) {
    release_interrupt(sc);
    if (setup_interrupts(sc, sc->intr_type) != DDI_SUCCESS) goto fail;
    mutex_destroy(&sc->lock);
    mutex_init(&sc->lock, nullptr, MUTEX_DRIVER, DDI_INTR_PRI(sc->intr_pri));
  }

  if (!setup_tran(sc)) goto fail;
  create_kstats(sc);
  ddi_report_dev(dip); /* the first command arms the watchdog */
  return DDI_SUCCESS;

fail:
  teardown(sc);
  return DDI_FAILURE;
}

int hba_detach(dev_info_t *dip) {
  auto *sc = static_cast<pvscsi_softc *>(ddi_get_soft_state(pvscsi_sstate, ddi_get_instance(dip)));
  if (sc == nullptr) return DDI_FAILURE;
  timeout_id_t tid;
  {
    LockGuard g(&sc->lock);
    /* Probes the device never gave back (it lost them, or ignores aborts and resets) do not
     * hold detach up: teardown's ADAPTER_RESET makes it forget them before they are freed. */
    uint32_t held = 0;
    for (pvscsi_cmd *c = sc->probe_cmd; c != nullptr; c = c->next) held += c->ctx != 0;
    if (sc->ctx_nfree + held != sc->req_entries || sc->tgtmap != nullptr) return DDI_FAILURE;
    sc->detaching = true;
    tid = sc->watchdog;
    sc->watchdog = 0;
  }
  if (tid != 0) (void)untimeout(tid);
  ddi_taskq_wait(sc->taskq);
  if (scsi_hba_detach(dip) != DDI_SUCCESS) {
    LockGuard g(&sc->lock);
    sc->detaching = false;
    return DDI_FAILURE;
  }
  teardown(sc);
  return DDI_SUCCESS;
}

int pvscsi_attach(dev_info_t *dip, ddi_attach_cmd_t cmd) {
  if (cmd != DDI_ATTACH) return DDI_FAILURE;
  if (scsi_hba_iport_unit_address(dip) != nullptr) return pvscsi_iport_attach(dip);
  return hba_attach(dip);
}

int pvscsi_detach(dev_info_t *dip, ddi_detach_cmd_t cmd) {
  if (cmd != DDI_DETACH) return DDI_FAILURE;
  if (scsi_hba_iport_unit_address(dip) != nullptr) return pvscsi_iport_detach(dip);
  return hba_detach(dip);
}

/* Fast reboot: stop the device. No locks, no allocation, no waiting. */
int pvscsi_quiesce(dev_info_t *dip) {
  auto *sc = static_cast<pvscsi_softc *>(ddi_get_soft_state(pvscsi_sstate, ddi_get_instance(dip)));
  if (sc != nullptr && sc->regs_acch != nullptr) pvscsi_stop(sc);
  return DDI_SUCCESS;
}

/* Zero: devo_refcnt, devo_power, and devo_cb_ops and devo_bus_ops, which scsi_hba_init(9F)
 * fills in (so the table is mutable). */
constexpr struct dev_ops dev_ops_table() {
  struct dev_ops o = {};
  o.devo_rev = DEVO_REV;
  o.devo_getinfo = ddi_no_info;
  o.devo_identify = pvscsi_nulldev;
  o.devo_probe = pvscsi_nulldev;
  o.devo_attach = pvscsi_attach;
  o.devo_detach = pvscsi_detach;
  o.devo_reset = pvscsi_reset;
  o.devo_quiesce = pvscsi_quiesce;
  return o;
}
struct dev_ops pvscsi_dev_ops = dev_ops_table();

/* Mutable, as is the modlinkage: the module framework takes both through non-const pointers. */
constexpr struct modldrv modldrv_table() {
  struct modldrv m = {};
  m.drv_modops = &mod_driverops;
  m.drv_linkinfo = const_cast<char *>("VMware PVSCSI");
  m.drv_dev_ops = &pvscsi_dev_ops;
  return m;
}
struct modldrv pvscsi_modldrv = modldrv_table();

/* One linkage; ml_linkage[1] stays null, ending the list. */
constexpr struct modlinkage modlinkage_table() {
  struct modlinkage l = {};
  l.ml_rev = MODREV_1;
  l.ml_linkage[0] = &pvscsi_modldrv;
  return l;
}

}  // namespace

/* ---- Shared with the other files ---- */

int pvscsi_dma_alloc(pvscsi_softc *sc, pvscsi_dma *d, size_t len, const ddi_dma_attr_t *attr,
                     int kmflag) {
  auto cb = (kmflag == KM_SLEEP) ? DDI_DMA_SLEEP : DDI_DMA_DONTWAIT;
  size_t real;
  ddi_dma_cookie_t cookie;
  uint_t ncookies;
  /* Each step writes its handle only when it succeeds: pvscsi_dma_free undoes those that did. */
  *d = pvscsi_dma{};
  if (ddi_dma_alloc_handle(sc->dip, const_cast<ddi_dma_attr_t *>(attr), cb, nullptr, &d->dmah) !=
          DDI_SUCCESS ||
      ddi_dma_mem_alloc(d->dmah, len, &pvscsi_mem_attr, DDI_DMA_CONSISTENT, cb, nullptr, &d->kaddr,
                        &real, &d->acch) != DDI_SUCCESS ||
      ddi_dma_addr_bind_handle(d->dmah, nullptr, d->kaddr, real, DDI_DMA_RDWR | DDI_DMA_CONSISTENT,
                               cb, nullptr, &cookie, &ncookies) != DDI_DMA_MAPPED) {
    pvscsi_dma_free(d);
    return DDI_FAILURE;
  }
  bzero(d->kaddr, real);
  (void)ddi_dma_sync(d->dmah, 0, 0, DDI_DMA_SYNC_FORDEV);
  d->paddr = cookie.dmac_laddress;
  d->len = len;
  return DDI_SUCCESS;
}

/* Free a buffer, or what a failed pvscsi_dma_alloc got of it (len is set once it is bound). */
void pvscsi_dma_free(pvscsi_dma *d) {
  if (d->len != 0) (void)ddi_dma_unbind_handle(d->dmah);
  if (d->acch != nullptr) ddi_dma_mem_free(&d->acch);
  if (d->dmah != nullptr) ddi_dma_free_handle(&d->dmah);
  *d = pvscsi_dma{};
}

/* Give the device fresh rings: zero the shared state, SETUP_RINGS, SETUP_MSG_RING, and the
 * request-call threshold. Used by attach and by every adapter restart. Caller holds the lock. */
int pvscsi_setup_rings(pvscsi_softc *sc) {
  pvscsi_dma *bufs[] = {&sc->rings_state, &sc->req_ring, &sc->cmp_ring, &sc->msg_ring};
  for (pvscsi_dma *d : bufs) {
    if (d->len == 0) continue; /* no message ring */
    bzero(d->kaddr, d->len);
    pvscsi_sync(*d, 0, 0, DDI_DMA_SYNC_FORDEV);
  }
  sc->req_prod = sc->cmp_cons = sc->msg_cons = 0;
  sc->ctx_nfree = sc->req_entries;
  for (uint32_t i = 0; i < sc->req_entries; i++) {
    sc->ctx_free[i] = uint16_t(sc->req_entries - 1 - i);
    sc->ctx_table[i] = nullptr;
  }

  hw::CmdDescSetupRings rings{};
  rings.set_req_ring_num_pages(sc->req_pages)
      .set_cmp_ring_num_pages(sc->cmp_pages)
      .set_rings_state_ppn(sc->rings_state.paddr >> hw::kPageShift);
  for (uint32_t i = 0; i < sc->req_pages; i++)
    rings.set_req_ring_ppns(i, (sc->req_ring.paddr >> hw::kPageShift) + i);
  for (uint32_t i = 0; i < sc->cmp_pages; i++)
    rings.set_cmp_ring_ppns(i, (sc->cmp_ring.paddr >> hw::kPageShift) + i);
  if (!pvscsi_command_ok(pvscsi_command<hw::CmdSetupRings>(sc, rings))) return DDI_FAILURE;

  if (sc->have_msg_ring) {
    hw::CmdDescSetupMsgRing msg{};
    msg.set_num_pages(sc->msg_pages);
    for (uint32_t i = 0; i < sc->msg_pages; i++)
      msg.set_ring_ppns(i, (sc->msg_ring.paddr >> hw::kPageShift) + i);
    /* QEMU answers SETUP_MSG_RING with its dword count, not 0. */
    if (!pvscsi_command_ok(pvscsi_command<hw::CmdSetupMsgRing>(sc, msg))) sc->have_msg_ring = false;
  }
  if (sc->use_threshold && !pvscsi_command_ok(pvscsi_command<hw::CmdSetupReqCallThreshold>(
                               sc, hw::CmdDescSetupReqCall().set_enable(1))))
    sc->use_threshold = false;
  /* The causes we handle; ADAPTER_RESET clears the mask, so every set-up sets it again. */
  uint32_t msgs = sc->have_msg_ring ? 1 : 0;
  RegIo io{sc};
  hw::IntrMask().set_cmpl_0(1).set_cmpl_1(1).set_msg_0(msgs).set_msg_1(msgs).write(io);
  return DDI_SUCCESS;
}

/* Everything the device writes is untrusted: a bad value is counted, reported once (console
 * and FMA), and never used. */
void pvscsi_report_bogus(pvscsi_softc *sc, const char *what, uint64_t value) {
  sc->stats.bogus++;
  if (!sc->degraded) { /* the watchdog reports it restored */
    sc->degraded = true;
    ddi_fm_service_impact(sc->dip, DDI_SERVICE_DEGRADED);
  }
  if (sc->bogus_reported) return;
  sc->bogus_reported = true;
  dev_err(sc->dip, CE_WARN, ce_fmt("!device wrote an invalid %s (0x%llx); ignored"), what,
          static_cast<unsigned long long>(value));
}

}  // namespace pvscsi

using namespace pvscsi;

static struct modlinkage modlinkage = modlinkage_table();

extern "C" {

int _init(void) {
  int rc = ddi_soft_state_init(&pvscsi_sstate, sizeof(pvscsi_softc), 1);
  if (rc != 0) return rc;
  if ((rc = scsi_hba_init(&modlinkage)) != 0) {
    ddi_soft_state_fini(&pvscsi_sstate);
    return rc;
  }
  if ((rc = mod_install(&modlinkage)) != 0) {
    scsi_hba_fini(&modlinkage);
    ddi_soft_state_fini(&pvscsi_sstate);
  }
  return rc;
}

int _fini(void) {
  int rc = mod_remove(&modlinkage);
  if (rc == 0) {
    scsi_hba_fini(&modlinkage);
    ddi_soft_state_fini(&pvscsi_sstate);
  }
  return rc;
}

int _info(struct modinfo *mip) { return mod_info(&modlinkage, mip); }

}  // extern "C"
