#include "sizes.h"

#include <gtest/gtest.h>

namespace exerciser {
namespace {

TEST(Sizes, ParsesPlainAndSuffixed) {
  uint64_t v = 0;
  std::string err;
  ASSERT_TRUE(parse_size("512", &v, &err));
  EXPECT_EQ(v, 512u);
  ASSERT_TRUE(parse_size("4k", &v, &err));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(parse_size("4K", &v, &err));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(parse_size("4KiB", &v, &err));
  EXPECT_EQ(v, 4096u);
  ASSERT_TRUE(parse_size("1m", &v, &err));
  EXPECT_EQ(v, 1u << 20);
  ASSERT_TRUE(parse_size("2g", &v, &err));
  EXPECT_EQ(v, 2ull << 30);
  ASSERT_TRUE(parse_size("100b", &v, &err));
  EXPECT_EQ(v, 100u);
}

TEST(Sizes, RejectsGarbage) {
  uint64_t v = 7;
  std::string err;
  for (const char *bad : {"", "k", "4x", "4kk", "-1", "1.5k", " 4k", "4 k", "99999999999999999999",
                          "20000000000000000000t"}) {
    err.clear();
    EXPECT_FALSE(parse_size(bad, &v, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
  EXPECT_EQ(v, 7u);
}

TEST(Sizes, Formats) {
  EXPECT_EQ(format_size(4096), "4k");
  EXPECT_EQ(format_size(1 << 20), "1m");
  EXPECT_EQ(format_size(1000), "1000");
  EXPECT_EQ(format_size(0), "0");
}

TEST(BlockSizeSpec, OneListRange) {
  BlockSizeSpec s;
  std::string err;
  ASSERT_TRUE(parse_block_size_spec("8k", &s, &err)) << err;
  EXPECT_EQ(s.kind, BlockSizeSpec::Kind::kList);
  EXPECT_EQ(s.sizes, std::vector<uint64_t>{8192});
  ASSERT_TRUE(parse_block_size_spec("4k,8k,64k", &s, &err)) << err;
  EXPECT_EQ(s.sizes, (std::vector<uint64_t>{4096, 8192, 65536}));
  EXPECT_EQ(s.max_bytes(), 65536u);
  ASSERT_TRUE(parse_block_size_spec("512-64k", &s, &err)) << err;
  EXPECT_EQ(s.kind, BlockSizeSpec::Kind::kRange);
  EXPECT_EQ(s.lo, 512u);
  EXPECT_EQ(s.hi, 65536u);
}

TEST(BlockSizeSpec, RejectsBadSpecs) {
  BlockSizeSpec s;
  std::string err;
  for (const char *bad : {"", "0", "4k,", ",4k", "64k-4k", "0-4k", "4k-8k,16k", "32m", "4k,x"}) {
    err.clear();
    EXPECT_FALSE(parse_block_size_spec(bad, &s, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

TEST(BlockSizeSpec, ChecksAgainstALun) {
  BlockSizeSpec s;
  std::string err;
  ASSERT_TRUE(parse_block_size_spec("512,4k", &s, &err));
  EXPECT_EQ(s.check_for(512, 1 << 20), "");
  EXPECT_NE(s.check_for(4096, 1 << 20).find("not a multiple"), std::string::npos);
  ASSERT_TRUE(parse_block_size_spec("1k-3k", &s, &err));
  EXPECT_NE(s.check_for(4096, 1 << 20).find("no multiple"), std::string::npos);
  ASSERT_TRUE(parse_block_size_spec("64k", &s, &err));
  EXPECT_NE(s.check_for(512, 4096).find("larger than the LUN"), std::string::npos);
}

}  // namespace
}  // namespace exerciser
