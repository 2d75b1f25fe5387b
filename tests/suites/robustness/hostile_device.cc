#include "hostile_device.h"

#include <cstring>

#include "pvscsi_hw.h"

namespace robust {

namespace hw = pvscsi::hw;

HostileDevice::HostileDevice(const pvscsi_mock::Config &cfg)
    : mock_(new pvscsi_mock::MockDevice(cfg)) {}
HostileDevice::~HostileDevice() = default;

void HostileDevice::connect(fk::DeviceHost *host) {
  {
    std::lock_guard<std::mutex> g(mu_);
    host_ = host;
  }
  mock_->connect(host);
}

void HostileDevice::disconnect() {
  mock_->disconnect();
  std::lock_guard<std::mutex> g(mu_);
  host_ = nullptr;
}

uint32_t HostileDevice::config_read(uint32_t offset, unsigned width) {
  return mock_->config_read(offset, width);
}
void HostileDevice::config_write(uint32_t offset, unsigned width, uint32_t value) {
  mock_->config_write(offset, width, value);
}
unsigned HostileDevice::num_regions() { return mock_->num_regions(); }
fk::RegionInfo HostileDevice::region(unsigned rnumber) { return mock_->region(rnumber); }
int HostileDevice::intr_types() { return mock_->intr_types(); }
int HostileDevice::intr_count(int type) { return mock_->intr_count(type); }

void HostileDevice::set_intr_mode(int type, unsigned nvectors) {
  {
    std::lock_guard<std::mutex> g(mu_);
    intr_type_ = type;
  }
  mock_->set_intr_mode(type, nvectors);
}

uint64_t HostileDevice::reg_read(unsigned rnumber, uint64_t offset, unsigned width) {
  uint64_t v = mock_->reg_read(rnumber, offset, width);
  if (is_regs(rnumber) && offset == hw::CommandStatus::kOffset && width == 4) {
    std::lock_guard<std::mutex> g(mu_);
    status_reads_++;
    if (override_at_ != 0 && status_reads_ == override_at_) {
      override_at_ = 0;
      v = override_value_;
    }
  }
  return v;
}

void HostileDevice::reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) {
  if (is_regs(rnumber) && width == 4) {
    std::lock_guard<std::mutex> g(mu_);
    if (offset == hw::Command::kOffset) {
      cmd_ = uint32_t(value);
      data_.clear();
      commands_++;
    } else if (offset == hw::CommandData::kOffset) {
      data_.push_back(uint32_t(value));
    }
  }
  mock_->reg_write(rnumber, offset, width, value);
  if (is_regs(rnumber) && width == 4 &&
      (offset == hw::Command::kOffset || offset == hw::CommandData::kOffset)) {
    std::lock_guard<std::mutex> g(mu_);
    command_complete();
  }
}

// Learns ring and CONFIG addresses from complete descriptors, as the device does.
void HostileDevice::command_complete() {
  if (cmd_ == uint32_t(hw::CommandCode::kSetupRings) &&
      data_.size() == hw::CmdSetupRings::kDwords) {
    hw::CmdDescSetupRings d{};
    for (uint32_t i = 0; i < data_.size(); i++) d.set_dword(i, data_[i]);
    rs_paddr_ = d.rings_state_ppn() << hw::kPageShift;
    cmp_pages_.clear();
    msg_pages_.clear();
    uint32_t n = d.cmp_ring_num_pages();
    if (n > hw::kMaxCmpRingPages) n = hw::kMaxCmpRingPages;
    for (uint32_t i = 0; i < n; i++) cmp_pages_.push_back(d.cmp_ring_ppns(i) << hw::kPageShift);
  } else if (cmd_ == uint32_t(hw::CommandCode::kSetupMsgRing) &&
             data_.size() == hw::CmdSetupMsgRing::kDwords) {
    hw::CmdDescSetupMsgRing d{};
    for (uint32_t i = 0; i < data_.size(); i++) d.set_dword(i, data_[i]);
    msg_pages_.clear();
    uint32_t n = d.num_pages();
    if (n > hw::kMaxMsgRingPages) n = hw::kMaxMsgRingPages;
    for (uint32_t i = 0; i < n; i++) msg_pages_.push_back(d.ring_ppns(i) << hw::kPageShift);
  } else if (cmd_ == uint32_t(hw::CommandCode::kConfig) && data_.size() == hw::CmdConfig::kDwords) {
    hw::CmdDescConfig d{};
    for (uint32_t i = 0; i < data_.size(); i++) d.set_dword(i, data_[i]);
    config_paddr_ = d.cmp_addr();
    // The mock has written the page by now (the handler ran inside the last COMMAND_DATA).
    if (!config_bytes_.empty() && host_ != nullptr && config_paddr_ != 0)
      (void)host_->dma_write(config_paddr_ + config_offset_, config_bytes_.data(),
                             config_bytes_.size());
  }
}

uint64_t HostileDevice::rings_state_paddr() const {
  std::lock_guard<std::mutex> g(mu_);
  return rs_paddr_;
}
std::vector<uint64_t> HostileDevice::cmp_ring_pages() const {
  std::lock_guard<std::mutex> g(mu_);
  return cmp_pages_;
}
std::vector<uint64_t> HostileDevice::msg_ring_pages() const {
  std::lock_guard<std::mutex> g(mu_);
  return msg_pages_;
}
uint64_t HostileDevice::config_paddr() const {
  std::lock_guard<std::mutex> g(mu_);
  return config_paddr_;
}
uint64_t HostileDevice::commands_seen() const {
  std::lock_guard<std::mutex> g(mu_);
  return commands_;
}

bool HostileDevice::write_rings_state(uint32_t offset, const void *bytes, size_t len) {
  std::lock_guard<std::mutex> g(mu_);
  if (host_ == nullptr || rs_paddr_ == 0 || offset + len > hw::kPageSize) return false;
  return host_->dma_write(rs_paddr_ + offset, bytes, len);
}

bool HostileDevice::read_rings_state(uint32_t offset, void *bytes, size_t len) {
  std::lock_guard<std::mutex> g(mu_);
  if (host_ == nullptr || rs_paddr_ == 0 || offset + len > hw::kPageSize) return false;
  return host_->dma_read(rs_paddr_ + offset, bytes, len);
}

static bool write_entry(fk::DeviceHost *host, const std::vector<uint64_t> &pages, uint32_t per_page,
                        uint32_t size, uint32_t index, const void *bytes, size_t len) {
  if (host == nullptr || pages.empty()) return false;
  uint32_t entries = uint32_t(pages.size()) * per_page;
  index &= entries - 1;  // page counts are powers of two
  if (len > size) len = size;
  uint64_t pa = pages[index / per_page] + uint64_t(index % per_page) * size;
  return host->dma_write(pa, bytes, len);
}

bool HostileDevice::write_cmp_entry(uint32_t index, const void *bytes, size_t len) {
  std::lock_guard<std::mutex> g(mu_);
  return write_entry(host_, cmp_pages_, hw::CmpRing::kEntriesPerPage, hw::RingCmpDesc::kSize, index,
                     bytes, len);
}

bool HostileDevice::write_msg_entry(uint32_t index, const void *bytes, size_t len) {
  std::lock_guard<std::mutex> g(mu_);
  return write_entry(host_, msg_pages_, hw::MsgRing::kEntriesPerPage, hw::RingMsgDesc::kSize, index,
                     bytes, len);
}

void HostileDevice::override_next_command_status(uint32_t value) {
  override_nth_command_status(1, value);
}

void HostileDevice::override_nth_command_status(uint64_t n, uint32_t value) {
  std::lock_guard<std::mutex> g(mu_);
  override_at_ = n == 0 ? 0 : status_reads_ + n;
  override_value_ = value;
}

void HostileDevice::corrupt_config_page(uint32_t offset, std::vector<uint8_t> bytes) {
  std::lock_guard<std::mutex> g(mu_);
  if (offset >= hw::kPageSize) offset %= hw::kPageSize;
  if (offset + bytes.size() > hw::kPageSize) bytes.resize(hw::kPageSize - offset);
  config_offset_ = offset;
  config_bytes_ = std::move(bytes);
}

void HostileDevice::raw_interrupt(unsigned vector) {
  int type;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (host_ == nullptr) return;
    type = intr_type_;
    if (type == fk::kIntrMsi || type == fk::kIntrMsix) {
      host_->send_msi(type == fk::kIntrMsi ? 0 : vector % 2);
      return;
    }
  }
  // INTx is level state the mock owns: a pulse from here would race with its own updates and
  // could leave the line asserted with no cause. The mock pulses it for us.
  if (type == fk::kIntrFixed) mock_->raise_spurious_interrupt(0);
}

void HostileDevice::clear_overrides() {
  std::lock_guard<std::mutex> g(mu_);
  override_at_ = 0;
  config_bytes_.clear();
}

}  // namespace robust
