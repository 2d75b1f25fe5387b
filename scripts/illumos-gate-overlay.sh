#!/usr/bin/env bash
# Drops this driver into an illumos-gate tree in place of the 2022 C driver:
#
#   scripts/illumos-gate-overlay.sh [--dry-run] GATE
#
# GATE is the gate root (the directory holding usr/src). The script
#   - replaces usr/src/uts/common/io/scsi/adapters/pvscsi/ with the driver's sources
#     (driver/*.cc, driver/*.h), the generated headers they include (generated/), and
#     pvscsi.conf; the old pvscsi.c, pvscsi.h, pvscsi_var.h and the THIRDPARTYLICENSE files of
#     the VMware-derived header go (nothing of it remains);
#   - replaces usr/src/man/man4d/pvscsi.4d;
#   - writes usr/src/uts/intel/pvscsi/Makefile with a C++ compile rule (the gate's uts
#     makefiles have none) and, when the tree has usr/src/uts/aarch64 (the arm64-gate branch),
#     usr/src/uts/aarch64/pvscsi/Makefile, adding pvscsi to DRV_KMODS of
#     uts/aarch64/Makefile.aarch64;
#   - sets PVSCSI_OBJS in usr/src/uts/common/Makefile.files to the driver's objects;
#   - updates usr/src/pkg/manifests/driver-storage-pvscsi.p5m: installs kernel/drv/pvscsi.conf,
#     drops the THIRDPARTYLICENSE license action.
# Running it again changes nothing more (idempotent). --dry-run lists what it would change.
# Then, in the gate: `cd usr/src/uts/intel/pvscsi && dmake` (or nightly); to compile the
# placed files against the gate's headers outside the gate:
#   scripts/build-against-gate.sh --arch amd64 --gate GATE \
#       --src GATE/usr/src/uts/common/io/scsi/adapters/pvscsi
set -euo pipefail

# shellcheck source=gate-common.sh
. "$(dirname "$0")/gate-common.sh"

dry=false
if [ "${1:-}" = --dry-run ]; then
  dry=true
  shift
fi
[ $# -eq 1 ] || die "usage: $0 [--dry-run] GATE (the illumos-gate root, holding usr/src)"
gate=$1
[ -d "$gate" ] || die "$gate is not a directory"
gate=$(cd "$gate" && pwd)
uts=$gate/usr/src/uts
for need in "$uts/common/Makefile.files" "$uts/intel/Makefile.intel" "$uts/common/io/scsi"; do
  [ -e "$need" ] || die "$gate is not an illumos-gate tree: no ${need#"$gate"/}"
done
grep -q '^PVSCSI_OBJS[[:space:]]*[+]*=' "$uts/common/Makefile.files" ||
  die "${uts#"$gate"/}/common/Makefile.files has no PVSCSI_OBJS (not a gate with the pvscsi driver?)"

changed=0
note() {
  echo "illumos-gate-overlay: $*"
  changed=$((changed + 1))
}
# put SRC DEST: copy when DEST differs.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    return
  fi
  note "${2#"$gate"/}"
  $dry && return
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2"
}
# write DEST < text: replace DEST when the text differs.
write() {
  local tmp
  tmp=$(mktemp)
  cat >"$tmp"
  put "$tmp" "$1"
  rm -f "$tmp"
}

# The files: the driver's sources and headers, and the generated headers they include.
srcdir=$uts/common/io/scsi/adapters/pvscsi
files=()
for f in "$root"/driver/*.cc "$root"/driver/*.h; do
  files+=("$f")
done
queue=("${files[@]}")
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}
  queue=("${queue[@]:1}")
  while IFS= read -r inc; do
    g=$root/generated/$inc
    if [ -f "$g" ] && [[ " ${files[*]} " != *" $g "* ]]; then
      files+=("$g")
      queue+=("$g")
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
objs=()
for f in "$root"/driver/*.cc; do
  b=$(basename "$f" .cc)
  objs+=("$b.o")
done

keep=" pvscsi.conf "
for f in "${files[@]}"; do
  put "$f" "$srcdir/$(basename "$f")"
  keep+="$(basename "$f") "
done
put "$root/driver/pvscsi.conf" "$srcdir/pvscsi.conf"
# What the 2022 driver had there and this one does not (pvscsi.c, pvscsi_var.h, the license).
for f in "$srcdir"/*; do
  [ -e "$f" ] || continue
  if [[ "$keep" != *" $(basename "$f") "* ]]; then
    note "remove ${f#"$gate"/}"
    $dry || rm -rf "$f"
  fi
done
put "$root/driver/pvscsi.4d" "$gate/usr/src/man/man4d/pvscsi.4d"

# PVSCSI_OBJS in uts/common/Makefile.files.
mf=$uts/common/Makefile.files
want="PVSCSI_OBJS = ${objs[*]}"
if ! grep -qx "$want" "$mf"; then
  note "${mf#"$gate"/}: $want"
  if ! $dry; then
    awk -v want="$want" '
      /^PVSCSI_OBJS[ \t]*[+]?=/ { skip = 1; if (!done) { print want; done = 1 } }
      skip { if ($0 ~ /\\$/) next; skip = 0; next }
      { print }' "$mf" >"$mf.tmp" && mv "$mf.tmp" "$mf"
  fi
fi

# The module makefiles: the gate's uts makefiles have no C++ rule, so each carries one.
makefile() { # makefile ARCHDIR
  local a=$1
  cat <<EOF
#
# This file and its contents are supplied under the terms of the
# Common Development and Distribution License ("CDDL"), version 1.0.
# You may only use this file in accordance with the terms of version
# 1.0 of the CDDL.
#
# A full copy of the text of the CDDL should have accompanied this
# source.  A copy of the CDDL is also available via the Internet at
# http://www.illumos.org/license/CDDL.
#

#
# pvscsi: the VMware paravirtual SCSI HBA driver, written in freestanding
# C++17 (usr/src/uts/common/io/scsi/adapters/pvscsi).
#

UTSBASE=	\$(SRC)/uts

MODULE=		pvscsi
OBJECTS=	\$(PVSCSI_OBJS:%=\$(OBJS_DIR)/%)
ROOTMODULE=	\$(ROOT_DRV_DIR)/\$(MODULE)
CONF_SRCDIR=	\$(UTSBASE)/common/io/scsi/adapters/pvscsi

include		\$(UTSBASE)/$a/Makefile.$a

ALL_TARGET=	\$(BINARY) \$(CONFMOD)
INSTALL_TARGET=	\$(BINARY) \$(ROOTMODULE) \$(ROOT_CONFFILE)

LDFLAGS	+=	-N misc/scsi

#
# C++: the kernel C flags, less -D_ASM_INLINES (<asm/atomic.h> names a
# parameter 'new', which is not C++), in C++17 with the driver's kernel-side
# rules: no exceptions, RTTI, thread-safe statics or unwind tables.
# -Wno-register: <sys/sunddi.h> has a 'register' parameter, removed in C++17.
# No \$(CTFCONVERT_O): ctfconvert converts C objects only, and ctfmerge
# accepts objects built from no .c file without CTF (ctf_has_c_source).
#
CSTD=		-_gcc=-std=gnu++17
PVSCSI_CCFLAGS=	\$(CFLAGS:-D_ASM_INLINES=) \\
		-_gcc=-fno-exceptions -_gcc=-fno-rtti \\
		-_gcc=-fno-threadsafe-statics -_gcc=-fno-unwind-tables \\
		-_gcc=-Wno-register

\$(OBJS_DIR)/%.o:	\$(UTSBASE)/common/io/scsi/adapters/pvscsi/%.cc
	\$(CCC) \$(PVSCSI_CCFLAGS) \$(CPPFLAGS) -c -o \$@ \$<

.KEEP_STATE:

def:		\$(DEF_DEPS)

all:		\$(ALL_DEPS)

clean:		\$(CLEAN_DEPS)

clobber:	\$(CLOBBER_DEPS)

install:	\$(INSTALL_DEPS)

include		\$(UTSBASE)/$a/Makefile.targ
EOF
}
write "$uts/intel/pvscsi/Makefile" < <(makefile intel)
if [ -d "$uts/aarch64" ] && [ -f "$uts/aarch64/Makefile.aarch64" ]; then
  write "$uts/aarch64/pvscsi/Makefile" < <(makefile aarch64)
  ma=$uts/aarch64/Makefile.aarch64
  if ! grep -Eq '^DRV_KMODS[[:space:]]*\+=[[:space:]]*pvscsi[[:space:]]*$' "$ma"; then
    note "${ma#"$gate"/}: DRV_KMODS += pvscsi"
    if ! $dry; then
      last=$(grep -n '^DRV_KMODS[[:space:]]*+=' "$ma" | tail -1 | cut -d: -f1)
      if [ -n "$last" ]; then
        sed -i "${last}a DRV_KMODS\t+= pvscsi" "$ma"
      else
        printf 'DRV_KMODS\t+= pvscsi\n' >>"$ma"
      fi
    fi
  fi
fi

# The package manifest: the .conf file is installed; the third-party license is gone.
p5m=$gate/usr/src/pkg/manifests/driver-storage-pvscsi.p5m
if [ -f "$p5m" ]; then
  tmp=$(mktemp)
  awk '
    /^license .*pvscsi\/THIRDPARTYLICENSE/ { skip = ($0 ~ /\\$/); next }
    skip { skip = ($0 ~ /\\$/); next }
    /^file path=kernel\/drv\/pvscsi\.conf / { next }
    { print }
    /^file path=kernel\/drv\/\$\(ARCH64\)\/pvscsi / {
      print "file path=kernel/drv/pvscsi.conf group=sys preserve=true"
    }' "$p5m" >"$tmp"
  put "$tmp" "$p5m"
  rm -f "$tmp"
else
  echo "illumos-gate-overlay: note: no ${p5m#"$gate"/}; no package manifest updated" >&2
fi

if [ $changed -eq 0 ]; then
  echo "illumos-gate-overlay: $gate is up to date"
elif $dry; then
  echo "illumos-gate-overlay: $changed changes would be made (dry run)"
else
  echo "illumos-gate-overlay: $changed changes made in $gate"
fi
