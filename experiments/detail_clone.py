"""A lead, not a feature: give a static hole's fill the fine detail of its surroundings.

    python docs/make_watermark_demo.py --clip vtest --workdir /tmp/wm_vtest --out /tmp/wm_vtest.png
    python experiments/detail_clone.py /tmp/wm_vtest [/tmp/wm_box ...] [--sigma 1.5,3] [--picture P]

On the watermark demo's clips, vidsched's fill is smoother than what it replaces: on
vtest's grass it shows as a smooth patch at 3x (docs/results.md section 9). This tries
the clone stamp of photo editors, on the detail layer only:

- split the result into a base (Gaussian, ``sigma`` px) and its detail (the rest);
- find one offset ``(dy, dx)`` for the whole clip: the place, clear of the hole, whose
  base around the (grown) hole looks most like the hole's own base (mean squared
  difference over every 4th frame; offsets at least a hole's height or width away);
- inside the hole, keep the base and take the detail from that offset, in every frame.

One offset for every frame keeps the copied detail steady where the camera is still (a
watermark); a moving hole or camera would need an offset per frame and region. Known
pixels are never changed. Prints hole PSNR and the sharpness ratio against the clean
clip for the result as written by ``vidsched run`` and for each ``sigma``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def split(video: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``video`` (T, H, W, 3) as float32 base (Gaussian blur) and detail (video - base)."""
    import cv2

    v = video.astype(np.float32)
    base = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in v])
    return base, v - base


def best_offset(base: np.ndarray, mask: np.ndarray, grow: int = 4) -> tuple[int, int]:
    """The offset whose base around the grown hole matches the hole's base best (see the
    module docstring); raises ValueError if no offset keeps the grown hole inside the
    frame and clear of the hole."""
    import cv2

    H, W = mask.shape
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
    gy, gx = np.nonzero(grown)
    ys, xs = np.nonzero(mask)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    here = base[::4, gy, gx]
    best = None
    for dy in range(-3 * h, 3 * h + 1, 2):
        for dx in range(-w, w + 1, 4):
            if abs(dy) < h + 2 * grow and abs(dx) < w + 2 * grow:
                continue  # overlaps the hole
            yy, xx = gy + dy, gx + dx
            if yy.min() < 0 or yy.max() >= H or xx.min() < 0 or xx.max() >= W or mask[yy, xx].any():
                continue
            cost = float(np.mean(np.square(here - base[::4, yy, xx])))
            if best is None or cost < best[0]:
                best = (cost, dy, dx)
    if best is None:
        raise ValueError("no place in the frame clear of the hole to take detail from")
    return best[1], best[2]


def clone_detail(result: np.ndarray, mask: np.ndarray, sigma: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``result`` (T, H, W, 3) uint8 with its hole (``mask``, (H, W), the same in every
    frame) given the detail found at :func:`best_offset`; the offset used."""
    base, detail = split(result, sigma)
    dy, dx = best_offset(base, mask)
    ys, xs = np.nonzero(mask)
    out = result.copy()
    out[:, ys, xs] = np.clip(np.rint(base[:, ys, xs] + detail[:, ys + dy, xs + dx]), 0, 255).astype(np.uint8)
    return out, (dy, dx)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workdirs", nargs="+", type=Path, help="make_watermark_demo.py work folders")
    ap.add_argument("--sigma", default="1.5,3", help="base blurs to try, px (comma-separated)")
    ap.add_argument("--picture", type=Path, default=None,
                    help="write frame 30's hole at 3x (vidsched | with detail at the first sigma | truth) per clip here")
    args = ap.parse_args(argv)
    import cv2

    from vidsched.metrics.pixel import hole_psnr, sharpness_ratio
    from vidsched.videoio import read_video

    table = {}
    for work in args.workdirs:
        result = np.load(work / "out.npy")
        truth = read_video(work / "clean.mp4").frames
        mask = cv2.imread(str(work / "mask.png"), cv2.IMREAD_GRAYSCALE) > 0
        hole = np.broadcast_to(mask, truth.shape[:3])
        row = {"vidsched": (hole_psnr(result, truth, hole), sharpness_ratio(result, truth, hole))}
        shown = None
        for sigma in (float(s) for s in args.sigma.split(",")):
            cloned, offset = clone_detail(result, mask, sigma)
            row[f"sigma {sigma:g}, offset {offset}"] = (hole_psnr(cloned, truth, hole), sharpness_ratio(cloned, truth, hole))
            shown = cloned if shown is None else shown
        table[work.name] = row
        print(work.name, "  ".join(f"{k}: {p:.2f} dB / {s:.2f}" for k, (p, s) in row.items()), flush=True)
        if args.picture is not None:
            t = min(30, len(truth) - 1)
            ys, xs = np.nonzero(mask)
            y0, y1 = max(0, ys.min() - 24), ys.max() + 25
            x0, x1 = max(0, xs.min() - 24), xs.max() + 25
            panels = [cv2.resize(v[t, y0:y1, x0:x1], None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
                      for v in (result, shown, truth)]
            path = args.picture.with_name(f"{args.picture.stem}_{work.name}{args.picture.suffix}")
            cv2.imwrite(str(path), np.concatenate(panels, 0)[..., ::-1])
    return table


if __name__ == "__main__":
    main()
