// Planted violation: _fini with internal linkage (a LOCAL symbol the loader cannot see).
#define STUB_NO_FINI
#include "module_stub.h"

extern "C" {
static int _fini(void) { return mod_remove(STUB_LINKAGE); }
int (*bad_keep_fini)(void) = _fini;
}
