#!/usr/bin/env python3
"""The facts of the illumos DDI that the driver relies on, taken from the real illumos-gate
headers, and the check that driver/compat declares the same.

    extract-compat-facts.py extract --arch amd64|aarch64 --gate DIR [--manifest FILE]
    extract-compat-facts.py check   --arch amd64|aarch64 [--manifest FILE] [--compat DIR]
                                    [--cxx CXX]

extract (a developer, with a gate tree; scripts/extract-gate-headers.sh makes one) finds what
the driver uses, mechanically: it parses each driver/*.cc against the gate's headers with clang
(-Xclang -ast-dump=json, the kernel's defines and include path) and collects, from the driver's
own code only, every function and variable of the headers it references, every struct field it
names (member access, and all fields of a struct it initializes by position), every struct it
takes the size of, instantiates or initializes, and every enumerator and object-like macro of
the headers whose name appears in the driver's sources. It then records, per architecture:
  - function/variable: its declared type as the header spells it (e.g. dev_err:
    `void (dev_info_t *, int, char *, ...)`);
  - struct: its size and the offsets of the used fields (non-bitfield);
  - constant: its integer value;
evaluating sizes, offsets and values by compiling a probe against the gate's headers with the
architecture's gcc and the kernel flags (scripts/build-against-gate.sh) and reading them from
the assembly. The manifest (tests/suites/module/compat-facts.json) holds these facts as data.

check (CI, no gate needed) compiles one static_assert per fact against driver/compat with the
kernel-module flags (cmake/module.cmake): decltype(fn) is the same type as the header's
spelling, sizeof/offsetof/value equal. Each fact failing is named:
    compat differs from illumos (amd64): function dev_err: illumos declares
    void (dev_info_t *, int, char *, ...)
Exit: 0 all facts hold, 1 a fact differs, 2 bad input or tools missing.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT / "tests" / "suites" / "module" / "compat-facts.json"

ARCH = {
    # arch: (clang target, uts directory, gcc names, the kernel defines beyond the common ones)
    "amd64": ("x86_64-unknown-linux-gnu", "intel", ["x86_64-linux-gnu-g++", "g++"],
              ["-D_SYSCALL32", "-D_SYSCALL32_IMPL"]),
    "aarch64": ("aarch64-unknown-linux-gnu", "aarch64", ["aarch64-linux-gnu-g++"], []),
}
DEFINES = ["-D_KERNEL", "-D_ELF64", "-D_DDI_STRICT", "-Dsun", "-D__sun", "-D__SVR4",
           "-U__linux__", "-U__linux", "-U__gnu_linux__", "-Ulinux"]
CXXFLAGS = ["-std=gnu++17", "-nostdinc", "-ffreestanding", "-fno-exceptions", "-fno-rtti",
            "-fno-pic", "-fno-pie"]
ARCHFLAGS = {"amd64": ["-m64", "-mcmodel=kernel", "-mno-red-zone", "-mno-mmx", "-mno-sse"],
             "aarch64": ["-mgeneral-regs-only"]}


class InputError(Exception):
    pass


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    except OSError as e:
        raise InputError(f"cannot run {cmd[0]}: {e.strerror}") from None


def find_cxx(arch, given):
    if given:
        if not shutil.which(given):
            raise InputError(f"{given} not found")
        return given
    for name in ARCH[arch][2]:
        if name == "g++" and os.uname().machine != "x86_64":
            continue
        if shutil.which(name):
            return name
    raise InputError(f"no {' or '.join(ARCH[arch][2])} for {arch} (run scripts/setup.sh)")


def driver_sources():
    return sorted((ROOT / "driver").glob("*.cc"))


def driver_texts():
    files = driver_sources() + sorted((ROOT / "driver").glob("*.h"))
    return {f: f.read_text() for f in files}


def system_includes():
    """The <...> headers the driver includes, in first-seen order."""
    seen = []
    for text in driver_texts().values():
        for m in re.finditer(r"^\s*#\s*include\s*<([^>]+)>", text, re.M):
            if m.group(1) not in seen:
                seen.append(m.group(1))
    return seen


def identifiers():
    ids = set()
    for text in driver_texts().values():
        text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r'"(?:\\.|[^"\\])*"', " ", text)
        ids.update(re.findall(r"\b[A-Za-z_]\w*\b", text))
    return ids


# ---------------------------------------------------------------------------------------------
# extract


class AstWalker:
    """Walks clang's JSON AST of one driver source, tracking the file each node is in (clang
    prints a location's file only when it changes), and collects what the driver's own code
    uses from the gate's headers."""

    def __init__(self, gate):
        self.gate = str(Path(gate).resolve())
        self.cur = ""
        self.decls = {}     # id -> (kind, name, type, in_gate)
        self.fields = {}    # field id -> (record id, field name, is_bitfield)
        self.records = {}   # record id -> {"tag": str, "fields": [names], "bitfields": set}
        self.typedefs = {}  # typedef name -> record id (typedefs of gate records)
        self.used_decls = set()
        self.used_fields = set()  # (record id, field name)
        self.used_records = set()
        self.used_types = set()   # qualType strings used for sizeof/init/var types

    def loc(self, obj):
        if not isinstance(obj, dict):
            return
        if "spellingLoc" in obj or "expansionLoc" in obj:
            self.loc(obj.get("spellingLoc"))
            self.loc(obj.get("expansionLoc"))
            return
        if "file" in obj:
            self.cur = obj["file"]

    def in_gate(self):
        return str(Path(self.cur).resolve()).startswith(self.gate + os.sep) if self.cur else False

    def walk(self, node, in_driver, record=None):
        if not isinstance(node, dict):
            return
        self.loc(node.get("loc"))
        rng = node.get("range") or {}
        self.loc(rng.get("begin"))
        self.loc(rng.get("end"))
        kind = node.get("kind")
        nid = node.get("id")
        gate = self.in_gate()
        if kind in ("FunctionDecl", "VarDecl", "EnumConstantDecl") and node.get("name"):
            if nid not in self.decls or gate:
                self.decls[nid] = (kind, node["name"], node.get("type", {}).get("qualType"), gate)
            prev = node.get("previousDecl")
            if prev and prev in self.decls and self.decls[prev][3]:
                self.decls[nid] = self.decls[prev]  # a redeclaration of a gate declaration
        if kind in ("RecordDecl", "CXXRecordDecl") and gate and node.get("completeDefinition"):
            record = nid
            self.records[nid] = {"tag": node.get("name", ""), "tagUsed": node.get("tagUsed"),
                                 "fields": [], "bitfields": set()}
        if kind == "FieldDecl" and record in self.records and node.get("name"):
            self.fields[nid] = (record, node["name"], bool(node.get("isBitfield")))
            self.records[record]["fields"].append(node["name"])
            if node.get("isBitfield"):
                self.records[record]["bitfields"].add(node["name"])
        if kind == "TypedefDecl" and gate:
            t = node.get("type", {}).get("qualType", "")
            m = re.fullmatch(r"(struct|union) (\w+)", t)
            for inner in node.get("inner", []):
                owned = inner.get("ownedTagDecl") or inner.get("decl") or {}
                if owned.get("kind") in ("RecordDecl", "CXXRecordDecl"):
                    self.typedefs[node["name"]] = owned.get("id")
            if m:
                self.typedefs.setdefault(node["name"], ("tag", m.group(2)))
        if in_driver:
            if kind == "DeclRefExpr":
                ref = node.get("referencedDecl", {})
                self.used_decls.add(ref.get("id"))
            elif kind == "MemberExpr":
                self.used_fields.add(node.get("referencedMemberDecl"))
            elif kind == "InitListExpr":
                self.used_types.add(("init", node.get("type", {}).get("qualType", "")))
            elif kind == "UnaryExprOrTypeTraitExpr" and node.get("name") == "sizeof":
                arg = node.get("argType", {}).get("qualType")
                if arg:
                    self.used_types.add(("size", arg))
            elif kind == "VarDecl":
                self.used_types.add(("size", node.get("type", {}).get("qualType", "")))
        for child in node.get("inner", []):
            self.walk(child, in_driver, record)

    def walk_tu(self, tu):
        for top in tu.get("inner", []):
            before = self.cur
            self.loc(top.get("loc"))
            rng = top.get("range") or {}
            self.loc(rng.get("begin"))
            start = self.cur
            self.cur = before
            in_driver = bool(start) and not str(Path(start).resolve()).startswith(
                self.gate + os.sep) and str(Path(start).resolve()).startswith(str(ROOT))
            self.walk(top, in_driver)


def record_name(walker, rid):
    rec = walker.records[rid]
    if rec["tag"]:
        return f"{rec['tagUsed'] or 'struct'} {rec['tag']}"
    for name, target in walker.typedefs.items():
        if target == rid:
            return name
    return None


def type_to_record(walker, qual):
    qual = re.sub(r"^(const |volatile )+", "", qual.strip())
    m = re.fullmatch(r"(struct|union) (\w+)", qual)
    if m:
        for rid, rec in walker.records.items():
            if rec["tag"] == m.group(2):
                return rid
        return None
    target = walker.typedefs.get(qual)
    if isinstance(target, tuple):
        return type_to_record(walker, f"struct {target[1]}")
    if target in walker.records:
        return target
    return None


def clang_ast(src, arch, gate):
    target, archdir, _, extra = ARCH[arch]
    uts = Path(gate) / "usr" / "src" / "uts"
    cmd = ["clang++", "-target", target, *CXXFLAGS, *DEFINES, *extra,
           f"-I{uts / archdir}", f"-I{uts / 'common'}", f"-I{ROOT / 'driver'}",
           f"-I{ROOT / 'generated'}", "-Wno-everything", "-fsyntax-only", "-Xclang",
           "-ast-dump=json", str(src)]
    p = run(cmd)
    if p.returncode != 0:
        raise InputError(f"clang could not parse {src.name} against {gate}:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout)


def gate_macros(arch, gate, cxx):
    """Object-like macros the gate's headers define when the driver's headers are included."""
    _, archdir, _, extra = ARCH[arch]
    uts = Path(gate) / "usr" / "src" / "uts"
    with tempfile.TemporaryDirectory() as tmp:
        tu = Path(tmp) / "m.cc"
        tu.write_text("".join(f"#include <{h}>\n" for h in system_includes()))
        cmd = [cxx, *CXXFLAGS, *ARCHFLAGS[arch], *DEFINES, *extra, f"-I{uts / archdir}",
               f"-I{uts / 'common'}", "-E", "-dM", str(tu)]
        p = run(cmd)
        if p.returncode != 0:
            raise InputError(f"{cxx} -E -dM failed against {gate}:\n{p.stderr[-2000:]}")
        base = run([cxx, *CXXFLAGS, *ARCHFLAGS[arch], "-E", "-dM", "-x", "c++", "/dev/null"])
    predefined = set(re.findall(r"^#define (\w+)", base.stdout, re.M))
    macros = {}
    for m in re.finditer(r"^#define (\w+)(\(?)(.*)$", p.stdout, re.M):
        if not m.group(2) and m.group(1) not in predefined:
            macros[m.group(1)] = m.group(3).strip()
    return macros


def evaluate(arch, gate, cxx, exprs):
    """Values of integer constant expressions against the gate's headers, by compiling them
    into an array and reading the assembly. Returns {index: value}; an expression that does
    not compile is dropped (and retried without it)."""
    _, archdir, _, extra = ARCH[arch]
    uts = Path(gate) / "usr" / "src" / "uts"
    live = dict(enumerate(exprs))
    with tempfile.TemporaryDirectory() as tmp:
        tu = Path(tmp) / "v.cc"
        for _attempt in range(20):
            order = list(live)
            lines = [f"#include <{h}>" for h in system_includes()]
            # Integers and enumerators only: a pointer (a string macro) fails here.
            lines.append("constexpr long long pvscsi_int(long long v) { return v; }")
            lines.append("template <class T> long long pvscsi_int(T *) = delete;")
            first = len(lines) + 2
            # constexpr: an expression that is not a constant is an error (dropped), never a
            # value computed at run time.
            lines.append('extern "C" constexpr long long pvscsi_facts[] = {')
            lines.extend(f"  pvscsi_int({live[i]})," for i in order)
            lines.append("};")
            tu.write_text("\n".join(lines) + "\n")
            cmd = [cxx, *CXXFLAGS, *ARCHFLAGS[arch], *DEFINES, *extra, f"-I{uts / archdir}",
                   f"-I{uts / 'common'}", "-w", "-O0", "-S", "-o", "-", str(tu)]
            p = run(cmd)
            if p.returncode == 0:
                values = []
                for d, v in re.findall(r"^\s*\.(quad|xword|8byte|zero)\s+(-?\w+)", p.stdout,
                                       re.M):
                    values.extend([0] * (int(v, 0) // 8) if d == "zero" else [int(v, 0)])
                if len(values) != len(order):
                    raise InputError(f"read {len(values)} of {len(order)} values from {cxx} -S")
                return {i: v for i, v in zip(order, values)}
            # The probe's lines an error is reported at or expanded from.
            bad = {int(m.group(1)) - first for m in re.finditer(
                rf"{re.escape(str(tu))}:(\d+):\d+: (?:error|note)", p.stderr)}
            bad = {order[b] for b in bad if 0 <= b < len(order)}
            if not bad:
                raise InputError(f"{cxx} failed on the value probe:\n{p.stderr[-2000:]}")
            for b in bad:
                del live[b]
    raise InputError("the value probe did not converge")


def tu_uses(walker):
    """What one translation unit's driver code uses, by name (clang's ids are per TU)."""
    functions, variables, enumerators = {}, {}, set()
    for did in walker.used_decls:
        d = walker.decls.get(did)
        if not d or not d[3]:
            continue
        kind, name, qual, _ = d
        if kind == "FunctionDecl":
            functions[name] = qual
        elif kind == "VarDecl":
            variables[name] = qual
        elif kind == "EnumConstantDecl":
            enumerators.add(name)
    used = {}  # record id -> set of fields
    for fid in walker.used_fields:
        if fid in walker.fields:
            rid, fname, _bit = walker.fields[fid]
            used.setdefault(rid, set()).add(fname)
    for how, qual in walker.used_types:
        rid = type_to_record(walker, qual)
        if rid is None:
            continue
        fields = used.setdefault(rid, set())
        if how == "init":
            fields.update(walker.records[rid]["fields"])
    records = {}  # name -> (used fields, bitfields)
    for rid, fields in used.items():
        name = record_name(walker, rid)
        if name:
            records[name] = (fields, walker.records[rid]["bitfields"])
    gate_enumerators = {d[1] for d in walker.decls.values() if d[0] == "EnumConstantDecl" and d[3]}
    return functions, variables, enumerators, records, gate_enumerators


def extract(arch, gate, cxx):
    functions, variables, constants, records, gate_enumerators = {}, {}, {}, {}, set()
    for src in driver_sources():
        walker = AstWalker(gate)
        walker.walk_tu(clang_ast(src, arch, gate))
        f, v, e, r, g = tu_uses(walker)
        functions.update(f)
        variables.update(v)
        constants.update((name, None) for name in e)
        for name, (fields, bits) in r.items():
            have = records.setdefault(name, (set(), set()))
            have[0].update(fields)
            have[1].update(bits)
        gate_enumerators |= g

    # Enumerators and object-like macros of the headers that the driver's sources name.
    ids = identifiers()
    strings = {}
    for name, body in gate_macros(arch, gate, cxx).items():
        if name not in ids:
            continue
        if re.fullmatch(r'"(?:[^"\\]|\\.)*"', body):
            strings[name] = json.loads(body)  # a plain string literal
        else:
            constants.setdefault(name, None)
    for name in gate_enumerators & ids:
        constants.setdefault(name, None)

    structs = {}
    exprs = []
    for name, (fields, bits) in sorted(records.items()):
        structs[name] = {"size": len(exprs), "fields": {}}
        exprs.append(f"sizeof({name})")
        for f in sorted(fields - bits):
            structs[name]["fields"][f] = len(exprs)
            exprs.append(f"__builtin_offsetof({name}, {f})")
    cstart = len(exprs)
    cnames = sorted(constants)
    exprs.extend(cnames)
    values = evaluate(arch, gate, cxx, exprs)
    for s in structs.values():
        s["size"] = values[s["size"]]
        s["fields"] = {f: values[i] for f, i in s["fields"].items() if i in values}
    consts = {n: values[cstart + k] for k, n in enumerate(cnames) if cstart + k in values}
    return {
        "includes": system_includes(),
        "functions": dict(sorted(functions.items())),
        "variables": dict(sorted(variables.items())),
        "structs": dict(sorted(structs.items())),
        "constants": dict(sorted(consts.items())),
        "strings": dict(sorted(strings.items())),
    }


# ---------------------------------------------------------------------------------------------
# check


def fact_list(facts):
    """[(label, assertion)] for one architecture's facts."""
    out = []
    for name, qual in facts["functions"].items():
        out.append((f"function {name}: illumos declares {qual}",
                    f"pvscsi_same<decltype({name}), {qual}>::value"))
    for name, qual in facts["variables"].items():
        out.append((f"variable {name}: illumos declares {qual}",
                    f"pvscsi_same<decltype({name}), {qual}>::value"))
    for name, s in facts["structs"].items():
        out.append((f"sizeof({name}) is {s['size']} in illumos", f"sizeof({name}) == {s['size']}"))
        for field, off in s["fields"].items():
            out.append((f"offsetof({name}, {field}) is {off} in illumos",
                        f"__builtin_offsetof({name}, {field}) == {off}"))
    for name, value in facts["constants"].items():
        out.append((f"constant {name} is {value} in illumos", f"(long long)({name}) == {value}LL"))
    for name, value in facts.get("strings", {}).items():
        out.append((f"constant {name} is {json.dumps(value)} in illumos",
                    f"pvscsi_streq({name}, {json.dumps(value)})"))
    return out


def check(arch, manifest, compat, cxx):
    try:
        data = json.loads(Path(manifest).read_text())
    except OSError as e:
        raise InputError(f"{manifest}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{manifest}: not JSON: {e}") from None
    facts = data.get("arches", {}).get(arch)
    if not facts:
        raise InputError(f"{manifest} has no facts for {arch}")
    checks = fact_list(facts)
    lines = [f"#include <{h}>" for h in facts["includes"]]
    lines += ["template <class A, class B> struct pvscsi_same { enum { value = 0 }; };",
              "template <class A> struct pvscsi_same<A, A> { enum { value = 1 }; };",
              "constexpr bool pvscsi_streq(const char *a, const char *b) {",
              "  return *a == *b && (*a == 0 || pvscsi_streq(a + 1, b + 1));",
              "}"]
    for n, (label, expr) in enumerate(checks):
        lines.append(f'#line {n + 1} "fact"')
        lines.append(f"static_assert({expr}, {json.dumps(label)});")
    with tempfile.TemporaryDirectory() as tmp:
        tu = Path(tmp) / "facts.cc"
        tu.write_text("\n".join(lines) + "\n")
        p = run([cxx, *CXXFLAGS, *ARCHFLAGS[arch], "-D_KERNEL", "-I", str(compat),
                 "-fsyntax-only", "-fmax-errors=0", str(tu)])
    failed = sorted({int(m.group(1))
                     for m in re.finditer(r"^fact:(\d+):\d+: error", p.stderr, re.M)})
    if p.returncode != 0 and not failed:
        raise InputError(f"{cxx} could not compile the checks against {compat}:\n"
                         f"{p.stderr[-3000:]}")
    for n in failed:
        label = checks[n - 1][0]
        detail = ""
        m = re.search(rf"^fact:{n}:\d+: error: (.*)$", p.stderr, re.M)
        if m and "static assertion failed" not in m.group(1):
            detail = f" ({m.group(1)})"
        print(f"compat differs from illumos ({arch}): {label}{detail}")
    print(f"{len(checks) - len(failed)} of {len(checks)} facts hold for {arch} "
          f"({len(facts['functions'])} functions, {len(facts['variables'])} variables, "
          f"{len(facts['structs'])} structs, "
          f"{len(facts['constants']) + len(facts.get('strings', {}))} constants)")
    return 1 if failed else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract", help="record the facts from a gate tree")
    e.add_argument("--arch", choices=sorted(ARCH), required=True)
    e.add_argument("--gate", required=True, help="gate tree (usr/src/uts/...)")
    e.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    e.add_argument("--cxx")
    c = sub.add_parser("check", help="check driver/compat against the recorded facts")
    c.add_argument("--arch", choices=sorted(ARCH), required=True)
    c.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    c.add_argument("--compat", default=str(ROOT / "driver" / "compat"))
    c.add_argument("--cxx")
    args = ap.parse_args(argv)
    try:
        cxx = find_cxx(args.arch, args.cxx)
        if args.cmd == "extract":
            uts = Path(args.gate) / "usr" / "src" / "uts"
            if not (uts / "common" / "sys" / "sunddi.h").is_file():
                raise InputError(f"{args.gate} is not an illumos-gate tree (no "
                                 "usr/src/uts/common/sys/sunddi.h)")
            if not (uts / ARCH[args.arch][1]).is_dir():
                raise InputError(f"{args.gate} has no usr/src/uts/{ARCH[args.arch][1]}")
            if not shutil.which("clang++"):
                raise InputError("extract needs clang++ (scripts/setup.sh installs clang)")
            facts = extract(args.arch, args.gate, cxx)
            path = Path(args.manifest)
            data = json.loads(path.read_text()) if path.exists() else {}
            data.setdefault("about", "illumos DDI facts the pvscsi driver relies on, per "
                            "architecture, extracted from illumos-gate headers by "
                            "scripts/extract-compat-facts.py; checked against driver/compat")
            data.setdefault("arches", {})[args.arch] = facts
            path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            n = sum(len(facts[k]) for k in ("functions", "variables", "structs", "constants",
                                            "strings"))
            print(f"extract-compat-facts: {n} facts for {args.arch} into {path}")
            return 0
        if not Path(args.compat).is_dir():
            raise InputError(f"{args.compat} is not a directory")
        return check(args.arch, args.manifest, args.compat, cxx)
    except InputError as e:
        print(f"extract-compat-facts: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
