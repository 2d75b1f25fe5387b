/*
 * scsi_address(9S): how a packet or device names its transport and unit address. With
 * SCSI_HBA_ADDR_COMPLEX the union holds the scsi_device (private; reach it through
 * scsi_address_device(9F)); with SCSI_HBA_ADDR_SPI it holds the SPI target and LUN.
 */
#ifndef _SYS_SCSI_SCSI_ADDRESS_H
#define _SYS_SCSI_SCSI_ADDRESS_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_hba_tran;
struct scsi_device;

struct scsi_address {
  struct scsi_hba_tran *a_hba_tran; /* transport vectors */
  union {
    struct {             /* SPI form */
      ushort_t a_target; /* target number */
      uchar_t a_lun;     /* LUN on the target */
      uchar_t _a_sublun; /* private */
    } spi;
    struct scsi_device *a_sd; /* COMPLEX form (private) */
  } a;
};
#define a_target a.spi.a_target
#define a_lun a.spi.a_lun
#define a_sublun a.spi._a_sublun

/* Unit-address property names the framework sets on a LUN's node. */
#define SCSI_ADDR_PROP_TARGET "target"           /* int */
#define SCSI_ADDR_PROP_LUN "lun"                 /* int */
#define SCSI_ADDR_PROP_TARGET_PORT "target-port" /* string */
#define SCSI_ADDR_PROP_LUN64 "lun64"             /* int64 */
#define SCSI_ADDR_PROP_SFUNC "sfunc"             /* int */
#define SCSI_ADDR_PROP_IPORTUA "scsi-iport"      /* string */

/* A LUN in its 64-bit normalized form. */
typedef uint64_t scsi_lun64_t;
#define SCSI_LUN64_ILLEGAL (-1L)

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_ADDRESS_H */
