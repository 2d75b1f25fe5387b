"""Generation as a whole: the checked-in output is current, output is deterministic, --check
names stale files, a spec change touches exactly the expected files, and failures of the tools
around the generator (clang-format, templates) are clear one-line errors."""

import filecmp
import os
import shutil

import pytest

from conftest import GENERATED, ROOT, SPEC, replace_once, run_module
from gen import render

OUTPUT_NAMES = sorted(name for name, _ in render.OUTPUTS)

NEW_REGISTER = """  - name: SCRATCH
    offset: 0x301C
    width: 32
    access: rw
    doc: A register added by a test.
    fields:
      - name: LOW
        bits: [7, 0]
        doc: Low byte.
"""


def generate(tmp_path, name, text=None, extra=(), env=None):
    """Generates into tmp_path/name from text (default: the real spec); returns the process."""
    spec = SPEC
    if text is not None:
        spec = str(tmp_path / f"{name}.yaml")
        with open(spec, "w", encoding="utf-8") as f:
            f.write(text)
    return run_module(["--spec", spec, "--out", str(tmp_path / name), *extra], env=env)


def differing(dir_a, dir_b):
    cmp = filecmp.dircmp(dir_a, dir_b)
    assert not cmp.left_only and not cmp.right_only
    _, mismatch, errors = filecmp.cmpfiles(dir_a, dir_b, OUTPUT_NAMES, shallow=False)
    assert not errors
    return sorted(mismatch)


def test_checked_in_output_is_current():
    proc = run_module(["--check"])
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(GENERATED)) == OUTPUT_NAMES


def test_output_is_deterministic(tmp_path):
    first = generate(tmp_path, "a", env={"PYTHONHASHSEED": "1"})
    second = generate(tmp_path, "b", env={"PYTHONHASHSEED": "2"})
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert differing(tmp_path / "a", tmp_path / "b") == []
    assert differing(tmp_path / "a", GENERATED) == []
    # A second run into the same directory writes nothing.
    again = generate(tmp_path, "a")
    assert again.returncode == 0
    assert "wrote" not in again.stdout


def test_check_fails_after_an_offset_edit_and_names_the_files(tmp_path, spec_text):
    out = tmp_path / "out"
    shutil.copytree(GENERATED, out)
    assert generate(tmp_path, "out", extra=("--check",)).returncode == 0

    # A register offset.
    text = replace_once(spec_text, "offset: 0x3018", "offset: 0x301C")
    proc = generate(tmp_path, "out", text, extra=("--check",))
    assert proc.returncode == 1
    stale = sorted(os.path.basename(l.split(":")[0]) for l in proc.stderr.splitlines())
    assert stale == ["REGISTERS.md", "pvscsi_layout_test.cc", "pvscsi_regs.h"]
    for line in proc.stderr.splitlines():
        assert line.endswith(": stale; regenerate with `python3 -m gen`")
    assert differing(out, GENERATED) == [], "--check writes nothing"

    # A layout field offset (target and pad of ABORT_CMD swapped).
    text = replace_once(spec_text, "{name: target, offset: 8, type: u32, writer: driver, "
                        "spec: target, doc: Target id.}",
                        "{name: target, offset: 12, type: u32, writer: driver, "
                        "spec: target, doc: Target id.}")
    text = replace_once(text, "{name: pad, offset: 12, type: u32, reserved: true, spec: _pad, "
                        "doc: Unused.}\n  - name: CmdDescConfig",
                        "{name: pad, offset: 8, type: u32, reserved: true, spec: _pad, "
                        "doc: Unused.}\n  - name: CmdDescConfig")
    proc = generate(tmp_path, "out", text, extra=("--check",))
    assert proc.returncode == 1
    assert "pvscsi_layouts.h: stale" in proc.stderr


def test_check_names_missing_files(tmp_path):
    out = tmp_path / "out"
    shutil.copytree(GENERATED, out)
    os.remove(out / "pvscsi_hw.h")
    proc = generate(tmp_path, "out", extra=("--check",))
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith("pvscsi_hw.h: stale; regenerate with `python3 -m gen`")
    assert proc.stderr.count("\n") == 1


def test_spec_change_touches_exactly_the_expected_files(tmp_path, spec_text):
    text = replace_once(spec_text, "  - name: KICK_RW_IO\n",
                        NEW_REGISTER + "  - name: KICK_RW_IO\n")
    text = replace_once(text, "      - {name: unused, offset: 69, type: u8, count: 59,",
                        "      - {name: new_hint, offset: 69, type: u8, writer: driver, "
                        "doc: A field added by a test.}\n"
                        "      - {name: unused, offset: 70, type: u8, count: 58,")
    base = generate(tmp_path, "base")
    changed = generate(tmp_path, "changed", text)
    assert base.returncode == 0 and changed.returncode == 0, changed.stderr
    assert differing(tmp_path / "base", tmp_path / "changed") == [
        "REGISTERS.md", "pvscsi_layout_test.cc", "pvscsi_layouts.h", "pvscsi_mock_skeleton.h",
        "pvscsi_regs.h"]
    regs = (tmp_path / "changed" / "pvscsi_regs.h").read_text()
    assert "class Scratch : public Register<Scratch, 0x301C, RegAccess::kRw> {" in regs
    assert "constexpr uint32_t low() const { return get<7, 0>(); }" in regs
    layouts = (tmp_path / "changed" / "pvscsi_layouts.h").read_text()
    assert "RingReqDesc &set_new_hint(uint8_t v)" in layouts
    assert "static constexpr uint32_t kUnusedCount = 58;" in layouts
    skeleton = (tmp_path / "changed" / "pvscsi_mock_skeleton.h").read_text()
    assert "self().on_write(Scratch(value))" in skeleton
    assert "return self().on_read(Scratch{});" in skeleton


def test_missing_clang_format_is_a_clear_error(tmp_path):
    proc = generate(tmp_path, "out", env={"CLANG_FORMAT": str(tmp_path / "no-clang-format")})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "cannot run" in proc.stderr and "install clang-format" in proc.stderr
    assert not (tmp_path / "out").exists()

    env = {"PATH": str(tmp_path), "CLANG_FORMAT": ""}
    proc = generate(tmp_path, "out", env=env)
    assert proc.returncode == 1
    assert "clang-format is not installed" in proc.stderr
    assert "apt-get install clang-format" in proc.stderr


def test_template_error_names_the_template(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(os.path.join(ROOT, "templates"), templates)
    path = templates / "pvscsi_hw.h.j2"
    path.write_text(path.read_text() + "{{ dev.no_such_attribute }}\n")
    proc = generate(tmp_path, "out", extra=("--templates", str(templates)))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "pvscsi_hw.h.j2" in proc.stderr and "no_such_attribute" in proc.stderr
    assert proc.stderr.strip().endswith("; fix the template")


def test_every_item_has_doc_and_vmware_names_are_findable(spec_text):
    # A grep for a VMware identifier finds our item (the spec: keys).
    for name in ("PVSCSI_REG_OFFSET_COMMAND", "PVSCSI_CMD_SETUP_RINGS", "BTSTAT_SELTIMEO",
                 "PVSCSIRingReqDesc", "PVSCSI_REG_OFFSET_KICK_RW_IO", "PVSCSICmdDescSetupRings",
                 "PVSCSI_CMD_SETUP_REQCALLTHRESHOLD", "PVSCSI_INTR_MSG_0"):
        assert f"spec: {name}" in spec_text, name
    registers = open(os.path.join(GENERATED, "REGISTERS.md"), encoding="utf-8").read()
    assert "PVSCSI_REG_OFFSET_INTR_STATUS" in registers
    assert "| 0x100C | INTR_STATUS | `IntrStatus` | w1c |" in registers
    # The known discrepancies are resolved with a doc line at their item.
    for marker in ("vCPU to complete on. Discrepancy", "absent from QEMU's copy (reads 0)",
                   "Discrepancy - FreeBSD only"):
        assert marker in spec_text


def test_pyproject_declares_the_entry_point_and_dependencies():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["project"]["scripts"]["pvscsi-gen"] == "gen.cli:main"
    deps = " ".join(project["project"]["dependencies"]).lower()
    assert "jinja2" in deps and "pyyaml" in deps
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests/suites/generator"]
    from gen import cli
    assert callable(cli.main)
