// The real system under test: the userland illumos kernel (tests/host/kernel) with the pvscsi
// driver loaded, attached to a device (the mock, or QEMU's pvscsi), and the target client
// (tests/host/client) issuing the I/O - one client queue per LUN.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "expected.h"
#include "options.h"
#include "report.h"

namespace exerciser {

class KernelBackend : public Backend {
 public:
  explicit KernelBackend(const Options &opts);
  ~KernelBackend() override;

  // Boots the kernel, creates the device, loads and attaches pvscsi, waits for discovery and
  // opens a queue per planned LUN. "" or a one-line error.
  std::string start();
  // What discovery found (all LUNs) and the driver's configuration.
  const std::vector<DiscoveredLun> &discovered() const { return discovered_; }
  const DriverInfo &driver_info() const { return driver_; }
  // The LUNs the workload uses (the planned ones, with the geometry the driver reported).
  const std::vector<LunGeometry> &workload_luns() const { return luns_; }
  bool initially_zero() const;

  // The driver's counters (kstats) now.
  struct Snapshot {
    uint64_t doorbells = 0, interrupts = 0, hotplug_events = 0, resets = 0;
    uint64_t register_reads = 0, register_writes = 0;
    uint64_t device_values_rejected = 0;  // the driver's "bogus" kstat
  };
  Snapshot snapshot();

  // Closes the queues, detaches the driver, unloads it, shuts the kernel down and stops the
  // device; fills the leak and violation fields.
  void finish(Report *report);
  // After hung I/O: stop the device (QEMU) and leave the kernel as it is; the process exits.
  void abandon();
  // Deterministic mode: fn(verdict) runs when the run is found stuck or hung (nothing can
  // happen any more, or the virtual clock passed its limit); the process ends after it.
  void on_fatal(std::function<void(const std::string &verdict)> fn);

  // Backend
  bool lun_online(size_t i) override;
  void submit(size_t lun_index, bool write, uint64_t lba, uint32_t blocks, uint8_t *data,
              std::function<void(const IoResult &)> done) override;
  void pump(std::chrono::milliseconds max_wait) override;
  bool callbacks_in_pump() const override { return true; }
  std::string run_event(const Event &ev) override;
  bool readded_disks_blank() const override;

  struct Impl;

 private:
  void pump_deterministic();
  void record_sched(Report *report) const;

  std::unique_ptr<Impl> impl_;
  const Options &opts_;
  std::vector<DiscoveredLun> discovered_;
  DriverInfo driver_;
  std::vector<LunGeometry> luns_;
};

}  // namespace exerciser
