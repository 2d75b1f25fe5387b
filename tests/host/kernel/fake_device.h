// A tiny PCI device for the kernel's own tests: one 4 KiB memory BAR with a DMA engine that
// reads a buffer, adds 1 to every byte and writes it back, then raises an interrupt.
//
// Registers (32-bit, BAR 0 = rnumber 1):
//   0x00 ID       ro  0x7e570001
//   0x04 ADDR_LO  rw  DMA address
//   0x08 ADDR_HI  rw
//   0x0c LEN      rw  bytes
//   0x10 GO       wo  start the transfer (synchronously, or after delay_ns on the kernel clock)
//   0x14 STATUS   w1c bit 0: done; bit 1: DMA error
//   0x18 MASK     rw  bit 0: interrupt enabled
#pragma once

#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "device.h"

namespace fk_test {

class FakeDevice : public fk::DeviceBackend {
 public:
  static constexpr uint16_t kVendor = 0x1af4, kDevice = 0x7e57;
  static constexpr uint32_t kId = 0x7e570001;
  enum : uint32_t {
    kRegId = 0,
    kRegAddrLo = 4,
    kRegAddrHi = 8,
    kRegLen = 0xc,
    kRegGo = 0x10,
    kRegStatus = 0x14,
    kRegMask = 0x18
  };

  int types = fk::kIntrFixed | fk::kIntrMsi;
  int msi_count = 1;
  int msix_count = 0;
  int64_t delay_ns = 0;  // 0: the transfer happens inside the GO write

  fk::DeviceHost *host = nullptr;
  std::atomic<int> mode{0};
  std::atomic<unsigned> mode_vectors{0};
  std::atomic<int> transfers{0};
  std::atomic<bool> connected{false};

  void connect(fk::DeviceHost *h) override {
    host = h;
    connected = true;
  }
  void disconnect() override {
    connected = false;
    if (pending_ != 0) host->cancel(pending_);
  }
  uint32_t config_read(uint32_t off, unsigned width) override {
    uint8_t cfg[64] = {};
    put16(cfg, 0, kVendor);
    put16(cfg, 2, kDevice);
    cfg[8] = 1;       // revision
    cfg[0xb] = 0xff;  // class: device does not fit any class
    put16(cfg, 0x2c, kVendor);
    put16(cfg, 0x2e, 0x0001);
    cfg[0x3d] = 1;  // INTA
    uint32_t v = 0;
    if (off + width <= sizeof cfg) memcpy(&v, cfg + off, width);
    if (off == 4 && width == 2) v = command_;
    return v;
  }
  void config_write(uint32_t off, unsigned width, uint32_t value) override {
    if (off == 4 && width == 2) command_ = static_cast<uint16_t>(value);
  }
  unsigned num_regions() override { return 2; }
  fk::RegionInfo region(unsigned r) override {
    if (r == 0) return {fk::RegionInfo::Kind::kConfig, 0, 256};
    return {fk::RegionInfo::Kind::kMem32, 0, 4096};
  }
  uint64_t reg_read(unsigned rnumber, uint64_t off, unsigned width) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (rnumber != 1 || width != 4) return ~0u;
    switch (off) {
      case kRegId:
        return kId;
      case kRegAddrLo:
        return static_cast<uint32_t>(addr_);
      case kRegAddrHi:
        return static_cast<uint32_t>(addr_ >> 32);
      case kRegLen:
        return len_;
      case kRegStatus:
        return status_;
      case kRegMask:
        return mask_;
    }
    return 0;
  }
  void reg_write(unsigned rnumber, uint64_t off, unsigned width, uint64_t v) override {
    if (rnumber != 1 || width != 4) return;
    std::unique_lock<std::mutex> lk(mu_);
    switch (off) {
      case kRegAddrLo:
        addr_ = (addr_ & ~0xffffffffull) | static_cast<uint32_t>(v);
        break;
      case kRegAddrHi:
        addr_ = (addr_ & 0xffffffffull) | (v << 32);
        break;
      case kRegLen:
        len_ = static_cast<uint32_t>(v);
        break;
      case kRegMask:
        mask_ = static_cast<uint32_t>(v) & 1;
        update_irq();
        break;
      case kRegStatus:
        status_ &= ~static_cast<uint32_t>(v);
        update_irq();
        break;
      case kRegGo:
        if (delay_ns == 0) {
          run();
        } else {
          pending_ = host->schedule(host->now_ns() + delay_ns, [this] {
            std::lock_guard<std::mutex> g(mu_);
            pending_ = 0;
            run();
          });
        }
        break;
    }
  }
  int intr_types() override { return types; }
  int intr_count(int type) override {
    if (type == fk::kIntrFixed) return 1;
    if (type == fk::kIntrMsi) return msi_count;
    if (type == fk::kIntrMsix) return msix_count;
    return 0;
  }
  void set_intr_mode(int type, unsigned n) override {
    mode = type;
    mode_vectors = n;
  }

 private:
  static void put16(uint8_t *p, unsigned off, uint16_t v) { memcpy(p + off, &v, 2); }
  void run() {  // with mu_ held
    std::vector<uint8_t> buf(len_);
    bool ok = host->dma_read(addr_, buf.data(), buf.size());
    for (auto &b : buf) b++;
    ok = ok && host->dma_write(addr_, buf.data(), buf.size());
    status_ |= ok ? 1 : 2;
    transfers++;
    update_irq();
  }
  void update_irq() {  // with mu_ held
    bool want = (status_ != 0) && (mask_ & 1);
    if (mode == fk::kIntrFixed) {
      host->set_intx(want);
    } else if (want && (mode == fk::kIntrMsi || mode == fk::kIntrMsix)) {
      host->send_msi(0);
    }
  }

  std::mutex mu_;
  uint64_t addr_ = 0;
  uint32_t len_ = 0;
  uint32_t status_ = 0;
  uint32_t mask_ = 0;
  uint16_t command_ = 0;
  uint64_t pending_ = 0;
};

}  // namespace fk_test
