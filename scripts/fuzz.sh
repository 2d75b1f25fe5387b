#!/usr/bin/env bash
# Fuzzes the driver with a hostile device (tests/suites/robustness, libFuzzer + ASan/UBSan).
#   scripts/fuzz.sh [--seconds N] [--work DIR] [--binary PATH] [--jobs N] [--keep-going]
#                   [-- libFuzzer flags]
# Builds the "fuzz" preset unless --binary is given, copies the checked-in seed corpus into the
# work directory (default build/fuzz/work: the seeds stay untouched), fuzzes for N seconds
# (default 1800) and prints libFuzzer's final statistics and the driver functions covered.
# Reproducers land in the work directory (crash-*, timeout-*, leak-*, oom-*); for each new one
# the script prints "fuzz.sh: replay: COMMAND", the command that replays it (the corpus replay
# binary beside the fuzzer, or the fuzzer itself on that one input), and fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=1800
work="$root/build/fuzz/work"
binary=""
jobs=1
keep_going=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --keep-going) keep_going=1; shift ;;  # fork mode: record findings and go on
    --) shift; extra=("$@"); break ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz --target pvscsi_fuzz pvscsi_fuzz_replay
  binary="$root/build/fuzz/tests/suites/robustness/pvscsi_fuzz"
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
replayer="$(dirname "$binary")/pvscsi_fuzz_replay"
mkdir -p "$work/corpus"
work="$(cd "$work" && pwd)"  # libFuzzer runs inside it: a relative path would no longer resolve
cp -n "$root"/tests/suites/robustness/corpus/* "$work/corpus/" 2>/dev/null || true
cd "$work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}:abort_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
args=(-max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -max_len=512
      -print_final_stats=1 -artifact_prefix="$work/")
if [ "$keep_going" = 1 ]; then
  args+=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
elif [ "$jobs" -gt 1 ]; then
  args+=(-jobs="$jobs" -workers="$jobs")
fi
echo "fuzz.sh: $binary for ${seconds}s in $work (corpus $(ls corpus | wc -l) inputs)"
stamp="$work/.fuzz-start"
: >"$stamp"
rc=0
"$binary" "${args[@]}" "${extra[@]}" corpus || rc=$?
echo "fuzz.sh: done, corpus now $(ls corpus | wc -l) inputs"
# One replay command per reproducer this run wrote. Settings that decide a replay's course
# (a planted defect) go with it.
prefix=""
[ -n "${ROBUST_PLANT:-}" ] && prefix="ROBUST_PLANT=$(printf %q "$ROBUST_PLANT") "
found=0
while IFS= read -r -d '' f; do
  found=$((found + 1))
  if [ -x "$replayer" ]; then
    # A hang is judged as libFuzzer judged it (-timeout=60).
    t=""
    case "$(basename "$f")" in timeout-*) t="ROBUST_REPLAY_TIMEOUT=60 " ;; esac
    echo "fuzz.sh: finding $f; replay: $prefix$t$(printf %q "$replayer") $(printf %q "$f")"
  else
    echo "fuzz.sh: finding $f; replay: $prefix$(printf %q "$binary") -timeout=60 $(printf %q "$f")"
  fi
done < <(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' \
           -o -name 'leak-*' -o -name 'oom-*' \) -newer "$stamp" -print0 | sort -z)
rm -f "$stamp"
if [ "$found" -gt 0 ]; then
  echo "fuzz.sh: $found finding(s)"
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
