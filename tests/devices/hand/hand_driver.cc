#include "hand_driver.h"

namespace pvscsi_hand {

HandDriver::HandDriver(fk::DeviceBackend &dev, unsigned rnum, fk::DeviceHost &mem, RingPages pages)
    : device(dev),
      memory(mem),
      rnumber(rnum),
      rs(pages.state),
      req_pages(std::move(pages.req)),
      cmp_pages(std::move(pages.cmp)),
      msg_pages(std::move(pages.msg)) {}

uint32_t HandDriver::read32(uint32_t offset) {
  return static_cast<uint32_t>(device.reg_read(rnumber, offset, 4));
}

void HandDriver::write32(uint32_t offset, uint32_t v) { device.reg_write(rnumber, offset, 4, v); }

uint32_t HandDriver::command(hw::CommandCode code, const std::vector<uint32_t> &dwords) {
  write32(hw::Command::kOffset, hw::to_raw(code));
  for (uint32_t d : dwords) {
    write32(hw::CommandData::kOffset, d);
  }
  return status();
}

uint32_t HandDriver::command_bytes(hw::CommandCode code, const uint8_t *raw, uint32_t size) {
  std::vector<uint32_t> dwords;
  for (uint32_t off = 0; off + 4 <= size; off += 4) {
    dwords.push_back(static_cast<uint32_t>(raw[off]) | static_cast<uint32_t>(raw[off + 1]) << 8 |
                     static_cast<uint32_t>(raw[off + 2]) << 16 |
                     static_cast<uint32_t>(raw[off + 3]) << 24);
  }
  return command(code, dwords);
}

hw::CmdDescSetupRings HandDriver::rings_desc(uint32_t n_req, uint32_t n_cmp) const {
  hw::CmdDescSetupRings d{};
  d.set_req_ring_num_pages(n_req).set_cmp_ring_num_pages(n_cmp);
  d.set_rings_state_ppn(rs >> hw::kPageShift);
  for (uint32_t i = 0; i < req_pages.size() && i < 32; i++) {
    d.set_req_ring_ppns(i, req_pages[i] >> hw::kPageShift);
  }
  for (uint32_t i = 0; i < cmp_pages.size() && i < 32; i++) {
    d.set_cmp_ring_ppns(i, cmp_pages[i] >> hw::kPageShift);
  }
  return d;
}

hw::CmdDescSetupMsgRing HandDriver::msg_ring_desc(uint32_t n) const {
  hw::CmdDescSetupMsgRing d{};
  d.set_num_pages(n);
  for (uint32_t i = 0; i < msg_pages.size() && i < 16; i++) {
    d.set_ring_ppns(i, msg_pages[i] >> hw::kPageShift);
  }
  return d;
}

uint32_t HandDriver::setup_rings(uint32_t n_req, uint32_t n_cmp, uint32_t start) {
  const std::vector<uint8_t> zero(hw::kPageSize, 0);
  memory.dma_write(rs, zero.data(), zero.size());
  for (uint32_t off : {hw::RingsState::kReqProdIdxOffset, hw::RingsState::kReqConsIdxOffset,
                       hw::RingsState::kCmpProdIdxOffset, hw::RingsState::kCmpConsIdxOffset}) {
    rs_store(off, start);
  }
  req_prod = start;
  cmp_cons = start;
  nreq = n_req;
  ncmp = n_cmp;
  return command(hw::CommandCode::kSetupRings, rings_desc(n_req, n_cmp));
}

uint32_t HandDriver::setup_msg_ring(uint32_t n, uint32_t start) {
  rs_store(hw::RingsState::kMsgProdIdxOffset, start);
  rs_store(hw::RingsState::kMsgConsIdxOffset, start);
  msg_cons = start;
  nmsg = n;
  return command(hw::CommandCode::kSetupMsgRing, msg_ring_desc(n));
}

uint32_t HandDriver::rs_field(uint32_t offset) {
  uint32_t v = 0;
  memory.dma_read(rs + offset, &v, sizeof v);
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  return v;
}

void HandDriver::rs_store(uint32_t offset, uint32_t v) {
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memory.dma_write(rs + offset, &v, sizeof v);
}

void HandDriver::put(const hw::RingReqDesc &d) {
  const uint32_t slot = req_prod & (req_slots() - 1);
  memory.dma_write(req_pages[slot / hw::kReqEntriesPerPage] +
                       (slot % hw::kReqEntriesPerPage) * hw::RingReqDesc::kSize,
                   d.raw, hw::RingReqDesc::kSize);
  req_prod++;
  rs_store(hw::RingsState::kReqProdIdxOffset, req_prod);
}

void HandDriver::kick(bool rw) {
  write32(rw ? hw::KickRwIo::kOffset : hw::KickNonRwIo::kOffset, 0);
}

std::vector<hw::RingCmpDesc> HandDriver::take() {
  std::vector<hw::RingCmpDesc> out;
  const uint32_t prod = rs_field(hw::RingsState::kCmpProdIdxOffset);
  const uint32_t entries = ncmp * hw::kCmpEntriesPerPage;
  while (cmp_cons != prod && out.size() < entries) {
    const uint32_t slot = cmp_cons & (entries - 1);
    hw::RingCmpDesc c{};
    memory.dma_read(cmp_pages[slot / hw::kCmpEntriesPerPage] +
                        (slot % hw::kCmpEntriesPerPage) * hw::RingCmpDesc::kSize,
                    c.raw, hw::RingCmpDesc::kSize);
    out.push_back(c);
    cmp_cons++;
  }
  rs_store(hw::RingsState::kCmpConsIdxOffset, cmp_cons);
  return out;
}

std::vector<hw::RingMsgDesc> HandDriver::take_msgs() {
  std::vector<hw::RingMsgDesc> out;
  const uint32_t prod = rs_field(hw::RingsState::kMsgProdIdxOffset);
  const uint32_t entries = nmsg * hw::kMsgEntriesPerPage;
  while (msg_cons != prod && out.size() < entries) {
    const uint32_t slot = msg_cons & (entries - 1);
    hw::RingMsgDesc m{};
    memory.dma_read(msg_pages[slot / hw::kMsgEntriesPerPage] +
                        (slot % hw::kMsgEntriesPerPage) * hw::RingMsgDesc::kSize,
                    m.raw, hw::RingMsgDesc::kSize);
    out.push_back(m);
    msg_cons++;
  }
  rs_store(hw::RingsState::kMsgConsIdxOffset, msg_cons);
  return out;
}

uint32_t HandDriver::ack_interrupts() {
  const uint32_t bits = read32(hw::IntrStatus::kOffset);
  if (bits != 0) {
    write32(hw::IntrStatus::kOffset, bits);
  }
  return bits;
}

}  // namespace pvscsi_hand
