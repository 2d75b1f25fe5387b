// Chaos soak on the mock (both profiles): verified I/O on two targets while the device and the
// framework do everything hostile they can - hot add/remove of targets and LUNs, aborts, LUN/
// target/bus resets, hung targets (timeouts and the whole escalation), error statuses, bogus
// completions, dropped, duplicated and spurious interrupts, spontaneous adapter resets.
//
// Invariants: an acknowledged write is never lost or misplaced (every successful read returns,
// block by block, a version the shadow allows: the last acknowledged write, or any write whose
// fate is unknown because it failed after it may have reached the disk); every I/O's callback
// runs exactly once and nothing is left outstanding; no lock, sync, DMA or framework bookkeeping
// violation; no leak after detach (the fixture).
//
// ROBUST_SOAK_IOS=N sets the verified I/Os per profile (default: a short CI run);
// scripts/soak.sh runs the long one. ROBUST_SOAK_SEED changes the random sequence.
// Each run prints "replay: COMMAND" as it starts (a crash or a hang leaves it in the log) and
// again after a failure: the command that runs this profile again with the same seed, I/O
// count and settings. ROBUST_PLANT=leak|crash plants a defect (test_replay_lines.py).
#include <sys/scsi/scsi.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "client.h"
#include "hostile_device.h"
#include "robust_fixture.h"
#include "scenario.h"
#include "scsa.h"
#include "shadow.h"

namespace robust {
namespace {

using fk::client::KBuf;
using fk::client::Result;
using fk::client::ShadowDisk;
using pvscsi::hw::HostStatus;
using pvscsi_mock::Profile;

constexpr int64_t kUs = 1000, kMs = 1000000;
constexpr uint32_t kBlocks = 2048;  // per I/O LUN (512-byte blocks): small, so I/Os collide
constexpr uint32_t kMaxIoBlocks = 16;
constexpr unsigned kDepth = 16;
constexpr uint32_t kIoTargets = 2;  // targets 0 and 1 carry the I/O; 2..5 come and go

uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  return v != nullptr ? strtoull(v, nullptr, 0) : dflt;
}

struct Stats {
  uint64_t ios = 0, writes_ok = 0, reads_verified = 0, failed = 0, ambiguous_writes = 0;
  uint64_t verify_failures = 0, double_callbacks = 0, lun_gone = 0;
  std::map<std::string, uint64_t> events;
  std::string first_verify_failure;
};

class Soak {
 public:
  Soak(Profile profile, uint64_t seed, uint64_t target_ios)
      : profile_(profile), rng_(seed), target_ios_(target_ios) {}

  Stats run() {
    auto cfg = pvscsi_mock::Config::for_profile(profile_);
    cfg.power_on_unit_attention = true;  // the client retries them, as sd does
    cfg.targets.clear();
    for (uint32_t t = 0; t < kIoTargets; t++) cfg.targets.push_back(disk(t, kBlocks));
    cfg.latency_ns = 20 * kUs;
    cfg.latency_jitter_ns = 80 * kUs;
    cfg.seed = rng_();
    if (profile_ == Profile::kVmware) {
      cfg.completion_batch = 2;
      cfg.coalesce_ns = 30 * kUs;
      cfg.reorder = true;
    }
    dev_ = std::make_unique<HostileDevice>(cfg);
    dip_ = fk::add_pci_node(dev_.get());
    if (fk::attach(dip_) != DDI_SUCCESS) {
      ADD_FAILURE() << "attach failed";
      return stats_;
    }
    for (const auto &l : fk::client::discover(dip_))
      for (uint32_t t = 0; t < kIoTargets; t++)
        if (l.target == std::to_string(t) && l.lun == 0) sd_[t] = l.sd;
    for (uint32_t t = 0; t < kIoTargets; t++) {
      if (sd_[t] == nullptr) {
        ADD_FAILURE() << "I/O target " << t << " not found";
        return stats_;
      }
      fk::client::IoOptions o;
      o.retry_count = 0;  // the driver's outcome, not sd's recovery
      o.reset_on_error = false;
      o.drive_clock = false;
      o.timeout_s = 5;
      o.max_ua_retries = 20;
      q_[t] = std::make_unique<fk::client::Queue>(sd_[t], kDepth, o);
      shadow_[t] = std::make_unique<ShadowDisk>(t, kBlocks, 512);
    }
    for (unsigned i = 0; i < 2 * kDepth * kIoTargets; i++)
      free_bufs_.push_back(new KBuf(kMaxIoBlocks * 512));

    uint64_t steps = 0, last_ios = 0;
    int64_t last_progress = fk::now_ns();
    while (stats_.ios < target_ios_) {
      // A hung target costs pkt_time plus the escalation (abort, device, bus, adapter reset):
      // tens of seconds. Two virtual minutes without one I/O completing is a stall.
      if (stats_.ios != last_ios) {
        last_ios = stats_.ios;
        last_progress = fk::now_ns();
      } else if (fk::now_ns() - last_progress > 120000 * kMs) {
        ADD_FAILURE() << "no I/O completed for 120 s of virtual time (at " << fk::now_ns() / kMs
                      << " ms), " << outstanding() << " outstanding";
        break;
      }
      // Chaos is paced by I/Os started (one event per 128 on average), so its rate does not
      // depend on how many I/Os a step of the clock happens to complete.
      for (uint32_t t = 0; t < kIoTargets; t++)
        while (q_[t]->outstanding() < kDepth && !free_bufs_.empty() && start_io(t)) {
          if (rng_() % 128 == 0) chaos();
        }
      step(int64_t(rng_() % 200) * kUs);
      steps++;
      if (steps % 256 == 0) heal_some();
      if (verbose_ && steps % 2048 == 0) {
        fprintf(stderr, "soak: %llu I/Os, %u outstanding, virtual %.1f s, events:",
                (unsigned long long)stats_.ios, outstanding(), double(fk::now_ns()) / 1e9);
        for (const auto &[k, v] : stats_.events)
          fprintf(stderr, " %s=%llu", k.c_str(), (unsigned long long)v);
        fprintf(stderr, "\n");
      }
    }
    // Calm the device and let everything finish.
    heal_all();
    for (int i = 0; i < 3000 && outstanding() > 0; i++) {
      step(100 * kMs);
      if (verbose_ && i % 50 == 0)
        fprintf(stderr, "soak: draining, %u outstanding, virtual %.1f s\n", outstanding(),
                double(fk::now_ns()) / 1e9);
    }
    EXPECT_EQ(outstanding(), 0u) << "I/Os never completed";
    if (outstanding() == 0) {
      // A last full verification pass over every block of both I/O LUNs.
      // (The queue's submit would block at full depth waiting for a clock nobody moves.)
      for (uint32_t t = 0; t < kIoTargets; t++)
        for (uint64_t lba = 0; lba < kBlocks; lba += kMaxIoBlocks) {
          while (q_[t]->outstanding() >= kDepth) {
            step(1 * kMs);
          }
          start_read(t, lba, kMaxIoBlocks);
        }
      for (int i = 0; i < 3000 && outstanding() > 0; i++) {
        step(1 * kMs);
      }
      for (uint32_t t = 0; t < kIoTargets; t++) q_[t].reset();
    } else {
      for (uint32_t t = 0; t < kIoTargets; t++) (void)q_[t].release();  // cannot be destroyed
      (void)dev_.release();
      return stats_;
    }
    for (KBuf *b : free_bufs_) delete b;
    free_bufs_.clear();
    for (uint32_t t = 0; t < kIoTargets; t++)
      if (stats_.first_verify_failure.empty())
        stats_.first_verify_failure = shadow_[t]->first_failure();
    for (const char *k : {"timeouts", "aborts", "device_resets", "bus_resets", "adapter_resets",
                          "bogus_values", "hotplug_events"})
      stats_.events[std::string("driver:") + k] =
          fk::kstat_value("pvscsi", ddi_get_instance(dip_), "stats", k).value_or(0);
    fk::client::settle();
    EXPECT_EQ(fk::scsa::unconfig_iports(dip_), DDI_SUCCESS);
    EXPECT_EQ(fk::detach(dip_), DDI_SUCCESS);
    fk::remove_node(dip_);
    return stats_;
  }

 private:
  static pvscsi_mock::TargetSpec disk(uint32_t id, uint32_t blocks) {
    pvscsi_mock::LunSpec l;
    l.blocks = blocks;
    pvscsi_mock::TargetSpec s;
    s.id = id;
    s.luns.assign(1, l);
    return s;
  }

  // Moves the clock, lets the kernel's threads finish what that started (on a loaded machine
  // the virtual clock would otherwise run ahead of the interrupt threads and the discovery task
  // and turn commands into timeouts), then runs the callbacks of finished I/O.
  void step(int64_t ns) {
    fk::advance(ns);
    fk::drain();
    for (uint32_t t = 0; t < kIoTargets; t++) q_[t]->poll();
  }

  unsigned outstanding() const {
    unsigned n = 0;
    for (uint32_t t = 0; t < kIoTargets; t++) n += q_[t] ? q_[t]->outstanding() : 0;
    return n;
  }

  bool start_io(uint32_t t) {
    uint32_t n = 1 + uint32_t(rng_() % kMaxIoBlocks);
    uint64_t lba = rng_() % (kBlocks - n + 1);
    if (!shadow_[t]->is_free(lba, n)) return false;
    if (rng_() % 2)
      start_write(t, lba, n);
    else
      start_read(t, lba, n);
    return true;
  }

  // The completion's operation for the block histories (virtual microseconds).
  static ShadowDisk::Op op(int64_t start_ns, const Result &r) {
    ShadowDisk::Op o;
    o.start = start_ns / 1000;
    o.end = fk::now_ns() / 1000;
    o.reason = r.reason;
    o.status = r.status;
    return o;
  }

  void start_write(uint32_t t, uint64_t lba, uint32_t n) {
    KBuf *b = take_buf();
    uint32_t v = shadow_[t]->begin_write(lba, n, b->data());
    uint64_t id = next_id_++;
    int64_t start = fk::now_ns();
    q_[t]->write(lba, n, 512, b->data(), [this, t, lba, n, v, b, id, start](const Result &r) {
      if (!once(id)) return;
      shadow_[t]->end_write(lba, n, v, r.ok(), op(start, r));
      stats_.lun_gone += r.lun_gone;
      if (r.ok()) {
        stats_.writes_ok++;
        stats_.ios++;
      } else {
        stats_.failed++;
        stats_.ambiguous_writes++;
      }
      free_bufs_.push_back(b);
    });
  }

  void start_read(uint32_t t, uint64_t lba, uint32_t n) {
    KBuf *b = take_buf();
    shadow_[t]->begin_read(lba, n);
    uint64_t id = next_id_++;
    int64_t start = fk::now_ns();
    q_[t]->read(lba, n, 512, b->data(), [this, t, lba, n, b, id, start](const Result &r) {
      if (!once(id)) return;
      stats_.verify_failures += shadow_[t]->end_read(lba, n, b->data(), r.ok(), op(start, r));
      stats_.lun_gone += r.lun_gone;
      if (r.ok()) {
        stats_.reads_verified++;
        stats_.ios++;
      } else {
        stats_.failed++;
      }
      free_bufs_.push_back(b);
    });
  }

  bool once(uint64_t id) {
    if (!completed_.insert(id).second) {
      stats_.double_callbacks++;
      return false;
    }
    return true;
  }

  KBuf *take_buf() {
    KBuf *b = free_bufs_.back();
    free_bufs_.pop_back();
    return b;
  }

  void event(const char *name) { stats_.events[name]++; }

  void chaos() {
    auto &m = dev_->mock();
    uint32_t io_t = uint32_t(rng_() % kIoTargets);
    switch (rng_() % 16) {
      case 0:
      case 1: {  // hot add/remove of a target that carries no I/O
        uint32_t t = kIoTargets + uint32_t(rng_() % 4);
        if (m.has_target(t) ? m.remove_target(t) : m.add_target(disk(t, 64))) event("hotplug");
        break;
      }
      case 2: {  // LUN 1 of a non-I/O target comes or goes (a LUN rescan of that target)
        uint32_t t = kIoTargets + uint32_t(rng_() % 4);
        pvscsi_mock::LunSpec l;
        l.lun = 1;
        l.blocks = 64;
        if (m.has_target(t) && (m.has_lun(t, 1) ? m.remove_lun(t, 1) : m.add_lun(t, l)))
          event("lun-hotplug");
        break;
      }
      case 3: {
        fk::client::LunHold hold(sd_[io_t]);  // not torn down while the call runs
        if (!hold.held()) break;
        with_clock([&] { (void)scsi_abort(&sd_[io_t]->sd_address, nullptr); });
        event("abort");
        break;
      }
      case 4: {
        static const int kLevels[] = {RESET_ALL, RESET_TARGET, RESET_LUN};
        int level = kLevels[rng_() % 3];
        fk::client::LunHold hold(sd_[io_t]);
        if (!hold.held()) break;
        with_clock([&] { (void)scsi_reset(&sd_[io_t]->sd_address, level); });
        event(level == RESET_ALL      ? "reset-bus"
              : level == RESET_TARGET ? "reset-target"
                                      : "reset-lun");
        break;
      }
      case 5:
        m.set_target_hung(io_t, true);
        hung_[io_t] = true;
        event("hang");
        break;
      case 6: {
        // (No SELTIMEO: that says the target is gone, and the framework may offline the LUN
        // that carries the I/O.)
        static const HostStatus kStatuses[] = {HostStatus::kBusreset, HostStatus::kAbortqueue,
                                               HostStatus::kHahardware};
        m.fail_next_requests(1 + unsigned(rng_() % 3), pvscsi::hw::to_raw(kStatuses[rng_() % 3]), 0,
                             io_t);
        event("error-status");
        break;
      }
      case 7:
        m.fail_next_requests(1, 0, 0x08 /* BUSY */, io_t);
        event("scsi-busy");
        break;
      case 8:
        m.fail_next_requests(1, 0, 0x02 /* CHECK CONDITION: HARDWARE ERROR */, io_t);
        event("check-condition");
        break;
      case 9:
        m.corrupt_next_completion_context(pvscsi_mock::BogusContext(rng_() % 4));
        event("bogus-completion");
        break;
      case 10:
        m.inject_completion(rng_() % 64, 0, 0);
        event("injected-completion");
        break;
      case 11:
        m.drop_next_interrupts(1 + unsigned(rng_() % 4));
        event("dropped-interrupts");
        break;
      case 12:
        m.duplicate_next_interrupts(1 + unsigned(rng_() % 4));
        event("duplicated-interrupts");
        break;
      case 13:
        m.raise_spurious_interrupt(uint32_t(rng_() % 16));
        event("spurious-interrupt");
        break;
      case 14:
        if (rng_() % 8 == 0) {
          m.spontaneous_reset();
          event("adapter-reset-by-device");
        }
        break;
      default:
        fk::advance(int64_t(rng_() % 50) * kMs);  // let timers and the watchdog run
        event("time-jump");
        break;
    }
  }

  // Aborts and resets wait for the device with drv_usecwait, which moves the virtual clock by
  // itself. (fk::set_auto_advance here can hang joining its thread while the discovery task
  // busy-waits on the clock: see the report.)
  template <class F>
  void with_clock(F f) {
    f();
  }

  void heal_some() {
    for (uint32_t t = 0; t < kIoTargets; t++)
      if (hung_[t] && rng_() % 2) {
        dev_->mock().set_target_hung(t, false);
        hung_[t] = false;
      }
  }

  void heal_all() {
    auto &m = dev_->mock();
    for (uint32_t t = 0; t < kIoTargets; t++) m.set_target_hung(t, false);
    m.drop_next_interrupts(0);
    m.duplicate_next_interrupts(0);
  }

  Profile profile_;
  std::mt19937_64 rng_;
  uint64_t target_ios_;
  bool verbose_ = getenv("ROBUST_SOAK_VERBOSE") != nullptr;
  std::unique_ptr<HostileDevice> dev_;
  dev_info_t *dip_ = nullptr;
  scsi_device *sd_[kIoTargets] = {};
  std::unique_ptr<fk::client::Queue> q_[kIoTargets];
  std::unique_ptr<ShadowDisk> shadow_[kIoTargets];
  bool hung_[kIoTargets] = {};
  std::vector<KBuf *> free_bufs_;
  uint64_t next_id_ = 0;
  std::set<uint64_t> completed_;
  Stats stats_;
};

// The command that runs the current test again, alone, with the settings that decide its course.
std::string replay_command(uint64_t ios, uint64_t seed) {
  std::string cmd =
      "ROBUST_SOAK_IOS=" + std::to_string(ios) + " ROBUST_SOAK_SEED=" + std::to_string(seed);
  for (const char *var : {"ROBUST_SOAK_SYNC_AUDIT", kPlantEnv})
    if (const char *v = getenv(var)) cmd += std::string(" ") + var + "=" + shell_quote(v);
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  const ::testing::TestInfo *t = ::testing::UnitTest::GetInstance()->current_test_info();
  return cmd + " " + shell_quote(ec ? std::string("pvscsi_chaos_soak_test") : self) +
         " --gtest_filter=" + shell_quote(std::string(t->test_suite_name()) + "." + t->name());
}

class ChaosSoak : public RobustTest, public ::testing::WithParamInterface<Profile> {
 protected:
  void SetUp() override {
    ios_ = env_u64("ROBUST_SOAK_IOS", 20000);
    seed_ = env_u64("ROBUST_SOAK_SEED", 1);
    replay_ = replay_command(ios_, seed_);
    printf("[ soak ] replay: %s\n", replay_.c_str());
    fflush(stdout);
    RobustTest::SetUp();
  }
  // After the fixture's leak and violation checks, which fail the test too.
  void TearDown() override {
    RobustTest::TearDown();
    if (HasFailure()) {
      printf("[ soak ] FAILED; replay: %s\n", replay_.c_str());
      fflush(stdout);
    }
  }
  uint64_t ios_ = 0, seed_ = 0;
  std::string replay_;

  fk::Options kernel_options() const override {
    fk::Options o;
    o.arena_size = 128ull << 20;
    o.deterministic = true;
    // The sync audit is on (ROBUST_SOAK_SYNC_AUDIT=0 turns it off to measure its cost). It
    // once reported a device read of cmpConsIdx between the driver's store and its sync; the
    // audit now waits for the driver to drop its lock before it judges such a read.
    const char *audit = getenv("ROBUST_SOAK_SYNC_AUDIT");
    o.sync_audit = audit == nullptr || strcmp(audit, "0") != 0;
    return o;
  }
};

TEST_P(ChaosSoak, VerifiedIoSurvivesEverything) {
  uint64_t ios = ios_;
  uint64_t seed = seed_ * 2 + (GetParam() == Profile::kQemu);
  if (const char *plant = getenv(kPlantEnv)) {
    if (strcmp(plant, "leak") == 0) (void)kmem_alloc(24, KM_SLEEP);  // planted: never freed
    if (strcmp(plant, "crash") == 0) abort();                        // planted
  }
  auto t0 = std::chrono::steady_clock::now();
  Soak soak(GetParam(), seed, ios);
  Stats s = soak.run();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const char *name = GetParam() == Profile::kVmware ? "vmware" : "qemu";
  printf(
      "[ soak ] %s: %llu verified I/Os (%llu writes acknowledged, %llu reads verified), "
      "%llu failed (%llu ambiguous writes), %llu verify failures, %llu double callbacks, "
      "%.1f s real, %.0f I/O/s, virtual %.1f s\n",
      name, (unsigned long long)s.ios, (unsigned long long)s.writes_ok,
      (unsigned long long)s.reads_verified, (unsigned long long)s.failed,
      (unsigned long long)s.ambiguous_writes, (unsigned long long)s.verify_failures,
      (unsigned long long)s.double_callbacks, secs, double(s.ios) / secs,
      double(fk::now_ns()) / 1e9);
  printf("[ soak ] %s events:", name);
  for (const auto &[k, v] : s.events) printf(" %s=%llu", k.c_str(), (unsigned long long)v);
  printf("\n");
  EXPECT_EQ(s.verify_failures, 0u) << s.first_verify_failure;
  EXPECT_EQ(s.double_callbacks, 0u);
  EXPECT_EQ(s.lun_gone, 0u) << "an I/O LUN went offline";
  EXPECT_GE(s.ios, ios);
  EXPECT_GT(s.reads_verified, 0u);
}

// Deterministic mode: one seed, one interleaving - the same soak run twice gives the same trace
// digest (every scheduling decision and clock event in order), and another seed another one.
TEST_P(ChaosSoak, SameSeedSameTraceDigest) {
  const uint64_t ios = 1500, seed = seed_ * 2 + (GetParam() == Profile::kQemu);
  auto run = [&](uint64_t s) {
    Stats st = Soak(GetParam(), s, ios).run();
    EXPECT_EQ(st.verify_failures, 0u);
    uint64_t digest = fk::sched_trace().digest;
    for (const auto &f : shutdown_and_check()) ADD_FAILURE() << f;
    EXPECT_EQ(boot_with_driver(kernel_options()), "");
    return digest;
  };
  if (!fk::deterministic()) GTEST_SKIP() << "host threads (FK_DETERMINISTIC=0): no trace digest";
  const uint64_t a = run(seed), b = run(seed), c = run(seed + 100);
  EXPECT_NE(a, 0u);
  EXPECT_EQ(a, b) << "the same soak gave two interleavings";
  EXPECT_NE(a, c) << "another seed gave the same interleaving";
}

INSTANTIATE_TEST_SUITE_P(Profiles, ChaosSoak, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         [](const ::testing::TestParamInfo<Profile> &i) {
                           return std::string(i.param == Profile::kVmware ? "vmware" : "qemu");
                         });

}  // namespace
}  // namespace robust
