/*
 * scsi_extended_sense(9S): fixed-format sense data, and the sense keys.
 */
#ifndef _SYS_SCSI_GENERIC_SENSE_H
#define _SYS_SCSI_GENERIC_SENSE_H

#include <sys/scsi/scsi_types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLASS_EXTENDED_SENSE 0x7 /* es_class of extended sense */

struct scsi_extended_sense {
#if defined(_BIT_FIELDS_HTOL)
  uchar_t es_valid : 1, es_class : 3, es_code : 4;
  uchar_t es_segnum;
  uchar_t es_filmk : 1, es_eom : 1, es_ili : 1, : 1, es_key : 4;
#else /* little-endian bit fields: amd64, aarch64 */
  uchar_t es_code : 4, /* response code low nibble */
      es_class : 3,    /* 0x7 for extended sense */
      es_valid : 1;    /* information bytes valid */
  uchar_t es_segnum;
  uchar_t es_key : 4, /* sense key */
      : 1, es_ili : 1, es_eom : 1, es_filmk : 1;
#endif
  uchar_t es_info_1;
  uchar_t es_info_2;
  uchar_t es_info_3;
  uchar_t es_info_4;
  uchar_t es_add_len; /* additional sense length */
  uchar_t es_cmd_info[4];
  uchar_t es_add_code;  /* additional sense code (ASC) */
  uchar_t es_qual_code; /* additional sense code qualifier (ASCQ) */
  uchar_t es_fru_code;
  uchar_t es_skey_specific[3];
  uchar_t es_add_info[2];
};

#define SENSE_LENGTH (sizeof(struct scsi_extended_sense))
#define MAX_SENSE_LENGTH 252

/* es_code */
#define CODE_FMT_FIXED_CURRENT 0x0
#define CODE_FMT_FIXED_DEFERRED 0x1
#define CODE_FMT_DESCR_CURRENT 0x2
#define CODE_FMT_DESCR_DEFERRED 0x3
#define CODE_FMT_VENDOR_SPECIFIC 0xF

/* Sense keys */
#define KEY_NO_SENSE 0x00
#define KEY_RECOVERABLE_ERROR 0x01
#define KEY_NOT_READY 0x02
#define KEY_MEDIUM_ERROR 0x03
#define KEY_HARDWARE_ERROR 0x04
#define KEY_ILLEGAL_REQUEST 0x05
#define KEY_UNIT_ATTENTION 0x06
#define KEY_WRITE_PROTECT 0x07
#define KEY_DATA_PROTECT KEY_WRITE_PROTECT
#define KEY_BLANK_CHECK 0x08
#define KEY_VENDOR_UNIQUE 0x09
#define KEY_COPY_ABORTED 0x0A
#define KEY_ABORTED_COMMAND 0x0B
#define KEY_EQUAL 0x0C
#define KEY_VOLUME_OVERFLOW 0x0D
#define KEY_MISCOMPARE 0x0E
#define KEY_RESERVED 0x0F

#define NUM_SENSE_KEYS 16
#define NUM_IMPL_SENSE_KEYS 4

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_GENERIC_SENSE_H */
