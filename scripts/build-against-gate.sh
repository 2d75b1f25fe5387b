#!/usr/bin/env bash
# Builds the driver as illumos builds a kernel module, against the REAL illumos-gate headers
# (no driver/compat on the include path), links it with `ld -r` and runs the DDI check on it.
#
#   scripts/build-against-gate.sh --arch amd64|aarch64 --gate DIR [--src DIR] [--out DIR]
#                                 [--cxx CXX] [--ld LD] [--readelf R] [--objdump O]
#                                 [--python PY] [--no-check]
#
# --gate DIR  a tree holding usr/src/uts/common/sys and the architecture's directory
#             (uts/intel for amd64, uts/aarch64 for aarch64: the illumos-gate arm64-gate
#             branch): an illumos-gate checkout, or what scripts/extract-gate-headers.sh
#             extracted. An empty DIR or "-" means "no gate configured": the script prints
#             SKIPPED and exits 77 (CTest's SKIP_RETURN_CODE); a DIR that is not such a tree
#             is an error.
# --src DIR   compile DIR/*.cc with -IDIR only (the files scripts/illumos-gate-overlay.sh placed
#             in usr/src/uts/common/io/scsi/adapters/pvscsi); default: driver/*.cc with
#             -Idriver -Igenerated.
# --out DIR   where objects go (default build/gate/<arch>); the module is DIR/pvscsi.<arch>.o.
#
# The flags are illumos's own for a uts module (usr/src/Makefile.master, usr/src/uts/
# Makefile.uts, uts/intel/Makefile.intel, uts/aarch64/Makefile.aarch64 on arm64-gate), as the
# cw compiler wrapper (usr/src/tools/cw/cw.c) turns them into gcc options:
#   both:    -ffreestanding, ALWAYS_DEFS (-D_KERNEL -D_ELF64 -D_DDI_STRICT -Dsun -D__sun
#            -D__SVR4; amd64 also -D_SYSCALL32 -D_SYSCALL32_IMPL), CCVERBOSE (-v: -Wall
#            -Wextra), CERRWARN (-Werror -Wno-missing-braces -Wno-sign-compare
#            -Wno-unknown-pragmas -Wno-unused-parameter -Wno-missing-field-initializers),
#            CCNOAUTOINLINE, CCNOREORDER, CCNOAGGRESSIVELOOPS, CCINLINESIZE, -fno-builtin
#            -fno-inline-functions (cw), -fno-shrink-wrap, -fno-asynchronous-unwind-tables,
#            STACKPROTECT (-fstack-protector-strong), the include path
#            -I$(UTSBASE)/<arch> -I$(UTSBASE)/common (Makefile.files INC_PATH). A uts/intel or
#            uts/aarch64 module gets no -D_MACHDEP (only platform modules do).
#   amd64:   -m64 -mcmodel=kernel -mno-red-zone -mno-mmx -mno-sse (xmodel=kernel, NO_SIMD),
#            -O2 -fno-strict-aliasing -fno-unit-at-a-time -fno-optimize-sibling-calls (cw
#            for -xO3),
#            -mindirect-branch=thunk-extern -mindirect-branch-register (retpolines).
#   aarch64: -mgeneral-regs-only -mstrict-align -mcmodel=large -mno-outline-atomics
#            -mtls-dialect=trad, -O.
# What differs, and why:
#   - C++: -std=gnu++17 -fno-exceptions -fno-rtti -fno-threadsafe-statics (the gate has no C++
#     rules; these are the driver's kernel-side C++ rules), -fno-unwind-tables (Debian's
#     aarch64 g++ emits .eh_frame by default; the kernel has no unwinder), -nostdinc (nothing from the build
#     host's /usr/include), -fno-pic -fno-pie (Debian's compilers default to PIE; illumos's do
#     not), -fno-common, -U__linux__ -U__linux -U__gnu_linux__ -Ulinux (the illumos compiler
#     does not define them).
#   - amd64 -mstack-protector-guard=global: illumos's gcc reads the guard from the global
#     __stack_chk_guard (i86pc/os/ssp.c), Linux's from %fs:0x28, which is not the guard in the
#     illumos kernel. (aarch64 uses the global guard by default; armv8/os/ssp.c defines it.)
#   - No -D_ASM_INLINES: with it, <sys/atomic.h> includes <asm/atomic.h>, whose inline
#     functions name a parameter `new`, which is not valid C++. The same functions are then
#     the kernel's out-of-line ones.
#   - -Wno-format: the kernel headers declare cmn_err, dev_err, snprintf, ... with
#     __attribute__((format(cmn_err, ...))) (sys/ccompile.h __KPRINTFLIKE), an archetype only
#     illumos's gcc knows; stock gcc warns about the attribute itself on every declaration.
#     The format strings stay checked by the compat build, where these are printf-like.
#   - -Wno-register: <sys/sunddi.h> has a `register` parameter (ddi_no_dma_mctl), which C++17
#     removed.
#   - Not reproducible with stock gcc, so left out: -msave-args (illumos gcc only),
#     -fno-clone-functions (illumos gcc only), -gdwarf-2 and CTF conversion.
# The module links with `ld -r`; in the gate the module's Makefile also records the
# dependency on misc/scsi for krtld (LDFLAGS += -N misc/scsi; illumos ld only, GNU ld's -N is
# something else), which scripts/illumos-gate-overlay.sh writes.
#
# The check (scripts/check-module.py --kernel-provides-runtime) then allows only the DDI
# allowlist, plain __dtrace_probe_* SDT probes, and what illumos's ddi.mapfile exports as
# compiler runtime (__stack_chk_fail, __stack_chk_guard, amd64 __x86_indirect_thunk_*), and
# requires _init/_fini/_info, no C++ runtime, no FP/SIMD registers. Exit: 0 pass, 1 check or
# compile failure, 2 bad usage or gate, 77 skipped (no gate configured).
set -euo pipefail

# shellcheck source=gate-common.sh
. "$(dirname "$0")/gate-common.sh"
usage() {
  sed -n '5,7p' "$0" >&2
  exit 2
}

arch=
gate=
gate_set=false
src=
out=
cxx=
ld=
readelf=
objdump=
python=${PYTHON:-python3}
check=true
while [ $# -gt 0 ]; do
  case "$1" in
    --arch | --gate | --src | --out | --cxx | --ld | --readelf | --objdump | --python)
      [ $# -ge 2 ] || usage
      opt=${1#--}
      val=$2
      shift 2
      case "$opt" in
        arch) arch=$val ;;
        gate) gate=$val; gate_set=true ;;
        src) src=$val ;;
        out) out=$val ;;
        cxx) cxx=$val ;;
        ld) ld=$val ;;
        readelf) readelf=$val ;;
        objdump) objdump=$val ;;
        python) python=$val ;;
      esac
      ;;
    --no-check) check=false; shift ;;
    -h | --help) usage ;;
    *) echo "build-against-gate: unknown argument '$1'" >&2; usage ;;
  esac
done

case "$arch" in
  amd64) archdir=intel; prefix=x86_64-linux-gnu- ;;
  aarch64) archdir=aarch64; prefix=aarch64-linux-gnu- ;;
  *) die "--arch must be amd64 or aarch64" ;;
esac
$gate_set || die "--gate DIR is required (an empty DIR skips)"
if [ -z "$gate" ] || [ "$gate" = - ]; then
  if [ "$arch" = amd64 ]; then how="-DILLUMOS_GATE=/path/to/illumos-gate"; else
    how="-DILLUMOS_GATE_AARCH64=/path/to/arm64-gate-tree"; fi
  echo "SKIPPED: no illumos-gate tree configured for $arch (configure with $how;"
  echo "scripts/extract-gate-headers.sh extracts the headers from a checkout or a mirror)"
  exit 77
fi
uts=$gate/usr/src/uts
[ -f "$uts/common/sys/sunddi.h" ] ||
  die "$gate is not an illumos-gate tree: no usr/src/uts/common/sys/sunddi.h"
[ -d "$uts/$archdir" ] ||
  die "$gate has no usr/src/uts/$archdir (the $arch headers$([ "$arch" = aarch64 ] &&
    echo ': use the arm64-gate branch'))"

# Tools: the architecture's prefixed ones, or the host's on a matching host.
host_arch=$(uname -m)
pick() {
  local given=$1 tool=$2
  if [ -n "$given" ]; then
    command -v "$given" >/dev/null || die "$given not found"
    echo "$given"
    return
  fi
  if command -v "$prefix$tool" >/dev/null; then
    echo "$prefix$tool"
  elif { [ "$arch" = amd64 ] && [ "$host_arch" = x86_64 ]; } ||
    { [ "$arch" = aarch64 ] && [ "$host_arch" = aarch64 ]; }; then
    command -v "$tool" >/dev/null || die "no $tool for $arch (run scripts/setup.sh)"
    echo "$tool"
  else
    die "no $prefix$tool for $arch (run scripts/setup.sh)"
  fi
}
cxx=$(pick "$cxx" g++)
ld=$(pick "$ld" ld)
readelf=$(pick "$readelf" readelf)
objdump=$(pick "$objdump" objdump)

if [ -n "$src" ]; then
  [ -d "$src" ] || die "--src $src is not a directory"
  src=$(cd "$src" && pwd)
  includes=(-I"$src")
else
  src=$root/driver
  includes=(-I"$root/driver" -I"$root/generated")
fi
shopt -s nullglob
sources=("$src"/*.cc)
shopt -u nullglob
[ ${#sources[@]} -gt 0 ] || die "no *.cc in $src"
out=${out:-$root/build/gate/$arch}
mkdir -p "$out" || die "cannot create $out"

common=(
  -std=gnu++17 -nostdinc -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-unwind-tables
  -fno-pic -fno-pie -fno-common
  -U__linux__ -U__linux -U__gnu_linux__ -Ulinux
  -ffreestanding
  -Wall -Wextra -Werror
  -Wno-missing-braces -Wno-sign-compare -Wno-unknown-pragmas -Wno-unused-parameter
  -Wno-missing-field-initializers
  -Wno-format -Wno-register
  -fno-builtin -fno-inline-functions
  -fno-inline-small-functions -fno-inline-functions-called-once -fno-ipa-cp -fno-ipa-icf
  -fno-reorder-functions -fno-reorder-blocks-and-partition
  -fno-aggressive-loop-optimizations --param=max-inline-insns-single=450
  -fno-shrink-wrap -fno-asynchronous-unwind-tables
  -fstack-protector-strong
  -D_KERNEL -D_ELF64 -D_DDI_STRICT -Dsun -D__sun -D__SVR4
)
if [ "$arch" = amd64 ]; then
  archflags=(
    -m64 -mcmodel=kernel -mno-red-zone -mno-mmx -mno-sse
    -O2 -fno-strict-aliasing -fno-unit-at-a-time -fno-optimize-sibling-calls
    -mindirect-branch=thunk-extern -mindirect-branch-register
    -mstack-protector-guard=global
    -D_SYSCALL32 -D_SYSCALL32_IMPL
  )
else
  archflags=(
    -mgeneral-regs-only -mstrict-align -mcmodel=large -mno-outline-atomics
    -mtls-dialect=trad -O
  )
fi
paths=(-I"$uts/$archdir" -I"$uts/common")

objects=()
for s in "${sources[@]}"; do
  o=$out/$(basename "${s%.cc}").o
  echo "build-against-gate: $arch: $(basename "$s")"
  if ! "$cxx" "${common[@]}" "${archflags[@]}" "${includes[@]}" "${paths[@]}" -c "$s" -o "$o"; then
    echo "build-against-gate: $arch: FAILED to compile $s against $gate" >&2
    exit 1
  fi
  objects+=("$o")
done
module=$out/pvscsi.$arch.o
"$ld" -r -o "$module" "${objects[@]}" || { echo "build-against-gate: ld -r failed" >&2; exit 1; }
echo "build-against-gate: $arch: linked $module (ld -r; in the gate: LDFLAGS += -N misc/scsi)"

$check || exit 0
# The probes must be plain C symbols, or the kernel runtime linker makes no probes of them.
probes=$("$readelf" -W -s "$module" | awk '$7 == "UND" && $8 ~ /__dtrace_probe_/ { print $8 }' |
  sort -u)
echo "build-against-gate: $arch: SDT probe references:" "$(echo "$probes" | tr '\n' ' ')"
if [ -z "$probes" ] || echo "$probes" | grep -qv '^__dtrace_probe_'; then
  echo "build-against-gate: $arch: FAILED: SDT probes missing or C++-mangled" >&2
  exit 1
fi
exec "$python" "$root/scripts/check-module.py" --allowlist "$root/tests/suites/module/ddi-allowlist.txt" \
  --arch "$arch" --kernel-provides-runtime --readelf "$readelf" --objdump "$objdump" "$module"
