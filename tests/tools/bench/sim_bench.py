#!/usr/bin/env python3
"""The "sim" section of scripts/bench.sh: the userland kernel's two thread models side by side.

  det   FK_DETERMINISTIC=1 / --sched random: every kernel thread runs one at a time under the
        seeded scheduler (tests/host/sched), virtual time moves when nobody can run;
  real  FK_DETERMINISTIC=0 / --sched real: host threads (the fuzz scenario and the soak keep
        their virtual clock, with the real-time heuristics they had before).

Measured, the variants interleaved (det, real, det, real, ...) and each repeated --reps times:
  fuzz   corpus replay (pvscsi_fuzz_replay on tests/suites/robustness/corpus): inputs/s, wall,
         CPU (user + sys) and voluntary context switches of the process (wait4's rusage);
  soak   the chaos soak (pvscsi_chaos_soak_test, both profiles, ROBUST_SOAK_IOS per profile):
         verified I/Os over the soak's own real-time seconds;
  exer   pvscsi-exercise on the zero-latency VMware-like mock: IOPS, the scheduler's steps and
         switches per I/O, real time per switch;
  instr  whole-process instructions (callgrind "summary" Ir, counting from the start) per I/O of
         pvscsi-exercise, total / ios and the marginal cost (run with 2 x ops minus run with
         ops, over ops), so boot and attach are out of the second figure. Skipped without
         valgrind.
  fuzzer optional: a libFuzzer build (--fuzzer BINARY, from the "fuzz" preset) with -runs=N on
         a scratch copy of the corpus.

Writes a JSON file (--json) and prints Markdown tables. Figures, not pass/fail: exit status 0
unless a run fails.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


def run(cmd, env_extra=None, capture=True):
    """Runs cmd; returns (rc, stdout+stderr text, wall s, cpu s, voluntary cs, involuntary cs)."""
    env = dict(os.environ)
    if env_extra:
        env.update(env_extra)
    t0 = datetime.datetime.now().timestamp()
    out = tempfile.TemporaryFile()
    p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = datetime.datetime.now().timestamp() - t0
    out.seek(0)
    text = out.read().decode(errors="replace")
    run.last_user_sys = (ru.ru_utime, ru.ru_stime)
    return p.returncode, text, wall, ru.ru_utime + ru.ru_stime, ru.ru_nvcsw, ru.ru_nivcsw


def fail(what, text):
    sys.stderr.write(f"sim: {what} failed:\n{text[-3000:]}\n")
    sys.exit(1)


MODES = (("det", "1"), ("real", "0"))


def bench_fuzz(a, reps):
    rows = []
    for rep in range(reps):
        for mode, flag in MODES:
            rc, text, wall, cpu, vcs, ivcs = run([a.replay, a.corpus], {"FK_DETERMINISTIC": flag})
            m = re.search(r"^(\d+) inputs:", text, re.M)
            if rc != 0 or not m:
                fail(f"corpus replay ({mode})", text)
            n = int(m.group(1))
            rows.append(dict(mode=mode, rep=rep + 1, inputs=n, wall_s=wall, cpu_s=cpu,
                             user_s=run.last_user_sys[0], sys_s=run.last_user_sys[1],
                             inputs_per_s=n / wall, vcs=vcs, ivcs=ivcs, vcs_per_input=vcs / n,
                             wall_ms_per_input=1e3 * wall / n))
    return rows


def bench_soak(a, reps):
    rows = []
    for rep in range(reps):
        for mode, flag in MODES:
            env = {"FK_DETERMINISTIC": flag, "ROBUST_SOAK_IOS": str(a.soak_ios),
                   "ROBUST_SOAK_SEED": "1"}
            rc, text, wall, cpu, vcs, ivcs = run([a.soak], env)
            # The soak prints its seconds rounded to 0.1 s and its rate unrounded: take the rate.
            found = re.findall(r"\[ soak \] (\w+): (\d+) verified I/Os.*? (\d+) I/O/s", text)
            if rc != 0 or len(found) != 2:
                fail(f"chaos soak ({mode})", text)
            ios = sum(int(f[1]) for f in found)
            secs = sum(int(f[1]) / int(f[2]) for f in found)
            rows.append(dict(mode=mode, rep=rep + 1, ios=ios, soak_s=secs, ios_per_s=ios / secs,
                             wall_s=wall, cpu_s=cpu, vcs=vcs, ivcs=ivcs, vcs_per_io=vcs / ios))
    return rows


def exer_cmd(a, sched, ops, json_path):
    return [a.exercise, "--ops", str(ops), "--qd", "32", "--sched", sched, "--json", json_path]


def bench_exer(a, reps, tmp):
    rows = []
    for rep in range(reps):
        for mode, sched in (("det", "random"), ("real", "real")):
            jp = os.path.join(tmp, f"exer-{mode}-{rep}.json")
            rc, text, wall, cpu, vcs, ivcs = run(exer_cmd(a, sched, a.exer_ops, jp))
            if rc != 0:
                fail(f"pvscsi-exercise --sched {sched}", text)
            d = json.load(open(jp))
            ios = d["ios"]
            r = dict(mode=mode, rep=rep + 1, ios=ios, iops=d["iops"], elapsed_s=d["elapsed_s"],
                     wall_s=wall, cpu_s=cpu, vcs=vcs, vcs_per_io=vcs / ios,
                     steps_per_io=d["sched_steps"] / ios, switches_per_io=d["sched_switches"] / ios,
                     virtual_s=d["virtual_s"])
            if d["sched_switches"]:
                r["real_us_per_switch"] = 1e6 * d["elapsed_s"] / d["sched_switches"]
                r["real_us_per_step"] = 1e6 * d["elapsed_s"] / d["sched_steps"]
            rows.append(r)
    return rows


# Where the instructions go: self cost by source file, grouped.
CATEGORIES = (
    ("scheduler", r"(^|/)tests/host/sched/"),
    ("sync audit", r"(^|/)tests/host/kernel/fk_sync_audit\.cc"),
    ("DMA access checks", r"(^|/)tests/host/kernel/fk_dma\.cc"),
    ("kmem (fill, poison, accounting)", r"(^|/)tests/host/kernel/fk_mem\.cc"),
    ("userland kernel, other", r"(^|/)tests/host/kernel/"),
    ("SCSA framework", r"(^|/)tests/host/scsa/"),
    ("target client", r"(^|/)tests/host/client/"),
    ("mock device", r"(^|/)tests/devices/mock/"),
    ("driver", r"(^|/)(driver|generated)/"),
    ("exerciser (stamps, verify)", r"(^|/)tests/tools/exerciser/"),
    ("libc, libstdc++, zlib, other", r""),
)


def callgrind_categories(out):
    """Self Ir per category of one callgrind output (callgrind_annotate --inclusive=no)."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", out],
                          capture_output=True, text=True).stdout
    cats = {name: 0 for name, _ in CATEGORIES}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(\S.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        where = m.group(2).split(":")[0]
        for name, rx in CATEGORIES:
            if re.search(rx, where):
                cats[name] += ir
                break
    return cats


def callgrind_ir(a, sched, ops, tmp, tag):
    out = os.path.join(tmp, f"cg-{tag}.out")
    jp = os.path.join(tmp, f"cg-{tag}.json")
    rc, text, wall, *_ = run(["valgrind", "--tool=callgrind", "--collect-atstart=yes",
                              f"--callgrind-out-file={out}"] + exer_cmd(a, sched, ops, jp))
    if rc != 0:
        fail(f"callgrind pvscsi-exercise --sched {sched}", text)
    ir = None
    with open(out) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                ir = int(line.split()[1])
                break
    d = json.load(open(jp))
    cats = callgrind_categories(out) if shutil.which("callgrind_annotate") else {}
    return ir, d["ios"], wall, cats


def bench_instr(a, reps, tmp):
    rows = []
    for rep in range(reps):
        for mode, sched in (("det", "random"), ("real", "real")):
            ir1, ios1, w1, c1 = callgrind_ir(a, sched, a.instr_ops, tmp, f"{mode}-{rep}-1")
            ir2, ios2, w2, c2 = callgrind_ir(a, sched, 2 * a.instr_ops, tmp, f"{mode}-{rep}-2")
            rows.append(dict(mode=mode, rep=rep + 1, ops=ios1, ir=ir1, ir_per_io=ir1 / ios1,
                             ops2=ios2, ir2=ir2, marginal_ir_per_io=(ir2 - ir1) / (ios2 - ios1),
                             valgrind_wall_s=w1 + w2,
                             marginal_ir_per_io_by_category={
                                 k: (c2.get(k, 0) - c1.get(k, 0)) / (ios2 - ios1) for k in c2}))
    return rows


def bench_fuzzer(a, reps):
    rows = []
    for rep in range(reps):
        for mode, flag in MODES:
            work = tempfile.mkdtemp(prefix="sim-fuzz-")
            try:
                shutil.copytree(a.corpus, os.path.join(work, "c"))
                env = {"FK_DETERMINISTIC": flag, "ASAN_OPTIONS": "detect_leaks=0"}
                rc, text, wall, cpu, vcs, ivcs = run(
                    [a.fuzzer, f"-runs={a.fuzzer_runs}", "-seed=1", os.path.join(work, "c")], env)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            m = re.findall(r"#(\d+)\s+DONE.*?exec/s: (\d+)", text)
            if rc != 0 or not m:
                fail(f"libFuzzer ({mode})", text)
            execs = int(m[-1][0])
            rows.append(dict(mode=mode, rep=rep + 1, execs=execs, wall_s=wall, cpu_s=cpu,
                             inputs_per_s=execs / wall, libfuzzer_exec_per_s=int(m[-1][1]),
                             vcs=vcs, vcs_per_input=vcs / execs))
    return rows


def bench_switch(a, reps):
    rows = []
    for rep in range(reps):
        rc, text, *_ = run([a.switch_bench, str(a.switches)])
        if rc != 0:
            fail("pvscsi_sched_switch_bench", text)
        d = json.loads(text.strip().splitlines()[-1])
        d.update(mode="-", rep=rep + 1)
        rows.append(d)
    return rows


def check(res, parts, a):
    """The shape of the results: every part has rows for both modes, the figures are positive."""
    problems = []
    want = {"fuzz": ("inputs_per_s", "vcs"), "soak": ("ios_per_s",), "exer": ("iops",),
            "instr": ("ir_per_io",)}
    for part, keys in want.items():
        if part not in parts or (part == "instr" and part not in res):
            continue
        for mode in ("det", "real"):
            for k in keys:
                v = med(res.get(part, []), mode, k)
                if not v or v <= 0:
                    problems.append(f"{part}: no positive {k} for {mode}")
    if "exer" in parts and not med(res["exer"], "det", "switches_per_io"):
        problems.append("exer: the deterministic run reported no scheduler switches")
    if "switch" in parts:
        for k in ("scheduler_ns_per_switch", "condvar_ns_per_switch", "ucontext_ns_per_switch"):
            if not med(res["switch"], "-", k):
                problems.append(f"switch: no {k}")
    if not res["targets"] and any(p in parts for p in ("fuzz", "soak", "instr")):
        problems.append("no targets")
    if problems:
        sys.stderr.write("sim: check failed: " + "; ".join(problems) + "\n")
        sys.exit(1)


def med(rows, mode, key):
    v = [r[key] for r in rows if r["mode"] == mode and key in r]
    return statistics.median(v) if v else None


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def table(title, rows, keys):
    print(f"\n#### {title}\n")
    print("| " + " | ".join(["mode", "run"] + keys) + " |")
    print("|" + "---|" * (len(keys) + 2))
    for r in rows:
        print("| " + " | ".join([r["mode"], str(r["rep"])] + [fmt(r.get(k)) for k in keys]) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", required=True, help="build directory with the three programs")
    p.add_argument("--corpus", required=True)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--soak-ios", type=int, default=20000, help="verified I/Os per profile")
    p.add_argument("--exer-ops", type=int, default=20000)
    p.add_argument("--instr-ops", type=int, default=2000)
    p.add_argument("--fuzzer", help="a libFuzzer pvscsi_fuzz binary (the fuzz preset)")
    p.add_argument("--fuzzer-runs", type=int, default=2000)
    p.add_argument("--switches", type=int, default=200000, help="for the switch-cost part")
    p.add_argument("--parts", default="fuzz,soak,exer,instr,switch")
    p.add_argument("--json", required=True)
    p.add_argument("--check", action="store_true",
                   help="fail unless every part asked for has figures for both modes (CTest)")
    a = p.parse_args()
    a.replay = os.path.join(a.build, "tests/suites/robustness/pvscsi_fuzz_replay")
    a.soak = os.path.join(a.build, "tests/suites/robustness/pvscsi_chaos_soak_test")
    a.exercise = os.path.join(a.build, "tests/tools/exerciser/pvscsi-exercise")
    a.switch_bench = os.path.join(a.build, "tests/tools/bench/pvscsi_sched_switch_bench")
    parts = a.parts.split(",")
    res = dict(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               cpus=os.cpu_count(), load_average_at_start=" ".join(
                   f"{x:.2f}" for x in os.getloadavg()), reps=a.reps)
    tmp = tempfile.mkdtemp(prefix="sim-bench-")
    try:
        if "fuzz" in parts:
            res["fuzz"] = bench_fuzz(a, a.reps)
        if "soak" in parts:
            res["soak"] = bench_soak(a, a.reps)
        if "exer" in parts:
            res["exer"] = bench_exer(a, a.reps, tmp)
        if "instr" in parts:
            if shutil.which("valgrind"):
                res["instr"] = bench_instr(a, a.reps, tmp)
            else:
                res["instr_skipped"] = "valgrind not found"
        if "switch" in parts:
            res["switch"] = bench_switch(a, max(a.reps, 5))  # cheap; outliers of 50 us seen
        if a.fuzzer:
            res["fuzzer"] = bench_fuzzer(a, a.reps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    targets = []
    if "fuzz" in res:
        v = med(res["fuzz"], "det", "inputs_per_s")
        targets.append(("corpus replay inputs/s, deterministic (median)", v, ">= 400", v >= 400,
                        f"real threads: {fmt(med(res['fuzz'], 'real', 'inputs_per_s'))}"))
    if "fuzzer" in res:
        v = med(res["fuzzer"], "det", "inputs_per_s")
        targets.append(("libFuzzer inputs/s, deterministic (median)", v, ">= 400", v >= 400,
                        f"real threads: {fmt(med(res['fuzzer'], 'real', 'inputs_per_s'))}"))
    if "soak" in res:
        d, r = med(res["soak"], "det", "ios_per_s"), med(res["soak"], "real", "ios_per_s")
        targets.append(("chaos soak verified I/O/s, deterministic / real threads", d / r, ">= 3",
                        d / r >= 3, f"{fmt(d)} vs {fmt(r)} I/O/s"))
    if "instr" in res:
        v = med(res["instr"], "det", "ir_per_io")
        targets.append(("whole-process instructions per I/O, deterministic (ops "
                        f"{a.instr_ops}, qd 32)", v, "<= 30000", v <= 30000,
                        f"marginal {fmt(med(res['instr'], 'det', 'marginal_ir_per_io'))}; real "
                        f"threads {fmt(med(res['instr'], 'real', 'ir_per_io'))} (marginal "
                        f"{fmt(med(res['instr'], 'real', 'marginal_ir_per_io'))})"))
    res["targets"] = [dict(target=t, measured=m, limit=l, met=bool(ok), note=n)
                      for t, m, l, ok, n in targets]
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    if a.check:
        check(res, parts, a)

    print("### sim: real threads vs one seeded scheduler\n")
    for k in ("date", "cpus", "load_average_at_start", "load_average_at_end", "reps"):
        print(f"- {k}: {res[k]}")
    print("\n#### targets\n")
    print("| target | measured | limit | met | note |\n|---|---|---|---|---|")
    for t in res["targets"]:
        met = "yes" if t["met"] else "**MISSED**"
        print(f"| {t['target']} | {fmt(t['measured'])} | {t['limit']} | {met} | {t['note']} |")
    if "fuzz" in res:
        table("fuzz corpus replay", res["fuzz"], ["inputs", "wall_s", "user_s", "sys_s", "inputs_per_s",
                                                  "vcs", "vcs_per_input", "wall_ms_per_input"])
    if "fuzzer" in res:
        table("libFuzzer -runs", res["fuzzer"], ["execs", "wall_s", "cpu_s", "inputs_per_s",
                                                 "libfuzzer_exec_per_s", "vcs", "vcs_per_input"])
    if "soak" in res:
        table("chaos soak (both profiles)", res["soak"], ["ios", "soak_s", "ios_per_s", "wall_s",
                                                          "cpu_s", "vcs", "vcs_per_io"])
    if "exer" in res:
        table(f"pvscsi-exercise, zero-latency mock, --ops {a.exer_ops} --qd 32", res["exer"],
              ["iops", "elapsed_s", "cpu_s", "vcs_per_io", "steps_per_io", "switches_per_io",
               "real_us_per_switch", "real_us_per_step", "virtual_s"])
    if "switch" in res:
        table(f"cost of one switch (ns), {a.switches} switches", res["switch"],
              ["scheduler_ns_per_switch", "condvar_ns_per_switch", "ucontext_ns_per_switch"])
        sw = med(res["switch"], "-", "scheduler_ns_per_switch")
        if "exer" in res:
            spi = med(res["exer"], "det", "switches_per_io")
            iops = med(res["exer"], "det", "iops")
            print(f"\nExerciser, deterministic: {spi:.2f} switches per I/O x {sw / 1e3:.2f} us per "
                  f"baton pass = {spi * sw / 1e3:.1f} us of the {1e6 / iops:.0f} us per I/O "
                  f"(median IOPS {iops:,.0f}).")
        if "fuzz" in res:
            vpi = med(res["fuzz"], "det", "vcs_per_input")
            ips = med(res["fuzz"], "det", "inputs_per_s")
            print(f"Corpus replay, deterministic: {vpi:,.0f} voluntary context switches per input "
                  f"x {sw / 1e3:.2f} us = {vpi * sw / 1e6:.1f} ms of the {1e3 / ips:.1f} ms per "
                  f"input.")
    if "instr" in res:
        table(f"instructions (callgrind, whole process), --ops {a.instr_ops} and "
              f"{2 * a.instr_ops}", res["instr"], ["ir", "ir_per_io", "ir2",
                                                   "marginal_ir_per_io", "valgrind_wall_s"])
        print("\n#### marginal instructions per I/O by where they are spent (median of runs)\n")
        print("| where | det | real |\n|---|---|---|")
        for name, _ in CATEGORIES:
            v = {}
            for mode in ("det", "real"):
                xs = [r["marginal_ir_per_io_by_category"].get(name, 0) for r in res["instr"]
                      if r["mode"] == mode and r.get("marginal_ir_per_io_by_category")]
                v[mode] = statistics.median(xs) if xs else None
            print(f"| {name} | {fmt(v['det'])} | {fmt(v['real'])} |")


if __name__ == "__main__":
    main()
