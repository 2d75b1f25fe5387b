// Tests of DMA (fk_dma.cc): every ddi_dma_attr_t field is enforced at bind, what cannot be
// described is bounced, partial mappings split into windows, device access is checked.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <cstring>
#include <vector>

#include "kernel_test_util.h"

namespace {

using fk_test::AccAttr;
using fk_test::BaseAttr;
using fk_test::DmaTest;

TEST_F(DmaTest, BadAttributesAreRejected) {
  Boot();
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_minxfer = 3;
  EXPECT_EQ(ddi_dma_alloc_handle(nullptr, &a, DDI_DMA_SLEEP, nullptr, &h), DDI_DMA_BADATTR);
  a = BaseAttr();
  a.dma_attr_align = 6;
  EXPECT_EQ(ddi_dma_alloc_handle(nullptr, &a, DDI_DMA_SLEEP, nullptr, &h), DDI_DMA_BADATTR);
  a = BaseAttr();
  a.dma_attr_sgllen = 0;
  EXPECT_EQ(ddi_dma_alloc_handle(nullptr, &a, DDI_DMA_SLEEP, nullptr, &h), DDI_DMA_BADATTR);
  h = nullptr;
}

TEST_F(DmaTest, Above4GiBWith32BitAddrHiBounces) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_addr_hi = 0xffffffffull;
  BootAlloc(a);
  uint8_t *buf = Kmem(512);
  ASSERT_GT(fk::va_to_pa(buf), 0xffffffffull);
  memset(buf, 0x5a, 512);
  ASSERT_EQ(Bind(buf, 512, DDI_DMA_RDWR | DDI_DMA_STREAMING), DDI_DMA_MAPPED);
  EXPECT_EQ(n, 1u);
  EXPECT_LE(c.dmac_laddress + 511, 0xffffffffull);
  EXPECT_EQ(fk::counters().bounce_binds, 1u);
  // The bind filled the bounce buffer (DDI_DMA_WRITE direction).
  auto *bounce = static_cast<uint8_t *>(fk::pa_to_va(c.dmac_laddress));
  EXPECT_EQ(bounce[0], 0x5a);
  // A device write lands in the bounce buffer; FORCPU copies it back.
  uint8_t v = 0x77;
  ASSERT_TRUE(fk::device_dma_write(c.dmac_laddress + 3, &v, 1));
  EXPECT_EQ(buf[3], 0x5a);
  EXPECT_EQ(ddi_dma_sync(h, 0, 0, DDI_DMA_SYNC_FORCPU), DDI_SUCCESS);
  EXPECT_EQ(buf[3], 0x77);
  EXPECT_GE(fk::counters().bounce_copies, 2u);
  ASSERT_EQ(ddi_dma_unbind_handle(h), DDI_SUCCESS);
}

TEST_F(DmaTest, Above4GiBWithoutLowMemoryFails) {
  fk::Options o;
  o.low_size = 0;
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_addr_hi = 0xffffffffull;
  BootAlloc(a, o);
  uint8_t *buf = Kmem(512);
  EXPECT_NE(Bind(buf, 512, DDI_DMA_READ), DDI_DMA_MAPPED);
}

TEST_F(DmaTest, AlignmentBouncesMisalignedBuffer) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_align = 4096;
  BootAlloc(a);
  uint8_t *mem = Kmem(128);
  uint8_t *buf = mem + 16;
  ASSERT_NE(fk::va_to_pa(buf) % 4096, 0u);
  ASSERT_EQ(Bind(buf, 64, DDI_DMA_READ), DDI_DMA_MAPPED);
  EXPECT_EQ(c.dmac_laddress % 4096, 0u);
  EXPECT_EQ(fk::counters().bounce_binds, 1u);
}

TEST_F(DmaTest, CountMaxSplitsCookies) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_align = 4096;
  a.dma_attr_count_max = 4095;
  BootAlloc(a);
  caddr_t kaddr;
  ddi_acc_handle_t acc;
  MemAlloc(16384, &kaddr, &acc);
  ASSERT_EQ(Bind(kaddr, 16384, DDI_DMA_RDWR), DDI_DMA_MAPPED);
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(ddi_dma_ncookies(h), 4u);
  for (auto &ck : Cookies()) EXPECT_EQ(ck.dmac_size, 4096u);
  EXPECT_EQ(fk::counters().bounce_binds, 0u);
  ddi_dma_unbind_handle(h);
  ddi_dma_mem_free(&acc);
}

TEST_F(DmaTest, SegmentBoundarySplitsCookies) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_align = 4096;
  BootAlloc(a);
  caddr_t kaddr;
  ddi_acc_handle_t acc;
  MemAlloc(8192, &kaddr, &acc);
  ddi_dma_free_handle(&h);  // (a violation: memory still allocated on it)
  EXPECT_TRUE(HasViolation("dma", "before ddi_dma_mem_free"));
  fk::clear_violations();
  a = BaseAttr();
  a.dma_attr_seg = 0xfff;  // may not cross a 4 KiB boundary
  Alloc(a);
  ASSERT_EQ(Bind(kaddr + 2048, 4096, DDI_DMA_READ), DDI_DMA_MAPPED);
  ASSERT_EQ(n, 2u);
  auto v = Cookies();
  EXPECT_EQ(v[0].dmac_size, 2048u);
  EXPECT_EQ((v[1].dmac_laddress) % 4096, 0u);
  ddi_dma_unbind_handle(h);
  ddi_dma_mem_free(&acc);
}

TEST_F(DmaTest, ScatteredKmemGivesOneCookiePerPageOrBouncesForSgllen1) {
  ddi_dma_attr_t a = BaseAttr();
  BootAlloc(a);
  uint8_t *buf = Kmem(3 * 4096);
  ASSERT_EQ(Bind(buf, 3 * 4096, DDI_DMA_READ), DDI_DMA_MAPPED);
  EXPECT_GE(n, 3u) << "kmem pages are not physically contiguous";
  ddi_dma_unbind_handle(h);
  ddi_dma_free_handle(&h);
  a.dma_attr_sgllen = 1;
  Alloc(a);
  ASSERT_EQ(Bind(buf, 3 * 4096, DDI_DMA_READ), DDI_DMA_MAPPED);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(fk::counters().bounce_binds, 1u);
  EXPECT_NE(ddi_dma_cookie_one(h), nullptr);
}

TEST_F(DmaTest, GranularityAllowsUnevenSegmentsWithScatterGather) {
  // ddi_dma_attr(9S): with scatter/gather a segment may be smaller than the granularity; only
  // the transfer as a whole is a multiple of it. Nothing is bounced for that.
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_granular = 512;
  BootAlloc(a);
  uint8_t *buf = Kmem(3 * 4096);
  uint8_t *start = buf + (4096 - (reinterpret_cast<uintptr_t>(buf) % 4096)) + 100;  // page+100
  ASSERT_EQ(Bind(start, 4096, DDI_DMA_READ), DDI_DMA_MAPPED);
  EXPECT_EQ(n, 2u) << "3996 + 100 bytes on two scattered pages";
  EXPECT_EQ(c.dmac_size, 3996u);
  EXPECT_EQ(fk::counters().bounce_binds, 0u);
}

// A DEBUG x86 rootnex (rootnex.c: rootnex_dma_allochdl, rootnex_valid_alloc_parms) refuses
// attributes its page-based binding cannot honour.
TEST_F(DmaTest, RootnexRefusesAttributesADebugKernelRefuses) {
  Boot();
  struct Case {
    const char *why;
    void (*set)(ddi_dma_attr_t &);
  };
  const Case cases[] = {
      {"dma_attr_seg below 0xfff", [](ddi_dma_attr_t &a) { a.dma_attr_seg = 0x7ff; }},
      {"dma_attr_count_max below 0xfff", [](ddi_dma_attr_t &a) { a.dma_attr_count_max = 0x1ff; }},
      {"dma_attr_granular above the page size",
       [](ddi_dma_attr_t &a) { a.dma_attr_granular = 8192; }},
      {"dma_attr_maxxfer below the page size",
       [](ddi_dma_attr_t &a) { a.dma_attr_maxxfer = 2048; }},
      {"dma_attr_seg not ending in 0xfff", [](ddi_dma_attr_t &a) { a.dma_attr_seg = 0x1ffe; }},
      {"largest cookie smaller than a page",
       [](ddi_dma_attr_t &a) {
         a.dma_attr_granular = 3000;  // maxxfer 5000 rounds down to 3000
         a.dma_attr_maxxfer = 5000;
       }},
  };
  for (const Case &c : cases) {
    ddi_dma_attr_t a = BaseAttr();
    c.set(a);
    ddi_dma_handle_t hh = nullptr;
    EXPECT_EQ(ddi_dma_alloc_handle(nullptr, &a, DDI_DMA_SLEEP, nullptr, &hh), DDI_DMA_BADATTR)
        << c.why;
    EXPECT_TRUE(HasViolation("dma", c.why)) << c.why;
    fk::clear_violations();
  }
  // The smallest attributes it accepts.
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_seg = 0xfff;
  a.dma_attr_count_max = 0xfff;
  a.dma_attr_maxxfer = 4096;
  a.dma_attr_granular = 4096;
  Alloc(a);
  EXPECT_EQ(fk::violations().size(), 0u);
}

TEST_F(DmaTest, MaxxferTooBig) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_maxxfer = 4096;  // the least a DEBUG rootnex accepts
  BootAlloc(a);
  uint8_t *buf = Kmem(8192);
  EXPECT_EQ(Bind(buf, 8192, DDI_DMA_READ), DDI_DMA_TOOBIG);
}

TEST_F(DmaTest, MemAllocHonoursAddressRangeAndAlignment) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_addr_hi = 0xffffffffull;
  a.dma_attr_align = 8192;
  BootAlloc(a);
  caddr_t kaddr;
  ddi_acc_handle_t acc;
  size_t real = 0;
  MemAlloc(100, &kaddr, &acc, &real);
  EXPECT_GE(real, 100u);
  uint64_t pa = fk::va_to_pa(kaddr);
  EXPECT_LE(pa, 0xffffffffull);
  EXPECT_EQ(pa % 8192, 0u);
  ddi_put32(acc, reinterpret_cast<uint32_t *>(kaddr), 0x12345678);
  EXPECT_EQ(ddi_get32(acc, reinterpret_cast<uint32_t *>(kaddr)), 0x12345678u);
  ddi_dma_mem_free(&acc);
  EXPECT_EQ(fk::leaked_bytes(), 0u);
}

TEST_F(DmaTest, DmaFailureInjection) {
  Boot();
  fk::fail_nth(fk::kFailDma, 1);
  ddi_dma_attr_t a = BaseAttr();
  EXPECT_NE(ddi_dma_alloc_handle(nullptr, &a, DDI_DMA_SLEEP, nullptr, &h), DDI_SUCCESS);
  h = nullptr;
  Alloc(a);
}

TEST_F(DmaTest, DeviceAccessToUnboundMemoryIsReported) {
  ddi_dma_attr_t a = BaseAttr();
  BootAlloc(a);
  uint8_t *buf = Kmem(64);
  uint64_t pa = fk::va_to_pa(buf);
  uint8_t tmp[8];
  EXPECT_TRUE(fk::device_dma_read(pa, tmp, 8));
  EXPECT_TRUE(HasViolation("dma", "not bound"));
  fk::clear_violations();
  ASSERT_EQ(Bind(buf, 64, DDI_DMA_READ), DDI_DMA_MAPPED);
  EXPECT_TRUE(fk::device_dma_read(pa, tmp, 8));
  EXPECT_EQ(fk::violation_count(), 0u);
}

TEST_F(DmaTest, IommuRefusesDeviceAccessToUnboundMemory) {
  fk::Options o;
  o.iommu = true;
  Boot(o);
  uint8_t *buf = Kmem(64);
  memset(buf, 0x5a, 64);
  uint64_t pa = fk::va_to_pa(buf);
  const uint8_t junk[8] = {};
  uint8_t tmp[8] = {};
  EXPECT_FALSE(fk::device_dma_write(pa + 8, junk, sizeof junk));
  EXPECT_FALSE(fk::device_dma_read(pa, tmp, sizeof tmp));
  EXPECT_TRUE(HasViolation("dma", "not bound"));  // still reported
  for (int i = 0; i < 64; i++) ASSERT_EQ(buf[i], 0x5a) << "byte " << i << " was overwritten";
  fk::clear_violations();
  // Bound memory is the device's as usual.
  ddi_dma_attr_t a = BaseAttr();
  Alloc(a);
  ASSERT_EQ(Bind(buf, 64, DDI_DMA_RDWR), DDI_DMA_MAPPED);
  EXPECT_TRUE(fk::device_dma_write(pa + 8, junk, sizeof junk));
  (void)ddi_dma_sync(h, 0, 0, DDI_DMA_SYNC_FORKERNEL);
  EXPECT_EQ(buf[8], 0);
  EXPECT_EQ(fk::violation_count(), 0u);
}

TEST_F(DmaTest, PartialMappingSplitsIntoWindows) {
  ddi_dma_attr_t a = BaseAttr();
  a.dma_attr_sgllen = 4;
  a.dma_attr_granular = 512;
  BootAlloc(a);
  size_t len = 16 * 4096;
  uint8_t *buf = Kmem(len);
  for (size_t i = 0; i < len; i++) buf[i] = static_cast<uint8_t>(i / 4096);
  EXPECT_EQ(Bind(buf, len, DDI_DMA_READ), DDI_DMA_MAPPED)
      << "without DDI_DMA_PARTIAL: bounced whole";
  EXPECT_EQ(fk::counters().bounce_binds, 1u);
  ddi_dma_unbind_handle(h);
  ASSERT_EQ(Bind(buf, len, DDI_DMA_RDWR | DDI_DMA_PARTIAL), DDI_DMA_PARTIAL_MAP);
  uint_t nwin = 0;
  ASSERT_EQ(ddi_dma_numwin(h, &nwin), DDI_SUCCESS);
  EXPECT_GE(nwin, 4u);
  size_t covered = 0;
  for (uint_t w = 0; w < nwin; w++) {
    off_t off;
    size_t wlen;
    ASSERT_EQ(ddi_dma_getwin(h, w, &off, &wlen, &c, &n), DDI_SUCCESS);
    EXPECT_EQ(static_cast<size_t>(off), covered);
    EXPECT_LE(n, 4u);
    if (w + 1 < nwin) {
      EXPECT_EQ(wlen % 512, 0u);
    }
    // The device sees this window's bytes at its cookies.
    uint8_t first;
    ASSERT_TRUE(fk::device_dma_read(c.dmac_laddress, &first, 1));
    EXPECT_EQ(first, buf[off]);
    covered += wlen;
  }
  EXPECT_EQ(covered, len);
  EXPECT_EQ(fk::counters().bounce_binds, 1u) << "windows reachable by the device: no bounce";
  EXPECT_EQ(fk::violation_count(), 0u);
}

}  // namespace
