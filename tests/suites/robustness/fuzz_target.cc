// libFuzzer entry point: the fuzzer plays the PVSCSI device against the real driver on the
// userland kernel (scenario.h). Any invariant failure aborts, so libFuzzer keeps the input.
#include <cstdio>
#include <cstdlib>

#include "scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  robust::ScenarioResult r = robust::run_scenario(data, size);
  if (!r.findings.empty()) {
    for (const auto &f : r.findings) fprintf(stderr, "FINDING: %s\n", f.c_str());
    abort();
  }
  return 0;
}
