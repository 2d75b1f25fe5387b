// Planted violation: undefined symbols outside the DDI allowlist - a private kernel function
// that the allowlist may never name (thread_create) and one that it simply does not name.
#include "module_stub.h"

extern "C" void *thread_create(void *, unsigned long, void (*)(), void *, unsigned long, void *,
                               int, int);
extern "C" void *vmem_alloc(void *, unsigned long, int);

static void worker() {}

extern "C" void *bad_spawn_worker(void) {
  return thread_create(nullptr, 0, worker, nullptr, 0, nullptr, 0, 60);
}

extern "C" void *bad_private_alloc(void *arena) { return vmem_alloc(arena, 64, 0); }
