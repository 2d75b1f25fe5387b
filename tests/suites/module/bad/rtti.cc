// Planted violation: compiled with -frtti, a polymorphic class brings typeinfo and the vtables
// of the C++ ABI's type_info classes.
#include "module_stub.h"

struct Base {
  virtual int get() const;
  virtual ~Base() = default;
};
int Base::get() const { return 1; }

extern "C" int bad_use_base(const Base *b) { return b->get(); }
