#!/usr/bin/env python
"""How long the DEVIL metrics take per 100 frames (vidsched.metrics).

    python benchmarks/metrics_speed.py            # 3 repeats; Frechet at 1024 and 2048 dimensions
    python benchmarks/metrics_speed.py --quick    # 1 repeat; Frechet at 1024 dimensions
    python benchmarks/metrics_speed.py --threads 2

Each metric scores one synthetic 100-frame video (a smooth random texture moving 2 px
right and 1 px down per frame; the prediction is the ground truth plus Gaussian noise,
sigma 10/255, inside a 25 % box hole that moves with the content; uint8, as the suite
reads videos) at 64x64 and at 256x256, on the composite:

* offline: PSNR, SSIM (DEVIL mode), E_warp (OpenCV DIS MEDIUM flow on the ground truth in
  both directions, occlusion mask, warp, error: all of :func:`warping_error`);
* weight-backed, when their modules import and their weights are found (never downloaded):
  LPIPS (``lpips_video``), PVCS (``pvcs_video``), FID's per-frame Inception features of the
  composite (``inception_features``) and VFID's I3D feature of the composite video
  (``i3d_features``); model loading is timed once, separately. Otherwise they are listed
  as unavailable with the reason.

The Frechet distance (FID / VFID) is timed on random features, 100 samples a side (one
video's frames), in D = 1024 (I3D) and D = 2048 (Inception) dimensions, by both matrix
square-root routes (``sqrtm``, the default, and ``eigen``).

Times are wall-clock (``time.perf_counter``) and process CPU time, the median of the
repeats, with ``--threads`` OpenCV and torch threads (default 1: stable timings on a
shared machine). Goal: E_warp <= 5 s per 100 frames at 256x256.

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from _machine import RUNTIME_PACKAGES, busy_note, load_avg, machine  # noqa: E402
from vidsched.metrics.frechet import frechet_distance  # noqa: E402
from vidsched.metrics.pixel import composite, psnr_video, ssim_video  # noqa: E402
from vidsched.metrics.warp import DEFAULT_FLOW, flow_backend_name, warping_error  # noqa: E402

FRAMES = 100
SIZES = (64, 256)
GOAL_EWARP_S = 5.0  # per 100 frames at 256x256
FRECHET_SAMPLES = 100


def synthetic(size: int, frames: int = FRAMES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth and composite, uint8 (T, H, W, 3) (module docstring)."""
    rng = np.random.default_rng(seed)
    dx, dy = 2, 1
    pad = (dx + dy) * frames + 1
    tex = np.stack([cv2.GaussianBlur(rng.random((size + 2 * pad, size + 2 * pad)), (0, 0), 2.0)
                    for _ in range(3)], axis=-1)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    gt = np.stack([tex[pad - dy * t:pad - dy * t + size, pad - dx * t:pad - dx * t + size]
                   for t in range(frames)])
    gt = np.rint(gt * 255).astype(np.uint8)
    pred = np.clip(gt + rng.normal(0, 10, gt.shape), 0, 255).astype(np.uint8)
    hole = np.zeros(gt.shape[:3], dtype=bool)
    side = size // 2
    for t in range(frames):
        x0, y0 = (size // 4 + dx * t) % (size - side), (size // 4 + dy * t) % (size - side)
        hole[t, y0:y0 + side, x0:x0 + side] = True
    return gt, np.rint(composite(gt, pred, hole) * 255).astype(np.uint8)


def timed(fn: Callable[[], object], repeats: int) -> dict:
    """Median wall and CPU seconds of ``fn()`` over ``repeats`` runs, and its last result."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        t1, c1 = time.perf_counter(), time.process_time()
        wall.append(t1 - t0)
        cpu.append(c1 - c0)
    value = float(result) if isinstance(result, (int, float, np.floating)) else None
    return {"wall_s": round(statistics.median(wall), 4), "cpu_s": round(statistics.median(cpu), 4),
            "runs_s": [round(w, 4) for w in wall], "value": value}


def weight_backed(threads: int) -> tuple[dict[str, Callable], dict[str, str], dict[str, float]]:
    """The weight-backed metrics that can run here, why the others cannot, and load times."""
    runnable: dict[str, Callable] = {}
    unavailable: dict[str, str] = {}
    load_s: dict[str, float] = {}
    try:
        import torch

        from vidsched.metrics.weights import MetricUnavailable
    except ImportError as e:
        reason = f"cannot import the weight-backed metrics: {e}"
        return {}, {name: reason for name in ("lpips", "pvcs", "fid_features", "vfid_features")}, {}
    torch.set_num_threads(threads)

    def load(name: str, loader: Callable[[], object]) -> object | None:
        t0 = time.perf_counter()
        try:
            model = loader()
        except MetricUnavailable as e:
            unavailable[name] = str(e).splitlines()[0]
            return None
        load_s[name] = round(time.perf_counter() - t0, 3)
        return model

    try:
        from vidsched.metrics.lpips import load_lpips, lpips_video
    except ImportError as e:
        unavailable["lpips"] = f"cannot import: {e}"
    else:
        if (model := load("lpips", load_lpips)) is not None:
            runnable["lpips"] = lambda gt, comp, m=model: lpips_video(m, gt, comp)
    try:
        from vidsched.metrics.inception import inception_features, load_fid_inception
    except ImportError as e:
        unavailable["fid_features"] = f"cannot import: {e}"
    else:
        if (model := load("fid_features", load_fid_inception)) is not None:
            runnable["fid_features"] = lambda gt, comp, m=model: inception_features(m, comp)
    try:
        from vidsched.metrics.i3d import i3d_features, load_i3d, pvcs_video
    except ImportError as e:
        unavailable["pvcs"] = unavailable["vfid_features"] = f"cannot import: {e}"
    else:
        if (model := load("i3d", load_i3d)) is not None:
            runnable["pvcs"] = lambda gt, comp, m=model: pvcs_video(m, gt, comp)
            runnable["vfid_features"] = lambda gt, comp, m=model: i3d_features(m, comp)
        else:
            unavailable["pvcs"] = unavailable["vfid_features"] = unavailable.pop("i3d")
    return runnable, unavailable, load_s


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat; Frechet distance at 1024 dimensions only")
    ap.add_argument("--repeats", type=int, default=None, help="runs per measurement (default 3, quick 1)")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV and torch threads (default 1)")
    ap.add_argument("--strict", action="store_true", help="exit with status 1 if the E_warp goal is missed")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    dims = (1024,) if args.quick else (1024, 2048)
    cv2.setNumThreads(args.threads)
    load_before = load_avg()

    offline: dict[str, Callable] = {
        "psnr": psnr_video,
        "ssim": ssim_video,
        "e_warp": warping_error,
    }
    runnable, unavailable, load_s = weight_backed(args.threads)
    metrics = {**offline, **runnable}

    print(f"Seconds per {FRAMES} frames (one video, the composite), median of {repeats} run(s), "
          f"{args.threads} thread(s); E_warp flow: {flow_backend_name(DEFAULT_FLOW)}")
    head = f"  {'metric':<14}" + "".join(f" {f'{s}x{s} wall':>14} {'cpu':>10}" for s in SIZES)
    print(head)
    results: dict[str, dict[str, dict]] = {name: {} for name in metrics}
    for size in SIZES:
        gt, comp = synthetic(size)
        for name, fn in metrics.items():
            results[name][f"{size}x{size}"] = timed(lambda: fn(gt, comp), repeats)
    for name in metrics:
        cells = "".join(f" {fmt_s(results[name][f'{s}x{s}']['wall_s']):>14} "
                        f"{fmt_s(results[name][f'{s}x{s}']['cpu_s']):>10}" for s in SIZES)
        print(f"  {name:<14}{cells}")
    for name, why in unavailable.items():
        print(f"  {name:<14} unavailable: {why.split('. ')[0]}")
    for name, seconds in load_s.items():
        print(f"  (loading {name}: {fmt_s(seconds)}, not counted above)")

    rng = np.random.default_rng(1)
    frechet: dict[str, dict] = {}
    print()
    print(f"Frechet distance, {FRECHET_SAMPLES} samples a side (random features)")
    for d in dims:
        a = rng.normal(size=(FRECHET_SAMPLES, d))
        b = rng.normal(size=(FRECHET_SAMPLES, d)) * 1.1 + 0.05
        for method in ("sqrtm", "eigen"):
            r = timed(lambda: frechet_distance(a, b, method), repeats)
            frechet[f"d{d}_{method}"] = r
            print(f"  D = {d:<5} {method:<6} {fmt_s(r['wall_s']):>10} wall {fmt_s(r['cpu_s']):>10} cpu  "
                  f"(distance {r['value']:.4f})")

    ewarp = results["e_warp"][f"{SIZES[-1]}x{SIZES[-1]}"]["wall_s"]
    met = ewarp <= GOAL_EWARP_S
    print()
    print(f"Goal: E_warp <= {GOAL_EWARP_S:g} s per {FRAMES} frames at {SIZES[-1]}x{SIZES[-1]}: "
          f"{fmt_s(ewarp)} -> {'PASS' if met else 'FAIL'}")
    load_after = load_avg()
    note = busy_note(max(x for x in (load_before, load_after) if x is not None) if load_before is not None else None)
    if note:
        print("  " + note)

    summary = {
        "benchmark": "metrics_speed",
        "mode": "quick" if args.quick else "full",
        "frames": FRAMES,
        "repeats": repeats,
        "threads": args.threads,
        "flow_backend": flow_backend_name(DEFAULT_FLOW),
        "metrics": results,
        "unavailable": unavailable,
        "load_s": load_s,
        "frechet": {"samples": FRECHET_SAMPLES, **frechet},
        "goal_e_warp_max_s": GOAL_EWARP_S,
        "goal_met": met,
        "machine": {**machine(RUNTIME_PACKAGES + ("opencv-python-headless", "scipy")),
                    "load_avg_1min_before": load_before, "load_avg_1min_after": load_after},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if (args.strict and not met) else 0


if __name__ == "__main__":
    sys.exit(main())
