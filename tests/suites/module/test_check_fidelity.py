"""scripts/check-fidelity.py: the ledger check fails on every kind of gap it is there to find."""
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = os.environ.get("PVSCSI_CHECK_FIDELITY") or os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "scripts", "check-fidelity.py")

HEADER = textwrap.dedent("""\
    | interface | illumos (file: function) | what | host | pinned by |
    |---|---|---|---|---|
    """)


def make_tree(tmp_path, rows, tests="TEST(KernelTest, Works) {}\n", module_syms=()):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a_test.cc").write_text(tests)
    (tmp_path / "host.cc").write_text("")
    ledger = tmp_path / "FIDELITY.md"
    ledger.write_text(HEADER + "".join(r + "\n" for r in rows))
    return ledger


def run(ledger, root, *objs, readelf="readelf"):
    return subprocess.run([sys.executable, SCRIPT, "--ledger", str(ledger), "--root", str(root),
                           "--readelf", readelf, *map(str, objs)],
                          capture_output=True, text=True)


GOOD = "| `ddi_get32` | intel/ml/ddi_i86_asm.S: ddi_get32 | one access | host.cc | KernelTest.Works |"


def test_a_complete_ledger_passes(tmp_path):
    r = run(make_tree(tmp_path, [GOOD]), tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rows, 1 interfaces" in r.stdout


def test_a_missing_test_is_named(tmp_path):
    row = GOOD.replace("KernelTest.Works", "KernelTest.NoSuchTest")
    r = run(make_tree(tmp_path, [row]), tmp_path)
    assert r.returncode == 1
    assert "test KernelTest.NoSuchTest is not defined" in r.stdout


def test_a_missing_host_file_is_named(tmp_path):
    row = GOOD.replace("host.cc", "tests/host/kernel/nowhere.cc")
    r = run(make_tree(tmp_path, [row]), tmp_path)
    assert r.returncode == 1
    assert "host file tests/host/kernel/nowhere.cc does not exist" in r.stdout


def test_an_empty_cell_and_a_short_row_fail(tmp_path):
    rows = [GOOD.replace("one access", " "), "| `x` | a | b | host.cc |"]
    r = run(make_tree(tmp_path, rows), tmp_path)
    assert r.returncode == 1
    assert "an empty cell" in r.stdout and "4 cells" in r.stdout


def test_parameterised_and_pytest_names_are_found(tmp_path):
    rows = [GOOD.replace("KernelTest.Works", "Profiles/Sweep.Each/qemu, test_overlay")]
    tests = "TEST_P(Sweep, Each) {}\n"
    ledger = make_tree(tmp_path, rows, tests=tests)
    (tmp_path / "tests" / "t.py").write_text("def test_overlay(tmp_path):\n    pass\n")
    r = run(ledger, tmp_path)
    assert r.returncode == 0, r.stdout


@pytest.fixture
def module_object(tmp_path):
    """A relocatable object importing ddi_get32, ddi_put32 and an SDT probe."""
    src = tmp_path / "m.c"
    src.write_text("unsigned ddi_get32(void *, unsigned *); void ddi_put32(void *, unsigned *,"
                   " unsigned); void __dtrace_probe_x(void);\n"
                   "void f(void) { ddi_put32(0, 0, ddi_get32(0, 0)); __dtrace_probe_x(); }\n")
    obj = tmp_path / "m.o"
    subprocess.run(["cc", "-c", "-o", str(obj), str(src)], check=True)
    return obj


def test_an_import_without_a_row_fails_and_probes_do_not_need_one(tmp_path, module_object):
    r = run(make_tree(tmp_path, [GOOD]), tmp_path, module_object)
    assert r.returncode == 1
    assert "imports 'ddi_put32', which the ledger has no row for" in r.stdout
    assert "ddi_get32'" not in r.stdout and "__dtrace_probe_x" not in r.stdout


def test_bad_input_is_exit_2_with_one_line(tmp_path):
    r = run(tmp_path / "missing.md", tmp_path)
    assert r.returncode == 2 and "cannot read the ledger" in r.stderr
    r = run(make_tree(tmp_path, [GOOD]), tmp_path, tmp_path / "nothing.o")
    assert r.returncode == 2 and "no module object" in r.stderr
