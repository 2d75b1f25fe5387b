#include "workload.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace exerciser {
namespace {

std::vector<LunGeometry> two_luns() {
  return {LunGeometry{0, 0, 2048, 512}, LunGeometry{1, 0, 512, 4096}};
}

WorkloadSpec spec(const std::string &bs, unsigned read_pct, bool seq, uint64_t seed) {
  WorkloadSpec s;
  std::string err;
  EXPECT_TRUE(parse_block_size_spec(bs, &s.bs, &err)) << err;
  s.read_pct = read_pct;
  s.sequential = seq;
  s.seed = seed;
  return s;
}

bool same(const Op &a, const Op &b) {
  return a.lun_index == b.lun_index && a.lba == b.lba && a.blocks == b.blocks && a.write == b.write;
}

TEST(Rng, BelowIsInRangeAndCoversIt) {
  Rng r(1);
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; i++) {
    uint64_t v = r.below(7);
    ASSERT_LT(v, 7u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 7u);
}

TEST(Generator, DeterministicForASeed) {
  Generator a(spec("4k,8k", 50, false, 7), two_luns());
  Generator b(spec("4k,8k", 50, false, 7), two_luns());
  Generator c(spec("4k,8k", 50, false, 8), two_luns());
  bool differs = false;
  for (int i = 0; i < 1000; i++) {
    Op x = a.next(), y = b.next(), z = c.next();
    ASSERT_TRUE(same(x, y)) << i;
    differs |= !same(x, z);
  }
  EXPECT_TRUE(differs);
}

TEST(Generator, OpsStayInsideTheLunAndUseTheSizes) {
  Generator g(spec("4k,8k", 50, false, 3), two_luns());
  const auto luns = two_luns();
  std::set<uint64_t> bytes;
  for (int i = 0; i < 5000; i++) {
    Op op = g.next();
    const auto &l = luns[op.lun_index];
    ASSERT_LE(op.lba + op.blocks, l.blocks);
    bytes.insert(uint64_t(op.blocks) * l.block_size);
  }
  EXPECT_EQ(bytes, (std::set<uint64_t>{4096, 8192}));
}

TEST(Generator, RangePicksMultiplesOfTheBlockSize) {
  Generator g(spec("512-16k", 0, false, 3), two_luns());
  const auto luns = two_luns();
  std::set<uint64_t> small, big;
  for (int i = 0; i < 5000; i++) {
    Op op = g.next();
    const uint64_t b = uint64_t(op.blocks) * luns[op.lun_index].block_size;
    ASSERT_GE(b, 512u);
    ASSERT_LE(b, 16384u);
    (op.lun_index == 0 ? small : big).insert(b);
  }
  EXPECT_EQ(small.size(), 32u);  // 512, 1024, ..., 16k
  EXPECT_EQ(big, (std::set<uint64_t>{4096, 8192, 12288, 16384}));
}

TEST(Generator, ReadMix) {
  for (unsigned pct : {0u, 30u, 100u}) {
    Generator g(spec("4k", pct, false, 5), two_luns());
    int reads = 0;
    for (int i = 0; i < 10000; i++) reads += g.next().write ? 0 : 1;
    EXPECT_NEAR(reads / 100.0, double(pct), 2.0) << pct;
  }
}

TEST(Generator, SequentialWalksEachLunAndWraps) {
  Generator g(spec("64k", 50, true, 1), two_luns());
  std::map<size_t, uint64_t> next;
  for (int i = 0; i < 200; i++) {
    Op op = g.next();
    EXPECT_EQ(op.lun_index, size_t(i % 2));
    uint64_t &n = next[op.lun_index];
    const uint64_t blocks = op.lun_index == 0 ? 2048 : 512;
    if (n + op.blocks > blocks) n = 0;
    EXPECT_EQ(op.lba, n) << i;
    n += op.blocks;
  }
}

}  // namespace
}  // namespace exerciser
