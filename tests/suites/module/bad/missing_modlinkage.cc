// Planted violation: no modlinkage object (the entry points use a pointer from elsewhere).
#define STUB_NO_MODLINKAGE
#include "module_stub.h"
