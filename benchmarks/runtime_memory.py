#!/usr/bin/env python
"""Memory of a run: the host buffer grows with the number of frames, the working memory
of a window does not.

    python benchmarks/runtime_memory.py            # whole plans at T = 200 and T = 2,000
    python benchmarks/runtime_memory.py --quick    # the first 25 batches of each plan
    python benchmarks/runtime_memory.py --max-batches N
    python benchmarks/runtime_memory.py --strict   # exit status 1 if the goal is missed

Scheme ``ar`` (autoregressive), K = 8, Heun with 1 step (1 network evaluation per stage),
64x64 synthetic video with a moving hole in every frame, the tiny U-Net with random
weights (PyTorch's default initialisation; memory does not depend on the weights), under
``torch.inference_mode()``. Each T runs in a fresh Python subprocess, which reports:

* host buffer: the float16 video buffer the executor works on, T x 64 x 64 x 3 x 2 bytes
  (plus the input frames, uint8, and the hole mask, bool, which any run needs);
* working memory of the run: the peak resident set size (VmHWM, reset through
  ``/proc/self/clear_refs`` just before the run) minus the resident set size just before
  the run, i.e. what the windows, the network's activations and the sampler's tensors
  add on top of the buffer. So that the resident set follows live memory, the child
  runs with glibc's mmap threshold fixed at 128 KiB (``MALLOC_MMAP_THRESHOLD_``: large
  blocks go back to the OS when freed) and calls ``malloc_trim(0)`` before the run; and the peak of the Python/numpy allocations traced by
  ``tracemalloc`` during the run (torch's CPU tensors are not traced by it);
* device memory: ``torch.cuda.max_memory_allocated()`` during the run when CUDA is
  available (the run then goes to the GPU), otherwise "no GPU here" (the CPU is the
  device, and its working memory is the figure above);
* the whole process's peak RSS (``resource.getrusage``: includes Python, torch and the model).

Goal: the working memory at T = 2,000 is at most 10 % (or 8 MiB, whichever is larger)
above the one at T = 200, while the host buffer grows 10x.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
from _machine import RUNTIME_PACKAGES, busy_note, load_avg, machine, torch_info  # noqa: E402

SCHEME = "ar"
K = 8
STEPS = 1
TS = (200, 2_000)
QUICK_BATCHES = 25
GOAL_GROWTH = 0.10  # relative
GOAL_SLACK = 8 * 2**20  # bytes
MiB = 2**20


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in bytes (Linux), else {}."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def release_free_heap() -> bool:
    """Give the C heap's free memory back to the OS (glibc ``malloc_trim``), so that the
    RSS before the run counts live memory only and the run's allocations show up in its
    peak instead of reusing pages freed earlier."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0)) or True
    except (OSError, AttributeError):
        return False


def max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


class StopRun(Exception):
    pass


def child(T: int, max_batches: int, threads: int) -> dict:
    """Measure one T in this (fresh) process."""
    import numpy as np
    import torch
    from runtime_overhead import synthetic_video, tiny_model

    from vidsched.compiler import compile_scheme
    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, initial_buffer

    torch.set_num_threads(threads)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    model = tiny_model().to(device)
    size = model.config.image_size
    rss_model = proc_status().get("VmRSS")

    tracemalloc.start()
    frames, hole = synthetic_video(T, size)
    buffer = initial_buffer(frames, hole)
    plan = compile_scheme(SCHEME, {"T": T, "K": K}, steps=STEPS, sampler="heun")
    import gc

    gc.collect()
    traced_inputs = tracemalloc.get_traced_memory()[0]
    trimmed = release_free_heap()
    rss_before = proc_status().get("VmRSS")

    settings = SamplerSettings(name="heun", steps=STEPS)
    executor = Executor(model_denoiser(model, cuda_graphs=True), settings, device=device)
    limit = len(plan.batches) if max_batches <= 0 else min(max_batches, len(plan.batches))
    done = [0]

    def after_batch(next_batch: int, _buffer) -> None:
        done[0] = next_batch
        if next_batch >= limit:
            raise StopRun

    peak_reset = reset_peak_rss()
    tracemalloc.reset_peak()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    with torch.inference_mode():
        try:
            executor.run(plan, buffer, hole, seed=0, batch_stages=True, after_batch=after_batch)
        except StopRun:
            pass
    wall = time.perf_counter() - t0
    status = proc_status()
    traced_now, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {
        "T": T,
        "stages": len(plan.stages),
        "batches": len(plan.batches),
        "batches_run": done[0],
        "whole_plan": done[0] == len(plan.batches),
        "wall_s": round(wall, 3),
        "host_buffer_bytes": int(buffer.nbytes),
        "host_buffer_expected_bytes": T * size * size * 3 * 2,
        "frames_bytes": int(frames.nbytes),
        "hole_bytes": int(hole.nbytes),
        "traced_inputs_bytes": int(traced_inputs),
        "rss_after_model_bytes": rss_model,
        "rss_before_run_bytes": rss_before,
        "peak_rss_reset": peak_reset,
        "malloc_trim": trimmed,
        "peak_rss_run_bytes": status.get("VmHWM") if peak_reset else None,
        "working_rss_bytes": (status["VmHWM"] - rss_before) if peak_reset and rss_before else None,
        "traced_run_peak_bytes": int(traced_peak - traced_inputs),
        "process_max_rss_bytes": max_rss_bytes(),
        "device": str(device),
        "cuda_max_allocated_bytes": None,
        "cuda_run_peak_over_start_bytes": None,
        "finite": bool(np.isfinite(buffer).all()),
    }
    if cuda:
        peak = torch.cuda.max_memory_allocated()
        result["cuda_max_allocated_bytes"] = int(peak)
        result["cuda_run_peak_over_start_bytes"] = int(peak - cuda_before)
    return result


def mib(b: int | None) -> str:
    return "n/a" if b is None else f"{b / MiB:8.2f} MiB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"only the first {QUICK_BATCHES} batches of each plan")
    ap.add_argument("--max-batches", type=int, default=None, help="run only the first N batches (0 = all)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if the goal is missed")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)  # internal: measure one T
    args = ap.parse_args(argv)
    max_batches = args.max_batches if args.max_batches is not None else (QUICK_BATCHES if args.quick else 0)

    if args.child is not None:
        print(json.dumps(child(args.child, max_batches, args.threads)))
        return 0

    load_before = load_avg()
    rows = []
    for T in TS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(T),
               "--max-batches", str(max_batches), "--threads", str(args.threads)]
        # A fixed mmap threshold makes glibc return every large block to the OS when it is
        # freed, so the resident set follows the live memory (no reuse of stale pages).
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024), "MALLOC_TRIM_THRESHOLD_": str(128 * 1024)}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            print(f"the measurement at T = {T} failed (exit status {proc.returncode})", file=sys.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    load_after = load_avg()
    import torch

    torch.set_num_threads(args.threads)  # as in the children, for the machine description

    cuda = torch.cuda.is_available()
    small, large = rows
    print(f"Memory of a run: scheme {SCHEME}, K = {K}, Heun {STEPS} step, 64x64, tiny U-Net (random weights), "
          f"{'GPU' if cuda else 'CPU'}, {args.threads} torch thread(s), one fresh process per T")
    scope = "whole plans" if max_batches <= 0 else f"the first {max_batches} batches of each plan"
    print(f"  measured: {scope}")
    print()
    print(f"  {'':<38} {'T = ' + format(small['T'], ','):>14} {'T = ' + format(large['T'], ','):>14}")
    lines = [
        ("batches run / in the plan", lambda r: f"{r['batches_run']} / {r['batches']}"),
        ("wall time of the run", lambda r: f"{r['wall_s']:.1f} s"),
        ("host buffer (float16, T x 64 x 64 x 3)", lambda r: mib(r["host_buffer_bytes"])),
        ("input frames (uint8) + hole mask (bool)", lambda r: mib(r["frames_bytes"] + r["hole_bytes"])),
        ("traced numpy/Python before the run", lambda r: mib(r["traced_inputs_bytes"])),
        ("RSS before the run", lambda r: mib(r["rss_before_run_bytes"])),
        ("peak RSS during the run", lambda r: mib(r["peak_rss_run_bytes"])),
        ("working memory (peak RSS - RSS before)", lambda r: mib(r["working_rss_bytes"])),
        ("traced numpy/Python peak in the run", lambda r: mib(r["traced_run_peak_bytes"])),
        ("process peak RSS (getrusage)", lambda r: mib(r["process_max_rss_bytes"])),
        ("device memory (CUDA max allocated)",
         lambda r: mib(r["cuda_max_allocated_bytes"]) if r["cuda_max_allocated_bytes"] is not None else "no GPU here"),
    ]
    for label, fn in lines:
        print(f"  {label:<38} {fn(small):>14} {fn(large):>14}")

    buffer_growth = large["host_buffer_bytes"] / small["host_buffer_bytes"]
    key = "cuda_run_peak_over_start_bytes" if cuda else "working_rss_bytes"
    w_small, w_large = small[key], large[key]
    met = None
    if w_small is not None and w_large is not None:
        allowed = w_small + max(GOAL_GROWTH * w_small, GOAL_SLACK)
        met = w_large <= allowed
        growth = (w_large - w_small) / w_small if w_small else float("inf")
        what = "device memory of the run" if cuda else "working memory of the run"
        print()
        print(f"  host buffer grows {buffer_growth:.1f}x; {what} {mib(w_small).strip()} -> {mib(w_large).strip()} "
              f"({100 * growth:+.1f} %)")
        print(f"Goal: {what} at T = {large['T']:,} <= T = {small['T']} + max(10 %, 8 MiB): "
              f"{'PASS' if met else 'FAIL'}")
    else:
        print("Goal: not measurable here (no /proc/self/clear_refs to reset the peak RSS)")
    if not cuda:
        print("  device memory: no GPU here (torch.cuda is not available); the CPU's working memory stands in for it")
    note = busy_note(max(x for x in (load_before, load_after) if x is not None) if load_before is not None else None)
    if note:
        print("  " + note)

    summary = {
        "benchmark": "runtime_memory",
        "mode": "quick" if args.quick else ("full" if max_batches <= 0 else f"first {max_batches} batches"),
        "scheme": SCHEME,
        "K": K,
        "sampler": "heun",
        "steps": STEPS,
        "image_size": 64,
        "max_batches": max_batches,
        "threads": args.threads,
        "device_memory": "cuda" if cuda else "no GPU here",
        "runs": {str(r["T"]): r for r in rows},
        "host_buffer_growth": round(buffer_growth, 3),
        "working_memory_key": key,
        "working_memory_growth": round((w_large - w_small) / w_small, 4) if w_small else None,
        "goal": "working memory at T = 2000 <= working memory at T = 200 + max(10 %, 8 MiB)",
        "goal_met": met,
        "machine": {**machine(RUNTIME_PACKAGES), **torch_info(),
                    "load_avg_1min_before": load_before, "load_avg_1min_after": load_after,
                    "cpu_count": os.cpu_count()},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
