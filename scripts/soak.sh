#!/usr/bin/env bash
# The long chaos soak on the mock (tests/suites/robustness/chaos_soak_test.cc): verified I/O with hot
# add/remove, aborts, resets, hung targets, bogus completions and interrupt faults, on both
# mock profiles.
#   scripts/soak.sh [IOS_PER_PROFILE] [SEED]     (default 1000000 and 1)
# The kernel's DMA sync audit is on (ROBUST_SOAK_SYNC_AUDIT=0 turns it off). Prints the figures
# per profile; fails on any verify failure, double
# completion, stall, leak or violation.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ios="${1:-1000000}"
seed="${2:-1}"
build="$root/build/soak"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPVSCSI_PARTS="tests/host;tests/devices/mock;driver;tests/suites/robustness" >/dev/null
ninja -C "$build" -j2 pvscsi_chaos_soak_test
ROBUST_SOAK_IOS="$ios" ROBUST_SOAK_SEED="$seed" \
  "$build/tests/suites/robustness/pvscsi_chaos_soak_test" 2>&1 | grep -v '^fk: '
