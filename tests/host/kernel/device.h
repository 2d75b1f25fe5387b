// The seam between the userland kernel and a PCI device model (the generated mock, or QEMU's
// pvscsi driven over qtest). The kernel implements DeviceHost; a device implements
// DeviceBackend. Host-side C++ (this is test infrastructure, not kernel code).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace fk {

// Interrupt types a device can offer; the values equal DDI_INTR_TYPE_FIXED/MSI/MSIX.
enum IntrTypeBits : int { kIntrFixed = 0x1, kIntrMsi = 0x2, kIntrMsix = 0x4 };

// What the kernel provides to a device. Every method is thread-safe and never calls driver code
// inline: interrupts are delivered on the kernel's interrupt threads, callbacks on its callout
// thread.
class DeviceHost {
 public:
  virtual ~DeviceHost() = default;

  // Bus-master access to physical memory (the kernel arena). false when any byte of the range
  // is outside memory: the device sees a master abort and must treat it as an error. In the
  // kernel's sync-audit mode these calls are where missing ddi_dma_sync()s are caught.
  virtual bool dma_read(uint64_t paddr, void *buf, size_t len) = 0;
  virtual bool dma_write(uint64_t paddr, const void *buf, size_t len) = 0;

  // Legacy INTx line (level-triggered): asserted while the device wants service.
  virtual void set_intx(bool asserted) = 0;
  // MSI / MSI-X message for a vector (edge).
  virtual void send_msi(unsigned vector) = 0;

  // The kernel clock (real or virtual), in nanoseconds since boot.
  virtual int64_t now_ns() = 0;
  // Run fn on the kernel's callout thread once the clock reaches when_ns (at once if it has).
  // Returns an id for cancel(); ids are never 0.
  virtual uint64_t schedule(int64_t when_ns, std::function<void()> fn) = 0;
  // Cancel a scheduled call; returns false when it already ran or was never scheduled. Waits
  // for the call to finish if it is running on another thread.
  virtual bool cancel(uint64_t id) = 0;
};

// One register set, as listed in the node's "reg" property. rnumber 0 is PCI configuration
// space, as on illumos; then the BARs the device implements, in BAR order.
struct RegionInfo {
  enum class Kind { kConfig, kIo, kMem32, kMem64 };
  Kind kind;
  unsigned bar;   // BAR index 0..5 (ignored for kConfig)
  uint64_t size;  // bytes
};

// A PCI function as the kernel sees it.
class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;

  // Called by the kernel once, before any other call; host outlives the device's use of it.
  virtual void connect(DeviceHost *host) = 0;
  // Called by the kernel when the node goes away: stop threads, cancel scheduled calls. After
  // it returns the device must not call the host again.
  virtual void disconnect() = 0;

  // PCI configuration space; width is 1, 2 or 4.
  virtual uint32_t config_read(uint32_t offset, unsigned width) = 0;
  virtual void config_write(uint32_t offset, unsigned width, uint32_t value) = 0;

  // Register sets (see RegionInfo); width is 1, 2, 4 or 8 bytes.
  virtual unsigned num_regions() = 0;
  virtual RegionInfo region(unsigned rnumber) = 0;
  virtual uint64_t reg_read(unsigned rnumber, uint64_t offset, unsigned width) = 0;
  virtual void reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) = 0;

  // Interrupts: the types offered (IntrTypeBits) and how many vectors of one type.
  virtual int intr_types() = 0;
  virtual int intr_count(int type) = 0;
  // The kernel enables one type with n vectors (like programming the MSI/MSI-X capability);
  // type 0 means all interrupt delivery off. The device raises only the enabled kind.
  virtual void set_intr_mode(int type, unsigned nvectors) = 0;
};

// The declarations of every DeviceBackend member, for a class that implements them all.
#define FK_DEVICE_BACKEND_OVERRIDES                                                           \
  void connect(fk::DeviceHost *host) override;                                                \
  void disconnect() override;                                                                 \
  uint32_t config_read(uint32_t offset, unsigned width) override;                             \
  void config_write(uint32_t offset, unsigned width, uint32_t value) override;                \
  unsigned num_regions() override;                                                            \
  fk::RegionInfo region(unsigned rnumber) override;                                           \
  uint64_t reg_read(unsigned rnumber, uint64_t offset, unsigned width) override;              \
  void reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) override; \
  int intr_types() override;                                                                  \
  int intr_count(int type) override;                                                          \
  void set_intr_mode(int type, unsigned nvectors) override

}  // namespace fk
