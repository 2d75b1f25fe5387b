/*
 * Implementation command definitions. The opcodes and CDB group sizes live in
 * <sys/scsi/generic/commands.h>; CDB fields are big-endian on the wire and drivers that build
 * CDBs store them byte by byte.
 */
#ifndef _SYS_SCSI_IMPL_COMMANDS_H
#define _SYS_SCSI_IMPL_COMMANDS_H

#include <sys/scsi/scsi_types.h>
#include <sys/scsi/generic/commands.h>

#endif /* _SYS_SCSI_IMPL_COMMANDS_H */
