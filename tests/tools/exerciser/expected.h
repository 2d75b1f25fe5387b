// What every block of every LUN should hold, so reads verify: the write that last completed
// successfully on it, zeros when never written, or "unknown" (a write failed or its outcome is
// not known; or the disk is a user's image with old contents).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "stamp.h"

namespace exerciser {

struct LunGeometry {
  uint32_t target = 0;
  uint64_t lun = 0;
  uint64_t blocks = 0;
  uint32_t block_size = 512;
};

class ExpectedContent {
 public:
  // initially_zero: blocks never written read as zeros; else as unknown.
  ExpectedContent(const std::vector<LunGeometry> &luns, uint64_t seed, bool initially_zero);

  // A write of write_seq completed successfully on [lba, lba + count).
  void record_write(size_t lun_index, uint64_t lba, uint64_t count, uint64_t write_seq);
  // A write to [lba, lba + count) failed or its outcome is unknown.
  void mark_unknown(size_t lun_index, uint64_t lba, uint64_t count);
  // The LUN was replaced (a hot-added blank disk: zeros) or its contents are unknown.
  void reset(size_t lun_index, bool zero);

  Expectation expect(size_t lun_index, uint64_t lba) const;
  // Blocks with a known stamp (written and not since made unknown), per LUN, sorted.
  std::vector<uint64_t> written_blocks(size_t lun_index) const;
  size_t lun_count() const { return luns_.size(); }
  const LunGeometry &lun(size_t i) const { return luns_[i]; }

 private:
  static constexpr uint64_t kUnknown = UINT64_MAX;
  struct PerLun {
    bool zero = true;
    std::unordered_map<uint64_t, uint64_t> seq;  // lba -> write_seq or kUnknown
  };
  std::vector<LunGeometry> luns_;
  std::vector<PerLun> state_;
  uint64_t seed_;
};

}  // namespace exerciser
