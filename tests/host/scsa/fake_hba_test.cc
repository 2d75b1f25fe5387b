// Acceptance tests of the SCSA framework and the target client, driving the fake HBA driver
// (fake_hba/): attach with an iport and a target map, targets appearing and disappearing with
// settle timing on the virtual clock, LUN enumeration (sparse LUNs, no REPORT LUNS), LUN-change
// rescans, multi-cookie and partial DMA under restrictive attributes, TRAN_BUSY retries,
// polled packets, abort and reset, capabilities, detach with nothing leaked, and every
// bookkeeping check firing on a planted defect.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include "fk.h"
#include "fk_internal.h"
#include "client.h"
#include "fake_hba/fake_hba.h"
#include "scsa.h"

namespace {

using fk::client::IoOptions;
using fk::client::KBuf;
using fk::client::Result;
using fk::scsa::Check;

constexpr int64_t kMs = 1'000'000;

class FakeHbaTest : public ::testing::Test {
 protected:
  virtual fake_hba::Config config() { return fake_hba::Config(); }

  void SetUp() override {
    fk::scsa::reset_state();
    fk::scsa::set_dump_mode(false);
    fk::boot();
    fake_hba::reset(config());
    ASSERT_EQ(fk::load_driver("fake_hba"), 0);
    hba_ = fk::create_child(fk::root_node(), "fake_hba", fk::driver_ops(), "0");
    ASSERT_NE(hba_, nullptr);
    ASSERT_EQ(fk::attach(hba_), DDI_SUCCESS);
    ASSERT_EQ(fk::scsa::config_iports(hba_), DDI_SUCCESS);
    fk::scsa::clear_violations();
  }

  void TearDown() override {
    if (hba_ != nullptr) {
      EXPECT_EQ(fk::scsa::unconfig_iports(hba_), DDI_SUCCESS);
      EXPECT_EQ(fk::detach(hba_), DDI_SUCCESS);
      fk::remove_node(hba_);
    }
    EXPECT_EQ(fk::unload_driver(), 0);
    fk::scsa::Stats s = fk::scsa::stats();
    if (expect_clean_) {
      for (const auto &v : fk::scsa::violations()) {
        ADD_FAILURE() << "SCSA violation: " << fk::scsa::check_name(v.check) << ": " << v.what;
      }
      for (const auto &v : fk::violations()) {
        ADD_FAILURE() << "kernel violation: " << v.kind << ": " << v.text;
      }
      EXPECT_EQ(s.pkts_allocated, 0u);
      EXPECT_EQ(s.scsi_devices, 0u);
      EXPECT_EQ(s.trans, 0u);
      EXPECT_EQ(fake_hba::stats().tgt_inits, fake_hba::stats().tgt_frees);
      EXPECT_EQ(fake_hba::stats().constructed, 0u);
    }
    fk::shutdown();
    if (expect_clean_) {
      for (const auto &l : fk::leaks()) {
        ADD_FAILURE() << "leak: " << l.kind << " " << l.size << " at " << l.site;
      }
    }
    fk::scsa::clear_violations();
  }

  // The configuration the fake HBA starts with (its DMA attributes filled in by reset).
  static fake_hba::Config default_config() {
    fake_hba::reset(fake_hba::Config());
    return fake_hba::config();
  }

  // A target with the given LUNs (512-byte blocks) on the fake bus.
  static void put(const std::string &addr, std::vector<uint64_t> luns, bool report_luns = true) {
    fake_hba::Target t;
    t.report_luns = report_luns;
    for (uint64_t l : luns) {
      t.luns[l] = fake_hba::Lun();
    }
    fake_hba::put_target(addr, t);
  }

  static std::vector<std::string> uas() {
    std::vector<std::string> out;
    for (const auto &l : fk::scsa::luns(fake_hba::hba_dip())) {
      out.push_back(l.unit_address);
    }
    return out;
  }

  // Reports a target, then lets it settle.
  void add_and_settle(const std::string &addr, std::vector<uint64_t> luns) {
    put(addr, std::move(luns));
    ASSERT_EQ(fake_hba::report_add(addr), DDI_SUCCESS);
    ASSERT_TRUE(fk::client::settle());
  }

  scsi_device *sd_of(const std::string &ua) {
    for (const auto &l : fk::scsa::luns(hba_)) {
      if (l.unit_address == ua) {
        return l.sd;
      }
    }
    return nullptr;
  }

  // Queues n TEST UNIT READYs on sd with the HBA holding them, runs act while they are held,
  // and returns their outcomes as the HBA gave them (no sd retries).
  static std::vector<Result> held_unit_readys(scsi_device *sd, int n,
                                              const std::function<void()> &act) {
    fake_hba::set_hold(true);
    std::vector<Result> results;
    {
      IoOptions raw;
      raw.retry_count = 0;
      fk::client::Queue q(sd, 4, raw);
      for (int i = 0; i < n; i++) {
        q.submit(fk::client::cdb::test_unit_ready(), nullptr, 0, true,
                 [&](const Result &r) { results.push_back(r); });
      }
      act();
      q.wait();
    }
    fake_hba::set_hold(false);
    return results;
  }

  dev_info_t *hba_ = nullptr;
  bool expect_clean_ = true;
};

// ---- attach ----

TEST_F(FakeHbaTest, AttachRegistersIportAndTargetMap) {
  dev_info_t *ip = fake_hba::iport_dip();
  ASSERT_NE(ip, nullptr);
  EXPECT_EQ(ddi_get_parent(ip), hba_);
  EXPECT_STREQ(scsi_hba_iport_unit_address(ip), "iport0");
  EXPECT_EQ(scsi_hba_iport_unit_address(hba_), nullptr);
  EXPECT_EQ(scsi_hba_iport_exist(hba_), 1);
  EXPECT_EQ(scsi_hba_iport_find(hba_, const_cast<char *>("iport0")), ip);
  EXPECT_NE(fake_hba::tgtmap(), nullptr);
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(ip));
  ASSERT_NE(tran, nullptr);
  EXPECT_EQ(tran->tran_hba_dip, hba_);
  EXPECT_EQ(tran->tran_iport_dip, ip);
  EXPECT_EQ(tran->tran_tgtmap, fake_hba::tgtmap());
  EXPECT_TRUE(tran->tran_hba_flags & SCSI_HBA_ADDR_COMPLEX);
  EXPECT_FALSE(tran->tran_hba_flags & SCSI_HBA_HBA);
  EXPECT_TRUE(fk::scsa::luns(hba_).empty());
  // A second registration of the same port fails.
  EXPECT_EQ(scsi_hba_iport_register(hba_, const_cast<char *>("iport0")), DDI_FAILURE);
}

// ---- target maps ----

TEST_F(FakeHbaTest, TargetAppearsOnlyAfterSettleTime) {
  put("w1", {0});
  int64_t t0 = fk::now_ns();
  ASSERT_EQ(fake_hba::report_add("w1"), DDI_SUCCESS);
  fk::advance(99 * kMs);
  fk::drain();
  EXPECT_TRUE(fk::scsa::busy());
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fake_hba::stats().tgt_inits, 0u);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_GE(fk::now_ns() - t0, 100 * kMs);
  EXPECT_EQ(uas(), std::vector<std::string>{"w1,0"});
  auto luns = fk::client::online_luns();
  ASSERT_EQ(luns.size(), 1u);
  EXPECT_EQ(luns[0].target, "w1");
  EXPECT_STREQ(scsi_device_unit_address(luns[0].sd), "w1,0");
  EXPECT_EQ(scsi_address_device(&luns[0].sd->sd_address), luns[0].sd);
  ASSERT_NE(luns[0].sd->sd_inq, nullptr);
  EXPECT_EQ(luns[0].sd->sd_inq->inq_dtype, DTYPE_DIRECT);
  char *port = nullptr;
  ASSERT_EQ(scsi_device_prop_lookup_string(luns[0].sd, SCSI_DEVICE_PROP_PATH,
                                           const_cast<char *>(SCSI_ADDR_PROP_TARGET_PORT), &port),
            DDI_PROP_SUCCESS);
  EXPECT_STREQ(port, "w1");
  scsi_device_prop_free(luns[0].sd, SCSI_DEVICE_PROP_PATH, port);
}

TEST_F(FakeHbaTest, TargetRemovalOfflinesAndFreesLuns) {
  add_and_settle("w1", {0, 1});
  add_and_settle("w2", {0});
  EXPECT_EQ(uas(), (std::vector<std::string>{"w1,0", "w1,1", "w2,0"}));
  fake_hba::drop_target("w1");
  ASSERT_EQ(fake_hba::report_remove("w1"), DDI_SUCCESS);
  fk::advance(50 * kMs);
  fk::drain();
  EXPECT_EQ(uas().size(), 3u);  // not yet: the removal has to settle too
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), std::vector<std::string>{"w2,0"});
  EXPECT_EQ(fk::client::online_luns().size(), 1u);
  EXPECT_EQ(fake_hba::stats().tgt_frees + 1, fake_hba::stats().tgt_inits);
  EXPECT_EQ(fake_hba::report_remove("never-seen"), DDI_FAILURE);
}

TEST_F(FakeHbaTest, RemovalWaitsForCommandsInFlight) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  ASSERT_NE(sd, nullptr);
  fake_hba::set_hold(true);
  std::vector<Result> results;
  fk::client::Queue q(sd, 4);
  for (int i = 0; i < 2; i++) {
    q.submit(fk::client::cdb::test_unit_ready(), nullptr, 0, true,
             [&](const Result &r) { results.push_back(r); });
  }
  fake_hba::drop_target("w1");
  ASSERT_EQ(fake_hba::report_remove("w1"), DDI_SUCCESS);
  fk::advance(200 * kMs);  // the removal settles; the offline waits for the two commands
  EXPECT_TRUE(fk::scsa::busy());
  EXPECT_EQ(fake_hba::stats().tgt_frees, 0u);
  fake_hba::set_hold(false);
  ASSERT_TRUE(fk::client::settle());
  q.wait();
  ASSERT_EQ(results.size(), 2u);
  for (const Result &r : results) {
    EXPECT_EQ(r.reason, CMD_DEV_GONE);
  }
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fake_hba::stats().tgt_frees, 1u);
  EXPECT_FALSE(fk::client::online(sd));
  Result late;
  q.submit(fk::client::cdb::test_unit_ready(), nullptr, 0, true,
           [&](const Result &r) { late = r; });
  q.wait();
  EXPECT_TRUE(late.lun_gone);
  EXPECT_FALSE(late.ok());
}

TEST_F(FakeHbaTest, AddThenRemoveWithinSettleNeverActivates) {
  put("w7", {0});
  ASSERT_EQ(fake_hba::report_add("w7"), DDI_SUCCESS);
  fk::advance(40 * kMs);
  ASSERT_EQ(fake_hba::report_remove("w7"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fake_hba::stats().tgt_inits, 0u);
}

TEST_F(FakeHbaTest, SparseLunsFromReportLuns) {
  add_and_settle("w2", {0, 3, 9, 300});
  EXPECT_EQ(uas(), (std::vector<std::string>{"w2,0", "w2,3", "w2,9", "w2,412c000000000000"}));
  // Without LUN 0: REPORT LUNS goes through a probe LUN 0 that is not kept.
  add_and_settle("w3", {2, 5});
  auto all = uas();
  EXPECT_NE(std::find(all.begin(), all.end(), "w3,2"), all.end());
  EXPECT_NE(std::find(all.begin(), all.end(), "w3,5"), all.end());
  EXPECT_EQ(std::find(all.begin(), all.end(), "w3,0"), all.end());
  for (const auto &l : fk::client::online_luns()) {
    fk::client::Inquiry inq;
    Result r = fk::client::inquiry(l.sd, &inq);
    EXPECT_TRUE(r.ok()) << l.unit_address << ": " << r.describe();
    EXPECT_EQ(inq.vendor, "FAKE");
  }
}

TEST_F(FakeHbaTest, NoReportLunsFallsBackToLunZero) {
  put("w4", {0, 1}, /*report_luns=*/false);
  ASSERT_EQ(fake_hba::report_add("w4"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), std::vector<std::string>{"w4,0"});
}

// REPORT LUNS failing on a SCSI-2 target, and a SCSI-1 target (no REPORT LUNS at all): LUNs
// 0-7 are probed in order (scsi_hba_enum_lsf_of_t, scsi_get_scsi_maxluns).
TEST_F(FakeHbaTest, NoReportLunsProbesLunsZeroToSevenBelowScsi3) {
  for (uint8_t ansi : {uint8_t{2}, uint8_t{1}}) {
    std::string addr = ansi == 2 ? "w5" : "w6";
    fake_hba::Target t;
    t.report_luns = false;
    t.ansi = ansi;
    for (uint64_t l : {0, 2, 7, 9}) {
      t.luns[l] = fake_hba::Lun();
    }
    fake_hba::put_target(addr, t);
    ASSERT_EQ(fake_hba::report_add(addr), DDI_SUCCESS);
    ASSERT_TRUE(fk::client::settle());
    std::vector<std::string> mine;
    for (const auto &ua : uas()) {
      if (ua.rfind(addr + ",", 0) == 0) {
        mine.push_back(ua);
      }
    }
    EXPECT_EQ(mine, (std::vector<std::string>{addr + ",0", addr + ",2", addr + ",7"}));
    std::vector<std::string> probed;
    bool report_luns_sent = false;
    for (const auto &c : fake_hba::seen()) {
      if (c.ua.rfind(addr + ",", 0) != 0) {
        continue;
      }
      report_luns_sent = report_luns_sent || c.op == SCMD_REPORT_LUNS;
      if (c.op == SCMD_INQUIRY && c.cdb1 == 0 && (probed.empty() || probed.back() != c.ua)) {
        probed.push_back(c.ua);
      }
    }
    EXPECT_EQ(report_luns_sent, ansi >= 2) << "ansi " << int{ansi};
    std::vector<std::string> want;
    for (int l = 0; l < 8; l++) {
      want.push_back(addr + "," + std::to_string(l));
    }
    EXPECT_EQ(probed, want) << "ansi " << int{ansi};
  }
}

// The framework's own commands, as illumos sends them: REPORT LUNS with 3 s of pkt_time
// (scsi_lunrpt_timeout) through scsi_poll, INQUIRY with 60 s (scsi_test: SCSI_POLL_TIMEOUT), both
// FLAG_NOINTR - which scsi_transport turns into an interrupt-driven command with
// FLAG_IMMEDIATE_CB on this ordinary thread - and the identity VPD pages 00h, 80h, 83h.
TEST_F(FakeHbaTest, FrameworkCommandsUseIllumosTimesAndFlags) {
  fake_hba::Target t;
  t.vpd = true;
  t.luns[0] = fake_hba::Lun();
  t.luns[1] = fake_hba::Lun();
  fake_hba::put_target("w7", t);
  ASSERT_EQ(fake_hba::report_add("w7"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), (std::vector<std::string>{"w7,0", "w7,1"}));
  std::vector<std::pair<int, int>> inq_pages;  // (evpd, page) for LUN 0
  int report_luns = 0;
  for (const auto &c : fake_hba::seen()) {
    EXPECT_EQ(c.flags & FLAG_NOINTR, 0u) << "the HBA saw FLAG_NOINTR from a thread";
    EXPECT_NE(c.flags & FLAG_IMMEDIATE_CB, 0u);
    if (c.op == SCMD_REPORT_LUNS) {
      report_luns++;
      EXPECT_EQ(c.time, 3);
    } else if (c.op == SCMD_INQUIRY) {
      EXPECT_EQ(c.time, 60);
      if (c.ua == "w7,0") {
        inq_pages.emplace_back(c.cdb1 & 1, c.cdb2);
      }
    }
  }
  EXPECT_EQ(report_luns, 1);
  EXPECT_EQ(inq_pages, (std::vector<std::pair<int, int>>{{0, 0}, {1, 0x00}, {1, 0x80}, {1, 0x83}}));
  uchar_t *data = nullptr;
  uint_t n = 0;
  ASSERT_EQ(ddi_prop_lookup_byte_array(DDI_DEV_T_ANY, sd_of("w7,0")->sd_dev, DDI_PROP_DONTPASS,
                                       const_cast<char *>("inquiry-page-80"), &data, &n),
            DDI_PROP_SUCCESS);
  EXPECT_EQ(n, 8u);
  ddi_prop_free(data);
}

// scsi_hba_probe_pi: the INQUIRY must have moved data (STATE_XFERRED_DATA) and at least
// SUN_MIN_INQLEN bytes (pkt_resid); a listed identity page that fails means no device.
TEST_F(FakeHbaTest, ProbeNeedsInquiryDataAndIdentityPages) {
  fake_hba::Target shortinq;
  shortinq.inquiry_len = 3;
  shortinq.luns[0] = fake_hba::Lun();
  fake_hba::put_target("w8", shortinq);
  fake_hba::Target badvpd;
  badvpd.vpd = true;
  badvpd.vpd_83_fails = true;
  badvpd.luns[0] = fake_hba::Lun();
  fake_hba::put_target("w9", badvpd);
  uint64_t failures = fk::scsa::config_failures();
  ASSERT_EQ(fake_hba::report_add("w8"), DDI_SUCCESS);
  ASSERT_EQ(fake_hba::report_add("w9"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fk::scsa::config_failures(), failures + 2);
}

class FakeHbaCallbacksTest : public FakeHbaTest {
 protected:
  fake_hba::Config config() override {
    fake_hba::Config c;
    c.map_callbacks = true;
    return c;
  }
};

// scsi_probe: an INQUIRY that does not complete is sent once more (scsi_hba_probe_pi), then
// after a LUN reset the probe runs again: three lost INQUIRYs still find the disk.
TEST_F(FakeHbaCallbacksTest, ProbeRetriesAfterALunReset) {
  fake_hba::Target t;
  t.fail_inquiries = 3;
  t.luns[0] = fake_hba::Lun();
  fake_hba::put_target("w1", t);
  ASSERT_EQ(fake_hba::report_add("w1"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), std::vector<std::string>{"w1,0"});
  EXPECT_EQ(fake_hba::stats().resets, 1u);
  EXPECT_EQ(fake_hba::stats().last_reset_level, static_cast<uint64_t>(RESET_LUN));
  EXPECT_TRUE(fake_hba::deactivations().empty());
}

// scsi_tgtmap_scsi_config returns DAM_FAILURE when LUN 0 cannot be configured; damap drops the
// address (dam_addr_activate -> dam_deact_cleanup) and only the deactivate callback hears of it,
// with SCSI_TGT_DEACT_RSN_CFG_FAIL. Nothing retries until the HBA reports the target again.
TEST_F(FakeHbaCallbacksTest, TargetWhoseLunZeroFailsIsDroppedAndReported) {
  fake_hba::Target t;
  t.fail_inquiries = 4;  // two probes of two INQUIRYs each
  t.luns[0] = fake_hba::Lun();
  fake_hba::put_target("w1", t);
  uint64_t failures = fk::scsa::config_failures();
  ASSERT_EQ(fake_hba::report_add("w1"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fake_hba::activations(), std::vector<std::string>{"w1"});
  EXPECT_EQ(fake_hba::deactivations(),
            (std::vector<std::pair<std::string, int>>{{"w1", SCSI_TGT_DEACT_RSN_CFG_FAIL}}));
  EXPECT_EQ(fk::scsa::config_failures(), failures + 1);
  // No retry by the framework, however long one waits.
  fk::advance(60'000 * kMs);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_TRUE(uas().empty());
  EXPECT_EQ(fake_hba::activations().size(), 1u);
  // Reported again: activated and configured again.
  ASSERT_EQ(fake_hba::report_add("w1"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), std::vector<std::string>{"w1,0"});
  EXPECT_EQ(fake_hba::activations().size(), 2u);
  // Its removal is an ordinary one.
  fake_hba::drop_target("w1");
  ASSERT_EQ(fake_hba::report_remove("w1"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(fake_hba::deactivations().back(),
            (std::pair<std::string, int>{"w1", SCSI_TGT_DEACT_RSN_GONE}));
}

// The clock-moving heuristic of waiters (settle(), the client's queues): a far event (a driver's
// timeout) fires after 20 ms of real time with no progress - but not while a kernel thread is
// runnable (a task the host has not run yet, as on a loaded machine), unless that lasts 100 ms:
// such a task may itself wait for the clock.
TEST(StallWatchTest, WaitsLongerWhileAKernelThreadIsRunnable) {
  fk::boot();
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "tq", 1, TASKQ_DEFAULTPRI, 0);
  static std::atomic<bool> release;
  release = false;
  auto noop = [](void *) {};
  (void)timeout(noop, nullptr, drv_usectohz(1000000));
  ASSERT_EQ(ddi_taskq_dispatch(
                tq,
                [](void *) {
                  while (!release) std::this_thread::yield();
                },
                nullptr, DDI_SLEEP),
            DDI_SUCCESS);
  EXPECT_FALSE(fk::scsa::advance_if_stalled(30'000)) << "a runnable task: wait longer";
  EXPECT_EQ(fk::now_ns(), 0);
  EXPECT_TRUE(fk::scsa::advance_if_stalled(150'000)) << "not endlessly";
  EXPECT_EQ(fk::now_ns(), 1000 * kMs);
  release = true;
  ddi_taskq_wait(tq);
  (void)timeout(noop, nullptr, drv_usectohz(1000000));
  EXPECT_FALSE(fk::scsa::advance_if_stalled(10'000)) << "a far event needs 20 ms";
  EXPECT_TRUE(fk::scsa::advance_if_stalled(30'000)) << "nothing runnable";
  EXPECT_EQ(fk::now_ns(), 2000 * kMs);
  ddi_taskq_destroy(tq);
  fk::shutdown();
}

class FakeHbaFullSetTest : public FakeHbaTest {
 protected:
  fake_hba::Config config() override {
    fake_hba::Config c;
    c.mode = SCSI_TM_FULLSET;
    c.settle_usec = 200000;
    return c;
  }
};

TEST_F(FakeHbaFullSetTest, FullSetReportsDiffAfterSettle) {
  put("w1", {0});
  put("w2", {0});
  EXPECT_EQ(fake_hba::report_add("w1"), DDI_FAILURE);  // per-address call on a full-set map
  ASSERT_EQ(fake_hba::report_full_set(), DDI_SUCCESS);
  fk::advance(150 * kMs);
  fk::drain();
  EXPECT_TRUE(uas().empty());
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), (std::vector<std::string>{"w1,0", "w2,0"}));
  fake_hba::drop_target("w1");
  put("w3", {0, 2});
  ASSERT_EQ(fake_hba::report_full_set(), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), (std::vector<std::string>{"w2,0", "w3,0", "w3,2"}));
}

// ---- LUN changes ----

TEST_F(FakeHbaTest, LunChangeUnitAttentionTriggersRescan) {
  add_and_settle("w1", {0});
  scsi_device *sd0 = sd_of("w1,0");
  ASSERT_NE(sd0, nullptr);
  fake_hba::put_lun("w1", 4);
  fake_hba::post_unit_attention("w1", 0, KEY_UNIT_ATTENTION, 0x3f, 0x0e);
  uint64_t before = fk::scsa::stats().rescans;
  uint64_t uas_before = fk::scsa::stats().lun_change_uas;  // counters run across tests
  Result r = fk::client::test_unit_ready(sd0);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.ua_retries, 1u);  // retried past the unit attention, as sd does
  EXPECT_EQ(fk::scsa::stats().lun_change_uas, uas_before + 1);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_GT(fk::scsa::stats().rescans, before);
  EXPECT_EQ(uas(), (std::vector<std::string>{"w1,0", "w1,4"}));
  // And a LUN going away.
  fake_hba::drop_lun("w1", 4);
  fake_hba::post_unit_attention("w1", 0, KEY_UNIT_ATTENTION, 0x3f, 0x0e);
  EXPECT_TRUE(fk::client::test_unit_ready(sd0).ok());
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), std::vector<std::string>{"w1,0"});
}

TEST_F(FakeHbaTest, ScanLunsRequestRescans) {
  add_and_settle("w1", {0});
  fake_hba::put_lun("w1", 7);
  ASSERT_EQ(fake_hba::report_scan_luns("w1"), DDI_SUCCESS);
  ASSERT_TRUE(fk::client::settle());
  EXPECT_EQ(uas(), (std::vector<std::string>{"w1,0", "w1,7"}));
}

// ---- I/O ----

TEST_F(FakeHbaTest, ClientCommandsOnALun) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  ASSERT_NE(sd, nullptr);
  EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
  uint64_t blocks = 0;
  uint32_t bs = 0;
  Result r = fk::client::read_capacity(sd, &blocks, &bs);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(blocks, 2048u);
  EXPECT_EQ(bs, 512u);
  KBuf w(8 * 512), rd(8 * 512);
  for (size_t i = 0; i < w.size(); i++) {
    w.data()[i] = static_cast<uint8_t>(i * 7 + 1);
  }
  ASSERT_TRUE(fk::client::write(sd, 100, 8, 512, w.data()).ok());
  EXPECT_EQ(fake_hba::read_back("w1", 0, 100, 8),
            std::vector<uint8_t>(w.data(), w.data() + w.size()));
  ASSERT_TRUE(fk::client::read(sd, 100, 8, 512, rd.data()).ok());
  EXPECT_EQ(memcmp(w.data(), rd.data(), w.size()), 0);
  EXPECT_TRUE(fk::client::synchronize_cache(sd).ok());
  EXPECT_EQ(fake_hba::stats().syncs, 1u);
  // Out of range: a CHECK CONDITION with ILLEGAL REQUEST, not retried.
  r = fk::client::read(sd, 2047, 2, 512, rd.data());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status, STATUS_CHECK);
  EXPECT_EQ(r.sense.key, KEY_ILLEGAL_REQUEST);
  EXPECT_EQ(r.sense.asc, 0x21);
}

TEST_F(FakeHbaTest, QueueDepthAndCallbacks) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  ASSERT_NE(sd, nullptr);
  constexpr int kIos = 64;
  std::vector<std::unique_ptr<KBuf>> bufs;
  int ok = 0;
  {
    fk::client::Queue q(sd, 8);
    for (int i = 0; i < kIos; i++) {
      uint32_t n = 1 + static_cast<uint32_t>(i % 5);
      bufs.push_back(std::make_unique<KBuf>(n * 512));
      memset(bufs.back()->data(), i, n * 512);
      q.write(static_cast<uint64_t>(i) * 8, n, 512, bufs.back()->data(),
              [&](const Result &r) { ok += r.ok() ? 1 : 0; });
    }
    q.wait();
    EXPECT_LE(q.max_outstanding(), 8u);
    EXPECT_EQ(q.completed(), static_cast<uint64_t>(kIos));
  }
  EXPECT_EQ(ok, kIos);
  for (int i = 0; i < kIos; i += 9) {
    auto back = fake_hba::read_back("w1", 0, static_cast<uint64_t>(i) * 8, 1);
    EXPECT_EQ(back[0], static_cast<uint8_t>(i));
  }
}

TEST_F(FakeHbaTest, TranBusyIsRetried) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  fake_hba::set_busy(3);
  Result r = fk::client::test_unit_ready(sd);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.busy_retries, 3u);
  EXPECT_EQ(fake_hba::stats().busy_returned, 3u);
  IoOptions o;
  o.max_busy_retries = 2;
  fake_hba::set_busy(5);
  r = fk::client::test_unit_ready(sd, o);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.tran_rv, TRAN_BUSY);
  fake_hba::set_busy(0);
}

TEST_F(FakeHbaTest, PolledPacketsFromAThreadRunInterruptDriven) {
  // illumos's scsi_transport: FLAG_NOINTR from an ordinary thread becomes an interrupt-driven
  // command (FLAG_IMMEDIATE_CB) the caller waits for; the HBA never sees FLAG_NOINTR.
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  IoOptions o;
  o.polled = true;
  KBuf b(4 * 512);
  memset(b.data(), 0x5a, b.size());
  uint64_t converted = fk::scsa::nointr_converted();
  uint64_t polled = fake_hba::stats().polled;
  Result r = fk::client::write(sd, 10, 4, 512, b.data(), o);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(fake_hba::stats().polled, polled);
  EXPECT_EQ(fk::scsa::nointr_converted(), converted + 1);
  // The caller's flags and completion routine come back; the routine is not called.
  scsi_pkt *pkt =
      scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0,
                    static_cast<int>(sizeof(struct scsi_arq_status)), 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  memset(pkt->pkt_cdbp, 0, CDB_GROUP0);  // TEST UNIT READY
  static int called;
  called = 0;
  auto comp = [](struct scsi_pkt *) { called++; };
  pkt->pkt_comp = comp;
  pkt->pkt_flags = FLAG_NOINTR | FLAG_NOPARITY;
  pkt->pkt_time = 10;
  EXPECT_EQ(scsi_transport(pkt), TRAN_ACCEPT);
  EXPECT_EQ(pkt->pkt_reason, CMD_CMPLT);
  EXPECT_EQ(pkt->pkt_flags, static_cast<uint_t>(FLAG_NOINTR | FLAG_NOPARITY));
  EXPECT_EQ(pkt->pkt_comp, static_cast<void (*)(struct scsi_pkt *)>(comp));
  EXPECT_EQ(called, 0);
  EXPECT_EQ(fake_hba::stats().polled, polled);
  scsi_destroy_pkt(pkt);
}

TEST_F(FakeHbaTest, PolledPacketsInDumpMode) {
  // While dumping (do_polled_io) the HBA gets FLAG_NOINTR; a packet without it is sent polled
  // and its completion routine called by the framework.
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  fk::scsa::set_dump_mode(true);
  IoOptions o;
  o.polled = true;
  KBuf b(4 * 512);
  memset(b.data(), 0x5a, b.size());
  Result r = fk::client::write(sd, 10, 4, 512, b.data(), o);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(fake_hba::stats().polled, 1u);
  o.polled = false;
  r = fk::client::write(sd, 10, 4, 512, b.data(), o);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(fake_hba::stats().polled, 2u);
  // scsi_poll(9F) with an HBA that does not call scsi_hba_pkt_comp for polled packets.
  fake_hba::config().polled_calls_pkt_comp = false;
  scsi_pkt *pkt =
      scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0,
                    static_cast<int>(sizeof(struct scsi_arq_status)), 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  memset(pkt->pkt_cdbp, 0, CDB_GROUP0);  // TEST UNIT READY
  EXPECT_EQ(scsi_poll(pkt), 0);
  EXPECT_EQ(pkt->pkt_reason, CMD_CMPLT);
  EXPECT_EQ(fake_hba::stats().polled, 3u);
  scsi_destroy_pkt(pkt);
  fk::scsa::set_dump_mode(false);
}

// Restrictive DMA attributes: cookies of at most one page, 512-byte aligned, below 4 GiB (the
// kernel arena is above it, so the kernel bounces) or anywhere (scattered kmem pages).
class FakeHbaRestrictiveDmaTest : public FakeHbaTest {
 protected:
  virtual bool below_4g() { return true; }
  fake_hba::Config config() override {
    fake_hba::Config c = default_config();
    c.dma_attr.dma_attr_count_max = 0xFFF;
    c.dma_attr.dma_attr_sgllen = 32;
    if (below_4g()) {
      c.dma_attr.dma_attr_addr_hi = 0xFFFFFFFFull;
      c.dma_attr.dma_attr_align = 512;
    }
    return c;
  }
  void transfer_64k() {
    add_and_settle("w1", {0});
    scsi_device *sd = sd_of("w1,0");
    ASSERT_NE(sd, nullptr);
    KBuf w(64 * 1024), rd(64 * 1024);
    for (size_t i = 0; i < w.size(); i++) {
      w.data()[i] = static_cast<uint8_t>((i >> 9) ^ i);
    }
    Result r = fk::client::write(sd, 0, 128, 512, w.data());
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(fake_hba::read_back("w1", 0, 0, 128),
              std::vector<uint8_t>(w.data(), w.data() + w.size()));
    r = fk::client::read(sd, 0, 128, 512, rd.data());
    ASSERT_TRUE(r.ok()) << r.describe();
    EXPECT_EQ(memcmp(w.data(), rd.data(), w.size()), 0);
    EXPECT_GE(fake_hba::stats().max_cookies, 16u);
    EXPECT_LE(fake_hba::stats().max_cookies, 32u);
    EXPECT_EQ(fake_hba::stats().cookie_errors, 0u);
  }
};

class FakeHbaScatteredDmaTest : public FakeHbaRestrictiveDmaTest {
 protected:
  bool below_4g() override { return false; }
};

TEST_F(FakeHbaRestrictiveDmaTest, MultiCookieTransfersThroughBounceBuffers) {
  transfer_64k();
  EXPECT_GT(fk::counters().bounce_binds, 0u);  // the framework's syncs moved the data
}

TEST_F(FakeHbaScatteredDmaTest, MultiCookieTransfersFromScatteredPages) { transfer_64k(); }

TEST_F(FakeHbaRestrictiveDmaTest, PartialDmaWindows) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  KBuf b(256 * 1024);  // 64 pages: more than 32 cookies
  struct buf *bp = getrbuf(KM_SLEEP);
  bp->b_un.b_addr = reinterpret_cast<caddr_t>(b.data());
  bp->b_bcount = b.size();
  bp->b_flags = B_READ;
  scsi_pkt *pkt = scsi_init_pkt(&sd->sd_address, nullptr, bp, CDB_GROUP1,
                                static_cast<int>(sizeof(struct scsi_arq_status)), 0,
                                PKT_DMA_PARTIAL, SLEEP_FUNC, nullptr);
  if (pkt == nullptr) {
    freerbuf(bp);
    FAIL() << "scsi_init_pkt with PKT_DMA_PARTIAL failed";
  }
  EXPECT_LE(pkt->pkt_numcookies, 32u);
  EXPECT_GT(pkt->pkt_numcookies, 0u);
  EXPECT_LT(pkt->pkt_dma_len, b.size());
  EXPECT_EQ(static_cast<size_t>(pkt->pkt_resid), b.size() - pkt->pkt_dma_len);
  size_t covered = pkt->pkt_dma_len;
  int windows = 1;
  while (covered < b.size()) {
    ASSERT_EQ(
        scsi_init_pkt(&sd->sd_address, pkt, bp, 0, 0, 0, PKT_DMA_PARTIAL, SLEEP_FUNC, nullptr),
        pkt);
    EXPECT_EQ(static_cast<size_t>(pkt->pkt_dma_offset), covered);
    covered += pkt->pkt_dma_len;
    windows++;
    ASSERT_LT(windows, 100);
  }
  EXPECT_GE(windows, 2);
  EXPECT_EQ(pkt->pkt_resid, 0);
  scsi_destroy_pkt(pkt);
  freerbuf(bp);
}

// The HBA's DMA attributes as its defaults, but with dma_attr_maxxfer MaxXfer.
template <uint64_t MaxXfer>
class FakeHbaMaxXferTest : public FakeHbaTest {
 protected:
  fake_hba::Config config() override {
    fake_hba::Config c = default_config();
    c.dma_attr.dma_attr_maxxfer = MaxXfer;
    return c;
  }
};
using FakeHbaSmallMaxXferTest = FakeHbaMaxXferTest<16 * 1024>;

TEST_F(FakeHbaSmallMaxXferTest, LongTransfersAreSplitByTheHbaLimit) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  ASSERT_NE(sd, nullptr);
  KBuf w(100 * 1024), rd(100 * 1024);
  for (size_t i = 0; i < w.size(); i++) {
    w.data()[i] = static_cast<uint8_t>(i * 13 + (i >> 10));
  }
  uint64_t started = fake_hba::stats().started;
  Result r = fk::client::write(sd, 50, 200, 512, w.data());
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(fake_hba::stats().started - started, 7u);  // 100 KiB in 16 KiB pieces
  EXPECT_EQ(fake_hba::read_back("w1", 0, 50, 200),
            std::vector<uint8_t>(w.data(), w.data() + w.size()));
  r = fk::client::read(sd, 50, 200, 512, rd.data());
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(memcmp(w.data(), rd.data(), rd.size()), 0);
  // A split transfer that fails part-way reports the failure.
  r = fk::client::read(sd, 2000, 100, 512, rd.data());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.sense.key, KEY_ILLEGAL_REQUEST);
}

// ---- abort, reset, capabilities ----

TEST_F(FakeHbaTest, AbortEntryPoint) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  std::vector<Result> results = held_unit_readys(sd, 3, [&] {
    EXPECT_EQ(fake_hba::queued(), 3u);
    EXPECT_EQ(scsi_abort(&sd->sd_address, nullptr), 1);
  });
  ASSERT_EQ(results.size(), 3u);
  for (const Result &r : results) {
    EXPECT_EQ(r.reason, CMD_ABORTED);
    EXPECT_TRUE(r.statistics & STAT_ABORTED);
  }
  EXPECT_EQ(fake_hba::stats().aborts, 1u);
  EXPECT_TRUE(fk::client::test_unit_ready(sd).ok());
}

TEST_F(FakeHbaTest, ResetEntryPointAndUnitAttentionRetry) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  std::vector<Result> results =
      held_unit_readys(sd, 2, [&] { EXPECT_EQ(scsi_reset(&sd->sd_address, RESET_TARGET), 1); });
  ASSERT_EQ(results.size(), 2u);
  for (const Result &r : results) {
    EXPECT_EQ(r.reason, CMD_RESET);
    EXPECT_TRUE(r.statistics & STAT_DEV_RESET);
  }
  EXPECT_EQ(fake_hba::stats().last_reset_level, static_cast<uint64_t>(RESET_TARGET));
  // The reset left a POWER ON / RESET unit attention: retried like sd.
  Result r = fk::client::test_unit_ready(sd);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.ua_retries, 1u);
  EXPECT_EQ(scsi_reset(&sd->sd_address, RESET_LUN), 1);
  EXPECT_EQ(scsi_reset(&sd->sd_address, RESET_ALL), 1);
  EXPECT_EQ(fake_hba::stats().resets, 3u);
  // Without the "lun-reset" capability RESET_LUN never reaches the HBA (scsi_control.c
  // scsi_reset); the other levels still do.
  fake_hba::config().lun_reset = false;
  EXPECT_EQ(scsi_reset(&sd->sd_address, RESET_LUN), 0);
  EXPECT_EQ(fake_hba::stats().resets, 3u);
  EXPECT_EQ(scsi_reset(&sd->sd_address, RESET_TARGET), 1);
  EXPECT_EQ(fake_hba::stats().resets, 4u);
}

// sd's recovery (sd.c), from the completion routine: victims of an abort or reset get twice
// the retries and no reset of ours when the HBA reported one; a timeout is the command's own
// failure: the target is reset (sd_reset_target) and the same packet sent again after 100 ms.
TEST_F(FakeHbaTest, ClientRecoversAsSdDoes) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  auto fail = [](unsigned n, uchar_t reason) {
    fake_hba::Target t;
    t.luns[0] = fake_hba::Lun();
    t.fail_commands = n;
    t.fail_reason = reason;
    fake_hba::put_target("w1", t);
  };
  auto tur_packets = [] {
    std::set<const void *> pkts;
    for (const auto &c : fake_hba::seen()) {
      if (c.op == SCMD_TEST_UNIT_READY) {
        pkts.insert(c.pkt);
      }
    }
    return pkts;
  };
  // Reported resets: retried, no reset of ours, the same packet each time.
  fail(3, CMD_RESET);
  uint64_t resets = fake_hba::stats().resets;
  size_t before = fake_hba::seen().size();
  int64_t t0 = fk::now_ns();
  Result r = fk::client::test_unit_ready(sd);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.victim_retries, 3u);
  EXPECT_EQ(r.resets, 0u);
  EXPECT_EQ(fake_hba::stats().resets, resets);
  EXPECT_EQ(tur_packets().size(), 1u);
  EXPECT_EQ(fake_hba::seen().size(), before + 4);
  EXPECT_GE(fk::now_ns() - t0, 300 * kMs);  // SD_RESTART_TIMEOUT before each
  // A victim gets twice un_retry_count (5) retries.
  fail(100, CMD_ABORTED);
  r = fk::client::test_unit_ready(sd);
  EXPECT_EQ(r.reason, CMD_ABORTED);
  EXPECT_EQ(r.victim_retries, 10u);
  EXPECT_EQ(r.retries, 10u);
  // A timeout: a target reset before every retry, five retries.
  fail(100, CMD_TIMEOUT);
  r = fk::client::test_unit_ready(sd);
  EXPECT_EQ(r.reason, CMD_TIMEOUT);
  EXPECT_EQ(r.retries, 5u);
  EXPECT_EQ(r.victim_retries, 0u);
  EXPECT_EQ(r.resets, 6u);
  EXPECT_EQ(fake_hba::stats().resets, resets + 6);
  EXPECT_EQ(fake_hba::stats().last_reset_level, static_cast<uint64_t>(RESET_TARGET));
  // A hardware error is retried at once, from the completion routine.
  fail(0, CMD_CMPLT);
  fake_hba::post_unit_attention("w1", 0, KEY_HARDWARE_ERROR, 0x44, 0);
  fake_hba::post_unit_attention("w1", 0, KEY_MEDIUM_ERROR, 0x11, 0);
  t0 = fk::now_ns();
  r = fk::client::test_unit_ready(sd);
  EXPECT_TRUE(r.ok()) << r.describe();
  EXPECT_EQ(r.retries, 2u);
  EXPECT_EQ(fk::now_ns(), t0);
  // The default pkt_time is sd_io_time.
  EXPECT_EQ(fake_hba::seen().back().time, 60);
}

TEST_F(FakeHbaTest, Capabilities) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  EXPECT_EQ(scsi_hba_lookup_capstr(const_cast<char *>("tagged-qing")), SCSI_CAP_TAGGED_QING);
  EXPECT_EQ(scsi_hba_lookup_capstr(const_cast<char *>("lun-reset")), SCSI_CAP_LUN_RESET);
  EXPECT_EQ(scsi_hba_lookup_capstr(const_cast<char *>("auto-rqsense")), SCSI_CAP_ARQ);
  EXPECT_EQ(scsi_hba_lookup_capstr(const_cast<char *>("no-such-cap")), -1);
  EXPECT_EQ(scsi_ifgetcap(&sd->sd_address, const_cast<char *>("tagged-qing"), 1), 1);
  EXPECT_EQ(scsi_ifgetcap(&sd->sd_address, const_cast<char *>("max-cdb-length"), 1), 16);
  EXPECT_EQ(scsi_ifgetcap(&sd->sd_address, const_cast<char *>("no-such-cap"), 1), -1);
  EXPECT_EQ(scsi_ifsetcap(&sd->sd_address, const_cast<char *>("auto-rqsense"), 1, 1), 1);
  EXPECT_EQ(scsi_ifsetcap(&sd->sd_address, const_cast<char *>("geometry"), 1, 1), -1);
}

TEST_F(FakeHbaTest, DetachWithTargetsLeavesNothing) {
  add_and_settle("w1", {0, 1, 2});
  add_and_settle("w2", {0});
  scsi_device *sd = sd_of("w1,1");
  KBuf b(4096);
  EXPECT_TRUE(fk::client::read(sd, 0, 8, 512, b.data()).ok());
  EXPECT_EQ(fk::scsa::stats().luns_online, 4u);
  // TearDown detaches everything and checks for violations and leaks.
}

// ---- planted defects: every bookkeeping check fires ----

class FakeHbaDefectTest : public FakeHbaTest {
 protected:
  void SetUp() override {
    FakeHbaTest::SetUp();
    add_and_settle("w1", {0});
    sd_ = sd_of("w1,0");
    ASSERT_NE(sd_, nullptr);
  }
  // The violations a planted defect caused are expected: TearDown is to find none.
  static void forget_violations() {
    fk::clear_violations();
    fk::scsa::clear_violations();
  }
  // Transports a TEST UNIT READY packet for sd_ with room for ARQ status; sets *pkt.
  void transport_unit_ready(scsi_pkt **pkt) {
    *pkt =
        scsi_init_pkt(&sd_->sd_address, nullptr, nullptr, CDB_GROUP0,
                      static_cast<int>(sizeof(struct scsi_arq_status)), 0, 0, SLEEP_FUNC, nullptr);
    ASSERT_NE(*pkt, nullptr);
    memset((*pkt)->pkt_cdbp, 0, CDB_GROUP0);
    ASSERT_EQ(scsi_transport(*pkt), TRAN_ACCEPT);
  }
  scsi_device *sd_ = nullptr;
};

TEST_F(FakeHbaDefectTest, DoubleCompletionIsCaught) {
  fake_hba::set_defects(fake_hba::kDoubleComplete);
  // The client frees the packet in its completion routine, as sd does: the second completion
  // finds a freed packet - or, when it comes while tran_start has not yet returned (the free
  // then waits for it), a packet completed already.
  fk::client::test_unit_ready(sd_);
  fk::drain();
  EXPECT_GE(fk::scsa::violation_count(Check::kNeverSubmitted) +
                fk::scsa::violation_count(Check::kDoubleCompletion),
            1u);
  // A packet still held when the second completion comes: a double completion.
  scsi_pkt *pkt =
      scsi_init_pkt(&sd_->sd_address, nullptr, nullptr, CDB_GROUP0, 1, 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  ASSERT_EQ(scsi_transport(pkt), TRAN_ACCEPT);  // TEST UNIT READY, no pkt_comp
  fk::drain();
  fake_hba::set_defects(0);
  scsi_destroy_pkt(pkt);
  EXPECT_GE(fk::scsa::violation_count(Check::kDoubleCompletion), 1u);
  EXPECT_GE(fk::violation_count("scsa"), 1u);
  forget_violations();
}

TEST_F(FakeHbaDefectTest, PacketNeverCompletedIsCaughtAtDetach) {
  fake_hba::set_defects(fake_hba::kNeverComplete);
  scsi_pkt *pkt = nullptr;
  ASSERT_NO_FATAL_FAILURE(transport_unit_ready(&pkt));
  EXPECT_EQ(fk::scsa::violation_count(Check::kNotCompletedAtDetach), 0u);
  EXPECT_EQ(fk::scsa::unconfig_iports(hba_), DDI_SUCCESS);
  EXPECT_GE(fk::scsa::violation_count(Check::kNotCompletedAtDetach), 1u);
  expect_clean_ = false;  // the lost packet stays allocated
}

// A defect that completes the command all the same: the client sees success, the check fires.
struct HarmlessDefect {
  const char *name;
  unsigned defect;
  Check check;
};

class FakeHbaHarmlessDefectTest : public FakeHbaDefectTest,
                                  public ::testing::WithParamInterface<HarmlessDefect> {};

TEST_P(FakeHbaHarmlessDefectTest, IsCaught) {
  fake_hba::set_defects(GetParam().defect);
  Result r = fk::client::test_unit_ready(sd_);
  fake_hba::set_defects(0);
  EXPECT_TRUE(r.ok());
  EXPECT_GE(fk::scsa::violation_count(GetParam().check), 1u);
  forget_violations();
}

INSTANTIATE_TEST_SUITE_P(
    , FakeHbaHarmlessDefectTest,
    ::testing::Values(HarmlessDefect{"CompletionWithHbaLockHeld", fake_hba::kCompleteWithLockHeld,
                                     Check::kCompletionWithLockHeld},
                      HarmlessDefect{"SynchronousCompletionWithTranAccept",
                                     fake_hba::kSyncCompleteAccept,
                                     Check::kSyncCompletionAccepted}),
    [](const ::testing::TestParamInfo<HarmlessDefect> &i) { return std::string(i.param.name); });

TEST_F(FakeHbaDefectTest, CompletionOfUnsubmittedPacketIsCaught) {
  fake_hba::set_defects(fake_hba::kCompleteUnsubmitted);
  Result r = fk::client::test_unit_ready(sd_);
  EXPECT_TRUE(r.ok()) << r.describe();  // the bogus completion was not passed on
  EXPECT_EQ(fk::scsa::violation_count(Check::kNeverSubmitted), 1u);
  int not_a_packet[64] = {};
  scsi_hba_pkt_comp(reinterpret_cast<scsi_pkt *>(not_a_packet));
  EXPECT_EQ(fk::scsa::violation_count(Check::kNeverSubmitted), 2u);
  forget_violations();
}

TEST_F(FakeHbaDefectTest, CompletionOfRejectedPacketIsCaught) {
  fake_hba::set_defects(fake_hba::kCompleteThenBusy);
  uint64_t completions = fk::scsa::stats().completions;
  Result r = fk::client::test_unit_ready(sd_);
  EXPECT_TRUE(r.ok()) << r.describe();  // retried after the TRAN_BUSY, completed once
  EXPECT_EQ(r.busy_retries, 1u);
  EXPECT_EQ(fk::scsa::stats().completions, completions + 2);
  EXPECT_EQ(fk::scsa::violation_count(Check::kCompletionAfterReject), 1u);
  forget_violations();
}

TEST_F(FakeHbaDefectTest, MisuseIsReportedNotFatal) {
  // Bad arguments get a clear report and a failure return, never a crash.
  EXPECT_EQ(scsi_init_pkt(nullptr, nullptr, nullptr, 6, 1, 0, 0, SLEEP_FUNC, nullptr), nullptr);
  int junk[64] = {};
  EXPECT_EQ(scsi_transport(reinterpret_cast<scsi_pkt *>(junk)), TRAN_BADPKT);
  scsi_destroy_pkt(reinterpret_cast<scsi_pkt *>(junk));
  EXPECT_EQ(scsi_hba_tgtmap_tgt_add(reinterpret_cast<scsi_hba_tgtmap_t *>(junk),
                                    SCSI_TGT_SCSI_DEVICE, const_cast<char *>("w9"), nullptr),
            DDI_FAILURE);
  EXPECT_EQ(scsi_reset(&sd_->sd_address, RESET_BUS), 0);  // RESET_BUS is tran_bus_reset's
  EXPECT_EQ(scsi_hba_attach_setup(hba_, nullptr, nullptr, 0), DDI_FAILURE);
  scsi_hba_tran_free(nullptr);
  // A packet still in transport cannot be transported again.
  fake_hba::set_hold(true);
  scsi_pkt *pkt = nullptr;
  ASSERT_NO_FATAL_FAILURE(transport_unit_ready(&pkt));
  EXPECT_EQ(scsi_transport(pkt), TRAN_BADPKT);
  fake_hba::set_hold(false);
  fk::drain();
  scsi_destroy_pkt(pkt);
  EXPECT_GE(fk::scsa::violation_count(Check::kMisuse), 7u);
  forget_violations();
}

TEST_F(FakeHbaDefectTest, NoViolationWithoutDefects) {
  for (int i = 0; i < 10; i++) {
    EXPECT_TRUE(fk::client::test_unit_ready(sd_).ok());
  }
  EXPECT_TRUE(fk::scsa::violations().empty());
}

// ---- fidelity to illumos (scsi_hba.c, scsi_resource.c, kmem.c of a DEBUG kernel) ----

bool has_scsa_violation(const std::string &text) {
  for (const auto &v : fk::scsa::violations()) {
    if (v.what.find(text) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// iport_preattach_tran_scsi_device: the iport's tran is a structure copy of the HBA's with
// tran_hba_private reset; the iport driver sets its own.
TEST_F(FakeHbaTest, IportTranIsACopyWithoutTheHbaPrivate) {
  EXPECT_TRUE(fake_hba::stats().iport_private_null);
  auto *htran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(hba_));
  auto *itran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(fake_hba::iport_dip()));
  ASSERT_NE(itran, nullptr);
  EXPECT_NE(itran, htran);
  EXPECT_EQ(itran->tran_hba_dip, hba_);
  EXPECT_EQ(itran->tran_open_flag, 0u);
  EXPECT_TRUE(itran->tran_hba_flags & SCSI_HBA_SCSA_TA);
  EXPECT_FALSE(itran->tran_hba_flags & SCSI_HBA_HBA);
  EXPECT_TRUE(htran->tran_hba_flags & SCSI_HBA_HBA);
  // An iport driver may not attach a transport of its own on the iport.
  scsi_hba_tran_t *own = scsi_hba_tran_alloc(fake_hba::iport_dip(), SCSI_HBA_CANSLEEP);
  ddi_dma_attr_t attr = htran->tran_dma_attr;
  EXPECT_EQ(scsi_hba_attach_setup(fake_hba::iport_dip(), &attr, own, 0), DDI_FAILURE);
  EXPECT_TRUE(has_scsa_violation("scsi_hba_attach_setup on an iport node"));
  scsi_hba_tran_free(own);
  fk::scsa::clear_violations();
  fk::clear_violations();
}

// The packet cache is the HBA's (scsi_hba_attach_setup creates it with the HBA's tran as its
// argument): the constructor gets the HBA's tran, never the iport's copy.
TEST_F(FakeHbaTest, PacketConstructorGetsTheHbaTran) {
  add_and_settle("w1", {0});
  ASSERT_TRUE(fk::client::test_unit_ready(sd_of("w1,0")).ok());
  EXPECT_GT(fake_hba::stats().setups, 0u);
  EXPECT_EQ(fake_hba::stats().ctor_without_private, 0u);
}

// scsi_init_cache_pkt: tran_setup_pkt(9E) runs before the DMA bind, and the CDB, status and
// private areas are zeroed after it.
TEST_F(FakeHbaTest, SetupPktRunsBeforeTheBindAndTheAreasAreZeroedAfterIt) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  ASSERT_NE(sd, nullptr);
  fake_hba::config().scribble_in_setup = true;
  KBuf b(8 * 512);
  struct buf *bp = getrbuf(KM_SLEEP);
  bp->b_un.b_addr = reinterpret_cast<caddr_t>(b.data());
  bp->b_bcount = b.size();
  bp->b_flags = B_READ;
  uint64_t setups = fake_hba::stats().setups;
  scsi_pkt *pkt =
      scsi_init_pkt(&sd->sd_address, nullptr, bp, CDB_GROUP1,
                    static_cast<int>(sizeof(struct scsi_arq_status)), 8, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(fake_hba::stats().setups, setups + 1);
  EXPECT_EQ(fake_hba::stats().setup_saw_cookies, 0u);
  EXPECT_GT(pkt->pkt_numcookies, 0u);
  for (int i = 0; i < CDB_GROUP1; i++) {
    EXPECT_EQ(pkt->pkt_cdbp[i], 0) << i;
  }
  for (size_t i = 0; i < sizeof(struct scsi_arq_status); i++) {
    EXPECT_EQ(pkt->pkt_scbp[i], 0) << i;
  }
  fake_hba::config().scribble_in_setup = false;
  scsi_destroy_pkt(pkt);
  freerbuf(bp);
}

// A zero-length status area is still the cache object's inline area, never NULL.
TEST_F(FakeHbaTest, ZeroLengthStatusAreaIsNotNull) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  scsi_pkt *pkt =
      scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0, 0, 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  EXPECT_NE(pkt->pkt_scbp, nullptr);
  EXPECT_EQ(pkt->pkt_scblen, 0u);
  scsi_destroy_pkt(pkt);
}

// As on a DEBUG kernel (KMF_DEADBEEF): every allocation constructs, every free destroys and
// fills the object with 0xdeadbeef; a write after the free is caught at the next allocation.
TEST_F(FakeHbaTest, FreedPacketsAreDestroyedAndPoisoned) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  uint64_t constructed = fake_hba::stats().constructed;
  scsi_pkt *pkt =
      scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0, 1, 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  EXPECT_EQ(fake_hba::stats().constructed, constructed + 1);
  scsi_destroy_pkt(pkt);
  EXPECT_EQ(fake_hba::stats().constructed, constructed);
  const auto *bytes = reinterpret_cast<const uint8_t *>(pkt);
  const uint8_t pattern[4] = {0xde, 0xad, 0xbe, 0xef};
  for (size_t i = 0; i < sizeof(scsi_pkt); i++) {
    ASSERT_EQ(bytes[i], pattern[i % 4]) << i;
  }
  // A use after free: the packet is no longer one the framework accepts...
  scsi_destroy_pkt(pkt);
  EXPECT_TRUE(has_scsa_violation("scsi_destroy_pkt: not a live framework packet"));
  // ...and a write into it is found when the cache hands the object out again.
  pkt->pkt_state = STATE_GOT_BUS;
  scsi_pkt *again =
      scsi_init_pkt(&sd->sd_address, nullptr, nullptr, CDB_GROUP0, 1, 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again, pkt);  // the freed object is reused first
  EXPECT_TRUE(has_scsa_violation("was written after scsi_destroy_pkt freed it"));
  scsi_destroy_pkt(again);
  fk::scsa::clear_violations();
  fk::clear_violations();
}

using FakeHbaSmallTransferTest = FakeHbaMaxXferTest<4096>;

// scsi_init_cache_pkt returns NULL when the bind fails after tran_setup_pkt succeeded, without
// tran_teardown_pkt and without freeing the packet (the cache is reported not empty when the
// HBA detaches); the buf carries the reason.
TEST_F(FakeHbaSmallTransferTest, BindFailureAfterSetupReturnsNullWithoutTeardown) {
  add_and_settle("w1", {0});
  scsi_device *sd = sd_of("w1,0");
  KBuf b(16 * 1024);  // above dma_attr_maxxfer, and no PKT_DMA_PARTIAL: DDI_DMA_TOOBIG
  struct buf *bp = getrbuf(KM_SLEEP);
  bp->b_un.b_addr = reinterpret_cast<caddr_t>(b.data());
  bp->b_bcount = b.size();
  bp->b_flags = B_READ;
  fake_hba::Stats before = fake_hba::stats();
  size_t live = fk::scsa::stats().pkts_allocated;
  EXPECT_EQ(scsi_init_pkt(&sd->sd_address, nullptr, bp, CDB_GROUP1, 1, 0, 0, SLEEP_FUNC, nullptr),
            nullptr);
  EXPECT_EQ(geterror(bp), EINVAL);
  fake_hba::Stats after = fake_hba::stats();
  EXPECT_EQ(after.setups, before.setups + 1);
  EXPECT_EQ(after.teardowns, before.teardowns);
  EXPECT_EQ(after.constructed, before.constructed + 1);  // lost, still constructed
  EXPECT_EQ(fk::scsa::stats().pkts_allocated, live);     // not a packet anyone holds
  freerbuf(bp);
}

// scsi_hba_tgtmap_create refuses a zero csync_usec or settle_usec.
TEST_F(FakeHbaTest, TgtmapCreateRefusesZeroCsyncOrSettle) {
  scsi_hba_tgtmap_t *map = nullptr;
  EXPECT_EQ(scsi_hba_tgtmap_create(fake_hba::iport_dip(), SCSI_TM_PERADDR, 0, 100000, nullptr,
                                   nullptr, nullptr, &map),
            DDI_FAILURE);
  EXPECT_TRUE(has_scsa_violation("csync_usec 0"));
  fk::scsa::clear_violations();
  EXPECT_EQ(scsi_hba_tgtmap_create(fake_hba::iport_dip(), SCSI_TM_PERADDR, 100000, 0, nullptr,
                                   nullptr, nullptr, &map),
            DDI_FAILURE);
  EXPECT_TRUE(has_scsa_violation("settle_usec 0"));
  fk::scsa::clear_violations();
  // Not on the HBA node: target maps belong to iports.
  EXPECT_EQ(scsi_hba_tgtmap_create(hba_, SCSI_TM_PERADDR, 100000, 100000, nullptr, nullptr, nullptr,
                                   &map),
            DDI_FAILURE);
  EXPECT_EQ(map, nullptr);
  fk::scsa::clear_violations();
  fk::clear_violations();
}

class FakeHbaZeroSettleTest : public ::testing::Test {};

// An iport whose target map cannot be created (settle 0) does not attach.
TEST_F(FakeHbaZeroSettleTest, IportWithZeroSettleDoesNotAttach) {
  fk::scsa::reset_state();
  fk::boot();
  fake_hba::Config c;
  c.settle_usec = 0;
  fake_hba::reset(c);
  ASSERT_EQ(fk::load_driver("fake_hba"), 0);
  dev_info_t *hba = fk::create_child(fk::root_node(), "fake_hba", fk::driver_ops(), "0");
  ASSERT_NE(hba, nullptr);
  ASSERT_EQ(fk::attach(hba), DDI_SUCCESS);
  EXPECT_EQ(fk::scsa::config_iports(hba), DDI_FAILURE);
  EXPECT_TRUE(has_scsa_violation("settle_usec 0"));
  EXPECT_EQ(fk::scsa::unconfig_iports(hba), DDI_SUCCESS);
  EXPECT_EQ(fk::detach(hba), DDI_SUCCESS);
  fk::remove_node(hba);
  EXPECT_EQ(fk::unload_driver(), 0);
  fk::scsa::clear_violations();
  fk::clear_violations();
  fk::shutdown();
}

}  // namespace

// scsi_hba.c scsi_hba_init / scsi_hba_fini write the HBA's dev_ops (so it cannot be const):
// bus_ops (which must be NULL before), cb_ops when the HBA has none, and getinfo.
TEST(ScsiHbaInit, PlumbsTheFrameworkIntoTheHbasDevOpsAndFiniUndoesIt) {
  fk::scsa::clear_violations();
  struct dev_ops ops {};
  struct modldrv drv {};
  drv.drv_dev_ops = &ops;
  struct modlinkage ml {};
  ml.ml_linkage[0] = &drv;
  EXPECT_EQ(scsi_hba_init(&ml), 0);
  EXPECT_NE(ops.devo_bus_ops, nullptr);
  ASSERT_NE(ops.devo_cb_ops, nullptr);
  EXPECT_NE(ops.devo_cb_ops->cb_open, nullptr);
  EXPECT_NE(ops.devo_getinfo, nullptr);
  EXPECT_EQ(fk::scsa::violation_count(Check::kMisuse), 0u);
  // A second init without fini: illumos ASSERTs devo_bus_ops == NULL.
  EXPECT_EQ(scsi_hba_init(&ml), 0);
  EXPECT_EQ(fk::scsa::violation_count(Check::kMisuse), 1u);
  scsi_hba_fini(&ml);
  EXPECT_EQ(ops.devo_bus_ops, nullptr);
  EXPECT_EQ(ops.devo_cb_ops, nullptr);
  EXPECT_EQ(ops.devo_getinfo, nullptr);
  // An HBA's own cb_ops is kept, and then getinfo is not the framework's.
  struct cb_ops own {};
  ops.devo_cb_ops = &own;
  EXPECT_EQ(scsi_hba_init(&ml), 0);
  EXPECT_EQ(ops.devo_cb_ops, &own);
  EXPECT_EQ(ops.devo_getinfo, nullptr);
  scsi_hba_fini(&ml);
  EXPECT_EQ(ops.devo_cb_ops, &own);
  // No modldrv: a misuse, not a crash.
  struct modlinkage empty {};
  EXPECT_NE(scsi_hba_init(&empty), 0);
  EXPECT_EQ(fk::scsa::violation_count(Check::kMisuse), 2u);
  fk::clear_violations();
  fk::scsa::clear_violations();
}
