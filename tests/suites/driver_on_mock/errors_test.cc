// Timeouts, escalation, aborts, resets, adapter restart, and a device that lies. Each test
// is one of the defects of prior drivers (shared/reference/prior-drivers.md) made impossible;
// the fixture's checkers (exactly-once completion, lock order and recursion, syncs, leaks)
// run on every one.
#include <sys/cmn_err.h>
#include <sys/ddifm.h>

#include <map>

#include "mock_hba.h"

namespace driver_on_mock {
namespace {

using fk::client::KBuf;
using fk::client::Result;
using pvscsi::hw::CommandCode;
using pvscsi_mock::Profile;

// Options that show the driver's outcome, not sd's recovery: no retries, no reset on error;
// pkt_time timeout_s, and the clock driven while waiting unless drive_clock is false.
fk::client::IoOptions driver_outcome(int timeout_s, bool drive_clock) {
  fk::client::IoOptions o;
  o.retry_count = 0;
  o.reset_on_error = false;
  o.timeout_s = timeout_s;
  o.drive_clock = drive_clock;
  return o;
}

constexpr int64_t kMs = 1000000;

// Target 0 stops answering and the device ignores these recovery commands.
void hang_target0(Hba &hba, std::initializer_list<CommandCode> refused) {
  hba.dev().set_target_hung(0, true);
  for (CommandCode c : refused) hba.dev().refuse_command(c);
}

class ErrorsTest : public ProfileTest {};

// Results of an asynchronous batch, by reason.
struct Tally {
  unsigned total = 0, ok = 0, timed_out = 0;  // timed_out: STAT_TIMEOUT set
  std::map<int, unsigned> reasons;
  fk::client::Queue::Callback cb() {
    return [this](const Result &r) {
      total++;
      ok += r.ok();
      timed_out += (r.statistics & STAT_TIMEOUT) != 0;
      reasons[r.reason]++;
    };
  }
};

// One read of target 0 held in the device (the target hangs; no timeout) while a test acts;
// release() lets the device finish it and waits for its callback.
class HeldRead {
 public:
  HeldRead(Hba &hba, scsi_device *sd) : hba_(hba), buf_(512), q_(sd, 1, options()) {
    hba_.dev().set_target_hung(0, true);
    q_.read(0, 1, 512, buf_.data(), tally.cb());
  }
  // The read has not completed (polled first, so that a completion waiting is seen).
  bool pending() {
    q_.poll();
    return tally.total == 0;
  }
  // Lets the target answer and waits for the read; its tally.
  const Tally &release() {
    hba_.dev().set_target_hung(0, false);
    fk::advance(kMs);
    q_.wait();
    return tally;
  }
  Tally tally;

 private:
  static fk::client::IoOptions options() {
    fk::client::IoOptions o = driver_outcome(0, false);
    return o;
  }
  Hba &hba_;
  KBuf buf_;  // outlives the queue, which waits for the read in its destructor
  fk::client::Queue q_;
};

TEST_P(ErrorsTest, HungTargetEscalatesThroughEveryStepInOrder) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  // The device ignores every recovery command but the last: each step must be tried in turn.
  hang_target0(hba, {CommandCode::kAbortCmd, CommandCode::kResetDevice, CommandCode::kResetBus});
  fk::client::IoOptions o = driver_outcome(5, false);
  Tally tally;
  fk::client::Queue q(sd, 8, o);
  KBuf buf(4096);
  for (int i = 0; i < 8; i++) q.read(uint64_t(i) * 8, 8, 512, buf.data(), tally.cb());
  int64_t start = fk::now_ns();
  std::map<std::string, int64_t> first;  // when each step was first taken
  for (int step = 0; step < 400 && tally.total < 8; step++) {
    fk::advance(100 * kMs);
    for (const char *s : {"timeouts", "aborts", "device_resets", "bus_resets", "adapter_resets"})
      if (!first.count(s) && hba.stat(s) > 0) first[s] = fk::now_ns() - start;
    q.poll();
  }
  ASSERT_EQ(tally.total, 8u) << "packets never completed";
  // They timed out and were reset for it: CMD_TIMEOUT, not the CMD_RESET of a victim.
  EXPECT_EQ(tally.reasons[CMD_TIMEOUT], 8u);
  EXPECT_EQ(tally.timed_out, 8u);
  ASSERT_EQ(first.size(), 5u);
  // One abort per command, but one reset of the target and one of the bus for all eight.
  EXPECT_EQ(hba.stat("aborts"), 8u);
  EXPECT_EQ(hba.stat("device_resets"), 1u);
  EXPECT_EQ(hba.stat("bus_resets"), 1u);
  EXPECT_GE(first["aborts"], 5000 * kMs);  // not before pkt_time
  EXPECT_LT(first["aborts"], 6000 * kMs);
  EXPECT_LT(first["aborts"], first["device_resets"]);
  EXPECT_LT(first["device_resets"], first["bus_resets"]);
  EXPECT_LT(first["bus_resets"], first["adapter_resets"]);
  EXPECT_EQ(hba.stat("adapter_resets"), 1u);
  EXPECT_GT(hba.dev().counters().commands[int(CommandCode::kAbortCmd)], 0u);
  EXPECT_GE(fk::sdt_count("pvscsi__reset"), 3u);  // device, bus, adapter
  // Recovery is complete: the rings and the threshold are set up again.
  hba.dev().set_target_hung(0, false);
  hba.dev().refuse_command(CommandCode::kAbortCmd, 0);
  hba.dev().refuse_command(CommandCode::kResetDevice, 0);
  hba.dev().refuse_command(CommandCode::kResetBus, 0);
  EXPECT_TRUE(fk::client::read(sd, 0, 8, 512, buf.data()).ok());
  EXPECT_TRUE(hba.dev().ring_state().rings_valid);
  EXPECT_EQ(hba.dev().ring_state().threshold_enabled, GetParam() == Profile::kVmware);
}

// sd's recovery on the driver: a reported bus reset is retried (a victim's failure) with no
// reset of the client's; a command timeout and a transport error make the client reset the
// target from the completion routine - the driver's interrupt handler - before the same packet
// goes again. Nothing sleeps there (the kernel's checkers would report it).
TEST_P(ErrorsTest, SdRecoveryRunsFromTheDriversCompletionPath) {
  using pvscsi::hw::HostStatus;
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  KBuf buf(512);
  hba.dev().fail_next_requests(2, pvscsi::hw::to_raw(HostStatus::kBusreset), 0, 0);
  Result r = fk::client::read(sd, 0, 1, 512, buf.data());
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.victim_retries, 2u);
  EXPECT_EQ(r.resets, 0u);
  EXPECT_EQ(hba.stat("device_resets"), 0u);
  hba.dev().fail_next_requests(1, pvscsi::hw::to_raw(HostStatus::kHatimeout), 0, 0);
  hba.dev().fail_next_requests(1, pvscsi::hw::to_raw(HostStatus::kHahardware), 0, 0);
  r = fk::client::read(sd, 0, 1, 512, buf.data());
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.retries, 2u);
  EXPECT_EQ(r.victim_retries, 0u);
  EXPECT_EQ(r.resets, 2u);
  EXPECT_EQ(hba.stat("device_resets"), 2u);
}

TEST_P(ErrorsTest, AbortIsEnoughWhenTheDeviceHonoursIt) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().set_target_hung(0, true);
  fk::client::IoOptions o = driver_outcome(2, true);
  KBuf buf(512);
  Result r = fk::client::read(sd, 0, 1, 512, buf.data(), o);
  // Aborted because it timed out (sd.c sd_pkt_reason_cmd_timeout, not _cmd_aborted).
  EXPECT_EQ(r.reason, CMD_TIMEOUT);
  EXPECT_EQ(r.statistics, unsigned(STAT_TIMEOUT | STAT_ABORTED));
  EXPECT_EQ(hba.stat("aborts"), 1u);
  EXPECT_EQ(hba.stat("device_resets"), 0u);
  hba.dev().set_target_hung(0, false);
}

TEST_P(ErrorsTest, AdapterRestartWithHundredsOutstanding) {
  Hba hba(mock_config(GetParam(), {0, 1}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  hba.dev().set_target_hung(0, true);  // nothing completes on its own
  hba.dev().set_target_hung(1, true);
  fk::client::IoOptions o = driver_outcome(60, false);
  Tally tally;
  KBuf buf(512);
  {
    fk::client::Queue q0(hba.lun(0, 0), 128, o), q1(hba.lun(1, 0), 128, o);
    for (int i = 0; i < 128; i++) {
      q0.read(uint64_t(i), 1, 512, buf.data(), tally.cb());
      q1.read(uint64_t(i), 1, 512, buf.data(), tally.cb());
    }
    fk::advance(kMs);
    EXPECT_EQ(hba.dev().counters().outstanding, 256u);
    // A completion producer index beyond the ring: the driver cannot trust the device.
    hba.dev().corrupt_cmp_prod_index();
    fk::drain();
    fk::advance(kMs);
    q0.wait();
    q1.wait();
  }
  EXPECT_EQ(tally.total, 256u);
  EXPECT_EQ(tally.reasons[CMD_RESET], 256u);
  EXPECT_EQ(hba.stat("adapter_resets"), 1u);
  EXPECT_EQ(hba.stat("bogus_values"), 1u);
  EXPECT_EQ(fk::console_count(CE_WARN), 1u);  // reported once
  hba.dev().set_target_hung(0, false);
  hba.dev().set_target_hung(1, false);
  // Back in business, threshold included (Linux forgot it after a reset).
  EXPECT_EQ(hba.dev().ring_state().threshold_enabled, GetParam() == Profile::kVmware);
  fk::client::IoOptions fast;
  fast.retry_count = 0;  // the driver's outcome, not sd's recovery
  fast.reset_on_error = false;
  EXPECT_TRUE(fk::client::test_unit_ready(hba.lun(0, 0), fast).ok());
}

TEST_P(ErrorsTest, TranAbortAndResetDuringIo) {
  auto cfg = mock_config(GetParam(), {0, 1});
  cfg.latency_ns = 50 * kMs;
  Hba hba(cfg);
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd0 = hba.lun(0, 0), *sd1 = hba.lun(1, 0);
  fk::client::IoOptions o = driver_outcome(60, false);
  KBuf buf(512);
  for (int level : {-1, RESET_LUN, RESET_TARGET, RESET_ALL}) {
    Tally tally;
    {
      fk::client::Queue q0(sd0, 16, o), q1(sd1, 16, o);
      for (int i = 0; i < 16; i++) {
        q0.read(uint64_t(i), 1, 512, buf.data(), tally.cb());
        q1.read(uint64_t(i), 1, 512, buf.data(), tally.cb());
      }
      fk::advance(kMs);
      if (level < 0)
        EXPECT_EQ(scsi_abort(&sd0->sd_address, nullptr), 1);  // every packet of the LUN
      else
        EXPECT_EQ(scsi_reset(&sd0->sd_address, level), 1);
      fk::advance(100 * kMs);
      q0.wait();
      q1.wait();
    }
    EXPECT_EQ(tally.total, 32u) << "level " << level;
    EXPECT_GE(tally.total - tally.ok, 16u) << "level " << level;  // target 0's were cut short
  }
  EXPECT_TRUE(fk::client::test_unit_ready(sd0).ok());
}

TEST_P(ErrorsTest, TargetResetReachesEveryLunAndVictimsAreNotTimedOut) {
  Hba hba(mock_config(GetParam(), {0, 1}, 2));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd00 = hba.lun(0, 0), *sd01 = hba.lun(0, 1), *sd10 = hba.lun(1, 0);
  ASSERT_NE(sd01, nullptr);
  using pvscsi_mock::UnitAttention;
  // RESET_TARGET resets the whole target: RESET_DEVICE names a LUN, so each LUN in turn.
  EXPECT_EQ(scsi_reset(&sd00->sd_address, RESET_TARGET), 1);
  EXPECT_EQ(hba.stat("device_resets"), 2u);
  EXPECT_TRUE(hba.dev().has_unit_attention(0, 0, UnitAttention::kPowerOnReset));
  EXPECT_TRUE(hba.dev().has_unit_attention(0, 1, UnitAttention::kPowerOnReset));
  EXPECT_FALSE(hba.dev().has_unit_attention(1, 0, UnitAttention::kPowerOnReset));
  // RESET_LUN, offered by the "lun-reset" capability, resets that LUN only.
  EXPECT_EQ(scsi_ifgetcap(&sd10->sd_address, const_cast<char *>("lun-reset"), 1), 1);
  EXPECT_EQ(scsi_reset(&sd10->sd_address, RESET_LUN), 1);
  EXPECT_EQ(hba.stat("device_resets"), 3u);
  EXPECT_TRUE(hba.dev().has_unit_attention(1, 0, UnitAttention::kPowerOnReset));
  // One command of target 0 times out; the device ignores its abort. The target reset that
  // follows ends the other commands of the target too: they are victims (CMD_RESET), only the
  // overdue one is CMD_TIMEOUT.
  KBuf buf(512);
  EXPECT_TRUE(fk::client::test_unit_ready(sd00).ok());  // the unit attentions are consumed
  EXPECT_TRUE(fk::client::test_unit_ready(sd01).ok());
  hang_target0(hba, {CommandCode::kAbortCmd});
  fk::client::IoOptions timed, patient;
  timed.drive_clock = patient.drive_clock = false;
  timed.retry_count = patient.retry_count = 0;  // the driver's outcome, not sd's recovery
  timed.reset_on_error = patient.reset_on_error = false;
  timed.timeout_s = 2;
  patient.timeout_s = 0;
  Tally overdue, victims;
  {
    fk::client::Queue q0(sd00, 4, timed), q1(sd01, 4, patient), q2(sd00, 4, patient);
    q0.read(0, 1, 512, buf.data(), overdue.cb());
    for (int i = 0; i < 3; i++) {
      q1.read(uint64_t(i), 1, 512, buf.data(), victims.cb());
      q2.read(uint64_t(i), 1, 512, buf.data(), victims.cb());
    }
    for (int step = 0; step < 200 && overdue.total + victims.total < 7; step++) {
      fk::advance(100 * kMs);
      q0.poll();
      q1.poll();
      q2.poll();
    }
    hba.dev().set_target_hung(0, false);  // whatever is left completes now
    fk::advance(kMs);
  }
  EXPECT_EQ(overdue.total, 1u);
  EXPECT_EQ(overdue.reasons[CMD_TIMEOUT], 1u);
  EXPECT_EQ(overdue.timed_out, 1u);
  EXPECT_EQ(victims.total, 6u);
  EXPECT_EQ(victims.reasons[CMD_RESET], 6u);
  EXPECT_EQ(victims.timed_out, 0u);
  EXPECT_EQ(hba.stat("device_resets"), 5u);  // one target reset: both LUNs
  EXPECT_EQ(hba.stat("bus_resets"), 0u);
  hba.dev().refuse_command(CommandCode::kAbortCmd, 0);
}

TEST_P(ErrorsTest, LateCompletionAfterFailedAbortLandsOnItsOwnPacket) {
  // The 2016 driver reused a context before the device finished with it. Ours keeps it
  // reserved until the device answers.
  Hba hba(mock_config(GetParam(), {0, 1}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd0 = hba.lun(0, 0), *sd1 = hba.lun(1, 0);
  hang_target0(hba, {CommandCode::kAbortCmd});
  fk::client::IoOptions o = driver_outcome(0, false);
  Tally late;
  fk::client::Queue q0(sd0, 1, o);
  KBuf stale(512), fresh(512), out(512);
  q0.read(0, 1, 512, stale.data(), late.cb());
  fk::advance(kMs);
  EXPECT_EQ(scsi_abort(&sd0->sd_address, nullptr), 0);  // the device refused
  // Many new commands come and go while the old one is still in the device.
  for (int i = 0; i < 600; i++) {
    ShadowDisk::fill(out.data(), 512, 512, 0, 5, i + 1);
    ASSERT_TRUE(fk::client::write(sd1, 5, 1, 512, out.data()).ok());
    ASSERT_TRUE(fk::client::read(sd1, 5, 1, 512, fresh.data()).ok());
    ASSERT_TRUE(ShadowDisk::holds(fresh.data(), 512, 512, 0, 5, i + 1));
  }
  EXPECT_EQ(late.total, 0u);
  hba.dev().refuse_command(CommandCode::kAbortCmd, 0);
  hba.dev().set_target_hung(0, false);  // the old request completes now
  fk::advance(kMs);
  q0.wait();
  EXPECT_EQ(late.total, 1u);
  EXPECT_EQ(late.ok, 1u);
}

TEST_P(ErrorsTest, PktTimeZeroMeansNoTimeout) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  HeldRead held(hba, hba.lun(0, 0));
  fk::advance(600000 * kMs);  // ten minutes
  EXPECT_TRUE(held.pending());
  EXPECT_EQ(hba.stat("timeouts"), 0u);
  EXPECT_EQ(held.release().ok, 1u);
}

TEST_P(ErrorsTest, PolledCommandEscalatesWithRealWaits) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hang_target0(hba, {CommandCode::kAbortCmd, CommandCode::kResetDevice});
  hba.dev().drop_next_interrupts(1000000);  // as in a crash dump
  fk::scsa::set_dump_mode(true);            // so the HBA gets FLAG_NOINTR
  fk::client::IoOptions o = driver_outcome(2, false);
  o.polled = true;
  KBuf buf(512);
  int64_t start = fk::now_ns();
  Result r = fk::client::read(sd, 0, 1, 512, buf.data(), o);
  int64_t took = fk::now_ns() - start;
  fk::scsa::set_dump_mode(false);
  EXPECT_EQ(r.reason, CMD_TIMEOUT);  // the bus reset freed it, because it timed out
  EXPECT_EQ(r.statistics, unsigned(STAT_TIMEOUT | STAT_BUS_RESET));
  EXPECT_EQ(hba.stat("aborts"), 1u);
  EXPECT_EQ(hba.stat("device_resets"), 1u);
  EXPECT_EQ(hba.stat("bus_resets"), 1u);
  EXPECT_GE(took, 2000 * kMs + 2000 * kMs + 5000 * kMs);  // waited between the steps
  hba.dev().drop_next_interrupts(0);
  hba.dev().set_target_hung(0, false);
  hba.dev().refuse_command(CommandCode::kAbortCmd, 0);
  hba.dev().refuse_command(CommandCode::kResetDevice, 0);
}

TEST_P(ErrorsTest, BogusCompletionsAreSurvived) {
  using pvscsi_mock::BogusContext;
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  fk::client::IoOptions o = driver_outcome(2, true);
  KBuf buf(512);
  for (BogusContext kind : {BogusContext::kZero, BogusContext::kOutOfRange,
                            BogusContext::kAlreadyCompleted, BogusContext::kUpper32}) {
    hba.dev().corrupt_next_completion_context(kind);
    // The real completion is lost: the packet times out and is aborted, never hangs.
    Result r = fk::client::read(sd, 0, 1, 512, buf.data(), o);
    EXPECT_TRUE(r.transported);
    EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data(), o).ok());
  }
  EXPECT_TRUE(hba.dev().inject_completion(3, 0, 0));
  EXPECT_TRUE(hba.dev().inject_completion(0xFFFFFFFF00000001ull, 0, 0));
  fk::drain();
  EXPECT_GE(hba.stat("bogus_values"), 5u);
  EXPECT_EQ(fk::console_count(CE_WARN), 1u);  // reported once, not a console flood
  EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data(), o).ok());
  // FMA heard the service degraded; once the device behaves for a watchdog period, restored.
  auto impacts = [] {
    std::vector<int> v;
    for (const auto &m : fk::console()) {
      int impact;
      if (sscanf(m.text.c_str(), "fm: service impact %d", &impact) == 1) v.push_back(impact);
    }
    return v;
  };
  EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data(), o).ok());  // the watchdog runs
  fk::advance(2000 * kMs);
  std::vector<int> v = impacts();
  ASSERT_GE(v.size(), 2u);
  EXPECT_EQ(v.front(), DDI_SERVICE_DEGRADED);
  EXPECT_EQ(v.back(), DDI_SERVICE_RESTORED);
}

TEST_P(ErrorsTest, WatchdogRunsOnlyWhileThereIsSomethingToWatch) {
  // As the 2022 driver's timer: armed by the first command, lapsed once nothing is pending.
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  KBuf buf(512);
  EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
  fk::advance(2000 * kMs);
  uint64_t fired = fk::counters().timeouts_fired;
  fk::advance(10000 * kMs);  // idle: twenty periods, no tick
  EXPECT_EQ(fk::counters().timeouts_fired, fired);
  // A command in the device arms it again: a lost interrupt is still reaped.
  hba.dev().drop_next_interrupts(1);
  EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
  EXPECT_GT(fk::counters().timeouts_fired, fired);
}

TEST_P(ErrorsTest, SmallContextsNeverMatchAfterTheTagWraps) {
  // Found by the chaos soak: the per-submission tag in bits 16-31 of a context was the 16-bit
  // command count, so one submission in 65,536 had tag 0 and a context below 65,536. A device
  // completing a small garbage context then completed that live packet with success (a write
  // acknowledged before the device ran it, a read returning stale data).
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  {
    fk::client::Queue q(sd, 32);
    KBuf buf(512);
    Tally warm;
    // The next submission is number 65,536 (the count starts at 0).
    for (uint64_t n = hba.stat("commands"); n < 65536; n++)
      q.read(n % 64, 1, 512, buf.data(), warm.cb());
    q.wait();
    EXPECT_EQ(warm.ok, warm.total);
  }
  ASSERT_EQ(hba.stat("commands"), 65536u);
  HeldRead held(hba, sd);
  fk::drain();
  uint64_t bogus = hba.stat("bogus_values");
  const uint64_t entries = hba.stat("req_ring_entries");
  for (uint64_t ctx = 1; ctx <= entries; ctx++) ASSERT_TRUE(hba.dev().inject_completion(ctx, 0, 0));
  fk::drain();
  EXPECT_TRUE(held.pending()) << "a garbage context completed a live packet";
  EXPECT_EQ(hba.stat("bogus_values"), bogus + entries);
  EXPECT_EQ(held.release().ok, 1u);
}

TEST_P(ErrorsTest, InterruptFaultsAreSurvived) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().corrupt_log2_sizes(31, 31, 31);  // never read: our sizes are our own
  KBuf buf(512);
  hba.dev().drop_next_interrupts(3);  // the watchdog reaps
  for (int i = 0; i < 3; i++) EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
  hba.dev().duplicate_next_interrupts(5);
  for (int i = 0; i < 5; i++) EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
  for (int i = 0; i < 5; i++) hba.dev().raise_spurious_interrupt(0x1);
  fk::drain();
  EXPECT_TRUE(fk::client::read(sd, 0, 1, 512, buf.data()).ok());
}

TEST_P(ErrorsTest, SpontaneousDeviceResetIsRecovered) {
  Hba hba(mock_config(GetParam(), {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  hba.dev().spontaneous_reset();
  fk::client::IoOptions o = driver_outcome(2, true);
  KBuf buf(512);
  // The device forgot its rings: the first command times out, escalation restarts the
  // adapter, and the next one works.
  Result r = fk::client::read(sd, 0, 1, 512, buf.data(), o);
  EXPECT_TRUE(r.transported);
  Result again = fk::client::read(sd, 0, 1, 512, buf.data(), o);
  EXPECT_TRUE(again.ok()) << again.describe();
  EXPECT_GE(hba.stat("adapter_resets"), 1u);
}

INSTANTIATE_TEST_SUITE_P(Profiles, ErrorsTest, ::testing::Values(Profile::kVmware, Profile::kQemu),
                         profile_name);

}  // namespace
}  // namespace driver_on_mock
