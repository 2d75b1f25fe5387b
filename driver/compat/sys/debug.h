/*
 * sys/debug.h - assertions. ASSERT is active only in DEBUG builds, VERIFY always; a failure
 * panics (in the userland kernel: records the failure, prints it and aborts).
 */
#ifndef _SYS_DEBUG_H
#define _SYS_DEBUG_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef __cplusplus
extern "C" {
#endif
extern int assfail(const char *, const char *, int);
extern void assfail3(const char *, uintmax_t, const char *, uintmax_t, const char *, int);
#ifdef __cplusplus
}
#endif

#define VERIFY(EX) ((void)((EX) || assfail(#EX, __FILE__, __LINE__)))
#define VERIFY3_IMPL(LEFT, OP, RIGHT, TYPE)                                                    \
  do {                                                                                         \
    const TYPE __left = (TYPE)(LEFT);                                                          \
    const TYPE __right = (TYPE)(RIGHT);                                                        \
    if (!(__left OP __right))                                                                  \
      assfail3(#LEFT " " #OP " " #RIGHT, (uintmax_t)__left, #OP, (uintmax_t)__right, __FILE__, \
               __LINE__);                                                                      \
  } while (0)
#define VERIFY3S(x, y, z) VERIFY3_IMPL(x, y, z, int64_t)
#define VERIFY3U(x, y, z) VERIFY3_IMPL(x, y, z, uint64_t)
#define VERIFY3P(x, y, z) VERIFY3_IMPL(x, y, z, uintptr_t)
#define VERIFY0(x) VERIFY3_IMPL(x, ==, 0, uintmax_t)

#ifdef DEBUG
#define ASSERT(EX) VERIFY(EX)
#define ASSERT3S(x, y, z) VERIFY3S(x, y, z)
#define ASSERT3U(x, y, z) VERIFY3U(x, y, z)
#define ASSERT3P(x, y, z) VERIFY3P(x, y, z)
#define ASSERT0(x) VERIFY0(x)
#else
#define ASSERT(x) ((void)0)
#define ASSERT3S(x, y, z) ((void)0)
#define ASSERT3U(x, y, z) ((void)0)
#define ASSERT3P(x, y, z) ((void)0)
#define ASSERT0(x) ((void)0)
#endif

/* A implies B; A if and only if B. */
#define IMPLY(A, B) ASSERT(!(A) || (B))
#define EQUIV(A, B) ASSERT(!!(A) == !!(B))

#define CTASSERT(x) static_assert(x, #x)

#endif /* _SYS_DEBUG_H */
