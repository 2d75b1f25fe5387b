#!/bin/sh
# Builds and runs the pvscsi benchmarks (see BENCHMARKS.md): doorbells and interrupts
# per I/O on both mock profiles beside an "always kick" baseline, driver-only instructions per
# I/O under callgrind beside a minimal ring loop, IOPS with one and two submitting threads,
# memory per command, bounce copies, and the driver beside the ring loop on QEMU.
#
#   scripts/bench.sh [BUILD_DIR] [pvscsi_bench options...]
#
# BUILD_DIR defaults to build/bench. Writes BUILD_DIR/bench-results.json (the figures) and
# BUILD_DIR/bench-results.md (the table, also printed). Extra options go to pvscsi_bench, e.g.
# --quick (a smoke run) or --sections doorbells,iops. Needs valgrind (instructions) and
# qemu-system-x86_64 (qemu); a section whose tool is missing is skipped and says so.
#
# --sections sim (alone or in a list) also measures the userland kernel's two thread models
# side by side - one seeded scheduler (FK_DETERMINISTIC=1) against host threads
# (FK_DETERMINISTIC=0): corpus replay inputs/s, chaos soak I/O/s, exerciser IOPS and scheduler
# switches per I/O, whole-process instructions per I/O (tests/tools/bench/sim_bench.py; writes
# BUILD_DIR/sim-results.json and BUILD_DIR/sim-results.md). SIM_ARGS passes options to it, e.g.
# SIM_ARGS="--reps 3 --fuzzer build/fuzz/tests/suites/robustness/pvscsi_fuzz".
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/bench}
[ $# -gt 0 ] && shift
JOBS=${JOBS:-2}

# "sim" is this script's section, not pvscsi_bench's: take it out of the --sections list.
SIM=0
REST=""
NEXT_IS_SECTIONS=0
NO_BENCH=0
for a in "$@"; do
  if [ "$NEXT_IS_SECTIONS" = 1 ]; then
    NEXT_IS_SECTIONS=0
    kept=$(printf '%s' "$a" | tr ',' '\n' | grep -vx sim | paste -sd, -) || true
    [ "$kept" != "$a" ] && SIM=1
    if [ -z "$kept" ]; then
      NO_BENCH=1
      REST=${REST% --sections}
      continue
    fi
    a=$kept
  elif [ "$a" = "--sections" ]; then
    NEXT_IS_SECTIONS=1
  fi
  REST="$REST $a"
done
set -- $REST

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPVSCSI_PARTS="tests/host;tests/devices/mock;tests/devices/qemu;driver;tests/tools/bench;tests/tools/exerciser;tests/suites/robustness" >/dev/null

if [ "$NO_BENCH" = 0 ]; then
  ninja -C "$BUILD" -j "$JOBS" pvscsi_bench
  "$BUILD/tests/tools/bench/pvscsi_bench" --json "$BUILD/bench-results.json" "$@" \
    | tee "$BUILD/bench-results.md"
  echo "wrote $BUILD/bench-results.json and $BUILD/bench-results.md" >&2
fi

if [ "$SIM" = 1 ]; then
  ninja -C "$BUILD" -j "$JOBS" pvscsi_fuzz_replay pvscsi_chaos_soak_test pvscsi-exercise \
    pvscsi_sched_switch_bench
  # shellcheck disable=SC2086
  python3 "$ROOT/tests/tools/bench/sim_bench.py" --build "$BUILD" \
    --corpus "$ROOT/tests/suites/robustness/corpus" --json "$BUILD/sim-results.json" \
    ${SIM_ARGS:-} | tee "$BUILD/sim-results.md"
  echo "wrote $BUILD/sim-results.json and $BUILD/sim-results.md" >&2
fi
