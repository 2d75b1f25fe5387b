// The block stamp: every block the exerciser writes identifies itself, so a read (or anyone
// holding the image file after a QEMU run) can tell exactly what should be there and what is.
// This comment is the format's specification; verify_image.py and README.md refer to it.
//
// Layout of one block of B bytes (B = the LUN's block size, a multiple of 8, at least 64), all
// integers little-endian:
//
//   offset size field
//        0    8 magic        the ASCII bytes "PVXSTAMP"
//        8    2 version      1
//       10    2 header_len   64
//       12    4 block_size   B
//       16    4 target       SCSI target id
//       20    4 reserved     0
//       24    8 lun          LUN number (scsi_lun64_t)
//       32    8 lba          logical block address of this block
//       40    8 write_seq    which write of the run put it there (1, 2, ...; one per write
//                            command, shared by the blocks it wrote)
//       48    8 seed         the run's --seed
//       56    4 crc32        CRC-32 (ISO-HDLC, as zlib's crc32) of all B bytes with this field 0
//       60    4 reserved     0
//       64  B-64 payload     8-byte words; the word at byte offset o is
//                            splitmix64(seed * K1 + write_seq * K2 + lba * K3 + o)   (mod 2^64)
//
// with K1 = 0x9E3779B97F4A7C15, K2 = 0xC2B2AE3D27D4EB4F, K3 = 0x165667B19E3779F9 and
// splitmix64(z) = { z += 0x9E3779B97F4A7C15; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
//                   z = (z ^ (z >> 27)) * 0x94D049BB133111EB; return z ^ (z >> 31); }.
//
// A block that was never written by the run reads as all zeros on the mock and on a temporary
// QEMU image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace exerciser {

constexpr char kStampMagic[8] = {'P', 'V', 'X', 'S', 'T', 'A', 'M', 'P'};
constexpr uint16_t kStampVersion = 1;
constexpr uint32_t kStampHeaderLen = 64;

// The identity a stamp carries.
struct StampId {
  uint32_t target = 0;
  uint64_t lun = 0;
  uint64_t lba = 0;
  uint64_t write_seq = 0;
  uint64_t seed = 0;
};

uint64_t splitmix64(uint64_t z);

// Fills one block of block_size bytes (a multiple of 8, >= 64) with the stamp for id.
void stamp_block(uint8_t *block, uint32_t block_size, const StampId &id);
// Parses a block's header; false when the magic, version or header length is wrong.
bool read_stamp(const uint8_t *block, uint32_t block_size, StampId *id, uint32_t *stored_crc,
                uint32_t *stored_block_size);

// What a block should hold.
struct Expectation {
  enum class Kind {
    kZeros,    // never written (a blank disk)
    kStamp,    // the stamp `id`
    kUnknown,  // anything goes (a write whose outcome is not known, or a user's image)
  };
  Kind kind = Kind::kZeros;
  StampId id;
  static Expectation zeros() { return Expectation{}; }
  static Expectation unknown() {
    Expectation e;
    e.kind = Kind::kUnknown;
    return e;
  }
  static Expectation stamp(const StampId &id) {
    Expectation e;
    e.kind = Kind::kStamp;
    e.id = id;
    return e;
  }
};

// Checks a block against what is expected: "" when it matches, else one line saying exactly
// what is wrong (a lost write, stale data, a misdirected write, a corrupted byte, ...).
std::string verify_block(const uint8_t *block, uint32_t block_size, const Expectation &expected);

// "target 0 lun 0 lba 17 seq 3".
std::string describe(const StampId &id);

}  // namespace exerciser
