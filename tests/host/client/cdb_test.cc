// CDB builders and parameter-data parsers.
#include <gtest/gtest.h>

#include <cstring>

#include "cdb.h"

namespace fk::client {
namespace {

TEST(Cdb, ReadWriteChooseGroup) {
  Cdb c = cdb::read(0x12345678, 8);
  ASSERT_EQ(c.len, 10);
  EXPECT_EQ(c.bytes[0], 0x28);
  EXPECT_EQ(c.bytes[2], 0x12);
  EXPECT_EQ(c.bytes[5], 0x78);
  EXPECT_EQ(c.bytes[8], 8);
  c = cdb::write(0x100000000ull, 1);  // LBA beyond 32 bits
  ASSERT_EQ(c.len, 16);
  EXPECT_EQ(c.bytes[0], 0x8a);
  EXPECT_EQ(c.bytes[5], 0x01);
  EXPECT_EQ(c.bytes[13], 1);
  c = cdb::read(0, 0x10000);  // too many blocks for READ(10)
  EXPECT_EQ(c.len, 16);
  EXPECT_EQ(c.bytes[11], 0x01);
  c = cdb::read(0xfffffff0u, 0x10);  // ends exactly at 2^32: still fits
  EXPECT_EQ(c.len, 10);
  c = cdb::read(0xfffffff0u, 0x11);
  EXPECT_EQ(c.len, 16);
}

TEST(Cdb, OtherCommands) {
  EXPECT_EQ(cdb::test_unit_ready().len, 6);
  Cdb c = cdb::inquiry(96);
  EXPECT_EQ(c.bytes[0], 0x12);
  EXPECT_EQ(c.bytes[4], 96);
  c = cdb::read_capacity16(32);
  EXPECT_EQ(c.bytes[0], 0x9e);
  EXPECT_EQ(c.bytes[1], 0x10);
  EXPECT_EQ(c.bytes[13], 32);
  c = cdb::report_luns(0x1008);
  EXPECT_EQ(c.len, 12);
  EXPECT_EQ(c.bytes[8], 0x10);
  EXPECT_EQ(c.bytes[9], 0x08);
  EXPECT_EQ(cdb::synchronize_cache10().bytes[0], 0x35);
  EXPECT_EQ(cdb::synchronize_cache16().bytes[0], 0x91);
  // A range: the LBA and block count where READ/WRITE of the same size keep them.
  Cdb s10 = cdb::synchronize_cache10(0x01020304, 0x0506);
  const uint8_t want10[10] = {0x35, 0, 1, 2, 3, 4, 0, 5, 6, 0};
  EXPECT_EQ(s10.len, 10);
  EXPECT_EQ(std::memcmp(s10.bytes, want10, 10), 0);
  Cdb s16 = cdb::synchronize_cache16(0x0102030405060708ull, 0x090a0b0c);
  const uint8_t want16[16] = {0x91, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0};
  EXPECT_EQ(s16.len, 16);
  EXPECT_EQ(std::memcmp(s16.bytes, want16, 16), 0);
}

TEST(Parse, Inquiry) {
  uint8_t d[36] = {0x00, 0x80, 0x05, 0x02, 31, 0, 0, 0x02};
  memcpy(d + 8, "VMware  ", 8);
  memcpy(d + 16, "Virtual disk    ", 16);
  memcpy(d + 32, "2.0 ", 4);
  Inquiry inq;
  std::string err;
  ASSERT_TRUE(parse_inquiry(d, sizeof(d), &inq, &err));
  EXPECT_EQ(inq.vendor, "VMware");
  EXPECT_EQ(inq.product, "Virtual disk");
  EXPECT_EQ(inq.revision, "2.0");
  EXPECT_TRUE(inq.removable);
  EXPECT_TRUE(inq.cmdque);
  EXPECT_FALSE(parse_inquiry(d, 20, &inq, &err));
  EXPECT_NE(err.find("36"), std::string::npos);
}

TEST(Parse, ReadCapacity) {
  uint8_t d[32] = {0, 0, 0, 0, 0, 0, 0x0f, 0xff, 0, 0, 0x10, 0};
  uint64_t blocks = 0;
  uint32_t bs = 0;
  std::string err;
  ASSERT_TRUE(parse_read_capacity16(d, sizeof(d), &blocks, &bs, &err));
  EXPECT_EQ(blocks, 4096u);
  EXPECT_EQ(bs, 4096u);
  uint8_t zero[32] = {};
  EXPECT_FALSE(parse_read_capacity16(zero, sizeof(zero), &blocks, &bs, &err));
  EXPECT_FALSE(parse_read_capacity16(d, 4, &blocks, &bs, &err));
  uint8_t d10[8] = {0, 0, 0x07, 0xff, 0, 0, 0x02, 0};
  ASSERT_TRUE(parse_read_capacity10(d10, sizeof(d10), &blocks, &bs, &err));
  EXPECT_EQ(blocks, 2048u);
  EXPECT_EQ(bs, 512u);
}

TEST(Parse, Sense) {
  uint8_t fixed[18] = {0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x3f, 0x0e};
  Sense s = parse_sense(fixed, sizeof(fixed));
  EXPECT_TRUE(s.valid);
  EXPECT_EQ(s.key, 6);
  EXPECT_EQ(s.asc, 0x3f);
  EXPECT_EQ(s.ascq, 0x0e);
  uint8_t descr[8] = {0x72, 0x05, 0x24, 0x00};
  s = parse_sense(descr, sizeof(descr));
  EXPECT_TRUE(s.valid);
  EXPECT_EQ(s.key, 5);
  EXPECT_EQ(s.asc, 0x24);
  uint8_t junk[2] = {0x12, 0};
  EXPECT_FALSE(parse_sense(junk, sizeof(junk)).valid);
  EXPECT_FALSE(parse_sense(fixed, 10).valid);
}

}  // namespace
}  // namespace fk::client
