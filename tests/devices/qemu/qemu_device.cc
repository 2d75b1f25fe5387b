#include "qemu_device.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "cleanup_registry.h"
#include "qmp_client.h"
#include "qtest_client.h"

namespace pvscsi_qemu {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint16_t kPvscsiVendor = 0x15AD;  // PCI identity (reference: "PCI identity and BAR")
constexpr uint16_t kPvscsiDevice = 0x07C0;
constexpr unsigned kPiix3Dev = 1;          // PIIX3 ISA bridge, 00:01.0
constexpr uint32_t kPiixPirqRoute = 0x60;  // PIRQA..D route registers, one byte each
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t k4GiB = 1ull << 32;
constexpr unsigned kMaxTarget = 64;

std::atomic<unsigned> g_run_counter{0};

std::string errno_text(const std::string &what) { return what + ": " + strerror(errno); }

// Resolves a program name the way execvp would, before fork (execv in the child is then safe).
std::string resolve_binary(const std::string &name) {
  if (name.empty()) {
    return "";
  }
  if (name.find('/') != std::string::npos) {
    return access(name.c_str(), X_OK) == 0 ? name : "";
  }
  const char *path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

}  // namespace

QemuDevice::QemuDevice(QemuOptions options) : opt_(std::move(options)) {
  try {
    start();
  } catch (...) {
    stop();
    throw;
  }
}

QemuDevice::~QemuDevice() {
  try {
    stop();
  } catch (...) {
  }
}

// Waits up to `bound` for the QEMU process to exit (pidfd + poll: no sleeping); true if it did.
bool QemuDevice::wait_exit(std::chrono::milliseconds bound) {
  if (!alive()) {
    return true;
  }
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pfd >= 0) {
    pollfd p{pfd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(bound.count()));
    close(pfd);
  }
  return !alive();
}

void QemuDevice::fail_start(const std::string &why) {
  // A closed connection usually means QEMU is on its way out: give it a moment so the message
  // can say so and its stderr is complete.
  bool exited = wait_exit(std::chrono::milliseconds(1000));
  std::string err = qemu_stderr();
  std::string status;
  if (exited && exit_status_ >= 0) {
    status = WIFEXITED(exit_status_) ? "exit status " + std::to_string(WEXITSTATUS(exit_status_))
                                     : "signal " + std::to_string(WTERMSIG(exit_status_));
  }
  stop();
  std::string msg = "QEMU (" + opt_.binary + "): ";
  if (exited && why.find("exited") == std::string::npos) {
    msg += "QEMU exited during start-up (" + status + "): ";
  } else if (exited && !status.empty()) {
    msg += "(" + status + ") ";
  }
  msg += why;
  if (!err.empty()) {
    msg += "\n--- QEMU stderr ---\n" + err;
  }
  throw std::runtime_error(msg);
}

std::string QemuDevice::qemu_stderr() const {
  if (stderr_path_.empty()) {
    return "";
  }
  FILE *f = std::fopen(stderr_path_.c_str(), "r");
  if (f == nullptr) {
    return "";
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out.append(buf, n);
  }
  std::fclose(f);
  constexpr size_t kKeep = 8192;
  if (out.size() > kKeep) {
    out = "..." + out.substr(out.size() - kKeep);
  }
  return out;
}

void QemuDevice::make_run_dir() {
  std::string tmp = opt_.tmp_dir;
  if (tmp.empty()) {
    const char *t = getenv("TMPDIR");
    tmp = t != nullptr && *t != '\0' ? t : "/tmp";
  }
  cleanup::sweep_stale(tmp);
  dir_ = tmp + "/" + cleanup::kNamePrefix + std::to_string(getpid()) + "-" +
         std::to_string(g_run_counter++);
  if (mkdir(dir_.c_str(), 0700) != 0) {
    std::string err = errno_text("cannot create run directory " + dir_);
    dir_.clear();
    throw std::runtime_error(err);
  }
  dir_cleanup_ = cleanup::add_dir(dir_);
  qtest_path_ = dir_ + "/qtest.sock";
  qmp_path_ = dir_ + "/qmp.sock";
  stderr_path_ = dir_ + "/qemu.stderr";
  if (qtest_path_.size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw std::runtime_error("socket path too long (set a shorter tmp_dir): " + qtest_path_);
  }
}

void QemuDevice::make_shared_ram() {
  shm_size_ = opt_.ram_below_4g + opt_.ram_above_4g;
  shm_path_ = std::string("/dev/shm/") + cleanup::kNamePrefix + std::to_string(getpid()) + "-" +
              dir_.substr(dir_.rfind('-') + 1) + "-ram";
  shm_fd_ = open(shm_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (shm_fd_ < 0) {
    std::string err = errno_text("cannot create shared guest RAM " + shm_path_);
    shm_path_.clear();
    throw std::runtime_error(err);
  }
  shm_cleanup_ = cleanup::add_file(shm_path_);
  if (ftruncate(shm_fd_, static_cast<off_t>(shm_size_)) != 0) {
    throw std::runtime_error(errno_text("cannot size shared guest RAM " + shm_path_));
  }
  void *p = mmap(nullptr, shm_size_, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd_, 0);
  if (p == MAP_FAILED) {
    throw std::runtime_error(errno_text("cannot map shared guest RAM " + shm_path_));
  }
  shm_base_ = static_cast<uint8_t *>(p);
}

void QemuDevice::prepare_image(Disk *disk) {
  const DiskSpec &s = disk->spec;
  if (s.target > kMaxTarget) {
    throw std::runtime_error("disk target " + std::to_string(s.target) +
                             " out of range (QEMU's pvscsi accepts 0.." +
                             std::to_string(kMaxTarget) + ")");
  }
  if (s.block_size != 512 && s.block_size != 4096) {
    throw std::runtime_error("disk block size " + std::to_string(s.block_size) +
                             " not supported (512 or 4096)");
  }
  if (s.size_bytes == 0 || s.size_bytes % s.block_size != 0) {
    throw std::runtime_error("disk size " + std::to_string(s.size_bytes) +
                             " must be a non-zero multiple of the block size");
  }
  std::string path = s.image_path;
  int flags = O_RDWR | O_CREAT | O_CLOEXEC;
  if (path.empty()) {
    path = dir_ + "/disk-t" + std::to_string(s.target) + "-" + std::to_string(next_node_) + ".img";
    flags |= O_EXCL;
  }
  int fd = open(path.c_str(), flags, 0600);
  if (fd < 0) {
    throw std::runtime_error(errno_text("cannot create disk image " + path));
  }
  if (s.image_path.empty()) {
    disk->image_cleanup = cleanup::add_file(path);
  }
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && (static_cast<uint64_t>(st.st_size) >= s.size_bytes ||
                                    ftruncate(fd, static_cast<off_t>(s.size_bytes)) == 0);
  std::string err = ok ? "" : errno_text("cannot size disk image " + path);
  close(fd);
  if (!ok) {
    throw std::runtime_error(err);
  }
  disk->spec.image_path = path;
  disk->node = "drive" + std::to_string(next_node_);
  disk->dev_id = "disk" + std::to_string(s.target) + "-" + std::to_string(next_node_);
  next_node_++;
}

bool QemuDevice::alive() {
  if (pid_ <= 0 || exited_) {
    return false;
  }
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exited_ = true;
    exit_status_ = status;
    cleanup::release(pid_cleanup_);  // reaped: never signal this pid again
    pid_cleanup_ = -1;
    return false;
  }
  return true;
}

namespace {

// The child of fork(): only async-signal-safe calls until exec. It dies with its parent, takes
// /dev/null as standard input and output and `err_fd` as standard error; when exec fails it
// reports errno on `errno_pipe`.
[[noreturn]] void exec_child(pid_t parent, int null_fd, int err_fd, int errno_pipe, const char *exe,
                             char *const *argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(127);
  }
  dup2(null_fd, 0);
  dup2(null_fd, 1);
  dup2(err_fd, 2);
  execv(exe, argv);
  int e = errno;
  ssize_t ignored = write(errno_pipe, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

// Waits for the child's exec: the pipe closes on a successful exec; an errno arrives when exec
// failed. True with *child_errno set when it failed. Closes `fd`.
bool exec_failed(int fd, int *child_errno) {
  ssize_t n;
  do {
    n = read(fd, child_errno, sizeof *child_errno);
  } while (n < 0 && errno == EINTR);
  close(fd);
  return n == static_cast<ssize_t>(sizeof *child_errno);
}

}  // namespace

// QEMU's standard error (a file in the run directory), /dev/null, and the pipe on which the
// child reports a failed exec.
void QemuDevice::open_standard_files(int *err_fd, int *null_fd, int exec_pipe[2]) {
  *err_fd = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (*err_fd < 0) {
    throw std::runtime_error(errno_text("cannot create " + stderr_path_));
  }
  stderr_cleanup_ = cleanup::add_file(stderr_path_);
  *null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (*null_fd < 0 || pipe2(exec_pipe, O_CLOEXEC) != 0) {
    close(*err_fd);
    if (*null_fd >= 0) {
      close(*null_fd);
    }
    throw std::runtime_error(errno_text("cannot prepare QEMU's standard files"));
  }
}

void QemuDevice::launch(const std::vector<std::string> &args) {
  std::string exe = resolve_binary(opt_.binary);
  if (exe.empty()) {
    throw std::runtime_error("QEMU binary '" + opt_.binary +
                             "' not found or not executable (install the Debian package "
                             "qemu-system-x86, or pass QemuOptions::binary)");
  }
  std::vector<char *> argv;
  argv.push_back(const_cast<char *>(exe.c_str()));
  for (const auto &a : args) {
    argv.push_back(const_cast<char *>(a.c_str()));
  }
  argv.push_back(nullptr);

  int err_fd, null_fd, exec_pipe[2];
  open_standard_files(&err_fd, &null_fd, exec_pipe);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    exec_child(parent, null_fd, err_fd, exec_pipe[1], exe.c_str(), argv.data());
  }
  int fork_errno = errno;
  close(err_fd);
  close(null_fd);
  close(exec_pipe[1]);
  if (pid < 0) {
    close(exec_pipe[0]);
    errno = fork_errno;
    throw std::runtime_error(errno_text("fork"));
  }
  pid_ = pid;
  pid_cleanup_ = cleanup::add_process(pid);
  int child_errno = 0;
  if (exec_failed(exec_pipe[0], &child_errno)) {
    fail_start("cannot execute " + exe + ": " + strerror(child_errno));
  }
}

int QemuDevice::accept_qtest(int listen_fd) {
  Clock::time_point deadline = Clock::now() + opt_.timeout;
  while (true) {
    pollfd p{listen_fd, POLLIN, 0};
    int r = poll(&p, 1, 50);  // short slices so a dead QEMU is noticed promptly
    if (r > 0) {
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        return fd;
      }
    }
    if (!alive()) {
      return -2;
    }
    if (Clock::now() >= deadline) {
      return -1;
    }
  }
}

void QemuDevice::start() {
  check_options();
  make_run_dir();
  make_shared_ram();
  prepare_disks();
  int lfd = listen_qtest();
  qtest_cleanup_ = cleanup::add_file(qtest_path_);
  qmp_cleanup_ = cleanup::add_file(qmp_path_);
  const std::vector<std::string> args = qemu_args();
  for (Disk &d : disks_) {
    d.attached = true;
  }

  try {
    launch(args);
  } catch (...) {
    close(lfd);
    throw;
  }
  connect_clients(lfd);

  std::string reply;
  if (!qtest_->command("irq_intercept_in ioapic", &reply)) {
    fail_start(reply);
  }
  setup_pci();
}

// The options start() checks before it makes anything: the RAM sizes, and the binary (no
// files are made for a run that cannot start).
void QemuDevice::check_options() const {
  if (opt_.ram_below_4g < kArenaStart + 4 * kMiB || opt_.ram_below_4g > 3 * (k4GiB / 4) ||
      opt_.ram_below_4g % kMiB != 0 || opt_.ram_above_4g % kMiB != 0) {
    throw std::runtime_error(
        "guest RAM below 4 GiB must be a multiple of 1 MiB from 8 MiB to 3 GiB, and RAM above "
        "4 GiB a multiple of 1 MiB");
  }
  if (opt_.msi_busy_interval.count() <= 0 || opt_.msi_idle_interval.count() <= 0 ||
      opt_.msi_busy_window.count() < 0) {
    throw std::runtime_error(
        "MSI look intervals must be positive (msi_busy_interval, "
        "msi_idle_interval) and msi_busy_window not negative");
  }
  if (resolve_binary(opt_.binary).empty()) {
    throw std::runtime_error("QEMU binary '" + opt_.binary +
                             "' not found or not executable (install the Debian package "
                             "qemu-system-x86, or pass QemuOptions::binary)");
  }
}

// One image per disk of the options, at most one disk per target.
void QemuDevice::prepare_disks() {
  for (const DiskSpec &spec : opt_.disks) {
    for (const Disk &d : disks_) {
      if (d.spec.target == spec.target) {
        throw std::runtime_error("two disks on target " + std::to_string(spec.target));
      }
    }
    Disk d;
    d.spec = spec;
    prepare_image(&d);
    disks_.push_back(std::move(d));
  }
}

// The listening socket QEMU's qtest connects to.
int QemuDevice::listen_qtest() {
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, qtest_path_.c_str(), qtest_path_.size() + 1);
  if (lfd < 0 || bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 ||
      listen(lfd, 1) != 0) {
    std::string err = errno_text("cannot listen on " + qtest_path_);
    if (lfd >= 0) {
      close(lfd);
    }
    throw std::runtime_error(err);
  }
  return lfd;
}

// QEMU's command line: a stopped PC with shared RAM, qtest and QMP sockets, the pvscsi HBA and
// one scsi-hd per disk, then the extra arguments of the options.
std::vector<std::string> QemuDevice::qemu_args() const {
  const uint64_t total = opt_.ram_below_4g + opt_.ram_above_4g;
  std::vector<std::string> args = {
      "-S", "-nodefaults", "-no-user-config", "-display", "none", "-accel", "tcg", "-object",
      "memory-backend-file,id=ram,size=" + std::to_string(total) + ",mem-path=" + shm_path_ +
          ",share=on",
      "-machine",
      // max-ram-below-4g only when RAM is split (QEMU warns when it is not a multiple of 1 GiB).
      opt_.ram_above_4g == 0
          ? std::string("pc,memory-backend=ram")
          : "pc,memory-backend=ram,max-ram-below-4g=" + std::to_string(opt_.ram_below_4g),
      "-m", std::to_string(total / kMiB) + "M", "-qtest", "unix:" + qtest_path_, "-qtest-log",
      "/dev/null", "-qmp", "unix:" + qmp_path_ + ",server=on,wait=off", "-device", "pvscsi,id=hba"};
  for (const Disk &d : disks_) {
    Json bd = {{"driver", "raw"},
               {"node-name", d.node},
               {"file", {{"driver", "file"}, {"filename", d.spec.image_path}}}};
    args.push_back("-blockdev");
    args.push_back(bd.dump());
    args.push_back("-device");
    args.push_back("scsi-hd,bus=hba.0,scsi-id=" + std::to_string(d.spec.target) +
                   ",lun=0,drive=" + d.node + ",id=" + d.dev_id +
                   ",logical_block_size=" + std::to_string(d.spec.block_size) +
                   ",physical_block_size=" + std::to_string(d.spec.block_size));
  }
  for (const auto &a : opt_.extra_args) {
    args.push_back(a);
  }
  return args;
}

// Takes QEMU's qtest connection on `lfd` (closed here) and connects to its QMP socket.
void QemuDevice::connect_clients(int lfd) {
  int qfd = accept_qtest(lfd);
  close(lfd);
  cleanup::run(qtest_cleanup_);  // connected: the socket's name is no longer needed
  qtest_cleanup_ = -1;
  if (qfd == -2) {
    fail_start("QEMU exited during start-up");
  }
  if (qfd < 0) {
    fail_start("QEMU did not connect to the qtest socket within " +
               std::to_string(opt_.timeout.count()) + " ms");
  }
  qtest_ = std::make_unique<QtestClient>(
      qfd, [this](int irq, bool raised) { on_irq(irq, raised); }, opt_.timeout);

  qmp_ = std::make_unique<QmpClient>();
  qmp_->set_timeout(opt_.timeout);
  std::string err;
  if (!qmp_->connect(
          qmp_path_, Clock::now() + opt_.timeout, [this] { return alive(); }, &err)) {
    fail_start(err);
  }
  cleanup::run(qmp_cleanup_);
  qmp_cleanup_ = -1;
}

uint32_t QemuDevice::cfg_read(unsigned dev, uint32_t offset, unsigned width) {
  std::lock_guard<std::mutex> g(cfg_mu_);
  qtest_->out(0xCF8, 4, 0x80000000u | (dev << 11) | (offset & 0xFC));
  return qtest_->in(static_cast<uint16_t>(0xCFC + (offset & 3)), width);
}

void QemuDevice::cfg_write(unsigned dev, uint32_t offset, unsigned width, uint32_t value) {
  std::lock_guard<std::mutex> g(cfg_mu_);
  qtest_->out(0xCF8, 4, 0x80000000u | (dev << 11) | (offset & 0xFC));
  qtest_->out(static_cast<uint16_t>(0xCFC + (offset & 3)), width, value);
}

void QemuDevice::setup_pci() {
  // INTx: PIIX3 routes PIRQ A-D to ISA IRQs through config bytes 0x60-0x63 of 00:01.0 (0x80 =
  // disabled, the reset value). Route all four to kIrq, whichever one our slot's INTA maps to.
  for (uint32_t i = 0; i < 4; i++) {
    cfg_write(kPiix3Dev, kPiixPirqRoute + i, 1, kIrq);
  }
  bool found = false;
  for (unsigned dev = 0; dev < 32 && !found; dev++) {
    uint32_t id = cfg_read(dev, 0, 4);
    if (id == (static_cast<uint32_t>(kPvscsiDevice) << 16 | kPvscsiVendor)) {
      pci_dev_ = dev;
      found = true;
    }
  }
  if (qtest_->dead()) {
    fail_start("qtest: " + qtest_->error());
  }
  if (!found) {
    fail_start("no pvscsi function (15ad:07c0) on PCI bus 0");
  }
  // Size BAR0: write all-ones, read the mask back.
  cfg_write(pci_dev_, 0x10, 4, 0xFFFFFFFF);
  uint32_t mask = cfg_read(pci_dev_, 0x10, 4);
  if ((mask & 0x1) != 0 || (mask & 0x6) != 0) {
    fail_start("pvscsi BAR0 is not a 32-bit memory BAR (read back " + std::to_string(mask) + ")");
  }
  uint64_t size = (~static_cast<uint64_t>(mask & ~0xFu) + 1) & 0xFFFFFFFFull;
  if (size != kBarSize) {
    fail_start("pvscsi BAR0 is " + std::to_string(size) + " bytes, expected 32 KiB");
  }
  cfg_write(pci_dev_, 0x10, 4, static_cast<uint32_t>(kBarAddress));
  uint32_t cmd = cfg_read(pci_dev_, 0x04, 2);
  cfg_write(pci_dev_, 0x04, 2, cmd | 0x0006);  // memory space + bus master
  cfg_write(pci_dev_, 0x3C, 1, kIrq);          // interrupt line, for the record
  find_msi_cap();
  if (qtest_->dead()) {
    fail_start("qtest: " + qtest_->error());
  }
}

void QemuDevice::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  {
    std::lock_guard<std::mutex> m(msi_mu_);
    stop_watch();  // before the mapping it looks at goes away
    msi_on_ = false;
  }
  if (pid_cleanup_ >= 0) {
    cleanup::run(pid_cleanup_);  // SIGKILL and reap
    pid_cleanup_ = -1;
    exited_ = true;
  } else if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
  if (qtest_) {
    qtest_->close();  // joins the reader thread (QEMU is gone, so it sees EOF)
  }
  if (qmp_) {
    qmp_->close();
  }
  if (shm_base_ != nullptr) {
    munmap(shm_base_, shm_size_);
    shm_base_ = nullptr;
  }
  if (shm_fd_ >= 0) {
    close(shm_fd_);
    shm_fd_ = -1;
  }
  for (int *id : {&shm_cleanup_, &qtest_cleanup_, &qmp_cleanup_, &stderr_cleanup_}) {
    cleanup::run(*id);
    *id = -1;
  }
  {
    std::lock_guard<std::mutex> g(disks_mu_);
    for (Disk &d : disks_) {
      cleanup::run(d.image_cleanup);
      d.image_cleanup = -1;
    }
  }
  cleanup::run(dir_cleanup_);
  dir_cleanup_ = -1;
}

void QemuDevice::connect(fk::DeviceHost *host) {
  std::lock_guard<std::mutex> g(host_mu_);
  host_ = host;
}

void QemuDevice::disconnect() {
  {
    std::lock_guard<std::mutex> g(host_mu_);
    host_ = nullptr;
    intx_enabled_ = false;
    msi_deliver_ = false;
  }
  std::lock_guard<std::mutex> m(msi_mu_);
  if (msi_on_) {
    stop_watch();
    program_msi(false);
    msi_on_ = false;
  }
}

void QemuDevice::release_host(fk::DeviceHost *host) {
  {
    std::lock_guard<std::mutex> g(host_mu_);
    if (host_ != host) {
      return;
    }
  }
  disconnect();
}

int QemuDevice::intr_types() {
  return fk::kIntrFixed | (opt_.offer_msi && msi_cap_ != 0 ? fk::kIntrMsi : 0);
}

int QemuDevice::intr_count(int type) {
  return (type & intr_types()) != 0 && (type == fk::kIntrFixed || type == fk::kIntrMsi) ? 1 : 0;
}

// Walks the capability list (status bit 4, pointer at 0x34) for the MSI capability (id 5).
void QemuDevice::find_msi_cap() {
  msi_cap_ = 0;
  if ((cfg_read(pci_dev_, 0x06, 2) & 0x10) == 0) {
    return;
  }
  uint32_t ptr = cfg_read(pci_dev_, 0x34, 1) & 0xFC;
  for (unsigned hops = 0; ptr >= 0x40 && ptr < 0x100 && hops < 48; hops++) {
    uint32_t id = cfg_read(pci_dev_, ptr, 1);
    if (id == 0x05) {
      msi_cap_ = ptr;
      msi_64bit_ = (cfg_read(pci_dev_, ptr + 2, 2) & 0x80) != 0;
      return;
    }
    ptr = cfg_read(pci_dev_, ptr + 1, 1) & 0xFC;
  }
}

bool QemuDevice::msi_enabled_in_device() {
  return msi_cap_ != 0 && !failed() && (cfg_read(pci_dev_, msi_cap_ + 2, 2) & 0x1) != 0;
}

// Programs (or turns off) the MSI capability; caller holds msi_mu_. One vector (MME = 0).
void QemuDevice::program_msi(bool enable) {
  if (msi_cap_ == 0 || failed()) {
    return;
  }
  uint32_t ctl = cfg_read(pci_dev_, msi_cap_ + 2, 2);
  if (!enable) {
    cfg_write(pci_dev_, msi_cap_ + 2, 2, ctl & ~0x1u);
    return;
  }
  if (uint8_t *w = guest_ptr(kMsiAddress, 4)) {
    __atomic_store_n(reinterpret_cast<uint32_t *>(w), 0u, __ATOMIC_SEQ_CST);
  }
  cfg_write(pci_dev_, msi_cap_ + 4, 4, static_cast<uint32_t>(kMsiAddress));
  if (msi_64bit_) {
    cfg_write(pci_dev_, msi_cap_ + 8, 4, static_cast<uint32_t>(kMsiAddress >> 32));
    cfg_write(pci_dev_, msi_cap_ + 12, 2, kMsiData);
  } else {
    cfg_write(pci_dev_, msi_cap_ + 8, 2, kMsiData);
  }
  uint32_t cmd = cfg_read(pci_dev_, 0x04, 2);
  cfg_write(pci_dev_, 0x04, 2, cmd | 0x0004);  // bus master: the message is a DMA write
  cfg_write(pci_dev_, msi_cap_ + 2, 2, (ctl & ~0x70u) | 0x1u);
}

// The MSI word is watched by the qtest reader thread (QtestClient::set_watch): it looks after
// every batch of qtest input it reads (each register access's reply included) and, when no
// input comes, after an interval - short while the device is busy, long when idle - blocking on
// the socket in between. Caller holds msi_mu_.
void QemuDevice::start_watch() {
  msi_word_ = reinterpret_cast<uint32_t *>(guest_ptr(kMsiAddress, 4));
  if (msi_word_ == nullptr || !qtest_) {
    return;
  }
  note_activity();
  qtest_->set_watch([this](bool timed_out) { return check_msi(timed_out); });
}

void QemuDevice::stop_watch() {
  if (qtest_) {
    qtest_->set_watch(nullptr);
  }
}

namespace {
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}
int64_t ns_of(std::chrono::microseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
}  // namespace

void QemuDevice::note_activity() {
  last_activity_ns_.store(steady_ns(), std::memory_order_relaxed);
}

// One look at the MSI word, on the qtest reader thread. A message is re-armed by clearing the
// word before it is delivered, so one the device writes while the handler runs is seen on a
// later look and delivered then (the host keeps it pending until the handler returns).
int64_t QemuDevice::check_msi(bool timed_out) {
  if (!timed_out && !opt_.msi_look_on_input) {
    return next_look_ns();
  }
  msi_looks_.fetch_add(1, std::memory_order_relaxed);
  if (timed_out) {
    msi_timed_looks_.fetch_add(1, std::memory_order_relaxed);
  }
  if (__atomic_load_n(msi_word_, __ATOMIC_ACQUIRE) != 0) {
    __atomic_exchange_n(msi_word_, 0u, __ATOMIC_SEQ_CST);
    msi_messages_.fetch_add(1, std::memory_order_relaxed);
    note_activity();
    std::lock_guard<std::mutex> g(host_mu_);
    if (host_ != nullptr && msi_deliver_) {
      host_->send_msi(0);
    }
  }
  return next_look_ns();
}

// The interval until the next look: short within msi_busy_window of the last register write
// or message, long after.
int64_t QemuDevice::next_look_ns() const {
  const int64_t idle_ns = steady_ns() - last_activity_ns_.load(std::memory_order_relaxed);
  return idle_ns < ns_of(opt_.msi_busy_window) ? ns_of(opt_.msi_busy_interval)
                                               : ns_of(opt_.msi_idle_interval);
}

void QemuDevice::set_intr_mode(int type, unsigned nvectors) {
  const bool want_msi = type == fk::kIntrMsi && nvectors > 0 && (intr_types() & fk::kIntrMsi);
  {
    std::lock_guard<std::mutex> g(host_mu_);
    msi_deliver_ = want_msi;
    bool enable = type == fk::kIntrFixed && nvectors > 0;
    if (enable != intx_enabled_) {
      intx_enabled_ = enable;
      if (host_ != nullptr && intx_level_.load()) {
        host_->set_intx(enable);  // deliver a line already asserted / withdraw it
      }
    }
  }
  // Outside host_mu_: config cycles wait for qtest replies, which the reader thread delivers
  // only after any on_irq() it is in (which takes host_mu_) returns.
  std::lock_guard<std::mutex> m(msi_mu_);
  if (want_msi && !msi_on_) {
    start_watch();
    program_msi(true);
    msi_on_ = true;
  } else if (!want_msi && msi_on_) {
    program_msi(false);
    stop_watch();
    msi_on_ = false;
  }
}

void QemuDevice::on_irq(int irq, bool raised) {
  if (irq != kIrq) {
    return;
  }
  std::lock_guard<std::mutex> g(host_mu_);
  intx_level_.store(raised);
  if (host_ != nullptr && intx_enabled_) {
    host_->set_intx(raised);
  }
}

uint32_t QemuDevice::config_read(uint32_t offset, unsigned width) {
  if (offset >= 256 || (width != 1 && width != 2 && width != 4) || (offset & (width - 1)) != 0) {
    return 0xFFFFFFFF;
  }
  reg_reads_.fetch_add(1, std::memory_order_relaxed);
  return cfg_read(pci_dev_, offset, width);
}

void QemuDevice::config_write(uint32_t offset, unsigned width, uint32_t value) {
  if (offset >= 256 || (width != 1 && width != 2 && width != 4) || (offset & (width - 1)) != 0) {
    return;
  }
  reg_writes_.fetch_add(1, std::memory_order_relaxed);
  cfg_write(pci_dev_, offset, width, value);
}

fk::RegionInfo QemuDevice::region(unsigned rnumber) {
  if (rnumber == 0) {
    return {fk::RegionInfo::Kind::kConfig, 0, 256};
  }
  return {fk::RegionInfo::Kind::kMem32, 0, kBarSize};
}

uint64_t QemuDevice::reg_read(unsigned rnumber, uint64_t offset, unsigned width) {
  if (rnumber == 0) {
    return config_read(static_cast<uint32_t>(offset), width);
  }
  if (rnumber != kMemRnumber || offset + width > kBarSize || !qtest_) {
    return width >= 8 ? ~0ull : (1ull << (8 * width)) - 1;
  }
  reg_reads_.fetch_add(1, std::memory_order_relaxed);
  return qtest_->read(kBarAddress + offset, width);
}

void QemuDevice::reg_write(unsigned rnumber, uint64_t offset, unsigned width, uint64_t value) {
  if (rnumber == 0) {
    config_write(static_cast<uint32_t>(offset), width, static_cast<uint32_t>(value));
    return;
  }
  if (rnumber != kMemRnumber || offset + width > kBarSize || !qtest_) {
    return;
  }
  reg_writes_.fetch_add(1, std::memory_order_relaxed);
  note_activity();  // a doorbell or a command: a message may follow soon
  qtest_->write(kBarAddress + offset, width, value);
}

uint32_t QemuDevice::guest_read32(uint64_t paddr) {
  return qtest_ ? static_cast<uint32_t>(qtest_->read(paddr, 4)) : 0xFFFFFFFF;
}

void QemuDevice::guest_write32(uint64_t paddr, uint32_t value) {
  if (qtest_) {
    qtest_->write(paddr, 4, value);
  }
}

bool QemuDevice::failed() const { return !qtest_ || qtest_->dead(); }

std::string QemuDevice::error() const { return qtest_ ? qtest_->error() : "not started"; }

QemuDevice::Disk *QemuDevice::find_disk(unsigned target) {
  for (Disk &d : disks_) {
    if (d.spec.target == target && d.attached) {
      return &d;
    }
  }
  return nullptr;
}

void QemuDevice::add_disk(const DiskSpec &spec) {
  std::lock_guard<std::mutex> q(qmp_mu_);
  Disk d;
  d.spec = spec;
  {
    std::lock_guard<std::mutex> g(disks_mu_);
    if (find_disk(spec.target) != nullptr) {
      throw std::runtime_error("target " + std::to_string(spec.target) + " already has a disk");
    }
    prepare_image(&d);
  }
  Json bd = {{"driver", "raw"},
             {"node-name", d.node},
             {"file", {{"driver", "file"}, {"filename", d.spec.image_path}}}};
  Json ret;
  std::string err;
  bool ok = qmp_->execute("blockdev-add", bd, &ret, &err);
  if (ok) {
    Json dev = {{"driver", "scsi-hd"},
                {"id", d.dev_id},
                {"bus", "hba.0"},
                {"scsi-id", d.spec.target},
                {"lun", 0},
                {"drive", d.node},
                {"logical_block_size", d.spec.block_size},
                {"physical_block_size", d.spec.block_size}};
    ok = qmp_->execute("device_add", dev, &ret, &err);
    if (!ok) {
      std::string ignored;
      Json del = {{"node-name", d.node}};
      qmp_->execute("blockdev-del", del, &ret, &ignored);
    }
  }
  d.attached = ok;
  std::lock_guard<std::mutex> g(disks_mu_);
  disks_.push_back(d);  // kept even on failure, so a temporary image is removed at stop()
  if (!ok) {
    throw std::runtime_error("hot add of target " + std::to_string(spec.target) + ": " + err);
  }
}

void QemuDevice::remove_disk(unsigned target) {
  std::lock_guard<std::mutex> q(qmp_mu_);
  std::string dev_id, node;
  {
    std::lock_guard<std::mutex> g(disks_mu_);
    Disk *d = find_disk(target);
    if (d == nullptr) {
      throw std::runtime_error("no disk on target " + std::to_string(target));
    }
    dev_id = d->dev_id;
    node = d->node;
  }
  Json args = {{"id", dev_id}};
  Json ret, event;
  std::string err;
  if (!qmp_->execute("device_del", args, &ret, &err)) {
    throw std::runtime_error("hot remove of target " + std::to_string(target) + ": " + err);
  }
  if (!qmp_->wait_event(
          "DEVICE_DELETED", [&](const Json &data) { return json_string(data, "device") == dev_id; },
          opt_.timeout, &event, &err)) {
    throw std::runtime_error("hot remove of target " + std::to_string(target) + ": " + err);
  }
  {
    std::lock_guard<std::mutex> g(disks_mu_);
    if (Disk *d = find_disk(target)) {
      d->attached = false;
    }
  }
  Json del = {{"node-name", node}};
  if (!qmp_->execute("blockdev-del", del, &ret, &err)) {
    throw std::runtime_error("hot remove of target " + std::to_string(target) + ": " + err);
  }
}

Json QemuDevice::qmp(const std::string &command, const Json &arguments) {
  std::lock_guard<std::mutex> q(qmp_mu_);
  Json ret;
  std::string err;
  if (!qmp_ || !qmp_->execute(command, arguments, &ret, &err)) {
    throw std::runtime_error(qmp_ ? err : "QMP not connected");
  }
  return ret;
}

std::string QemuDevice::image_path(unsigned target) const {
  std::lock_guard<std::mutex> g(disks_mu_);
  std::string path;
  for (const Disk &d : disks_) {
    if (d.spec.target == target) {
      path = d.spec.image_path;  // the latest disk on that target
    }
  }
  return path;
}

std::vector<MemoryRange> QemuDevice::ram_ranges() const {
  std::vector<MemoryRange> r = {{0, 0, opt_.ram_below_4g}};
  if (opt_.ram_above_4g != 0) {
    r.push_back({k4GiB, opt_.ram_below_4g, opt_.ram_above_4g});
  }
  return r;
}

std::vector<MemoryRange> QemuDevice::arena_ranges() const {
  std::vector<MemoryRange> r = {{kArenaStart, kArenaStart, opt_.ram_below_4g - kArenaStart}};
  if (opt_.ram_above_4g != 0) {
    r.push_back({k4GiB, opt_.ram_below_4g, opt_.ram_above_4g});
  }
  return r;
}

uint8_t *QemuDevice::guest_ptr(uint64_t paddr, uint64_t len) const {
  if (shm_base_ == nullptr) {
    return nullptr;
  }
  for (const MemoryRange &r : ram_ranges()) {
    if (paddr >= r.paddr && len <= r.size && paddr - r.paddr <= r.size - len) {
      return shm_base_ + r.file_offset + (paddr - r.paddr);
    }
  }
  return nullptr;
}

}  // namespace pvscsi_qemu
