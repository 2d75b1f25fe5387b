/*
 * tinydrv: a minimal illumos PCI driver for the userland kernel's acceptance test. Written only
 * against the DDI (driver/compat): it maps its registers, sets up DMA memory and an interrupt
 * (MSI, falling back to FIXED), runs one DMA transfer on the test device at attach (the device
 * adds 1 to every byte) and tears everything down at detach.
 */
#include <sys/types.h>
#include <sys/param.h>
#include <sys/modctl.h>
#include <sys/conf.h>
#include <sys/devops.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>
#include <sys/ddi_intr.h>
#include <sys/kmem.h>
#include <sys/kstat.h>
#include <sys/sdt.h>
#include <sys/debug.h>
#include <sys/pci.h>

// A named namespace: in the freestanding build DTRACE_PROBE declares __dtrace_probe_<name> at
// block scope, which would get internal linkage inside an unnamed namespace; the C-linkage
// declarations below keep the probes' plain symbol names.
namespace tinydrv {

extern "C" void __dtrace_probe_tiny__intr(uintptr_t);
extern "C" void __dtrace_probe_tiny__attach(uintptr_t);

// dev_err(9F) takes a `char *` format (<sys/cmn_err.h>), which a string literal is not in C++.
__attribute__((format_arg(1))) inline char *ce_fmt(const char *fmt) {
  return const_cast<char *>(fmt);
}

constexpr uint16_t kVendor = 0x1af4;
constexpr uint16_t kDevice = 0x7e57;
constexpr uint32_t kRegId = 0x00, kRegAddrLo = 0x04, kRegAddrHi = 0x08, kRegLen = 0x0c,
                   kRegGo = 0x10, kRegStatus = 0x14, kRegMask = 0x18;
constexpr size_t kBufSize = 256;

void *tiny_state;

struct tiny {
  dev_info_t *dip;
  ddi_acc_handle_t cfg;
  ddi_acc_handle_t regs;
  caddr_t regbase;
  ddi_dma_handle_t dmah;
  ddi_acc_handle_t dmaacc;
  caddr_t buf;
  uint64_t buf_pa;
  ddi_intr_handle_t intr;
  int intr_type;
  int intr_cap;  // DDI_INTR_FLAG_BLOCK: enabled and disabled with the block interface only
  uint_t intr_pri;
  kmutex_t lock;
  kcondvar_t cv;
  bool done;
  uint32_t status;
  kstat_t *ks;
  uint64_t interrupts;
  // How far attach got, for the unwinding in tiny_teardown().
  bool have_cfg, have_regs, have_dmah, have_mem, have_bind, have_intr, have_handler, have_lock,
      have_enabled;
};

ddi_device_acc_attr_t tiny_acc_attr = {DDI_DEVICE_ATTR_V0, DDI_STRUCTURE_LE_ACC,
                                       DDI_STRICTORDER_ACC, DDI_DEFAULT_ACC};

ddi_dma_attr_t tiny_dma_attr = {
    DMA_ATTR_V0,  // version
    0,            // addr_lo
    ~0ull,        // addr_hi: 64-bit device
    0xffffffffu,  // count_max
    4096,         // align
    1,            // burstsizes
    1,            // minxfer
    0xffffffffu,  // maxxfer
    ~0ull,        // seg
    1,            // sgllen
    1,            // granular
    0,            // flags
};

uint32_t tiny_get(tiny *t, uint32_t reg) {
  return ddi_get32(t->regs, reinterpret_cast<uint32_t *>(t->regbase + reg));
}

void tiny_put(tiny *t, uint32_t reg, uint32_t v) {
  ddi_put32(t->regs, reinterpret_cast<uint32_t *>(t->regbase + reg), v);
}

uint_t tiny_intr(caddr_t arg1, caddr_t) {
  tiny *t = reinterpret_cast<tiny *>(arg1);
  uint32_t st = tiny_get(t, kRegStatus);
  if (st == 0) return DDI_INTR_UNCLAIMED;
  tiny_put(t, kRegStatus, st);  // write 1s to clear: drops the level-triggered line
  mutex_enter(&t->lock);
  t->interrupts++;
  t->status = st;
  t->done = true;
  DTRACE_PROBE1(tiny__intr, uint32_t, st);
  cv_signal(&t->cv);
  mutex_exit(&t->lock);
  return DDI_INTR_CLAIMED;
}

int tiny_setup_intr(tiny *t) {
  int types;
  if (ddi_intr_get_supported_types(t->dip, &types) != DDI_SUCCESS) return DDI_FAILURE;
  const int order[] = {DDI_INTR_TYPE_MSI, DDI_INTR_TYPE_FIXED};
  for (int type : order) {
    if (!(types & type)) continue;
    int count = 0, actual = 0;
    if (ddi_intr_get_nintrs(t->dip, type, &count) != DDI_SUCCESS || count < 1) continue;
    if (ddi_intr_alloc(t->dip, &t->intr, type, 0, 1, &actual, DDI_INTR_ALLOC_STRICT) != DDI_SUCCESS)
      continue;
    if (ddi_intr_get_pri(t->intr, &t->intr_pri) != DDI_SUCCESS) {
      (void)ddi_intr_free(t->intr);
      continue;
    }
    if (ddi_intr_get_cap(t->intr, &t->intr_cap) != DDI_SUCCESS) t->intr_cap = 0;
    t->intr_type = type;
    t->have_intr = true;
    return DDI_SUCCESS;
  }
  return DDI_FAILURE;
}

int tiny_kstat_update(kstat_t *ks, int rw) {
  if (rw != KSTAT_READ) return EACCES;
  tiny *t = static_cast<tiny *>(ks->ks_private);
  kstat_named_t *kn = KSTAT_NAMED_PTR(ks);
  kn[0].value.ui64 = t->interrupts;
  kn[1].value.ui32 = static_cast<uint32_t>(t->intr_type);
  return 0;
}

void tiny_teardown(tiny *t) {
  if (t->ks != nullptr) kstat_delete(t->ks);
  if (t->have_enabled)
    (void)((t->intr_cap & DDI_INTR_FLAG_BLOCK) ? ddi_intr_block_disable(&t->intr, 1)
                                               : ddi_intr_disable(t->intr));
  if (t->have_handler) (void)ddi_intr_remove_handler(t->intr);
  if (t->have_intr) (void)ddi_intr_free(t->intr);
  if (t->have_lock) {
    cv_destroy(&t->cv);
    mutex_destroy(&t->lock);
  }
  if (t->have_bind) (void)ddi_dma_unbind_handle(t->dmah);
  if (t->have_mem) ddi_dma_mem_free(&t->dmaacc);
  if (t->have_dmah) ddi_dma_free_handle(&t->dmah);
  if (t->have_regs) ddi_regs_map_free(&t->regs);
  if (t->have_cfg) pci_config_teardown(&t->cfg);
  int inst = ddi_get_instance(t->dip);
  ddi_soft_state_free(tiny_state, inst);
}

// One transfer: the device adds 1 to every byte of the buffer.
int tiny_selftest(tiny *t) {
  for (size_t i = 0; i < kBufSize; i++) t->buf[i] = static_cast<char>(i);
  (void)ddi_dma_sync(t->dmah, 0, kBufSize, DDI_DMA_SYNC_FORDEV);
  mutex_enter(&t->lock);
  t->done = false;
  tiny_put(t, kRegAddrLo, static_cast<uint32_t>(t->buf_pa));
  tiny_put(t, kRegAddrHi, static_cast<uint32_t>(t->buf_pa >> 32));
  tiny_put(t, kRegLen, kBufSize);
  tiny_put(t, kRegMask, 1);
  tiny_put(t, kRegGo, 1);
  clock_t deadline = ddi_get_lbolt() + drv_usectohz(1000000);
  while (!t->done) {
    if (cv_timedwait(&t->cv, &t->lock, deadline) == -1) break;
  }
  bool done = t->done;
  uint32_t status = t->status;
  mutex_exit(&t->lock);
  if (!done) {
    dev_err(t->dip, CE_WARN, ce_fmt("self-test: no interrupt"));
    return DDI_FAILURE;
  }
  if (status != 1) {
    dev_err(t->dip, CE_WARN, ce_fmt("self-test: device status 0x%x"), status);
    return DDI_FAILURE;
  }
  (void)ddi_dma_sync(t->dmah, 0, kBufSize, DDI_DMA_SYNC_FORCPU);
  for (size_t i = 0; i < kBufSize; i++) {
    if (static_cast<uint8_t>(t->buf[i]) != static_cast<uint8_t>(i + 1)) {
      dev_err(t->dip, CE_WARN, ce_fmt("self-test: byte %u is 0x%x"), static_cast<unsigned>(i),
              static_cast<uint8_t>(t->buf[i]));
      return DDI_FAILURE;
    }
  }
  return DDI_SUCCESS;
}

// Config space and BAR 0, checking that the device is ours.
int tiny_map_regs(tiny *t) {
  if (pci_config_setup(t->dip, &t->cfg) != DDI_SUCCESS) return DDI_FAILURE;
  t->have_cfg = true;
  if (pci_config_get16(t->cfg, PCI_CONF_VENID) != kVendor ||
      pci_config_get16(t->cfg, PCI_CONF_DEVID) != kDevice) {
    dev_err(t->dip, CE_WARN, ce_fmt("not a tiny device"));
    return DDI_FAILURE;
  }
  if (ddi_regs_map_setup(t->dip, 1, &t->regbase, 0, 0, &tiny_acc_attr, &t->regs) != DDI_SUCCESS)
    return DDI_FAILURE;
  t->have_regs = true;
  if (tiny_get(t, kRegId) != 0x7e570001u) {
    dev_err(t->dip, CE_WARN, ce_fmt("bad ID register"));
    return DDI_FAILURE;
  }
  return DDI_SUCCESS;
}

// The DMA buffer: a handle, its memory, bound as one cookie.
int tiny_alloc_dma(tiny *t) {
  if (ddi_dma_alloc_handle(t->dip, &tiny_dma_attr, DDI_DMA_SLEEP, nullptr, &t->dmah) != DDI_SUCCESS)
    return DDI_FAILURE;
  t->have_dmah = true;
  size_t real;
  if (ddi_dma_mem_alloc(t->dmah, kBufSize, &tiny_acc_attr, DDI_DMA_CONSISTENT, DDI_DMA_SLEEP,
                        nullptr, &t->buf, &real, &t->dmaacc) != DDI_SUCCESS)
    return DDI_FAILURE;
  t->have_mem = true;
  ddi_dma_cookie_t cookie;
  uint_t ncookies;
  if (ddi_dma_addr_bind_handle(t->dmah, nullptr, t->buf, kBufSize,
                               DDI_DMA_RDWR | DDI_DMA_CONSISTENT, DDI_DMA_SLEEP, nullptr, &cookie,
                               &ncookies) != DDI_DMA_MAPPED)
    return DDI_FAILURE;
  t->have_bind = true;
  ASSERT3U(ncookies, ==, 1);
  t->buf_pa = ddi_dma_cookie_one(t->dmah)->dmac_laddress;
  return DDI_SUCCESS;
}

// An interrupt, the lock at its priority, the handler, enabled.
int tiny_start_intr(tiny *t) {
  if (tiny_setup_intr(t) != DDI_SUCCESS) {
    dev_err(t->dip, CE_WARN, ce_fmt("no usable interrupt"));
    return DDI_FAILURE;
  }
  mutex_init(&t->lock, nullptr, MUTEX_DRIVER, DDI_INTR_PRI(t->intr_pri));
  cv_init(&t->cv, nullptr, CV_DRIVER, nullptr);
  t->have_lock = true;
  if (ddi_intr_add_handler(t->intr, tiny_intr, reinterpret_cast<caddr_t>(t), nullptr) !=
      DDI_SUCCESS)
    return DDI_FAILURE;
  t->have_handler = true;
  if (((t->intr_cap & DDI_INTR_FLAG_BLOCK) ? ddi_intr_block_enable(&t->intr, 1)
                                           : ddi_intr_enable(t->intr)) != DDI_SUCCESS)
    return DDI_FAILURE;
  t->have_enabled = true;
  return DDI_SUCCESS;
}

// The named kstats (optional: attach goes on without them).
void tiny_create_kstats(tiny *t, int inst) {
  t->ks = kstat_create("tiny", inst, "stats", "misc", KSTAT_TYPE_NAMED, 2, 0);
  if (t->ks == nullptr) return;
  kstat_named_t *kn = KSTAT_NAMED_PTR(t->ks);
  kstat_named_init(&kn[0], "interrupts", KSTAT_DATA_UINT64);
  kstat_named_init(&kn[1], "intr_type", KSTAT_DATA_UINT32);
  t->ks->ks_update = tiny_kstat_update;
  t->ks->ks_private = t;
  t->ks->ks_lock = &t->lock;
  kstat_install(t->ks);
}

int tiny_attach(dev_info_t *dip, ddi_attach_cmd_t cmd) {
  if (cmd != DDI_ATTACH) return DDI_FAILURE;
  int inst = ddi_get_instance(dip);
  if (ddi_soft_state_zalloc(tiny_state, inst) != DDI_SUCCESS) return DDI_FAILURE;
  tiny *t = static_cast<tiny *>(ddi_get_soft_state(tiny_state, inst));
  t->dip = dip;
  if (tiny_map_regs(t) != DDI_SUCCESS || tiny_alloc_dma(t) != DDI_SUCCESS ||
      tiny_start_intr(t) != DDI_SUCCESS || tiny_selftest(t) != DDI_SUCCESS) {
    tiny_teardown(t);
    return DDI_FAILURE;
  }
  tiny_create_kstats(t, inst);
  dev_err(dip, CE_NOTE, ce_fmt("!attached, %s interrupts"),
          t->intr_type == DDI_INTR_TYPE_MSI ? "MSI" : "FIXED");
  DTRACE_PROBE1(tiny__attach, int, inst);
  return DDI_SUCCESS;
}

int tiny_detach(dev_info_t *dip, ddi_detach_cmd_t cmd) {
  if (cmd != DDI_DETACH) return DDI_FAILURE;
  tiny *t = static_cast<tiny *>(ddi_get_soft_state(tiny_state, ddi_get_instance(dip)));
  if (t == nullptr) return DDI_FAILURE;
  tiny_put(t, kRegMask, 0);
  tiny_teardown(t);
  return DDI_SUCCESS;
}

// quiesce(9E): single-threaded, no locks, no sleeping: just silence the device.
int tiny_quiesce(dev_info_t *dip) {
  tiny *t = static_cast<tiny *>(ddi_get_soft_state(tiny_state, ddi_get_instance(dip)));
  if (t == nullptr) return DDI_FAILURE;
  tiny_put(t, kRegMask, 0);
  return DDI_SUCCESS;
}

// nulldev/nodev are unprototyped in C; in C++ the entry points need their real types.
int tiny_identify(dev_info_t *) { return DDI_SUCCESS; }
int tiny_probe(dev_info_t *) { return DDI_PROBE_DONTCARE; }
int tiny_reset(dev_info_t *, ddi_reset_cmd_t) { return DDI_FAILURE; }

struct dev_ops tiny_dev_ops = {
    DEVO_REV,       // devo_rev
    0,              // devo_refcnt
    ddi_no_info,    // devo_getinfo
    tiny_identify,  // devo_identify
    tiny_probe,     // devo_probe
    tiny_attach,    // devo_attach
    tiny_detach,    // devo_detach
    tiny_reset,     // devo_reset
    nullptr,        // devo_cb_ops
    nullptr,        // devo_bus_ops
    nullptr,        // devo_power
    tiny_quiesce,   // devo_quiesce
};

struct modldrv tiny_modldrv = {&mod_driverops, "tiny test driver", &tiny_dev_ops};
struct modlinkage tiny_modlinkage = {MODREV_1, {&tiny_modldrv, nullptr}};

}  // namespace tinydrv

using namespace tinydrv;

extern "C" int _init(void) {
  int r = ddi_soft_state_init(&tiny_state, sizeof(tiny), 1);
  if (r != 0) return r;
  r = mod_install(&tiny_modlinkage);
  if (r != 0) ddi_soft_state_fini(&tiny_state);
  return r;
}

extern "C" int _info(struct modinfo *modinfop) { return mod_info(&tiny_modlinkage, modinfop); }

extern "C" int _fini(void) {
  int r = mod_remove(&tiny_modlinkage);
  if (r == 0) ddi_soft_state_fini(&tiny_state);
  return r;
}
