#include "mock_config.h"

#include <cerrno>
#include <cstdlib>
#include <set>

namespace pvscsi_mock {

Config Config::vmware() {
  Config c;
  c.profile = Profile::kVmware;
  c.max_targets = 16;
  c.io_bar = true;
  c.intr_types = 0x1 | 0x2 | 0x4;
  c.msix_vectors = 1;
  c.config_supported = true;
  c.req_call_threshold_supported = true;
  c.get_max_targets_supported = false;
  c.msg_ring_supported = true;
  c.device_unplug_supported = true;
  c.poll_while_busy = true;
  c.threshold_policy = ThresholdPolicy::kAdaptive;
  c.report_data_len = true;
  c.short_transfer_datarun = false;
  c.flat_lun_addressing = true;
  c.coalesce_ns = 10'000;
  return c;
}

Config Config::qemu() {
  Config c;
  c.profile = Profile::kQemu;
  c.max_targets = 64;
  c.io_bar = false;
  c.intr_types = 0x1 | 0x2;
  c.msix_vectors = 0;
  c.config_supported = false;
  c.config_fails_after_data = true;
  c.msg_ring_status_is_dwords = true;
  c.req_call_threshold_supported = false;
  c.get_max_targets_supported = false;
  c.msg_ring_supported = true;
  c.device_unplug_supported = false;
  c.poll_while_busy = false;
  c.threshold_policy = ThresholdPolicy::kOne;
  c.report_data_len = false;
  c.short_transfer_datarun = true;
  c.flat_lun_addressing = false;
  c.coalesce_ns = 0;
  return c;
}

bool Config::from_name(const std::string &name, Config *out) {
  if (name == "vmware") {
    *out = vmware();
    return true;
  }
  if (name == "qemu") {
    *out = qemu();
    return true;
  }
  return false;
}

namespace {

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) {
      return out;
    }
    start = p + 1;
  }
}

// A decimal number with no sign, no spaces, below `max`.
bool parse_uint(const std::string &s, uint64_t max, uint64_t *v) {
  if (s.empty() || s.size() > 20 || s.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  errno = 0;
  unsigned long long x = std::strtoull(s.c_str(), nullptr, 10);
  if (errno != 0 || x > max) {
    return false;
  }
  *v = x;
  return true;
}

}  // namespace

bool Config::parse_topology(const std::string &spec, std::vector<TargetSpec> *out,
                            std::string *error) {
  std::vector<TargetSpec> targets;
  std::set<uint64_t> ids;
  auto fail = [&](const std::string &piece, const std::string &why) {
    *error = "topology '" + piece + "': " + why +
             " (expected TARGET:LUN=SIZE[/512|/4096],... separated by ';', e.g. "
             "\"0:0=1G,1=64M/4096;2:0=cdrom\")";
    return false;
  };
  if (spec.empty()) {
    return fail(spec, "empty");
  }
  for (const std::string &tpart : split(spec, ';')) {
    const size_t colon = tpart.find(':');
    uint64_t tid;
    if (colon == std::string::npos || !parse_uint(tpart.substr(0, colon), 255, &tid)) {
      return fail(tpart, "target must be a number 0..255 followed by ':'");
    }
    if (!ids.insert(tid).second) {
      return fail(tpart, "target " + std::to_string(tid) + " given twice");
    }
    TargetSpec t;
    t.id = uint32_t(tid);
    t.luns.clear();
    std::set<uint64_t> luns;
    for (const std::string &lpart : split(tpart.substr(colon + 1), ',')) {
      const size_t eq = lpart.find('=');
      uint64_t lun;
      if (eq == std::string::npos || !parse_uint(lpart.substr(0, eq), 0x3FFF, &lun)) {
        return fail(lpart, "LUN must be a number 0..16383 followed by '='");
      }
      if (!luns.insert(lun).second) {
        return fail(lpart, "LUN " + std::to_string(lun) + " given twice");
      }
      LunSpec l;
      l.lun = uint16_t(lun);
      std::string size = lpart.substr(eq + 1);
      if (size == "cdrom") {
        l.kind = LunKind::kCdrom;
        t.luns.push_back(l);
        continue;
      }
      const size_t slash = size.find('/');
      if (slash != std::string::npos) {
        const std::string bs = size.substr(slash + 1);
        if (bs != "512" && bs != "4096") {
          return fail(lpart, "block size must be 512 or 4096");
        }
        l.block_size = bs == "512" ? 512 : 4096;
        size = size.substr(0, slash);
      }
      uint64_t mult = 1;
      if (!size.empty()) {
        switch (size.back()) {
          case 'K':
          case 'k':
            mult = 1ull << 10;
            break;
          case 'M':
          case 'm':
            mult = 1ull << 20;
            break;
          case 'G':
          case 'g':
            mult = 1ull << 30;
            break;
          case 'T':
          case 't':
            mult = 1ull << 40;
            break;
          default:
            break;
        }
        if (mult != 1) {
          size.pop_back();
        }
      }
      uint64_t n;
      if (!parse_uint(size, (1ull << 50) / mult, &n) || n * mult < l.block_size ||
          (n * mult) % l.block_size != 0) {
        return fail(lpart, "size must be a whole number of blocks (at least one), up to 1P");
      }
      l.blocks = n * mult / l.block_size;
      t.luns.push_back(l);
    }
    targets.push_back(t);
  }
  *out = targets;
  return true;
}

}  // namespace pvscsi_mock
