/* sys/atomic.h - atomic operations (atomic_ops(9F)). */
#ifndef _SYS_ATOMIC_H
#define _SYS_ATOMIC_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef __cplusplus
extern "C" {
#endif
extern void atomic_inc_32(volatile uint32_t *target);
extern void atomic_dec_32(volatile uint32_t *target);
extern void atomic_add_32(volatile uint32_t *target, int32_t delta);
extern uint32_t atomic_inc_32_nv(volatile uint32_t *target);
extern uint32_t atomic_dec_32_nv(volatile uint32_t *target);
extern uint32_t atomic_add_32_nv(volatile uint32_t *target, int32_t delta);
extern uint32_t atomic_cas_32(volatile uint32_t *target, uint32_t cmp, uint32_t newval);
extern uint32_t atomic_swap_32(volatile uint32_t *target, uint32_t newval);
extern void atomic_inc_64(volatile uint64_t *target);
extern void atomic_dec_64(volatile uint64_t *target);
extern void atomic_add_64(volatile uint64_t *target, int64_t delta);
extern uint64_t atomic_inc_64_nv(volatile uint64_t *target);
extern uint64_t atomic_add_64_nv(volatile uint64_t *target, int64_t delta);
extern uint64_t atomic_cas_64(volatile uint64_t *target, uint64_t cmp, uint64_t newval);
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
