// Tests of kmem (fk_mem.cc): allocation, leaks, misuse, failure injection, caches and the
// file-backed arena.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kmem.h>

#include <unistd.h>

#include <cstring>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

TEST_F(KernelTest, KmemAllocFreeNoLeaks) {
  Boot();
  void *p = kmem_alloc(100, KM_SLEEP);
  void *q = kmem_zalloc(5000, KM_SLEEP);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(static_cast<uint8_t *>(q)[4999], 0);
  EXPECT_GE(fk::va_to_pa(p), 0x100000000ull) << "kmem lives above 4 GiB by default";
  kmem_free(p, 100);
  kmem_free(q, 5000);
  EXPECT_EQ(fk::leaked_bytes(), 0u);
  EXPECT_TRUE(fk::leaks().empty());
  EXPECT_EQ(fk::violation_count(), 0u);
}

TEST_F(KernelTest, KmemLeakIsReported) {
  Boot();
  void *p = kmem_alloc(64, KM_SLEEP);
  (void)p;
  auto l = fk::leaks();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].kind, "kmem");
  EXPECT_EQ(l[0].size, 64u);
  EXPECT_EQ(fk::leaked_bytes(), 64u);
}

TEST_F(KernelTest, KmemFreeWithWrongSizeAndDoubleFree) {
  Boot();
  void *p = kmem_alloc(64, KM_SLEEP);
  kmem_free(p, 32);
  EXPECT_TRUE(HasViolation("kmem", "allocated with size 64"));
  kmem_free(p, 64);
  EXPECT_TRUE(HasViolation("kmem", "not allocated"));
}

TEST_F(KernelTest, KmemAllocIsNotZeroed) {
  Boot();
  auto *p = static_cast<uint32_t *>(kmem_alloc(16, KM_SLEEP));
  EXPECT_EQ(p[0], 0xbaddcafeu);
  kmem_free(p, 16);
}

TEST_F(KernelTest, KmemFailNthNoSleep) {
  Boot();
  fk::fail_nth(fk::kFailKmem, 2);
  void *a = kmem_alloc(8, KM_NOSLEEP);
  void *s = kmem_alloc(8, KM_SLEEP);  // KM_SLEEP never fails and is not counted
  void *b = kmem_alloc(8, KM_NOSLEEP);
  void *c = kmem_alloc(8, KM_NOSLEEP);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(s, nullptr);
  EXPECT_EQ(b, nullptr);
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(fk::failures_injected(), 1u);
  kmem_free(a, 8);
  kmem_free(s, 8);
  kmem_free(c, 8);
}

TEST_F(KernelTest, KmemFailProbability) {
  Boot();
  fk::fail_probability(fk::kFailKmem, 0.5, 42);
  int failed = 0;
  for (int i = 0; i < 200; i++) {
    void *p = kmem_alloc(8, KM_NOSLEEP);
    if (p == nullptr)
      failed++;
    else
      kmem_free(p, 8);
  }
  EXPECT_GT(failed, 50);
  EXPECT_LT(failed, 150);
  fk::fail_clear();
  void *p = kmem_alloc(8, KM_NOSLEEP);
  EXPECT_NE(p, nullptr);
  kmem_free(p, 8);
}

TEST_F(KernelTest, KmemCache) {
  Boot();
  static int ctor_calls;
  ctor_calls = 0;
  kmem_cache_t *c = kmem_cache_create(
      "c", 48, 8, [](void *, void *, int) { return ctor_calls++, 0; }, nullptr, nullptr, nullptr,
      nullptr, 0);
  void *o = kmem_cache_alloc(c, KM_SLEEP);
  EXPECT_EQ(ctor_calls, 1);
  kmem_cache_free(c, o);
  kmem_cache_destroy(c);
  EXPECT_TRUE(fk::leaks().empty());
}

TEST_F(KernelTest, FileBackedArenaIsSharedWithTheFile) {
  char path[] = "/tmp/fk_arena_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  ASSERT_EQ(ftruncate(fd, 32 << 20), 0);
  fk::Options o;
  fk::ArenaSegment seg;
  seg.fd = fd;
  seg.file_offset = 0;
  seg.paddr = 16 << 20;
  seg.size = 32 << 20;
  o.segments.push_back(seg);
  Boot(o);
  auto *p = static_cast<uint8_t *>(kmem_alloc(64, KM_SLEEP));
  uint64_t pa = fk::va_to_pa(p);
  EXPECT_GE(pa, 16u << 20);
  EXPECT_LT(pa, 48u << 20);
  memcpy(p, "guest-visible", 14);
  char back[14] = {};
  ASSERT_EQ(pread(fd, back, sizeof back, static_cast<off_t>(pa - (16 << 20))), 14);
  EXPECT_STREQ(back, "guest-visible");
  kmem_free(p, 64);
  close(fd);
}

}  // namespace
