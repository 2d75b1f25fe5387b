// Interface facts checked against QEMU's pvscsi with hand-built rings (no driver): the command
// protocol and its probe answers, ring set-up, INQUIRY/READ/WRITE through the request ring with
// a kick, the INTx interrupt and its acknowledgement, data against the image file, hotplug
// messages, and the ring-loop benchmark baseline.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <memory>
#include <thread>
#include <vector>

#include "hand_rings.h"
#include "image_oracle.h"
#include "pvscsi_hw.h"
#include "qemu_device.h"
#include "ring_baseline.h"
#include "test_host.h"

namespace pvscsi_qemu {
namespace {

namespace hw = pvscsi::hw;
using std::chrono::milliseconds;

constexpr milliseconds kWait{10000};
constexpr uint64_t k4GiB = 1ull << 32;
constexpr unsigned kDisk512 = 3, kDisk4k = 9;

std::vector<uint8_t> pattern(size_t len, uint32_t seed) {
  std::vector<uint8_t> v(len);
  uint32_t x = seed * 2654435761u + 1;
  for (auto &b : v) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

class QemuRings : public ::testing::Test {
 protected:
  void SetUp() override {
    QemuOptions o;
    o.ram_below_4g = 32ull << 20;
    o.ram_above_4g = 16ull << 20;  // rings and buffers go above 4 GiB: 64-bit DMA for real
    o.disks.push_back({kDisk512, 8ull << 20, 512, ""});
    o.disks.push_back({kDisk4k, 8ull << 20, 4096, ""});
    dev_ = std::make_unique<QemuDevice>(o);
    host_ = std::make_unique<TestHost>(*dev_);
    mem_ = std::make_unique<GuestAllocator>(*dev_);
    dev_->connect(host_.get());
    dev_->set_intr_mode(fk::kIntrFixed, 1);
  }
  void TearDown() override {
    if (dev_) {
      dev_->disconnect();
    }
    host_.reset();
    dev_.reset();
  }

  std::unique_ptr<HandRings> make_rings(RingGeometry geo = {}) {
    geo.prefer_above = k4GiB;
    auto rings = std::make_unique<HandRings>(*dev_, *host_, *mem_, geo);
    EXPECT_EQ(rings->setup(), hw::kCommandStatusSuccess);
    return rings;
  }

  // Runs one request (with a sense buffer) through HandRings::execute.
  Completion run_one(HandRings &rings, const ScsiRequest &req, bool rw) {
    ScsiRequest r = req;
    if (sense_ == 0) {
      sense_ = mem_->alloc(hw::kPageSize);
    }
    r.sense_paddr = sense_;
    r.sense_len = 64;
    std::memset(mem_->ptr(sense_, 64), 0, 64);
    Completion c{0, 0, 0, 0xFFFF, 0xFFFF};
    std::string err;
    EXPECT_TRUE(rings.execute(*host_, r, rw, kWait, &c, &err)) << err;
    return c;
  }
  // Sense key, ASC, ASCQ of the last request's sense data (fixed format).
  std::string sense() const {
    const uint8_t *s = mem_->ptr(sense_, 64);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%x/%02x/%02x", s[2] & 0xF, s[12], s[13]);
    return buf;
  }
  void clear_ua(HandRings &rings, unsigned target) {
    std::string err;
    EXPECT_TRUE(rings.clear_unit_attention(*host_, static_cast<uint8_t>(target), kWait, &err))
        << err;
  }

  // A standard INQUIRY (36 bytes into buf) of a target.
  static ScsiRequest inquiry_request(unsigned target, uint64_t buf, uint64_t ctx) {
    ScsiRequest r;
    r.context = ctx;
    r.target = static_cast<uint8_t>(target);
    set_cdb(&r, cdb::inquiry(36), DataDir::kToHost);
    r.data_paddr = buf;
    r.data_len = 36;
    return r;
  }
  Completion inquiry(HandRings &rings, unsigned target, uint64_t buf, uint64_t ctx) {
    return run_one(rings, inquiry_request(target, buf, ctx), false);
  }

  std::unique_ptr<QemuDevice> dev_;
  std::unique_ptr<TestHost> host_;
  std::unique_ptr<GuestAllocator> mem_;
  uint64_t sense_ = 0;
};

uint32_t issue(QemuDevice &dev, hw::CommandCode code) {
  dev.write32(hw::Command::kOffset, hw::to_raw(code));
  return dev.read32(hw::CommandStatus::kOffset);
}

// COMMAND_STATUS right after writing each command code, as QEMU 7.2 answers it: -1 for codes it
// does not implement, 0 for descriptor-less commands it runs at once, -2 ("more data expected")
// for commands with a descriptor - including CONFIG, which then fails only once its descriptor
// is complete. A feature probe that reads the status at once therefore cannot tell CONFIG apart.
TEST_F(QemuRings, CommandProtocolAndProbeAnswers) {
  QemuDevice &dev = *dev_;
  using C = hw::CommandCode;
  const uint32_t kFail = hw::kCommandStatusFailed, kMore = hw::kCommandStatusIncomplete;
  const struct {
    C code;
    uint32_t status;
  } kAnswers[] = {
      {C::kFirst, kFail},
      {C::kAdapterReset, 0},
      {C::kIssueScsi, kFail},
      {C::kSetupRings, kMore},
      {C::kResetBus, 0},
      {C::kResetDevice, kMore},
      {C::kAbortCmd, kMore},
      {C::kConfig, kMore},
      {C::kSetupMsgRing, kMore},
      {C::kDeviceUnplug, kFail},
      {C::kSetupReqCallThreshold, kFail},
      {C::kGetMaxTargets, kFail},
  };
  for (const auto &a : kAnswers) {
    EXPECT_EQ(issue(dev, a.code), a.status) << "command " << hw::to_raw(a.code);
  }
  EXPECT_EQ(issue(dev, static_cast<C>(12)), kFail);  // beyond the last code
  EXPECT_EQ(dev.read32(hw::IntrStatus::kOffset), 0u);

  // CONFIG: -2 until its 6 dwords are in, then -1 (QEMU does not implement it).
  EXPECT_EQ(issue(dev, C::kConfig), kMore);
  for (uint32_t i = 0; i < hw::CmdConfig::kDwords; i++) {
    EXPECT_EQ(dev.read32(hw::CommandStatus::kOffset), kMore);
    dev.write32(hw::CommandData::kOffset, 0);
  }
  EXPECT_EQ(dev.read32(hw::CommandStatus::kOffset), kFail);

  // SETUP_RINGS stays -2 while its descriptor is partial; writing COMMAND discards it.
  EXPECT_EQ(issue(dev, C::kSetupRings), kMore);
  dev.write32(hw::CommandData::kOffset, 1);
  dev.write32(hw::CommandData::kOffset, 1);
  EXPECT_EQ(dev.read32(hw::CommandStatus::kOffset), kMore);
  EXPECT_EQ(issue(dev, C::kAdapterReset), hw::kCommandStatusSuccess);

  // INTR_MASK reads back what was written.
  for (uint32_t mask :
       {hw::IntrMask::kFieldsMask, (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask),
        (hw::IntrMask::kMsg0Mask | hw::IntrMask::kMsg1Mask), 0u}) {
    dev.write32(hw::IntrMask::kOffset, mask);
    EXPECT_EQ(dev.read32(hw::IntrMask::kOffset), mask);
  }
  EXPECT_FALSE(dev.failed()) << dev.error();
}

// SETUP_MSG_RING after SETUP_RINGS completes with status 34 (its dword count), not 0.
TEST_F(QemuRings, SetupMsgRingSucceedsWithItsDwordCount) {
  HandRings rings(*dev_, *host_, *mem_, RingGeometry{1, 1, 0, 0});
  ASSERT_EQ(rings.setup(), hw::kCommandStatusSuccess);
  uint64_t page = mem_->alloc(hw::kPageSize);
  hw::CmdDescSetupMsgRing msg{};
  msg.set_num_pages(1).set_ring_ppns(0, page >> hw::kPageShift);
  EXPECT_EQ(rings.command(hw::CommandCode::kSetupMsgRing, msg), hw::CmdDescSetupMsgRing::kDwords);
  EXPECT_EQ(rings.msg_entries_log2(), 5u);
}

TEST_F(QemuRings, SetupRingsPublishesRingSizes) {
  RingGeometry geo;
  geo.req_pages = 2;
  geo.cmp_pages = 1;
  geo.msg_pages = 2;
  auto rings = make_rings(geo);
  EXPECT_GE(rings->rings_state_paddr(), k4GiB);
  EXPECT_EQ(rings->req_entries_log2(), 6u);  // 2 pages x 32 entries
  EXPECT_EQ(rings->cmp_entries_log2(), 7u);  // 1 page x 128 entries
  EXPECT_EQ(rings->msg_entries_log2(), 6u);  // 2 pages x 32 entries
  EXPECT_EQ(rings->req_cons(), 0u);
  EXPECT_EQ(rings->cmp_prod(), 0u);
  EXPECT_EQ(rings->msg_prod(), 0u);  // disks present at set-up post no DEV_ADDED
}

TEST_F(QemuRings, InquiryCompletesWithAnInterruptThatAckLowers) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096, k4GiB);
  ASSERT_GE(buf, k4GiB);
  std::memset(mem_->ptr(buf, 36), 0xEE, 36);
  unsigned raises = host_->intx_raises();
  Completion c = inquiry(*rings, kDisk512, buf, 0x1234);
  EXPECT_EQ(host_->intx_raises(), raises + 1);
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
  const uint8_t *d = mem_->ptr(buf, 36);
  EXPECT_EQ(d[0], 0x00);  // direct-access block device, LUN present
  EXPECT_EQ(std::string(reinterpret_cast<const char *>(d + 8), 8), "QEMU    ");
  EXPECT_FALSE(dev_->intx_level());
  EXPECT_EQ(rings->req_cons(), rings->req_prod());
}

// QEMU's completion quirks: dataLen is always 0, even when data moved; a transfer shorter than
// the request's dataLen (REPORT LUNS into a 4 KiB buffer, a READ with a larger dataLen) is
// DATARUN with GOOD status, and a READ zero-fills its buffer up to dataLen; a READ with a smaller
// dataLen moves only dataLen bytes, also DATARUN with GOOD. INQUIRY with any allocation length
// completes SUCCESS. REPORT LUNS passes the power-on UNIT ATTENTION (it is not reported to it).
TEST_F(QemuRings, CompletionDataLenIsZeroAndShortTransfersAreDatarun) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(8192);
  const uint16_t kSuccess = hw::to_raw(hw::HostStatus::kSuccess);
  const uint16_t kDatarun = hw::to_raw(hw::HostStatus::kDatarun);
  const uint16_t kGood = hw::to_raw(hw::ScsiStatus::kGood);
  for (uint32_t alloc : {36u, 96u, 255u}) {
    ScsiRequest r;
    r.context = alloc;
    r.target = kDisk512;
    set_cdb(&r, cdb::inquiry(static_cast<uint8_t>(alloc)), DataDir::kToHost);
    r.data_paddr = buf;
    r.data_len = alloc;
    Completion c = run_one(*rings, r, false);
    EXPECT_EQ(c.host_status, kSuccess) << "INQUIRY " << alloc;
    EXPECT_EQ(c.scsi_status, kGood) << "INQUIRY " << alloc;
    EXPECT_EQ(c.data_len, 0u) << "INQUIRY " << alloc;
  }
  ScsiRequest luns;
  luns.context = 99;
  luns.target = kDisk512;
  set_cdb(&luns, cdb::report_luns(4096), DataDir::kToHost);
  luns.data_paddr = buf;
  luns.data_len = 4096;
  Completion c = run_one(*rings, luns, false);
  EXPECT_EQ(c.host_status, kDatarun);
  EXPECT_EQ(c.scsi_status, kGood);
  EXPECT_EQ(c.data_len, 0u);
  const uint8_t *d = mem_->ptr(buf, 16);
  EXPECT_EQ(d[3], 8u);  // LUN list length: one LUN (0)
  clear_ua(*rings, kDisk512);

  int fd = open(dev_->image_path(kDisk512).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> img = pattern(4096, 5);
  ASSERT_EQ(pwrite(fd, img.data(), 4096, 0), 4096);
  close(fd);
  struct {
    uint64_t data_len;
    uint16_t host_status;
  } cases[] = {{4096, kSuccess}, {8192, kDatarun}, {2048, kDatarun}};
  for (const auto &k : cases) {
    SCOPED_TRACE("READ of 4096 bytes with dataLen " + std::to_string(k.data_len));
    std::memset(mem_->ptr(buf, 8192), 0xEE, 8192);
    ScsiRequest r;
    r.context = 100 + k.data_len;
    r.target = kDisk512;
    set_rw16(&r, false, 0, 8);
    r.data_paddr = buf;
    r.data_len = k.data_len;
    c = run_one(*rings, r, true);
    EXPECT_EQ(c.host_status, k.host_status);
    EXPECT_EQ(c.scsi_status, kGood);
    EXPECT_EQ(c.data_len, 0u);
    size_t moved = std::min<uint64_t>(k.data_len, 4096);
    EXPECT_EQ(std::memcmp(mem_->ptr(buf, moved), img.data(), moved), 0);
    // Beyond the transfer: up to dataLen QEMU writes zeros; beyond dataLen nothing.
    const uint8_t *after = mem_->ptr(buf + moved, 8192 - moved);
    size_t zeroed = 0, touched = 0;
    for (size_t i = 0; i < 8192 - moved; i++) {
      zeroed += after[i] == 0 ? 1 : 0;
      touched += after[i] != 0xEE ? 1 : 0;
    }
    EXPECT_EQ(touched, k.data_len - moved);
    EXPECT_EQ(zeroed, touched);
  }
}

// The interrupt mode gates delivery to the host: turning FIXED off withdraws an asserted line,
// turning it on again delivers it; the device's own level is unaffected until acknowledged.
TEST_F(QemuRings, IntxDeliveryFollowsTheInterruptMode) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096);
  ScsiRequest r = inquiry_request(kDisk512, buf, 3);
  unsigned seen = host_->intx_raises();
  ASSERT_TRUE(rings->submit(r));
  rings->kick(false);
  ASSERT_TRUE(host_->wait_raise_after(seen, kWait));
  EXPECT_TRUE(host_->intx());
  dev_->set_intr_mode(0, 0);
  EXPECT_FALSE(host_->intx());
  EXPECT_TRUE(dev_->intx_level());
  dev_->set_intr_mode(fk::kIntrFixed, 1);
  EXPECT_TRUE(host_->intx());
  EXPECT_EQ(host_->intx_raises(), seen + 2);
  EXPECT_NE(rings->ack_interrupts() & (hw::IntrMask::kCmpl0Mask | hw::IntrMask::kCmpl1Mask), 0u);
  EXPECT_TRUE(host_->wait_intx(false, kWait));
  EXPECT_FALSE(dev_->intx_level());
  EXPECT_EQ(rings->reap().size(), 1u);
  EXPECT_EQ(host_->msis(), 0u);
}

// MSI: the capability (id 5, 64-bit address) is found by walking the list; enabling MSI points
// it at a reserved guest-RAM word, and each completion is then a message the watcher delivers as
// send_msi(0) - with no INTx raise and without INTR_STATUS being acknowledged in between.
// Turning MSI off (FIXED again) brings INTx back.
TEST_F(QemuRings, MsiMessagesReplaceIntxAndNeedNoAcknowledge) {
  EXPECT_EQ(dev_->msi_cap(), 0x7Cu);
  EXPECT_EQ(dev_->intr_types(), fk::kIntrFixed | fk::kIntrMsi);
  EXPECT_EQ(dev_->intr_count(fk::kIntrMsi), 1);
  EXPECT_EQ(dev_->intr_count(fk::kIntrMsix), 0);
  auto rings = make_rings();
  dev_->set_intr_mode(fk::kIntrMsi, 1);
  EXPECT_TRUE(dev_->msi_enabled_in_device());
  uint64_t buf = mem_->alloc(4096);
  unsigned raises = host_->intx_raises();
  for (uint64_t ctx = 1; ctx <= 3; ctx++) {
    ScsiRequest r = inquiry_request(kDisk512, buf, ctx);
    unsigned seen = host_->msis();
    ASSERT_TRUE(rings->submit(r));
    rings->kick(false);
    ASSERT_TRUE(host_->wait_msi_after(seen, kWait)) << "no MSI for request " << ctx;
    EXPECT_EQ(rings->reap().size(), 1u);
  }
  EXPECT_EQ(host_->intx_raises(), raises);
  EXPECT_FALSE(dev_->intx_level());
  EXPECT_GE(dev_->msi_stats().messages, 3u);
  rings->ack_interrupts();

  dev_->set_intr_mode(fk::kIntrFixed, 1);
  EXPECT_FALSE(dev_->msi_enabled_in_device());
  unsigned msis = host_->msis();
  Completion c = inquiry(*rings, kDisk512, buf, 0x99);  // waits for an INTx raise
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
  EXPECT_EQ(host_->msis(), msis);
}

// With offer_msi = false the backend offers FIXED only (the driver's fallback on QEMU).
TEST(QemuMsi, WithheldMsiOffersFixedOnly) {
  QemuOptions o;
  o.ram_below_4g = 16ull << 20;
  o.offer_msi = false;
  QemuDevice dev(o);
  EXPECT_EQ(dev.intr_types(), fk::kIntrFixed);
  EXPECT_EQ(dev.intr_count(fk::kIntrMsi), 0);
  EXPECT_EQ(dev.intr_count(fk::kIntrFixed), 1);
  EXPECT_EQ(dev.msi_cap(), 0x7Cu);  // the device still has the capability; it is not offered
}

// Disconnect stops the watcher and turns MSI off in the device.
TEST(QemuMsi, DisconnectStopsMsi) {
  QemuOptions o;
  o.ram_below_4g = 16ull << 20;
  QemuDevice dev(o);
  TestHost host(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrMsi, 1);
  EXPECT_TRUE(dev.msi_enabled_in_device());
  dev.disconnect();
  EXPECT_FALSE(dev.msi_enabled_in_device());
  // The reserved page lies outside the arena the kernel allocates from.
  for (const MemoryRange &r : dev.arena_ranges()) {
    EXPECT_FALSE(QemuDevice::kMsiAddress >= r.paddr && QemuDevice::kMsiAddress < r.paddr + r.size);
  }
}

// Threads of this process (/proc/self/task).
size_t thread_count() {
  size_t n = 0;
  if (DIR *d = opendir("/proc/self/task")) {
    while (dirent *e = readdir(d)) {
      n += e->d_name[0] != '.';
    }
    closedir(d);
  }
  return n;
}

// A host whose first send_msi blocks until released, as if the handler of that message were
// still running; counts deliveries.
class HoldingHost : public TestHost {
 public:
  using TestHost::TestHost;
  void send_msi(unsigned vector) override {
    std::unique_lock<std::mutex> g(mu_);
    if (delivered_++ == 0) {
      cv_.notify_all();
      cv_.wait(g, [this] { return released_; });
    }
    cv_.notify_all();
    (void)vector;
  }
  bool wait_delivered(unsigned n) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, kWait, [&] { return delivered_ >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> g(mu_);
    released_ = true;
    cv_.notify_all();
  }
  unsigned delivered() {
    std::lock_guard<std::mutex> g(mu_);
    return delivered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned delivered_ = 0;
  bool released_ = false;
};

QemuOptions msi_options() {
  QemuOptions o;
  o.ram_below_4g = 16ull << 20;
  return o;
}

// The device's message is a write of kMsiData to kMsiAddress; a test writes it the same way.
void write_message(QemuDevice &dev) {
  uint32_t *w = reinterpret_cast<uint32_t *>(dev.guest_ptr(QemuDevice::kMsiAddress, 4));
  __atomic_store_n(w, QemuDevice::kMsiData, __ATOMIC_SEQ_CST);
}

uint32_t msi_word(QemuDevice &dev) {
  return __atomic_load_n(reinterpret_cast<uint32_t *>(dev.guest_ptr(QemuDevice::kMsiAddress, 4)),
                         __ATOMIC_SEQ_CST);
}

// MSI costs no thread of its own: the qtest reader looks at the word.
TEST(QemuMsi, MsiAddsNoThread) {
  QemuDevice dev(msi_options());
  TestHost host(dev);
  dev.connect(&host);
  const size_t before = thread_count();
  dev.set_intr_mode(fk::kIntrMsi, 1);
  ASSERT_TRUE(dev.msi_enabled_in_device());
  EXPECT_EQ(thread_count(), before);
  unsigned seen = host.msis();
  write_message(dev);
  EXPECT_TRUE(host.wait_msi_after(seen, kWait));
  dev.disconnect();
}

// Every qtest reply is also a look: with the timed looks an hour apart, a message is delivered
// right after the next register access, and the word is cleared (re-armed) for the next one.
TEST(QemuMsi, EveryQtestReplyIsALookAtTheWord) {
  QemuOptions o = msi_options();
  o.msi_busy_interval = o.msi_idle_interval = std::chrono::hours(1);
  QemuDevice dev(o);
  TestHost host(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrMsi, 1);
  for (int i = 0; i < 3; i++) {
    unsigned seen = host.msis();
    write_message(dev);
    (void)dev.read32(hw::IntrMask::kOffset);
    ASSERT_TRUE(host.wait_msi_after(seen, kWait)) << "message " << i;
    EXPECT_EQ(msi_word(dev), 0u);
  }
  EXPECT_EQ(dev.msi_stats().messages, 3u);
  EXPECT_EQ(dev.msi_stats().timed_looks, 0u);
  dev.disconnect();
}

// Without qtest traffic the word is looked at after the busy interval (a register write starts
// the busy window), so a completion that comes while the host only waits is delivered. Looks
// after input are off here, so only a timed look can deliver it.
TEST(QemuMsi, TimedLooksDeliverWithoutQtestTraffic) {
  QemuOptions o = msi_options();
  o.msi_look_on_input = false;
  QemuDevice dev(o);
  TestHost host(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrMsi, 1);
  dev.write32(hw::IntrMask::kOffset, 0);
  for (int i = 0; i < 3; i++) {
    unsigned seen = host.msis();
    write_message(dev);
    ASSERT_TRUE(host.wait_msi_after(seen, kWait)) << "message " << i;
  }
  EXPECT_EQ(dev.msi_stats().messages, 3u);
  EXPECT_GE(dev.msi_stats().timed_looks, 3u);
  EXPECT_EQ(dev.msi_stats().looks, dev.msi_stats().timed_looks);
  dev.disconnect();
}

// Re-armed by clearing before delivery: messages the device writes while one is being
// delivered (its handler running) are delivered once, after it - not lost, not repeated.
TEST(QemuMsi, MessagesDuringADeliveryAreDeliveredOnceAfterIt) {
  QemuDevice dev(msi_options());
  HoldingHost host(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrMsi, 1);
  write_message(dev);
  ASSERT_TRUE(host.wait_delivered(1));
  EXPECT_EQ(msi_word(dev), 0u);  // cleared before the delivery
  write_message(dev);
  write_message(dev);
  host.release();
  ASSERT_TRUE(host.wait_delivered(2));
  // Let several more looks pass: nothing else is delivered.
  const uint64_t looks = dev.msi_stats().looks;
  for (int i = 0; i < 1000 && dev.msi_stats().looks < looks + 5; i++) {
    (void)dev.read32(hw::IntrMask::kOffset);
  }
  EXPECT_GE(dev.msi_stats().looks, looks + 5);
  EXPECT_EQ(host.delivered(), 2u);
  EXPECT_EQ(dev.msi_stats().messages, 2u);
  dev.disconnect();
}

TEST_F(QemuRings, NonExistentTargetIsSelectionTimeout) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096);
  Completion c = inquiry(*rings, 0, buf, 7);
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSeltimeo));
}

// The first command other than INQUIRY after power-on or ADAPTER_RESET reports CHECK
// CONDITION with UNIT ATTENTION, POWER ON/RESET (6/29/00). A READ that moved no data because of
// it carries hostStatus DATARUN; a TEST UNIT READY carries SUCCESS.
TEST_F(QemuRings, FirstCommandReportsUnitAttention) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096);
  ScsiRequest r;
  r.context = 77;
  r.target = kDisk512;
  set_rw16(&r, false, 0, 1);
  r.data_paddr = buf;
  r.data_len = 512;
  Completion c = run_one(*rings, r, true);
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kCheckCondition));
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kDatarun));
  EXPECT_EQ(sense(), "6/29/00");
  c = run_one(*rings, r, true);
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));

  // The same after ADAPTER_RESET and a new ring set-up, now seen by TEST UNIT READY.
  ASSERT_EQ(rings->setup(), hw::kCommandStatusSuccess);
  set_cdb(&r, cdb::test_unit_ready(), DataDir::kNone);
  c = run_one(*rings, r, false);
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kCheckCondition));
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
  EXPECT_EQ(sense(), "6/29/00");
}

// READ returns what the image file holds; WRITE lands in the image file. Both block sizes.
TEST_F(QemuRings, ReadAndWriteMatchTheImageFile) {
  auto rings = make_rings();
  uint64_t ctx = 100;
  for (unsigned target : {kDisk512, kDisk4k}) {
    SCOPED_TRACE("target " + std::to_string(target));
    clear_ua(*rings, target);
    const uint32_t bs = target == kDisk4k ? 4096 : 512;
    const uint32_t len = 16384;
    const uint32_t blocks = len / bs;
    int fd = open(dev_->image_path(target).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);

    // READ(16) of blocks the test wrote into the image directly.
    std::vector<uint8_t> in = pattern(len, target);
    ASSERT_EQ(pwrite(fd, in.data(), len, 100 * bs), static_cast<ssize_t>(len));
    uint64_t rbuf = mem_->alloc(len, k4GiB);
    ScsiRequest r;
    r.context = ctx++;
    r.target = static_cast<uint8_t>(target);
    set_rw16(&r, false, 100, blocks);
    r.data_paddr = rbuf;
    r.data_len = len;
    Completion c = run_one(*rings, r, true);
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
    EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
    EXPECT_EQ(std::memcmp(mem_->ptr(rbuf, len), in.data(), len), 0);

    // WRITE(10) of a pattern; the image file must hold it afterwards.
    std::vector<uint8_t> out = pattern(len, target + 1000);
    uint64_t wbuf = mem_->alloc(len);  // below 4 GiB this time
    std::memcpy(mem_->ptr(wbuf, len), out.data(), len);
    ScsiRequest w;
    w.context = ctx++;
    w.target = static_cast<uint8_t>(target);
    set_cdb(&w, cdb::write10(300, static_cast<uint16_t>(blocks)), DataDir::kToDevice);
    w.data_paddr = wbuf;
    w.data_len = len;
    c = run_one(*rings, w, true);
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
    EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
    std::vector<uint8_t> disk(len);
    ASSERT_EQ(pread(fd, disk.data(), len, 300 * bs), static_cast<ssize_t>(len));
    EXPECT_EQ(disk, out);
    close(fd);
  }
}

// A request whose direction flag contradicts its CDB is consumed (reqConsIdx advances) but never
// completed: QEMU 7.2 sets BADMSG and cancels a request it never enqueued, which is a no-op, so
// the completion is lost - and the request stays on QEMU's pending queue, so a later
// ADAPTER_RESET aborts QEMU (assertion in pvscsi_reset_adapter). A driver must never send one.
// Deterministic check: a valid request kicked after them completes alone (QEMU walks the ring in
// order and handles the bad ones synchronously). Also shows the harness surviving QEMU's death:
// all-ones reads, failed(), QEMU's stderr, no hang.
TEST_F(QemuRings, DirectionMismatchLosesTheCompletionAndResetAbortsQemu) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096);
  clear_ua(*rings, kDisk512);
  ScsiRequest good;
  good.context = 9;
  good.target = kDisk512;
  set_cdb(&good, cdb::test_unit_ready(), DataDir::kNone);
  unsigned seen = host_->intx_raises();
  for (bool write : {false, true}) {
    ScsiRequest bad;
    bad.context = write ? 6 : 5;
    bad.target = kDisk512;
    set_rw16(&bad, write, 0, 1);
    bad.dir = write ? DataDir::kToHost : DataDir::kToDevice;  // contradicts the CDB
    bad.data_paddr = buf;
    bad.data_len = 512;
    ASSERT_TRUE(rings->submit(bad));
  }
  ASSERT_TRUE(rings->submit(good));
  rings->kick(true);
  ASSERT_TRUE(host_->wait_raise_after(seen, kWait));
  rings->ack_interrupts();
  std::vector<Completion> done = rings->reap();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].context, 9u);
  EXPECT_EQ(rings->req_cons(), rings->req_prod());
  EXPECT_EQ(rings->outstanding(), 2u);  // the lost ones

  EXPECT_FALSE(dev_->failed());
  EXPECT_EQ(issue(*dev_, hw::CommandCode::kAdapterReset), hw::kCommandStatusFailed);
  EXPECT_TRUE(dev_->failed());
  EXPECT_NE(dev_->error().find("closed"), std::string::npos) << dev_->error();
  EXPECT_NE(dev_->qemu_stderr().find("pending_queue"), std::string::npos) << dev_->qemu_stderr();
  EXPECT_EQ(dev_->read32(hw::IntrMask::kOffset), 0xFFFFFFFFu);
}

TEST_F(QemuRings, HotAddAndRemovePostMessages) {
  auto rings = make_rings();
  uint64_t buf = mem_->alloc(4096);
  for (int round = 0; round < 2; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    unsigned seen = host_->intx_raises();
    dev_->add_disk({40, 4ull << 20, 512, ""});
    ASSERT_TRUE(host_->wait_raise_after(seen, kWait)) << "no interrupt for DEV_ADDED";
    EXPECT_NE(rings->ack_interrupts() & (hw::IntrMask::kMsg0Mask | hw::IntrMask::kMsg1Mask), 0u);
    std::vector<DevMessage> m = rings->reap_messages();
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].type, hw::to_raw(hw::MsgType::kDevAdded));
    EXPECT_EQ(m[0].bus, 0u);
    EXPECT_EQ(m[0].target, 40u);
    EXPECT_EQ(m[0].lun[1], 0u);
    Completion c = inquiry(*rings, 40, buf, 11);
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));

    seen = host_->intx_raises();
    dev_->remove_disk(40);
    ASSERT_TRUE(host_->wait_raise_after(seen, kWait)) << "no interrupt for DEV_REMOVED";
    EXPECT_NE(rings->ack_interrupts() & (hw::IntrMask::kMsg0Mask | hw::IntrMask::kMsg1Mask), 0u);
    m = rings->reap_messages();
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].type, hw::to_raw(hw::MsgType::kDevRemoved));
    EXPECT_EQ(m[0].target, 40u);
    c = inquiry(*rings, 40, buf, 12);
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSeltimeo));
  }
  EXPECT_THROW(dev_->remove_disk(40), std::runtime_error);
  EXPECT_THROW(dev_->add_disk({kDisk512, 4ull << 20, 512, ""}), std::runtime_error);
}

// Hot remove with writes in flight to the removed disk and to another one: every request
// completes exactly once (the removed disk's with SUCCESS or an error), DEV_REMOVED arrives,
// and the other disk is unaffected.
TEST_F(QemuRings, HotRemoveDuringIoCompletesEverything) {
  auto rings = make_rings(RingGeometry{2, 1, 1, 0});
  dev_->add_disk({40, 16ull << 20, 512, ""});
  clear_ua(*rings, 40);
  clear_ua(*rings, kDisk512);
  rings->ack_interrupts();
  rings->reap_messages();  // DEV_ADDED
  constexpr int kRequests = 40;
  constexpr uint32_t kLen = 64 << 10;
  for (int i = 0; i < kRequests; i++) {
    ScsiRequest r;
    r.context = static_cast<uint64_t>(i + 1);
    r.target = i % 2 != 0 ? 40 : kDisk512;
    set_rw16(&r, true, static_cast<uint64_t>(i) * (kLen / 512), kLen / 512);
    r.data_paddr = mem_->alloc(kLen);
    r.data_len = kLen;
    ASSERT_TRUE(rings->submit(r));
  }
  rings->kick(true);
  dev_->remove_disk(40);
  std::map<uint64_t, Completion> seen;
  int duplicates = 0;
  std::vector<DevMessage> msgs;
  while (seen.size() < static_cast<size_t>(kRequests) || msgs.empty()) {
    unsigned raises = host_->intx_raises();
    rings->ack_interrupts();
    for (const Completion &c : rings->reap()) {
      duplicates += seen.count(c.context) != 0 ? 1 : 0;
      seen[c.context] = c;
    }
    for (const DevMessage &m : rings->reap_messages()) {
      msgs.push_back(m);
    }
    if (seen.size() < static_cast<size_t>(kRequests) || msgs.empty()) {
      ASSERT_TRUE(host_->wait_raise_after(raises, kWait))
          << seen.size() << " of " << kRequests << " completed, " << msgs.size() << " messages";
    }
  }
  EXPECT_EQ(duplicates, 0);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].type, hw::to_raw(hw::MsgType::kDevRemoved));
  EXPECT_EQ(msgs[0].target, 40u);
  std::map<uint16_t, int> removed_statuses;
  for (const auto &[ctx, c] : seen) {
    if (ctx % 2 == 1) {  // kDisk512
      EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess)) << "context " << ctx;
      EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood)) << "context " << ctx;
    } else {
      removed_statuses[c.host_status]++;
    }
  }
  std::printf("removed disk's requests:");
  for (const auto &[hs, n] : removed_statuses) {
    std::printf(" host 0x%x x%d", hs, n);
  }
  std::printf("\n");
}

// QEMU's pvscsi bus has LUN 0 only: a disk on another LUN cannot be attached.
TEST_F(QemuRings, OnlyLunZeroExists) {
  auto rings = make_rings();
  dev_->qmp("blockdev-add", {{"driver", "null-co"}, {"node-name", "lun1"}, {"size", 1 << 20}});
  try {
    dev_->qmp("device_add", {{"driver", "scsi-hd"},
                             {"bus", "hba.0"},
                             {"scsi-id", kDisk512},
                             {"lun", 1},
                             {"drive", "lun1"}});
    FAIL() << "attached a disk on LUN 1";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("bad scsi device lun"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dev_->qmp("no-such-command"), std::runtime_error);
  // A request to LUN 1 of a present target reaches the target: INQUIRY answers "no logical
  // unit" (peripheral qualifier 3, type 1Fh); TEST UNIT READY is ILLEGAL REQUEST, LOGICAL UNIT
  // NOT SUPPORTED (5/25/00) once the target's power-on unit attention has been consumed.
  clear_ua(*rings, kDisk512);
  uint64_t buf = mem_->alloc(4096);
  ScsiRequest r = inquiry_request(kDisk512, buf, 8);
  r.lun = 1;
  Completion c = run_one(*rings, r, false);
  EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
  EXPECT_EQ(mem_->ptr(buf, 1)[0], 0x7F);
  set_cdb(&r, cdb::test_unit_ready(), DataDir::kNone);
  c = run_one(*rings, r, false);
  EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kCheckCondition));
  EXPECT_EQ(sense(), "5/25/00");
}

TEST_F(QemuRings, HotAddOfABadImageReportsQemusError) {
  try {
    dev_->add_disk({41, 4ull << 20, 512, "/proc/version"});
    FAIL() << "attached a disk on /proc/version";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("target 41"), std::string::npos) << e.what();
  }
}

enum ResetKind { kAdapterReset, kResetBus, kResetDevice, kAbort };

// Writes `count` requests of `len` bytes of a pattern each, alternately to targets 4 and 3
// (context i + 1 at block i * len / 512), and kicks once; `data` gets each request's bytes.
void submit_writes(HandRings &rings, GuestAllocator &mem, int count, uint32_t len,
                   std::vector<std::vector<uint8_t>> *data) {
  for (int i = 0; i < count; i++) {
    ScsiRequest r;
    r.context = static_cast<uint64_t>(i + 1);
    r.target = i % 2 != 0 ? 3 : 4;
    set_rw16(&r, true, static_cast<uint64_t>(i) * (len / 512), len / 512);
    r.data_paddr = mem.alloc(len);
    r.data_len = len;
    data->push_back(pattern(len, static_cast<uint32_t>(i)));
    std::memcpy(mem.ptr(r.data_paddr, len), data->back().data(), len);
    ASSERT_TRUE(rings.submit(r));
  }
  rings.kick(true);
}

// The command of `kind`: RESET_DEVICE resets target 3, ABORT_CMD aborts `abort_context` there.
uint32_t issue_reset(HandRings &rings, ResetKind kind, uint64_t abort_context) {
  if (kind == kAdapterReset) {
    return rings.command(hw::CommandCode::kAdapterReset);
  }
  if (kind == kResetBus) {
    return rings.command(hw::CommandCode::kResetBus);
  }
  if (kind == kResetDevice) {
    hw::CmdDescResetDevice d{};
    d.set_target(3);
    return rings.command(hw::CommandCode::kResetDevice, d);
  }
  hw::CmdDescAbortCmd d{};
  d.set_context(abort_context).set_target(3);
  return rings.command(hw::CommandCode::kAbortCmd, d);
}

// Collects the completions of `count` requests after the reset of `kind`: what the reset
// drained synchronously (all of them after ADAPTER_RESET and RESET_BUS, target 3's after
// RESET_DEVICE), then the rest by interrupt (not after ADAPTER_RESET: the rings are gone, so
// everything must already be there). A context seen again counts in *duplicates.
void collect_after_reset(HandRings &rings, TestHost &host, ResetKind kind, int count,
                         std::map<uint64_t, Completion> *seen, int *duplicates) {
  auto collect = [&] {
    for (const Completion &c : rings.reap()) {
      *duplicates += seen->count(c.context) != 0 ? 1 : 0;
      (*seen)[c.context] = c;
    }
  };
  collect();
  if (kind == kAdapterReset || kind == kResetBus) {
    EXPECT_EQ(seen->size(), static_cast<size_t>(count));
  }
  if (kind == kResetDevice) {
    for (int i = 1; i < count; i += 2) {
      EXPECT_EQ(seen->count(static_cast<uint64_t>(i + 1)), 1u) << "target 3 request " << i;
    }
  }
  while (kind != kAdapterReset && seen->size() < static_cast<size_t>(count)) {
    unsigned raises = host.intx_raises();
    rings.ack_interrupts();
    collect();
    if (seen->size() < static_cast<size_t>(count)) {
      ASSERT_TRUE(host.wait_raise_after(raises, kWait))
          << seen->size() << " of " << count << " completed";
    }
  }
}

// The image file of `target` holds `data` at `offset`: read directly, an oracle independent of
// the device's answers.
void expect_image_holds(QemuDevice &dev, unsigned target, off_t offset,
                        const std::vector<uint8_t> &data, int i) {
  int fd = open(dev.image_path(target).c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> disk(data.size());
  ASSERT_EQ(pread(fd, disk.data(), data.size(), offset), static_cast<ssize_t>(data.size()));
  close(fd);
  EXPECT_TRUE(disk == data) << "acknowledged write " << i;
}

// Resets and aborts with requests in flight (48 writes of 128 KiB on two disks): every request
// completes exactly once. ADAPTER_RESET and RESET_BUS complete all of them (SUCCESS or
// BUSRESET) before COMMAND_STATUS can be read; RESET_DEVICE does so for its target; ABORT_CMD
// completes the aborted one with SUCCESS or ABORTQUEUE. Writes completed with SUCCESS are in the
// image files (read directly: an oracle independent of the device's answers).
TEST(QemuResets, EveryRequestCompletesExactlyOnce) {
  for (ResetKind kind : {kAdapterReset, kResetBus, kResetDevice, kAbort}) {
    SCOPED_TRACE("kind " + std::to_string(kind));
    QemuOptions o;
    o.disks.push_back({3, 32ull << 20, 512, ""});
    o.disks.push_back({4, 32ull << 20, 512, ""});
    QemuDevice dev(o);
    TestHost host(dev);
    GuestAllocator mem(dev);
    dev.connect(&host);
    dev.set_intr_mode(fk::kIntrFixed, 1);
    HandRings rings(dev, host, mem, RingGeometry{2, 1, 1, 0});
    ASSERT_EQ(rings.setup(), hw::kCommandStatusSuccess);
    std::string err;
    ASSERT_TRUE(rings.clear_unit_attention(host, 3, kWait, &err)) << err;
    ASSERT_TRUE(rings.clear_unit_attention(host, 4, kWait, &err)) << err;

    constexpr int kRequests = 48;
    constexpr uint32_t kLen = 128 << 10;
    std::vector<std::vector<uint8_t>> data;
    ASSERT_NO_FATAL_FAILURE(submit_writes(rings, mem, kRequests, kLen, &data));
    EXPECT_EQ(issue_reset(rings, kind, kRequests - 1), hw::kCommandStatusSuccess);

    std::map<uint64_t, Completion> seen;
    int duplicates = 0;
    ASSERT_NO_FATAL_FAILURE(collect_after_reset(rings, host, kind, kRequests, &seen, &duplicates));
    EXPECT_EQ(duplicates, 0);
    EXPECT_EQ(seen.size(), static_cast<size_t>(kRequests));

    std::map<uint16_t, int> statuses;
    for (const auto &[ctx, c] : seen) {
      statuses[c.host_status]++;
      uint16_t allowed = kind == kAbort && ctx == kRequests - 1
                             ? hw::to_raw(hw::HostStatus::kAbortqueue)
                             : hw::to_raw(hw::HostStatus::kBusreset);
      EXPECT_TRUE(c.host_status == hw::to_raw(hw::HostStatus::kSuccess) || c.host_status == allowed)
          << "context " << ctx << " host status " << c.host_status;
      if (kind == kAbort && ctx != kRequests - 1) {
        EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess)) << "context " << ctx;
      }
      if (kind == kResetDevice && ctx % 2 == 1) {  // target 4 is not reset
        EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess)) << "context " << ctx;
      }
      if (c.host_status == hw::to_raw(hw::HostStatus::kSuccess)) {
        EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
        int i = static_cast<int>(ctx - 1);
        ASSERT_NO_FATAL_FAILURE(expect_image_holds(dev, i % 2 != 0 ? 3 : 4,
                                                   static_cast<off_t>(i) * kLen,
                                                   data[static_cast<size_t>(i)], i));
      }
    }
    std::printf("kind %d:", kind);
    for (const auto &[hs, n] : statuses) {
      std::printf(" host 0x%x x%d", hs, n);
    }
    std::printf("\n");
    EXPECT_FALSE(dev.failed()) << dev.error() << dev.qemu_stderr();
    dev.disconnect();
  }
}

// Eight disks on sparse targets (0 absent, up to 64, QEMU's highest), mixed block sizes: every
// one answers INQUIRY and READ CAPACITY(16) with its own size; the gaps are SELTIMEO.
TEST(QemuSparseTargets, EightDisksAnswerAndGapsTimeOut) {
  const unsigned kTargets[] = {1, 2, 5, 7, 15, 16, 40, 64};
  QemuOptions o;
  for (unsigned i = 0; i < 8; i++) {
    o.disks.push_back({kTargets[i], (4ull + i) << 20, i % 2 == 0 ? 512u : 4096u, ""});
  }
  QemuDevice dev(o);
  TestHost host(dev);
  GuestAllocator mem(dev);
  dev.connect(&host);
  dev.set_intr_mode(fk::kIntrFixed, 1);
  HandRings rings(dev, host, mem);
  ASSERT_EQ(rings.setup(), hw::kCommandStatusSuccess);
  uint64_t buf = mem.alloc(4096);
  std::string err;
  uint64_t ctx = 1;
  for (unsigned i = 0; i < 8; i++) {
    SCOPED_TRACE("target " + std::to_string(kTargets[i]));
    ASSERT_TRUE(rings.clear_unit_attention(host, static_cast<uint8_t>(kTargets[i]), kWait, &err))
        << err;
    ScsiRequest r;
    r.context = ctx++;
    r.target = static_cast<uint8_t>(kTargets[i]);
    set_cdb(&r, cdb::read_capacity16(32), DataDir::kToHost);
    r.data_paddr = buf;
    r.data_len = 32;
    Completion c;
    ASSERT_TRUE(rings.execute(host, r, false, kWait, &c, &err)) << err;
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
    EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
    const uint8_t *d = mem.ptr(buf, 32);
    uint64_t last_lba = 0;
    for (int b = 0; b < 8; b++) {
      last_lba = last_lba << 8 | d[b];
    }
    uint32_t block = static_cast<uint32_t>(d[8]) << 24 | d[9] << 16 | d[10] << 8 | d[11];
    EXPECT_EQ(block, o.disks[i].block_size);
    EXPECT_EQ((last_lba + 1) * block, o.disks[i].size_bytes);
  }
  for (unsigned t : {0u, 3u, 39u, 41u, 63u}) {
    ScsiRequest r;
    r.context = ctx++;
    r.target = static_cast<uint8_t>(t);
    set_cdb(&r, cdb::test_unit_ready(), DataDir::kNone);
    Completion c;
    ASSERT_TRUE(rings.execute(host, r, false, kWait, &c, &err)) << err;
    EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSeltimeo)) << "target " << t;
  }
  dev.disconnect();
}

// A write sent one block beyond where it belongs: the byte range of its intended and actual
// blocks.
struct PlantedWrite {
  unsigned target = 0;
  uint64_t begin = 0, end = 0;
};

// One round of random writes (512 B to 256 KiB, on kDisk512 and kDisk4k) through the rings, one
// buffer of `bufs` per slot, each completed write told to the oracle. The write numbered
// `planted_index` is misdirected by one block. In-flight writes never overlap, so completion
// order cannot matter to the oracle; and no later write covers the planted one, so it stays
// detectable.
class WriteRound {
 public:
  WriteRound(QemuDevice &dev, TestHost &host, GuestAllocator &mem, HandRings &rings,
             ImageOracle &oracle, const std::vector<uint64_t> &bufs, std::mt19937 &rng, int count)
      : dev_(dev),
        host_(host),
        mem_(mem),
        rings_(rings),
        oracle_(oracle),
        bufs_(bufs),
        rng_(rng),
        count_(count) {
    for (size_t i = 0; i < bufs.size(); i++) {
      free_slots_.push_back(static_cast<unsigned>(i));
    }
  }

  void run(int planted_index, PlantedWrite *planted) {
    planted_index_ = planted_index;
    planted_ = planted;
    while (completed_ < count_) {
      if (!issue() || !reap()) {
        return;
      }
    }
  }

 private:
  struct Pending {
    unsigned target;
    uint64_t offset;
    std::vector<uint8_t> data;
  };

  bool overlaps(unsigned target, uint64_t off, uint64_t len) const {
    if (planted_->end != 0 && planted_->target == target && off < planted_->end + 4096 &&
        planted_->begin < off + len + 4096) {
      return true;
    }
    for (const auto &[ctx, p] : pending_) {
      if (p.target == target && off < p.offset + p.data.size() + 4096 &&
          p.offset < off + len + 4096) {
        return true;
      }
    }
    return false;
  }

  // Fills the free slots with writes that overlap nothing in flight, then kicks. False: the
  // ring was full (a failure).
  bool issue() {
    bool any = false;
    while (!free_slots_.empty() && issued_ < count_) {
      unsigned target = rng_() % 2 == 0 ? kDisk512 : kDisk4k;
      uint32_t bs = target == kDisk4k ? 4096 : 512;
      uint32_t blocks = 1 + rng_() % ((256u << 10) / bs);
      uint64_t lba = rng_() % ((8ull << 20) / bs - blocks - 1);
      if (overlaps(target, lba * bs, uint64_t{blocks} * bs)) {
        continue;
      }
      unsigned slot = free_slots_.back();
      free_slots_.pop_back();
      Pending p{target, lba * bs, pattern(blocks * bs, rng_())};
      std::memcpy(mem_.ptr(bufs_[slot], p.data.size()), p.data.data(), p.data.size());
      ScsiRequest r;
      r.context = (static_cast<uint64_t>(issued_ + 1) << 8) | slot;
      r.target = static_cast<uint8_t>(target);
      bool plant = issued_ == planted_index_;
      if (plant) {
        *planted_ = {target, lba * bs, (lba + blocks + 1) * bs};
      }
      set_rw16(&r, true, plant ? lba + 1 : lba, blocks);
      r.data_paddr = bufs_[slot];
      r.data_len = p.data.size();
      if (!rings_.submit(r)) {
        ADD_FAILURE() << "ring full";
        return false;
      }
      pending_[r.context] = std::move(p);
      issued_++;
      any = true;
    }
    if (any) {
      rings_.kick(true);
    }
    return true;
  }

  // Takes the completions there are (each one's write goes to the oracle), or waits for an
  // interrupt when there are none. False: a failure.
  bool reap() {
    unsigned raises = host_.intx_raises();
    rings_.ack_interrupts();
    std::vector<Completion> done = rings_.reap();
    for (const Completion &c : done) {
      auto it = pending_.find(c.context);
      if (it == pending_.end()) {
        ADD_FAILURE() << "unknown or repeated context " << c.context;
        return false;
      }
      EXPECT_EQ(c.host_status, hw::to_raw(hw::HostStatus::kSuccess));
      EXPECT_EQ(c.scsi_status, hw::to_raw(hw::ScsiStatus::kGood));
      const Pending &p = it->second;
      oracle_.expect(dev_.image_path(p.target), p.offset, p.data.data(), p.data.size());
      free_slots_.push_back(static_cast<unsigned>(c.context & 0xFF));
      pending_.erase(it);
      completed_++;
    }
    if (done.empty() && completed_ < count_ && !host_.wait_raise_after(raises, kWait)) {
      ADD_FAILURE() << "no interrupt; " << completed_ << " of " << count_ << " completed";
      return false;
    }
    return true;
  }

  QemuDevice &dev_;
  TestHost &host_;
  GuestAllocator &mem_;
  HandRings &rings_;
  ImageOracle &oracle_;
  const std::vector<uint64_t> &bufs_;
  std::mt19937 &rng_;
  const int count_;
  int planted_index_ = -1;
  PlantedWrite *planted_ = nullptr;
  std::map<uint64_t, Pending> pending_;
  std::vector<unsigned> free_slots_;
  int issued_ = 0, completed_ = 0;
};

// Random writes of mixed sizes (512 B to 256 KiB, both block sizes) at queue depth 32 through
// the rings, checked by the image oracle (the image files read directly). A clean round passes;
// a round with one planted misdirected write (sent one block beyond where it belongs) fails, and
// only in the blocks that write touched or should have touched.
TEST_F(QemuRings, RandomWritesVerifiedByTheImageOracle) {
  auto rings = make_rings(RingGeometry{1, 1, 1, 0});
  clear_ua(*rings, kDisk512);
  clear_ua(*rings, kDisk4k);
  ImageOracle oracle;
  for (unsigned t : {kDisk512, kDisk4k}) {
    ASSERT_TRUE(oracle.expect_zero(dev_->image_path(t), 0, 8ull << 20));
  }
  constexpr int kRequests = 96, kDepth = 32;
  std::vector<uint64_t> bufs;
  for (int i = 0; i < kDepth; i++) {
    bufs.push_back(mem_->alloc(256 << 10, k4GiB));
  }
  std::mt19937 rng(42);
  auto round = [&](int planted_index, PlantedWrite *planted) {
    WriteRound(*dev_, *host_, *mem_, *rings, oracle, bufs, rng, kRequests)
        .run(planted_index, planted);
  };

  PlantedWrite none;
  round(-1, &none);
  std::vector<ImageOracle::Mismatch> bad = oracle.verify();
  EXPECT_TRUE(bad.empty()) << bad.size() << " mismatches, first at " << bad[0].offset;

  PlantedWrite planted;
  round(17, &planted);
  bad = oracle.verify(1000);
  EXPECT_FALSE(bad.empty()) << "the misdirected write went unnoticed";
  for (const auto &m : bad) {
    EXPECT_EQ(m.image, dev_->image_path(planted.target));
    EXPECT_GE(m.offset, planted.begin);
    EXPECT_LT(m.offset, planted.end);
  }
}

TEST(RingBaseline, RunsBrieflyAndReportsIopsAndLatency) {
  QemuOptions o;
  o.disks.push_back({2, 16ull << 20, 512, ""});
  QemuDevice dev(o);
  BaselineOptions b;
  b.target = 2;
  b.queue_depth = 8;
  b.total_ios = 300;
  b.write_percent = 50;
  BaselineResult r = run_ring_baseline(dev, b);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.ios, 300u);
  EXPECT_EQ(r.reads + r.writes, 300u);
  EXPECT_GT(r.reads, 0u);
  EXPECT_GT(r.writes, 0u);
  EXPECT_GT(r.iops, 0);
  EXPECT_GT(r.kicks, 0u);
  EXPECT_GT(r.interrupts, 0u);
  // Register traffic of the loop: a doorbell per kick, an INTR_STATUS read per pass and a
  // write-back per acknowledged interrupt.
  EXPECT_EQ(r.register_writes, r.kicks + r.interrupts);
  EXPECT_GE(r.register_reads, r.interrupts);
  EXPECT_GT(r.p99_latency_us, 0);
  EXPECT_LE(r.p50_latency_us, r.p99_latency_us);
  EXPECT_LE(r.p99_latency_us, r.max_latency_us);
  std::printf("baseline qd8 4k 50%%w: %.0f IOPS, mean %.1f us, p99 %.1f us, %lu kicks, %lu irqs\n",
              r.iops, r.mean_latency_us, r.p99_latency_us, static_cast<unsigned long>(r.kicks),
              static_cast<unsigned long>(r.interrupts));

  // Deeper queue (two request-ring pages), all writes, on the same QEMU.
  b.queue_depth = 48;
  b.write_percent = 100;
  r = run_ring_baseline(dev, b);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.writes, 300u);

  // Bad options and a missing target are errors, not hangs or crashes.
  b.io_bytes = 1000;
  r = run_ring_baseline(dev, b);
  EXPECT_FALSE(r.ok);
  b.io_bytes = 4096;
  b.target = 5;
  b.total_ios = 10;
  r = run_ring_baseline(dev, b);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("target 5"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace pvscsi_qemu
