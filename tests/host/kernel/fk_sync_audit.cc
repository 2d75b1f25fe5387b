// The sync audit (Options::sync_audit), ddi_dma_sync(9F)'s check of the driver's syncs.
//
// Memory from ddi_dma_mem_alloc is non-coherent. The driver (CPU) sees a private copy S; the
// device sees the arena D; L is the value of each byte at its last sync. ddi_dma_sync(FORDEV)
// copies the bytes the CPU changed (S != L) to D; FORCPU/FORKERNEL copies the bytes the device
// changed (D != L) to S. Detected:
//   - a device read of bytes the CPU changed but did not sync FORDEV (violation "sync"; the
//     device sees the stale bytes, as real hardware would). The verdict waits for the kmutexes
//     held at the moment of the read: a device may read a producer or consumer index between
//     the driver's store and its sync, which is harmless (it sees the old value) as long as
//     the driver syncs before it drops its lock. So the read is a violation when the bytes are
//     still unsynced once every kmutex held at the read has been released (at once if none
//     was held);
//   - bytes changed by both sides between syncs: at FORDEV (the driver would overwrite what the
//     device wrote: it did not sync FORCPU first) and at FORCPU (the CPU's unsynced change is
//     lost) (violation "sync").
// Not detectable: a driver read of device-written bytes without FORCPU - it reads stale data,
// which the test then sees as wrong behaviour.
#include <sys/types.h>
#include <sys/sunddi.h>

#include <algorithm>
#include <cstdio>
#include <list>

#include "fk_internal.h"

namespace fk::impl {
namespace {

std::mutex g_suspect_mu;  // taken before g_dma_mu, never inside it
std::list<Suspect> g_suspects;
std::atomic<bool> g_have_suspects{false};

void report_sync(DmaMem *m, const std::string &text) {
  if (m->sync_reports++ < 16) report_violation("sync", text);
}

// The suspect's memory if its byte is still unsynced (null once synced or freed). g_dma_mu held.
DmaMem *unsynced_locked(const Suspect &s) {
  DeviceAccessScope device;
  size_t off;
  DmaMem *m = mem_of_pa(s.mem_pa, &off);
  if (m == nullptr || m->serial != s.mem_serial) return nullptr;  // freed since
  return m->cpu[s.off] != m->last[s.off] ? m : nullptr;
}

// Reports the suspect if its byte is still unsynced. g_dma_mu held.
void settle_locked(const Suspect &s) {
  if (DmaMem *m = unsynced_locked(s)) report_sync(m, s.text);
}

}  // namespace

// Apply a sync to [off, off+len) of sync-audit memory. Called with g_dma_mu held.
void audit_sync(DmaMem *m, size_t off, size_t len, bool fordev) {
  DeviceAccessScope device;
  size_t both = 0, first_both = 0;
  for (size_t i = off; i < off + len; i++) {
    // Read each device byte once: a device such as QEMU writes the arena from another process
    // at any time, and two reads could see two values (cpu != last afterwards, reported later
    // as a driver write). Regression: tests/suites/driver_on_qemu
    // SyncAuditToleratesConcurrentDeviceWrites.
    uint8_t dev = __atomic_load_n(&m->dev[i], __ATOMIC_RELAXED);
    bool cpu_changed = m->cpu[i] != m->last[i];
    bool dev_changed = dev != m->last[i];
    if (cpu_changed && dev_changed) {
      if (both++ == 0) first_both = i;
    }
    if (fordev && cpu_changed) {
      m->dev[i] = m->cpu[i];
      m->last[i] = m->cpu[i];
    } else if (!fordev && dev_changed) {
      m->cpu[i] = dev;
      m->last[i] = dev;
    }
  }
  if (both != 0) {
    char buf[256];
    snprintf(buf, sizeof buf,
             fordev ? "ddi_dma_sync(FORDEV) over %zu byte(s) the device wrote (first at offset "
                      "%zu of DMA memory pa 0x%llx) that were not synced FORCPU first"
                    : "ddi_dma_sync(FORCPU) discards %zu byte(s) the driver wrote (first at "
                      "offset %zu of DMA memory pa 0x%llx) without ddi_dma_sync(FORDEV)",
             both, first_both, (unsigned long long)m->pa);
    report_sync(m, buf);
  }
}

// Device reads found unsynced bytes: wait for the kmutexes held now, or judge at once.
void defer_suspects(std::vector<Suspect> &found) {
  std::vector<uint64_t> held = held_mutex_serials();
  std::lock_guard<std::mutex> sk(g_suspect_mu);
  for (Suspect &s : found) {
    if (held.empty()) {
      // No lock held: unsynced now means unsynced for good, unless a writer has just entered
      // its lock (then wait for that one).
      {
        std::lock_guard<std::mutex> lk(g_dma_mu);
        if (unsynced_locked(s) == nullptr) continue;
      }
      held = held_mutex_serials();
      if (held.empty()) {
        std::lock_guard<std::mutex> lk(g_dma_mu);
        settle_locked(s);
        continue;
      }
    }
    s.holders = held;
    g_suspects.push_back(std::move(s));
  }
  g_have_suspects = !g_suspects.empty();
}

bool sync_audit_waiting() { return g_have_suspects.load(std::memory_order_acquire); }

void sync_audit_mutex_released(uint64_t serial) {
  if (!g_have_suspects.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> sk(g_suspect_mu);
  for (auto it = g_suspects.begin(); it != g_suspects.end();) {
    auto &h = it->holders;
    h.erase(std::remove(h.begin(), h.end(), serial), h.end());
    if (h.empty()) {
      {
        std::lock_guard<std::mutex> lk(g_dma_mu);
        settle_locked(*it);
      }
      it = g_suspects.erase(it);
    } else {
      ++it;
    }
  }
  g_have_suspects = !g_suspects.empty();
}

void sync_audit_fini() {
  // Verdicts still waiting (a lock never released): judge them now.
  std::lock_guard<std::mutex> sk(g_suspect_mu);
  std::lock_guard<std::mutex> lk(g_dma_mu);
  for (const Suspect &s : g_suspects) settle_locked(s);
  g_suspects.clear();
  g_have_suspects = false;
}

}  // namespace fk::impl
