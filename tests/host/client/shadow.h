// The shadow of a disk under verified random I/O (the chaos soak on the mock, the chaos test on
// QEMU): which versions each block may hold, which blocks an outstanding command covers, and
// each block's recent operations, printed with the first verify failure.
//
// Block `lba` of disk `target` at version v has pattern() content: a readable stamp (lba,
// version, target) and a hash of the three; version 0 is zeros (never written). A write claims
// its blocks and fills its buffer (begin_write); when it completes, an acknowledged write leaves
// the one version a block may hold, a failed one adds its version to those allowed (it may or may
// not have reached the disk). A read's data must match one of the allowed versions, which then
// becomes the only one again. Callers keep commands from overlapping (is_free, then begin_*), so
// every outcome is defined; a failed write cannot land later (it was finished or dropped before
// it was reported, or the device that had it was reset).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

namespace fk::client {

class ShadowDisk {
 public:
  // One operation on a block. Times are whatever the caller measures in (see time_unit).
  struct Op {
    int64_t start = 0, end = 0;
    char kind = 'W';       // 'W' or 'R'
    uint32_t version = 0;  // written, or matched by a read (~0u: none, or the read failed)
    uint8_t reason = 0;    // pkt_reason
    uint8_t status = 0;    // status byte
    uint64_t event = 0;    // the caller's count of chaos events when the operation started
  };

  // blocks of block_size bytes (a multiple of 16); history: operations kept per block;
  // time_unit names the unit of Op times in reports ("us", "ms").
  ShadowDisk(uint32_t target, uint32_t blocks, uint32_t block_size, size_t history = 12,
             const char *time_unit = "us");

  // The content of block lba at a version, into p (block_size bytes).
  static void pattern(uint8_t *p, uint32_t block_size, uint32_t target, uint64_t lba,
                      uint32_t version);
  // The same for the blocks [lba, lba + len / block_size) of a buffer of len bytes (whole
  // blocks), all at one version; holds(): whether a buffer has that content.
  static void fill(uint8_t *p, size_t len, uint32_t block_size, uint32_t target, uint64_t lba,
                   uint32_t version);
  static bool holds(const uint8_t *p, size_t len, uint32_t block_size, uint32_t target,
                    uint64_t lba, uint32_t version);

  uint32_t blocks() const { return uint32_t(allowed_.size()); }
  uint32_t block_size() const { return bs_; }
  // No outstanding command covers [lba, lba + n) (false when the range leaves the disk).
  bool is_free(uint64_t lba, uint32_t n) const;
  // Claims the range for a write and fills buf with a new version's content; returns the
  // version (the caller passes it back to end_write).
  uint32_t begin_write(uint64_t lba, uint32_t n, uint8_t *buf);
  // Claims the range for a read.
  void begin_read(uint64_t lba, uint32_t n);
  // Releases a claimed range whose command was never issued: what the blocks may hold stays.
  void cancel(uint64_t lba, uint32_t n);
  // Releases the range. op's times, reason, status and event describe the completion; ok: the
  // write was acknowledged.
  void end_write(uint64_t lba, uint32_t n, uint32_t version, bool ok, Op op);
  // Releases the range; when ok, checks each block of buf against the versions it may hold.
  // Returns the blocks that matched none (each counted and, the first, reported).
  unsigned end_read(uint64_t lba, uint32_t n, const uint8_t *buf, bool ok, Op op);

  // The versions block lba may hold now ({0} for a block never written).
  const std::set<uint32_t> &allowed(uint64_t lba) const { return allowed_[lba]; }
  uint64_t blocks_checked() const { return checked_; }
  uint64_t verify_failures() const { return failures_; }
  // The first verify failure: the block, what its data says it is, what was allowed, and the
  // block's history. Empty when there was none.
  const std::string &first_failure() const { return first_failure_; }
  // The last verify failure in one line (the block, what its data says it is, how many
  // versions were allowed). Empty when there was none.
  const std::string &last_failure() const { return last_failure_; }

 private:
  uint32_t check_block(uint64_t lba, const uint8_t *got, const Op &op);
  void record(uint64_t lba, const Op &op);

  uint32_t target_, bs_;
  size_t history_;
  const char *unit_;
  uint32_t version_ = 0;
  std::vector<std::set<uint32_t>> allowed_;
  std::vector<bool> busy_;
  std::vector<std::deque<Op>> hist_;
  std::vector<uint8_t> want_;  // scratch: one block
  uint64_t checked_ = 0, failures_ = 0;
  std::string first_failure_, last_failure_;
};

}  // namespace fk::client
