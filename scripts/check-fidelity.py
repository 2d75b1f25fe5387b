#!/usr/bin/env python3
"""Checks docs/FIDELITY.md against the module and the tree.

The ledger's tables have five columns: interface | illumos (file: function) | behaviour | host |
pinned by. The check fails (exit 1, one line per problem) when:
  - the kernel module imports a symbol that no row's first cell names (SDT probes, retpoline
    thunks and the stack protector's symbols are the compiler's and the kernel's, not the DDI's);
  - a row has an empty cell;
  - a host cell names a path (anything with a '/') that does not exist in the repository;
  - a pinned-by cell names a test (Suite.Name, or a pytest test_name) that no source defines.
Bad input (a missing ledger or object, no readelf) is exit 2 with one line.

usage: check-fidelity.py --ledger FILE --root DIR [--readelf PATH] MODULE.o...
"""
import argparse
import os
import re
import subprocess
import sys

# Imports that are not DDI interfaces: SDT probes resolve to the sdt provider, the rest is
# compiler runtime the illumos kernel itself provides.
NOT_DDI = re.compile(r"^(__dtrace_probe_|__x86_indirect_thunk_|__x86_return_thunk$|"
                     r"__stack_chk_(fail|guard)$)")
ROW = re.compile(r"^\|(.*)\|\s*$")
SYMBOL = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
GTEST = re.compile(r"\bTEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)\s*\)")
PYTEST = re.compile(r"^\s*def\s+(test_\w+)\s*\(", re.M)
TEST_NAME = re.compile(r"^(?:\w+/)?(\w+)\.(\w+)(?:/\w+)?$|^(test_\w+)$")


def fail_input(msg):
    print(f"check-fidelity: {msg}", file=sys.stderr)
    sys.exit(2)


def ledger_rows(path):
    """(line number, [cells]) of every table row that is not a header or separator."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        fail_input(f"cannot read the ledger {path}: {e.strerror}")
    rows = []
    for n, line in enumerate(lines, 1):
        m = ROW.match(line)
        if not m:
            continue
        cells = [c.strip() for c in m.group(1).split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue  # separator
        if cells and cells[0].lower() in ("interface", "path", "behaviour"):
            continue  # header
        rows.append((n, cells))
    return rows


def imports(readelf, obj):
    if not os.path.isfile(obj):
        fail_input(f"no module object {obj} (build the module first)")
    try:
        out = subprocess.run([readelf, "-sW", obj], check=True, capture_output=True,
                             text=True).stdout
    except FileNotFoundError:
        fail_input(f"no readelf at {readelf}")
    except subprocess.CalledProcessError as e:
        fail_input(f"readelf failed on {obj}: {e.stderr.strip()}")
    syms = set()
    for line in out.splitlines():
        f = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(f) >= 8 and f[6] == "UND" and f[7]:
            syms.add(f[7].split("@")[0])
    return syms


def defined_tests(root):
    names = set()
    for top in ("tests", "gen"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for fn in files:
                if not fn.endswith((".cc", ".cpp", ".h", ".py")):
                    continue
                try:
                    with open(os.path.join(d, fn), encoding="utf-8", errors="replace") as f:
                        text = f.read()
                except OSError:
                    continue
                names.update(f"{a}.{b}" for a, b in GTEST.findall(text))
                names.update(PYTEST.findall(text))
    return names


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ledger", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--readelf", default="readelf")
    ap.add_argument("modules", nargs="*")
    a = ap.parse_args(argv)

    rows = ledger_rows(a.ledger)
    if not rows:
        fail_input(f"{a.ledger} has no table rows")
    tests = defined_tests(a.root)
    problems = []
    named = set()
    for n, cells in rows:
        where = f"{os.path.basename(a.ledger)}:{n}"
        if len(cells) != 5:
            problems.append(f"{where}: {len(cells)} cells, the ledger has 5 columns")
            continue
        if any(not c for c in cells):
            problems.append(f"{where}: an empty cell")
        named.update(SYMBOL.findall(cells[0]))
        for tok in re.split(r"[\s,;()]+", cells[3]):
            tok = tok.strip("`")
            if "/" in tok and not os.path.exists(os.path.join(a.root, tok)):
                problems.append(f"{where}: host file {tok} does not exist")
        for t in (x.strip().strip("`") for x in cells[4].split(",")):
            m = TEST_NAME.match(t)
            if not m:
                problems.append(f"{where}: '{t}' is not a test name (Suite.Name or test_x)")
                continue
            key = m.group(3) or f"{m.group(1)}.{m.group(2)}"
            if key not in tests:
                problems.append(f"{where}: test {t} is not defined anywhere under tests/")

    for obj in a.modules:
        for sym in sorted(imports(a.readelf, obj)):
            if NOT_DDI.match(sym) or sym in named:
                continue
            problems.append(f"{obj}: imports '{sym}', which the ledger has no row for: read "
                            f"its illumos implementation and add a row to {a.ledger}")

    for p in problems:
        print(p)
    summary = (f"{len(rows)} rows, {len(named)} interfaces, "
               f"{len(a.modules)} module object(s): ")
    if problems:
        print(summary + f"FAILED ({len(problems)} problems)")
        return 1
    print(summary + "every import has a row, every host file and test exists")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
