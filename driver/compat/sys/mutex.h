/* sys/mutex.h - kernel mutexes (mutex(9F)). */
#ifndef _SYS_MUTEX_H
#define _SYS_MUTEX_H

#include <sys/ksynch.h>

#ifdef __cplusplus
extern "C" {
#endif
extern void mutex_init(kmutex_t *mp, char *name, kmutex_type_t type, void *arg);
extern void mutex_destroy(kmutex_t *mp);
extern void mutex_enter(kmutex_t *mp);
extern void mutex_exit(kmutex_t *mp);
extern int mutex_tryenter(kmutex_t *mp);
extern int mutex_owned(const kmutex_t *mp);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_MUTEX_H */
