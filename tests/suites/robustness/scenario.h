// The hostile-device scenario shared by the libFuzzer target, the corpus replay and the seed
// generator: one input is one life of an HBA - boot the userland kernel, attach pvscsi to a
// HostileDevice, play the bytes as a sequence of submissions and hostile device acts, let
// everything finish, detach, unload, shut down - and check the invariants (no crash or
// out-of-bounds access: the sanitizers; every packet completed exactly once and no lock, sync or
// bookkeeping violation: the kernel's and the framework's checkers; no leak after detach).
// Host-side test code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace robust {

struct ScenarioResult {
  bool attached = false;
  uint64_t ops = 0;                   // operations played
  uint64_t submitted = 0;             // packets given to the client
  uint64_t completed = 0;             // completions the client saw
  std::vector<std::string> findings;  // invariant failures (empty: all held)
  // The input overwrote an index only the driver writes (reqProdIdx, cmpConsIdx, msgConsIdx):
  // the device was told of ring entries the driver never published, so its DMA from then on may
  // go anywhere, and device access to unbound memory is not counted as a driver finding.
  bool forged_driver_index = false;
};

// Plays one input. Never throws; the caller decides what a finding means (the fuzzer aborts).
ScenarioResult run_scenario(const uint8_t *data, size_t size);

// A planted defect, to prove that every way a finding is reported prints the command that
// replays it (test_replay_lines.py): with ROBUST_PLANT=leak|crash|hang in the environment, an
// input that contains the bytes "PLNT" leaks kmem, uses freed kmem or never returns. The seed
// corpus holds no such input; the fuzzer and CI never set the variable. A replay command
// carries the variable when it is set.
inline constexpr const char *kPlantEnv = "ROBUST_PLANT";
inline constexpr const char *kPlantMark = "PLNT";

// A word for sh, single-quoted unless it is plain: for printing replay commands.
std::string shell_quote(const std::string &s);

// The operations an input byte selects (documented for seed writers).
enum Op : uint8_t {
  kOpRead = 0,       // lba, nblocks-1: asynchronous READ on the queue
  kOpWrite,          // lba, nblocks-1: asynchronous WRITE
  kOpPolledRead,     // lba: FLAG_NOINTR READ (pkt_time 2 s)
  kOpRingsState,     // offset, len(1..8), bytes: raw write into the RingsState page
  kOpCmpEntry,       // index, ctx-sel, host lo/hi, scsi lo, bump: forge a completion
  kOpMsgEntry,       // index, type-sel, target, lun, bump: forge a message
  kOpCommandStatus,  // 4 bytes: the next COMMAND_STATUS read returns them
  kOpInterrupt,      // sel: spurious status bits or a raw MSI/INTx notification
  kOpMockFault,      // sel, arg: one of the mock's fault injections
  kOpAdvance,        // lo, hi: advance the virtual clock by (lo | hi << 8) * 2 ms
  kOpReset,          // level: scsi_reset(9F) RESET_LUN/TARGET/ALL
  kOpAbort,          // scsi_abort(9F) of every packet of the LUN
  kOpPoll,           // run the client's finished callbacks
  kOpHotplug,        // sel, target: add/remove a target or LUN
  kOpCount,
};

}  // namespace robust
