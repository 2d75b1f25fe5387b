// QemuDevice against a real qemu-system-x86_64: start-up, PCI, registers, RAM layout, cleanup.
#include "qemu_device.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "cleanup_registry.h"
#include "pvscsi_hw.h"
#include "test_host.h"

namespace pvscsi_qemu {
namespace {

namespace hw = pvscsi::hw;

bool exists(const std::string &path) {
  struct stat st;
  return !path.empty() && lstat(path.c_str(), &st) == 0;
}

bool process_gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

// Names this process's runs would leave in `dir` (pvscsi-qemu-<pid>-...), space-separated.
std::string own_leftovers(const std::string &dir) {
  std::string prefix = std::string(cleanup::kNamePrefix) + std::to_string(getpid()) + "-";
  std::string found;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) {
        found += std::string(e->d_name) + " ";
      }
    }
    closedir(d);
  }
  return found;
}

QemuOptions small_options() {
  QemuOptions o;
  o.disks.push_back({3, 8ull << 20, 512, ""});
  return o;
}

TEST(QemuDevice, StartsAndStopsRepeatedlyLeavingNothingBehind) {
  for (int i = 0; i < 3; i++) {
    std::string dir, shm, image, err_file;
    pid_t pid;
    {
      QemuDevice dev(small_options());
      dir = dev.run_dir();
      shm = dev.shm_path();
      image = dev.image_path(3);
      err_file = dev.stderr_path();
      pid = dev.pid();
      EXPECT_TRUE(exists(dir));
      EXPECT_TRUE(exists(shm));
      EXPECT_TRUE(exists(image));
      EXPECT_FALSE(dev.failed()) << dev.error();
      EXPECT_FALSE(process_gone(pid));
    }
    EXPECT_TRUE(process_gone(pid));
    EXPECT_FALSE(exists(dir));
    EXPECT_FALSE(exists(shm));
    EXPECT_FALSE(exists(image));
    EXPECT_FALSE(exists(err_file));
  }
  EXPECT_EQ(cleanup::live_entries(), 0);
  EXPECT_EQ(own_leftovers("/dev/shm"), "");
  EXPECT_EQ(own_leftovers("/tmp"), "");
}

TEST(QemuDevice, KeepsAnImageWhosePathIsGiven) {
  std::string path = "/tmp/pvscsi-qemu-kept-" + std::to_string(getpid()) + ".img";
  unlink(path.c_str());
  {
    QemuOptions o;
    o.disks.push_back({0, 4ull << 20, 4096, path});
    QemuDevice dev(o);
    EXPECT_EQ(dev.image_path(0), path);
  }
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4 << 20);
  unlink(path.c_str());
}

TEST(QemuDevice, PciIdentityThroughConfigSpace) {
  QemuDevice dev(small_options());
  EXPECT_EQ(dev.config_read(0x00, 2), hw::kPciVendorId);
  EXPECT_EQ(dev.config_read(0x02, 2), hw::kPciDeviceId);
  EXPECT_EQ(dev.config_read(0x0B, 1), 0x01u);  // class: mass storage
  EXPECT_EQ(dev.config_read(0x0A, 1), 0x00u);  // subclass: SCSI
  EXPECT_EQ(dev.config_read(0x3D, 1), 1u);     // interrupt pin A
  EXPECT_EQ(dev.config_read(0x10, 4) & ~0xFu, QemuDevice::kBarAddress);
  EXPECT_EQ(dev.config_read(0x04, 2) & 0x6u, 0x6u);  // memory space + bus master
  EXPECT_EQ(dev.num_regions(), 2u);
  EXPECT_EQ(dev.region(0).kind, fk::RegionInfo::Kind::kConfig);
  EXPECT_EQ(dev.region(1).kind, fk::RegionInfo::Kind::kMem32);
  EXPECT_EQ(dev.region(1).size, hw::kBarSize);
  // FIXED and MSI (one vector each); QEMU's pvscsi has no MSI-X.
  EXPECT_EQ(dev.intr_types(), fk::kIntrFixed | fk::kIntrMsi);
  EXPECT_EQ(dev.intr_count(fk::kIntrFixed), 1);
  EXPECT_EQ(dev.intr_count(fk::kIntrMsi), 1);
  EXPECT_EQ(dev.intr_count(fk::kIntrMsix), 0);
  // Accesses through the interface are counted (7 config reads above); bad ones are not.
  EXPECT_EQ(dev.register_reads(), 7u);
  EXPECT_EQ(dev.register_writes(), 0u);
  // Bad accesses get all-ones, not a crash.
  EXPECT_EQ(dev.config_read(0x1000, 4), 0xFFFFFFFFu);
  EXPECT_EQ(dev.reg_read(1, hw::kBarSize, 4), 0xFFFFFFFFu);
  EXPECT_EQ(dev.reg_read(7, 0, 4), 0xFFFFFFFFu);
}

// Guest RAM layout: below 4 GiB at file offset = paddr; above at file offset ram_below_4g.
TEST(QemuDevice, GuestRamLayoutMatchesTheSharedFile) {
  QemuOptions o = small_options();
  o.ram_below_4g = 32ull << 20;
  o.ram_above_4g = 16ull << 20;
  QemuDevice dev(o);
  ASSERT_EQ(dev.shm_size(), 48ull << 20);
  auto ranges = dev.ram_ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[1].paddr, 1ull << 32);
  EXPECT_EQ(ranges[1].file_offset, 32ull << 20);
  auto arena = dev.arena_ranges();
  ASSERT_EQ(arena.size(), 2u);
  EXPECT_EQ(arena[0].paddr, QemuDevice::kArenaStart);
  EXPECT_EQ(arena[0].paddr + arena[0].size, 32ull << 20);

  // Patterns written through our mapping are what the guest (QEMU) reads, and vice versa.
  TestHost host(dev);
  const uint64_t low = 0x500000, high = (1ull << 32) + 0x3000;
  uint32_t a = 0x11223344, b = 0xA5A55A5A;
  ASSERT_TRUE(host.dma_write(low, &a, 4));
  ASSERT_TRUE(host.dma_write(high, &b, 4));
  EXPECT_EQ(dev.shm_base()[0x500000], 0x44);
  EXPECT_EQ(dev.shm_base()[(32ull << 20) + 0x3000], 0x5A);
  // QEMU's own view of guest memory agrees in both directions.
  EXPECT_EQ(dev.guest_read32(low), a);
  EXPECT_EQ(dev.guest_read32(high), b);
  dev.guest_write32(high + 4, 0xCAFEF00D);
  uint32_t d = 0;
  ASSERT_TRUE(host.dma_read(high + 4, &d, 4));
  EXPECT_EQ(d, 0xCAFEF00Du);
  EXPECT_EQ(dev.guest_ptr(high, 4), dev.shm_base() + (32ull << 20) + 0x3000);
  EXPECT_EQ(dev.guest_ptr((1ull << 32) + (16ull << 20) - 2, 4), nullptr);
  EXPECT_EQ(dev.guest_ptr(32ull << 20, 1), nullptr);
  uint32_t c = 0;
  EXPECT_FALSE(host.dma_read((1ull << 32) - 4096, &c, 4));
}

TEST(QemuDevice, MissingBinaryIsAClearError) {
  QemuOptions o = small_options();
  o.binary = "/nonexistent/qemu-system-x86_64";
  try {
    QemuDevice dev(o);
    FAIL() << "started without a binary";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/qemu-system-x86_64"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos) << e.what();
  }
  o.binary = "no-such-qemu-binary-xyz";
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  EXPECT_EQ(cleanup::live_entries(), 0);
}

TEST(QemuDevice, StartFailureReportsQemuStderr) {
  QemuOptions o = small_options();
  o.extra_args = {"-device", "no-such-device-model"};
  try {
    QemuDevice dev(o);
    FAIL() << "started with a bad device";
  } catch (const std::runtime_error &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("exited during start-up"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no-such-device-model"), std::string::npos) << msg;  // from stderr
  }
  EXPECT_EQ(cleanup::live_entries(), 0);
}

TEST(QemuDevice, BadOptionsAreRejected) {
  QemuOptions o = small_options();
  o.disks[0].block_size = 1024;
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  o = small_options();
  o.disks[0].target = 65;
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  o = small_options();
  o.ram_below_4g = 1 << 20;
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  o = small_options();
  o.disks.push_back(o.disks[0]);
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  o = small_options();
  o.msi_busy_interval = std::chrono::microseconds(0);
  try {
    QemuDevice dev(o);
    ADD_FAILURE() << "a zero MSI look interval was accepted";
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("msi_busy_interval"), std::string::npos) << e.what();
  }
  o = small_options();
  o.msi_idle_interval = std::chrono::microseconds(-1);
  EXPECT_THROW(QemuDevice dev(o), std::runtime_error);
  EXPECT_EQ(cleanup::live_entries(), 0);
}

// A process killed by SIGTERM while QEMU runs leaves no process, socket or file behind.
TEST(QemuDevice, CleansUpOnSigterm) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipefd[0]);
    try {
      QemuDevice dev(small_options());
      std::string report = std::to_string(dev.pid()) + "\n" + dev.run_dir() + "\n" +
                           dev.shm_path() + "\n" + dev.image_path(3) + "\n";
      if (write(pipefd[1], report.data(), report.size()) < 0) {
        _exit(3);
      }
      close(pipefd[1]);
      raise(SIGTERM);
    } catch (...) {
    }
    _exit(2);
  }
  close(pipefd[1]);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) {
    report.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  std::istringstream in(report);
  std::string pid, dir, shm, image;
  std::getline(in, pid);
  std::getline(in, dir);
  std::getline(in, shm);
  std::getline(in, image);
  ASSERT_FALSE(image.empty()) << "child did not start QEMU: " << report;
  EXPECT_TRUE(process_gone(static_cast<pid_t>(std::stol(pid))));
  EXPECT_FALSE(exists(dir));
  EXPECT_FALSE(exists(shm));
  EXPECT_FALSE(exists(image));
}

}  // namespace
}  // namespace pvscsi_qemu
