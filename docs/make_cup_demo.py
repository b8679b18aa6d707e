"""Make the README's cup demo: docs/img/cup_demo.png and the numbers beside it.

    python model/train.py fetch-data            # once: the corpus (data/corpus/videos/cup.mp4)
    python docs/make_cup_demo.py                # writes the clip, its mask, the result, the picture

The clip is the first 48 frames of ``cup.mp4`` (640 x 480, handheld; a source the shipped
model never trained on), written as ``cup48.mp4`` at 15 fps, with two holes (``mask/``, one
PNG per frame, white = hole): an ellipse (semi-axes 40 x 70 px) sliding right 6 px per
frame over the cup, and a stationary 161 x 31 caption on the wall. ``vidsched run``'s
defaults fill them (:func:`vidsched.runtime.pipeline.inpaint`, the same call as the CLI);
the hole PSNR and sharpness ratio are against the clip itself (the holes hide real
pixels). It runs once more with ``--detail clone`` (``cup_out_detail.mp4``: the detail the
prior's average takes is given back, and the caption gets the wall's grain). Panels:
frames 8 and 30, the input with the holes tinted, the result, with ``--detail clone``,
the truth.
``--video`` takes any other clip (the tests use a small generated one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))  # real_clips' panels

CUP = ROOT / "data" / "corpus" / "videos" / "cup.mp4"
FRAMES, FPS = 48, 15.0
SHOWN = (8, 30)
PANEL_HEIGHT = 320


def demo_mask(num_frames: int, height: int, width: int) -> np.ndarray:
    """The two holes, scaled from the 640 x 480 layout to the clip's size."""
    import cv2

    sy, sx = height / 480, width / 640
    hole = np.zeros((num_frames, height, width), np.uint8)
    for t in range(num_frames):
        centre = (round((150 + 6 * t) * sx), round(250 * sy))
        cv2.ellipse(hole[t], centre, (max(1, round(40 * sx)), max(1, round(70 * sy))), 0, 0, 360, 255, -1)
        hole[t, round(420 * sy):round(451 * sy), round(440 * sx):round(601 * sx)] = 255
    return hole > 0


def main(argv: list[str] | None = None) -> dict:
    """Run the demo; return its figures (also printed)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, default=CUP, help="the source clip (default: the corpus' cup.mp4)")
    ap.add_argument("--frames", type=int, default=FRAMES)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where cup48.mp4, mask/ and cup_out.mp4 go (default: a temporary folder)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "cup_demo.png")
    args = ap.parse_args(argv)
    import time

    import cv2
    import real_clips as rc

    from vidsched.masks_io import write_mask
    from vidsched.metrics.pixel import hole_psnr, sharpness_ratio
    from vidsched.runtime.pipeline import RunRequest, inpaint
    from vidsched.videoio import read_video
    from vidsched.videowrite import write_video

    if not args.video.exists():
        raise SystemExit(f"{args.video} not found: run `python model/train.py fetch-data` first")
    if args.workdir is None:
        import tempfile

        args.workdir = Path(tempfile.mkdtemp(prefix="cup_demo_"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    clip = args.workdir / "cup48.mp4"
    write_video(clip, read_video(args.video, max_frames=args.frames).frames, FPS)
    truth = read_video(clip).frames  # the clip as vidsched reads it (after encoding)
    hole = demo_mask(*truth.shape[:3])
    caption = np.broadcast_to(hole.all(axis=0), hole.shape)  # the still part; the rest is the sliding ellipse
    write_mask(args.workdir / "mask", hole)
    # As the README runs it: an .mp4 out (lossy, as a user gets it; .npy would be exact).
    figures, results = {}, {}
    for detail, name in (("none", "cup_out.mp4"), ("clone", "cup_out_detail.mp4")):
        request = RunRequest(video=clip, mask=args.workdir / "mask", output=args.workdir / name, detail=detail)
        start = time.perf_counter()
        run = inpaint(request)
        seconds = time.perf_counter() - start
        results[detail] = result = read_video(request.output).frames
        figures["defaults" if detail == "none" else f"--detail {detail}"] = {
            "hole_psnr": round(hole_psnr(result, truth, hole), 2),
            "sharpness": round(sharpness_ratio(result, truth, hole), 3),
            "moving_hole": f"{hole_psnr(result, truth, hole & ~caption):.2f} dB, sharpness "
                           f"{sharpness_ratio(result, truth, hole & ~caption):.3f}",
            "caption": f"{hole_psnr(result, truth, caption):.2f} dB, sharpness {sharpness_ratio(result, truth, caption):.3f}",
            "network_evaluations": run.network_evaluations,
            "regions": run.regions.summary() if run.regions is not None else "none",
            "propagation": run.prior_summary,
            "seconds": round(seconds, 1)}
    rc.PANEL_HEIGHT = min(PANEL_HEIGHT, truth.shape[1])
    shown = [t for t in SHOWN if t < len(truth)] or [0]
    rows = [np.concatenate([rc._panel(truth[t], f"input, frame {t} (holes tinted)", hole[t]),
                            rc._panel(results["none"][t], "vidsched run (defaults)"),
                            rc._panel(results["clone"][t], "--detail clone"), rc._panel(truth[t], "truth")], 1)
            for t in shown]
    cv2.imwrite(str(args.out), rc.stack_rows(rows)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} (clip, mask and result in {args.workdir}): {figures}")
    return figures


if __name__ == "__main__":
    main()
