"""Command line: python3 -m gen [--spec FILE] [--templates DIR] [--out DIR] [--check]."""

import argparse
import os
import sys

from gen import fmt, loader, model, render, validate
from gen.diagnostics import Diagnostic, GenError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _display(path: str) -> str:
    """The path as the user would type it: relative to the current directory when inside it."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def generate(spec: str, template_dir: str, style_file: str) -> dict:
    """Runs load -> validate -> model -> render -> clang-format; returns {file: text}."""
    doc = loader.load_file(spec)
    errors = validate.validate(doc)
    if errors:
        raise GenError(sorted(errors, key=lambda d: d.line))
    device = model.build(doc)
    try:
        outputs = render.render(device, template_dir)
    except render.RenderError as exc:
        raise GenError([Diagnostic(exc.line, f"template error: {exc.message}",
                                   "fix the template", file=_display(exc.template))]) from None
    return fmt.format_outputs(outputs, style_file)


def stale_files(outputs: dict, out_dir: str) -> list:
    stale = []
    for name, text in outputs.items():
        path = os.path.join(out_dir, name)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                if f.read() == text:
                    continue
        except (OSError, UnicodeDecodeError):
            pass
        stale.append(name)
    return stale


def write_outputs(outputs: dict, out_dir: str) -> list:
    """Writes the files that changed; returns their names."""
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for name in stale_files(outputs, out_dir):
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(outputs[name])
        os.replace(tmp, path)
        written.append(name)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="pvscsi-gen", description="Generate the typed C++ of the PVSCSI interface.")
    parser.add_argument("--spec", default=os.path.join(ROOT, "hw", "pvscsi.yaml"),
                        help="the hardware description (default: hw/pvscsi.yaml)")
    parser.add_argument("--templates", default=os.path.join(ROOT, "templates"),
                        help="the template directory (default: templates/)")
    parser.add_argument("--out", default=os.path.join(ROOT, "generated"),
                        help="the output directory (default: generated/)")
    parser.add_argument("--style", default=os.path.join(ROOT, ".clang-format"),
                        help="the clang-format style file (default: the repository's)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming the files that are stale")
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)

    spec_shown = _display(args.spec)
    try:
        outputs = generate(args.spec, args.templates, args.style)
    except GenError as exc:
        for diag in exc.diagnostics:
            print(diag.format(spec_shown), file=sys.stderr)
        return 1

    out_shown = _display(args.out)
    if args.check:
        stale = stale_files(outputs, args.out)
        if stale:
            for name in stale:
                print(f"{os.path.join(out_shown, name)}: stale; regenerate with "
                      f"`python3 -m gen`", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"{out_shown}: up to date ({len(outputs)} files)")
        return 0

    written = write_outputs(outputs, args.out)
    if not args.quiet:
        for name in written:
            print(f"wrote {os.path.join(out_shown, name)}")
        if not written:
            print(f"{out_shown}: up to date ({len(outputs)} files)")
    return 0
