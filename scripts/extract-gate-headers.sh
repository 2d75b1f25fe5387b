#!/usr/bin/env bash
# Extracts the kernel headers (and the kernel makefiles) of an illumos-gate tree, for the
# real-header build of the driver (scripts/build-against-gate.sh) and for
# scripts/extract-compat-facts.py.
#
#   scripts/extract-gate-headers.sh [--ref REF] [--arch amd64|aarch64|all] SOURCE DEST
#
# SOURCE is an illumos-gate git repository (bare mirror or checkout; files are read from REF,
# default HEAD, with ls-tree and cat-file one blob at a time, so a mirror that lacks some large
# blobs still works) or a plain directory holding usr/src (copied as it is; --ref must not be
# given then). DEST receives usr/src/uts/common plus, per architecture, the directories a
# module of that architecture is compiled against:
#   amd64:   usr/src/uts/intel (INC_PATH of uts/intel/Makefile.files) and usr/src/uts/i86pc
#   aarch64: usr/src/uts/aarch64 (INC_PATH of uts/aarch64/Makefile.files) and usr/src/uts/armv8
# (the illumos-gate arm64-gate branch has the aarch64 tree: --ref arm64-gate), and the makefiles
# the flags come from (usr/src/Makefile.master, usr/src/uts/Makefile.uts, ...).
#
# Example (a bare mirror at $G):
#   scripts/extract-gate-headers.sh --arch amd64 $G /work/gate
#   scripts/extract-gate-headers.sh --ref arm64-gate --arch aarch64 $G /work/gate-arm64
set -euo pipefail
# shellcheck source=gate-common.sh
. "$(dirname "$0")/gate-common.sh"

usage() {
  echo "usage: $0 [--ref REF] [--arch amd64|aarch64|all] SOURCE DEST" >&2
  exit 2
}

ref=
arch=all
while [ $# -gt 0 ]; do
  case "$1" in
    --ref) [ $# -ge 2 ] || usage; ref=$2; shift 2 ;;
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    -h | --help) usage ;;
    --) shift; break ;;
    -*) echo "extract-gate-headers: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
src=$1
dest=$2

case "$arch" in
  amd64) archdirs="usr/src/uts/intel usr/src/uts/i86pc" ;;
  aarch64) archdirs="usr/src/uts/aarch64 usr/src/uts/armv8" ;;
  all) archdirs="usr/src/uts/intel usr/src/uts/i86pc usr/src/uts/aarch64 usr/src/uts/armv8" ;;
  *) die "--arch must be amd64, aarch64 or all, not '$arch'" ;;
esac
headerdirs="usr/src/uts/common $archdirs"
# The makefiles that define the kernel compile flags, include path and module lists.
makefiles="usr/src/Makefile.master usr/src/uts/Makefile.uts usr/src/uts/common/Makefile.files
  usr/src/uts/common/Makefile.rules"
for d in $archdirs; do
  a=${d##*/}
  makefiles="$makefiles $d/Makefile.$a $d/Makefile.files $d/Makefile.rules $d/Makefile.targ"
done

[ -e "$src" ] || die "$src does not exist"
mkdir -p "$dest" || die "cannot create $dest"

is_git=false
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  is_git=true
fi

extracted=0
missing=0
if $is_git; then
  ref=${ref:-HEAD}
  commit=$(git -C "$src" rev-parse --verify --quiet "$ref^{commit}") ||
    die "$src has no commit '$ref'"
  list=$(mktemp)
  trap 'rm -f "$list"' EXIT
  # shellcheck disable=SC2086  # the directory lists are word lists
  git -C "$src" ls-tree -r "$commit" -- $headerdirs |
    awk -F'\t' '$2 ~ /\.h$/ { split($1, m, " "); if (m[2] == "blob") print m[3] "\t" $2 }' >"$list"
  # shellcheck disable=SC2086
  git -C "$src" ls-tree -r "$commit" -- $makefiles |
    awk -F'\t' '{ split($1, m, " "); if (m[2] == "blob") print m[3] "\t" $2 }' >>"$list"
  [ -s "$list" ] || die "$src at $ref has no usr/src/uts headers (is it illumos-gate?)"
  while IFS=$'\t' read -r blob path; do
    mkdir -p "$dest/$(dirname "$path")"
    if git -C "$src" cat-file blob "$blob" >"$dest/$path" 2>/dev/null; then
      extracted=$((extracted + 1))
    else
      rm -f "$dest/$path"
      missing=$((missing + 1))
      echo "extract-gate-headers: warning: blob of $path is not in $src (skipped)" >&2
    fi
  done <"$list"
  what="$ref ($commit)"
else
  [ -z "$ref" ] || die "--ref needs a git repository; $src is a plain directory"
  [ -d "$src/usr/src/uts/common/sys" ] ||
    die "$src is neither a git repository nor a tree with usr/src/uts/common/sys"
  for d in $headerdirs; do
    [ -d "$src/$d" ] || continue
    while IFS= read -r -d '' f; do
      rel=${f#"$src"/}
      mkdir -p "$dest/$(dirname "$rel")"
      cp "$f" "$dest/$rel"
      extracted=$((extracted + 1))
    done < <(find "$src/$d" -name '*.h' -type f -print0)
  done
  for f in $makefiles; do
    if [ -f "$src/$f" ]; then
      mkdir -p "$dest/$(dirname "$f")"
      cp "$src/$f" "$dest/$f"
      extracted=$((extracted + 1))
    fi
  done
  what="the tree"
fi

for d in $archdirs; do
  [ -d "$dest/$d" ] || echo "extract-gate-headers: note: $what has no $d" >&2
done
[ -d "$dest/usr/src/uts/common/sys" ] || die "nothing extracted into $dest/usr/src/uts/common/sys"
echo "extract-gate-headers: $extracted files of $what into $dest ($missing missing blobs)"
