/* sys/ddifm.h - DDI fault management: ddi_fm_init(9F), ddi_fm_error(9S). */
#ifndef _SYS_DDIFM_H
#define _SYS_DDIFM_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/dditypes.h>
#include <sys/nvpair.h>

/* Capabilities. */
#define DDI_FM_NOT_CAPABLE 0x00000000
#define DDI_FM_EREPORT_CAPABLE 0x00000001
#define DDI_FM_ACCCHK_CAPABLE 0x00000002
#define DDI_FM_DMACHK_CAPABLE 0x00000004
#define DDI_FM_ERRCB_CAPABLE 0x00000008

#define DDI_FM_DEFAULT_CAP(cap) ((cap) == DDI_FM_NOT_CAPABLE)
#define DDI_FM_EREPORT_CAP(cap) ((cap)&DDI_FM_EREPORT_CAPABLE)
#define DDI_FM_ACC_ERR_CAP(cap) ((cap)&DDI_FM_ACCCHK_CAPABLE)
#define DDI_FM_DMA_ERR_CAP(cap) ((cap)&DDI_FM_DMACHK_CAPABLE)
#define DDI_FM_ERRCB_CAP(cap) ((cap)&DDI_FM_ERRCB_CAPABLE)

/* Error status. */
#define DDI_FM_OK 0
#define DDI_FM_FATAL -1
#define DDI_FM_NONFATAL -2
#define DDI_FM_UNKNOWN -3

/* Service impact (ddi_fault_impact_t in <sys/sunddi.h>). */
#define DDI_SERVICE_LOST -32
#define DDI_SERVICE_DEGRADED -16
#define DDI_SERVICE_UNAFFECTED 0
#define DDI_SERVICE_RESTORED 16

#define DDI_FME_VER0 0
#define DDI_FME_VER1 1
#define DDI_FME_VERSION DDI_FME_VER1

/* fme_flag */
#define DDI_FM_ERR_UNEXPECTED 0
#define DDI_FM_ERR_EXPECTED 1
#define DDI_FM_ERR_POKE 2
#define DDI_FM_ERR_PEEK 3

typedef struct ddi_fm_error {
  int fme_version;
  int fme_status;
  int fme_flag;
  uint64_t fme_ena;
  ddi_acc_handle_t fme_acc_handle;
  ddi_dma_handle_t fme_dma_handle;
  void *fme_bus_specific;
  int fme_bus_type;
} ddi_fm_error_t;

typedef int (*ddi_err_func_t)(dev_info_t *dip, ddi_fm_error_t *derr, const void *impl_data);

/* Device ereport classes (sys/fm/io/ddi.h on illumos). */
#define DDI_FM_DEVICE "device"
#define DDI_FM_DEVICE_INVAL_STATE "inval_state"
#define DDI_FM_DEVICE_NO_RESPONSE "no_response"
#define DDI_FM_DEVICE_BADINT_LIMIT "badint_limit"
#define DDI_FM_DEVICE_INTERN_CORR "intern_corr"
#define DDI_FM_DEVICE_INTERN_UNCORR "intern_uncorr"
#define DDI_FM_DEVICE_STALL "stall"

#ifdef __cplusplus
extern "C" {
#endif
extern void ddi_fm_init(dev_info_t *dip, int *fmcap, ddi_iblock_cookie_t *ibcp);
extern void ddi_fm_fini(dev_info_t *dip);
extern int ddi_fm_capable(dev_info_t *dip);
extern void ddi_fm_handler_register(dev_info_t *dip, ddi_err_func_t handler, void *impl_data);
extern void ddi_fm_handler_unregister(dev_info_t *dip);
extern void ddi_fm_ereport_post(dev_info_t *dip, const char *error_class, uint64_t ena, int sflag,
                                ...);
extern void ddi_fm_service_impact(dev_info_t *dip, int svc_impact);
extern void ddi_fm_acc_err_get(ddi_acc_handle_t handle, ddi_fm_error_t *de, int version);
extern void ddi_fm_dma_err_get(ddi_dma_handle_t handle, ddi_fm_error_t *de, int version);
extern void ddi_fm_acc_err_clear(ddi_acc_handle_t handle, int version);
extern void ddi_fm_dma_err_clear(ddi_dma_handle_t handle, int version);
extern void pci_ereport_setup(dev_info_t *dip);
extern void pci_ereport_teardown(dev_info_t *dip);
extern void pci_ereport_post(dev_info_t *dip, ddi_fm_error_t *derr, uint16_t *status);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_DDIFM_H */
