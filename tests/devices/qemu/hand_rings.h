// The hand-played ring driver (tests/devices/hand/hand_driver.h) against QEMU: rings in guest
// RAM, requests described by ScsiRequest, and synchronous execution that waits for the INTx
// raise QEMU reports to the TestHost. No SCSA, no driver, no userland kernel. Tests use it to
// check interface facts against QEMU; the ring-loop benchmark baseline is built on it.
// Single-threaded: one user at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cdb.h"
#include "hand_driver.h"
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
  // Allocates the rings state page and the ring pages from `mem`; the rings' memory is reached
  // through `host` (the device seam's DMA).
  HandRings(QemuDevice &dev, TestHost &host, GuestAllocator &mem, RingGeometry geometry = {});

  // Writes a command code and its descriptor dwords; returns COMMAND_STATUS.
  uint32_t command(pvscsi::hw::CommandCode code, const std::vector<uint32_t> &dwords = {}) {
    return drv_.command(code, dwords);
  }
  template <class Desc>
  uint32_t command(pvscsi::hw::CommandCode code, const Desc &d) {
    return drv_.command(code, d);
  }
  // ADAPTER_RESET, SETUP_RINGS, then SETUP_MSG_RING when msg_pages > 0, and INTR_MASK = all
  // supported causes. Returns the first failing COMMAND_STATUS, or 0. (SETUP_MSG_RING succeeds
  // with status 34 in QEMU 7.2, which counts as success.)
  uint32_t setup();

  // Puts one request on the ring (does not kick). false when the ring is full.
  bool submit(const ScsiRequest &r);
  // Doorbell: KICK_RW_IO (rw) or KICK_NON_RW_IO.
  void kick(bool rw) { drv_.kick(rw); }
  // Completions published since the last call; advances cmpConsIdx.
  std::vector<Completion> reap();
  // Messages published since the last call; advances msgConsIdx.
  std::vector<DevMessage> reap_messages();
  // Reads INTR_STATUS and writes the bits back (w1c); returns them.
  uint32_t ack_interrupts() { return drv_.ack_interrupts(); }

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
  uint32_t req_prod() { return field(pvscsi::hw::RingsState::kReqProdIdxOffset); }
  uint32_t req_cons() { return field(pvscsi::hw::RingsState::kReqConsIdxOffset); }
  uint32_t cmp_prod() { return field(pvscsi::hw::RingsState::kCmpProdIdxOffset); }
  uint32_t cmp_cons() { return field(pvscsi::hw::RingsState::kCmpConsIdxOffset); }
  uint32_t msg_prod() { return field(pvscsi::hw::RingsState::kMsgProdIdxOffset); }
  uint32_t req_entries_log2() { return field(pvscsi::hw::RingsState::kReqNumEntriesLog2Offset); }
  uint32_t cmp_entries_log2() { return field(pvscsi::hw::RingsState::kCmpNumEntriesLog2Offset); }
  uint32_t msg_entries_log2() { return field(pvscsi::hw::RingsState::kMsgNumEntriesLog2Offset); }
  uint32_t req_entries() const { return geo_.req_pages * pvscsi::hw::kReqEntriesPerPage; }
  uint32_t outstanding() const { return submitted_ - completed_; }
  uint64_t rings_state_paddr() const { return drv_.rs; }

 private:
  uint32_t field(uint32_t offset) { return drv_.rs_field(offset); }

  RingGeometry geo_;
  pvscsi_hand::HandDriver drv_;
  uint32_t submitted_ = 0, completed_ = 0;
};

// CDBs come from the client's builders (fk::client::cdb). set_cdb puts one in a request with
// its direction; DataDir::kNone also clears the data buffer.
namespace cdb = fk::client::cdb;
void set_cdb(ScsiRequest *r, const fk::client::Cdb &c, DataDir dir);
// READ(16) or WRITE(16), with the direction that goes with it.
void set_rw16(ScsiRequest *r, bool write, uint64_t lba, uint32_t blocks);

}  // namespace pvscsi_qemu
