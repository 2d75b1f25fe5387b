/*
 * SCSI command opcodes (SCMD_*) and CDB group sizes.
 */
#ifndef _SYS_SCSI_GENERIC_COMMANDS_H
#define _SYS_SCSI_GENERIC_COMMANDS_H

#ifdef __cplusplus
extern "C" {
#endif

/* CDB length by group (the opcode's top three bits) */
#define CDB_GROUPID(cmd) (((cmd) >> 5) & 0x7)
#define CDB_GROUPID_0 0
#define CDB_GROUPID_1 1
#define CDB_GROUPID_2 2
#define CDB_GROUPID_3 3
#define CDB_GROUPID_4 4
#define CDB_GROUPID_5 5
#define CDB_GROUPID_6 6
#define CDB_GROUPID_7 7

#define CDB_GROUP0 6  /*  6-byte CDBs */
#define CDB_GROUP1 10 /* 10-byte CDBs */
#define CDB_GROUP2 10 /* 10-byte CDBs */
#define CDB_GROUP3 0  /* reserved */
#define CDB_GROUP4 16 /* 16-byte CDBs */
#define CDB_GROUP5 12 /* 12-byte CDBs */
#define CDB_GROUP6 0  /* vendor specific */
#define CDB_GROUP7 0  /* vendor specific */

/* Group 0 */
#define SCMD_TEST_UNIT_READY 0x00
#define SCMD_REZERO_UNIT 0x01
#define SCMD_REQUEST_SENSE 0x03
#define SCMD_FORMAT 0x04
#define SCMD_REASSIGN_BLOCK 0x07
#define SCMD_READ 0x08
#define SCMD_WRITE 0x0a
#define SCMD_SEEK 0x0b
#define SCMD_INQUIRY 0x12
#define SCMD_MODE_SELECT 0x15
#define SCMD_RESERVE 0x16
#define SCMD_RELEASE 0x17
#define SCMD_MODE_SENSE 0x1a
#define SCMD_START_STOP 0x1b
#define SCMD_SDIAG 0x1d
#define SCMD_DOORLOCK 0x1e

/* Group 1 */
#define SCMD_READ_CAPACITY 0x25
#define SCMD_READ_G1 0x28
#define SCMD_WRITE_G1 0x2a
#define SCMD_SEEK_G1 0x2b
#define SCMD_WRITE_VERIFY 0x2e
#define SCMD_VERIFY 0x2f
#define SCMD_SYNCHRONIZE_CACHE 0x35
#define SCMD_READ_DEFECT_LIST 0x37
#define SCMD_WRITE_BUFFER 0x3b
#define SCMD_READ_BUFFER 0x3c
#define SCMD_WRITE_SAME_G1 0x41
#define SCMD_UNMAP 0x42
#define SCMD_LOG_SELECT_G1 0x4c
#define SCMD_LOG_SENSE_G1 0x4d

/* Group 2 */
#define SCMD_MODE_SELECT_G1 0x55
#define SCMD_MODE_SENSE_G1 0x5a
#define SCMD_PERSISTENT_RESERVE_IN 0x5e
#define SCMD_PERSISTENT_RESERVE_OUT 0x5f

/* Group 4 */
#define SCMD_READ_G4 0x88
#define SCMD_WRITE_G4 0x8a
#define SCMD_VERIFY_G4 0x8f
#define SCMD_SYNCHRONIZE_CACHE_G4 0x91
#define SCMD_WRITE_SAME_G4 0x93
#define SCMD_SVC_ACTION_IN_G4 0x9e
#define SSVC_ACTION_READ_CAPACITY_G4 0x10 /* READ CAPACITY(16) service action */

/* Group 5 */
#define SCMD_REPORT_LUNS 0xa0
#define SCMD_MAINTENANCE_IN 0xa3
#define SCMD_READ_G5 0xa8
#define SCMD_WRITE_G5 0xaa

#ifdef __cplusplus
}
#endif

#endif /* _SYS_SCSI_GENERIC_COMMANDS_H */
