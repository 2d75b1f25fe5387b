// Test-facing interface of the userland SCSA framework (fk_scsa): what a test, the target
// client or the exerciser uses beside the illumos interfaces in <sys/scsi/scsi.h>. Host-side
// C++ (standard library allowed).
#pragma once

#include <sys/scsi/scsi.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fk::scsa {

// Configure the iports an attached HBA registered with scsi_hba_iport_register(9F): create
// each iport node and attach it through the HBA driver's dev_ops, as bus_config would. Called
// by tests after the HBA node attached. Returns DDI_SUCCESS when every iport attached.
int config_iports(dev_info_t *hba_dip);
// Detach and remove the HBA's iport nodes (the iport detach destroys its target map, which
// offlines its LUNs). Returns DDI_FAILURE when an iport refused to detach.
int unconfig_iports(dev_info_t *hba_dip);

// One configured (online) LUN.
struct LunInfo {
  std::string target;        // target address as the HBA reported it to the target map
  uint64_t lun;              // scsi_lun64_t
  std::string unit_address;  // scsi_device_unit_address(9F)
  scsi_device *sd;
  dev_info_t *dip;
};
// The online LUNs below an HBA or iport node (all iports when given the HBA), sorted.
std::vector<LunInfo> luns(dev_info_t *dip);

// True while any target map has reports waiting for their settle time, or discovery work
// (activation, REPORT LUNS, INQUIRY, rescans) queued or running.
bool busy();
// Wait until busy() is false, driving the kernel's virtual clock (firing the next pending
// event whenever the framework is waiting on time) and yielding while work runs. False if
// still busy after max_real_ms of real time.
bool settle(int64_t max_real_ms = 30000);
// For code waiting on I/O that may need the virtual clock: fire the next pending event if the
// waiter has seen no progress for stalled_us of real time - 200 us when the event is near (within
// 100 ms of virtual time), 20 ms when it is far (a driver timeout should not overtake a device
// thread that is merely slow), and 100 ms while fk::kernel_runnable() (a kernel thread the host
// has not run yet). True when an event fired.
bool advance_if_stalled(int64_t stalled_us);
// A counter that moves whenever a packet completes or discovery finishes a pass: waiters use it
// to tell "stalled" from "slow".
uint64_t progress();
// Watches progress() while a waiter waits; when nothing has moved for a while, moves the virtual
// clock (advance_if_stalled). step() returns true when it fired a clock event.
// Real-thread mode: sleep us of real time (let slow threads run). Deterministic mode: nothing
// (a StallWatch step lets every other thread run first).
void stall_pause(int64_t us);
struct StallWatch {
  uint64_t last = progress();
  std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  bool step();
};
// Number of discovery passes completed so far (activations, deactivations and rescans); a
// test can wait for it to move.
uint64_t discovery_generation();

// A target driver (the role of sd): told when a LUN goes online and, before the framework
// frees its scsi_device, offline. offline() must not return while it still uses the device.
class TargetDriver {
 public:
  virtual ~TargetDriver() = default;
  virtual void lun_online(const LunInfo &lun) = 0;
  virtual void lun_offline(const LunInfo &lun) = 0;
};
void register_target_driver(TargetDriver *drv);
void unregister_target_driver(TargetDriver *drv);

// The bookkeeping checks.
enum class Check {
  kDoubleCompletion,        // scsi_hba_pkt_comp on a packet already completed
  kNotCompletedAtDetach,    // a packet still in transport when its HBA/iport/LUN went away
  kCompletionWithLockHeld,  // pkt_comp reached with a kernel mutex held by the caller
  kSyncCompletionAccepted,  // completed inside tran_start, then TRAN_ACCEPT (interrupt pkt)
  kNeverSubmitted,          // completion of a packet the framework never transported
  kCompletionAfterReject,   // completed inside tran_start, then TRAN_BUSY/BADPKT/FATAL
  kMisuse,                  // any other contract violation (bad arguments, missing vectors)
};
const char *check_name(Check c);
struct Violation {
  Check check;
  std::string what;
};
// Every violation is also reported to the kernel (fk::report_violation); these let a test
// see which check fired.
std::vector<Violation> violations();
size_t violation_count(Check c);
void clear_violations();

// Counters for tests and the exerciser.
struct Stats {
  uint64_t pkts_allocated;  // live scsi_pkt allocations
  uint64_t transports;      // scsi_transport calls
  uint64_t accepted;        // ... that returned TRAN_ACCEPT
  uint64_t busy;            // ... that returned TRAN_BUSY
  uint64_t completions;     // scsi_hba_pkt_comp calls
  uint64_t rescans;         // LUN rescans (scan_luns or LUN-change unit attention)
  uint64_t lun_change_uas;  // REPORTED LUNS DATA HAS CHANGED seen in ARQ sense
  uint64_t luns_online;     // currently online LUNs
  uint64_t scsi_devices;    // live scsi_device structures
  uint64_t trans;           // live scsi_hba_tran structures
};
Stats stats();
// FLAG_NOINTR packets scsi_transport sent interrupt-driven and waited for (an ordinary thread,
// not dumping), as illumos does.
uint64_t nointr_converted();
// Target activations whose configuration failed (LUN 0 could not be configured): each was
// dropped from its map and reported to the deactivate callback with SCSI_TGT_DEACT_RSN_CFG_FAIL.
uint64_t config_failures();

// Dump mode: as illumos while it writes a crash dump (do_polled_io). scsi_transport hands every
// packet to the HBA with FLAG_NOINTR (a packet without it is sent polled and its completion
// routine called on return); scsi_poll busy-waits. Off by default; a test turns it on to run
// the HBA's polled path from an ordinary thread.
void set_dump_mode(bool on);
bool dump_mode();

// Forget every transport, iport, map and packet the framework knows (without calling the
// HBA): for a test's set-up after an earlier test failed half-way. Not for normal teardown.
void reset_state();

}  // namespace fk::scsa
