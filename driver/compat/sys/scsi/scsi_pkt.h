/*
 * scsi_pkt(9S): the packet a target driver allocates with scsi_init_pkt(9F), the HBA fills
 * during transport, and scsi_hba_pkt_comp(9F) hands back through pkt_comp. The fields after
 * pkt_reason are valid only for packets allocated through the framework (tran_setup_pkt(9E)).
 */
#ifndef _SYS_SCSI_SCSI_PKT_H
#define _SYS_SCSI_SCSI_PKT_H

#include <sys/scsi/scsi_types.h>
#include <sys/scsi/scsi_address.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_pkt {
  opaque_t pkt_ha_private;             /* HBA private data (tran_hba_len bytes) */
  struct scsi_address pkt_address;     /* destination */
  opaque_t pkt_private;                /* target driver private data */
  void (*pkt_comp)(struct scsi_pkt *); /* completion routine */
  uint_t pkt_flags;                    /* FLAG_* */
  int pkt_time;                        /* seconds allotted; 0 means no timeout */
  uchar_t *pkt_scbp;                   /* status block */
  uchar_t *pkt_cdbp;                   /* command block */
  ssize_t pkt_resid;                   /* bytes not transferred */
  uint_t pkt_state;                    /* STATE_* */
  uint_t pkt_statistics;               /* STAT_* */
  uchar_t pkt_reason;                  /* CMD_* */

  /* HBA only, when scsi_hba_pkt_alloc(9F) or tran_setup_pkt(9E) is used */
  uint_t pkt_cdblen; /* length of pkt_cdbp */
  uint_t pkt_tgtlen; /* length of pkt_private */
  uint_t pkt_scblen; /* length of pkt_scbp */

  /* HBA only, when tran_setup_pkt(9E) is used */
  ddi_dma_handle_t pkt_handle;   /* private */
  uint_t pkt_numcookies;         /* number of DMA cookies */
  off_t pkt_dma_offset;          /* private */
  size_t pkt_dma_len;            /* bytes covered by the cookies */
  uint_t pkt_dma_flags;          /* DDI_DMA_* flags of the binding */
  ddi_dma_cookie_t *pkt_cookies; /* array of pkt_numcookies cookies */

  int pkt_path_instance; /* private */
  void *pkt_stmp;        /* private */
};

/* pkt_flags: generic */
#define FLAG_STAG 0x4000 /* simple tag */
#define FLAG_OTAG 0x2000 /* ordered tag */
#define FLAG_HTAG 0x1000 /* head-of-queue tag */
#define FLAG_TAGMASK (FLAG_HTAG | FLAG_OTAG | FLAG_STAG)
#define FLAG_ACA 0x0100     /* internal */
#define FLAG_HEAD 0x8000    /* put at the head of the HBA's queue */
#define FLAG_SENSING 0x0400 /* request sense for a failed packet */
#define FLAG_NOINTR 0x0001  /* polled: complete on return from scsi_transport(9F) */
/* pkt_flags: SCSI parallel bus */
#define FLAG_NODISCON 0x0002
#define FLAG_NOPARITY 0x0008
#define FLAG_RENEGOTIATE_WIDE_SYNC 0x1000000
/* pkt_flags: internal */
#define FLAG_IMMEDIATE_CB 0x0800
#define FLAG_SILENT 0x00010000
#define FLAG_DIAGNOSE 0x00020000
#define FLAG_ISOLATE 0x00040000
#define FLAG_TLR 0x00080000
#define FLAG_NOQUEUE 0x80000000
#define FLAG_PKT_PATH_INSTANCE 0x40000000
#define FLAG_PKT_COMP_CALLED 0x20000000 /* set once pkt_comp was called */

/* pkt_reason: generic */
#define CMD_CMPLT 0      /* no transport error */
#define CMD_INCOMPLETE 1 /* transport stopped in an abnormal state */
#define CMD_DMA_DERR 2   /* DMA direction error */
#define CMD_TRAN_ERR 3   /* unspecified transport error */
#define CMD_RESET 4      /* target completed a hard reset */
#define CMD_ABORTED 5    /* aborted on request */
#define CMD_TIMEOUT 6    /* timed out */
#define CMD_DATA_OVR 7   /* data overrun */
#define CMD_CMD_OVR 8    /* command overrun */
#define CMD_STS_OVR 9    /* status overrun */
#define CMD_TERMINATED 22
#define CMD_TLR_OFF 23
/* pkt_reason: SCSI parallel bus */
#define CMD_BADMSG 10
#define CMD_NOMSGOUT 11
#define CMD_XID_FAIL 12
#define CMD_IDE_FAIL 13
#define CMD_ABORT_FAIL 14
#define CMD_REJECT_FAIL 15
#define CMD_NOP_FAIL 16
#define CMD_PER_FAIL 17
#define CMD_BDR_FAIL 18
#define CMD_ID_FAIL 19
#define CMD_UNX_BUS_FREE 20
#define CMD_TAG_REJECT 21
#define CMD_DEV_GONE 24 /* the device has been removed */

/* pkt_state */
#define STATE_GOT_BUS 0x01
#define STATE_GOT_TARGET 0x02
#define STATE_SENT_CMD 0x04
#define STATE_XFERRED_DATA 0x08
#define STATE_GOT_STATUS 0x10
#define STATE_ARQ_DONE 0x20  /* auto request sense took place */
#define STATE_XARQ_DONE 0x40 /* extra auto request sense took place */

/* pkt_statistics: generic */
#define STAT_BUS_RESET 0x8
#define STAT_DEV_RESET 0x10
#define STAT_ABORTED 0x20
#define STAT_TERMINATED 0x80
#define STAT_TIMEOUT 0x40
/* pkt_statistics: SCSI parallel bus */
#define STAT_DISCON 0x1
#define STAT_SYNC 0x2
#define STAT_PERR 0x4

/* scsi_transport(9F) and tran_start(9E) return values */
#define TRAN_ACCEPT 1
#define TRAN_BUSY 0
#define TRAN_BADPKT -1
#define TRAN_FATAL_ERROR -2 /* the HBA cannot accept any packet */

int scsi_transport(struct scsi_pkt *pkt);
#define pkt_transport scsi_transport

#define SCSI_POLL_TIMEOUT 60

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_PKT_H */
