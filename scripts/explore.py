#!/usr/bin/env python3
"""Schedule exploration: one exerciser scenario under many scheduler seeds.

Runs `pvscsi-exercise ARGS --sched-seed S` (deterministic mode on the mock) for S in a range,
and reports how many distinct interleavings were tried (distinct trace digests) and every
failing seed with the one command that replays it. A seed is a whole interleaving: the same
command gives the same digest and the same failure.

    explore.py [--exercise BIN] [--seeds N] [--first S] [--sched random|fair|pct] [--jobs J]
               [--expect-failure] [--keep-going] -- EXERCISER-ARGS...

Exit status: 0 when the runs went as expected (all verified; with --expect-failure, one failed),
1 otherwise, 2 on bad arguments.
"""
import argparse
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import tempfile


def parse(argv):
    p = argparse.ArgumentParser(prog="explore.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--exercise", default="build/default/tests/tools/exerciser/pvscsi-exercise",
                   help="the exerciser binary")
    p.add_argument("--seeds", type=int, default=100, help="how many seeds (default 100)")
    p.add_argument("--first", type=int, default=1, help="first seed (default 1)")
    p.add_argument("--sched", choices=["random", "fair", "pct"], default="random")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--expect-failure", action="store_true",
                   help="succeed only if some seed fails (a planted bug must be found)")
    p.add_argument("--keep-going", action="store_true",
                   help="with --expect-failure: run every seed, not stop at the first failure")
    p.add_argument("args", nargs="*", help="exerciser arguments (after --)")
    a = p.parse_args(argv)
    if a.seeds < 1 or a.jobs < 1 or a.first < 0:
        p.error("--seeds and --jobs must be at least 1, --first at least 0")
    if not os.access(a.exercise, os.X_OK):
        p.error(f"--exercise: {a.exercise} is not an executable")
    for bad in ("--sched", "--sched-seed", "--json"):
        if any(x == bad or x.startswith(bad + "=") for x in a.args):
            p.error(f"{bad} is chosen by explore.py; leave it out of the exerciser arguments")
    return a


def command(a, seed, json_path=None):
    cmd = [a.exercise, *a.args, "--sched", a.sched, "--sched-seed", str(seed), "--quiet"]
    if json_path:
        cmd += ["--json", json_path]
    return cmd


def run_one(a, seed, tmp):
    path = os.path.join(tmp, f"{seed}.json")
    r = subprocess.run(command(a, seed, path), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    digest, why = None, []
    try:
        with open(path) as f:
            rep = json.load(f)
        digest = rep.get("trace_digest")
        why = rep.get("failures", [])
    except (OSError, ValueError):
        tail = r.stderr.strip().splitlines()[-3:]
        why = [f"exit status {r.returncode}, no report"] + tail
    return seed, r.returncode, digest, why


def main(argv):
    a = parse(argv)
    digests, failures, runs = set(), [], 0
    with tempfile.TemporaryDirectory(prefix="explore-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        seeds = iter(range(a.first, a.first + a.seeds))
        pending = set()
        stop = False
        while True:
            while not stop and len(pending) < a.jobs:
                s = next(seeds, None)
                if s is None:
                    break
                pending.add(pool.submit(run_one, a, s, tmp))
            if not pending:
                break
            done, pending = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in done:
                seed, rc, digest, why = fut.result()
                runs += 1
                if digest:
                    digests.add(digest)
                if rc != 0:
                    failures.append((seed, rc, why))
                    if a.expect_failure and not a.keep_going:
                        stop = True
    print(f"explore: {runs} runs ({a.sched}, seeds from {a.first}), "
          f"{len(digests)} distinct interleavings, {len(failures)} failed")
    for seed, rc, why in sorted(failures)[:10]:
        print(f"  seed {seed}: exit {rc}: {'; '.join(why)[:300]}")
        print(f"    replay: {shlex.join(command(a, seed))}")
    if a.expect_failure:
        if failures:
            first = min(s for s, _, _ in failures)
            print(f"explore: found, first failing seed {first} (budget {a.seeds})")
            return 0
        print(f"explore: NOT FOUND within {a.seeds} seeds")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
