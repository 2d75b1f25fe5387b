#include "stamp.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>

namespace exerciser {

namespace {

constexpr uint64_t kK1 = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kK2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kK3 = 0x165667B19E3779F9ull;
constexpr uint32_t kCrcOffset = 56;

void put16(uint8_t *p, uint16_t v) {
  for (int i = 0; i < 2; i++) p[i] = uint8_t(v >> (8 * i));
}
void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = uint8_t(v >> (8 * i));
}
void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = uint8_t(v >> (8 * i));
}
uint16_t get16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

// The CRC-32 (zlib's) of a block with its crc field taken as zero.
uint32_t block_crc(const uint8_t *block, uint32_t block_size) {
  static const uint8_t zeros[4] = {0, 0, 0, 0};
  uLong c = ::crc32(0, block, kCrcOffset);
  c = ::crc32(c, zeros, 4);
  return uint32_t(::crc32(c, block + kCrcOffset + 4, block_size - kCrcOffset - 4));
}

uint64_t payload_word(const StampId &id, uint32_t offset) {
  return splitmix64(id.seed * kK1 + id.write_seq * kK2 + id.lba * kK3 + offset);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

bool all_zero(const uint8_t *p, size_t n, size_t *first_nonzero) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] != 0) {
      *first_nonzero = i;
      return false;
    }
  }
  return true;
}

}  // namespace

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void stamp_block(uint8_t *block, uint32_t block_size, const StampId &id) {
  std::memset(block, 0, kStampHeaderLen);
  std::memcpy(block, kStampMagic, sizeof kStampMagic);
  put16(block + 8, kStampVersion);
  put16(block + 10, uint16_t(kStampHeaderLen));
  put32(block + 12, block_size);
  put32(block + 16, id.target);
  put64(block + 24, id.lun);
  put64(block + 32, id.lba);
  put64(block + 40, id.write_seq);
  put64(block + 48, id.seed);
  for (uint32_t o = kStampHeaderLen; o + 8 <= block_size; o += 8)
    put64(block + o, payload_word(id, o));
  put32(block + kCrcOffset, block_crc(block, block_size));
}

bool read_stamp(const uint8_t *block, uint32_t block_size, StampId *id, uint32_t *stored_crc,
                uint32_t *stored_block_size) {
  if (block_size < kStampHeaderLen) return false;
  if (std::memcmp(block, kStampMagic, sizeof kStampMagic) != 0) return false;
  if (get16(block + 8) != kStampVersion || get16(block + 10) != kStampHeaderLen) return false;
  *stored_block_size = get32(block + 12);
  id->target = get32(block + 16);
  id->lun = get64(block + 24);
  id->lba = get64(block + 32);
  id->write_seq = get64(block + 40);
  id->seed = get64(block + 48);
  *stored_crc = get32(block + kCrcOffset);
  return true;
}

std::string describe(const StampId &id) {
  return "target " + std::to_string(id.target) + " lun " + std::to_string(id.lun) + " lba " +
         std::to_string(id.lba) + " write " + std::to_string(id.write_seq) + " seed " +
         std::to_string(id.seed);
}

std::string verify_block(const uint8_t *block, uint32_t block_size, const Expectation &exp) {
  if (exp.kind == Expectation::Kind::kUnknown) return "";
  size_t nz = 0;
  const bool zero = all_zero(block, block_size, &nz);
  StampId got;
  uint32_t stored_crc = 0, stored_bs = 0;
  const bool stamped = read_stamp(block, block_size, &got, &stored_crc, &stored_bs);

  if (exp.kind == Expectation::Kind::kZeros) {
    if (zero) return "";
    if (stamped)
      return "expected zeros (never written), found the stamp of " + describe(got) +
             (block_crc(block, block_size) == stored_crc ? "" : " (checksum also bad)");
    return "expected zeros (never written), found a non-zero byte at offset " + std::to_string(nz);
  }

  const StampId &want = exp.id;
  const std::string where = "target " + std::to_string(want.target) + " lun " +
                            std::to_string(want.lun) + " lba " + std::to_string(want.lba);
  if (zero)
    return where + ": all zeros, expected write " + std::to_string(want.write_seq) +
           " (lost write)";
  if (!stamped) {
    if (std::memcmp(block, kStampMagic, sizeof kStampMagic) != 0)
      return where + ": no stamp (bad magic), expected write " + std::to_string(want.write_seq);
    return where + ": unknown stamp version or header length";
  }
  if (stored_bs != block_size)
    return where + ": stamp written for a " + std::to_string(stored_bs) + "-byte block, read as " +
           std::to_string(block_size);
  const uint32_t crc = block_crc(block, block_size);
  if (crc != stored_crc) {
    // Locate the damage against the block the header claims to be.
    for (uint32_t o = kStampHeaderLen; o + 8 <= block_size; o += 8) {
      if (get64(block + o) != payload_word(got, o))
        return where + ": corrupted: checksum " + hex32(stored_crc) + " stored, " + hex32(crc) +
               " computed; first bad payload byte near offset " + std::to_string(o);
    }
    return where + ": corrupted header: checksum " + hex32(stored_crc) + " stored, " + hex32(crc) +
           " computed";
  }
  if (got.seed != want.seed)
    return where + ": data from another run (seed " + std::to_string(got.seed) + ", expected " +
           std::to_string(want.seed) + ")";
  if (got.target != want.target || got.lun != want.lun || got.lba != want.lba)
    return where + ": misdirected: holds the block written for " + describe(got);
  if (got.write_seq < want.write_seq)
    return where + ": stale data: write " + std::to_string(got.write_seq) +
           " found, expected the later write " + std::to_string(want.write_seq) + " (lost write)";
  if (got.write_seq > want.write_seq)
    return where + ": write " + std::to_string(got.write_seq) + " found, expected write " +
           std::to_string(want.write_seq) + " (a write that was reported failed reached the disk?)";
  return "";
}

}  // namespace exerciser
