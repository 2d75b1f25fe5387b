// REPORT LUNS parsing and LUN numbering.
#include <gtest/gtest.h>

#include "lun_list.h"

namespace fk::scsa {
namespace {

std::vector<uint8_t> report(const std::vector<std::vector<uint8_t>> &entries, uint32_t listlen) {
  std::vector<uint8_t> d(8);
  d[0] = static_cast<uint8_t>(listlen >> 24);
  d[1] = static_cast<uint8_t>(listlen >> 16);
  d[2] = static_cast<uint8_t>(listlen >> 8);
  d[3] = static_cast<uint8_t>(listlen);
  for (const auto &e : entries) {
    d.insert(d.end(), e.begin(), e.end());
  }
  return d;
}

TEST(LunList, PeripheralAndFlatAddressing) {
  uint8_t periph[8] = {0x00, 0x05};
  EXPECT_EQ(lun_bytes_to_lun64(periph), 5u);
  uint8_t flat[8] = {0x41, 0x2c};  // flat space LUN 300: not SCSI-2 compatible
  EXPECT_EQ(lun_bytes_to_lun64(flat), 0x412c000000000000ull);
  uint8_t bus[8] = {0x01, 0x02};  // peripheral addressing, bus 1: compatible form
  EXPECT_EQ(lun_bytes_to_lun64(bus), 0x102u);
  uint8_t two_level[8] = {0x00, 0x01, 0x00, 0x02};
  EXPECT_EQ(lun_bytes_to_lun64(two_level), 0x0001000200000000ull);
  uint8_t back[8];
  lun64_to_lun_bytes(5, back);
  EXPECT_EQ(back[0], 0);
  EXPECT_EQ(back[1], 5);
  lun64_to_lun_bytes(0x0001000200000000ull, back);
  EXPECT_EQ(back[3], 2);
  lun64_to_lun_bytes(0x412c000000000000ull, back);
  EXPECT_EQ(back[0], 0x41);
  EXPECT_EQ(back[1], 0x2c);
}

TEST(LunList, ParsesSparseList) {
  auto d =
      report({{0, 0, 0, 0, 0, 0, 0, 0}, {0, 3, 0, 0, 0, 0, 0, 0}, {0, 9, 0, 0, 0, 0, 0, 0}}, 24);
  ReportLuns r;
  std::string err;
  ASSERT_TRUE(parse_report_luns(d.data(), d.size(), &r, &err)) << err;
  EXPECT_EQ(r.luns, (std::vector<uint64_t>{0, 3, 9}));
  EXPECT_FALSE(r.truncated);
}

TEST(LunList, TruncatedListAsksForMore) {
  auto d = report({{0, 1, 0, 0, 0, 0, 0, 0}}, 64);  // device has 8 entries, we got 1
  ReportLuns r;
  std::string err;
  ASSERT_TRUE(parse_report_luns(d.data(), d.size(), &r, &err));
  EXPECT_TRUE(r.truncated);
  EXPECT_EQ(r.list_length, 64u);
  EXPECT_EQ(r.luns, std::vector<uint64_t>{1});
}

TEST(LunList, RejectsMalformedData) {
  ReportLuns r;
  std::string err;
  uint8_t shorty[4] = {};
  EXPECT_FALSE(parse_report_luns(shorty, sizeof(shorty), &r, &err));
  EXPECT_NE(err.find("header"), std::string::npos);
  auto d = report({}, 12);
  EXPECT_FALSE(parse_report_luns(d.data(), d.size(), &r, &err));
  EXPECT_NE(err.find("multiple of 8"), std::string::npos);
  EXPECT_FALSE(parse_report_luns(nullptr, 100, &r, &err));
}

TEST(LunList, DuplicatesRemoved) {
  auto d = report({{0, 2, 0, 0, 0, 0, 0, 0}, {0, 2, 0, 0, 0, 0, 0, 0}}, 16);
  ReportLuns r;
  std::string err;
  ASSERT_TRUE(parse_report_luns(d.data(), d.size(), &r, &err));
  EXPECT_EQ(r.luns, std::vector<uint64_t>{2});
}

TEST(LunList, UnitAddress) {
  EXPECT_EQ(lun_unit_address("w5", 0), "w5,0");
  EXPECT_EQ(lun_unit_address("w5", 0x412c000000000000ull), "w5,412c000000000000");
}

}  // namespace
}  // namespace fk::scsa
