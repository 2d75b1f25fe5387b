// The framework's view of the kernel's device tree, lock checker and violation log
// (fk_internal.h).
#include "fk_internal.h"
#include "scsa_impl.h"

namespace fk::scsa::node {

dev_info_t *create_child(dev_info_t *parent, const char *name, const char *addr,
                         bool bind_parent_driver) {
  if (parent == nullptr) {
    return nullptr;
  }
  if (bind_parent_driver) {
    // iports bind to the HBA's own driver: "These iport children bind to the same driver as
    // the host adapter node."
    return fk::create_child(parent, name, parent->ops, addr, parent->driver_name.c_str());
  }
  return fk::create_child(parent, name, nullptr, addr);
}

int attach(dev_info_t *dip) { return fk::attach_node(dip); }

int detach(dev_info_t *dip) { return fk::detach_node(dip, DDI_DETACH); }

void remove(dev_info_t *dip) { fk::remove_node(dip); }

size_t locks_held() { return static_cast<size_t>(fk::held_lock_count()); }

bool in_interrupt() { return fk::in_interrupt(); }

void report(const std::string &what) { fk::report_violation("scsa", what); }

}  // namespace fk::scsa::node
