// SCSI target emulation for the mock PVSCSI device: logical units (disks with sparse storage and
// 512 or 4096-byte blocks, CD-ROMs without media) grouped into targets. Plain host-side C++: it
// takes a CDB and the data-out bytes and returns a SCSI status, sense data and data-in bytes. It
// knows nothing about rings or DMA; the device (mock_device.h) moves the data.
//
// Not thread-safe on its own: the device calls it under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pvscsi_hw.h"

namespace pvscsi_mock {

// SCSI status bytes (SAM).
constexpr uint8_t kScsiGood = 0x00;
constexpr uint8_t kScsiCheckCondition = 0x02;
constexpr uint8_t kScsiBusy = 0x08;

// Sense keys (SPC).
constexpr uint8_t kSenseNoSense = 0x0;
constexpr uint8_t kSenseNotReady = 0x2;
constexpr uint8_t kSenseMediumError = 0x3;
constexpr uint8_t kSenseHardwareError = 0x4;
constexpr uint8_t kSenseIllegalRequest = 0x5;
constexpr uint8_t kSenseUnitAttention = 0x6;
constexpr uint8_t kSenseAbortedCommand = 0xB;

// Fixed-format sense data (SPC, response code 0x70) is this long.
constexpr size_t kSenseLen = 18;

// SCSI operation codes the targets implement.
namespace op {
constexpr uint8_t kTestUnitReady = 0x00;
constexpr uint8_t kRequestSense = 0x03;
constexpr uint8_t kRead6 = 0x08;
constexpr uint8_t kWrite6 = 0x0A;
constexpr uint8_t kInquiry = 0x12;
constexpr uint8_t kModeSense6 = 0x1A;
constexpr uint8_t kStartStopUnit = 0x1B;
constexpr uint8_t kReadCapacity10 = 0x25;
constexpr uint8_t kRead10 = 0x28;
constexpr uint8_t kWrite10 = 0x2A;
constexpr uint8_t kSynchronizeCache10 = 0x35;
constexpr uint8_t kModeSense10 = 0x5A;
constexpr uint8_t kRead16 = 0x88;
constexpr uint8_t kWrite16 = 0x8A;
constexpr uint8_t kSynchronizeCache16 = 0x91;
constexpr uint8_t kServiceActionIn16 = 0x9E;  // service action 0x10: READ CAPACITY(16)
constexpr uint8_t kReportLuns = 0xA0;
constexpr uint8_t kRead12 = 0xA8;
constexpr uint8_t kWrite12 = 0xAA;
constexpr uint8_t kSaReadCapacity16 = 0x10;
}  // namespace op

// Additional sense code / qualifier pairs the targets report.
struct Asc {
  uint8_t key, asc, ascq;
};
namespace sense {
constexpr Asc kInvalidOpcode{kSenseIllegalRequest, 0x20, 0x00};
constexpr Asc kLbaOutOfRange{kSenseIllegalRequest, 0x21, 0x00};
constexpr Asc kInvalidFieldInCdb{kSenseIllegalRequest, 0x24, 0x00};
constexpr Asc kLunNotSupported{kSenseIllegalRequest, 0x25, 0x00};
constexpr Asc kMediumNotPresent{kSenseNotReady, 0x3A, 0x00};
constexpr Asc kNotReadyInitCmdRequired{kSenseNotReady, 0x04, 0x02};
constexpr Asc kPowerOnReset{kSenseUnitAttention, 0x29, 0x00};
constexpr Asc kCapacityChanged{kSenseUnitAttention, 0x2A, 0x09};
constexpr Asc kReportedLunsChanged{kSenseUnitAttention, 0x3F, 0x0E};
constexpr Asc kWriteProtected{0x7, 0x27, 0x00};  // DATA PROTECT
}  // namespace sense

// Builds fixed-format sense data for a key/ASC/ASCQ.
std::vector<uint8_t> make_sense(Asc a);

// Unit attention conditions a LUN can hold (reported one at a time, highest priority first).
enum class UnitAttention : uint8_t { kPowerOnReset, kReportedLunsChanged, kCapacityChanged };

enum class LunKind : uint8_t { kDisk, kCdrom };

// How one logical unit looks.
struct LunSpec {
  uint16_t lun = 0;  // 0..255 single-level; 256..16383 flat-space addressing
  LunKind kind = LunKind::kDisk;
  uint64_t blocks = 2048;     // capacity in blocks (disks)
  uint32_t block_size = 512;  // 512 or 4096 (disks); CD-ROMs use 2048
  bool write_protected = false;
};

// The direction a CDB moves data in, derived from the CDB (not from the driver's flags).
enum class DataDir : uint8_t { kNone, kIn, kOut };

// What the device must know about a CDB before it moves data: its direction and the number of
// bytes it transfers (data-out: bytes to fetch from the driver; data-in: the allocation length
// or the exact read size). Unknown opcodes get kNone and 0.
struct CdbShape {
  DataDir dir = DataDir::kNone;
  uint64_t bytes = 0;
};

// Result of one SCSI command.
struct ScsiResult {
  uint8_t status = kScsiGood;
  std::vector<uint8_t> sense;    // non-empty only with CHECK CONDITION
  std::vector<uint8_t> data_in;  // bytes for the initiator (already cut to the allocation length)
  uint64_t data_out_used = 0;    // bytes of data-out consumed
};

// One logical unit: a disk (sparse block storage) or a CD-ROM without media.
class ScsiLun {
 public:
  ScsiLun(const LunSpec &spec, uint32_t target_id, bool power_on_ua);

  const LunSpec &spec() const { return spec_; }
  uint32_t block_size() const { return spec_.kind == LunKind::kCdrom ? 2048 : spec_.block_size; }
  uint64_t blocks() const { return spec_.kind == LunKind::kCdrom ? 0 : spec_.blocks; }

  // The shape of a CDB for this LUN (the block size is known here).
  CdbShape shape(const uint8_t *cdb, size_t cdb_len) const;

  // Runs one command (not REPORT LUNS: the target answers that). data_out holds what the device
  // fetched from the initiator (may be shorter than shape().bytes when the initiator offered
  // less).
  ScsiResult execute(const uint8_t *cdb, size_t cdb_len, const std::vector<uint8_t> &data_out);

  // Largest transfer one command may ask for; larger ones get INVALID FIELD IN CDB (and the
  // device never allocates more than this for a command).
  static constexpr uint64_t kMaxTransfer = 64ull << 20;

  void post_unit_attention(UnitAttention ua) { pending_ua_.insert(ua); }
  void clear_unit_attentions() { pending_ua_.clear(); }
  void clear_unit_attentions_of(UnitAttention ua) { pending_ua_.erase(ua); }
  bool has_unit_attention(UnitAttention ua) const { return pending_ua_.count(ua) != 0; }
  size_t pending_unit_attentions() const { return pending_ua_.size(); }

  // Changes the capacity and posts CAPACITY DATA HAS CHANGED.
  void set_capacity(uint64_t blocks);

  // Direct access to stored blocks (verification oracles, seeding). false when out of range.
  bool read_blocks(uint64_t lba, uint64_t count, uint8_t *out) const;
  bool write_blocks(uint64_t lba, uint64_t count, const uint8_t *in);
  // Number of blocks that have ever been written (sparse storage footprint).
  size_t stored_blocks() const { return store_.size(); }

  bool stopped() const { return stopped_; }

 private:
  ScsiResult check(Asc a) const;
  ScsiResult inquiry(const uint8_t *cdb) const;
  ScsiResult request_sense(const uint8_t *cdb);
  ScsiResult read_capacity10() const;
  ScsiResult read_capacity16(const uint8_t *cdb) const;
  ScsiResult mode_sense(const uint8_t *cdb, bool ten) const;
  std::vector<uint8_t> block_descriptor(bool llbaa) const;
  ScsiResult rw(const uint8_t *cdb, size_t cdb_len, const std::vector<uint8_t> &data_out);
  ScsiResult sync_cache(const uint8_t *cdb, bool sixteen) const;
  ScsiResult start_stop(const uint8_t *cdb);
  bool medium_ready(ScsiResult *r) const;

  LunSpec spec_;
  uint32_t target_id_;
  std::set<UnitAttention> pending_ua_;
  bool stopped_ = false;
  std::unordered_map<uint64_t, std::vector<uint8_t>> store_;  // lba -> block, absent = zeros
};

// A SCSI target: a set of LUNs.
class ScsiTarget {
 public:
  ScsiTarget(uint32_t id, bool power_on_ua) : id_(id), power_on_ua_(power_on_ua) {}

  uint32_t id() const { return id_; }
  // Adds a LUN; false when it already exists.
  bool add_lun(const LunSpec &spec);
  bool remove_lun(uint16_t lun);
  ScsiLun *lun(uint16_t lun);
  const ScsiLun *lun(uint16_t lun) const;
  const std::map<uint16_t, std::unique_ptr<ScsiLun>> &luns() const { return luns_; }

  // Posts a unit attention on every LUN.
  void post_unit_attention(UnitAttention ua);
  // REPORT LUNS lists LUNs 256.. in peripheral device addressing with a bus identifier.
  void set_peripheral_bus_luns(bool on) { peripheral_bus_luns_ = on; }

  // Whether a command addressed to this LUN reaches a logical unit: an existing LUN, or REPORT
  // LUNS to LUN 0 (SPC: LUN 0 answers it even when no LUN 0 exists).
  bool addressable(uint16_t lun, uint8_t opcode) const;
  // The shape of a CDB addressed to a LUN (see ScsiLun::shape); requires addressable().
  CdbShape shape(uint16_t lun, const uint8_t *cdb, size_t cdb_len) const;
  // Runs one command addressed to a LUN; requires addressable().
  ScsiResult execute(uint16_t lun, const uint8_t *cdb, size_t cdb_len,
                     const std::vector<uint8_t> &data_out);

 private:
  // REPORT LUNS; clears REPORTED LUNS DATA HAS CHANGED on every LUN (SPC).
  ScsiResult report_luns(const uint8_t *cdb);

  uint32_t id_;
  bool power_on_ua_;
  bool peripheral_bus_luns_ = false;
  std::map<uint16_t, std::unique_ptr<ScsiLun>> luns_;
};

// Big-endian CDB fields.
uint32_t be16(const uint8_t *p);
uint32_t be24(const uint8_t *p);
uint32_t be32(const uint8_t *p);
uint64_t be64(const uint8_t *p);
void put_be16(uint8_t *p, uint32_t v);
void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);

// Length a CDB must have for its opcode's group (6, 10, 12 or 16); 0 for reserved groups.
size_t cdb_group_len(uint8_t opcode);

// Encodes a LUN number into the 8-byte SAM LUN field: below 256 peripheral device addressing
// (bus 0); above, flat space addressing, or with peripheral_bus peripheral device addressing
// with the bus identifier holding bits 8-13 (a form illumos tolerates and keeps as lun64 = LUN:
// devid_scsi.c scsi_lun_to_lun64).
void encode_lun(uint16_t lun, uint8_t out[8], bool peripheral_bus = false);
// The same eight bytes as the generated SAM LUN type.
pvscsi::hw::SamLun encode_sam_lun(uint16_t lun, bool peripheral_bus = false);

}  // namespace pvscsi_mock
