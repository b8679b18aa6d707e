#!/usr/bin/env python
"""What writing a result as a video costs: time, size and accuracy of `.mp4` outputs.

    python benchmarks/encode_speed.py                 # 60 frames at 1920x1080 and 1280x720
    python benchmarks/encode_speed.py --frames 20 --sizes 640x480

``vidsched run -o OUT.mp4`` encodes its result with H.264 (PyAV's libx264, CRF 17, 4:2:0;
:mod:`vidsched.videowrite`), or with OpenCV's MPEG-4 part 2 (``mp4v``) where PyAV's
libx264 is missing. For each frame size this writes the same frames both ways through
:func:`vidsched.videowrite.write_video` and reports the wall time per frame
(``time.perf_counter``, this process), the file size, and the PSNR of the decoded frames
against the frames written (every pixel, data range 255). The frames are the first of
``data/corpus/videos/box.mp4`` (handheld footage; ``python model/train.py fetch-data``)
resized to each size, else a generated clip of moving textured gradients.

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

ROOT = Path(__file__).resolve().parents[1]
try:
    import vidsched  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_machine.py

BOX = ROOT / "data" / "corpus" / "videos" / "box.mp4"


def source_frames(count: int) -> tuple[str, np.ndarray]:
    """Real footage if the corpus is there, else a generated clip (both RGB uint8)."""
    from vidsched.videoio import read_video

    if BOX.exists():
        return "box.mp4", read_video(BOX, max_frames=count).frames
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    grain = rng.normal(0, 12, (480, 640 + 4 * count)).astype(np.float32)
    frames = [np.clip(np.stack([60 + 120 * x / 640, 40 + 150 * y / 480, 90 + 60 * np.sin((x + y + 3 * t) / 9)], -1)
                      + grain[:, 4 * t:4 * t + 640, None], 0, 255) for t in range(count)]
    return "generated", np.stack(frames).astype(np.uint8)


def measure(frames: np.ndarray, folder: Path, h264: bool) -> dict:
    from vidsched import videowrite
    from vidsched.videoio import read_video

    saved = videowrite._H264
    videowrite._H264 = False if not h264 else None  # None: look for PyAV's libx264 again
    try:
        if h264 and not videowrite.h264_available():
            return {"available": False}
        path = folder / f"{'h264' if h264 else 'mp4v'}_{frames.shape[2]}x{frames.shape[1]}.mp4"
        start = time.perf_counter()
        videowrite.write_video(path, frames, fps=25)
        seconds = time.perf_counter() - start
    finally:
        videowrite._H264 = saved
    back = read_video(path).frames.astype(np.float64)
    mse = float(np.mean((back - frames) ** 2))
    return {"available": True, "ms_per_frame": round(1000 * seconds / len(frames), 1),
            "megabytes": round(path.stat().st_size / 1e6, 3), "psnr_db": round(10 * np.log10(255.0 ** 2 / mse), 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", default="1920x1080,1280x720", help="comma-separated WxH")
    args = ap.parse_args(argv)
    import cv2

    from _machine import load_avg, machine

    source, frames = source_frames(args.frames)
    report = {"benchmark": "encode_speed", "source": source, "frames": len(frames), "machine": machine(("vidsched", "numpy", "av", "opencv-python-headless")),
              "load_avg": load_avg(),
              "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.sizes.split(","):
            w, h = (int(v) for v in text.lower().split("x"))
            sized = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA if w < f.shape[1] else cv2.INTER_CUBIC)
                              for f in frames])
            row = {"h264": measure(sized, Path(tmp), True), "mp4v": measure(sized, Path(tmp), False)}
            report["sizes"][f"{w}x{h}"] = row
            print(f"{w}x{h}: " + "; ".join(f"{k} {v['ms_per_frame']} ms/frame, {v['megabytes']} MB, {v['psnr_db']} dB"
                                          if v.get("available") else f"{k} unavailable" for k, v in row.items()))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
