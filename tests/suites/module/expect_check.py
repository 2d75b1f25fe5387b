#!/usr/bin/env python3
"""Runs a command (the DDI check) and asserts its exit status and output, for CTest.

    expect_check.py --status N [--match REGEX]... [--no-match REGEX]... -- COMMAND...

Passes when COMMAND exits with status N, every --match regular expression is found in its
combined output and no --no-match one is. Prints the output either way, and why it failed.
"""

import argparse
import re
import subprocess
import sys


def main(argv):
    if "--" not in argv:
        print("expect_check: usage: expect_check.py --status N [--match RE]... -- COMMAND...",
              file=sys.stderr)
        return 2
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--status", type=int, required=True)
    ap.add_argument("--match", action="append", default=[])
    ap.add_argument("--no-match", action="append", default=[])
    args = ap.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        print("expect_check: no command", file=sys.stderr)
        return 2
    p = subprocess.run(command, capture_output=True, text=True, check=False)
    output = p.stdout + p.stderr
    sys.stdout.write(output)
    problems = []
    if p.returncode != args.status:
        problems.append(f"exit status {p.returncode}, expected {args.status}")
    for pattern in args.match:
        if not re.search(pattern, output, re.MULTILINE):
            problems.append(f"output does not match /{pattern}/")
    for pattern in args.no_match:
        if re.search(pattern, output, re.MULTILINE):
            problems.append(f"output matches /{pattern}/, which it must not")
    for problem in problems:
        print(f"expect_check: FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
