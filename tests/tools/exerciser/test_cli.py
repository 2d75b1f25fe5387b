"""pvscsi-exercise as a user runs it: argument errors and exit codes, the JSON report's shape,
short verified runs on the mock (both profiles), and a QEMU run with an injected hot remove.

The binary comes from $PVSCSI_EXERCISE (set by CTest)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

EXE = os.environ.get("PVSCSI_EXERCISE")
HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY_IMAGE = os.path.join(HERE, "verify_image.py")
QEMU = shutil.which("qemu-system-x86_64")

pytestmark = pytest.mark.skipif(not EXE, reason="PVSCSI_EXERCISE not set (run through ctest)")

# Fields the JSON report must have, and their types.
REQUIRED = {
    "device": str, "targets": list, "ios": int, "reads": int, "writes": int, "bytes": int,
    "errors": dict, "verify_failures": int, "iops": (int, float), "latency_us": dict,
    "doorbells": int, "interrupts": int, "doorbells_per_io": (int, float),
    "interrupts_per_io": (int, float), "register_reads": int, "register_writes": int,
    "register_reads_per_io": (int, float), "register_writes_per_io": (int, float),
    "hotplug_events": int, "resets": int,
    "leaked_bytes": int, "lock_violations": int, "sync_violations": int,
}


def run(args, tmp_path, timeout=120, env=None):
    """Runs the exerciser with a private TMPDIR; returns the CompletedProcess."""
    e = dict(os.environ)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    e["TMPDIR"] = str(tmpdir)
    if env:
        e.update(env)
    proc = subprocess.Popen([EXE, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    result.pid = proc.pid
    return result


def check_shape(report):
    for key, typ in REQUIRED.items():
        assert key in report, key
        assert isinstance(report[key], typ), (key, report[key])
    for t in report["targets"]:
        for key in ("target", "lun", "blocks", "block_size"):
            assert isinstance(t[key], int), (key, t)
    for key in ("p50", "p99", "max"):
        assert isinstance(report["latency_us"][key], int), key
    assert report["latency_us"]["p50"] <= report["latency_us"]["p99"] <= report["latency_us"]["max"]
    for kind, n in report["errors"].items():
        assert isinstance(n, int), kind
    assert report["reads"] + report["writes"] == report["ios"]
    assert report["verdict"] in ("verified", "failed")
    assert report["exit_status"] in (0, 1)


def assert_clean_error(r, names):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pvscsi-exercise: "), lines[0]
    assert names in lines[0], (names, lines[0])
    assert "Traceback" not in r.stderr and "terminate" not in r.stderr
    assert r.stdout == ""


def test_help_documents_every_option(tmp_path):
    r = run(["--help"], tmp_path)
    assert r.returncode == 0
    for opt in ("--device", "--targets", "--luns", "--capacity", "--block-size", "--profile",
                "--qemu-disk", "--qemu-arg", "--qemu-binary", "--ops", "--seconds", "--qd",
                "--bs", "--read-pct", "--pattern", "--seed", "--no-verify", "--at", "--json",
                "--sched", "--sched-seed", "--time-limit"):
        assert opt in r.stdout, opt
    assert run(["--version"], tmp_path).returncode == 0


@pytest.mark.parametrize("args,names", [
    (["--frobnicate"], "--frobnicate"),
    (["--qd", "0"], "--qd"),
    (["--qd", "many"], "--qd"),
    (["--ops"], "--ops"),
    (["--bs", "4q"], "--bs"),
    (["--bs", "64k-4k"], "--bs"),
    (["--block-size", "4096", "--bs", "512"], "--bs"),
    (["--device", "tape"], "--device"),
    (["--profile", "hyperv"], "--profile"),
    (["--read-pct", "120"], "--read-pct"),
    (["--at", "10:explode"], "--at"),
    (["--at", "10:remove-target=9"], "--at"),
    (["--ops", "5", "--seconds", "1"], "--seconds"),
    (["--device", "qemu", "--qemu-binary", "/nonexistent/qemu-system-x86_64"], "--qemu-binary"),
    (["--device", "qemu", "--qemu-binary", "/bin/true", "--qemu-disk",
      "target=0,file=/nonexistent/disk.img"], "--qemu-disk"),
    (["--qemu-disk", "target=0"], "--qemu-disk"),
    (["--device", "qemu", "--qemu-binary", "/bin/true", "--at", "5:fault=error"], "--at"),
    (["--json", "/nonexistent-dir/report.json"], "--json"),
    (["--device", "qemu", "--intr", "msix"], "--intr"),
    (["--sched", "chaos"], "--sched"),
    (["--sched-seed", "-1"], "--sched-seed"),
    (["--time-limit", "0"], "--time-limit"),
    (["--device", "qemu", "--qemu-binary", "/bin/true", "--sched", "fair"], "--sched"),
])
def test_usage_errors(tmp_path, args, names):
    r = run(args, tmp_path)
    assert_clean_error(r, names)
    assert os.listdir(tmp_path / "tmpdir") == []  # nothing left behind


def test_unwritable_json_path_leaves_nothing(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user that can write anywhere")
        r = run(["--json", ro / "r.json"], tmp_path)
        assert_clean_error(r, "--json")
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("profile", ["vmware", "qemu"])
def test_short_mock_run_verifies(tmp_path, profile):
    out = tmp_path / "report.json"
    r = run(["--profile", profile, "--ops", "3000", "--qd", "8", "--bs", "512-16k",
             "--json", out], tmp_path)
    report = json.loads(out.read_text())
    check_shape(report)
    assert report["device"] == "mock"
    assert report["profile"] == profile
    assert report["ios"] == 3000
    assert report["verify_failures"] == 0
    assert report["verified_blocks"] > 0
    assert [(t["target"], t["lun"]) for t in report["targets"]] == [(0, 0), (1, 0)]
    # The human report is on stdout, and says how the run ended.
    assert "VERIFIED" in r.stdout or "FAILED" in r.stdout
    assert r.returncode == report["exit_status"]
    assert report["failures"] == [], report["failures"] + report["violation_samples"]
    assert r.returncode == 0
    # python3 -m json.tool accepts the file as it is.
    subprocess.run([sys.executable, "-m", "json.tool", str(out)], check=True,
                   capture_output=True)


def test_json_on_stdout_is_pure(tmp_path):
    r = run(["--ops", "500", "--json", "-"], tmp_path)
    report = json.loads(r.stdout)  # nothing else on stdout
    check_shape(report)
    assert "I/Os" in r.stderr  # the table went to stderr instead
    assert r.returncode == report["exit_status"]


def test_same_seed_same_workload(tmp_path):
    def counts(seed):
        out = tmp_path / ("r%d.json" % seed)
        run(["--ops", "800", "--seed", seed, "--json", out, "-q"], tmp_path)
        rep = json.loads(out.read_text())
        return rep["reads"], rep["writes"], rep["bytes"]
    assert counts(5) == counts(5)
    assert counts(5) != counts(6)


def test_same_sched_seed_same_trace_digest(tmp_path):
    """Deterministic mode: one scheduler seed is one interleaving, also under events."""
    def trace(*extra):
        out = tmp_path / "t.json"
        r = run(["--ops", "1500", "--qd", "16", "--latency-us", "50", "--at", "500:reset-bus",
                 "--at", "900:remove-target=1", "--at", "1100:add-target=1", *extra,
                 "--json", out, "-q"], tmp_path, env={"FK_DETERMINISTIC": "1"})
        rep = json.loads(out.read_text())
        assert r.returncode == 0, rep["failures"]
        return rep["trace_digest"], rep["sched"], rep["sched_steps"]
    a = trace("--sched-seed", 7)
    assert a[1] == "random" and a[2] > 0 and len(a[0]) == 16
    assert trace("--sched-seed", 7) == a
    assert trace("--sched-seed", 8)[0] != a[0]
    assert trace("--sched-seed", 7, "--sched", "pct")[0] != a[0]
    real = trace("--sched", "real")
    assert real == ("0" * 16, "real", 0)


def test_events_that_never_run_fail_the_run(tmp_path):
    out = tmp_path / "r.json"
    r = run(["--seconds", "0.2", "--at", "100000000:reset-bus", "--json", out, "-q"], tmp_path)
    report = json.loads(out.read_text())
    assert r.returncode == 1
    assert report["events"][0]["ok"] is False
    assert any("reset-bus" in f for f in report["failures"])


def test_injected_faults_are_explained(tmp_path):
    out = tmp_path / "r.json"
    r = run(["--ops", "1500", "--at", "300:fault=error,count=3", "--at",
             "600:fault=check-condition,target=0", "--json", out, "-q"], tmp_path)
    report = json.loads(out.read_text())
    assert report["errors_unexplained"] == 0, report["error_samples"]
    assert report["errors_explained"] >= 1
    assert report["verify_failures"] == 0
    assert all(e["ok"] for e in report["events"])
    assert r.returncode == report["exit_status"]


@pytest.mark.parametrize("profile", ["vmware", "qemu"])
def test_resets_and_adapter_restart_under_load(tmp_path, profile):
    out = tmp_path / "r.json"
    r = run(["--profile", profile, "--ops", "2000", "--qd", "32", "--at", "400:reset-bus",
             "--at", "800:reset-device=1", "--at", "1200:fault=bad-cmp-index",
             "--at", "1500:fault=drop-irq,count=2", "--json", out, "-q"], tmp_path)
    report = json.loads(out.read_text())
    assert all(e["ok"] for e in report["events"]), report["events"]
    assert report["resets"] >= 3  # bus, device, and the adapter restart
    assert report["errors_unexplained"] == 0, report["error_samples"]
    assert report["verify_failures"] == 0, report["verify_samples"]
    assert r.returncode == report["exit_status"]


def test_mock_hot_remove_and_add(tmp_path):
    out = tmp_path / "r.json"
    r = run(["--ops", "2000", "--at", "500:remove-target=1", "--at", "1200:add-target=1",
             "--json", out, "-q"], tmp_path)
    report = json.loads(out.read_text())
    assert report["skipped"] > 0
    assert report["hotplug_events"] >= 2
    assert report["errors_unexplained"] == 0, report["error_samples"]
    assert report["verify_failures"] == 0, report["verify_samples"]
    assert all(e["ok"] for e in report["events"]), report["events"]
    assert r.returncode == report["exit_status"]


# Register accesses per I/O, over the workload only: with MSI the driver's I/O path reads no
# register (one doorbell write per request); with FIXED every interrupt reads INTR_STATUS and
# writes it back.
@pytest.mark.parametrize("intr", ["msi", "fixed"])
def test_mock_register_accesses_per_io(tmp_path, intr):
    out = tmp_path / "r.json"
    r = run(["--intr", intr, "--ops", "400", "--qd", "1", "--bs", "4k", "--json", out], tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["driver"]["interrupt_type"] == intr.upper()
    assert report["ios"] == 400
    if intr == "msi":
        assert report["register_reads"] == 0
    else:
        assert report["register_reads"] == report["interrupts"] > 0
    assert report["register_writes"] == report["doorbells"] + report["register_reads"]
    assert report["register_reads_per_io"] == report["register_reads"] / report["ios"]


@pytest.mark.qemu
@pytest.mark.skipif(not QEMU, reason="qemu-system-x86_64 not installed")
@pytest.mark.parametrize("intr,expect", [(None, "MSI"), ("msi", "MSI"), ("fixed", "FIXED")])
def test_qemu_interrupt_type(tmp_path, intr, expect):
    out = tmp_path / "r.json"
    args = ["--device", "qemu", "--qemu-disk", "target=0,size=8m", "--ops", "300", "--qd", "4",
            "--json", out]
    if intr:
        args += ["--intr", intr]
    r = run(args, tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["driver"]["interrupt_type"] == expect
    assert "interrupts " + expect in r.stdout
    if expect == "MSI":
        assert report["register_reads"] == 0
        assert report["register_writes"] == report["doorbells"]
    else:
        assert report["register_reads"] >= report["interrupts"] > 0
    assert os.listdir(tmp_path / "tmpdir") == []


@pytest.mark.qemu
@pytest.mark.skipif(not QEMU, reason="qemu-system-x86_64 not installed")
def test_qemu_run_with_hot_remove(tmp_path):
    image = tmp_path / "t1.img"
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    out = tmp_path / "r.json"
    r = run(["--device", "qemu", "--qemu-disk", "target=0,size=8m",
             "--qemu-disk", "target=1,file=%s" % image, "--ops", "1500", "--qd", "8",
             "--seed", "77", "--at", "500:remove-target=1", "--at", "1000:add-target=1",
             "--json", out], tmp_path, timeout=300)
    assert out.exists(), r.stderr
    report = json.loads(out.read_text())
    check_shape(report)
    assert report["device"] == "qemu"
    assert [(t["target"], t["lun"]) for t in report["targets"]] == [(0, 0), (1, 0)]
    assert report["skipped"] > 0
    assert report["hotplug_events"] >= 2
    assert report["errors_unexplained"] == 0, report["error_samples"]
    assert report["verify_failures"] == 0, report["verify_samples"]
    assert r.returncode == report["exit_status"]
    assert r.returncode == 0, report["failures"]
    # The user's image is kept and anyone can verify it: every block is zeros or a valid stamp
    # of this run for target 1.
    v = subprocess.run([sys.executable, VERIFY_IMAGE, str(image), "--seed", "77", "--target",
                        "1", "--json"], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout
    assert json.loads(v.stdout)["stamp"] > 0
    # Temporary images, sockets and guest RAM are gone.
    assert os.listdir(tmp_path / "tmpdir") == []
    # (other processes may have their own guest RAM there: only ours must be gone)
    assert [f for f in os.listdir("/dev/shm") if "-%d-" % r.pid in f] == []
