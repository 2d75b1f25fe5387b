// Planted violation: C library functions that the illumos kernel does not provide.
#include "module_stub.h"

extern "C" int printf(const char *, ...);
extern "C" void *malloc(unsigned long);

extern "C" void *bad_log_and_alloc(void) {
  printf("allocating\n");
  return malloc(32);
}
