// Compiled by CTest with -ffreestanding -nostdinc (no C or C++ library at all): the generated
// headers must build the way kernel code builds, getting their integer types from
// <sys/int_types.h> only. The skeleton and ring view templates are instantiated so that their
// bodies are checked too.
#include "pvscsi_hw.h"
#include "pvscsi_mock_skeleton.h"

namespace {

using namespace pvscsi::hw;

struct NullIo {
  uint32_t read32(uint32_t) { return 0; }
  void write32(uint32_t, uint32_t) {}
};

class MinimalDevice : public DeviceSkeleton<MinimalDevice> {
 public:
  // One template serves every register read; the rest by type.
  template <class Reg>
  uint32_t on_read(Reg) {
    return Reg::kOffset;
  }
  void on_ack(IntrStatus) {}
  void on_write(IntrMask) {}
  void on_write(Debug) {}
  void on_ring(KickRwIo) {}
  void on_ring(KickNonRwIo) {}
  bool command_supported(CommandCode) { return true; }
  uint32_t handle(CmdAdapterReset) { return 0; }
  uint32_t handle(CmdIssueScsi) { return 0; }
  uint32_t handle(CmdSetupRings, const CmdDescSetupRings &) { return 0; }
  uint32_t handle(CmdResetBus) { return 0; }
  uint32_t handle(CmdResetDevice, const CmdDescResetDevice &) { return 0; }
  uint32_t handle(CmdAbortCmd, const CmdDescAbortCmd &) { return 0; }
  uint32_t handle(CmdConfig, const CmdDescConfig &) { return 0; }
  uint32_t handle(CmdSetupMsgRing, const CmdDescSetupMsgRing &) { return 0; }
  uint32_t handle(CmdDeviceUnplug) { return 0; }
  uint32_t handle(CmdSetupReqCallThreshold, const CmdDescSetupReqCall &) { return 0; }
  uint32_t handle(CmdGetMaxTargets) { return 0; }
};

}  // namespace

// Kernel code has no main(); an extern function keeps everything used.
extern "C" uint32_t pvscsi_generated_freestanding_probe(uint32_t offset) {
  NullIo io;
  IntrStatus::read(io).ack(io);
  IntrMask().set_cmpl_0(1).write(io);
  KickRwIo::ring(io);
  MinimalDevice dev;
  dev.mmio_write32(offset, 1);
  RingReqDesc req;
  const uint8_t cdb[6] = {0x28};
  req.set_context(1)
      .set_cdb(0, 0x28)
      .set_cdb_from(cdb, 6)
      .set_flags(RequestFlag::kDirToHost)
      .set_lun(SamLun::from_lun64(offset & 0x3FFF));
  ConfigPageController page;
  page.header().set_host_status(HostStatus::kInvparam);
  CmdDescAbortCmd abort;
  abort.set_context(offset);
  (void)send_command<CmdAbortCmd>(io, abort);
  (void)send_command<CmdResetBus>(io);
  uint64_t ppns[1] = {1};
  RingView<ReqRing> ring(ppns, 1);
  return dev.mmio_read32(offset) + static_cast<uint32_t>(ring.entry_paddr(3)) + req.cdb(0) +
         page.header().host_status_raw() + (is_known(page.header().host_status()) ? 1u : 0u) +
         static_cast<uint32_t>(req.lun().to_lun64());
}
