// A DDI table built the driver's way: a constexpr function assigns each member by name. Built as
// is (at -O0, so no optimizer folds anything), the tables are constant-initialized and the check
// passes; built with -DDYNAMIC_TABLE, one table's value comes from a function call at load time,
// which needs a static constructor (.init_array) - the module loader never runs it, so the check
// must reject the object.
#include "module_stub.h"

// Shaped like ddi_dma_attr(9S), self-contained as module_stub.h is.
struct stub_dma_attr {
  unsigned version;
  unsigned long long addr_lo, addr_hi, count_max, align;
  unsigned burstsizes, minxfer;
  unsigned long long maxxfer, seg;
  int sgllen;
  unsigned granular, flags;
};

// Some members by name, the rest zero: how it is built matters here, not what it says.
constexpr stub_dma_attr stub_dma_attr_aligned(unsigned long long align) {
  stub_dma_attr a{};
  a.addr_hi = ~0ull;
  a.align = align;
  a.sgllen = 1;
  a.granular = 1;
  return a;
}

// Referenced from a function, so that the tables are kept at every optimization level.
const stub_dma_attr ok_ring_attr = stub_dma_attr_aligned(4096);
extern "C" const stub_dma_attr *ok_attr(void) { return &ok_ring_attr; }

#ifdef DYNAMIC_TABLE
// A value only known at run time (a volatile read is never a constant expression).
volatile unsigned long long bad_page_size = 4096;
const stub_dma_attr bad_ring_attr = stub_dma_attr_aligned(bad_page_size);
extern "C" const stub_dma_attr *bad_attr(void) { return &bad_ring_attr; }
#endif
