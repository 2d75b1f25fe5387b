// The chaos soak (tests/suites/robustness/chaos_soak_test.cc), shorter, on QEMU: verified random
// I/O on two disks (targets 0 and 1, 512-byte blocks, depth 16 each) while other disks are hot
// added and removed (targets 2 and 3, no I/O), the I/O LUNs are aborted and reset at every level
// (RESET_LUN, RESET_TARGET, RESET_ALL) and the adapter is restarted (a corrupted rings-state
// page, as in recovery_test.cc). Three in four aborts, resets and restarts come with both queues
// full in QEMU's hands (its block layer throttled), half of those with commands QEMU has not
// seen yet (their doorbell held back).
//
// Invariants: an acknowledged write is never lost or misplaced - every successful read returns,
// block by block, a version the shadow allows (the last acknowledged write, or a write whose fate
// is unknown because it failed after it may have reached the disk), and afterwards the image
// files themselves hold an allowed version in every block (pvscsi_qemu::ImageOracle, which reads
// the files QEMU wrote); every callback runs exactly once and nothing is left outstanding; the
// I/O LUNs stay online; the fixture detaches and finds no leak, violation or leftover.
//
// The event sequence (kind, target, load, number of I/Os started in between) follows the seed
// alone; the I/O interleaving is QEMU's. The run ends when PVSCSI_CHAOS_IOS I/Os (default 4000)
// have completed and at least one event per 64 of them has happened (QEMU takes ~10,000 I/Os a
// second, so the events set the length: ~20,000 I/Os and 62 events, ~5 s). PVSCSI_CHAOS_SEED
// (default 1) changes the sequence; PVSCSI_CHAOS_VERBOSE=1 prints every event as it happens.
#include <gtest/gtest.h>
#include <sys/scsi/scsi.h>
#include <sys/sunddi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client.h"
#include "image_oracle.h"
#include "qemu_hba.h"
#include "shadow.h"

namespace driver_on_qemu {
namespace {

using Clock = std::chrono::steady_clock;
using fk::client::KBuf;
using fk::client::Result;
using fk::client::ShadowDisk;
using std::chrono::milliseconds;

constexpr unsigned kIoTargets = 2;          // targets 0 and 1 carry the verified I/O
constexpr unsigned kHotTargets[] = {2, 3};  // come and go, carry no I/O (3 is there at start)
constexpr uint32_t kBs = 512;
constexpr uint64_t kIoDiskMiB = 2;  // 4096 blocks: small, so I/Os overwrite each other
constexpr uint32_t kIoBlocks = uint32_t((kIoDiskMiB << 20) / kBs);
constexpr uint32_t kMaxIoBlocks = 32;
constexpr unsigned kDepth = 16;  // per I/O LUN
constexpr unsigned kMeanIosPerEvent = 40;
constexpr int kLoadIops = 50;  // QEMU throttle that keeps commands in its hands at an event
constexpr auto kStall = std::chrono::seconds(15);  // no completion for this long: a lost one
constexpr auto kHotplugBound = std::chrono::seconds(10);

uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  return v != nullptr && *v != '\0' ? strtoull(v, nullptr, 0) : dflt;
}

bool qemu_in_path() {
  const char *path = getenv("PATH");
  std::string p = path != nullptr ? path : "";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    if (dir.empty()) dir = ".";
    if (access((dir + "/qemu-system-x86_64").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

bool online(unsigned target) {
  for (const auto &l : fk::client::online_luns())
    if (strtoul(l.target.c_str(), nullptr, 16) == target && l.lun == 0) return true;
  return false;
}

enum class Kind { kHotplug, kAbort, kResetLun, kResetTarget, kResetAll, kAdapterRestart };
// How much is in flight when an abort, reset or restart comes.
enum class Load {
  kAsIs,       // whatever the I/O stream has outstanding (QEMU is fast: little)
  kThrottled,  // the queues full, held in QEMU's throttled block layer
  kHeld,       // half of that, the other half in the ring with its doorbell held back
};
const char *load_name(Load l) {
  return l == Load::kAsIs ? "as-is" : l == Load::kThrottled ? "throttled" : "held";
}

struct Figures {
  uint64_t completed = 0, ok = 0, writes_ok = 0, reads_ok = 0;
  uint64_t failed = 0, ambiguous_writes = 0, ua_retries = 0, lun_gone = 0;
  uint64_t verify_failures = 0, double_callbacks = 0;
  uint64_t outstanding_at_events = 0;
  std::map<int, uint64_t> failed_by_reason;
  std::map<std::string, uint64_t> events;
};

class ChaosTest : public QemuTest {
 protected:
  struct IoDisk {
    Disk disk;
    std::unique_ptr<fk::client::Queue> q;
    std::unique_ptr<ShadowDisk> shadow;
  };

  int64_t ms() const {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t0_).count();
  }
  unsigned outstanding() const {
    unsigned n = 0;
    for (const IoDisk &d : io_)
      if (d.q) n += d.q->outstanding();
    return n;
  }
  size_t poll() {
    size_t n = 0;
    for (IoDisk &d : io_) n += d.q->poll();
    return n;
  }

  bool once(uint64_t id) {
    if (completed_ids_.insert(id).second) return true;
    fig_.double_callbacks++;
    return false;
  }
  void count_result(const Result &r) {
    fig_.completed++;
    fig_.ua_retries += r.ua_retries;
    fig_.lun_gone += r.lun_gone;
    if (r.ok()) {
      fig_.ok++;
    } else {
      fig_.failed++;
      fig_.failed_by_reason[r.transported ? int(r.reason) : -1]++;
    }
  }

  KBuf *take_buf() {
    KBuf *b = bufs_.back();
    bufs_.pop_back();
    return b;
  }

  // A random READ or WRITE of 1..kMaxIoBlocks blocks on an I/O disk, on blocks no outstanding
  // command covers (so every outcome is defined). false when the range picked is busy.
  bool start_io(unsigned t) {
    uint32_t n = 1 + uint32_t(io_rng_() % kMaxIoBlocks);
    uint64_t lba = io_rng_() % (kIoBlocks - n + 1);
    bool write = io_rng_() % 2 == 0;
    if (!io_[t].shadow->is_free(lba, n)) return false;
    if (write)
      start_write(t, lba, n);
    else
      start_read(t, lba, n);
    return true;
  }

  // The completion's operation for the block histories (wall-clock ms since the start).
  ShadowDisk::Op op(int64_t start, size_t event, const Result &r) const {
    ShadowDisk::Op o;
    o.start = start;
    o.end = ms();
    o.reason = r.reason;
    o.status = r.status;
    o.event = event;
    return o;
  }

  void start_write(unsigned t, uint64_t lba, uint32_t n) {
    IoDisk &d = io_[t];
    KBuf *b = take_buf();
    uint32_t v = d.shadow->begin_write(lba, n, b->data());
    uint64_t id = next_id_++;
    int64_t start = ms();
    size_t ev = events_done_;
    d.q->write(lba, n, kBs, b->data(), [this, t, lba, n, v, b, id, start, ev](const Result &r) {
      if (!once(id)) return;
      count_result(r);
      io_[t].shadow->end_write(lba, n, v, r.ok(), op(start, ev, r));
      if (r.ok())
        fig_.writes_ok++;
      else
        fig_.ambiguous_writes++;
      bufs_.push_back(b);
    });
  }

  void start_read(unsigned t, uint64_t lba, uint32_t n) {
    IoDisk &d = io_[t];
    KBuf *b = take_buf();
    d.shadow->begin_read(lba, n);
    uint64_t id = next_id_++;
    int64_t start = ms();
    size_t ev = events_done_;
    d.q->read(lba, n, kBs, b->data(), [this, t, lba, n, b, id, start, ev](const Result &r) {
      if (!once(id)) return;
      count_result(r);
      fig_.verify_failures += io_[t].shadow->end_read(lba, n, b->data(), r.ok(), op(start, ev, r));
      if (r.ok()) fig_.reads_ok++;
      bufs_.push_back(b);
    });
  }

  // One round of the I/O stream: top up both queues (an event when one is due), run callbacks.
  // Returns the completions.
  size_t step(bool events) {
    for (unsigned t = 0; t < kIoTargets && !broken_; t++)
      while (io_[t].q->outstanding() < kDepth && start_io(t)) {
        if (++started_ >= next_event_ && events) {
          chaos();
          next_event_ = started_ + 1 + event_rng_() % (2 * kMeanIosPerEvent);
        }
        if (broken_) break;
      }
    size_t n = poll();
    if (n > 0 || outstanding() == 0) {
      last_progress_ = Clock::now();
    } else if (outstanding() > 0 && Clock::now() - last_progress_ > kStall) {
      ADD_FAILURE() << "no completion for 15 s with " << outstanding() << " outstanding at " << ms()
                    << " ms" << repro();
      broken_ = true;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));  // pacing only
    }
    return n;
  }

  // Runs the I/O stream until `done` holds (or the bound passes: false).
  template <class F>
  bool step_until(F done, Clock::duration bound) {
    auto until = Clock::now() + bound;
    while (!done()) {
      if (broken_ || Clock::now() > until) return false;
      step(false);
    }
    return true;
  }

  // The hot targets' presence as QEMU has it, reached by the driver and the framework.
  void settle_hotplug() {
    if (pending_hot_ < 0) return;
    unsigned t = unsigned(pending_hot_);
    bool want = present_[t];
    if (!step_until([&] { return online(t) == want; }, kHotplugBound)) {
      ADD_FAILURE() << "target " << t << " did not go " << (want ? "online" : "offline")
                    << " within 10 s of its hot " << (want ? "add" : "remove") << repro();
      broken_ = true;
    }
    pending_hot_ = -1;
  }

  // Puts commands in QEMU's hands (and, for kHeld, more behind a held-back doorbell).
  void load(Load l) {
    if (l == Load::kAsIs) return;
    for (unsigned t = 0; t < kIoTargets; t++) hba_->throttle(t, kLoadIops);
    auto fill = [&](unsigned upto) {
      for (unsigned t = 0; t < kIoTargets; t++)
        for (int tries = 0; tries < 64 && io_[t].q->outstanding() < upto; tries++)
          (void)start_io(t);
    };
    // Top the queues up until what is outstanding is really in QEMU's (throttled) hands: the
    // commands it took before the throttle finish within a millisecond.
    auto fill_throttled = [&](unsigned upto) {
      for (int round = 0; round < 50; round++) {
        fill(upto);
        std::this_thread::sleep_for(milliseconds(1));
        if (poll() == 0) break;
      }
    };
    fill_throttled(l == Load::kHeld ? kDepth / 2 : kDepth);
    if (l == Load::kHeld) {
      hba_->tap().drop_rw_kicks(true);
      fill(kDepth);
    }
    loaded_ = outstanding();
  }
  void unload(Load l) {
    if (l == Load::kAsIs) return;
    if (l == Load::kHeld) {
      hba_->tap().drop_rw_kicks(false);
      hba_->tap().release_kicks();
    }
    for (unsigned t = 0; t < kIoTargets; t++) hba_->throttle(t, 0);
  }

  std::string repro() const {
    return "\nreproduce: PVSCSI_CHAOS_SEED=" + std::to_string(seed_) +
           " PVSCSI_CHAOS_IOS=" + std::to_string(target_ios_) +
           " PVSCSI_CHAOS_VERBOSE=1 build/<dir>/tests/suites/driver_on_qemu/pvscsi_qemu_chaos_test"
           "\nevents so far:\n" +
           event_log_tail();
  }
  std::string event_log_tail() const {
    std::string s;
    size_t from = log_.size() > 30 ? log_.size() - 30 : 0;
    for (size_t i = from; i < log_.size(); i++) s += "  " + log_[i] + "\n";
    return s;
  }

  void note(const std::string &what) {
    char head[96];
    snprintf(head, sizeof head, "#%zu io=%llu t=%lldms ", events_done_,
             (unsigned long long)started_, (long long)ms());
    log_.push_back(head + what);
    if (verbose_) fprintf(stderr, "chaos: %s\n", log_.back().c_str());
  }

  // The next event, from a deck holding each kind (hot plug three times) in a seeded order.
  Kind draw() {
    if (deck_.empty()) {
      deck_ = {Kind::kHotplug,  Kind::kHotplug,     Kind::kHotplug,  Kind::kAbort,
               Kind::kResetLun, Kind::kResetTarget, Kind::kResetAll, Kind::kAdapterRestart};
      std::shuffle(deck_.begin(), deck_.end(), event_rng_);
    }
    Kind k = deck_.back();
    deck_.pop_back();
    return k;
  }

  void chaos() {
    Kind k = draw();
    unsigned io_t = unsigned(event_rng_() % kIoTargets);
    unsigned r = unsigned(event_rng_() % 8);
    Load l = r < 2 ? Load::kAsIs : r < 5 ? Load::kThrottled : Load::kHeld;
    scsi_address *ap = &io_[io_t].disk.sd->sd_address;
    std::string what;
    int rc = 1;
    fig_.outstanding_at_events += outstanding();
    loaded_ = outstanding();
    uint64_t failed_before = fig_.failed;
    switch (k) {
      case Kind::kHotplug: {
        settle_hotplug();  // one hotplug at a time: each must be seen through
        unsigned t = kHotTargets[event_rng_() % 2];
        try {
          if (present_[t]) {
            hba_->qemu().remove_disk(t);
            what = "hot-remove";
          } else {
            hba_->qemu().add_disk(disk(t, 1));
            what = "hot-add";
          }
        } catch (const std::exception &e) {
          ADD_FAILURE() << e.what() << repro();
          broken_ = true;
          return;
        }
        present_[t] = !present_[t];
        pending_hot_ = int(t);
        note(what + " target " + std::to_string(t) + " (" + std::to_string(loaded_) + " out)");
        fig_.events[what]++;
        events_done_++;
        return;
      }
      case Kind::kAbort:
        load(l);
        what = "abort";
        rc = scsi_abort(ap, nullptr);
        unload(l);
        break;
      case Kind::kResetLun:
      case Kind::kResetTarget:
      case Kind::kResetAll: {
        int level = k == Kind::kResetLun      ? RESET_LUN
                    : k == Kind::kResetTarget ? RESET_TARGET
                                              : RESET_ALL;
        what = k == Kind::kResetLun      ? "reset-lun"
               : k == Kind::kResetTarget ? "reset-target"
                                         : "reset-all";
        load(l);
        rc = scsi_reset(ap, level);
        unload(l);
        break;
      }
      case Kind::kAdapterRestart: {
        // A nonsense message producer index in the rings-state page: the driver must treat the
        // device as untrustworthy and restart it. QEMU writes the index only on hotplug, so
        // none may be under way.
        settle_hotplug();
        if (broken_) return;
        what = "adapter-restart";
        uint64_t before = hba_->stat("adapter_resets");
        load(l);
        if (!hba_->tap().corrupt_msg_prod(0x40000000)) {
          ADD_FAILURE() << "cannot corrupt the rings-state page" << repro();
          broken_ = true;
        } else if (!step_until([&] { return hba_->stat("adapter_resets") > before; },
                               std::chrono::seconds(3))) {
          ADD_FAILURE() << "no adapter restart within 3 s of a corrupted msgProdIdx (the "
                           "watchdog runs every 500 ms)"
                        << repro();
          broken_ = true;
        }
        unload(l);
        break;
      }
    }
    (void)poll();
    char tail[128];
    snprintf(tail, sizeof tail, " t%u load=%s (%u out) -> rc %d, %llu failed", io_t, load_name(l),
             loaded_, rc, (unsigned long long)(fig_.failed - failed_before));
    note(what + tail);
    if (rc != 1) {
      ADD_FAILURE() << what << " of target " << io_t << " returned " << rc << repro();
    }
    fig_.events[what]++;
    if (l != Load::kAsIs) fig_.events[std::string("under-load:") + load_name(l)]++;
    events_done_++;
  }

  // The image files of the I/O disks against the shadow: every block holds one of its allowed
  // versions. Read directly from the files QEMU wrote (through the host page cache).
  void verify_images(const char *when) {
    pvscsi_qemu::ImageOracle oracle(kBs);
    uint8_t buf[kBs];
    for (unsigned t = 0; t < kIoTargets; t++) {
      IoDisk &d = io_[t];
      for (uint64_t lba = 0; lba < d.disk.blocks; lba++) {
        bool first = true;
        for (uint32_t v : d.shadow->allowed(lba)) {
          ShadowDisk::pattern(buf, kBs, t, lba, v);
          if (first)
            oracle.expect(d.disk.image, lba * kBs, buf, kBs);
          else
            oracle.maybe(d.disk.image, lba * kBs, buf, kBs);
          first = false;
        }
      }
    }
    EXPECT_EQ(oracle.blocks(), size_t(kIoTargets) * kIoBlocks);
    oracle_blocks_ += oracle.blocks();
    for (const auto &m : oracle.verify(20)) {
      uint64_t lba = m.offset / kBs;
      std::string allowed;
      for (unsigned t = 0; t < kIoTargets; t++)
        if (io_[t].disk.image == m.image)
          for (uint32_t v : io_[t].shadow->allowed(lba)) allowed += " " + std::to_string(v);
      ADD_FAILURE() << "image oracle (" << when << "): " << m.image << " block " << lba << ": "
                    << m.what << " (allowed versions:" << allowed << ")" << repro();
    }
  }

  uint64_t seed_ = 1, target_ios_ = 4000, min_events_ = 0;
  bool verbose_ = getenv("PVSCSI_CHAOS_VERBOSE") != nullptr;
  Clock::time_point t0_ = Clock::now(), last_progress_ = Clock::now();
  std::mt19937_64 io_rng_, event_rng_;
  IoDisk io_[kIoTargets];
  std::vector<KBuf *> bufs_;
  std::map<unsigned, bool> present_;
  int pending_hot_ = -1;
  std::vector<Kind> deck_;
  uint64_t started_ = 0, next_event_ = 0, next_id_ = 0;
  size_t events_done_ = 0, oracle_blocks_ = 0;
  std::set<uint64_t> completed_ids_;
  std::vector<std::string> log_;
  bool broken_ = false;
  unsigned loaded_ = 0;  // outstanding after load()
  Figures fig_;
};

TEST_F(ChaosTest, VerifiedIoThroughHotplugAndResets) {
  if (!qemu_in_path()) GTEST_SKIP() << "qemu-system-x86_64 is not in PATH";
  seed_ = env_u64("PVSCSI_CHAOS_SEED", 1);
  target_ios_ = env_u64("PVSCSI_CHAOS_IOS", 4000);
  min_events_ = target_ios_ / 64;
  io_rng_.seed(seed_ * 2 + 1);
  event_rng_.seed(seed_ * 2);
  t0_ = Clock::now();

  HbaOptions o;
  o.disks = {disk(0, kIoDiskMiB), disk(1, kIoDiskMiB), disk(kHotTargets[1], 1)};
  QemuHba *hba = start(o);
  ASSERT_NE(hba, nullptr);
  allow_warning("invalid message producer index");  // the planted adapter restarts
  ASSERT_EQ(hba->attach(), DDI_SUCCESS);
  for (const Disk &d : hba->disks()) {
    if (d.target < kIoTargets) io_[d.target].disk = d;
  }
  for (unsigned t = 0; t < kIoTargets; t++) {
    IoDisk &d = io_[t];
    ASSERT_NE(d.disk.sd, nullptr) << "I/O target " << t << " not found";
    ASSERT_EQ(d.disk.block_size, kBs);
    ASSERT_EQ(d.disk.blocks, kIoBlocks);
    ASSERT_FALSE(d.disk.image.empty());
    fk::client::IoOptions io;
    io.retry_count = 0;  // the driver's outcome, not sd's recovery
    io.reset_on_error = false;
    io.drive_clock = false;  // real clock
    io.timeout_s = 30;       // pkt_time: out of the way of the planted events
    io.max_ua_retries = 20;  // as sd, retry the unit attention every reset leaves
    d.q = std::make_unique<fk::client::Queue>(d.disk.sd, kDepth, io);
    d.shadow = std::make_unique<ShadowDisk>(t, kIoBlocks, kBs, 8, "ms");
  }
  for (unsigned t : kHotTargets) present_[t] = online(t);
  ASSERT_FALSE(present_[kHotTargets[0]]);
  ASSERT_TRUE(present_[kHotTargets[1]]);
  for (unsigned i = 0; i < 2 * kDepth * kIoTargets; i++)
    bufs_.push_back(new KBuf(kMaxIoBlocks * kBs));

  // The run: I/O with events until target_ios_ have completed; then calm.
  next_event_ = 1 + event_rng_() % (2 * kMeanIosPerEvent);
  last_progress_ = Clock::now();
  while ((fig_.completed < target_ios_ || events_done_ < min_events_) && !broken_) step(true);
  settle_hotplug();
  (void)step_until([&] { return outstanding() == 0; }, kStall);
  EXPECT_EQ(outstanding(), 0u) << "I/Os never completed" << repro();
  if (outstanding() != 0) {
    // The queues cannot be destroyed with commands out; the fixture reports what is left.
    for (IoDisk &d : io_) (void)d.q.release();
    return;
  }

  // The images as QEMU wrote them, then a full read-back through the driver, then the images
  // again (now that every block's version is known).
  verify_images("after the run");
  for (unsigned t = 0; t < kIoTargets; t++)
    for (uint64_t lba = 0; lba < kIoBlocks; lba += kMaxIoBlocks) {
      ASSERT_TRUE(step_until([&] { return io_[t].q->outstanding() < kDepth; }, kStall));
      start_read(t, lba, kMaxIoBlocks);
    }
  ASSERT_TRUE(step_until([&] { return outstanding() == 0; }, kStall)) << repro();
  verify_images("after the read-back");

  std::map<std::string, uint64_t> driver;
  for (const char *k : {"timeouts", "aborts", "device_resets", "bus_resets", "adapter_resets",
                        "hotplug_events", "rescans", "bogus_values"})
    driver[k] = hba->stat(k);
  unsigned max_out = 0;
  for (IoDisk &d : io_) {
    max_out = std::max(max_out, d.q->max_outstanding());
    d.q.reset();
  }
  for (KBuf *b : bufs_) delete b;
  bufs_.clear();
  for (unsigned t = 0; t < kIoTargets; t++)
    EXPECT_TRUE(online(t)) << "I/O target " << t << " went offline";
  for (unsigned t : kHotTargets) EXPECT_EQ(online(t), present_[t]) << "hot target " << t;
  double secs = std::chrono::duration<double>(Clock::now() - t0_).count();

  uint64_t blocks_checked = 0;
  std::string first_verify_failure;
  for (const IoDisk &d : io_) {
    blocks_checked += d.shadow->blocks_checked();
    if (first_verify_failure.empty()) first_verify_failure = d.shadow->first_failure();
  }
  std::string events, reasons, kstats;
  for (const auto &[k, v] : fig_.events) events += " " + k + "=" + std::to_string(v);
  for (const auto &[r, v] : fig_.failed_by_reason)
    reasons +=
        " " + (r < 0 ? std::string("untransported") : std::to_string(r)) + ":" + std::to_string(v);
  for (const auto &[k, v] : driver) kstats += " " + k + "=" + std::to_string(v);
  printf(
      "[ chaos    ] seed %llu: %llu I/Os verified (%llu writes acknowledged, %llu reads, %llu "
      "blocks checked), %llu failed (%llu ambiguous writes; by pkt_reason%s), %llu UA retries, "
      "max depth %u/LUN; %zu events (%.1f outstanding on average):%s; driver:%s; image oracle "
      "%zu blocks; %.1f s wall\n",
      (unsigned long long)seed_, (unsigned long long)fig_.ok, (unsigned long long)fig_.writes_ok,
      (unsigned long long)fig_.reads_ok, (unsigned long long)blocks_checked,
      (unsigned long long)fig_.failed, (unsigned long long)fig_.ambiguous_writes, reasons.c_str(),
      (unsigned long long)fig_.ua_retries, max_out, events_done_,
      events_done_ ? double(fig_.outstanding_at_events) / double(events_done_) : 0.0,
      events.c_str(), kstats.c_str(), oracle_blocks_, secs);
  if (verbose_) fprintf(stderr, "chaos: event log:\n%s", event_log_tail().c_str());

  EXPECT_EQ(fig_.verify_failures, 0u) << first_verify_failure << repro();
  EXPECT_EQ(fig_.double_callbacks, 0u) << repro();
  EXPECT_EQ(completed_ids_.size(), next_id_) << "every I/O's callback ran";
  EXPECT_EQ(fig_.lun_gone, 0u) << "an I/O LUN went offline" << repro();
  EXPECT_GE(fig_.completed, target_ios_);
  EXPECT_GT(fig_.reads_ok, 0u);
  EXPECT_EQ(driver["timeouts"], 0u) << "no command may be overdue on QEMU" << repro();
  if (events_done_ >= 16) {
    for (const char *k : {"hot-add", "hot-remove", "abort", "reset-lun", "reset-target",
                          "reset-all", "adapter-restart"})
      EXPECT_GT(fig_.events[k], 0u) << k;
    EXPECT_EQ(driver["adapter_resets"], fig_.events["adapter-restart"]);
    EXPECT_EQ(driver["bus_resets"], fig_.events["reset-all"]);
    EXPECT_EQ(driver["device_resets"], fig_.events["reset-lun"] + fig_.events["reset-target"]);
  }
}

}  // namespace
}  // namespace driver_on_qemu
