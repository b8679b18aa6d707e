"""Random inpainting masks (paper appendix D): grids, lines, boxes and blobs, each
stationary or moving, any number of frames, reproducible from a seed.

A mask is a bool array (T, H, W), True = pixel to fill. Frames may be rectangular
(``size=(H, W)``); the widths of lines and grid bars, the blob radius and the speed scale
with the short side. Moving masks translate with a constant velocity (direction and
speed drawn at random) and bounce off the frame edges, so the hole stays in view for the
whole clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MASK_TYPES = ("grid", "lines", "box", "blob")


@dataclass(frozen=True)
class MaskSpec:
    kind: str
    moving: bool
    velocity: tuple[float, float]  # pixels per frame (dy, dx)


def _bounce(start: float, velocity: float, t: np.ndarray, span: float) -> np.ndarray:
    """Positions start + velocity * t reflected into [0, span]."""
    if span <= 0:
        return np.zeros_like(t, dtype=float)
    p = np.mod(start + velocity * t, 2 * span)
    return np.where(p > span, 2 * span - p, p)


def _frame_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` from a side length or an ``(H, W)`` pair."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(size), int(size)
    H, W = size  # type: ignore[misc]
    return int(H), int(W)


def _shape(kind: str, H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """The hole pattern of one frame, on a canvas twice the frame size (for moving).

    For square frames (H == W) the random draws are exactly those of the square-only
    version, so a seed gives the same masks as before rectangular frames existed.
    """
    size = min(H, W)  # lengths that do not follow one axis scale with the short side
    canvas = np.zeros((2 * H, 2 * W), bool)
    if kind == "box":
        h, w = rng.integers([H // 6, W // 6], [H // 2 + 1, W // 2 + 1])
        y, x = rng.integers(0, 2 * H - h), rng.integers(0, 2 * W - w)
        canvas[y : y + h, x : x + w] = True
    elif kind == "lines":
        thickness = int(rng.integers(max(1, size // 32), max(2, size // 10) + 1))
        gap = int(rng.integers(thickness * 3, max(thickness * 3 + 1, size // 2)))
        offset = int(rng.integers(0, gap))
        if rng.random() < 0.5:
            for y in range(offset, 2 * H, gap):
                canvas[y : y + thickness] = True
        else:
            for x in range(offset, 2 * W, gap):
                canvas[:, x : x + thickness] = True
    elif kind == "grid":
        thickness = int(rng.integers(max(1, size // 32), max(2, size // 12) + 1))
        gap = int(rng.integers(max(thickness * 3, size // 8), max(thickness * 3 + 1, size // 3)))
        oy, ox = rng.integers(0, gap, 2)
        for y in range(oy, 2 * H, gap):
            canvas[y : y + thickness] = True
        for x in range(ox, 2 * W, gap):
            canvas[:, x : x + thickness] = True
    elif kind == "blob":
        # Union of a few random ellipses around a centre: an irregular object-like hole.
        cy, cx = rng.uniform(np.array([0.6 * H, 0.6 * W]), np.array([1.4 * H, 1.4 * W]))
        radius = rng.uniform(size / 8, size / 3.5)
        yy, xx = np.mgrid[0 : 2 * H, 0 : 2 * W]
        for _ in range(int(rng.integers(2, 6))):
            oy, ox = rng.normal(0, radius / 2, 2)
            ry, rx = rng.uniform(radius / 2, radius, 2)
            angle = rng.uniform(0, np.pi)
            dy, dx = yy - (cy + oy), xx - (cx + ox)
            u = dy * np.cos(angle) + dx * np.sin(angle)
            v = -dy * np.sin(angle) + dx * np.cos(angle)
            canvas |= (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
    else:
        raise ValueError(f"unknown mask type {kind!r}: one of {', '.join(MASK_TYPES)}")
    return canvas


def generate_mask(
    kind: str, frames: int, size: int | tuple[int, int], *, moving: bool = True, seed: int | None = None,
    rng: np.random.Generator | None = None, max_speed: float | None = None,
) -> np.ndarray:
    """A (frames, H, W) bool mask of one type; True = pixel to fill.

    ``size`` is the side of square frames or ``(H, W)``.
    """
    if kind not in MASK_TYPES:
        raise ValueError(f"unknown mask type {kind!r}: one of {', '.join(MASK_TYPES)}")
    H, W = _frame_size(size)
    if frames < 1 or min(H, W) < 4:
        raise ValueError("need at least 1 frame and a size of at least 4 pixels")
    rng = rng if rng is not None else np.random.default_rng(seed)
    canvas = _shape(kind, H, W, rng)
    t = np.arange(frames, dtype=float)
    if moving:
        speed = rng.uniform(0.3, max_speed if max_speed is not None else max(1.0, min(H, W) / 24))
        angle = rng.uniform(0, 2 * np.pi)
        vy, vx = speed * np.sin(angle), speed * np.cos(angle)
    else:
        vy = vx = 0.0
    # The frame is an H x W window sliding over the 2H x 2W canvas.
    y0, x0 = rng.uniform(0, np.array([H, W], dtype=float))
    ys = np.rint(_bounce(y0, vy, t, H)).astype(int)
    xs = np.rint(_bounce(x0, vx, t, W)).astype(int)
    out = np.stack([canvas[y : y + H, x : x + W] for y, x in zip(ys, xs)])
    if not out.any():  # the window missed the pattern: put a box in the middle
        out[:, H // 3 : 2 * H // 3, W // 3 : 2 * W // 3] = True
    return out


def random_mask(frames: int, size: int | tuple[int, int], rng: np.random.Generator, p_moving: float = 0.75) -> np.ndarray:
    """A mask of a random type, moving with probability `p_moving` (training)."""
    kind = MASK_TYPES[int(rng.integers(len(MASK_TYPES)))]
    return generate_mask(kind, frames, size, moving=bool(rng.random() < p_moving), rng=rng)
