#!/usr/bin/env python3
"""No real-time wait on the mock path: host code sleeps only through fk::impl::host_sleep_us.

The deterministic mode moves virtual time only when no thread can run; a host sleep or a timed
wait in code a deterministic run reaches would make the run depend on the machine again. So in
the host (tests/host), the mock (tests/devices/mock), the exerciser (tests/tools/exerciser) and
the suites that run on the mock, a sleep or timed wait may appear only
  - in tests/host/kernel/fk_threads.cc (host_sleep_us, which reports a violation when called in
    a deterministic run, and HostCv::wait_for_us, which does not time out there), or
  - on a line marked "host-sleep:" (with the reason) or right after such a comment line.
Test files (*_test.cc) of the real-thread mode are not scanned.

    check-host-sleeps.py [ROOT]      exit 1 and one line per offence when the rule is broken
"""
import pathlib
import re
import sys

DIRS = ["tests/host", "tests/devices/mock", "tests/tools/exerciser", "tests/suites/driver_on_mock",
        "tests/suites/robustness"]
ALLOWED_FILES = {"tests/host/kernel/fk_threads.cc"}
PATTERN = re.compile(r"\b(sleep_for|sleep_until|usleep|nanosleep|clock_nanosleep)\s*\(|"
                     r"\.\s*(wait_for|wait_until)\s*\(|\bsleep\s*\(\s*\d")


def offences(root: pathlib.Path):
    for d in DIRS:
        for path in sorted((root / d).rglob("*")):
            if path.suffix not in (".cc", ".h") or path.name.endswith("_test.cc"):
                continue
            rel = path.relative_to(root).as_posix()
            if rel in ALLOWED_FILES:
                continue
            marked = False
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if PATTERN.search(line) and not marked and "host-sleep:" not in line:
                    yield f"{rel}:{n}: a real-time wait on the mock path: {line.strip()}"
                stripped = line.strip()
                marked = stripped.startswith("//") and ("host-sleep:" in stripped or
                                                        (marked and stripped.startswith("//")))


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 else pathlib.Path(__file__).parent.parent)
    found = list(offences(root))
    for f in found:
        print(f)
    if found:
        print("check-host-sleeps: use fk::impl::host_sleep_us (real-thread mode only) or a "
              "HostCv wait; see tests/host/kernel/README.md, 'Deterministic mode'")
        return 1
    print("check-host-sleeps: no real-time wait on the mock path outside fk_threads.cc")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
