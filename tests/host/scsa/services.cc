// Small SCSA services: message strings (scsi_rname(9F), scsi_sname(9F), scsi_dname(9F)),
// scsi_probe(9F), the task-management wrappers and consistent buffers.
#include <cstring>

#include "scsa_impl.h"

extern "C" {

char *scsi_rname(uchar_t reason) {
  static const char *const kNames[] = {"cmplt",       "incomplete", "dma_derr",
                                       "tran_err",    "reset",      "aborted",
                                       "timeout",     "data_ovr",   "cmd_ovr",
                                       "sts_ovr",     "badmsg",     "nomsgout",
                                       "xid_fail",    "ide_fail",   "abort_fail",
                                       "reject_fail", "nop_fail",   "per_fail",
                                       "bdr_fail",    "id_fail",    "unexpected_bus_free",
                                       "tag reject",  "terminated", "",
                                       "gone"};
  if (reason < sizeof(kNames) / sizeof(kNames[0])) {
    return const_cast<char *>(kNames[reason]);
  }
  return const_cast<char *>("<unknown reason>");
}

char *scsi_sname(uchar_t sense_key) {
  static const char *const kNames[] = {
      "No Additional Sense", "Soft Error",      "Not Ready",        "Media Error",
      "Hardware Error",      "Illegal Request", "Unit Attention",   "Write Protected",
      "Blank Check",         "Vendor Unique",   "Copy Aborted",     "Aborted Command",
      "Equal Error",         "Volume Overflow", "Miscompare Error", "Reserved"};
  return const_cast<char *>(sense_key < 16 ? kNames[sense_key] : "<unknown sense key>");
}

char *scsi_dname(int dtyp) {
  static const char *const kNames[] = {"Direct Access",
                                       "Sequential Access",
                                       "Printer",
                                       "Processor",
                                       "Write-Once/Read-Many",
                                       "Read-Only Direct Access",
                                       "Scanner",
                                       "Optical",
                                       "Changer",
                                       "Communications"};
  int t = dtyp & DTYPE_MASK;
  if (t < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) {
    return const_cast<char *>(kNames[t]);
  }
  return const_cast<char *>(t == DTYPE_ARRAY_CTRL ? "Array Controller"
                            : t == DTYPE_ESI      ? "Enclosure"
                            : t == DTYPE_UNKNOWN  ? "Unknown"
                                                  : "<unknown device type>");
}

// As illumos's scsi_probe (scsi_confsubr.c): the HBA's tran_tgt_probe or scsi_hba_probe; when
// the device does not answer as existing, a LUN reset (scsi_reset(RESET_LUN), warned about
// when it fails although the HBA claims "lun-reset") and one more probe.
int scsi_probe(struct scsi_device *sd, int (*callback)(void)) {
  if (sd == nullptr || sd->sd_address.a_hba_tran == nullptr) {
    return SCSIPROBE_FAILURE;
  }
  scsi_hba_tran_t *tran = sd->sd_address.a_hba_tran;
  int ret = SCSIPROBE_FAILURE;
  for (int retry = 0; retry < 2; retry++) {
    ret = tran->tran_tgt_probe != nullptr ? tran->tran_tgt_probe(sd, callback)
                                          : scsi_hba_probe(sd, callback);
    if (ret == SCSIPROBE_EXISTS || retry > 0) {
      break;
    }
    int lr_cap = scsi_ifgetcap(&sd->sd_address, const_cast<char *>("lun-reset"), 1);
    int sr_ret = scsi_reset(&sd->sd_address, RESET_LUN);
    if (sr_ret != 1 && lr_cap == 1) {
      cmn_err(CE_WARN, "scsi_probe(%d): scsi_reset failed(%d) lun-reset cap(%d)", ret, sr_ret,
              lr_cap);
    }
  }
  return ret;
}

void scsi_unprobe(struct scsi_device *sd) { (void)sd; }

int scsi_clear_task_set(struct scsi_address *ap) {
  if (ap == nullptr || ap->a_hba_tran == nullptr ||
      ap->a_hba_tran->tran_clear_task_set == nullptr) {
    return 0;
  }
  return ap->a_hba_tran->tran_clear_task_set(ap);
}

int scsi_terminate_task(struct scsi_address *ap, struct scsi_pkt *pkt) {
  if (ap == nullptr || ap->a_hba_tran == nullptr ||
      ap->a_hba_tran->tran_terminate_task == nullptr) {
    return 0;
  }
  return ap->a_hba_tran->tran_terminate_task(ap, pkt);
}

int scsi_clear_aca(struct scsi_address *ap) {
  if (ap == nullptr || ap->a_hba_tran == nullptr || ap->a_hba_tran->tran_clear_aca == nullptr) {
    return 0;
  }
  return ap->a_hba_tran->tran_clear_aca(ap);
}

// A buffer for small control transfers, from kernel memory (the kernel arena).
struct buf *scsi_alloc_consistent_buf(struct scsi_address *ap, struct buf *bp, size_t datalen,
                                      uint_t bflags, int (*callback)(caddr_t), caddr_t arg) {
  (void)ap;
  (void)arg;
  int kmflag = callback == SLEEP_FUNC ? KM_SLEEP : KM_NOSLEEP;
  bool mine = bp == nullptr;
  if (mine) {
    bp = getrbuf(kmflag);
    if (bp == nullptr) {
      return nullptr;
    }
  }
  void *data = datalen > 0 ? kmem_zalloc(datalen, kmflag) : nullptr;
  if (datalen > 0 && data == nullptr) {
    if (mine) {
      freerbuf(bp);
    }
    return nullptr;
  }
  bp->b_un.b_addr = static_cast<caddr_t>(data);
  bp->b_bcount = datalen;
  bp->b_bufsize = datalen;
  bp->b_flags = static_cast<int>(bflags);
  return bp;
}

void scsi_free_consistent_buf(struct buf *bp) {
  if (bp == nullptr) {
    return;
  }
  if (bp->b_un.b_addr != nullptr && bp->b_bufsize > 0) {
    kmem_free(bp->b_un.b_addr, bp->b_bufsize);
  }
  freerbuf(bp);
}

}  // extern "C"
