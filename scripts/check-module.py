#!/usr/bin/env python3
"""DDI compliance check for an illumos kernel module object (a relocatable ELF from `ld -r`).

Usage:
    python3 scripts/check-module.py --allowlist tests/suites/module/ddi-allowlist.txt \
        [--arch amd64|aarch64] [--kernel-provides-runtime] OBJECT...

The object fails the check when it
  - references an undefined symbol that is not in the allowlist (SDT probes, `__dtrace_probe_*`,
    are allowed as a pattern; a probe with a C++-mangled name is an error: the kernel runtime
    linker makes probes of plain `__dtrace_probe_*` references only);
  - references C++ runtime or compiler support (__cxa_*, __gxx_personality*, _Unwind_*, typeinfo,
    operator new/delete, libgcc routines, __stack_chk_* unless allowed) or the C library (unless
    the allowlist names the function as an illumos kernel function, e.g. memcpy, strlen);
  - has static constructors or destructors (.init_array, .ctors, .fini_array, .dtors), exception
    tables (.gcc_except_table, a non-empty .eh_frame) or thread-local storage;
  - has GOT or TLS relocations (position-independent or thread-local code);
  - uses floating-point or SIMD registers (found by disassembly);
  - does not define _init, _fini and _info as global functions with C linkage, or has no
    modlinkage object.
With --kernel-provides-runtime (the build with illumos's own flags, -fstack-protector-strong and
on amd64 -mindirect-branch=thunk-extern), the compiler-support symbols the illumos kernel itself
exports to modules are allowed too: __stack_chk_fail and __stack_chk_guard, and on amd64 the
retpoline thunks __x86_indirect_thunk and __x86_indirect_thunk_<register>
(usr/src/uts/common/mapfiles/ddi.mapfile lists them; i86pc/os/ssp.c and, on arm64-gate,
armv8/os/ssp.c define the guard).
Every finding names the symbol and where it is used (section and function). A summary follows:
object size by section and the number of imported symbols, per object (so per architecture).

The allowlist has one symbol a line: `NAME SECTION # justification`, where SECTION is the manual
section of the documented interface (9F for functions, 9S for data such as mod_driverops). Some
names may never be allowed (thread_create, id32_*, CPU, curcpup, membar_*, ncpus, hz,
devfs_clean, i_ddi_*): they are private to the kernel or not DDI; the allowlist is rejected if it
names one.

Exit status: 0 when every object passes, 1 when any check fails, 2 on bad input (unreadable
allowlist or object, not a relocatable ELF object, missing binutils).

Standard library only; uses the architecture's binutils (readelf, objdump) and c++filt.
"""

import argparse
import fnmatch
import re
import shutil
import subprocess
import sys

# ---------------------------------------------------------------------------------------------
# Policy tables

ARCHES = {
    # arch: (ELF machine as readelf names it, binutils prefixes to try in order)
    "amd64": ("Advanced Micro Devices X86-64", ["x86_64-linux-gnu-", ""]),
    "aarch64": ("AArch64", ["aarch64-linux-gnu-", "aarch64-linux-", ""]),
}

# Never allowed, not even through the allowlist: private kernel interfaces, or not DDI at all.
NEVER_ALLOWED = [
    ("thread_create", "a private kernel interface; use ddi_taskq_*(9F) or timeout(9F)"),
    ("id32_*", "private kernel interfaces; keep a table or use ddi_soft_state(9F)"),
    ("CPU", "the current CPU is not a DDI interface"),
    ("curcpup", "the current CPU is not a DDI interface"),
    ("membar_*", "memory barriers are not DDI; use ddi_dma_sync(9F) on shared memory"),
    ("ncpus", "not a DDI interface"),
    ("hz", "not a DDI interface; use drv_usectohz(9F)"),
    ("devfs_clean", "a private kernel interface"),
    ("i_ddi_*", "implementation-private DDI functions"),
]

# The C++ runtime and compiler support: the illumos kernel provides none of it.
RUNTIME_PATTERNS = [
    ("__cxa_*", "C++ runtime support (__cxa_*)"),
    ("__gxx_personality*", "C++ exception personality routine"),
    ("__gcc_personality*", "exception personality routine"),
    ("_Unwind_*", "unwinder (exceptions)"),
    ("_ZTI*", "C++ typeinfo (RTTI)"),
    ("_ZTS*", "C++ typeinfo name (RTTI)"),
    ("_ZTVN10__cxxabiv1*", "C++ vtable for type_info (RTTI)"),
    ("_ZN10__cxxabiv1*", "C++ ABI runtime support"),
    ("_Znw*", "C++ operator new"),
    ("_Zna*", "C++ operator new[]"),
    ("_Zdl*", "C++ operator delete"),
    ("_Zda*", "C++ operator delete[]"),
    ("_ZSt*", "C++ standard library"),
    ("_ZNSt*", "C++ standard library"),
    ("_ZNKSt*", "C++ standard library"),
    ("_ZN9__gnu_cxx*", "C++ standard library"),
    ("__dso_handle", "C++ static destructor registration"),
    ("__stack_chk_*", "stack protector runtime"),
    ("__tls_get_addr", "thread-local storage runtime"),
    ("_GLOBAL_OFFSET_TABLE_", "position-independent code (GOT); build with -fno-pic"),
    ("__aarch64_*", "libgcc out-of-line atomics; build with -mno-outline-atomics"),
    ("__*di[0-9]", "libgcc arithmetic helper"),
    ("__*ti[0-9]", "libgcc arithmetic helper"),
    ("__*sf[0-9]", "libgcc soft-float helper"),
    ("__*df[0-9]", "libgcc soft-float helper"),
    ("__*tf[0-9]", "libgcc soft-float helper"),
    ("__*xf[0-9]", "libgcc soft-float helper"),
    ("__*si[0-9]", "libgcc helper"),
    ("__popcount*", "libgcc helper"),
    ("__clz*", "libgcc helper"),
    ("__ctz*", "libgcc helper"),
    ("__ffs*", "libgcc helper"),
    ("__bswap*", "libgcc helper"),
    ("__sync_*", "libgcc atomic helper"),
    ("__atomic_*", "libatomic helper"),
]
# Runtime names the allowlist may still admit (illumos has stack-protector support).
RUNTIME_ALLOWABLE = ["__stack_chk_*"]

# C library functions: a violation unless the allowlist names them as illumos kernel functions.
LIBC_NAMES = set(
    """
    abort abs assert atexit atof atoi atol bcmp bcopy bsearch bzero calloc clock close exit
    fclose fflush fgets fopen fprintf fputs fread free fscanf fwrite getenv index isalnum isalpha
    isdigit isspace isxdigit labs malloc memchr memcmp memcpy memmove memset open perror printf
    putchar puts qsort rand read realloc rindex scanf snprintf sprintf sscanf strcasecmp strcat
    strchr strcmp strcpy strcspn strdup strerror strlcat strlcpy strlen strncasecmp strncat
    strncmp strncpy strndup strnlen strpbrk strrchr strspn strstr strtok strtol strtoll strtoul
    strtoull time tolower toupper vfprintf vprintf vsnprintf vsprintf write
    errno __errno_location ___errno __assert_fail __assert __stack_chk_fail_local
    __memcpy_chk __memset_chk __strcpy_chk __sprintf_chk __snprintf_chk __printf_chk
    __fprintf_chk __vsnprintf_chk __fortify_fail __libc_start_main
    """.split()
)

ALLOWED_PATTERNS = ["__dtrace_probe_*"]  # illumos SDT probes link this way

# An SDT probe declared with C++ linkage: `__dtrace_probe_<name>` inside a mangled name.
MANGLED_PROBE = re.compile(r"^_Z.*\d__dtrace_probe_\w+")

# What the illumos kernel provides to modules as compiler runtime (ddi.mapfile), allowed with
# --kernel-provides-runtime: {arch or None for all: [(pattern, what)]}.
KERNEL_RUNTIME = {
    None: [("__stack_chk_fail", "stack protector failure handler"),
           ("__stack_chk_guard", "stack protector guard")],
    "amd64": [("__x86_indirect_thunk", "retpoline thunk"),
              ("__x86_indirect_thunk_r[abcds][xip]", "retpoline thunk"),
              ("__x86_indirect_thunk_r[0-9]", "retpoline thunk"),
              ("__x86_indirect_thunk_r1[0-5]", "retpoline thunk")],
}

# Sections a kernel module must not have.
FORBIDDEN_SECTIONS = [
    (".init_array*", "static constructors (.init_array): the module loader does not run them"),
    (".preinit_array*", "static constructors (.preinit_array)"),
    (".ctors*", "static constructors (.ctors): the module loader does not run them"),
    (".fini_array*", "static destructors (.fini_array): the module loader does not run them"),
    (".dtors*", "static destructors (.dtors)"),
    (".gcc_except_table*", "exception table (.gcc_except_table): build with -fno-exceptions"),
    (".eh_frame_hdr", "exception/unwind table header (.eh_frame_hdr)"),
    (".eh_frame", "exception/unwind table (.eh_frame with content): build with "
     "-fno-exceptions -fno-asynchronous-unwind-tables -fno-unwind-tables"),
    (".ARM.exidx*", "exception/unwind index table (.ARM.exidx)"),
    (".ARM.extab*", "exception table (.ARM.extab)"),
    (".tdata*", "thread-local storage (.tdata): the kernel has no TLS for modules"),
    (".tbss*", "thread-local storage (.tbss): the kernel has no TLS for modules"),
]

ENTRY_POINTS = ["_init", "_fini", "_info"]

# Relocation types of position-independent (GOT) or thread-local code.
PIC_TLS_RELOC = re.compile(r"GOT|TLS|TPOFF|DTPMOD|DTPOFF|TPREL|DTPREL")

# Floating-point / SIMD register use, on operands of disassembled instructions.
FP_X86_REG = re.compile(r"%(?:[xyz]mm\d+|mm\d|st(?:\(\d\))?|k[0-7]|mxcsr)\b")
FP_X86_MNEMONIC = re.compile(r"^(?:f[a-z0-9]+|emms|femms|ldmxcsr|stmxcsr|vzeroupper|vzeroall)$")
FP_ARM_REG = re.compile(r"(?<![\w.#])(?:[vqdshbz](?:[12]?[0-9]|3[01])|p(?:1[0-5]|[0-9])|fpcr|fpsr)"
                        r"(?![\w])")

MAX_REFS = 5  # references listed per symbol


class InputError(Exception):
    """Bad input: the message is printed as is and the exit status is 2."""


# ---------------------------------------------------------------------------------------------
# The allowlist


def load_allowlist(path):
    """Returns {name: (section, justification, line)}; raises InputError on a malformed file."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the allowlist: {e.strerror}") from None
    entries = {}
    errors = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        body, hash_, comment = line.partition("#")
        fields = body.split()
        comment = comment.strip()
        if len(fields) != 2:
            errors.append(f"{where}: expected 'NAME SECTION # justification', got '{line}'")
            continue
        name, section = fields
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            errors.append(f"{where}: '{name}' is not a symbol name")
            continue
        if not re.fullmatch(r"9[FS]", section):
            errors.append(f"{where}: '{name}': manual section '{section}' is not 9F or 9S; only "
                          "documented DDI/DKI/SCSA interfaces may be allowed")
            continue
        if not hash_ or not comment:
            errors.append(f"{where}: '{name}' has no justification comment ('# why')")
            continue
        if name in entries:
            errors.append(f"{where}: '{name}' is listed twice (first at line {entries[name][2]})")
            continue
        never = never_allowed(name)
        if never:
            errors.append(f"{where}: '{name}' may not be allowed: {never}")
            continue
        runtime = runtime_kind(name)
        if runtime and not any(fnmatch.fnmatchcase(name, p) for p in RUNTIME_ALLOWABLE):
            errors.append(f"{where}: '{name}' may not be allowed: {runtime}")
            continue
        entries[name] = (section, comment, lineno)
    if errors:
        raise InputError("invalid allowlist:\n  " + "\n  ".join(errors))
    return entries


def never_allowed(name):
    for pattern, why in NEVER_ALLOWED:
        if fnmatch.fnmatchcase(name, pattern):
            return why
    return None


def runtime_kind(name):
    for pattern, what in RUNTIME_PATTERNS:
        if fnmatch.fnmatchcase(name, pattern):
            return what
    return None


# ---------------------------------------------------------------------------------------------
# Reading the object with binutils


def find_tool(arch, tool, override=None):
    if override:
        if shutil.which(override):
            return override
        raise InputError(f"{tool}: '{override}' not found")
    for prefix in ARCHES[arch][1]:
        path = shutil.which(prefix + tool)
        if path:
            return path
    names = " or ".join(p + tool for p in ARCHES[arch][1])
    raise InputError(f"no {names} for {arch}: install the architecture's binutils "
                     "(scripts/setup.sh)")


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise InputError(f"cannot run {cmd[0]}: {e.strerror}") from None
    if p.returncode != 0:
        raise InputError(f"{' '.join(cmd)} failed: {p.stderr.strip()}")
    return p.stdout


class Section:
    def __init__(self, index, name, type_, offset, size, flags, info):
        self.index, self.name, self.type, self.offset = index, name, type_, offset
        self.size, self.flags, self.info = size, flags, info


class Symbol:
    def __init__(self, index, value, size, type_, bind, ndx, name):
        self.index, self.value, self.size, self.type = index, value, size, type_
        self.bind, self.ndx, self.name = bind, ndx, name

    @property
    def undefined(self):
        return self.ndx == "UND"


SECTION_RE = re.compile(r"^\s*\[\s*(\d+)\]\s+(?:(\S+)\s+)?(\S+)\s+([0-9a-fA-F]{16})\s+"
                        r"([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(\S*?)\s*(\d+)\s+"
                        r"(\d+)\s+(\d+)\s*$")
SYMBOL_RE = re.compile(r"^\s*(\d+):\s+([0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+|\d+)\s+(\S+)\s+(\S+)\s+"
                       r"(\S+)(?:\s+\[[^\]]*\])?\s+(\S+)\s?(.*)$")
RELOC_HEADER_RE = re.compile(r"^Relocation section '([^']*)' at offset (0x[0-9a-fA-F]+)")
RELOC_RE = re.compile(r"^([0-9a-fA-F]{8,16})\s+([0-9a-fA-F]{8,16})\s+(\S+)")


class ElfObject:
    """What the checks need from one object, read through readelf."""

    def __init__(self, path, readelf):
        self.path = path
        header = run([readelf, "-W", "-h", path])
        fields = dict(
            (k.strip(), v.strip())
            for k, _, v in (ln.partition(":") for ln in header.splitlines() if ":" in ln))
        self.machine = fields.get("Machine", "?")
        self.elf_type = fields.get("Type", "?")
        self.elf_class = fields.get("Class", "?")
        self.sections = self._sections(run([readelf, "-W", "-S", path]))
        self.symbols = self._symbols(run([readelf, "-W", "-s", path]))
        self.relocs = self._relocs(run([readelf, "-W", "-r", path]))
        # A readelf whose output this parser misreads must not make the checks pass silently.
        want = fields.get("Number of section headers", "").split(" ")[0]
        if not want.isdigit() or int(want) != len(self.sections):
            raise InputError(f"{path}: read {len(self.sections)} section headers of "
                             f"'{want}' from {readelf}: unexpected readelf output")
        if self.symbols.get(0) is None or len(self.symbols) != self._symtab_entries:
            raise InputError(f"{path}: read {len(self.symbols)} of {self._symtab_entries} "
                             f".symtab entries from {readelf}: unexpected readelf output")

    @staticmethod
    def _sections(text):
        sections = {}
        for line in text.splitlines():
            m = SECTION_RE.match(line)
            if not m:
                continue
            index, name, type_, _addr, off, size, _es, flags, _lk, info, _al = m.groups()
            sections[int(index)] = Section(int(index), name or "", type_, int(off, 16),
                                           int(size, 16), flags, int(info))
        return sections

    def _symbols(self, text):
        symbols = {}
        table = None
        self._symtab_entries = 0
        for line in text.splitlines():
            if line.startswith("Symbol table"):
                table = line.split("'")[1] if "'" in line else None
                m = re.search(r"contains (\d+) entr", line)
                if table == ".symtab" and m:
                    self._symtab_entries = int(m.group(1))
                continue
            if table != ".symtab":
                continue
            m = SYMBOL_RE.match(line)
            if not m:
                continue
            index = int(m.group(1))
            size = m.group(3)
            symbols[index] = Symbol(index, int(m.group(2), 16),
                                    int(size, 16) if size.startswith("0x") else int(size),
                                    m.group(4), m.group(5), m.group(7), m.group(8).strip())
        return symbols

    def _relocs(self, text):
        """Returns [(target section index, offset, symbol index, relocation type)]."""
        by_offset = {s.offset: s for s in self.sections.values() if s.type in ("RELA", "REL")}
        relocs = []
        target = None
        for line in text.splitlines():
            h = RELOC_HEADER_RE.match(line)
            if h:
                sec = by_offset.get(int(h.group(2), 16))
                target = sec.info if sec else None
                continue
            m = RELOC_RE.match(line)
            if m and target is not None:
                relocs.append((target, int(m.group(1), 16), int(m.group(2), 16) >> 32,
                               m.group(3)))
        return relocs


# ---------------------------------------------------------------------------------------------
# The checks


class Demangler:
    def __init__(self, names):
        self.map = {}
        tool = shutil.which("c++filt")
        mangled = sorted(n for n in names if n.startswith("_Z"))
        if tool and mangled:
            p = subprocess.run([tool], input="\n".join(mangled) + "\n", capture_output=True,
                               text=True, check=False)
            out = p.stdout.splitlines()
            if p.returncode == 0 and len(out) == len(mangled):
                self.map = dict(zip(mangled, out))

    def __call__(self, name):
        d = self.map.get(name)
        return f"{name} ({d})" if d and d != name else name

    def plain(self, name):
        return self.map.get(name, name)


class Checker:
    def __init__(self, obj, arch, allowlist, allowlist_path, objdump, kernel_runtime=False):
        self.obj, self.arch, self.allowlist = obj, arch, allowlist
        self.kernel_runtime = kernel_runtime
        self.allowlist_path, self.objdump = allowlist_path, objdump
        self.errors = []
        self.demangle = Demangler([s.name for s in obj.symbols.values()])

    def error(self, msg):
        self.errors.append(msg)

    # Where a relocation at (section, offset) sits: the function or object that contains it.
    def location(self, secidx, offset):
        sec = self.obj.sections.get(secidx)
        secname = sec.name if sec else f"section {secidx}"
        best = None
        for s in self.obj.symbols.values():
            if s.ndx != str(secidx) or s.type not in ("FUNC", "OBJECT"):
                continue
            if s.value <= offset < s.value + max(s.size, 1):
                best = s
                break
            if s.value <= offset and (best is None or s.value > best.value):
                best = s
        if best is None:
            return f"{secname}+{offset:#x}"
        kind = "function" if best.type == "FUNC" else "object"
        return f"{secname} in {kind} {self.demangle(best.name)} (+{offset - best.value:#x})"

    def references(self, symidx):
        refs = [self.location(t, off) for t, off, s, _type in self.obj.relocs if s == symidx]
        if not refs:
            return "no relocation refers to it"
        more = f" and {len(refs) - MAX_REFS} more" if len(refs) > MAX_REFS else ""
        return "referenced from " + "; ".join(refs[:MAX_REFS]) + more

    def check_elf(self):
        want = ARCHES[self.arch][0]
        if self.obj.machine != want:
            raise InputError(f"{self.obj.path}: machine is '{self.obj.machine}', not {self.arch}")
        if self.obj.elf_class != "ELF64":
            raise InputError(f"{self.obj.path}: class '{self.obj.elf_class}', not ELF64")
        if not self.obj.elf_type.startswith("REL"):
            raise InputError(f"{self.obj.path}: ELF type '{self.obj.elf_type}' is not a "
                             "relocatable object (link the module with ld -r)")

    def check_imports(self):
        for s in self.obj.symbols.values():
            if s.ndx == "COM":
                self.error(f"common symbol '{s.name}': build with -fno-common")
            if not s.undefined or not s.name:
                continue
            name = s.name
            shown = self.demangle(name)
            if self.kernel_provided(name):
                continue
            if MANGLED_PROBE.match(name):
                self.error(f"SDT probe with C++ linkage: '{shown}'; the kernel runtime linker "
                           "makes probes of plain __dtrace_probe_* references only: declare "
                           "the probe function extern \"C\" in the namespace of the probe site; "
                           f"{self.references(s.index)}")
                continue
            runtime = runtime_kind(name)
            if runtime and not (name in self.allowlist and any(
                    fnmatch.fnmatchcase(name, p) for p in RUNTIME_ALLOWABLE)):
                self.error(f"C++ runtime/compiler support: '{shown}' is {runtime}; the illumos "
                           f"kernel has none; {self.references(s.index)}")
                continue
            if any(fnmatch.fnmatchcase(name, p) for p in ALLOWED_PATTERNS):
                continue
            never = never_allowed(name)
            if never:
                self.error(f"forbidden symbol '{shown}' ({never}); {self.references(s.index)}")
                continue
            if name in self.allowlist:
                continue
            if name in LIBC_NAMES:
                self.error(f"C library function '{shown}' is not in the allowlist "
                           f"({self.allowlist_path}) as an illumos kernel function; "
                           f"{self.references(s.index)}")
                continue
            self.error(f"undefined symbol '{shown}' is not in the DDI allowlist "
                       f"({self.allowlist_path}); {self.references(s.index)}")
        # RTTI or other runtime data the object defines itself.
        for s in self.obj.symbols.values():
            if not s.undefined and s.name and fnmatch.fnmatchcase(s.name, "_ZT[IS]*"):
                self.error(f"C++ typeinfo '{self.demangle(s.name)}' is defined: build with "
                           "-fno-rtti")

    def kernel_provided(self, name):
        if not self.kernel_runtime:
            return False
        pats = KERNEL_RUNTIME[None] + KERNEL_RUNTIME.get(self.arch, [])
        return any(fnmatch.fnmatchcase(name, p) for p, _what in pats)

    def check_sections(self):
        for sec in self.obj.sections.values():
            for pattern, why in FORBIDDEN_SECTIONS:
                if not fnmatch.fnmatchcase(sec.name, pattern):
                    continue
                if sec.name == ".eh_frame" and sec.size == 0:
                    continue
                users = self.section_users(sec.index)
                extra = f"; it refers to {', '.join(users)}" if users else ""
                self.error(f"section {sec.name} ({sec.size} bytes): {why}{extra}")
                break

    def section_users(self, secidx):
        """The functions a table section points at (the constructors in .init_array, ...)."""
        names = []
        for target, _off, symidx, _type in self.obj.relocs:
            if target != secidx:
                continue
            s = self.obj.symbols.get(symidx)
            if s is None:
                continue
            if s.type == "SECTION":
                funcs = [f for f in self.obj.symbols.values()
                         if f.type == "FUNC" and f.ndx == s.ndx]
                names.extend(self.demangle(f.name) for f in funcs)
            else:
                names.append(self.demangle(s.name))
        unique = list(dict.fromkeys(names))
        return unique[:MAX_REFS] + ([f"{len(unique) - MAX_REFS} more"]
                                    if len(unique) > MAX_REFS else [])

    def check_relocations(self):
        """GOT and TLS relocations: position-independent or thread-local code, which the kernel
        runtime linker does not resolve for modules. One error per symbol."""
        uses = {}
        for target, off, symidx, type_ in self.obj.relocs:
            if not PIC_TLS_RELOC.search(type_):
                continue
            sec = self.obj.sections.get(target)
            if sec is not None and "A" not in sec.flags:
                continue  # debug information may refer to anything
            uses.setdefault(symidx, []).append((type_, target, off))
        for symidx, refs in uses.items():
            types = sorted({t for t, _, _ in refs})
            kind = ("thread-local storage" if any(re.search("TLS|TPOFF|DTP", t) for t in types)
                    else "position-independent code (GOT)")
            sym = self.obj.symbols.get(symidx)
            name = self.demangle(sym.name) if sym and sym.name else "?"
            where = "; ".join(self.location(t, o) for _, t, o in refs[:MAX_REFS])
            more = f" and {len(refs) - MAX_REFS} more" if len(refs) > MAX_REFS else ""
            self.error(f"relocation {'/'.join(types)} ({kind}) against '{name}' at {where}{more}: "
                       "build with -fno-pic -fno-pie and without thread_local")

    def check_entry_points(self):
        defined = [s for s in self.obj.symbols.values() if not s.undefined and s.name]
        for ep in ENTRY_POINTS:
            exact = [s for s in defined if s.name == ep]
            if exact:
                s = exact[0]
                if s.type != "FUNC" or s.bind != "GLOBAL":
                    self.error(f"entry point {ep} is a {s.bind} {s.type}, not a GLOBAL function: "
                               f"define it as extern \"C\" int {ep}(...) with external linkage")
                continue
            mangled = [s for s in defined
                       if s.name.startswith("_Z") and self.demangle.plain(s.name).split("(")[0]
                       .split("::")[-1] == ep]
            if mangled:
                self.error(f"entry point {ep} has C++ linkage ({self.demangle(mangled[0].name)}): "
                           f"declare it extern \"C\" so the module loader finds '{ep}'")
            else:
                self.error(f"entry point {ep} is not defined: the module loader calls {ep}(9E)")
        modlinkage = [s for s in defined if s.type == "OBJECT"
                      and self.demangle.plain(s.name).split("::")[-1].endswith("modlinkage")]
        if not modlinkage:
            self.error("no modlinkage object: define a struct modlinkage (modlinkage(9S)) for "
                       "mod_install(9F), mod_remove(9F) and mod_info(9F)")

    def check_fp(self):
        text = run([self.objdump, "-d", "-w", "--no-show-raw-insn", self.obj.path])
        section, function = "?", "?"
        hits = {}
        for line in text.splitlines():
            if line.startswith("Disassembly of section "):
                section = line[len("Disassembly of section "):].rstrip(":")
                continue
            m = re.match(r"^[0-9a-fA-F]+ <(.+)>:$", line)
            if m:
                function = m.group(1)
                continue
            m = re.match(r"^\s*([0-9a-fA-F]+):\s+(.*)$", line)
            if not m:
                continue
            # Comments: "//" on aarch64 (where "#" starts an immediate), "#" on amd64.
            insn = m.group(2).split("//" if self.arch == "aarch64" else "#")[0]
            insn = " ".join(re.sub(r"<[^>]*>", "", insn).split())
            if not insn:
                continue
            parts = insn.split(None, 1)
            mnemonic = parts[0]
            operands = parts[1] if len(parts) > 1 else ""
            if self.arch == "amd64":
                # Skip prefixes such as "rep", "lock", "notrack", "bnd".
                while mnemonic in ("rep", "repz", "repnz", "repe", "repne", "lock", "notrack",
                                   "bnd", "data16", "addr32", "cs", "ds", "es", "fs", "gs",
                                   "ss") and operands:
                    parts = operands.split(None, 1)
                    mnemonic, operands = parts[0], parts[1] if len(parts) > 1 else ""
                bad = FP_X86_REG.search(operands) or FP_X86_MNEMONIC.match(mnemonic)
            else:
                # A branch's or adr's last operand is an address ("cbnz w0, b20" jumps to
                # 0xb20): not a register.
                if re.match(r"^(b|bl|b\.\w+|cbz|cbnz|tbz|tbnz|adr|adrp)$", mnemonic):
                    operands = operands.rsplit(",", 1)[0] if "," in operands else ""
                bad = FP_ARM_REG.search(operands) or mnemonic.startswith("f")
            if bad:
                key = (section, function)
                hits.setdefault(key, []).append(f"{m.group(1)}: {insn}")
        for (section, function), insns in hits.items():
            shown = "; ".join(f"`{i}`" for i in insns[:3])
            more = f" and {len(insns) - 3} more" if len(insns) > 3 else ""
            self.error(f"floating-point/SIMD register use in {section} in function "
                       f"{self.demangle(function.split('+')[0])}: {shown}{more} (the kernel "
                       "does not save FP state for modules: build with -mno-sse ... on amd64, "
                       "-mgeneral-regs-only on aarch64)")

    def run_all(self):
        self.check_elf()
        self.check_imports()
        self.check_sections()
        self.check_relocations()
        self.check_entry_points()
        self.check_fp()
        return self.errors

    def summary(self, list_imports=False):
        lines = [f"summary: {self.obj.path} [{self.arch}]"]
        total = 0
        for sec in sorted(self.obj.sections.values(), key=lambda s: s.index):
            if "A" not in sec.flags or sec.size == 0:
                continue
            total += sec.size
            lines.append(f"  {sec.name:<32} {sec.size:>9} bytes")
        lines.append(f"  {'total (allocated)':<32} {total:>9} bytes")
        imports = sorted({s.name for s in self.obj.symbols.values() if s.undefined and s.name})
        allowed = [n for n in imports if n in self.allowlist]
        probes = [n for n in imports if any(fnmatch.fnmatchcase(n, p) for p in ALLOWED_PATTERNS)]
        kernel = [n for n in imports if n not in self.allowlist and self.kernel_provided(n)]
        other = len(imports) - len(allowed) - len(probes) - len(kernel)
        runtime = f", {len(kernel)} kernel runtime" if self.kernel_runtime else ""
        lines.append(f"  imported symbols: {len(imports)} ({len(allowed)} of the "
                     f"{len(self.allowlist)} in the allowlist, {len(probes)} SDT probes"
                     f"{runtime}, {other} other)")
        if list_imports:
            lines.extend(f"    {self.demangle(n)}" for n in imports)
        defined = [s for s in self.obj.symbols.values()
                   if not s.undefined and s.bind == "GLOBAL" and s.name]
        lines.append(f"  exported symbols: {len(defined)}")
        return lines


def detect_arch(path, readelf):
    header = run([readelf, "-W", "-h", path])
    for line in header.splitlines():
        if line.strip().startswith("Machine:"):
            machine = line.split(":", 1)[1].strip()
            for arch, (name, _prefixes) in ARCHES.items():
                if machine == name:
                    return arch
            raise InputError(f"{path}: unsupported machine '{machine}' (amd64 or aarch64)")
    raise InputError(f"{path}: no ELF header")


def check_is_elf(path):
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if magic != b"\x7fELF":
        raise InputError(f"{path}: not an ELF object")


def main(argv):
    ap = argparse.ArgumentParser(
        description="Check that illumos kernel module objects use DDI interfaces only.")
    ap.add_argument("--allowlist", required=True, help="the DDI allowlist file")
    ap.add_argument("--arch", choices=sorted(ARCHES), help="architecture (default: from ELF)")
    ap.add_argument("--readelf", help="readelf to use (default: the architecture's)")
    ap.add_argument("--objdump", help="objdump to use (default: the architecture's)")
    ap.add_argument("--kernel-provides-runtime", action="store_true",
                    help="allow the compiler runtime the illumos kernel exports to modules "
                    "(__stack_chk_fail, __stack_chk_guard; amd64: __x86_indirect_thunk*)")
    ap.add_argument("--list-imports", action="store_true",
                    help="list the imported symbols in the summary")
    ap.add_argument("objects", nargs="+", metavar="OBJECT")
    args = ap.parse_args(argv)

    try:
        allowlist = load_allowlist(args.allowlist)
        failed = False
        summaries = []
        for path in args.objects:
            check_is_elf(path)
            arch = args.arch
            if arch is None:
                probe = args.readelf or shutil.which("readelf") or find_tool("amd64", "readelf")
                arch = detect_arch(path, probe)
            readelf = find_tool(arch, "readelf", args.readelf)
            objdump = find_tool(arch, "objdump", args.objdump)
            checker = Checker(ElfObject(path, readelf), arch, allowlist, args.allowlist, objdump,
                              args.kernel_provides_runtime)
            errors = checker.run_all()
            for e in errors:
                print(f"{path} [{arch}]: error: {e}")
            if errors:
                failed = True
                print(f"{path} [{arch}]: FAILED the DDI check ({len(errors)} problem"
                      f"{'s' if len(errors) != 1 else ''})")
            else:
                print(f"{path} [{arch}]: passed the DDI check")
            summaries.extend(checker.summary(args.list_imports))
        print("\n".join(summaries))
        return 1 if failed else 0
    except InputError as e:
        print(f"check-module: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
