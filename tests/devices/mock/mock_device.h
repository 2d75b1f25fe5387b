// The mock PVSCSI device: an fk::DeviceBackend built on the generated register decode and
// command protocol (pvscsi::hw::DeviceSkeleton) plus handwritten behaviour: rings, SG lists,
// SCSI targets (scsi_target.h), message ring and hotplug, interrupts (INTx level with w1c status
// and mask, MSI, MSI-X), CONFIG, the request-call threshold, latency, batching, counters and
// fault injection. The two profiles and every knob are in mock_config.h.
//
// Rules it keeps (the device seam, tests/host/kernel/device.h):
// - driver memory is reached only through DeviceHost::dma_read/dma_write; descriptors are copied
//   in and out, no pointer into driver memory is kept;
// - time is the host's clock: latency, coalescing and VMware-like polling are scheduled calls
//   (DeviceHost::schedule), never sleeps or spinning threads;
// - everything the driver writes is untrusted: a bad ring set-up gets COMMAND_STATUS -1 and
//   nothing written; a bad request gets a host status (SELTIMEO, INVPARAM, BADMSG, HAHARDWARE);
// - at SETUP_RINGS / SETUP_MSG_RING the device takes its starting indices (reqConsIdx,
//   cmpProdIdx, msgProdIdx) from the RingsState page: 0 for a zeroed page; tests start them
//   near 2^32 to prove wrap-around. It also reads cmpConsIdx before each completion (to count
//   completion-ring overflows) and msgConsIdx before each message (to drop when full);
// - with the "vmware" profile the register BAR is BAR1 behind an 8-byte I/O BAR0 (drivers must
//   search for the memory BAR, as on VMware; io_bar = false puts it at BAR0);
// - every LUN starts with a POWER ON, RESET unit attention, as real disks do
//   (power_on_unit_attention = false: none);
// - one mutex guards the device. Host calls (DMA, interrupts, schedule) are made with it held
//   (lock order: device lock -> host); DeviceHost::cancel() is only called without it.
//
// Usage:
//   pvscsi_mock::Config cfg = pvscsi_mock::Config::qemu();
//   cfg.targets = {{0, {{0}, {1, LunKind::kDisk, 1 << 20, 4096}}}, {3, {}}};
//   pvscsi_mock::MockDevice dev(cfg);
//   kernel.attach_device(&dev);             // the kernel calls connect(), reg_read/write, ...
//   dev.add_lun(3, LunSpec{0});            // hotplug: posts DEV_ADDED if the message ring has room
//   EXPECT_EQ(dev.counters().kicks_rw, 1u);
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <vector>

#include "device.h"
#include "mock_config.h"
#include "pvscsi_hw.h"
#include "pvscsi_mock_skeleton.h"
#include "scsi_target.h"

namespace pvscsi_mock {

namespace hw = pvscsi::hw;

// Everything the device counts. Read with MockDevice::counters() (a snapshot).
struct Counters {
  uint64_t kicks_rw = 0;       // KICK_RW_IO writes
  uint64_t kicks_non_rw = 0;   // KICK_NON_RW_IO writes
  uint64_t debug_writes = 0;   // DEBUG writes
  uint64_t commands[16] = {};  // COMMAND writes by code (codes >= 16 in commands_unknown)
  uint64_t commands_unknown = 0;
  uint64_t commands_failed = 0;  // commands whose status was -1

  uint64_t interrupts = 0;           // notifications delivered: MSI/MSI-X messages + INTx asserts
  uint64_t msi_sent = 0;             // of which MSI or MSI-X messages
  uint64_t intx_asserts = 0;         // of which INTx assertions (line low -> high)
  uint64_t interrupts_dropped = 0;   // fault: notifications not delivered
  uint64_t interrupts_spurious = 0;  // fault: spurious notifications

  uint64_t requests = 0;              // request descriptors consumed
  uint64_t completions = 0;           // completion descriptors written (injected ones included)
  uint64_t scsi_by_opcode[256] = {};  // requests consumed, by CDB opcode
  uint64_t by_tag[256] = {};          // requests consumed, by queue tag (0x20 simple, 0x21 head
                                      // of queue, 0x22 ordered)
  uint64_t bytes_to_host = 0;         // data-in bytes written to driver memory
  uint64_t bytes_to_device = 0;       // data-out bytes read from driver memory
  uint64_t outstanding = 0;           // requests in the device now
  uint64_t max_outstanding = 0;       // high-water mark of outstanding
  uint64_t polls = 0;                 // request-ring polls by the device (not kick-driven)

  uint64_t msgs_posted = 0;
  uint64_t msgs_dropped = 0;  // message ring not set up or full

  uint64_t dma_errors = 0;             // dma_read/dma_write refused by the host
  uint64_t bad_requests = 0;           // requests refused with a host status
  uint64_t req_ring_overruns = 0;      // reqProdIdx - reqConsIdx beyond the ring: ignored
  uint64_t reserved_nonzero = 0;       // requests with non-zero unused bytes (70..127)
  uint64_t cmp_ring_overflows = 0;     // completion written while the ring was full
  uint64_t bad_register_accesses = 0;  // wrong width, offset out of the BAR, forbidden access
};

// The device's view of its rings and interrupt state (for assertions).
struct RingState {
  bool rings_valid = false;
  uint64_t rings_state_paddr = 0;
  uint32_t req_entries = 0, cmp_entries = 0;
  uint32_t req_cons = 0;  // device's free-running indices
  uint32_t cmp_prod = 0;
  bool msg_valid = false;
  uint32_t msg_entries = 0;
  uint32_t msg_prod = 0;
  bool threshold_enabled = false;
  uint32_t req_call_threshold = 0;  // last value published
  bool polling = false;
  uint32_t intr_status = 0, intr_mask = 0;
  bool intx_asserted = false;
  int intr_mode = 0;  // fk::IntrTypeBits value enabled by the kernel, 0 = off
  size_t outstanding = 0;
};

// Bogus completion contexts (fault injection).
enum class BogusContext {
  kZero,              // context 0 (never valid)
  kOutOfRange,        // 0x7FFFFFFF (beyond any context table)
  kAlreadyCompleted,  // the context of the last completion written
  kUpper32,           // a real outstanding context with bit 32 set
};

class MockDevice : public fk::DeviceBackend, public hw::DeviceSkeleton<MockDevice> {
 public:
  explicit MockDevice(const Config &config = Config::vmware());
  ~MockDevice() override;
  MockDevice(const MockDevice &) = delete;
  MockDevice &operator=(const MockDevice &) = delete;

  // --- fk::DeviceBackend --------------------------------------------------------------------
  FK_DEVICE_BACKEND_OVERRIDES;

  // The rnumber of the register BAR: rnumber 0 is config space, then the BARs in order; with
  // io_bar the I/O BAR is rnumber 1 and the registers are rnumber 2, else rnumber 1.
  unsigned register_rnumber() const { return config_.io_bar ? 2 : 1; }
  // Convenience for tests: a 32-bit register access on the register BAR.
  uint32_t read32(uint32_t offset) { return uint32_t(reg_read(register_rnumber(), offset, 4)); }
  void write32(uint32_t offset, uint32_t v) { reg_write(register_rnumber(), offset, 4, v); }

  // --- Topology and hotplug ----------------------------------------------------------------
  // Each returns false when nothing changed (exists already / no such target or LUN / target id
  // out of range). A change posts DEV_ADDED / DEV_REMOVED (target, lun[1] or flat LUN) when the
  // message ring is set up and has room, else the message is dropped (counters().msgs_dropped).
  // Adding or removing a LUN also posts REPORTED LUNS DATA HAS CHANGED on the target's other
  // LUNs. Requests in the device for a removed target or LUN complete at once with ABORTQUEUE.
  bool add_target(const TargetSpec &t);
  bool remove_target(uint32_t target);
  bool add_lun(uint32_t target, const LunSpec &lun);
  bool remove_lun(uint32_t target, uint16_t lun);
  // Changes a disk's capacity and posts CAPACITY DATA HAS CHANGED.
  bool set_capacity(uint32_t target, uint16_t lun, uint64_t blocks);
  // Posts any message (type and 31 argument dwords), e.g. an unknown type; false if dropped.
  bool post_message(uint32_t type, const std::array<uint32_t, 31> &args);
  bool has_target(uint32_t target) const;
  bool has_lun(uint32_t target, uint16_t lun) const;
  bool has_unit_attention(uint32_t target, uint16_t lun, UnitAttention ua) const;

  // --- Oracles ------------------------------------------------------------------------------
  // A LUN's stored blocks (zeros where never written); false if no such disk or out of range.
  bool read_blocks(uint32_t target, uint16_t lun, uint64_t lba, uint64_t count,
                   std::vector<uint8_t> *out) const;
  bool write_blocks(uint32_t target, uint16_t lun, uint64_t lba, const std::vector<uint8_t> &in);

  Counters counters() const;
  void reset_counters();
  RingState ring_state() const;
  const Config &config() const { return config_; }

  // --- Fault injection ----------------------------------------------------------------------
  // Requests to a hung target are never completed (until aborted or reset).
  void set_target_hung(uint32_t target, bool hung);
  // A deaf target swallows requests and ignores ABORT_CMD, RESET_DEVICE and RESET_BUS (they
  // succeed and change nothing); only ADAPTER_RESET, or clearing deafness, gives them back.
  void set_target_deaf(uint32_t target, bool deaf);
  // The next n requests (to `target`, or to any target when target < 0) complete with this host
  // status and SCSI status without running; with CHECK CONDITION, `sense` (default: HARDWARE
  // ERROR, internal target failure 44/00) is written to the sense buffer.
  void fail_next_requests(unsigned n, uint16_t host_status, uint16_t scsi_status,
                          int64_t target = -1, std::vector<uint8_t> sense = {});
  // The next real completion carries a bogus context instead of its own (its request is lost).
  void corrupt_next_completion_context(BogusContext kind);
  // Writes an extra completion with any context (and raises the completion interrupt).
  bool inject_completion(uint64_t context, uint16_t host_status, uint16_t scsi_status);
  // Writes the completion producer index beyond the ring (cmpConsIdx + entries + 7) once and
  // raises the completion interrupt; the next real completion writes the true index back.
  void corrupt_cmp_prod_index();
  // Writes these values into the RingsState log2 fields.
  void corrupt_log2_sizes(uint32_t req_log2, uint32_t cmp_log2, uint32_t msg_log2);
  // The next n interrupt notifications are not delivered (the status bits are still set).
  void drop_next_interrupts(unsigned n);
  // The next n interrupt notifications are delivered twice.
  void duplicate_next_interrupts(unsigned n);
  // An interrupt with no work: sets `status_bits` in INTR_STATUS (0: none) and notifies (INTx:
  // a pulse when no bits are set).
  void raise_spurious_interrupt(uint32_t status_bits = 0);
  // COMMAND_STATUS -1 for the next n commands with this code (UINT32_MAX: until cleared with 0).
  void refuse_command(hw::CommandCode code, uint32_t n = UINT32_MAX);
  // The device resets itself as if ADAPTER_RESET had been written (requests complete with
  // BUSRESET into the old ring, interrupt, rings invalid), now or at a time on the host clock.
  void spontaneous_reset();
  void schedule_spontaneous_reset(int64_t at_ns);
  // Publishes a request-call threshold (and stops adapting it) until cleared with 0: models a
  // device that publishes a high threshold without polling.
  void force_req_call_threshold(uint32_t value);

  // --- Called by the generated skeleton (under the device lock) ------------------------------
  // The mock's own wiring of the registers (the hardware description says nothing of it).
  uint32_t on_read(hw::IntrStatus);
  void on_ack(hw::IntrStatus bits);
  uint32_t on_read(hw::IntrMask);
  void on_write(hw::IntrMask m);
  void on_ring(hw::KickRwIo) { on_kick(true); }
  void on_ring(hw::KickNonRwIo) { on_kick(false); }
  void on_write(hw::Debug);
  // LAST_STS_0..3: unused by known drivers; read as 0.
  template <class LastSts>
  uint32_t on_read(LastSts) {
    return 0;
  }
  void on_kick(bool rw_io);
  bool command_supported(hw::CommandCode code);
  uint32_t handle(hw::CmdAdapterReset);
  uint32_t handle(hw::CmdIssueScsi);
  uint32_t handle(hw::CmdSetupRings, const hw::CmdDescSetupRings &d);
  uint32_t handle(hw::CmdResetBus);
  uint32_t handle(hw::CmdResetDevice, const hw::CmdDescResetDevice &d);
  uint32_t handle(hw::CmdAbortCmd, const hw::CmdDescAbortCmd &d);
  uint32_t handle(hw::CmdConfig, const hw::CmdDescConfig &d);
  uint32_t handle(hw::CmdSetupMsgRing, const hw::CmdDescSetupMsgRing &d);
  uint32_t handle(hw::CmdDeviceUnplug);
  uint32_t handle(hw::CmdSetupReqCallThreshold, const hw::CmdDescSetupReqCall &d);
  uint32_t handle(hw::CmdGetMaxTargets);

 private:
  struct Pending {
    hw::RingReqDesc req;
    int64_t due_ns;
    uint64_t seq;
  };
  struct Failure {
    int64_t target;
    uint16_t host_status, scsi_status;
    std::vector<uint8_t> sense;
  };

  // All below run with mu_ held.
  bool dma_read(uint64_t paddr, void *buf, size_t len);
  bool dma_write(uint64_t paddr, const void *buf, size_t len);
  bool rs_read32(uint32_t offset, uint32_t *v);
  void rs_write32(uint32_t offset, uint32_t v);
  void process_request_ring(bool from_poll);
  void accept(const hw::RingReqDesc &req);
  void complete_due();
  hw::RingCmpDesc execute(const hw::RingReqDesc &req);
  // The pieces of execute() (mock_requests.cc).
  struct Segment {
    uint64_t addr;
    uint64_t len;
  };
  struct Decoded {  // a request that passed the device's checks
    ScsiTarget *target = nullptr;
    uint16_t lun = 0;
    uint8_t cdb[16] = {};
    size_t cdb_len = 0;
    CdbShape shape;
    std::vector<Segment> segs;  // the data buffer
  };
  hw::RingCmpDesc finish_request(hw::RingCmpDesc cmp, hw::HostStatus hs, uint8_t scsi);
  bool take_injected_failure(const hw::RingReqDesc &req, hw::RingCmpDesc *cmp);
  hw::HostStatus decode_request(const hw::RingReqDesc &req, Decoded *d);
  bool map_data_buffer(const hw::RingReqDesc &req, std::vector<Segment> *segs);
  bool transfer(const std::vector<Segment> &segs, uint8_t *buf, uint64_t n, bool to_driver);
  hw::RingCmpDesc run_on_target(const hw::RingReqDesc &req, const Decoded &d, hw::RingCmpDesc cmp);
  void complete(const hw::RingReqDesc &req, hw::HostStatus hs, uint8_t scsi_status);
  void write_completion(hw::RingCmpDesc cmp);
  void completion_interrupt();
  void raise(uint32_t cause_bits);
  void update_intx();
  void notify();
  bool post_msg(const hw::RingMsgDesc &m);
  bool post_dev_msg(hw::MsgType type, uint32_t target, uint16_t lun);
  // Requests to deaf targets are failed only with even_deaf (ADAPTER_RESET).
  void fail_pending(const std::function<bool(const Pending &)> &match, hw::HostStatus hs,
                    bool even_deaf = false);
  void adapter_reset();
  void publish_threshold();
  void service();
  // The pieces of service() (mock_completions.cc).
  void poll_if_due(int64_t t);
  void start_or_stop_polling(int64_t t);
  void arm_next_service(int64_t t);
  void arm_timer(int64_t when_ns);
  void on_timer(const std::shared_ptr<uint64_t> &token);
  bool decode_lun(hw::SamLun sam, uint16_t *lun) const;
  ScsiTarget *target(uint32_t id);
  const ScsiTarget *target(uint32_t id) const;
  int64_t now() const;
  uint32_t msix_read(uint32_t offset);
  void msix_write(uint32_t offset, uint32_t value);
  static constexpr uint32_t kMsixTableOffset = 6 * 4096;
  static constexpr uint32_t kMsixPbaOffset = 7 * 4096;
  void init_config_space();

  Config config_;
  mutable std::mutex mu_;
  fk::DeviceHost *host_ = nullptr;
  bool connected_ = false;

  std::map<uint32_t, std::unique_ptr<ScsiTarget>> targets_;

  // Rings.
  bool rings_valid_ = false;
  uint64_t rs_paddr_ = 0;
  hw::RingView<hw::ReqRing> req_ring_;
  hw::RingView<hw::CmpRing> cmp_ring_;
  hw::RingView<hw::MsgRing> msg_ring_;
  bool msg_valid_ = false;
  uint32_t req_cons_ = 0, cmp_prod_ = 0, msg_prod_ = 0;
  bool threshold_enabled_ = false;
  uint32_t threshold_ = 0;
  uint32_t forced_threshold_ = 0;

  // Requests in the device.
  std::list<Pending> pending_;
  uint64_t next_seq_ = 0;
  std::set<uint32_t> hung_targets_;
  std::set<uint32_t> deaf_targets_;
  bool polling_ = false;
  int64_t next_poll_ns_ = 0;
  int64_t poll_interval_ns_ = 0;

  // Interrupts.
  uint32_t intr_status_ = 0, intr_mask_ = 0;
  int intr_mode_ = 0;
  unsigned intr_vectors_ = 0;
  bool intx_line_ = false;
  bool cmp_irq_pending_ = false;  // completions written, interrupt not yet raised (coalescing)
  int64_t coalesce_deadline_ns_ = 0;
  int64_t last_cmp_irq_ns_ = INT64_MIN;

  // Scheduled calls: id -> time.
  std::map<uint64_t, int64_t> timers_;

  // Faults.
  std::list<Failure> failures_;
  bool bogus_next_ = false;
  BogusContext bogus_kind_ = BogusContext::kZero;
  uint64_t last_completed_context_ = 0;
  unsigned drop_irqs_ = 0, dup_irqs_ = 0;
  std::map<uint32_t, uint32_t> refused_;

  Counters counters_;
  std::mt19937_64 rng_;
  uint8_t pci_config_[256] = {};
  uint8_t pci_config_wmask_[256] = {};
  std::vector<uint32_t> msix_table_;
};

}  // namespace pvscsi_mock
