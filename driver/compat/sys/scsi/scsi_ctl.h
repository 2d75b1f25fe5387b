/*
 * SCSI control: reset levels and the abort/reset/capability entry points of scsi_abort(9F),
 * scsi_reset(9F), scsi_ifgetcap(9F).
 */
#ifndef _SYS_SCSI_SCSI_CTL_H
#define _SYS_SCSI_SCSI_CTL_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_address;
struct scsi_pkt;

/* Reset levels: RESET_ALL, RESET_TARGET and RESET_LUN for tran_reset(9E); RESET_BUS for
 * tran_bus_reset(9E). */
#define RESET_ALL 0
#define RESET_TARGET 1
#define RESET_BUS 2
#define RESET_LUN 3

/* scsi_reset_notify(9F) flags */
#define SCSI_RESET_NOTIFY 0x01
#define SCSI_RESET_CANCEL 0x02

#define SCSI_MAXNAMELEN MAXNAMELEN
#define SCSI_NO_QUIESCE "scsi-no-quiesce"

int scsi_ifgetcap(struct scsi_address *ap, char *cap, int whom);
int scsi_ifsetcap(struct scsi_address *ap, char *cap, int value, int whom);

int scsi_abort(struct scsi_address *ap, struct scsi_pkt *pkt);
int scsi_reset(struct scsi_address *ap, int level);
int scsi_reset_notify(struct scsi_address *ap, int flag, void (*callback)(caddr_t), caddr_t arg);

int scsi_clear_task_set(struct scsi_address *ap);
int scsi_terminate_task(struct scsi_address *ap, struct scsi_pkt *pkt);
int scsi_clear_aca(struct scsi_address *ap);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_CTL_H */
