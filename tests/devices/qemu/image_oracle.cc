#include "image_oracle.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace pvscsi_qemu {

uint64_t ImageOracle::hash(const uint8_t *p, size_t len) {
  // FNV-1a, 64-bit: collisions between the few candidates of one block are not a concern.
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < len; i++) {
    h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

bool ImageOracle::record(const std::string &image, uint64_t offset, const void *data, size_t len,
                         bool keep) {
  if (offset % gran_ != 0 || len % gran_ != 0) {
    return false;
  }
  const uint8_t *p = static_cast<const uint8_t *>(data);
  for (size_t done = 0; done < len; done += gran_) {
    auto &allowed = blocks_[{image, (offset + done) / gran_}];
    if (!keep) {
      allowed.clear();
    }
    allowed.insert(hash(p + done, gran_));
  }
  return true;
}

bool ImageOracle::expect(const std::string &image, uint64_t offset, const void *data, size_t len) {
  return record(image, offset, data, len, false);
}

bool ImageOracle::maybe(const std::string &image, uint64_t offset, const void *data, size_t len) {
  if (offset % gran_ != 0 || len % gran_ != 0) {
    return false;
  }
  // Only blocks with a known previous content can be "old or new"; unknown stays unknown.
  const uint8_t *p = static_cast<const uint8_t *>(data);
  for (size_t done = 0; done < len; done += gran_) {
    auto it = blocks_.find({image, (offset + done) / gran_});
    if (it != blocks_.end()) {
      it->second.insert(hash(p + done, gran_));
    }
  }
  return true;
}

bool ImageOracle::expect_zero(const std::string &image, uint64_t offset, uint64_t len) {
  if (offset % gran_ != 0 || len % gran_ != 0) {
    return false;
  }
  std::vector<uint8_t> zero(gran_, 0);
  for (uint64_t done = 0; done < len; done += gran_) {
    record(image, offset + done, zero.data(), gran_, false);
  }
  return true;
}

std::vector<ImageOracle::Mismatch> ImageOracle::verify(size_t max_reports) const {
  std::vector<Mismatch> out;
  std::vector<uint8_t> buf(gran_);
  std::string open_image;
  int fd = -1;
  for (const auto &[key, allowed] : blocks_) {
    if (out.size() >= max_reports) {
      break;
    }
    const std::string &image = key.first;
    uint64_t offset = key.second * gran_;
    if (image != open_image) {
      if (fd >= 0) {
        close(fd);
      }
      open_image = image;
      fd = open(image.c_str(), O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
      out.push_back({image, offset, "cannot open image: " + std::string(strerror(errno))});
      continue;
    }
    ssize_t n = pread(fd, buf.data(), gran_, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(gran_)) {
      out.push_back({image, offset, "short read from image"});
      continue;
    }
    if (allowed.count(hash(buf.data(), gran_)) == 0) {
      out.push_back(
          {image, offset,
           "block holds none of its " + std::to_string(allowed.size()) + " allowed contents"});
    }
  }
  if (fd >= 0) {
    close(fd);
  }
  return out;
}

}  // namespace pvscsi_qemu
