// The mock PVSCSI device (mock_device.h): request processing: the request ring and one request's
// execution.
#include "mock_device.h"

#include <algorithm>

namespace pvscsi_mock {

namespace {

using hw::to_raw;

}  // namespace

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

// One request, start to finish: injected failures first, then the device's checks, then the
// command on its target.
hw::RingCmpDesc MockDevice::execute(const hw::RingReqDesc &req) {
  hw::RingCmpDesc cmp{};
  cmp.set_context(req.context());
  if (take_injected_failure(req, &cmp)) {
    return cmp;
  }
  Decoded d;
  const hw::HostStatus hs = decode_request(req, &d);
  if (hs != hw::HostStatus::kSuccess) {
    return finish_request(cmp, hs, kScsiGood);
  }
  return run_on_target(req, d, cmp);
}

// Sets the statuses of a completion, counting the requests the device refused or failed.
hw::RingCmpDesc MockDevice::finish_request(hw::RingCmpDesc cmp, hw::HostStatus hs, uint8_t scsi) {
  cmp.set_host_status(hs);
  cmp.set_scsi_status(static_cast<hw::ScsiStatus>(scsi));
  if (hs != hw::HostStatus::kSuccess && hs != hw::HostStatus::kDatarun) {
    counters_.bad_requests++;
  }
  return cmp;
}

// Injected failures model a target or adapter that fails whatever it is given: the first one
// that matches the request's target is used up and fills in the completion.
bool MockDevice::take_injected_failure(const hw::RingReqDesc &req, hw::RingCmpDesc *cmp) {
  for (auto it = failures_.begin(); it != failures_.end(); ++it) {
    if (it->target < 0 || uint64_t(it->target) == req.target()) {
      Failure f = *it;
      failures_.erase(it);
      if (f.scsi_status == kScsiCheckCondition && req.sense_len() > 0) {
        std::vector<uint8_t> s =
            f.sense.empty() ? make_sense(Asc{kSenseHardwareError, 0x44, 0x00}) : f.sense;
        const uint32_t n = std::min<uint32_t>(req.sense_len(), uint32_t(s.size()));
        if (dma_write(req.sense_addr(), s.data(), n)) {
          cmp->set_sense_len(n);
        }
      }
      cmp->set_host_status(static_cast<hw::HostStatus>(f.host_status));
      cmp->set_scsi_status(static_cast<hw::ScsiStatus>(f.scsi_status));
      return true;
    }
  }
  return false;
}

// The device's checks of a request, in the order a failure is reported: addressing (SELTIMEO),
// the descriptor (INVPARAM), the direction against the CDB (BADMSG), the data buffer
// (INVPARAM). kSuccess: `d` holds the target, LUN, CDB, its shape and the buffer's segments.
hw::HostStatus MockDevice::decode_request(const hw::RingReqDesc &req, Decoded *d) {
  // Addressing: "bus u8 (must be 0)"; absent target or LUN: SELTIMEO.
  d->target = req.bus() == 0 && req.target() < config_.max_targets ? target(req.target()) : nullptr;
  const uint8_t opcode = req.cdb(0);
  if (d->target == nullptr || !decode_lun(req.lun(), &d->lun) ||
      !d->target->addressable(d->lun, opcode)) {
    return hw::HostStatus::kSeltimeo;
  }
  const uint32_t flags = req.flags_raw();
  const uint32_t to_host = to_raw(hw::RequestFlag::kDirToHost);
  const uint32_t to_dev = to_raw(hw::RequestFlag::kDirToDevice);
  d->cdb_len = req.cdb_len();
  // "OUT_OF_BAND_CDB (reserved)"; the CDB is 1..16 bytes (one shorter than its opcode's group
  // is the target's to refuse: INVALID COMMAND OPERATION CODE).
  if ((flags & to_raw(hw::RequestFlag::kOutOfBandCdb)) != 0 || d->cdb_len == 0 || d->cdb_len > 16 ||
      (flags & to_host && flags & to_dev) || req.data_len() > config_.max_transfer) {
    return hw::HostStatus::kInvparam;
  }
  for (uint32_t i = 0; i < 16; i++) {
    d->cdb[i] = req.cdb(i);
  }
  d->shape = d->target->shape(d->lun, d->cdb, d->cdb_len);
  const uint64_t data_len = req.data_len();
  // "QEMU fails a request whose direction flag contradicts the CDB (BADMSG)": data to move
  // needs the matching direction flag, and the opposite flag is always wrong.
  const DataDir dir = d->shape.dir;
  if ((dir == DataDir::kIn && ((flags & to_dev) || (data_len > 0 && !(flags & to_host)))) ||
      (dir == DataDir::kOut && ((flags & to_host) || (data_len > 0 && !(flags & to_dev))))) {
    return hw::HostStatus::kBadmsg;
  }
  if (data_len > 0 && !map_data_buffer(req, &d->segs)) {
    return hw::HostStatus::kInvparam;
  }
  return hw::HostStatus::kSuccess;
}

// The data buffer: flat, or a flat SG list ("keep lists flat"; "an element must not cross a
// 4 KiB page boundary of the SG list"; at most max_sg_elements) covering data_len. False: the
// buffer is malformed (INVPARAM).
bool MockDevice::map_data_buffer(const hw::RingReqDesc &req, std::vector<Segment> *segs) {
  const uint64_t data_len = req.data_len();
  if (!(req.flags_raw() & to_raw(hw::RequestFlag::kWithSgList))) {
    if (req.data_addr() + data_len < req.data_addr()) {
      return false;
    }
    segs->push_back({req.data_addr(), data_len});
    return true;
  }
  uint64_t covered = 0;
  uint64_t sg = req.data_addr();
  for (uint32_t i = 0; covered < data_len; i++, sg += hw::SgElement::kSize) {
    if (i >= config_.max_sg_elements ||
        (sg & (hw::kPageSize - 1)) + hw::SgElement::kSize > hw::kPageSize) {
      return false;
    }
    hw::SgElement e;
    if (!dma_read(sg, e.raw, sizeof e.raw)) {
      return false;
    }
    if (e.flags_raw() != 0 || e.addr() + e.length() < e.addr()) {
      return false;  // chaining is not supported
    }
    const uint64_t len = std::min<uint64_t>(e.length(), data_len - covered);
    if (len > 0) {
      segs->push_back({e.addr(), len});
    }
    covered += len;
  }
  return true;
}

// Moves the first `n` bytes of the data buffer between `buf` and driver memory. False: a DMA
// failed (a master abort).
bool MockDevice::transfer(const std::vector<Segment> &segs, uint8_t *buf, uint64_t n,
                          bool to_driver) {
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
}

// Runs a checked request's command on its target: data out, the command, data in, sense, and
// the host status that sums them up.
hw::RingCmpDesc MockDevice::run_on_target(const hw::RingReqDesc &req, const Decoded &d,
                                          hw::RingCmpDesc cmp) {
  const uint64_t data_len = req.data_len();
  std::vector<uint8_t> data_out;
  uint64_t moved = 0;
  if (d.shape.dir == DataDir::kOut) {
    data_out.resize(std::min<uint64_t>({data_len, d.shape.bytes, config_.max_transfer}));
    if (!transfer(d.segs, data_out.data(), data_out.size(), false)) {
      return finish_request(cmp, hw::HostStatus::kHahardware, kScsiGood);  // master abort
    }
    counters_.bytes_to_device += data_out.size();
    moved = data_out.size();
  }
  ScsiResult r = d.target->execute(d.lun, d.cdb, d.cdb_len, data_out);
  uint64_t expected = d.shape.dir == DataDir::kOut ? d.shape.bytes : r.data_in.size();
  if (!r.data_in.empty()) {
    moved = std::min<uint64_t>(r.data_in.size(), data_len);
    if (!transfer(d.segs, r.data_in.data(), moved, true)) {
      return finish_request(cmp, hw::HostStatus::kHahardware, kScsiGood);
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
  } else if (d.shape.dir != DataDir::kNone || data_len > 0) {
    // Over-run (the command had more than the buffer) is DATARUN; a short transfer is DATARUN
    // only where the profile says so (QEMU), with GOOD status either way.
    if (expected > data_len || (expected < data_len && config_.short_transfer_datarun)) {
      hs = hw::HostStatus::kDatarun;
    }
  }
  cmp.set_data_len(config_.report_data_len ? moved : 0);
  return finish_request(cmp, hs, r.status);
}

}  // namespace pvscsi_mock
