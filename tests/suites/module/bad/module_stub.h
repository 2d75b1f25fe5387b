// A self-contained module skeleton for the planted-violation objects. It deliberately uses no
// compat headers, so each bad object isolates one violation whatever state driver/compat is in:
// just enough of modctl(9S) for _init/_fini/_info and a modlinkage. Each object defines the
// STUB_* switches it needs before including this file.
#pragma once

struct modinfo;
struct modlinkage {
  int ml_rev;
  void *ml_linkage[7];
};

extern "C" int mod_install(struct modlinkage *);
extern "C" int mod_remove(struct modlinkage *);
extern "C" int mod_info(struct modlinkage *, struct modinfo *);

#ifndef STUB_NO_MODLINKAGE
static struct modlinkage modlinkage = {1, {nullptr}};
#define STUB_LINKAGE (&modlinkage)
#else
static struct modlinkage *stub_linkage_ptr;
#define STUB_LINKAGE (stub_linkage_ptr)
#endif

#ifndef STUB_NO_INIT
extern "C" int _init(void) { return mod_install(STUB_LINKAGE); }
#endif

#ifndef STUB_NO_FINI
extern "C" int _fini(void) { return mod_remove(STUB_LINKAGE); }
#endif

extern "C" int _info(struct modinfo *mip) { return mod_info(STUB_LINKAGE, mip); }
