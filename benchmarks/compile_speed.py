#!/usr/bin/env python
"""How fast the compiler lowers every shipped scheme to a plan.

    python benchmarks/compile_speed.py            # 5 repeats per measurement
    python benchmarks/compile_speed.py --quick    # 2 repeats
    python benchmarks/compile_speed.py --profile  # also cProfile the slowest scheme
    python benchmarks/compile_speed.py --no-profile  # skip cProfile of schemes missing a goal
    python benchmarks/compile_speed.py --strict   # exit status 1 if a scheme misses a goal
    python benchmarks/compile_speed.py --long 100000  # long videos up to T = 100,000 only
    python benchmarks/compile_speed.py --long 0   # no long videos
    python benchmarks/compile_speed.py --long-schemes ar,improved_ar_2res  # only these long

Every built-in scheme (``vidsched.compiler.builtin_schemes()``, so schemes added later
are included) is compiled with ``compile_scheme(name, {"T": T, "K": 16})`` (other
parameters at their defaults) at T = 1,000 and T = 10,000. Times are wall-clock
(``time.perf_counter``) inside this process: interpreter start-up and imports are not
counted, and the parser is built (warmed up) once before any timing. Each figure is the
median of the repeats.

The schemes that read the mask (``MASKED_SCHEMES``) are also compiled with one, as a row
``NAME +mask``: the moving box of ``compile_speed_masked.py`` (64 x 64 pixels, a 16 x 32
box sliding one pixel a frame), reduced to its hole map (``HoleMap.from_mask``) once per
T before the timing; the reduction's own time is printed beside the table. (That
benchmark has the details: stationary masks, CPU times, evaluation steps.)

Goals, per scheme (and masked row): compile time at T = 10,000 <= 0.5 s, and
time(T = 10,000) / time(T = 1,000) <= 15 (about linear: 10x the frames, <= 15x the time).

The phases of the slowest scheme at T = 10,000 are timed separately (parse+check,
evaluate, validate, lower); a scheme that misses a goal is profiled with cProfile.

Long videos: ``LONG_SCHEMES`` are compiled once at T = 100,000 and T = 1,000,000 (the
compiler's limit): wall time of a plain run, then peak memory (``tracemalloc``) of a
second, traced run (tracing slows it down several times). Goal: time and peak memory
grow about linearly, at most ``GOAL_RATIO`` times for 10x the frames. These take a few
minutes; ``--long 100000`` stops at T = 100,000, ``--long 0`` skips them.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
from _machine import load_avg as load_after  # noqa: E402
from _machine import machine  # noqa: E402
from compile_speed_masked import make_mask  # noqa: E402

from vidsched.compiler import builtin_schemes, compile_scheme, load_scheme_source  # noqa: E402
from vidsched.lang.check import check  # noqa: E402
from vidsched.lang.evaluate import evaluate  # noqa: E402
from vidsched.lang.holes import HoleMap  # noqa: E402
from vidsched.lang.parser import parse  # noqa: E402
from vidsched.lang.validate import validate  # noqa: E402
from vidsched.lang.lower import lower  # noqa: E402

T_SMALL = 1_000
T_LARGE = 10_000
K = 16
GOAL_SECONDS = 0.5  # at T = T_LARGE
GOAL_RATIO = 15.0  # time(T_LARGE) / time(T_SMALL)
LONG_SCHEMES = ("ar", "improved_ar_far_future", "hierarchy2", "fdm/autoreg", "fdm/hierarchy",
                "improved_ar_2res", "improved_ar_3res")
LONG_TS = (100_000, 1_000_000)
# Schemes that read the mask: also compiled with the moving mask of compile_speed_masked.py.
MASKED_SCHEMES = ("improved_ar_informative",)
MASK_KIND = "moving"
# Stop repeating a measurement once its repeats have taken this long (at least one run).
BUDGET_SECONDS = 10.0


class Timing:
    """Wall-clock and CPU (process) times of the repeats of one measurement."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, Timing, object]:
    """Median wall time of ``fn()`` over up to ``repeats`` runs, all the times, the last result."""
    timing = Timing()
    result = None
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        t1, c1 = time.perf_counter(), time.process_time()
        timing.wall.append(t1 - t0)
        timing.cpu.append(c1 - c0)
        if sum(timing.wall) > BUDGET_SECONDS:
            break
    return timing.median, timing, result


def overrides(T: int) -> dict[str, int]:
    return {"T": T, "K": K}


def hole_maps(repeats: int) -> tuple[dict[int, HoleMap], dict[int, float]]:
    """The moving mask's hole map at T_SMALL and T_LARGE, and the median time to reduce it."""
    maps, seconds = {}, {}
    for T in (T_SMALL, T_LARGE):
        mask = make_mask(T, MASK_KIND)
        seconds[T], _, maps[T] = timed(lambda: HoleMap.from_mask(mask), repeats)
    return maps, seconds


def measure_scheme(name: str, repeats: int, holes: dict[int, HoleMap] | None = None) -> dict:
    """Compile times at T_SMALL and T_LARGE; with `holes` (T -> hole map), with the mask."""
    row: dict = {"scheme": name + (" +mask" if holes else ""), "name": name, "masked": bool(holes)}
    for label, T in (("1k", T_SMALL), ("10k", T_LARGE)):
        mask = {"holes": holes[T]} if holes else {}
        try:
            median, times, plan = timed(lambda: compile_scheme(name, overrides(T), **mask), repeats)
        except Exception as e:  # a scheme that does not compile with these parameters
            row["error"] = f"T={T}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            return row
        row[f"t_{label}_s"] = median
        row[f"cpu_{label}_s"] = times.cpu_median
        row[f"min_{label}_s"] = min(times.wall)
        row[f"stages_{label}"] = len(plan.stages)
    row["ratio"] = row["t_10k_s"] / row["t_1k_s"] if row["t_1k_s"] > 0 else float("inf")
    return row


def goals(row: dict) -> dict:
    if "error" in row:
        return {"t_10k_le_0_5s": False, "ratio_le_15": False, "all": False}
    fast = row["t_10k_s"] <= GOAL_SECONDS
    linear = row["ratio"] <= GOAL_RATIO
    return {"t_10k_le_0_5s": fast, "ratio_le_15": linear, "all": fast and linear}


def measure_long(name: str, T: int) -> dict:
    """One plain run (wall and CPU time) and one traced run (peak memory) at T."""
    row: dict = {"scheme": name, "T": T}
    try:
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        plan = compile_scheme(name, overrides(T))
        row["t_s"] = time.perf_counter() - t0
        row["cpu_s"] = time.process_time() - c0
        row["stages"] = len(plan.stages)
        del plan
        gc.collect()
        tracemalloc.start()
        try:
            compile_scheme(name, overrides(T))
            row["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        finally:
            tracemalloc.stop()
    except Exception as e:  # a scheme that does not compile with these parameters
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    row["load_after"] = load_after()
    return row


def phases(name: str, T: int, repeats: int) -> dict[str, float]:
    """Median time of each compiler pass for one scheme (same work as compile_scheme)."""
    source = load_scheme_source(name)
    ov = overrides(T)
    out: dict[str, float] = {}
    out["parse+check"], _, program = timed(lambda: check(parse(source.text, source.name), source), repeats)
    out["evaluate"], _, stage_list = timed(lambda: evaluate(program, ov), repeats)
    out["validate"], _, validated = timed(lambda: validate(stage_list), repeats)
    out["lower"], _, _ = timed(lambda: lower(validated, source_file=source.name, sampler="heun", steps=100,
                                                  evaluations_per_stage=199), repeats)
    out["total"] = sum(out.values())
    return {k: round(v, 6) for k, v in out.items()}


def profile(name: str, T: int, top: int = 20, holes: HoleMap | None = None) -> str:
    prof = cProfile.Profile()
    prof.enable()
    compile_scheme(name, overrides(T), holes=holes)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    name += " with the mask" if holes is not None else ""
    buf.write(f"--- cProfile of {name} at T = {T:,}, K = {K}: by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    buf.write(f"--- cProfile of {name} at T = {T:,}, K = {K}: by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (2 instead of 5)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per measurement (median is reported)")
    ap.add_argument("--profile", action="store_true", help="cProfile the slowest scheme even if it meets the goals")
    ap.add_argument("--no-profile", action="store_true", help="do not cProfile the schemes that miss a goal")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if a scheme misses a goal")
    ap.add_argument("--long", type=int, default=LONG_TS[-1], metavar="T",
                    help=f"long videos up to this T ({', '.join(map(str, LONG_TS))}; 0: none)")
    ap.add_argument("--long-schemes", default=",".join(LONG_SCHEMES), metavar="A,B",
                    help="the schemes of the long-video section, comma-separated (default: all of LONG_SCHEMES)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)

    schemes = [b.name for b in builtin_schemes()]
    if not schemes:
        print("no built-in schemes found", file=sys.stderr)
        return 1

    load_before = load_after()
    # Warm-up: build the LALR parser (cached) and touch every import path once.
    compile_scheme(schemes[0], {"T": 50, "K": K})

    rows = []
    for name in schemes:
        row = measure_scheme(name, repeats)
        row["goals"] = goals(row)
        rows.append(row)
    masked = [name for name in MASKED_SCHEMES if name in schemes]
    maps, hole_map_s = hole_maps(repeats) if masked else ({}, {})
    for name in masked:
        row = measure_scheme(name, repeats, maps)
        row["goals"] = goals(row)
        rows.append(row)

    print(f"Compile time per scheme, K = {K}, other parameters at their defaults; "
          f"t = median wall time of {repeats} run(s), min = fastest run, cpu = median process time")
    head = (f"{'scheme':<30} {'stages 1k/10k':>14} {'t(1k)':>10} {'t(10k)':>10} {'ratio':>7} "
            f"{'min(10k)':>10} {'cpu(10k)':>10}  goals")
    print(head)
    print("-" * len(head))
    for row in rows:
        if "error" in row:
            print(f"{row['scheme']:<30} {'-':>14} {'-':>10} {'-':>10} {'-':>7} {'-':>10} {'-':>10}  "
                  f"ERROR {row['error']}")
            continue
        g = row["goals"]
        verdict = "pass" if g["all"] else "FAIL (" + ", ".join(
            what for what, ok in (("> 0.5 s", g["t_10k_le_0_5s"]), ("ratio > 15", g["ratio_le_15"])) if not ok
        ) + ")"
        stages = f"{row['stages_1k']}/{row['stages_10k']}"
        print(f"{row['scheme']:<30} {stages:>14} {fmt_s(row['t_1k_s']):>10} {fmt_s(row['t_10k_s']):>10} "
              f"{row['ratio']:>7.1f} {fmt_s(row['min_10k_s']):>10} {fmt_s(row['cpu_10k_s']):>10}  {verdict}")

    if hole_map_s:
        print(f"(+mask: the {MASK_KIND} mask of compile_speed_masked.py; reducing it to its hole map, not counted "
              f"above: {fmt_s(hole_map_s[T_SMALL])} at T = {T_SMALL:,}, {fmt_s(hole_map_s[T_LARGE])} at "
              f"T = {T_LARGE:,})")

    print()
    print(f"Goals: t(T = {T_LARGE:,}) <= {GOAL_SECONDS} s and t({T_LARGE:,}) / t({T_SMALL:,}) <= {GOAL_RATIO:g}")
    ok_fast = [r["scheme"] for r in rows if r["goals"]["t_10k_le_0_5s"]]
    ok_ratio = [r["scheme"] for r in rows if r["goals"]["ratio_le_15"]]
    failing = [r["scheme"] for r in rows if not r["goals"]["all"]]
    print(f"  t(10k) <= {GOAL_SECONDS} s: {len(ok_fast)}/{len(rows)} pass")
    print(f"  ratio <= {GOAL_RATIO:g}:    {len(ok_ratio)}/{len(rows)} pass")
    print(f"  all goals: {'PASS' if not failing else 'FAIL: ' + ', '.join(failing)}")
    cores = os.cpu_count() or 1
    if load_before is not None and load_before > 0.5 * cores:
        print(f"  note: the machine was busy (1-min load average {load_before:.2f} on {cores} cores): "
              "wall times are noisy; compare min(10k) and cpu(10k), or re-run on an idle machine")

    measured = [r for r in rows if "error" not in r]
    unmasked = [r for r in measured if not r["masked"]]
    phase_report = None
    if unmasked:
        slowest = max(unmasked, key=lambda r: r["t_10k_s"])
        ph = phases(slowest["scheme"], T_LARGE, repeats)
        phase_report = {"scheme": slowest["scheme"], "T": T_LARGE, "K": K, "seconds": ph}
        print()
        print(f"Phases of the slowest scheme, {slowest['scheme']} at T = {T_LARGE:,} (median of {repeats}):")
        for phase, seconds in ph.items():
            share = f"{100 * seconds / ph['total']:5.1f} %" if phase != "total" and ph["total"] > 0 else ""
            print(f"  {phase:<12} {fmt_s(seconds):>10}  {share}")

    to_profile = [] if args.no_profile else [r for r in measured if not r["goals"]["all"]]
    if args.profile and unmasked and not to_profile:
        to_profile = [slowest]
    for r in to_profile:
        print()
        print(profile(r["name"], T_LARGE, holes=maps[T_LARGE] if r["masked"] else None).rstrip())

    long_rows: list[dict] = []
    long_ratios: dict[str, dict] = {}
    long_ts = [T for T in LONG_TS if T <= args.long]
    if long_ts:
        print()
        print(f"Long videos, K = {K}: one plain run (t, cpu) and one traced run (peak memory, tracemalloc)")
        head = f"{'scheme':<28} {'T':>10} {'stages':>8} {'t':>10} {'cpu':>10} {'peak':>10}  load"
        print(head)
        print("-" * len(head))
        for name in [n for n in args.long_schemes.split(",") if n]:
            by_T = {}
            for T in long_ts:
                row = measure_long(name, T)
                long_rows.append(row)
                by_T[T] = row
                if "error" in row:
                    print(f"{name:<28} {T:>10,} {'-':>8} {'-':>10} {'-':>10} {'-':>10}  ERROR {row['error']}",
                          flush=True)
                else:
                    print(f"{name:<28} {T:>10,} {row['stages']:>8} {fmt_s(row['t_s']):>10} {fmt_s(row['cpu_s']):>10} "
                          f"{row['peak_mb']:>7.0f} MB  {row['load_after']}", flush=True)
            if len(long_ts) == 2 and all("error" not in r for r in by_T.values()):
                small, large = (by_T[T] for T in long_ts)
                long_ratios[name] = {
                    "cpu_ratio": round(large["cpu_s"] / small["cpu_s"], 2) if small["cpu_s"] > 0 else None,
                    "peak_ratio": round(large["peak_mb"] / small["peak_mb"], 2) if small["peak_mb"] > 0 else None,
                }
        for name, r in long_ratios.items():
            ok = all(v is not None and v <= GOAL_RATIO for v in r.values())
            r["linear"] = ok
            print(f"  {name}: cpu x{r['cpu_ratio']}, peak memory x{r['peak_ratio']} for 10x the frames: "
                  f"{'pass' if ok else 'FAIL'} (goal <= {GOAL_RATIO:g})")

    summary = {
        "benchmark": "compile_speed",
        "K": K,
        "T_small": T_SMALL,
        "T_large": T_LARGE,
        "repeats": repeats,
        "goal_t_large_max_s": GOAL_SECONDS,
        "goal_ratio_max": GOAL_RATIO,
        "schemes": {
            r["scheme"]: (
                {"error": r["error"], "goals": r["goals"]}
                if "error" in r
                else {
                    "stages_1k": r["stages_1k"],
                    "stages_10k": r["stages_10k"],
                    "t_1k_s": round(r["t_1k_s"], 6),
                    "t_10k_s": round(r["t_10k_s"], 6),
                    "min_1k_s": round(r["min_1k_s"], 6),
                    "min_10k_s": round(r["min_10k_s"], 6),
                    "cpu_1k_s": round(r["cpu_1k_s"], 6),
                    "cpu_10k_s": round(r["cpu_10k_s"], 6),
                    "ratio": round(r["ratio"], 3),
                    "goals": r["goals"],
                }
            )
            for r in rows
        },
        "masked": {"schemes": masked, "mask": MASK_KIND,
                   "hole_map_s": {str(T): round(t, 6) for T, t in hole_map_s.items()}},
        "all_goals_met": not failing,
        "failing": failing,
        "phases_slowest": phase_report,
        "long": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in long_rows],
        "long_ratios": long_ratios,
        "machine": {**machine(), "load_avg_1min_before": load_before, "load_avg_1min_after": load_after()},
    }
    print(json.dumps(summary, sort_keys=False, separators=(",", ":")))
    return 1 if (args.strict and failing) else 0


if __name__ == "__main__":
    sys.exit(main())
