#include "image_oracle.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace pvscsi_qemu {
namespace {

class ImageOracleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pvscsi-oracle-test-XXXXXX";
    fd_ = mkstemp(tmpl);
    ASSERT_GE(fd_, 0);
    path_ = tmpl;
    ASSERT_EQ(ftruncate(fd_, 64 * 1024), 0);
  }
  void TearDown() override {
    close(fd_);
    unlink(path_.c_str());
  }
  void put(uint64_t off, const std::vector<uint8_t> &d) {
    ASSERT_EQ(pwrite(fd_, d.data(), d.size(), static_cast<off_t>(off)),
              static_cast<ssize_t>(d.size()));
  }
  int fd_ = -1;
  std::string path_;
};

TEST_F(ImageOracleTest, AcceptsWhatWasWrittenAndCatchesAMisdirectedWrite) {
  ImageOracle o;
  ASSERT_TRUE(o.expect_zero(path_, 0, 64 * 1024));
  std::vector<uint8_t> a(1024, 0xA1);
  put(4096, a);
  ASSERT_TRUE(o.expect(path_, 4096, a.data(), a.size()));
  EXPECT_TRUE(o.verify().empty());
  // A write that lands one block off: both the intended and the hit block are reported.
  put(4096 + 512, a);
  auto bad = o.verify();
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].offset, 4096u + 1024u);
  EXPECT_EQ(bad[0].image, path_);
}

TEST_F(ImageOracleTest, MaybeAllowsOldOrNew) {
  ImageOracle o;
  ASSERT_TRUE(o.expect_zero(path_, 0, 8192));
  std::vector<uint8_t> b(512, 0xB2), c(512, 0xC3);
  ASSERT_TRUE(o.maybe(path_, 512, b.data(), b.size()));
  EXPECT_TRUE(o.verify().empty());  // still zero: allowed
  put(512, b);
  EXPECT_TRUE(o.verify().empty());  // new: allowed
  put(512, c);
  EXPECT_EQ(o.verify().size(), 1u);  // neither
  ASSERT_TRUE(o.expect(path_, 512, c.data(), c.size()));
  EXPECT_TRUE(o.verify().empty());
}

TEST_F(ImageOracleTest, BadInputIsRejectedAndMissingFilesReported) {
  ImageOracle o(4096);
  std::vector<uint8_t> d(512);
  EXPECT_FALSE(o.expect(path_, 0, d.data(), d.size()));
  EXPECT_FALSE(o.expect(path_, 512, d.data(), 4096));
  EXPECT_FALSE(o.expect_zero(path_, 0, 100));
  EXPECT_EQ(o.blocks(), 0u);
  ASSERT_TRUE(o.expect_zero("/nonexistent/image", 0, 8192));
  auto bad = o.verify();
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_NE(bad[0].what.find("cannot open"), std::string::npos);
  // Beyond the end of the file.
  ImageOracle o2;
  ASSERT_TRUE(o2.expect_zero(path_, 64 * 1024, 512));
  ASSERT_EQ(o2.verify().size(), 1u);
  EXPECT_NE(o2.verify()[0].what.find("short read"), std::string::npos);
}

}  // namespace
}  // namespace pvscsi_qemu
