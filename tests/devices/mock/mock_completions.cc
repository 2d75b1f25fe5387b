// The mock PVSCSI device (mock_device.h): completions, interrupts and the device's service pass.
#include "mock_device.h"

#include <algorithm>

namespace pvscsi_mock {

namespace {

constexpr uint32_t kCmpl0 = hw::IntrStatus::kCmpl0Mask;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Completions and interrupts (lock held)

void MockDevice::write_completion(hw::RingCmpDesc cmp) {
  if (!rings_valid_) {
    return;
  }
  const uint64_t real = cmp.context();
  if (bogus_next_) {
    bogus_next_ = false;
    uint64_t ctx = 0;
    switch (bogus_kind_) {
      case BogusContext::kZero:
        ctx = 0;
        break;
      case BogusContext::kOutOfRange:
        ctx = 0x7FFFFFFF;
        break;
      case BogusContext::kAlreadyCompleted:
        ctx = last_completed_context_;
        break;
      case BogusContext::kUpper32:
        ctx = real | (uint64_t{1} << 32);
        break;
    }
    cmp.set_context(ctx);
  }
  uint32_t cons;
  if (rs_read32(hw::RingsState::kCmpConsIdxOffset, &cons) &&
      cmp_prod_ - cons >= cmp_ring_.entries()) {
    counters_.cmp_ring_overflows++;  // "devices do not check completion-ring overflow"
  }
  dma_write(cmp_ring_.entry_paddr(cmp_prod_), cmp.raw, sizeof cmp.raw);
  cmp_prod_++;
  rs_write32(hw::RingsState::kCmpProdIdxOffset, cmp_prod_);
  last_completed_context_ = real;
  counters_.completions++;
  cmp_irq_pending_ = true;
}

void MockDevice::completion_interrupt() {
  if (!cmp_irq_pending_) {
    return;
  }
  const int64_t t = now();
  if (config_.coalesce_ns <= 0 || last_cmp_irq_ns_ == INT64_MIN ||
      t >= last_cmp_irq_ns_ + config_.coalesce_ns) {
    cmp_irq_pending_ = false;
    last_cmp_irq_ns_ = t;
    raise(kCmpl0);
  } else {
    coalesce_deadline_ns_ = last_cmp_irq_ns_ + config_.coalesce_ns;
  }
}

void MockDevice::raise(uint32_t bits) {
  intr_status_ |= bits;
  if (intr_mode_ == fk::kIntrFixed) {
    if (intx_line_ && (bits & intr_mask_) && dup_irqs_ > 0) {
      dup_irqs_--;
      counters_.interrupts++;
      counters_.intx_asserts++;
      host_->set_intx(true);  // a redundant assertion of a line already high
    }
    update_intx();
  } else if (intr_mode_ != 0 && (bits & intr_mask_)) {
    notify();
  }
}

void MockDevice::update_intx() {
  if (!connected_) {
    return;
  }
  const bool level = intr_mode_ == fk::kIntrFixed && (intr_status_ & intr_mask_) != 0;
  if (level && !intx_line_) {
    if (drop_irqs_ > 0) {
      drop_irqs_--;
      counters_.interrupts_dropped++;
      return;
    }
    intx_line_ = true;
    counters_.interrupts++;
    counters_.intx_asserts++;
    host_->set_intx(true);
  } else if (!level && intx_line_) {
    intx_line_ = false;
    host_->set_intx(false);
  }
}

void MockDevice::notify() {
  if (!connected_ || intr_mode_ == 0) {
    return;
  }
  if (intr_mode_ == fk::kIntrFixed) {
    update_intx();
    return;
  }
  if (drop_irqs_ > 0) {
    drop_irqs_--;
    counters_.interrupts_dropped++;
    return;
  }
  unsigned times = 1;
  if (dup_irqs_ > 0) {
    dup_irqs_--;
    times = 2;
  }
  for (unsigned i = 0; i < times; i++) {
    counters_.interrupts++;
    counters_.msi_sent++;
    host_->send_msi(hw::kCompletionVector);
  }
}

void MockDevice::fail_pending(const std::function<bool(const Pending &)> &match, hw::HostStatus hs,
                              bool even_deaf) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (match(*it) && (even_deaf || !deaf_targets_.count(it->req.target()))) {
      hw::RingCmpDesc cmp{};
      cmp.set_context(it->req.context());
      cmp.set_host_status(hs);
      write_completion(cmp);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  counters_.outstanding = pending_.size();
  if (cmp_irq_pending_) {
    cmp_irq_pending_ = false;
    last_cmp_irq_ns_ = now();
    raise(kCmpl0);
  }
}

void MockDevice::adapter_reset() {
  // "ADAPTER_RESET completes outstanding requests (BUSRESET) into the old ring and raises an
  // interrupt before it invalidates the rings."
  fail_pending([](const Pending &) { return true; }, hw::HostStatus::kBusreset, true);
  pending_.clear();
  counters_.outstanding = 0;
  rings_valid_ = false;
  msg_valid_ = false;
  req_ring_ = hw::RingView<hw::ReqRing>();
  cmp_ring_ = hw::RingView<hw::CmpRing>();
  msg_ring_ = hw::RingView<hw::MsgRing>();
  threshold_enabled_ = false;
  threshold_ = 0;
  polling_ = false;
  cmp_irq_pending_ = false;
  for (auto &t : targets_) {
    t.second->post_unit_attention(UnitAttention::kPowerOnReset);
  }
}

void MockDevice::publish_threshold() {
  if (!rings_valid_ || !threshold_enabled_) {
    return;
  }
  uint32_t v = config_.threshold_idle;
  if (forced_threshold_ != 0) {
    v = forced_threshold_;
  } else if (config_.threshold_policy == ThresholdPolicy::kAdaptive && polling_ &&
             pending_.size() >= config_.busy_outstanding) {
    v = config_.threshold_busy;
  }
  if (v != threshold_) {
    threshold_ = v;
    rs_write32(hw::RingsState::kReqCallThresholdOffset, v);
  }
}

// One pass of the device "thread": poll, complete what is due, raise coalesced interrupts,
// adapt the threshold and decide when to run next.
void MockDevice::service() {
  if (!connected_) {
    return;
  }
  int64_t t = now();
  poll_if_due(t);
  complete_due();
  if (cmp_irq_pending_ && t >= coalesce_deadline_ns_) {
    completion_interrupt();
  }
  start_or_stop_polling(t);
  publish_threshold();
  arm_next_service(t);
}

// A poll that finds nothing doubles the interval (up to poll_max_interval_ns), so requests
// stuck in a hung target do not keep the device spinning.
void MockDevice::poll_if_due(int64_t t) {
  if (!polling_ || t < next_poll_ns_) {
    return;
  }
  const uint64_t before = counters_.requests;
  process_request_ring(true);
  poll_interval_ns_ = counters_.requests != before
                          ? config_.poll_interval_ns
                          : std::min(poll_interval_ns_ * 2, std::max(config_.poll_max_interval_ns,
                                                                     config_.poll_interval_ns));
  next_poll_ns_ = t + poll_interval_ns_;
}

// "A VMware host may poll": poll while requests are in the device. Before going idle, publish
// the idle threshold and look at the producer index once more, so a request the driver did
// not kick because of a high threshold is never stranded.
void MockDevice::start_or_stop_polling(int64_t t) {
  for (int round = 0; config_.poll_while_busy && rings_valid_ && round < 4; round++) {
    if (!pending_.empty()) {
      if (!polling_) {
        polling_ = true;
        poll_interval_ns_ = config_.poll_interval_ns;
        next_poll_ns_ = t + poll_interval_ns_;
      }
      break;
    }
    if (!polling_) {
      break;
    }
    polling_ = false;
    publish_threshold();
    process_request_ring(true);
    complete_due();
  }
}

// Arms the timer for the next thing to do: a request falling due, a poll, a coalesced
// interrupt.
void MockDevice::arm_next_service(int64_t t) {
  int64_t next = INT64_MAX;
  for (const Pending &p : pending_) {
    // Requests already due are either completed in this pass or held for a batch; the batch can
    // only grow when another request falls due (or arrives with a kick). Arming the timer at a due
    // time in the past would fire it at once, forever, and the virtual clock would never move
    // (found by tests/suites/robustness: completion_batch > 1 with latency jitter).
    if (!hung_targets_.count(p.req.target()) && p.due_ns > t) {
      next = std::min(next, p.due_ns);
    }
  }
  if (polling_) {
    next = std::min(next, next_poll_ns_);
  }
  if (cmp_irq_pending_) {
    next = std::min(next, coalesce_deadline_ns_);
  }
  if (next != INT64_MAX) {
    arm_timer(std::max(next, t));
  }
}

}  // namespace pvscsi_mock
