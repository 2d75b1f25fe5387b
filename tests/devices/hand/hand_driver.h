// A hand-played PVSCSI driver at ring level over the device seam (tests/host/kernel/device.h):
// registers through fk::DeviceBackend::reg_read/reg_write, the rings state page and ring pages
// through fk::DeviceHost::dma_read/dma_write. It issues commands, sets up the request,
// completion and message rings, puts request descriptors, kicks, and takes completions and
// messages. No driver, no SCSA, no userland kernel. The mock's ring tests (ring_harness.h) and
// QEMU's (hand_rings.h) wrap it with their own clocks and waits. Single-threaded: one user at a
// time.
#pragma once

#include <cstdint>
#include <vector>

#include "device.h"
#include "pvscsi_hw.h"

namespace pvscsi_hand {

namespace hw = pvscsi::hw;

// Where the rings live: the rings state page and the pages each ring may use (SETUP_RINGS and
// SETUP_MSG_RING name the first n of each list).
struct RingPages {
  uint64_t state = 0;
  std::vector<uint64_t> req, cmp, msg;
};

class HandDriver {
 public:
  // rnumber: the register set of the device's registers (its MMIO BAR).
  HandDriver(fk::DeviceBackend &dev, unsigned rnumber, fk::DeviceHost &mem, RingPages pages);

  uint32_t read32(uint32_t offset);
  void write32(uint32_t offset, uint32_t v);
  uint32_t status() { return read32(hw::CommandStatus::kOffset); }

  // Writes a command code and its descriptor dwords; returns COMMAND_STATUS.
  uint32_t command(hw::CommandCode code, const std::vector<uint32_t> &dwords = {});
  // The same with a byte-backed descriptor (Desc::raw, little-endian) as dwords. (Assembled
  // from raw rather than with Desc::dword(): GCC 12.2 -O2 miscompiles a function that loops
  // over dword() of two different descriptor types into an endless loop.)
  template <class Desc>
  uint32_t command(hw::CommandCode code, const Desc &d) {
    return command_bytes(code, d.raw, Desc::kSize);
  }
  uint32_t command_bytes(hw::CommandCode code, const uint8_t *raw, uint32_t size);

  // SETUP_RINGS / SETUP_MSG_RING descriptors naming the first pages of each list.
  hw::CmdDescSetupRings rings_desc(uint32_t nreq, uint32_t ncmp) const;
  hw::CmdDescSetupMsgRing msg_ring_desc(uint32_t n) const;
  // Clears the rings state page, sets the request and completion indices to `start` and issues
  // SETUP_RINGS; returns COMMAND_STATUS.
  uint32_t setup_rings(uint32_t nreq = 1, uint32_t ncmp = 1, uint32_t start = 0);
  // Sets the message indices to `start` and issues SETUP_MSG_RING; returns COMMAND_STATUS.
  uint32_t setup_msg_ring(uint32_t n = 1, uint32_t start = 0);

  // A rings-state dword: loads with acquire, stores with release semantics (the device may be
  // another process: what it wrote before publishing an index is visible, and a descriptor
  // lands before the index that publishes it).
  uint32_t rs_field(uint32_t offset);
  void rs_store(uint32_t offset, uint32_t v);
  uint32_t req_slots() const { return nreq * hw::kReqEntriesPerPage; }

  // Puts a request in the ring at the producer index and publishes it (does not kick).
  void put(const hw::RingReqDesc &d);
  // Doorbell: KICK_RW_IO (rw) or KICK_NON_RW_IO.
  void kick(bool rw = true);
  // Completions the device has published since the last call (at most a ring's worth);
  // advances the completion consumer index.
  std::vector<hw::RingCmpDesc> take();
  // Messages the device has published since the last call; advances the message consumer index.
  std::vector<hw::RingMsgDesc> take_msgs();
  // Reads INTR_STATUS and writes the bits back (w1c); returns them.
  uint32_t ack_interrupts();

  fk::DeviceBackend &device;
  fk::DeviceHost &memory;
  const unsigned rnumber;
  // The ring pages (rs: the rings state page).
  uint64_t rs = 0;
  std::vector<uint64_t> req_pages, cmp_pages, msg_pages;
  // The driver's indices and the ring sizes in pages set up last.
  uint32_t req_prod = 0, cmp_cons = 0, msg_cons = 0;
  uint32_t nreq = 1, ncmp = 1, nmsg = 1;
};

}  // namespace pvscsi_hand
