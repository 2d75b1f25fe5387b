// The workload generator: a deterministic stream of operations for a seed. The stream depends
// only on the seed, the LUN list and the workload options - never on timing - so a run can be
// repeated op for op.
#pragma once

#include <cstdint>
#include <vector>

#include "expected.h"
#include "sizes.h"

namespace exerciser {

// A small, portable PRNG (splitmix64 stream): the same numbers on every platform and standard
// library, unlike std::uniform_int_distribution.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  // Uniform in [0, n) (n > 0), without modulo bias.
  uint64_t below(uint64_t n);

 private:
  uint64_t state_;
};

struct WorkloadSpec {
  BlockSizeSpec bs;
  unsigned read_pct = 50;   // 0..100
  bool sequential = false;  // else random
  uint64_t seed = 1;
};

struct Op {
  size_t lun_index = 0;
  uint64_t lba = 0;
  uint32_t blocks = 0;
  bool write = false;
};

class Generator {
 public:
  // luns must be non-empty and every size of spec.bs usable on each (BlockSizeSpec::check_for).
  Generator(const WorkloadSpec &spec, const std::vector<LunGeometry> &luns);
  Op next();

 private:
  uint64_t pick_bytes(uint32_t block_size);

  WorkloadSpec spec_;
  std::vector<LunGeometry> luns_;
  Rng rng_;
  std::vector<uint64_t> cursor_;  // sequential: next LBA per LUN
  size_t next_lun_ = 0;           // sequential: round robin
};

}  // namespace exerciser
