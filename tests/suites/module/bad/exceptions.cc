// Planted violation: compiled with -fexceptions, a try/catch needs exception tables
// (.gcc_except_table, .eh_frame) and the C++ exception runtime.
#include "module_stub.h"

extern "C" int bad_may_fail(int);

extern "C" int bad_catching(int x) {
  try {
    return bad_may_fail(x);
  } catch (int e) {
    return e;
  }
}
