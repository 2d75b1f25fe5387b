// A test fixture for the robustness tests: boots the userland kernel, loads pvscsi with
// driver/pvscsi.conf, and fails the test on any leak or violation at the end (the kernel's lock,
// sync, DMA and kmem checkers and the SCSA framework's exactly-once bookkeeping all report as
// violations). Host-side test code.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "fk.h"

// The driver's _init, renamed in the host build; referencing it pulls the driver's objects into
// the test executable.
extern "C" int fk_module_init(void);
inline int (*robust_fixture_driver_entry)(void) __attribute__((used)) = fk_module_init;

namespace robust {

inline std::string read_conf() {
  std::ifstream in(PVSCSI_CONF_PATH);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Boot + load; returns "" or what went wrong.
inline std::string boot_with_driver(const fk::Options &o) {
  fk::boot(o);
  std::string err = fk::load_driver_conf(read_conf());
  if (!err.empty()) return "pvscsi.conf: " + err;
  if (fk::load_driver("pvscsi") != 0) return "load_driver failed";
  return "";
}

// Unload + shut down; returns every leak and violation as text (empty: clean).
inline std::vector<std::string> shutdown_and_check() {
  std::vector<std::string> out;
  if (fk::booted()) {
    if (fk::unload_driver() != 0) out.push_back("_fini refused");
    fk::shutdown();
  }
  for (const auto &l : fk::leaks())
    out.push_back("leak: " + l.kind + " " + std::to_string(l.size) + " at " + l.site);
  for (const auto &v : fk::violations()) out.push_back("violation (" + v.kind + "): " + v.text);
  return out;
}

class RobustTest : public ::testing::Test {
 protected:
  virtual fk::Options kernel_options() const {
    fk::Options o;
    o.sync_audit = true;
    o.deterministic = true;
    return o;
  }
  void SetUp() override { ASSERT_EQ(boot_with_driver(kernel_options()), ""); }
  void TearDown() override {
    for (const auto &f : shutdown_and_check()) ADD_FAILURE() << f;
  }
};

}  // namespace robust
