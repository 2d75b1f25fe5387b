// Configuration of the mock PVSCSI device: a profile ("vmware" or "qemu") that fills in every
// knob, each of which can then be changed on its own before the device is constructed.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scsi_target.h"

namespace pvscsi_mock {

enum class Profile { kVmware, kQemu };

// How the device publishes RingsState.reqCallThreshold once the driver enables it with
// SETUP_REQCALLTHRESHOLD.
enum class ThresholdPolicy {
  kOne,       // always 1: every request is kicked
  kAdaptive,  // threshold_busy while at least busy_outstanding requests are in the device and the
              // device is polling; threshold_idle otherwise (the device polls while it is higher
              // than 1, so a request below the threshold is never stranded)
};

// One SCSI target and its LUNs.
struct TargetSpec {
  uint32_t id = 0;
  std::vector<LunSpec> luns{LunSpec{}};
};

struct Config {
  // A complete configuration for a profile.
  static Config vmware();
  static Config qemu();
  static Config for_profile(Profile p) { return p == Profile::kVmware ? vmware() : qemu(); }
  // "vmware" or "qemu"; false for anything else (out untouched).
  static bool from_name(const std::string &name, Config *out);

  // Parses a topology for command lines (the exerciser): targets separated by ';', each
  // "TARGET:LUN=SIZE[/BLOCK],LUN=..." where SIZE is bytes with an optional K/M/G/T suffix (a
  // whole number of blocks) and BLOCK is 512 (default) or 4096, or "cdrom". Example:
  // "0:0=1G,1=64M/4096;2:0=cdrom". On error returns false, leaves out untouched and says why
  // in *error (one line naming the offending piece).
  static bool parse_topology(const std::string &spec, std::vector<TargetSpec> *out,
                             std::string *error);

  Profile profile = Profile::kVmware;

  // Topology. Default: target 0 with one 1 MiB disk (2048 x 512) at LUN 0.
  std::vector<TargetSpec> targets{TargetSpec{}};
  // Target IDs accepted are 0 .. max_targets - 1; reported by CONFIG (numPhys) and
  // GET_MAX_TARGETS.
  uint32_t max_targets = 16;

  // PCI layout: with io_bar, BAR0 is an 8-byte I/O BAR and the register BAR is BAR1 (as on
  // VMware); without it the register BAR is BAR0 (as in QEMU).
  bool io_bar = true;

  // Interrupt types offered (fk::IntrTypeBits) and MSI-X vector count.
  int intr_types = 0x1 | 0x2 | 0x4;
  unsigned msix_vectors = 1;

  // Optional commands (unsupported ones answer COMMAND_STATUS -1 at once).
  bool config_supported = true;
  bool req_call_threshold_supported = true;
  bool get_max_targets_supported = false;  // FreeBSD's command 11: VMware answers -1 too
  bool msg_ring_supported = true;
  bool device_unplug_supported = false;
  // QEMU 7.2's answers: CONFIG looks supported to the probe (-2 after its code) but fails
  // (-1) once its descriptor is written; SETUP_MSG_RING succeeds with status 34 (its dword
  // count) instead of 0.
  bool config_fails_after_data = false;
  bool msg_ring_status_is_dwords = false;

  // Request processing: with poll_while_busy the device polls the request ring while requests
  // are in the device (VMware), every poll_interval_ns (backing off when idle polls find
  // nothing); otherwise only kicks start it (QEMU).
  bool poll_while_busy = true;
  int64_t poll_interval_ns = 50'000;
  // A poll that finds no new request doubles the interval, up to this.
  int64_t poll_max_interval_ns = 1'000'000;
  ThresholdPolicy threshold_policy = ThresholdPolicy::kAdaptive;
  uint32_t threshold_idle = 1;
  uint32_t threshold_busy = 8;
  uint32_t busy_outstanding = 4;

  // Completions: with report_data_len the completion dataLen is the bytes moved (VMware), else
  // always 0 (QEMU). With short_transfer_datarun a transfer shorter than dataLen completes with
  // host status DATARUN and GOOD (QEMU); a transfer longer than dataLen is DATARUN either way.
  bool report_data_len = true;
  bool short_transfer_datarun = false;

  // LUN addressing: with flat_lun_addressing LUNs 256.. are reachable (lun[0] = 0x40 | hi);
  // without it any byte but lun[1] set gives SELTIMEO (QEMU).
  bool flat_lun_addressing = true;
  // With peripheral_bus_luns LUNs 256..16383 are reported and addressed in peripheral device
  // addressing with a bus identifier instead (lun[0] = hi, lun[1] = lo).
  bool peripheral_bus_luns = false;

  // Bounds on what the driver may ask for: SG elements in one list (flat, one page) and bytes in
  // one request (larger: INVPARAM).
  uint32_t max_sg_elements = 128;
  uint64_t max_transfer = 32ull << 20;

  // Latency of every request: latency_ns plus a uniformly random 0..latency_jitter_ns (seeded),
  // or per_target_latency_ns[target] instead of latency_ns when present. 0: complete inside the
  // kick.
  int64_t latency_ns = 0;
  int64_t latency_jitter_ns = 0;
  std::map<uint32_t, int64_t> per_target_latency_ns;
  uint64_t seed = 1;

  // Completion batching: hold due completions until completion_batch of them are due (or every
  // request in the device is due), and raise the completion interrupt at most once per
  // coalesce_ns (0: at the end of each pass). With reorder, each batch completes in a random
  // (seeded) order instead of due order.
  unsigned completion_batch = 1;
  int64_t coalesce_ns = 0;
  bool reorder = false;

  // Every LUN starts with a POWER ON, RESET unit attention pending.
  bool power_on_unit_attention = true;
};

}  // namespace pvscsi_mock
