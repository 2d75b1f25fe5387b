/*
 * SCSI autoconfiguration: the results of scsi_probe(9F) and tran_tgt_probe(9E).
 */
#ifndef _SYS_SCSI_CONF_AUTOCONF_H
#define _SYS_SCSI_CONF_AUTOCONF_H

#ifdef __cplusplus
extern "C" {
#endif

#define SCSIPROBE_EXISTS 0   /* device exists, INQUIRY data valid */
#define SCSIPROBE_NONCCS 1   /* device exists, no INQUIRY data */
#define SCSIPROBE_NORESP 2   /* device did not respond */
#define SCSIPROBE_NOMEM 3    /* no space available for structures */
#define SCSIPROBE_FAILURE 4  /* polled command failure */
#define SCSIPROBE_BUSY 5     /* device was busy */
#define SCSIPROBE_NOMEM_CB 6 /* no space, callback queued */
#define SCSIPROBE_ASLEEP 7   /* device is asleep */

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_CONF_AUTOCONF_H */
