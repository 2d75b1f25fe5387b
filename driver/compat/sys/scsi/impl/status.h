/*
 * Status block layouts: struct scsi_status (the status byte as bits) and scsi_arq_status(9S),
 * the status block an HBA with auto request sense fills for a CHECK CONDITION.
 */
#ifndef _SYS_SCSI_IMPL_STATUS_H
#define _SYS_SCSI_IMPL_STATUS_H

#include <sys/scsi/scsi_types.h>
#include <sys/scsi/generic/sense.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_status {
#if defined(_BIT_FIELDS_HTOL)
  uchar_t sts_resvd : 1, sts_vu7 : 1, sts_vu6 : 1, sts_is : 1, sts_busy : 1, sts_cm : 1,
      sts_chk : 1, sts_vu0 : 1;
#else
  uchar_t sts_vu0 : 1, /* vendor unique */
      sts_chk : 1,     /* check condition */
      sts_cm : 1,      /* condition met */
      sts_busy : 1,    /* device busy or reserved */
      sts_is : 1,      /* intermediate status sent */
      sts_vu6 : 1, sts_vu7 : 1, sts_resvd : 1;
#endif
};
#define sts_scsi2 sts_vu6

struct scsi_arq_status {
  struct scsi_status sts_status;       /* status of the command */
  struct scsi_status sts_rqpkt_status; /* status of the request sense */
  uchar_t sts_rqpkt_reason;            /* pkt_reason of the request sense */
  uchar_t sts_rqpkt_resid;             /* residue of the request sense */
  uint_t sts_rqpkt_state;              /* pkt_state of the request sense */
  uint_t sts_rqpkt_statistics;         /* pkt_statistics of the request sense */
  struct scsi_extended_sense sts_sensedata;
};

#define SECMDS_SENSE_LENGTH SENSE_LENGTH

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_IMPL_STATUS_H */
