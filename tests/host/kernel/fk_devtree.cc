// The device tree, module linkage, properties, soft state, messages, kstats and FM basics.
#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/modctl.h>
#include <sys/conf.h>
#include <sys/kstat.h>
#include <sys/ddifm.h>
#include <sys/fm/protocol.h>
#include <sys/buf.h>
#include <sys/sdt.h>

#include <alloca.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fk_internal.h"

struct mod_ops {
  int kind;
};
extern "C" {
struct mod_ops mod_driverops = {1};
struct mod_ops mod_miscops = {2};
}

// Entry points of the driver linked into the executable (weak: the kernel's own tests link none).
// On Linux the C runtime owns the symbols _init and _fini, so host builds of a driver are
// compiled with -D_init=fk_module_init -D_fini=fk_module_fini -D_info=fk_module_info (a PUBLIC
// compile definition of fk_kernel); the driver's source is unchanged.
extern "C" int fk_module_init(void) __attribute__((weak));
extern "C" int fk_module_fini(void) __attribute__((weak));
extern "C" int fk_module_info(struct modinfo *) __attribute__((weak));

namespace fk::impl {
void pci_node_fini(dev_info_t *dip);  // fk_pci.cc
namespace {

std::mutex g_tree_mu;  // the tree's shape and instance numbers
dev_info *g_root = nullptr;
std::map<std::string, std::vector<bool>> g_instances;
struct modlinkage *g_linkage = nullptr;
struct dev_ops *g_ops = nullptr;
std::string g_driver_name;
std::vector<std::pair<std::string, PropValue>> g_conf_props;

struct KstatRec {
  kstat_t *ksp;
  bool installed;
  size_t data_alloc;  // bytes of ks_data we allocated (0 for virtual)
};
std::mutex g_ks_mu;
std::vector<KstatRec> g_kstats;

int alloc_instance(const std::string &driver) {
  auto &v = g_instances[driver];
  for (size_t i = 0; i < v.size(); i++)
    if (!v[i]) {
      v[i] = true;
      return static_cast<int>(i);
    }
  v.push_back(true);
  return static_cast<int>(v.size() - 1);
}

void free_instance(const std::string &driver, int inst) {
  auto &v = g_instances[driver];
  if (inst >= 0 && static_cast<size_t>(inst) < v.size()) v[inst] = false;
}

const PropValue *find_prop(dev_info_t *dip, const char *name, uint_t flags) {
  for (dev_info *d = dip; d != nullptr; d = d->parent) {
    auto it = d->driver_props.find(name);
    if (it != d->driver_props.end()) return &it->second;
    it = d->system_props.find(name);
    if (it != d->system_props.end()) return &it->second;
    if (flags & DDI_PROP_DONTPASS) break;
  }
  return nullptr;
}

// Property data handed to the driver: freed with ddi_prop_free.
void *prop_alloc(size_t n, const void *site) {
  void *p = calloc(1, n ? n : 1);
  track("prop", p, n, site);
  return p;
}

}  // namespace

void devtree_init() {
  std::lock_guard<std::mutex> lk(g_tree_mu);
  g_root = new dev_info;
  g_root->node_name = "root";
  g_root->driver_name = "rootnex";
  g_root->instance = 0;
  g_root->attached = true;
  g_instances.clear();
  g_conf_props.clear();
}

void devtree_fini() {
  // Remove what is left, deepest first, without calling drivers.
  std::function<void(dev_info *)> rm = [&](dev_info *d) {
    while (!d->children.empty()) {
      dev_info *c = d->children.back();
      rm(c);
      d->children.pop_back();
      if (c->pci) pci_node_fini(c);
      delete c;
    }
  };
  if (g_root != nullptr) {
    rm(g_root);
    delete g_root;
    g_root = nullptr;
  }
  std::lock_guard<std::mutex> lk(g_ks_mu);
  for (KstatRec &r : g_kstats) {
    if (r.data_alloc) free(r.ksp->ks_data);
    delete r.ksp;
  }
  g_kstats.clear();
  g_linkage = nullptr;
  g_ops = nullptr;
}

}  // namespace fk::impl

namespace fk {
using namespace fk::impl;

dev_info_t *root_node() { return g_root; }

dev_info_t *create_child(dev_info_t *parent, const char *node_name, struct dev_ops *ops,
                         const char *unit_address, const char *driver_name) {
  auto *d = new dev_info;
  d->node_name = node_name ? node_name : "";
  d->unit_address = unit_address ? unit_address : "";
  d->driver_name = driver_name ? driver_name : d->node_name;
  d->ops = ops;
  d->parent = parent;
  std::lock_guard<std::mutex> lk(g_tree_mu);
  d->instance = alloc_instance(d->driver_name);
  parent->children.push_back(d);
  return d;
}

int attach_node(dev_info_t *dip) {
  if (dip->ops == nullptr || dip->ops->devo_attach == nullptr) return DDI_FAILURE;
  if (dip->attached) {
    report_violation("devtree", "attach of an attached node " + dip->node_name);
    return DDI_FAILURE;
  }
  if (dip->ops->devo_probe != nullptr) {
    int r = dip->ops->devo_probe(dip);
    if (r != DDI_PROBE_SUCCESS && r != DDI_PROBE_DONTCARE && r != DDI_PROBE_PARTIAL)
      return DDI_FAILURE;
  }
  int r = dip->ops->devo_attach(dip, DDI_ATTACH);
  if (r == DDI_SUCCESS) dip->attached = true;
  return r;
}

int detach_node(dev_info_t *dip, ddi_detach_cmd_t cmd) {
  if (dip->ops == nullptr || dip->ops->devo_detach == nullptr) return DDI_FAILURE;
  if (!dip->attached) {
    report_violation("devtree", "detach of a node that is not attached: " + dip->node_name);
    return DDI_FAILURE;
  }
  int r = dip->ops->devo_detach(dip, cmd);
  if (r == DDI_SUCCESS && cmd == DDI_DETACH) dip->attached = false;
  return r;
}

void remove_node(dev_info_t *dip) {
  if (dip == nullptr || dip == g_root) return;
  if (dip->attached || !dip->children.empty()) {
    report_violation("devtree", "remove_node of " + dip->node_name + "@" + dip->unit_address +
                                    (dip->attached ? ": still attached" : ": has children"));
    return;
  }
  {
    std::lock_guard<std::mutex> lk(g_tree_mu);
    auto &sib = dip->parent->children;
    sib.erase(std::find(sib.begin(), sib.end(), dip));
    free_instance(dip->driver_name, dip->instance);
  }
  if (dip->pci) pci_node_fini(dip);
  if (!dip->driver_props.empty())
    report_violation("devtree", "node " + dip->node_name +
                                    " removed with driver properties set"
                                    " (missing ddi_prop_remove_all)");
  delete dip;
}

dev_info_t *find_child(dev_info_t *parent, const char *node_name, const char *unit_address) {
  std::lock_guard<std::mutex> lk(g_tree_mu);
  for (dev_info *c : parent->children)
    if (c->node_name == node_name && c->unit_address == unit_address) return c;
  return nullptr;
}

int load_driver(const char *name) {
  g_driver_name = name ? name : "";
  if (fk_module_init == nullptr) {
    report_violation("module", "load_driver: no driver linked into this executable");
    return ENOENT;
  }
  return fk_module_init();
}

int driver_info() {
  if (fk_module_info == nullptr) return 0;
  return fk_module_info(reinterpret_cast<struct modinfo *>(alloca(64)));
}

int unload_driver() {
  if (fk_module_fini == nullptr) return ENOENT;
  return fk_module_fini();
}

struct dev_ops *driver_ops() {
  return g_ops;
}
const std::string &driver_name() { return g_driver_name; }

int attach(dev_info_t *dip) { return attach_node(dip); }
int detach(dev_info_t *dip, ddi_detach_cmd_t cmd) { return detach_node(dip, cmd); }

// ---- properties (test side) ----
static void set_sys(dev_info_t *dip, const std::string &name, PropValue v) {
  dip->system_props[name] = std::move(v);
}

void set_prop_int(dev_info_t *dip, const std::string &name, int value) {
  PropValue v;
  v.type = PropValue::Type::kInt;
  v.ints = {value};
  set_sys(dip, name, v);
}

void set_prop_ints(dev_info_t *dip, const std::string &name, const std::vector<int> &values) {
  PropValue v;
  v.type = PropValue::Type::kInt;
  v.ints.assign(values.begin(), values.end());
  set_sys(dip, name, v);
}

void set_prop_string(dev_info_t *dip, const std::string &name, const std::string &value) {
  PropValue v;
  v.type = PropValue::Type::kString;
  v.strings = {value};
  set_sys(dip, name, v);
}

void set_prop_strings(dev_info_t *dip, const std::string &name,
                      const std::vector<std::string> &values) {
  PropValue v;
  v.type = PropValue::Type::kString;
  v.strings = values;
  set_sys(dip, name, v);
}

void set_prop_boolean(dev_info_t *dip, const std::string &name) { set_sys(dip, name, PropValue{}); }

namespace {

// A driver.conf(5) parser: entries name=value[,value...]; values are integers or quoted strings,
// comments start with '#'. Each step returns "" or an error "line N: ...".
struct ConfParser {
  const std::string &text;
  size_t i = 0, line = 1;

  explicit ConfParser(const std::string &t) : text(t) {}

  std::string err(const std::string &m) const { return "line " + std::to_string(line) + ": " + m; }
  bool at_end() const { return i >= text.size(); }
  bool at(char c) const { return i < text.size() && text[i] == c; }

  // Skips white space and comments, counting lines.
  void skip() {
    while (i < text.size()) {
      if (text[i] == '\n') {
        line++;
        i++;
      } else if (isspace(static_cast<unsigned char>(text[i]))) {
        i++;
      } else if (text[i] == '#') {
        while (i < text.size() && text[i] != '\n') i++;
      } else {
        break;
      }
    }
  }

  std::string name(std::string *out) {
    size_t s = i;
    while (i < text.size() && (isalnum(static_cast<unsigned char>(text[i])) || text[i] == '-' ||
                               text[i] == '_' || text[i] == '.' || text[i] == ','))
      i++;
    if (i == s) return err(std::string("expected a property name, found '") + text[i] + "'");
    *out = text.substr(s, i - s);
    return "";
  }

  std::string string_value(const std::string &name, bool first, PropValue *v) {
    size_t e = text.find('"', i + 1);
    if (e == std::string::npos) return err("unterminated string in " + name);
    if (!first && v->type != PropValue::Type::kString)
      return err("mixed strings and integers in " + name);
    v->type = PropValue::Type::kString;
    v->strings.push_back(text.substr(i + 1, e - i - 1));
    i = e + 1;
    return "";
  }

  std::string int_value(const std::string &name, bool first, PropValue *v) {
    size_t e = i;
    while (e < text.size() && (isalnum(static_cast<unsigned char>(text[e])) || text[e] == '-')) e++;
    std::string tok = text.substr(i, e - i);
    char *end = nullptr;
    long long n = tok.empty() ? 0 : strtoll(tok.c_str(), &end, 0);
    if (tok.empty() || *end != '\0') return err("bad value '" + tok + "' for " + name);
    if (!first && v->type != PropValue::Type::kInt)
      return err("mixed strings and integers in " + name);
    v->type = PropValue::Type::kInt;
    v->ints.push_back(n);
    i = e;
    return "";
  }

  // The values after "name=", up to and including the ';'.
  std::string values(const std::string &name, PropValue *v) {
    for (bool first = true;; first = false) {
      skip();
      if (at_end()) return err("unexpected end of file in " + name);
      std::string e = at('"') ? string_value(name, first, v) : int_value(name, first, v);
      if (!e.empty()) return e;
      skip();
      if (at(',')) {
        i++;
        continue;
      }
      if (at(';')) {
        i++;
        return "";
      }
      return err("expected ',' or ';' after the value of " + name);
    }
  }

  std::string entry(std::vector<std::pair<std::string, PropValue>> *out) {
    std::string n;
    if (std::string e = name(&n); !e.empty()) return e;
    skip();
    if (!at('=')) return err("expected '=' after " + n);
    i++;
    PropValue v;
    if (std::string e = values(n, &v); !e.empty()) return e;
    out->emplace_back(n, v);
    return "";
  }
};

}  // namespace

std::string load_driver_conf(const std::string &text) {
  std::vector<std::pair<std::string, PropValue>> out;
  ConfParser p(text);
  for (;;) {
    p.skip();
    if (p.at_end()) break;
    if (std::string e = p.entry(&out); !e.empty()) return e;
  }
  for (auto &e : out) g_conf_props.push_back(e);
  return "";
}

std::string load_driver_conf_file(const std::string &path) {
  std::ifstream f(path);
  if (!f) return "cannot open " + path;
  std::stringstream ss;
  ss << f.rdbuf();
  return load_driver_conf(ss.str());
}

kstat_t *kstat_find(const std::string &module, int instance, const std::string &name) {
  std::lock_guard<std::mutex> lk(g_ks_mu);
  for (KstatRec &r : g_kstats)
    if (r.installed && module == r.ksp->ks_module && instance == r.ksp->ks_instance &&
        name == r.ksp->ks_name)
      return r.ksp;
  return nullptr;
}

std::optional<uint64_t> kstat_value(const std::string &module, int instance,
                                    const std::string &name, const std::string &stat) {
  kstat_t *ksp = kstat_find(module, instance, name);
  if (ksp == nullptr || ksp->ks_type != KSTAT_TYPE_NAMED) return std::nullopt;
  auto *lock = static_cast<kmutex_t *>(ksp->ks_lock);
  if (lock) mutex_enter(lock);
  if (ksp->ks_update) ksp->ks_update(ksp, KSTAT_READ);
  std::optional<uint64_t> v;
  auto *kn = static_cast<kstat_named_t *>(ksp->ks_data);
  for (uint_t i = 0; i < ksp->ks_ndata; i++) {
    if (stat != kn[i].name) continue;
    switch (kn[i].data_type) {
      case KSTAT_DATA_INT32:
        v = static_cast<uint64_t>(kn[i].value.i32);
        break;
      case KSTAT_DATA_UINT32:
        v = kn[i].value.ui32;
        break;
      case KSTAT_DATA_INT64:
        v = static_cast<uint64_t>(kn[i].value.i64);
        break;
      case KSTAT_DATA_UINT64:
        v = kn[i].value.ui64;
        break;
      default:
        break;
    }
  }
  if (lock) mutex_exit(lock);
  return v;
}

}  // namespace fk

namespace fk::impl {
// Applied by fk::add_pci_node(): driver.conf properties for nodes of the loaded driver.
void apply_conf_props(dev_info_t *dip) {
  for (auto &[name, v] : g_conf_props) dip->system_props[name] = v;
}
}  // namespace fk::impl

using namespace fk::impl;

extern "C" {

// ---- module linkage ----
int mod_install(struct modlinkage *ml) {
  if (ml == nullptr || ml->ml_rev != MODREV_1 || ml->ml_linkage[0] == nullptr) return EINVAL;
  if (g_linkage != nullptr) return EBUSY;
  auto *md = static_cast<struct modldrv *>(ml->ml_linkage[0]);
  if (md->drv_modops == &mod_driverops) {
    if (md->drv_dev_ops == nullptr || md->drv_dev_ops->devo_rev != DEVO_REV) return EINVAL;
    g_ops = md->drv_dev_ops;
  }
  g_linkage = ml;
  return 0;
}

int mod_remove(struct modlinkage *ml) {
  if (ml != g_linkage) return EINVAL;
  std::function<bool(dev_info *)> busy = [&](dev_info *d) {
    if (d != g_root && d->attached && d->ops == g_ops) return true;
    for (dev_info *c : d->children)
      if (busy(c)) return true;
    return false;
  };
  if (g_ops != nullptr && busy(g_root)) return EBUSY;
  g_linkage = nullptr;
  g_ops = nullptr;
  return 0;
}

int mod_info(struct modlinkage *ml, struct modinfo *) { return ml == g_linkage ? 1 : 0; }

int nulldev(void) { return 0; }
int nodev(void) { return ENXIO; }
int ddi_no_info(dev_info_t *, ddi_info_cmd_t, void *, void **) { return DDI_FAILURE; }
int ddi_quiesce_not_needed(dev_info_t *) { return DDI_SUCCESS; }
int ddi_quiesce_not_supported(dev_info_t *) { return DDI_FAILURE; }

// ---- messages ----
void dev_err(dev_info_t *dip, int ce, char *fmt, ...) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s%d: ", dip ? dip->driver_name.c_str() : "?",
           dip ? dip->instance : -1);
  va_list ap;
  va_start(ap, fmt);
  console_emit(ce, prefix, fmt, ap);
  va_end(ap);
}

// ---- device tree ----
int ddi_get_instance(dev_info_t *dip) { return dip->instance; }
dev_info_t *ddi_get_parent(dev_info_t *dip) { return dip->parent; }
dev_info_t *ddi_get_child(dev_info_t *dip) {
  std::lock_guard<std::mutex> lk(g_tree_mu);
  return dip->children.empty() ? nullptr : dip->children.front();
}
dev_info_t *ddi_get_next_sibling(dev_info_t *dip) {
  std::lock_guard<std::mutex> lk(g_tree_mu);
  if (dip->parent == nullptr) return nullptr;
  auto &s = dip->parent->children;
  auto it = std::find(s.begin(), s.end(), dip);
  return (it == s.end() || ++it == s.end()) ? nullptr : *it;
}
const char *ddi_driver_name(dev_info_t *dip) { return dip->driver_name.c_str(); }
char *ddi_node_name(dev_info_t *dip) { return const_cast<char *>(dip->node_name.c_str()); }
char *ddi_get_name(dev_info_t *dip) { return const_cast<char *>(dip->node_name.c_str()); }
char *ddi_get_name_addr(dev_info_t *dip) {
  return dip->unit_address.empty() ? nullptr : const_cast<char *>(dip->unit_address.c_str());
}
char *ddi_pathname(dev_info_t *dip, char *path) {
  std::string p;
  for (dev_info *d = dip; d != nullptr && d != g_root; d = d->parent)
    p = "/" + d->node_name + (d->unit_address.empty() ? "" : "@" + d->unit_address) + p;
  strlcpy(path, p.empty() ? "/" : p.c_str(), MAXPATHLEN);
  return path;
}
major_t ddi_driver_major(dev_info_t *) { return 200; }
void *ddi_get_driver_private(dev_info_t *dip) { return dip->driver_private; }
void ddi_set_driver_private(dev_info_t *dip, void *data) { dip->driver_private = data; }
void ddi_report_dev(dev_info_t *dip) {
  cmn_err(CE_CONT, "?%s%d at %s%d\n", dip->driver_name.c_str(), dip->instance,
          dip->parent ? dip->parent->driver_name.c_str() : "?",
          dip->parent ? dip->parent->instance : 0);
}
int ddi_dev_is_sid(dev_info_t *) { return DDI_FAILURE; }

major_t getmajor(dev_t dev) { return static_cast<major_t>(dev >> 32); }
minor_t getminor(dev_t dev) { return static_cast<minor_t>(dev & 0xffffffffu); }
dev_t makedevice(major_t maj, minor_t min) { return (static_cast<dev_t>(maj) << 32) | min; }

// ---- soft state ----
struct SoftState {
  size_t size;
  std::vector<void *> items;
};

int ddi_soft_state_init(void **state_p, size_t size, size_t n_items) {
  if (state_p == nullptr || size == 0) return EINVAL;
  auto *s = new SoftState;
  s->size = size;
  s->items.resize(n_items ? n_items : 1);
  *state_p = s;
  track("soft-state", s, 0, __builtin_return_address(0));
  return 0;
}

void ddi_soft_state_fini(void **state_p) {
  if (state_p == nullptr || *state_p == nullptr) return;
  auto *s = static_cast<SoftState *>(*state_p);
  for (size_t i = 0; i < s->items.size(); i++)
    if (s->items[i] != nullptr) {
      fk::report_violation(
          "kmem", "ddi_soft_state_fini with item " + std::to_string(i) + " still allocated");
      kmem_free(s->items[i], s->size);
    }
  untrack("soft-state", s);
  delete s;
  *state_p = nullptr;
}

int ddi_soft_state_zalloc(void *state, int item) {
  auto *s = static_cast<SoftState *>(state);
  if (s == nullptr || item < 0) return DDI_FAILURE;
  if (static_cast<size_t>(item) >= s->items.size()) s->items.resize(item + 1);
  if (s->items[item] != nullptr) return DDI_FAILURE;
  void *p = kmem_zalloc(s->size, KM_NOSLEEP);
  if (p == nullptr) return DDI_FAILURE;
  s->items[item] = p;
  return DDI_SUCCESS;
}

void *ddi_get_soft_state(void *state, int item) {
  auto *s = static_cast<SoftState *>(state);
  if (s == nullptr || item < 0 || static_cast<size_t>(item) >= s->items.size()) return nullptr;
  return s->items[item];
}

void ddi_soft_state_free(void *state, int item) {
  auto *s = static_cast<SoftState *>(state);
  if (s == nullptr || item < 0 || static_cast<size_t>(item) >= s->items.size()) return;
  if (s->items[item] != nullptr) kmem_free(s->items[item], s->size);
  s->items[item] = nullptr;
}

// ---- properties ----
int ddi_prop_exists(dev_t, dev_info_t *dip, uint_t flags, const char *name) {
  return find_prop(dip, name, flags) != nullptr ? 1 : 0;
}

int ddi_prop_get_int(dev_t, dev_info_t *dip, uint_t flags, char *name, int defvalue) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return defvalue;
  if (p->type == fk::PropValue::Type::kBoolean) return 1;
  if ((p->type != fk::PropValue::Type::kInt && p->type != fk::PropValue::Type::kInt64) ||
      p->ints.empty())
    return defvalue;
  return static_cast<int>(p->ints[0]);
}

int64_t ddi_prop_get_int64(dev_t, dev_info_t *dip, uint_t flags, const char *name,
                           int64_t defvalue) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return defvalue;
  if (p->type == fk::PropValue::Type::kBoolean) return 1;
  if (p->type != fk::PropValue::Type::kInt64 || p->ints.empty()) return defvalue;
  return p->ints[0];
}

int ddi_prop_lookup_int_array(dev_t, dev_info_t *dip, uint_t flags, char *name, int **datap,
                              uint_t *nelementsp) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return DDI_PROP_NOT_FOUND;
  if (p->type != fk::PropValue::Type::kInt || p->ints.empty()) return DDI_PROP_CANNOT_DECODE;
  auto *d =
      static_cast<int *>(prop_alloc(p->ints.size() * sizeof(int), __builtin_return_address(0)));
  for (size_t i = 0; i < p->ints.size(); i++) d[i] = static_cast<int>(p->ints[i]);
  *datap = d;
  *nelementsp = static_cast<uint_t>(p->ints.size());
  return DDI_PROP_SUCCESS;
}

int ddi_prop_lookup_int64_array(dev_t, dev_info_t *dip, uint_t flags, const char *name,
                                int64_t **datap, uint_t *nelementsp) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return DDI_PROP_NOT_FOUND;
  if (p->type != fk::PropValue::Type::kInt64 || p->ints.empty()) return DDI_PROP_CANNOT_DECODE;
  auto *d = static_cast<int64_t *>(
      prop_alloc(p->ints.size() * sizeof(int64_t), __builtin_return_address(0)));
  for (size_t i = 0; i < p->ints.size(); i++) d[i] = p->ints[i];
  *datap = d;
  *nelementsp = static_cast<uint_t>(p->ints.size());
  return DDI_PROP_SUCCESS;
}

int ddi_prop_lookup_string(dev_t, dev_info_t *dip, uint_t flags, const char *name, char **datap) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return DDI_PROP_NOT_FOUND;
  if (p->type != fk::PropValue::Type::kString || p->strings.empty()) return DDI_PROP_CANNOT_DECODE;
  auto *d = static_cast<char *>(prop_alloc(p->strings[0].size() + 1, __builtin_return_address(0)));
  memcpy(d, p->strings[0].c_str(), p->strings[0].size() + 1);
  *datap = d;
  return DDI_PROP_SUCCESS;
}

int ddi_prop_lookup_string_array(dev_t, dev_info_t *dip, uint_t flags, const char *name,
                                 char ***datap, uint_t *nelementsp) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return DDI_PROP_NOT_FOUND;
  if (p->type != fk::PropValue::Type::kString || p->strings.empty()) return DDI_PROP_CANNOT_DECODE;
  size_t n = p->strings.size(), bytes = (n + 1) * sizeof(char *);
  for (auto &s : p->strings) bytes += s.size() + 1;
  auto *d = static_cast<char **>(prop_alloc(bytes, __builtin_return_address(0)));
  char *str = reinterpret_cast<char *>(d + n + 1);
  for (size_t i = 0; i < n; i++) {
    d[i] = str;
    memcpy(str, p->strings[i].c_str(), p->strings[i].size() + 1);
    str += p->strings[i].size() + 1;
  }
  *datap = d;
  *nelementsp = static_cast<uint_t>(n);
  return DDI_PROP_SUCCESS;
}

int ddi_prop_lookup_byte_array(dev_t, dev_info_t *dip, uint_t flags, const char *name,
                               uchar_t **datap, uint_t *nelementsp) {
  const fk::PropValue *p = find_prop(dip, name, flags);
  if (p == nullptr) return DDI_PROP_NOT_FOUND;
  if (p->type != fk::PropValue::Type::kByte) return DDI_PROP_CANNOT_DECODE;
  auto *d = static_cast<uchar_t *>(prop_alloc(p->bytes.size(), __builtin_return_address(0)));
  memcpy(d, p->bytes.data(), p->bytes.size());
  *datap = d;
  *nelementsp = static_cast<uint_t>(p->bytes.size());
  return DDI_PROP_SUCCESS;
}

void ddi_prop_free(void *data) {
  if (data == nullptr) return;
  if (!untrack("prop", data)) {
    fk::report_violation("prop", "ddi_prop_free of data not from a ddi_prop_lookup");
    return;
  }
  free(data);
}

// Sets a driver property to a value of the type: its integers, strings or bytes. As
// ddi_prop_update_common (sunddi.c): DDI_DEV_T_ANY or a missing name is DDI_PROP_INVAL_ARG.
static int update(dev_t dev, dev_info_t *dip, const char *name, fk::PropValue::Type type,
                  std::vector<int64_t> ints, std::vector<std::string> strings = {},
                  std::vector<uint8_t> bytes = {}) {
  if (dev == DDI_DEV_T_ANY || dip == nullptr || name == nullptr || name[0] == '\0')
    return DDI_PROP_INVAL_ARG;
  fk::PropValue &v = dip->driver_props[name];
  v.type = type;
  v.ints = std::move(ints);
  v.strings = std::move(strings);
  v.bytes = std::move(bytes);
  return DDI_PROP_SUCCESS;
}

using PropType = fk::PropValue::Type;

int ddi_prop_update_int(dev_t dev, dev_info_t *dip, const char *name, int data) {
  return update(dev, dip, name, PropType::kInt, {data});
}

int ddi_prop_update_int64(dev_t dev, dev_info_t *dip, const char *name, int64_t data) {
  return update(dev, dip, name, PropType::kInt64, {data});
}

int ddi_prop_update_int_array(dev_t dev, dev_info_t *dip, const char *name, int *data, uint_t n) {
  return update(dev, dip, name, PropType::kInt, std::vector<int64_t>(data, data + n));
}

int ddi_prop_update_string(dev_t dev, dev_info_t *dip, const char *name, char *data) {
  return update(dev, dip, name, PropType::kString, {}, {data ? data : ""});
}

int ddi_prop_update_string_array(dev_t dev, dev_info_t *dip, const char *name, char **data,
                                 uint_t n) {
  return update(dev, dip, name, PropType::kString, {}, std::vector<std::string>(data, data + n));
}

int ddi_prop_update_byte_array(dev_t dev, dev_info_t *dip, const char *name, uchar_t *data,
                               uint_t n) {
  return update(dev, dip, name, PropType::kByte, {}, {}, std::vector<uint8_t>(data, data + n));
}

int ddi_prop_remove(dev_t, dev_info_t *dip, const char *name) {
  return dip->driver_props.erase(name) ? DDI_PROP_SUCCESS : DDI_PROP_NOT_FOUND;
}

void ddi_prop_remove_all(dev_info_t *dip) { dip->driver_props.clear(); }

// ---- kstats ----
kstat_t *kstat_create(const char *module, int instance, const char *name, const char *ks_class,
                      uchar_t type, uint_t ndata, uchar_t flags) {
  if (module == nullptr || name == nullptr || type > KSTAT_TYPE_TIMER) return nullptr;
  auto *ksp = new kstat_t();
  strlcpy(ksp->ks_module, module, KSTAT_STRLEN);
  strlcpy(ksp->ks_name, name, KSTAT_STRLEN);
  strlcpy(ksp->ks_class, ks_class ? ks_class : "misc", KSTAT_STRLEN);
  ksp->ks_instance = instance;
  ksp->ks_type = type;
  ksp->ks_flags = flags;
  ksp->ks_ndata = ndata;
  ksp->ks_crtime = gethrtime();
  size_t sz = type == KSTAT_TYPE_NAMED ? ndata * sizeof(kstat_named_t)
              : type == KSTAT_TYPE_RAW ? ndata
                                       : ndata * 80;
  ksp->ks_data_size = sz;
  size_t alloc = 0;
  if (!(flags & KSTAT_FLAG_VIRTUAL)) {
    ksp->ks_data = calloc(1, sz ? sz : 1);
    alloc = sz ? sz : 1;
  }
  {
    std::lock_guard<std::mutex> lk(g_ks_mu);
    g_kstats.push_back(KstatRec{ksp, false, alloc});
  }
  track("kstat", ksp, 0, __builtin_return_address(0));
  return ksp;
}

void kstat_install(kstat_t *ksp) {
  std::lock_guard<std::mutex> lk(g_ks_mu);
  for (KstatRec &r : g_kstats)
    if (r.ksp == ksp) r.installed = true;
}

void kstat_delete(kstat_t *ksp) {
  if (ksp == nullptr) return;
  std::lock_guard<std::mutex> lk(g_ks_mu);
  for (auto it = g_kstats.begin(); it != g_kstats.end(); ++it) {
    if (it->ksp != ksp) continue;
    if (it->data_alloc) free(ksp->ks_data);
    g_kstats.erase(it);
    untrack("kstat", ksp);
    delete ksp;
    return;
  }
}

void kstat_named_init(kstat_named_t *knp, const char *name, uchar_t data_type) {
  memset(knp, 0, sizeof *knp);
  strlcpy(knp->name, name, KSTAT_STRLEN);
  knp->data_type = data_type;
}

void kstat_named_setstr(kstat_named_t *knp, const char *src) {
  knp->value.str.addr.ptr = const_cast<char *>(src);
  knp->value.str.len = src ? static_cast<uint32_t>(strlen(src) + 1) : 0;
}

// ---- fault management ----
void ddi_fm_init(dev_info_t *dip, int *fmcap, ddi_iblock_cookie_t *ibcp) {
  int cap = fmcap ? *fmcap : 0;
  cap &=
      DDI_FM_EREPORT_CAPABLE | DDI_FM_ACCCHK_CAPABLE | DDI_FM_DMACHK_CAPABLE | DDI_FM_ERRCB_CAPABLE;
  dip->fm_cap = cap;
  if (fmcap) *fmcap = cap;
  if (ibcp) *ibcp = reinterpret_cast<ddi_iblock_cookie_t>(DDI_INTR_PRI(5));
}
void ddi_fm_fini(dev_info_t *dip) { dip->fm_cap = 0; }
int ddi_fm_capable(dev_info_t *dip) { return dip->fm_cap; }
void ddi_fm_handler_register(dev_info_t *, ddi_err_func_t, void *) {}
void ddi_fm_handler_unregister(dev_info_t *) {}
void ddi_fm_ereport_post(dev_info_t *dip, const char *error_class, uint64_t, int, ...) {
  cmn_err(CE_CONT, "!fm: ereport %s from %s%d\n", error_class, dip->driver_name.c_str(),
          dip->instance);
  fk_sdt_probe("fm-ereport", 1, reinterpret_cast<uintptr_t>(error_class), 0, 0, 0);
}
void ddi_fm_service_impact(dev_info_t *dip, int svc_impact) {
  cmn_err(CE_CONT, "!fm: service impact %d on %s%d\n", svc_impact, dip->driver_name.c_str(),
          dip->instance);
  fk_sdt_probe("fm-service-impact", 1, static_cast<uintptr_t>(svc_impact), 0, 0, 0);
}
void ddi_fm_acc_err_get(ddi_acc_handle_t h, ddi_fm_error_t *de, int version) {
  memset(de, 0, sizeof *de);
  de->fme_version = version;
  de->fme_status = h ? h->fm_status : DDI_FM_OK;
  de->fme_acc_handle = h;
}
void ddi_fm_dma_err_get(ddi_dma_handle_t h, ddi_fm_error_t *de, int version) {
  memset(de, 0, sizeof *de);
  de->fme_version = version;
  de->fme_status = DDI_FM_OK;
  de->fme_dma_handle = h;
}
void ddi_fm_acc_err_clear(ddi_acc_handle_t h, int) {
  if (h) h->fm_status = DDI_FM_OK;
}
void ddi_fm_dma_err_clear(ddi_dma_handle_t, int) {}
void pci_ereport_setup(dev_info_t *) {}
void pci_ereport_teardown(dev_info_t *) {}
void pci_ereport_post(dev_info_t *, ddi_fm_error_t *derr, uint16_t *) {
  if (derr) derr->fme_status = DDI_FM_OK;
}
uint64_t fm_ena_generate(uint64_t timestamp, uchar_t format) {
  return ((timestamp ? timestamp : static_cast<uint64_t>(gethrtime())) << 2) | (format & 3);
}

// ---- buf(9S) routines ----
void bioinit(struct buf *bp) { memset(bp, 0, sizeof *bp); }
void biofini(struct buf *) {}
void bioerror(struct buf *bp, int error) {
  bp->b_error = error;
  if (error)
    bp->b_flags |= B_ERROR;
  else
    bp->b_flags &= ~B_ERROR;
}
int geterror(struct buf *bp) {
  return (bp->b_flags & B_ERROR) ? (bp->b_error ? bp->b_error : EIO) : 0;
}
void biodone(struct buf *bp) {
  bp->b_flags |= B_DONE;
  if (bp->b_iodone) bp->b_iodone(bp);
}
int biowait(struct buf *bp) { return geterror(bp); }
void bp_mapin(struct buf *) {}
void bp_mapout(struct buf *) {}
struct buf *getrbuf(int sleepflag) {
  auto *bp = static_cast<struct buf *>(kmem_zalloc(sizeof(struct buf), sleepflag));
  return bp;
}
void freerbuf(struct buf *bp) { kmem_free(bp, sizeof(struct buf)); }

}  // extern "C"
