/* sys/time.h - high-resolution time (freestanding build; the host C library owns this name). */
#ifndef _SYS_TIME_H
#define _SYS_TIME_H

#include <sys/types.h>
#include <sys/compat_types.h>

#ifdef __cplusplus
extern "C" {
#endif
extern hrtime_t gethrtime(void);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_TIME_H */
