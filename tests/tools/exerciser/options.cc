#include "options.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>

namespace exerciser {

namespace {

std::string quote(const std::string &s) { return "'" + s + "'"; }

bool parse_bounded(const std::string &v, uint64_t lo, uint64_t hi, uint64_t *out) {
  uint64_t n = 0;
  if (!parse_uint(v, &n) || n < lo || n > hi) return false;
  *out = n;
  return true;
}

std::string range_error(const std::string &opt, const std::string &v, uint64_t lo, uint64_t hi) {
  return opt + ": " + quote(v) + " is not a number " + std::to_string(lo) + ".." +
         std::to_string(hi);
}

// "target=T[,size=S][,block=B][,file=PATH]"
std::string parse_qemu_disk(const std::string &v, QemuDiskOption *d) {
  const std::string opt = "--qemu-disk";
  d->text = v;
  bool have_target = false;
  size_t start = 0;
  while (start <= v.size()) {
    size_t comma = v.find(',', start);
    std::string item =
        v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      return opt + ": " + quote(item) +
             " is not KEY=VALUE (target=T[,size=S][,block=B][,file=PATH])";
    const std::string key = item.substr(0, eq), val = item.substr(eq + 1);
    std::string err;
    if (key == "target") {
      uint64_t t = 0;
      if (!parse_bounded(val, 0, 63, &t)) return opt + ": target " + quote(val) + " is not 0..63";
      d->target = uint32_t(t);
      have_target = true;
    } else if (key == "size") {
      if (!parse_size(val, &d->size, &err)) return opt + ": size: " + err;
      if (d->size == 0) return opt + ": size must not be 0";
    } else if (key == "block") {
      uint64_t b = 0;
      if (!parse_size(val, &b, &err) || (b != 512 && b != 4096))
        return opt + ": block " + quote(val) + " is not 512 or 4096";
      d->block = uint32_t(b);
    } else if (key == "file") {
      if (val.empty()) return opt + ": file= needs a path";
      // A path may contain commas: the rest of the value is the path.
      d->file = v.substr(start + eq + 1);
      break;
    } else {
      return opt + ": unknown key " + quote(key) + " (target, size, block, file)";
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (!have_target) return opt + ": " + quote(v) + " needs target=T";
  return "";
}

std::string parse_targets(const std::string &v, std::vector<uint32_t> *out) {
  out->clear();
  if (v.find(',') == std::string::npos) {
    uint64_t n = 0;
    if (!parse_bounded(v, 1, 64, &n))
      return "--targets: " + quote(v) + " is not a count 1..64 or a list of ids such as 0,3";
    for (uint32_t i = 0; i < n; i++) out->push_back(i);
    return "";
  }
  std::set<uint32_t> seen;
  size_t start = 0;
  while (true) {
    size_t comma = v.find(',', start);
    std::string item =
        v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    uint64_t id = 0;
    if (!parse_bounded(item, 0, 63, &id))
      return "--targets: target id " + quote(item) + " is not 0..63";
    if (!seen.insert(uint32_t(id)).second) return "--targets: target " + item + " is listed twice";
    out->push_back(uint32_t(id));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::sort(out->begin(), out->end());
  return "";
}

bool writable_path(const std::string &path, std::string *why) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      *why = "is a directory";
      return false;
    }
    if (access(path.c_str(), W_OK) != 0) {
      *why = std::strerror(errno);
      return false;
    }
    return true;
  }
  if (errno != ENOENT) {
    *why = std::strerror(errno);
    return false;
  }
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (stat(dir.c_str(), &st) != 0) {
    *why = "directory " + dir + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    *why = dir + " is not a directory";
    return false;
  }
  if (access(dir.c_str(), W_OK) != 0) {
    *why = "directory " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

bool Options::was_given(const std::string &name) const {
  return std::find(given.begin(), given.end(), name) != given.end();
}

std::string find_executable(const std::string &name) {
  if (name.empty()) return "";
  auto is_exec = [](const std::string &p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) return is_exec(name) ? name : "";
  const char *path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (true) {
    size_t colon = p.find(':', start);
    std::string dir =
        p.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    if (is_exec(dir + "/" + name)) return dir + "/" + name;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

std::string parse_options(int argc, const char *const *argv, Options *out) {
  Options o;
  using Handler = std::function<std::string(const std::string &opt, const std::string &v)>;
  struct Spec {
    bool takes_value;
    Handler fn;
  };
  std::map<std::string, Spec> specs;
  auto flag = [&](const std::string &name, std::function<void()> fn) {
    specs[name] = Spec{false, [fn](const std::string &, const std::string &) {
                         fn();
                         return std::string();
                       }};
  };
  auto value = [&](const std::string &name, Handler fn) { specs[name] = Spec{true, fn}; };

  value("--device", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "mock" && v != "qemu") return opt + ": " + quote(v) + " is not mock or qemu";
    o.device = v;
    return "";
  });
  value("--targets",
        [&](const std::string &, const std::string &v) { return parse_targets(v, &o.targets); });
  value("--luns", [&](const std::string &opt, const std::string &v) -> std::string {
    uint64_t n = 0;
    if (!parse_bounded(v, 1, 256, &n)) return range_error(opt, v, 1, 256);
    o.luns = uint32_t(n);
    return "";
  });
  value("--capacity", [&](const std::string &opt, const std::string &v) -> std::string {
    std::string err;
    if (!parse_size(v, &o.capacity, &err)) return opt + ": " + err;
    if (o.capacity == 0) return opt + ": must not be 0";
    if (o.capacity > (1ull << 40)) return opt + ": " + quote(v) + " is more than 1t";
    return "";
  });
  value("--block-size", [&](const std::string &opt, const std::string &v) -> std::string {
    uint64_t b = 0;
    std::string err;
    if (!parse_size(v, &b, &err) || (b != 512 && b != 4096))
      return opt + ": " + quote(v) + " is not 512 or 4096";
    o.block_size = uint32_t(b);
    return "";
  });
  value("--profile", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "vmware" && v != "qemu") return opt + ": " + quote(v) + " is not vmware or qemu";
    o.profile = v;
    return "";
  });
  value("--latency-us", [&](const std::string &opt, const std::string &v) -> std::string {
    if (!parse_bounded(v, 0, 1000000, &o.latency_us)) return range_error(opt, v, 0, 1000000);
    return "";
  });
  value("--intr", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "auto" && v != "fixed" && v != "msi" && v != "msix")
      return opt + ": " + quote(v) + " is not auto, fixed, msi or msix";
    o.intr = v;
    return "";
  });
  value("--sched", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "random" && v != "fair" && v != "pct" && v != "real")
      return opt + ": " + quote(v) + " is not random, fair, pct or real";
    o.sched = v;
    return "";
  });
  value("--sched-seed", [&](const std::string &opt, const std::string &v) -> std::string {
    if (!parse_uint(v, &o.sched_seed))
      return opt + ": " + quote(v) + " is not an unsigned 64-bit number";
    o.sched_seed_given = true;
    return "";
  });
  value("--time-limit", [&](const std::string &opt, const std::string &v) -> std::string {
    if (!parse_bounded(v, 1, 86400, &o.time_limit_s)) return range_error(opt, v, 1, 86400);
    return "";
  });
  value("--qemu-disk", [&](const std::string &, const std::string &v) {
    QemuDiskOption d;
    std::string err = parse_qemu_disk(v, &d);
    if (err.empty()) o.qemu_disks.push_back(d);
    return err;
  });
  value("--qemu-arg", [&](const std::string &, const std::string &v) {
    o.qemu_args.push_back(v);
    return std::string();
  });
  value("--qemu-binary", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v.empty()) return opt + ": empty path";
    o.qemu_binary = v;
    return "";
  });
  value("--driver-conf", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v.empty()) return opt + ": empty path";
    o.driver_conf = v;
    return "";
  });
  value("--ops", [&](const std::string &opt, const std::string &v) -> std::string {
    if (!parse_bounded(v, 1, 1000000000ull, &o.ops)) return range_error(opt, v, 1, 1000000000ull);
    return "";
  });
  value("--seconds", [&](const std::string &opt, const std::string &v) -> std::string {
    char *end = nullptr;
    errno = 0;
    double s = std::strtod(v.c_str(), &end);
    if (v.empty() || end == nullptr || *end != '\0' || errno != 0 || !std::isfinite(s) || s <= 0 ||
        s > 86400)
      return opt + ": " + quote(v) + " is not a number of seconds in (0, 86400]";
    o.seconds = s;
    return "";
  });
  value("--qd", [&](const std::string &opt, const std::string &v) -> std::string {
    uint64_t n = 0;
    if (!parse_bounded(v, 1, 1024, &n)) return range_error(opt, v, 1, 1024);
    o.qd = uint32_t(n);
    return "";
  });
  value("--bs", [&](const std::string &opt, const std::string &v) -> std::string {
    std::string err;
    if (!parse_block_size_spec(v, &o.bs, &err)) return opt + ": " + err;
    return "";
  });
  value("--read-pct", [&](const std::string &opt, const std::string &v) -> std::string {
    uint64_t n = 0;
    if (!parse_bounded(v, 0, 100, &n)) return range_error(opt, v, 0, 100);
    o.read_pct = unsigned(n);
    return "";
  });
  value("--pattern", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "random" && v != "sequential")
      return opt + ": " + quote(v) + " is not random or sequential";
    o.sequential = v == "sequential";
    return "";
  });
  value("--seed", [&](const std::string &opt, const std::string &v) -> std::string {
    if (!parse_uint(v, &o.seed)) return opt + ": " + quote(v) + " is not an unsigned 64-bit number";
    return "";
  });
  flag("--no-verify", [&] { o.verify = false; });
  value("--io-timeout", [&](const std::string &opt, const std::string &v) -> std::string {
    uint64_t n = 0;
    if (!parse_bounded(v, 1, 3600, &n)) return range_error(opt, v, 1, 3600);
    o.io_timeout_s = uint32_t(n);
    return "";
  });
  value("--at", [&](const std::string &opt, const std::string &v) -> std::string {
    Event ev;
    std::string err;
    if (!parse_event(v, &ev, &err)) return opt + ": " + err;
    o.events.push_back(ev);
    return "";
  });
  value("--json", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v.empty()) return opt + ": empty path (use - for stdout)";
    o.json_path = v;
    return "";
  });
  value("--progress", [&](const std::string &opt, const std::string &v) -> std::string {
    if (v != "auto" && v != "always" && v != "never")
      return opt + ": " + quote(v) + " is not auto, always or never";
    o.progress = v;
    return "";
  });
  flag("--no-progress", [&] { o.progress = "never"; });
  flag("--quiet", [&] { o.quiet = true; });
  flag("--console", [&] { o.console = true; });
  flag("--help", [&] { o.help = true; });
  flag("--version", [&] { o.version = true; });

  for (int i = 1; i < argc; i++) {
    std::string arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (arg == "-q") arg = "--quiet";
    std::string name = arg, v;
    bool inline_value = false;
    if (arg.rfind("--", 0) == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        v = arg.substr(eq + 1);
        inline_value = true;
      }
    }
    auto it = specs.find(name);
    if (it == specs.end()) {
      if (arg.rfind("-", 0) == 0) return "unknown option " + quote(name) + " (see --help)";
      return "unexpected argument " + quote(arg) + " (see --help)";
    }
    if (it->second.takes_value) {
      if (!inline_value) {
        if (i + 1 >= argc) return name + ": missing value";
        v = argv[++i];
      }
    } else if (inline_value) {
      return name + ": takes no value";
    }
    std::string err = it->second.fn(name, v);
    if (!err.empty()) return err;
    o.given.push_back(name);
  }
  if (o.was_given("--ops") && o.was_given("--seconds"))
    return "--seconds: give either --ops or --seconds, not both";
  *out = o;
  return "";
}

std::vector<PlannedLun> planned_luns(const Options &o) {
  std::vector<PlannedLun> out;
  if (o.device == "qemu") {
    std::vector<QemuDiskOption> disks = o.qemu_disks;
    std::sort(disks.begin(), disks.end(),
              [](const QemuDiskOption &a, const QemuDiskOption &b) { return a.target < b.target; });
    for (const auto &d : disks) out.push_back({d.target, 0, d.size / d.block, d.block});
    return out;
  }
  for (uint32_t t : o.targets) {
    for (uint32_t l = 0; l < o.luns; l++)
      out.push_back({t, l, o.capacity / o.block_size, o.block_size});
  }
  return out;
}

std::string validate_options(Options *o) {
  const bool qemu = o->device == "qemu";
  static const char *const kMockOnly[] = {"--targets",    "--luns",       "--capacity",
                                          "--block-size", "--profile",    "--latency-us",
                                          "--sched",      "--sched-seed", "--time-limit"};
  static const char *const kQemuOnly[] = {"--qemu-disk", "--qemu-arg", "--qemu-binary"};
  if (qemu) {
    for (const char *name : kMockOnly) {
      if (o->was_given(name) && std::string(name) != "--capacity" &&
          std::string(name) != "--block-size")
        return std::string(name) +
               ": applies to --device mock (describe QEMU disks with --qemu-disk)";
    }
  } else {
    for (const char *name : kQemuOnly) {
      if (o->was_given(name)) return std::string(name) + ": needs --device qemu";
    }
  }

  // QEMU's pvscsi has MSI but no MSI-X: asking for it there is a usage error, not a fallback.
  if (qemu && o->intr == "msix")
    return "--intr: msix is not available with --device qemu (QEMU's pvscsi has no MSI-X; use "
           "auto, fixed or msi)";

  if (o->capacity % o->block_size != 0)
    return "--capacity: " + std::to_string(o->capacity) + " is not a multiple of the " +
           std::to_string(o->block_size) + "-byte block size";

  if (qemu) {
    if (find_executable(o->qemu_binary).empty())
      return "--qemu-binary: " + quote(o->qemu_binary) +
             " not found or not executable (install qemu-system-x86 or give a path)";
    if (o->qemu_disks.empty()) {
      QemuDiskOption d;
      d.target = 0;
      d.size = o->capacity;
      d.block = o->block_size;
      d.text = "target=0";
      o->qemu_disks.push_back(d);
    }
    std::set<uint32_t> seen;
    for (auto &d : o->qemu_disks) {
      if (!seen.insert(d.target).second)
        return "--qemu-disk: target " + std::to_string(d.target) + " is given twice";
      if (!d.file.empty()) {
        struct stat st;
        if (stat(d.file.c_str(), &st) != 0)
          return "--qemu-disk: file " + quote(d.file) + ": " + std::strerror(errno);
        if (!S_ISREG(st.st_mode))
          return "--qemu-disk: file " + quote(d.file) + " is not a regular file";
        if (access(d.file.c_str(), R_OK | W_OK) != 0)
          return "--qemu-disk: file " + quote(d.file) + ": " + std::strerror(errno);
        if (d.size == 0) d.size = uint64_t(st.st_size);
        if (uint64_t(st.st_size) < d.size)
          return "--qemu-disk: file " + quote(d.file) + " holds " + std::to_string(st.st_size) +
                 " bytes, less than size=" + format_size(d.size);
      }
      if (d.size == 0) d.size = o->capacity;
      if (d.size % d.block != 0)
        return "--qemu-disk: " + quote(d.text) + ": size " + std::to_string(d.size) +
               " is not a multiple of the block size " + std::to_string(d.block);
      if (d.size < d.block) return "--qemu-disk: " + quote(d.text) + ": smaller than one block";
    }
  }

  for (const PlannedLun &l : planned_luns(*o)) {
    std::string err = o->bs.check_for(l.block_size, l.blocks * l.block_size);
    if (!err.empty())
      return "--bs: " + err + " (target " + std::to_string(l.target) + " lun " +
             std::to_string(l.lun) + ")";
  }

  std::set<uint32_t> topology;
  for (const PlannedLun &l : planned_luns(*o)) topology.insert(l.target);
  for (const Event &ev : o->events) {
    const std::string where = "--at: " + quote(std::to_string(ev.at) + ":" + ev.text);
    if (qemu && ev.mock_only()) return where + ": needs --device mock";
    if (ev.target >= 0 && topology.count(uint32_t(ev.target)) == 0)
      return where + ": target " + std::to_string(ev.target) + " is not in the topology (" +
             (qemu ? "--qemu-disk" : "--targets") + ")";
    if (o->seconds == 0 && ev.at >= o->ops)
      return where + ": " + std::to_string(ev.at) + " is not below --ops " + std::to_string(o->ops);
  }

  if (!o->driver_conf.empty()) {
    struct stat st;
    if (stat(o->driver_conf.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        access(o->driver_conf.c_str(), R_OK) != 0)
      return "--driver-conf: cannot read " + quote(o->driver_conf);
  }

  if (!o->json_path.empty() && o->json_path != "-") {
    std::string why;
    if (!writable_path(o->json_path, &why))
      return "--json: cannot write " + quote(o->json_path) + ": " + why;
  }
  return "";
}

std::string usage() {
  return R"(usage: pvscsi-exercise [OPTIONS]

Loads the pvscsi driver into the userland illumos kernel, attaches it to a device (the mock
PVSCSI device, or QEMU's pvscsi model), waits for discovery, prints what it found, runs a
verified workload through the target client, detaches, and reports.

Device:
  --device mock|qemu       the device model (default mock)
  --targets N|LIST         mock: N targets 0..N-1, or a list of ids such as 0,3 (default 2)
  --luns N                 mock: LUNs per target, 1..256 (default 1)
  --capacity SIZE          mock: bytes per LUN, e.g. 64m (default 32m); also the default
                           size of a QEMU disk
  --block-size 512|4096    mock: logical block size (default 512); also of the default
                           QEMU disk
  --profile vmware|qemu    mock: device behaviour (default vmware)
  --latency-us N           mock: completion latency of each request (default 0)
  --intr auto|fixed|msi|msix  interrupt types the device offers (default auto: all the
                           device has; mock: FIXED, MSI, MSI-X; qemu: FIXED and MSI, so
                           the driver gets MSI; msix is not available on qemu)
  --qemu-disk target=T[,size=S][,block=B][,file=PATH]
                           qemu: a scsi-hd disk (repeatable; default one 32m disk on target
                           0). A file given is used and kept (it must exist); otherwise the
                           image is temporary
  --qemu-arg ARG           qemu: an extra QEMU argument, passed through (repeatable)
  --qemu-binary PATH       qemu: the QEMU binary (default qemu-system-x86_64 from PATH)
  --driver-conf FILE       driver properties in pvscsi.conf syntax (default: the
                           repository's driver/pvscsi.conf)
  --sched random|fair|pct|real  mock: how the kernel's threads are scheduled (default
                           random): one at a time by a seeded scheduler on the virtual
                           clock, so a seed replays the run (trace digest in the report);
                           real: host threads on the host's clock
  --sched-seed N           mock: the scheduler's seed (default: --seed)
  --time-limit S           mock: the run is hung past S seconds of virtual time (default:
                           4 x --io-timeout + 30 s without a completion)

Workload:
  --ops N                  number of I/Os (default 10000)
  --seconds S              run for S seconds instead of a number of I/Os
  --qd N                   I/Os in flight at once, over all LUNs, 1..1024 (default 16)
  --bs SPEC                I/O size: one size (4k), a list (4k,8k,64k) or a range (512-64k);
                           k/m/g suffixes; multiples of the block size (default 4k)
  --read-pct P             percentage of reads, 0..100 (default 50)
  --pattern random|sequential  access pattern (default random)
  --seed N                 seed of the workload and of the data stamps (default 1)
  --no-verify              do not check the data read back (on by default)
  --io-timeout S           command timeout (pkt_time) in seconds (default 10)

Events (each runs when OPS I/Os have been submitted; repeatable):
  --at OPS:remove-target=T hot-remove target T
  --at OPS:add-target=T    hot-add target T (blank disk on the mock, same image on QEMU)
  --at OPS:reset-device=T  device (target) reset
  --at OPS:reset-bus       bus reset
  --at OPS:reset-adapter   the device resets itself (mock)
  --at OPS:fault=KIND[,target=T][,count=N]
                           mock fault: error, check-condition (the next N requests fail),
                           drop-irq, dup-irq, spurious-irq, bad-cmp-index (the driver
                           must restart the adapter)

Output:
  --json FILE|-            write the JSON report to FILE (- for stdout)
  --quiet, -q              no human-readable output on stdout
  --progress auto|always|never  progress bar on stderr (default auto: when a terminal)
  --no-progress            same as --progress never
  --console                echo the kernel console to stderr
  --help, -h               this text
  --version                the program version

Exit status: 0 all data verified and the kernel clean; 1 a verify failure, an I/O error not
explained by an injected event, a leak or a lock/sync violation; 2 a usage error.
)";
}

}  // namespace exerciser
