"""Random inpainting masks for training and evaluation: any number of frames, square or
rectangular frames, reproducible from a seed.

A mask is a bool array (T, H, W), True = pixel to fill. The kinds (``MASK_TYPES``):

* ``grid``, ``lines``, ``box``, ``blob`` -- the four kinds of the paper's appendix D
  (``APPENDIX_D_TYPES``), on which the shipped model was trained and from which the
  held-out benchmark draws its holes, so that results compare with the paper's.
* ``object`` -- an object-shaped hole (object removal, what users bring most): a person-,
  car- or animal-like silhouette, or an irregular one, made of a few overlapping
  ellipses, that follows a smooth random path and may slowly approach or recede.
* ``logo`` -- a small overlay (watermark or caption removal): a logo-like shape near a
  corner, or a line of text near the top or bottom. Overlays are burnt into the video
  at a fixed place, so a logo mask is stationary even when ``moving=True`` is asked for
  (``STATIONARY_TYPES``).

Every moving hole stays in view in every frame, and every frame has a hole:

* Compact holes (box, blob) are sprites that move with a constant velocity (direction
  and speed drawn at random) and bounce off the frame edges, so the whole sprite is
  inside the frame in every frame.
* Objects move on a smooth closed-form path (a Lissajous-like curve whose speed varies
  slowly) mapped into the positions where the whole silhouette is inside the frame.
* Grids and lines are periodic patterns that cover the frame (their period is at most
  the frame side), so translating them keeps at least one bar in every frame.

Lengths that do not follow one axis (bar widths, blob and object sizes, speeds) scale
with the short side of the frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

APPENDIX_D_TYPES = ("grid", "lines", "box", "blob")
MASK_TYPES = APPENDIX_D_TYPES + ("object", "logo")
STATIONARY_TYPES = ("logo",)  # never move, whatever ``moving`` says

# Groups that random_mask's ``mix`` weighs: "appendix_d" (one of the paper's four kinds,
# uniformly) or any single kind.
MASK_GROUPS = MappingProxyType({"appendix_d": APPENDIX_D_TYPES, **{kind: (kind,) for kind in MASK_TYPES}})
# A training mix for models meant for object and watermark removal as well as the paper's
# holes (read-only: dict(DEFAULT_MASK_MIX) for a copy to edit).
DEFAULT_MASK_MIX = MappingProxyType({"appendix_d": 0.4, "object": 0.4, "logo": 0.2})


def _frame_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` from a side length or an ``(H, W)`` pair."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(size), int(size)
    H, W = size  # type: ignore[misc]
    return int(H), int(W)


def _bounce(start: float, velocity: float, t: np.ndarray, span: float) -> np.ndarray:
    """Positions start + velocity * t reflected into [0, span]."""
    if span <= 0:
        return np.zeros_like(t, dtype=float)
    p = np.mod(start + velocity * t, 2 * span)
    return np.where(p > span, 2 * span - p, p)


def _velocity(rng: np.random.Generator, top: float) -> np.ndarray:
    """(vy, vx) in pixels per frame: a random direction, a speed between 0.3 and ``top``."""
    speed, angle = rng.uniform(0.3, top), rng.uniform(0, 2 * np.pi)
    return np.array([speed * np.sin(angle), speed * np.cos(angle)])


# ---- grid and lines: periodic patterns ---------------------------------------------------------
def _periodic(kind: str, t: np.ndarray, H: int, W: int, rng: np.random.Generator, moving: bool,
              top: float) -> np.ndarray:
    """Bars ``thickness`` wide every ``gap`` pixels: rows or columns (lines), or both (grid).

    The pattern is periodic and translates as a whole. ``gap`` is at most the short side
    (``thickness`` is capped at a third of it on tiny frames), so every frame shows a bar;
    ``thickness <= gap / 3``, so no frame is all hole. Moving lines travel across
    themselves at the drawn speed (sliding along the bars would look still).
    """
    size = min(H, W)
    if kind == "lines":
        thickness = min(int(rng.integers(max(1, size // 32), max(2, size // 10) + 1)), size // 3)
        gap = int(rng.integers(thickness * 3, max(thickness * 3 + 1, size // 2)))
        axes = (0,) if rng.random() < 0.5 else (1,)  # horizontal or vertical lines
    else:
        thickness = min(int(rng.integers(max(1, size // 32), max(2, size // 12) + 1)), size // 3)
        gap = int(rng.integers(max(thickness * 3, size // 8), max(thickness * 3 + 1, size // 3)))
        axes = (0, 1)
    offset = rng.uniform(0, gap, 2)
    velocity = _velocity(rng, top) if moving else np.zeros(2)
    if kind == "lines":
        velocity[axes[0]] = np.hypot(*velocity) * np.sign(velocity[axes[0]] or 1.0)
    shifts = np.rint(offset[:, None] + velocity[:, None] * t).astype(int)  # (2, T)
    out = np.zeros((len(t), H, W), bool)
    if 0 in axes:
        out |= ((np.arange(H)[None, :] - shifts[0][:, None]) % gap < thickness)[:, :, None]
    if 1 in axes:
        out |= ((np.arange(W)[None, :] - shifts[1][:, None]) % gap < thickness)[:, None, :]
    return out


# ---- ellipses: blobs and object silhouettes ---------------------------------------------------
def _half_extents(ellipses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half height and half width of each ellipse row (cy, cx, ry, rx, angle)."""
    ry, rx, a = ellipses[:, 2], ellipses[:, 3], ellipses[:, 4]
    return np.hypot(ry * np.cos(a), rx * np.sin(a)), np.hypot(ry * np.sin(a), rx * np.cos(a))


def _bounds(ellipses: np.ndarray) -> tuple[float, float, float, float]:
    """(ymin, ymax, xmin, xmax) of a union of ellipses, relative to its anchor (0, 0)."""
    hy, hx = _half_extents(ellipses)
    cy, cx = ellipses[:, 0], ellipses[:, 1]
    return (cy - hy).min(), (cy + hy).max(), (cx - hx).min(), (cx + hx).max()


def _draw_ellipses(ellipses: np.ndarray, cy: float, cx: float, H: int, W: int) -> np.ndarray:
    """(H, W) union of ellipses (rows cy, cx, ry, rx, angle; centres relative to the
    anchor at (cy, cx); ``ry`` along the axis at ``angle`` from the vertical)."""
    out = np.zeros((H, W), bool)
    ymin, ymax, xmin, xmax = _bounds(ellipses)
    y0, y1 = max(0, int(np.floor(cy + ymin))), min(H, int(np.floor(cy + ymax)) + 1)
    x0, x1 = max(0, int(np.floor(cx + xmin))), min(W, int(np.floor(cx + xmax)) + 1)
    if y0 >= y1 or x0 >= x1:
        return out
    yy, xx = np.ogrid[y0:y1, x0:x1]
    window = out[y0:y1, x0:x1]
    for ey, ex, ry, rx, a in ellipses:
        dy, dx = yy - (cy + ey), xx - (cx + ex)
        u = dy * np.cos(a) + dx * np.sin(a)
        v = -dy * np.sin(a) + dx * np.cos(a)
        window |= (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
    return out


def _random_ellipses(rng: np.random.Generator, radius: float, count: int) -> np.ndarray:
    """``count`` ellipses of radii radius/2..radius, the first at the anchor, the others
    near it (offsets at most 0.75 radius: the union spans at most 3.5 radius)."""
    offsets = np.clip(rng.normal(0, radius / 2, (count, 2)), -0.75 * radius, 0.75 * radius)
    offsets[0] = 0.0
    radii = rng.uniform(radius / 2, radius, (count, 2))
    return np.column_stack([offsets, radii, rng.uniform(0, np.pi, count)])


def _blob(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """Sprite of an irregular blob: 2-5 random ellipses, at most 3.5 radii (the short
    side) across; as in appendix D, but drawn on its own so that it can move whole."""
    size = min(H, W)
    ellipses = _random_ellipses(rng, rng.uniform(size / 8, size / 3.5), int(rng.integers(2, 6)))
    ymin, ymax, xmin, xmax = _bounds(ellipses)
    ay, ax = int(np.ceil(-ymin)), int(np.ceil(-xmin))  # the anchor on a pixel: it is always filled
    sprite = _draw_ellipses(ellipses, ay, ax, ay + int(np.floor(ymax)) + 1, ax + int(np.floor(xmax)) + 1)
    rows, cols = np.flatnonzero(sprite.any(1)), np.flatnonzero(sprite.any(0))
    return sprite[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _box(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """Sprite of a box of 1/6 to 1/2 of the frame on each axis."""
    h, w = rng.integers([max(1, H // 6), max(1, W // 6)], [H // 2 + 1, W // 2 + 1])
    return np.ones((h, w), bool)


def _move_sprite(sprite: np.ndarray, t: np.ndarray, H: int, W: int, rng: np.random.Generator, moving: bool,
                 top: float) -> np.ndarray:
    """The sprite at a random place, moving with a constant velocity and bouncing off the
    edges: its top-left corner stays in [0, H - h] x [0, W - w], so the whole sprite is
    in view (a sprite larger than the frame on an axis stays overlapping it)."""
    h, w = sprite.shape
    lo = np.minimum(0, [H - h, W - w])
    span = np.abs([H - h, W - w]).astype(float)
    start = rng.uniform(0, 1, 2) * span
    vy, vx = _velocity(rng, top) if moving else (0.0, 0.0)
    ys = lo[0] + np.rint(_bounce(start[0], vy, t, span[0])).astype(int)
    xs = lo[1] + np.rint(_bounce(start[1], vx, t, span[1])).astype(int)
    out = np.zeros((len(t), H, W), bool)
    for frame, y, x in zip(out, ys, xs):
        fy, fx = max(y, 0), max(x, 0)
        frame[fy : y + h, fx : x + w] = sprite[fy - y : H - y, fx - x : W - x]
    return out


# ---- objects ------------------------------------------------------------------------------------
def _silhouette(rng: np.random.Generator) -> np.ndarray:
    """Ellipses (cy, cx, ry, rx, angle) of an object, anchored in its main body and scaled
    to a largest extent of 1: a person (upright), a car (wide), a four-legged animal, or an
    irregular object; proportions jittered and mirrored at random."""
    j = lambda x: x * rng.uniform(0.85, 1.15)  # noqa: E731
    kind = int(rng.integers(4))
    if kind == 0:  # person: torso, head, legs, arms swung out a little or a lot
        leg = rng.uniform(-0.15, 0.15)
        e = [(0, 0, j(0.17), j(0.09), 0), (-0.235, 0, j(0.075), j(0.062), 0),
             (0.32, 0.045, j(0.2), 0.045, leg), (0.32, -0.045, j(0.2), 0.045, -leg)]
        e += [(0.01, s * 0.11, j(0.16), 0.035, s * rng.uniform(0.05, 0.6)) for s in (1, -1)]
    elif kind == 1:  # car: body, cabin, wheels
        e = [(0, 0, 0.14, j(0.5), 0), (0, 0.26, 0.14, 0.24, 0), (0, -0.26, 0.14, 0.24, 0),
             (-0.13, rng.uniform(-0.1, 0.1), j(0.13), j(0.27), 0),
             (0.13, 0.3, 0.085, 0.085, 0), (0.13, -0.3, 0.085, 0.085, 0)]
    elif kind == 2:  # animal: body, head, four legs, tail
        e = [(0, 0, j(0.12), j(0.3), 0), (-0.13, 0.33, j(0.09), j(0.1), rng.uniform(-0.4, 0.4)),
             (-0.07, 0.27, 0.1, 0.05, -0.6), (-0.06, -0.33, 0.03, j(0.12), rng.uniform(0.2, 0.8))]
        e += [(0.17, x, j(0.12), 0.035, rng.uniform(-0.2, 0.2)) for x in (0.22, 0.14, -0.14, -0.22)]
    else:  # irregular: a cluster of random ellipses
        e = [(0, 0, rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.25), rng.uniform(0, np.pi))]
        for _ in range(int(rng.integers(3, 8))):  # each centred inside an earlier one: one piece
            cy, cx, ry, rx, _a = e[int(rng.integers(len(e)))]
            reach, direction = rng.uniform(0.4, 0.95) * min(ry, rx), rng.uniform(0, 2 * np.pi)
            e.append((cy + reach * np.sin(direction), cx + reach * np.cos(direction),
                      rng.uniform(0.05, 0.22), rng.uniform(0.05, 0.22), rng.uniform(0, np.pi)))
    ellipses = np.array(e, float)
    if rng.random() < 0.5:  # mirror left-right
        ellipses[:, [1, 4]] *= -1
    ymin, ymax, xmin, xmax = _bounds(ellipses)
    ellipses[:, :4] /= max(ymax - ymin, xmax - xmin)
    return ellipses


def _object(t: np.ndarray, H: int, W: int, rng: np.random.Generator, moving: bool, top: float) -> np.ndarray:
    """An object silhouette of 1/8 to 1/2 of the short side (its largest extent), on a
    smooth random path that keeps it whole in view, optionally growing or shrinking by
    up to 30 % over the clip (approaching or receding).

    Each axis follows (1 - cos phi(t)) / 2 of the free range (the anchor positions that
    keep the silhouette inside the frame at the current scale), with phi advancing at a
    rate that varies slowly (by up to +-50 %): a smooth back-and-forth that slows down
    before the edges instead of bouncing off them. The pixel under the anchor (inside
    the body) is always filled, so even a sub-pixel object on a tiny frame is a hole.
    """
    size, T = min(H, W), len(t)
    ellipses = _silhouette(rng)
    ymin, ymax, xmin, xmax = _bounds(ellipses)
    s0 = rng.uniform(size / 8, size / 2)
    s1 = np.clip(s0 * (1 + rng.uniform(-0.3, 0.3)), size / 8, size / 2) if moving else s0
    scale = s0 + (s1 - s0) * (1 - np.cos(np.pi * t / max(T - 1, 1))) / 2
    lo = np.stack([-scale * ymin, -scale * xmin])  # anchor positions with the silhouette in view
    hi = np.stack([H - 1 - scale * ymax, W - 1 - scale * xmax])
    if moving:
        velocity = np.abs(_velocity(rng, top))
        free = np.maximum(hi[:, 0] - lo[:, 0], 1e-9)
        rate = np.minimum(2 * velocity / free, np.pi / 16)  # radians per frame; a period >= 32 frames
        wobble, wobble_rate = rng.uniform(0, 0.5, 2), rng.uniform(0.05, 0.2, 2)
        phase0, wobble0 = rng.uniform(0, 2 * np.pi, (2, 2))
        sign = rng.choice([-1.0, 1.0], 2)
        phi = phase0[:, None] + sign[:, None] * rate[:, None] * (
            t + wobble[:, None] / wobble_rate[:, None] * np.sin(wobble_rate[:, None] * t + wobble0[:, None]))
        u = (1 - np.cos(phi)) / 2
    else:
        u = np.repeat(rng.uniform(0, 1, (2, 1)), T, axis=1)
    centre = lo + u * (hi - lo)
    out = np.zeros((T, H, W), bool)
    for i in range(T):
        scaled = ellipses * np.array([scale[i]] * 4 + [1.0])
        out[i] = _draw_ellipses(scaled, centre[0, i], centre[1, i], H, W)
        out[i, int(np.rint(centre[0, i])), int(np.rint(centre[1, i]))] = True  # a sub-pixel object is one pixel
    return out


# ---- logos and captions -------------------------------------------------------------------------
def _logo_shape(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """(h, w) sprite: a rounded rectangle, an ellipse, or an icon with a wordmark (one or
    two bars). Each contains the pixel at its centre, so it is never empty."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5

    def rounded(y0, x0, y1, x1, r):  # pixels within r of the rectangle shrunk by r
        dy = np.maximum(np.maximum(y0 + r - yy, yy - (y1 - r)), 0)
        dx = np.maximum(np.maximum(x0 + r - xx, xx - (x1 - r)), 0)
        return (dy**2 + dx**2 <= r**2) & (yy > y0) & (yy < y1) & (xx > x0) & (xx < x1)

    style = int(rng.integers(3))
    if style == 0 or w < 1.6 * h:
        if style == 1:
            return ((yy - h / 2) / (h / 2)) ** 2 + ((xx - w / 2) / (w / 2)) ** 2 <= 1
        return rounded(0, 0, h, w, rng.uniform(0, 0.5) * min(h, w))
    icon = rounded(0, 0, h, h, rng.choice([0.5, rng.uniform(0.1, 0.3)]) * h)
    x0 = h * rng.uniform(1.1, 1.3)
    bars = [(0.5, rng.uniform(0.3, 0.5))] if rng.random() < 0.5 else [(0.3, 0.35), (0.72, 0.2)]
    for centre, height in bars:
        length = (w - x0) * (rng.uniform(0.5, 1.0) if centre > 0.5 else 1.0)
        icon |= rounded(h * (centre - height / 2), x0, h * (centre + height / 2), x0 + length, h * height / 4)
    return icon


def _caption(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """A line of random words drawn with cv2.putText near the top or bottom, dilated by
    1-3 pixels (subtitles and burnt-in titles are outlined or blurred), 1-8 % of the frame."""
    import cv2

    font = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
            cv2.FONT_HERSHEY_TRIPLEX][int(rng.integers(4))]
    height = max(7.0, rng.uniform(0.05, 0.09) * H)  # of a capital letter, in pixels
    thickness = 1 if height < 14 else int(rng.integers(1, 3))
    scale = height / cv2.getTextSize("H", font, 1.0, thickness)[0][1]
    dilation = int(rng.integers(1, int(np.clip(min(H, W) // 64, 1, 3)) + 1))
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, int(rng.integers(2, 9)))) for _ in range(12)]
    words = [w.capitalize() if rng.random() < 0.3 else w for w in words]
    text = " ".join(words)
    target = rng.uniform(0.3, 0.85) * W
    while len(text) > 1 and cv2.getTextSize(text, font, scale, thickness)[0][0] > target:
        text = text[:-1].rstrip()
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    x = int((W - tw) / 2 + rng.uniform(-0.5, 0.5) * max(0, W - tw - 4 * dilation))
    margin = int(rng.uniform(0.03, 0.1) * H) + dilation
    bottom = rng.random() < 0.7
    y = H - 1 - margin - base if bottom else margin + th  # the baseline
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
    while True:  # drop letters until it holes at most 8 % of the frame
        canvas = np.zeros((H, W), np.uint8)
        cv2.putText(canvas, text, (max(0, x), int(y)), font, scale, 255, thickness, cv2.LINE_8)
        hole = cv2.dilate(canvas, kernel) > 0
        if hole.mean() <= 0.08 or len(text) <= 1:
            return hole
        text = text[:-1].rstrip()


def _logo(H: int, W: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) overlay: a caption (frames at least 32 x 48) or a logo shape near a corner
    of 1-5 % of the frame, 2-8 % of the frame's side from its edges."""
    if rng.random() < 0.5 and H >= 32 and W >= 48:
        return _caption(H, W, rng)
    area, aspect = rng.uniform(0.01, 0.05) * H * W, rng.uniform(0.8, 3.0)  # aspect = width / height
    h = max(1, int(round(min(max(np.sqrt(area / aspect), 2), 0.25 * H))))
    w = max(1, int(round(min(max(h * aspect, 2), 0.4 * W))))
    my, mx = int(rng.uniform(0.02, 0.08) * H), int(rng.uniform(0.02, 0.08) * W)
    y = my if rng.random() < 0.5 else H - my - h
    x = mx if rng.random() < 0.5 else W - mx - w
    out = np.zeros((H, W), bool)
    out[y : y + h, x : x + w] = _logo_shape(h, w, rng)
    return out


# ---- public -------------------------------------------------------------------------------------
def generate_mask(
    kind: str, frames: int, size: int | tuple[int, int], *, moving: bool = True, seed: int | None = None,
    rng: np.random.Generator | None = None, max_speed: float | None = None,
) -> np.ndarray:
    """A (frames, H, W) bool mask of one kind (see the module docstring); True = pixel to fill.

    ``size`` is the side of square frames or ``(H, W)``. ``moving=False`` keeps the hole
    still; logos never move. ``max_speed`` (pixels per frame; default the short side / 24,
    at least 1) bounds the speed of moving holes. The same arguments and ``seed`` (or the
    same state of ``rng``) give the same mask. Every frame has a hole, and no frame is
    all hole.
    """
    if kind not in MASK_TYPES:
        raise ValueError(f"unknown mask type {kind!r}: one of {', '.join(MASK_TYPES)}")
    H, W = _frame_size(size)
    if frames < 1 or min(H, W) < 4:
        raise ValueError("need at least 1 frame and a size of at least 4 pixels")
    rng = rng if rng is not None else np.random.default_rng(seed)
    top = max_speed if max_speed is not None else max(1.0, min(H, W) / 24)
    t = np.arange(frames, dtype=float)
    if kind in ("grid", "lines"):
        return _periodic(kind, t, H, W, rng, moving, top)
    if kind in ("box", "blob"):
        return _move_sprite((_box if kind == "box" else _blob)(H, W, rng), t, H, W, rng, moving, top)
    if kind == "object":
        return _object(t, H, W, rng, moving, top)
    return np.repeat(_logo(H, W, rng)[None], frames, axis=0)


def _check_mix(mix: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """The groups of a mix and their probabilities; ValueError naming the valid groups."""
    valid = ", ".join(MASK_GROUPS)
    if not isinstance(mix, Mapping) or not mix:
        raise ValueError(f"a mask mix is a non-empty dict of weights over {valid}")
    unknown = [k for k in mix if k not in MASK_GROUPS]
    if unknown:
        raise ValueError(f"unknown mask group {unknown[0]!r} in the mix: one of {valid}")
    try:
        weights = np.array([float(mix[k]) for k in mix])
    except (TypeError, ValueError):
        raise ValueError(f"mask mix weights must be numbers (groups: {valid})") from None
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"mask mix weights must be finite, non-negative and not all zero (groups: {valid})")
    return list(mix), weights / weights.sum()


def random_mask(frames: int, size: int | tuple[int, int], rng: np.random.Generator, p_moving: float = 0.75,
                mix: Mapping[str, float] | None = None) -> np.ndarray:
    """A training mask of a random kind, moving with probability ``p_moving``.

    ``mix`` weighs groups of kinds (``MASK_GROUPS``): "appendix_d" (one of the paper's four
    kinds, uniformly) or a single kind, e.g. ``DEFAULT_MASK_MIX``. ``None`` draws the
    paper's four kinds uniformly, with the same random draws as before the mix existed.
    """
    if mix is None:
        kinds = APPENDIX_D_TYPES
    else:
        groups, p = _check_mix(mix)
        kinds = MASK_GROUPS[groups[int(rng.choice(len(groups), p=p))]]
    kind = kinds[int(rng.integers(len(kinds)))]
    return generate_mask(kind, frames, size, moving=bool(rng.random() < p_moving), rng=rng)
