// The userland kernel's arena poisons unallocated and freed memory for AddressSanitizer
// (tests/host/kernel/fk_mem.cc): a use-after-free of kmem memory, a kmem overrun and a touch of
// freed DMA memory are caught at the faulting access. Each is planted in a child process (a death
// test) that must die with ASan's report. Without ASan these tests are skipped.
#include <sys/kmem.h>
#include <sys/sunddi.h>

#include <gtest/gtest.h>

#include "fk.h"

#if defined(__SANITIZE_ADDRESS__)
#define ROBUST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ROBUST_ASAN 1
#endif
#endif

// The driver is linked in (fk needs one driver per executable) but not used here.
extern "C" int fk_module_init(void);
int (*robust_uaf_driver_entry)(void) __attribute__((used)) = fk_module_init;

namespace {

#ifdef ROBUST_ASAN
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

// ASan calls memory it poisoned by hand "use-after-poison".
constexpr const char *kReport = "AddressSanitizer: use-after-poison";

class PlantedUafTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kAsan) GTEST_SKIP() << "needs an AddressSanitizer build (cmake --preset asan)";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

void use_after_kmem_free() {
  fk::boot();
  auto *p = static_cast<volatile uint32_t *>(kmem_alloc(64, KM_SLEEP));
  p[3] = 7;
  kmem_free(const_cast<uint32_t *>(p), 64);
  uint32_t v = p[3];  // planted: read after free
  fprintf(stderr, "read %u: not caught\n", v);
}

void kmem_overrun() {
  fk::boot();
  auto *p = static_cast<volatile uint8_t *>(kmem_alloc(40, KM_SLEEP));
  p[40] = 1;  // planted: one byte past the buffer
  fprintf(stderr, "not caught\n");
}

void use_after_free_of_a_page() {
  fk::boot();
  auto *p = static_cast<volatile uint8_t *>(kmem_alloc(4096, KM_SLEEP));
  kmem_free(const_cast<uint8_t *>(p), 4096);
  p[4095 - 8] = 1;  // planted: write after free
  fprintf(stderr, "not caught\n");
}

TEST_F(PlantedUafTest, ReadAfterKmemFreeIsReported) {
  EXPECT_DEATH(use_after_kmem_free(), kReport);
}

TEST_F(PlantedUafTest, KmemOverrunIsReported) { EXPECT_DEATH(kmem_overrun(), kReport); }

TEST_F(PlantedUafTest, WriteAfterFreeOfAPageIsReported) {
  EXPECT_DEATH(use_after_free_of_a_page(), kReport);
}

// The checks must not fire on correct code: reuse after a new allocation is fine, and a device
// writing freed memory is the kernel's "dma" violation, not an ASan crash (device copies are not
// CPU accesses).
TEST(ArenaPoisoning, CorrectUseAndDeviceAccessAreNotReported) {
  fk::boot();
  auto *p = static_cast<uint8_t *>(kmem_alloc(128, KM_SLEEP));
  memset(p, 1, 128);
  uint64_t pa = fk::va_to_pa(p);
  kmem_free(p, 128);
  auto *q = static_cast<uint8_t *>(kmem_zalloc(128, KM_SLEEP));
  memset(q, 2, 128);
  EXPECT_EQ(q[127], 2);
  kmem_free(q, 128);
  uint8_t junk[16] = {};
  EXPECT_TRUE(fk::device_dma_write(pa, junk, sizeof junk));
  EXPECT_GE(fk::violation_count("dma"), 1u);
  fk::shutdown();
  EXPECT_TRUE(fk::leaks().empty());
  fk::clear_violations();
}

}  // namespace
