#include "hand_rings.h"

#include <cstring>
#include <stdexcept>

namespace pvscsi_qemu {

namespace hw = pvscsi::hw;

HandRings::HandRings(QemuDevice &dev, GuestAllocator &mem, RingGeometry geometry)
    : dev_(dev), geo_(geometry) {
  auto pow2 = [](uint32_t n, uint32_t max) { return n != 0 && n <= max && (n & (n - 1)) == 0; };
  // Page counts that are not a power of two corrupt guest memory in QEMU: refuse them here.
  if (!pow2(geo_.req_pages, 32) || !pow2(geo_.cmp_pages, 32) ||
      (geo_.msg_pages != 0 && !pow2(geo_.msg_pages, 16))) {
    throw std::invalid_argument(
        "ring page counts must be powers of two (req/cmp <= 32, msg <= 16)");
  }
  auto page = [&] {
    uint64_t p = mem.alloc(hw::kPageSize, geo_.prefer_above);
    if (p == 0) {
      throw std::runtime_error("out of guest memory for rings");
    }
    return p;
  };
  state_ = page();
  state_ptr_ = dev_.guest_ptr(state_, hw::kPageSize);
  for (uint32_t i = 0; i < geo_.req_pages; i++) {
    req_pages_.push_back(page());
  }
  for (uint32_t i = 0; i < geo_.cmp_pages; i++) {
    cmp_pages_.push_back(page());
  }
  for (uint32_t i = 0; i < geo_.msg_pages; i++) {
    msg_pages_.push_back(page());
  }
}

// Ring indices are shared with another process: the device's with acquire loads (what it wrote
// before publishing is visible), ours with release stores (the descriptor lands first).
uint32_t HandRings::load(uint32_t offset) const {
  return __atomic_load_n(reinterpret_cast<const uint32_t *>(state_ptr_ + offset), __ATOMIC_ACQUIRE);
}

void HandRings::store(uint32_t offset, uint32_t v) {
  __atomic_store_n(reinterpret_cast<uint32_t *>(state_ptr_ + offset), v, __ATOMIC_RELEASE);
}

uint32_t HandRings::req_prod() const { return load(hw::RingsState::kReqProdIdxOffset); }
uint32_t HandRings::req_cons() const { return load(hw::RingsState::kReqConsIdxOffset); }
uint32_t HandRings::cmp_prod() const { return load(hw::RingsState::kCmpProdIdxOffset); }
uint32_t HandRings::cmp_cons() const { return load(hw::RingsState::kCmpConsIdxOffset); }
uint32_t HandRings::msg_prod() const { return load(hw::RingsState::kMsgProdIdxOffset); }
uint32_t HandRings::req_entries_log2() const {
  return load(hw::RingsState::kReqNumEntriesLog2Offset);
}
uint32_t HandRings::cmp_entries_log2() const {
  return load(hw::RingsState::kCmpNumEntriesLog2Offset);
}
uint32_t HandRings::msg_entries_log2() const {
  return load(hw::RingsState::kMsgNumEntriesLog2Offset);
}

uint32_t HandRings::command(hw::CommandCode code, const uint32_t *dwords, uint32_t count) {
  dev_.write32(hw::Command::kOffset, hw::to_raw(code));
  for (uint32_t i = 0; i < count; i++) {
    dev_.write32(hw::CommandData::kOffset, dwords[i]);
  }
  return dev_.read32(hw::CommandStatus::kOffset);
}

uint32_t HandRings::command_bytes(hw::CommandCode code, const uint8_t *raw, uint32_t size) {
  dev_.write32(hw::Command::kOffset, hw::to_raw(code));
  for (uint32_t off = 0; off + 4 <= size; off += 4) {
    uint32_t dw = static_cast<uint32_t>(raw[off]) | static_cast<uint32_t>(raw[off + 1]) << 8 |
                  static_cast<uint32_t>(raw[off + 2]) << 16 |
                  static_cast<uint32_t>(raw[off + 3]) << 24;
    dev_.write32(hw::CommandData::kOffset, dw);
  }
  return dev_.read32(hw::CommandStatus::kOffset);
}

uint32_t HandRings::setup() {
  uint32_t st = command(hw::CommandCode::kAdapterReset);
  if (st != hw::kCommandStatusSuccess) {
    return st;
  }
  std::memset(state_ptr_, 0, hw::kPageSize);
  submitted_ = completed_ = 0;

  hw::CmdDescSetupRings rings{};
  rings.set_req_ring_num_pages(geo_.req_pages)
      .set_cmp_ring_num_pages(geo_.cmp_pages)
      .set_rings_state_ppn(state_ >> hw::kPageShift);
  for (uint32_t i = 0; i < geo_.req_pages; i++) {
    rings.set_req_ring_ppns(i, req_pages_[i] >> hw::kPageShift);
  }
  for (uint32_t i = 0; i < geo_.cmp_pages; i++) {
    rings.set_cmp_ring_ppns(i, cmp_pages_[i] >> hw::kPageShift);
  }
  st = command(hw::CommandCode::kSetupRings, rings);
  if (st != hw::kCommandStatusSuccess) {
    return st;
  }
  if (geo_.msg_pages != 0) {
    hw::CmdDescSetupMsgRing msg{};
    msg.set_num_pages(geo_.msg_pages);
    for (uint32_t i = 0; i < geo_.msg_pages; i++) {
      msg.set_ring_ppns(i, msg_pages_[i] >> hw::kPageShift);
    }
    st = command(hw::CommandCode::kSetupMsgRing, msg);
    // QEMU 7.2 reports a successful SETUP_MSG_RING as its dword count (34), not 0.
    if (st != hw::kCommandStatusSuccess && st != hw::CmdDescSetupMsgRing::kDwords) {
      return st;
    }
  }
  dev_.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  return hw::kCommandStatusSuccess;
}

bool HandRings::submit(const ScsiRequest &r) {
  uint32_t prod = req_prod();
  // Keep outstanding requests below the ring size: the device does not check for completion
  // ring overflow, and a full request ring is prod - cons == entries.
  if (submitted_ - completed_ >= req_entries()) {
    return false;
  }
  hw::RingReqDesc d{};
  hw::RequestFlag flags = r.dir == DataDir::kToHost     ? hw::RequestFlag::kDirToHost
                          : r.dir == DataDir::kToDevice ? hw::RequestFlag::kDirToDevice
                                                        : hw::RequestFlag::kDirNone;
  d.set_context(r.context)
      .set_data_addr(r.data_paddr)
      .set_data_len(r.data_len)
      .set_sense_addr(r.sense_paddr)
      .set_sense_len(r.sense_len)
      .set_flags(flags)
      .set_cdb_len(r.cdb_len)
      .set_lun(hw::SamLun::from_lun64(r.lun))
      .set_tag(hw::Tag::kSimple)
      .set_bus(0)
      .set_target(r.target);
  for (uint32_t i = 0; i < r.cdb_len && i < 16; i++) {
    d.set_cdb(i, r.cdb[i]);
  }
  uint32_t slot = prod & (req_entries() - 1);
  uint64_t paddr = req_pages_[slot / hw::kReqEntriesPerPage] +
                   (slot % hw::kReqEntriesPerPage) * hw::RingReqDesc::kSize;
  std::memcpy(dev_.guest_ptr(paddr, hw::RingReqDesc::kSize), d.raw, hw::RingReqDesc::kSize);
  store(hw::RingsState::kReqProdIdxOffset, prod + 1);
  submitted_++;
  return true;
}

void HandRings::kick(bool rw) {
  dev_.write32(rw ? hw::KickRwIo::kOffset : hw::KickNonRwIo::kOffset, 0);
}

std::vector<Completion> HandRings::reap() {
  std::vector<Completion> out;
  uint32_t cons = cmp_cons();
  uint32_t prod = cmp_prod();
  uint32_t entries = geo_.cmp_pages * hw::kCmpEntriesPerPage;
  for (; cons != prod; cons++) {
    uint32_t slot = cons & (entries - 1);
    uint64_t paddr = cmp_pages_[slot / hw::kCmpEntriesPerPage] +
                     (slot % hw::kCmpEntriesPerPage) * hw::RingCmpDesc::kSize;
    hw::RingCmpDesc c{};
    std::memcpy(c.raw, dev_.guest_ptr(paddr, hw::RingCmpDesc::kSize), hw::RingCmpDesc::kSize);
    out.push_back(
        {c.context(), c.data_len(), c.sense_len(), c.host_status_raw(), c.scsi_status_raw()});
  }
  store(hw::RingsState::kCmpConsIdxOffset, cons);
  completed_ += static_cast<uint32_t>(out.size());
  return out;
}

std::vector<DevMessage> HandRings::reap_messages() {
  std::vector<DevMessage> out;
  if (geo_.msg_pages == 0) {
    return out;
  }
  uint32_t cons = load(hw::RingsState::kMsgConsIdxOffset);
  uint32_t prod = msg_prod();
  uint32_t entries = geo_.msg_pages * hw::kMsgEntriesPerPage;
  for (; cons != prod; cons++) {
    uint32_t slot = cons & (entries - 1);
    uint64_t paddr = msg_pages_[slot / hw::kMsgEntriesPerPage] +
                     (slot % hw::kMsgEntriesPerPage) * hw::MsgDevStatusChanged::kSize;
    hw::MsgDevStatusChanged m{};
    std::memcpy(m.raw, dev_.guest_ptr(paddr, hw::MsgDevStatusChanged::kSize),
                hw::MsgDevStatusChanged::kSize);
    DevMessage dm{m.type_raw(), m.bus(), m.target(), {}};
    for (uint32_t i = 0; i < 8; i++) {
      dm.lun[i] = m.lun().byte(i);
    }
    out.push_back(dm);
  }
  store(hw::RingsState::kMsgConsIdxOffset, cons);
  return out;
}

uint32_t HandRings::ack_interrupts() {
  uint32_t bits = dev_.read32(hw::IntrStatus::kOffset);
  if (bits != 0) {
    dev_.write32(hw::IntrStatus::kOffset, bits);
  }
  return bits;
}

bool HandRings::execute(TestHost &host, const ScsiRequest &r, bool rw,
                        std::chrono::milliseconds timeout, Completion *out, std::string *error) {
  if (outstanding() != 0) {
    *error = "execute() with requests outstanding";
    return false;
  }
  // Acknowledge anything pending first (say a hotplug message: it stays in the message ring),
  // so the line is low and this request's completion raises it. qtest answers in order, so the
  // line changes QEMU made before the acknowledgement have reached `host` when it returns.
  ack_interrupts();
  // Count raises from before the kick; acknowledging before reaping means a completion is
  // either already in the ring or raises the line again afterwards.
  unsigned seen = host.intx_raises();
  if (!submit(r)) {
    *error = "request ring full";
    return false;
  }
  kick(rw);
  if (!host.wait_raise_after(seen, timeout)) {
    *error = "no interrupt within " + std::to_string(timeout.count()) + " ms";
    return false;
  }
  ack_interrupts();
  if (!host.wait_intx(false, timeout)) {
    *error = "acknowledging INTR_STATUS did not lower INTx";
    return false;
  }
  std::vector<Completion> done = reap();
  if (done.size() != 1 || done[0].context != r.context) {
    *error = "expected one completion for context " + std::to_string(r.context) + ", got " +
             std::to_string(done.size());
    return false;
  }
  *out = done[0];
  return true;
}

bool HandRings::clear_unit_attention(TestHost &host, uint8_t target,
                                     std::chrono::milliseconds timeout, std::string *error,
                                     int tries) {
  for (int i = 0; i < tries; i++) {
    ScsiRequest r;
    r.context = 0xC1EA0 + static_cast<uint64_t>(i);
    r.target = target;
    cdb_test_unit_ready(&r);
    Completion c;
    if (!execute(host, r, false, timeout, &c, error)) {
      return false;
    }
    if (c.host_status == hw::to_raw(hw::HostStatus::kSuccess) &&
        c.scsi_status == hw::to_raw(hw::ScsiStatus::kGood)) {
      return true;
    }
  }
  *error = "target " + std::to_string(target) + " still not ready after " + std::to_string(tries) +
           " TEST UNIT READY";
  return false;
}

void cdb_test_unit_ready(ScsiRequest *r) {
  std::memset(r->cdb, 0, sizeof r->cdb);
  r->cdb_len = 6;
  r->dir = DataDir::kNone;
  r->data_paddr = 0;
  r->data_len = 0;
}

void cdb_inquiry(ScsiRequest *r, uint8_t alloc_len) {
  std::memset(r->cdb, 0, sizeof r->cdb);
  r->cdb[0] = 0x12;
  r->cdb[4] = alloc_len;
  r->cdb_len = 6;
  r->dir = DataDir::kToHost;
}

void cdb_read_write16(ScsiRequest *r, bool write, uint64_t lba, uint32_t blocks) {
  std::memset(r->cdb, 0, sizeof r->cdb);
  r->cdb[0] = write ? 0x8A : 0x88;
  for (int i = 0; i < 8; i++) {
    r->cdb[2 + i] = static_cast<uint8_t>(lba >> (56 - 8 * i));
  }
  for (int i = 0; i < 4; i++) {
    r->cdb[10 + i] = static_cast<uint8_t>(blocks >> (24 - 8 * i));
  }
  r->cdb_len = 16;
  r->dir = write ? DataDir::kToDevice : DataDir::kToHost;
}

void cdb_read_write10(ScsiRequest *r, bool write, uint32_t lba, uint16_t blocks) {
  std::memset(r->cdb, 0, sizeof r->cdb);
  r->cdb[0] = write ? 0x2A : 0x28;
  for (int i = 0; i < 4; i++) {
    r->cdb[2 + i] = static_cast<uint8_t>(lba >> (24 - 8 * i));
  }
  r->cdb[7] = static_cast<uint8_t>(blocks >> 8);
  r->cdb[8] = static_cast<uint8_t>(blocks);
  r->cdb_len = 10;
  r->dir = write ? DataDir::kToDevice : DataDir::kToHost;
}

}  // namespace pvscsi_qemu
