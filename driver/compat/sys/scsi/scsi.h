/*
 * SCSA: the umbrella header a SCSI HBA or target driver includes. As on illumos, it pulls in the
 * DDI, the SCSI types, the scsi_address/scsi_pkt/scsi_device structures, the generic command,
 * status, sense and inquiry definitions and (for HBA drivers) the transport interface.
 */
#ifndef _SYS_SCSI_SCSI_H
#define _SYS_SCSI_SCSI_H

#include <sys/scsi/scsi_types.h>
#include <sys/scsi/scsi_params.h>
#include <sys/scsi/scsi_address.h>
#include <sys/scsi/scsi_pkt.h>
#include <sys/scsi/scsi_ctl.h>
#include <sys/scsi/scsi_resource.h>
#include <sys/scsi/conf/device.h>
#include <sys/scsi/conf/autoconf.h>
#include <sys/scsi/generic/commands.h>
#include <sys/scsi/generic/status.h>
#include <sys/scsi/generic/sense.h>
#include <sys/scsi/generic/inquiry.h>
#include <sys/scsi/impl/commands.h>
#include <sys/scsi/impl/status.h>
#include <sys/scsi/impl/services.h>
#include <sys/scsi/impl/transport.h>

#endif /* _SYS_SCSI_SCSI_H */
