"""Held-out quality of a checkpoint against OpenCV's Telea inpainting (per frame).

On clips from the held-out last 20 % of vtest (at the model's resolution), for each of
the four moving mask types, inpaint with the model (a scheme, Heun) and with
cv2.inpaint(TELEA) frame by frame, and report PSNR and SSIM of the composites (known
pixels from the ground truth, holes from the method) against the ground truth.

    python model/evaluate_heldout.py --checkpoint runs/vtest64/ema.json [--clips 3 --frames 16 --steps 10]

PSNR: per frame with data range 1 (frames identical to the ground truth are skipped in
the mean: they have no hole). SSIM: 7x7 uniform window, per channel, on [0, 1] floats
(close to DEVIL's skimage-0.17 setting, but with data range 1, not 2).
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim(a: np.ndarray, b: np.ndarray, win: int = 7) -> float:
    import cv2

    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = 0.01**2, 0.03**2
    out = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch], b[..., ch]
        mu_x, mu_y = cv2.blur(x, (win, win)), cv2.blur(y, (win, win))
        sxx = cv2.blur(x * x, (win, win)) - mu_x**2
        syy = cv2.blur(y * y, (win, win)) - mu_y**2
        sxy = cv2.blur(x * y, (win, win)) - mu_x * mu_y
        n = win * win
        sxx, syy, sxy = sxx * n / (n - 1), syy * n / (n - 1), sxy * n / (n - 1)
        s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
        pad = win // 2
        out.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(out))


def scores(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> tuple[float, float]:
    p, g = pred / 255.0, gt / 255.0
    frames = [t for t in range(len(gt)) if hole[t].any()]
    return (float(np.mean([psnr(p[t], g[t]) for t in frames])), float(np.mean([ssim(p[t], g[t]) for t in frames])))


def telea(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    import cv2

    return np.stack([cv2.inpaint(f, h.astype(np.uint8), 3, cv2.INPAINT_TELEA) for f, h in zip(frames, hole)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--video", type=Path, default=REPO / "data" / "vtest.avi")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--scheme", default="improved_ar_far_future")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from vidsched.compiler import compile_scheme
    from vidsched.model.checkpoint import load_checkpoint
    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, compose_output, initial_buffer
    from vidsched.training.data import load_frames, split
    from vidsched.training.masks import MASK_TYPES, generate_mask

    model, config, meta = load_checkpoint(args.checkpoint)
    size = config.image_size
    _, held = split(load_frames(args.video, size))
    starts = np.linspace(0, len(held) - args.frames, args.clips).astype(int)
    executor = Executor(model_denoiser(model, cuda_graphs=False), SamplerSettings(steps=args.steps))
    results: dict[str, dict[str, list[float]]] = {}
    t0 = time.perf_counter()
    for kind in MASK_TYPES:
        for c, start in enumerate(starts):
            gt = held[start : start + args.frames]
            hole = generate_mask(kind, args.frames, size, moving=True, seed=1000 * c + MASK_TYPES.index(kind))
            plan = compile_scheme(args.scheme, {"T": args.frames, "K": config.max_frames})
            buffer = initial_buffer(gt, hole)
            with torch.inference_mode():
                executor.run(plan, buffer, hole, seed=args.seed + c)
            ours = compose_output(gt, hole, buffer)
            base = telea(gt, hole)
            for name, pred in (("vidsched", ours), ("telea", base)):
                p, s = scores(pred, gt, hole)
                r = results.setdefault(f"{kind}/{name}", {"psnr": [], "ssim": []})
                r["psnr"].append(p)
                r["ssim"].append(s)
    table = {k: {m: float(np.mean(v)) for m, v in r.items()} for k, r in results.items()}
    print(f"checkpoint {args.checkpoint} (step {meta.get('step')}), {args.clips} held-out clips x {args.frames} frames "
          f"at {size}x{size}, scheme {args.scheme}, Heun {args.steps} steps ({time.perf_counter() - t0:.0f} s)")
    print(f"{'mask':<8} {'method':<9} {'PSNR':>7} {'SSIM':>7}")
    for kind in MASK_TYPES:
        for name in ("vidsched", "telea"):
            r = table[f"{kind}/{name}"]
            print(f"{kind:<8} {name:<9} {r['psnr']:7.2f} {r['ssim']:7.4f}")
    print(json.dumps({"checkpoint": str(args.checkpoint), "step": meta.get("step"), "clips": args.clips,
                      "frames": args.frames, "steps": args.steps, "scheme": args.scheme, "results": table}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
