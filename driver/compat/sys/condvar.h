/* sys/condvar.h - condition variables (condvar(9F)). */
#ifndef _SYS_CONDVAR_H
#define _SYS_CONDVAR_H

#include <sys/ksynch.h>
#include <sys/mutex.h>

/* Resolution of cv_reltimedwait()'s delta. */
typedef enum { TR_NANOSEC, TR_MICROSEC, TR_MILLISEC, TR_SEC, TR_CLOCK_TICK, TR_COUNT } time_res_t;

#ifdef __cplusplus
extern "C" {
#endif
extern void cv_init(kcondvar_t *cvp, char *name, kcv_type_t type, void *arg);
extern void cv_destroy(kcondvar_t *cvp);
extern void cv_wait(kcondvar_t *cvp, kmutex_t *mp);
extern int cv_wait_sig(kcondvar_t *cvp, kmutex_t *mp);
/* Returns -1 if the absolute lbolt time timeout was reached, > 0 if signalled. */
extern clock_t cv_timedwait(kcondvar_t *cvp, kmutex_t *mp, clock_t timeout);
/* Returns -1 if delta (in units of res) elapsed, > 0 if signalled. */
extern clock_t cv_reltimedwait(kcondvar_t *cvp, kmutex_t *mp, clock_t delta, time_res_t res);
extern void cv_signal(kcondvar_t *cvp);
extern void cv_broadcast(kcondvar_t *cvp);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_CONDVAR_H */
