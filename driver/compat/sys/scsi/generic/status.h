/*
 * SCSI status byte values.
 */
#ifndef _SYS_SCSI_GENERIC_STATUS_H
#define _SYS_SCSI_GENERIC_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define STATUS_MASK 0x3E
#define STATUS_GOOD 0x00
#define STATUS_CHECK 0x02
#define STATUS_MET 0x04
#define STATUS_BUSY 0x08
#define STATUS_INTERMEDIATE 0x10
#define STATUS_SCSI2 0x20
#define STATUS_INTERMEDIATE_MET 0x14
#define STATUS_RESERVATION_CONFLICT 0x18
#define STATUS_TERMINATED 0x22
#define STATUS_QFULL 0x28
#define STATUS_ACA_ACTIVE 0x30
#define STATUS_TASK_ABORT 0x40

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_GENERIC_STATUS_H */
