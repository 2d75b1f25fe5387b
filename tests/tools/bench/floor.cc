#include "floor.h"

#include <cstring>

namespace pvbench_floor {

namespace hw = pvscsi::hw;

__attribute__((noinline)) void submit(Rings *r, void *cookie, uint64_t lba, uint64_t paddr,
                                      bool write) {
  uint32_t slot = r->req_prod & (r->entries - 1);
  hw::RingReqDesc *d = &r->req[slot];
  memset(d->raw, 0, sizeof(d->raw));  // unused bytes must be zero
  r->cookies[slot] = cookie;
  d->set_context(slot + 1)
      .set_data_addr(paddr)
      .set_data_len(4096)
      .set_sense_addr(0)
      .set_sense_len(0)
      .set_flags(write ? hw::RequestFlag::kDirToDevice : hw::RequestFlag::kDirToHost)
      .set_cdb_len(10)
      .set_tag(hw::Tag::kSimple)
      .set_lun(hw::SamLun::from_lun64(0))
      .set_target(0);
  d->set_cdb(0, write ? 0x2A : 0x28);
  for (uint32_t i = 0; i < 4; i++) d->set_cdb(2 + i, uint8_t(lba >> (24 - 8 * i)));
  d->set_cdb(8, 8);  // 8 x 512-byte blocks
  r->req_prod++;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  r->rs->set_req_prod_idx(r->req_prod);
}

__attribute__((noinline)) uint32_t reap(Rings *r, void **last) {
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  uint32_t prod = r->rs->cmp_prod_idx();
  uint32_t n = 0;
  for (; r->cmp_cons != prod; r->cmp_cons++, n++) {
    const hw::RingCmpDesc &c = r->cmp[r->cmp_cons & (r->entries - 1)];
    uint64_t ctx = c.context();
    if (c.host_status() == hw::HostStatus::kSuccess && c.scsi_status() == hw::ScsiStatus::kGood)
      *last = r->cookies[(ctx - 1) & (r->entries - 1)];
  }
  __atomic_thread_fence(__ATOMIC_RELEASE);
  r->rs->set_cmp_cons_idx(r->cmp_cons);
  return n;
}

}  // namespace pvbench_floor

namespace pvbench {

void floor_device(pvbench_floor::Rings *r, uint32_t *req_cons, uint32_t *cmp_prod) {
  namespace hw = pvscsi::hw;
  uint32_t prod = r->rs->req_prod_idx();
  for (; *req_cons != prod; ++*req_cons) {
    const hw::RingReqDesc &q = r->req[*req_cons & (r->entries - 1)];
    hw::RingCmpDesc &c = r->cmp[*cmp_prod & (r->entries - 1)];
    memset(c.raw, 0, sizeof(c.raw));
    c.set_context(q.context()).set_data_len(q.data_len());
    ++*cmp_prod;
  }
  r->rs->set_req_cons_idx(*req_cons);
  r->rs->set_cmp_prod_idx(*cmp_prod);
}

}  // namespace pvbench
