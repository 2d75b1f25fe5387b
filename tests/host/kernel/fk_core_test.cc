// Tests of the core (fk_core.cc): console prefixes and SDT probe counts.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>
#include <sys/cmn_err.h>
#include <sys/sdt.h>

#include <vector>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

TEST_F(KernelTest, ConsolePrefixesAreHonoured) {
  Boot();
  cmn_err(CE_WARN, "!log only %d", 1);
  cmn_err(CE_NOTE, "^console only");
  cmn_err(CE_NOTE, "?verbose only");
  cmn_err(CE_WARN, "both");
  auto c = fk::console();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].text, "log only 1");
  EXPECT_FALSE(c[0].to_console);
  EXPECT_TRUE(c[0].to_log);
  EXPECT_TRUE(c[1].to_console);
  EXPECT_FALSE(c[1].to_log);
  EXPECT_FALSE(c[2].to_console);
  EXPECT_FALSE(c[2].to_log);
  EXPECT_TRUE(c[3].to_console && c[3].to_log);
  EXPECT_EQ(fk::console_count(CE_WARN), 2u);
}

TEST_F(KernelTest, SdtProbesAreCounted) {
  Boot();
  for (int i = 0; i < 3; i++) DTRACE_PROBE2(tiny__probe, int, i, int, 7);
  DTRACE_PROBE(tiny__bare);
  EXPECT_EQ(fk::sdt_count("tiny__probe"), 3u);
  EXPECT_EQ(fk::sdt_last_args("tiny__probe"), std::vector<uintptr_t>({2, 7}));
  EXPECT_EQ(fk::sdt_count("tiny__bare"), 1u);
  EXPECT_EQ(fk::sdt_count("tiny-probe"), 3u) << "the DTrace spelling";
  EXPECT_EQ(fk::sdt_count("never"), 0u);
}

}  // namespace
