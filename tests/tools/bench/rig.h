// The benchmark rig: the userland kernel booted with the driver loaded, one HBA on a device
// backend (the mock or QEMU), its LUNs discovered, and a 4 KiB random I/O workload through the
// target client. Host-side code.
#pragma once

#include <sys/types.h>
#include <sys/sunddi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "client.h"
#include "device.h"
#include "fk.h"

namespace pvbench {

class Rig {
 public:
  // Boots the kernel (ko) and loads the driver with driver/pvscsi.conf plus `props` (integer
  // properties set on the node before attach, e.g. pvscsi-use-request-threshold=0).
  Rig(const fk::Options &ko, fk::DeviceBackend *dev, const std::map<std::string, int> &props = {});
  ~Rig();  // detaches, unloads, shuts down
  Rig(const Rig &) = delete;
  Rig &operator=(const Rig &) = delete;

  bool ok() const { return ok_; }
  const std::string &error() const { return error_; }
  dev_info_t *dip() const { return dip_; }
  // Online LUNs, sorted (target, lun).
  const std::vector<fk::client::LunRef> &luns() const { return luns_; }
  uint64_t stat(const std::string &name) const;

 private:
  bool ok_ = false;
  std::string error_;
  dev_info_t *dip_ = nullptr;
  bool attached_ = false;
  std::vector<fk::client::LunRef> luns_;
};

struct Workload {
  unsigned qd = 1;
  uint64_t ios = 1000;
  unsigned write_percent = 0;  // 0: reads only, 100: writes only
  uint32_t io_bytes = 4096;
  uint32_t block_size = 512;
  uint64_t disk_blocks = 1 << 17;  // LBAs are drawn from [0, disk_blocks - io blocks]
  uint64_t seed = 1;
  // Data buffers start on this boundary (block-layer buffers are page or sector aligned);
  // 0: wherever kmem_alloc puts them.
  uint32_t buf_align = 4096;
  // Latency from the driver's pvscsi__submit probe to its pvscsi__complete probe (the driver's
  // own view: a request stranded without a doorbell shows here), instead of submit() to the
  // client's callback (which, on the virtual clock, also counts clock jumps the client makes
  // while a finished command waits for its callback). Installs the kernel's SDT hook: one
  // workload at a time.
  bool driver_latency = true;
  // Called every 2 ms (host time) from a monitor thread while the workload runs (tracing).
  std::function<void()> monitor;
  fk::client::IoOptions io;
};

struct WorkloadResult {
  uint64_t ios = 0, errors = 0, busy_retries = 0;
  double seconds = 0;  // host wall time
  // Per-I/O latency on the kernel clock (virtual or real), ns (see driver_latency).
  double mean_lat_ns = 0, p50_lat_ns = 0, p99_lat_ns = 0, max_lat_ns = 0;
  uint64_t stalls_10ms = 0;  // commands slower than 10 ms
};

// Runs the workload on one LUN from the calling thread (buffers from the kernel arena, one per
// slot, reused only once their command completed).
WorkloadResult run_workload(scsi_device *sd, const Workload &w);

// The host thread id that last ran the driver's pvscsi__complete probe (tracing), and the
// scheduler state of a thread of this process ('R', 'S', ...; '?' if unknown).
long last_completion_tid();
char thread_state(long tid);

// Host wall clock in seconds.
double wall_seconds();

}  // namespace pvbench
