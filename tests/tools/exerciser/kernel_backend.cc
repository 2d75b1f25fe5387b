#include "kernel_backend.h"

#include <sys/types.h>
#include <sys/sunddi.h>
#include <sys/scsi/scsi.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "client.h"
#include "fk.h"
#include "mock_device.h"
#include "scsa.h"
#ifdef PVSCSI_EXERCISER_QEMU
#include "qemu_device.h"
#endif

namespace exerciser {

namespace {

using Clock = std::chrono::steady_clock;

const char *reason_name(uchar_t r) {
  switch (r) {
    case CMD_INCOMPLETE:
      return "CMD_INCOMPLETE";
    case CMD_DMA_DERR:
      return "CMD_DMA_DERR";
    case CMD_TRAN_ERR:
      return "CMD_TRAN_ERR";
    case CMD_RESET:
      return "CMD_RESET";
    case CMD_ABORTED:
      return "CMD_ABORTED";
    case CMD_TIMEOUT:
      return "CMD_TIMEOUT";
    case CMD_DATA_OVR:
      return "CMD_DATA_OVR";
    case CMD_DEV_GONE:
      return "CMD_DEV_GONE";
    default:
      return nullptr;
  }
}

// Classifies a client result into one of error_kinds().
IoResult classify(const fk::client::Result &r, size_t expected_len) {
  IoResult out;
  if (r.ok() && r.resid == 0) {
    out.ok = true;
    return out;
  }
  const char *reason = r.transported ? reason_name(r.reason) : nullptr;
  out.detail = (reason != nullptr ? std::string(reason) + ": " : std::string()) + r.describe();
  if (!r.transported) {
    out.kind = r.lun_gone ? "incomplete" : "transport";
    return out;
  }
  if (r.lun_gone && r.reason != CMD_CMPLT) {
    out.kind = "incomplete";
    return out;
  }
  switch (r.reason) {
    case CMD_CMPLT:
      break;
    case CMD_TIMEOUT:
      out.kind = "timeout";
      return out;
    case CMD_RESET:
      out.kind = "reset";
      return out;
    case CMD_ABORTED:
      out.kind = "aborted";
      return out;
    case CMD_INCOMPLETE:
    case CMD_DEV_GONE:
      out.kind = "incomplete";
      return out;
    default:
      out.kind = "tran_err";
      return out;
  }
  if (r.status == STATUS_CHECK) {
    out.kind = "check_condition";
    return out;
  }
  if (r.status != STATUS_GOOD) {
    out.kind = "scsi_status";
    return out;
  }
  out.kind = "short_transfer";
  out.detail = "resid " + std::to_string(r.resid) + " of " + std::to_string(expected_len);
  return out;
}

// Error texts from QEMU can span lines (its stderr); the exerciser's errors are one line.
std::string one_line(const std::string &text) {
  std::string out;
  bool gap = false;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      gap = true;
      continue;
    }
    if (gap && !out.empty()) out += " | ";
    gap = false;
    out += c;
  }
  return out;
}

uint32_t parse_target_address(const std::string &addr) {
  // pvscsi reports targets to the target map by their id in hex ("%x").
  return uint32_t(std::strtoul(addr.c_str(), nullptr, 16));
}

}  // namespace

struct KernelBackend::Impl {
  std::unique_ptr<pvscsi_mock::MockDevice> mock;
#ifdef PVSCSI_EXERCISER_QEMU
  std::unique_ptr<pvscsi_qemu::QemuDevice> qemu;
#endif
  fk::DeviceBackend *device = nullptr;
  dev_info_t *dip = nullptr;
  int instance = 0;
  bool booted = false, loaded = false, attached = false, iports = false;
  std::vector<fk::client::LunRef> refs;  // per workload LUN (sd null while offline)
  std::vector<std::unique_ptr<fk::client::Queue>> queues;   // per workload LUN
  std::vector<std::unique_ptr<fk::client::Queue>> retired;  // queues of removed LUNs
  std::vector<bool> online;
  fk::client::IoOptions io = [] {
    fk::client::IoOptions o;
    o.retry_count = 0;  // the driver's outcome (faults it explains), not sd's recovery
    o.reset_on_error = false;
    return o;
  }();

  // Completion wake-ups: the driver's pvscsi__complete probe fires just before the packet
  // completes, so pump() need not poll blindly.
  std::mutex wake_mu;
  fk::impl::HostCv wake_cv;
  std::atomic<uint64_t> completions{0};

  bool retries_waiting() {
    for (auto &q : queues)
      if (q && q->waiting_retry() > 0) return true;
    for (auto &q : retired)
      if (q->waiting_retry() > 0) return true;
    return false;
  }

  size_t poll_all() {
    size_t n = 0;
    for (auto &q : queues)
      if (q) n += q->poll();
    for (auto &q : retired) n += q->poll();
    retired.erase(std::remove_if(retired.begin(), retired.end(),
                                 [](const std::unique_ptr<fk::client::Queue> &q) {
                                   return q->outstanding() == 0;
                                 }),
                  retired.end());
    return n;
  }
};

KernelBackend::KernelBackend(const Options &opts) : impl_(new Impl), opts_(opts) {}

KernelBackend::~KernelBackend() {
  if (impl_ && impl_->booted) {
    Report ignored;
    finish(&ignored);
  }
}

bool KernelBackend::initially_zero() const {
  if (opts_.device != "qemu") return true;
  // A user's image may hold anything; temporary images start as zeros.
  for (const auto &d : opts_.qemu_disks)
    if (!d.file.empty()) return false;
  return true;
}

bool KernelBackend::readded_disks_blank() const { return opts_.device != "qemu"; }

std::string KernelBackend::start() {
  Impl &im = *impl_;
  fk::Options ko;
  ko.clock = fk::ClockMode::kReal;
  if (opts_.device == "mock" && opts_.sched != "real") {
    ko.clock = fk::ClockMode::kVirtual;
    ko.deterministic = true;
    ko.sched.seed = opts_.sched_seed_given ? opts_.sched_seed : opts_.seed;
    (void)fk::sched::parse_policy(opts_.sched, &ko.sched.policy);
  }
  ko.echo_console = opts_.console;
  ko.verbose_boot = opts_.console;
  ko.fill_pattern = true;

  const std::vector<PlannedLun> planned = planned_luns(opts_);
  if (opts_.device == "qemu") {
#ifdef PVSCSI_EXERCISER_QEMU
    pvscsi_qemu::QemuOptions qo;
    qo.binary = opts_.qemu_binary;
    qo.extra_args = opts_.qemu_args;
    qo.ram_below_4g = 256ull << 20;
    qo.offer_msi = opts_.intr != "fixed";  // auto and msi: FIXED and MSI (QEMU has no MSI-X)
    for (const auto &d : opts_.qemu_disks) {
      pvscsi_qemu::DiskSpec ds;
      ds.target = d.target;
      ds.size_bytes = d.size;
      ds.block_size = d.block;
      ds.image_path = d.file;
      qo.disks.push_back(ds);
    }
    try {
      im.qemu.reset(new pvscsi_qemu::QemuDevice(qo));
    } catch (const std::exception &e) {
      return one_line(std::string("QEMU did not start: ") + e.what());
    }
    for (const auto &r : im.qemu->arena_ranges()) {
      fk::ArenaSegment seg;
      seg.fd = im.qemu->shm_fd();
      seg.file_offset = r.file_offset;
      seg.paddr = r.paddr;
      seg.size = r.size;
      ko.segments.push_back(seg);
    }
    im.device = im.qemu.get();
#else
    return "this pvscsi-exercise was built without the QEMU backend (tests/devices/qemu)";
#endif
  } else {
    pvscsi_mock::Config cfg;
    if (!pvscsi_mock::Config::from_name(opts_.profile, &cfg))
      return "--profile: unknown profile " + opts_.profile;
    cfg.targets.clear();
    uint32_t max_id = 0;
    for (uint32_t t : opts_.targets) {
      pvscsi_mock::TargetSpec ts;
      ts.id = t;
      ts.luns.clear();
      for (uint32_t l = 0; l < opts_.luns; l++) {
        pvscsi_mock::LunSpec ls;
        ls.lun = uint16_t(l);
        ls.blocks = opts_.capacity / opts_.block_size;
        ls.block_size = opts_.block_size;
        ts.luns.push_back(ls);
      }
      cfg.targets.push_back(ts);
      max_id = std::max(max_id, t);
    }
    cfg.max_targets = std::max<uint32_t>(cfg.max_targets, max_id + 1);
    cfg.latency_ns = int64_t(opts_.latency_us) * 1000;
    cfg.seed = opts_.seed;
    if (opts_.intr == "fixed") cfg.intr_types = fk::kIntrFixed;
    if (opts_.intr == "msi") cfg.intr_types = fk::kIntrMsi;
    if (opts_.intr == "msix") cfg.intr_types = fk::kIntrMsix;
    im.mock.reset(new pvscsi_mock::MockDevice(cfg));
    im.device = im.mock.get();
    // The mock reaches memory only through the kernel: audit the driver's ddi_dma_sync()s.
    ko.sync_audit = true;
  }

  fk::boot(ko);
  im.booted = true;
  // The virtual clock with host threads (FK_DETERMINISTIC=0, as under ThreadSanitizer): time
  // moves by itself whenever events are pending.
  if (ko.clock == fk::ClockMode::kVirtual && !fk::deterministic()) fk::set_auto_advance(true);
  // Deterministic mode: a run is hung when the virtual clock moves the hang budget past the
  // latest completion (a livelock, recovery that never ends): fatal, with every thread's story.
  const int64_t budget_ns = (4 * int64_t(opts_.io_timeout_s) + 30) * 1'000'000'000;
  const int64_t fixed_ns = int64_t(opts_.time_limit_s) * 1'000'000'000;
  fk::set_time_limit_ns(!fk::deterministic() ? 0
                        : fixed_ns > 0       ? fixed_ns
                                             : fk::now_ns() + budget_ns);
  fk::set_sdt_hook([&im, budget_ns, fixed_ns](const char *probe, int, const uintptr_t *) {
    if (std::strcmp(probe, "pvscsi__complete") != 0) return;
    if (fk::deterministic() && fixed_ns == 0) fk::set_time_limit_ns(fk::now_ns() + budget_ns);
    im.completions.fetch_add(1);
    std::lock_guard<std::mutex> l(im.wake_mu);
    im.wake_cv.notify_all();
  });
  std::string conf = opts_.driver_conf;
#ifdef PVSCSI_EXERCISER_CONF
  if (conf.empty() && access(PVSCSI_EXERCISER_CONF, R_OK) == 0) conf = PVSCSI_EXERCISER_CONF;
#endif
  if (!conf.empty()) {
    std::string err = fk::load_driver_conf_file(conf);
    if (!err.empty()) return "driver configuration " + conf + ": " + err;
  }
  if (fk::load_driver("pvscsi") != 0) return "the driver's _init failed";
  im.loaded = true;
  im.dip = fk::add_pci_node(im.device);
  if (im.dip == nullptr) return "could not create the PCI node";
  im.instance = ddi_get_instance(im.dip);
  if (fk::attach(im.dip) != DDI_SUCCESS) return "pvscsi attach failed (see --console)";
  im.attached = true;

  // Discovery: iports, target map settle, REPORT LUNS, INQUIRY.
  std::vector<fk::client::LunRef> found = fk::client::discover(im.dip);
  im.iports = true;
  std::map<std::pair<uint32_t, uint64_t>, fk::client::LunRef> by_addr;
  im.io.timeout_s = int(opts_.io_timeout_s);
  im.io.drive_clock = false;
  for (const auto &ref : found) {
    DiscoveredLun d;
    d.target = parse_target_address(ref.target);
    d.lun = ref.lun;
    fk::client::Inquiry inq;
    if (fk::client::inquiry(ref.sd, &inq, im.io).ok()) {
      d.vendor = inq.vendor;
      d.product = inq.product;
    }
    uint64_t blocks = 0;
    uint32_t bs = 0;
    fk::client::Result rc = fk::client::read_capacity(ref.sd, &blocks, &bs, im.io);
    if (rc.ok()) {
      d.blocks = blocks;
      d.block_size = bs;
    }
    discovered_.push_back(d);
    by_addr[{d.target, d.lun}] = ref;
  }

  // The driver's configuration: interrupts from the kernel, the rest from the driver's kstats
  // (what attach negotiated), as an administrator would read them with kstat(8).
  fk::IntrInfo ii = fk::intr_info(im.dip);
  driver_.interrupt_type = ii.type == DDI_INTR_TYPE_MSIX    ? "MSI-X"
                           : ii.type == DDI_INTR_TYPE_MSI   ? "MSI"
                           : ii.type == DDI_INTR_TYPE_FIXED ? "FIXED"
                                                            : "none";
  driver_.interrupt_vectors = uint32_t(ii.allocated);
  auto stat = [&](const char *name) {
    return fk::kstat_value("pvscsi", ddi_get_instance(im.dip), "stats", name).value_or(0);
  };
  driver_.req_ring_entries = uint32_t(stat("req_ring_entries"));
  driver_.cmp_ring_entries = uint32_t(stat("cmp_ring_entries"));
  driver_.msg_ring_entries = uint32_t(stat("msg_ring_entries"));
  driver_.msg_ring = driver_.msg_ring_entries != 0;
  driver_.req_call_threshold = stat("req_call_threshold") >= 1;
  driver_.use_req_call_threshold = stat("req_call_threshold") == 2;
  driver_.max_targets = uint32_t(stat("max_targets"));

  // The workload's LUNs, in planned order, with the geometry the driver reported.
  for (const PlannedLun &p : planned) {
    auto it = by_addr.find({p.target, p.lun});
    if (it == by_addr.end())
      return "discovery did not find target " + std::to_string(p.target) + " lun " +
             std::to_string(p.lun) + " (" + std::to_string(found.size()) + " LUNs found)";
    const DiscoveredLun *d = nullptr;
    for (const auto &x : discovered_)
      if (x.target == p.target && x.lun == p.lun) d = &x;
    if (d->blocks == 0)
      return "READ CAPACITY failed on target " + std::to_string(p.target) + " lun " +
             std::to_string(p.lun);
    const std::string bad = opts_.bs.check_for(d->block_size, d->blocks * d->block_size);
    if (!bad.empty())
      return "--bs: " + bad + " (target " + std::to_string(p.target) + " lun " +
             std::to_string(p.lun) + " as discovered)";
    LunGeometry g;
    g.target = p.target;
    g.lun = p.lun;
    g.blocks = d->blocks;
    g.block_size = d->block_size;
    luns_.push_back(g);
    im.refs.push_back(it->second);
    im.queues.emplace_back(new fk::client::Queue(it->second.sd, opts_.qd, im.io));
    im.online.push_back(true);
  }
  return "";
}

KernelBackend::Snapshot KernelBackend::snapshot() {
  Snapshot s;
  auto v = [&](const char *name) -> uint64_t {
    return fk::kstat_value("pvscsi", impl_->instance, "stats", name).value_or(0);
  };
  s.doorbells = v("kicks_rw") + v("kicks_non_rw");
  s.interrupts = v("interrupts");
  s.hotplug_events = v("hotplug_events");
  s.resets = v("device_resets") + v("bus_resets") + v("adapter_resets");
  s.device_values_rejected = v("bogus_values");
  // Register accesses (ddi_get/ddi_put on a register or config handle; each one a VM exit on a
  // hypervisor), counted by the kernel for all devices; the exerciser runs one.
  fk::Counters c = fk::counters();
  s.register_reads = c.reg_reads;
  s.register_writes = c.reg_writes;
  return s;
}

bool KernelBackend::lun_online(size_t i) {
  Impl &im = *impl_;
  return im.online[i] && im.queues[i] && fk::client::online(im.refs[i].sd);
}

void KernelBackend::submit(size_t i, bool write, uint64_t lba, uint32_t blocks, uint8_t *data,
                           std::function<void(const IoResult &)> done) {
  Impl &im = *impl_;
  const uint32_t bs = luns_[i].block_size;
  const size_t len = size_t(blocks) * bs;
  auto *kb = new fk::client::KBuf(len);
  if (write) std::memcpy(kb->data(), data, len);
  auto cb = [kb, data, len, write, done](const fk::client::Result &r) {
    IoResult res = classify(r, len);
    if (!write && res.ok) std::memcpy(data, kb->data(), len);
    delete kb;
    done(res);
  };
  if (write)
    im.queues[i]->write(lba, blocks, bs, kb->data(), cb);
  else
    im.queues[i]->read(lba, blocks, bs, kb->data(), cb);
}

// Deterministic mode: no real-time wait. The rest of the system runs until nobody can; a
// completion ends the pump; commands turned away are retried after time moved; otherwise this
// thread blocks until a completion (time moves while nobody can run, and a run where nothing
// can ever happen is reported as stuck, with every thread's story).
void KernelBackend::pump_deterministic() {
  Impl &im = *impl_;
  for (;;) {
    const uint64_t seen = im.completions.load();
    if (im.poll_all() > 0) return;
    (void)fk::wait_quiet("completions");
    if (im.completions.load() != seen) continue;
    if (im.retries_waiting()) {
      if (fk::run_next_event()) continue;
    }
    // Wait for a completion, or for 100 ms of virtual time (the caller may wait for something
    // else: an adapter restart, a LUN coming back).
    auto timed_out = std::make_shared<bool>(false);
    Impl *imp = &im;
    const uint64_t ev = fk::impl::clock_add(
        fk::now_ns() + 100'000'000,
        [imp, timed_out] {
          std::lock_guard<std::mutex> g(imp->wake_mu);
          *timed_out = true;
          imp->wake_cv.notify_all();
        },
        false);
    std::unique_lock<std::mutex> l(im.wake_mu);
    im.wake_cv.wait(
        l, [&] { return im.completions.load() != seen || *timed_out; }, "a completion");
    const bool expired = *timed_out;
    l.unlock();
    (void)fk::impl::clock_cancel(ev, false);
    if (expired) return;
  }
}

void KernelBackend::pump(std::chrono::milliseconds max_wait) {
  Impl &im = *impl_;
  if (fk::deterministic()) {
    pump_deterministic();
    return;
  }
  const auto deadline = Clock::now() + max_wait;
  int spins = 0;
  while (true) {
    const uint64_t seen = im.completions.load();
    if (im.poll_all() > 0) return;
    if (Clock::now() >= deadline) return;
    if (spins > 0) {
      // A completion was announced: its pkt_comp follows within microseconds.
      spins--;
      std::this_thread::yield();
      continue;
    }
    std::unique_lock<std::mutex> l(im.wake_mu);
    if (im.wake_cv.wait_for_us(l, 500, "a completion") && im.completions.load() != seen)
      spins = 200;
  }
}

std::string KernelBackend::run_event(const Event &ev) {
  Impl &im = *impl_;
  auto luns_of = [&](int64_t t) {
    std::vector<size_t> out;
    for (size_t i = 0; i < luns_.size(); i++)
      if (int64_t(luns_[i].target) == t) out.push_back(i);
    return out;
  };
  auto any_online_sd = [&](int64_t t) -> scsi_device * {
    for (size_t i = 0; i < luns_.size(); i++)
      if ((t < 0 || int64_t(luns_[i].target) == t) && lun_online(i)) return im.refs[i].sd;
    return nullptr;
  };
  const auto bound = std::chrono::seconds(30);

  switch (ev.kind) {
    case Event::Kind::kRemoveTarget: {
      // Stop new I/O to the target first; what is in flight completes with errors.
      for (size_t i : luns_of(ev.target)) {
        im.online[i] = false;
        if (im.queues[i]) im.retired.push_back(std::move(im.queues[i]));
      }
      try {
        if (im.mock) {
          if (!im.mock->remove_target(uint32_t(ev.target))) return "the mock has no such target";
        }
#ifdef PVSCSI_EXERCISER_QEMU
        if (im.qemu) im.qemu->remove_disk(uint32_t(ev.target));
#endif
      } catch (const std::exception &e) {
        return one_line(e.what());
      }
      return "";
    }
    case Event::Kind::kAddTarget: {
      try {
        if (im.mock) {
          pvscsi_mock::TargetSpec ts;
          ts.id = uint32_t(ev.target);
          ts.luns.clear();
          for (size_t i : luns_of(ev.target)) {
            pvscsi_mock::LunSpec ls;
            ls.lun = uint16_t(luns_[i].lun);
            ls.blocks = luns_[i].blocks;
            ls.block_size = luns_[i].block_size;
            ts.luns.push_back(ls);
          }
          if (!im.mock->add_target(ts)) return "the target is present already";
        }
#ifdef PVSCSI_EXERCISER_QEMU
        if (im.qemu) {
          pvscsi_qemu::DiskSpec ds;
          ds.target = uint32_t(ev.target);
          for (const auto &d : opts_.qemu_disks) {
            if (d.target == uint32_t(ev.target)) {
              ds.size_bytes = d.size;
              ds.block_size = d.block;
            }
          }
          ds.image_path = im.qemu->image_path(uint32_t(ev.target));  // the same data again
          im.qemu->add_disk(ds);
        }
#endif
      } catch (const std::exception &e) {
        return one_line(e.what());
      }
      // Wait (bounded) until every LUN of the target is online again, then open new queues.
      const auto deadline = Clock::now() + bound;
      for (size_t i : luns_of(ev.target)) {
        while (true) {
          (void)fk::client::settle(1000);
          bool found = false;
          for (const auto &ref : fk::client::online_luns()) {
            if (parse_target_address(ref.target) == luns_[i].target && ref.lun == luns_[i].lun) {
              im.refs[i] = ref;
              found = true;
            }
          }
          if (found) break;
          if (Clock::now() >= deadline)
            return "target " + std::to_string(ev.target) + " lun " + std::to_string(luns_[i].lun) +
                   " did not come back online";
          pump(std::chrono::milliseconds(10));
        }
        im.queues[i].reset(new fk::client::Queue(im.refs[i].sd, opts_.qd, im.io));
        im.online[i] = true;
      }
      return "";
    }
    case Event::Kind::kResetDevice:
    case Event::Kind::kResetBus: {
      const bool bus = ev.kind == Event::Kind::kResetBus;
      scsi_device *sd = any_online_sd(bus ? -1 : ev.target);
      if (sd == nullptr) return "no online LUN to address the reset to";
      if (scsi_reset(&sd->sd_address, bus ? RESET_ALL : RESET_TARGET) != 1)
        return "scsi_reset failed";
      return "";
    }
    case Event::Kind::kResetAdapter:
    case Event::Kind::kFaultBadCmpIndex: {
      if (!im.mock) return "needs the mock";
      const uint64_t before =
          fk::kstat_value("pvscsi", im.instance, "stats", "adapter_resets").value_or(0);
      if (ev.kind == Event::Kind::kResetAdapter)
        im.mock->spontaneous_reset();
      else
        im.mock->corrupt_cmp_prod_index();
      // The driver notices (interrupt, watchdog or an overdue command) and restarts the
      // adapter; wait for it, a command timeout and a little more at most.
      const auto deadline = Clock::now() + std::chrono::seconds(opts_.io_timeout_s + 10);
      while (fk::kstat_value("pvscsi", im.instance, "stats", "adapter_resets").value_or(0) ==
             before) {
        if (Clock::now() >= deadline) return "the driver did not restart the adapter";
        pump(std::chrono::milliseconds(10));
      }
      return "";
    }
    case Event::Kind::kFaultError:
    case Event::Kind::kFaultCheckCondition: {
      if (!im.mock) return "needs the mock";
      if (ev.kind == Event::Kind::kFaultError)
        im.mock->fail_next_requests(ev.count, uint16_t(pvscsi::hw::HostStatus::kHahardware), 0,
                                    ev.target);
      else
        im.mock->fail_next_requests(ev.count, uint16_t(pvscsi::hw::HostStatus::kSuccess),
                                    STATUS_CHECK, ev.target);
      return "";
    }
    case Event::Kind::kFaultDropIrq:
      if (!im.mock) return "needs the mock";
      im.mock->drop_next_interrupts(ev.count);
      return "";
    case Event::Kind::kFaultDupIrq:
      if (!im.mock) return "needs the mock";
      im.mock->duplicate_next_interrupts(ev.count);
      return "";
    case Event::Kind::kFaultSpuriousIrq:
      if (!im.mock) return "needs the mock";
      for (uint32_t k = 0; k < ev.count; k++) im.mock->raise_spurious_interrupt();
      return "";
  }
  return "unknown event";
}

void KernelBackend::record_sched(Report *report) const {
  const fk::SchedTrace t = fk::sched_trace();
  const bool det = opts_.device == "mock" && opts_.sched != "real" && t.steps != 0;
  report->sched = det ? opts_.sched : "real";
  report->sched_seed = det ? (opts_.sched_seed_given ? opts_.sched_seed : opts_.seed) : 0;
  report->trace_digest = det ? t.digest : 0;
  report->sched_steps = det ? t.steps : 0;
  report->sched_switches = det ? t.switches : 0;
}

void KernelBackend::on_fatal(std::function<void(const std::string &)> fn) {
  fk::set_fatal_hook(std::move(fn));
}

void KernelBackend::abandon() {
#ifdef PVSCSI_EXERCISER_QEMU
  if (impl_->qemu) impl_->qemu->stop();
#endif
  impl_->booted = false;  // never torn down: I/O is stuck in it
  (void)impl_.release();  // deliberately leaked: threads may still reference it
}

void KernelBackend::finish(Report *report) {
  Impl &im = *impl_;
  if (!im.booted) return;
  // Close the queues (each waits for its outstanding commands).
  for (auto &q : im.queues) q.reset();
  im.retired.clear();
  if (im.iports && fk::scsa::unconfig_iports(im.dip) != DDI_SUCCESS)
    report->failures.push_back("the iport refused to detach");
  if (im.attached && fk::detach(im.dip) != DDI_SUCCESS) {
    report->violation_samples.push_back("pvscsi detach failed");
    report->other_violations++;
  } else if (im.dip != nullptr) {
    fk::remove_node(im.dip);
  }
  if (im.loaded) (void)fk::unload_driver();
  fk::set_sdt_hook(nullptr);
  report->virtual_s = fk::deterministic() ? double(fk::now_ns()) / 1e9 : 0;
  fk::shutdown();
  im.booted = false;
  record_sched(report);

  report->leaked_bytes = fk::leaked_bytes();
  for (const fk::Leak &l : fk::leaks()) {
    if (report->leaks.size() < 8)
      report->leaks.push_back(l.kind + " " + std::to_string(l.size) + " bytes from " + l.site);
  }
  for (const fk::Violation &v : fk::violations()) {
    if (v.kind == "lock")
      report->lock_violations++;
    else if (v.kind == "sync")
      report->sync_violations++;
    else
      report->other_violations++;
    if (report->violation_samples.size() < 8)
      report->violation_samples.push_back(v.kind + ": " + v.text);
  }
#ifdef PVSCSI_EXERCISER_QEMU
  if (im.qemu) im.qemu->stop();
#endif
  im.mock.reset();
}

}  // namespace exerciser
