/*
 * SCSI parameters: CDB group sizes and the limits of the SPI addressing model.
 */
#ifndef _SYS_SCSI_SCSI_PARAMS_H
#define _SYS_SCSI_SCSI_PARAMS_H

#ifdef __cplusplus
extern "C" {
#endif

#define NTARGETS 8 /* targets per SPI bus */
#define NTARGETS_WIDE 16
#define NLUNS_PER_TARGET 8
#define NLUNS_PER_TARGET_SCSI3 256 /* SCSI-3 logical units per target */

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_PARAMS_H */
