// Test harness for the driver: boots the userland kernel with the strict checks on, loads
// pvscsi, attaches it to a mock device, and checks at the end that nothing leaked and no
// checker fired. Host-side test code.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "client.h"
#include "fk.h"
#include "mock_device.h"
#include "scsa.h"
#include "shadow.h"

namespace driver_on_mock {

// One HBA instance on one mock device.
class Hba {
 public:
  explicit Hba(const pvscsi_mock::Config &cfg);
  ~Hba();  // detaches if still attached
  Hba(const Hba &) = delete;
  Hba &operator=(const Hba &) = delete;

  // attach(9E) of the HBA node, then its iport (discovery), then the client's LUN scan.
  int attach();
  // The HBA node only (for attach-failure tests).
  int attach_hba_only();
  // Detach the iport and the HBA; returns the HBA detach result.
  int detach();

  pvscsi_mock::MockDevice &dev() { return *dev_; }
  dev_info_t *dip() const { return dip_; }
  int instance() const;
  // A named kstat of pvscsi:<instance>:stats.
  uint64_t stat(const std::string &name) const;
  // Online LUNs (rescanned with settle()).
  std::vector<fk::client::LunRef> luns();
  scsi_device *lun(uint32_t target, uint64_t lun);

 private:
  std::unique_ptr<pvscsi_mock::MockDevice> dev_;
  dev_info_t *dip_ = nullptr;
  bool attached_ = false;
};

// A disk target: id with nluns LUNs (0..nluns-1) of blocks x block_size.
pvscsi_mock::TargetSpec disk_target(uint32_t id, unsigned nluns = 1, uint64_t blocks = 16384,
                                    uint32_t block_size = 512);

// A mock configuration with a topology: targets given as ids, each with nluns LUNs of
// blocks x block_size. Power-on unit attentions off unless asked (they are tested apart).
pvscsi_mock::Config mock_config(pvscsi_mock::Profile profile, std::vector<uint32_t> targets,
                                unsigned nluns = 1, uint64_t blocks = 16384,
                                uint32_t block_size = 512);

struct KernelOptions {
  bool sync_audit = true;
  fk::ClockMode clock = fk::ClockMode::kVirtual;
};

// Boots the kernel and loads the driver (with driver/pvscsi.conf) before each test; after it,
// unloads and shuts down, and fails the test on any leak or violation.
class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  virtual KernelOptions kernel_options() const { return {}; }
  // Allow a violation kind the test plants on purpose.
  void expect_violations(const std::string &kind) { allowed_violations_.push_back(kind); }

 private:
  std::vector<std::string> allowed_violations_;
};

// Both mock profiles, for TEST_P suites.
class ProfileTest : public DriverTest,
                    public ::testing::WithParamInterface<pvscsi_mock::Profile> {};
std::string profile_name(const ::testing::TestParamInfo<pvscsi_mock::Profile> &info);

// Written data and its check come from the one data oracle, fk::client::ShadowDisk (its
// pattern, fill and holds).
using fk::client::ShadowDisk;

}  // namespace driver_on_mock
