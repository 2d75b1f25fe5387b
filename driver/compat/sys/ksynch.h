/*
 * sys/ksynch.h - kernel synchronization types: mutexes, condition variables.
 * The contents are private (the userland kernel keeps a pointer to its own state in them).
 */
#ifndef _SYS_KSYNCH_H
#define _SYS_KSYNCH_H

#include <sys/types.h>
#include <sys/compat_types.h>

typedef enum {
  MUTEX_ADAPTIVE = 0, /* spin if owner is running, otherwise block */
  MUTEX_SPIN = 1,     /* block interrupts and spin */
  MUTEX_DRIVER = 4,   /* driver (DDI) mutex */
  MUTEX_DEFAULT = 6   /* kernel default mutex */
} kmutex_type_t;

typedef struct mutex {
  void *_opaque[1];
} kmutex_t;

typedef enum { CV_DEFAULT, CV_DRIVER } kcv_type_t;

typedef struct _kcondvar {
  void *_opaque; /* illumos: ushort_t; a pointer here for the userland kernel's state */
} kcondvar_t;

typedef enum { RW_SLEEP, RW_DRIVER = 2, RW_DEFAULT = 4 } krw_type_t;
typedef enum { RW_WRITER, RW_READER, RW_READER_STARVEWRITER } krw_t;
typedef struct _krwlock {
  void *_opaque[1];
} krwlock_t;

typedef enum { SEMA_DEFAULT, SEMA_DRIVER } ksema_type_t;
typedef struct _ksema {
  void *_opaque[2];
} ksema_t;

#endif /* _SYS_KSYNCH_H */
