// SCSI target emulation: see scsi_target.h. Field positions follow SPC-4 and SBC-3.
#include "scsi_target.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace pvscsi_mock {

uint32_t be16(const uint8_t *p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be24(const uint8_t *p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }
uint32_t be32(const uint8_t *p) { return (be16(p) << 16) | be16(p + 2); }
uint64_t be64(const uint8_t *p) { return (uint64_t{be32(p)} << 32) | be32(p + 4); }
void put_be16(uint8_t *p, uint32_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put_be32(uint8_t *p, uint32_t v) {
  put_be16(p, v >> 16);
  put_be16(p + 2, v);
}
void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, uint32_t(v >> 32));
  put_be32(p + 4, uint32_t(v));
}

size_t cdb_group_len(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 0;  // group 3 (variable length) and vendor-specific groups 6, 7
  }
}

void encode_lun(uint16_t lun, uint8_t out[8], bool peripheral_bus) {
  std::memset(out, 0, 8);
  if (lun < 256 || peripheral_bus) {
    out[0] = uint8_t((lun >> 8) & 0x3F);  // peripheral device addressing, bus lun >> 8
    out[1] = uint8_t(lun);
  } else {
    out[0] = uint8_t(0x40 | ((lun >> 8) & 0x3F));  // flat space addressing
    out[1] = uint8_t(lun);
  }
}

pvscsi::hw::SamLun encode_sam_lun(uint16_t lun, bool peripheral_bus) {
  uint8_t b[8];
  encode_lun(lun, b, peripheral_bus);
  uint64_t v = 0;
  for (uint8_t byte : b) {
    v = v << 8 | byte;
  }
  return pvscsi::hw::SamLun::from_value(v);
}

std::vector<uint8_t> make_sense(Asc a) {
  std::vector<uint8_t> s(kSenseLen, 0);
  s[0] = 0x70;  // current error, fixed format
  s[2] = a.key & 0x0F;
  s[7] = uint8_t(kSenseLen - 8);  // additional sense length
  s[12] = a.asc;
  s[13] = a.ascq;
  return s;
}

namespace {

// Copies a string into a space-padded fixed-width field.
void put_ascii(uint8_t *dst, size_t width, const char *s) {
  size_t n = std::strlen(s);
  for (size_t i = 0; i < width; i++) {
    dst[i] = i < n ? uint8_t(s[i]) : ' ';
  }
}

void truncate_to(std::vector<uint8_t> *v, uint64_t alloc) {
  if (v->size() > alloc) {
    v->resize(alloc);
  }
}

bool is_read(uint8_t opc) {
  return opc == op::kRead6 || opc == op::kRead10 || opc == op::kRead12 || opc == op::kRead16;
}
bool is_write(uint8_t opc) {
  return opc == op::kWrite6 || opc == op::kWrite10 || opc == op::kWrite12 || opc == op::kWrite16;
}

// LBA and block count of a READ/WRITE CDB.
void rw_fields(const uint8_t *cdb, uint64_t *lba, uint64_t *count) {
  switch (cdb[0]) {
    case op::kRead6:
    case op::kWrite6:
      *lba = be24(cdb + 1) & 0x1FFFFF;
      *count = cdb[4] == 0 ? 256 : cdb[4];  // SBC: 0 means 256 blocks
      break;
    case op::kRead10:
    case op::kWrite10:
      *lba = be32(cdb + 2);
      *count = be16(cdb + 7);
      break;
    case op::kRead12:
    case op::kWrite12:
      *lba = be32(cdb + 2);
      *count = be32(cdb + 6);
      break;
    default:  // 16-byte
      *lba = be64(cdb + 2);
      *count = be32(cdb + 10);
      break;
  }
}

constexpr uint8_t kTypeDisk = 0x00;
constexpr uint8_t kTypeCdrom = 0x05;

// The mode pages MODE SENSE returns for `page` (caching, control or all) under page control
// `pc`: the caching page has the write cache enabled, except in the changeable values.
std::vector<uint8_t> mode_pages(uint8_t page, uint8_t pc) {
  std::vector<uint8_t> pages;
  if (page == 0x08 || page == 0x3F) {  // caching: write cache enabled
    std::vector<uint8_t> p(20, 0);
    p[0] = 0x08;
    p[1] = 0x12;
    if (pc != 1) {
      p[2] = 0x04;  // WCE
    }
    pages.insert(pages.end(), p.begin(), p.end());
  }
  if (page == 0x0A || page == 0x3F) {  // control
    std::vector<uint8_t> p(12, 0);
    p[0] = 0x0A;
    p[1] = 0x0A;
    pages.insert(pages.end(), p.begin(), p.end());
  }
  return pages;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ScsiLun

ScsiLun::ScsiLun(const LunSpec &spec, uint32_t target_id, bool power_on_ua)
    : spec_(spec), target_id_(target_id) {
  if (spec_.block_size != 4096) {
    spec_.block_size = 512;
  }
  if (power_on_ua) {
    pending_ua_.insert(UnitAttention::kPowerOnReset);
  }
}

CdbShape ScsiLun::shape(const uint8_t *cdb, size_t cdb_len) const {
  CdbShape s;
  if (cdb_len == 0 || cdb_len < cdb_group_len(cdb[0])) {
    return s;
  }
  const uint8_t opc = cdb[0];
  if (is_read(opc) || is_write(opc)) {
    uint64_t lba, count;
    rw_fields(cdb, &lba, &count);
    s.dir = is_read(opc) ? DataDir::kIn : DataDir::kOut;
    s.bytes = count * block_size();
    return s;
  }
  switch (opc) {
    case op::kRequestSense:
    case op::kModeSense6:
      s = {DataDir::kIn, cdb[4]};
      break;
    case op::kInquiry:
      s = {DataDir::kIn, be16(cdb + 3)};
      break;
    case op::kModeSense10:
      s = {DataDir::kIn, be16(cdb + 7)};
      break;
    case op::kReadCapacity10:
      s = {DataDir::kIn, 8};
      break;
    case op::kServiceActionIn16:
      if ((cdb[1] & 0x1F) == op::kSaReadCapacity16) {
        s = {DataDir::kIn, be32(cdb + 10)};
      }
      break;
    case op::kReportLuns:
      s = {DataDir::kIn, be32(cdb + 6)};
      break;
    default:
      break;  // TEST UNIT READY, START STOP UNIT, SYNCHRONIZE CACHE, unknown: no data
  }
  if (s.dir == DataDir::kIn && s.bytes == 0) {
    s.dir = DataDir::kNone;
  }
  return s;
}

ScsiResult ScsiLun::check(Asc a) const {
  ScsiResult r;
  r.status = kScsiCheckCondition;
  r.sense = make_sense(a);
  return r;
}

bool ScsiLun::medium_ready(ScsiResult *r) const {
  if (spec_.kind == LunKind::kCdrom) {
    *r = check(sense::kMediumNotPresent);
    return false;
  }
  if (stopped_) {
    *r = check(sense::kNotReadyInitCmdRequired);
    return false;
  }
  return true;
}

ScsiResult ScsiLun::execute(const uint8_t *cdb, size_t cdb_len,
                            const std::vector<uint8_t> &data_out) {
  const uint8_t opc = cdb_len ? cdb[0] : 0xFF;
  if (cdb_len == 0 || cdb_group_len(opc) == 0 || cdb_len < cdb_group_len(opc)) {
    return check(sense::kInvalidOpcode);
  }
  // SPC: a pending unit attention is reported to any command except INQUIRY, REPORT LUNS and
  // REQUEST SENSE, and is cleared by reporting it.
  if (!pending_ua_.empty() && opc != op::kInquiry && opc != op::kRequestSense &&
      opc != op::kReportLuns) {
    UnitAttention ua = *pending_ua_.begin();
    pending_ua_.erase(pending_ua_.begin());
    switch (ua) {
      case UnitAttention::kPowerOnReset:
        return check(sense::kPowerOnReset);
      case UnitAttention::kReportedLunsChanged:
        return check(sense::kReportedLunsChanged);
      case UnitAttention::kCapacityChanged:
        return check(sense::kCapacityChanged);
    }
  }
  ScsiResult r;
  switch (opc) {
    case op::kTestUnitReady:
      medium_ready(&r);
      return r;
    case op::kRequestSense:
      return request_sense(cdb);
    case op::kInquiry:
      return inquiry(cdb);
    case op::kReadCapacity10:
      return read_capacity10();
    case op::kServiceActionIn16:
      if ((cdb[1] & 0x1F) != op::kSaReadCapacity16) {
        return check(sense::kInvalidFieldInCdb);
      }
      return read_capacity16(cdb);
    case op::kModeSense6:
      return mode_sense(cdb, false);
    case op::kModeSense10:
      return mode_sense(cdb, true);
    case op::kSynchronizeCache10:
      return sync_cache(cdb, false);
    case op::kSynchronizeCache16:
      return sync_cache(cdb, true);
    case op::kStartStopUnit:
      return start_stop(cdb);
    default:
      if (is_read(opc) || is_write(opc)) {
        return rw(cdb, cdb_len, data_out);
      }
      return check(sense::kInvalidOpcode);
  }
}

ScsiResult ScsiLun::inquiry(const uint8_t *cdb) const {
  const bool evpd = cdb[1] & 0x01;
  const uint8_t page = cdb[2];
  const uint32_t alloc = be16(cdb + 3);
  if ((cdb[1] & 0x02) != 0 || (!evpd && page != 0)) {  // CmdDt is obsolete; page without EVPD
    return check(sense::kInvalidFieldInCdb);
  }
  const uint8_t type = spec_.kind == LunKind::kCdrom ? kTypeCdrom : kTypeDisk;
  ScsiResult r;
  std::vector<uint8_t> &d = r.data_in;
  char serial[32];
  std::snprintf(serial, sizeof serial, "MOCK%04X%04X", unsigned(target_id_ & 0xFFFF),
                unsigned(spec_.lun));
  if (!evpd) {
    d.assign(36, 0);
    d[0] = type;
    d[1] = spec_.kind == LunKind::kCdrom ? 0x80 : 0x00;  // RMB
    d[2] = 0x05;                                         // SPC-3
    d[3] = 0x02;                                         // response data format 2
    d[4] = uint8_t(d.size() - 5);                        // additional length
    d[7] = 0x02;                                         // CMDQUE
    put_ascii(&d[8], 8, "VMware");
    put_ascii(&d[16], 16, spec_.kind == LunKind::kCdrom ? "Virtual CD-ROM" : "Virtual disk");
    put_ascii(&d[32], 4, "2.0");
  } else if (page == 0x00) {
    d = {type, 0x00, 0x00, 0x03, 0x00, 0x80, 0x83};
  } else if (page == 0x80) {
    size_t n = std::strlen(serial);
    d = {type, 0x80, 0x00, uint8_t(n)};
    d.insert(d.end(), serial, serial + n);
  } else if (page == 0x83) {
    // One NAA-5 designator (binary, LU association): OUI 00:50:56 (VMware) and the address.
    const uint32_t oui = 0x005056;
    const uint64_t vs = (uint64_t{target_id_} << 16) | spec_.lun;
    uint8_t naa[8] = {uint8_t(0x50 | ((oui >> 20) & 0xF)),
                      uint8_t(oui >> 12),
                      uint8_t(oui >> 4),
                      uint8_t(((oui & 0xF) << 4) | ((vs >> 32) & 0xF)),
                      uint8_t(vs >> 24),
                      uint8_t(vs >> 16),
                      uint8_t(vs >> 8),
                      uint8_t(vs)};
    d = {type, 0x83, 0x00, 12, 0x01, 0x03, 0x00, 0x08};
    d.insert(d.end(), naa, naa + 8);
  } else {
    return check(sense::kInvalidFieldInCdb);
  }
  truncate_to(&d, alloc);
  return r;
}

ScsiResult ScsiLun::request_sense(const uint8_t *cdb) {
  ScsiResult r;
  Asc a{kSenseNoSense, 0, 0};
  if (!pending_ua_.empty()) {
    UnitAttention ua = *pending_ua_.begin();
    pending_ua_.erase(pending_ua_.begin());
    a = ua == UnitAttention::kPowerOnReset          ? sense::kPowerOnReset
        : ua == UnitAttention::kReportedLunsChanged ? sense::kReportedLunsChanged
                                                    : sense::kCapacityChanged;
  } else if (spec_.kind == LunKind::kCdrom) {
    a = sense::kMediumNotPresent;
  } else if (stopped_) {
    a = sense::kNotReadyInitCmdRequired;
  }
  // The sense travels as data with GOOD status; fixed format even if DESC is set (SPC allows).
  r.data_in = make_sense(a);
  truncate_to(&r.data_in, cdb[4]);
  return r;
}

ScsiResult ScsiLun::read_capacity10() const {
  ScsiResult r;
  if (!medium_ready(&r)) {
    return r;
  }
  r.data_in.assign(8, 0);
  const uint64_t last = spec_.blocks - 1;
  put_be32(&r.data_in[0], last > 0xFFFFFFFFull ? 0xFFFFFFFFu : uint32_t(last));
  put_be32(&r.data_in[4], block_size());
  return r;
}

ScsiResult ScsiLun::read_capacity16(const uint8_t *cdb) const {
  ScsiResult r;
  if (!medium_ready(&r)) {
    return r;
  }
  r.data_in.assign(32, 0);
  put_be64(&r.data_in[0], spec_.blocks - 1);
  put_be32(&r.data_in[8], block_size());
  truncate_to(&r.data_in, be32(cdb + 10));
  return r;
}

// The block descriptor of MODE SENSE: 16 bytes with LLBAA (MODE SENSE(10)), 8 otherwise (the
// block count saturates at 0xFFFFFFFF).
std::vector<uint8_t> ScsiLun::block_descriptor(bool llbaa) const {
  std::vector<uint8_t> bd;
  const uint64_t blocks = this->blocks();
  if (llbaa) {
    bd.assign(16, 0);
    put_be64(&bd[0], blocks);
    put_be32(&bd[12], block_size());
  } else {
    bd.assign(8, 0);
    put_be32(&bd[0], blocks > 0xFFFFFFFFull ? 0xFFFFFFFFu : uint32_t(blocks));
    bd[5] = uint8_t(block_size() >> 16);
    bd[6] = uint8_t(block_size() >> 8);
    bd[7] = uint8_t(block_size());
  }
  return bd;
}

ScsiResult ScsiLun::mode_sense(const uint8_t *cdb, bool ten) const {
  const bool dbd = cdb[1] & 0x08;
  const bool llbaa = ten && (cdb[1] & 0x10);
  const uint8_t pc = cdb[2] >> 6;  // 0 current, 1 changeable, 2 default, 3 saved
  const uint8_t page = cdb[2] & 0x3F;
  const uint8_t subpage = cdb[3];
  const uint32_t alloc = ten ? be16(cdb + 7) : cdb[4];
  if (subpage != 0 && !(page == 0x3F && subpage == 0xFF)) {
    return check(sense::kInvalidFieldInCdb);
  }
  if (page != 0x08 && page != 0x0A && page != 0x3F) {
    return check(sense::kInvalidFieldInCdb);
  }
  const std::vector<uint8_t> pages = mode_pages(page, pc);
  const std::vector<uint8_t> bd = dbd ? std::vector<uint8_t>() : block_descriptor(llbaa);
  ScsiResult r;
  std::vector<uint8_t> &d = r.data_in;
  const uint8_t devspec = spec_.write_protected ? 0x80 : 0x00;
  if (ten) {
    d.assign(8, 0);
    d[3] = devspec;
    d[4] = llbaa ? 0x01 : 0x00;
    put_be16(&d[6], uint32_t(bd.size()));
  } else {
    d.assign(4, 0);
    d[2] = devspec;
    d[3] = uint8_t(bd.size());
  }
  d.insert(d.end(), bd.begin(), bd.end());
  d.insert(d.end(), pages.begin(), pages.end());
  if (ten) {
    put_be16(&d[0], uint32_t(d.size() - 2));
  } else {
    d[0] = uint8_t(d.size() - 1);
  }
  truncate_to(&d, alloc);
  return r;
}

ScsiResult ScsiLun::rw(const uint8_t *cdb, size_t cdb_len, const std::vector<uint8_t> &data_out) {
  (void)cdb_len;
  ScsiResult r;
  if (cdb[0] != op::kRead6 && cdb[0] != op::kWrite6 && (cdb[1] & 0xE0) != 0) {
    return check(sense::kInvalidFieldInCdb);  // RDPROTECT/WRPROTECT: no protection information
  }
  if (!medium_ready(&r)) {
    return r;
  }
  uint64_t lba, count;
  rw_fields(cdb, &lba, &count);
  const bool write = is_write(cdb[0]);
  if (write && spec_.write_protected) {
    return check(sense::kWriteProtected);
  }
  if (lba > spec_.blocks || count > spec_.blocks - lba) {
    return check(sense::kLbaOutOfRange);
  }
  if (count * block_size() > kMaxTransfer) {
    return check(sense::kInvalidFieldInCdb);
  }
  const uint32_t bs = block_size();
  if (!write) {
    r.data_in.assign(count * bs, 0);
    read_blocks(lba, count, r.data_in.data());
    return r;
  }
  const uint64_t whole = std::min<uint64_t>(count, data_out.size() / bs);
  write_blocks(lba, whole, data_out.data());
  r.data_out_used = whole * bs;
  return r;
}

ScsiResult ScsiLun::sync_cache(const uint8_t *cdb, bool sixteen) const {
  ScsiResult r;
  if (!medium_ready(&r)) {
    return r;
  }
  const uint64_t lba = sixteen ? be64(cdb + 2) : be32(cdb + 2);
  const uint64_t count = sixteen ? be32(cdb + 10) : be16(cdb + 7);  // 0: to the end
  if (lba > spec_.blocks || count > spec_.blocks - lba) {
    return check(sense::kLbaOutOfRange);
  }
  return r;
}

ScsiResult ScsiLun::start_stop(const uint8_t *cdb) {
  ScsiResult r;
  const uint8_t power_condition = cdb[4] >> 4;
  if (power_condition != 0) {
    return r;  // power conditions are accepted and ignored
  }
  if (spec_.kind == LunKind::kDisk) {
    stopped_ = (cdb[4] & 0x01) == 0;  // START bit
  }
  return r;
}

void ScsiLun::set_capacity(uint64_t blocks) {
  if (spec_.kind != LunKind::kDisk || blocks == 0) {
    return;
  }
  spec_.blocks = blocks;
  for (auto it = store_.begin(); it != store_.end();) {
    it = it->first >= blocks ? store_.erase(it) : std::next(it);
  }
  pending_ua_.insert(UnitAttention::kCapacityChanged);
}

bool ScsiLun::read_blocks(uint64_t lba, uint64_t count, uint8_t *out) const {
  if (spec_.kind != LunKind::kDisk || lba > spec_.blocks || count > spec_.blocks - lba) {
    return false;
  }
  const uint32_t bs = block_size();
  for (uint64_t i = 0; i < count; i++) {
    auto it = store_.find(lba + i);
    if (it == store_.end()) {
      std::memset(out + i * bs, 0, bs);
    } else {
      std::memcpy(out + i * bs, it->second.data(), bs);
    }
  }
  return true;
}

bool ScsiLun::write_blocks(uint64_t lba, uint64_t count, const uint8_t *in) {
  if (spec_.kind != LunKind::kDisk || lba > spec_.blocks || count > spec_.blocks - lba) {
    return false;
  }
  const uint32_t bs = block_size();
  for (uint64_t i = 0; i < count; i++) {
    const uint8_t *src = in + i * bs;
    if (std::all_of(src, src + bs, [](uint8_t b) { return b == 0; })) {
      store_.erase(lba + i);  // zeros are the sparse default
    } else {
      store_[lba + i].assign(src, src + bs);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// ScsiTarget

bool ScsiTarget::add_lun(const LunSpec &spec) {
  if (luns_.count(spec.lun) != 0 || spec.lun >= 0x4000) {
    return false;
  }
  luns_[spec.lun] = std::make_unique<ScsiLun>(spec, id_, power_on_ua_);
  return true;
}

bool ScsiTarget::remove_lun(uint16_t lun) { return luns_.erase(lun) != 0; }

ScsiLun *ScsiTarget::lun(uint16_t lun) {
  auto it = luns_.find(lun);
  return it == luns_.end() ? nullptr : it->second.get();
}

const ScsiLun *ScsiTarget::lun(uint16_t lun) const {
  auto it = luns_.find(lun);
  return it == luns_.end() ? nullptr : it->second.get();
}

void ScsiTarget::post_unit_attention(UnitAttention ua) {
  for (auto &l : luns_) {
    l.second->post_unit_attention(ua);
  }
}

bool ScsiTarget::addressable(uint16_t lun, uint8_t opcode) const {
  return luns_.count(lun) != 0 || (lun == 0 && opcode == op::kReportLuns);
}

CdbShape ScsiTarget::shape(uint16_t lun, const uint8_t *cdb, size_t cdb_len) const {
  if (cdb_len >= 12 && cdb[0] == op::kReportLuns) {
    return CdbShape{DataDir::kIn, be32(cdb + 6)};
  }
  const ScsiLun *l = this->lun(lun);
  return l ? l->shape(cdb, cdb_len) : CdbShape{};
}

ScsiResult ScsiTarget::execute(uint16_t lun, const uint8_t *cdb, size_t cdb_len,
                               const std::vector<uint8_t> &data_out) {
  if (cdb_len >= 12 && cdb[0] == op::kReportLuns) {
    return report_luns(cdb);
  }
  ScsiLun *l = this->lun(lun);
  if (l == nullptr) {  // callers check addressable(); answer like SPC for a missing LUN anyway
    ScsiResult r;
    r.status = kScsiCheckCondition;
    r.sense = make_sense(sense::kLunNotSupported);
    return r;
  }
  return l->execute(cdb, cdb_len, data_out);
}

ScsiResult ScsiTarget::report_luns(const uint8_t *cdb) {
  ScsiResult r;
  const uint8_t select = cdb[2];
  const uint32_t alloc = be32(cdb + 6);
  if (select > 0x02 || alloc < 16) {  // SPC: allocation length below 16 is invalid
    r.status = kScsiCheckCondition;
    r.sense = make_sense(sense::kInvalidFieldInCdb);
    return r;
  }
  std::vector<uint8_t> &d = r.data_in;
  d.assign(8, 0);
  if (select != 0x01) {  // 0x01: well-known LUNs only, of which there are none
    for (auto &l : luns_) {
      uint8_t enc[8];
      encode_lun(l.first, enc, peripheral_bus_luns_);
      d.insert(d.end(), enc, enc + 8);
    }
  }
  put_be32(&d[0], uint32_t(d.size() - 8));
  truncate_to(&d, alloc);
  for (auto &l : luns_) {
    l.second->clear_unit_attentions_of(UnitAttention::kReportedLunsChanged);
  }
  return r;
}

}  // namespace pvscsi_mock
