// Tests of task queues (fk_taskq.cc): dispatch, wait and failure injection.
#include <gtest/gtest.h>

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/ddi.h>

#include <atomic>

#include "kernel_test_util.h"

namespace {

using fk_test::KernelTest;

TEST_F(KernelTest, TaskqRunsAndWaits) {
  Boot();
  ddi_taskq_t *tq = ddi_taskq_create(nullptr, "tq", 1, TASKQ_DEFAULTPRI, 0);
  static std::atomic<int> runs;
  runs = 0;
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(ddi_taskq_dispatch(
                  tq, [](void *) { runs++; }, nullptr, DDI_SLEEP),
              DDI_SUCCESS);
  ddi_taskq_wait(tq);
  EXPECT_EQ(runs.load(), 10);
  fk::fail_nth(fk::kFailTaskqDispatch, 1);
  EXPECT_EQ(ddi_taskq_dispatch(
                tq, [](void *) { runs++; }, nullptr, DDI_NOSLEEP),
            DDI_FAILURE);
  ddi_taskq_destroy(tq);
  EXPECT_TRUE(fk::leaks().empty());
}

}  // namespace
