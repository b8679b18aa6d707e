"""Make the README's watermark demo: docs/img/watermark_720p.png and the numbers beside it.

    python model/train.py fetch-data            # once: the corpus (data/corpus/videos/megamind.avi)
    python docs/make_watermark_demo.py          # writes the clip, its mask, the result, the picture

No native 1280 x 720 footage is reachable offline, so the clip is made from the held-out
end of ``megamind.avi`` (720 x 528; the last 20 %, never trained on): 40 frames without a
scene cut, cropped to 16:9 around the centre and upscaled to 1280 x 720 (bicubic), written
as ``clean.mp4`` at 24 fps; that clip, as read back, is the truth. A white "vidsched"
text, about 150 x 30 px, is burnt into its lower right corner at 85 % opacity
(``watermarked.mp4``), and ``mask.png`` is the text grown by ``MASK_GROWTH`` pixels (the
encoder's ringing around the letters is part of the watermark, as with a real one).

``vidsched run watermarked.mp4 --mask mask.png -o out.npy`` fills it with every default
(:func:`vidsched.runtime.pipeline.inpaint`, the same call as the CLI), ``--detail clone``
(``out_detail.npy``) once more with the surroundings' detail, and OpenCV's Telea
and flow propagation (:mod:`vidsched.baselines`) fill the same frames for comparison.
Hole PSNR and the sharpness ratio (:mod:`vidsched.metrics.pixel`) are against the clean
clip, on the exact outputs (``.npy``); ``mp4_hole_psnr`` is vidsched's result written as
``out.mp4`` (what ``-o out.mp4`` gives: H.264, :mod:`vidsched.videowrite`) and read back.
The picture: frame 30 at half size, watermarked | vidsched; below, the watermark's corner
at 2x, its contrast stretched for display (the truth's 1st-99th percentile to
0-255): input | vidsched | vidsched --detail clone, Telea | flow propagation | truth.
``--clip`` takes another corpus clip's held-out end (box, cup, tree, vtest: docs/results.md
section 9 has all five), ``--video`` any other clip and ``--size`` any other frame size
(the tests use a small generated clip).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))  # real_clips' panels

MEGAMIND = "megamind"
FRAMES, FPS = 40, 24.0
SIZE = (1280, 720)  # (width, height)
SHOWN = 30
TEXT = "vidsched"
OPACITY = 0.85
MASK_GROWTH = 3
ZOOM = 2
MIN_LEVELS = 64.0  # the corner view's contrast stretch is at most 255 / 64 = 4x


def held_out_stretch(root: Path, frames: int, name: str = MEGAMIND) -> np.ndarray:
    """``frames`` frames without a scene cut (as real_clips picks them) of the corpus clip
    ``name``'s held-out end, or of the whole clip if it never trains (cup)."""
    import real_clips as rc

    from vidsched.training.corpus import CLIPS, load_corpus

    clip = [c for c in CLIPS if c.name == name]
    corpus = load_corpus(root, clips=tuple(clip), with_stills=False)
    (_, never_trained), = corpus.heldout or corpus.unseen  # a clip's held-out end, or a clip never trained on
    return rc.pick_stretch(never_trained, frames)[1]


def to_size(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop each frame around its centre to ``size``'s aspect ratio, then resize (bicubic)."""
    import cv2

    H, W = frames.shape[1:3]
    w, h = size
    if W * h > H * w:  # wider than the target: crop the sides
        cw, ch = round(H * w / h), H
    else:
        cw, ch = W, round(W * h / w)
    y0, x0 = (H - ch) // 2, (W - cw) // 2
    return np.stack([cv2.resize(f[y0:y0 + ch, x0:x0 + cw], size, interpolation=cv2.INTER_CUBIC) for f in frames])


def watermark(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The text's coverage (float in [0, 1], anti-aliased) and the mask (the text grown by
    ``MASK_GROWTH`` px), both ``height x width``; the text is about 12 % of the width,
    in the lower right corner."""
    import cv2

    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(width / 320))
    scale = 1.0
    text_w = cv2.getTextSize(TEXT, font, scale, thickness)[0][0]
    scale *= 0.117 * width / text_w
    (text_w, text_h), base = cv2.getTextSize(TEXT, font, scale, thickness)
    origin = (width - text_w - round(0.13 * width), height - base - round(0.06 * height))
    canvas = np.zeros((height, width), np.uint8)
    cv2.putText(canvas, TEXT, origin, font, scale, 255, thickness, cv2.LINE_AA)
    coverage = canvas.astype(np.float32) / 255
    kernel = np.ones((2 * MASK_GROWTH + 1,) * 2, np.uint8)
    mask = cv2.dilate((canvas > 0).astype(np.uint8), kernel) > 0
    return coverage, mask


def display_levels(crop: np.ndarray) -> tuple[float, float]:
    """The grey levels ``(lo, hi)`` that the corner view stretches to black and white: the
    truth's 1st and 99th percentiles there, at least ``MIN_LEVELS`` apart (at most
    255 / MIN_LEVELS x contrast, so that a flat wall's codec noise is not blown up)."""
    lo, hi = (float(v) for v in np.percentile(crop, [1, 99]))
    if hi - lo < MIN_LEVELS:
        mid = min(max((lo + hi) / 2, MIN_LEVELS / 2), 255 - MIN_LEVELS / 2)
        lo, hi = mid - MIN_LEVELS / 2, mid + MIN_LEVELS / 2
    return lo, hi


def corner(frame: np.ndarray, box: tuple[int, int, int, int], levels: tuple[float, float]) -> np.ndarray:
    """The box ``(x0, y0, x1, y1)`` of ``frame`` at ZOOM x (nearest), ``levels`` stretched to 0-255."""
    x0, y0, x1, y1 = box
    lo, hi = levels
    crop = (frame[y0:y1, x0:x1].astype(np.float32) - lo) * (255.0 / (hi - lo))
    crop = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(crop, ZOOM, 0), ZOOM, 1)


def picture(watermarked: np.ndarray, result: np.ndarray, detailed: np.ndarray, telea: np.ndarray,
            flow: np.ndarray, truth: np.ndarray, mask: np.ndarray, t: int) -> np.ndarray:
    """Frame ``t`` at half size (watermarked | vidsched) over the watermark's corner at 2x:
    input | vidsched run | vidsched run --detail clone, then Telea | flow propagation | truth."""
    import real_clips as rc

    H, W = truth.shape[1:3]
    ys, xs = np.nonzero(mask)
    pad_x, pad_y = (xs.max() - xs.min()) // 4 + 8, (ys.max() - ys.min()) + 8
    box = (max(0, xs.min() - pad_x), max(0, ys.min() - pad_y), min(W, xs.max() + pad_x + 1), min(H, ys.max() + pad_y + 1))
    rc.PANEL_HEIGHT = (box[3] - box[1]) * ZOOM
    levels = display_levels(truth[t, box[1]:box[3], box[0]:box[2]])
    panels = [rc._panel(corner(frame[t], box, levels), label) for frame, label in
              ((watermarked, "input"), (result, "vidsched run"), (detailed, "vidsched run --detail clone"),
               (telea, "Telea"), (flow, "flow propagation"), (truth, "truth"))]
    grid = rc.stack_rows([np.concatenate(panels[:3], 1), np.concatenate(panels[3:], 1)])
    title = rc._label(grid.shape[1], f"the watermark's corner at {ZOOM}x, grey levels {levels[0]:.0f}-{levels[1]:.0f} stretched to 0-255 for display")
    rc.PANEL_HEIGHT = max(1, round(grid.shape[1] / 2 * H / W))  # the two whole frames as wide as the grid
    top = np.concatenate([rc._panel(watermarked[t], f"{W}x{H} frame {t}: watermarked input"),
                          rc._panel(result[t], "vidsched run (defaults)")], 1)
    return rc.stack_rows([top, np.concatenate([title, grid], 0)])


def main(argv: list[str] | None = None) -> dict:
    """Run the demo; return its figures (also printed)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=None,
                    help="the source clip (default: megamind's held-out end, from the corpus)")
    ap.add_argument("--clip", default=MEGAMIND,
                    help="which corpus clip's held-out end to use when --video is not given (default megamind)")
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="the clip's frame size, WxH (default 1280x720)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where clean.mp4, watermarked.mp4, mask.png and out.npy / out.mp4 go (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "watermark_720p.png")
    args = ap.parse_args(argv)
    import cv2

    from vidsched.baselines import flow_propagation, telea
    from vidsched.metrics.pixel import hole_psnr, sharpness_ratio
    from vidsched.runtime.pipeline import RunRequest, inpaint
    from vidsched.videoio import read_video
    from vidsched.videowrite import write_video

    size = tuple(int(v) for v in args.size.lower().split("x"))
    if args.video is None:
        from vidsched.training.corpus import CLIPS

        names = [c.name for c in CLIPS]
        if args.clip not in names:
            raise SystemExit(f"--clip {args.clip!r}: not a corpus clip (one of {', '.join(names)})")
        if not any((ROOT / "data" / "corpus" / "videos").glob(f"{args.clip}.*")):
            raise SystemExit(f"data/corpus/videos/{args.clip}.* not found: run `python model/train.py fetch-data` first")
        source = held_out_stretch(ROOT / "data" / "corpus", args.frames, args.clip)
    else:
        source = read_video(args.video, max_frames=args.frames).frames
    if args.workdir is None:
        import tempfile

        args.workdir = Path(tempfile.mkdtemp(prefix="watermark_demo_"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    write_video(args.workdir / "clean.mp4", to_size(source, size), FPS)
    truth = read_video(args.workdir / "clean.mp4").frames  # the clip as vidsched reads it (after encoding)
    coverage, mask = watermark(*truth.shape[1:3])
    alpha = (OPACITY * coverage)[None, ..., None]
    marked = np.rint(truth * (1 - alpha) + 255 * alpha).astype(np.uint8)
    write_video(args.workdir / "watermarked.mp4", marked, FPS)
    cv2.imwrite(str(args.workdir / "mask.png"), mask.astype(np.uint8) * 255)
    watermarked = read_video(args.workdir / "watermarked.mp4").frames
    hole = np.broadcast_to(mask, truth.shape[:3])

    request = RunRequest(video=args.workdir / "watermarked.mp4", mask=args.workdir / "mask.png",
                         output=args.workdir / "out.npy")
    start = time.perf_counter()
    run = inpaint(request)
    seconds = time.perf_counter() - start
    result = read_video(request.output).frames
    detail_request = RunRequest(video=request.video, mask=request.mask, output=args.workdir / "out_detail.npy",
                                detail="clone")
    inpaint(detail_request)
    detailed = read_video(detail_request.output).frames
    write_video(args.workdir / "out.mp4", result, FPS)
    as_mp4 = read_video(args.workdir / "out.mp4").frames
    start = time.perf_counter()
    telea_fill = telea(watermarked, hole)
    telea_seconds = time.perf_counter() - start
    flow_fill = flow_propagation(watermarked, hole)
    ys, xs = np.nonzero(mask)
    figures = {"size": f"{truth.shape[2]}x{truth.shape[1]}", "frames": len(truth),
               "text_box": f"{xs.max() - xs.min() + 1}x{ys.max() - ys.min() + 1}",
               "hole_fraction": round(float(mask.mean()), 4),
               "hole_psnr": round(hole_psnr(result, truth, hole), 2),
               "sharpness": round(sharpness_ratio(result, truth, hole), 3),
               "mp4_hole_psnr": round(hole_psnr(as_mp4, truth, hole), 2),
               "detail_hole_psnr": round(hole_psnr(detailed, truth, hole), 2),
               "detail_sharpness": round(sharpness_ratio(detailed, truth, hole), 3),
               "telea_hole_psnr": round(hole_psnr(telea_fill, truth, hole), 2),
               "telea_sharpness": round(sharpness_ratio(telea_fill, truth, hole), 3),
               "flow_propagation_hole_psnr": round(hole_psnr(flow_fill, truth, hole), 2),
               "flow_propagation_sharpness": round(sharpness_ratio(flow_fill, truth, hole), 3),
               "network_evaluations": run.network_evaluations,
               "regions": run.regions.summary() if run.regions is not None else "none",
               "propagation": run.prior_summary,
               "seconds": round(seconds, 1), "telea_seconds": round(telea_seconds, 1)}
    shown = min(SHOWN, len(truth) - 1)
    image = picture(watermarked, result, detailed, telea_fill, flow_fill, truth, mask, shown)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), image[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} (clip, mask and result in {args.workdir}): {figures}")
    return figures


if __name__ == "__main__":
    main()
