/*
 * sys/sunddi.h - Solaris DDI: device tree, properties, soft state, register access, DMA,
 * task queues, messages. (The interrupt interfaces are in <sys/ddi_intr.h>, included here.)
 */
#ifndef _SYS_SUNDDI_H
#define _SYS_SUNDDI_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/compat_param.h>
#include <sys/compat_sysmacros.h>
#include <sys/compat_pci.h>
#include <sys/dditypes.h>
#include <sys/ddidmareq.h>
#include <sys/ddi_intr.h>
#include <sys/devops.h>
#include <sys/cmn_err.h>
#include <sys/ksynch.h>
#include <sys/mutex.h>
#include <sys/condvar.h>
#include <sys/kmem.h>
#include <sys/systm.h>
#include <sys/ddi.h>
#include <sys/errno.h>

/*
 * The attribute arguments of ddi_regs_map_setup, ddi_dma_alloc_handle and ddi_dma_mem_alloc are
 * `const` in the DDI of illumos-gate's arm64-gate branch (the aarch64 build's headers) and not
 * at the illumos-gate revision the amd64 build follows; compat declares each as its tree does
 * (tests/suites/module/compat-facts.json). Passing a non-const attribute works with both.
 */
#if defined(__aarch64__)
#define _COMPAT_DDI_ATTR_CONST const
#else
#define _COMPAT_DDI_ATTR_CONST
#endif

/* General return values. */
#define DDI_SUCCESS 0
#define DDI_FAILURE -1
#define DDI_NOT_WELL_FORMED -2
#define DDI_EAGAIN -3
#define DDI_EINVAL -4
#define DDI_ENOTSUP -5
#define DDI_EPENDING -6
#define DDI_EALREADY -7

/* probe(9E) return values. */
#define DDI_PROBE_FAILURE ENXIO
#define DDI_PROBE_DONTCARE 0
#define DDI_PROBE_PARTIAL 1
#define DDI_PROBE_SUCCESS 2

/* Sleep flags for ddi_taskq_dispatch() and others. */
#define DDI_SLEEP 0
#define DDI_NOSLEEP 1

/* Device numbers. */
#define DDI_DEV_T_NONE ((dev_t)-1)
#define DDI_DEV_T_ANY ((dev_t)-2)
#define DDI_MAJOR_T_UNKNOWN ((major_t)0)

/* Property flags and return values. */
#define DDI_PROP_DONTPASS 0x0001
#define DDI_PROP_CANSLEEP 0x0002
#define DDI_PROP_SYSTEM_DEF 0x0004
#define DDI_PROP_NOTPROM 0x0008
#define DDI_PROP_DONTSLEEP 0x0010
#define DDI_PROP_STACK_CREATE 0x0020
#define DDI_PROP_UNDEF_IT 0x0040
#define DDI_PROP_HW_DEF 0x0080
#define DDI_PROP_TYPE_INT 0x0100
#define DDI_PROP_TYPE_STRING 0x0200
#define DDI_PROP_TYPE_BYTE 0x0400
#define DDI_PROP_TYPE_COMPOSITE 0x0800
#define DDI_PROP_TYPE_INT64 0x2000

#define DDI_PROP_SUCCESS 0
#define DDI_PROP_NOT_FOUND 1
#define DDI_PROP_UNDEFINED 2
#define DDI_PROP_NO_MEMORY 3
#define DDI_PROP_INVAL_ARG 4
#define DDI_PROP_BUF_TOO_SMALL 5
#define DDI_PROP_CANNOT_DECODE 6
#define DDI_PROP_CANNOT_ENCODE 7
#define DDI_PROP_END_OF_DATA 8

/* ddi_taskq_create() */
#define TASKQ_DEFAULTPRI ((pri_t)-1)

#ifdef __cplusplus
extern "C" {
#endif

/* Device tree. */
extern int ddi_get_instance(dev_info_t *dip);
extern dev_info_t *ddi_get_parent(dev_info_t *dip);
extern dev_info_t *ddi_get_child(dev_info_t *dip);
extern dev_info_t *ddi_get_next_sibling(dev_info_t *dip);
extern const char *ddi_driver_name(dev_info_t *dip);
extern char *ddi_node_name(dev_info_t *dip);
extern char *ddi_get_name(dev_info_t *dip);
extern char *ddi_get_name_addr(dev_info_t *dip);
extern char *ddi_pathname(dev_info_t *dip, char *path);
extern major_t ddi_driver_major(dev_info_t *dip);
extern void *ddi_get_driver_private(dev_info_t *dip);
extern void ddi_set_driver_private(dev_info_t *dip, void *data);
extern void ddi_report_dev(dev_info_t *dip);
extern int ddi_dev_is_sid(dev_info_t *dip);
extern int ddi_in_panic(void);

/* Generic dev_ops entry points. */
extern int ddi_no_info(dev_info_t *dip, ddi_info_cmd_t infocmd, void *arg, void **result);
extern int ddi_quiesce_not_needed(dev_info_t *dip);
extern int ddi_quiesce_not_supported(dev_info_t *dip);

/* Soft state. */
extern int ddi_soft_state_init(void **state_p, size_t size, size_t n_items);
extern void ddi_soft_state_fini(void **state_p);
extern int ddi_soft_state_zalloc(void *state, int item);
extern void *ddi_get_soft_state(void *state, int item);
extern void ddi_soft_state_free(void *state, int item);

/* Properties. */
extern int ddi_prop_exists(dev_t match_dev, dev_info_t *dip, uint_t flags, const char *name);
extern int ddi_prop_get_int(dev_t match_dev, dev_info_t *dip, uint_t flags, char *name,
                            int defvalue);
extern int64_t ddi_prop_get_int64(dev_t match_dev, dev_info_t *dip, uint_t flags, const char *name,
                                  int64_t defvalue);
extern int ddi_prop_lookup_int_array(dev_t match_dev, dev_info_t *dip, uint_t flags, char *name,
                                     int **datap, uint_t *nelementsp);
extern int ddi_prop_lookup_int64_array(dev_t match_dev, dev_info_t *dip, uint_t flags,
                                       const char *name, int64_t **datap, uint_t *nelementsp);
extern int ddi_prop_lookup_string(dev_t match_dev, dev_info_t *dip, uint_t flags, const char *name,
                                  char **datap);
extern int ddi_prop_lookup_string_array(dev_t match_dev, dev_info_t *dip, uint_t flags,
                                        const char *name, char ***datap, uint_t *nelementsp);
extern int ddi_prop_lookup_byte_array(dev_t match_dev, dev_info_t *dip, uint_t flags,
                                      const char *name, uchar_t **datap, uint_t *nelementsp);
extern void ddi_prop_free(void *data);
extern int ddi_prop_update_int(dev_t dev, dev_info_t *dip, const char *name, int data);
extern int ddi_prop_update_int64(dev_t dev, dev_info_t *dip, const char *name, int64_t data);
extern int ddi_prop_update_int_array(dev_t dev, dev_info_t *dip, const char *name, int *data,
                                     uint_t nelements);
extern int ddi_prop_update_string(dev_t dev, dev_info_t *dip, const char *name, char *data);
extern int ddi_prop_update_string_array(dev_t dev, dev_info_t *dip, const char *name, char **data,
                                        uint_t nelements);
extern int ddi_prop_update_byte_array(dev_t dev, dev_info_t *dip, const char *name, uchar_t *data,
                                      uint_t nelements);
extern int ddi_prop_remove(dev_t dev, dev_info_t *dip, const char *name);
extern void ddi_prop_remove_all(dev_info_t *dip);

/* Register access. */
extern int ddi_dev_nregs(dev_info_t *dip, int *resultp);
extern int ddi_dev_regsize(dev_info_t *dip, uint_t rnumber, off_t *resultp);
extern int ddi_regs_map_setup(dev_info_t *dip, uint_t rnumber, caddr_t *addrp, offset_t offset,
                              offset_t len, _COMPAT_DDI_ATTR_CONST ddi_device_acc_attr_t *accattrp,
                              ddi_acc_handle_t *handlep);
extern void ddi_regs_map_free(ddi_acc_handle_t *handlep);
/* ddi_get8/16/32/64, ddi_put*, ddi_rep_get*, ddi_rep_put* of one width (bits). */
#define _COMPAT_DDI_ACCESS(bits)                                                          \
  extern uint##bits##_t ddi_get##bits(ddi_acc_handle_t handle, uint##bits##_t *dev_addr); \
  extern void ddi_put##bits(ddi_acc_handle_t handle, uint##bits##_t *dev_addr,            \
                            uint##bits##_t value);                                        \
  extern void ddi_rep_get##bits(ddi_acc_handle_t handle, uint##bits##_t *host_addr,       \
                                uint##bits##_t *dev_addr, size_t repcount, uint_t flags); \
  extern void ddi_rep_put##bits(ddi_acc_handle_t handle, uint##bits##_t *host_addr,       \
                                uint##bits##_t *dev_addr, size_t repcount, uint_t flags)
_COMPAT_DDI_ACCESS(8);
_COMPAT_DDI_ACCESS(16);
_COMPAT_DDI_ACCESS(32);
_COMPAT_DDI_ACCESS(64);
#undef _COMPAT_DDI_ACCESS
extern int ddi_check_acc_handle(ddi_acc_handle_t handle);

/* DMA. */
extern int ddi_dma_alloc_handle(dev_info_t *dip, _COMPAT_DDI_ATTR_CONST ddi_dma_attr_t *attr,
                                int (*waitfp)(caddr_t), caddr_t arg, ddi_dma_handle_t *handlep);
extern void ddi_dma_free_handle(ddi_dma_handle_t *handlep);
extern int ddi_dma_mem_alloc(ddi_dma_handle_t handle, size_t length,
                             _COMPAT_DDI_ATTR_CONST ddi_device_acc_attr_t *accattrp, uint_t flags,
                             int (*waitfp)(caddr_t), caddr_t arg, caddr_t *kaddrp,
                             size_t *real_length, ddi_acc_handle_t *handlep);
extern void ddi_dma_mem_free(ddi_acc_handle_t *handlep);
extern int ddi_dma_addr_bind_handle(ddi_dma_handle_t handle, struct as *as, caddr_t addr,
                                    size_t len, uint_t flags, int (*waitfp)(caddr_t), caddr_t arg,
                                    ddi_dma_cookie_t *cookiep, uint_t *ccountp);
extern int ddi_dma_buf_bind_handle(ddi_dma_handle_t handle, struct buf *bp, uint_t flags,
                                   int (*waitfp)(caddr_t), caddr_t arg, ddi_dma_cookie_t *cookiep,
                                   uint_t *ccountp);
extern int ddi_dma_unbind_handle(ddi_dma_handle_t handle);
extern void ddi_dma_nextcookie(ddi_dma_handle_t handle, ddi_dma_cookie_t *cookiep);
extern int ddi_dma_numwin(ddi_dma_handle_t handle, uint_t *nwinp);
extern int ddi_dma_getwin(ddi_dma_handle_t handle, uint_t win, off_t *offp, size_t *lenp,
                          ddi_dma_cookie_t *cookiep, uint_t *ccountp);
extern const ddi_dma_cookie_t *ddi_dma_cookie_iter(ddi_dma_handle_t handle,
                                                   const ddi_dma_cookie_t *cookiep);
extern const ddi_dma_cookie_t *ddi_dma_cookie_get(ddi_dma_handle_t handle, uint_t index);
extern const ddi_dma_cookie_t *ddi_dma_cookie_one(ddi_dma_handle_t handle);
extern uint_t ddi_dma_ncookies(ddi_dma_handle_t handle);
extern int ddi_dma_sync(ddi_dma_handle_t handle, off_t offset, size_t length, uint_t type);
extern int ddi_check_dma_handle(ddi_dma_handle_t handle);

/* Task queues. */
extern ddi_taskq_t *ddi_taskq_create(dev_info_t *dip, const char *name, int nthreads, pri_t pri,
                                     uint_t cflags);
extern void ddi_taskq_destroy(ddi_taskq_t *tq);
extern int ddi_taskq_dispatch(ddi_taskq_t *tq, void (*func)(void *), void *arg, uint_t dflags);
extern void ddi_taskq_wait(ddi_taskq_t *tq);
extern void ddi_taskq_suspend(ddi_taskq_t *tq);
extern boolean_t ddi_taskq_suspended(ddi_taskq_t *tq);
extern void ddi_taskq_resume(ddi_taskq_t *tq);

/* Miscellaneous. */
extern unsigned long ddi_ptob(dev_info_t *dip, unsigned long pages);
extern unsigned long ddi_btop(dev_info_t *dip, unsigned long bytes);
extern unsigned long ddi_btopr(dev_info_t *dip, unsigned long bytes);
extern int ddi_ffs(long mask);
extern int ddi_fls(long mask);
extern int ddi_strtol(const char *str, char **nptr, int base, long *result);
extern int ddi_strtoul(const char *str, char **nptr, int base, unsigned long *result);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SUNDDI_H */
