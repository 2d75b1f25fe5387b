/* sys/ddi_intr.h - interrupt handling (ddi_intr_alloc(9F) and friends). */
#ifndef _SYS_DDI_INTR_H
#define _SYS_DDI_INTR_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/dditypes.h>

/* Interrupt types. */
#define DDI_INTR_TYPE_FIXED 0x1
#define DDI_INTR_TYPE_MSI 0x2
#define DDI_INTR_TYPE_MSIX 0x4

/* ddi_intr_alloc() behavior. */
#define DDI_INTR_ALLOC_NORMAL 0
#define DDI_INTR_ALLOC_STRICT 1

/* Capabilities (ddi_intr_get_cap). */
#define DDI_INTR_FLAG_LEVEL 0x0001
#define DDI_INTR_FLAG_EDGE 0x0002
#define DDI_INTR_FLAG_MASKABLE 0x0010
#define DDI_INTR_FLAG_PENDING 0x0020
#define DDI_INTR_FLAG_BLOCK 0x0100
#define DDI_INTR_FLAG_MSI64 0x0200
#define DDI_INTR_FLAG_RETARGETABLE 0x0400

/* Handler return values. */
#define DDI_INTR_UNCLAIMED 0
#define DDI_INTR_CLAIMED 1

/* Priorities. */
#define DDI_INTR_PRI_MIN 1
#define DDI_INTR_PRI_MAX 12
#define DDI_INTR_SOFTPRI_MIN 1
#define DDI_INTR_SOFTPRI_MAX 9
#define DDI_INTR_SOFTPRI_DEFAULT DDI_INTR_SOFTPRI_MIN

/* The mutex_init(9F) argument for a lock shared with a handler of priority pri. */
#define DDI_INTR_PRI(pri) ((void *)(uintptr_t)(pri))

typedef uint_t(ddi_intr_handler_t)(caddr_t arg1, caddr_t arg2);

#ifdef __cplusplus
extern "C" {
#endif
extern int ddi_intr_get_supported_types(dev_info_t *dip, int *typesp);
extern int ddi_intr_get_nintrs(dev_info_t *dip, int type, int *nintrsp);
extern int ddi_intr_get_navail(dev_info_t *dip, int type, int *navailp);
extern int ddi_intr_alloc(dev_info_t *dip, ddi_intr_handle_t *h_array, int type, int inum,
                          int count, int *actualp, int behavior);
extern int ddi_intr_free(ddi_intr_handle_t h);
extern int ddi_intr_get_pri(ddi_intr_handle_t h, uint_t *prip);
extern int ddi_intr_set_pri(ddi_intr_handle_t h, uint_t pri);
extern int ddi_intr_get_cap(ddi_intr_handle_t h, int *flagsp);
extern int ddi_intr_add_handler(ddi_intr_handle_t h, ddi_intr_handler_t inthandler, void *arg1,
                                void *arg2);
extern int ddi_intr_remove_handler(ddi_intr_handle_t h);
extern int ddi_intr_enable(ddi_intr_handle_t h);
extern int ddi_intr_disable(ddi_intr_handle_t h);
extern int ddi_intr_block_enable(ddi_intr_handle_t *h_array, int count);
extern int ddi_intr_block_disable(ddi_intr_handle_t *h_array, int count);
extern int ddi_intr_set_mask(ddi_intr_handle_t h);
extern int ddi_intr_clr_mask(ddi_intr_handle_t h);
extern int ddi_intr_get_pending(ddi_intr_handle_t h, int *pendingp);
extern uint_t ddi_intr_get_hilevel_pri(void);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_DDI_INTR_H */
