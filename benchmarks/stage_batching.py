#!/usr/bin/env python
"""What running a plan's independent stages together (stage batching) saves.

    python benchmarks/stage_batching.py            # plans at T = 200; measured at T = 64
    python benchmarks/stage_batching.py --quick    # measured at T = 32, one run per mode
    python benchmarks/stage_batching.py --strict   # exit status 1 if the goal is missed

1. Plans only (no network): every built-in scheme, hierarchy2 and improved_ar_3res first,
   compiled at T = 200, K = 16 (Heun, 25 steps = 49 evaluations per stage, the default of
   ``vidsched run``). Sequential network calls = batches x evaluations per stage with
   batching, stages x evaluations per stage without; the saving is their ratio (it does
   not depend on the number of steps). Goal: >= 3x fewer sequential calls for hierarchy2.

2. Measured: the same two schemes at K = 8 and a short T (64; quick: 32), Heun with 2 steps
   (3 evaluations per stage), run by the executor with the tiny U-Net (random weights:
   PyTorch's default initialisation, seed 0; the cost of a forward pass does not depend on
   the weights) on a synthetic 64x64 video with a moving hole, on the CPU under
   ``torch.inference_mode()``, with batching on and off. The runs alternate (off, on, on,
   off, ...) so a drift in the machine's load affects both modes alike; each mode's
   figure is the median of its runs. Speed-up = wall time without / wall time with.
   The network is timed inside the runs too, giving its time per window at each batch
   size. On a CPU a batch of B windows costs at least B times one window (the cores are
   busy either way), so the measured speed-up is much smaller than the saving in
   sequential calls, which is what counts on a GPU (not measured here).

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
from _machine import RUNTIME_PACKAGES, busy_note, load_avg, machine, torch_info  # noqa: E402

import torch  # noqa: E402
from runtime_overhead import TimedModel, fmt_s, isolated_forward_times, synthetic_video, tiny_model  # noqa: E402

from vidsched.compiler import builtin_schemes, compile_scheme  # noqa: E402
from vidsched.runtime.denoiser import model_denoiser  # noqa: E402
from vidsched.runtime.executor import Executor, SamplerSettings, initial_buffer  # noqa: E402

FOCUS = ("hierarchy2", "improved_ar_3res")
PLAN_T, PLAN_K, PLAN_STEPS = 200, 16, 25
RUN_K, RUN_STEPS = 8, 2
GOAL_SAVING = 3.0  # hierarchy2 at T = 200, K = 16


def plan_row(name: str) -> dict:
    try:
        plan = compile_scheme(name, {"T": PLAN_T, "K": PLAN_K}, steps=PLAN_STEPS, sampler="heun")
    except Exception as e:  # a scheme that does not compile with these parameters
        return {"scheme": name, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    per_stage = plan.stats.evaluations_per_stage
    sizes = [len(b) for b in plan.batches]
    return {
        "scheme": name,
        "stages": len(plan.stages),
        "batches": len(plan.batches),
        "max_batch": max(sizes),
        "evaluations_per_stage": per_stage,
        "network_evaluations": plan.stats.network_evaluations,
        "sequential_calls_batched": len(plan.batches) * per_stage,
        "sequential_calls_unbatched": len(plan.stages) * per_stage,
        "saving": len(plan.stages) / len(plan.batches),
    }


def timed_run(plan, frames, hole, model, settings: SamplerSettings, batch_stages: bool) -> dict:
    timed = TimedModel(model)
    executor = Executor(model_denoiser(timed, cuda_graphs=True), settings, device=torch.device("cpu"))
    buffer = initial_buffer(frames, hole)
    with torch.inference_mode():
        c0, t0 = time.process_time(), time.perf_counter()
        stats = executor.run(plan, buffer, hole, seed=0, batch_stages=batch_stages)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    per_window: dict[int, list[float]] = {}  # network seconds per window, by batch size
    for B, seconds in timed.calls:
        per_window.setdefault(B, []).append(seconds / B)
    return {"wall_s": wall, "cpu_s": cpu, "sequential_calls": stats.sequential_calls,
            "network_evaluations": stats.network_evaluations, "buffer": buffer,
            "network_s": sum(s for _, s in timed.calls), "per_window": per_window}


def measure_scheme(name: str, T: int, model, repeats: int) -> dict:
    size = model.config.image_size
    frames, hole = synthetic_video(T, size)
    settings = SamplerSettings(name="heun", steps=RUN_STEPS)
    plan = compile_scheme(name, {"T": T, "K": RUN_K}, steps=RUN_STEPS, sampler="heun")
    sizes = sorted({len(b) for b in plan.batches})
    for B in sizes:  # warm up every batch shape the runs will see (first-call costs)
        isolated_forward_times(model, B, RUN_K, size, 1)
    runs = {False: [], True: []}
    order = []
    for i in range(repeats):
        order += [False, True] if i % 2 == 0 else [True, False]
    for batched in order:
        runs[batched].append(timed_run(plan, frames, hole, model, settings, batched))
    reference = runs[False][0]["buffer"].astype("float32")
    diff = max(float(abs(r["buffer"].astype("float32") - reference).max()) for r in runs[True] + runs[False])
    row = {"scheme": name, "T": T, "K": RUN_K, "steps": RUN_STEPS,
           "evaluations_per_stage": settings.evaluations_per_stage,
           "stages": len(plan.stages), "batches": len(plan.batches), "batch_sizes": sizes,
           "max_abs_diff_batched_vs_one_by_one": diff}
    for batched, label in ((False, "unbatched"), (True, "batched")):
        rs = runs[batched]
        row[f"{label}_wall_s"] = statistics.median(r["wall_s"] for r in rs)
        row[f"{label}_cpu_s"] = statistics.median(r["cpu_s"] for r in rs)
        row[f"{label}_wall_runs_s"] = [round(r["wall_s"], 4) for r in rs]
        row[f"{label}_sequential_calls"] = rs[0]["sequential_calls"]
        row["network_evaluations"] = rs[0]["network_evaluations"]
        row[f"{label}_network_s"] = statistics.median(r["network_s"] for r in rs)
    # Network time per window at each batch size (median over the calls of all runs).
    by_size: dict[int, list[float]] = {}
    for r in runs[True] + runs[False]:
        for B, ts in r["per_window"].items():
            by_size.setdefault(B, []).extend(ts)
    row["network_s_per_window_by_batch_size"] = {str(B): round(statistics.median(ts), 4)
                                                 for B, ts in sorted(by_size.items())}
    row["call_saving"] = row["unbatched_sequential_calls"] / row["batched_sequential_calls"]
    row["speedup_wall"] = row["unbatched_wall_s"] / row["batched_wall_s"]
    row["speedup_cpu"] = row["unbatched_cpu_s"] / row["batched_cpu_s"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="measured runs at T = 32, one run per mode")
    ap.add_argument("--T", type=int, default=None, help="frames of the measured runs (default 64, quick 32)")
    ap.add_argument("--repeats", type=int, default=None, help="runs per mode (default 2, quick 1)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: stable timings on a shared machine)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if the goal is missed")
    args = ap.parse_args(argv)
    T = args.T or (32 if args.quick else 64)
    repeats = args.repeats or (1 if args.quick else 2)
    torch.set_num_threads(args.threads)
    load_before = load_avg()

    names = [b.name for b in builtin_schemes()]
    names = [n for n in FOCUS if n in names] + [n for n in names if n not in FOCUS]
    rows = [plan_row(n) for n in names]
    print(f"1. Plans: T = {PLAN_T}, K = {PLAN_K}, Heun {PLAN_STEPS} steps "
          f"({2 * PLAN_STEPS - 1} evaluations per stage); sequential calls = batches (or stages) x evaluations")
    head = (f"  {'scheme':<24} {'stages':>6} {'batches':>7} {'max batch':>9} {'calls, batched':>15} "
            f"{'calls, one by one':>18} {'saving':>7}")
    print(head)
    for r in rows:
        if "error" in r:
            print(f"  {r['scheme']:<24} ERROR {r['error']}")
            continue
        print(f"  {r['scheme']:<24} {r['stages']:>6} {r['batches']:>7} {r['max_batch']:>9} "
              f"{r['sequential_calls_batched']:>15,} {r['sequential_calls_unbatched']:>18,} {r['saving']:>6.2f}x")
    h2 = next((r for r in rows if r["scheme"] == "hierarchy2" and "error" not in r), None)
    met = h2 is not None and h2["saving"] >= GOAL_SAVING
    print(f"  Goal: hierarchy2 needs >= {GOAL_SAVING:g}x fewer sequential calls: "
          + (f"{h2['saving']:.2f}x -> {'PASS' if met else 'FAIL'}" if h2 else "hierarchy2 missing -> FAIL"))

    model = tiny_model()
    print()
    print(f"2. Measured: K = {RUN_K}, T = {T}, Heun {RUN_STEPS} steps ({2 * RUN_STEPS - 1} evaluations per stage), "
          f"tiny U-Net (random weights), 64x64, CPU, torch {torch.__version__} with {torch.get_num_threads()} "
          f"thread(s); median of {repeats} run(s) per mode, alternating")
    measured = []
    for name in FOCUS:
        r = measure_scheme(name, T, model, repeats)
        measured.append(r)
        print(f"  {name}: {r['stages']} stages in {r['batches']} batches (batch sizes {r['batch_sizes']}), "
              f"{r['network_evaluations']} evaluations")
        print(f"    one by one: {r['unbatched_sequential_calls']:>4} calls, {fmt_s(r['unbatched_wall_s']):>8} wall, "
              f"{fmt_s(r['unbatched_cpu_s']):>8} CPU  (runs {r['unbatched_wall_runs_s']})")
        print(f"    batched:    {r['batched_sequential_calls']:>4} calls, {fmt_s(r['batched_wall_s']):>8} wall, "
              f"{fmt_s(r['batched_cpu_s']):>8} CPU  (runs {r['batched_wall_runs_s']})")
        print(f"    {r['call_saving']:.2f}x fewer sequential calls; measured speed-up {r['speedup_wall']:.2f}x wall, "
              f"{r['speedup_cpu']:.2f}x CPU time")
        per_window = ", ".join(f"batch {B}: {fmt_s(t)}" for B, t in r["network_s_per_window_by_batch_size"].items())
        print(f"    network time per window (median over calls): {per_window}")
        print(f"    largest difference between the outputs of the two modes (buffer values in [-1, 1]): "
              f"{r['max_abs_diff_batched_vs_one_by_one']:.3g}")
    load_after = load_avg()
    note = busy_note(max(x for x in (load_before, load_after) if x is not None) if load_before is not None else None)
    if note:
        print("  " + note)

    summary = {
        "benchmark": "stage_batching",
        "mode": "quick" if args.quick else "full",
        "plans": {"T": PLAN_T, "K": PLAN_K, "sampler": "heun", "steps": PLAN_STEPS,
                  "schemes": {r["scheme"]: {k: (round(v, 4) if isinstance(v, float) else v)
                                            for k, v in r.items() if k != "scheme"} for r in rows}},
        "goal_hierarchy2_saving_min": GOAL_SAVING,
        "hierarchy2_saving": round(h2["saving"], 4) if h2 else None,
        "goal_met": met,
        "measured": {
            "T": T, "K": RUN_K, "sampler": "heun", "steps": RUN_STEPS, "repeats": repeats, "threads": args.threads,
            "model": {"config": "tiny", "weights": "random (default init, seed 0)"},
            "schemes": {r["scheme"]: {k: (round(v, 4) if isinstance(v, float) else v)
                                      for k, v in r.items() if k != "scheme"} for r in measured},
        },
        "machine": {**machine(RUNTIME_PACKAGES), **torch_info(), "device": "cpu",
                    "load_avg_1min_before": load_before, "load_avg_1min_after": load_after},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
