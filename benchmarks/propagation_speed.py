#!/usr/bin/env python
"""How fast flow-guided propagation (vidsched.propagation.propagate) is at 640 x 480.

    python benchmarks/propagation_speed.py              # 30 frames per clip, 2 repeats
    python benchmarks/propagation_speed.py --repeats 1  # one run per clip
    python benchmarks/propagation_speed.py --preset fast --flow-size 240
    python benchmarks/propagation_speed.py --profile    # also cProfile one run of the first clip
    python benchmarks/propagation_speed.py --share      # also propagation's share of a default `vidsched run`

Clips (each 30 frames, 640 x 480, RGB uint8):

* ``synthetic_pan``: a textured scene filmed by a panning, slowly zooming camera (affine
  warps with sub-pixel offsets of a larger image), with a moving object-shaped hole
  (``vidsched.training.masks.generate_mask("object", ...)``, seed 0). The scene is
  known everywhere, so the error of the filled pixels is reported too.
* ``box``: the first 30 frames of ``data/corpus/videos/box.mp4`` (if present) with a
  moving object mask from the same generator (seed 1); the original pixels under the
  hole are the reference.

Times are wall-clock (``time.perf_counter``) of ``propagate`` with its default settings
(unless options say otherwise) in this process, imports excluded; the figure is the
median over the repeats, divided by the number of frames (every frame has a hole). The
goal is well under 0.1-0.2 s per frame. The hole is zeroed in the input, so nothing can
be read from it.

``--share`` also runs each clip through ``vidsched run``'s default path
(``vidsched.runtime.pipeline.inpaint``: the hybrid prior, regions, the default sampler) with
one torch and one OpenCV thread, and reports the propagation prior's wall seconds against
the model's part of the run (``RunResult.seconds``: regions, sampling, pasting back; reading,
writing and loading the checkpoint are in neither): the issue's goal is a prior under 10 %
of the model's time. With one thread each, both parts slow down alike
on a busy machine, so the share is steadier than either time.

``--threads N`` (default 1) gives both parts N threads: propagation and Telea fill N frames
at a time (``VIDSCHED_THREADS``, :mod:`vidsched.parallel`), torch gets N threads, and
OpenCV keeps its own default (what ``vidsched run`` does on an N-core machine); with 1,
OpenCV gets one thread too. Propagation alone is timed with the same N.

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
from _machine import busy_note, load_avg, machine  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from vidsched.parallel import THREADS_VARIABLE  # noqa: E402
from vidsched.propagation import propagate  # noqa: E402
from vidsched.training.masks import generate_mask  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOX = ROOT / "data" / "corpus" / "videos" / "box.mp4"
T, H, W = 30, 480, 640
GOAL_SECONDS_PER_FRAME = 0.2
PACKAGES = ("vidsched", "numpy", "opencv-python-headless", "opencv-python", "opencv-contrib-python-headless")


def textured_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour blobs at several scales plus fine grain: texture at every scale, as
    flow and homographies need, and no periodicity to fool them."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((height, width, 3), np.float32)
    for cell, amplitude in ((64, 90.0), (16, 50.0), (4, 25.0)):
        coarse = rng.normal(0, 1, (height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        scene += amplitude * cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    scene += rng.normal(0, 6, scene.shape).astype(np.float32)
    return np.clip(scene + 128, 0, 255).astype(np.uint8)


def synthetic_pan(frames: int = T) -> np.ndarray:
    """A camera panning (2.7, 0.9) px per frame and zooming in 0.4 % per frame over a scene."""
    scene = textured_scene(2 * H, 2 * W)
    out = []
    for t in range(frames):
        zoom = 1 + 0.004 * t
        centre = np.array([W + 2.7 * t - 40, H + 0.9 * t - 10])
        R = np.eye(2) / zoom
        offset = centre - R @ np.array([W / 2, H / 2])
        M = np.hstack([R, offset[:, None]])
        out.append(cv2.warpAffine(scene, M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return np.stack(out)


def clips() -> list[tuple[str, np.ndarray, np.ndarray]]:
    found = [("synthetic_pan", synthetic_pan(), generate_mask("object", T, (H, W), seed=0))]
    if BOX.exists():
        from vidsched.videoio import read_video

        frames = read_video(BOX, max_frames=T).frames
        mask = generate_mask("object", len(frames), frames.shape[1:3], seed=1)
        found.append(("box", frames, mask))
    return found


def run(name: str, gt: np.ndarray, hole: np.ndarray, repeats: int, options: dict, threads: int = 1) -> dict:
    masked = np.where(hole[..., None], np.uint8(0), gt)
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = propagate(masked, hole, threads=threads, **options)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert np.array_equal(result.frames[~hole], gt[~hole])
    filled = result.filled
    err = np.abs(result.frames[filled].astype(np.int16) - gt[filled].astype(np.int16))
    confident = filled & (result.confidence >= 0.5)
    err_conf = np.abs(result.frames[confident].astype(np.int16) - gt[confident].astype(np.int16))
    frames = len(gt)
    return {
        "clip": name,
        "frames": frames,
        "size": [int(gt.shape[1]), int(gt.shape[2])],
        "hole_fraction": round(float(hole.mean()), 4),
        "seconds_per_frame": round(statistics.median(times) / frames, 4),
        "seconds_per_frame_min": round(min(times) / frames, 4),
        "cpu_seconds_per_frame": round(statistics.median(cpu) / frames, 4),
        "filled_fraction": round(float(filled.sum() / hole.sum()), 4),
        "confident_fraction": round(float(confident.sum() / hole.sum()), 4),
        "mean_confidence": round(float(result.confidence[filled].mean()), 4) if filled.any() else None,
        "mae_filled": round(float(err.mean()), 3) if err.size else None,
        "mae_confident": round(float(err_conf.mean()), 3) if err_conf.size else None,
    }


def default_run_share(name: str, gt: np.ndarray, hole: np.ndarray, threads: int = 1) -> dict:
    """Propagation's share of ``vidsched run`` with its defaults on this clip (``threads``
    threads for torch and for the prior's frames; OpenCV one thread if that is 1)."""
    import tempfile

    import torch

    from vidsched.masks_io import write_mask
    from vidsched.runtime.pipeline import RunRequest, inpaint

    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(threads)
    if threads == 1:
        cv2.setNumThreads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            video, mask = Path(tmp) / "clip.npy", Path(tmp) / "mask.npy"
            np.save(video, np.where(hole[..., None], np.uint8(0), gt))
            write_mask(mask, hole)
            start = time.perf_counter()
            result = inpaint(RunRequest(video=video, mask=mask, output=Path(tmp) / "out.npy"))
            wall = time.perf_counter() - start
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)
    # RunResult.seconds is the model's part (regions, sampling, pasting back); the prior's
    # seconds are apart from it (until 2026-11-28 this script divided by their difference).
    return {"clip": name, "wall_seconds": round(wall, 3), "model_seconds": round(result.seconds, 3),
            "prior_seconds": round(result.prior_seconds, 3), "network_evaluations": result.network_evaluations,
            "prior_over_model": round(result.prior_seconds / result.seconds, 4) if result.seconds > 0 else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--preset", default=None, help="DIS preset (default: propagate's)")
    parser.add_argument("--flow-size", type=int, default=None, help="flow resolution's long side")
    parser.add_argument("--max-distance", type=int, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--share", action="store_true", help="also propagation's share of a default vidsched run")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for propagation's frames and torch (default 1; OpenCV keeps its default if > 1)")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    os.environ[THREADS_VARIABLE] = str(args.threads)  # the prior inside vidsched run (and Telea) read it
    options = {key: value for key, value in (("preset", args.preset), ("flow_size", args.flow_size),
                                             ("max_distance", args.max_distance)) if value is not None}
    load_before = load_avg()
    print(f"propagate at {W} x {H}, {T} frames per clip, options {options or 'default'}, "
          f"median of {args.repeats}; {args.threads} frame thread(s); OpenCV {cv2.__version__}, "
          f"{cv2.getNumThreads()} threads")
    rows = []
    for name, gt, hole in clips():
        row = run(name, gt, hole, args.repeats, options, args.threads)
        rows.append(row)
        print(f"  {name:<14} {row['seconds_per_frame']:.3f} s/frame (cpu {row['cpu_seconds_per_frame']:.3f})  "
              f"hole {row['hole_fraction']:.1%}  filled {row['filled_fraction']:.1%}  "
              f"confident {row['confident_fraction']:.1%}  mean conf {row['mean_confidence']}  "
              f"MAE filled {row['mae_filled']}  MAE confident {row['mae_confident']}")
    worst = max(row["seconds_per_frame"] for row in rows)
    print(f"goal: <= {GOAL_SECONDS_PER_FRAME} s per frame: {'PASS' if worst <= GOAL_SECONDS_PER_FRAME else 'FAIL'}"
          f" (slowest {worst:.3f} s)")
    shares = []
    if args.share:
        for name, gt, hole in clips():
            share = default_run_share(name, gt, hole, args.threads)
            shares.append(share)
            print(f"  {name:<14} vidsched run (defaults, {args.threads} thread(s)): {share['wall_seconds']:.1f} s wall; "
                  f"prior {share['prior_seconds']:.2f} s = {share['prior_over_model']:.0%} of the model's "
                  f"{share['model_seconds']:.2f} s ({share['network_evaluations']} network evaluations; goal: under 10 %)")
    load_end = load_avg()
    note = busy_note(load_before)
    if note:
        print(note)
    if args.profile:
        name, gt, hole = clips()[0]
        masked = np.where(hole[..., None], np.uint8(0), gt)
        profiler = cProfile.Profile()
        profiler.runcall(propagate, masked, hole, **options)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        print(text.getvalue().rstrip())
    summary = {
        "benchmark": "propagation_speed",
        "options": options,
        "goal_seconds_per_frame": GOAL_SECONDS_PER_FRAME,
        "clips": rows,
        "default_run_share": shares,
        "seconds_per_frame": worst,
        "filled_fraction": {row["clip"]: row["filled_fraction"] for row in rows},
        "opencv_threads": cv2.getNumThreads(),
        "threads": args.threads,
        "machine": {**machine(PACKAGES), "load_avg_1min_before": load_before, "load_avg_1min_after": load_end},
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
