/*
 * sys/types.h - basic system types, for the freestanding (-nostdinc) build only.
 *
 * In the host build the C library's <sys/types.h> is found first (driver/compat is added with
 * -idirafter) and this file is not used; the illumos-only types then come from
 * <sys/compat_types.h>, which every compat header includes.
 */
#ifndef _SYS_TYPES_H
#define _SYS_TYPES_H

#include <sys/int_types.h>
#include <sys/compat_types.h>

typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ssize_t; /* long on LP64, as illumos */
typedef __PTRDIFF_TYPE__ ptrdiff_t;
typedef long off_t;
typedef long clock_t;
typedef long time_t;
typedef long daddr_t;
typedef char *caddr_t;
typedef ulong_t dev_t;
typedef int pid_t;
typedef int id_t;
typedef uint_t uid_t;
typedef uint_t gid_t;
typedef uint_t mode_t;
typedef ushort_t u_short;
typedef uint_t u_int;
typedef ulong_t u_long;
typedef uchar_t u_char;

#endif /* _SYS_TYPES_H */
