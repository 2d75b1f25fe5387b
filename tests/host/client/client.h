// The target-driver client: the role sd plays on illumos, for tests and the exerciser. It
// finds the LUNs of an attached HBA through the SCSA framework and issues commands through
// scsi_init_pkt(9F)/scsi_transport(9F), with data buffers from the kernel arena (kmem), a
// queue depth, completion callbacks, and sd's recovery (sd.c): TRAN_BUSY is retried once
// another command completes (or after yielding). From the completion routine, as sdintr does:
// CMD_RESET and CMD_ABORTED are a victim's failures (sd_pkt_reason_cmd_reset/_aborted: twice the
// retries), CMD_TIMEOUT, CMD_INCOMPLETE, CMD_TRAN_ERR and other reasons the command's own
// (un_retry_count retries); each first resets the target (sd_reset_target: RESET_TARGET, then
// RESET_ALL) unless the HBA reported a reset or abort in pkt_statistics, and is retried after
// 100 ms (SD_RESTART_TIMEOUT, a timeout(9F)) with the same packet. A UNIT ATTENTION is retried
// after 100 ms (SD_UA_RETRY_DELAY), a MEDIUM or HARDWARE ERROR at once, from the completion
// routine itself (sd_sense_key_medium_or_hardware_error).
// Waiting for completions drives the kernel's virtual clock (see IoOptions::drive_clock).
// Host-side test code.
#pragma once

#include <sys/scsi/scsi.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "cdb.h"
#include "fk_internal.h"

namespace fk::client {

// A kernel-arena (kmem_zalloc) data buffer.
class KBuf {
 public:
  explicit KBuf(size_t len);
  ~KBuf();
  KBuf(const KBuf &) = delete;
  KBuf &operator=(const KBuf &) = delete;
  uint8_t *data() const { return p_; }
  size_t size() const { return len_; }

 private:
  uint8_t *p_;
  size_t len_;
};

struct Result {
  int tran_rv = TRAN_ACCEPT;  // the last scsi_transport() result (TRAN_ACCEPT if it ran)
  bool transported = false;   // a completion arrived
  uchar_t reason = CMD_CMPLT;
  uchar_t status = STATUS_GOOD;  // status byte & STATUS_MASK
  uint_t state = 0;
  uint_t statistics = 0;
  Sense sense;  // from auto request sense (STATE_ARQ_DONE)
  size_t resid = 0;
  unsigned busy_retries = 0;
  unsigned ua_retries = 0;
  unsigned retries = 0;         // sd's standard and victim retries (after errors)
  unsigned victim_retries = 0;  // ... of which for CMD_RESET / CMD_ABORTED
  unsigned resets = 0;          // target resets the client issued (sd_reset_target)
  bool lun_gone = false;        // the LUN went offline
  bool ok() const {
    return transported && tran_rv == TRAN_ACCEPT && reason == CMD_CMPLT && status == STATUS_GOOD;
  }
  std::string describe() const;
};

struct IoOptions {
  bool polled = false;  // FLAG_NOINTR: complete on return from scsi_transport
  uint_t flags = 0;     // more pkt_flags (FLAG_HTAG, FLAG_OTAG, FLAG_HEAD, ...)
  int timeout_s = 60;   // pkt_time: sd_io_time (SD_IO_TIME)
  unsigned max_busy_retries = 100000;
  unsigned max_ua_retries = 5;
  // sd's un_retry_count (5 for parallel SCSI and SAS); victims (CMD_RESET, CMD_ABORTED) get
  // twice as many (un_victim_retry_count). 0: report the first failure as it came.
  unsigned retry_count = 5;
  // sd_reset_target after an error the HBA did not already answer with a reset or abort.
  bool reset_on_error = true;
  bool partial_dma = false;  // PKT_DMA_PARTIAL
  // While waiting, fire the virtual clock's next event. false: the caller moves the clock (and
  // calls poll()); a Queue then never blocks for a busy HBA - a command answered TRAN_BUSY waits
  // in the queue, as sd's wait queue, and poll() transports it again.
  bool drive_clock = true;
  // Largest transfer per command; longer reads and writes are split, as sd splits by the HBA's
  // limit. 0: the HBA's "dma-max" capability (1 MiB when it has none).
  size_t max_xfer = 0;
};

// ---- discovery ----
struct LunRef {
  std::string target;
  uint64_t lun;
  std::string unit_address;
  scsi_device *sd;
};
// Wait for target maps and LUN rescans to settle (fk::scsa::settle).
bool settle(int64_t max_real_ms = 30000);
// Configure the HBA's iports (first call), settle, and list its online LUNs (sorted).
std::vector<LunRef> discover(dev_info_t *hba_dip);
// Online LUNs as the client saw them come and go (all HBAs).
std::vector<LunRef> online_luns();
bool online(const scsi_device *sd);

// Holds an online LUN for a call into the framework outside a command (scsi_reset, scsi_abort,
// scsi_ifgetcap), as sd's own activity keeps its node attached: the framework does not tear the
// LUN down (tran_tgt_free) until the hold ends. held() is false when the LUN was already
// offline; the call must then not be made.
class LunHold {
 public:
  explicit LunHold(const scsi_device *sd);
  ~LunHold();
  LunHold(const LunHold &) = delete;
  LunHold &operator=(const LunHold &) = delete;
  bool held() const { return held_; }

 private:
  const scsi_device *sd_;
  bool held_;
};

// ---- asynchronous I/O ----
class Queue {
 public:
  using Callback = std::function<void(const Result &)>;
  Queue(scsi_device *sd, unsigned depth, const IoOptions &o = IoOptions());
  ~Queue();  // wait()s
  Queue(const Queue &) = delete;
  Queue &operator=(const Queue &) = delete;

  // Starts a command; blocks (running callbacks of finished commands) while `depth` are
  // outstanding. buf must be kernel memory (KBuf) of len bytes, or null with len 0.
  // Callbacks run on the thread calling submit()/wait()/poll(), never under a kernel lock.
  void submit(const Cdb &cdb, void *buf, size_t len, bool read, Callback cb);
  // READ/WRITE(10) or (16) of any length: split into commands of at most max_xfer bytes,
  // one callback when all are done (the first failure, or success; resid summed).
  void read(uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf, Callback cb);
  void write(uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf, Callback cb);
  size_t max_xfer() const { return max_xfer_; }
  // Transports again the commands the HBA answered TRAN_BUSY (drive_clock false), then runs
  // callbacks of finished commands; returns how many.
  size_t poll();
  // Until nothing is outstanding.
  void wait();

  unsigned outstanding() const;
  // Commands answered TRAN_BUSY that wait for poll() to transport them again.
  size_t waiting_retry() const;
  uint64_t submitted() const { return submitted_; }
  uint64_t completed() const { return completed_; }
  unsigned max_outstanding() const { return max_outstanding_; }

  struct Req;  // internal

 private:
  friend struct Completer;
  void launch(Req *r);
  bool resend(Req *r);
  void retry_later(Req *r, clock_t delay_us);
  void finish(Req *r);
  void start(Req *r);
  void deliver(Req *r);
  bool pump_once();
  void retry_busy();
  void rw(bool read, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf, Callback cb);

  scsi_device *sd_;
  unsigned depth_;
  IoOptions opts_;
  mutable std::mutex mu_;
  fk::impl::HostCv cv_;
  std::deque<Req *> done_;  // finished
  std::deque<Req *> busy_;  // answered TRAN_BUSY, waiting to be transported again
  unsigned outstanding_ = 0;
  unsigned max_outstanding_ = 0;
  uint64_t submitted_ = 0;
  uint64_t completed_ = 0;
  size_t max_xfer_ = 0;
};

// ---- synchronous commands (a queue of depth 1) ----
Result command(scsi_device *sd, const Cdb &cdb, void *buf, size_t len, bool read,
               const IoOptions &o = IoOptions());
Result test_unit_ready(scsi_device *sd, const IoOptions &o = IoOptions());
Result inquiry(scsi_device *sd, Inquiry *out, const IoOptions &o = IoOptions());
Result read_capacity(scsi_device *sd, uint64_t *blocks, uint32_t *block_size,
                     const IoOptions &o = IoOptions());  // READ CAPACITY(16)
Result read(scsi_device *sd, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf,
            const IoOptions &o = IoOptions());
Result write(scsi_device *sd, uint64_t lba, uint32_t nblocks, uint32_t block_size, void *buf,
             const IoOptions &o = IoOptions());
Result synchronize_cache(scsi_device *sd, const IoOptions &o = IoOptions());

}  // namespace fk::client
