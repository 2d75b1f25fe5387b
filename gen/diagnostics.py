"""Diagnostics: one line each, `FILE:LINE: what is wrong; how to fix`."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Diagnostic:
    line: int
    what: str
    fix: str
    file: str = ""  # set when the problem is not in the description (a template, a tool)

    def format(self, path: str) -> str:
        where = self.file or path
        if self.line <= 0:
            return f"{where}: {self.what}; {self.fix}"
        return f"{where}:{self.line}: {self.what}; {self.fix}"


class GenError(Exception):
    """Invalid input: carries every diagnostic found (all are reported, not only the first)."""

    def __init__(self, diagnostics):
        super().__init__(f"{len(diagnostics)} error(s)")
        self.diagnostics = list(diagnostics)
