#include "rig.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "scsa.h"

// The driver's _init, renamed in the host build; referencing it keeps the driver linked in.
extern "C" int fk_module_init(void);
int (*pvbench_driver_entry)(void) __attribute__((used)) = fk_module_init;

namespace pvbench {

namespace {
std::atomic<long> g_completion_tid{0};
}

long last_completion_tid() { return g_completion_tid.load(); }

char thread_state(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t p = line.rfind(')');
  return p != std::string::npos && p + 2 < line.size() ? line[p + 2] : '?';
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Rig::Rig(const fk::Options &ko, fk::DeviceBackend *dev, const std::map<std::string, int> &props) {
  fk::boot(ko);
  std::ifstream in(PVSCSI_CONF_PATH);
  std::stringstream conf;
  conf << in.rdbuf();
  std::string err = fk::load_driver_conf(conf.str());
  if (!err.empty()) {
    error_ = "pvscsi.conf: " + err;
    return;
  }
  if (fk::load_driver("pvscsi") != 0) {
    error_ = "_init failed";
    return;
  }
  dip_ = fk::add_pci_node(dev);
  if (dip_ == nullptr) {
    error_ = "no PCI node";
    return;
  }
  for (const auto &p : props) fk::set_prop_int(dip_, p.first, p.second);
  if (fk::attach(dip_) != DDI_SUCCESS) {
    error_ = "attach failed";
    for (const auto &m : fk::console()) error_ += "; " + m.text;
    return;
  }
  attached_ = true;
  (void)fk::client::discover(dip_);
  // Let discovery play out (the driver's task, target map settle, LUN scans), as the driver
  // tests do; slow hosts (valgrind) may need more rounds.
  for (int i = 0; i < 100 && luns_.empty(); i++) {
    if (ko.clock == fk::ClockMode::kVirtual) fk::advance(i < 3 ? 1000000 : 100000000);
    fk::drain();
    fk::client::settle();
    if (i >= 2) luns_ = fk::client::discover(dip_);
  }
  if (luns_.empty()) {
    error_ = "no LUNs found";
    return;
  }
  ok_ = true;
}

Rig::~Rig() {
  if (attached_) {
    fk::client::settle();
    (void)fk::scsa::unconfig_iports(dip_);
    (void)fk::detach(dip_);
  }
  if (dip_ != nullptr) fk::remove_node(dip_);
  (void)fk::unload_driver();
  fk::shutdown();
}

uint64_t Rig::stat(const std::string &name) const {
  return fk::kstat_value("pvscsi", ddi_get_instance(dip_), "stats", name).value_or(0);
}

WorkloadResult run_workload(scsi_device *sd, const Workload &w) {
  WorkloadResult res;
  const uint32_t nblocks = w.io_bytes / w.block_size;
  const uint64_t slots = w.disk_blocks / nblocks;
  std::mt19937_64 rng(w.seed);
  // qd + 1 buffers: when submit() is called at most qd commands hold one.
  std::vector<std::unique_ptr<fk::client::KBuf>> bufs;
  std::vector<unsigned> free_bufs;
  std::vector<uint8_t *> data;
  for (unsigned i = 0; i <= w.qd; i++) {
    bufs.emplace_back(new fk::client::KBuf(w.io_bytes + w.buf_align));
    uint8_t *p = bufs.back()->data();
    if (w.buf_align > 1) p += (w.buf_align - uintptr_t(p) % w.buf_align) % w.buf_align;
    memset(p, int(i), w.io_bytes);
    data.push_back(p);
    free_bufs.push_back(i);
  }
  std::vector<int64_t> lat;
  lat.reserve(w.ios);
  // PVBENCH_TRACE_SLOW_NS=N: report every I/O slower than N ns (kernel clock).
  const char *ts = getenv("PVBENCH_TRACE_SLOW_NS");
  const int64_t trace_slow = ts != nullptr ? std::strtoll(ts, nullptr, 10) : 0;
  // Driver-side latency: pvscsi__submit(sc, pkt) to pvscsi__complete(sc, pkt).
  std::mutex probe_mu;
  std::unordered_map<uintptr_t, int64_t> in_flight;
  std::vector<int64_t> driver_lat;
  if (w.driver_latency) {
    driver_lat.reserve(w.ios + 64);
    fk::set_sdt_hook([&](const char *probe, int nargs, const uintptr_t *args) {
      if (nargs < 2) return;
      bool submit = strcmp(probe, "pvscsi__submit") == 0;
      if (!submit && strcmp(probe, "pvscsi__complete") != 0) return;
      if (!submit && trace_slow > 0) g_completion_tid = long(syscall(SYS_gettid));
      if (!submit) {
        // Name the thread that completes packets (the interrupt thread) for CPU accounting.
        static thread_local bool named = false;
        if (!named) {
          pthread_setname_np(pthread_self(), "completing");
          named = true;
        }
      }
      int64_t t = fk::now_ns();
      std::lock_guard<std::mutex> g(probe_mu);
      if (submit) {
        in_flight[args[1]] = t;
      } else {
        auto it = in_flight.find(args[1]);
        if (it == in_flight.end()) return;
        driver_lat.push_back(t - it->second);
        if (trace_slow > 0 && driver_lat.back() > trace_slow)
          fprintf(stderr,
                  "slow command at qd %u: %lld ns in the driver (submitted at %lld), "
                  "completed at host time %.3f s\n",
                  w.qd, (long long)driver_lat.back(), (long long)it->second, wall_seconds());
        in_flight.erase(it);
      }
    });
  }
  // With tracing on, a canary thread reports when the host does not run it for over 10 ms
  // (a loaded host delays the interrupt thread the same way).
  std::atomic<bool> canary_stop{false};
  std::thread canary;
  if (trace_slow > 0) {
    canary = std::thread([&] {
      while (!canary_stop.load()) {
        if (w.monitor) w.monitor();
        double a = wall_seconds();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        double late = wall_seconds() - a - 0.002;
        if (late > 0.010)
          fprintf(stderr, "host did not run the canary for %.1f ms (until %.3f s)\n", late * 1000,
                  wall_seconds());
      }
    });
  }
  double t0 = wall_seconds();
  {
    fk::client::Queue q(sd, w.qd, w.io);
    for (uint64_t n = 0; n < w.ios; n++) {
      // Pick a free buffer; submit() below may run callbacks, so take it first.
      while (free_bufs.empty()) q.poll();
      unsigned b = free_bufs.back();
      free_bufs.pop_back();
      uint64_t lba = (rng() % slots) * nblocks;
      bool write = (rng() % 100) < w.write_percent;
      int64_t start = fk::now_ns();
      auto cb = [&, b, start, n](const fk::client::Result &r) {
        lat.push_back(fk::now_ns() - start);
        if (trace_slow > 0 && lat.back() > trace_slow)
          fprintf(stderr, "slow I/O #%llu of %llu at qd %u: %lld ns to its callback\n",
                  (unsigned long long)n, (unsigned long long)w.ios, w.qd, (long long)lat.back());
        res.ios++;
        if (!r.ok()) res.errors++;
        res.busy_retries += r.busy_retries;
        free_bufs.push_back(b);
      };
      if (write)
        q.write(lba, nblocks, w.block_size, data[b], cb);
      else
        q.read(lba, nblocks, w.block_size, data[b], cb);
    }
    q.wait();
  }
  res.seconds = wall_seconds() - t0;
  if (canary.joinable()) {
    canary_stop = true;
    canary.join();
  }
  if (w.driver_latency) {
    fk::set_sdt_hook({});
    std::lock_guard<std::mutex> g(probe_mu);
    lat = driver_lat;
  }
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    double sum = 0;
    for (int64_t l : lat) sum += double(l);
    res.mean_lat_ns = sum / double(lat.size());
    res.p50_lat_ns = double(lat[lat.size() / 2]);
    res.p99_lat_ns = double(lat[std::min(lat.size() - 1, lat.size() * 99 / 100)]);
    res.max_lat_ns = double(lat.back());
    for (int64_t l : lat) res.stalls_10ms += l > 10'000'000;
  }
  return res;
}

}  // namespace pvbench
