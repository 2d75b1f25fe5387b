// Corpus replay without libFuzzer (any compiler): runs every file given (directories are
// walked) through the scenario and fails on the first finding. This is what CTest runs.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "scenario.h"

int main(int argc, char **argv) {
  std::vector<std::string> files;
  for (int i = 1; i < argc; i++) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (const auto &e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path().string());
    } else {
      files.push_back(p.string());
    }
  }
  if (files.empty()) {
    fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
    return 2;
  }
  uint64_t attached = 0, ops = 0, submitted = 0;
  for (const auto &f : files) {
    std::ifstream in(f, std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)), {});
    robust::ScenarioResult r = robust::run_scenario(data.data(), data.size());
    attached += r.attached;
    ops += r.ops;
    submitted += r.submitted;
    if (!r.findings.empty()) {
      for (const auto &x : r.findings) fprintf(stderr, "%s: FINDING: %s\n", f.c_str(), x.c_str());
      return 1;
    }
  }
  printf("%zu inputs: %llu attached, %llu operations, %llu packets, no findings\n", files.size(),
         (unsigned long long)attached, (unsigned long long)ops, (unsigned long long)submitted);
  return 0;
}
