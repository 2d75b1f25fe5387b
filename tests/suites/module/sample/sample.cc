/*
 * A sample illumos driver that proves the kernel-module build (cmake/module.cmake) and the DDI
 * check (scripts/check-module.py) before the real driver exists, and keeps proving them after:
 * the module entry points, modldrv/modlinkage, dev_ops, and attach/detach doing the usual DDI
 * calls - soft state, a mutex, kmem, register mapping and access, properties, messages and an
 * SDT probe - written in the kernel-side C++ the driver uses (a lock guard, a template,
 * constexpr, enum class), against driver/compat only.
 */
#include <sys/types.h>
#include <sys/conf.h>
#include <sys/devops.h>
#include <sys/modctl.h>
#include <sys/cmn_err.h>
#include <sys/kmem.h>
#include <sys/ksynch.h>
#include <sys/sdt.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>

namespace sample {

/* <sys/sdt.h> declares each probe at block scope: declared here first with C linkage, the probe
 * keeps its plain symbol name (a C++-mangled probe is rejected by the check). */
extern "C" void __dtrace_probe_sample__attach(uintptr_t, uintptr_t);

/* dev_err(9F) takes a `char *` format, which a string literal is not in C++. */
__attribute__((format_arg(1))) inline char *ce_fmt(const char *fmt) {
  return const_cast<char *>(fmt);
}

enum class Reg : uint32_t { kId = 0x0, kStatus = 0x4 };

constexpr int kDefaultDepth = 32;

struct Soft {
  dev_info_t *dip;
  kmutex_t lock;
  ddi_acc_handle_t regs;
  caddr_t base;
  uint32_t id;
  int depth;
  uint64_t *counters;
};

// Holds a mutex for a scope; costs nothing beyond the two calls.
class LockGuard {
 public:
  explicit LockGuard(kmutex_t *m) : m_(m) { mutex_enter(m_); }
  ~LockGuard() { mutex_exit(m_); }
  LockGuard(const LockGuard &) = delete;
  LockGuard &operator=(const LockGuard &) = delete;

 private:
  kmutex_t *m_;
};

template <class T>
constexpr T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// nulldev(9F) and nodev(9F) take no arguments (in C they are unprototyped) and stand in for
// entry points that take some. The cast goes through void (*)() as GCC asks, and is written in
// the initializer itself: GCC folds it to an address constant there, whereas through another
// function dev_ops would need a static constructor (which the DDI check rejects).
#define SAMPLE_STUB(type, fn) reinterpret_cast<type>(reinterpret_cast<void (*)()>(fn))

void *soft_states;

ddi_device_acc_attr_t reg_attr = {
    DDI_DEVICE_ATTR_V0,
    DDI_STRUCTURE_LE_ACC,
    DDI_STRICTORDER_ACC,
    0,
};

uint32_t read_reg(Soft *s, Reg r) {
  return ddi_get32(s->regs, reinterpret_cast<uint32_t *>(s->base + static_cast<uint32_t>(r)));
}

int attach(dev_info_t *dip, ddi_attach_cmd_t cmd) {
  if (cmd != DDI_ATTACH) {
    return DDI_FAILURE;
  }
  int instance = ddi_get_instance(dip);
  if (ddi_soft_state_zalloc(soft_states, instance) != DDI_SUCCESS) {
    return DDI_FAILURE;
  }
  auto *s = static_cast<Soft *>(ddi_get_soft_state(soft_states, instance));
  s->dip = dip;
  mutex_init(&s->lock, nullptr, MUTEX_DRIVER, nullptr);
  if (ddi_regs_map_setup(dip, 1, &s->base, 0, 0, &reg_attr, &s->regs) != DDI_SUCCESS) {
    dev_err(dip, CE_WARN, ce_fmt("cannot map registers"));
    mutex_destroy(&s->lock);
    ddi_soft_state_free(soft_states, instance);
    return DDI_FAILURE;
  }
  s->depth = clamp(ddi_prop_get_int(DDI_DEV_T_ANY, dip, DDI_PROP_DONTPASS,
                                    const_cast<char *>("queue-depth"), kDefaultDepth),
                   1, 1024);
  s->counters = static_cast<uint64_t *>(kmem_zalloc(sizeof(uint64_t) * s->depth, KM_SLEEP));
  {
    LockGuard g(&s->lock);
    s->id = read_reg(s, Reg::kId);
  }
  DTRACE_PROBE2(sample__attach, dev_info_t *, dip, uint32_t, s->id);
  ddi_set_driver_private(dip, s);
  ddi_report_dev(dip);
  return DDI_SUCCESS;
}

int detach(dev_info_t *dip, ddi_detach_cmd_t cmd) {
  if (cmd != DDI_DETACH) {
    return DDI_FAILURE;
  }
  auto *s = static_cast<Soft *>(ddi_get_driver_private(dip));
  {
    LockGuard g(&s->lock);
    if (read_reg(s, Reg::kStatus) != 0) {
      dev_err(dip, CE_NOTE, ce_fmt("!busy, not detaching"));
      return DDI_FAILURE;
    }
  }
  kmem_free(s->counters, sizeof(uint64_t) * s->depth);
  ddi_regs_map_free(&s->regs);
  mutex_destroy(&s->lock);
  ddi_set_driver_private(dip, nullptr);
  ddi_soft_state_free(soft_states, ddi_get_instance(dip));
  return DDI_SUCCESS;
}

}  // namespace sample

static struct dev_ops sample_dev_ops = {
    DEVO_REV,                                                    // devo_rev
    0,                                                           // devo_refcnt
    ddi_no_info,                                                 // devo_getinfo
    SAMPLE_STUB(int (*)(dev_info_t *), nulldev),                 // devo_identify
    SAMPLE_STUB(int (*)(dev_info_t *), nulldev),                 // devo_probe
    sample::attach,                                              // devo_attach
    sample::detach,                                              // devo_detach
    SAMPLE_STUB(int (*)(dev_info_t *, ddi_reset_cmd_t), nodev),  // devo_reset
    nullptr,                                                     // devo_cb_ops
    nullptr,                                                     // devo_bus_ops
    nullptr,                                                     // devo_power
    ddi_quiesce_not_needed,                                      // devo_quiesce
};

static struct modldrv sample_modldrv = {
    &mod_driverops,
    "module-build sample",
    &sample_dev_ops,
};

static struct modlinkage modlinkage = {
    MODREV_1,
    {&sample_modldrv, nullptr},
};

extern "C" int _init(void) {
  int rv = ddi_soft_state_init(&sample::soft_states, sizeof(sample::Soft), 1);
  if (rv != 0) {
    return rv;
  }
  rv = mod_install(&modlinkage);
  if (rv != 0) {
    ddi_soft_state_fini(&sample::soft_states);
  }
  return rv;
}

extern "C" int _fini(void) {
  int rv = mod_remove(&modlinkage);
  if (rv == 0) {
    ddi_soft_state_fini(&sample::soft_states);
  }
  return rv;
}

extern "C" int _info(struct modinfo *modinfop) { return mod_info(&modlinkage, modinfop); }
