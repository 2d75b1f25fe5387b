#!/usr/bin/env bash
# Installs what the project needs on a Debian 12 machine, idempotently: a package that is
# already installed is not touched, and nothing comes from PyPI.  Safe to run any number of
# times; the demo and test scripts call it first.
#
# Environment:
#   PVSCSI_SETUP_SKIP=1   do nothing (for machines that are set up another way)
set -euo pipefail

[ "${PVSCSI_SETUP_SKIP:-0}" = 1 ] && exit 0

packages=(
  cmake g++ make ninja-build
  libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev zlib1g-dev
  clang clang-format clang-tidy lld libclang-rt-14-dev
  python3 python3-jinja2 python3-yaml python3-pytest
  qemu-system-x86 qemu-utils
  g++-aarch64-linux-gnu binutils-aarch64-linux-gnu
  valgrind binutils mandoc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
