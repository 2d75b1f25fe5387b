// Driver-only instructions per I/O, counted by callgrind, beside the ring-loop floor.
//
// The parent re-runs this program under `valgrind --tool=callgrind` once per (driver | floor,
// queue depth). The child does its set-up (boot, attach, discovery, warm-up) uncounted, then
// brackets the measured I/Os with CALLGRIND_ZERO_STATS / CALLGRIND_DUMP_STATS_AT("measure")
// (all threads: the interrupt thread's completion work is included). The parent reads that dump
// with callgrind_annotate (self cost per function) and sums the functions of the driver's own
// code: names in namespace pvscsi:: (the driver; the generated accessors are inlined into it),
// without pvscsi::hw::DeviceSkeleton (the mock's generated register decode). Kernel services the
// driver calls (ddi_put32, ddi_dma_sync, mutex_enter, scsi_hba_pkt_comp, ...) are the
// userland kernel's code, not the driver's, and are reported apart. The floor is summed over
// namespace pvbench_floor the same way.
#include <valgrind/callgrind.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

#include <dirent.h>
#include <unistd.h>

#include "bench.h"
#include "floor.h"
#include "mock_device.h"
#include "rig.h"

namespace pvbench {

namespace {

struct CgSum {
  bool ok = false;
  std::string error;
  double total = 0;                                 // all instructions in the measured window
  double counted = 0;                               // the filtered functions
  double kernel = 0;                                // kernel services (fk, scsa): for context
  std::vector<std::pair<double, std::string>> top;  // counted functions, largest first
};

std::string shell_quote(const std::string &s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

bool driver_function(const std::string &fn) {
  return fn.rfind("pvscsi::", 0) == 0 && fn.rfind("pvscsi::hw::DeviceSkeleton", 0) != 0;
}
bool floor_function(const std::string &fn) { return fn.rfind("pvbench_floor::", 0) == 0; }
bool kernel_function(const std::string &fn) {
  return fn.rfind("ddi_", 0) == 0 || fn.rfind("mutex_", 0) == 0 || fn.rfind("scsi_", 0) == 0 ||
         fn.rfind("fk::", 0) == 0 || fn.rfind("gethrtime", 0) == 0 || fn.rfind("bzero", 0) == 0 ||
         fn.rfind("bcopy", 0) == 0 || fn.rfind("__dtrace", 0) == 0;
}

// Self cost per function of a callgrind dump, filtered.
CgSum summarize(const std::string &file, bool floor) {
  CgSum s;
  std::string cmd = "callgrind_annotate --auto=no --inclusive=no --threshold=100 " +
                    shell_quote(file) + " 2>/dev/null";
  FILE *p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    s.error = "cannot run callgrind_annotate";
    return s;
  }
  char line[8192];
  bool body = false;
  while (fgets(line, sizeof(line), p) != nullptr) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    if (l.find("PROGRAM TOTALS") != std::string::npos) {
      std::string digits;
      for (char c : l) {
        if (c >= '0' && c <= '9')
          digits += c;
        else if (c == ',')
          continue;
        else if (!digits.empty())
          break;
      }
      s.total = digits.empty() ? 0 : std::stod(digits);
      continue;
    }
    if (l.find("file:function") != std::string::npos) {
      body = true;
      continue;
    }
    if (!body) continue;
    if (l.find("=>") != std::string::npos) continue;  // call lines of annotated source
    // "   12,345 (12.34%)  /path/file.cc:function(args) [object]"
    size_t i = 0;
    while (i < l.size() && l[i] == ' ') i++;
    std::string digits;
    while (i < l.size() && ((l[i] >= '0' && l[i] <= '9') || l[i] == ',')) {
      if (l[i] != ',') digits += l[i];
      i++;
    }
    if (digits.empty()) continue;
    while (i < l.size() && l[i] == ' ') i++;
    if (i < l.size() && l[i] == '(') {
      size_t close = l.find(')', i);
      if (close == std::string::npos) continue;
      i = close + 1;
    }
    while (i < l.size() && l[i] == ' ') i++;
    std::string rest = l.substr(i);
    size_t colon = rest.find(':');
    if (colon == std::string::npos) continue;
    std::string fn = rest.substr(colon + 1);
    size_t obj = fn.rfind(" [");
    if (obj != std::string::npos) fn = fn.substr(0, obj);
    double v = std::stod(digits);
    if (floor ? floor_function(fn) : driver_function(fn)) {
      s.counted += v;
      s.top.push_back({v, fn});
    } else if (kernel_function(fn)) {
      s.kernel += v;
    }
  }
  int rc = pclose(p);
  // One entry per function (inlined code shows up under the header's file name too).
  std::map<std::string, double> merged;
  for (auto &t : s.top) {
    std::string fn = t.second;
    size_t paren = fn.find('(');
    if (paren != std::string::npos) fn = fn.substr(0, paren);
    merged[fn] += t.first;
  }
  s.top.clear();
  for (auto &m : merged) s.top.push_back({m.second, m.first});
  std::sort(s.top.rbegin(), s.top.rend());
  s.ok = rc == 0 && s.total > 0;
  if (!s.ok && s.error.empty()) s.error = "callgrind_annotate failed on " + file;
  return s;
}

// Runs one child under callgrind; returns the dump of the "measure" window and the I/O count.
CgSum measure(const Options &o, const std::string &what, unsigned qd, uint64_t ios,
              uint64_t *done) {
  CgSum s;
  char tmpl[256];
  snprintf(tmpl, sizeof(tmpl), "%s/pvscsi-bench-cg-XXXXXX", o.tmp_dir.c_str());
  if (mkdtemp(tmpl) == nullptr) {
    s.error = "mkdtemp failed";
    return s;
  }
  std::string dir = tmpl;
  std::string out = dir + "/cg.out";
  std::string log = dir + "/child.log";
  std::string cmd = shell_quote(o.valgrind) +
                    " --tool=callgrind --callgrind-out-file=" + shell_quote(out) + " " +
                    shell_quote(o.self) + " --cg-child " + what + " --qd " + std::to_string(qd) +
                    " --ios " + std::to_string(ios) + " > " + shell_quote(log) + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream lg(log);
  std::string text((std::istreambuf_iterator<char>(lg)), std::istreambuf_iterator<char>());
  *done = 0;
  size_t at = text.find("\nios ");
  if (at == std::string::npos && text.rfind("ios ", 0) == 0)
    at = 0;
  else if (at != std::string::npos)
    at++;
  if (at != std::string::npos) *done = std::strtoull(text.c_str() + at + 4, nullptr, 10);
  // The client-request dump is cg.out.1 (the final dump at exit is cg.out).
  std::string dump;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("cg.out.", 0) == 0) {
        std::ifstream f(dir + "/" + n);
        std::string head;
        for (int k = 0; k < 20 && std::getline(f, head); k++)
          if (head.find("measure") != std::string::npos) dump = dir + "/" + n;
      }
    }
    closedir(d);
  }
  if (rc != 0 || dump.empty() || *done == 0) {
    s.error = "callgrind run failed (" + what + ", qd " + std::to_string(qd) + "): see " + log;
    return s;
  }
  s = summarize(dump, what == "floor");
  if (s.ok) (void)std::system(("rm -rf " + shell_quote(dir)).c_str());
  return s;
}

}  // namespace

int callgrind_child(const std::string &what, unsigned qd, uint64_t ios) {
  if (what == "floor") {
    const uint32_t entries = 256;
    std::vector<uint8_t> rs(4096), req(entries * 128), cmp(entries * 32);
    std::vector<void *> cookies(entries);
    std::vector<uint8_t> data(4096);
    pvbench_floor::Rings r{reinterpret_cast<pvscsi::hw::RingsState *>(rs.data()),
                           reinterpret_cast<pvscsi::hw::RingReqDesc *>(req.data()),
                           reinterpret_cast<pvscsi::hw::RingCmpDesc *>(cmp.data()),
                           entries,
                           0,
                           0,
                           cookies.data()};
    uint32_t req_cons = 0, cmp_prod = 0;
    uint64_t lba = 12345, done = 0;
    void *last = nullptr;
    CALLGRIND_ZERO_STATS;
    while (done < ios) {
      for (unsigned i = 0; i < qd; i++) {
        lba = lba * 6364136223846793005ull + 1442695040888963407ull;
        pvbench_floor::submit(&r, data.data(), (lba >> 20) % (1 << 14) * 8, 0x100000000ull,
                              (lba >> 40) & 1);
      }
      floor_device(&r, &req_cons, &cmp_prod);
      done += pvbench_floor::reap(&r, &last);
    }
    CALLGRIND_DUMP_STATS_AT("measure");
    printf("ios %llu\n", (unsigned long long)done);
    return last != nullptr ? 0 : 1;
  }
  if (what != "driver") return 2;
  pvscsi_mock::MockDevice dev(bench_device(pvscsi_mock::Profile::kVmware, 100'000, 100'000));
  fk::Options ko;
  ko.clock = fk::ClockMode::kVirtual;
  Rig rig(ko, &dev);
  if (!rig.ok()) {
    fprintf(stderr, "%s\n", rig.error().c_str());
    return 1;
  }
  Workload w;
  w.qd = qd;
  w.ios = 200;
  w.write_percent = 50;
  w.io.timeout_s = 0;
  (void)run_workload(rig.luns()[0].sd, w);  // warm-up: packets cached, code paths touched
  w.ios = ios;
  w.seed = 99;
  CALLGRIND_ZERO_STATS;
  WorkloadResult res = run_workload(rig.luns()[0].sd, w);
  CALLGRIND_DUMP_STATS_AT("measure");
  printf("ios %llu\n", (unsigned long long)res.ios);
  return res.errors == 0 ? 0 : 1;
}

void run_instructions(const Options &o, Report *r) {
  if (std::system((shell_quote(o.valgrind) + " --version > /dev/null 2>&1").c_str()) != 0) {
    fprintf(stderr, "instructions: no valgrind (%s); section skipped\n", o.valgrind.c_str());
    r->info["instructions"] = "skipped: valgrind not found";
    return;
  }
  auto &rows = r->sections["instructions"];
  double headline = 0;
  for (unsigned qd : {1u, 32u}) {
    uint64_t ios = o.quick ? 64 : (qd == 1 ? 1000 : 4000);
    uint64_t nd = 0, nf = 0;
    CgSum d = measure(o, "driver", qd, ios, &nd);
    CgSum f = measure(o, "floor", qd, ios, &nf);
    if (!d.ok || !f.ok) {
      fprintf(stderr, "instructions: %s\n", (!d.ok ? d.error : f.error).c_str());
      continue;
    }
    double dpi = d.counted / double(nd), fpi = f.counted / double(nf);
    Row row;
    row.num("qd", qd)
        .num("ios", double(nd))
        .num("driver_instr_per_io", dpi)
        .num("floor_instr_per_io", fpi)
        .num("ratio", fpi > 0 ? dpi / fpi : 0)
        .num("kernel_services_instr_per_io", d.kernel / double(nd))
        .num("whole_process_instr_per_io", d.total / double(nd));
    auto top = [](const CgSum &c, uint64_t n) {
      std::string t;
      for (size_t i = 0; i < c.top.size() && i < 8; i++) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%.0f ", c.top[i].first / double(n));
        t += (t.empty() ? "" : "; ") + std::string(buf) + c.top[i].second;
      }
      return t;
    };
    row.str("driver_per_function", top(d, nd)).str("floor_per_function", top(f, nf));
    rows.push_back(row);
    fprintf(stderr, "  instructions qd %u: driver %.0f, floor %.0f per I/O\n", qd, dpi, fpi);
    if (qd == 32) headline = fpi > 0 ? dpi / fpi : 0;
  }
  if (headline > 0)
    r->targets.push_back({"driver/floor instructions per I/O, qd 32", headline, "<= 2.0",
                          headline <= 2.0,
                          "see driver_per_function: descriptor build, completion mapping, "
                          "context table, threshold check, request validation"});
}

}  // namespace pvbench
