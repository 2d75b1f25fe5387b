// A tiny fake SCSI HBA driver for testing the SCSA framework and the target client: a real
// illumos-style driver (_init/_fini/_info, dev_ops, tran vectors, one iport, a target map)
// whose "hardware" is an in-memory bus of SCSI disks the test controls. Completions come from
// a task queue, data moves through the DMA cookies the framework bound, and every completion
// mistake the framework must catch can be planted. Host-side test code.
#pragma once

#include <sys/scsi/scsi.h>

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fake_hba {

struct Lun {
  uint32_t block_size = 512;
  uint64_t blocks = 2048;
  std::vector<uint8_t> data;                   // sized on first use
  std::deque<std::array<uint8_t, 3>> pending;  // unit attentions: key, ASC, ASCQ
};

struct Target {
  bool report_luns = true;    // false: REPORT LUNS is an invalid opcode
  uint8_t ansi = 5;           // INQUIRY VERSION (5: SPC-3)
  bool vpd = false;           // VPD pages 00h, 80h, 83h (else EVPD is an invalid field)
  bool vpd_83_fails = false;  // 00h lists 83h, but an INQUIRY for it fails (CHECK CONDITION)
  size_t inquiry_len = 96;    // standard INQUIRY bytes transferred
  // The next n standard INQUIRYs end with this pkt_reason instead (a reset or abort took them).
  unsigned fail_inquiries = 0;
  uchar_t fail_reason = CMD_RESET;
  unsigned fail_report_luns = 0;  // the next n REPORT LUNS end with fail_reason
  unsigned fail_commands = 0;     // the next n other commands end with fail_reason
  std::map<uint64_t, Lun> luns;
};

// Planted defects (bit set).
enum Defect : unsigned {
  kDoubleComplete = 1u << 0,        // complete every interrupt packet twice
  kNeverComplete = 1u << 1,         // drop every interrupt packet
  kCompleteWithLockHeld = 1u << 2,  // call scsi_hba_pkt_comp holding the HBA mutex
  kSyncCompleteAccept = 1u << 3,    // complete inside tran_start, then return TRAN_ACCEPT
  kCompleteUnsubmitted = 1u << 4,   // complete a packet from tran_setup_pkt (never transported)
  kCompleteThenBusy = 1u << 5,      // complete inside tran_start, then return TRAN_BUSY
};

struct Config {
  scsi_tgtmap_mode_t mode = SCSI_TM_PERADDR;
  bool map_callbacks = false;  // register activate/deactivate callbacks (see deactivations())
  int settle_usec = 100000;    // the 2022 pvscsi's 100 ms
  ddi_dma_attr_t dma_attr{};   // defaults set by reset()
  unsigned defects = 0;
  bool polled_calls_pkt_comp = true;  // also call scsi_hba_pkt_comp for FLAG_NOINTR packets
  bool scribble_in_setup = false;     // tran_setup_pkt fills the CDB and status areas with 0xff
  bool lun_reset = true;              // getcap "lun-reset" answers 1 (else -1)
};

struct Stats {
  uint64_t started = 0;
  uint64_t polled = 0;
  uint64_t completed = 0;
  uint64_t busy_returned = 0;
  uint64_t aborts = 0;
  uint64_t resets = 0;
  uint64_t syncs = 0;  // SYNCHRONIZE CACHE commands
  uint64_t max_cookies = 0;
  uint64_t cookie_errors = 0;  // cookies that break the DMA attributes
  uint64_t tgt_inits = 0;
  uint64_t tgt_frees = 0;
  uint64_t constructed = 0;  // tran_pkt_constructor calls minus destructor calls
  uint64_t last_reset_level = 0;
  // What the framework hands the HBA (its fidelity to illumos).
  uint64_t setups = 0;                // tran_setup_pkt calls
  uint64_t teardowns = 0;             // tran_teardown_pkt calls
  uint64_t setup_saw_cookies = 0;     // tran_setup_pkt calls on a packet already bound
  uint64_t ctor_without_private = 0;  // constructor calls with a tran lacking the HBA's private
  bool iport_private_null = false;    // the iport's tran had no tran_hba_private at attach
};

// A command as tran_start saw it.
struct Seen {
  std::string ua;  // the LUN's unit address
  uint8_t op;
  uint8_t cdb1, cdb2;  // EVPD bit, page code (INQUIRY)
  uint_t flags;
  int time;
  const void *pkt;
};
std::vector<Seen> seen();

// Target map callbacks (Config::map_callbacks): activated addresses, and deactivations with
// their reasons.
std::vector<std::string> activations();
std::vector<std::pair<std::string, int>> deactivations();

// The model and the knobs. Everything here is guarded internally; call from test threads.
void reset(const Config &cfg = Config());  // forget the bus, counters and defects
Config &config();                          // before attach; defects may change at any time
void set_defects(unsigned defects);
void set_busy(int n);      // the next n tran_start calls return TRAN_BUSY
void set_hold(bool hold);  // hold: accepted packets stay queued (for abort/reset tests)
size_t queued();           // accepted packets not yet completed
Stats stats();

// The bus. Changes only reach the framework through the report functions below, as on real
// hardware where the HBA must notice and report them.
void put_target(const std::string &addr, const Target &t);
void drop_target(const std::string &addr);
void put_lun(const std::string &addr, uint64_t lun, const Lun &l = Lun());
void drop_lun(const std::string &addr, uint64_t lun);
void post_unit_attention(const std::string &addr, uint64_t lun, uint8_t key, uint8_t asc,
                         uint8_t ascq);
std::vector<uint8_t> read_back(const std::string &addr, uint64_t lun, uint64_t lba,
                               uint32_t nblocks);

// HBA-side reports to its target map (DDI_SUCCESS / DDI_FAILURE).
int report_add(const std::string &addr);     // PERADDR: tgt_add
int report_remove(const std::string &addr);  // PERADDR: tgt_remove
int report_full_set();                       // FULLSET: set_begin, set_add each target, set_end
int report_scan_luns(const std::string &addr);

// Nodes (after attach).
dev_info_t *hba_dip();
dev_info_t *iport_dip();
scsi_hba_tgtmap_t *tgtmap();

}  // namespace fake_hba
