// The mock PVSCSI device: see mock_device.h. The interface rules it enforces are quoted from
// /work/shared/reference/pvscsi-interface.md where the code enforces them.
#include "mock_device.h"

#include <algorithm>
#include <cstring>

namespace pvscsi_mock {

namespace {

using hw::to_raw;

constexpr uint32_t kFailed = hw::kCommandStatusFailed;
constexpr uint32_t kCmpl0 = hw::IntrStatus::kCmpl0Mask;
constexpr uint32_t kMsg0 = hw::IntrStatus::kMsg0Mask;
constexpr uint64_t kMaxPpn = UINT64_MAX >> hw::kPageShift;

// "Page counts: non-zero power of two, <= max."
bool valid_page_count(uint32_t n, uint32_t max) { return n != 0 && n <= max && (n & (n - 1)) == 0; }

uint32_t log2_of(uint32_t n) {
  uint32_t l = 0;
  while ((1u << l) < n) {
    l++;
  }
  return l;
}

struct Segment {
  uint64_t addr;
  uint64_t len;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Construction, connection, PCI configuration space

MockDevice::MockDevice(const Config &config) : config_(config), rng_(config.seed) {
  for (const TargetSpec &t : config_.targets) {
    if (t.id >= config_.max_targets) {
      config_.max_targets = t.id + 1;  // the topology wins over the default target count
    }
    auto tgt = std::make_unique<ScsiTarget>(t.id, config_.power_on_unit_attention);
    tgt->set_peripheral_bus_luns(config_.peripheral_bus_luns);
    for (const LunSpec &l : t.luns) {
      tgt->add_lun(l);
    }
    targets_[t.id] = std::move(tgt);
  }
  msix_table_.assign(4 * std::min<unsigned>(config_.msix_vectors, hw::kMaxMsixVectors), 0);
  for (size_t i = 3; i < msix_table_.size(); i += 4) {
    msix_table_[i] = 1;  // vector control: masked until the kernel programs it
  }
  if (config_.completion_batch == 0) {
    config_.completion_batch = 1;
  }
  init_config_space();
}

MockDevice::~MockDevice() { disconnect(); }

void MockDevice::connect(fk::DeviceHost *host) {
  std::lock_guard<std::mutex> g(mu_);
  host_ = host;
  connected_ = host != nullptr;
}

void MockDevice::disconnect() {
  std::vector<uint64_t> ids;
  fk::DeviceHost *host;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!connected_) {
      return;
    }
    connected_ = false;
    host = host_;
    for (auto &t : timers_) {
      ids.push_back(t.first);
    }
    timers_.clear();
  }
  // Never cancel with the lock held: cancel() waits for a running callback, which takes it.
  for (uint64_t id : ids) {
    host->cancel(id);
  }
  std::lock_guard<std::mutex> g(mu_);
  host_ = nullptr;
}

void MockDevice::init_config_space() {
  auto put = [this](uint32_t off, unsigned width, uint32_t v, uint32_t wmask) {
    for (unsigned i = 0; i < width; i++) {
      pci_config_[off + i] = uint8_t(v >> (8 * i));
      pci_config_wmask_[off + i] = uint8_t(wmask >> (8 * i));
    }
  };
  put(0x00, 2, hw::kPciVendorId, 0);
  put(0x02, 2, hw::kPciDeviceId, 0);
  put(0x04, 2, 0, 0x0547);  // command: I/O, memory, bus master, parity, SERR, INTx disable
  put(0x06, 2, 0x0010, 0);  // status: capabilities list
  put(0x08, 1, 0x02, 0);    // revision
  put(0x09, 3, hw::kPciClassCode, 0);
  put(0x0E, 1, 0x00, 0);  // header type 0
  unsigned bar = 0;
  if (config_.io_bar) {
    put(0x10, 4, 0x1, ~uint32_t{8 - 1} & ~uint32_t{3});  // 8-byte I/O BAR
    bar = 1;
  }
  put(0x10 + 4 * bar, 4, 0x0, ~uint32_t{hw::kBarSize - 1});  // 32-bit memory BAR, 32 KiB
  put(0x2C, 2, hw::kPciVendorId, 0);
  put(0x2E, 2, hw::kPciDeviceId, 0);
  put(0x3C, 1, 0, 0xFF);  // interrupt line
  put(0x3D, 1, 1, 0);     // interrupt pin A
  uint8_t next = 0;
  if ((config_.intr_types & fk::kIntrMsix) && config_.msix_vectors > 0) {
    put(0x50, 1, 0x11, 0);
    put(0x51, 1, next, 0);
    put(0x52, 2, (config_.msix_vectors - 1) & 0x7FF, 0xC000);
    put(0x54, 4, 0x6000 | bar, 0);  // table: page 6 of the register BAR
    put(0x58, 4, 0x7000 | bar, 0);  // PBA: page 7
    next = 0x50;
  }
  if (config_.intr_types & fk::kIntrMsi) {
    put(0x40, 1, 0x05, 0);
    put(0x41, 1, next, 0);
    put(0x42, 2, 0x0080, 0x0071);  // 64-bit capable, one vector
    put(0x44, 4, 0, 0xFFFFFFFC);
    put(0x48, 4, 0, 0xFFFFFFFF);
    put(0x4C, 2, 0, 0xFFFF);
    next = 0x40;
  }
  put(0x34, 1, next, 0);
  if (next == 0) {
    put(0x06, 2, 0, 0);
  }
}

uint32_t MockDevice::config_read(uint32_t offset, unsigned width) {
  std::lock_guard<std::mutex> g(mu_);
  if ((width != 1 && width != 2 && width != 4) || offset % width != 0 || offset >= 4096) {
    counters_.bad_register_accesses++;
    return 0xFFFFFFFFu;
  }
  if (offset + width > sizeof pci_config_) {
    return width == 4 ? 0xFFFFFFFFu : (1u << (8 * width)) - 1;  // no extended config space
  }
  uint32_t v = 0;
  for (unsigned i = 0; i < width; i++) {
    v |= uint32_t{pci_config_[offset + i]} << (8 * i);
  }
  return v;
}

void MockDevice::config_write(uint32_t offset, unsigned width, uint32_t value) {
  std::lock_guard<std::mutex> g(mu_);
  if ((width != 1 && width != 2 && width != 4) || offset % width != 0 || offset >= 4096) {
    counters_.bad_register_accesses++;
    return;
  }
  if (offset + width > sizeof pci_config_) {
    return;
  }
  for (unsigned i = 0; i < width; i++) {
    const uint8_t m = pci_config_wmask_[offset + i];
    pci_config_[offset + i] =
        uint8_t((pci_config_[offset + i] & ~m) | (uint8_t(value >> (8 * i)) & m));
  }
}

unsigned MockDevice::num_regions() { return config_.io_bar ? 3 : 2; }

fk::RegionInfo MockDevice::region(unsigned rnumber) {
  if (rnumber == 0) {
    return {fk::RegionInfo::Kind::kConfig, 0, sizeof pci_config_};
  }
  if (config_.io_bar && rnumber == 1) {
    return {fk::RegionInfo::Kind::kIo, 0, 8};
  }
  return {fk::RegionInfo::Kind::kMem32, config_.io_bar ? 1u : 0u, hw::kBarSize};
}

uint64_t MockDevice::reg_read(unsigned rnumber, uint64_t offset, unsigned width) {
  if (rnumber == 0) {
    return config_read(uint32_t(offset), width);
  }
  std::lock_guard<std::mutex> g(mu_);
  if (config_.io_bar && rnumber == 1) {
    return 0;  // the I/O BAR has no registers the driver uses
  }
  // "Only 32-bit accesses."
  if (rnumber != register_rnumber() || width != 4 || offset % 4 != 0 || offset + 4 > hw::kBarSize) {
    counters_.bad_register_accesses++;
    return width >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1;
  }
  if (offset >= kMsixTableOffset) {
    return msix_read(uint32_t(offset));
  }
  return mmio_read32(uint32_t(offset));
}

void MockDevice::reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) {
  if (rnumber == 0) {
    config_write(uint32_t(offset), width, uint32_t(value));
    return;
  }
  std::lock_guard<std::mutex> g(mu_);
  if (config_.io_bar && rnumber == 1) {
    return;
  }
  if (rnumber != register_rnumber() || width != 4 || offset % 4 != 0 || offset + 4 > hw::kBarSize) {
    counters_.bad_register_accesses++;
    return;
  }
  if (offset == hw::Command::kOffset) {
    if (value < 16) {
      counters_.commands[value]++;
    } else {
      counters_.commands_unknown++;
    }
  }
  if (offset >= kMsixTableOffset) {
    msix_write(uint32_t(offset), uint32_t(value));
    return;
  }
  const bool was_pending = command_pending();
  mmio_write32(uint32_t(offset), uint32_t(value));
  if ((offset == hw::Command::kOffset || (offset == hw::CommandData::kOffset && was_pending)) &&
      command_status() == kFailed) {
    counters_.commands_failed++;
  }
}

// "page 6 MSI-X table, page 7 MSI-X PBA": 16 bytes per vector (address, data, control), kept
// as plain storage; the PBA reads 0 (the mock never holds a message pending).
uint32_t MockDevice::msix_read(uint32_t offset) {
  const uint32_t index = (offset - kMsixTableOffset) / 4;
  if (offset < kMsixPbaOffset && (config_.intr_types & fk::kIntrMsix) &&
      index < msix_table_.size()) {
    return msix_table_[index];
  }
  if (offset >= kMsixPbaOffset && (config_.intr_types & fk::kIntrMsix)) {
    return 0;
  }
  counters_.bad_register_accesses++;
  return 0;
}

void MockDevice::msix_write(uint32_t offset, uint32_t value) {
  const uint32_t index = (offset - kMsixTableOffset) / 4;
  if (offset < kMsixPbaOffset && (config_.intr_types & fk::kIntrMsix) &&
      index < msix_table_.size()) {
    msix_table_[index] = value;
    return;
  }
  counters_.bad_register_accesses++;
}

int MockDevice::intr_types() { return config_.intr_types; }

int MockDevice::intr_count(int type) {
  if ((config_.intr_types & type) == 0) {
    return 0;
  }
  if (type == fk::kIntrMsix) {
    return int(std::min<unsigned>(config_.msix_vectors, hw::kMaxMsixVectors));
  }
  return type == fk::kIntrFixed || type == fk::kIntrMsi ? 1 : 0;
}

void MockDevice::set_intr_mode(int type, unsigned nvectors) {
  std::lock_guard<std::mutex> g(mu_);
  if (type != 0 && (type & config_.intr_types) == 0) {
    type = 0;  // not offered: delivery off
  }
  if (intx_line_ && type != fk::kIntrFixed && connected_) {
    host_->set_intx(false);
    intx_line_ = false;
  }
  intr_mode_ = type;
  intr_vectors_ = nvectors;
  update_intx();
}

// ---------------------------------------------------------------------------------------------
// Host access functions (lock held)

int64_t MockDevice::now() const { return connected_ ? host_->now_ns() : 0; }

bool MockDevice::dma_read(uint64_t paddr, void *buf, size_t len) {
  if (!connected_ || !host_->dma_read(paddr, buf, len)) {
    counters_.dma_errors++;
    std::memset(buf, 0, len);
    return false;
  }
  return true;
}

bool MockDevice::dma_write(uint64_t paddr, const void *buf, size_t len) {
  if (!connected_ || !host_->dma_write(paddr, buf, len)) {
    counters_.dma_errors++;
    return false;
  }
  return true;
}

bool MockDevice::rs_read32(uint32_t offset, uint32_t *v) {
  uint8_t b[4];
  if (!dma_read(rs_paddr_ + offset, b, 4)) {
    return false;
  }
  *v = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  return true;
}

void MockDevice::rs_write32(uint32_t offset, uint32_t v) {
  const uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
  dma_write(rs_paddr_ + offset, b, 4);
}

// ---------------------------------------------------------------------------------------------
// Scheduling on the host clock (lock held)

void MockDevice::arm_timer(int64_t when_ns) {
  if (!connected_) {
    return;
  }
  for (auto &t : timers_) {
    if (t.second <= when_ns) {
      return;  // an earlier service call re-arms when it runs
    }
  }
  // The callback reads its id only once it holds the lock, which this function holds until
  // the id is stored: a timer that fires at once (its time has come) still finds its entry.
  // (Reading the id before taking the lock left a stale entry that blocked every later timer,
  // and completions waited for the driver's next register access: found by tests/tools/bench.)
  auto token = std::make_shared<uint64_t>(0);
  *token = host_->schedule(when_ns, [this, token] { on_timer(token); });
  timers_[*token] = when_ns;
}

void MockDevice::on_timer(const std::shared_ptr<uint64_t> &token) {
  std::lock_guard<std::mutex> g(mu_);
  if (!connected_) {
    return;
  }
  timers_.erase(*token);
  service();
}

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

// ---------------------------------------------------------------------------------------------
// Commands (lock held)

uint32_t MockDevice::handle(hw::CmdAdapterReset) {
  adapter_reset();
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdIssueScsi) { return kFailed; }

uint32_t MockDevice::handle(hw::CmdSetupRings, const hw::CmdDescSetupRings &d) {
  const uint32_t nreq = d.req_ring_num_pages();
  const uint32_t ncmp = d.cmp_ring_num_pages();
  // "Page counts: non-zero power of two, <= 32" - otherwise fail and write nothing.
  bool ok = valid_page_count(nreq, hw::kMaxReqRingPages) &&
            valid_page_count(ncmp, hw::kMaxCmpRingPages) && d.rings_state_ppn() <= kMaxPpn;
  uint64_t req_ppns[hw::kMaxReqRingPages] = {};
  uint64_t cmp_ppns[hw::kMaxCmpRingPages] = {};
  for (uint32_t i = 0; ok && i < nreq; i++) {
    req_ppns[i] = d.req_ring_ppns(i);
    ok = req_ppns[i] <= kMaxPpn;
  }
  for (uint32_t i = 0; ok && i < ncmp; i++) {
    cmp_ppns[i] = d.cmp_ring_ppns(i);
    ok = cmp_ppns[i] <= kMaxPpn;
  }
  if (!ok) {
    return kFailed;
  }
  if (rings_valid_ && !pending_.empty()) {
    // Set-up again without a reset: what was in flight completes into the old ring.
    fail_pending([](const Pending &) { return true; }, hw::HostStatus::kBusreset);
  }
  // The indices start where the RingsState page says (a zeroed page: 0), so tests can start
  // them near 2^32; the device keeps its own copies from here on.
  const uint64_t old_rs = rs_paddr_;
  rs_paddr_ = d.rings_state_ppn() << hw::kPageShift;
  uint32_t req_cons = 0, cmp_prod = 0;
  if (!rs_read32(hw::RingsState::kReqConsIdxOffset, &req_cons) ||
      !rs_read32(hw::RingsState::kCmpProdIdxOffset, &cmp_prod)) {
    rs_paddr_ = old_rs;
    return kFailed;
  }
  rs_write32(hw::RingsState::kReqNumEntriesLog2Offset, log2_of(nreq * hw::kReqEntriesPerPage));
  rs_write32(hw::RingsState::kCmpNumEntriesLog2Offset, log2_of(ncmp * hw::kCmpEntriesPerPage));
  req_ring_ = hw::RingView<hw::ReqRing>(req_ppns, nreq);
  cmp_ring_ = hw::RingView<hw::CmpRing>(cmp_ppns, ncmp);
  req_cons_ = req_cons;
  cmp_prod_ = cmp_prod;
  rings_valid_ = true;
  threshold_enabled_ = false;
  threshold_ = 0;
  polling_ = false;
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdResetBus) {
  fail_pending([](const Pending &) { return true; }, hw::HostStatus::kBusreset);
  for (auto &t : targets_) {
    t.second->post_unit_attention(UnitAttention::kPowerOnReset);
  }
  service();
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdResetDevice, const hw::CmdDescResetDevice &d) {
  uint16_t lun;
  const uint32_t tid = d.target();
  ScsiTarget *t = target(tid);
  if (t == nullptr || !decode_lun(d.lun(), &lun) || t->lun(lun) == nullptr) {
    return kFailed;  // no such device
  }
  fail_pending(
      [&](const Pending &p) {
        uint16_t l;
        return p.req.target() == tid && decode_lun(p.req.lun(), &l) && l == lun;
      },
      hw::HostStatus::kBusreset);
  t->lun(lun)->post_unit_attention(UnitAttention::kPowerOnReset);
  service();
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdAbortCmd, const hw::CmdDescAbortCmd &d) {
  const uint64_t ctx = d.context();
  const uint32_t tid = d.target();
  // "An aborted request completes with ABORTQUEUE"; an unknown context is not an error (it may
  // have completed already).
  fail_pending([&](const Pending &p) { return p.req.context() == ctx && p.req.target() == tid; },
               hw::HostStatus::kAbortqueue);
  service();
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdConfig, const hw::CmdDescConfig &d) {
  if (!config_.config_supported) return kFailed;  // config_fails_after_data: nothing written
  hw::ConfigPageController page{};
  const hw::ConfigPageType page_num = d.config_page_num();
  page.header().set_page_num(page_num);
  page.header().set_num_dwords(uint16_t(sizeof page.raw / 4));
  const bool ok = page_num == hw::ConfigPageType::kController &&
                  d.config_addr_type() == hw::ConfigAddrType::kController;
  if (ok) {
    page.header().set_host_status(hw::HostStatus::kSuccess);
    page.header().set_scsi_status(hw::ScsiStatus::kGood);
    page.set_node_wwn(0x5000C29000000000ull);
    const char *manufacturer = "VMware";
    const char *serial = "PVSCSI-MOCK";
    for (uint32_t i = 0; manufacturer[i]; i++) {
      page.set_manufacturer(i, uint16_t(manufacturer[i]));
    }
    for (uint32_t i = 0; serial[i]; i++) {
      page.set_serial_number(i, uint16_t(serial[i]));
    }
    page.set_num_phys(config_.max_targets);  // "numPhys is the number of targets"
  } else {
    page.header().set_host_status(hw::HostStatus::kInvparam);
    page.header().set_scsi_status(hw::ScsiStatus::kCheckCondition);
  }
  if (!dma_write(d.cmp_addr(), page.raw, sizeof page.raw) || !ok) {
    return kFailed;
  }
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdSetupMsgRing, const hw::CmdDescSetupMsgRing &d) {
  // "Must follow SETUP_RINGS"; "Non-zero power of two, <= 16."
  const uint32_t n = d.num_pages();
  bool ok = rings_valid_ && valid_page_count(n, hw::kMaxMsgRingPages);
  uint64_t ppns[hw::kMaxMsgRingPages] = {};
  for (uint32_t i = 0; ok && i < n; i++) {
    ppns[i] = d.ring_ppns(i);
    ok = ppns[i] <= kMaxPpn;
  }
  uint32_t prod = 0;
  if (!ok || !rs_read32(hw::RingsState::kMsgProdIdxOffset, &prod)) {
    return kFailed;
  }
  rs_write32(hw::RingsState::kMsgNumEntriesLog2Offset, log2_of(n * hw::kMsgEntriesPerPage));
  msg_ring_ = hw::RingView<hw::MsgRing>(ppns, n);
  msg_prod_ = prod;
  msg_valid_ = true;
  return config_.msg_ring_status_is_dwords ? hw::CmdSetupMsgRing::kDwords
                                           : hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdDeviceUnplug) { return hw::kCommandStatusSuccess; }

uint32_t MockDevice::handle(hw::CmdSetupReqCallThreshold, const hw::CmdDescSetupReqCall &d) {
  if (!rings_valid_) {
    return kFailed;
  }
  threshold_enabled_ = d.enable() != 0;
  threshold_ = 0;
  publish_threshold();
  return hw::kCommandStatusSuccess;
}

uint32_t MockDevice::handle(hw::CmdGetMaxTargets) { return config_.max_targets; }

// ---------------------------------------------------------------------------------------------
// Request processing (lock held)

void MockDevice::process_request_ring(bool from_poll) {
  if (!rings_valid_) {
    return;
  }
  if (from_poll) {
    counters_.polls++;
  }
  uint32_t prod;
  if (!rs_read32(hw::RingsState::kReqProdIdxOffset, &prod)) {
    return;
  }
  const uint32_t n = prod - req_cons_;  // free-running u32 indices
  if (n == 0) {
    return;
  }
  if (n > req_ring_.entries()) {
    counters_.req_ring_overruns++;  // a runaway producer index: take nothing
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    hw::RingReqDesc req;
    const bool ok = dma_read(req_ring_.entry_paddr(req_cons_), req.raw, sizeof req.raw);
    req_cons_++;
    if (ok) {
      accept(req);
    }
  }
  rs_write32(hw::RingsState::kReqConsIdxOffset, req_cons_);
}

void MockDevice::accept(const hw::RingReqDesc &req) {
  counters_.requests++;
  // "unused @69..127 (must be zero)" (byte 69 is the upper half of a 16-bit vcpuHint in newer
  // Linux): counted, not refused, as real devices ignore them.
  for (uint32_t i = 70; i < hw::RingReqDesc::kSize; i++) {
    if (req.raw[i] != 0) {
      counters_.reserved_nonzero++;
      break;
    }
  }
  counters_.scsi_by_opcode[req.cdb(0)]++;
  counters_.by_tag[req.tag_raw()]++;
  int64_t latency = config_.latency_ns;
  auto it = config_.per_target_latency_ns.find(req.target());
  if (it != config_.per_target_latency_ns.end()) {
    latency = it->second;
  }
  if (config_.latency_jitter_ns > 0) {
    latency += std::uniform_int_distribution<int64_t>(0, config_.latency_jitter_ns)(rng_);
  }
  pending_.push_back(Pending{req, now() + latency, next_seq_++});
  counters_.outstanding = pending_.size();
  counters_.max_outstanding = std::max<uint64_t>(counters_.max_outstanding, pending_.size());
}

void MockDevice::complete_due() {
  if (!rings_valid_) {
    return;
  }
  const int64_t t = now();
  std::vector<std::list<Pending>::iterator> due;
  size_t live = 0;
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (hung_targets_.count(it->req.target())) {
      continue;
    }
    live++;
    if (it->due_ns <= t) {
      due.push_back(it);
    }
  }
  if (due.empty() || (due.size() < config_.completion_batch && due.size() < live)) {
    return;  // batching: wait for more to be due
  }
  std::stable_sort(due.begin(), due.end(), [](auto a, auto b) {
    return a->due_ns != b->due_ns ? a->due_ns < b->due_ns : a->seq < b->seq;
  });
  if (config_.reorder) {
    std::shuffle(due.begin(), due.end(), rng_);
  }
  for (auto it : due) {
    const hw::RingReqDesc req = it->req;
    pending_.erase(it);
    write_completion(execute(req));
  }
  counters_.outstanding = pending_.size();
  completion_interrupt();
}

bool MockDevice::decode_lun(hw::SamLun sam, uint16_t *lun) const {
  // "single-level LUN n goes in lun[1]"; bytes 2..7 must be zero.
  for (uint32_t i = 2; i < 8; i++) {
    if (sam.byte(i) != 0) {
      return false;
    }
  }
  const uint8_t b0 = sam.byte(0);
  if (b0 == 0) {
    *lun = sam.byte(1);
    return true;
  }
  if (config_.peripheral_bus_luns && (b0 & 0xC0) == 0x00) {
    *lun = uint16_t((b0 << 8) | sam.byte(1));
    return true;
  }
  if (config_.flat_lun_addressing && (b0 & 0xC0) == 0x40) {
    *lun = uint16_t(((b0 & 0x3F) << 8) | sam.byte(1));
    return true;
  }
  return false;
}

ScsiTarget *MockDevice::target(uint32_t id) {
  auto it = targets_.find(id);
  return it == targets_.end() ? nullptr : it->second.get();
}

const ScsiTarget *MockDevice::target(uint32_t id) const {
  auto it = targets_.find(id);
  return it == targets_.end() ? nullptr : it->second.get();
}

hw::RingCmpDesc MockDevice::execute(const hw::RingReqDesc &req) {
  hw::RingCmpDesc cmp{};
  cmp.set_context(req.context());
  auto finish = [&](hw::HostStatus hs, uint8_t scsi) {
    cmp.set_host_status(hs);
    cmp.set_scsi_status(static_cast<hw::ScsiStatus>(scsi));
    if (hs != hw::HostStatus::kSuccess && hs != hw::HostStatus::kDatarun) {
      counters_.bad_requests++;
    }
    return cmp;
  };
  // Injected failures first: they model a target or adapter that fails whatever it is given.
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if (it->target < 0 || uint64_t(it->target) == req.target()) {
      Failure f = *it;
      failures_.erase(it);
      if (f.scsi_status == kScsiCheckCondition && req.sense_len() > 0) {
        std::vector<uint8_t> s =
            f.sense.empty() ? make_sense(Asc{kSenseHardwareError, 0x44, 0x00}) : f.sense;
        const uint32_t n = std::min<uint32_t>(req.sense_len(), uint32_t(s.size()));
        if (dma_write(req.sense_addr(), s.data(), n)) {
          cmp.set_sense_len(n);
        }
      }
      cmp.set_host_status(static_cast<hw::HostStatus>(f.host_status));
      cmp.set_scsi_status(static_cast<hw::ScsiStatus>(f.scsi_status));
      return cmp;
    }
  }

  // Addressing: "bus u8 (must be 0)"; absent target or LUN: SELTIMEO.
  uint16_t lun = 0;
  ScsiTarget *tgt =
      req.bus() == 0 && req.target() < config_.max_targets ? target(req.target()) : nullptr;
  const uint8_t opcode = req.cdb(0);
  if (tgt == nullptr || !decode_lun(req.lun(), &lun) || !tgt->addressable(lun, opcode)) {
    return finish(hw::HostStatus::kSeltimeo, kScsiGood);
  }
  const uint32_t flags = req.flags_raw();
  const uint32_t to_host = to_raw(hw::RequestFlag::kDirToHost);
  const uint32_t to_dev = to_raw(hw::RequestFlag::kDirToDevice);
  const size_t cdb_len = req.cdb_len();
  // "OUT_OF_BAND_CDB (reserved)"; the CDB is 1..16 bytes (one shorter than its opcode's group
  // is the target's to refuse: INVALID COMMAND OPERATION CODE).
  if ((flags & to_raw(hw::RequestFlag::kOutOfBandCdb)) != 0 || cdb_len == 0 || cdb_len > 16 ||
      (flags & to_host && flags & to_dev) || req.data_len() > config_.max_transfer) {
    return finish(hw::HostStatus::kInvparam, kScsiGood);
  }
  uint8_t cdb[16];
  for (uint32_t i = 0; i < 16; i++) {
    cdb[i] = req.cdb(i);
  }
  const CdbShape shape = tgt->shape(lun, cdb, cdb_len);
  const uint64_t data_len = req.data_len();
  // "QEMU fails a request whose direction flag contradicts the CDB (BADMSG)": data to move
  // needs the matching direction flag, and the opposite flag is always wrong.
  if ((shape.dir == DataDir::kIn && ((flags & to_dev) || (data_len > 0 && !(flags & to_host)))) ||
      (shape.dir == DataDir::kOut && ((flags & to_host) || (data_len > 0 && !(flags & to_dev))))) {
    return finish(hw::HostStatus::kBadmsg, kScsiGood);
  }

  // The data buffer: flat, or a flat SG list ("keep lists flat"; "an element must not cross a
  // 4 KiB page boundary of the SG list"; at most max_sg_elements) covering data_len.
  std::vector<Segment> segs;
  if (data_len > 0) {
    if (flags & to_raw(hw::RequestFlag::kWithSgList)) {
      uint64_t covered = 0;
      uint64_t sg = req.data_addr();
      for (uint32_t i = 0; covered < data_len; i++, sg += hw::SgElement::kSize) {
        if (i >= config_.max_sg_elements ||
            (sg & (hw::kPageSize - 1)) + hw::SgElement::kSize > hw::kPageSize) {
          return finish(hw::HostStatus::kInvparam, kScsiGood);
        }
        hw::SgElement e;
        if (!dma_read(sg, e.raw, sizeof e.raw)) {
          return finish(hw::HostStatus::kInvparam, kScsiGood);
        }
        if (e.flags_raw() != 0 || e.addr() + e.length() < e.addr()) {
          return finish(hw::HostStatus::kInvparam, kScsiGood);  // chaining is not supported
        }
        const uint64_t len = std::min<uint64_t>(e.length(), data_len - covered);
        if (len > 0) {
          segs.push_back({e.addr(), len});
        }
        covered += len;
      }
    } else {
      if (req.data_addr() + data_len < req.data_addr()) {
        return finish(hw::HostStatus::kInvparam, kScsiGood);
      }
      segs.push_back({req.data_addr(), data_len});
    }
  }
  auto transfer = [&](uint8_t *buf, uint64_t n, bool to_driver) {
    for (const Segment &s : segs) {
      if (n == 0) {
        break;
      }
      const uint64_t k = std::min(n, s.len);
      if (!(to_driver ? dma_write(s.addr, buf, k) : dma_read(s.addr, buf, k))) {
        return false;
      }
      buf += k;
      n -= k;
    }
    return true;
  };

  std::vector<uint8_t> data_out;
  uint64_t moved = 0;
  if (shape.dir == DataDir::kOut) {
    data_out.resize(std::min<uint64_t>({data_len, shape.bytes, config_.max_transfer}));
    if (!transfer(data_out.data(), data_out.size(), false)) {
      return finish(hw::HostStatus::kHahardware, kScsiGood);  // master abort
    }
    counters_.bytes_to_device += data_out.size();
    moved = data_out.size();
  }
  ScsiResult r = tgt->execute(lun, cdb, cdb_len, data_out);
  uint64_t expected = shape.dir == DataDir::kOut ? shape.bytes : r.data_in.size();
  if (!r.data_in.empty()) {
    moved = std::min<uint64_t>(r.data_in.size(), data_len);
    if (!transfer(r.data_in.data(), moved, true)) {
      return finish(hw::HostStatus::kHahardware, kScsiGood);
    }
    counters_.bytes_to_host += moved;
  }
  hw::HostStatus hs = hw::HostStatus::kSuccess;
  if (r.status == kScsiCheckCondition) {
    // "Sense data is written only on CHECK CONDITION."
    const uint32_t n = std::min<uint32_t>(req.sense_len(), uint32_t(r.sense.size()));
    if (n > 0) {
      if (dma_write(req.sense_addr(), r.sense.data(), n)) {
        cmp.set_sense_len(n);
      } else {
        hs = hw::HostStatus::kSensfailed;
      }
    }
    moved = 0;
  } else if (shape.dir != DataDir::kNone || data_len > 0) {
    // Over-run (the command had more than the buffer) is DATARUN; a short transfer is DATARUN
    // only where the profile says so (QEMU), with GOOD status either way.
    if (expected > data_len || (expected < data_len && config_.short_transfer_datarun)) {
      hs = hw::HostStatus::kDatarun;
    }
  }
  cmp.set_data_len(config_.report_data_len ? moved : 0);
  return finish(hs, r.status);
}

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
  if (polling_ && t >= next_poll_ns_) {
    // A poll that finds nothing doubles the interval (up to poll_max_interval_ns), so requests
    // stuck in a hung target do not keep the device spinning.
    const uint64_t before = counters_.requests;
    process_request_ring(true);
    poll_interval_ns_ = counters_.requests != before
                            ? config_.poll_interval_ns
                            : std::min(poll_interval_ns_ * 2, std::max(config_.poll_max_interval_ns,
                                                                       config_.poll_interval_ns));
    next_poll_ns_ = t + poll_interval_ns_;
  }
  complete_due();
  if (cmp_irq_pending_ && t >= coalesce_deadline_ns_) {
    completion_interrupt();
  }
  // "A VMware host may poll": poll while requests are in the device. Before going idle, publish
  // the idle threshold and look at the producer index once more, so a request the driver did
  // not kick because of a high threshold is never stranded.
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
  publish_threshold();
  int64_t next = INT64_MAX;
  for (const Pending &p : pending_) {
    // Requests already due are either completed above or held for a batch; the batch can only
    // grow when another request falls due (or arrives with a kick). Arming the timer at a due
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
