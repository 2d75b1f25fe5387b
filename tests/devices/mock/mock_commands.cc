// The mock PVSCSI device (mock_device.h): the commands written to the COMMAND register.
#include "mock_device.h"

namespace pvscsi_mock {

namespace {

constexpr uint32_t kFailed = hw::kCommandStatusFailed;
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

}  // namespace

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

}  // namespace pvscsi_mock
