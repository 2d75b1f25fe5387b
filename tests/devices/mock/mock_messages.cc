// The mock PVSCSI device (mock_device.h): the message ring and hotplug.
#include "mock_device.h"

#include <cstring>

namespace pvscsi_mock {

namespace {

constexpr uint32_t kMsg0 = hw::IntrStatus::kMsg0Mask;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Messages and hotplug

bool MockDevice::post_msg(const hw::RingMsgDesc &m) {
  // "only if the ring is set up and has room; otherwise the message is dropped"
  uint32_t cons;
  if (!msg_valid_ || !rs_read32(hw::RingsState::kMsgConsIdxOffset, &cons) ||
      msg_prod_ - cons >= msg_ring_.entries() ||
      !dma_write(msg_ring_.entry_paddr(msg_prod_), m.raw, sizeof m.raw)) {
    counters_.msgs_dropped++;
    return false;
  }
  msg_prod_++;
  rs_write32(hw::RingsState::kMsgProdIdxOffset, msg_prod_);
  counters_.msgs_posted++;
  raise(kMsg0);
  return true;
}

bool MockDevice::post_dev_msg(hw::MsgType type, uint32_t target, uint16_t lun) {
  hw::MsgDevStatusChanged d{};
  d.set_type(type);
  d.set_bus(0);
  d.set_target(target);
  d.set_lun(encode_sam_lun(lun, config_.peripheral_bus_luns));
  hw::RingMsgDesc m;
  static_assert(sizeof m.raw == sizeof d.raw, "message layouts differ in size");
  std::memcpy(m.raw, d.raw, sizeof m.raw);
  return post_msg(m);
}

bool MockDevice::post_message(uint32_t type, const std::array<uint32_t, 31> &args) {
  std::lock_guard<std::mutex> g(mu_);
  hw::RingMsgDesc m{};
  m.set_type(static_cast<hw::MsgType>(type));  // any number: fault injection
  for (uint32_t i = 0; i < 31; i++) {
    m.set_args(i, args[i]);
  }
  return post_msg(m);
}

bool MockDevice::add_target(const TargetSpec &t) {
  std::lock_guard<std::mutex> g(mu_);
  if (t.id >= config_.max_targets || targets_.count(t.id)) {
    return false;
  }
  auto tgt = std::make_unique<ScsiTarget>(t.id, config_.power_on_unit_attention);
  tgt->set_peripheral_bus_luns(config_.peripheral_bus_luns);
  for (const LunSpec &l : t.luns) {
    tgt->add_lun(l);
  }
  std::vector<uint16_t> luns;
  for (auto &l : tgt->luns()) {
    luns.push_back(l.first);
  }
  targets_[t.id] = std::move(tgt);
  if (luns.empty()) {
    luns.push_back(0);
  }
  for (uint16_t l : luns) {
    post_dev_msg(hw::MsgType::kDevAdded, t.id, l);
  }
  return true;
}

bool MockDevice::remove_target(uint32_t id) {
  std::lock_guard<std::mutex> g(mu_);
  ScsiTarget *t = target(id);
  if (t == nullptr) {
    return false;
  }
  std::vector<uint16_t> luns;
  for (auto &l : t->luns()) {
    luns.push_back(l.first);
  }
  if (luns.empty()) {
    luns.push_back(0);
  }
  // "The removed device is gone at once": what it had in flight is aborted.
  fail_pending([&](const Pending &p) { return p.req.target() == id; }, hw::HostStatus::kAbortqueue);
  targets_.erase(id);
  for (uint16_t l : luns) {
    post_dev_msg(hw::MsgType::kDevRemoved, id, l);
  }
  service();
  return true;
}

bool MockDevice::add_lun(uint32_t tid, const LunSpec &lun) {
  std::lock_guard<std::mutex> g(mu_);
  ScsiTarget *t = target(tid);
  if (t == nullptr || !t->add_lun(lun)) {
    return false;
  }
  for (auto &l : t->luns()) {
    if (l.first != lun.lun) {
      l.second->post_unit_attention(UnitAttention::kReportedLunsChanged);
    }
  }
  post_dev_msg(hw::MsgType::kDevAdded, tid, lun.lun);
  return true;
}

bool MockDevice::remove_lun(uint32_t tid, uint16_t lun) {
  std::lock_guard<std::mutex> g(mu_);
  ScsiTarget *t = target(tid);
  if (t == nullptr || t->lun(lun) == nullptr) {
    return false;
  }
  fail_pending(
      [&](const Pending &p) {
        uint16_t l;
        return p.req.target() == tid && decode_lun(p.req.lun(), &l) && l == lun;
      },
      hw::HostStatus::kAbortqueue);
  t->remove_lun(lun);
  t->post_unit_attention(UnitAttention::kReportedLunsChanged);
  post_dev_msg(hw::MsgType::kDevRemoved, tid, lun);
  service();
  return true;
}

bool MockDevice::set_capacity(uint32_t tid, uint16_t lun, uint64_t blocks) {
  std::lock_guard<std::mutex> g(mu_);
  ScsiTarget *t = target(tid);
  ScsiLun *l = t ? t->lun(lun) : nullptr;
  if (l == nullptr || l->spec().kind != LunKind::kDisk || blocks == 0) {
    return false;
  }
  l->set_capacity(blocks);
  return true;
}

bool MockDevice::has_target(uint32_t tid) const {
  std::lock_guard<std::mutex> g(mu_);
  return target(tid) != nullptr;
}

bool MockDevice::has_lun(uint32_t tid, uint16_t lun) const {
  std::lock_guard<std::mutex> g(mu_);
  const ScsiTarget *t = target(tid);
  return t && t->lun(lun);
}

bool MockDevice::has_unit_attention(uint32_t tid, uint16_t lun, UnitAttention ua) const {
  std::lock_guard<std::mutex> g(mu_);
  const ScsiTarget *t = target(tid);
  const ScsiLun *l = t ? t->lun(lun) : nullptr;
  return l && l->has_unit_attention(ua);
}

}  // namespace pvscsi_mock
