// Every compat DDI header compiles (freestanding against driver/compat alone, and in the host
// build next to the C library's headers); the macros expand to valid code.
#include <sys/types.h>
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/debug.h>
#include <sys/cmn_err.h>
#include <sys/kmem.h>
#include <sys/ksynch.h>
#include <sys/mutex.h>
#include <sys/condvar.h>
#include <sys/modctl.h>
#include <sys/conf.h>
#include <sys/devops.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>
#include <sys/ddi_intr.h>
#include <sys/ddidmareq.h>
#include <sys/buf.h>
#include <sys/kstat.h>
#include <sys/sdt.h>
#include <sys/ddifm.h>
#include <sys/fm/protocol.h>
#include <sys/fm/util.h>
#include <sys/fm/io/ddi.h>
#include <sys/pci.h>
#include <sys/sysmacros.h>
#include <sys/note.h>
#include <sys/systm.h>
#include <sys/atomic.h>
#include <sys/byteorder.h>
#include <sys/time.h>
int compat_headers_use(dev_info_t *dip, int x) {
  DTRACE_PROBE(a);
  DTRACE_PROBE2(b, int, x, dev_info_t *, dip);
  DTRACE_PROBE4(c, int, x, int, x, int, x, int, x);
  ASSERT(x > 0);
  VERIFY(x != 3);
  IMPLY(x, dip);
  VERIFY3U(x, <, 10);
  static_assert(sizeof(uint64_t) == 8, "");
  return (int)P2ROUNDUP(x, 8) + MIN(x, 2) + (int)ARRAY_SIZE("abc") + ddi_get_instance(dip) +
         PCI_REG_ADDR_G(PCI_ADDR_MEM64);
}
