#include "qemu_hba.h"

#include <dirent.h>
#include <signal.h>
#include <sys/scsi/scsi.h>
#include <sys/sunddi.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "qemu_arena.h"

namespace driver_on_qemu {

namespace {

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tmp_dir() {
  const char *t = getenv("TMPDIR");
  return (t != nullptr && *t != '\0') ? t : "/tmp";
}

std::vector<std::string> entries_with_prefix(const std::string &dir, const std::string &prefix) {
  std::vector<std::string> out;
  DIR *d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent *e = readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(dir + "/" + n);
  }
  closedir(d);
  return out;
}

unsigned target_of(const std::string &addr) { return unsigned(strtoul(addr.c_str(), nullptr, 16)); }

fk::client::IoOptions sync_io() {
  fk::client::IoOptions o;
  o.drive_clock = false;  // real clock
  o.timeout_s = 10;
  return o;
}

}  // namespace

pvscsi_qemu::DiskSpec disk(unsigned target, uint64_t mib, unsigned block_size) {
  pvscsi_qemu::DiskSpec d;
  d.target = target;
  d.size_bytes = mib << 20;
  d.block_size = block_size;
  return d;
}

QemuHba::QemuHba(const HbaOptions &o) {
  pvscsi_qemu::QemuOptions qo;
  qo.disks = o.disks;
  for (const auto &d : o.disks) initial_targets_.push_back(d.target);
  qo.ram_below_4g = o.ram_bytes + pvscsi_qemu::QemuDevice::kArenaStart;
  qo.ram_above_4g = o.ram_above_4g;
  qo.offer_msi = o.offer_msi;
  qemu_.reset(new pvscsi_qemu::QemuDevice(qo));
  shm_path = qemu_->shm_path();
  run_dir = qemu_->run_dir();
  qemu_pid = qemu_->pid();
  tap_.reset(new TapDevice(qemu_.get()));

  fk::Options ko;
  ko.segments = pvscsi_qemu::arena_segments(*qemu_);
  ko.clock = fk::ClockMode::kReal;
  ko.sync_audit = o.sync_audit;
  ko.echo_console = getenv("PVSCSI_TEST_VERBOSE") != nullptr;
  fk::boot(ko);
  std::string err = fk::load_driver_conf_file(PVSCSI_CONF_PATH);
  if (err.empty() && !o.extra_conf.empty()) err = fk::load_driver_conf(o.extra_conf);
  if (!err.empty()) throw std::runtime_error("driver.conf: " + err);
  if (fk::load_driver("pvscsi") != 0) throw std::runtime_error("pvscsi _init failed");
  dip_ = fk::add_pci_node(tap_.get());
  if (dip_ == nullptr) throw std::runtime_error("cannot add the PCI node");
}

QemuHba::~QemuHba() { stop(); }

int QemuHba::attach() {
  if (fk::attach(dip_) != DDI_SUCCESS) return DDI_FAILURE;
  attached_ = true;
  (void)fk::client::discover(dip_);
  return DDI_SUCCESS;
}

int QemuHba::detach() {
  if (!attached_) return DDI_SUCCESS;
  (void)fk::client::settle(10000);
  if (fk::scsa::unconfig_iports(dip_) != DDI_SUCCESS) return DDI_FAILURE;
  int rc = fk::detach(dip_);
  if (rc == DDI_SUCCESS) attached_ = false;
  return rc;
}

std::vector<Disk> QemuHba::disks() {
  (void)fk::client::settle(10000);
  std::vector<Disk> out;
  for (const auto &l : fk::client::discover(dip_)) {
    if (l.lun != 0) continue;
    Disk d;
    d.target = target_of(l.target);
    d.sd = l.sd;
    fk::client::Result r = fk::client::read_capacity(l.sd, &d.blocks, &d.block_size, sync_io());
    if (!r.ok()) {
      ADD_FAILURE() << "READ CAPACITY of target " << d.target << ": " << r.describe();
      continue;
    }
    d.image = qemu_->image_path(d.target);
    out.push_back(d);
  }
  return out;
}

Disk QemuHba::wait_target(unsigned target, bool present, std::chrono::milliseconds bound) {
  auto until = std::chrono::steady_clock::now() + bound;
  for (;;) {
    (void)fk::client::settle(1000);
    bool found = false;
    for (const auto &l : fk::client::online_luns())
      if (target_of(l.target) == target && l.lun == 0) found = true;
    if (found == present) {
      if (!present) return Disk{};
      for (const Disk &d : disks())
        if (d.target == target) return d;
    }
    if (std::chrono::steady_clock::now() > until) return Disk{};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

const pvscsi::pvscsi_softc *QemuHba::softc() const {
  auto *tran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(dip_));
  if (tran == nullptr) return nullptr;
  return static_cast<const pvscsi::pvscsi_softc *>(tran->tran_hba_private);
}

void QemuHba::throttle(unsigned target, int iops) {
  // tests/devices/qemu names a disk's qdev "disk<target>-<n>", n counting disks in creation order.
  std::string id;
  for (size_t i = 0; i < initial_targets_.size(); i++)
    if (initial_targets_[i] == target)
      id = "disk" + std::to_string(target) + "-" + std::to_string(i);
  if (id.empty())
    throw std::runtime_error("throttle: no initial disk on target " + std::to_string(target));
  qemu_->qmp("block_set_io_throttle", {{"id", id},
                                       {"bps", 0},
                                       {"bps_rd", 0},
                                       {"bps_wr", 0},
                                       {"iops", iops},
                                       {"iops_rd", 0},
                                       {"iops_wr", 0}});
}

uint64_t QemuHba::stat(const std::string &name) const {
  auto v = fk::kstat_value("pvscsi", ddi_get_instance(dip_), "stats", name);
  EXPECT_TRUE(v.has_value()) << "no kstat pvscsi:stats:" << name;
  return v.value_or(0);
}

void QemuHba::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (fk::booted()) {
    if (attached_) {
      EXPECT_EQ(detach(), DDI_SUCCESS) << "detach at the end of the test";
    }
    if (dip_ != nullptr && !attached_) fk::remove_node(dip_);
    dip_ = nullptr;
    EXPECT_EQ(fk::unload_driver(), 0);
    fk::shutdown();
  }
  if (qemu_) qemu_->stop();
  qemu_.reset();
}

std::vector<std::string> qemu_leftovers() {
  std::string prefix = "pvscsi-qemu-" + std::to_string(getpid()) + "-";
  std::vector<std::string> out = entries_with_prefix("/dev/shm", prefix);
  for (const std::string &p : entries_with_prefix(tmp_dir(), prefix)) out.push_back(p);
  // Child processes (QEMU is started by this process).
  DIR *d = opendir("/proc");
  if (d != nullptr) {
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::string stat = read_text(std::string("/proc/") + e->d_name + "/stat");
      size_t rp = stat.rfind(')');
      if (rp == std::string::npos) continue;
      char state = 0;
      int ppid = 0;
      if (sscanf(stat.c_str() + rp + 1, " %c %d", &state, &ppid) != 2) continue;
      if (ppid == getpid() && stat.find("qemu") != std::string::npos)
        out.push_back(std::string("process ") + e->d_name + " " + stat.substr(0, rp + 1));
    }
    closedir(d);
  }
  return out;
}

QemuHba *QemuTest::start(const HbaOptions &o) {
  try {
    hba_.reset(new QemuHba(o));
  } catch (const std::exception &e) {
    ADD_FAILURE() << "QEMU-backed HBA did not start: " << e.what();
    if (fk::booted()) fk::shutdown();
    return nullptr;
  }
  return hba_.get();
}

QemuHba *QemuTest::start_attached(const HbaOptions &o) {
  QemuHba *hba = start(o);
  if (hba == nullptr) return nullptr;
  int rc = hba->attach();
  if (rc != DDI_SUCCESS) {
    ADD_FAILURE() << "attach of the QEMU-backed HBA failed: " << rc;
    return nullptr;
  }
  return hba;
}

QemuHba *QemuTest::start_attached(std::vector<pvscsi_qemu::DiskSpec> disks) {
  HbaOptions o;
  o.disks = std::move(disks);
  return start_attached(o);
}

void QemuTest::finish() {
  if (finished_) return;
  finished_ = true;
  std::string shm, dir;
  pid_t pid = -1;
  if (hba_) {
    shm = hba_->shm_path;
    dir = hba_->run_dir;
    pid = hba_->qemu_pid;
    hba_->stop();
    hba_.reset();
  }
  for (const std::string &m : fk::leftovers(allowed_violations_)) ADD_FAILURE() << m;
  for (const auto &m : fk::console()) {
    if (m.level != CE_WARN && m.level != CE_PANIC) continue;
    bool allowed = false;
    for (const auto &w : allowed_warnings_)
      allowed = allowed || m.text.find(w) != std::string::npos;
    if (!allowed) ADD_FAILURE() << "console warning: " << m.text;
  }
  if (!shm.empty()) {
    EXPECT_NE(access(shm.c_str(), F_OK), 0) << "shared memory left: " << shm;
  }
  if (!dir.empty()) {
    EXPECT_NE(access(dir.c_str(), F_OK), 0) << "run directory left: " << dir;
  }
  if (pid > 0) {
    EXPECT_TRUE(kill(pid, 0) != 0 && errno == ESRCH) << "QEMU " << pid << " alive";
  }
  for (const auto &l : qemu_leftovers()) ADD_FAILURE() << "left behind: " << l;
}

void QemuTest::TearDown() { finish(); }

}  // namespace driver_on_qemu
