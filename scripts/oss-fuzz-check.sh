#!/usr/bin/env bash
# Checks that the fuzz target builds as OSS-Fuzz builds it: runs
# tests/suites/robustness/oss-fuzz/build.sh in a fresh temporary directory with the environment
# OSS-Fuzz's base-builder sets for libFuzzer + AddressSanitizer with clang, then checks what it
# left in $OUT (the fuzzer, the flat seed-corpus zip, the options), that the final link used
# $LIB_FUZZING_ENGINE and nothing of ours, and replays the unzipped seed corpus with the built
# fuzzer (-runs=0, the options file's flags) as ClusterFuzz would.
#   scripts/oss-fuzz-check.sh [--keep]     (--keep: leave the temporary directory)
# Builds only the fuzz target and its libraries; shares nothing with build/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
keep=0
[ "${1:-}" = --keep ] && keep=1
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pvscsi-oss-fuzz.XXXXXX")"
[ "$keep" = 1 ] || trap 'rm -rf "$tmp"' EXIT
name=pvscsi_fuzz
fail() {
  echo "oss-fuzz-check: FAILED: $*" >&2
  exit 1
}

# OSS-Fuzz's flags for clang, libFuzzer and ASan (infra/base-images/base-builder).
export CC=clang-14 CXX=clang++-14
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer
export SRC="$root" WORK="$tmp/work" OUT="$tmp/out"
export JOBS="${JOBS:-2}"
mkdir -p "$WORK" "$OUT"

start=$(date +%s)
bash "$root/tests/suites/robustness/oss-fuzz/build.sh"
built=$(date +%s)

[ -x "$OUT/$name" ] || fail "no executable $OUT/$name"
[ -s "$OUT/${name}_seed_corpus.zip" ] || fail "no $OUT/${name}_seed_corpus.zip"
[ -s "$OUT/$name.options" ] || fail "no $OUT/$name.options"
# The fuzz target's own compile and link: no -fsanitize=fuzzer of ours when compiling, and the
# link takes $LIB_FUZZING_ENGINE exactly once (build.sh uses Ninja when it is installed).
python3 - "$WORK/pvscsi-$name" "$name" "$LIB_FUZZING_ENGINE" <<'PY' || fail "the fuzz target's flags"
import json, os, re, sys
build, name, engine = sys.argv[1:]
cmds = [c["command"] for c in json.load(open(os.path.join(build, "compile_commands.json")))
        if c["file"].endswith("/fuzz_target.cc")]
assert len(cmds) == 1 and engine not in cmds[0].split(), f"compiled with the engine: {cmds}"
ninja = os.path.join(build, "build.ninja")
if os.path.exists(ninja):
    text = open(ninja).read()
    m = re.search(r"^build tests/suites/robustness/%s: .*?\n\n" % re.escape(name), text, re.M | re.S)
    assert m, "no link statement in build.ninja"
    words = m.group(0).split()
    assert words.count(engine) == 1, f"engine {engine!r} {words.count(engine)} times in: {m.group(0)}"
    print(f"oss-fuzz-check: fuzz_target.cc compiled without {engine}, linked with it once")
PY

# ClusterFuzz runs the binary without the source tree: the driver's configuration is inside it.
! grep -qF "$root/driver/pvscsi.conf" "$OUT/$name" || fail "$OUT/$name reads driver/pvscsi.conf from the tree"

# The seed corpus: flat, every checked-in seed, byte for byte; then ClusterFuzz's replay.
seeds="$tmp/seeds"
python3 - "$OUT/${name}_seed_corpus.zip" "$root/tests/suites/robustness/corpus" "$seeds" <<'PY' || fail "the seed corpus zip"
import os, sys, zipfile
zpath, corpus, dst = sys.argv[1:]
with zipfile.ZipFile(zpath) as z:
    names = z.namelist()
    assert all("/" not in n for n in names), f"not flat: {names}"
    want = sorted(os.listdir(corpus))
    assert sorted(names) == want, f"zip {sorted(names)} != corpus {want}"
    for n in names:
        assert z.read(n) == open(os.path.join(corpus, n), "rb").read(), n
    z.extractall(dst)
print(f"oss-fuzz-check: {zpath}: {len(names)} seeds, flat, identical to corpus/")
PY
mapfile -t flags < <(python3 - "$OUT/$name.options" <<'PY'
import configparser, sys
c = configparser.ConfigParser()
c.read(sys.argv[1])
for k, v in (c["libfuzzer"].items() if c.has_section("libfuzzer") else []):
    print(f"-{k}={v}")
PY
)
log="$tmp/replay.log"
if ! (cd "$tmp" && "$OUT/$name" "${flags[@]}" -runs=0 "$seeds" >"$log" 2>&1); then
  grep -v '^fk: ' "$log" | tail -40
  fail "$OUT/$name over the seed corpus"
fi
nseeds=$(ls "$seeds" | wc -l)
grep -q "INFO: seed corpus: files: $nseeds " "$log" || {
  tail -20 "$log"
  fail "the fuzzer did not read all $nseeds seeds"
}
grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || fail "no DONE line from the fuzzer"
end=$(date +%s)
echo "oss-fuzz-check: passed (build $((built - start)) s, checks and replay $((end - built)) s;" \
  "flags ${flags[*]})"
