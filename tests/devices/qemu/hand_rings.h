// A hand-built PVSCSI ring driver over QemuDevice: no SCSA, no driver, no userland kernel. It
// sets up the rings in guest RAM with the command protocol, puts request descriptors on the
// request ring, kicks, reaps completions and messages, and acknowledges interrupts. Tests use it
// to check interface facts against QEMU; the ring-loop benchmark baseline is built on it.
// Single-threaded: one user at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pvscsi_hw.h"
#include "qemu_device.h"
#include "test_host.h"

namespace pvscsi_qemu {

struct RingGeometry {
  uint32_t req_pages = 1;     // power of two, 1..32
  uint32_t cmp_pages = 1;     // power of two, 1..32
  uint32_t msg_pages = 1;     // power of two, 1..16; 0: no message ring
  uint64_t prefer_above = 0;  // place rings at or above this guest-physical address if possible
};

enum class DataDir { kNone, kToHost, kToDevice };

struct ScsiRequest {
  uint64_t context = 0;  // non-zero, upper 32 bits zero
  uint8_t target = 0;
  uint8_t lun = 0;  // single-level LUN, goes in lun[1]
  uint8_t cdb[16] = {};
  uint8_t cdb_len = 0;
  DataDir dir = DataDir::kNone;
  uint64_t data_paddr = 0;  // a flat buffer (no SG list)
  uint64_t data_len = 0;
  uint64_t sense_paddr = 0;
  uint32_t sense_len = 0;
};

struct Completion {
  uint64_t context;
  uint64_t data_len;
  uint32_t sense_len;
  uint16_t host_status;
  uint16_t scsi_status;
};

struct DevMessage {
  uint32_t type;
  uint32_t bus;
  uint32_t target;
  uint8_t lun[8];
};

class HandRings {
 public:
  // Allocates the rings state page and the ring pages from `mem`.
  HandRings(QemuDevice &dev, GuestAllocator &mem, RingGeometry geometry = {});

  // Writes a command code and its descriptor dwords; returns COMMAND_STATUS.
  uint32_t command(pvscsi::hw::CommandCode code, const uint32_t *dwords = nullptr,
                   uint32_t count = 0);
  // Writes a command code and a byte-backed descriptor (Desc::raw, little-endian) as dwords.
  // (Assembled here rather than with Desc::dword(): GCC 12.2 -O2 miscompiles a function that
  // loops over dword() of two different descriptor types into an endless loop.)
  template <class Desc>
  uint32_t command(pvscsi::hw::CommandCode code, const Desc &d) {
    return command_bytes(code, d.raw, Desc::kSize);
  }
  uint32_t command_bytes(pvscsi::hw::CommandCode code, const uint8_t *raw, uint32_t size);
  // ADAPTER_RESET, SETUP_RINGS, then SETUP_MSG_RING when msg_pages > 0, and INTR_MASK = all
  // supported causes. Returns the first failing COMMAND_STATUS, or 0. (SETUP_MSG_RING succeeds
  // with status 34 in QEMU 7.2, which counts as success.)
  uint32_t setup();

  // Puts one request on the ring (does not kick). false when the ring is full.
  bool submit(const ScsiRequest &r);
  // Doorbell: KICK_RW_IO (rw) or KICK_NON_RW_IO.
  void kick(bool rw);
  // Completions published since the last call; advances cmpConsIdx.
  std::vector<Completion> reap();
  // Messages published since the last call; advances msgConsIdx.
  std::vector<DevMessage> reap_messages();
  // Reads INTR_STATUS and writes the bits back (w1c); returns them.
  uint32_t ack_interrupts();

  // Runs one request synchronously with no other outstanding: acknowledge pending interrupt
  // causes (messages stay in the message ring), submit, kick, wait (bounded) for
  // the INTx raise reported to `host`, acknowledge, reap. false with *error on a timeout, a
  // missing or foreign completion, or a line that acknowledging does not lower.
  bool execute(TestHost &host, const ScsiRequest &r, bool rw, std::chrono::milliseconds timeout,
               Completion *out, std::string *error);
  // TEST UNIT READY until it reports GOOD (at most `tries`): consumes the UNIT ATTENTION
  // (POWER ON/RESET, 29h/00h) QEMU's disks report on the first command after a reset.
  bool clear_unit_attention(TestHost &host, uint8_t target, std::chrono::milliseconds timeout,
                            std::string *error, int tries = 3);

  // Rings-state indices (the device's are read with acquire semantics).
  uint32_t req_prod() const;
  uint32_t req_cons() const;
  uint32_t cmp_prod() const;
  uint32_t cmp_cons() const;
  uint32_t msg_prod() const;
  uint32_t req_entries_log2() const;
  uint32_t cmp_entries_log2() const;
  uint32_t msg_entries_log2() const;
  uint32_t req_entries() const { return geo_.req_pages * pvscsi::hw::kReqEntriesPerPage; }
  uint32_t outstanding() const { return submitted_ - completed_; }
  uint64_t rings_state_paddr() const { return state_; }

 private:
  uint32_t load(uint32_t offset) const;
  void store(uint32_t offset, uint32_t v);

  QemuDevice &dev_;
  RingGeometry geo_;
  uint64_t state_ = 0;
  std::vector<uint64_t> req_pages_, cmp_pages_, msg_pages_;
  uint8_t *state_ptr_ = nullptr;
  uint32_t submitted_ = 0, completed_ = 0;
};

// SCSI CDBs.
void cdb_inquiry(ScsiRequest *r, uint8_t alloc_len);
void cdb_test_unit_ready(ScsiRequest *r);
void cdb_read_write16(ScsiRequest *r, bool write, uint64_t lba, uint32_t blocks);
void cdb_read_write10(ScsiRequest *r, bool write, uint32_t lba, uint16_t blocks);

}  // namespace pvscsi_qemu
