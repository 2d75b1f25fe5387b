// PCI nodes: the DeviceHost a device talks to, register and configuration-space access, and
// interrupts (ddi_intr_*).
//
// Register mappings are PROT_NONE reservations: a driver that dereferences a mapped register
// address instead of calling ddi_get/ddi_put faults at once.
//
// Interrupts: one interrupt thread per added handler. FIXED is level-triggered: the handler runs
// while the device holds the line asserted (and the interrupt is enabled); a handler that keeps
// returning with the line still asserted 10000 times in a row is an interrupt storm (violation
// "intr", delivery pauses until the line drops). MSI/MSI-X are edge-triggered: each message
// sets the vector pending; a pending vector runs its handler once. A handler never runs while
// its interrupt is disabled, nor during quiesce(9E); ddi_intr_disable and remove_handler wait
// for a running handler to return.
#include <sys/mman.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi_intr.h>

#include <cstdio>
#include <cstring>

#include "fk_internal.h"

namespace fk::impl {
void apply_conf_props(dev_info_t *dip);

namespace {

class Host : public DeviceHost {
 public:
  explicit Host(dev_info_t *dip) : dip_(dip) {}
  bool dma_read(uint64_t pa, void *buf, size_t len) override {
    return impl::dma_read(pa, buf, len);
  }
  bool dma_write(uint64_t pa, const void *buf, size_t len) override {
    return impl::dma_write(pa, buf, len);
  }
  void set_intx(bool asserted) override {
    PciState &s = *dip_->pci;
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.line != asserted) s.line_gen++;
    // The interrupt controller latches an assertion: even a short pulse is delivered once.
    if (asserted && !s.line)
      for (ddi_intr_handle_t h : s.handles)
        if (h->type == DDI_INTR_TYPE_FIXED) h->pending = 1;
    s.line = asserted;
    s.cv.notify_all();
  }
  void send_msi(unsigned vector) override {
    PciState &s = *dip_->pci;
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.itype != DDI_INTR_TYPE_MSI && s.itype != DDI_INTR_TYPE_MSIX) return;
    for (ddi_intr_handle_t h : s.handles)
      if (h->inum == static_cast<int>(vector)) h->pending++;
    s.cv.notify_all();
  }
  int64_t now_ns() override { return clock_now(); }
  uint64_t schedule(int64_t when_ns, std::function<void()> fn) override {
    return clock_add(when_ns, std::move(fn), true);
  }
  bool cancel(uint64_t id) override { return clock_cancel(id, true); }

 private:
  dev_info_t *dip_;
};

bool deliverable(PciState &s, ddi_intr_handle_t h) {
  if (!h->enabled || s.quiesced || h->handler == nullptr) return false;
  if (h->type == DDI_INTR_TYPE_FIXED)
    return (s.line || h->pending > 0) && !(h->storm && h->line_gen == s.line_gen);
  return h->pending > 0;
}

void intr_main(PciState *s, ddi_intr_handle_t h) {
  ThreadCtx &ctx = tctx();
  std::unique_lock<std::mutex> lk(s->mu);
  h->thread_blocked = &ctx.blocked;
  int consecutive = 0;
  for (;;) {
    s->cv.wait(
        lk, [s, h] { return h->stop || deliverable(*s, h); }, "an interrupt");
    if (h->stop) {
      h->thread_blocked = nullptr;
      return;
    }
    h->pending = 0;
    h->running = true;
    lk.unlock();
    ctx.in_intr = true;
    ctx.intr_pri = h->pri;
    uint_t r = h->handler(static_cast<caddr_t>(h->arg1), static_cast<caddr_t>(h->arg2));
    ctx.in_intr = false;
    ctr().interrupts++;
    if (r == DDI_INTR_CLAIMED)
      ctr().interrupts_claimed++;
    else
      ctr().interrupts_unclaimed++;
    lk.lock();
    h->running = false;
    s->cv.notify_all();
    if (h->type == DDI_INTR_TYPE_FIXED && s->line) {
      if (++consecutive >= 10000) {
        h->storm = true;
        h->line_gen = s->line_gen;
        consecutive = 0;
        lk.unlock();
        report_violation("intr",
                         "interrupt storm: INTx still asserted after 10000 handler "
                         "calls (the handler does not clear the interrupt cause)");
        lk.lock();
      }
    } else {
      consecutive = 0;
      h->storm = false;
    }
  }
}

void stop_thread(PciState &s, ddi_intr_handle_t h) {
  {
    std::lock_guard<std::mutex> lk(s.mu);
    h->stop = true;
    s.cv.notify_all();
  }
  if (h->thread.joinable()) {
    if (h->thread.tid() == std::this_thread::get_id()) {
      report_violation("intr", "interrupt handler removed from its own handler");
      h->thread.detach();
    } else {
      h->thread.join();
    }
  }
}

uint32_t make_phys_hi(const RegionInfo &r, unsigned dev, unsigned fn) {
  uint32_t hi = (dev << 11) | (fn << 8);
  switch (r.kind) {
    case RegionInfo::Kind::kConfig:
      return hi;
    case RegionInfo::Kind::kIo:
      return hi | PCI_ADDR_IO | (0x10 + 4 * r.bar);
    case RegionInfo::Kind::kMem32:
      return hi | PCI_ADDR_MEM32 | (0x10 + 4 * r.bar);
    case RegionInfo::Kind::kMem64:
      return hi | PCI_ADDR_MEM64 | (0x10 + 4 * r.bar);
  }
  return hi;
}

ddi_acc_handle_t check_handle(ddi_acc_handle_t h, const void *addr, unsigned width,
                              const void *site) {
  if (h == nullptr) {
    report_violation("regs",
                     "register access through a NULL access handle at " + describe_site(site));
    return nullptr;
  }
  if (!tracked("acc-handle", h) && !tracked("dma-mem", h)) {
    report_violation(
        "regs", "register access through a freed or bogus access handle at " + describe_site(site));
    return nullptr;
  }
  auto p = static_cast<const uint8_t *>(addr);
  if (h->kind != __ddi_acc_handle::Kind::kConfig && (p < h->base || p + width > h->base + h->len)) {
    char buf[160];
    snprintf(buf, sizeof buf, "ddi_get/put%u at %p outside the mapping [%p, +0x%llx) at %s",
             width * 8, addr, (void *)h->base, (unsigned long long)h->len,
             describe_site(site).c_str());
    report_violation("regs", buf);
    return nullptr;
  }
  if (h->kind == __ddi_acc_handle::Kind::kRegs && (p - h->base) % width != 0) {
    report_violation("regs", "misaligned register access at " + describe_site(site));
    return nullptr;
  }
  return h;
}

uint64_t swap_if(ddi_acc_handle_t h, uint64_t v, unsigned width) {
  if (h->attr.devacc_attr_endian_flags != DDI_STRUCTURE_BE_ACC) return v;
  switch (width) {
    case 2:
      return __builtin_bswap16(static_cast<uint16_t>(v));
    case 4:
      return __builtin_bswap32(static_cast<uint32_t>(v));
    case 8:
      return __builtin_bswap64(v);
  }
  return v;
}

uint64_t acc_get(ddi_acc_handle_t h, const void *addr, unsigned width, const void *site) {
  if (check_handle(h, addr, width, site) == nullptr) return ~0ull >> (64 - 8 * width);
  if (h->kind == __ddi_acc_handle::Kind::kDmaMem) {
    uint64_t v = 0;
    memcpy(&v, addr, width);
    return swap_if(h, v, width);
  }
  switch_point("register read");
  PciState &s = *h->dip->pci;
  ctr().reg_reads++;
  uint64_t off = h->reg_offset + (static_cast<const uint8_t *>(addr) - h->base);
  if (h->fm_status != DDI_FM_OK) return ~0ull >> (64 - 8 * width);
  uint64_t v = h->kind == __ddi_acc_handle::Kind::kConfig
                   ? s.dev->config_read(static_cast<uint32_t>(off), width)
                   : s.dev->reg_read(h->rnumber, off, width);
  return swap_if(h, v, width);
}

void acc_put(ddi_acc_handle_t h, void *addr, unsigned width, uint64_t v, const void *site) {
  if (check_handle(h, addr, width, site) == nullptr) return;
  v = swap_if(h, v, width);
  if (h->kind == __ddi_acc_handle::Kind::kDmaMem) {
    memcpy(addr, &v, width);
    return;
  }
  switch_point("register write");
  PciState &s = *h->dip->pci;
  ctr().reg_writes++;
  uint64_t off = h->reg_offset + (static_cast<uint8_t *>(addr) - h->base);
  if (h->kind == __ddi_acc_handle::Kind::kConfig)
    s.dev->config_write(static_cast<uint32_t>(off), width, static_cast<uint32_t>(v));
  else
    s.dev->reg_write(h->rnumber, off, width, v);
}

PciState *pci_of(dev_info_t *dip) { return dip ? dip->pci.get() : nullptr; }

std::mutex g_nodes_mu;
std::vector<PciState *> g_nodes;

int intr_check_type(dev_info_t *dip, int type) {
  PciState *s = pci_of(dip);
  if (s == nullptr) return DDI_EINVAL;
  if (type != DDI_INTR_TYPE_FIXED && type != DDI_INTR_TYPE_MSI && type != DDI_INTR_TYPE_MSIX)
    return DDI_EINVAL;
  if (!(s->dev->intr_types() & type)) return DDI_EINVAL;
  return DDI_SUCCESS;
}

}  // namespace

bool intr_idle() {
  std::lock_guard<std::mutex> lk(g_nodes_mu);
  for (PciState *s : g_nodes) {
    std::lock_guard<std::mutex> l2(s->mu);
    for (ddi_intr_handle_t h : s->handles)
      if (h->running || deliverable(*s, h)) return false;
  }
  return true;
}

bool intr_runnable() {
  std::lock_guard<std::mutex> lk(g_nodes_mu);
  for (PciState *s : g_nodes) {
    std::lock_guard<std::mutex> l2(s->mu);
    for (ddi_intr_handle_t h : s->handles) {
      if (deliverable(*s, h)) return true;
      if (h->running && (h->thread_blocked == nullptr || !h->thread_blocked->load())) return true;
    }
  }
  return false;
}

void pci_node_fini(dev_info_t *dip) {
  PciState *s = dip->pci.get();
  if (s == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(g_nodes_mu);
    g_nodes.erase(std::find(g_nodes.begin(), g_nodes.end(), s));
  }
  for (ddi_intr_handle_t h : std::vector<ddi_intr_handle_t>(s->handles)) {
    stop_thread(*s, h);
    untrack("intr", h);
    delete h;
  }
  s->handles.clear();
  for (ddi_acc_handle_t h : s->maps) {
    if (h->base != nullptr && h->kind == __ddi_acc_handle::Kind::kRegs)
      munmap(h->base, (h->len + 4095) & ~4095ull);
    untrack("acc-handle", h);
    delete h;
  }
  s->maps.clear();
  s->dev->disconnect();
  dip->pci.reset();
}

}  // namespace fk::impl

namespace fk {
using namespace fk::impl;

dev_info_t *add_pci_node(DeviceBackend *dev, const PciNodeOptions &o) {
  std::string name = o.node_name.empty() ? driver_name() : o.node_name;
  char ua[32];
  if (o.function != 0)
    snprintf(ua, sizeof ua, "%x,%x", o.device, o.function);
  else
    snprintf(ua, sizeof ua, "%x", o.device);
  dev_info_t *dip = create_child(root_node(), name.c_str(), driver_ops(), ua, name.c_str());
  dip->backend = dev;
  dip->pci = std::make_unique<PciState>();
  PciState &s = *dip->pci;
  s.dev = dev;
  s.device = o.device;
  s.function = o.function;
  s.host = std::make_unique<Host>(dip);
  {
    std::lock_guard<std::mutex> lk(g_nodes_mu);
    g_nodes.push_back(&s);
  }
  dev->connect(s.host.get());
  // "reg": one pci_regspec_t (5 ints) per register set.
  std::vector<int> reg;
  for (unsigned i = 0; i < dev->num_regions(); i++) {
    RegionInfo r = dev->region(i);
    reg.push_back(static_cast<int>(make_phys_hi(r, o.device, o.function)));
    reg.push_back(0);
    reg.push_back(0);
    reg.push_back(static_cast<int>(r.size >> 32));
    reg.push_back(static_cast<int>(r.size & 0xffffffffu));
  }
  set_prop_ints(dip, "reg", reg);
  set_prop_int(dip, "vendor-id", static_cast<int>(dev->config_read(PCI_CONF_VENID, 2)));
  set_prop_int(dip, "device-id", static_cast<int>(dev->config_read(PCI_CONF_DEVID, 2)));
  set_prop_int(dip, "revision-id", static_cast<int>(dev->config_read(PCI_CONF_REVID, 1)));
  set_prop_int(dip, "class-code", static_cast<int>(dev->config_read(PCI_CONF_REVID, 4) >> 8));
  set_prop_int(dip, "subsystem-vendor-id",
               static_cast<int>(dev->config_read(PCI_CONF_SUBVENID, 2)));
  set_prop_int(dip, "subsystem-id", static_cast<int>(dev->config_read(PCI_CONF_SUBSYSID, 2)));
  apply_conf_props(dip);
  return dip;
}

namespace {

// Interrupts off for a PCI node: no handler starts after this returns, none is still running.
void stop_interrupts(dev_info_t *dip) {
  PciState *s = pci_of(dip);
  if (s == nullptr) return;
  std::unique_lock<std::mutex> lk(s->mu);
  s->quiesced = true;
  s->cv.wait(
      lk,
      [s] {
        for (ddi_intr_handle_t h : s->handles)
          if (h->running) return false;
        return true;
      },
      "running interrupt handlers");
}

int call_quiesce(dev_info_t *dip) {
  tctx().in_quiesce = true;
  int r = dip->ops->devo_quiesce(dip);
  tctx().in_quiesce = false;
  return r;
}

void stop_all_interrupts(dev_info_t *dip) {
  for (dev_info_t *c : dip->children) stop_all_interrupts(c);
  stop_interrupts(dip);
}

// quiesce_devices() (common/os/devcfg.c): every child before its parent; quiesce_one_device
// skips nodes that are not attached or have no driver, and ddi_quiesce_not_needed.
int quiesce_subtree(dev_info_t *dip) {
  int rc = DDI_SUCCESS;
  for (dev_info_t *c : dip->children)
    if (quiesce_subtree(c) != DDI_SUCCESS) rc = DDI_FAILURE;
  if (dip == root_node() || !dip->attached || dip->ops == nullptr) return rc;
  if (dip->ops->devo_quiesce == ddi_quiesce_not_needed) return rc;
  if (dip->ops->devo_quiesce == nullptr || call_quiesce(dip) != DDI_SUCCESS) {
    report_violation("devtree", "quiesce(9E) failed or missing for " + dip->driver_name +
                                    std::to_string(dip->instance) + " (" + dip->node_name +
                                    "): fast reboot falls back to a full reboot");
    rc = DDI_FAILURE;
  }
  return rc;
}

}  // namespace

int quiesce(dev_info_t *dip) {
  if (dip->ops == nullptr || dip->ops->devo_quiesce == nullptr) return DDI_FAILURE;
  stop_interrupts(dip);
  return call_quiesce(dip);
}

int quiesce_devices() {
  stop_all_interrupts(root_node());
  return quiesce_subtree(root_node());
}

DeviceHost *device_host(dev_info_t *dip) {
  PciState *s = pci_of(dip);
  return s ? s->host.get() : nullptr;
}

IntrInfo intr_info(dev_info_t *dip) {
  IntrInfo i;
  PciState *s = pci_of(dip);
  if (s == nullptr) return i;
  std::lock_guard<std::mutex> lk(s->mu);
  i.type = s->itype;
  i.allocated = static_cast<int>(s->handles.size());
  for (ddi_intr_handle_t h : s->handles) {
    if (h->enabled) i.enabled++;
    if (h->handler) i.handlers++;
  }
  return i;
}

}  // namespace fk

using namespace fk;
using namespace fk::impl;

extern "C" {

// ---- registers ----
int ddi_dev_nregs(dev_info_t *dip, int *resultp) {
  PciState *s = pci_of(dip);
  if (s == nullptr) return DDI_FAILURE;
  *resultp = static_cast<int>(s->dev->num_regions());
  return DDI_SUCCESS;
}

int ddi_dev_regsize(dev_info_t *dip, uint_t rnumber, off_t *resultp) {
  PciState *s = pci_of(dip);
  if (s == nullptr || rnumber >= s->dev->num_regions()) return DDI_FAILURE;
  *resultp = static_cast<off_t>(s->dev->region(rnumber).size);
  return DDI_SUCCESS;
}

int ddi_regs_map_setup(dev_info_t *dip, uint_t rnumber, caddr_t *addrp, offset_t offset,
                       offset_t len, ddi_device_acc_attr_t *accattrp, ddi_acc_handle_t *handlep) {
  PciState *s = pci_of(dip);
  if (s == nullptr || addrp == nullptr || handlep == nullptr) return DDI_FAILURE;
  if (rnumber >= s->dev->num_regions()) return DDI_FAILURE;
  RegionInfo r = s->dev->region(rnumber);
  if (offset < 0 || static_cast<uint64_t>(offset) > r.size) return DDI_FAILURE;
  uint64_t l = len == 0 ? r.size - offset : static_cast<uint64_t>(len);
  if (l == 0 || offset + l > r.size) return DDI_FAILURE;
  if (accattrp == nullptr || (accattrp->devacc_attr_version != DDI_DEVICE_ATTR_V0 &&
                              accattrp->devacc_attr_version != DDI_DEVICE_ATTR_V1)) {
    report_violation("regs", "ddi_regs_map_setup with a bad ddi_device_acc_attr_t");
    return DDI_FAILURE;
  }
  void *va = mmap(nullptr, (l + 4095) & ~4095ull, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (va == MAP_FAILED) return DDI_FAILURE;
  auto *h = new __ddi_acc_handle;
  h->kind = r.kind == RegionInfo::Kind::kConfig ? __ddi_acc_handle::Kind::kConfig
                                                : __ddi_acc_handle::Kind::kRegs;
  h->dip = dip;
  h->rnumber = rnumber;
  h->base = static_cast<uint8_t *>(va);
  h->reg_offset = offset;
  h->len = l;
  h->attr = *accattrp;
  {
    std::lock_guard<std::mutex> lk(s->mu);
    s->maps.push_back(h);
  }
  track("acc-handle", h, 0, __builtin_return_address(0));
  *addrp = reinterpret_cast<caddr_t>(va);
  *handlep = h;
  return DDI_SUCCESS;
}

static void acc_free(ddi_acc_handle_t *handlep, const char *what) {
  if (handlep == nullptr || *handlep == nullptr) return;
  ddi_acc_handle_t h = *handlep;
  if (!untrack("acc-handle", h)) {
    report_violation("regs", std::string(what) + " of a handle not mapped (double free?)");
    return;
  }
  PciState *s = pci_of(h->dip);
  if (s) {
    std::lock_guard<std::mutex> lk(s->mu);
    s->maps.erase(std::find(s->maps.begin(), s->maps.end(), h));
  }
  if (h->base != nullptr && h->kind != __ddi_acc_handle::Kind::kDmaMem && h->len != 0 &&
      !(h->kind == __ddi_acc_handle::Kind::kConfig && h->rnumber == ~0u))
    munmap(h->base, (h->len + 4095) & ~4095ull);
  delete h;
  *handlep = nullptr;
}

void ddi_regs_map_free(ddi_acc_handle_t *handlep) { acc_free(handlep, "ddi_regs_map_free"); }

#define FK_GETPUT(bits)                                                                           \
  uint##bits##_t ddi_get##bits(ddi_acc_handle_t h, uint##bits##_t *a) {                           \
    return static_cast<uint##bits##_t>(acc_get(h, a, bits / 8, __builtin_return_address(0)));     \
  }                                                                                               \
  void ddi_put##bits(ddi_acc_handle_t h, uint##bits##_t *a, uint##bits##_t v) {                   \
    acc_put(h, a, bits / 8, v, __builtin_return_address(0));                                      \
  }                                                                                               \
  void ddi_rep_get##bits(ddi_acc_handle_t h, uint##bits##_t *host, uint##bits##_t *dev, size_t n, \
                         uint_t flags) {                                                          \
    for (size_t i = 0; i < n; i++)                                                                \
      host[i] = static_cast<uint##bits##_t>(acc_get(h, dev + (flags == DDI_DEV_AUTOINCR ? i : 0), \
                                                    bits / 8, __builtin_return_address(0)));      \
  }                                                                                               \
  void ddi_rep_put##bits(ddi_acc_handle_t h, uint##bits##_t *host, uint##bits##_t *dev, size_t n, \
                         uint_t flags) {                                                          \
    for (size_t i = 0; i < n; i++)                                                                \
      acc_put(h, dev + (flags == DDI_DEV_AUTOINCR ? i : 0), bits / 8, host[i],                    \
              __builtin_return_address(0));                                                       \
  }

FK_GETPUT(8)
FK_GETPUT(16)
FK_GETPUT(32)
FK_GETPUT(64)

int ddi_check_acc_handle(ddi_acc_handle_t h) {
  if (h == nullptr) return DDI_FAILURE;
  return h->fm_status == DDI_FM_OK ? DDI_SUCCESS : DDI_FAILURE;
}

// ---- PCI configuration space ----
int pci_config_setup(dev_info_t *dip, ddi_acc_handle_t *handle) {
  PciState *s = pci_of(dip);
  if (s == nullptr || handle == nullptr) return DDI_FAILURE;
  auto *h = new __ddi_acc_handle;
  h->kind = __ddi_acc_handle::Kind::kConfig;
  h->dip = dip;
  h->rnumber = ~0u;
  h->base = nullptr;  // offsets are passed directly
  h->len = 4096;
  {
    std::lock_guard<std::mutex> lk(s->mu);
    s->maps.push_back(h);
  }
  track("acc-handle", h, 0, __builtin_return_address(0));
  *handle = h;
  return DDI_SUCCESS;
}

void pci_config_teardown(ddi_acc_handle_t *handle) { acc_free(handle, "pci_config_teardown"); }

static uint64_t cfg_get(ddi_acc_handle_t h, off_t off, unsigned width, const void *site) {
  if (h == nullptr || !tracked("acc-handle", h) || h->kind != __ddi_acc_handle::Kind::kConfig) {
    report_violation("regs", "pci_config_get through a bad handle at " + describe_site(site));
    return ~0ull >> (64 - 8 * width);
  }
  if (off < 0 || off + width > 4096 || off % width != 0) {
    report_violation("regs", "pci_config_get at a bad offset at " + describe_site(site));
    return ~0ull >> (64 - 8 * width);
  }
  return h->dip->pci->dev->config_read(static_cast<uint32_t>(off), width);
}

static void cfg_put(ddi_acc_handle_t h, off_t off, unsigned width, uint32_t v, const void *site) {
  if (h == nullptr || !tracked("acc-handle", h) || h->kind != __ddi_acc_handle::Kind::kConfig) {
    report_violation("regs", "pci_config_put through a bad handle at " + describe_site(site));
    return;
  }
  if (off < 0 || off + width > 4096 || off % width != 0) {
    report_violation("regs", "pci_config_put at a bad offset at " + describe_site(site));
    return;
  }
  h->dip->pci->dev->config_write(static_cast<uint32_t>(off), width, v);
}

uint8_t pci_config_get8(ddi_acc_handle_t h, off_t o) {
  return static_cast<uint8_t>(cfg_get(h, o, 1, __builtin_return_address(0)));
}
uint16_t pci_config_get16(ddi_acc_handle_t h, off_t o) {
  return static_cast<uint16_t>(cfg_get(h, o, 2, __builtin_return_address(0)));
}
uint32_t pci_config_get32(ddi_acc_handle_t h, off_t o) {
  return static_cast<uint32_t>(cfg_get(h, o, 4, __builtin_return_address(0)));
}
uint64_t pci_config_get64(ddi_acc_handle_t h, off_t o) {
  uint64_t lo = cfg_get(h, o, 4, __builtin_return_address(0));
  return lo | (cfg_get(h, o + 4, 4, __builtin_return_address(0)) << 32);
}
void pci_config_put8(ddi_acc_handle_t h, off_t o, uint8_t v) {
  cfg_put(h, o, 1, v, __builtin_return_address(0));
}
void pci_config_put16(ddi_acc_handle_t h, off_t o, uint16_t v) {
  cfg_put(h, o, 2, v, __builtin_return_address(0));
}
void pci_config_put32(ddi_acc_handle_t h, off_t o, uint32_t v) {
  cfg_put(h, o, 4, v, __builtin_return_address(0));
}
void pci_config_put64(ddi_acc_handle_t h, off_t o, uint64_t v) {
  cfg_put(h, o, 4, static_cast<uint32_t>(v), __builtin_return_address(0));
  cfg_put(h, o + 4, 4, static_cast<uint32_t>(v >> 32), __builtin_return_address(0));
}

// ---- interrupts ----
int ddi_intr_get_supported_types(dev_info_t *dip, int *typesp) {
  PciState *s = pci_of(dip);
  if (s == nullptr || typesp == nullptr) return DDI_FAILURE;
  *typesp = s->dev->intr_types() & (DDI_INTR_TYPE_FIXED | DDI_INTR_TYPE_MSI | DDI_INTR_TYPE_MSIX);
  return *typesp ? DDI_SUCCESS : DDI_FAILURE;
}

int ddi_intr_get_nintrs(dev_info_t *dip, int type, int *nintrsp) {
  if (nintrsp == nullptr || intr_check_type(dip, type) != DDI_SUCCESS) return DDI_FAILURE;
  *nintrsp = dip->pci->dev->intr_count(type);
  return *nintrsp > 0 ? DDI_SUCCESS : DDI_FAILURE;
}

int ddi_intr_get_navail(dev_info_t *dip, int type, int *navailp) {
  if (navailp == nullptr || intr_check_type(dip, type) != DDI_SUCCESS) return DDI_FAILURE;
  *navailp = dip->pci->dev->intr_count(type);
  return *navailp > 0 ? DDI_SUCCESS : DDI_FAILURE;
}

int ddi_intr_alloc(dev_info_t *dip, ddi_intr_handle_t *h_array, int type, int inum, int count,
                   int *actualp, int behavior) {
  if (h_array == nullptr || actualp == nullptr || count < 1 || inum < 0) return DDI_EINVAL;
  if (intr_check_type(dip, type) != DDI_SUCCESS) return DDI_EINVAL;
  PciState &s = *dip->pci;
  if (should_fail(kFailIntrAlloc, type)) return DDI_FAILURE;
  int n = s.dev->intr_count(type);
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.itype != 0 && s.itype != type) {
      report_violation("intr",
                       "ddi_intr_alloc of a second interrupt type while another is "
                       "allocated");
      return DDI_FAILURE;
    }
  }
  if (type == DDI_INTR_TYPE_FIXED && count > 1) count = 1;
  int avail = n - inum;
  if (avail <= 0) return DDI_EINVAL;
  int actual = std::min(count, avail);
  if (type == DDI_INTR_TYPE_MSI) {
    while (actual & (actual - 1)) actual &= actual - 1;  // MSI: a power of two
  }
  if (behavior == DDI_INTR_ALLOC_STRICT && actual < count) return DDI_EAGAIN;
  unsigned total;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    for (int i = 0; i < actual; i++) {
      auto *h = new __ddi_intr_handle;
      h->dip = dip;
      h->type = type;
      h->inum = inum + i;
      h_array[i] = h;
      s.handles.push_back(h);
      track("intr", h, 0, __builtin_return_address(0));
    }
    s.itype = type;
    total = static_cast<unsigned>(s.handles.size());
  }
  *actualp = actual;
  // Outside s.mu: the device may raise or drop its interrupt from set_intr_mode.
  s.dev->set_intr_mode(type, total);
  return DDI_SUCCESS;
}

int ddi_intr_free(ddi_intr_handle_t h) {
  if (h == nullptr || !tracked("intr", h)) {
    report_violation("intr", "ddi_intr_free of a handle not allocated (double free?)");
    return DDI_EINVAL;
  }
  PciState &s = *h->dip->pci;
  if (h->enabled) {
    report_violation("intr", "ddi_intr_free of an enabled interrupt");
    return DDI_EINVAL;
  }
  if (h->handler != nullptr) {
    report_violation("intr", "ddi_intr_free of an interrupt with a handler (remove it first)");
    return DDI_EINVAL;
  }
  stop_thread(s, h);
  bool last;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    s.handles.erase(std::find(s.handles.begin(), s.handles.end(), h));
    last = s.handles.empty();
    if (last) s.itype = 0;
  }
  if (last) s.dev->set_intr_mode(0, 0);
  untrack("intr", h);
  delete h;
  return DDI_SUCCESS;
}

int ddi_intr_get_pri(ddi_intr_handle_t h, uint_t *prip) {
  if (h == nullptr || prip == nullptr) return DDI_EINVAL;
  *prip = h->pri;
  return DDI_SUCCESS;
}

int ddi_intr_set_pri(ddi_intr_handle_t h, uint_t pri) {
  if (h == nullptr || pri < DDI_INTR_PRI_MIN || pri > DDI_INTR_PRI_MAX) return DDI_EINVAL;
  if (h->handler != nullptr) return DDI_FAILURE;
  h->pri = pri;
  return DDI_SUCCESS;
}

int ddi_intr_get_cap(ddi_intr_handle_t h, int *flagsp) {
  if (h == nullptr || flagsp == nullptr) return DDI_EINVAL;
  switch (h->type) {
    case DDI_INTR_TYPE_FIXED:
      *flagsp = DDI_INTR_FLAG_LEVEL | DDI_INTR_FLAG_MASKABLE;
      break;
    case DDI_INTR_TYPE_MSI:
      *flagsp = DDI_INTR_FLAG_EDGE | DDI_INTR_FLAG_BLOCK;
      break;
    default:
      *flagsp = DDI_INTR_FLAG_EDGE | DDI_INTR_FLAG_MASKABLE;
      break;
  }
  return DDI_SUCCESS;
}

uint_t ddi_intr_get_hilevel_pri(void) { return 10; }

int ddi_intr_add_handler(ddi_intr_handle_t h, ddi_intr_handler_t inthandler, void *arg1,
                         void *arg2) {
  if (h == nullptr || inthandler == nullptr || !tracked("intr", h)) return DDI_EINVAL;
  if (h->handler != nullptr) return DDI_FAILURE;
  if (should_fail(kFailIntrAddHandler, h->type)) return DDI_FAILURE;
  PciState &s = *h->dip->pci;
  std::lock_guard<std::mutex> lk(s.mu);
  h->handler = inthandler;
  h->arg1 = arg1;
  h->arg2 = arg2;
  h->stop = false;
  PciState *sp = &s;
  h->thread.start("intr " + std::string(ddi_driver_name(h->dip)) + "#" + std::to_string(h->inum),
                  [sp, h] { intr_main(sp, h); });
  return DDI_SUCCESS;
}

int ddi_intr_remove_handler(ddi_intr_handle_t h) {
  if (h == nullptr || h->handler == nullptr) return DDI_EINVAL;
  if (h->enabled) {
    report_violation("intr", "ddi_intr_remove_handler of an enabled interrupt");
    return DDI_FAILURE;
  }
  stop_thread(*h->dip->pci, h);
  h->handler = nullptr;
  return DDI_SUCCESS;
}

static int enable(ddi_intr_handle_t h, bool on) {
  if (h == nullptr || !tracked("intr", h)) return DDI_EINVAL;
  PciState &s = *h->dip->pci;
  std::unique_lock<std::mutex> lk(s.mu);
  if (on) {
    if (h->handler == nullptr) return DDI_FAILURE;
    h->enabled = true;
    s.cv.notify_all();
    return DDI_SUCCESS;
  }
  h->enabled = false;
  if (h->thread.tid() != std::this_thread::get_id())
    s.cv.wait(
        lk, [h] { return !h->running; }, "a running interrupt handler");
  return DDI_SUCCESS;
}

// ddi_intr_enable / ddi_intr_disable (ddi_intr.c) return DDI_EINVAL for an MSI handle with
// DDI_INTR_FLAG_BLOCK: such vectors are enabled and disabled with ddi_intr_block_enable(9F) /
// ddi_intr_block_disable(9F) only.
static bool block_only(ddi_intr_handle_t h, const char *fn) {
  int cap = 0;
  if (h == nullptr || !tracked("intr", h) || h->type != DDI_INTR_TYPE_MSI ||
      ddi_intr_get_cap(h, &cap) != DDI_SUCCESS || !(cap & DDI_INTR_FLAG_BLOCK))
    return false;
  fk::report_violation("intr", std::string(fn) +
                                   " of an MSI vector with DDI_INTR_FLAG_BLOCK (use the block "
                                   "interface): DDI_EINVAL");
  return true;
}

int ddi_intr_enable(ddi_intr_handle_t h) {
  if (block_only(h, "ddi_intr_enable")) return DDI_EINVAL;
  if (h != nullptr && should_fail(kFailIntrEnable, h->type)) return DDI_FAILURE;
  return enable(h, true);
}

int ddi_intr_disable(ddi_intr_handle_t h) {
  if (block_only(h, "ddi_intr_disable")) return DDI_EINVAL;
  return enable(h, false);
}

int ddi_intr_block_enable(ddi_intr_handle_t *h_array, int count) {
  if (h_array == nullptr || count < 1) return DDI_EINVAL;
  int cap = 0;
  ddi_intr_get_cap(h_array[0], &cap);
  if (!(cap & DDI_INTR_FLAG_BLOCK)) return DDI_EINVAL;
  if (should_fail(kFailIntrEnable, h_array[0]->type)) return DDI_FAILURE;
  for (int i = 0; i < count; i++)
    if (enable(h_array[i], true) != DDI_SUCCESS) return DDI_FAILURE;
  return DDI_SUCCESS;
}

int ddi_intr_block_disable(ddi_intr_handle_t *h_array, int count) {
  if (h_array == nullptr || count < 1) return DDI_EINVAL;
  int cap = 0;
  ddi_intr_get_cap(h_array[0], &cap);
  if (!(cap & DDI_INTR_FLAG_BLOCK)) return DDI_EINVAL;
  for (int i = 0; i < count; i++) enable(h_array[i], false);
  return DDI_SUCCESS;
}

int ddi_intr_set_mask(ddi_intr_handle_t h) { return enable(h, false); }
int ddi_intr_clr_mask(ddi_intr_handle_t h) { return enable(h, true); }

int ddi_intr_get_pending(ddi_intr_handle_t h, int *pendingp) {
  if (h == nullptr || pendingp == nullptr) return DDI_EINVAL;
  PciState &s = *h->dip->pci;
  std::lock_guard<std::mutex> lk(s.mu);
  *pendingp = h->type == DDI_INTR_TYPE_FIXED ? s.line : h->pending > 0;
  return DDI_SUCCESS;
}

}  // extern "C"
