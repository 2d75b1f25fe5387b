/* sys/atomic.h - atomic operations (atomic_ops(9F)). */
#ifndef _SYS_ATOMIC_H
#define _SYS_ATOMIC_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef __cplusplus
extern "C" {
#endif
/* What both widths have: atomic_{inc,dec,add}_<bits>, atomic_{inc,add}_<bits>_nv,
 * atomic_cas_<bits>. */
#define _COMPAT_ATOMIC_OPS(bits)                                                               \
  extern void atomic_inc_##bits(volatile uint##bits##_t *target);                              \
  extern void atomic_dec_##bits(volatile uint##bits##_t *target);                              \
  extern void atomic_add_##bits(volatile uint##bits##_t *target, int##bits##_t delta);         \
  extern uint##bits##_t atomic_inc_##bits##_nv(volatile uint##bits##_t *target);               \
  extern uint##bits##_t atomic_add_##bits##_nv(volatile uint##bits##_t *target,                \
                                               int##bits##_t delta);                           \
  extern uint##bits##_t atomic_cas_##bits(volatile uint##bits##_t *target, uint##bits##_t cmp, \
                                          uint##bits##_t newval)
_COMPAT_ATOMIC_OPS(32);
_COMPAT_ATOMIC_OPS(64);
#undef _COMPAT_ATOMIC_OPS
extern uint32_t atomic_dec_32_nv(volatile uint32_t *target);
extern uint32_t atomic_swap_32(volatile uint32_t *target, uint32_t newval);
extern void atomic_or_32(volatile uint32_t *target, uint32_t bits);
extern void atomic_and_32(volatile uint32_t *target, uint32_t bits);
extern void membar_enter(void);
extern void membar_exit(void);
extern void membar_producer(void);
extern void membar_consumer(void);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_ATOMIC_H */
