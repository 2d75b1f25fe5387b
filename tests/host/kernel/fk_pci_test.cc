// Tests of PCI (fk_pci.cc): registers, config space and interrupt delivery.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "kernel_test_util.h"

namespace {

using fk_test::AccAttr;
using fk_test::BaseAttr;
using fk_test::PciTest;

TEST_F(PciTest, RegistersAndConfigSpace) {
  Attach();
  ddi_acc_handle_t cfg;
  ASSERT_EQ(pci_config_setup(dip, &cfg), DDI_SUCCESS);
  EXPECT_EQ(pci_config_get16(cfg, PCI_CONF_VENID), fk_test::FakeDevice::kVendor);
  EXPECT_EQ(pci_config_get16(cfg, PCI_CONF_DEVID), fk_test::FakeDevice::kDevice);
  pci_config_teardown(&cfg);
  EXPECT_EQ(cfg, nullptr);
  off_t size;
  ASSERT_EQ(ddi_dev_regsize(dip, 1, &size), DDI_SUCCESS);
  EXPECT_EQ(size, 4096);
  caddr_t base;
  ddi_acc_handle_t regs;
  ddi_device_acc_attr_t aa = AccAttr();
  EXPECT_NE(ddi_regs_map_setup(dip, 1, &base, 0, 8192, &aa, &regs), DDI_SUCCESS);
  ASSERT_EQ(ddi_regs_map_setup(dip, 1, &base, 0, 0, &aa, &regs), DDI_SUCCESS);
  auto *r = reinterpret_cast<uint32_t *>(base);
  EXPECT_EQ(ddi_get32(regs, r), fk_test::FakeDevice::kId);
  ddi_put32(regs, r + 3, 77);
  EXPECT_EQ(ddi_get32(regs, r + 3), 77u);
  EXPECT_EQ(fk::violation_count(), 0u);
  ddi_get32(regs, r + 1024);  // outside the mapping
  EXPECT_TRUE(HasViolation("regs", "outside the mapping"));
  ddi_put32(nullptr, r, 1);  // a NULL handle
  EXPECT_TRUE(HasViolation("regs", "NULL access handle"));
  ddi_regs_map_free(&regs);
  EXPECT_TRUE(fk::leaks().empty());
}

// A handler counting its calls; arg1 is the counter, arg2 the register mapping.
struct IsrCtx {
  std::atomic<int> calls{0};
  ddi_acc_handle_t regs;
  uint32_t *base;
  bool ack = true;
};

uint_t TestIsr(caddr_t a1, caddr_t) {
  auto *c = reinterpret_cast<IsrCtx *>(a1);
  c->calls++;
  uint32_t st = ddi_get32(c->regs, c->base + fk_test::FakeDevice::kRegStatus / 4);
  if (st == 0) return DDI_INTR_UNCLAIMED;
  if (c->ack) ddi_put32(c->regs, c->base + fk_test::FakeDevice::kRegStatus / 4, st);
  return DDI_INTR_CLAIMED;
}

TEST_F(PciTest, MsiFallsBackToFixedAndDelivers) {
  dev.types = fk::kIntrFixed | fk::kIntrMsi | fk::kIntrMsix;
  dev.msix_count = 4;
  Attach();
  int types;
  ASSERT_EQ(ddi_intr_get_supported_types(dip, &types), DDI_SUCCESS);
  EXPECT_EQ(types, DDI_INTR_TYPE_FIXED | DDI_INTR_TYPE_MSI | DDI_INTR_TYPE_MSIX);
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_MSIX);
  fk::fail_intr_type(fk::kFailIntrAddHandler, DDI_INTR_TYPE_MSI);
  ddi_intr_handle_t h;
  int actual;
  EXPECT_NE(ddi_intr_alloc(dip, &h, DDI_INTR_TYPE_MSIX, 0, 1, &actual, DDI_INTR_ALLOC_STRICT),
            DDI_SUCCESS);
  ASSERT_EQ(ddi_intr_alloc(dip, &h, DDI_INTR_TYPE_MSI, 0, 1, &actual, DDI_INTR_ALLOC_STRICT),
            DDI_SUCCESS);
  IsrCtx ctx;
  EXPECT_NE(ddi_intr_add_handler(h, TestIsr, &ctx, nullptr), DDI_SUCCESS);
  ASSERT_EQ(ddi_intr_free(h), DDI_SUCCESS);
  ASSERT_EQ(ddi_intr_alloc(dip, &h, DDI_INTR_TYPE_FIXED, 0, 1, &actual, DDI_INTR_ALLOC_NORMAL),
            DDI_SUCCESS);
  EXPECT_EQ(dev.mode.load(), fk::kIntrFixed);
  caddr_t base;
  ddi_device_acc_attr_t aa = AccAttr();
  ASSERT_EQ(ddi_regs_map_setup(dip, 1, &base, 0, 0, &aa, &ctx.regs), DDI_SUCCESS);
  ctx.base = reinterpret_cast<uint32_t *>(base);
  ASSERT_EQ(ddi_intr_add_handler(h, TestIsr, &ctx, nullptr), DDI_SUCCESS);
  // Raise the line while disabled: the handler must not run.
  ddi_put32(ctx.regs, ctx.base + fk_test::FakeDevice::kRegMask / 4, 1);
  ddi_dma_attr_t a = BaseAttr();
  ddi_dma_handle_t dh;
  ASSERT_EQ(ddi_dma_alloc_handle(dip, &a, DDI_DMA_SLEEP, nullptr, &dh), DDI_SUCCESS);
  auto *buf = static_cast<uint8_t *>(kmem_zalloc(16, KM_SLEEP));
  ddi_dma_cookie_t c;
  uint_t n;
  ASSERT_EQ(ddi_dma_addr_bind_handle(dh, nullptr, reinterpret_cast<caddr_t>(buf), 16, DDI_DMA_RDWR,
                                     DDI_DMA_SLEEP, nullptr, &c, &n),
            DDI_DMA_MAPPED);
  ddi_put32(ctx.regs, ctx.base + 1, static_cast<uint32_t>(c.dmac_laddress));
  ddi_put32(ctx.regs, ctx.base + 2, static_cast<uint32_t>(c.dmac_laddress >> 32));
  ddi_put32(ctx.regs, ctx.base + 3, 16);
  ddi_put32(ctx.regs, ctx.base + 4, 1);
  EXPECT_EQ(ctx.calls.load(), 0) << "disabled interrupts are not delivered";
  ASSERT_EQ(ddi_intr_enable(h), DDI_SUCCESS);
  while (ctx.calls.load() == 0) std::this_thread::yield();
  ASSERT_EQ(ddi_intr_disable(h), DDI_SUCCESS);
  EXPECT_EQ(ctx.calls.load(), 1) << "level-triggered: acked, so exactly one call";
  ASSERT_EQ(ddi_dma_unbind_handle(dh), DDI_SUCCESS);
  EXPECT_EQ(buf[0], 1) << "the device incremented every byte";
  EXPECT_EQ(fk::counters().interrupts_claimed, 1u);
  ddi_dma_free_handle(&dh);
  kmem_free(buf, 16);
  ASSERT_EQ(ddi_intr_remove_handler(h), DDI_SUCCESS);
  ASSERT_EQ(ddi_intr_free(h), DDI_SUCCESS);
  EXPECT_EQ(dev.mode.load(), 0);
  ddi_regs_map_free(&ctx.regs);
  EXPECT_EQ(fk::violation_count(), 0u);
  EXPECT_TRUE(fk::leaks().empty());
}

TEST_F(PciTest, InterruptStormFromAnUnackedLevelInterrupt) {
  Attach();
  IsrCtx ctx;
  ctx.ack = false;  // planted: never clears the cause
  caddr_t base;
  ddi_device_acc_attr_t aa = AccAttr();
  ASSERT_EQ(ddi_regs_map_setup(dip, 1, &base, 0, 0, &aa, &ctx.regs), DDI_SUCCESS);
  ctx.base = reinterpret_cast<uint32_t *>(base);
  AddIsr(DDI_INTR_TYPE_FIXED, TestIsr, &ctx);
  ASSERT_EQ(ddi_intr_enable(ih), DDI_SUCCESS);
  ddi_put32(ctx.regs, ctx.base + fk_test::FakeDevice::kRegMask / 4, 1);
  ddi_put32(ctx.regs, ctx.base + 3, 0);
  ddi_put32(ctx.regs, ctx.base + 4, 1);  // zero-length transfer: done at once
  while (fk::violation_count("intr") == 0) std::this_thread::yield();
  EXPECT_GE(ctx.calls.load(), 10000);
  ddi_intr_disable(ih);
  ddi_regs_map_free(&ctx.regs);
}

TEST_F(PciTest, UnclaimedInterruptsAreCounted) {
  Attach();
  static std::atomic<int> calls;
  calls = 0;
  AddIsr(DDI_INTR_TYPE_MSI, [](caddr_t, caddr_t) -> uint_t { return calls++, DDI_INTR_UNCLAIMED; });
  SendMsiAndWait(calls);
  EXPECT_EQ(fk::counters().interrupts_unclaimed, 1u);
  EXPECT_EQ(fk::intr_info(dip).type, DDI_INTR_TYPE_MSI);
}

TEST_F(PciTest, RepeatedRegisterAccess) {
  Attach();
  caddr_t base;
  ddi_acc_handle_t regs;
  ddi_device_acc_attr_t aa = AccAttr();
  ASSERT_EQ(ddi_regs_map_setup(dip, 1, &base, 0, 0, &aa, &regs), DDI_SUCCESS);
  auto *r = reinterpret_cast<uint32_t *>(base);
  uint32_t in[3] = {0x1000, 0x2, 512}, out[3] = {};
  ddi_rep_put32(regs, in, r + 1, 3, DDI_DEV_AUTOINCR);
  ddi_rep_get32(regs, out, r + 1, 3, DDI_DEV_AUTOINCR);
  EXPECT_EQ(memcmp(in, out, sizeof in), 0);
  ddi_rep_get32(regs, out, r, 2, DDI_DEV_NO_AUTOINCR);
  EXPECT_EQ(out[0], fk_test::FakeDevice::kId);
  EXPECT_EQ(out[1], fk_test::FakeDevice::kId);
  ddi_regs_map_free(&regs);
  EXPECT_EQ(fk::violation_count(), 0u);
}

// ddi_intr_enable(9F) and ddi_intr_disable(9F) refuse an MSI vector with DDI_INTR_FLAG_BLOCK
// (ddi_intr.c): only ddi_intr_block_enable(9F) / ddi_intr_block_disable(9F) drive it.
TEST_F(PciTest, BlockCapableMsiNeedsTheBlockInterface) {
  Attach();
  AddIsr(DDI_INTR_TYPE_MSI, [](caddr_t, caddr_t) -> uint_t { return DDI_INTR_UNCLAIMED; });
  ddi_intr_handle_t h = ih;
  int cap = 0;
  ASSERT_EQ(ddi_intr_get_cap(h, &cap), DDI_SUCCESS);
  ASSERT_TRUE(cap & DDI_INTR_FLAG_BLOCK);
  EXPECT_EQ(ddi_intr_enable(h), DDI_EINVAL);
  EXPECT_TRUE(HasViolation("intr", "ddi_intr_enable of an MSI vector with DDI_INTR_FLAG_BLOCK"));
  fk::clear_violations();
  EXPECT_EQ(ddi_intr_block_enable(&h, 1), DDI_SUCCESS);
  EXPECT_EQ(ddi_intr_disable(h), DDI_EINVAL);
  EXPECT_TRUE(HasViolation("intr", "ddi_intr_disable of an MSI vector"));
  fk::clear_violations();
  EXPECT_EQ(ddi_intr_block_disable(&h, 1), DDI_SUCCESS);
  EXPECT_EQ(fk::violations().size(), 0u);
}

TEST_F(PciTest, ShortIntxPulseIsDelivered) {
  Attach();
  static std::atomic<int> calls;
  calls = 0;
  AddIsr(DDI_INTR_TYPE_FIXED,
         [](caddr_t, caddr_t) -> uint_t { return calls++, DDI_INTR_UNCLAIMED; });
  ASSERT_EQ(ddi_intr_enable(ih), DDI_SUCCESS);
  fk::device_host(dip)->set_intx(true);
  fk::device_host(dip)->set_intx(false);
  fk::drain();
  // At least once (more if the handler ran while the line was still up: level-triggered).
  EXPECT_GE(calls.load(), 1);
  EXPECT_EQ(fk::counters().interrupts_unclaimed, static_cast<uint64_t>(calls.load()));
  ddi_intr_disable(ih);
}

}  // namespace
