#include "hand_rings.h"

#include <cstring>
#include <stdexcept>

namespace pvscsi_qemu {

namespace hw = pvscsi::hw;

namespace {

// The rings state page and the ring pages of a geometry, from guest memory. Page counts that
// are not a power of two corrupt guest memory in QEMU: they are refused here.
pvscsi_hand::RingPages pages(GuestAllocator &mem, const RingGeometry &geo) {
  auto pow2 = [](uint32_t n, uint32_t max) { return n != 0 && n <= max && (n & (n - 1)) == 0; };
  if (!pow2(geo.req_pages, 32) || !pow2(geo.cmp_pages, 32) ||
      (geo.msg_pages != 0 && !pow2(geo.msg_pages, 16))) {
    throw std::invalid_argument(
        "ring page counts must be powers of two (req/cmp <= 32, msg <= 16)");
  }
  auto page = [&] {
    uint64_t p = mem.alloc(hw::kPageSize, geo.prefer_above);
    if (p == 0) {
      throw std::runtime_error("out of guest memory for rings");
    }
    return p;
  };
  pvscsi_hand::RingPages p;
  p.state = page();
  for (uint32_t i = 0; i < geo.req_pages; i++) {
    p.req.push_back(page());
  }
  for (uint32_t i = 0; i < geo.cmp_pages; i++) {
    p.cmp.push_back(page());
  }
  for (uint32_t i = 0; i < geo.msg_pages; i++) {
    p.msg.push_back(page());
  }
  return p;
}

}  // namespace

HandRings::HandRings(QemuDevice &dev, TestHost &host, GuestAllocator &mem, RingGeometry geometry)
    : geo_(geometry), drv_(dev, 1, host, pages(mem, geometry)) {}

uint32_t HandRings::setup() {
  uint32_t st = drv_.command(hw::CommandCode::kAdapterReset);
  if (st != hw::kCommandStatusSuccess) {
    return st;
  }
  submitted_ = completed_ = 0;
  st = drv_.setup_rings(geo_.req_pages, geo_.cmp_pages);
  if (st != hw::kCommandStatusSuccess) {
    return st;
  }
  if (geo_.msg_pages != 0) {
    st = drv_.setup_msg_ring(geo_.msg_pages);
    // QEMU 7.2 reports a successful SETUP_MSG_RING as its dword count (34), not 0.
    if (st != hw::kCommandStatusSuccess && st != hw::CmdDescSetupMsgRing::kDwords) {
      return st;
    }
  }
  drv_.write32(hw::IntrMask::kOffset, hw::IntrMask::kFieldsMask);
  return hw::kCommandStatusSuccess;
}

bool HandRings::submit(const ScsiRequest &r) {
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
  drv_.put(d);
  submitted_++;
  return true;
}

std::vector<Completion> HandRings::reap() {
  std::vector<Completion> out;
  for (const hw::RingCmpDesc &c : drv_.take()) {
    out.push_back(
        {c.context(), c.data_len(), c.sense_len(), c.host_status_raw(), c.scsi_status_raw()});
  }
  completed_ += static_cast<uint32_t>(out.size());
  return out;
}

std::vector<DevMessage> HandRings::reap_messages() {
  std::vector<DevMessage> out;
  if (geo_.msg_pages == 0) {
    return out;
  }
  for (const hw::RingMsgDesc &desc : drv_.take_msgs()) {
    hw::MsgDevStatusChanged m{};
    std::memcpy(m.raw, desc.raw, hw::MsgDevStatusChanged::kSize);
    DevMessage dm{m.type_raw(), m.bus(), m.target(), {}};
    for (uint32_t i = 0; i < 8; i++) {
      dm.lun[i] = m.lun().byte(i);
    }
    out.push_back(dm);
  }
  return out;
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
    set_cdb(&r, cdb::test_unit_ready(), DataDir::kNone);
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

void set_cdb(ScsiRequest *r, const fk::client::Cdb &c, DataDir dir) {
  std::memset(r->cdb, 0, sizeof r->cdb);
  std::memcpy(r->cdb, c.bytes, static_cast<size_t>(c.len));
  r->cdb_len = static_cast<uint8_t>(c.len);
  r->dir = dir;
  if (dir == DataDir::kNone) {
    r->data_paddr = 0;
    r->data_len = 0;
  }
}

void set_rw16(ScsiRequest *r, bool write, uint64_t lba, uint32_t blocks) {
  set_cdb(r, write ? cdb::write16(lba, blocks) : cdb::read16(lba, blocks),
          write ? DataDir::kToDevice : DataDir::kToHost);
}

}  // namespace pvscsi_qemu
