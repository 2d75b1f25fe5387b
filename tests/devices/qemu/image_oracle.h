// An oracle for disk images that does not trust the driver or the device: tests record what
// each block should hold as writes are acknowledged, then verify() reads the image files
// directly. A write whose outcome is unknown (completed with an error, or in flight at a reset
// or hot remove) makes a block "old or new". Blocks never recorded are not checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pvscsi_qemu {

class ImageOracle {
 public:
  // Blocks are tracked at this granularity (a multiple of the smallest logical block, 512).
  explicit ImageOracle(uint32_t granularity = 512) : gran_(granularity) {}

  // The block range now holds exactly `data` (an acknowledged write). offset and len must be
  // multiples of the granularity; returns false (and records nothing) otherwise.
  bool expect(const std::string &image, uint64_t offset, const void *data, size_t len);
  // The range holds either what it held before or `data` (a write of unknown outcome).
  bool maybe(const std::string &image, uint64_t offset, const void *data, size_t len);
  // The range is all zeros (a fresh sparse image).
  bool expect_zero(const std::string &image, uint64_t offset, uint64_t len);

  struct Mismatch {
    std::string image;
    uint64_t offset;  // byte offset of the block
    std::string what;
  };
  // Reads every recorded block from its image file; returns the blocks that hold none of their
  // allowed contents (and unreadable files), at most max_reports of them.
  std::vector<Mismatch> verify(size_t max_reports = 20) const;
  size_t blocks() const { return blocks_.size(); }

 private:
  bool record(const std::string &image, uint64_t offset, const void *data, size_t len, bool keep);
  static uint64_t hash(const uint8_t *p, size_t len);

  uint32_t gran_;
  // (image, block index) -> hashes of the allowed contents.
  std::map<std::pair<std::string, uint64_t>, std::set<uint64_t>> blocks_;
};

}  // namespace pvscsi_qemu
