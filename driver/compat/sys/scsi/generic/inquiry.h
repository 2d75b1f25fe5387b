/*
 * scsi_inquiry(9S): standard INQUIRY data, and the peripheral qualifier and device types.
 */
#ifndef _SYS_SCSI_GENERIC_INQUIRY_H
#define _SYS_SCSI_GENERIC_INQUIRY_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_inquiry {
#if defined(_BIT_FIELDS_HTOL)
  uchar_t inq_qual : 3, inq_dtype : 5;
  uchar_t inq_rmb : 1, inq_dtq : 7;
  uchar_t inq_iso : 2, inq_ecma : 3, inq_ansi : 3;
  uchar_t inq_aenc : 1, inq_trmiop : 1, inq_hisup : 1, inq_normaca : 1, inq_rdf : 4;
#else
  uchar_t inq_dtype : 5, /* peripheral device type */
      inq_qual : 3;      /* peripheral qualifier */
  uchar_t inq_dtq : 7, inq_rmb : 1;
  uchar_t inq_ansi : 3, inq_ecma : 3, inq_iso : 2;
  uchar_t inq_rdf : 4, inq_normaca : 1, inq_hisup : 1, inq_trmiop : 1, inq_aenc : 1;
#endif
  uchar_t inq_len; /* additional length */
#if defined(_BIT_FIELDS_HTOL)
  uchar_t inq_sccs : 1, inq_acc : 1, inq_tpgs : 2, inq_3pc : 1, inq_5_2 : 2, inq_protect : 1;
  uchar_t inq_bque : 1, inq_encserv : 1, inq_vs_6_5 : 1, inq_multip : 1, inq_mchngr : 1,
      inq_ackqreqq : 1, inq_addr32 : 1, inq_addr16 : 1;
  uchar_t inq_reladdr : 1, inq_wbus32 : 1, inq_wbus16 : 1, inq_sync : 1, inq_linked : 1,
      inq_trandis : 1, inq_cmdque : 1, inq_sftre : 1;
#else
  uchar_t inq_protect : 1, inq_5_2 : 2, inq_3pc : 1, inq_tpgs : 2, inq_acc : 1, inq_sccs : 1;
  uchar_t inq_addr16 : 1, inq_addr32 : 1, inq_ackqreqq : 1, inq_mchngr : 1, inq_multip : 1,
      inq_vs_6_5 : 1, inq_encserv : 1, inq_bque : 1;
  uchar_t inq_sftre : 1, inq_cmdque : 1, inq_trandis : 1, inq_linked : 1, inq_sync : 1,
      inq_wbus16 : 1, inq_wbus32 : 1, inq_reladdr : 1;
#endif
  char inq_vid[8];      /* vendor identification */
  char inq_pid[16];     /* product identification */
  char inq_revision[4]; /* product revision level */
  uchar_t inq_serial[12];
  uchar_t inq_vendor_specific[8];
  uchar_t inq_clk_qas_ius;
  uchar_t inq_57_resvd;
  uchar_t inq_vd[16];    /* version descriptors */
  uchar_t inq_74_95[22]; /* reserved */
};

/* Peripheral qualifier (inq_qual << 5) */
#define DPQ_POSSIBLE 0x00  /* device type connected or possibly connected */
#define DPQ_SUPPORTED 0x20 /* supported but not connected */
#define DPQ_NEVER 0x60     /* never connected at this LUN */
#define DPQ_VUNIQ 0x80
#define DPQ_MASK 0xE0

/* Peripheral device types */
#define DTYPE_DIRECT 0x00
#define DTYPE_SEQUENTIAL 0x01
#define DTYPE_PRINTER 0x02
#define DTYPE_PROCESSOR 0x03
#define DTYPE_WORM 0x04
#define DTYPE_RODIRECT 0x05
#define DTYPE_SCANNER 0x06
#define DTYPE_OPTICAL 0x07
#define DTYPE_CHANGER 0x08
#define DTYPE_COMM 0x09
#define DTYPE_ARRAY_CTRL 0x0C
#define DTYPE_ESI 0x0D
#define DTYPE_RBC 0x0E
#define DTYPE_OCRW 0x0F
#define DTYPE_BRIDGE 0x10
#define DTYPE_OSD 0x11
#define DTYPE_UNKNOWN 0x1F
#define DTYPE_MASK 0x1F
#define DTYPE_NOTPRESENT (DPQ_NEVER | DTYPE_UNKNOWN)

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_GENERIC_INQUIRY_H */
