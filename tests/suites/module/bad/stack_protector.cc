// Planted violation: compiled with -fstack-protector-all, every function calls
// __stack_chk_fail (and on aarch64 reads __stack_chk_guard), which the allowlist does not admit.
#include "module_stub.h"

extern "C" void bad_fill(char *, unsigned long);

extern "C" int bad_with_buffer(void) {
  char buf[64];
  bad_fill(buf, sizeof(buf));
  return buf[3];
}
