// An SDT probe fired inside a namespace with no C-linkage declaration of the probe first. Unlike
// the other planted violations this one includes driver/compat's <sys/sdt.h> on purpose: it
// expands DTRACE_PROBE as illumos's <sys/sdt.h> does (a block-scope declaration, no asm label),
// so the probe becomes a C++-mangled symbol that the kernel runtime linker would not make a
// probe of, and the check must say so. A declared probe beside it stays plain.
#include "module_stub.h"

#include <sys/types.h>
#include <sys/sdt.h>

namespace bad {

extern "C" void __dtrace_probe_bad__declared(uintptr_t);

// A C++ function: inside an extern "C" function the block-scope declaration would get C linkage.
void fire(int x) {
  DTRACE_PROBE1(bad__undeclared, int, x);
  DTRACE_PROBE1(bad__declared, int, x);
}

}  // namespace bad
