#include "workload.h"

#include "stamp.h"

namespace exerciser {

uint64_t Rng::next() {
  state_ += 0x9E3779B97F4A7C15ull;
  uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Rng::below(uint64_t n) {
  // Reject the top partial range so every value is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  uint64_t v;
  do {
    v = next();
  } while (v > limit);
  return v % n;
}

Generator::Generator(const WorkloadSpec &spec, const std::vector<LunGeometry> &luns)
    : spec_(spec),
      luns_(luns),
      rng_(splitmix64(spec.seed ^ 0x6578657263697365ull)),
      cursor_(luns.size(), 0) {}

uint64_t Generator::pick_bytes(uint32_t block_size) {
  const BlockSizeSpec &bs = spec_.bs;
  if (bs.kind == BlockSizeSpec::Kind::kList) {
    return bs.sizes.size() == 1 ? bs.sizes[0] : bs.sizes[rng_.below(bs.sizes.size())];
  }
  uint64_t first = (bs.lo + block_size - 1) / block_size;
  if (first == 0) first = 1;
  const uint64_t last = bs.hi / block_size;
  return (first + rng_.below(last - first + 1)) * block_size;
}

Op Generator::next() {
  Op op;
  if (spec_.sequential) {
    op.lun_index = next_lun_;
    next_lun_ = (next_lun_ + 1) % luns_.size();
  } else {
    op.lun_index = luns_.size() == 1 ? 0 : size_t(rng_.below(luns_.size()));
  }
  const LunGeometry &g = luns_[op.lun_index];
  uint64_t blocks = pick_bytes(g.block_size) / g.block_size;
  if (blocks > g.blocks) blocks = g.blocks;
  op.blocks = uint32_t(blocks);
  if (spec_.sequential) {
    uint64_t &c = cursor_[op.lun_index];
    if (c + blocks > g.blocks) c = 0;
    op.lba = c;
    c += blocks;
  } else {
    op.lba = rng_.below(g.blocks - blocks + 1);
  }
  op.write = rng_.below(100) >= spec_.read_pct;
  return op;
}

}  // namespace exerciser
