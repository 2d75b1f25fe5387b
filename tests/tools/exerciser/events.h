// Events during a run (--at OPS:ACTION): hot remove/add of a target, device/bus/adapter reset,
// and fault injection on the mock. The runner consults the schedule before submitting each op:
// every event whose OPS equals the number of ops submitted so far runs first, in the order given
// on the command line.
//
// ACTION is one of:
//   remove-target=T        hot-remove target T (its LUNs go offline; their I/O is skipped)
//   add-target=T           hot-add target T (a blank disk on the mock; the same image on QEMU)
//                          and wait until its LUNs are online again
//   reset-device=T         scsi_reset(9F) RESET_TARGET on target T
//   reset-bus              scsi_reset(9F) RESET_ALL
//   reset-adapter          the device resets itself (mock only); the driver must restart it
//   fault=KIND[,target=T][,count=N]   mock only; KIND is one of
//       error              the next N requests (to T) fail with host status HAHARDWARE
//       check-condition    the next N requests (to T) fail with CHECK CONDITION, HARDWARE ERROR
//       drop-irq           the next N interrupts are not delivered (the watchdog recovers)
//       dup-irq            the next N interrupts are delivered twice
//       spurious-irq       N interrupts with no work
//       bad-cmp-index      the completion producer index jumps beyond the ring once: the driver
//                          must distrust it and restart the adapter (waited for, like
//                          reset-adapter)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace exerciser {

struct Event {
  enum class Kind {
    kRemoveTarget,
    kAddTarget,
    kResetDevice,
    kResetBus,
    kResetAdapter,
    kFaultError,
    kFaultCheckCondition,
    kFaultDropIrq,
    kFaultDupIrq,
    kFaultSpuriousIrq,
    kFaultBadCmpIndex,
  };
  uint64_t at = 0;  // ops submitted before it runs
  Kind kind = Kind::kResetBus;
  int64_t target = -1;  // -1: none / any
  uint32_t count = 1;
  std::string text;  // ACTION as given

  bool mock_only() const;
  // Faults that make requests fail: errors on requests submitted after the event are explained
  // up to `count` of them.
  // Faults after which the device may write values the driver must reject (an index out of
  // range, state lost in a spontaneous reset).
  bool corrupts_device_state() const {
    return kind == Kind::kFaultBadCmpIndex || kind == Kind::kResetAdapter ||
           kind == Kind::kFaultDupIrq || kind == Kind::kFaultSpuriousIrq ||
           kind == Kind::kFaultDropIrq;
  }
  bool injects_errors() const {
    return kind == Kind::kFaultError || kind == Kind::kFaultCheckCondition;
  }
};

// Parses "OPS:ACTION"; false with *error set (without the option name) on bad input.
bool parse_event(const std::string &text, Event *out, std::string *error);

// The events sorted by `at` (stable: same-OPS events keep their command-line order).
class EventSchedule {
 public:
  EventSchedule() = default;
  explicit EventSchedule(std::vector<Event> events);
  // The events due now that `submitted` ops have been submitted (each returned once).
  std::vector<Event> due(uint64_t submitted);
  // Events that never ran (their OPS was beyond the ops actually submitted).
  std::vector<Event> remaining() const;
  const std::vector<Event> &all() const { return events_; }

 private:
  std::vector<Event> events_;
  size_t next_ = 0;
};

}  // namespace exerciser
