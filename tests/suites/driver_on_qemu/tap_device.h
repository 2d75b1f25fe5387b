// A transparent DeviceBackend between the kernel and QEMU's pvscsi (for the integration tests).
//
// Every access is forwarded to the QemuDevice unchanged. On the way the tap records the command
// register protocol (each command code, how many COMMAND_DATA dwords followed, the status the
// driver read back), learns where the rings are from SETUP_RINGS / SETUP_MSG_RING, and can plant
// faults that only an independent check can catch:
//  - misdirect_next_write(): the next WRITE the driver queues goes to another LBA (the tap edits
//    the CDB in guest memory before forwarding the doorbell), as a driver bug would;
//  - drop_rw_kicks(): KICK_RW_IO writes are swallowed, so QEMU (kick-only) never sees the
//    requests and their completions never come, as if the device lost them; release_kicks()
//    forwards one doorbell and QEMU catches up;
//  - corrupt_msg_prod(): writes a nonsense message-ring producer index into the rings-state
//    page, which the driver must treat as a corrupted device (adapter restart). QEMU writes
//    msgProdIdx only on hotplug, so the value stays until the driver looks.
// Host-side test code.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "device.h"
#include "qemu_device.h"

namespace driver_on_qemu {

struct CommandRecord {
  uint32_t code = 0;
  uint32_t dwords = 0;       // COMMAND_DATA writes after the code
  uint32_t status = 0;       // COMMAND_STATUS as the driver read it
  bool status_read = false;  // the driver read the status for this command
};

// What the tap changed when it misdirected a write.
struct Misdirect {
  bool done = false;
  unsigned target = 0;
  uint64_t lba = 0;      // where the driver asked to write
  uint64_t new_lba = 0;  // where QEMU wrote
  uint32_t blocks = 0;
};

class TapDevice : public fk::DeviceBackend {
 public:
  explicit TapDevice(pvscsi_qemu::QemuDevice *dev) : dev_(dev) {}

  // fk::DeviceBackend: forwarded.
  void connect(fk::DeviceHost *host) override { dev_->connect(host); }
  void disconnect() override { dev_->disconnect(); }
  uint32_t config_read(uint32_t offset, unsigned width) override {
    return dev_->config_read(offset, width);
  }
  void config_write(uint32_t offset, unsigned width, uint32_t value) override {
    dev_->config_write(offset, width, value);
  }
  unsigned num_regions() override { return dev_->num_regions(); }
  fk::RegionInfo region(unsigned rnumber) override { return dev_->region(rnumber); }
  uint64_t reg_read(unsigned rnumber, uint64_t offset, unsigned width) override;
  void reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) override;
  int intr_types() override { return dev_->intr_types(); }
  int intr_count(int type) override { return dev_->intr_count(type); }
  void set_intr_mode(int type, unsigned nvectors) override { dev_->set_intr_mode(type, nvectors); }

  // The command protocol as seen so far.
  std::vector<CommandRecord> commands() const;
  // Rings as the driver last set them up (0 before SETUP_RINGS).
  uint64_t rings_state_pa() const;
  bool msg_ring_set_up() const;

  // Faults.
  void misdirect_next_write(uint64_t lba_shift);
  Misdirect misdirect() const;
  void drop_rw_kicks(bool on) { drop_kicks_.store(on); }
  uint64_t dropped_kicks() const { return dropped_.load(); }
  void release_kicks();  // one KICK_RW_IO to QEMU (drop_rw_kicks must be off)
  // Write `value` as msgProdIdx into the rings-state page (guest memory, device side).
  bool corrupt_msg_prod(uint32_t value);

 private:
  void misdirect_locked();

  pvscsi_qemu::QemuDevice *dev_;
  mutable std::mutex mu_;
  std::vector<CommandRecord> cmds_;
  std::vector<uint32_t> data_;  // COMMAND_DATA of the current command
  uint64_t rings_state_ppn_ = 0;
  uint32_t req_pages_ = 0;
  uint64_t req_ppns_[32] = {};
  bool msg_ring_ = false;
  bool misdirect_armed_ = false;
  uint64_t misdirect_shift_ = 0;
  Misdirect misdirect_;
  std::atomic<bool> drop_kicks_{false};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace driver_on_qemu
