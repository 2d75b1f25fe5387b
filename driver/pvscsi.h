/*
 * pvscsi: VMware paravirtual SCSI HBA driver - private definitions.
 *
 * The hardware interface (registers, commands, descriptor layouts, limits) is generated from
 * hw/pvscsi.yaml into pvscsi_hw.h; this header holds only the driver's own state and policy.
 *
 * Locking: one mutex (pvs_lock) protects the rings, the context table and all driver state.
 * It is never held across a call into the SCSA framework (pkt completion, target map), and
 * nothing that can sleep is done while holding it.
 */
#ifndef _PVSCSI_H
#define _PVSCSI_H

#include <sys/types.h>
#include <sys/debug.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>
#include <sys/scsi/scsi.h>
#include <sys/kstat.h>

#include "pvscsi_hw.h"

namespace pvscsi {

/* Tunables and defaults (pvscsi.conf may override the ring sizes and features). */
constexpr uint32_t kDefaultReqRingPages = 8;
constexpr uint32_t kDefaultMsgRingPages = 1;
constexpr uint32_t kSenseBufLen = 256;
constexpr uint32_t kSgListBytes = hw::kMaxSgEntriesPerSegment * hw::SgElement::kSize;
/* Per-command DMA memory: the SG list first (it must not cross a page), then sense. */
constexpr uint32_t kCmdDmaBytes = kSgListBytes + kSenseBufLen;
constexpr uint32_t kMaxTargets = 256; /* target is a u8 in the request descriptor */
constexpr int kWatchdogUsec = 500000;
constexpr int64_t kAbortWaitNsec = 2000000000LL;
constexpr int64_t kResetWaitNsec = 5000000000LL;
constexpr int kPollTimeSec = 60; /* polled packets with pkt_time 0 */
constexpr int kTgtmapSettleUsec = 100000;
/* How long after the map is created a bus_config waits for targets already present (not 0:
 * scsi_hba_tgtmap_create refuses it); the first discovery runs inside iport attach. */
constexpr int kTgtmapCsyncUsec = 100000;

static_assert(kSgListBytes <= hw::kPageSize / 2, "the SG list must fit half a page");
static_assert(hw::kMaxQueueDepth < 65536, "context indices are 16-bit");

/* A DMA buffer owned by the driver: handle, access handle, kernel address, device address. */
struct pvscsi_dma {
  ddi_dma_handle_t dmah;
  ddi_acc_handle_t acch;
  caddr_t kaddr;
  uint64_t paddr;
  size_t len;
};

/* The doorbell a queued request needs, rung once the lock is dropped. */
enum class Doorbell : uint8_t { kNone, kRw, kNonRw };

/* Escalation steps for an overdue command. */
enum class Step : uint8_t { kNone, kAbort, kDeviceReset, kBusReset };

/* Per-packet HBA private area (tran_hba_len), also used for internal probe commands. */
struct pvscsi_cmd {
  struct scsi_pkt *pkt; /* NULL for internal commands */
  pvscsi_cmd *next;     /* done list; for probe commands, the list of them */
  pvscsi_dma dma;       /* SG list + sense buffer, preallocated by the constructor */
  /* Request parameters, filled by tran_start (or by the probe). */
  uint32_t target;
  uint64_t lun;
  const uint8_t *cdb;
  uint8_t cdblen;
  hw::Tag tag;
  /* State while in the context table. */
  uint32_t ctx; /* while outstanding: slot + 1 | submission tag << 16; else 0 */
  bool done;
  Step step;
  hrtime_t deadline;          /* 0: no timeout */
  hw::HostStatus host_status; /* how an internal command completed */
};

/* Per-LUN private data, set by tran_tgt_init from the unit address; listed in the softc so a
 * target reset can reach each LUN. */
struct pvscsi_lun {
  uint32_t target;
  uint64_t lun;
  pvscsi_lun *next;
};

/* Named kstats, in this order (pvscsi.cc names them): counters, then what attach negotiated
 * (ring entries, message ring entries or 0, targets, DDI_INTR_TYPE_*, request-call threshold:
 * 0 unsupported, 1 supported but off, 2 in use). */
struct pvscsi_stats {
  uint64_t commands, kicks_rw, kicks_non_rw, kicks_saved, interrupts, busy, timeouts, aborts;
  uint64_t device_resets, bus_resets, adapter_resets, bogus, hotplug_events, unknown_msgs;
  uint64_t rescans, req_entries, cmp_entries, msg_entries, max_targets, intr_type, threshold;
};

struct pvscsi_softc {
  dev_info_t *dip;
  kmutex_t lock;

  /* Registers. */
  ddi_acc_handle_t regs_acch;
  caddr_t regs_base;

  /* Interrupts. */
  ddi_intr_handle_t ihandle;
  int intr_type, intr_cap;
  uint_t intr_pri;
  bool intr_enabled;

  /* Device features, probed at attach. */
  bool have_msg_ring, have_threshold, use_threshold;
  uint32_t max_targets; /* CONFIG numPhys, else 16 (raised if discovery finds more) */
  uint32_t probe_limit; /* targets discovery probes: numPhys, else QEMU's 64 */
  bool dead;            /* the device failed to come back from a reset */

  /* Rings. */
  pvscsi_dma rings_state, req_ring, cmp_ring, msg_ring;
  uint32_t req_pages, cmp_pages, msg_pages;
  uint32_t req_entries, cmp_entries, msg_entries;
  uint32_t req_prod, cmp_cons, msg_cons; /* ours: the shared copies are never trusted */

  /* Outstanding commands: slot i holds context i + 1. */
  pvscsi_cmd **ctx_table;
  uint16_t *ctx_free;
  uint32_t ctx_nfree;
  uint16_t next_tag; /* the last submission tag (1..65535) */

  /* SCSA. */
  scsi_hba_tran_t *tran;
  scsi_hba_tgtmap_t *tgtmap; /* while the iport is attached */
  ddi_dma_attr_t data_dma_attr;

  /* Discovery and hotplug: work is recorded in bitmaps so it can never be lost. */
  ddi_taskq_t *taskq;
  bool task_queued, rescan_all;
  uint8_t tgt_pending[kMaxTargets / 8]; /* target add/remove to report */
  uint8_t tgt_present[kMaxTargets / 8]; /* latest state the device announced */
  uint8_t tgt_reported[kMaxTargets / 8];
  uint8_t lun_rescan[kMaxTargets / 8];
  uint8_t tgt_dropped[kMaxTargets / 8]; /* the map dropped it (LUN 0 failed): not reported */
  uint8_t tgt_cfgfail[kMaxTargets / 8]; /* the map dropped it (LUN 0 failed): report it again */
  uint8_t cfg_tries[kMaxTargets];       /* such retries since the device last announced it */
  uint32_t cfg_wait;                    /* watchdog ticks until the retry (0: none pending) */
  pvscsi_cmd *probe_cmd; /* probe commands, made by the discovery task as it needs them */
  pvscsi_lun *luns;      /* every LUN with a node */

  /* Error handling. */
  timeout_id_t watchdog; /* 0: not armed */
  bool detaching, restart_needed, bogus_reported;
  bool degraded;        /* DDI_SERVICE_DEGRADED posted, RESTORED not yet */
  uint32_t wd_req_cons; /* reqConsIdx at the last watchdog tick */
  uint64_t wd_bogus;    /* bogus values counted at the last watchdog tick */

  pvscsi_stats stats;
  kstat_t *kstat;
};

/* Register I/O policy for the generated register types: ddi_get32/ddi_put32 on the BAR. */
struct RegIo {
  pvscsi_softc *sc;
  uint32_t read32(uint32_t off) {
    return ddi_get32(sc->regs_acch, reinterpret_cast<uint32_t *>(sc->regs_base + off));
  }
  void write32(uint32_t off, uint32_t v) {
    ddi_put32(sc->regs_acch, reinterpret_cast<uint32_t *>(sc->regs_base + off), v);
  }
};

/* Call back completed packets, outside the lock (pvscsi_io.cc). */
void pvscsi_complete_list(pvscsi_cmd *list);

/* Scoped ownership of the driver lock. The packets put on `done` under it are completed once it
 * is dropped. */
class LockGuard {
 public:
  explicit LockGuard(kmutex_t *m) : m_(m) { mutex_enter(m_); }
  ~LockGuard() {
    mutex_exit(m_);
    if (done != nullptr) pvscsi_complete_list(done);
  }
  LockGuard(const LockGuard &) = delete;
  LockGuard &operator=(const LockGuard &) = delete;
  pvscsi_cmd *done = nullptr;

 private:
  kmutex_t *m_;
};

/* Command status: -1 is failure (or unsupported), -2 an incomplete descriptor; QEMU answers
 * some commands with other non-zero values on success. */
inline bool pvscsi_command_ok(uint32_t status) {
  return status != hw::kCommandStatusFailed && status != hw::kCommandStatusIncomplete;
}

/* Append a completion list to another. */
inline void pvscsi_append(pvscsi_cmd **list, pvscsi_cmd *more) {
  while (*list != nullptr) list = &(*list)->next;
  *list = more;
}

inline bool bit_test(const uint8_t *map, uint32_t i) { return (map[i / 8] >> (i % 8)) & 1; }
inline void bit_set(uint8_t *map, uint32_t i) { map[i / 8] |= uint8_t(1u << (i % 8)); }
inline void bit_clear(uint8_t *map, uint32_t i) { map[i / 8] &= uint8_t(~(1u << (i % 8))); }
inline void bit_put(uint8_t *map, uint32_t i, bool v) { v ? bit_set(map, i) : bit_clear(map, i); }

/*
 * dev_err(9F) takes its format as `char *` (<sys/cmn_err.h>), which a C++ string literal does
 * not convert to; dev_err does not write to it. format_arg keeps the format checked.
 */
__attribute__((format_arg(1))) inline char *ce_fmt(const char *fmt) {
  return const_cast<char *>(fmt);
}

/*
 * SDT probes. DTRACE_PROBEn (<sys/sdt.h>) declares __dtrace_probe_<name> at block scope; in
 * C++ that names a function of the enclosing namespace with C++ linkage, a mangled symbol the
 * kernel runtime linker does not turn into a probe. Declared here first, with C linkage and in
 * the namespace of every probe site, the block-scope declaration redeclares these and keeps
 * the plain symbol ([basic.link], [dcl.link]). A probe site must be in namespace pvscsi itself
 * (not an unnamed namespace) and its probe listed here; scripts/check-module.py rejects a
 * mangled probe.
 */
extern "C" {
void __dtrace_probe_pvscsi__submit(uintptr_t, uintptr_t);
void __dtrace_probe_pvscsi__complete(uintptr_t, uintptr_t);
void __dtrace_probe_pvscsi__hotplug(uintptr_t, uintptr_t, uintptr_t);
void __dtrace_probe_pvscsi__reset(uintptr_t, uintptr_t);
}

/* pvscsi.cc: attach, detach, device set-up */
/* Send a command (with its descriptor, if it takes one) and return the status. Serialized by
 * the lock. */
template <class Cmd, class... Descriptor>
uint32_t pvscsi_command(pvscsi_softc *sc, const Descriptor &...d) {
  RegIo io{sc};
  return hw::send_command<Cmd>(io, d...);
}
/* Mask every interrupt cause and reset the adapter: it forgets its rings and every request. */
inline void pvscsi_stop(pvscsi_softc *sc) {
  RegIo io{sc};
  hw::IntrMask().write(io);
  (void)hw::send_command<hw::CmdAdapterReset>(io);
}
int pvscsi_setup_rings(pvscsi_softc *sc);
inline void pvscsi_sync(const pvscsi_dma &d, off_t off, size_t len, uint_t how) {
  (void)ddi_dma_sync(d.dmah, off, len, how);
}
/* Sync the bytes of one field (or a cover() of fields) of a structure at the start of d. */
inline void pvscsi_sync(const pvscsi_dma &d, hw::FieldSpan f, uint_t how) {
  pvscsi_sync(d, off_t(f.offset), f.size, how);
}
/* The shared ring indices. `fresh`: first sync for the CPU every index of the request and
 * completion rings the device writes (so none is overwritten unseen by a restart's zeroing). */
inline hw::RingsState *pvscsi_rings_state(pvscsi_softc *sc, bool fresh = false) {
  if (fresh)
    pvscsi_sync(sc->rings_state,
                hw::cover(hw::RingsState::kReqProdIdxSpan, hw::RingsState::kReqCallThresholdSpan),
                DDI_DMA_SYNC_FORKERNEL);
  return reinterpret_cast<hw::RingsState *>(sc->rings_state.kaddr);
}
/* The DMA attributes the rings and the per-command buffers share, by member name (the function
 * keeps them constant-initialized): any 64-bit address, one segment of up to 4 GiB - 1 bytes,
 * byte granularity, aligned to `align`. dma_attr_addr_lo and dma_attr_flags are zero. */
constexpr ddi_dma_attr_t pvscsi_dma_attr(uint64_t align) {
  ddi_dma_attr_t a{};
  a.dma_attr_version = DMA_ATTR_V0;
  a.dma_attr_addr_hi = ~0ull;
  a.dma_attr_count_max = 0xFFFFFFFFull;
  a.dma_attr_align = align;
  a.dma_attr_burstsizes = 1;
  a.dma_attr_minxfer = 1;
  a.dma_attr_maxxfer = 0xFFFFFFFFull;
  a.dma_attr_seg = ~0ull;
  a.dma_attr_sgllen = 1;
  a.dma_attr_granular = 1;
  return a;
}
int pvscsi_dma_alloc(pvscsi_softc *sc, pvscsi_dma *d, size_t len, const ddi_dma_attr_t *attr,
                     int kmflag);
void pvscsi_dma_free(pvscsi_dma *d);
void pvscsi_report_bogus(pvscsi_softc *sc, const char *what, uint64_t value);

/* pvscsi_io.cc: packets, the request and completion rings, interrupts */
extern const ddi_dma_attr_t pvscsi_cmd_dma_attr;
int pvscsi_tran_start(struct scsi_address *ap, struct scsi_pkt *pkt);
int pvscsi_tran_setup_pkt(struct scsi_pkt *pkt, int (*cb)(caddr_t), caddr_t arg);
void pvscsi_tran_teardown_pkt(struct scsi_pkt *pkt);
int pvscsi_pkt_constructor(struct scsi_pkt *pkt, scsi_hba_tran_t *tran, int kmflag);
void pvscsi_pkt_destructor(struct scsi_pkt *pkt, scsi_hba_tran_t *tran);
int pvscsi_tran_getcap(struct scsi_address *ap, char *cap, int whom);
int pvscsi_tran_setcap(struct scsi_address *ap, char *cap, int value, int whom);
uint_t pvscsi_intr(caddr_t arg1, caddr_t arg2);
int pvscsi_submit(pvscsi_softc *sc, pvscsi_cmd *cmd, Doorbell *bell);
int pvscsi_start(pvscsi_softc *sc, pvscsi_cmd *cmd);
pvscsi_cmd *pvscsi_process_rings(pvscsi_softc *sc);
pvscsi_cmd *pvscsi_service(pvscsi_softc *sc);
void pvscsi_retire(pvscsi_softc *sc, pvscsi_cmd *cmd, pvscsi_cmd ***tail);
void pvscsi_fail_pkt(pvscsi_cmd *cmd, uchar_t reason, uint_t stat, uint64_t moved);
int pvscsi_poll(pvscsi_softc *sc, pvscsi_cmd *cmd, int seconds);

/* pvscsi_disc.cc: iport, target map, discovery, hotplug messages */
int pvscsi_iport_attach(dev_info_t *dip);
int pvscsi_iport_detach(dev_info_t *dip);
int pvscsi_tran_tgt_init(dev_info_t *, dev_info_t *, scsi_hba_tran_t *, struct scsi_device *);
void pvscsi_tran_tgt_free(dev_info_t *, dev_info_t *, scsi_hba_tran_t *, struct scsi_device *);
void pvscsi_process_msgs(pvscsi_softc *sc);
void pvscsi_schedule_task(pvscsi_softc *sc);
bool pvscsi_discovery_work(const pvscsi_softc *sc);
pvscsi_cmd *pvscsi_probe_cmd(pvscsi_softc *sc, uint32_t target);
void pvscsi_cfg_retry_tick(pvscsi_softc *sc);

/* pvscsi_reset.cc: timeouts, aborts, resets, adapter restart */
int pvscsi_tran_abort(struct scsi_address *ap, struct scsi_pkt *pkt);
int pvscsi_tran_reset(struct scsi_address *ap, int level);
void pvscsi_arm_watchdog(pvscsi_softc *sc);
pvscsi_cmd *pvscsi_restart_adapter(pvscsi_softc *sc);
pvscsi_cmd *pvscsi_escalate(pvscsi_softc *sc, pvscsi_cmd *cmd);

}  // namespace pvscsi

#endif /* _PVSCSI_H */
