// What the runner needs from the system under test: asynchronous block I/O to a fixed list of
// LUNs, whether each LUN is online, and the events. The real one (kernel_backend.h) is the
// userland kernel + pvscsi + a device + the target client; tests use an in-memory one.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "events.h"

namespace exerciser {

struct IoResult {
  bool ok = false;
  std::string kind;    // one of error_kinds() when !ok
  std::string detail;  // one line, e.g. "pkt_reason CMD_TIMEOUT" or the sense data
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Whether I/O to the LUN (index into the runner's LUN list) can be submitted now.
  virtual bool lun_online(size_t lun_index) = 0;
  // Starts one I/O of `blocks` blocks at `lba`. For a write `data` holds the bytes; for a read
  // it receives them. `data` stays valid until `done` has been called. `done` may run on any
  // thread, also before submit() returns, and exactly once.
  virtual void submit(size_t lun_index, bool write, uint64_t lba, uint32_t blocks, uint8_t *data,
                      std::function<void(const IoResult &)> done) = 0;
  // Delivers finished I/O whose `done` has not run yet, waiting up to max_wait for some. Only
  // backends that deliver completions on the caller's thread need it (the runner calls it
  // whenever it waits); those that call `done` from their own threads can ignore it.
  virtual void pump(std::chrono::milliseconds max_wait) { (void)max_wait; }
  // Whether every completion callback runs inside pump() (on the runner's thread): the runner
  // then never waits for one on its own.
  virtual bool callbacks_in_pump() const { return false; }
  // Runs an event (blocking until it has taken effect, e.g. until hot-added LUNs are online).
  // I/O already submitted keeps running meanwhile. Returns "" or what went wrong.
  virtual std::string run_event(const Event &ev) = 0;
  // After add-target: true when the target's disks come back blank (the mock), false when they
  // keep their data (a QEMU image).
  virtual bool readded_disks_blank() const = 0;
};

}  // namespace exerciser
