#include "sizes.h"

#include <cctype>
#include <limits>

namespace exerciser {

bool parse_uint(const std::string &text, uint64_t *out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = uint64_t(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool parse_size(const std::string &text, uint64_t *out, std::string *error) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) i++;
  if (i == 0) {
    *error = text.empty() ? "empty size" : "'" + text + "' is not a size (e.g. 512, 4k, 1m, 2g)";
    return false;
  }
  uint64_t number = 0;
  if (!parse_uint(text.substr(0, i), &number)) {
    *error = "'" + text + "' is too large";
    return false;
  }
  std::string suffix;
  for (size_t j = i; j < text.size(); j++)
    suffix += char(std::tolower(static_cast<unsigned char>(text[j])));
  unsigned shift = 0;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else {
    const std::string rest = suffix.substr(1);
    const size_t unit = std::string("kmgt").find(suffix[0]);
    if (unit == std::string::npos || !(rest.empty() || rest == "b" || rest == "ib")) {
      *error = "'" + text + "' has an unknown suffix (use k, m, g or t)";
      return false;
    }
    shift = 10 * unsigned(unit + 1);
  }
  if (shift > 0 && number > (std::numeric_limits<uint64_t>::max() >> shift)) {
    *error = "'" + text + "' is too large";
    return false;
  }
  *out = number << shift;
  return true;
}

std::string format_size(uint64_t bytes) {
  static const struct {
    unsigned shift;
    const char *suffix;
  } units[] = {{40, "t"}, {30, "g"}, {20, "m"}, {10, "k"}};
  if (bytes != 0) {
    for (const auto &u : units) {
      if (bytes % (uint64_t(1) << u.shift) == 0) return std::to_string(bytes >> u.shift) + u.suffix;
    }
  }
  return std::to_string(bytes);
}

uint64_t BlockSizeSpec::max_bytes() const {
  if (kind == Kind::kRange) return hi;
  uint64_t m = 0;
  for (uint64_t s : sizes) m = s > m ? s : m;
  return m;
}

std::string BlockSizeSpec::check_for(uint32_t block_size, uint64_t capacity_bytes) const {
  if (kind == Kind::kList) {
    for (uint64_t s : sizes) {
      if (s % block_size != 0)
        return format_size(s) + " is not a multiple of the " + std::to_string(block_size) +
               "-byte block size";
      if (s > capacity_bytes)
        return format_size(s) + " is larger than the LUN (" + std::to_string(capacity_bytes) +
               " bytes)";
    }
    return "";
  }
  uint64_t first = (lo + block_size - 1) / block_size * block_size;
  if (first == 0) first = block_size;
  if (first > hi)
    return "no multiple of the " + std::to_string(block_size) + "-byte block size lies in " + text;
  if (first > capacity_bytes)
    return text + " asks for more than the LUN holds (" + std::to_string(capacity_bytes) +
           " bytes)";
  return "";
}

bool parse_block_size_spec(const std::string &text, BlockSizeSpec *out, std::string *error) {
  BlockSizeSpec spec;
  spec.text = text;
  if (text.empty()) {
    *error = "empty block size";
    return false;
  }
  size_t dash = text.find('-');
  if (dash != std::string::npos) {
    if (text.find(',') != std::string::npos) {
      *error = "'" + text + "' mixes a list and a range";
      return false;
    }
    spec.kind = BlockSizeSpec::Kind::kRange;
    if (!parse_size(text.substr(0, dash), &spec.lo, error) ||
        !parse_size(text.substr(dash + 1), &spec.hi, error))
      return false;
    if (spec.lo == 0 || spec.hi < spec.lo) {
      *error = "range '" + text + "' must be LOW-HIGH with 0 < LOW <= HIGH";
      return false;
    }
  } else {
    spec.kind = BlockSizeSpec::Kind::kList;
    spec.sizes.clear();
    size_t start = 0;
    while (true) {
      size_t comma = text.find(',', start);
      std::string item =
          text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      uint64_t v = 0;
      if (!parse_size(item, &v, error)) return false;
      if (v == 0) {
        *error = "a block size of 0";
        return false;
      }
      spec.sizes.push_back(v);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  constexpr uint64_t kMaxIo = 16ull << 20;
  if (spec.max_bytes() > kMaxIo) {
    *error = "'" + text + "' exceeds the largest I/O size, 16m";
    return false;
  }
  *out = spec;
  return true;
}

}  // namespace exerciser
