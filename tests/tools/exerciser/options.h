// Command-line options of pvscsi-exercise: parsing, validation and --help. Every problem is one
// line naming the argument; the caller prints it and exits with status 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "events.h"
#include "sizes.h"

namespace exerciser {

constexpr int kExitVerified = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct QemuDiskOption {
  uint32_t target = 0;
  uint64_t size = 0;  // 0: from the file, or the default
  uint32_t block = 512;
  std::string file;  // empty: a temporary image
  std::string text;  // as given
};

struct Options {
  // Device.
  std::string device = "mock";  // "mock" or "qemu"
  std::vector<uint32_t> targets{0, 1};
  uint32_t luns = 1;
  uint64_t capacity = 32ull << 20;  // bytes per LUN
  uint32_t block_size = 512;
  std::string profile = "vmware";
  uint64_t latency_us = 0;    // mock request latency
  std::string intr = "auto";  // auto, fixed, msi, msix (mock)
  std::vector<QemuDiskOption> qemu_disks;
  std::vector<std::string> qemu_args;
  std::string qemu_binary = "qemu-system-x86_64";
  std::string driver_conf;  // driver.conf-style properties; "" = the repository's pvscsi.conf
  // Threads (mock): "random", "fair", "pct" - deterministic simulation under that scheduling
  // policy on the virtual clock; "real" - host threads on the host's clock (QEMU: always real).
  std::string sched = "random";
  uint64_t sched_seed = 0;  // 0 with sched_seed_given false: from --seed
  bool sched_seed_given = false;
  // Deterministic mode: the whole run (attach to detach) may use at most this many seconds of
  // virtual time, else it is hung (fatal, with every thread's story). 0: a hang budget past the
  // latest completion instead (4 x --io-timeout + 30 s).
  uint64_t time_limit_s = 0;

  // Workload.
  uint64_t ops = 10000;  // when seconds == 0
  double seconds = 0;
  uint32_t qd = 16;
  BlockSizeSpec bs;
  unsigned read_pct = 50;
  bool sequential = false;
  uint64_t seed = 1;
  bool verify = true;
  uint32_t io_timeout_s = 10;  // pkt_time of every command
  std::vector<Event> events;

  // Output.
  std::string json_path;          // "" none, "-" stdout
  bool quiet = false;             // no human-readable output on stdout
  std::string progress = "auto";  // auto (stderr is a terminal), always, never
  bool console = false;           // echo the kernel console to stderr

  bool help = false;
  bool version = false;

  // Set by parse: which options were given (for cross-checks).
  std::vector<std::string> given;
  bool was_given(const std::string &name) const;
};

// Parses argv[1..argc). Returns "" on success, else a one-line message naming the argument.
std::string parse_options(int argc, const char *const *argv, Options *out);
// Checks that need the file system or the combination of options (QEMU binary and disk files,
// JSON path, sizes against block sizes and capacities, events against the topology).
std::string validate_options(Options *opts);
// The geometry each LUN will have (mock: from the topology options; QEMU: from the disks).
struct PlannedLun {
  uint32_t target;
  uint64_t lun;
  uint64_t blocks;
  uint32_t block_size;
};
std::vector<PlannedLun> planned_luns(const Options &opts);

std::string usage();

// Finds an executable by name in PATH (or checks a path containing '/'); "" when not found.
std::string find_executable(const std::string &name);

}  // namespace exerciser
