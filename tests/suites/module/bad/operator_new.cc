// Planted violation: operator new and delete (the C++ runtime); memory must come from kmem_*.
#include "module_stub.h"

struct Widget {
  int a, b;
};

extern "C" Widget *bad_make_widget(void) { return new Widget{1, 2}; }
extern "C" void bad_drop_widget(Widget *w) { delete w; }
