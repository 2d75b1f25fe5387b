"""Format generated C++ with clang-format and the repository's .clang-format."""

import os
import shutil
import subprocess

from gen.diagnostics import Diagnostic, GenError

CXX_SUFFIXES = (".h", ".cc")


def clang_format_binary():
    return os.environ.get("CLANG_FORMAT") or shutil.which("clang-format")


def format_outputs(outputs: dict, style_file: str) -> dict:
    """Runs clang-format over the C++ outputs; returns the formatted texts."""
    binary = clang_format_binary()
    if not binary:
        raise GenError([Diagnostic(0, "clang-format is not installed (needed to format the "
                                      "generated C++)",
                                   "install it (Debian: apt-get install clang-format) or set "
                                   "CLANG_FORMAT to its path", file="clang-format")])
    if not os.path.isfile(style_file):
        raise GenError([Diagnostic(0, f"style file {style_file} not found",
                                   "run the generator from a checkout with .clang-format",
                                   file=style_file)])
    result = {}
    for name, text in outputs.items():
        if not name.endswith(CXX_SUFFIXES):
            result[name] = text
            continue
        try:
            proc = subprocess.run(
                [binary, f"--style=file:{style_file}", f"--assume-filename={name}"],
                input=text, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise GenError([Diagnostic(0, f"cannot run {binary} ({exc.strerror})",
                                       "install clang-format or set CLANG_FORMAT",
                                       file="clang-format")]) from None
        if proc.returncode != 0:
            raise GenError([Diagnostic(0, f"clang-format failed on {name}: "
                                          f"{proc.stderr.strip()}",
                                       "check the template that produces it",
                                       file="clang-format")])
        result[name] = proc.stdout
    return result
