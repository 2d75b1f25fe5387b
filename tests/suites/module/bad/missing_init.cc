// Planted violation: no _init entry point.
#define STUB_NO_INIT
#include "module_stub.h"
