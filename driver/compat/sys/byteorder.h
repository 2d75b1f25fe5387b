/* sys/byteorder.h - byte order conversion (LE_16 ... BE_64). */
#ifndef _SYS_BYTEORDER_H
#define _SYS_BYTEORDER_H

#include <sys/types.h>
#include <sys/compat_types.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define _BIG_ENDIAN
#define LE_16(x) __builtin_bswap16((uint16_t)(x))
#define LE_32(x) __builtin_bswap32((uint32_t)(x))
#define LE_64(x) __builtin_bswap64((uint64_t)(x))
#define BE_16(x) ((uint16_t)(x))
#define BE_32(x) ((uint32_t)(x))
#define BE_64(x) ((uint64_t)(x))
#else
#ifndef _LITTLE_ENDIAN
#define _LITTLE_ENDIAN
#endif
#define LE_16(x) ((uint16_t)(x))
#define LE_32(x) ((uint32_t)(x))
#define LE_64(x) ((uint64_t)(x))
#define BE_16(x) __builtin_bswap16((uint16_t)(x))
#define BE_32(x) __builtin_bswap32((uint32_t)(x))
#define BE_64(x) __builtin_bswap64((uint64_t)(x))
#endif

#endif /* _SYS_BYTEORDER_H */
