// The instruction floor: the least a PVSCSI driver must execute per I/O - write a request
// descriptor, publish the producer index, read the completion back (context, statuses) and
// publish the consumer index. Nothing else: no locking, no syncs, no doorbell, no checks, no
// framework. Written against the same generated layouts the driver uses, so callgrind counts
// the same accessor code. Everything the driver-side floor executes is in namespace
// pvbench_floor (the callgrind filter); the simulated device is outside it.
#pragma once

#include <cstdint>

#include "pvscsi_hw.h"

namespace pvbench_floor {

struct Rings {
  pvscsi::hw::RingsState *rs;
  pvscsi::hw::RingReqDesc *req;
  pvscsi::hw::RingCmpDesc *cmp;
  uint32_t entries;  // both rings, a power of two
  uint32_t req_prod, cmp_cons;
  void **cookies;  // context - 1 -> the caller's request
};

// One 4 KiB READ(10)/WRITE(10) of `lba` to/from `paddr`; context = slot + 1.
void submit(Rings *r, void *cookie, uint64_t lba, uint64_t paddr, bool write);
// Reads every new completion; calls nothing, returns how many and the last cookie seen.
uint32_t reap(Rings *r, void **last);

}  // namespace pvbench_floor

namespace pvbench {

// The device side of the floor (not counted): completes every published request with success.
void floor_device(pvbench_floor::Rings *r, uint32_t *req_cons, uint32_t *cmp_prod);

}  // namespace pvbench
