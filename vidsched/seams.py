"""Seams: make a fill meet the known pixels around its hole without a visible edge.

A fill pasted at the source resolution can sit a little off the colours right outside
its hole (the model works on an average of several source pixels per model pixel near
the border, and a small colour bias reads as an edge). :func:`match_border` removes that
step the way gradient-domain (Poisson) blending does, cheaply: along the hole's inner
border it measures how far each fill pixel is from the mean of its known neighbours,
spreads that difference over the hole (OpenCV's Telea propagation of the difference
image, a smooth membrane in practice), and adds it with a weight that falls from 1 at
the border to 0 at ``falloff`` pixels inside. Only hole pixels change: known pixels stay
bit-exact. Differences are clamped (``max_shift``) so that a genuine edge that the
fill continues is not flattened into the surroundings.
"""

from __future__ import annotations

import numpy as np

SEAM_MODES = ("none", "match")


def match_border(frames: np.ndarray, hole: np.ndarray, *, known: np.ndarray | None = None, falloff: float = 6.0,
                 max_shift: float = 24.0) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8 (holes filled) with the fill's border colour matched
    to the known pixels around ``hole`` (T, H, W) bool; a new array, known pixels exact.
    ``known`` (default: not ``hole``) are the pixels to match against (pixels of other
    holes, not filled yet, are neither)."""
    import cv2

    out = frames.copy()
    kernel = np.ones((3, 3), np.uint8)
    for t in np.flatnonzero(hole.reshape(len(hole), -1).any(axis=1)):
        h = hole[t].astype(np.uint8)
        ref = (1 - h) if known is None else (known[t] & ~hole[t]).astype(np.uint8)
        if not ref.any():
            continue
        inner = h & cv2.dilate(ref, kernel)  # hole pixels touching a known pixel
        img = frames[t].astype(np.float32)
        # mean of the known 8-neighbours of every pixel (box filter of known values / count)
        sums = cv2.boxFilter(img * ref[..., None], -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        count = cv2.boxFilter(ref.astype(np.float32), -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
        ring = inner.astype(bool)
        diff = np.zeros_like(img)
        diff[ring] = np.clip(sums[ring] / np.maximum(count[ring], 1)[:, None] - img[ring], -max_shift, max_shift)
        # spread the border differences over the hole (difference image encoded around 128)
        coded = np.clip(np.rint(diff + 128), 0, 255).astype(np.uint8)
        spread = cv2.inpaint(coded, (h & ~inner).astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32) - 128
        dist = cv2.distanceTransform(h, cv2.DIST_L2, 3)  # 1 at the border, growing inward
        weight = np.clip(1.0 - (dist - 1.0) / falloff, 0.0, 1.0)
        corrected = np.clip(np.rint(img + spread * weight[..., None]), 0, 255).astype(np.uint8)
        sel = h.astype(bool)
        out[t][sel] = corrected[sel]
    return out
