/*
 * The HBA side of SCSA: scsi_hba_tran(9S) with its transport vectors, the HBA attach and
 * iport interfaces (scsi_hba_attach_setup(9F), scsi_hba_iport_register(9F)), the target map
 * (scsi_hba_tgtmap_create(9F)) and packet completion (scsi_hba_pkt_comp(9F)).
 */
#ifndef _SYS_SCSI_IMPL_TRANSPORT_H
#define _SYS_SCSI_IMPL_TRANSPORT_H

#include <sys/scsi/scsi_types.h>
#include <sys/modctl.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_address;
struct scsi_pkt;
struct scsi_device;
struct scsi_inquiry;

/*
 * Nexus types the transport vectors mention. On illumos they come from <sys/dditypes.h> (the
 * NDI event service handles; repeating an identical typedef is harmless) and
 * <sys/nexusdefs.h> (used when the compat tree has it).
 */
typedef struct ddi_event_cookie *ddi_eventcookie_t;
typedef struct ddi_event_callbacks *ddi_callback_id_t;
#if defined(__has_include)
#if __has_include(<sys/nexusdefs.h>)
#include <sys/nexusdefs.h>
#endif
#endif
#ifndef _SYS_NEXUSDEFS_H
typedef enum {
  BUS_ENUMERATE = 0,
  BUS_CONFIG_ONE,
  BUS_CONFIG_ALL,
  BUS_CONFIG_AP,
  BUS_CONFIG_DRIVER,
  BUS_UNCONFIG_ONE,
  BUS_UNCONFIG_DRIVER,
  BUS_UNCONFIG_ALL,
  BUS_UNCONFIG_AP,
  BUS_CONFIG_OBP_ARGS
} ddi_bus_config_op_t;
typedef enum {
  BUS_POWER_CHILD_PWRCHG = 0,
  BUS_POWER_NEXUS_PWRUP,
  BUS_POWER_PRE_NOTIFICATION,
  BUS_POWER_POST_NOTIFICATION,
  BUS_POWER_HAS_CHANGED,
  BUS_POWER_NOINVOL
} pm_bus_power_op_t;
#endif

/* Opaque handles to the address maps. */
typedef struct __scsi_iportmap scsi_hba_iportmap_t;
typedef struct __scsi_tgtmap scsi_hba_tgtmap_t;

typedef struct scsi_hba_tran scsi_hba_tran_t;

struct scsi_hba_tran {
  dev_info_t *tran_hba_dip; /* the HBA node (the iport node's parent for an iport) */
  void *tran_hba_private;   /* HBA soft state */

  /* deprecated SCSI_HBA_TRAN_CLONE only */
  void *tran_tgt_private;
  struct scsi_device *tran_sd;

  int (*tran_tgt_init)(dev_info_t *hba_dip, dev_info_t *tgt_dip, scsi_hba_tran_t *tran,
                       struct scsi_device *sd);
  int (*tran_tgt_probe)(struct scsi_device *sd, int (*callback)(void));
  void (*tran_tgt_free)(dev_info_t *hba_dip, dev_info_t *tgt_dip, scsi_hba_tran_t *tran,
                        struct scsi_device *sd);

  int (*tran_start)(struct scsi_address *ap, struct scsi_pkt *pkt);
  int (*tran_reset)(struct scsi_address *ap, int level);
  int (*tran_abort)(struct scsi_address *ap, struct scsi_pkt *pkt);
  int (*tran_getcap)(struct scsi_address *ap, char *cap, int whom);
  int (*tran_setcap)(struct scsi_address *ap, char *cap, int value, int whom);

  struct scsi_pkt *(*tran_init_pkt)(struct scsi_address *ap, struct scsi_pkt *pkt, struct buf *bp,
                                    int cmdlen, int statuslen, int tgtlen, int flags,
                                    int (*callback)(caddr_t arg), caddr_t callback_arg);
  void (*tran_destroy_pkt)(struct scsi_address *ap, struct scsi_pkt *pkt);
  void (*tran_dmafree)(struct scsi_address *ap, struct scsi_pkt *pkt);
  void (*tran_sync_pkt)(struct scsi_address *ap, struct scsi_pkt *pkt);
  int (*tran_reset_notify)(struct scsi_address *ap, int flag, void (*callback)(caddr_t),
                           caddr_t arg);
  int (*tran_get_bus_addr)(struct scsi_device *sd, char *name, int len);
  int (*tran_get_name)(struct scsi_device *sd, char *name, int len);
  int (*tran_clear_aca)(struct scsi_address *ap);
  int (*tran_clear_task_set)(struct scsi_address *ap);
  int (*tran_terminate_task)(struct scsi_address *ap, struct scsi_pkt *pkt);
  int (*tran_get_eventcookie)(dev_info_t *hba_dip, dev_info_t *tgt_dip, char *name,
                              ddi_eventcookie_t *eventp);
  int (*tran_add_eventcall)(dev_info_t *hba_dip, dev_info_t *tgt_dip, ddi_eventcookie_t event,
                            void (*callback)(dev_info_t *tgt_dip, ddi_eventcookie_t event,
                                             void *arg, void *bus_impldata),
                            void *arg, ddi_callback_id_t *cb_id);
  int (*tran_remove_eventcall)(dev_info_t *devi, ddi_callback_id_t cb_id);
  int (*tran_post_event)(dev_info_t *hba_dip, dev_info_t *tgt_dip, ddi_eventcookie_t event,
                         void *bus_impldata);
  int (*tran_quiesce)(dev_info_t *hba_dip);
  int (*tran_unquiesce)(dev_info_t *hba_dip);
  int (*tran_bus_reset)(dev_info_t *hba_dip, int level);

  /* Implementation private: no HBA may use the fields below this line ... */
  int tran_hba_flags; /* SCSI_HBA_* given to scsi_hba_attach_setup */
  uint_t tran_obs1;
  uchar_t tran_obs2;
  uchar_t tran_obs3;
  kmutex_t tran_open_lock;
  uint64_t tran_open_flag;
  int (*tran_bus_config)(dev_info_t *hba_dip, uint_t flag, ddi_bus_config_op_t op, void *arg,
                         dev_info_t **tgt_dipp);
  int (*tran_bus_unconfig)(dev_info_t *hba_dip, uint_t flag, ddi_bus_config_op_t op, void *arg);
  int (*tran_bus_power)(dev_info_t *dip, void *impl_arg, pm_bus_power_op_t op, void *arg,
                        void *result);

  /* ... except these, which an HBA sets before scsi_hba_attach_setup */
  int tran_interconnect_type; /* INTERCONNECT_* */

  /* tran_setup_pkt(9E) */
  int (*tran_pkt_constructor)(struct scsi_pkt *pkt, scsi_hba_tran_t *tran, int kmflag);
  void (*tran_pkt_destructor)(struct scsi_pkt *pkt, scsi_hba_tran_t *tran);
  kmem_cache_t *tran_pkt_cache_ptr;
  uint_t tran_hba_len; /* bytes of HBA private data per packet (pkt_ha_private) */
  int (*tran_setup_pkt)(struct scsi_pkt *pkt, int (*callback)(caddr_t arg), caddr_t callback_arg);
  void (*tran_teardown_pkt)(struct scsi_pkt *pkt);
  ddi_dma_attr_t tran_dma_attr; /* the framework binds data buffers with these */

  void *tran_extension;
  int tran_fm_capable;

  dev_info_t *tran_iport_dip;         /* the iport node, when iports are used */
  scsi_hba_iportmap_t *tran_iportmap; /* iports below the HBA */
  scsi_hba_tgtmap_t *tran_tgtmap;     /* targets below the iport */
};

void scsi_initialize_hba_interface(void);

int scsi_hba_init(struct modlinkage *modlp);
void scsi_hba_fini(struct modlinkage *modlp);

int scsi_hba_attach_setup(dev_info_t *hba_dip, ddi_dma_attr_t *hba_dma_attr, scsi_hba_tran_t *tran,
                          int flags);
int scsi_hba_detach(dev_info_t *hba_dip);

scsi_hba_tran_t *scsi_hba_tran_alloc(dev_info_t *hba_dip, int flags);
void scsi_hba_tran_free(scsi_hba_tran_t *tran);

int scsi_hba_probe(struct scsi_device *sd, int (*callback)(void));

struct scsi_pkt *scsi_hba_pkt_alloc(dev_info_t *hba_dip, struct scsi_address *ap, int cmdlen,
                                    int statuslen, int tgtlen, int hbalen, int (*callback)(caddr_t),
                                    caddr_t arg);
void scsi_hba_pkt_free(struct scsi_address *ap, struct scsi_pkt *pkt);

int scsi_hba_lookup_capstr(char *capstr);
int scsi_hba_in_panic(void);

void scsi_hba_pkt_comp(struct scsi_pkt *pkt);

char *scsi_hba_iport_unit_address(dev_info_t *dip);
int scsi_hba_iport_register(dev_info_t *dip, char *port);
int scsi_hba_iport_exist(dev_info_t *dip);
dev_info_t *scsi_hba_iport_find(dev_info_t *pdip, char *portnm);

/* scsi_hba_attach_setup(9F) flags */
#define SCSI_HBA_TRAN_CLONE 0x01   /* deprecated */
#define SCSI_HBA_TRAN_PHCI 0x02    /* the HBA is an mpxio pHCI */
#define SCSI_HBA_TRAN_CDB 0x04     /* the framework allocates pkt_cdbp */
#define SCSI_HBA_TRAN_SCB 0x08     /* the framework allocates pkt_scbp */
#define SCSI_HBA_HBA 0x10          /* all children of the HBA node are iports */
#define SCSI_HBA_ADDR_SPI 0x20     /* scsi_address in SPI form */
#define SCSI_HBA_ADDR_COMPLEX 0x40 /* scsi_address is COMPLEX */

/* upper bits record SCSA configuration state */
#define SCSI_HBA_SCSA_PHCI 0x10000
#define SCSI_HBA_SCSA_TA 0x20000 /* scsi_hba_tran_alloc used */
#define SCSI_HBA_SCSA_FM 0x40000

/* scsi_hba_tran_alloc(9F) flags */
#define SCSI_HBA_CANSLEEP 0x01

#define SCSI_HBA_MAX_IPORTS 32

/* Target maps */
typedef enum { SCSI_TM_FULLSET = 0, SCSI_TM_PERADDR } scsi_tgtmap_mode_t;

typedef enum {
  SCSI_TGT_SCSI_DEVICE = 0,
  SCSI_TGT_SMP_DEVICE,
  SCSI_TGT_NTYPES
} scsi_tgtmap_tgt_type_t;

typedef enum {
  SCSI_TGT_DEACT_RSN_GONE = 0,
  SCSI_TGT_DEACT_RSN_CFG_FAIL,
  SCSI_TGT_DEACT_RSN_UNSTBL
} scsi_tgtmap_deact_rsn_t;

typedef void (*scsi_tgt_activate_cb_t)(void *tgtmap_priv, char *tgt_addr,
                                       scsi_tgtmap_tgt_type_t tgt_type, void **tgt_privp);
typedef boolean_t (*scsi_tgt_deactivate_cb_t)(void *tgtmap_priv, char *tgt_addr,
                                              scsi_tgtmap_tgt_type_t tgt_type, void *tgt_priv,
                                              scsi_tgtmap_deact_rsn_t tgt_deact_rsn);

int scsi_hba_tgtmap_create(dev_info_t *iport_dip, scsi_tgtmap_mode_t rpt_mode, int csync_usec,
                           int stable_usec, void *tgtmap_priv, scsi_tgt_activate_cb_t activate_cb,
                           scsi_tgt_deactivate_cb_t deactivate_cb, scsi_hba_tgtmap_t **tgtmapp);
void scsi_hba_tgtmap_destroy(scsi_hba_tgtmap_t *tgtmap);
int scsi_hba_tgtmap_set_begin(scsi_hba_tgtmap_t *tgtmap);
int scsi_hba_tgtmap_set_add(scsi_hba_tgtmap_t *tgtmap, scsi_tgtmap_tgt_type_t tgt_type,
                            char *tgt_addr, void *tgt_priv);
int scsi_hba_tgtmap_set_end(scsi_hba_tgtmap_t *tgtmap, uint_t flags);
int scsi_hba_tgtmap_set_flush(scsi_hba_tgtmap_t *tgtmap);
int scsi_hba_tgtmap_tgt_add(scsi_hba_tgtmap_t *tgtmap, scsi_tgtmap_tgt_type_t tgt_type,
                            char *tgt_addr, void *tgt_priv);
int scsi_hba_tgtmap_tgt_remove(scsi_hba_tgtmap_t *tgtmap, scsi_tgtmap_tgt_type_t tgt_type,
                               char *tgt_addr);
void scsi_hba_tgtmap_scan_luns(scsi_hba_tgtmap_t *tgtmap, char *tgt_addr);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_IMPL_TRANSPORT_H */
