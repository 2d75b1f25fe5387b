#include "scenario.h"

#include <sys/scsi/scsi.h>
#include <sys/sunddi.h>
#include <unistd.h>

#include <array>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>

#include "client.h"
#include "fk.h"
#include "hostile_device.h"
#include "pvscsi_conf_text.h"
#include "pvscsi_hw.h"
#include "scsa.h"

// The driver's _init, renamed in the host build; referencing it pulls the driver into the link.
extern "C" int fk_module_init(void);
int (*robust_driver_entry)(void) __attribute__((used)) = fk_module_init;

namespace robust {

namespace hw = pvscsi::hw;
using fk::client::KBuf;
using fk::client::Result;

namespace {

constexpr int64_t kMs = 1000000;
constexpr int64_t kHangBudgetNs = 440 * 1000 * kMs;  // 16 s + 120 s + 300 s, rounded up
constexpr unsigned kMaxOps = 64;
constexpr unsigned kDepth = 8;
constexpr uint32_t kBlocks = 256;  // per LUN, 512-byte blocks

// Reads the input; past its end every read is 0 (so a short input is still a full scenario).
class Bytes {
 public:
  Bytes(const uint8_t *p, size_t n) : p_(p), n_(n) {}
  bool empty() const { return n_ == 0; }
  uint8_t u8() {
    if (n_ == 0) return 0;
    n_--;
    return *p_++;
  }
  uint16_t u16() { return uint16_t(u8() | (u8() << 8)); }
  uint32_t u32() { return uint32_t(u16()) | uint32_t(u16()) << 16; }

 private:
  const uint8_t *p_;
  size_t n_;
};

pvscsi_mock::Config make_config(uint8_t sel) {
  auto cfg = pvscsi_mock::Config::for_profile((sel & 1) ? pvscsi_mock::Profile::kQemu
                                                        : pvscsi_mock::Profile::kVmware);
  cfg.power_on_unit_attention = (sel & 0x80) != 0;
  switch ((sel >> 1) & 3) {
    case 0:
      break;  // every type the profile offers
    case 1:
      cfg.intr_types = fk::kIntrMsi | fk::kIntrFixed;
      break;
    case 2:
      cfg.intr_types = fk::kIntrFixed;
      break;
    case 3:
      cfg.intr_types = fk::kIntrMsix;
      break;
  }
  if (sel & 0x08) {
    cfg.latency_ns = 1 * kMs;
    cfg.latency_jitter_ns = 2 * kMs;
  }
  if (sel & 0x10) {
    cfg.completion_batch = 4;
    cfg.reorder = true;
  }
  cfg.targets.clear();
  pvscsi_mock::TargetSpec t0;
  t0.id = 0;
  t0.luns = {pvscsi_mock::LunSpec{}};
  t0.luns[0].blocks = kBlocks;
  cfg.targets.push_back(t0);
  if (sel & 0x20) {
    pvscsi_mock::TargetSpec t1 = t0;
    t1.id = 1;
    cfg.targets.push_back(t1);
  }
  return cfg;
}

constexpr const char *kOpNames[] = {"read",       "write",     "polled read",    "rings state",
                                    "cmp entry",  "msg entry", "command status", "interrupt",
                                    "mock fault", "advance",   "reset",          "abort",
                                    "poll",       "hotplug"};
static_assert(sizeof(kOpNames) / sizeof(kOpNames[0]) == kOpCount, "one name per operation");

// ROBUST_TRACE=1 in the environment: the operations played and the driver's recovery counters
// as they go, on stderr (to read a finding's story).
bool tracing() {
  static const bool on = getenv("ROBUST_TRACE") != nullptr;
  return on;
}

// A defect planted in the harness (kPlantEnv, see scenario.h) for inputs that carry kPlantMark:
// "leak" leaves a kmem allocation behind (a leak finding), "crash" uses freed kmem memory
// (AddressSanitizer's report; abort() without ASan), "hang" never returns.
void plant_defect(const uint8_t *data, size_t size) {
  const char *kind = getenv(kPlantEnv);
  if (kind == nullptr || memmem(data, size, kPlantMark, strlen(kPlantMark)) == nullptr) return;
  if (strcmp(kind, "leak") == 0) {
    (void)kmem_alloc(24, KM_SLEEP);  // planted: never freed
  } else if (strcmp(kind, "crash") == 0) {
    auto *p = static_cast<volatile uint32_t *>(kmem_alloc(64, KM_SLEEP));
    kmem_free(const_cast<uint32_t *>(p), 64);
    uint32_t v = p[3];  // planted: read after free
    fprintf(stderr, "planted crash: read %u after free, not caught: aborting\n", v);
    abort();
  } else if (strcmp(kind, "hang") == 0) {
    // host-sleep: planted - a real hang for the replay timeout (a system call per turn:
    // ThreadSanitizer delivers signals)
    for (;;) usleep(1000);
  }
}

// One life of the HBA; the kernel is booted by the caller.
class Life {
 public:
  Life(Bytes &in, ScenarioResult &res) : in_(in), res_(res) {}

  void run() {
    uint8_t sel = in_.u8();
    dev_ = std::make_unique<HostileDevice>(make_config(sel));
    // Before attach: a forged COMMAND_STATUS for one of the attach commands, and a forged
    // CONFIG page.
    uint8_t pre = in_.u8();
    if (pre & 0x3f) dev_->override_nth_command_status(pre & 0x3f, in_.u32());
    if (pre & 0x40) {
      uint32_t off = in_.u8() & 0x3f;
      std::vector<uint8_t> bytes(8);
      for (auto &b : bytes) b = in_.u8();
      dev_->corrupt_config_page(off, bytes);
    }
    dip_ = fk::add_pci_node(dev_.get());
    if (fk::attach(dip_) != DDI_SUCCESS) {
      fk::remove_node(dip_);
      return;
    }
    res_.attached = true;
    dev_->clear_overrides();
    auto luns = fk::client::discover(dip_);
    for (const auto &l : luns)
      if (l.target == "0" && l.lun == 0) sd_ = l.sd;
    fk::client::IoOptions o;
    o.retry_count = 0;  // the driver's outcome, not sd's recovery
    o.reset_on_error = false;
    o.drive_clock = false;
    o.timeout_s = 5;
    buf_ = std::make_unique<KBuf>(8 * 512);
    if (sd_ != nullptr) q_ = std::make_unique<fk::client::Queue>(sd_, kDepth, o);

    for (unsigned i = 0; i < kMaxOps && !in_.empty(); i++) {
      unsigned op = in_.u8() % kOpCount;
      trace("op %u (%s)", op, kOpNames[op]);
      // A hang is virtual: no op moves the clock by more than ~16 s, and the finish below takes
      // at most 120 s; a run whose clock goes 300 s past that without the next op is a livelock
      // (the driver spinning, recovering forever), fatal at once with every thread's story.
      fk::set_time_limit_ns(fk::now_ns() + kHangBudgetNs);
      play(op);
      res_.ops++;
    }
    fk::set_time_limit_ns(fk::now_ns() + kHangBudgetNs);
    finish();
  }

 private:
  void trace(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!tracing()) return;
    char line[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    std::string counters;
    int inst = dip_ != nullptr ? ddi_get_instance(dip_) : 0;
    for (const char *k : {"commands", "interrupts", "busy", "timeouts", "aborts", "device_resets",
                          "bus_resets", "adapter_resets", "bogus_values"})
      counters += std::string(" ") + k + "=" +
                  std::to_string(fk::kstat_value("pvscsi", inst, "stats", k).value_or(0));
    fk::scsa::Stats st = fk::scsa::stats();
    counters += " | scsa: accepted=" + std::to_string(st.accepted) +
                " completions=" + std::to_string(st.completions);
    fprintf(stderr, "[%.3f s] %s |%s\n", double(fk::now_ns()) / 1e9, line, counters.c_str());
  }

  void submit(bool read, uint8_t lba, uint8_t n) {
    if (!q_ || q_->outstanding() >= kDepth) return;
    uint32_t nblocks = 1 + (n & 7);
    uint64_t start = lba % (kBlocks - 8);
    res_.submitted++;
    auto cb = [this](const Result &) { res_.completed++; };
    if (read)
      q_->read(start, nblocks, 512, buf_->data(), cb);
    else
      q_->write(start, nblocks, 512, buf_->data(), cb);
  }

  void mock_fault(uint8_t sel, uint8_t arg) {
    auto &m = dev_->mock();
    switch (sel % 16) {
      case 0:
        m.set_target_hung(arg & 1, (arg & 2) != 0);
        break;
      case 1:
        m.fail_next_requests(1 + arg % 4, uint16_t(arg >> 2), uint16_t((arg & 1) ? 2 : 0));
        break;
      case 2:
        m.corrupt_next_completion_context(pvscsi_mock::BogusContext(arg % 4));
        break;
      case 3:
        m.inject_completion(arg, uint16_t(arg * 7), uint16_t(arg & 0x3e));
        break;
      case 4:
        m.corrupt_cmp_prod_index();
        break;
      case 5:
        m.corrupt_log2_sizes(arg & 0x3f, arg >> 2, arg ^ 0x1f);
        break;
      case 6:
        m.drop_next_interrupts(arg % 8);
        break;
      case 7:
        m.duplicate_next_interrupts(arg % 8);
        break;
      case 8:
        m.refuse_command(hw::CommandCode(1 + arg % 11), 1 + (arg >> 4));
        break;
      case 9:
        m.spontaneous_reset();
        break;
      case 10: {
        std::array<uint32_t, 31> args{};
        for (unsigned i = 0; i < 4; i++) args[i] = in_.u8();
        (void)m.post_message(arg % 4, args);
        break;
      }
      case 11:
        m.raise_spurious_interrupt(arg & 0xF);
        break;
      case 12:
        m.force_req_call_threshold(arg);
        break;
      case 13:
        m.set_capacity(0, 0, 64 + arg);
        break;
      case 14:
        m.schedule_spontaneous_reset(fk::now_ns() + int64_t(arg) * kMs);
        break;
      default:
        m.fail_next_requests(1, 0, 0x08 /* BUSY */, -1);
        break;
    }
  }

  void forge_completion() {
    uint32_t index = in_.u8();
    uint8_t ctx_sel = in_.u8();
    uint16_t host = in_.u16();
    uint8_t scsi = in_.u8();
    uint8_t bump = in_.u8();
    hw::RingCmpDesc c{};
    // Contexts near the driver's (slot + 1) are the interesting ones; sometimes anything.
    uint64_t ctx = (ctx_sel & 0x80) ? (uint64_t(ctx_sel) << 33 | ctx_sel) : (ctx_sel & 0x1f);
    c.set_context(ctx)
        .set_host_status(static_cast<hw::HostStatus>(host))  // any number, declared or not
        .set_scsi_status(static_cast<hw::ScsiStatus>(scsi));
    c.set_data_len(ctx_sel & 0x40 ? 0xFFFFFFFFull : 512).set_sense_len(scsi & 1 ? 300 : 18);
    uint32_t prod = 0;
    if (bump & 0x80) {
      // Write at the slot the driver reads next and publish it.
      (void)dev_->read_rings_state(hw::RingsState::kCmpProdIdxOffset, &prod, 4);
      index = prod;
    }
    (void)dev_->write_cmp_entry(index, c.raw, sizeof(c.raw));
    if (bump & 0x80) {
      prod += 1 + (bump & 3);
      (void)dev_->write_rings_state(hw::RingsState::kCmpProdIdxOffset, &prod, 4);
      if (bump & 0x40) dev_->mock().raise_spurious_interrupt(0x1);
    }
  }

  void forge_message() {
    uint32_t index = in_.u8();
    uint8_t type = in_.u8();
    uint8_t target = in_.u8();
    uint8_t lun = in_.u8();
    uint8_t bump = in_.u8();
    hw::RingMsgDesc m{};
    m.set_type(static_cast<hw::MsgType>(type < 0xf0 ? type % 3 : 0xFFFFFF00u | type));
    m.set_args(0, 0);       // bus
    m.set_args(1, target);  // target (beyond 255 when the high bit pattern says so)
    if (target & 0x80) m.set_args(1, 0x10000u | target);
    m.set_args(2, lun);  // lun[0..3]
    m.set_args(3, 0);
    uint32_t prod = 0;
    if (bump & 0x80) {
      (void)dev_->read_rings_state(hw::RingsState::kMsgProdIdxOffset, &prod, 4);
      index = prod;
    }
    (void)dev_->write_msg_entry(index, m.raw, sizeof(m.raw));
    if (bump & 0x80) {
      prod += 1 + (bump & 1);
      (void)dev_->write_rings_state(hw::RingsState::kMsgProdIdxOffset, &prod, 4);
      dev_->mock().raise_spurious_interrupt(0x4);
    }
  }

  // The device may make LUN 0 go away (a forged DEV_REMOVED): its scsi_device is then freed
  // (found by the fuzzer through the arena's ASan poisoning: this harness used it after).
  bool lun_online() const { return sd_ != nullptr && fk::client::online(sd_); }

  void play(unsigned op) {
    switch (op) {
      case kOpRead: {
        uint8_t lba = in_.u8();
        submit(true, lba, in_.u8());
        break;
      }
      case kOpWrite: {
        uint8_t lba = in_.u8();
        submit(false, lba, in_.u8());
        break;
      }
      case kOpPolledRead: {
        uint8_t lba = in_.u8();
        if (!lun_online()) break;
        fk::client::IoOptions o;
        o.retry_count = 0;  // the driver's outcome, not sd's recovery
        o.reset_on_error = false;
        o.polled = true;
        o.timeout_s = 2;
        o.drive_clock = false;
        o.max_busy_retries = 4;
        KBuf b(512);
        res_.submitted++;
        (void)fk::client::read(sd_, lba % kBlocks, 1, 512, b.data(), o);
        res_.completed++;
        break;
      }
      case kOpRingsState: {
        uint32_t off = in_.u8() % 144;
        uint32_t len = 1 + in_.u8() % 8;
        uint8_t bytes[8];
        for (uint32_t i = 0; i < len; i++) bytes[i] = in_.u8();
        for (uint32_t field : {hw::RingsState::kReqProdIdxOffset, hw::RingsState::kCmpConsIdxOffset,
                               hw::RingsState::kMsgConsIdxOffset})
          if (off < field + 4 && field < off + len) res_.forged_driver_index = true;
        (void)dev_->write_rings_state(off, bytes, len);
        break;
      }
      case kOpCmpEntry:
        forge_completion();
        break;
      case kOpMsgEntry:
        forge_message();
        break;
      case kOpCommandStatus:
        dev_->override_next_command_status(in_.u32());
        break;
      case kOpInterrupt: {
        uint8_t sel = in_.u8();
        if (sel & 0x80)
          dev_->raw_interrupt(sel & 1);
        else
          dev_->mock().raise_spurious_interrupt(sel & 0xF);
        break;
      }
      case kOpMockFault: {
        uint8_t sel = in_.u8();
        mock_fault(sel, in_.u8());
        break;
      }
      case kOpAdvance: {
        uint16_t v = in_.u16();
        fk::advance(int64_t(v % 8192) * 2 * kMs);
        if (q_) q_->poll();
        break;
      }
      case kOpReset: {
        uint8_t level = in_.u8();
        fk::client::LunHold hold(sd_);  // the LUN may be going away (a rescan lost it)
        if (sd_ == nullptr || !hold.held()) break;
        int lv = level % 3 == 0 ? RESET_LUN : level % 3 == 1 ? RESET_TARGET : RESET_ALL;
        // A reset waits for the device with drv_usecwait, which moves the virtual clock.
        const int kResetDevice = int(hw::CommandCode::kResetDevice);
        uint64_t sent = dev_->mock().counters().commands[kResetDevice];
        (void)scsi_reset(&sd_->sd_address, lv);
        // RESET_LUN (scsi_reset passes it on only with the "lun-reset" capability) and
        // RESET_TARGET reach the device as RESET_DEVICE, whatever the device answers.
        if (lv != RESET_ALL && dev_->mock().counters().commands[kResetDevice] == sent)
          res_.findings.push_back(std::string(lv == RESET_LUN ? "RESET_LUN" : "RESET_TARGET") +
                                  " never reached the device");
        break;
      }
      case kOpAbort: {
        fk::client::LunHold hold(sd_);
        if (sd_ == nullptr || !hold.held()) break;
        (void)scsi_abort(&sd_->sd_address, nullptr);
        break;
      }
      case kOpPoll:
        if (q_) q_->poll();
        break;
      case kOpHotplug: {
        uint8_t sel = in_.u8();
        uint32_t t = 1 + in_.u8() % 3;  // target 0 carries the queue and stays
        auto &m = dev_->mock();
        pvscsi_mock::TargetSpec spec;
        spec.id = t;
        spec.luns = {pvscsi_mock::LunSpec{}};
        spec.luns[0].blocks = kBlocks;
        switch (sel % 4) {
          case 0:
            (void)m.add_target(spec);
            break;
          case 1:
            (void)m.remove_target(t);
            break;
          case 2: {
            pvscsi_mock::LunSpec l;
            l.lun = uint16_t(1 + (sel >> 2) % 4);
            l.blocks = kBlocks;
            (void)m.add_lun(0, l);
            break;
          }
          default:
            (void)m.remove_lun(0, uint16_t(1 + (sel >> 2) % 4));
            break;
        }
        break;
      }
    }
  }

  // The device behaves again; every packet must now complete, and the HBA must detach.
  void finish() {
    auto &m = dev_->mock();
    dev_->clear_overrides();
    m.set_target_hung(0, false);
    m.set_target_hung(1, false);
    m.drop_next_interrupts(0);
    m.duplicate_next_interrupts(0);
    m.force_req_call_threshold(0);
    for (uint32_t c = 1; c <= 11; c++) m.refuse_command(hw::CommandCode(c), 0);
    if (q_) {
      // pkt_time 5 s plus the whole escalation (abort, device, bus, adapter reset) fits well
      // inside 120 s of virtual time. Each step lets the kernel's threads finish what the step
      // started before the next moves the clock: a completion the discovery task's polled probe
      // reaps is delivered on that thread, and on a loaded machine it can be descheduled while
      // this thread runs the whole loop (found as packets "never completed" that sat, delivered,
      // in the queue's done list).
      for (int step = 0; step < 1200 && q_->outstanding() > 0; step++) {
        if (step % 50 == 0) trace("finish: %zu outstanding", size_t(q_->outstanding()));
        fk::advance(100 * kMs);
        fk::drain();
        q_->poll();
      }
      if (q_->outstanding() > 0) {
        res_.findings.push_back("packets never completed: " + std::to_string(q_->outstanding()) +
                                " outstanding");
        // The queue cannot be destroyed with packets in the driver; keep it (and the kernel)
        // alive: the caller aborts on the finding.
        (void)q_.release();
        (void)buf_.release();
        stuck_ = true;
        return;
      }
      q_.reset();
    }
    buf_.reset();
    fk::client::settle();
    if (fk::scsa::unconfig_iports(dip_) != DDI_SUCCESS) {
      res_.findings.push_back("iport detach failed with no I/O outstanding");
      stuck_ = true;
      return;
    }
    if (fk::detach(dip_) != DDI_SUCCESS) {
      res_.findings.push_back("HBA detach failed with no I/O outstanding");
      stuck_ = true;
      return;
    }
    fk::remove_node(dip_);
  }

 public:
  bool stuck_ = false;

 private:
  Bytes &in_;
  ScenarioResult &res_;
  std::unique_ptr<HostileDevice> dev_;
  dev_info_t *dip_ = nullptr;
  scsi_device *sd_ = nullptr;
  std::unique_ptr<KBuf> buf_;
  std::unique_ptr<fk::client::Queue> q_;

 public:
  ~Life() {
    // A device must outlive its node; a stuck scenario keeps both (the process aborts).
    if (stuck_) (void)dev_.release();
  }
};

}  // namespace

// A word for sh: single-quoted unless it is plain.
std::string shell_quote(const std::string &s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789/._-+=:,@%") == std::string::npos)
    return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

ScenarioResult run_scenario(const uint8_t *data, size_t size) {
  static_assert(kHangBudgetNs > 120 * kMs * 1000, "the budget covers finish()");
  ScenarioResult res;
  Bytes in(data, size);
  fk::Options o;
  o.arena_size = 64ull << 20;
  o.sync_audit = false;  // a hostile device writes driver-owned fields: not a sync defect
  // A forged ring index sends the device to stale descriptors whose buffers are long freed and
  // reused (by the framework's packets, say): without an IOMMU its DMA would scribble over them
  // and the harness would judge the driver from corrupted memory (the fuzzer found this).
  o.iommu = true;
  o.deterministic = true;
  fk::boot(o);
  plant_defect(data, size);
  std::string err = fk::load_driver_conf(kPvscsiConfText);
  if (!err.empty()) res.findings.push_back("pvscsi.conf: " + err);
  if (fk::load_driver("pvscsi") != 0) {
    res.findings.push_back("load_driver failed");
    fk::shutdown();
    return res;
  }
  {
    Life life(in, res);
    life.run();
    if (life.stuck_) return res;  // leave the kernel up: the caller reports and aborts
  }
  if (fk::unload_driver() != 0) res.findings.push_back("_fini refused after detach");
  fk::shutdown();
  for (const auto &l : fk::leaks())
    res.findings.push_back("leak: " + l.kind + " " + std::to_string(l.size) + " at " + l.site);
  for (const auto &v : fk::violations())
    if (!(res.forged_driver_index && v.kind == "dma"))
      res.findings.push_back("violation (" + v.kind + "): " + v.text);
  return res;
}

}  // namespace robust
