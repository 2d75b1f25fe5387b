// pvscsi_bench: the benchmark program. See BENCHMARKS.md for what each figure
// means and scripts/bench.sh for the documented command.
//
//   pvscsi_bench [--quick] [--sections a,b,...] [--json FILE] [--ios N] [--valgrind PATH]
//   sections: doorbells instructions iops memory bounce qemu (default: all)
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "bench.h"
#include "rig.h"

namespace pvbench {

namespace {

// A figure: whole values as integers (counts stay integers for readers), others as doubles
// (NaN and infinities are written as null).
Json json_number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return Json(static_cast<int64_t>(v));
  return Json(v);
}

std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::string machine() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  struct utsname u;
  uname(&u);
  return cpu + ", " + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " CPUs, " + u.sysname + " " +
         u.release + " " + u.machine;
}

}  // namespace

std::string fmt(double v) {
  char b[64];
  if (v == std::floor(v) && std::fabs(v) < 1e12)
    snprintf(b, sizeof(b), "%.0f", v);
  else if (std::fabs(v) >= 100)
    snprintf(b, sizeof(b), "%.0f", v);
  else if (std::fabs(v) >= 1)
    snprintf(b, sizeof(b), "%.2f", v);
  else
    snprintf(b, sizeof(b), "%.3f", v);
  return b;
}

Row &Row::num(const std::string &key, double v) {
  fields_.push_back({key, Field::kNum, v, ""});
  return *this;
}
Row &Row::str(const std::string &key, const std::string &v) {
  fields_.push_back({key, Field::kStr, 0, v});
  return *this;
}
Row &Row::flag(const std::string &key, bool v) {
  fields_.push_back({key, Field::kBool, v ? 1.0 : 0.0, ""});
  return *this;
}
double Row::get(const std::string &key) const {
  for (const auto &f : fields_)
    if (f.key == key && f.kind != Field::kStr) return f.n;
  return 0;
}
std::string Row::str_value(const std::string &key) const {
  for (const auto &f : fields_)
    if (f.key == key && f.kind == Field::kStr) return f.s;
  return "";
}
Json Row::json() const {
  Json o = Json::object();
  for (const Field &f : fields_)
    o[f.key] = f.kind == Field::kNum   ? json_number(f.n)
               : f.kind == Field::kStr ? Json(f.s)
                                       : Json(f.n != 0);
  return o;
}

std::string Report::json() const {
  Json o;
  o["info"] = info;
  o["targets"] = Json::array();
  for (const Target &t : targets)
    o["targets"].push_back({{"name", t.name},
                            {"value", json_number(t.value)},
                            {"limit", t.limit},
                            {"met", t.met},
                            {"note", t.note}});
  o["sections"] = Json::object();
  for (const auto &kv : sections) {
    Json rows = Json::array();
    for (const Row &r : kv.second) rows.push_back(r.json());
    o["sections"][kv.first] = rows;
  }
  return o.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

bool Options::has(const std::string &s) const {
  for (const auto &x : sections)
    if (x == s) return true;
  return false;
}

namespace {

// A Markdown table of a section: columns are the union of the rows' keys, in order.
void print_section(const std::string &name, const std::vector<Row> &rows) {
  if (rows.empty()) return;
  std::vector<std::string> cols;
  for (const Row &r : rows) {
    const Json j = r.json();
    for (const auto &m : j.items()) {  // keys in insertion order
      bool have = false;
      for (auto &c : cols) have = have || c == m.key();
      if (!have) cols.push_back(m.key());
    }
  }
  printf("\n### %s\n\n|", name.c_str());
  for (auto &c : cols) printf(" %s |", c.c_str());
  printf("\n|");
  for (size_t i = 0; i < cols.size(); i++) printf("---|");
  printf("\n");
  for (const Row &r : rows) {
    printf("|");
    for (auto &c : cols) {
      std::string s = r.str_value(c);
      printf(" %s |", !s.empty() ? s.c_str() : fmt(r.get(c)).c_str());
    }
    printf("\n");
  }
}

void usage() {
  fprintf(stderr,
          "usage: pvscsi_bench [--quick] [--sections a,b,...] [--json FILE] [--ios N]\n"
          "                    [--valgrind PATH] [--tmp DIR]\n"
          "sections: doorbells instructions iops memory bounce qemu (default: all)\n");
}

}  // namespace

}  // namespace pvbench

int main(int argc, char **argv) {
  using namespace pvbench;
  Options o;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  o.self = n > 0 ? std::string(self, size_t(n)) : argv[0];
  std::string child;
  unsigned child_qd = 1;
  uint64_t child_ios = 1000;
  bool ios_given = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--sections") {
      o.sections = split(next(), ',');
    } else if (a == "--json") {
      o.json_path = next();
    } else if (a == "--ios") {
      child_ios = o.ios = std::strtoull(next().c_str(), nullptr, 10);
      ios_given = true;
    } else if (a == "--valgrind") {
      o.valgrind = next();
    } else if (a == "--tmp") {
      o.tmp_dir = next();
    } else if (a == "--cg-child") {
      child = next();
    } else if (a == "--qd") {
      child_qd = unsigned(std::strtoul(next().c_str(), nullptr, 10));
    } else {
      usage();
      return 2;
    }
  }
  if (!child.empty()) return callgrind_child(child, child_qd, child_ios);
  if (o.quick && !ios_given) o.ios = 300;

  Report r;
  r.info["machine"] = machine();
  r.info["mode"] = o.quick ? "quick (smoke run: few I/Os, figures not representative)" : "full";
  time_t now = time(nullptr);
  char ts[64];
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  r.info["date"] = ts;
  {
    std::ifstream la("/proc/loadavg");
    std::string l1, l5, l15;
    la >> l1 >> l5 >> l15;
    r.info["load_average_at_start"] = l1 + " " + l5 + " " + l15;
  }
  r.info["device_model"] =
      "mock profiles as defined in tests/devices/mock/mock_config.cc (vmware: polls while busy "
      "every 50 us, adaptive request-call threshold 8 while >= 4 requests are in the device, one "
      "interrupt per 10 us coalescing window; qemu: kick-only, no threshold), latency 100 us + "
      "uniform 0..100 us, virtual clock";
  r.info["always_kick_baseline"] =
      "the same driver with pvscsi-use-request-threshold=0 (every READ/WRITE rings KICK_RW_IO)";

  struct {
    const char *name;
    void (*fn)(const Options &, Report *);
  } steps[] = {{"doorbells", run_doorbells},
               {"memory", run_memory},
               {"bounce", run_bounce},
               {"iops", run_iops},
               {"instructions", run_instructions},
               {"qemu", run_qemu}};
  for (auto &s : steps) {
    if (!o.has(s.name)) continue;
    fprintf(stderr, "== %s\n", s.name);
    double t0 = wall_seconds();
    s.fn(o, &r);
    fprintf(stderr, "   (%.1f s)\n", wall_seconds() - t0);
  }

  printf("## pvscsi benchmarks\n\n");
  for (const auto &kv : r.info) printf("- %s: %s\n", kv.first.c_str(), kv.second.c_str());
  printf("\n### targets\n\n| target | measured | limit | met | note |\n|---|---|---|---|---|\n");
  for (const Target &t : r.targets)
    printf("| %s | %s | %s | %s | %s |\n", t.name.c_str(), fmt(t.value).c_str(), t.limit.c_str(),
           t.met ? "yes" : "**MISSED**", t.note.c_str());
  for (const auto &kv : r.sections) print_section(kv.first, kv.second);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << r.json();
    if (!out) {
      fprintf(stderr, "cannot write %s\n", o.json_path.c_str());
      return 1;
    }
  }
  return 0;
}
