/*
 * scsi_device(9S): one per target/LUN, allocated by the SCSA framework when the LUN is
 * configured, just before tran_tgt_init(9E), and freed after tran_tgt_free(9E).
 */
#ifndef _SYS_SCSI_CONF_DEVICE_H
#define _SYS_SCSI_CONF_DEVICE_H

#include <sys/scsi/scsi_types.h>
#include <sys/scsi/scsi_address.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scsi_inquiry;
struct scsi_extended_sense;

struct scsi_device {
  struct scsi_address sd_address;       /* routing: transport and unit address */
  dev_info_t *sd_dev;                   /* the LUN's dev_info node */
  kmutex_t sd_mutex;                    /* target driver mutex, initialized by the framework */
  void *sd_hba_private;                 /* SCSI_HBA_ADDR_COMPLEX per-device HBA data (private) */
  struct scsi_inquiry *sd_inq;          /* INQUIRY data, filled by the framework's probe */
  struct scsi_extended_sense *sd_sense; /* target driver's sense buffer */
  void *sd_private;                     /* target driver soft state */
  int sd_fm_capable;
  void *sd_pathinfo;
  unsigned sd_uninit_prevent : 16, sd_tran_tgt_free_done : 1, sd_flags_pad : 15;
  struct scsi_hba_tran *sd_tran_safe;
};

int scsi_probe(struct scsi_device *sd, int (*callback)(void));
void scsi_unprobe(struct scsi_device *sd);

char *scsi_device_unit_address(struct scsi_device *sd);

/* scsi_device_prop_*() flags */
#define SCSI_DEVICE_PROP_PATH 0x1   /* property of the path to the device */
#define SCSI_DEVICE_PROP_DEVICE 0x2 /* property of the device */
#define SCSI_DEVICE_PROP_TYPE_MSK 0xF

int scsi_device_prop_get_int(struct scsi_device *sd, uint_t flags, char *name, int defvalue);
int64_t scsi_device_prop_get_int64(struct scsi_device *sd, uint_t flags, char *name,
                                   int64_t defvalue);
int scsi_device_prop_lookup_string(struct scsi_device *sd, uint_t flags, char *name, char **data);
int scsi_device_prop_update_int(struct scsi_device *sd, uint_t flags, char *name, int data);
int scsi_device_prop_update_int64(struct scsi_device *sd, uint_t flags, char *name, int64_t data);
int scsi_device_prop_update_string(struct scsi_device *sd, uint_t flags, char *name, char *data);
int scsi_device_prop_remove(struct scsi_device *sd, uint_t flags, char *name);
void scsi_device_prop_free(struct scsi_device *sd, uint_t flags, void *data);

/* SCSI_HBA_ADDR_COMPLEX interfaces */
struct scsi_device *scsi_address_device(struct scsi_address *sa);
void scsi_device_hba_private_set(struct scsi_device *sd, void *data);
void *scsi_device_hba_private_get(struct scsi_device *sd);

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_CONF_DEVICE_H */
