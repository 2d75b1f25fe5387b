#!/usr/bin/env bash
# The long chaos soak on the mock (tests/suites/robustness/chaos_soak_test.cc): verified I/O with hot
# add/remove, aborts, resets, hung targets, bogus completions and interrupt faults, on both
# mock profiles.
#   scripts/soak.sh [IOS_PER_PROFILE] [SEED]     (default 1000000 and 1)
# The kernel's DMA sync audit is on (ROBUST_SOAK_SYNC_AUDIT=0 turns it off). Prints the figures
# per profile; fails on any verify failure, double
# completion, stall, leak or violation, and then prints the command that replays the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ios="${1:-1000000}"
seed="${2:-1}"
build="$root/build/soak"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPVSCSI_PARTS="tests/host;tests/devices/mock;driver;tests/suites/robustness" >/dev/null
ninja -C "$build" -j2 pvscsi_chaos_soak_test
rc=0
ROBUST_SOAK_IOS="$ios" ROBUST_SOAK_SEED="$seed" \
  "$build/tests/suites/robustness/pvscsi_chaos_soak_test" 2>&1 | grep -v '^fk: ' || rc=$?
if [ "$rc" -ne 0 ]; then
  # Each profile's run printed its own "[ soak ] replay:" line (the failed one again at its
  # end); this replays the whole soak.
  env=""
  for v in ROBUST_SOAK_SYNC_AUDIT ROBUST_PLANT; do
    [ -n "${!v+x}" ] && env+="$v=$(printf %q "${!v}") "
  done
  echo "soak.sh: FAILED (exit $rc); replay: $env$(printf %q "$root/scripts/soak.sh") $ios $seed"
fi
exit "$rc"
