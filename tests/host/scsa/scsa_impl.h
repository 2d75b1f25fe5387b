// Internal state of the userland SCSA framework, shared by its source files.
#pragma once

#include <sys/scsi/scsi.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fk_internal.h"
#include "scsa.h"
#include "tgtmap_state.h"

namespace fk::scsa {

// --- the device tree, through the kernel (scsa_node.cc) ---
namespace node {
// A child of `parent` named `name` with unit address `addr`. bind_parent_driver: the child is
// bound to the parent's driver (iports); otherwise it has no driver (LUN nodes: the target
// client plays the driver). nullptr on failure.
dev_info_t *create_child(dev_info_t *parent, const char *name, const char *addr,
                         bool bind_parent_driver);
int attach(dev_info_t *dip);  // through the bound driver's dev_ops; DDI_SUCCESS/DDI_FAILURE
int detach(dev_info_t *dip);
void remove(dev_info_t *dip);
// Kernel mutexes held by the calling thread.
size_t locks_held();
// The calling thread runs an interrupt handler (illumos: T_INTR_THREAD).
bool in_interrupt();
// Report a contract violation to the kernel.
void report(const std::string &what);
}  // namespace node

void violation(Check check, const std::string &what);

// --- packets ---
constexpr uint32_t kPktMagic = 0x5343504b;  // "SCPK"
struct Tran;

// One framework-allocated packet: an object of its HBA's packet cache (the kmem_cache
// scsi_hba_attach_setup(9F) creates for tran_setup_pkt(9E) HBAs). kmem memory (counted by the
// kernel's leak accounting); the HBA-private area and the cache's inline CDB and status areas
// follow the wrapper in the same allocation. As on a DEBUG kernel (kmem_flags KMF_DEADBEEF),
// every allocation constructs the object and every free destroys it and fills it with
// 0xdeadbeef, which the next allocation verifies.
struct PktWrapper {
  scsi_pkt pkt;  // first: a scsi_pkt * is a PktWrapper *
  uint32_t magic;
  Tran *tran;   // the transport the packet was allocated through (pkt_address.a_hba_tran)
  Tran *cache;  // the cache owner: the HBA's transport, the constructor's argument
  size_t alloc_size;
  enum State : int { kIdle, kInTransport, kCompleted } state;
  bool in_start;                 // tran_start running for it
  bool completed_in_start;       // by the thread running tran_start: pkt_comp deferred
  bool destroy_deferred;         // destroyed on another thread during tran_start: freed after it
  uint64_t gen;                  // bumped by every scsi_transport
  int64_t transported_ns;        // virtual time of the latest scsi_transport
  std::thread::id start_thread;  // the thread running tran_start
  bool constructed;              // tran_pkt_constructor succeeded
  bool leaked;                   // lost by scsi_init_pkt after a failed DMA bind
  bool dma_bound;
  struct buf *bp;
  uint_t nwin;
  uint_t curwin;
  size_t cdb_cap, scb_cap, tgt_cap;  // areas allocated beyond the inline ones (0: none)
  uchar_t *cdb_area, *scb_area;
  void *tgt_area;
  uchar_t *cdb_inline, *scb_inline;  // the cache object's own areas (SCSI_HBA_TRAN_CDB/SCB)
  ddi_dma_cookie_t *cookie_array;
  uint_t cookie_cap;
  PktWrapper *next_free;
};

// Framework state for one scsi_hba_tran_t (allocated by scsi_hba_tran_alloc).
struct Tran {
  scsi_hba_tran_t *tran;
  dev_info_t *dip = nullptr;  // node the tran was attached to
  bool attached = false;
  bool is_iport = false;
  bool clone = false;     // the framework's copy of the HBA's tran for an iport
  Tran *cache = nullptr;  // the packet cache packets of this tran come from: the HBA's own
                          // (the iport copy shares it, as the structure copy shares
                          // tran_pkt_cache_ptr); nullptr: none (no tran_setup_pkt at attach)
  std::mutex mu;          // guards the packet cache and the packet sets
  // The cache (owner only): its geometry, fixed at scsi_hba_attach_setup as kmem_cache_create
  // fixes it, its freed (poisoned) objects and every object it holds.
  size_t cache_hba_len = 0;
  int cache_flags = 0;
  PktWrapper *free_list = nullptr;
  size_t cached = 0;
  std::set<PktWrapper *> objects;  // allocated, freed or lost: every object of the cache
  std::set<PktWrapper *> pkts;     // every live packet allocated through this tran
};

// --- iports ---
struct Iport {
  std::string ua;
  dev_info_t *hba_dip;
  dev_info_t *dip = nullptr;
  bool attached = false;
};

// --- LUNs and targets ---
struct Lun {
  __scsi_tgtmap *map;
  std::string target;
  uint64_t lun;
  std::string ua;
  scsi_device *sd;
  dev_info_t *dip;
  bool tgt_inited = false;
  bool online = false;
  bool present = false;  // INQUIRY reports a logical unit (LUN 0 may be configured without)
  char *ua_cstr;         // kmem copy handed out by scsi_device_unit_address
  size_t ua_len;
};

struct Target {
  std::string addr;
  int type;
  void *priv;
  std::map<uint64_t, Lun *> luns;
};

}  // namespace fk::scsa

struct __scsi_tgtmap {
  uint32_t magic;
  dev_info_t *iport_dip;
  fk::scsa::Tran *tran;
  void *priv;
  scsi_tgt_activate_cb_t activate;
  scsi_tgt_deactivate_cb_t deactivate;
  int csync_usec;
  int settle_usec;
  std::mutex mu;  // guards state, timer fields, rescans, targets
  fk::scsa::TgtMapState state;
  timeout_id_t timer = nullptr;
  bool timer_armed = false;
  int queued = 0;  // process jobs dispatched and not finished
  bool destroying = false;
  std::set<std::string> rescan;  // targets waiting for a LUN rescan
  // The map's configuration thread. A framework thread rather than a ddi_taskq: its work waits
  // for I/O (REPORT LUNS, INQUIRY) that may need the virtual clock to move, and tests use
  // fk::drain() ("no driver task queue work") before driving the clock with settle().
  fk::impl::KThread worker;
  fk::impl::HostCv work_cv;  // jobs to run, or stop
  fk::impl::HostCv idle_cv;  // queued fell to 0
  int jobs = 0;
  bool stop_worker = false;
  std::map<std::string, fk::scsa::Target *> targets;  // activated targets (taskq thread only)

  __scsi_tgtmap(scsi_tgtmap_mode_t mode, int settle)
      : state(mode == SCSI_TM_FULLSET ? fk::scsa::TgtMapState::Mode::kFullSet
                                      : fk::scsa::TgtMapState::Mode::kPerAddr,
              int64_t{settle} * 1000) {}
};

namespace fk::scsa {

// Global registries (one framework per process).
struct Registry {
  std::mutex mu;
  std::map<scsi_hba_tran_t *, Tran *> trans;
  std::map<dev_info_t *, std::vector<Iport>> iports;  // by HBA node
  std::set<__scsi_tgtmap *> maps;
  std::map<scsi_device *, Lun *> luns;  // every scsi_device the framework made
  std::set<PktWrapper *> pkts;          // every live packet
  std::vector<TargetDriver *> drivers;
  std::vector<Violation> violations;
  std::atomic<uint64_t> generation{0};
  std::atomic<uint64_t> transports{0}, accepted{0}, busy{0}, completions{0}, rescans{0},
      lun_change_uas{0}, nointr_converted{0}, cfg_failures{0};
};
Registry &reg();

Tran *tran_of(scsi_hba_tran_t *tran);  // nullptr if not framework-allocated
Tran *tran_of_dip(dev_info_t *dip);    // the attached tran of an HBA or iport node

// Packets a LUN / tran still has in transport: reported as kNotCompletedAtDetach.
void check_no_outstanding(Tran *t, const scsi_device *sd, const char *when);
// kmem_cache_destroy of a tran's packet cache: verifies and frees its freed objects and the
// ones scsi_init_pkt lost (destructor, handle, memory).
void drain_pkt_cache(Tran *t);

// Ask the map that owns sd's target to rescan its LUNs (unit attention path).
void request_rescan_for(scsi_device *sd);
LunInfo lun_info(const Lun *l);
// Detach bookkeeping shared by scsi_hba_detach and the iport clone teardown.
void detach_tran(Tran *t, dev_info_t *dip);
// Framework data-buffer syncs around a transport and a completion.
void sync_for_device(scsi_pkt *pkt);
void sync_for_cpu(scsi_pkt *pkt);

}  // namespace fk::scsa
