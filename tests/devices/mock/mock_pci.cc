// The mock PVSCSI device (mock_device.h): PCI configuration space, BARs, register access,
// MSI-X table and the interrupt types it offers.
#include "mock_device.h"

#include <algorithm>

namespace pvscsi_mock {

namespace {

constexpr uint32_t kFailed = hw::kCommandStatusFailed;

}  // namespace

// ---------------------------------------------------------------------------------------------
// PCI configuration space, BARs, register access, MSI-X table

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

}  // namespace pvscsi_mock
