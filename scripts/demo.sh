#!/usr/bin/env bash
# README command 1: set the machine up (idempotently), build the exerciser, and run it against
# the mock PVSCSI device with a short default workload. It ends with a verified report (exit
# status 0) or says what failed (1). Extra arguments go to pvscsi-exercise, e.g.
#   scripts/demo.sh --profile qemu --qd 64 --json report.json
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "demo: configuring (preset default) and building pvscsi-exercise ..." >&2
cmake --preset default --log-level=WARNING >/dev/null
cmake --build --preset default --target pvscsi-exercise >&2

exe=build/default/tests/tools/exerciser/pvscsi-exercise
echo "demo: $exe $*" >&2
exec "$exe" "$@"
