/* sys/fm/io/ddi.h - DDI ereport classes (defined in <sys/ddifm.h> here). */
#ifndef _SYS_FM_IO_DDI_H
#define _SYS_FM_IO_DDI_H

#include <sys/ddifm.h>

#endif /* _SYS_FM_IO_DDI_H */
