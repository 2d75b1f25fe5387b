// The mock PVSCSI device (mock_device.h): fault injection.
#include "mock_device.h"

namespace pvscsi_mock {

namespace {

using hw::to_raw;

constexpr uint32_t kCmpl0 = hw::IntrStatus::kCmpl0Mask;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fault injection

void MockDevice::set_target_deaf(uint32_t tid, bool deaf) {
  std::lock_guard<std::mutex> g(mu_);
  if (deaf) {
    deaf_targets_.insert(tid);
    hung_targets_.insert(tid);
  } else {
    deaf_targets_.erase(tid);
    hung_targets_.erase(tid);
    service();
  }
}

void MockDevice::set_target_hung(uint32_t tid, bool hung) {
  std::lock_guard<std::mutex> g(mu_);
  if (hung) {
    hung_targets_.insert(tid);
  } else {
    hung_targets_.erase(tid);
    service();
  }
}

void MockDevice::fail_next_requests(unsigned n, uint16_t host_status, uint16_t scsi_status,
                                    int64_t target, std::vector<uint8_t> sense) {
  std::lock_guard<std::mutex> g(mu_);
  for (unsigned i = 0; i < n; i++) {
    failures_.push_back(Failure{target, host_status, scsi_status, sense});
  }
}

void MockDevice::corrupt_next_completion_context(BogusContext kind) {
  std::lock_guard<std::mutex> g(mu_);
  bogus_next_ = true;
  bogus_kind_ = kind;
}

bool MockDevice::inject_completion(uint64_t context, uint16_t host_status, uint16_t scsi_status) {
  std::lock_guard<std::mutex> g(mu_);
  if (!rings_valid_) {
    return false;
  }
  hw::RingCmpDesc cmp{};
  cmp.set_context(context);
  cmp.set_host_status(static_cast<hw::HostStatus>(host_status));  // any number: fault injection
  cmp.set_scsi_status(static_cast<hw::ScsiStatus>(scsi_status));
  const uint64_t last = last_completed_context_;
  write_completion(cmp);
  last_completed_context_ = last;
  cmp_irq_pending_ = false;
  raise(kCmpl0);
  return true;
}

void MockDevice::corrupt_cmp_prod_index() {
  std::lock_guard<std::mutex> g(mu_);
  if (!rings_valid_) {
    return;
  }
  uint32_t cons = 0;
  rs_read32(hw::RingsState::kCmpConsIdxOffset, &cons);
  rs_write32(hw::RingsState::kCmpProdIdxOffset, cons + cmp_ring_.entries() + 7);
  raise(kCmpl0);
}

void MockDevice::corrupt_log2_sizes(uint32_t req_log2, uint32_t cmp_log2, uint32_t msg_log2) {
  std::lock_guard<std::mutex> g(mu_);
  if (!rings_valid_) {
    return;
  }
  rs_write32(hw::RingsState::kReqNumEntriesLog2Offset, req_log2);
  rs_write32(hw::RingsState::kCmpNumEntriesLog2Offset, cmp_log2);
  rs_write32(hw::RingsState::kMsgNumEntriesLog2Offset, msg_log2);
}

void MockDevice::drop_next_interrupts(unsigned n) {
  std::lock_guard<std::mutex> g(mu_);
  drop_irqs_ = n;
}

void MockDevice::duplicate_next_interrupts(unsigned n) {
  std::lock_guard<std::mutex> g(mu_);
  dup_irqs_ = n;
}

void MockDevice::raise_spurious_interrupt(uint32_t status_bits) {
  std::lock_guard<std::mutex> g(mu_);
  if (!connected_ || intr_mode_ == 0) {
    return;
  }
  counters_.interrupts_spurious++;
  status_bits = hw::IntrStatus(status_bits).known().value();
  if (status_bits != 0) {
    intr_status_ |= status_bits;
    if (intr_mode_ == fk::kIntrFixed) {
      update_intx();
    } else {
      notify();
    }
    return;
  }
  counters_.interrupts++;
  if (intr_mode_ == fk::kIntrFixed) {
    if (!intx_line_) {  // a pulse: up and down again with nothing to report
      host_->set_intx(true);
      host_->set_intx(false);
    }
  } else {
    counters_.msi_sent++;
    host_->send_msi(hw::kCompletionVector);
  }
}

void MockDevice::refuse_command(hw::CommandCode code, uint32_t n) {
  std::lock_guard<std::mutex> g(mu_);
  if (n == 0) {
    refused_.erase(to_raw(code));
  } else {
    refused_[to_raw(code)] = n;
  }
}

void MockDevice::spontaneous_reset() {
  std::lock_guard<std::mutex> g(mu_);
  reset_command_state();
  adapter_reset();
}

void MockDevice::schedule_spontaneous_reset(int64_t at_ns) {
  std::lock_guard<std::mutex> g(mu_);
  if (!connected_) {
    return;
  }
  auto token = std::make_shared<uint64_t>(0);
  *token = host_->schedule(at_ns, [this, token] {
    std::lock_guard<std::mutex> g2(mu_);
    if (!connected_) {
      return;
    }
    timers_.erase(*token);
    reset_command_state();
    adapter_reset();
  });
  timers_[*token] = INT64_MAX;  // tracked for disconnect(), never treated as a service timer
}

void MockDevice::force_req_call_threshold(uint32_t value) {
  std::lock_guard<std::mutex> g(mu_);
  forced_threshold_ = value;
  publish_threshold();
}

}  // namespace pvscsi_mock
