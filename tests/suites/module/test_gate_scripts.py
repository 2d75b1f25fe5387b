"""Tests of the illumos-gate scripts on tiny fake gate trees made here (CI has no gate):
scripts/illumos-gate-overlay.sh (the drop-in), scripts/extract-gate-headers.sh (header
extraction from a git repository or a plain tree) and the skip/usage paths of
scripts/build-against-gate.sh."""

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OVERLAY = ROOT / "scripts" / "illumos-gate-overlay.sh"
EXTRACT = ROOT / "scripts" / "extract-gate-headers.sh"
BUILD = ROOT / "scripts" / "build-against-gate.sh"
PVSCSI_DIR = "usr/src/uts/common/io/scsi/adapters/pvscsi"

# The shape of the gate files the overlay edits (what the 2022 driver's tree has).
OLD_FILES = {
    f"{PVSCSI_DIR}/pvscsi.c": "/* old driver */\n",
    f"{PVSCSI_DIR}/pvscsi.h": "/* old header */\n",
    f"{PVSCSI_DIR}/pvscsi_var.h": "/* old state */\n",
    f"{PVSCSI_DIR}/THIRDPARTYLICENSE": "old license\n",
    f"{PVSCSI_DIR}/THIRDPARTYLICENSE.descrip": "PVSCSI DRIVER\n",
    "usr/src/man/man4d/pvscsi.4d": ".Dd old\n",
    "usr/src/uts/intel/pvscsi/Makefile": "MODULE=\tpvscsi\nLDFLAGS\t+=\t-N misc/scsi\n",
    "usr/src/uts/intel/Makefile.intel": "DRV_KMODS\t+= pvscsi\n",
    "usr/src/uts/common/io/scsi/impl/scsi_hba.c": "/* framework */\n",
    "usr/src/uts/common/Makefile.files": (
        "SKD_OBJS = skd.o\n\nNVME_OBJS = nvme.o\n\nPVSCSI_OBJS = pvscsi.o\n\n"
        "#\n#\tBuild up defines and paths.\n"),
    "usr/src/pkg/manifests/driver-storage-pvscsi.p5m": (
        "<include global_zone_only_component>\n"
        "set name=pkg.fmri value=pkg:/driver/storage/pvscsi@$(PKGVERS)\n"
        "dir  path=kernel/drv/$(ARCH64) group=sys\n"
        "file path=kernel/drv/$(ARCH64)/pvscsi group=sys\n"
        "file path=usr/share/man/man4d/pvscsi.4d\n"
        "driver name=pvscsi class=scsi-self-identifying alias=pci15ad,7c0\n"
        "license lic_CDDL license=lic_CDDL\n"
        f"license {PVSCSI_DIR}/THIRDPARTYLICENSE \\\n"
        f"    license={PVSCSI_DIR}/THIRDPARTYLICENSE\n"),
}
AARCH64_FILES = {
    "usr/src/uts/aarch64/Makefile.aarch64": (
        "DRV_KMODS\t+= aac\nDRV_KMODS\t+= ahci\n\n#\n#\tExec modules\n#\nEXEC_KMODS\t+= elfexec\n"),
}


def make_tree(base, files):
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def run(*args):
    p = subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, check=False)
    return p.returncode, p.stdout + p.stderr


def snapshot(base):
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file()}


def driver_cc():
    return sorted(p.name for p in (ROOT / "driver").glob("*.cc"))


# --- the overlay ----------------------------------------------------------------------------

def test_overlay_places_the_driver_where_the_old_one_was(tmp_path):
    gate = make_tree(tmp_path / "gate", OLD_FILES)
    status, out = run(OVERLAY, gate)
    assert status == 0, out
    src = gate / PVSCSI_DIR
    for name in driver_cc() + ["pvscsi.h", "pvscsi.conf"]:
        assert filecmp.cmp(src / name, ROOT / "driver" / name, shallow=False), name
    # The generated headers the driver includes, and only those.
    for name in ["pvscsi_hw.h", "pvscsi_defs.h", "pvscsi_regs.h", "pvscsi_layouts.h"]:
        assert filecmp.cmp(src / name, ROOT / "generated" / name, shallow=False), name
    assert not (src / "pvscsi_mock_skeleton.h").exists()
    for gone in ["pvscsi.c", "pvscsi_var.h", "THIRDPARTYLICENSE", "THIRDPARTYLICENSE.descrip"]:
        assert not (src / gone).exists(), gone
    assert filecmp.cmp(gate / "usr/src/man/man4d/pvscsi.4d", ROOT / "driver" / "pvscsi.4d",
                       shallow=False)
    # Untouched: the rest of the tree.
    assert (gate / "usr/src/uts/common/io/scsi/impl/scsi_hba.c").read_text() == "/* framework */\n"


def test_overlay_makefiles_objects_and_manifest(tmp_path):
    gate = make_tree(tmp_path / "gate", OLD_FILES)
    assert run(OVERLAY, gate)[0] == 0
    objs = " ".join(n.replace(".cc", ".o") for n in driver_cc())
    files = (gate / "usr/src/uts/common/Makefile.files").read_text()
    assert f"\nPVSCSI_OBJS = {objs}\n" in files
    assert "PVSCSI_OBJS = pvscsi.o\n" not in files and "NVME_OBJS = nvme.o\n" in files
    mk = (gate / "usr/src/uts/intel/pvscsi/Makefile").read_text()
    assert "include\t\t$(UTSBASE)/intel/Makefile.intel\n" in mk
    assert "include\t\t$(UTSBASE)/intel/Makefile.targ\n" in mk
    assert "LDFLAGS\t+=\t-N misc/scsi\n" in mk
    assert ("$(OBJS_DIR)/%.o:\t$(UTSBASE)/common/io/scsi/adapters/pvscsi/%.cc\n"
            "\t$(CCC) $(PVSCSI_CCFLAGS) $(CPPFLAGS) -c -o $@ $<\n") in mk
    assert "$(CFLAGS:-D_ASM_INLINES=)" in mk and "-_gcc=-fno-exceptions" in mk
    assert "INSTALL_TARGET=\t$(BINARY) $(ROOTMODULE) $(ROOT_CONFFILE)\n" in mk
    p5m = (gate / "usr/src/pkg/manifests/driver-storage-pvscsi.p5m").read_text()
    assert "THIRDPARTYLICENSE" not in p5m
    assert ("file path=kernel/drv/$(ARCH64)/pvscsi group=sys\n"
            "file path=kernel/drv/pvscsi.conf group=sys preserve=true\n") in p5m
    assert p5m.endswith("license lic_CDDL license=lic_CDDL\n")
    # No aarch64 tree here: no aarch64 makefile is made up.
    assert not (gate / "usr/src/uts/aarch64").exists()


def test_overlay_is_idempotent(tmp_path):
    gate = make_tree(tmp_path / "gate", {**OLD_FILES, **AARCH64_FILES})
    status, out = run(OVERLAY, gate)
    assert status == 0 and out.rstrip().endswith(f"changes made in {gate}"), out
    first = snapshot(gate)
    # A makefile edited in the gate is put back, and counted.
    (gate / "usr/src/uts/intel/pvscsi/Makefile").write_text("edited\n")
    status, out = run(OVERLAY, gate)
    assert status == 0, out
    assert out.splitlines() == ["illumos-gate-overlay: usr/src/uts/intel/pvscsi/Makefile",
                                f"illumos-gate-overlay: 1 changes made in {gate}"], out
    assert snapshot(gate) == first
    status, out = run(OVERLAY, gate)
    assert status == 0 and "is up to date" in out, out
    assert snapshot(gate) == first


def test_overlay_adds_the_aarch64_module_once(tmp_path):
    gate = make_tree(tmp_path / "gate", {**OLD_FILES, **AARCH64_FILES})
    assert run(OVERLAY, gate)[0] == 0
    run(OVERLAY, gate)
    mk = (gate / "usr/src/uts/aarch64/pvscsi/Makefile").read_text()
    assert "include\t\t$(UTSBASE)/aarch64/Makefile.aarch64\n" in mk
    assert "include\t\t$(UTSBASE)/aarch64/Makefile.targ\n" in mk
    kmods = (gate / "usr/src/uts/aarch64/Makefile.aarch64").read_text()
    assert kmods.count("pvscsi") == 1
    assert "DRV_KMODS\t+= ahci\nDRV_KMODS\t+= pvscsi\n" in kmods


def test_overlay_dry_run_changes_nothing(tmp_path):
    gate = make_tree(tmp_path / "gate", OLD_FILES)
    before = snapshot(gate)
    status, out = run(OVERLAY, "--dry-run", gate)
    assert status == 0 and "changes would be made (dry run)" in out
    assert "remove usr/src/uts/common/io/scsi/adapters/pvscsi/pvscsi.c" in out
    assert snapshot(gate) == before


@pytest.mark.parametrize("files, message", [
    (None, "is not a directory"),
    ({"README": "x\n"}, "is not an illumos-gate tree: no usr/src/uts/common/Makefile.files"),
    ({**OLD_FILES, "usr/src/uts/common/Makefile.files": "NVME_OBJS = nvme.o\n"},
     "has no PVSCSI_OBJS"),
])
def test_overlay_bad_gate_is_a_clear_error(tmp_path, files, message):
    gate = tmp_path / "gate"
    if files is not None:
        make_tree(gate, files)
    status, out = run(OVERLAY, gate)
    assert status == 2
    assert "illumos-gate-overlay: error:" in out and message in out, out
    assert len(out.strip().splitlines()) == 1


def test_overlay_usage(tmp_path):
    status, out = run(OVERLAY)
    assert status == 2 and "usage:" in out


# --- header extraction ----------------------------------------------------------------------

FAKE_GATE = {
    "usr/src/uts/common/sys/sunddi.h": "/* ddi */\n",
    "usr/src/uts/common/sys/scsi/scsi.h": "/* scsa */\n",
    "usr/src/uts/common/io/x.c": "/* not a header */\n",
    "usr/src/uts/intel/sys/machtypes.h": "/* intel */\n",
    "usr/src/uts/intel/Makefile.intel": "# intel\n",
    "usr/src/uts/aarch64/sys/machtypes.h": "/* aarch64 */\n",
    "usr/src/uts/sun4u/sys/x.h": "/* other */\n",
    "usr/src/Makefile.master": "# master\n",
    "usr/src/uts/Makefile.uts": "# uts\n",
}


def expect_extracted(dest, arch):
    assert (dest / "usr/src/uts/common/sys/sunddi.h").read_text() == "/* ddi */\n"
    assert (dest / "usr/src/uts/common/sys/scsi/scsi.h").exists()
    assert (dest / "usr/src/Makefile.master").exists()
    assert (dest / "usr/src/uts/Makefile.uts").exists()
    assert not (dest / "usr/src/uts/common/io/x.c").exists()
    assert not (dest / "usr/src/uts/sun4u").exists()
    assert (dest / "usr/src/uts/intel/sys/machtypes.h").exists() == (arch == "amd64")
    assert (dest / "usr/src/uts/aarch64/sys/machtypes.h").exists() == (arch == "aarch64")


@pytest.mark.skipif(not shutil.which("git"), reason="needs git")
@pytest.mark.parametrize("arch", ["amd64", "aarch64"])
def test_extract_from_a_git_repository(tmp_path, arch):
    repo = make_tree(tmp_path / "repo", FAKE_GATE)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "gate"],
                ["branch", "arm64-gate"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env)
    bare = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(bare)], check=True)
    dest = tmp_path / "out"
    status, out = run(EXTRACT, "--ref", "arm64-gate", "--arch", arch, bare, dest)
    assert status == 0, out
    assert "(0 missing blobs)" in out
    expect_extracted(dest, arch)


def test_extract_from_a_plain_tree(tmp_path):
    tree = make_tree(tmp_path / "tree", FAKE_GATE)
    dest = tmp_path / "out"
    status, out = run(EXTRACT, "--arch", "amd64", tree, dest)
    assert status == 0, out
    expect_extracted(dest, "amd64")


@pytest.mark.parametrize("args, message", [
    (["--arch", "sparc", "{tree}", "{out}"], "--arch must be amd64, aarch64 or all"),
    (["{missing}", "{out}"], "does not exist"),
    (["--ref", "HEAD", "{tree}", "{out}"], "--ref needs a git repository"),
    (["{empty}", "{out}"], "is neither a git repository nor a tree"),
])
def test_extract_bad_input(tmp_path, args, message):
    tree = make_tree(tmp_path / "tree", FAKE_GATE)
    (tmp_path / "empty").mkdir()
    names = {"tree": tree, "out": tmp_path / "out", "missing": tmp_path / "nope",
             "empty": tmp_path / "empty"}
    status, out = run(EXTRACT, *[a.format(**names) for a in args])
    assert status == 2 and message in out, out


# --- the real-header build: what it does without a gate -------------------------------------

@pytest.mark.parametrize("arch", ["amd64", "aarch64"])
def test_build_without_a_gate_skips(arch):
    status, out = run(BUILD, "--arch", arch, "--gate", "-")
    assert status == 77
    assert out.startswith(f"SKIPPED: no illumos-gate tree configured for {arch}")
    assert "-DILLUMOS_GATE" in out


def test_build_with_a_bad_gate_is_an_error(tmp_path):
    status, out = run(BUILD, "--arch", "amd64", "--gate", tmp_path)
    assert status == 2 and "is not an illumos-gate tree" in out
    make_tree(tmp_path, {"usr/src/uts/common/sys/sunddi.h": "\n"})
    status, out = run(BUILD, "--arch", "aarch64", "--gate", tmp_path)
    assert status == 2 and "has no usr/src/uts/aarch64" in out and "arm64-gate" in out
