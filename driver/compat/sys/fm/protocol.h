/* sys/fm/protocol.h - fault management protocol names. */
#ifndef _SYS_FM_PROTOCOL_H
#define _SYS_FM_PROTOCOL_H

#include <sys/types.h>
#include <sys/compat_types.h>
#include <sys/nvpair.h>

#define FM_VERSION "version"
#define FM_CLASS "class"
#define FM_EREPORT_VERS0 0
#define FM_EREPORT_VERSION FM_EREPORT_VERS0
#define FM_EREPORT_CLASS "ereport"
#define FM_ENA_FMT0 0
#define FM_ENA_FMT1 1
#define FM_ENA_FMT2 2

#ifdef __cplusplus
extern "C" {
#endif
extern uint64_t fm_ena_generate(uint64_t timestamp, uchar_t format);
#ifdef __cplusplus
}
#endif

#endif /* _SYS_FM_PROTOCOL_H */
