#!/usr/bin/env bash
# Builds and runs the unit, integration, exerciser and robustness suites under
# AddressSanitizer + UndefinedBehaviorSanitizer ("asan" preset) and ThreadSanitizer ("tsan"
# preset), and the libFuzzer target with clang ("fuzz" preset: corpus replay, allocation sweeps,
# chaos soak and 120 s of fuzzing), and prints each run's wall time. The mock suites run in the
# host's deterministic mode everywhere but under ThreadSanitizer: data races need threads that
# really run at once, so the "tsan" stage forces host threads (FK_DETERMINISTIC=0). "loaded"
# runs the default build's suite again with every real-thread-mode kernel thread that is made
# runnable starting 2 ms of real time late (FK_THREAD_LAG_US=2000), as on a loaded machine
# (deterministic runs do not depend on real time at all); .ci/run leaves it out. "fuzz" is followed by "oss-fuzz": the fuzz target built as
# OSS-Fuzz builds it (scripts/oss-fuzz-check.sh: its own build of the target alone, with
# OSS-Fuzz's clang flags, then its seed corpus replayed); "oss-fuzz" alone runs just that.
#   scripts/sanitize.sh [loaded|asan|tsan|fuzz|oss-fuzz]...   (default: asan tsan)
# Any sanitizer report fails the test that produced it (halt_on_error / abort_on_error), so a
# green run means zero findings. The kernel arena poisons free kmem and DMA memory under ASan
# (tests/host/kernel/fk_mem.cc); tests/suites/robustness/planted_uaf_test.cc proves a use-after-free is caught.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh  # idempotent: clang, valgrind, qemu and the rest
presets=()
for p in "$@"; do
  presets+=("$p")
  [ "$p" = fuzz ] && presets+=(oss-fuzz)
done
[ ${#presets[@]} -eq 0 ] && presets=(asan tsan)
rc=0
summary=()
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT
for p in "${presets[@]}"; do
  start=$(date +%s)
  if [ "$p" = oss-fuzz ]; then
    out=$(mktemp)
    if bash scripts/oss-fuzz-check.sh 2>&1 | tee "$out" | grep -v '^fk: '; then
      status=passed
    else
      status=FAILED rc=1
      { echo "=== stage $p ==="; grep -v '^fk: ' "$out" | tail -40; } >> "$failures"
    fi
    figures=$(grep -o 'build [0-9]* s, checks and replay [0-9]* s' "$out" || true)
    rm -f "$out"
    summary+=("sanitize.sh: $p $status (${figures:-$(($(date +%s) - start)) s})")
    echo "${summary[-1]}"
    continue
  fi
  preset=$p lag=0 det=
  [ "$p" = loaded ] && preset=default lag=2000
  [ "$p" = tsan ] && det=0
  cmake --preset "$preset"
  cmake --build --preset "$preset"
  built=$(date +%s)
  if FK_THREAD_LAG_US=$lag FK_DETERMINISTIC=$det ctest --preset "$preset"; then
    status=passed
  else
    status=FAILED rc=1
    # Keep what each failed test printed (the end of it) from ctest's own log: later stages
    # would push it out of the tail that CI shows, so it is repeated at the end of the run.
    log=build/$preset/Testing/Temporary/LastTest.log
    {
      echo "=== stage $p: failed tests ==="
      awk -f scripts/failed-output.awk "$log" 2>/dev/null || echo "(no log at $log)"
    } >> "$failures"
  fi
  end=$(date +%s)
  summary+=("sanitize.sh: $p $status (build $((built - start)) s, tests $((end - built)) s)")
  echo "${summary[-1]}"
done
if [ $rc -ne 0 ]; then
  echo
  cat "$failures"
fi
printf '%s\n' "${summary[@]}"
exit $rc
