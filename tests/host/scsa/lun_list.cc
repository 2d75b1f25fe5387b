#include "lun_list.h"

#include <algorithm>
#include <cstdio>

namespace fk::scsa {

uint64_t lun_bytes_to_lun64(const uint8_t bytes[8]) {
  bool single_level = true;
  for (int i = 2; i < 8; i++) {
    single_level = single_level && bytes[i] == 0;
  }
  // A single-level LUN with the peripheral device addressing method keeps the SCSI-2
  // compatible form (the bus identifier bits included); every other LUN is all eight bytes.
  if (single_level && (bytes[0] & 0xC0) == 0x00) {
    return (uint64_t{bytes[0] & 0x3Fu} << 8) | bytes[1];
  }
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) {
    v = (v << 8) | bytes[i];
  }
  return v;
}

void lun64_to_lun_bytes(uint64_t lun64, uint8_t bytes[8]) {
  uint64_t v = lun64 <= 0x3FFF ? lun64 << 48 : lun64;
  for (int i = 7; i >= 0; i--) {
    bytes[i] = static_cast<uint8_t>(v & 0xFF);
    v >>= 8;
  }
}

bool parse_report_luns(const uint8_t *data, size_t len, ReportLuns *out, std::string *error) {
  *out = ReportLuns{};
  if (data == nullptr || len < 8) {
    *error = "REPORT LUNS data shorter than its 8-byte header";
    return false;
  }
  uint32_t list_len =
      (uint32_t{data[0]} << 24) | (uint32_t{data[1]} << 16) | (uint32_t{data[2]} << 8) | data[3];
  if (list_len % 8 != 0) {
    *error = "REPORT LUNS list length " + std::to_string(list_len) + " is not a multiple of 8";
    return false;
  }
  out->list_length = list_len;
  size_t have = (len - 8) / 8;
  size_t want = list_len / 8;
  out->truncated = have < want;
  size_t n = std::min(have, want);
  for (size_t i = 0; i < n; i++) {
    uint64_t lun = lun_bytes_to_lun64(data + 8 + 8 * i);
    if (std::find(out->luns.begin(), out->luns.end(), lun) == out->luns.end()) {
      out->luns.push_back(lun);
    }
  }
  return true;
}

std::string lun_unit_address(const std::string &target_addr, uint64_t lun64) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), ",%llx", static_cast<unsigned long long>(lun64));
  return target_addr + buf;
}

}  // namespace fk::scsa
