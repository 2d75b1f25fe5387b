// Fixtures shared by the kernel's own tests (fk_*_test.cc): a kernel booted per test and shut
// down after it (KernelTest), a DMA handle (DmaTest), the tiny PCI device of fake_device.h
// attached as a node (PciTest), and DMA and access attributes that constrain nothing.
#pragma once

#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>

#include <string>
#include <vector>

#include "fake_device.h"
#include "fk.h"
#include "fk_internal.h"

namespace fk_test {

inline ddi_dma_attr_t BaseAttr() {
  ddi_dma_attr_t a{};
  a.dma_attr_version = DMA_ATTR_V0;
  a.dma_attr_addr_lo = 0;
  a.dma_attr_addr_hi = ~0ull;
  a.dma_attr_count_max = ~0ull;
  a.dma_attr_align = 1;
  a.dma_attr_burstsizes = 1;
  a.dma_attr_minxfer = 1;
  a.dma_attr_maxxfer = ~0ull;
  a.dma_attr_seg = ~0ull;
  a.dma_attr_sgllen = 64;
  a.dma_attr_granular = 1;
  return a;
}

inline ddi_device_acc_attr_t AccAttr() {
  ddi_device_acc_attr_t a{};
  a.devacc_attr_version = DDI_DEVICE_ATTR_V0;
  a.devacc_attr_endian_flags = DDI_STRUCTURE_LE_ACC;
  a.devacc_attr_dataorder = DDI_STRICTORDER_ACC;
  return a;
}

class KernelTest : public ::testing::Test {
 protected:
  void Boot(fk::Options o = fk::Options()) { fk::boot(o); }
  void SetUp() override {}
  void TearDown() override { fk::shutdown(); }
  bool HasViolation(const std::string &kind, const std::string &text) {
    for (auto &v : fk::violations())
      if (v.kind == kind && v.text.find(text) != std::string::npos) return true;
    return false;
  }
};

class DmaTest : public KernelTest {
 protected:
  ddi_dma_handle_t h = nullptr;
  void Alloc(const ddi_dma_attr_t &a) {
    ddi_dma_attr_t copy = a;
    ASSERT_EQ(ddi_dma_alloc_handle(nullptr, &copy, DDI_DMA_SLEEP, nullptr, &h), DDI_SUCCESS);
  }
  void TearDown() override {
    if (h != nullptr) {
      ddi_dma_unbind_handle(h);
      ddi_dma_free_handle(&h);
    }
    KernelTest::TearDown();
  }
  std::vector<ddi_dma_cookie_t> Cookies() {
    std::vector<ddi_dma_cookie_t> v;
    for (const ddi_dma_cookie_t *c = ddi_dma_cookie_iter(h, nullptr); c != nullptr;
         c = ddi_dma_cookie_iter(h, c))
      v.push_back(*c);
    return v;
  }
};

class PciTest : public KernelTest {
 protected:
  fk_test::FakeDevice dev;
  dev_info_t *dip = nullptr;
  void Attach() {
    Boot();
    dip = fk::add_pci_node(&dev, {"tiny", 2, 0});
  }
  void TearDown() override {
    if (dip) fk::remove_node(dip);
    KernelTest::TearDown();
  }
};

}  // namespace fk_test
