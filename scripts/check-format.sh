#!/bin/sh
# Fails when handwritten C++ (every tracked .cc and .h outside generated/, which the generator
# formats itself) is not formatted with the repository's .clang-format. Prints each file that
# differs and the command that fixes it.
#
#   scripts/check-format.sh [CLANG_FORMAT]     (default: clang-format-14, else clang-format)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CF=${1:-}
if [ -z "$CF" ]; then
  CF=$(command -v clang-format-14 || command -v clang-format || true)
fi
if [ -z "$CF" ] || ! command -v "$CF" >/dev/null 2>&1; then
  echo "check-format: no clang-format found (run scripts/setup.sh)" >&2
  exit 2
fi
cd "$ROOT"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  files=$(git ls-files '*.cc' '*.h' | grep -v '^generated/' || true)
else
  files=$(find driver tests -name '*.cc' -o -name '*.h' | sort)
fi
if [ -z "$files" ]; then
  echo "check-format: no C++ files found under $ROOT" >&2
  exit 2
fi
bad=""
n=0
for f in $files; do
  [ -f "$f" ] || continue  # deleted in the working tree, not yet in the index
  n=$((n + 1))
  if ! "$CF" --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad="$bad $f"
  fi
done
if [ -n "$bad" ]; then
  for f in $bad; do
    echo "check-format: $f is not clang-formatted"
  done
  echo "check-format: fix with: $CF -i$bad"
  exit 1
fi
echo "check-format: $n files formatted"
