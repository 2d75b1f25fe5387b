// Glue for the userland kernel: QEMU's guest RAM as the kernel's physical-memory arena. Header
// only, so the pvscsi_qemu library does not depend on tests/host/kernel; include it where both are
// linked. Usage:
//   pvscsi_qemu::QemuDevice dev(options);
//   fk::Options o;
//   o.segments = pvscsi_qemu::arena_segments(dev);
//   fk::boot(o);  // then attach `dev` as the pvscsi node
#pragma once

#include <vector>

#include "fk.h"
#include "qemu_device.h"

namespace pvscsi_qemu {

// One segment per range of QemuDevice::arena_ranges() (guest RAM from kArenaStart up, and the
// part above 4 GiB when there is one), all on QEMU's shared-memory file descriptor.
inline std::vector<fk::ArenaSegment> arena_segments(const QemuDevice &dev) {
  std::vector<fk::ArenaSegment> segments;
  for (const MemoryRange &r : dev.arena_ranges()) {
    fk::ArenaSegment s;
    s.fd = dev.shm_fd();
    s.file_offset = r.file_offset;
    s.paddr = r.paddr;
    s.size = r.size;
    segments.push_back(s);
  }
  return segments;
}

}  // namespace pvscsi_qemu
