// Planted violation: compiled with -fPIC, the address of a kernel variable is loaded through
// the GOT, which the kernel runtime linker does not build for modules.
#include "module_stub.h"

struct mod_ops;
extern "C" struct mod_ops mod_driverops;

extern "C" struct mod_ops *bad_driver_ops(void) { return &mod_driverops; }
