"""Shared fixtures for the generator tests: a copy of the real description to mutate, and ways to
run the generator on it (in-process for speed, as a subprocess where the process matters)."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from gen import cli  # noqa: E402

SPEC = os.path.join(ROOT, "hw", "pvscsi.yaml")
GENERATED = os.path.join(ROOT, "generated")

# Every diagnostic line: FILE:LINE: what is wrong; how to fix
LINE_RE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<what>[^;]+); (?P<fix>.+)$")


@pytest.fixture(scope="session")
def spec_text():
    with open(SPEC, encoding="utf-8") as f:
        return f.read()


def replace_once(text, old, new):
    """Replaces a snippet that must occur exactly once (so a changed YAML breaks loudly)."""
    assert text.count(old) == 1, f"snippet occurs {text.count(old)} times: {old!r}"
    return text.replace(old, new)


def line_of(text, snippet):
    """1-based line of the unique occurrence of snippet."""
    assert text.count(snippet) == 1, f"snippet occurs {text.count(snippet)} times: {snippet!r}"
    return text[:text.index(snippet)].count("\n") + 1


class Result:
    def __init__(self, rc, out, err, spec):
        self.rc, self.out, self.err, self.spec = rc, out, err, spec

    @property
    def lines(self):
        return [l for l in self.err.splitlines() if l]


def run_inprocess(args, capsys):
    rc = cli.main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


@pytest.fixture
def gen_run(tmp_path, capsys):
    """gen_run(text, *extra) writes text as a spec and runs the generator in-process."""

    def run(text, *extra, out=None):
        spec = tmp_path / "pvscsi.yaml"
        spec.write_text(text, encoding="utf-8")
        out_dir = out or str(tmp_path / "out")
        rc, out_text, err = run_inprocess(["--spec", str(spec), "--out", out_dir, *extra], capsys)
        return Result(rc, out_text, err, str(spec))

    return run


def run_module(args, env=None, cwd=ROOT):
    """Runs `python3 -m gen` as a real process."""
    full_env = dict(os.environ)
    full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", "gen", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, check=False)
    return proc
