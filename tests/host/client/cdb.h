// SCSI CDB builders and parameter-data parsers for the target client. Pure functions, no
// kernel: multi-byte fields are stored big-endian byte by byte. Host-side test code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fk::client {

struct Cdb {
  uint8_t bytes[16] = {};
  int len = 0;
};

namespace cdb {
Cdb test_unit_ready();
Cdb inquiry(uint16_t alloc_len);
Cdb request_sense(uint8_t alloc_len);
Cdb read_capacity10();
Cdb read_capacity16(uint32_t alloc_len = 32);
Cdb report_luns(uint32_t alloc_len);
Cdb read10(uint32_t lba, uint16_t blocks);
Cdb write10(uint32_t lba, uint16_t blocks);
Cdb read16(uint64_t lba, uint32_t blocks);
Cdb write16(uint64_t lba, uint32_t blocks);
// READ/WRITE(10) when the LBA and length fit, else (16); as sd chooses. blocks must be > 0.
Cdb read(uint64_t lba, uint32_t blocks);
Cdb write(uint64_t lba, uint32_t blocks);
// SYNCHRONIZE CACHE: the whole medium when blocks is 0.
Cdb synchronize_cache10(uint32_t lba = 0, uint16_t blocks = 0);
Cdb synchronize_cache16(uint64_t lba = 0, uint32_t blocks = 0);
}  // namespace cdb

// Standard INQUIRY data, the fields a target driver looks at.
struct Inquiry {
  uint8_t qualifier = 0;  // peripheral qualifier (0: connected)
  uint8_t dtype = 0;      // peripheral device type (0: direct access)
  bool removable = false;
  uint8_t version = 0;
  bool cmdque = false;
  std::string vendor, product, revision;  // trailing blanks removed
};
// False (with *error) when shorter than the 36 bytes of standard data.
bool parse_inquiry(const uint8_t *data, size_t len, Inquiry *out, std::string *error);

// READ CAPACITY(16) data: blocks = last LBA + 1.
bool parse_read_capacity16(const uint8_t *data, size_t len, uint64_t *blocks, uint32_t *block_size,
                           std::string *error);
bool parse_read_capacity10(const uint8_t *data, size_t len, uint64_t *blocks, uint32_t *block_size,
                           std::string *error);

// Sense data, fixed (70h/71h) or descriptor (72h/73h) format.
struct Sense {
  bool valid = false;
  bool deferred = false;
  uint8_t key = 0, asc = 0, ascq = 0;
};
Sense parse_sense(const uint8_t *data, size_t len);

}  // namespace fk::client
