#include "shadow.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace {

using fk::client::ShadowDisk;

constexpr uint32_t kBs = 512;

TEST(ShadowDisk, PatternsDifferByBlockVersionAndTarget) {
  std::vector<uint8_t> a(kBs), b(kBs);
  ShadowDisk::pattern(a.data(), kBs, 1, 7, 3);
  for (auto [t, lba, v] : {std::tuple{2u, 7ull, 3u}, {1u, 8ull, 3u}, {1u, 7ull, 4u}}) {
    ShadowDisk::pattern(b.data(), kBs, t, lba, v);
    EXPECT_NE(memcmp(a.data(), b.data(), kBs), 0) << t << " " << lba << " " << v;
  }
  ShadowDisk::pattern(b.data(), kBs, 1, 7, 0);
  EXPECT_EQ(b, std::vector<uint8_t>(kBs, 0)) << "version 0 is a block never written";
}

TEST(ShadowDisk, AcknowledgedWriteIsTheOnlyVersionAllowed) {
  ShadowDisk d(0, 64, kBs);
  std::vector<uint8_t> buf(4 * kBs);
  EXPECT_TRUE(d.is_free(10, 4));
  uint32_t v = d.begin_write(10, 4, buf.data());
  EXPECT_FALSE(d.is_free(12, 1)) << "a write in flight claims its blocks";
  EXPECT_TRUE(d.is_free(14, 1));
  d.end_write(10, 4, v, true, {});
  EXPECT_TRUE(d.is_free(10, 4));
  EXPECT_EQ(d.allowed(11), std::set<uint32_t>{v});
  d.begin_read(10, 4);
  EXPECT_EQ(d.end_read(10, 4, buf.data(), true, {}), 0u);
  EXPECT_EQ(d.blocks_checked(), 4u);
  // The block read back holding zeros (the write lost) is a failure, reported once.
  std::vector<uint8_t> zeros(kBs, 0);
  d.begin_read(11, 1);
  EXPECT_EQ(d.end_read(11, 1, zeros.data(), true, {}), 1u);
  EXPECT_EQ(d.verify_failures(), 1u);
  EXPECT_NE(d.first_failure().find("target 0 lba 11"), std::string::npos) << d.first_failure();
}

TEST(ShadowDisk, FailedWriteMayOrMayNotHaveLandedUntilARead) {
  ShadowDisk d(3, 16, kBs);
  std::vector<uint8_t> first(kBs), second(kBs);
  uint32_t v1 = d.begin_write(5, 1, first.data());
  d.end_write(5, 1, v1, true, {});
  uint32_t v2 = d.begin_write(5, 1, second.data());
  d.end_write(5, 1, v2, false, {});
  EXPECT_EQ(d.allowed(5), (std::set<uint32_t>{v1, v2}));
  // Either content verifies; the one read is the only one allowed afterwards.
  d.begin_read(5, 1);
  EXPECT_EQ(d.end_read(5, 1, first.data(), true, {}), 0u);
  EXPECT_EQ(d.allowed(5), std::set<uint32_t>{v1});
  d.begin_read(5, 1);
  EXPECT_EQ(d.end_read(5, 1, second.data(), true, {}), 1u) << "v2 cannot land after v1 was read";
}

TEST(ShadowDisk, MisdirectedWriteIsCaughtWithItsStampAndHistory) {
  ShadowDisk d(1, 16, kBs, 4, "ms");
  std::vector<uint8_t> buf(kBs);
  uint32_t v = d.begin_write(2, 1, buf.data());
  ShadowDisk::Op op;
  op.start = 100;
  op.end = 105;
  op.event = 9;
  d.end_write(2, 1, v, true, op);
  // Block 3 reads back block 2's data: the write went to the wrong place.
  d.begin_read(3, 1);
  op.start = 200;
  op.end = 201;
  EXPECT_EQ(d.end_read(3, 1, buf.data(), true, op), 1u);
  const std::string &f = d.first_failure();
  EXPECT_NE(f.find("target 1 lba 3 at 201 ms"), std::string::npos) << f;
  EXPECT_NE(f.find("stamp says: target 1 lba 2 version " + std::to_string(v)), std::string::npos)
      << f;
  // A failed read checks nothing and keeps what is allowed.
  d.begin_read(2, 1);
  EXPECT_EQ(d.end_read(2, 1, nullptr, false, op), 0u);
  EXPECT_EQ(d.allowed(2), std::set<uint32_t>{v});
}

TEST(ShadowDisk, RangesOffTheDiskAreNeverFree) {
  ShadowDisk d(0, 8, kBs);
  EXPECT_TRUE(d.is_free(0, 8));
  EXPECT_FALSE(d.is_free(1, 8));
  EXPECT_FALSE(d.is_free(9, 0));
  EXPECT_FALSE(d.is_free(~0ull, 2));
}

TEST(ShadowDisk, FillWritesEachBlocksPatternAndHoldsChecksIt) {
  std::vector<uint8_t> buf(3 * kBs), one(kBs);
  ShadowDisk::fill(buf.data(), buf.size(), kBs, 2, 10, 7);
  for (uint32_t k = 0; k < 3; k++) {
    ShadowDisk::pattern(one.data(), kBs, 2, 10 + k, 7);
    EXPECT_EQ(std::memcmp(one.data(), buf.data() + k * kBs, kBs), 0) << "block " << k;
  }
  EXPECT_TRUE(ShadowDisk::holds(buf.data(), buf.size(), kBs, 2, 10, 7));
  EXPECT_FALSE(ShadowDisk::holds(buf.data(), buf.size(), kBs, 2, 10, 8));      // another version
  EXPECT_FALSE(ShadowDisk::holds(buf.data(), buf.size(), kBs, 2, 11, 7));      // shifted blocks
  EXPECT_FALSE(ShadowDisk::holds(buf.data(), buf.size(), kBs, 3, 10, 7));      // another target
  EXPECT_FALSE(ShadowDisk::holds(buf.data(), buf.size() - 1, kBs, 2, 10, 7));  // part block
  buf[2 * kBs + 100] ^= 1;
  EXPECT_FALSE(ShadowDisk::holds(buf.data(), buf.size(), kBs, 2, 10, 7));
}

TEST(ShadowDisk, CancelReleasesARangeAndKeepsWhatItMayHold) {
  ShadowDisk d(0, 8, kBs);
  std::vector<uint8_t> buf(2 * kBs);
  d.begin_write(2, 2, buf.data());
  EXPECT_FALSE(d.is_free(2, 2));
  d.cancel(2, 2);  // never issued: the blocks are free and still never written
  EXPECT_TRUE(d.is_free(0, 8));
  EXPECT_EQ(d.allowed(2), std::set<uint32_t>{0});
  EXPECT_EQ(d.allowed(3), std::set<uint32_t>{0});
}

TEST(ShadowDisk, LastFailureNamesEachBadBlock) {
  ShadowDisk d(4, 8, kBs);
  std::vector<uint8_t> buf(kBs, 0);
  EXPECT_EQ(d.last_failure(), "");
  buf[0] = 1;
  d.begin_read(1, 1);
  EXPECT_EQ(d.end_read(1, 1, buf.data(), true, {}), 1u);
  EXPECT_NE(d.last_failure().find("target 4 lba 1 "), std::string::npos) << d.last_failure();
  d.begin_read(6, 1);
  EXPECT_EQ(d.end_read(6, 1, buf.data(), true, {}), 1u);
  EXPECT_NE(d.last_failure().find("target 4 lba 6 "), std::string::npos) << d.last_failure();
  EXPECT_NE(d.first_failure().find("target 4 lba 1 "), std::string::npos) << d.first_failure();
  EXPECT_EQ(d.verify_failures(), 2u);
}

}  // namespace
