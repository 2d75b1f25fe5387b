/* sys/ddidmareq.h - DMA attributes and request flags (ddi_dma_attr(9S)). */
#ifndef _SYS_DDIDMAREQ_H
#define _SYS_DDIDMAREQ_H

#include <sys/types.h>
#include <sys/compat_types.h>

typedef struct ddi_dma_attr {
  uint_t dma_attr_version;     /* version number (DMA_ATTR_V0) */
  uint64_t dma_attr_addr_lo;   /* low DMA address range */
  uint64_t dma_attr_addr_hi;   /* high DMA address range */
  uint64_t dma_attr_count_max; /* DMA counter register (max cookie size - 1) */
  uint64_t dma_attr_align;     /* DMA address alignment */
  uint_t dma_attr_burstsizes;  /* DMA burstsizes */
  uint32_t dma_attr_minxfer;   /* min effective DMA size */
  uint64_t dma_attr_maxxfer;   /* max DMA xfer size */
  uint64_t dma_attr_seg;       /* segment boundary */
  int dma_attr_sgllen;         /* s/g length (max cookies) */
  uint32_t dma_attr_granular;  /* granularity of device */
  uint_t dma_attr_flags;       /* bus-specific DMA flags */
} ddi_dma_attr_t;

#define DMA_ATTR_V0 0
#define DMA_ATTR_VERSION DMA_ATTR_V0

/* dma_attr_flags */
#define DDI_DMA_FORCE_PHYSICAL 0x0100
#define DDI_DMA_FLAGERR 0x200
#define DDI_DMA_RELAXED_ORDERING 0x400

/* Request flags (ddi_dma_*_bind_handle, ddi_dma_mem_alloc). */
#define DDI_DMA_WRITE 0x0001 /* direction: memory to device */
#define DDI_DMA_READ 0x0002  /* direction: device to memory */
#define DDI_DMA_RDWR (DDI_DMA_READ | DDI_DMA_WRITE)
#define DDI_DMA_REDZONE 0x0004
#define DDI_DMA_PARTIAL 0x0008
#define DDI_DMA_CONSISTENT 0x0010
#define DDI_DMA_EXCLUSIVE 0x0020
#define DDI_DMA_STREAMING 0x0040
#define DDI_DMA_SBUS_64BIT 0x2000

/* Callback values for waitfp. */
#define DDI_DMA_DONTWAIT ((int (*)(caddr_t))0)
#define DDI_DMA_SLEEP ((int (*)(caddr_t))1)

/* Return values of the bind functions. */
#define DDI_DMA_MAPPED 0
#define DDI_DMA_MAPOK 0
#define DDI_DMA_PARTIAL_MAP 1
#define DDI_DMA_DONE 2
#define DDI_DMA_NORESOURCES -1
#define DDI_DMA_NOMAPPING -2
#define DDI_DMA_TOOBIG -3
#define DDI_DMA_TOOSMALL -4
#define DDI_DMA_LOCKED -5
#define DDI_DMA_BADLIMITS -6
#define DDI_DMA_STALE -7
#define DDI_DMA_BADATTR -8
#define DDI_DMA_INUSE -9

/* ddi_dma_sync() types. */
#define DDI_DMA_SYNC_FORDEV 0x0
#define DDI_DMA_SYNC_FORCPU 0x1
#define DDI_DMA_SYNC_FORKERNEL 0x2

#endif /* _SYS_DDIDMAREQ_H */
