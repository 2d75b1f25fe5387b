/* sys/conf.h - driver configuration: cb_ops/dev_ops and the generic entry points. */
#ifndef _SYS_CONF_H
#define _SYS_CONF_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/devops.h>

#ifdef __cplusplus
extern "C" {
#endif
extern int nulldev(void);
extern int nodev(void);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_CONF_H */
