// Acceptance test of the userland kernel: the tiny driver (written only against the compat
// headers) loads, attaches with registers, DMA and an interrupt, detaches and unloads with zero
// leaks and no violations; attach failures at every step unwind cleanly.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>

#include "fake_device.h"
#include "fk.h"

namespace {

class TinyDrvTest : public ::testing::Test {
 protected:
  fk_test::FakeDevice dev;
  dev_info_t *dip = nullptr;

  void Boot(fk::Options o = fk::Options()) {
    fk::boot(o);
    ASSERT_EQ(fk::load_driver("tiny"), 0);
    EXPECT_NE(fk::driver_info(), 0);
    dip = fk::add_pci_node(&dev);
  }
  void Finish() {
    fk::remove_node(dip);
    dip = nullptr;
    EXPECT_EQ(fk::unload_driver(), 0);
    for (const auto &l : fk::leaks()) ADD_FAILURE() << "leak: " << l.kind << " at " << l.site;
    EXPECT_EQ(fk::leaked_bytes(), 0u);
    for (const auto &v : fk::violations()) ADD_FAILURE() << v.kind << ": " << v.text;
    fk::shutdown();
  }
  void TearDown() override {
    if (fk::booted()) fk::shutdown();
  }
};

TEST_F(TinyDrvTest, AttachDetachWithMsiAndNoLeaks) {
  Boot();
  ASSERT_EQ(fk::attach(dip), DDI_SUCCESS);
  EXPECT_TRUE(fk::console_contains("tiny0: attached, MSI interrupts"));
  EXPECT_EQ(dev.transfers.load(), 1);
  EXPECT_EQ(dev.mode.load(), fk::kIntrMsi);
  EXPECT_EQ(fk::kstat_value("tiny", 0, "stats", "interrupts"), std::optional<uint64_t>(1));
  EXPECT_EQ(fk::sdt_count("tiny__attach"), 1u);
  EXPECT_EQ(fk::sdt_count("tiny__intr"), 1u);
  EXPECT_GE(fk::counters().syncs, 2u);
  EXPECT_EQ(fk::unload_driver(), EBUSY) << "cannot unload while attached";
  ASSERT_EQ(fk::detach(dip), DDI_SUCCESS);
  EXPECT_EQ(dev.mode.load(), 0) << "interrupts released";
  Finish();
}

TEST_F(TinyDrvTest, FallsBackToFixedWhenMsiAllocationFails) {
  Boot();
  fk::fail_intr_type(fk::kFailIntrAlloc, DDI_INTR_TYPE_MSI);
  ASSERT_EQ(fk::attach(dip), DDI_SUCCESS);
  EXPECT_TRUE(fk::console_contains("FIXED interrupts"));
  EXPECT_EQ(fk::kstat_value("tiny", 0, "stats", "intr_type"),
            std::optional<uint64_t>(DDI_INTR_TYPE_FIXED));
  ASSERT_EQ(fk::detach(dip), DDI_SUCCESS);
  Finish();
}

TEST_F(TinyDrvTest, WorksWithSyncAuditAndDelayedDevice) {
  fk::Options o;
  o.sync_audit = true;
  dev.delay_ns = 50000;  // the transfer completes 50 us later on the kernel clock
  Boot(o);
  fk::set_auto_advance(true);
  ASSERT_EQ(fk::attach(dip), DDI_SUCCESS);
  fk::set_auto_advance(false);
  ASSERT_EQ(fk::detach(dip), DDI_SUCCESS);
  Finish();
}

TEST_F(TinyDrvTest, Quiesce) {
  Boot();
  ASSERT_EQ(fk::attach(dip), DDI_SUCCESS);
  EXPECT_EQ(fk::quiesce(dip), DDI_SUCCESS);
  EXPECT_EQ(fk::violation_count(), 0u);
  ASSERT_EQ(fk::detach(dip), DDI_SUCCESS);
  Finish();
}

// Every allocation the driver makes can fail: attach must fail cleanly, leaving nothing behind.
TEST_F(TinyDrvTest, AttachFailureAtEveryStepUnwinds) {
  for (unsigned cls : {unsigned{fk::kFailDma}, unsigned{fk::kFailKmem},
                       unsigned{fk::kFailIntrAddHandler}, unsigned{fk::kFailIntrEnable}}) {
    for (uint64_t n = 1;; n++) {
      SCOPED_TRACE("class " + std::to_string(cls) + " n " + std::to_string(n));
      fk_test::FakeDevice d;
      fk::boot();
      ASSERT_EQ(fk::load_driver("tiny"), 0);
      dev_info_t *node = fk::add_pci_node(&d);
      fk::fail_nth(cls, n);
      int r = fk::attach(node);
      bool injected = fk::failures_injected() != 0;
      if (r == DDI_SUCCESS) {
        ASSERT_EQ(fk::detach(node), DDI_SUCCESS);
      }
      fk::remove_node(node);
      EXPECT_EQ(fk::unload_driver(), 0);
      for (const auto &l : fk::leaks()) ADD_FAILURE() << "leak: " << l.kind << " at " << l.site;
      EXPECT_EQ(fk::violation_count(), 0u);
      fk::shutdown();
      if (!injected) {
        EXPECT_EQ(r, DDI_SUCCESS);
        break;
      }
      EXPECT_NE(r, DDI_SUCCESS);
    }
  }
}

}  // namespace
