// Fixtures shared by the kernel's own tests (fk_*_test.cc): a kernel booted per test and shut
// down after it (KernelTest), a DMA handle (DmaTest), the tiny PCI device of fake_device.h
// attached as a node (PciTest), and DMA and access attributes that constrain nothing.
#pragma once

#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <atomic>
#include <string>
#include <thread>
#include <utility>
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

// A driver mutex (of interrupt priority pri, or none) and a condition variable, destroyed with
// the object: a test's local goes before the kernel's shutdown.
struct MutexCv {
  kmutex_t m;
  kcondvar_t cv;
  explicit MutexCv(void *pri = nullptr) {
    mutex_init(&m, nullptr, MUTEX_DRIVER, pri);
    cv_init(&cv, nullptr, CV_DRIVER, nullptr);
  }
  ~MutexCv() {
    cv_destroy(&cv);
    mutex_destroy(&m);
  }
  MutexCv(const MutexCv &) = delete;
  MutexCv &operator=(const MutexCv &) = delete;
};

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
  // Boots the kernel with o and allocates h with the attributes a.
  void BootAlloc(const ddi_dma_attr_t &a, fk::Options o = fk::Options()) {
    Boot(o);
    Alloc(a);
  }
  void TearDown() override {
    if (h != nullptr) {
      ddi_dma_unbind_handle(h);
      ddi_dma_free_handle(&h);
    }
    for (auto &b : kmem_) kmem_free(b.first, b.second);
    KernelTest::TearDown();
  }
  // len bytes of kmem, freed after the handle is unbound when the test ends.
  uint8_t *Kmem(size_t len) {
    void *p = kmem_alloc(len, KM_SLEEP);
    kmem_.emplace_back(p, len);
    return static_cast<uint8_t *>(p);
  }
  // The first cookie and the cookie count of the last Bind.
  ddi_dma_cookie_t c{};
  uint_t n = 0;
  // Binds len bytes at buf on h (DDI_DMA_SLEEP); returns what ddi_dma_addr_bind_handle returned.
  int Bind(const void *buf, size_t len, uint_t flags) {
    return ddi_dma_addr_bind_handle(h, nullptr, static_cast<caddr_t>(const_cast<void *>(buf)), len,
                                    flags, DDI_DMA_SLEEP, nullptr, &c, &n);
  }
  // DMA memory on h (DDI_DMA_CONSISTENT, little-endian strict-order access); sets *kaddr, *acc.
  void MemAlloc(size_t len, caddr_t *kaddr, ddi_acc_handle_t *acc, size_t *real = nullptr) {
    ddi_device_acc_attr_t aa = AccAttr();
    size_t got = 0;
    ASSERT_EQ(ddi_dma_mem_alloc(h, len, &aa, DDI_DMA_CONSISTENT, DDI_DMA_SLEEP, nullptr, kaddr,
                                &got, acc),
              DDI_SUCCESS);
    if (real != nullptr) *real = got;
  }
  std::vector<ddi_dma_cookie_t> Cookies() {
    std::vector<ddi_dma_cookie_t> v;
    for (const ddi_dma_cookie_t *c = ddi_dma_cookie_iter(h, nullptr); c != nullptr;
         c = ddi_dma_cookie_iter(h, c))
      v.push_back(*c);
    return v;
  }

 private:
  std::vector<std::pair<void *, size_t>> kmem_;
};

class PciTest : public KernelTest {
 protected:
  fk_test::FakeDevice dev;
  dev_info_t *dip = nullptr;
  void Attach() {
    Boot();
    dip = fk::add_pci_node(&dev, {"tiny", 2, 0});
  }
  ddi_intr_handle_t ih = nullptr;  // the vector of AddIsr, freed when the test ends
  // Allocates one vector of the type on dip and adds fn(arg) as its handler.
  void AddIsr(int type, ddi_intr_handler_t *fn, void *arg = nullptr) {
    int actual = 0;
    ASSERT_EQ(ddi_intr_alloc(dip, &ih, type, 0, 1, &actual, DDI_INTR_ALLOC_NORMAL), DDI_SUCCESS);
    ASSERT_EQ(ddi_intr_add_handler(ih, fn, arg, nullptr), DDI_SUCCESS);
  }
  // Enables the MSI vector, sends it once, waits until calls moves, and disables it.
  void SendMsiAndWait(const std::atomic<int> &calls) {
    ASSERT_EQ(ddi_intr_block_enable(&ih, 1), DDI_SUCCESS);
    fk::device_host(dip)->send_msi(0);
    while (calls.load() == 0) std::this_thread::yield();
    ddi_intr_block_disable(&ih, 1);
  }
  void TearDown() override {
    if (ih != nullptr) {
      ddi_intr_remove_handler(ih);
      ddi_intr_free(ih);
    }
    if (dip) fk::remove_node(dip);
    KernelTest::TearDown();
  }
};

}  // namespace fk_test
