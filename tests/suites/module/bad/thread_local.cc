// Planted violation: thread-local storage, which kernel modules do not have.
#include "module_stub.h"

thread_local int bad_per_thread_counter;

extern "C" int bad_count(void) { return ++bad_per_thread_counter; }
