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
  uint32_t on_intr_status_read() { return 0; }
  void on_intr_status_ack(uint32_t) {}
  uint32_t on_intr_mask_read() { return 0; }
  void on_intr_mask_write(uint32_t) {}
  void on_kick(bool) {}
  void on_debug_write(uint32_t) {}
  uint32_t on_last_sts_read(uint32_t) { return 0; }
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
  req.set_context(1).set_cdb(0, 0x28).set_flags(to_raw(RequestFlag::kDirToHost));
  ConfigPageController page;
  page.header().set_host_status(to_raw(HostStatus::kInvparam));
  uint64_t ppns[1] = {1};
  RingView<ReqRing> ring(ppns, 1);
  return dev.mmio_read32(offset) + static_cast<uint32_t>(ring.entry_paddr(3)) + req.cdb(0) +
         page.header().host_status();
}
