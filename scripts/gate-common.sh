# Sourced by the gate scripts (build-against-gate.sh, illumos-gate-overlay.sh,
# extract-gate-headers.sh): `root`, the repository, and `die`, which reports an error under the
# script's name and exits with status 2 (bad usage or gate).
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() {
  echo "$(basename "$0" .sh): error: $*" >&2
  exit 2
}
