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
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/bench}
[ $# -gt 0 ] && shift
JOBS=${JOBS:-2}

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPVSCSI_PARTS="tests/host;tests/devices/mock;tests/devices/qemu;driver;tests/tools/bench" >/dev/null
ninja -C "$BUILD" -j "$JOBS" pvscsi_bench

"$BUILD/tests/tools/bench/pvscsi_bench" --json "$BUILD/bench-results.json" "$@" \
  | tee "$BUILD/bench-results.md"
echo "wrote $BUILD/bench-results.json and $BUILD/bench-results.md" >&2
