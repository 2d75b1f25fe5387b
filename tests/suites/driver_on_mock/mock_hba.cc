#include "mock_hba.h"

#include <sys/sunddi.h>

// The driver's _init, renamed in the host build (driver/CMakeLists.txt); referencing it pulls
// the driver into the link.
extern "C" int fk_module_init(void);

// A global the linker must keep, so the driver's objects are always in the executable.
int (*pvt_driver_entry)(void) __attribute__((used)) = fk_module_init;

namespace driver_on_mock {

pvscsi_mock::TargetSpec disk_target(uint32_t id, unsigned nluns, uint64_t blocks,
                                    uint32_t block_size) {
  pvscsi_mock::TargetSpec spec;
  spec.id = id;
  spec.luns.clear();
  for (unsigned l = 0; l < nluns; l++) {
    pvscsi_mock::LunSpec lun;
    lun.lun = uint16_t(l);
    lun.blocks = blocks;
    lun.block_size = block_size;
    spec.luns.push_back(lun);
  }
  return spec;
}

pvscsi_mock::Config mock_config(pvscsi_mock::Profile profile, std::vector<uint32_t> targets,
                                unsigned nluns, uint64_t blocks, uint32_t block_size) {
  auto cfg = pvscsi_mock::Config::for_profile(profile);
  cfg.power_on_unit_attention = false;
  cfg.targets.clear();
  uint32_t highest = 0;
  for (uint32_t t : targets) {
    cfg.targets.push_back(disk_target(t, nluns, blocks, block_size));
    if (t > highest) highest = t;
  }
  if (highest >= cfg.max_targets) cfg.max_targets = highest + 1;
  return cfg;
}

Hba::Hba(const pvscsi_mock::Config &cfg) : dev_(new pvscsi_mock::MockDevice(cfg)) {
  dip_ = fk::add_pci_node(dev_.get());
}

Hba::~Hba() {
  if (attached_) detach();
  if (dip_ != nullptr) fk::remove_node(dip_);
}

int Hba::attach_hba_only() {
  int rc = fk::attach(dip_);
  attached_ = rc == DDI_SUCCESS;
  if (!attached_ && getenv("PVSCSI_TEST_VERBOSE") != nullptr)
    for (const auto &m : fk::console()) fprintf(stderr, "console: %s\n", m.text.c_str());
  return rc;
}

int Hba::attach() {
  int rc = attach_hba_only();
  if (rc != DDI_SUCCESS) return rc;
  (void)fk::client::discover(dip_);
  return rc;
}

int Hba::detach() {
  fk::client::settle();
  if (fk::scsa::unconfig_iports(dip_) != DDI_SUCCESS) return DDI_FAILURE;
  int rc = fk::detach(dip_);
  if (rc == DDI_SUCCESS) attached_ = false;
  return rc;
}

int Hba::instance() const { return ddi_get_instance(dip_); }

uint64_t Hba::stat(const std::string &name) const {
  auto v = fk::kstat_value("pvscsi", instance(), "stats", name);
  EXPECT_TRUE(v.has_value()) << "no kstat " << name;
  return v.value_or(0);
}

std::vector<fk::client::LunRef> Hba::luns() {
  // Let every consequence of what the device did play out: its scheduled work (interrupts,
  // coalesced), the interrupt threads, the driver's discovery task, the target map's settle
  // time and the framework's LUN scans.
  for (int i = 0; i < 3; i++) {
    fk::advance(1000000);
    fk::drain();
    fk::client::settle();
  }
  return fk::client::discover(dip_);
}

scsi_device *Hba::lun(uint32_t target, uint64_t lun) {
  char addr[16];
  snprintf(addr, sizeof(addr), "%x", target);
  for (const auto &l : luns())
    if (l.target == addr && l.lun == lun) return l.sd;
  return nullptr;
}

void DriverTest::SetUp() {
  fk::scsa::set_dump_mode(false);  // a test that stopped half-way may have left it on
  KernelOptions ko = kernel_options();
  fk::Options o;
  o.sync_audit = ko.sync_audit;
  o.clock = ko.clock;
  o.deterministic = true;  // with the virtual clock: one seeded interleaving per run
  fk::boot(o);
  std::string err = fk::load_driver_conf_file(PVSCSI_CONF_PATH);
  ASSERT_EQ(err, "") << "pvscsi.conf: " << err;
  ASSERT_EQ(fk::load_driver("pvscsi"), 0);
}

void DriverTest::TearDown() {
  if (fk::booted()) {
    EXPECT_EQ(fk::unload_driver(), 0);
    fk::shutdown();
  }
  for (const std::string &m : fk::leftovers(allowed_violations_)) ADD_FAILURE() << m;
}

std::string profile_name(const ::testing::TestParamInfo<pvscsi_mock::Profile> &info) {
  return info.param == pvscsi_mock::Profile::kVmware ? "vmware" : "qemu";
}

}  // namespace driver_on_mock
