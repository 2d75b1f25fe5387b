// The mock PVSCSI device (mock_device.h): register wiring, called by the generated skeleton.
#include "mock_device.h"

namespace pvscsi_mock {

namespace {

using hw::to_raw;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Register wiring (called by the skeleton by register type, lock held)

uint32_t MockDevice::on_read(hw::IntrStatus) { return intr_status_; }

void MockDevice::on_ack(hw::IntrStatus bits) {
  intr_status_ &= ~bits.value();
  update_intx();
}

uint32_t MockDevice::on_read(hw::IntrMask) { return intr_mask_; }

void MockDevice::on_write(hw::IntrMask m) {
  const uint32_t v = m.value();
  const uint32_t newly = v & ~intr_mask_;
  intr_mask_ = m.known().value();
  if (intr_mode_ == fk::kIntrFixed) {
    update_intx();
  } else if (intr_status_ & newly & intr_mask_) {
    notify();  // a message for causes that were pending while masked
  }
}

void MockDevice::on_kick(bool rw_io) {
  if (rw_io) {
    counters_.kicks_rw++;
  } else {
    counters_.kicks_non_rw++;
  }
  process_request_ring(false);
  service();
}

void MockDevice::on_write(hw::Debug) { counters_.debug_writes++; }

bool MockDevice::command_supported(hw::CommandCode code) {
  auto it = refused_.find(to_raw(code));
  if (it != refused_.end() && it->second > 0) {
    if (it->second != UINT32_MAX && --it->second == 0) {
      refused_.erase(it);
    }
    return false;
  }
  bool ok = true;
  switch (code) {
    case hw::CommandCode::kFirst:
    case hw::CommandCode::kIssueScsi:  // "unimplemented everywhere"
      ok = false;
      break;
    case hw::CommandCode::kConfig:
      ok = config_.config_supported || config_.config_fails_after_data;
      break;
    case hw::CommandCode::kSetupMsgRing:
      ok = config_.msg_ring_supported;
      break;
    case hw::CommandCode::kSetupReqCallThreshold:
      ok = config_.req_call_threshold_supported;
      break;
    case hw::CommandCode::kGetMaxTargets:
      ok = config_.get_max_targets_supported;
      break;
    case hw::CommandCode::kDeviceUnplug:
      ok = config_.device_unplug_supported;
      break;
    default:
      break;
  }
  return ok;
}

}  // namespace pvscsi_mock
