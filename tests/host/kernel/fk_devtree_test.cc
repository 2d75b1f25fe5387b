// Tests of the device tree (fk_devtree.cc): driver.conf, properties, kstats and soft
// state.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/kstat.h>

#include <optional>
#include <string>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

TEST_F(KernelTest, DriverConfAndProperties) {
  Boot();
  EXPECT_EQ(fk::load_driver_conf("# comment\nfoo=5;\nbar=\"baz\";\nlist=1,2,0x10;\n"), "");
  EXPECT_NE(fk::load_driver_conf("broken=;"), "");
  EXPECT_NE(fk::load_driver_conf("x=\"a\",1;").find("line 1"), std::string::npos);
  fk_test::FakeDevice dev;
  dev_info_t *dip = fk::add_pci_node(&dev, {"tiny", 3, 0});
  EXPECT_EQ(ddi_prop_get_int(DDI_DEV_T_ANY, dip, DDI_PROP_DONTPASS, const_cast<char *>("foo"), 0),
            5);
  EXPECT_EQ(ddi_prop_get_int(DDI_DEV_T_ANY, dip, DDI_PROP_DONTPASS, const_cast<char *>("nope"), 7),
            7);
  EXPECT_EQ(ddi_prop_get_int(DDI_DEV_T_ANY, dip, 0, const_cast<char *>("vendor-id"), 0), 0x1af4);
  char *s;
  ASSERT_EQ(ddi_prop_lookup_string(DDI_DEV_T_ANY, dip, 0, "bar", &s), DDI_PROP_SUCCESS);
  EXPECT_STREQ(s, "baz");
  ddi_prop_free(s);
  int *ints;
  uint_t n;
  ASSERT_EQ(ddi_prop_lookup_int_array(DDI_DEV_T_ANY, dip, 0, const_cast<char *>("list"), &ints, &n),
            DDI_PROP_SUCCESS);
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(ints[2], 16);
  ddi_prop_free(ints);
  // "reg": config space, then BAR 0 (32-bit memory).
  ASSERT_EQ(ddi_prop_lookup_int_array(DDI_DEV_T_ANY, dip, DDI_PROP_DONTPASS,
                                      const_cast<char *>("reg"), &ints, &n),
            DDI_PROP_SUCCESS);
  ASSERT_EQ(n, 10u);
  auto *regs = reinterpret_cast<pci_regspec_t *>(ints);
  EXPECT_EQ(PCI_REG_ADDR_G(regs[0].pci_phys_hi), PCI_REG_ADDR_G(PCI_ADDR_CONFIG));
  EXPECT_EQ(PCI_REG_ADDR_G(regs[1].pci_phys_hi), PCI_REG_ADDR_G(PCI_ADDR_MEM32));
  EXPECT_EQ(PCI_REG_REG_G(regs[1].pci_phys_hi), static_cast<unsigned>(PCI_CONF_BASE0));
  EXPECT_EQ(regs[1].pci_size_low, 4096u);
  ddi_prop_free(ints);
  EXPECT_EQ(ddi_prop_update_int(DDI_DEV_T_NONE, dip, "mine", 9), DDI_PROP_SUCCESS);
  EXPECT_EQ(ddi_prop_get_int(DDI_DEV_T_ANY, dip, 0, const_cast<char *>("mine"), 0), 9);
  // ddi_prop_update_common (sunddi.c): a property is updated for one dev_t, never for
  // DDI_DEV_T_ANY, and must have a name; nothing changes then.
  EXPECT_EQ(ddi_prop_update_int(DDI_DEV_T_ANY, dip, "mine", 10), DDI_PROP_INVAL_ARG);
  EXPECT_EQ(ddi_prop_update_string(DDI_DEV_T_NONE, dip, "", const_cast<char *>("x")),
            DDI_PROP_INVAL_ARG);
  EXPECT_EQ(ddi_prop_get_int(DDI_DEV_T_ANY, dip, 0, const_cast<char *>("mine"), 0), 9);
  ddi_prop_remove_all(dip);
  EXPECT_STREQ(ddi_get_name_addr(dip), "3");
  EXPECT_STREQ(ddi_driver_name(dip), "tiny");
  EXPECT_EQ(ddi_get_instance(dip), 0);
  EXPECT_EQ(ddi_get_parent(dip), fk::root_node());
  fk::remove_node(dip);
  EXPECT_TRUE(fk::leaks().empty());
}

TEST_F(KernelTest, PropLookupNotFreedIsALeak) {
  Boot();
  fk_test::FakeDevice dev;
  dev_info_t *dip = fk::add_pci_node(&dev, {"tiny", 3, 0});
  int *ints;
  uint_t n;
  ASSERT_EQ(ddi_prop_lookup_int_array(DDI_DEV_T_ANY, dip, 0, const_cast<char *>("reg"), &ints, &n),
            DDI_PROP_SUCCESS);
  ASSERT_EQ(fk::leaks().size(), 1u);
  EXPECT_EQ(fk::leaks()[0].kind, "prop");
  ddi_prop_free(ints);
  fk::remove_node(dip);
}

TEST_F(KernelTest, KstatsAreReadable) {
  Boot();
  kstat_t *ks = kstat_create("tiny", 0, "stats", "misc", KSTAT_TYPE_NAMED, 2, 0);
  ASSERT_NE(ks, nullptr);
  auto *kn = static_cast<kstat_named_t *>(ks->ks_data);
  kstat_named_init(&kn[0], "reads", KSTAT_DATA_UINT64);
  kstat_named_init(&kn[1], "errors", KSTAT_DATA_UINT32);
  kn[0].value.ui64 = 12;
  kn[1].value.ui32 = 3;
  EXPECT_EQ(fk::kstat_find("tiny", 0, "stats"), nullptr) << "not installed yet";
  kstat_install(ks);
  EXPECT_EQ(fk::kstat_value("tiny", 0, "stats", "reads"), std::optional<uint64_t>(12));
  EXPECT_EQ(fk::kstat_value("tiny", 0, "stats", "errors"), std::optional<uint64_t>(3));
  EXPECT_EQ(fk::kstat_value("tiny", 0, "stats", "nope"), std::nullopt);
  kstat_delete(ks);
  EXPECT_EQ(fk::kstat_find("tiny", 0, "stats"), nullptr);
  EXPECT_TRUE(fk::leaks().empty());
}

TEST_F(KernelTest, SoftState) {
  Boot();
  void *state = nullptr;
  ASSERT_EQ(ddi_soft_state_init(&state, 40, 1), 0);
  ASSERT_EQ(ddi_soft_state_zalloc(state, 3), DDI_SUCCESS);
  EXPECT_NE(ddi_get_soft_state(state, 3), nullptr);
  EXPECT_EQ(ddi_get_soft_state(state, 2), nullptr);
  ddi_soft_state_free(state, 3);
  ddi_soft_state_fini(&state);
  EXPECT_EQ(state, nullptr);
  EXPECT_TRUE(fk::leaks().empty());
}

}  // namespace
