/*
 * sys/compat_sysmacros.h - the illumos <sys/sysmacros.h> macros drivers use.
 *
 * Not an illumos header name: the host C library owns sys/sysmacros.h, so in the host build these
 * come from here (included by <sys/sunddi.h> and <sys/ddi.h>).
 */
#ifndef _SYS_COMPAT_SYSMACROS_H
#define _SYS_COMPAT_SYSMACROS_H

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) < (b) ? (b) : (a))
#endif
#ifndef ABS
#define ABS(a) ((a) < 0 ? -(a) : (a))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof(x[0]))
#endif

#define ISP2(x) (((x) & ((x)-1)) == 0)
#define IS_P2ALIGNED(v, a) ((((uintptr_t)(v)) & ((uintptr_t)(a)-1)) == 0)
#define P2ALIGN(x, align) ((x) & -(align))
#define P2PHASE(x, align) ((x) & ((align)-1))
#define P2NPHASE(x, align) (-(x) & ((align)-1))
#define P2ROUNDUP(x, align) (-(-(x) & -(align)))
#define P2END(x, align) (-(~(x) & -(align)))
#define P2BOUNDARY(off, len, align) (((off) ^ ((off) + (len)-1)) > (align)-1)
#define P2SAMEHIGHBIT(x, y) (((x) ^ (y)) < ((x) & (y)))

#ifndef howmany
#define howmany(x, y) (((x) + ((y)-1)) / (y))
#endif
#ifndef roundup
#define roundup(x, y) ((((x) + ((y)-1)) / (y)) * (y))
#endif

#define BSWAP_8(x) ((x)&0xff)
#define BSWAP_16(x) ((BSWAP_8(x) << 8) | BSWAP_8((x) >> 8))
#define BSWAP_32(x) ((BSWAP_16(x) << 16) | BSWAP_16((x) >> 16))
#define BSWAP_64(x) ((BSWAP_32(x) << 32) | BSWAP_32((x) >> 32))

#endif /* _SYS_COMPAT_SYSMACROS_H */
