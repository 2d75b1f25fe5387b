// The baseline the planted violations start from: a valid module with nothing wrong in it. The
// check must pass it on every architecture (no false positives).
#include "module_stub.h"
