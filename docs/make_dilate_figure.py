"""Draw docs/img/dilate.png: the shipped example with and without ``--dilate``.

    python docs/make_dilate_figure.py

The shipped example's hole (`vidsched run` with no arguments) covers most of a walker but
not the edge of his coat. Without dilation that edge is known pixels, so it stays, and it
also misleads propagation: the flow inside the hole is completed from its border, where
the walker moves, so pixels of him are copied in from other frames (about three quarters
of the blue fragment beside the pole is propagated, a quarter is his known edge).
``--dilate 4`` grows the hole by 4 pixels, the border is background, and the fragment
shrinks to a small patch.
Panels (frame 26, enlarged 3x): the input with the hole tinted magenta and the 4-pixel
margin tinted yellow; the result as given; the result with ``--dilate 4``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAME = 26
CROP = (slice(80, 200), slice(170, 300))  # rows, columns of the 384 x 288 example around the hole
DILATE = 4
SCALE = 3


def _tint(frame: np.ndarray, where: np.ndarray, colour) -> np.ndarray:
    out = frame.copy()
    out[where] = ((out[where].astype(np.uint16) + np.array(colour, np.uint16)) // 2).astype(np.uint8)
    return out


def _panel(image: np.ndarray, label: str) -> np.ndarray:
    import cv2

    big = cv2.resize(image, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
    band = np.full((26, big.shape[1], 3), 24, np.uint8)
    cv2.putText(band, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (240, 240, 240), 1, cv2.LINE_AA)
    return np.concatenate([band, big], axis=0)


def main(out: Path = ROOT / "docs" / "img" / "dilate.png") -> tuple[Path, dict, np.ndarray]:
    """Write the figure to ``out``; return it, the two results (by dilation) and the hole."""
    from PIL import Image

    from vidsched.masks_io import grow_mask
    from vidsched.runtime.pipeline import DEFAULT_MASK, DEFAULT_VIDEO, RunRequest, inpaint, load_inputs

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dilate in (0, DILATE):
            req = RunRequest(video=Path(DEFAULT_VIDEO), mask=Path(DEFAULT_MASK), output=Path(tmp) / f"d{dilate}.npy",
                             dilate=dilate)
            inpaint(req)
            results[dilate] = np.load(req.output)
        video, hole = load_inputs(RunRequest(video=Path(DEFAULT_VIDEO), mask=Path(DEFAULT_MASK),
                                             output=Path(tmp) / "unused.npy"))
    hole = np.asarray(hole)  # load_inputs keeps a mask packed (vidsched.packedmask): this figure's is small
    grown = grow_mask(hole, DILATE)
    frame = video.frames[FRAME]
    given = _tint(_tint(frame, hole[FRAME], (255, 0, 255)), grown[FRAME] & ~hole[FRAME], (255, 230, 0))
    panels = [_panel(given[CROP], f"input: hole, +{DILATE} px margin"),
              _panel(results[0][FRAME][CROP], "vidsched run"),
              _panel(results[DILATE][FRAME][CROP], f"vidsched run --dilate {DILATE}")]
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    image = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    Image.fromarray(image).save(out, optimize=True)
    print(f"wrote {out}")
    return out, results, hole


if __name__ == "__main__":
    main()
