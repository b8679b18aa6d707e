#!/usr/bin/env python
"""How fast a scheme that reads the mask compiles, on long videos.

    python benchmarks/compile_speed_masked.py            # median of 3 runs per figure
    python benchmarks/compile_speed_masked.py --quick    # 1 run
    python benchmarks/compile_speed_masked.py --frames 1000,10000,100000

For each T (default 1,000 and 10,000) and two masks of 64 x 64 pixels -- ``moving``, a box
of 16 x 32 pixels sliding right one pixel a frame and wrapping around, and
``stationary``, the same box standing still -- it times, wall-clock
(``time.perf_counter``; CPU time, ``time.process_time``, beside it) inside this process,
each the median of the repeats:

* ``hole_map_s``: reducing the mask to the 32 x 32 cells the mask-aware built-ins read
  (``HoleMap.from_mask``, done once per compile by ``vidsched compile --mask``);
* ``informative_s``: ``compile_scheme("improved_ar_informative", {"K": 16}, holes=...)``,
  the scheme that calls ``informative()`` on every stage;
* ``far_future_s``: ``improved_ar_far_future`` with the same mask (the same stages
  without the mask-aware calls), for comparison;

and reports the evaluation steps the informative compile used against its budget (the
budget is 5,000,000 + 200 per frame).
Goal: the masked compile at T = 10,000 (hole map included) in at most 1 s.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
import numpy as np  # noqa: E402
from _machine import busy_note, load_avg, machine  # noqa: E402

from vidsched.compiler import compile_scheme, stage_list_for  # noqa: E402
from vidsched.lang.holes import HoleMap  # noqa: E402
from vidsched.lang.limits import Limits  # noqa: E402

K = 16
SIZE = 64  # mask height and width in pixels
GOAL_SECONDS = 1.0  # hole map + compile of improved_ar_informative at T = 10,000


def make_mask(T: int, kind: str) -> np.ndarray:
    m = np.zeros((T, SIZE, SIZE), bool)
    w = SIZE // 4
    if kind == "stationary":
        m[:, SIZE // 4 : 3 * SIZE // 4, w : 2 * w] = True
        return m
    for t in range(T):
        x = t % (SIZE - w)
        m[t, SIZE // 4 : 3 * SIZE // 4, x : x + w] = True
    return m


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median wall-clock and CPU (process) seconds of ``repeats`` runs, and the result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per figure")
    parser.add_argument("--frames", default="1000,10000", help="comma-separated values of T")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    load_before = load_avg()
    compile_scheme("ar", {"T": 10, "K": 4})  # build the parser once
    rows = []
    for T in [int(x) for x in args.frames.split(",")]:
        for kind in ("moving", "stationary"):
            mask = make_mask(T, kind)
            hole_map_s, hole_map_cpu, holes = timed(lambda: HoleMap.from_mask(mask), repeats)
            del mask
            informative_s, informative_cpu, plan = timed(
                lambda: compile_scheme("improved_ar_informative", {"K": K}, holes=holes), repeats)
            far_future_s, far_future_cpu, far = timed(lambda: compile_scheme("improved_ar_far_future", {"K": K}, holes=holes), repeats)
            fuel = stage_list_for("improved_ar_informative", {"K": K}, holes=holes).fuel_used
            budget = Limits().fuel_budget(T)
            differ = sum(
                (a.observe, a.marginal) != (b.observe, b.marginal) for a, b in zip(plan.stages, far.stages)
            )
            row = {
                "T": T, "mask": kind, "stages": len(plan.stages), "stages_unlike_far_future": differ,
                "hole_map_s": round(hole_map_s, 4), "informative_s": round(informative_s, 4),
                "far_future_s": round(far_future_s, 4), "hole_map_cpu_s": round(hole_map_cpu, 4),
                "informative_cpu_s": round(informative_cpu, 4), "far_future_cpu_s": round(far_future_cpu, 4),
                "fuel": fuel, "fuel_budget": budget,
                "fuel_per_frame": round(fuel / T, 1),
            }
            rows.append(row)
            print(f"T = {T:>7,}  {kind:<10}  hole map {hole_map_s:7.3f} s  improved_ar_informative "
                  f"{informative_s:7.3f} s  (improved_ar_far_future {far_future_s:7.3f} s)  {len(plan.stages):,} "
                  f"stages, {differ:,} unlike far future  fuel {fuel:,} of {budget:,} ({fuel / T:.0f} per frame)")
            print(f"{'':21}CPU: hole map {hole_map_cpu:7.3f} s  improved_ar_informative {informative_cpu:7.3f} s  "
                  f"(improved_ar_far_future {far_future_cpu:7.3f} s)")
    goal_rows = [r for r in rows if r["T"] == 10_000]
    met = all(r["hole_map_s"] + r["informative_s"] <= GOAL_SECONDS for r in goal_rows) if goal_rows else None
    if met is not None:
        print(f"goal: hole map + compile at T = 10,000 <= {GOAL_SECONDS} s: {'met' if met else 'MISSED'}")
    load_after = load_avg()
    note = busy_note(load_after)
    if note:
        print(note)
    summary = {
        "benchmark": "compile_speed_masked",
        "K": K, "mask_pixels": [SIZE, SIZE], "repeats": repeats, "goal_seconds": GOAL_SECONDS,
        "goal_met": met, "rows": rows,
        "machine": {**machine(), "load_avg_1min_before": load_before, "load_avg_1min_after": load_after},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
