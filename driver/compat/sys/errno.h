/* sys/errno.h - error codes (illumos values). */
#ifndef _SYS_ERRNO_H
#define _SYS_ERRNO_H

#include <sys/compat_types.h>

#ifdef _COMPAT_HOST_LIBC
/* Host build: the C library owns errno.h; the common codes are the same there. */
#include <errno.h>
#else
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define ENXIO 6
#define E2BIG 7
#define ENOEXEC 8
#define EBADF 9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define EINVAL 22
#define ENOSPC 28
#define ERANGE 34
#define ENOTSUP 48
#define ETIMEDOUT 145
#endif

#endif /* _SYS_ERRNO_H */
