/* sys/fm/util.h - fault management utilities. */
#ifndef _SYS_FM_UTIL_H
#define _SYS_FM_UTIL_H

#include <sys/fm/protocol.h>

#endif /* _SYS_FM_UTIL_H */
