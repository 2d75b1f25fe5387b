#include "tap_device.h"

#include "pvscsi_hw.h"

namespace driver_on_qemu {

namespace hw = pvscsi::hw;

namespace {

bool is_write_opcode(uint8_t op) { return op == 0x2A || op == 0x8A; }  // WRITE(10), WRITE(16)

uint64_t cdb_lba(const hw::RingReqDesc &d) {
  uint64_t lba = 0;
  if (d.cdb(0) == 0x2A) {
    for (int i = 2; i <= 5; i++) lba = lba << 8 | d.cdb(uint32_t(i));
  } else {
    for (int i = 2; i <= 9; i++) lba = lba << 8 | d.cdb(uint32_t(i));
  }
  return lba;
}

uint32_t cdb_blocks(const hw::RingReqDesc &d) {
  if (d.cdb(0) == 0x2A) return uint32_t(d.cdb(7)) << 8 | d.cdb(8);
  uint32_t n = 0;
  for (int i = 10; i <= 13; i++) n = n << 8 | d.cdb(uint32_t(i));
  return n;
}

void set_cdb_lba(hw::RingReqDesc *d, uint64_t lba) {
  if (d->cdb(0) == 0x2A) {
    for (int i = 5; i >= 2; i--, lba >>= 8) d->set_cdb(uint32_t(i), uint8_t(lba));
  } else {
    for (int i = 9; i >= 2; i--, lba >>= 8) d->set_cdb(uint32_t(i), uint8_t(lba));
  }
}

}  // namespace

uint64_t TapDevice::reg_read(unsigned rnumber, uint64_t offset, unsigned width) {
  uint64_t v = dev_->reg_read(rnumber, offset, width);
  if (rnumber == pvscsi_qemu::QemuDevice::kMemRnumber && offset == hw::CommandStatus::kOffset) {
    std::lock_guard<std::mutex> g(mu_);
    if (!cmds_.empty() && !cmds_.back().status_read) {
      cmds_.back().status = uint32_t(v);
      cmds_.back().status_read = true;
    }
  }
  return v;
}

void TapDevice::reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) {
  if (rnumber == pvscsi_qemu::QemuDevice::kMemRnumber) {
    std::lock_guard<std::mutex> g(mu_);
    if (offset == hw::Command::kOffset) {
      CommandRecord r;
      r.code = uint32_t(value);
      cmds_.push_back(r);
      data_.clear();
    } else if (offset == hw::CommandData::kOffset && !cmds_.empty()) {
      data_.push_back(uint32_t(value));
      CommandRecord &r = cmds_.back();
      r.dwords++;
      if (r.code == hw::to_raw(hw::CommandCode::kSetupRings) &&
          data_.size() == hw::CmdDescSetupRings::kDwords) {
        hw::CmdDescSetupRings d{};
        for (uint32_t i = 0; i < data_.size(); i++) d.set_dword(i, data_[i]);
        rings_state_ppn_ = d.rings_state_ppn();
        req_pages_ = d.req_ring_num_pages();
        for (uint32_t i = 0; i < 32; i++) req_ppns_[i] = d.req_ring_ppns(i);
      }
      if (r.code == hw::to_raw(hw::CommandCode::kSetupMsgRing) &&
          data_.size() == hw::CmdDescSetupMsgRing::kDwords)
        msg_ring_ = true;
    } else if (offset == hw::KickRwIo::kOffset) {
      if (drop_kicks_.load()) {
        dropped_++;
        return;
      }
      if (misdirect_armed_) misdirect_locked();
    }
  }
  dev_->reg_write(rnumber, offset, width, value);
}

// Lock held, before the doorbell is forwarded: QEMU consumes requests only on a kick, so the
// requests in [reqConsIdx, reqProdIdx) are still untouched by it.
void TapDevice::misdirect_locked() {
  if (rings_state_ppn_ == 0 || req_pages_ == 0 || req_pages_ > 32) return;
  auto *rs = reinterpret_cast<hw::RingsState *>(
      dev_->guest_ptr(rings_state_ppn_ << hw::kPageShift, hw::kPageSize));
  if (rs == nullptr) return;
  uint32_t entries = req_pages_ * hw::kReqEntriesPerPage;
  for (uint32_t i = rs->req_cons_idx(); i != rs->req_prod_idx(); i++) {
    uint32_t slot = i & (entries - 1);
    uint64_t pa = (req_ppns_[slot / hw::kReqEntriesPerPage] << hw::kPageShift) +
                  (slot % hw::kReqEntriesPerPage) * hw::RingReqDesc::kSize;
    auto *d = reinterpret_cast<hw::RingReqDesc *>(dev_->guest_ptr(pa, hw::RingReqDesc::kSize));
    if (d == nullptr || !is_write_opcode(d->cdb(0))) continue;
    misdirect_.done = true;
    misdirect_.target = d->target();
    misdirect_.lba = cdb_lba(*d);
    misdirect_.blocks = cdb_blocks(*d);
    misdirect_.new_lba = misdirect_.lba + misdirect_shift_;
    set_cdb_lba(d, misdirect_.new_lba);
    misdirect_armed_ = false;
    return;
  }
}

std::vector<CommandRecord> TapDevice::commands() const {
  std::lock_guard<std::mutex> g(mu_);
  return cmds_;
}

uint64_t TapDevice::rings_state_pa() const {
  std::lock_guard<std::mutex> g(mu_);
  return rings_state_ppn_ << hw::kPageShift;
}

bool TapDevice::msg_ring_set_up() const {
  std::lock_guard<std::mutex> g(mu_);
  return msg_ring_;
}

void TapDevice::misdirect_next_write(uint64_t lba_shift) {
  std::lock_guard<std::mutex> g(mu_);
  misdirect_armed_ = true;
  misdirect_shift_ = lba_shift;
  misdirect_ = Misdirect{};
}

Misdirect TapDevice::misdirect() const {
  std::lock_guard<std::mutex> g(mu_);
  return misdirect_;
}

void TapDevice::release_kicks() { dev_->write32(hw::KickRwIo::kOffset, 0); }

bool TapDevice::corrupt_msg_prod(uint32_t value) {
  uint64_t pa = rings_state_pa();
  if (pa == 0) return false;
  auto *rs = reinterpret_cast<hw::RingsState *>(dev_->guest_ptr(pa, hw::kPageSize));
  if (rs == nullptr) return false;
  rs->set_msg_prod_idx(value);
  return true;
}

}  // namespace driver_on_qemu
