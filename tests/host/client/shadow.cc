#include "shadow.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace fk::client {
namespace {

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

ShadowDisk::ShadowDisk(uint32_t target, uint32_t blocks, uint32_t block_size, size_t history,
                       const char *time_unit)
    : target_(target),
      bs_(block_size),
      history_(history),
      unit_(time_unit),
      allowed_(blocks, std::set<uint32_t>{0}),
      busy_(blocks, false),
      hist_(blocks),
      want_(block_size) {}

void ShadowDisk::pattern(uint8_t *p, uint32_t block_size, uint32_t target, uint64_t lba,
                         uint32_t version) {
  if (version == 0) {
    memset(p, 0, block_size);
    return;
  }
  uint64_t s = mix64(uint64_t(version) << 32 ^ lba << 4 ^ target);
  for (uint32_t off = 0; off + 8 <= block_size; off += 8) {
    uint64_t w = mix64(s + off);
    memcpy(p + off, &w, 8);
  }
  memcpy(p, &lba, 8);
  memcpy(p + 8, &version, 4);
  memcpy(p + 12, &target, 4);
}

void ShadowDisk::fill(uint8_t *p, size_t len, uint32_t block_size, uint32_t target, uint64_t lba,
                      uint32_t version) {
  for (size_t off = 0; off + block_size <= len; off += block_size) {
    pattern(p + off, block_size, target, lba + off / block_size, version);
  }
}

bool ShadowDisk::holds(const uint8_t *p, size_t len, uint32_t block_size, uint32_t target,
                       uint64_t lba, uint32_t version) {
  std::vector<uint8_t> want(len);
  fill(want.data(), len, block_size, target, lba, version);
  return len % block_size == 0 && memcmp(want.data(), p, len) == 0;
}

bool ShadowDisk::is_free(uint64_t lba, uint32_t n) const {
  if (lba > busy_.size() || n > busy_.size() - lba) return false;
  for (uint32_t i = 0; i < n; i++)
    if (busy_[lba + i]) return false;
  return true;
}

uint32_t ShadowDisk::begin_write(uint64_t lba, uint32_t n, uint8_t *buf) {
  uint32_t v = ++version_;
  for (uint32_t k = 0; k < n; k++) {
    pattern(buf + size_t(k) * bs_, bs_, target_, lba + k, v);
    busy_[lba + k] = true;
  }
  return v;
}

void ShadowDisk::begin_read(uint64_t lba, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) busy_[lba + k] = true;
}

void ShadowDisk::cancel(uint64_t lba, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) busy_[lba + k] = false;
}

void ShadowDisk::end_write(uint64_t lba, uint32_t n, uint32_t version, bool ok, Op op) {
  op.kind = 'W';
  op.version = version;
  for (uint32_t k = 0; k < n; k++) {
    busy_[lba + k] = false;
    if (ok)
      allowed_[lba + k] = {version};  // acknowledged: the one version the block may hold
    else
      allowed_[lba + k].insert(version);  // it may or may not have reached the disk
    record(lba + k, op);
  }
}

unsigned ShadowDisk::end_read(uint64_t lba, uint32_t n, const uint8_t *buf, bool ok, Op op) {
  op.kind = 'R';
  unsigned bad = 0;
  for (uint32_t k = 0; k < n; k++) {
    busy_[lba + k] = false;
    op.version = ~0u;
    if (ok) {
      op.version = check_block(lba + k, buf + size_t(k) * bs_, op);
      bad += op.version == ~0u;
    }
    record(lba + k, op);
  }
  return bad;
}

// The version block lba holds, which is known again (no command overlaps it); ~0u when the data
// matches none of the versions allowed.
uint32_t ShadowDisk::check_block(uint64_t lba, const uint8_t *got, const Op &op) {
  std::set<uint32_t> &allowed = allowed_[lba];
  checked_++;
  for (uint32_t v : allowed) {
    pattern(want_.data(), bs_, target_, lba, v);
    if (memcmp(want_.data(), got, bs_) == 0) {
      allowed = {v};
      return v;
    }
  }
  failures_++;
  uint64_t stamp_lba;
  uint32_t stamp_v, stamp_t;
  memcpy(&stamp_lba, got, 8);
  memcpy(&stamp_v, got + 8, 4);
  memcpy(&stamp_t, got + 12, 4);
  char msg[256];
  snprintf(msg, sizeof msg,
           "target %u lba %" PRIu64 " at %" PRId64
           " %s: read data matches none of %zu allowed "
           "versions (its stamp says: target %u lba %" PRIu64 " version %u)",
           target_, lba, op.end, unit_, allowed.size(), stamp_t, stamp_lba, stamp_v);
  last_failure_ = msg;
  if (!first_failure_.empty()) return ~0u;
  std::string s = msg;
  s += "\n  allowed:";
  for (uint32_t v : allowed) s += " " + std::to_string(v);
  snprintf(
      msg, sizeof msg,
      "\n  history (%s; kind, version written or read, reason, status, events before):", unit_);
  s += msg;
  for (const Op &o : hist_[lba]) {
    snprintf(msg, sizeof msg,
             "\n    %" PRId64 "..%" PRId64 " %c v=%d reason=%u status=0x%x after event %" PRIu64,
             o.start, o.end, o.kind, int(o.version), o.reason, o.status, o.event);
    s += msg;
  }
  first_failure_ = s;
  return ~0u;
}

void ShadowDisk::record(uint64_t lba, const Op &op) {
  if (history_ == 0) return;
  std::deque<Op> &h = hist_[lba];
  if (h.size() == history_) h.pop_front();
  h.push_back(op);
}

}  // namespace fk::client
