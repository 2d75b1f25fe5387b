#!/usr/bin/env python3
"""The handwritten driver's size budget.

Counts the lines of driver/*.cc and driver/*.h two ways - all lines, and code lines (neither
blank nor only comment) - and fails when either is over its budget. Comments never compete with
code for room: the code budget is what keeps the driver small, the total only bounds the whole.

The budgets derive from the 2016 illumos pvscsi driver (3,422 lines): 60% of it in all
(2,053 lines), and 1,450 lines of code.

usage: driver-size.py [--max-code N] [--max-total N] DRIVER_DIR
"""
import argparse
import glob
import os
import sys


def count(text):
    """(total lines, code lines) of C/C++ text; a code line has something outside comments."""
    total = code = 0
    in_block = False
    for line in text.splitlines():
        total += 1
        i, n, has_code = 0, len(line), False
        quote = None
        while i < n:
            c = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block = False
                    i += 2
                    continue
                i += 1
                continue
            if quote:
                if c == "\\":
                    i += 2
                    continue
                if c == quote:
                    quote = None
                i += 1
                continue
            if line.startswith("/*", i):
                in_block = True
                i += 2
                continue
            if line.startswith("//", i):
                break
            if c in "\"'":
                quote = c
            if not c.isspace():
                has_code = True
            i += 1
        if has_code:
            code += 1
    return total, code


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-code", type=int, default=1450)
    ap.add_argument("--max-total", type=int, default=2053)
    ap.add_argument("driver_dir")
    args = ap.parse_args(argv)
    files = sorted(glob.glob(os.path.join(args.driver_dir, "*.cc")) +
                   glob.glob(os.path.join(args.driver_dir, "*.h")))
    if not files:
        print(f"driver-size: no *.cc or *.h in {args.driver_dir}", file=sys.stderr)
        return 2
    total = code = 0
    for f in files:
        with open(f, encoding="utf-8") as fh:
            t, c = count(fh.read())
        print(f"{os.path.basename(f):24} {t:5} lines {c:5} code")
        total += t
        code += c
    print(f"{'driver':24} {total:5} lines {code:5} code "
          f"(budgets: {args.max_total} lines, {args.max_code} code)")
    over = []
    if code > args.max_code:
        over.append(f"{code} code lines > {args.max_code}")
    if total > args.max_total:
        over.append(f"{total} lines > {args.max_total}")
    if over:
        print("driver-size: over budget: " + ", ".join(over), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
