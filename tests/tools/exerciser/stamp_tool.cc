// Writes an image of stamped blocks with the exerciser's stamp code, so the Python verifier
// (verify_image.py) can be checked against the C++ implementation.
//   stamp_tool FILE BLOCK_SIZE BLOCKS SEED TARGET LUN
// Even LBAs get a stamp (write sequence lba + 1), odd ones stay zero.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "stamp.h"

int main(int argc, char **argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: stamp_tool FILE BLOCK_SIZE BLOCKS SEED TARGET LUN\n");
    return 2;
  }
  const uint32_t bs = uint32_t(std::strtoul(argv[2], nullptr, 10));
  const uint64_t blocks = std::strtoull(argv[3], nullptr, 10);
  exerciser::StampId id;
  id.seed = std::strtoull(argv[4], nullptr, 10);
  id.target = uint32_t(std::strtoul(argv[5], nullptr, 10));
  id.lun = std::strtoull(argv[6], nullptr, 10);
  FILE *f = std::fopen(argv[1], "wb");
  if (f == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  std::vector<uint8_t> block(bs);
  for (uint64_t lba = 0; lba < blocks; lba++) {
    std::fill(block.begin(), block.end(), 0);
    if (lba % 2 == 0) {
      id.lba = lba;
      id.write_seq = lba + 1;
      exerciser::stamp_block(block.data(), bs, id);
    }
    if (std::fwrite(block.data(), 1, bs, f) != bs) {
      std::perror("fwrite");
      return 1;
    }
  }
  return std::fclose(f) == 0 ? 0 : 1;
}
