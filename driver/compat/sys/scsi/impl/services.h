/*
 * SCSA services: scsi_poll(9F), scsi_log(9F), the capability index table behind
 * scsi_hba_lookup_capstr(9F) and the interconnect types.
 */
#ifndef _SYS_SCSI_IMPL_SERVICES_H
#define _SYS_SCSI_IMPL_SERVICES_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_pkt;
struct scsi_device;

int scsi_poll(struct scsi_pkt *pkt);

char *scsi_dname(int dtyp);
char *scsi_rname(uchar_t reason);
char *scsi_sname(uchar_t sense_key);

void scsi_log(dev_info_t *dev, char *label, uint_t level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define SCSI_DEBUG 0xDEB00000

#define SCSI_ERR_ALL 0
#define SCSI_ERR_UNKNOWN 1
#define SCSI_ERR_INFO 2
#define SCSI_ERR_RECOVERED 3
#define SCSI_ERR_RETRYABLE 4
#define SCSI_ERR_FATAL 5
#define SCSI_ERR_NONE 6

/* Capability indices: scsi_hba_lookup_capstr(9F) maps the strings below to these. */
#define SCSI_CAP_DMA_MAX 0
#define SCSI_CAP_MSG_OUT 1
#define SCSI_CAP_DISCONNECT 2
#define SCSI_CAP_SYNCHRONOUS 3
#define SCSI_CAP_WIDE_XFER 4
#define SCSI_CAP_PARITY 5
#define SCSI_CAP_INITIATOR_ID 6
#define SCSI_CAP_UNTAGGED_QING 7
#define SCSI_CAP_TAGGED_QING 8
#define SCSI_CAP_ARQ 9
#define SCSI_CAP_LINKED_CMDS 10
#define SCSI_CAP_SECTOR_SIZE 11
#define SCSI_CAP_TOTAL_SECTORS 12
#define SCSI_CAP_GEOMETRY 13
#define SCSI_CAP_RESET_NOTIFICATION 14
#define SCSI_CAP_QFULL_RETRIES 15
#define SCSI_CAP_QFULL_RETRY_INTERVAL 16
#define SCSI_CAP_SCSI_VERSION 17
#define SCSI_CAP_INTERCONNECT_TYPE 18
#define SCSI_CAP_LUN_RESET 19
#define SCSI_CAP_CDB_LEN 20
#define SCSI_CAP_DMA_MAX_ARCH 21
#define SCSI_CAP_TRAN_LAYER_RETRIES 22
#define SCSI_CAP_ASCII                                                                        \
  {                                                                                           \
    "dma-max", "msg-out", "disconnect", "synchronous", "wide-xfer", "parity", "initiator-id", \
        "untagged-qing", "tagged-qing", "auto-rqsense", "linked-cmds", "sector-size",         \
        "total-sectors", "geometry", "reset-notification", "qfull-retries",                   \
        "qfull-retry-interval", "scsi-version", "interconnect-type", "lun-reset",             \
        "max-cdb-length", "dma-max-arch", "tran-layer-retries", NULL                          \
  }

/* SCSI_CAP_SCSI_VERSION values */
#define SCSI_VERSION_1 1
#define SCSI_VERSION_2 2
#define SCSI_VERSION_3 3

/* SCSI_CAP_INTERCONNECT_TYPE values */
#define INTERCONNECT_PARALLEL 1
#define INTERCONNECT_FIBRE 2
#define INTERCONNECT_1394 3
#define INTERCONNECT_SSA 4
#define INTERCONNECT_FABRIC 5
#define INTERCONNECT_USB 6
#define INTERCONNECT_ATAPI 7
#define INTERCONNECT_ISCSI 8
#define INTERCONNECT_IBSRP 9
#define INTERCONNECT_SATA 10
#define INTERCONNECT_SAS 11
#define INTERCONNECT_MAX 12

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_IMPL_SERVICES_H */
