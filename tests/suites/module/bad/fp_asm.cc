// Planted violation: floating-point/SIMD register use that the compiler flags cannot stop
// (inline assembly), found only by the disassembly check.
#include "module_stub.h"

extern "C" void bad_clear_vector(void) {
#if defined(__x86_64__)
  __asm__ volatile("pxor %%xmm0, %%xmm0" ::: "memory");
#elif defined(__aarch64__)
  __asm__ volatile("movi v0.2d, #0" ::: "memory");
#else
#error "unknown architecture"
#endif
}
