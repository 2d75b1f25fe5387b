/*
 * SCSA basic types. Pulls in the DDI headers every SCSA declaration relies on (dev_info_t,
 * kmutex_t, the DMA types, struct buf, kmem) and defines opaque_t.
 */
#ifndef _SYS_SCSI_SCSI_TYPES_H
#define _SYS_SCSI_SCSI_TYPES_H

#include <sys/types.h>
#include <sys/param.h>
#include <sys/ksynch.h>
#include <sys/kmem.h>
#include <sys/buf.h>
#include <sys/ddidmareq.h>
#include <sys/ddi.h>
#include <sys/sunddi.h>
#include <sys/mutex.h>
#include <sys/condvar.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A pointer whose type only its owner knows (pkt_ha_private, pkt_private). */
typedef void *opaque_t;

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_SCSI_TYPES_H */
