"""Putting results back into the frames, and the comparison video (plain numpy and
OpenCV; no torch).

:func:`composite_back` takes the model's output at the model's resolution back through a
:class:`~vidsched.geometry.Geometry` into the original frames, changing only the hole's
pixels (every known pixel comes back bit-exactly). :func:`side_by_side` builds the
comparison video that ``vidsched run --compare`` writes and the reports and paper
figures show: the input with its hole tinted (:data:`HOLE_TINT`) beside the result.
Both end the pipeline; the mapping onto the model's resolution that they undo is
:mod:`vidsched.geometry`, and a hole is paired with its frames there too
(:func:`~vidsched.geometry.check_mask`).
"""

from __future__ import annotations

import numpy as np

from vidsched.geometry import Geometry, as_hole, resize_frames
from vidsched.videoio import VideoError, as_rgb_uint8, opencv

__all__ = ["HOLE_TINT", "composite_back", "side_by_side"]

#: The colour mixed (50 %) into the hole's pixels in the comparison video.
HOLE_TINT = (255, 0, 255)  # magenta


def composite_back(original_frames: np.ndarray, original_hole: np.ndarray, filled_model_frames: np.ndarray,
                   geometry: Geometry) -> np.ndarray:
    """Put the model's output back at the original resolution.

    The filled model frames are cut to the geometry's box and resized to the source size
    (bicubic when enlarging, area when shrinking), and written ONLY into the original hole
    pixels: every known pixel is returned bit-exactly. Frames without a hole are not
    resized at all.
    """
    original = as_rgb_uint8(original_frames, "original frames")
    T = original.shape[0]
    if original.shape[1:3] != (geometry.src_h, geometry.src_w):
        raise VideoError(
            f"the frames are {original.shape[2]}x{original.shape[1]} but the geometry is for "
            f"{geometry.src_w}x{geometry.src_h}"
        )
    hole = as_hole(original_hole, geometry, num_frames=T)
    filled = as_rgb_uint8(filled_model_frames, "filled frames")
    if filled.shape[:3] != (T, geometry.model_h, geometry.model_w):
        raise VideoError(
            f"the filled frames are {tuple(filled.shape[:3])} (T, H, W) but "
            f"{(T, geometry.model_h, geometry.model_w)} was expected"
        )
    y0, x0, y1, x1 = geometry.box
    src_hw = (geometry.src_h, geometry.src_w)
    out = original.copy()
    for t in np.flatnonzero(hole.reshape(T, -1).any(axis=1)):
        up = resize_frames(np.ascontiguousarray(filled[t:t + 1, y0:y1, x0:x1]), src_hw)[0]
        rows, cols = np.flatnonzero(hole[t].any(axis=1)), np.flatnonzero(hole[t].any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # the hole's bounding box
        np.copyto(out[t][box], up[box], where=hole[t][box][:, :, None])
    return out


# ---- comparison video --------------------------------------------------------------------------
def _label_band(width: int, texts: list[tuple[int, str]], height: int, scale: float) -> np.ndarray:
    cv2 = opencv()
    band = np.full((height, width, 3), 24, dtype=np.uint8)
    for x, text in texts:
        (_, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(band, text, (x + 3, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (240, 240, 240), 1, cv2.LINE_AA)
    return band


def side_by_side(original: np.ndarray, hole: np.ndarray, result: np.ndarray,
                 labels: tuple[str, str] = ("input (hole tinted)", "result"), gap: int = 4,
                 tint: tuple[int, int, int] = HOLE_TINT, zoom: int = 1) -> np.ndarray:
    """A comparison video: the input with its hole tinted (50 % ``tint``) | the result.

    Labels go in a dark band above the panels (so they hide nothing, even at 64 x 64).
    ``zoom`` enlarges both panels (nearest neighbour) for small videos. Shape:
    ``T x (band + zoom*H) x (2*zoom*W + gap) x 3`` uint8 with ``band = 0`` if ``labels``
    is empty.
    """
    original = as_rgb_uint8(original, "original frames")
    result = as_rgb_uint8(result, "result frames")
    if result.shape != original.shape:
        raise VideoError(f"the result is {tuple(result.shape)} but the input is {tuple(original.shape)}")
    T, H, W, _ = original.shape
    geometry = Geometry(H, W, H, W, (0, 0, H, W))
    hole = as_hole(hole, geometry, num_frames=T)
    tinted = original.copy()
    overlay = (original.astype(np.uint16) + np.array(tint, dtype=np.uint16) + 1) // 2
    tinted[hole] = overlay[hole].astype(np.uint8)
    if zoom > 1:
        tinted = tinted.repeat(zoom, axis=1).repeat(zoom, axis=2)
        result = result.repeat(zoom, axis=1).repeat(zoom, axis=2)
        H, W = H * zoom, W * zoom
    sep = np.full((T, H, gap, 3), 255, dtype=np.uint8)
    panels = np.concatenate([tinted, sep, result], axis=2)
    if not labels:
        return panels
    scale = max(0.3, min(1.0, W / 320))
    band_h = int(round(22 * scale)) + 8
    band_h += (band_h + H) % 2  # an even total height: video codecs need one (no padding warning)
    band = _label_band(panels.shape[2], [(0, labels[0]), (W + gap, labels[1] if len(labels) > 1 else "")],
                       band_h, scale)
    return np.concatenate([np.broadcast_to(band, (T,) + band.shape), panels], axis=1)

