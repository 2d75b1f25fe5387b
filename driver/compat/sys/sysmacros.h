/* sys/sysmacros.h - common macros (freestanding build; see sys/compat_sysmacros.h). */
#ifndef _SYS_SYSMACROS_H
#define _SYS_SYSMACROS_H

#include <sys/types.h>
#include <sys/compat_sysmacros.h>

#endif /* _SYS_SYSMACROS_H */
