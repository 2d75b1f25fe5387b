/*
 * sys/compat_types.h - the illumos-only basic types (uchar_t, uint_t, boolean_t, hrtime_t, ...).
 *
 * Not an illumos header: off illumos, the host build takes <sys/types.h> from the C library,
 * which lacks these, so every compat header includes this one itself. In the freestanding
 * build, the compat <sys/types.h> includes it too. Types that the C library also defines
 * (size_t, off_t, dev_t, clock_t, caddr_t, ...) are left to <sys/types.h>.
 */
#ifndef _SYS_COMPAT_TYPES_H
#define _SYS_COMPAT_TYPES_H

#include <sys/int_types.h>

/*
 * _COMPAT_HOST_LIBC: set when a host C library is on the include path (the host build, linked
 * with the userland kernel), unset in the freestanding module build (-nostdinc).
 */
#if defined(__has_include)
#if __has_include(<stdio.h>)
#define _COMPAT_HOST_LIBC 1
#endif
#endif

typedef unsigned char uchar_t;
typedef unsigned short ushort_t;
typedef unsigned int uint_t;
typedef unsigned long ulong_t;
typedef long long longlong_t;
typedef unsigned long long u_longlong_t;

typedef enum { B_FALSE = 0, B_TRUE = 1 } boolean_t;

typedef longlong_t hrtime_t;
typedef longlong_t offset_t;
typedef u_longlong_t u_offset_t;
typedef u_longlong_t diskaddr_t;
typedef int32_t daddr32_t;
typedef uint_t major_t;
typedef uint_t minor_t;
typedef short pri_t;
typedef int processorid_t;
typedef int kid_t;
typedef void *timeout_id_t;
typedef void *bufcall_id_t;

typedef struct cred cred_t;
typedef struct kthread kthread_t;
typedef struct vmem vmem_t;
struct as;
struct uio;
struct buf;
struct pollhead;

#ifndef NULL
#ifdef __cplusplus
#define NULL __null
#else
#define NULL ((void *)0)
#endif
#endif

#endif /* _SYS_COMPAT_TYPES_H */
