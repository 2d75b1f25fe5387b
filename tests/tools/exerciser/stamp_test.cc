#include "stamp.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <vector>

namespace exerciser {
namespace {

StampId id_for(uint64_t lba, uint64_t seq) {
  StampId id;
  id.target = 2;
  id.lun = 1;
  id.lba = lba;
  id.write_seq = seq;
  id.seed = 42;
  return id;
}

uint32_t stored_crc(const std::vector<uint8_t> &b) {
  return uint32_t(b[56] | (b[57] << 8) | (b[58] << 16) | (uint32_t(b[59]) << 24));
}

// The stamp's checksum is the CRC-32 of ISO-HDLC (zlib's, Python's zlib.crc32): its check value.
TEST(Crc32, MatchesTheStandardCheckValue) {
  const char *s = "123456789";
  EXPECT_EQ(::crc32(0, reinterpret_cast<const Bytef *>(s), 9), 0xCBF43926u);
}

// Blocks stamped by earlier builds still verify: the checksums of two fixed stamps.
TEST(Crc32, StampChecksumsAreStable) {
  for (auto [bs, crc] : {std::pair<uint32_t, uint32_t>{512, 0x1a980e51u}, {4096, 0xf5210f43u}}) {
    std::vector<uint8_t> b(bs);
    stamp_block(b.data(), bs, id_for(0x1122334455, 7));
    EXPECT_EQ(stored_crc(b), crc) << bs;
  }
}

TEST(Stamp, LayoutIsAsDocumented) {
  std::vector<uint8_t> b(512);
  stamp_block(b.data(), 512, id_for(0x1122334455, 7));
  EXPECT_EQ(std::memcmp(b.data(), "PVXSTAMP", 8), 0);
  EXPECT_EQ(b[8], 1);    // version
  EXPECT_EQ(b[10], 64);  // header length
  EXPECT_EQ(b[12] | (b[13] << 8), 512);
  EXPECT_EQ(b[16], 2);  // target
  EXPECT_EQ(b[24], 1);  // lun
  EXPECT_EQ(b[32], 0x55);
  EXPECT_EQ(b[36], 0x11);
  EXPECT_EQ(b[40], 7);   // write seq
  EXPECT_EQ(b[48], 42);  // seed
  // The payload word at offset 64 is splitmix64(seed*K1 + seq*K2 + lba*K3 + 64).
  const uint64_t key = 42 * 0x9E3779B97F4A7C15ull + 7 * 0xC2B2AE3D27D4EB4Full +
                       0x1122334455ull * 0x165667B19E3779F9ull + 64;
  uint64_t w = 0;
  for (int i = 7; i >= 0; i--) w = (w << 8) | b[64 + i];
  EXPECT_EQ(w, splitmix64(key));
  // The CRC covers the block with its own field zeroed.
  std::vector<uint8_t> z = b;
  std::memset(z.data() + 56, 0, 4);
  EXPECT_EQ(stored_crc(b), ::crc32(0, z.data(), uInt(z.size())));
}

TEST(Stamp, RoundTripsAndVerifies) {
  for (uint32_t bs : {512u, 4096u}) {
    std::vector<uint8_t> b(bs);
    stamp_block(b.data(), bs, id_for(9, 3));
    StampId got;
    uint32_t crc = 0, sbs = 0;
    ASSERT_TRUE(read_stamp(b.data(), bs, &got, &crc, &sbs));
    EXPECT_EQ(sbs, bs);
    EXPECT_EQ(got.lba, 9u);
    EXPECT_EQ(verify_block(b.data(), bs, Expectation::stamp(id_for(9, 3))), "");
  }
}

TEST(Verify, Zeros) {
  std::vector<uint8_t> b(512, 0);
  EXPECT_EQ(verify_block(b.data(), 512, Expectation::zeros()), "");
  b[300] = 1;
  EXPECT_NE(verify_block(b.data(), 512, Expectation::zeros()).find("offset 300"),
            std::string::npos);
  stamp_block(b.data(), 512, id_for(5, 1));
  EXPECT_NE(verify_block(b.data(), 512, Expectation::zeros()).find("found the stamp"),
            std::string::npos);
}

TEST(Verify, SaysExactlyWhatIsWrong) {
  std::vector<uint8_t> b(512);
  const Expectation want = Expectation::stamp(id_for(10, 5));

  std::fill(b.begin(), b.end(), 0);
  EXPECT_NE(verify_block(b.data(), 512, want).find("lost write"), std::string::npos);

  stamp_block(b.data(), 512, id_for(10, 3));
  std::string e = verify_block(b.data(), 512, want);
  EXPECT_NE(e.find("stale data: write 3"), std::string::npos) << e;

  stamp_block(b.data(), 512, id_for(11, 5));
  e = verify_block(b.data(), 512, want);
  EXPECT_NE(e.find("misdirected"), std::string::npos) << e;
  EXPECT_NE(e.find("lba 11"), std::string::npos) << e;

  StampId other = id_for(10, 5);
  other.seed = 43;
  stamp_block(b.data(), 512, other);
  EXPECT_NE(verify_block(b.data(), 512, want).find("another run"), std::string::npos);

  stamp_block(b.data(), 512, id_for(10, 5));
  b[200] ^= 1;
  e = verify_block(b.data(), 512, want);
  EXPECT_NE(e.find("corrupted"), std::string::npos) << e;
  EXPECT_NE(e.find("offset 200"), std::string::npos) << e;

  stamp_block(b.data(), 512, id_for(10, 5));
  b[0] = 'X';
  EXPECT_NE(verify_block(b.data(), 512, want).find("bad magic"), std::string::npos);

  stamp_block(b.data(), 512, id_for(10, 9));
  EXPECT_NE(verify_block(b.data(), 512, want).find("write 9 found"), std::string::npos);

  std::vector<uint8_t> big(4096);
  stamp_block(big.data(), 4096, id_for(10, 5));
  EXPECT_NE(verify_block(big.data(), 512, want).find("4096-byte block"), std::string::npos);
}

TEST(Verify, UnknownAcceptsAnything) {
  std::vector<uint8_t> b(512, 0xAB);
  EXPECT_EQ(verify_block(b.data(), 512, Expectation::unknown()), "");
}

}  // namespace
}  // namespace exerciser
