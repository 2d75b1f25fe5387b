"""Tests of scripts/check-module.py itself: the allowlist rules, bad input, and the rules that
need an object built on the spot (SDT probe pattern, architecture mismatch, non-relocatable
input). The planted violations in real module objects are the CTest tests in CMakeLists.txt."""

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(os.environ.get("PVSCSI_CHECK_MODULE", ROOT / "scripts" / "check-module.py"))
ALLOWLIST = Path(os.environ.get("PVSCSI_MODULE_ALLOWLIST",
                                ROOT / "tests" / "suites" / "module" / "ddi-allowlist.txt"))

NEVER = ["thread_create", "id32_alloc", "id32_lookup", "CPU", "curcpup", "membar_producer",
         "membar_consumer", "ncpus", "hz", "devfs_clean", "i_ddi_intr_ops"]

KERNEL_FLAGS = ["-std=c++17", "-O2", "-ffreestanding", "-nostdinc", "-fno-exceptions",
                "-fno-rtti", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
                "-fno-stack-protector", "-fno-pic", "-fno-pie", "-mno-red-zone",
                "-mcmodel=kernel", "-mno-sse", "-mno-mmx", "-mno-80387"]

MODULE = """
struct modlinkage { int ml_rev; void *ml_linkage[7]; };
struct modinfo;
extern "C" int mod_install(modlinkage *);
extern "C" int mod_remove(modlinkage *);
extern "C" int mod_info(modlinkage *, modinfo *);
static modlinkage modlinkage = {1, {nullptr}};
extern "C" int _init(void) { return mod_install(&modlinkage); }
extern "C" int _fini(void) { return mod_remove(&modlinkage); }
extern "C" int _info(modinfo *m) { return mod_info(&modlinkage, m); }
"""


def check(*args):
    p = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                       text=True, check=False)
    return p.returncode, p.stdout + p.stderr


def write_allowlist(tmp_path, text):
    path = tmp_path / "allow.txt"
    path.write_text(text)
    return path


needs_amd64_gcc = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64") or not shutil.which("g++")
    or not shutil.which("ld"), reason="needs the host amd64 g++ and ld")


def build(tmp_path, source, name="m", extra=()):
    src = tmp_path / f"{name}.cc"
    src.write_text(source)
    obj = tmp_path / f"{name}.o"
    subprocess.run(["g++", *KERNEL_FLAGS, *extra, "-c", str(src), "-o", str(obj)], check=True)
    out = tmp_path / f"{name}.r.o"
    subprocess.run(["ld", "-r", "-o", str(out), str(obj)], check=True)
    return out


# --- the reviewed allowlist -----------------------------------------------------------------

def test_checked_in_allowlist_is_valid_and_has_no_private_interfaces():
    entries = []
    for raw in ALLOWLIST.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, section, rest = line.split(None, 2)
            entries.append(name)
            assert section in ("9F", "9S"), line
            assert rest.startswith("#") and len(rest.lstrip("# ")) > 5, line
    assert "mod_install" in entries and "scsi_hba_init" in entries
    for name in entries:
        assert name not in NEVER
        assert not name.startswith(("id32_", "membar_", "i_ddi_", "__cxa", "_Z")), name
    assert len(entries) == len(set(entries))
    # Small: the driver's DDI surface, not the kernel's.
    assert len(entries) < 160


@pytest.mark.parametrize("name", NEVER)
def test_allowlist_naming_a_private_interface_is_rejected(tmp_path, name):
    allow = write_allowlist(tmp_path, f"mod_install 9F # fine\n{name} 9F # sneaked in\n")
    status, out = check("--allowlist", allow, SCRIPT)
    assert status == 2
    assert f"allow.txt:2: '{name}' may not be allowed" in out


@pytest.mark.parametrize("text,message", [
    ("mod_install 9F\n", "'mod_install' has no justification comment"),
    ("mod_install 9F #   \n", "'mod_install' has no justification comment"),
    ("printf 3C # libc\n", "manual section '3C' is not 9F or 9S"),
    ("mod_install # no section\n", "expected 'NAME SECTION # justification'"),
    ("a b 9F # too many fields\n", "expected 'NAME SECTION # justification'"),
    ("mod-install 9F # bad name\n", "'mod-install' is not a symbol name"),
    ("kmem_alloc 9F # one\nkmem_alloc 9F # two\n", "'kmem_alloc' is listed twice"),
    ("__cxa_atexit 9F # runtime\n", "'__cxa_atexit' may not be allowed: C++ runtime"),
    ("_Znwm 9F # new\n", "'_Znwm' may not be allowed: C++ operator new"),
])
def test_malformed_allowlist_is_a_clear_error(tmp_path, text, message):
    allow = write_allowlist(tmp_path, text)
    status, out = check("--allowlist", allow, SCRIPT)
    assert status == 2
    assert "invalid allowlist" in out and message in out
    assert "Traceback" not in out


def test_missing_allowlist(tmp_path):
    status, out = check("--allowlist", tmp_path / "nope.txt", SCRIPT)
    assert status == 2 and "cannot read the allowlist" in out and "Traceback" not in out


# --- bad objects on the command line --------------------------------------------------------

def test_missing_object(tmp_path):
    status, out = check("--allowlist", ALLOWLIST, tmp_path / "missing.o")
    assert status == 2 and "missing.o: cannot read" in out and "Traceback" not in out


def test_not_an_elf_object(tmp_path):
    junk = tmp_path / "junk.o"
    junk.write_bytes(b"not an object at all")
    status, out = check("--allowlist", ALLOWLIST, junk)
    assert status == 2 and "junk.o: not an ELF object" in out


def test_usage_error_without_objects():
    status, out = check("--allowlist", ALLOWLIST)
    assert status == 2 and "usage" in out


@needs_amd64_gcc
def test_valid_module_passes_with_summary(tmp_path):
    obj = build(tmp_path, MODULE)
    status, out = check("--allowlist", ALLOWLIST, obj)
    assert status == 0, out
    assert f"{obj} [amd64]: passed the DDI check" in out
    assert f"summary: {obj} [amd64]" in out
    assert "imported symbols: 3 (3 of the" in out and "0 SDT probes, 0 other)" in out
    assert "    mod_install" not in out
    status, out = check("--allowlist", ALLOWLIST, "--list-imports", obj)
    assert status == 0 and "\n    mod_install\n" in out and "\n    _init\n" not in out


# SDT probes are allowed by pattern; allowing by pattern is only for them: a dtrace-looking but
# different name fails.
@needs_amd64_gcc
@pytest.mark.parametrize("probe, status, findings", [
    ("__dtrace_probe_pvscsi__cmd__done", 0, ["1 SDT probes, 0 other)"]),
    ("dtrace_probe", 1, ["undefined symbol 'dtrace_probe' is not in the DDI allowlist",
                         "referenced from .text in function fire (+0x"]),
])
def test_only_sdt_probes_are_allowed_by_pattern(tmp_path, probe, status, findings):
    obj = build(tmp_path, MODULE + f"""
extern "C" void {probe}(unsigned long);
extern "C" void fire(unsigned long x) {{ {probe}(x); }}
""")
    got, out = check("--allowlist", ALLOWLIST, obj)
    assert got == status, out
    for finding in findings:
        assert finding in out


@needs_amd64_gcc
def test_architecture_mismatch(tmp_path):
    obj = build(tmp_path, MODULE)
    status, out = check("--allowlist", ALLOWLIST, "--arch", "aarch64", "--readelf", "readelf",
                        "--objdump", "objdump", obj)
    assert status == 2 and "not aarch64" in out


@needs_amd64_gcc
def test_shared_object_is_not_a_module(tmp_path):
    src = tmp_path / "s.cc"
    src.write_text(MODULE)
    so = tmp_path / "s.so"
    subprocess.run(["g++", "-shared", "-fPIC", "-nostdlib", "-o", str(so), str(src)], check=True)
    status, out = check("--allowlist", ALLOWLIST, so)
    assert status == 2 and "is not a relocatable object" in out


@needs_amd64_gcc
def test_several_objects_report_each(tmp_path):
    good = build(tmp_path, MODULE, "good")
    bad = build(tmp_path, MODULE.replace('extern "C" int _info', "int _info"), "bad")
    status, out = check("--allowlist", ALLOWLIST, good, bad)
    assert status == 1
    assert f"{good} [amd64]: passed the DDI check" in out
    assert f"{bad} [amd64]: error: entry point _info has C++ linkage" in out
    assert out.count("summary:") == 2


@needs_amd64_gcc
def test_unreadable_readelf_output_is_an_error_not_a_pass(tmp_path):
    # A readelf whose output the parser does not understand must not let an object pass.
    obj = build(tmp_path, MODULE)
    fake = tmp_path / "fake-readelf"
    fake.write_text("#!/bin/sh\n"
                    "echo '  Machine:                           Advanced Micro Devices X86-64'\n"
                    "echo '  Type:                              REL (Relocatable file)'\n"
                    "echo '  Number of section headers:         9'\n")
    fake.chmod(0o755)
    status, out = check("--allowlist", ALLOWLIST, "--arch", "amd64", "--readelf", fake, obj)
    assert status == 2 and "unexpected readelf output" in out and "passed" not in out


@needs_amd64_gcc
def test_stack_protector_passes_only_when_allowed(tmp_path):
    # __stack_chk_* is the one runtime family the allowlist may admit (illumos provides it).
    obj = build(tmp_path, MODULE + """
extern "C" void fill(char *, unsigned long);
extern "C" int with_buffer(void) { char b[64]; fill(b, sizeof(b)); return b[1]; }
""", extra=["-fstack-protector-all", "-mstack-protector-guard=global"])
    text = ALLOWLIST.read_text() + "fill 9F # test only\n"
    status, out = check("--allowlist", write_allowlist(tmp_path, text), obj)
    assert status == 1 and "'__stack_chk_fail' is stack protector runtime" in out
    assert "'__stack_chk_guard' is stack protector runtime" in out
    text += "__stack_chk_fail 9F # test only\n__stack_chk_guard 9F # test only\n"
    status, out = check("--allowlist", write_allowlist(tmp_path, text), obj)
    assert status == 0, out


# --- SDT probes with C++ linkage and the kernel-provided runtime ------------------------------

PROBE_IN_NAMESPACE = """
namespace drv {
void fire(unsigned long x) {
  { extern void __dtrace_probe_drv__fired(unsigned long); __dtrace_probe_drv__fired(x); }
}
}  // namespace drv
"""


@needs_amd64_gcc
def test_mangled_sdt_probe_is_rejected(tmp_path):
    # The illumos DTRACE_PROBEn expansion inside a namespace: a C++ (mangled) symbol that the
    # kernel runtime linker would not make a probe of, so the module would not load.
    obj = build(tmp_path, MODULE + PROBE_IN_NAMESPACE)
    status, out = check("--allowlist", ALLOWLIST, obj)
    assert status == 1, out
    assert ("SDT probe with C++ linkage: '_ZN3drv25__dtrace_probe_drv__firedEm "
            "(drv::__dtrace_probe_drv__fired(unsigned long))'") in out
    assert "referenced from .text in function _ZN3drv4fireEm (drv::fire(unsigned long))" in out


@needs_amd64_gcc
def test_probe_declared_extern_c_in_the_namespace_first_is_plain(tmp_path):
    # The driver's fix: a C-linkage declaration in the probe site's namespace makes the
    # block-scope redeclaration refer to it, so the reference is the plain symbol.
    obj = build(tmp_path, MODULE + """
namespace drv { extern "C" void __dtrace_probe_drv__fired(unsigned long); }
""" + PROBE_IN_NAMESPACE)
    status, out = check("--allowlist", ALLOWLIST, obj)
    assert status == 0, out
    assert "1 SDT probes, 0 other)" in out


RETPOLINE = """
extern "C" int call(int (*fn)(int), int x) { return fn(x) + 1; }
"""


@needs_amd64_gcc
def test_kernel_provided_runtime_is_allowed_only_with_the_option(tmp_path):
    # illumos builds modules with -fstack-protector-strong and retpolines; the kernel exports
    # __stack_chk_fail, __stack_chk_guard and __x86_indirect_thunk_* (ddi.mapfile).
    obj = build(tmp_path, MODULE + RETPOLINE + """
extern "C" void fill(char *, unsigned long);
extern "C" int with_buffer(void) { char b[64]; fill(b, sizeof(b)); return b[1]; }
""", extra=["-fstack-protector-strong", "-mstack-protector-guard=global",
            "-mindirect-branch=thunk-extern", "-mindirect-branch-register"])
    allow = write_allowlist(tmp_path, ALLOWLIST.read_text() + "fill 9F # test only\n")
    status, out = check("--allowlist", allow, obj)
    assert status == 1
    assert "'__stack_chk_fail' is stack protector runtime" in out
    assert "'__stack_chk_guard' is stack protector runtime" in out
    assert "undefined symbol '__x86_indirect_thunk_r" in out
    status, out = check("--allowlist", allow, "--kernel-provides-runtime", obj)
    assert status == 0, out
    assert "3 kernel runtime, 0 other)" in out


@needs_amd64_gcc
def test_kernel_provided_runtime_admits_no_other_runtime(tmp_path):
    # The option is not a blanket pass: the C++ runtime and libgcc stay errors.
    obj = build(tmp_path, MODULE + """
extern "C" void __cxa_pure_virtual();
extern "C" void pure() { __cxa_pure_virtual(); }
extern "C" void __x86_indirect_thunk_bogus();
extern "C" void bogus() { __x86_indirect_thunk_bogus(); }
""")
    status, out = check("--allowlist", ALLOWLIST, "--kernel-provides-runtime", obj)
    assert status == 1
    assert "'__cxa_pure_virtual' is C++ runtime support" in out
    assert "undefined symbol '__x86_indirect_thunk_bogus' is not in the DDI allowlist" in out


@pytest.mark.skipif(not shutil.which("aarch64-linux-gnu-g++")
                    or not shutil.which("aarch64-linux-gnu-ld"),
                    reason="needs aarch64-linux-gnu-g++ and -ld")
def test_retpoline_thunks_are_amd64_only(tmp_path):
    src = tmp_path / "a.cc"
    src.write_text(MODULE + """
extern "C" void __x86_indirect_thunk_rax();
extern "C" void t() { __x86_indirect_thunk_rax(); }
""")
    obj = tmp_path / "a.o"
    flags = [f for f in KERNEL_FLAGS if not f.startswith(("-m", "-fno-stack"))]
    subprocess.run(["aarch64-linux-gnu-g++", *flags, "-mgeneral-regs-only",
                    "-fstack-protector-strong", "-c", str(src), "-o", str(obj)], check=True)
    out_obj = tmp_path / "a.r.o"
    subprocess.run(["aarch64-linux-gnu-ld", "-r", "-o", str(out_obj), str(obj)], check=True)
    status, out = check("--allowlist", ALLOWLIST, "--kernel-provides-runtime", "--arch",
                        "aarch64", out_obj)
    assert status == 1
    assert "undefined symbol '__x86_indirect_thunk_rax' is not in the DDI allowlist" in out
