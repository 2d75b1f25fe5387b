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
 * Freestanding: what the illumos <sys/sdt.h> expands to under _KERNEL - a brace block (not
 * do/while) with a block-scope declaration of __dtrace_probe_<name> and no asm label. In C++
 * that declaration names a function of the enclosing namespace with C++ linkage (a mangled
 * symbol the kernel runtime linker does not make a probe of) unless a C-linkage declaration of
 * the same function is visible in that namespace first: the driver declares its probes so
 * (driver/pvscsi.h), and scripts/check-module.py rejects a mangled probe.
 */

#define DTRACE_PROBE(name)                   \
  {                                          \
    extern void __dtrace_probe_##name(void); \
    __dtrace_probe_##name();                 \
  }
#define DTRACE_PROBE1(name, type1, arg1)          \
  {                                               \
    extern void __dtrace_probe_##name(uintptr_t); \
    __dtrace_probe_##name((uintptr_t)(arg1));     \
  }
#define DTRACE_PROBE2(name, type1, arg1, type2, arg2)            \
  {                                                              \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t);     \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2)); \
  }
#define DTRACE_PROBE3(name, type1, arg1, type2, arg2, type3, arg3)                  \
  {                                                                                 \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t, uintptr_t);             \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3)); \
  }
#define DTRACE_PROBE4(name, type1, arg1, type2, arg2, type3, arg3, type4, arg4)    \
  {                                                                                \
    extern void __dtrace_probe_##name(uintptr_t, uintptr_t, uintptr_t, uintptr_t); \
    __dtrace_probe_##name((uintptr_t)(arg1), (uintptr_t)(arg2), (uintptr_t)(arg3), \
                          (uintptr_t)(arg4));                                      \
  }

#endif

#endif /* _SYS_SDT_H */
