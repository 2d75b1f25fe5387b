/*
 * sys/compat_param.h - the illumos <sys/param.h> constants drivers use.
 *
 * Not an illumos header name: the host C library owns sys/param.h, so in the host build the
 * illumos-only constants come from here (included by <sys/sunddi.h> and <sys/ddi.h>).
 */
#ifndef _SYS_COMPAT_PARAM_H
#define _SYS_COMPAT_PARAM_H

#ifndef NBBY
#define NBBY 8
#endif
#ifndef DEV_BSIZE
#define DEV_BSIZE 512
#endif
#ifndef DEV_BSHIFT
#define DEV_BSHIFT 9
#endif
#ifndef MAXNAMELEN
#define MAXNAMELEN 256
#endif
#ifndef MAXPATHLEN
#define MAXPATHLEN 1024
#endif

/* 4 KiB base pages on amd64 and aarch64 illumos. */
#define MMU_PAGESIZE 0x1000
#define MMU_PAGESHIFT 12
#define MMU_PAGEOFFSET (MMU_PAGESIZE - 1)
#define MMU_PAGEMASK (~MMU_PAGEOFFSET)
#ifndef PAGESIZE
#define PAGESIZE MMU_PAGESIZE
#endif
#define PAGESHIFT MMU_PAGESHIFT
#define PAGEOFFSET (PAGESIZE - 1)
#define PAGEMASK (~PAGEOFFSET)

#define NANOSEC 1000000000LL
#define MICROSEC 1000000LL
#define MILLISEC 1000LL

#endif /* _SYS_COMPAT_PARAM_H */
