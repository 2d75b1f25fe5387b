"""The hardware description is the single source of truth: move the request descriptor's CDB and
LUN in a copy of hw/pvscsi.yaml, regenerate, and
  - `gen --check` against the checked-in generated/ names the files that changed;
  - the regenerated header really has the fields at their new offsets (the edit is not vacuous);
  - the driver and the mock device, built against the regenerated headers in a separate CMake
    build (-DPVSCSI_GENERATED_DIR), still agree: the exerciser's verified workload passes on
    two LUNs per target, so a driver and a device that disagreed on where the CDB or the LUN
    lives would read wrong blocks, address the wrong LUN, or fail the commands.

The build takes one to two minutes on two cores (only pvscsi-exercise and what it links, without
optimisation); CTest runs this file as generated.spec_change, separately from generated.pytest.
Skipped only when cmake or a C/C++ compiler is missing."""

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import GENERATED, ROOT, SPEC, run_module
from gen import render

OUTPUT_NAMES = sorted(name for name, _ in render.OUTPUTS)

# RingReqDesc today: cdb u8[16] @40, cdb_len @56, lun u8[8] @57, tag @65. Rearranged, still tiled
# and aligned: lun @40..47, cdb @48..63, cdb_len @64, tag @65 unchanged.
OLD_OFFSETS = {"cdb": 40, "cdb_len": 56, "lun": 57, "tag": 65}
NEW_OFFSETS = {"lun": 40, "cdb": 48, "cdb_len": 64, "tag": 65}

# The parts of the tree the exerciser needs (no QEMU, module, unit, integration, fuzz or bench).
PARTS = "tests/host;tests/devices/mock;driver;tests/tools/exerciser"
EXERCISER_ARGS = ["--ops", "400", "--qd", "8", "--bs", "512-16k", "--luns", "2",
                  "--capacity", "4m", "-q"]


def set_field_offsets(text, layout, offsets):
    """Rewrites the offset of each named field of one layout in the YAML text, keeping the rest
    (comments, order, number formats) as it is. Works for flow ({name: x, offset: n, ...}) and
    block (- name: x / offset: n) entries; every field must be found exactly once."""
    head = re.search(rf"^(?P<indent> *)- name: {layout}\n", text, re.M)
    assert head, f"layout {layout} not found"
    start = head.end()
    nxt = re.compile(rf"^{head['indent']}- ", re.M).search(text, start)
    end = nxt.start() if nxt else len(text)
    block = text[start:end]
    for name, offset in offsets.items():
        entries = list(re.finditer(rf"-\s*\{{?\s*name:\s*{re.escape(name)}(?=[\s,}}])", block))
        assert len(entries) == 1, f"field {layout}.{name} found {len(entries)} times"
        entry_start = entries[0].start()
        after = re.compile(r"^\s*- ", re.M).search(block, entries[0].end())
        entry_end = after.start() if after else len(block)
        entry = block[entry_start:entry_end]
        new_entry, n = re.subn(r"(\boffset:\s*)\d+", rf"\g<1>{offset}", entry)
        assert n == 1, f"field {layout}.{name}: {n} offsets"
        block = block[:entry_start] + new_entry + block[entry_end:]
    return text[:start] + block + text[end:]


def layout_offsets(doc, layout):
    for item in doc["layouts"]:
        if item["name"] == layout:
            return {f["name"]: f["offset"] for f in item["fields"]}
    raise AssertionError(f"layout {layout} not in the description")


def header_offsets(path, struct):
    """The k<Field>Offset constants of one struct in a generated header, by name."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(rf"^(?:struct|class) {struct} \{{\n(.*?)^\}};", text, re.M | re.S)
    assert m, f"{struct} not in {path}"
    return {k: int(v) for k, v in
            re.findall(r"static constexpr uint32_t k(\w+)Offset = (\d+);", m.group(1))}


def differing(dir_a, dir_b):
    _, mismatch, errors = filecmp.cmpfiles(dir_a, dir_b, OUTPUT_NAMES, shallow=False)
    assert not errors, errors
    return sorted(mismatch)


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A copy of the description with the CDB and the LUN moved, and its generated output."""
    base = tmp_path_factory.mktemp("spec_change")
    with open(SPEC, encoding="utf-8") as f:
        original = f.read()
    assert {k: layout_offsets(yaml.safe_load(original), "RingReqDesc")[k]
            for k in OLD_OFFSETS} == OLD_OFFSETS, "hw/pvscsi.yaml changed: update OLD_OFFSETS"
    text = set_field_offsets(original, "RingReqDesc", NEW_OFFSETS)
    fields = layout_offsets(yaml.safe_load(text), "RingReqDesc")
    assert {k: fields[k] for k in NEW_OFFSETS} == NEW_OFFSETS
    spec = base / "pvscsi.yaml"
    spec.write_text(text, encoding="utf-8")
    out = base / "generated"
    proc = run_module(["--spec", str(spec), "--out", str(out), "--quiet"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == OUTPUT_NAMES
    return spec, out


def test_regenerated_header_moved_the_fields(moved):
    _, out = moved
    old = header_offsets(os.path.join(GENERATED, "pvscsi_layouts.h"), "RingReqDesc")
    new = header_offsets(out / "pvscsi_layouts.h", "RingReqDesc")
    assert (old["Cdb"], old["CdbLen"], old["Lun"], old["Tag"]) == (40, 56, 57, 65)
    assert (new["Cdb"], new["CdbLen"], new["Lun"], new["Tag"]) == (48, 64, 40, 65)
    # Nothing else in the descriptor moved.
    assert {k: v for k, v in new.items() if k not in ("Cdb", "CdbLen", "Lun")} == \
        {k: v for k, v in old.items() if k not in ("Cdb", "CdbLen", "Lun")}
    assert "pvscsi_layouts.h" in differing(out, GENERATED)


def tree_digest(path):
    return {name: (path / name).read_bytes() for name in sorted(os.listdir(path))}


def test_check_flags_the_change_against_generated(moved):
    spec, out = moved
    before = tree_digest(Path(GENERATED))
    proc = run_module(["--spec", str(spec), "--check"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    for line in lines:
        assert line.endswith(": stale; regenerate with `python3 -m gen`"), line
    stale = sorted(os.path.basename(line.split(":")[0]) for line in lines)
    assert "pvscsi_layouts.h" in stale
    # --check names exactly the files a regeneration would change, and writes nothing.
    assert stale == differing(out, GENERATED)
    assert tree_digest(Path(GENERATED)) == before


def tool(env_name, *names):
    given = os.environ.get(env_name)
    if given:
        return given if os.path.isfile(given) or shutil.which(given) else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def run_ok(args, cwd, timeout):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def exercise(exe, tmp_path):
    """Runs the exerciser's short verified workload on the mock; returns (exit code, report)."""
    report_path = tmp_path / "report.json"
    report_path.unlink(missing_ok=True)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    proc = subprocess.run([str(exe), *EXERCISER_ARGS, "--json", str(report_path)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "TMPDIR": str(tmpdir)})
    assert report_path.exists(), proc.stderr[-4000:]
    return proc.returncode, json.loads(report_path.read_text())


def test_driver_and_mock_agree_on_the_regenerated_headers(moved, tmp_path):
    cmake = tool("PVSCSI_CMAKE", "cmake")
    cxx = tool("PVSCSI_CXX", "c++", "g++", "clang++")
    cc = tool("PVSCSI_CC", "cc", "gcc", "clang")
    if not cmake or not cxx or not cc:
        pytest.skip("needs cmake and a C and C++ compiler "
                    f"(cmake={cmake}, c++={cxx}, cc={cc})")
    _, out = moved
    build = tmp_path / "build"
    configure = [cmake, "-S", ROOT, "-B", build,
                 f"-DPVSCSI_GENERATED_DIR={out}", "-DPVSCSI_REGENERATE=OFF",
                 f"-DPVSCSI_PARTS={PARTS}", f"-DPVSCSI_PYTHON={sys.executable}",
                 f"-DCMAKE_CXX_COMPILER={cxx}", f"-DCMAKE_C_COMPILER={cc}",
                 "-DCMAKE_BUILD_TYPE="]  # no optimisation, no debug info: the fastest build
    ninja = tool("PVSCSI_NINJA", "ninja")
    if ninja:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    timings = []
    started = time.monotonic()
    run_ok(configure, tmp_path, 300)
    timings.append(("configure", time.monotonic() - started))

    # The build includes the regenerated headers and never the checked-in ones.
    cache = (build / "CMakeCache.txt").read_text()
    assert f"PVSCSI_GENERATED_DIR:PATH={out}" in cache
    commands = json.loads((build / "compile_commands.json").read_text())
    units = [c for c in commands
             if re.search(r"/(driver|tests/devices/mock)/[^/]+\.cc$", c["file"])]
    assert len(units) >= 4, [c["file"] for c in units]
    for c in units:
        assert f"-I{out} " in c["command"], c["command"]
        assert f"{GENERATED}" not in c["command"], c["command"]

    started = time.monotonic()
    run_ok([cmake, "--build", build, "--target", "pvscsi-exercise", "-j2"], tmp_path, 900)
    timings.append(("build", time.monotonic() - started))
    exe = build / "tests" / "tools" / "exerciser" / "pvscsi-exercise"
    assert exe.is_file()

    started = time.monotonic()
    rc, report = exercise(exe, tmp_path)
    timings.append(("exercise", time.monotonic() - started))
    assert rc == 0, report["failures"]
    assert report["device"] == "mock"
    assert report["verdict"] == "verified"
    assert report["exit_status"] == 0
    assert report["failures"] == []
    # The run did I/O, to every LUN (LUN 1 exercises the moved LUN bytes), and checked it.
    assert report["ios"] == 400 and report["reads"] > 0 and report["writes"] > 0
    assert report["verify_failures"] == 0 and report["verified_blocks"] > 0
    assert sorted((t["target"], t["lun"]) for t in report["targets"]) == \
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert sum(report["errors"].values()) == 0, report["errors"]

    # The check can fail: the driver's objects compiled against the checked-in headers (the old
    # layout) and relinked with the same mock, which reads the new layout, do not work together.
    # (With Ninja, whose `-t commands` gives the exact compile and link steps.)
    if ninja:
        started = time.monotonic()
        steps = run_ok([ninja, "-C", build, "-t", "commands", "tests/tools/exerciser/pvscsi-exercise"],
                       tmp_path, 60).stdout.splitlines()
        driver_dir = os.path.join(ROOT, "driver") + os.sep
        driver_compiles = [c for c in steps
                           if " -c " in c and c.split()[-1].startswith(driver_dir)]
        links = [c for c in steps if " -c " not in c]
        assert len(driver_compiles) >= 4 and links, steps
        for step in driver_compiles:
            assert f"-I{out} " in step, step
            run_ok(["sh", "-c", step.replace(f"-I{out} ", f"-I{GENERATED} ")], build, 300)
        for step in links:
            run_ok(["sh", "-c", step], build, 300)
        rc, report = exercise(exe, tmp_path)
        timings.append(("mismatched pair", time.monotonic() - started))
        assert rc == 1 and report["verdict"] == "failed", report
        assert report["failures"], report
    print("timings: " + ", ".join(f"{what} {secs:.1f} s" for what, secs in timings))
    shutil.rmtree(build)  # only on success: a failed build stays for inspection
