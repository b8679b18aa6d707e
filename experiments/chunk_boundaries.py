"""What cutting a long video into chunks costs at the cuts (vidsched.runtime.chunks).

    python experiments/chunk_boundaries.py                          # box and cup, 160 frames, chunks of 40
    python experiments/chunk_boundaries.py --clips cup --frames 120 --chunk-frames 30
    python experiments/chunk_boundaries.py --blend 0 1 4       # also chunks with other cross-fades

Each clip (``data/corpus/videos``, at its own resolution; ``python model/train.py
fetch-data``) gets a moving object hole and a stationary logo
(``vidsched.benchmark.evaluation_mask``, seeds from ``--mask-seed``), blacked out, and goes
through ``vidsched run``'s default path (``vidsched.runtime.pipeline.inpaint``) twice: as
one chunk, and in chunks of ``--chunk-frames``. Reported per run:

* ``hole_psnr``: over every hole pixel of the video; ``hole_psnr_at_cuts``: over the
  frames within 2 of a cut (a chunk's first own frame and its neighbours);
* ``e_warp``: the composite's flow warping error (flow and occlusion from the truth,
  ``vidsched.metrics.warp``) over all consecutive pairs; ``e_warp_at_cuts``: over the pairs
  from ``BLEND + 1`` frames before each cut to the cut (where the fill passes from one
  chunk to the next: a jump at the cut, or a fade over the frames both chunks fill; the
  same pairs for every run);
* wall seconds of the run (memory is measured in BENCHMARKS.md, with ``/usr/bin/time``).

The last line of the output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidsched.benchmark import evaluation_mask  # noqa: E402
from vidsched.metrics.pixel import hole_psnr  # noqa: E402
from vidsched.metrics.warp import reference_motion, warp_bilinear  # noqa: E402
from vidsched.runtime import pipeline  # noqa: E402
from vidsched.runtime import chunks  # noqa: E402
from vidsched.videoio import read_video  # noqa: E402

VIDEOS = Path(__file__).resolve().parents[1] / "data" / "corpus" / "videos"


def pair_errors(comp: np.ndarray, forward: np.ndarray, occluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive pair: the sum of squared warping differences over the pixels that
    are not occluded, and their count (times 3 channels)."""
    comp = comp.astype(np.float32) / 255.0
    sums, counts = np.zeros(len(forward)), np.zeros(len(forward))
    for t in range(len(forward)):
        warped = warp_bilinear(comp[t + 1:t + 2], forward[t:t + 1])[0]
        sq = np.square(warped - comp[t]).sum(axis=-1)
        sums[t] = sq[~occluded[t]].sum()
        counts[t] = 3 * np.count_nonzero(~occluded[t])
    return sums, counts


def run_once(frames: np.ndarray, hole: np.ndarray, fps: float, chunk: int | None, work: Path) -> tuple[np.ndarray, float]:
    np.save(work / "in.npy", frames)
    np.save(work / "mask.npy", hole.astype(np.uint8) * 255)
    out = work / f"out_{chunk}.npy"
    req = pipeline.RunRequest(video=work / "in.npy", mask=work / "mask.npy", output=out, chunk_frames=chunk,
                              fps=fps)
    t0 = time.perf_counter()
    pipeline.inpaint(req)
    return np.load(out), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", default="box,cup", help="comma-separated names in data/corpus/videos")
    p.add_argument("--frames", type=int, default=160)
    p.add_argument("--chunk-frames", type=int, default=40)
    p.add_argument("--mask-seed", type=int, default=0)
    p.add_argument("--blend", type=int, nargs="+", default=[chunks.BLEND],
                   help="frames both chunks fill at a cut, cross-faded (default: vidsched's)")
    args = p.parse_args(argv)
    default_blend = chunks.BLEND
    rows = []
    for name in args.clips.split(","):
        path = next(VIDEOS.glob(f"{name}.*"), None)
        if path is None:
            raise SystemExit(f"no clip {name} in {VIDEOS}: python model/train.py fetch-data")
        video = read_video(path, max_frames=args.frames)
        truth = video.frames
        T, H, W = truth.shape[:3]
        hole = (evaluation_mask("object", T, (H, W), seed=args.mask_seed)
                | evaluation_mask("logo", T, (H, W), seed=args.mask_seed + 1))
        masked = truth.copy()
        masked[hole] = 0
        forward, occluded = reference_motion(truth)
        cuts = [c.start + c.blend for c in chunks.plan_chunks(T, args.chunk_frames)[1:]]
        near = np.zeros(T, bool)
        for c in cuts:
            near[max(0, c - 2):c + 3] = True
        crossing = np.zeros(T - 1, bool)
        zone = max(args.blend) + 1
        for c in cuts:
            crossing[max(0, c - zone):c] = True
        for chunk, blend in [(None, 0)] + [(args.chunk_frames, b) for b in args.blend]:
            chunks.BLEND = blend
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    out, seconds = run_once(masked, hole, video.fps, chunk, Path(tmp))
            finally:
                chunks.BLEND = default_blend
            assert np.array_equal(out[~hole], truth[~hole])
            sums, counts = pair_errors(out, forward, occluded)
            truth_sums, truth_counts = pair_errors(truth, forward, occluded)
            row = dict(clip=name, frames=T, size=[H, W], chunk_frames=chunk or T, cuts=cuts if chunk else [],
                       blend=blend if chunk else None, cut_pairs=int(crossing.sum()),
                       hole_fraction=round(float(hole.mean()), 4), seconds=round(seconds, 1),
                       hole_psnr=round(hole_psnr(out, truth, hole), 3),
                       hole_psnr_at_cuts=round(hole_psnr(out[near], truth[near], hole[near]), 3),
                       e_warp=float(np.mean(sums / np.maximum(counts, 1))),
                       e_warp_at_cuts=float(np.mean(sums[crossing] / np.maximum(counts[crossing], 1))),
                       e_warp_truth_at_cuts=float(np.mean(truth_sums[crossing] / np.maximum(truth_counts[crossing], 1))))
            rows.append(row)
            print(f"{name} chunk {row['chunk_frames']} blend {row['blend']}: hole PSNR {row['hole_psnr']:.2f} (at cuts "
                  f"{row['hole_psnr_at_cuts']:.2f}), E_warp {row['e_warp']:.3e} (pairs at the cuts "
                  f"{row['e_warp_at_cuts']:.3e}; truth there {row['e_warp_truth_at_cuts']:.3e}), {row['seconds']} s",
                  flush=True)
    result = dict(experiment="chunk_boundaries", frames=args.frames, chunk_frames=args.chunk_frames,
                  mask_seed=args.mask_seed, runs=rows)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
