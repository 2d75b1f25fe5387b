// Integration-test fixture: the unmodified pvscsi driver on the userland kernel,
// driving QEMU's pvscsi device model with real disk images.
//
// QemuHba starts QEMU (tests/devices/qemu), boots the kernel with QEMU's guest RAM as its arena and
// the real clock, loads the driver with driver/pvscsi.conf, and adds the PCI node through a
// TapDevice (tap_device.h). QemuTest (a gtest fixture) owns one QemuHba per test and, at the
// end, detaches, shuts down, stops QEMU and fails the test on any leak, kernel or SCSA
// violation, console warning not allowed by the test, or anything QEMU left behind (its
// process, run directory with sockets, or shared-memory file). Host-side test code.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "client.h"
#include "fk.h"
#include "pvscsi.h"
#include "qemu_device.h"
#include "scsa.h"
#include "tap_device.h"

namespace driver_on_qemu {

struct HbaOptions {
  std::vector<pvscsi_qemu::DiskSpec> disks;
  uint64_t ram_bytes = 256ull << 20;  // guest RAM = the kernel's arena (+ 4 MiB kept out)
  uint64_t ram_above_4g = 0;          // more guest RAM (and arena) at 4 GiB
  bool sync_audit = true;             // non-coherent DMA memory, missing syncs reported
  std::string extra_conf;             // driver.conf text applied after pvscsi.conf
  bool offer_msi = true;              // false: QEMU offers FIXED only (the driver falls back)
};

// One online disk as a test uses it.
struct Disk {
  unsigned target = 0;
  scsi_device *sd = nullptr;
  uint32_t block_size = 0;
  uint64_t blocks = 0;
  std::string image;
};

class QemuHba {
 public:
  explicit QemuHba(const HbaOptions &o);  // throws std::runtime_error (QEMU did not start)
  ~QemuHba();

  // attach(9E) of the HBA, iport configuration and discovery. DDI_SUCCESS or DDI_FAILURE.
  int attach();
  // Unconfigure the iport and detach the HBA (the node stays). DDI_SUCCESS or DDI_FAILURE.
  int detach();
  bool attached() const { return attached_; }

  // Online disks (READ CAPACITY on each), sorted by target.
  std::vector<Disk> disks();
  // Wait (bounded) until `target` is online (present) or gone; the disk or an empty Disk.
  Disk wait_target(unsigned target, bool present, std::chrono::milliseconds bound);

  pvscsi_qemu::QemuDevice &qemu() { return *qemu_; }
  TapDevice &tap() { return *tap_; }
  dev_info_t *dip() const { return dip_; }
  // The driver's soft state, reached as the framework does (tran_hba_private).
  const pvscsi::pvscsi_softc *softc() const;
  // QEMU's I/O throttling (QMP block_set_io_throttle) on the disk of `target` (one of the disks
  // QEMU started with): at a low IOPS limit commands stay in QEMU's block layer long enough for
  // a test to act while they are in flight; 0 lifts it. Throws std::runtime_error from QMP.
  void throttle(unsigned target, int iops);
  // pvscsi:<instance>:stats:<name>.
  uint64_t stat(const std::string &name) const;

  // Shut the kernel down and stop QEMU (idempotent; the destructor calls it).
  void stop();

  // What QEMU made, for leftover checks after stop().
  std::string shm_path, run_dir;
  pid_t qemu_pid = -1;

 private:
  std::unique_ptr<pvscsi_qemu::QemuDevice> qemu_;
  std::unique_ptr<TapDevice> tap_;
  std::vector<unsigned> initial_targets_;
  dev_info_t *dip_ = nullptr;
  bool attached_ = false;
  bool stopped_ = false;
};

// Leftovers of QEMU runs of this process: shared-memory files, run directories, live child
// processes. Empty when clean.
std::vector<std::string> qemu_leftovers();

class QemuTest : public ::testing::Test {
 protected:
  void TearDown() override;
  // Start QEMU and the kernel (fails the test with QEMU's error when it cannot start).
  QemuHba *start(const HbaOptions &o);
  // start(), then attach the HBA; nullptr (the test failed with the reason) when either fails.
  QemuHba *start_attached(const HbaOptions &o);
  // start_attached() with the default options and these disks.
  QemuHba *start_attached(std::vector<pvscsi_qemu::DiskSpec> disks);
  // Detach, shut down, stop QEMU and check for leaks, violations and leftovers (TearDown does
  // this when the test did not).
  void finish();
  // Allow console warnings containing `text` (a test that plants a fault).
  void allow_warning(const std::string &text) { allowed_warnings_.push_back(text); }
  void allow_violation(const std::string &kind) { allowed_violations_.push_back(kind); }

  std::unique_ptr<QemuHba> hba_;

 private:
  std::vector<std::string> allowed_warnings_, allowed_violations_;
  bool finished_ = false;
};

// Tests run with both interrupt kinds QEMU can deliver: the parameter is HbaOptions::offer_msi
// (true: the driver gets MSI; false: QEMU withholds it and the driver falls back to FIXED).
// Instantiate with PVIT_INTR_KINDS(Fixture); CTest names end in /msi or /fixed.
class IntrParam : public ::testing::WithParamInterface<bool> {
 protected:
  // The interrupt type the driver must report (its kstat intr_type) for this parameter.
  static uint64_t expected_intr_type() {
    return GetParam() ? DDI_INTR_TYPE_MSI : DDI_INTR_TYPE_FIXED;
  }
};
// A QemuTest run with both interrupt kinds (IntrParam).
class QemuIntrTest : public QemuTest, public IntrParam {
 protected:
  // The options of this interrupt kind with these disks.
  static HbaOptions options(std::vector<pvscsi_qemu::DiskSpec> disks) {
    HbaOptions o;
    o.offer_msi = GetParam();
    o.disks = std::move(disks);
    return o;
  }
  // start_attached(), and the driver is to report this interrupt kind's type.
  QemuHba *start_attached_intr(const HbaOptions &o) {
    QemuHba *hba = start_attached(o);
    if (hba != nullptr) {
      EXPECT_EQ(hba->stat("intr_type"), expected_intr_type());
    }
    return hba;
  }
};
#define PVIT_INTR_KINDS(fixture)                                            \
  INSTANTIATE_TEST_SUITE_P(Intr, fixture, ::testing::Bool(),                \
                           [](const ::testing::TestParamInfo<bool> &i) {    \
                             return std::string(i.param ? "msi" : "fixed"); \
                           })

// A disk spec in one line.
pvscsi_qemu::DiskSpec disk(unsigned target, uint64_t mib = 16, unsigned block_size = 512);

}  // namespace driver_on_qemu
