// The driver on a host as strict as a DEBUG illumos kernel: the iport's transport is the
// framework's copy of the HBA's (iport_preattach_tran_scsi_device clears tran_hba_private), the
// target map is created with non-zero csync and settle times, tran_setup_pkt runs before the
// framework binds the data (so tran_start checks the cookie count), and the driver's own
// ASSERTs are live.
#include <sys/scsi/scsi.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "mock_hba.h"
#include "pvscsi.h"

namespace driver_on_mock {
namespace {

using fk::client::KBuf;
using pvscsi_mock::Profile;

class FidelityTest : public DriverTest {};

scsi_hba_tran_t *iport_tran(const Hba &hba) {
  dev_info_t *ip = scsi_hba_iport_find(hba.dip(), const_cast<char *>("iport0"));
  return ip != nullptr ? static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(ip)) : nullptr;
}

// Fails when iport attach does not set its tran's tran_hba_private (every target entry point
// would find no soft state), or when scsi_hba_tgtmap_create is given a zero csync_usec.
TEST_F(FidelityTest, IportAttachSetsItsTranPrivateAndCreatesItsTargetMap) {
  Hba hba(mock_config(Profile::kVmware, {0, 3}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  auto *htran = static_cast<scsi_hba_tran_t *>(ddi_get_driver_private(hba.dip()));
  scsi_hba_tran_t *itran = iport_tran(hba);
  ASSERT_NE(htran, nullptr);
  ASSERT_NE(itran, nullptr);
  EXPECT_NE(itran, htran);
  EXPECT_NE(itran->tran_hba_private, nullptr);
  EXPECT_EQ(itran->tran_hba_private, htran->tran_hba_private);
  EXPECT_NE(itran->tran_tgtmap, nullptr);
  EXPECT_EQ(hba.luns().size(), 2u);
  ASSERT_NE(hba.lun(3, 0), nullptr);
  EXPECT_TRUE(fk::client::test_unit_ready(hba.lun(3, 0)).ok());
  ASSERT_EQ(hba.detach(), DDI_SUCCESS);
}

// The framework binds after tran_setup_pkt, so the cookie count is known only in tran_start,
// which refuses more cookies than one SG list holds (dma_attr_sgllen already prevents it).
TEST_F(FidelityTest, TranStartRefusesMoreCookiesThanTheSgListHolds) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  KBuf b(4096);
  struct buf *bp = getrbuf(KM_SLEEP);
  bp->b_un.b_addr = reinterpret_cast<caddr_t>(b.data());
  bp->b_bcount = b.size();
  bp->b_flags = B_READ;
  scsi_pkt *pkt = scsi_init_pkt(&sd->sd_address, nullptr, bp, CDB_GROUP1,
                                int(sizeof(struct scsi_arq_status)), 0, 0, SLEEP_FUNC, nullptr);
  ASSERT_NE(pkt, nullptr);
  ASSERT_GT(pkt->pkt_numcookies, 0u);
  uint_t real = pkt->pkt_numcookies;
  pkt->pkt_cdbp[0] = SCMD_READ_G1;
  pkt->pkt_numcookies = pvscsi::hw::kMaxSgEntriesPerSegment + 1;  // planted
  EXPECT_EQ(scsi_transport(pkt), TRAN_BADPKT);
  pkt->pkt_numcookies = real;
  scsi_destroy_pkt(pkt);
  freerbuf(bp);
  ASSERT_EQ(hba.detach(), DDI_SUCCESS);
}

// sd frees a packet and allocates the next from its completion routine, which runs in the
// driver's interrupt handler. With a DEBUG kmem the packet cache constructs and destroys on
// every allocation and free, so the driver's constructor (DMA memory per command) and destructor
// run there: neither may sleep (the kernel reports a KM_SLEEP or DDI_DMA_SLEEP there).
struct Chain {
  scsi_address *ap = nullptr;
  int left = 0;
  int failed = 0;
  bool done = false;
  std::mutex mu;
};
Chain *g_chain;

void chain_finish(bool failed) {
  std::lock_guard<std::mutex> g(g_chain->mu);
  g_chain->failed += failed ? 1 : 0;
  g_chain->done = true;
}

bool chain_start(int (*cb)(caddr_t));

void chain_comp(scsi_pkt *pkt) {
  bool ok = pkt->pkt_reason == CMD_CMPLT && (*pkt->pkt_scbp & STATUS_MASK) == STATUS_GOOD;
  scsi_destroy_pkt(pkt);
  if (!ok) {
    chain_finish(true);
  } else if (--g_chain->left == 0) {
    chain_finish(false);
  } else if (!chain_start(NULL_FUNC)) {
    chain_finish(true);
  }
}

bool chain_start(int (*cb)(caddr_t)) {
  scsi_pkt *pkt = scsi_init_pkt(g_chain->ap, nullptr, nullptr, CDB_GROUP0,
                                int(sizeof(struct scsi_arq_status)), 0, 0, cb, nullptr);
  if (pkt == nullptr) return false;
  bzero(pkt->pkt_cdbp, CDB_GROUP0); /* TEST UNIT READY */
  pkt->pkt_comp = chain_comp;
  pkt->pkt_time = 10;
  if (scsi_transport(pkt) == TRAN_ACCEPT) return true;
  scsi_destroy_pkt(pkt);
  return false;
}

TEST_F(FidelityTest, PacketsFreedAndAllocatedInTheCompletionRoutine) {
  Hba hba(mock_config(Profile::kVmware, {0}));
  ASSERT_EQ(hba.attach(), DDI_SUCCESS);
  scsi_device *sd = hba.lun(0, 0);
  ASSERT_NE(sd, nullptr);
  Chain chain;
  chain.ap = &sd->sd_address;
  chain.left = 200;
  g_chain = &chain;
  ASSERT_TRUE(chain_start(SLEEP_FUNC));
  // The mock completes on the virtual clock: once the interrupt handler has run (and started
  // the next command), fire the next event.
  auto finished = [&] {
    std::lock_guard<std::mutex> g(chain.mu);
    return chain.done;
  };
  for (int i = 0; i < 10000 && !finished(); i++) {
    fk::drain();
    if (!finished()) (void)fk::run_next_event();
  }
  ASSERT_TRUE(finished()) << chain.left << " left";
  EXPECT_EQ(chain.failed, 0);
  EXPECT_EQ(chain.left, 0);
  EXPECT_GE(hba.stat("commands"), 200u);
  g_chain = nullptr;
  ASSERT_EQ(hba.detach(), DDI_SUCCESS);
}

// The driver is built with DEBUG: ASSERT(mutex_owned(&sc->lock)) in the submit path fires when
// the lock is not held, and assfail() aborts as illumos panics. Without DEBUG the ASSERT is
// compiled out and the call returns.
TEST(FidelityDeathTest, SubmitWithoutTheLockPanics) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        fk::boot();
        static pvscsi::pvscsi_softc sc;
        static pvscsi::pvscsi_cmd cmd;
        mutex_init(&sc.lock, nullptr, MUTEX_DRIVER, nullptr);
        pvscsi::Doorbell bell = pvscsi::Doorbell::kNone;
        (void)pvscsi::pvscsi_submit(&sc, &cmd, &bell);  // planted: lock not held
        fprintf(stderr, "no assertion\n");
        _exit(0);
      },
      "assertion failed: mutex_owned");
}

}  // namespace
}  // namespace driver_on_mock
