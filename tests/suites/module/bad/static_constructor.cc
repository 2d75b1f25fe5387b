// Planted violation: a global object with a dynamic constructor, which needs .init_array - the
// module loader never runs it.
#include "module_stub.h"

extern "C" int bad_read_config(void);

struct Config {
  Config() : value(bad_read_config()) {}
  int value;
};

Config bad_global_config;
