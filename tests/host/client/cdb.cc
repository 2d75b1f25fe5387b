#include "cdb.h"

namespace fk::client {
namespace {

void put16(uint8_t *p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t *p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
void put64(uint8_t *p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}
uint32_t get32(const uint8_t *p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t get64(const uint8_t *p) { return (uint64_t{get32(p)} << 32) | get32(p + 4); }

Cdb make(int len, uint8_t op) {
  Cdb c;
  c.len = len;
  c.bytes[0] = op;
  return c;
}

std::string trimmed(const uint8_t *p, size_t n) {
  std::string s(reinterpret_cast<const char *>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) {
    s.pop_back();
  }
  return s;
}

}  // namespace

namespace cdb {

Cdb test_unit_ready() { return make(6, 0x00); }

Cdb inquiry(uint16_t alloc_len) {
  Cdb c = make(6, 0x12);
  put16(c.bytes + 3, alloc_len);
  return c;
}

Cdb request_sense(uint8_t alloc_len) {
  Cdb c = make(6, 0x03);
  c.bytes[4] = alloc_len;
  return c;
}

Cdb read_capacity10() { return make(10, 0x25); }

Cdb read_capacity16(uint32_t alloc_len) {
  Cdb c = make(16, 0x9e);
  c.bytes[1] = 0x10;  // service action READ CAPACITY(16)
  put32(c.bytes + 10, alloc_len);
  return c;
}

Cdb report_luns(uint32_t alloc_len) {
  Cdb c = make(12, 0xa0);
  put32(c.bytes + 6, alloc_len);
  return c;
}

// The 10- and 16-byte layout of READ, WRITE and SYNCHRONIZE CACHE: LBA at byte 2, block count
// at byte 7 (10) or 10 (16).
Cdb lba10(uint8_t op, uint32_t lba, uint16_t blocks) {
  Cdb c = make(10, op);
  put32(c.bytes + 2, lba);
  put16(c.bytes + 7, blocks);
  return c;
}

Cdb lba16(uint8_t op, uint64_t lba, uint32_t blocks) {
  Cdb c = make(16, op);
  put64(c.bytes + 2, lba);
  put32(c.bytes + 10, blocks);
  return c;
}

Cdb read10(uint32_t lba, uint16_t blocks) { return lba10(0x28, lba, blocks); }
Cdb write10(uint32_t lba, uint16_t blocks) { return lba10(0x2a, lba, blocks); }
Cdb read16(uint64_t lba, uint32_t blocks) { return lba16(0x88, lba, blocks); }
Cdb write16(uint64_t lba, uint32_t blocks) { return lba16(0x8a, lba, blocks); }

static bool fits10(uint64_t lba, uint32_t blocks) {
  return blocks <= 0xffff && lba + blocks <= 0x100000000ull;
}

Cdb read(uint64_t lba, uint32_t blocks) {
  return fits10(lba, blocks) ? read10(static_cast<uint32_t>(lba), static_cast<uint16_t>(blocks))
                             : read16(lba, blocks);
}

Cdb write(uint64_t lba, uint32_t blocks) {
  return fits10(lba, blocks) ? write10(static_cast<uint32_t>(lba), static_cast<uint16_t>(blocks))
                             : write16(lba, blocks);
}

Cdb synchronize_cache10(uint32_t lba, uint16_t blocks) { return lba10(0x35, lba, blocks); }
Cdb synchronize_cache16(uint64_t lba, uint32_t blocks) { return lba16(0x91, lba, blocks); }

}  // namespace cdb

bool parse_inquiry(const uint8_t *data, size_t len, Inquiry *out, std::string *error) {
  if (data == nullptr || len < 36) {
    *error = "INQUIRY data shorter than 36 bytes (" + std::to_string(len) + ")";
    return false;
  }
  out->qualifier = data[0] >> 5;
  out->dtype = data[0] & 0x1f;
  out->removable = (data[1] & 0x80) != 0;
  out->version = data[2];
  out->cmdque = (data[7] & 0x02) != 0;
  out->vendor = trimmed(data + 8, 8);
  out->product = trimmed(data + 16, 16);
  out->revision = trimmed(data + 32, 4);
  return true;
}

bool parse_read_capacity16(const uint8_t *data, size_t len, uint64_t *blocks, uint32_t *block_size,
                           std::string *error) {
  if (data == nullptr || len < 12) {
    *error = "READ CAPACITY(16) data shorter than 12 bytes";
    return false;
  }
  uint64_t last = get64(data);
  uint32_t bs = get32(data + 8);
  if (bs == 0 || last == ~0ull) {
    *error = "READ CAPACITY(16) reports block size " + std::to_string(bs) + ", last LBA " +
             std::to_string(last);
    return false;
  }
  *blocks = last + 1;
  *block_size = bs;
  return true;
}

bool parse_read_capacity10(const uint8_t *data, size_t len, uint64_t *blocks, uint32_t *block_size,
                           std::string *error) {
  if (data == nullptr || len < 8) {
    *error = "READ CAPACITY(10) data shorter than 8 bytes";
    return false;
  }
  uint32_t bs = get32(data + 4);
  if (bs == 0) {
    *error = "READ CAPACITY(10) reports block size 0";
    return false;
  }
  *blocks = uint64_t{get32(data)} + 1;
  *block_size = bs;
  return true;
}

Sense parse_sense(const uint8_t *data, size_t len) {
  Sense s;
  if (data == nullptr || len < 1) {
    return s;
  }
  uint8_t code = data[0] & 0x7f;
  if ((code == 0x70 || code == 0x71) && len >= 14) {
    s.valid = true;
    s.deferred = code == 0x71;
    s.key = data[2] & 0x0f;
    s.asc = data[12];
    s.ascq = data[13];
  } else if ((code == 0x72 || code == 0x73) && len >= 4) {
    s.valid = true;
    s.deferred = code == 0x73;
    s.key = data[1] & 0x0f;
    s.asc = data[2];
    s.ascq = data[3];
  }
  return s;
}

}  // namespace fk::client
