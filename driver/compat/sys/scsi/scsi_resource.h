/*
 * SCSI resources: scsi_init_pkt(9F), scsi_destroy_pkt(9F) and their flags.
 */
#ifndef _SYS_SCSI_SCSI_RESOURCE_H
#define _SYS_SCSI_SCSI_RESOURCE_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_address;
struct scsi_pkt;

/* Callback preference for resource allocation. C++ has no unprototyped function pointers, so
 * these take the (caddr_t) argument that scsi_init_pkt(9F)'s callback parameter has. */
#ifndef NULL_FUNC
#define NULL_FUNC ((int (*)(caddr_t))0)
#endif
#ifndef SLEEP_FUNC
#define SLEEP_FUNC ((int (*)(caddr_t))1)
#endif

/* scsi_init_pkt(9F) flags */
#define PKT_CONSISTENT 0x0001    /* an 'iopb' packet: consistent DMA */
#define PKT_DMA_PARTIAL 0x040000 /* partial transfer is acceptable */
#define PKT_XARQ 0x080000        /* request extra sense */
#define PKT_CONSISTENT_OLD 0x001000

struct buf *scsi_alloc_consistent_buf(struct scsi_address *ap, struct buf *bp, size_t datalen,
                                      uint_t bflags, int (*callback)(caddr_t), caddr_t arg);
void scsi_free_consistent_buf(struct buf *bp);

struct scsi_pkt *scsi_init_pkt(struct scsi_address *ap, struct scsi_pkt *pktp, struct buf *bp,
                               int cmdlen, int statuslen, int privatelen, int flags,
                               int (*callback)(caddr_t), caddr_t arg);
void scsi_destroy_pkt(struct scsi_pkt *pkt);
void scsi_sync_pkt(struct scsi_pkt *pkt);
void scsi_dmafree(struct scsi_pkt *pkt);

int scsi_pkt_allocated_correctly(struct scsi_pkt *pkt);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_RESOURCE_H */
