/* sys/kstat.h - kernel statistics: kstat_create(9F), kstat(9S), kstat_named(9S). */
#ifndef _SYS_KSTAT_H
#define _SYS_KSTAT_H

#include <sys/types.h>
#include <sys/compat_types.h>

#define KSTAT_STRLEN 31

typedef struct kstat {
  hrtime_t ks_crtime;                    /* creation time (from gethrtime()) */
  struct kstat *ks_next;                 /* kstat chain linkage */
  kid_t ks_kid;                          /* unique kstat ID */
  char ks_module[KSTAT_STRLEN];          /* provider module name */
  uchar_t ks_resv;                       /* reserved, currently just padding */
  int ks_instance;                       /* provider module's instance */
  char ks_name[KSTAT_STRLEN];            /* kstat name */
  uchar_t ks_type;                       /* kstat data type */
  char ks_class[KSTAT_STRLEN];           /* kstat class */
  uchar_t ks_flags;                      /* kstat flags */
  void *ks_data;                         /* kstat type-specific data */
  uint_t ks_ndata;                       /* # of type-specific data records */
  size_t ks_data_size;                   /* total size of kstat data section */
  hrtime_t ks_snaptime;                  /* time of last data snapshot */
  int (*ks_update)(struct kstat *, int); /* dynamic update */
  void *ks_private;                      /* arbitrary provider-private data */
  int (*ks_snapshot)(struct kstat *, void *, int);
  void *ks_lock; /* protects this kstat's data */
} kstat_t;

/* ks_type */
#define KSTAT_TYPE_RAW 0
#define KSTAT_TYPE_NAMED 1
#define KSTAT_TYPE_INTR 2
#define KSTAT_TYPE_IO 3
#define KSTAT_TYPE_TIMER 4
#define KSTAT_NUM_TYPES 5

/* ks_flags */
#define KSTAT_FLAG_VIRTUAL 0x01
#define KSTAT_FLAG_VAR_SIZE 0x02
#define KSTAT_FLAG_WRITABLE 0x04
#define KSTAT_FLAG_PERSISTENT 0x08
#define KSTAT_FLAG_DORMANT 0x10
#define KSTAT_FLAG_INVALID 0x20
#define KSTAT_FLAG_LONGSTRINGS 0x40

/* ks_update rw argument */
#define KSTAT_READ 0
#define KSTAT_WRITE 1

typedef struct kstat_named {
  char name[KSTAT_STRLEN]; /* name of counter */
  uchar_t data_type;       /* data type */
  union {
    char c[16];
    int32_t i32;
    uint32_t ui32;
    struct {
      union {
        char *ptr;
        char __pad[8];
      } addr;
      uint32_t len;
    } str;
    int64_t i64;
    uint64_t ui64;
    long l;
    ulong_t ul;
    longlong_t ll;
    u_longlong_t ull;
    float f;
    double d;
  } value;
} kstat_named_t;

#define KSTAT_DATA_CHAR 0
#define KSTAT_DATA_INT32 1
#define KSTAT_DATA_UINT32 2
#define KSTAT_DATA_INT64 3
#define KSTAT_DATA_UINT64 4
#define KSTAT_DATA_LONG KSTAT_DATA_INT64
#define KSTAT_DATA_ULONG KSTAT_DATA_UINT64
#define KSTAT_DATA_STRING 9

#define KSTAT_NAMED_PTR(kptr) ((kstat_named_t *)(kptr)->ks_data)
#define KSTAT_NAMED_STR_PTR(knptr) ((knptr)->value.str.addr.ptr)
#define KSTAT_NAMED_STR_BUFLEN(knptr) ((knptr)->value.str.len)

#ifdef __cplusplus
extern "C" {
#endif
extern kstat_t *kstat_create(const char *module, int instance, const char *name,
                             const char *ks_class, uchar_t type, uint_t ndata, uchar_t ks_flag);
extern void kstat_install(kstat_t *ksp);
extern void kstat_delete(kstat_t *ksp);
extern void kstat_named_init(kstat_named_t *knp, const char *name, uchar_t data_type);
extern void kstat_named_setstr(kstat_named_t *knp, const char *src);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_KSTAT_H */
