// Planted violation: _init declared without extern "C", so the symbol is the C++-mangled
// _Z5_initv and the module loader cannot find _init.
#define STUB_NO_INIT
#include "module_stub.h"

int _init(void) { return mod_install(STUB_LINKAGE); }
