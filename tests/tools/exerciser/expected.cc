#include "expected.h"

#include <algorithm>

namespace exerciser {

ExpectedContent::ExpectedContent(const std::vector<LunGeometry> &luns, uint64_t seed,
                                 bool initially_zero)
    : luns_(luns), state_(luns.size()), seed_(seed) {
  for (auto &s : state_) s.zero = initially_zero;
}

void ExpectedContent::record_write(size_t i, uint64_t lba, uint64_t count, uint64_t write_seq) {
  for (uint64_t b = lba; b < lba + count; b++) state_[i].seq[b] = write_seq;
}

void ExpectedContent::mark_unknown(size_t i, uint64_t lba, uint64_t count) {
  for (uint64_t b = lba; b < lba + count; b++) state_[i].seq[b] = kUnknown;
}

void ExpectedContent::reset(size_t i, bool zero) {
  state_[i].seq.clear();
  state_[i].zero = zero;
}

Expectation ExpectedContent::expect(size_t i, uint64_t lba) const {
  const PerLun &s = state_[i];
  auto it = s.seq.find(lba);
  if (it == s.seq.end()) return s.zero ? Expectation::zeros() : Expectation::unknown();
  if (it->second == kUnknown) return Expectation::unknown();
  StampId id;
  id.target = luns_[i].target;
  id.lun = luns_[i].lun;
  id.lba = lba;
  id.write_seq = it->second;
  id.seed = seed_;
  return Expectation::stamp(id);
}

std::vector<uint64_t> ExpectedContent::written_blocks(size_t i) const {
  std::vector<uint64_t> out;
  for (const auto &kv : state_[i].seq) {
    if (kv.second != kUnknown) out.push_back(kv.first);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace exerciser
