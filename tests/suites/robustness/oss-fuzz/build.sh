#!/usr/bin/env bash
# Builds the hostile-device fuzz target the way OSS-Fuzz (ClusterFuzz) builds targets, from the
# environment its base-builder image sets:
#   CC, CXX, CFLAGS, CXXFLAGS  compilers and flags (sanitizer, coverage: -fsanitize=fuzzer-no-link)
#   LIB_FUZZING_ENGINE         the engine the target is linked with (-fsanitize=fuzzer, a library)
#   OUT                        where the fuzzer, its seed corpus and its options go
#   WORK                       scratch space for the build (default: a fresh temporary directory)
#   SRC                        unused: the tree is the one this script sits in
#   JOBS                       build jobs (default: the number of processors)
# Writes $OUT/pvscsi_fuzz, $OUT/pvscsi_fuzz_seed_corpus.zip (corpus/, flat) and
# $OUT/pvscsi_fuzz.options. The libraries the target needs (the driver, the userland kernel,
# SCSA, the client, the mock and the hostile device) are built by CMake with those flags; the
# final link adds $LIB_FUZZING_ENGINE and nothing of ours. Needs CMake >= 3.25, GoogleTest's
# CMake package and python3 with jinja2, yaml and pytest (the top-level CMakeLists.txt looks for
# them at configure time; nothing here is built with them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
name=pvscsi_fuzz
for v in CC CXX OUT LIB_FUZZING_ENGINE; do
  if [ -z "${!v:-}" ]; then
    echo "oss-fuzz/build.sh: \$$v is not set (OSS-Fuzz's build environment sets it)" >&2
    exit 2
  fi
done
mkdir -p "$OUT"
work="${WORK:-}"
[ -n "$work" ] || work="$(mktemp -d)"
build="$work/pvscsi-$name"
generator="Unix Makefiles"
command -v ninja >/dev/null && generator=Ninja

# An empty build type: the optimisation and debug flags are OSS-Fuzz's ($CFLAGS), not ours.
cmake -S "$root" -B "$build" -G "$generator" \
  -DCMAKE_BUILD_TYPE= \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="${CFLAGS:-}" -DCMAKE_CXX_FLAGS="${CXXFLAGS:-}" \
  -DPVSCSI_PARTS="tests/host;tests/devices/mock;driver;tests/suites/robustness" \
  -DPVSCSI_FUZZ=ON -DPVSCSI_FUZZ_ENGINE="$LIB_FUZZING_ENGINE" \
  -DPVSCSI_REGENERATE=OFF
cmake --build "$build" --target "$name" -j "${JOBS:-$(nproc)}"

cp "$build/tests/suites/robustness/$name" "$OUT/$name"
cp "$here/$name.options" "$OUT/$name.options"
# The seed corpus, flat and in a fixed order (python3: zip(1) is not everywhere).
python3 - "$root/tests/suites/robustness/corpus" "$OUT/${name}_seed_corpus.zip" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
names = sorted(n for n in os.listdir(src) if os.path.isfile(os.path.join(src, n)))
with zipfile.ZipFile(dst + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    for n in names:
        z.write(os.path.join(src, n), n)
os.replace(dst + ".tmp", dst)
print(f"oss-fuzz/build.sh: {dst}: {len(names)} seeds")
PY
echo "oss-fuzz/build.sh: $OUT/$name, $OUT/${name}_seed_corpus.zip, $OUT/$name.options"
