"""Tests of the compat-vs-illumos facts check (scripts/extract-compat-facts.py check) and of the
checked-in manifest (compat-facts.json). No gate tree is needed: the facts are data."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "extract-compat-facts.py"
MANIFEST = ROOT / "tests" / "suites" / "module" / "compat-facts.json"
COMPAT = ROOT / "driver" / "compat"
ALLOWLIST = ROOT / "tests" / "suites" / "module" / "ddi-allowlist.txt"

needs_gxx = pytest.mark.skipif(not shutil.which("g++") or os.uname().machine != "x86_64",
                               reason="needs the host amd64 g++")


def check(*args):
    p = subprocess.run([sys.executable, str(SCRIPT), "check", *map(str, args)],
                       capture_output=True, text=True, check=False)
    return p.returncode, p.stdout + p.stderr


def facts():
    return json.loads(MANIFEST.read_text())


def copy_compat(tmp_path):
    dest = tmp_path / "compat"
    shutil.copytree(COMPAT, dest)
    return dest


def replace(path, old, new):
    text = path.read_text()
    assert old in text, f"{path}: {old!r}"
    path.write_text(text.replace(old, new))


# --- the manifest ---------------------------------------------------------------------------

def test_manifest_has_both_architectures_and_the_real_dev_err():
    arches = facts()["arches"]
    assert set(arches) == {"amd64", "aarch64"}
    for arch, f in arches.items():
        assert f["functions"]["dev_err"] == "void (dev_info_t *, int, char *, ...)", arch
        assert f["variables"]["mod_driverops"] == "struct mod_ops", arch
        assert f["structs"]["struct scsi_pkt"]["size"] > 0, arch
        assert "pkt_reason" in f["structs"]["struct scsi_pkt"]["fields"], arch
        assert f["constants"]["DDI_SUCCESS"] == 0 and f["constants"]["CE_WARN"] == 2, arch


def test_manifest_functions_are_allowlisted_ddi():
    allowed = {line.split()[0] for line in ALLOWLIST.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for arch, f in facts()["arches"].items():
        assert not set(f["functions"]) - allowed, arch
        assert not set(f["variables"]) - allowed, arch


def imports(obj, arch):
    readelf = shutil.which(f"{'x86_64' if arch == 'amd64' else 'aarch64'}-linux-gnu-readelf")
    readelf = readelf or shutil.which("readelf")
    out = subprocess.run([readelf, "-W", "-s", obj], capture_output=True, text=True,
                         check=True).stdout
    return {f[7] for f in (line.split() for line in out.splitlines())
            if len(f) >= 8 and f[6] == "UND" and f[7] != "0"} - {""}


EMITTED = {"memcpy", "memset", "memmove"}


def module_objects():
    objs = [o for o in os.environ.get("PVSCSI_MODULE_OBJECTS", "").split(":") if o]
    return [o for o in objs if Path(o).exists()]


@pytest.mark.skipif(not module_objects(), reason="PVSCSI_MODULE_OBJECTS names no built module")
def test_manifest_covers_every_ddi_symbol_the_module_imports():
    # "Used" is what the driver references: the compat-built module's imports (less SDT probes
    # and the stack protector) must each have a fact, or the manifest is stale: re-run
    # scripts/extract-compat-facts.py extract.
    for obj in module_objects():
        arch = "aarch64" if "aarch64" in Path(obj).name else "amd64"
        f = facts()["arches"][arch]
        known = set(f["functions"]) | set(f["variables"])
        # Less what the compiler itself emits calls to (structure zeroing and copies).
        used = {n for n in imports(obj, arch)
                if not n.startswith(("__dtrace_probe_", "__stack_chk_"))} - EMITTED
        assert used - known == set(), f"{obj}: no facts for {sorted(used - known)}"
        stale = known - used - EMITTED
        assert stale == set(), f"{obj}: facts for what it no longer uses: {sorted(stale)}"


# --- the check ------------------------------------------------------------------------------

@needs_gxx
def test_compat_holds_every_fact():
    status, out = check("--arch", "amd64", "--cxx", "g++")
    assert status == 0, out
    assert re.search(r"^(\d+) of \1 facts hold for amd64", out, re.M), out


@needs_gxx
def test_old_compat_dev_err_fails_and_names_the_fact(tmp_path):
    # The compat before it followed <sys/cmn_err.h>: dev_err with a const char * format.
    compat = copy_compat(tmp_path)
    replace(compat / "sys" / "cmn_err.h", "extern void dev_err(dev_info_t *, int, char *, ...)",
            "extern void dev_err(dev_info_t *, int, const char *, ...)")
    status, out = check("--arch", "amd64", "--cxx", "g++", "--compat", compat)
    assert status == 1, out
    assert ("compat differs from illumos (amd64): function dev_err: illumos declares "
            "void (dev_info_t *, int, char *, ...)") in out
    assert "compat differs" not in out.replace(
        "compat differs from illumos (amd64): function dev_err", "")


@needs_gxx
def test_struct_and_constant_differences_are_named(tmp_path):
    compat = copy_compat(tmp_path)
    replace(compat / "sys" / "ddifm.h", "#define DDI_SERVICE_DEGRADED -16",
            "#define DDI_SERVICE_DEGRADED -2")
    replace(compat / "sys" / "compat_pci.h", "typedef struct pci_phys_spec {",
            "typedef struct pci_regspec {")
    status, out = check("--arch", "amd64", "--cxx", "g++", "--compat", compat)
    assert status == 1
    assert "constant DDI_SERVICE_DEGRADED is -16 in illumos" in out
    assert "sizeof(struct pci_phys_spec) is 20 in illumos (invalid application" in out


@needs_gxx
def test_manifest_offset_mismatch_is_named(tmp_path):
    data = facts()
    data["arches"]["amd64"]["structs"]["struct scsi_pkt"]["fields"]["pkt_reason"] += 8
    manifest = tmp_path / "facts.json"
    manifest.write_text(json.dumps(data))
    status, out = check("--arch", "amd64", "--cxx", "g++", "--manifest", manifest)
    assert status == 1
    assert re.search(r"offsetof\(struct scsi_pkt, pkt_reason\) is \d+ in illumos", out), out


@needs_gxx
def test_sdt_probe_in_a_namespace_is_mangled_as_with_the_real_header(tmp_path):
    # compat's DTRACE_PROBE expands as the illumos one does (no asm label): inside a namespace,
    # without a C-linkage declaration first, the probe is a C++ symbol - the module check then
    # rejects it, as the real header build would produce it.
    src = tmp_path / "p.cc"
    src.write_text("#include <sys/types.h>\n#include <sys/sdt.h>\n"
                   "namespace n {\n"
                   "void plain(int x) { DTRACE_PROBE1(t__plain, int, x); }\n"
                   "extern \"C\" void __dtrace_probe_t__declared(uintptr_t);\n"
                   "void declared(int x) { DTRACE_PROBE1(t__declared, int, x); }\n"
                   "}\n")
    obj = tmp_path / "p.o"
    subprocess.run(["g++", "-std=c++17", "-ffreestanding", "-nostdinc", "-D_KERNEL",
                    f"-I{COMPAT}", "-c", str(src), "-o", str(obj)], check=True)
    out = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert "_ZN1n23__dtrace_probe_t__plainEm" in out
    assert "__dtrace_probe_t__declared" in out


def test_bad_input_is_a_clear_error(tmp_path):
    status, out = check("--arch", "amd64", "--manifest", tmp_path / "nope.json")
    assert status == 2 and "cannot read" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    status, out = check("--arch", "amd64", "--manifest", bad)
    assert status == 2 and "not JSON" in out
    empty = tmp_path / "empty.json"
    empty.write_text('{"arches": {}}')
    status, out = check("--arch", "amd64", "--manifest", empty)
    assert status == 2 and "has no facts for amd64" in out
    status, out = check("--arch", "amd64", "--compat", tmp_path / "nope")
    assert status == 2 and "is not a directory" in out


def test_extract_needs_a_gate_tree(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "extract", "--arch", "amd64", "--gate",
                        str(tmp_path), "--manifest", str(tmp_path / "m.json")],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "is not an illumos-gate tree" in p.stderr
    assert not (tmp_path / "m.json").exists()
