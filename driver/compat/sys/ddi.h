/*
 * sys/ddi.h - DDI/DKI routines common to all drivers: time and delays, device numbers.
 */
#ifndef _SYS_DDI_H
#define _SYS_DDI_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/compat_param.h>
#include <sys/compat_sysmacros.h>
#include <sys/buf.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Clock ticks (hz = 100 in the userland kernel, as the illumos default). */
extern clock_t drv_usectohz(clock_t microsecs);
extern clock_t drv_hztousec(clock_t hertz);
extern void drv_usecwait(clock_t microsecs);
extern void delay(clock_t ticks);
extern clock_t ddi_get_lbolt(void);
extern int64_t ddi_get_lbolt64(void);
extern time_t ddi_get_time(void);
extern hrtime_t gethrtime(void);

extern timeout_id_t timeout(void (*func)(void *), void *arg, clock_t ticks);
extern clock_t untimeout(timeout_id_t id);

extern major_t getmajor(dev_t dev);
extern minor_t getminor(dev_t dev);
extern dev_t makedevice(major_t majnum, minor_t minnum);
#ifdef __cplusplus
}
#endif

#define drv_sectohz(sec) (drv_usectohz((clock_t)(sec) * (clock_t)MICROSEC))

#endif /* _SYS_DDI_H */
