/* sys/param.h - machine-independent constants (freestanding build; see sys/compat_param.h). */
#ifndef _SYS_PARAM_H
#define _SYS_PARAM_H

#include <sys/types.h>
#include <sys/compat_param.h>

#endif /* _SYS_PARAM_H */
