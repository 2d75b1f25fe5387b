// A string literal passed as dev_err(9F)'s format: <sys/cmn_err.h> declares it `char *`, and so
// does driver/compat, so the kernel-module build must reject this as the real headers do (not
// a DDI-check test: the object must not compile).
#include <sys/cmn_err.h>
#include <sys/sunddi.h>
extern "C" void bad_message(dev_info_t *dip) { dev_err(dip, CE_WARN, "literal"); }
