// Verified asynchronous I/O for the integration tests: READ/WRITE packets through
// scsi_init_pkt(9F)/scsi_transport(9F), as sd would issue them, with
//  - exactly-once accounting: every transported packet must complete once; a second
//    completion is an error, a missing one is found by wait_idle() within a bound and listed;
//  - a shadow (fk::client::ShadowDisk) of what each block may hold (a pattern unique to
//    target, LBA and write version), checked on every read, and fed to ImageOracle so the
//    test can verify the image files directly, independently of the driver and of QEMU's
//    answers;
//  - writes that fail or are in flight at a reset leave a block "old or new";
//  - no two outstanding commands overlap on a disk, so every outcome is defined.
// The engine is also a target driver: a LUN that goes offline is no longer used, and its
// offline waits (bounded) until its outstanding packets are back. Host-side test code.
#pragma once

#include <sys/scsi/scsi.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "image_oracle.h"
#include "qemu_hba.h"
#include "scsa.h"
#include "cdb.h"
#include "shadow.h"

namespace driver_on_qemu {

struct IoStats {
  uint64_t submitted = 0;      // transported (TRAN_ACCEPT)
  uint64_t completed = 0;      // first completions
  uint64_t ok = 0;             // completed with CMD_CMPLT and GOOD
  uint64_t failed = 0;         // completed otherwise
  uint64_t rejected = 0;       // scsi_transport refused (not TRAN_BUSY), or LUN offline
  uint64_t busy = 0;           // TRAN_BUSY answers (retried)
  uint64_t reads_checked = 0;  // blocks compared on successful reads
  uint64_t bytes = 0;          // bytes of successful commands
  uint32_t max_outstanding = 0;
  uint64_t high_buffers = 0;  // data buffers at physical addresses >= 4 GiB
};

class IoEngine : public fk::scsa::TargetDriver {
 public:
  explicit IoEngine(uint64_t seed = 1);
  ~IoEngine() override;  // waits (bounded) for outstanding packets, unregisters
  IoEngine(const IoEngine &) = delete;
  IoEngine &operator=(const IoEngine &) = delete;

  // Use this disk (its blocks start as zeros unless written through the engine).
  void add_disk(const Disk &d);

  // One command; false when it could not be transported (the LUN is offline, or a rejection,
  // or the ring stayed full for the bound). Blocks while `max_outstanding` packets are out.
  bool submit(unsigned target, bool write, uint64_t lba, uint32_t nblocks);
  // A random READ or WRITE (write_pct %) of 1 block up to max_bytes, at a random LBA that
  // overlaps no outstanding command. false as for submit().
  bool submit_random(unsigned target, uint32_t max_bytes, unsigned write_pct = 50);

  void set_depth(unsigned depth) { depth_ = depth; }
  // Called (on the submitting thread) each time scsi_transport answers TRAN_BUSY.
  void set_busy_hook(std::function<void()> fn) { busy_hook_ = std::move(fn); }
  // pkt_time(9S) of new packets (30 s by default, out of the tests' way).
  void set_pkt_time(int seconds) { pkt_time_ = seconds; }
  unsigned outstanding() const;
  // Process completions (data checks, oracle); returns how many.
  size_t reap();
  // Wait until nothing is outstanding. false when some packet did not complete within `bound`
  // of the last completion (a lost completion); stuck() lists them.
  bool wait_idle(std::chrono::milliseconds bound = std::chrono::milliseconds(5000));
  std::vector<std::string> stuck() const;

  IoStats stats() const;
  // Problems found: data miscompares, double completions, offline waits that timed out.
  std::vector<std::string> errors() const;
  // Completion results by pkt_reason (CMD_*), for tests that expect errors.
  std::map<int, uint64_t> reasons() const;
  // Per-target counts of ok and failed completions.
  uint64_t ok_for(unsigned target) const;
  uint64_t failed_for(unsigned target) const;

  pvscsi_qemu::ImageOracle &oracle() { return oracle_; }
  // Verify every block written through the engine against the image files (QEMU must have
  // flushed: it writes raw images with the host page cache, read back through the same cache).
  std::vector<pvscsi_qemu::ImageOracle::Mismatch> verify() const { return oracle_.verify(50); }

  // TargetDriver
  void lun_online(const fk::scsa::LunInfo &lun) override;
  void lun_offline(const fk::scsa::LunInfo &lun) override;

  struct Io;  // internal

 private:
  struct DiskState {
    Disk disk;
    bool online = true;
    unsigned inflight = 0;
    // What each block may hold and which blocks outstanding commands cover.
    std::unique_ptr<fk::client::ShadowDisk> shadow;
    // Blocks the image oracle has been told about (their first use: zeros until written).
    std::set<uint64_t> known;
    uint64_t ok = 0, failed = 0;
  };
  static void on_complete(scsi_pkt *pkt);
  void finish(Io *io);
  DiskState *find(unsigned target);
  DiskState *find_sd(const scsi_device *sd);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<unsigned, DiskState> disks_;
  std::set<Io *> outstanding_;
  std::deque<Io *> done_;
  IoStats stats_;
  std::vector<std::string> errors_;
  std::map<int, uint64_t> reasons_;
  unsigned depth_ = 32;
  int pkt_time_ = 30;
  std::function<void()> busy_hook_;
  std::mt19937_64 rng_;
  pvscsi_qemu::ImageOracle oracle_;
};

}  // namespace driver_on_qemu
