#!/usr/bin/env python
"""How much the plan executor costs on top of the network it runs.

    python benchmarks/runtime_overhead.py            # improved_ar, T = 48, 3 runs
    python benchmarks/runtime_overhead.py --quick    # T = 24, 2 runs
    python benchmarks/runtime_overhead.py --profile  # also cProfile one run
    python benchmarks/runtime_overhead.py --strict   # exit status 1 if the goal is missed

A plan (scheme ``improved_ar``, K = 8, Heun with 3 steps = 5 network evaluations per
stage, stage batching on) runs with the tiny U-Net (``VideoUNetConfig.tiny()``, 64x64,
**random weights**: PyTorch's default initialisation, seed 0, also for the layers the
network zero-initialises for training -- no checkpoint is needed, and the cost of a
forward pass does not depend on the weights) on a synthetic 64x64
video with a moving rectangular hole in every frame. Everything runs on the CPU under
``torch.inference_mode()``, as ``vidsched run`` does.

    overhead_ratio = wall time of Executor.run
                     / sum over its network calls of the isolated forward time of that
                       call's batch shape

The isolated forward time is measured in the same process, with the same model, under
``torch.inference_mode()``, on copies of inputs the network received in the first run
(spread over the run), in a round of calls after each run; each run is divided by the
median of the rounds just before and after it, and the figure reported is the median
over the runs. One-off costs of the process's first network calls are kept out: the
network is called a few times at each batch shape before the first run. The same ratio is also given
with CPU (process) times, which another process's load barely changes when torch uses
one thread (the default here: ``--threads 1``; two threads competing with another
process for two cores make every timing erratic).
Goal: overhead_ratio <= 1.05 on the CPU.

The network is also timed inside the run (a thin wrapper around the model), which splits
each run's wall time into: network, gather (reading windows from the host buffer),
to-tensor (stacking windows into tensors), write-back, and the rest (sampler and
denoiser arithmetic, noise generation, the finiteness check, the copy of the samples back
to numpy). A run that misses the goal (or ``--profile``) is profiled with cProfile.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vidsched.compiler import compile_scheme  # noqa: E402
from vidsched.model.unet import VideoUNet, VideoUNetConfig, count_parameters  # noqa: E402
from vidsched.runtime import executor as executor_module  # noqa: E402
from vidsched.runtime.denoiser import model_denoiser  # noqa: E402
from vidsched.runtime.executor import Executor, SamplerSettings, initial_buffer  # noqa: E402

SCHEME = "improved_ar"
K = 8
STEPS = 3
GOAL_RATIO = 1.05


# --------------------------------------------------------------------------------------
# Shared with stage_batching.py and runtime_memory.py


def synthetic_video(T: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (T, size, size, 3), hole bool (T, size, size)): smooth moving colour
    stripes, and a size/3 x size/3 hole in every frame that moves across and back."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    t = np.arange(T, dtype=np.float32)[:, None, None]
    r = 127.5 + 100.0 * np.sin((x + 1.5 * t) / 7.0)
    g = 127.5 + 100.0 * np.sin((y - 0.7 * t) / 11.0)
    b = 127.5 + 100.0 * np.sin((x + y + t) / 13.0)
    frames = np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)
    side = size // 3
    span = size - side
    hole = np.zeros((T, size, size), bool)
    for f in range(T):
        pos = (2 * f) % (2 * span)
        left = pos if pos < span else 2 * span - pos  # bounce between the edges
        top = (size - side) // 2
        hole[f, top:top + side, left:left + side] = True
    return frames, hole


def tiny_model(seed: int = 0) -> VideoUNet:
    """The CPU preset with random weights: PyTorch's default initialisation for every
    layer, including those the network zero-initialises for training (its output layer
    among them), so that its output is not identically zero and depends on its input."""
    torch.manual_seed(seed)
    model = VideoUNet(VideoUNetConfig.tiny())
    for module in model.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and not any(p.any() for p in module.parameters()):
            module.reset_parameters()
    return model.eval()


class TimedModel(torch.nn.Module):
    """The model, with the wall time and batch size of every call recorded."""

    def __init__(self, model: torch.nn.Module, keep_inputs: bool = False) -> None:
        super().__init__()
        self.model = model
        self.calls: list[tuple[int, float]] = []  # (batch size, seconds)
        self.inputs: list[tuple[torch.Tensor, ...]] = []  # copies, if keep_inputs
        self.keep_inputs = keep_inputs

    def forward(self, *args):
        if self.keep_inputs:
            self.inputs.append(tuple(a.clone() for a in args))
        t0 = time.perf_counter()
        out = self.model(*args)
        self.calls.append((int(args[0].shape[0]), time.perf_counter() - t0))
        return out


def forward_inputs(B: int, frames: int, size: int, seed: int = 0):
    """Inputs shaped and typed as the executor passes them: (x, known, index, valid, logsnr)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((B, frames, 3, size, size), generator=g)
    known = (torch.rand((B, frames, 1, size, size), generator=g) > 0.1).float()
    index = torch.arange(frames).repeat(B, 1)
    valid = torch.ones((B, frames), dtype=torch.bool)
    logsnr = torch.full((B,), -2.0)
    return x, known, index, valid, logsnr


def isolated_forward_times(
    model: torch.nn.Module, B: int, frames: int, size: int, repeats: int, inputs=None
) -> tuple[list[float], list[float]]:
    """Wall and CPU (process) times of ``repeats`` forward calls at batch size B, after
    one warm-up call. ``inputs``: a list of argument tuples to cycle through (default:
    synthetic inputs from :func:`forward_inputs`)."""
    inputs = inputs or [forward_inputs(B, frames, size)]
    wall, cpu = [], []
    with torch.inference_mode():
        model(*inputs[0])
        for i in range(repeats):
            args = inputs[i % len(inputs)]
            c0, t0 = time.process_time(), time.perf_counter()
            model(*args)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return wall, cpu


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


# --------------------------------------------------------------------------------------


class PhaseTimers:
    """Times the executor's module-level helpers by wrapping them (restored on exit)."""

    NAMES = {"gather": "gather_window", "to_tensor": "_batched_windows", "write_back": "write_back"}

    def __init__(self) -> None:
        self.seconds = {k: 0.0 for k in self.NAMES}
        self._saved: dict[str, object] = {}

    def __enter__(self) -> "PhaseTimers":
        for phase, attr in self.NAMES.items():
            original = getattr(executor_module, attr)
            self._saved[attr] = original

            def wrapped(*a, _f=original, _p=phase, **kw):
                t0 = time.perf_counter()
                try:
                    return _f(*a, **kw)
                finally:
                    self.seconds[_p] += time.perf_counter() - t0

            setattr(executor_module, attr, wrapped)
        return self

    def __exit__(self, *exc) -> None:
        for attr, original in self._saved.items():
            setattr(executor_module, attr, original)


def run_once(plan, frames, hole, model: torch.nn.Module, settings: SamplerSettings, seed: int = 0,
             keep_inputs: bool = False) -> dict:
    timed = TimedModel(model, keep_inputs)
    executor = Executor(model_denoiser(timed, cuda_graphs=True), settings, device=torch.device("cpu"))
    buffer = initial_buffer(frames, hole)
    with PhaseTimers() as phases, torch.inference_mode():
        c0, t0 = time.process_time(), time.perf_counter()
        stats = executor.run(plan, buffer, hole, seed=seed, batch_stages=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    network = sum(s for _, s in timed.calls)
    breakdown = {"network": network, **phases.seconds}
    breakdown["rest"] = wall - sum(breakdown.values())
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "calls": [b for b, _ in timed.calls],
        "network_in_run_s": network,
        "breakdown_s": breakdown,
        "network_evaluations": stats.network_evaluations,
        "sequential_calls": stats.sequential_calls,
        "finite": bool(np.isfinite(buffer).all()),
        "inputs": timed.inputs,
    }


def profile_run(plan, frames, hole, model, settings, top: int = 25) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run_once(plan, frames, hole, model, settings)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    buf.write("--- cProfile of one run (cProfile slows Python-heavy code, the network's module calls "
              "included): by own time ---\n")
    stats.sort_stats("tottime").print_stats(top)
    buf.write("--- the executor, the denoiser and the sampler: by cumulative time ---\n")
    stats.sort_stats("cumulative").print_stats(r"executor|precond|samplers|denoiser", top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="T = 24 and 2 runs instead of T = 48 and 3")
    ap.add_argument("--T", type=int, default=None, help="frames (default 48, quick 24)")
    ap.add_argument("--runs", type=int, default=None, help="runs of the plan (median reported)")
    ap.add_argument("--forward-repeats", type=int, default=None, help="isolated forward calls, before and after")
    ap.add_argument("--scheme", default=SCHEME)
    ap.add_argument("--steps", type=int, default=STEPS, help="Heun steps (2N - 1 evaluations per stage)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: stable timings on a shared machine)")
    ap.add_argument("--profile", action="store_true", help="cProfile one run even if the goal is met")
    ap.add_argument("--no-profile", action="store_true", help="do not cProfile when the goal is missed")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if the goal is missed")
    args = ap.parse_args(argv)
    T = args.T or (24 if args.quick else 48)
    runs = args.runs or (2 if args.quick else 3)
    repeats = args.forward_repeats or (6 if args.quick else 8)

    torch.set_num_threads(args.threads)
    load_before = load_avg()
    config = VideoUNetConfig.tiny()
    size = config.image_size
    model = tiny_model()
    frames, hole = synthetic_video(T, size)
    settings = SamplerSettings(name="heun", steps=args.steps)
    plan = compile_scheme(args.scheme, {"T": T, "K": K}, steps=args.steps, sampler="heun")
    shapes = sorted({len(b) for b in plan.batches})

    print(f"Executor overhead: {args.scheme}, T = {T}, K = {K}, {size}x{size}, Heun {args.steps} steps "
          f"({settings.evaluations_per_stage} evaluations per stage), stage batching on, CPU, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads")
    print(f"  model: VideoUNetConfig.tiny(), {count_parameters(model) / 1e6:.2f} M parameters, random weights "
          "(default init, seed 0)")
    print(f"  plan: {len(plan.stages)} stages in {len(plan.batches)} batches (batch sizes {shapes}), "
          f"{plan.stats.network_evaluations} network evaluations, {plan.stats.sequential_network_calls} sequential calls")

    # Isolated forward times per batch shape, on copies of the very inputs the network got
    # in the first run (spread over the run: every noise level, every window), measured in
    # a round after each run; each run is compared with the rounds on either side of it,
    # so a drift in the machine's load hits both sides of the ratio alike.
    rounds: list[dict[int, tuple[list[float], list[float]]]] = []
    results = []
    samples: dict[int, list] = {}
    for B in shapes:  # warm up: the process's first calls at a shape pay one-off costs
        isolated_forward_times(model, B, K, size, 2)
    for i in range(runs):
        results.append(run_once(plan, frames, hole, model, settings, keep_inputs=(i == 0)))
        if i == 0:
            for B in shapes:
                seen = [a for a in results[0].pop("inputs") if a[0].shape[0] == B] if len(shapes) > 1 else \
                    results[0].pop("inputs")
                step = max(1, len(seen) // repeats)
                samples[B] = seen[::step][:repeats]
        rounds.append({B: isolated_forward_times(model, B, K, size, repeats, samples[B]) for B in shapes})
    for r in results:
        r.pop("inputs", None)
    fwd = {B: [t for rd in rounds for t in rd[B][0]] for B in shapes}
    fwd_cpu = {B: [t for rd in rounds for t in rd[B][1]] for B in shapes}
    fwd_median = {B: statistics.median(ts) for B, ts in fwd.items()}
    fwd_cpu_median = {B: statistics.median(ts) for B, ts in fwd_cpu.items()}

    for i, r in enumerate(results):
        around = rounds[max(0, i - 1):i + 1]  # the rounds just before and just after run i
        near = {B: statistics.median([t for rd in around for t in rd[B][0]]) for B in shapes}
        near_cpu = {B: statistics.median([t for rd in around for t in rd[B][1]]) for B in shapes}
        r["expected_s"] = sum(near[B] for B in r["calls"])
        r["expected_cpu_s"] = sum(near_cpu[B] for B in r["calls"])
        r["overhead_ratio"] = r["wall_s"] / r["expected_s"]
        r["overhead_ratio_cpu"] = r["cpu_s"] / r["expected_cpu_s"]
        r["in_run_ratio"] = r["wall_s"] / r["network_in_run_s"]
    ratio = statistics.median(r["overhead_ratio"] for r in results)
    ratio_cpu = statistics.median(r["overhead_ratio_cpu"] for r in results)
    in_run_ratio = statistics.median(r["in_run_ratio"] for r in results)
    met = ratio <= GOAL_RATIO
    load_after = load_avg()

    print()
    for B in shapes:
        ts = fwd[B]
        print(f"  isolated forward, batch {B}: median {fmt_s(fwd_median[B])} "
              f"(min {fmt_s(min(ts))}, max {fmt_s(max(ts))}, {len(ts)} calls in {runs} rounds), "
              f"CPU time median {fmt_s(fwd_cpu_median[B])}")
    print()
    head = (f"  {'run':>3} {'wall':>9} {'cpu':>9} {'calls':>6} {'expected':>9} {'ratio':>7} {'cpu ratio':>9} "
            f"{'net in run':>11} {'wall/net':>9}  {'overhead/call':>13}")
    print(head)
    for i, r in enumerate(results):
        per_call = (r["wall_s"] - r["network_in_run_s"]) / len(r["calls"])
        print(f"  {i + 1:>3} {fmt_s(r['wall_s']):>9} {fmt_s(r['cpu_s']):>9} {len(r['calls']):>6} "
              f"{fmt_s(r['expected_s']):>9} {r['overhead_ratio']:>7.3f} {r['overhead_ratio_cpu']:>9.3f} "
              f"{fmt_s(r['network_in_run_s']):>11} "
              f"{r['in_run_ratio']:>9.3f}  {per_call * 1000:>10.2f} ms")
    best = min(results, key=lambda r: r["overhead_ratio"])
    mid = sorted(results, key=lambda r: r["overhead_ratio"])[len(results) // 2]
    print()
    print("  where the wall time of the median run goes:")
    for phase, seconds in mid["breakdown_s"].items():
        print(f"    {phase:<11} {fmt_s(seconds):>9}  {100 * seconds / mid['wall_s']:6.2f} %")
    print()
    print(f"Goal: overhead_ratio <= {GOAL_RATIO} (median of {runs} runs): {ratio:.3f} -> {'PASS' if met else 'FAIL'}")
    print(f"  the same with CPU (process) times, which another process's load barely moves with one thread: "
          f"{ratio_cpu:.3f}")
    print(f"  wall time / network time measured inside the run: {in_run_ratio:.3f}")
    note = busy_note(max(x for x in (load_before, load_after) if x is not None) if load_before is not None else None)
    if note:
        print("  " + note)
    if not all(r["finite"] for r in results):
        print("  warning: the buffer holds NaN or inf after a run")

    profile_text = None
    if (not met and not args.no_profile) or args.profile:
        profile_text = profile_run(plan, frames, hole, model, settings)
        print()
        print(profile_text.rstrip())

    def rounded(d: dict) -> dict:
        return {k: round(v, 6) for k, v in d.items()}

    summary = {
        "benchmark": "runtime_overhead",
        "mode": "quick" if args.quick else "full",
        "scheme": args.scheme,
        "T": T,
        "K": K,
        "image_size": size,
        "sampler": "heun",
        "steps": args.steps,
        "evaluations_per_stage": settings.evaluations_per_stage,
        "batch_stages": True,
        "model": {"config": "tiny", "parameters": count_parameters(model), "weights": "random (default init, seed 0)"},
        "plan": {"stages": len(plan.stages), "batches": len(plan.batches), "batch_sizes": shapes,
                 "network_evaluations": plan.stats.network_evaluations,
                 "sequential_calls": plan.stats.sequential_network_calls},
        "runs": runs,
        "threads": args.threads,
        "forward_median_s": {str(B): round(v, 6) for B, v in fwd_median.items()},
        "forward_min_s": {str(B): round(min(v), 6) for B, v in fwd.items()},
        "forward_cpu_median_s": {str(B): round(v, 6) for B, v in fwd_cpu_median.items()},
        "forward_calls": {str(B): len(v) for B, v in fwd.items()},
        "run_wall_s": [round(r["wall_s"], 6) for r in results],
        "run_cpu_s": [round(r["cpu_s"], 6) for r in results],
        "run_expected_s": [round(r["expected_s"], 6) for r in results],
        "run_overhead_ratio": [round(r["overhead_ratio"], 4) for r in results],
        "run_overhead_ratio_cpu": [round(r["overhead_ratio_cpu"], 4) for r in results],
        "run_in_run_ratio": [round(r["in_run_ratio"], 4) for r in results],
        "overhead_ratio": round(ratio, 4),
        "best_overhead_ratio": round(best["overhead_ratio"], 4),
        "overhead_ratio_cpu": round(ratio_cpu, 4),
        "in_run_ratio": round(in_run_ratio, 4),
        "breakdown_median_run_s": rounded(mid["breakdown_s"]),
        "goal_overhead_ratio_max": GOAL_RATIO,
        "goal_met": met,
        "profiled": profile_text is not None,
        "machine": {**machine(RUNTIME_PACKAGES), **torch_info(), "device": "cpu",
                    "load_avg_1min_before": load_before, "load_avg_1min_after": load_after,
                    "cpu_count": os.cpu_count()},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
