/* sys/dditypes.h - DDI opaque handle types and small structures. */
#ifndef _SYS_DDITYPES_H
#define _SYS_DDITYPES_H

#include <sys/types.h>
#include <sys/compat_types.h>

typedef struct dev_info dev_info_t;
typedef struct __ddi_acc_handle *ddi_acc_handle_t;
typedef struct __ddi_dma_handle *ddi_dma_handle_t;
typedef struct __ddi_iblock_cookie *ddi_iblock_cookie_t;
typedef struct __ddi_idevice_cookie *ddi_idevice_cookie_t;
typedef struct __ddi_intr_handle *ddi_intr_handle_t;
typedef struct __ddi_softint_handle *ddi_softint_handle_t;
typedef struct __ddi_softintr *ddi_softintr_t;
typedef struct __ddi_devmap_data *devmap_cookie_t;
typedef struct __ddi_dma_win *ddi_dma_win_t;
typedef struct __ddi_dma_seg *ddi_dma_seg_t;
typedef struct ddi_taskq ddi_taskq_t;

/*
 * A DMA cookie: one physically contiguous segment of a bound object.
 */
typedef struct {
  union {
    uint64_t _dmac_ll;    /* 64-bit DMA address */
    uint32_t _dmac_la[2]; /* 2 x 32-bit address */
  } _dmu;
  size_t dmac_size; /* DMA cookie size */
  uint_t dmac_type; /* bus specific type bits */
} ddi_dma_cookie_t;

#define dmac_laddress _dmu._dmac_ll
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define dmac_notused _dmu._dmac_la[0]
#define dmac_address _dmu._dmac_la[1]
#else
#define dmac_address _dmu._dmac_la[0]
#define dmac_notused _dmu._dmac_la[1]
#endif

/* Device register access attributes. */
typedef struct ddi_device_acc_attr {
  ushort_t devacc_attr_version;
  uchar_t devacc_attr_endian_flags;
  uchar_t devacc_attr_dataorder;
  uchar_t devacc_attr_access; /* access error protection (V1) */
} ddi_device_acc_attr_t;

#define DDI_DEVICE_ATTR_V0 0x0001
#define DDI_DEVICE_ATTR_V1 0x0002

/* devacc_attr_endian_flags */
#define DDI_NEVERSWAP_ACC 0x00
#define DDI_STRUCTURE_LE_ACC 0x01
#define DDI_STRUCTURE_BE_ACC 0x02

/* devacc_attr_dataorder */
#define DDI_STRICTORDER_ACC 0x00
#define DDI_UNORDERED_OK_ACC 0x01
#define DDI_MERGING_OK_ACC 0x02
#define DDI_LOADCACHING_OK_ACC 0x03
#define DDI_STORECACHING_OK_ACC 0x04

/* devacc_attr_access */
#define DDI_DEFAULT_ACC 0x01
#define DDI_FLAGERR_ACC 0x02
#define DDI_CAUTIOUS_ACC 0x03

/* Repeated access: ddi_rep_get*, ddi_rep_put* flags. */
#define DDI_DEV_AUTOINCR 0
#define DDI_DEV_NO_AUTOINCR 1

#endif /* _SYS_DDITYPES_H */
