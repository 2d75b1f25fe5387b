#!/usr/bin/env python3
"""The driver speaks to the device only through the generated API.

Usage:
    python3 scripts/check-driver-api.py [--generated DIR] DRIVER_DIR

Scans DRIVER_DIR/*.cc and DRIVER_DIR/*.h (not driver/compat) and reports, one line each as
`file:line: text -- reason`, every place that goes around the generated layouts and enums
(generated/, made from hw/pvscsi.yaml):
  - raw:    the raw bytes of a generated layout: `.raw` or `->raw`, `raw +`, `raw[`;
  - offset: a byte offset from the generated hw:: namespace: an identifier ending in `Offset`
            that the generated headers define (kCdbOffset, kLunOffset, ...) or that is named
            through `hw::` (hw::RingsState::kCmpConsIdxOffset);
  - to_raw: `to_raw(`, an enum turned back into its integer.
Comments and string literals are not code and are never findings.

The one exception is the validation of values the device wrote, which has to look at them
before they are trusted as an enum or an index. A function doing that is marked with this line
comment, alone on the line directly above its definition (template line or return type first):

    /* pvscsi-api: validates device-written values */

Everything from the marker to the brace closing the function's body is exempt, and nothing
else. A marker that is not directly followed by a function definition is itself a finding.

--generated DIR names the generated headers (default: DRIVER_DIR/../generated); the offset
names are read from them.

Exit status: 0 when nothing is found, 1 with findings, 2 on bad input (a missing directory, no
sources or no generated headers, an unreadable or undecodable file), with a one-line message.

Standard library only.
"""

import argparse
import glob
import os
import re
import sys

MARKER = "/* pvscsi-api: validates device-written values */"

RE_RAW = re.compile(r"(?:\.|->)\s*raw\b|\braw\s*(?:\+|\[)")
RE_OFFSET_NAME = re.compile(r"\b\w*Offset\b")
RE_HW_OFFSET = re.compile(r"\bhw\s*::\s*(?:\w+\s*::\s*)*(\w*Offset)\b")
RE_TO_RAW = re.compile(r"\bto_raw\s*\(")
RE_GENERATED_OFFSET = re.compile(r"\b(k\w*Offset)\b\s*=")

REASONS = {
    "raw": "raw bytes of a generated layout: use its accessors",
    "offset": "byte offset from the generated hw:: layouts: use the generated accessors",
    "to_raw": "enum turned into its integer: use the generated enum and the accessors taking it",
    "marker": "the pvscsi-api marker must stand directly above a function definition",
}


class BadInput(Exception):
    pass


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise BadInput(f"cannot read {path}: not UTF-8 text") from None


def strip_code(text):
    """The text with comments and string/character literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + (c if j - 1 > i else ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def exempt_ranges(path, text, code, findings):
    """(first, last) line numbers exempted by markers; misplaced markers become findings."""
    lines = text.split("\n")
    code_lines = code.split("\n")
    ranges = []
    for idx, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        lineno = idx + 1
        nxt = idx + 1
        if nxt >= len(lines) or not code_lines[nxt].strip():
            findings.append((path, lineno, line.strip(), "marker"))
            continue
        # The definition's body: the first '{' after the marker, before any ';'.
        offset = sum(len(x) + 1 for x in code_lines[:nxt])
        depth, start, end = 0, None, None
        for pos in range(offset, len(code)):
            ch = code[pos]
            if start is None and ch == ";":
                break
            if ch == "{":
                start = pos if start is None else start
                depth += 1
            elif ch == "}" and start is not None:
                depth -= 1
                if depth == 0:
                    end = pos
                    break
        if end is None:
            findings.append((path, lineno, line.strip(), "marker"))
            continue
        ranges.append((lineno, code.count("\n", 0, end) + 1))
    return ranges


def check_file(path, offset_names):
    text = read_text(path)
    code = strip_code(text)
    findings = []
    ranges = exempt_ranges(path, text, code, findings)
    src_lines = text.split("\n")
    for idx, line in enumerate(code.split("\n")):
        lineno = idx + 1
        if any(a <= lineno <= b for a, b in ranges):
            continue
        kinds = []
        if RE_RAW.search(line):
            kinds.append("raw")
        if RE_HW_OFFSET.search(line) or any(m.group(0) in offset_names
                                            for m in RE_OFFSET_NAME.finditer(line)):
            kinds.append("offset")
        if RE_TO_RAW.search(line):
            kinds.append("to_raw")
        for kind in kinds:
            findings.append((path, lineno, src_lines[idx].strip(), kind))
    order = list(REASONS)
    return sorted(findings, key=lambda f: (f[1], order.index(f[3])))


def generated_offset_names(gen_dir):
    if not os.path.isdir(gen_dir):
        raise BadInput(f"no such directory: {gen_dir} (the generated headers; see --generated)")
    headers = sorted(glob.glob(os.path.join(gen_dir, "*.h")))
    if not headers:
        raise BadInput(f"no generated headers (*.h) in {gen_dir}")
    names = set()
    for h in headers:
        names.update(RE_GENERATED_OFFSET.findall(strip_code(read_text(h))))
    return names


def main(argv):
    ap = argparse.ArgumentParser(
        description="Fail when driver sources bypass the generated API (raw bytes, offsets, "
                    "to_raw).")
    ap.add_argument("--generated", help="generated headers (default: DRIVER_DIR/../generated)")
    ap.add_argument("driver_dir", metavar="DRIVER_DIR")
    args = ap.parse_args(argv)
    try:
        if not os.path.isdir(args.driver_dir):
            raise BadInput(f"no such directory: {args.driver_dir}")
        gen_dir = args.generated or os.path.join(args.driver_dir, "..", "generated")
        offset_names = generated_offset_names(os.path.normpath(gen_dir))
        sources = sorted(glob.glob(os.path.join(args.driver_dir, "*.cc")) +
                         glob.glob(os.path.join(args.driver_dir, "*.h")))
        if not sources:
            raise BadInput(f"no driver sources (*.cc, *.h) in {args.driver_dir}")
        findings = []
        for src in sources:
            findings += check_file(src, offset_names)
    except BadInput as e:
        print(f"check-driver-api: error: {e}", file=sys.stderr)
        return 2
    for path, lineno, text, kind in findings:
        print(f"{path}:{lineno}: {text} -- {REASONS[kind]}")
    if findings:
        print(f"check-driver-api: {len(findings)} findings in {len(sources)} files",
              file=sys.stderr)
        return 1
    print(f"check-driver-api: {len(sources)} files speak only through the generated API")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
