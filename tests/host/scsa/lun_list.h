// REPORT LUNS parameter data and LUN numbering, apart from the framework so they can be tested
// on their own. LUNs are kept in the illumos SCSI_ADDR_PROP_LUN64 form (scsi_lun64_t): a
// single-level LUN using the peripheral device addressing method is its number (with the bus
// identifier bits above it), as SCSI-2 had it; any other LUN - a flat-space LUN included - is all
// eight bytes, big-endian (flat LUN 300, bytes 41 2c 00.., is 0x412c000000000000).
// Host-side test infrastructure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fk::scsa {

// The 8-byte SAM LUN as it appears in a REPORT LUNS entry or a CDB, to scsi_lun64_t and back.
uint64_t lun_bytes_to_lun64(const uint8_t bytes[8]);
void lun64_to_lun_bytes(uint64_t lun64, uint8_t bytes[8]);

struct ReportLuns {
  std::vector<uint64_t> luns;  // in the order reported, duplicates removed
  uint32_t list_length = 0;    // LUN LIST LENGTH field: bytes of entries the device has
  bool truncated = false;      // the allocation length cut the list short: retry larger
};

// Parses REPORT LUNS parameter data of `len` bytes. Returns false (with *error set) when the
// data is malformed: shorter than the 8-byte header, or a list length that is not a multiple
// of 8. Entries beyond `len` are reported as truncated, not as an error.
bool parse_report_luns(const uint8_t *data, size_t len, ReportLuns *out, std::string *error);

// The unit address of a LUN below a target: "<target address>,<lun64 in hex>", as
// scsi_device_unit_address(9F) returns it.
std::string lun_unit_address(const std::string &target_addr, uint64_t lun64);

}  // namespace fk::scsa
