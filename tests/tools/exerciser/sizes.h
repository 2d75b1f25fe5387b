// Parsing of sizes ("4k", "1m", "512") and block-size specifications for --bs ("4k", "4k,8k",
// "512-64k"). Suffixes are binary: k = 1024, m = 1024^2, g = 1024^3 (upper or lower case, an
// optional trailing "b" or "ib": "4KiB", "4kb").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace exerciser {

// Parses a size; on failure returns false and sets *error to what is wrong (without naming the
// option: the caller adds that).
bool parse_size(const std::string &text, uint64_t *out, std::string *error);
// Parses an unsigned decimal integer (no sign, no suffix); false on anything else or overflow.
bool parse_uint(const std::string &text, uint64_t *out);
// "4096" -> "4k", "1048576" -> "1m", "1000" -> "1000".
std::string format_size(uint64_t bytes);

// What --bs asks for: one size, a list (each op picks one uniformly) or a range (each op picks a
// uniformly random multiple of the LUN's block size within [lo, hi]).
struct BlockSizeSpec {
  enum class Kind { kList, kRange };
  Kind kind = Kind::kList;
  std::vector<uint64_t> sizes{4096};  // kList
  uint64_t lo = 0, hi = 0;            // kRange, inclusive
  std::string text = "4k";            // as given

  // The largest size an op can have.
  uint64_t max_bytes() const;
  // "" when every size this spec can produce is usable on a LUN with this block size and
  // capacity (bytes), else what is wrong.
  std::string check_for(uint32_t block_size, uint64_t capacity_bytes) const;
};
bool parse_block_size_spec(const std::string &text, BlockSizeSpec *out, std::string *error);

}  // namespace exerciser
