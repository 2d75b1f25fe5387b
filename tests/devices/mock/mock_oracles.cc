// The mock PVSCSI device (mock_device.h): oracles, counters, state.
#include "mock_device.h"

namespace pvscsi_mock {

// ---------------------------------------------------------------------------------------------
// Oracles, counters, state

bool MockDevice::read_blocks(uint32_t tid, uint16_t lun, uint64_t lba, uint64_t count,
                             std::vector<uint8_t> *out) const {
  std::lock_guard<std::mutex> g(mu_);
  const ScsiTarget *t = target(tid);
  const ScsiLun *l = t ? t->lun(lun) : nullptr;
  if (l == nullptr || l->spec().kind != LunKind::kDisk || count > l->blocks() ||
      count * l->block_size() > ScsiLun::kMaxTransfer * 16) {
    return false;
  }
  out->resize(count * l->block_size());
  return l->read_blocks(lba, count, out->data());
}

bool MockDevice::write_blocks(uint32_t tid, uint16_t lun, uint64_t lba,
                              const std::vector<uint8_t> &in) {
  std::lock_guard<std::mutex> g(mu_);
  ScsiTarget *t = target(tid);
  ScsiLun *l = t ? t->lun(lun) : nullptr;
  if (l == nullptr || in.size() % l->block_size() != 0) {
    return false;
  }
  return l->write_blocks(lba, in.size() / l->block_size(), in.data());
}

Counters MockDevice::counters() const {
  std::lock_guard<std::mutex> g(mu_);
  Counters c = counters_;
  c.bad_register_accesses += access_violations();
  return c;
}

void MockDevice::reset_counters() {
  std::lock_guard<std::mutex> g(mu_);
  counters_ = Counters{};
  counters_.outstanding = pending_.size();
}

RingState MockDevice::ring_state() const {
  std::lock_guard<std::mutex> g(mu_);
  RingState s;
  s.rings_valid = rings_valid_;
  s.rings_state_paddr = rs_paddr_;
  s.req_entries = rings_valid_ ? req_ring_.entries() : 0;
  s.cmp_entries = rings_valid_ ? cmp_ring_.entries() : 0;
  s.req_cons = req_cons_;
  s.cmp_prod = cmp_prod_;
  s.msg_valid = msg_valid_;
  s.msg_entries = msg_valid_ ? msg_ring_.entries() : 0;
  s.msg_prod = msg_prod_;
  s.threshold_enabled = threshold_enabled_;
  s.req_call_threshold = threshold_;
  s.polling = polling_;
  s.intr_status = intr_status_;
  s.intr_mask = intr_mask_;
  s.intx_asserted = intx_line_;
  s.intr_mode = intr_mode_;
  s.outstanding = pending_.size();
  return s;
}

}  // namespace pvscsi_mock
