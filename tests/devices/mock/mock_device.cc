// The mock PVSCSI device: see mock_device.h. The interface rules it enforces are quoted from
// /work/shared/reference/pvscsi-interface.md where the code enforces them. This file holds its
// construction, its connection to the host, the host access functions and the scheduling on the
// host clock; the rest lives beside it by subject:
//   mock_pci.cc          PCI configuration space, BARs, register access, MSI-X table
//   mock_registers.cc    register wiring (called by the generated skeleton)
//   mock_commands.cc     the commands written to the COMMAND register
//   mock_requests.cc     request processing: the request ring and one request's execution
//   mock_completions.cc  completions, interrupts and the device's service pass
//   mock_messages.cc     the message ring and hotplug
//   mock_oracles.cc      oracles, counters, state
//   mock_faults.cc       fault injection
#include "mock_device.h"

#include <algorithm>
#include <cstring>

namespace pvscsi_mock {

// ---------------------------------------------------------------------------------------------
// Construction and connection

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

}  // namespace pvscsi_mock
