// A hostile PVSCSI device for robustness tests: the mock device (tests/devices/mock) behind a
// decorator that lets a test (or a fuzzer) play the device against the driver. It watches the
// command protocol to learn where the driver put its rings and its CONFIG buffer, and can then
// write arbitrary bytes into the RingsState page, the completion ring, the message ring and the
// CONFIG page, override COMMAND_STATUS, and raise interrupts - everything a broken or malicious
// device could do. Host-side test code.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "device.h"
#include "mock_device.h"

namespace robust {

class HostileDevice : public fk::DeviceBackend {
 public:
  explicit HostileDevice(const pvscsi_mock::Config &cfg);
  ~HostileDevice() override;

  pvscsi_mock::MockDevice &mock() { return *mock_; }

  // --- fk::DeviceBackend: forwarded to the mock, with the command protocol watched -------------
  FK_DEVICE_BACKEND_OVERRIDES;

  // --- What the driver told the device (0 / empty until set up) --------------------------------
  uint64_t rings_state_paddr() const;
  std::vector<uint64_t> cmp_ring_pages() const;
  std::vector<uint64_t> msg_ring_pages() const;
  uint64_t config_paddr() const;  // the CONFIG command's cmpAddr (last one)
  uint64_t commands_seen() const;

  // --- Hostile acts --------------------------------------------------------------------------
  // Raw bus-master writes; false when nothing is set up there (or the host refused).
  bool write_rings_state(uint32_t offset, const void *bytes, size_t len);
  bool read_rings_state(uint32_t offset, void *bytes, size_t len);
  bool write_cmp_entry(uint32_t index, const void *bytes, size_t len);  // index masked
  bool write_msg_entry(uint32_t index, const void *bytes, size_t len);
  // The next COMMAND_STATUS read returns `value` instead of the real status.
  void override_next_command_status(uint32_t value);
  // The nth (1-based) COMMAND_STATUS read from now returns `value`.
  void override_nth_command_status(uint64_t n, uint32_t value);
  // After each CONFIG command, these bytes are written over the page at `offset`.
  void corrupt_config_page(uint32_t offset, std::vector<uint8_t> bytes);
  // Notifications behind the mock's back: an MSI/MSI-X message on `vector`, or an INTx pulse.
  void raw_interrupt(unsigned vector);
  void clear_overrides();

 private:
  bool is_regs(unsigned rnumber) const { return rnumber == mock_->register_rnumber(); }
  void command_complete();  // under mu_

  std::unique_ptr<pvscsi_mock::MockDevice> mock_;
  mutable std::mutex mu_;
  fk::DeviceHost *host_ = nullptr;
  int intr_type_ = 0;
  // Command protocol as the driver wrote it.
  uint32_t cmd_ = 0;
  std::vector<uint32_t> data_;
  uint64_t commands_ = 0;
  // Rings.
  uint64_t rs_paddr_ = 0;
  std::vector<uint64_t> cmp_pages_, msg_pages_;
  uint64_t config_paddr_ = 0;
  // Overrides.
  uint64_t status_reads_ = 0;
  uint64_t override_at_ = 0;  // status read number to override, 0 = none
  uint32_t override_value_ = 0;
  uint32_t config_offset_ = 0;
  std::vector<uint8_t> config_bytes_;
};

}  // namespace robust
