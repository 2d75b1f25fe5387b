"""Every finding prints the one command that replays it, and that command reproduces it.

A defect is planted with ROBUST_PLANT (scenario.h: inputs carrying the bytes "PLNT" leak kmem,
use freed kmem or hang; the chaos soak leaks or aborts) and each way a finding is reported is
checked: the corpus replay (a finding, a crash, a hang), scripts/fuzz.sh with libFuzzer (the
fuzz build only) and the chaos soak. The printed command is run through sh with the variable
cleared from the environment: it must carry what the failure needs, and fail the same way.

Environment (set by CTest): ROBUST_REPLAY_BIN, ROBUST_SOAK_BIN, ROBUST_CORPUS, ROBUST_FUZZ_SH;
ROBUST_FUZZ_BIN in the fuzz build.
"""

import os
import re
import shutil
import subprocess

import pytest

REPLAY = os.environ.get("ROBUST_REPLAY_BIN", "")
SOAK = os.environ.get("ROBUST_SOAK_BIN", "")
FUZZ = os.environ.get("ROBUST_FUZZ_BIN", "")
FUZZ_SH = os.environ.get("ROBUST_FUZZ_SH", "")
CORPUS = os.environ.get("ROBUST_CORPUS", "")
SETTINGS = ("ROBUST_PLANT", "ROBUST_REPLAY_TIMEOUT", "ROBUST_SOAK_IOS", "ROBUST_SOAK_SEED")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(extra)
    return env


def run(argv, **extra):
    return subprocess.run(argv, env=clean_env(**extra), capture_output=True, text=True,
                          timeout=300)


def replay_lines(out, pattern=r"^(?:fuzz\.sh: .*; )?replay: (.*)$"):
    return [m.group(1) for m in re.finditer(pattern, out, re.M)]


def status(rc):
    """An exit status as sh reports it (a signal N is 128 + N)."""
    return 128 - rc if rc < 0 else rc


def rerun(cmd):
    """The printed command, as a user pastes it: through sh, with no setting inherited."""
    return subprocess.run(["sh", "-c", cmd], env=clean_env(), capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def corpus_dir(tmp_path):
    """Two seeds and a planted input (a third seed with the mark appended)."""
    if not (REPLAY and CORPUS):
        pytest.skip("ROBUST_REPLAY_BIN / ROBUST_CORPUS not set (run through ctest)")
    d = tmp_path / "inputs"
    d.mkdir()
    for name in ("plain-vmware-io", "polled"):
        shutil.copy(os.path.join(CORPUS, name), d / name)
    with open(os.path.join(CORPUS, "plain-qemu-io"), "rb") as f:
        (d / "planted").write_bytes(f.read() + b"PLNT")
    return d


def test_seed_corpus_carries_no_plant_mark():
    if not CORPUS:
        pytest.skip("ROBUST_CORPUS not set")
    for name in os.listdir(CORPUS):
        with open(os.path.join(CORPUS, name), "rb") as f:
            assert b"PLNT" not in f.read(), name


def test_the_plant_alone_makes_the_input_fail(corpus_dir):
    r = run([REPLAY, str(corpus_dir)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "replay:" not in r.stdout + r.stderr


def test_finding_prints_a_command_that_reproduces_it(corpus_dir):
    r = run([REPLAY, str(corpus_dir)], ROBUST_PLANT="leak")
    assert r.returncode == 1, r.stderr[-2000:]
    finding = re.search(r"^(\S+): FINDING: (leak: kmem 24 .*)$", r.stderr, re.M)
    assert finding and finding.group(1).endswith("/planted"), r.stderr[-2000:]
    lines = replay_lines(r.stderr)
    assert len(lines) == 1, r.stderr[-2000:]
    cmd = lines[0]
    assert "ROBUST_PLANT=leak" in cmd and cmd.endswith(str(corpus_dir / "planted")), cmd
    again = rerun(cmd)
    assert again.returncode == 1, again.stderr[-2000:]
    assert "FINDING: leak: kmem 24" in again.stderr
    assert replay_lines(again.stderr) == [cmd]


def test_crash_prints_a_command_that_reproduces_it(corpus_dir):
    r = run([REPLAY, str(corpus_dir)], ROBUST_PLANT="crash")
    assert r.returncode != 0, r.stderr[-2000:]
    lines = replay_lines(r.stderr)
    assert len(lines) == 1, r.stderr[-3000:]
    cmd = lines[0]
    assert cmd.endswith(str(corpus_dir / "planted")), cmd
    # AddressSanitizer's report, or the planted abort() without ASan: the same either way.
    signature = "AddressSanitizer" if "AddressSanitizer" in r.stderr else "planted crash"
    assert signature in r.stderr
    again = rerun(cmd)
    assert status(again.returncode) == status(r.returncode)
    assert signature in again.stderr
    assert replay_lines(again.stderr) == [cmd]


def test_hang_prints_a_command_that_reproduces_it(corpus_dir):
    r = run([REPLAY, str(corpus_dir)], ROBUST_PLANT="hang", ROBUST_REPLAY_TIMEOUT="1")
    assert r.returncode == 3, r.stderr[-2000:]
    assert re.search(r"/planted: FINDING: hang", r.stderr), r.stderr[-2000:]
    lines = replay_lines(r.stderr)
    assert len(lines) == 1
    cmd = lines[0]
    assert "ROBUST_REPLAY_TIMEOUT=1" in cmd and "ROBUST_PLANT=hang" in cmd, cmd
    again = rerun(cmd)
    assert again.returncode == 3
    assert "FINDING: hang" in again.stderr


def test_fuzzer_finding_prints_a_command_that_reproduces_it(corpus_dir, tmp_path):
    if not (FUZZ and FUZZ_SH):
        pytest.skip("no libFuzzer target in this build (the fuzz preset has one)")
    work = tmp_path / "work"
    r = run(["bash", FUZZ_SH, "--binary", FUZZ, "--seconds", "60", "--work", str(work), "--",
             f"-seed_inputs={corpus_dir / 'planted'}"], ROBUST_PLANT="crash")
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    lines = re.findall(r"^fuzz\.sh: finding (\S+); replay: (.*)$", out, re.M)
    assert len(lines) == 1, out[-3000:]
    artifact, cmd = lines[0]
    assert os.path.basename(artifact).startswith("crash-") and str(work) in artifact
    assert "ROBUST_PLANT=crash" in cmd and cmd.endswith(artifact), cmd
    again = rerun(cmd)
    assert again.returncode != 0
    assert "AddressSanitizer" in again.stderr or "planted crash" in again.stderr


@pytest.mark.parametrize("profile", ["vmware", "qemu"])
def test_soak_failure_prints_a_command_that_reproduces_it(profile):
    if not SOAK:
        pytest.skip("ROBUST_SOAK_BIN not set")
    r = run([SOAK, f"--gtest_filter=*VerifiedIoSurvivesEverything/{profile}"], ROBUST_PLANT="leak",
            ROBUST_SOAK_IOS="200",
            ROBUST_SOAK_SEED="7")
    assert r.returncode == 1, r.stdout[-2000:]
    lines = replay_lines(r.stdout, r"^\[ soak \] FAILED; replay: (.*)$")
    assert len(lines) == 1, r.stdout[-3000:]
    cmd = lines[0]
    for setting in ("ROBUST_SOAK_IOS=200", "ROBUST_SOAK_SEED=7", "ROBUST_PLANT=leak",
                    f"--gtest_filter=Profiles/ChaosSoak.VerifiedIoSurvivesEverything/{profile}"):
        assert setting in cmd, cmd
    # Printed as the run starts too: a crash or a hang leaves it in the log.
    assert replay_lines(r.stdout, r"^\[ soak \] replay: (.*)$") == [cmd]
    again = rerun(cmd)
    assert again.returncode == 1
    assert "leak: kmem 24" in again.stdout
    assert "1 FAILED TEST" in again.stdout


def test_soak_crash_leaves_the_command_in_the_log():
    if not SOAK:
        pytest.skip("ROBUST_SOAK_BIN not set")
    r = run([SOAK, "--gtest_filter=*/vmware"], ROBUST_PLANT="crash", ROBUST_SOAK_IOS="200",
            ROBUST_SOAK_SEED="3")
    assert r.returncode != 0
    lines = replay_lines(r.stdout, r"^\[ soak \] replay: (.*)$")
    assert len(lines) == 1, r.stdout[-2000:]
    assert "ROBUST_SOAK_SEED=3" in lines[0] and "ROBUST_PLANT=crash" in lines[0]
    again = rerun(lines[0])
    assert status(again.returncode) == status(r.returncode)
