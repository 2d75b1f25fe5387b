// The userland kernel's internal API, for the parts of the test kernel built on top of it (the
// SCSA framework in tests/host/scsa/, the target-driver client). Host-side C++ (the standard
// library is fine here). Test code uses fk.h instead.
#pragma once

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/modctl.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "device.h"

namespace fk {

// A property value as stored on a node (ddi_prop_update_* or a driver.conf-like file).
struct PropValue {
  enum class Type { kBoolean, kInt, kInt64, kString, kByte } type = Type::kBoolean;
  std::vector<int64_t> ints;         // kInt, kInt64
  std::vector<std::string> strings;  // kString
  std::vector<uint8_t> bytes;        // kByte
};

struct PciState;  // registers, interrupts and config of a PCI node (fk_devtree.cc)

}  // namespace fk

// The structure behind dev_info_t. Nodes are created only by fk::create_child() (or the kernel's
// PCI helpers) and destroyed by fk::remove_node().
struct dev_info {
  std::string node_name;     // "pvscsi", "iport", "disk", ...
  std::string unit_address;  // ddi_get_name_addr(): "2", "v0", "w5,0", ... ("" for none)
  std::string driver_name;   // ddi_driver_name()
  int instance = -1;         // ddi_get_instance(): per driver name, from 0
  dev_info *parent = nullptr;
  std::vector<dev_info *> children;  // in creation order
  struct dev_ops *ops = nullptr;     // the driver bound to the node (may be null: no driver)
  bool attached = false;
  void *driver_private = nullptr;  // ddi_set_driver_private()
  void *scsa_private = nullptr;    // reserved for the SCSA framework (tests/host/scsa/)
  void *client_private = nullptr;  // reserved for the target-driver client
  // Properties: set by the driver (ddi_prop_update_*), and system properties (from the test or
  // a driver.conf-like file, and the hardware ones such as "reg"). Driver ones are looked up
  // first; then system; then the parent's unless DDI_PROP_DONTPASS.
  std::map<std::string, fk::PropValue> driver_props;
  std::map<std::string, fk::PropValue> system_props;
  fk::DeviceBackend *backend = nullptr;  // the PCI function behind the node, or null
  std::unique_ptr<fk::PciState> pci;     // kernel state for a PCI node (null otherwise)
  int fm_cap = 0;                        // after ddi_fm_init()
};

namespace fk {

// ---- device tree ----
// The root of the tree (created at boot).
dev_info_t *root_node();
// Create a child of parent bound to ops (may be null) with the given node name and unit address
// (ddi_get_name_addr). driver_name defaults to node_name; the instance number is the next free
// one for that driver name. The node starts detached.
dev_info_t *create_child(dev_info_t *parent, const char *node_name, struct dev_ops *ops,
                         const char *unit_address, const char *driver_name = nullptr);
// Run ops->devo_attach(dip, DDI_ATTACH) (after devo_probe when present); returns its result.
// Marks the node attached on DDI_SUCCESS.
int attach_node(dev_info_t *dip);
// Run ops->devo_detach(dip, cmd); on DDI_SUCCESS with DDI_DETACH the node is detached.
int detach_node(dev_info_t *dip, ddi_detach_cmd_t cmd = DDI_DETACH);
// Remove a detached node without children from the tree and free it. A node that is still
// attached or has children is a reported violation ("devtree") and is left in place.
void remove_node(dev_info_t *dip);
// Find a child by node name and unit address (null if none).
dev_info_t *find_child(dev_info_t *parent, const char *node_name, const char *unit_address);

// ---- locks ----
// How many kernel mutexes the calling thread holds, and which (innermost last).
int held_lock_count();
std::vector<const kmutex_t *> held_locks();
bool lock_held_by_me(const kmutex_t *mp);
// The name given to mutex_init (or "mutex@<address>").
std::string lock_name(const kmutex_t *mp);

// ---- context ----
// True on an interrupt thread while a ddi_intr handler runs.
bool in_interrupt();
// Report a violation if the calling thread may not sleep now (interrupt context, quiesce, or
// holding a mutex initialised at interrupt priority other than except). what names the
// operation ("cv_wait", "KM_SLEEP allocation", ...); site is the caller to report (default: the
// caller of check_may_sleep).
void check_may_sleep(const char *what, const kmutex_t *except = nullptr,
                     const void *site = nullptr);

// ---- failures and diagnostics ----
// A recorded failure that tests check (fk::violations()); kind is "lock", "sync", "dma",
// "kmem", "regs", "intr", "devtree", "scsa", ... Also printed to stderr.
void report_violation(const char *kind, const std::string &text);
// "function+0xoffset (file)" for a code address (e.g. __builtin_return_address(0)).
std::string describe_site(const void *pc);

// ---- memory ----
// Translate between kernel virtual addresses and the arena's physical addresses. 0 / null when
// the address is not arena memory.
uint64_t va_to_pa(const void *va);
void *pa_to_va(uint64_t pa);

}  // namespace fk
