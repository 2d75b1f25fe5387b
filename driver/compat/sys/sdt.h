/*
 * sys/sdt.h - statically defined tracing probes, DTRACE_PROBE(9F)-style.
 *
 * Freestanding (module) build: each probe is a call of the undefined function
 * __dtrace_probe_<name>, as on illumos (the kernel runtime linker turns them into no-ops).
 * Host build: each probe calls fk_sdt_probe(), the userland kernel's recording hook, which
 * tests read (probe counts, last arguments).
 */
#ifndef _SYS_SDT_H
#define _SYS_SDT_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef _COMPAT_HOST_LIBC

#ifdef __cplusplus
extern "C" {
#endif
extern void fk_sdt_probe(const char *name, int nargs, uintptr_t a0, uintptr_t a1, uintptr_t a2,
                         uintptr_t a3);
#ifdef __cplusplus
}
#endif

#define DTRACE_PROBE(name) fk_sdt_probe(#name, 0, 0, 0, 0, 0)
#define DTRACE_PROBE1(name, type1, arg1) fk_sdt_probe(#name, 1, (uintptr_t)(arg1), 0, 0, 0)
#define DTRACE_PROBE2(name, type1, arg1, type2, arg2) \
  fk_sdt_probe(#name, 2, (uintptr_t)(arg1), (uintptr_t)(arg2), 0, 0)
#define DTRACE_PROBE3(name, type1, arg1, type2, arg2, type3, arg3) \
  fk_sdt_probe(#name, 3, (uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3), 0)
#define DTRACE_PROBE4(name, type1, arg1, type2, arg2, type3, arg3, type4, arg4) \
  fk_sdt_probe(#name, 4, (uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3), (uintptr_t)(arg4))

#else
/*
 * Freestanding: the illumos expansion. The asm label keeps the C symbol name in C++. The
 * block-scope declaration takes the linkage of the enclosing namespace, so probes must not be
 * used in functions inside an unnamed namespace (the symbol would be internal).
 */

#define DTRACE_PROBE(name)                                                    \
  do {                                                                        \
    extern void __dtrace_probe_##name(void) __asm__("__dtrace_probe_" #name); \
    __dtrace_probe_##name();                                                  \
  } while (0)
#define DTRACE_PROBE1(name, type1, arg1)                                           \
  do {                                                                             \
    extern void __dtrace_probe_##name(uintptr_t) __asm__("__dtrace_probe_" #name); \
    __dtrace_probe_##name((uintptr_t)(arg1));                                      \
  } while (0)
#define DTRACE_PROBE2(name, type1, arg1, type2, arg2)                                         \
  do {                                                                                        \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t) __asm__("__dtrace_probe_" #name); \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2));                              \
  } while (0)
#define DTRACE_PROBE3(name, type1, arg1, type2, arg2, type3, arg3)                  \
  do {                                                                              \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t,                         \
                                      uintptr_t) __asm__("__dtrace_probe_" #name);  \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3)); \
  } while (0)
#define DTRACE_PROBE4(name, type1, arg1, type2, arg2, type3, arg3, type4, arg4)    \
  do {                                                                             \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t, uintptr_t,             \
                                      uintptr_t) __asm__("__dtrace_probe_" #name); \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3), \
                          (uintptr_t)(arg4));                                      \
  } while (0)

#endif

#endif /* _SYS_SDT_H */
