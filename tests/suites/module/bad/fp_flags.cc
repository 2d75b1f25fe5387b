// Planted violation (amd64): floating-point arithmetic compiled with SSE turned back on, as a
// build that lost -mno-sse would.
#include "module_stub.h"

extern "C" double bad_scale(double x) { return x * 2.5; }
