// pvscsi benchmarks: shared declarations. Host-side code.
//
// One program, pvscsi_bench, measures the driver on the userland kernel against the mock device
// (doorbells and interrupts per I/O, IOPS with one and two submitting threads, memory per
// command, bounce copies), counts the driver's own instructions per I/O with callgrind beside a
// minimal ring loop (floor.h), and runs the driver beside the ring-loop baseline on QEMU. Every
// figure lands in a Report: printed as a table and written as JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mock_config.h"

namespace pvbench {

using Json = nlohmann::ordered_json;  // members in insertion order

// A flat record of numbers, strings and flags, in insertion order.
class Row {
 public:
  Row &num(const std::string &key, double v);
  Row &str(const std::string &key, const std::string &v);
  Row &flag(const std::string &key, bool v);
  double get(const std::string &key) const;             // 0 if absent or not a number
  std::string str_value(const std::string &key) const;  // "" if absent or not a string
  Json json() const;

 private:
  struct Field {
    std::string key;
    enum { kNum, kStr, kBool } kind;
    double n;
    std::string s;
  };
  std::vector<Field> fields_;
};

// A headline target: what, the measured value, the limit, and whether it is met.
struct Target {
  std::string name;
  double value;
  std::string limit;  // "<= 0.05", ">= 1.6", ...
  bool met;
  std::string note;  // what bounds it when missed
};

struct Report {
  std::map<std::string, std::vector<Row>> sections;  // section name -> rows
  std::vector<Target> targets;
  std::map<std::string, std::string> info;  // machine, settings
  std::string json() const;
};

struct Options {
  bool quick = false;  // a smoke run: few I/Os, small depths, no QEMU, no valgrind
  std::vector<std::string> sections{"doorbells", "instructions", "iops",
                                    "memory",    "bounce",       "qemu"};
  std::string json_path;
  std::string valgrind = "valgrind";
  std::string self;  // this program's path (callgrind re-runs it)
  std::string tmp_dir = "/tmp";
  uint64_t ios = 4000;  // per doorbell/interrupt point
  bool has(const std::string &s) const;
};

// A figure as the tables print it (integers whole, 2 or 3 significant decimals below 100).
std::string fmt(double v);

// The device model used for the doorbell/interrupt figures (documented in BENCHMARKS.md).
pvscsi_mock::Config bench_device(pvscsi_mock::Profile p, int64_t latency_ns, int64_t jitter_ns);

// Sections (mock_bench.cc, instr_bench.cc, qemu_bench.cc).
void run_doorbells(const Options &o, Report *r);
void run_iops(const Options &o, Report *r);
void run_memory(const Options &o, Report *r);
void run_bounce(const Options &o, Report *r);
void run_instructions(const Options &o, Report *r);
void run_qemu(const Options &o, Report *r);

// The child side of the callgrind measurement: run `what` ("driver" or "floor") at a queue
// depth between CALLGRIND_ZERO_STATS and CALLGRIND_DUMP_STATS_AT; prints "ios N".
int callgrind_child(const std::string &what, unsigned qd, uint64_t ios);

}  // namespace pvbench
