"""Detail for still holes: give a watermark's fill the fine texture of its surroundings.

The fill of a hole that no frame shows is smooth: OpenCV Telea's guess, and a model that
works at 64 x 64 and is best used to change that guess only a little (docs/results.md
sections 8-10). On flat walls that is invisible; in grass, foliage or film grain it reads
as a smooth patch. Photo editors answer with the clone stamp. This module does it on the
detail layer only, for the holes that stay in one place for the whole video (a watermark,
a caption, a channel logo), where one source serves every frame and so stays steady:

- the frames are split into a *base* (Gaussian blur, ``sigma`` px) and their *detail* (the
  rest); the fill's base is kept, so its colours and shapes do not change;
- for each still piece of the hole (letters closer than ``GROUP_PX`` make one piece), one
  offset is searched: the place, clear of every hole pixel of the video, whose base around
  the piece looks most like the piece's own base (mean squared difference over a few
  frames, over the piece grown by a few pixels, so the fill's colours and the known
  border both count);
- inside the piece, in every frame, the base stays and the detail is that frame's detail
  at the offset: the texture moves and flickers exactly as the source's does; it is
  scaled down where the source is busier than the known ring right around the piece.
  Only the pixels the model filled get it (no frame showed them): pixels propagated from
  other frames keep their own, real detail.

Known pixels never change. Pieces larger than ``MAX_PIECE_FRACTION`` of the frame are left
alone (copying a large area would repeat recognisable content), as are moving holes (an
offset per frame would flicker). Measured: docs/results.md section 9.

It also keeps the detail that steadying takes away (``--detail restore``, and ``clone``
does it too): the propagation prior averages each hole pixel with the same point in
nearby frames (:func:`vidsched.runtime.prior.steady`), which removes flicker and error but
also the fine detail the copied pixels had (bilinear resampling, codec grain, edges a
little out of register). :func:`hole_detail_energy` measures each frame's detail in the
hole before the average and :func:`restore_detail` raises the average's detail back to it,
one gain per frame (at most ``RESTORE_CAP``, averaged over ``RESTORE_SMOOTH`` frames each
side so that it does not pump): the detail that remains after averaging is what the
frames agree on, so raising it sharpens the scene's own texture and edges, not the noise
that was averaged away. Measured: docs/results.md section 14.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DETAIL_MODES = ("none", "restore", "clone")  # each does what the one before does, and more
RESTORING_MODES = ("restore", "clone")  # the modes that give the prior's average its detail back
DETAIL_SIGMA = 1.5  # base blur, px (results section 9: 1.5 and 3 measured)
GROUP_PX = 8  # hole pixels this close belong to one piece (the letters of a word)
GROW_PX = 4  # the piece grown by this much is what the search compares (the border counts)
MAX_PIECE_FRACTION = 0.1  # larger still pieces are left alone
SEARCH_FRAMES = 8  # frames compared in the search
SEARCH_PIXELS = 4000  # pixels of the grown piece compared (a regular subsample beyond)
MAX_PIECES = 64  # the largest still pieces get a source; the rest (dust, salt) stay as filled
RESTORE_CAP = 2.0  # restore_detail raises the averaged detail's amplitude at most this much
RESTORE_SMOOTH = 2  # ... with its gain averaged over the frames this far on each side


@dataclass(frozen=True, eq=False)
class Piece:
    """A still piece of the hole as its pixels ``(ys, xs)`` (int arrays, raster order) in a
    frame of ``shape`` (H, W): a piece of a 1080p frame costs its own pixels, not a
    whole-frame mask (dust on the lens makes thousands)."""

    ys: np.ndarray
    xs: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def of(cls, mask: np.ndarray) -> "Piece":
        ys, xs = np.nonzero(mask)
        return cls(ys, xs, tuple(mask.shape))

    @property
    def size(self) -> int:
        return len(self.ys)

    @property
    def first(self) -> int:
        """Its first pixel in raster order (``y * W + x``): pieces are disjoint, so this names it."""
        return int(self.ys[0]) * self.shape[1] + int(self.xs[0])

    def mask(self) -> np.ndarray:
        """(H, W) bool."""
        out = np.zeros(self.shape, bool)
        out[self.ys, self.xs] = True
        return out

    def grown(self, pixels: int) -> tuple[np.ndarray, np.ndarray]:
        """The pixels within ``pixels`` (a square) of the piece, clipped to the frame, as
        ``(ys, xs)``; dilated in the piece's box only."""
        import cv2

        H, W = self.shape
        y0, x0 = max(0, int(self.ys.min()) - pixels), max(0, int(self.xs.min()) - pixels)
        y1, x1 = min(H, int(self.ys.max()) + 1 + pixels), min(W, int(self.xs.max()) + 1 + pixels)
        crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
        crop[self.ys - y0, self.xs - x0] = 1
        gy, gx = np.nonzero(cv2.dilate(crop, np.ones((2 * pixels + 1,) * 2, np.uint8)))
        return gy + y0, gx + x0


@dataclass(frozen=True)
class DetailSource:
    """A still piece of the hole and where its detail comes from: the detail at
    ``(y + dy, x + dx)`` fills each pixel ``(y, x)`` of ``piece``."""

    piece: Piece
    dy: int
    dx: int
    gain: float = 1.0  # the copied detail's scale: never stronger than the detail right around the piece

    def describe(self) -> str:
        ys, xs = self.piece.ys, self.piece.xs
        return (f"{xs.max() - xs.min() + 1}x{ys.max() - ys.min() + 1} at ({xs.min()}, {ys.min()}) "
                f"from {abs(self.dy)} px {'up' if self.dy < 0 else 'down'}, {abs(self.dx)} px "
                f"{'left' if self.dx < 0 else 'right'}" + (f", at {self.gain:.2f}x" if self.gain < 0.995 else ""))


def still_pieces(always: np.ndarray) -> list[Piece]:
    """The pieces of ``always`` (H, W): pixels that are hole in every frame, grouped (pixels
    within ``GROUP_PX``), in the order of their first pixel; pieces over
    ``MAX_PIECE_FRACTION`` of the frame are dropped."""
    import cv2

    if not always.any():
        return []
    kernel = np.ones((2 * GROUP_PX + 1,) * 2, np.uint8)
    grouped = cv2.dilate(always.astype(np.uint8), kernel)
    _, labels = cv2.connectedComponents(grouped, connectivity=8)
    ys, xs = np.nonzero(always)  # raster order
    label = labels[ys, xs]
    order = np.argsort(label, kind="stable")  # each piece's pixels together, still in raster order
    starts = np.flatnonzero(np.diff(label[order], prepend=-1))
    pieces = [Piece(ys[idx], xs[idx], tuple(always.shape)) for idx in np.split(order, starts[1:])]
    pieces = [p for p in pieces if p.size <= MAX_PIECE_FRACTION * always.size]
    return sorted(pieces, key=lambda p: p.first)


def still_and_ever(hole) -> tuple[np.ndarray, np.ndarray]:
    """(H, W): the pixels that are hole in every frame of ``hole``, and those hole in any
    frame; ``hole`` a (T, H, W) bool array or a :class:`~vidsched.packedmask.PackedMask`
    (which answers from its distinct frames, without unpacking the video)."""
    if hasattr(hole, "always"):
        return hole.always(), hole.ever()
    hole = np.asarray(hole)
    return hole.all(axis=0), hole.any(axis=0)


def blur_room(sigma: float) -> int:
    """Pixels around a box that :func:`split` needs so that, inside the box, a split of the
    box equals that of the whole frame (OpenCV's kernel reaches 4 sigma)."""
    return int(np.ceil(4 * sigma)) + 1


def split(frames: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``frames`` (T, h, w, 3) as float32 base (Gaussian, ``sigma``) and detail (the rest)."""
    import cv2

    v = frames.astype(np.float32)
    base = np.stack([cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) for f in v])
    return base, v - base


def find_source(frames: np.ndarray, piece: Piece | np.ndarray, blocked: np.ndarray,
                sigma: float = DETAIL_SIGMA, layers: tuple[np.ndarray, np.ndarray] | None = None,
                origin: tuple[int, int] = (0, 0)) -> DetailSource | None:
    """The offset for ``piece`` (a :class:`Piece` or an (H, W) mask; see the module
    docstring), searched on ``frames`` (T, H, W, 3) uint8, the fill in; a source may touch
    no ``blocked`` pixel (every hole pixel of the video). Offsets up to three piece heights
    up or down and one piece width left or right, on a grid of about 48 x 32; None if none
    is clear. ``layers``: the :func:`split` of :func:`search_frames` of ``frames``, if made
    already, of the frames' box from ``origin`` (y, x) on, which holds :func:`search_box`."""
    if not isinstance(piece, Piece):
        piece = Piece.of(piece)
    H, W = piece.shape
    ys, xs = piece.ys, piece.xs
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    gy, gx = all_gy, all_gx = piece.grown(GROW_PX)
    if len(gy) > SEARCH_PIXELS:  # a regular subsample keeps the search's cost bounded
        keep = np.linspace(0, len(gy) - 1, SEARCH_PIXELS).astype(np.int64)
        gy, gx = gy[keep], gx[keep]
    if layers is None:
        y0, y1, x0, x1 = search_box(piece, sigma)
        layers, origin = split(search_frames(frames)[:, y0:y1, x0:x1], sigma), (y0, x0)
    base, detail = layers
    oy, ox = origin
    here = base[:, gy - oy, gx - ox]
    far_y, far_x = h + 2 * GROW_PX, w + 2 * GROW_PX  # closer than this overlaps the piece
    best = None
    for dy in range(-3 * h, 3 * h + 1, max(2, h // 8)):
        for dx in range(-w, w + 1, max(4, w // 16)):
            if abs(dy) < far_y and abs(dx) < far_x:
                continue
            yy, xx = gy + dy, gx + dx
            if yy.min() < 0 or yy.max() >= H or xx.min() < 0 or xx.max() >= W or blocked[yy, xx].any():
                continue
            cost = float(np.mean(np.square(here - base[:, yy - oy, xx - ox])))
            if best is None or cost < best[0]:
                best = (cost, dy, dx)
    if best is None:
        return None
    _, dy, dx = best
    # The source may be busier than the piece's own surroundings (a textured place whose
    # base happens to match): scale its detail down to the detail of the known ring
    # around the piece, so that the fill is never sharper than what borders it.
    ring = ~blocked[all_gy, all_gx] & ~np.isin(all_gy * W + all_gx, ys * W + xs)
    around = float(np.mean(np.square(detail[:, all_gy[ring] - oy, all_gx[ring] - ox]))) if ring.any() else 0.0
    copied = float(np.mean(np.square(detail[:, ys + dy - oy, xs + dx - ox])))
    gain = 1.0 if copied <= around else float(np.sqrt(around / copied))
    return DetailSource(piece, int(dy), int(dx), gain)


def search_box(piece: Piece, sigma: float = DETAIL_SIGMA) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the part of the frame :func:`find_source` reads for ``piece``, its
    grown pixels at every offset it tries, with room for the blur of :func:`split` (inside
    it, a split of the box equals that of the whole frame)."""
    H, W = piece.shape
    ys, xs = piece.ys, piece.xs
    h, w = int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)
    pad = GROW_PX + blur_room(sigma)
    return (max(0, int(ys.min()) - 3 * h - pad), min(H, int(ys.max()) + 1 + 3 * h + pad),
            max(0, int(xs.min()) - w - pad), min(W, int(xs.max()) + 1 + w + pad))


def search_frames(frames: np.ndarray) -> np.ndarray:
    """At most ``SEARCH_FRAMES`` of ``frames``, evenly spread: what the search compares."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(SEARCH_FRAMES, len(frames))).astype(np.int64))
    return frames[picks]


def ranked_pieces(always: np.ndarray) -> list[Piece]:
    """The ``MAX_PIECES`` largest :func:`still_pieces`, largest first (a stable order: a
    saved plan names its pieces by their place in it)."""
    pieces = still_pieces(always)
    return sorted(pieces, key=lambda p: -p.size)[:MAX_PIECES]  # stable: equal sizes keep their order


def sources_to_array(sources: list[DetailSource], always: np.ndarray) -> np.ndarray:
    """A plan as rows (piece rank, dy, dx, gain), for a saved run's progress. Pieces are
    disjoint, so each is named by its first pixel."""
    rank = {p.first: i for i, p in enumerate(ranked_pieces(always))}
    return np.array([(rank[s.piece.first], s.dy, s.dx, s.gain) for s in sources],
                    np.float64).reshape(-1, 4)


def sources_from_array(rows: np.ndarray, always: np.ndarray) -> list[DetailSource]:
    """The inverse of :func:`sources_to_array` for the same ``always``."""
    ranked = ranked_pieces(always)
    return [DetailSource(ranked[int(r)], int(dy), int(dx), float(g)) for r, dy, dx, g in rows]


def plan_detail(frames: np.ndarray, always: np.ndarray, ever: np.ndarray,
                sigma: float = DETAIL_SIGMA) -> list[DetailSource]:
    """A source for every still piece of the hole that has one (the ``MAX_PIECES``
    largest): ``always`` (H, W), the pixels that are hole in every frame of the video;
    ``ever``, those hole in any frame; ``frames`` some of its frames, filled."""
    pieces = ranked_pieces(always)
    if not pieces:
        return []
    boxes = np.array([search_box(piece, sigma) for piece in pieces])
    y0, x0, y1, x1 = boxes[:, 0].min(), boxes[:, 2].min(), boxes[:, 1].max(), boxes[:, 3].max()
    layers = split(search_frames(frames)[:, y0:y1, x0:x1], sigma)  # once for every piece, where they search
    sources = (find_source(frames, piece, ever, sigma, layers, (y0, x0)) for piece in pieces)
    return [s for s in sources if s is not None]


def describe_sources(sources: list[DetailSource], still: bool) -> str:
    """One line for the run's summary: what ``--detail clone`` did (``still``: whether the
    hole has pixels that are hole in every frame); many sources are counted, not listed."""
    if not still:
        return "--detail clone: no part of the hole stays in place for the whole video, so nothing was changed"
    if not sources:
        return ("--detail clone: the still parts of the hole are too large, or have no place clear of the hole "
                "to take detail from; nothing was changed")
    many = len(sources) > 1
    return (f"--detail clone: {len(sources)} still piece{'s' if many else ''} of the hole given the fine detail "
            f"of {'their' if many else 'its'} surroundings: " + "; ".join(s.describe() for s in sources[:4])
            + (f"; and {len(sources) - 4} more" if len(sources) > 4 else ""))


def apply_detail(frames: np.ndarray, hole: np.ndarray, sources: list[DetailSource],
                 sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8, filled, with each source's piece given the detail at
    its offset, where ``hole`` (T, H, W) bool is hole (the run passes the pixels no frame
    showed: propagated ones have real detail of their own); a new array, known pixels
    exact.
    Only the boxes around each piece and its source are blurred (a large frame costs no
    more than a small one)."""
    out = frames.copy()
    H, W = frames.shape[1:3]
    pad = blur_room(sigma)
    for source in sources:
        ys, xs = source.piece.ys, source.piece.xs
        y0, y1 = min(ys.min(), ys.min() + source.dy), max(ys.max(), ys.max() + source.dy) + 1
        x0, x1 = min(xs.min(), xs.min() + source.dx), max(xs.max(), xs.max() + source.dx) + 1
        y0, x0, y1, x1 = max(0, y0 - pad), max(0, x0 - pad), min(H, y1 + pad), min(W, x1 + pad)
        inside = hole[:, ys, xs]  # (T, n): where the piece is hole in each frame
        if not inside.any():
            continue
        base, detail = split(frames[:, y0:y1, x0:x1], sigma)
        py, px = ys - y0, xs - x0
        copied = detail[:, py + source.dy, px + source.dx] * np.float32(source.gain)
        value = np.clip(np.rint(base[:, py, px] + copied), 0, 255).astype(np.uint8)
        region = out[:, ys, xs]
        region[inside] = value[inside]
        out[:, ys, xs] = region
    return out


def _hole_layers(frames: np.ndarray, hole: np.ndarray, t: int, sigma: float):
    """Frame ``t``'s box around its hole (with room for the blur): (box, base, detail,
    hole inside the box), or None where the frame has no hole."""
    if not hole[t].any():
        return None
    H, W = hole.shape[1:]
    pad = blur_room(sigma)
    ys, xs = np.nonzero(hole[t])
    y0, y1 = max(0, ys.min() - pad), min(H, ys.max() + 1 + pad)
    x0, x1 = max(0, xs.min() - pad), min(W, xs.max() + 1 + pad)
    base, detail = split(frames[t:t + 1, y0:y1, x0:x1], sigma)
    return (y0, y1, x0, x1), base[0], detail[0], hole[t, y0:y1, x0:x1]


def hole_detail_energy(frames: np.ndarray, hole: np.ndarray, sigma: float = DETAIL_SIGMA) -> np.ndarray:
    """(T,) float64: the mean squared detail (:func:`split`, ``sigma``) over each frame's
    ``hole`` pixels of ``frames`` (T, H, W, 3); NaN for a frame without a hole."""
    energy = np.full(len(hole), np.nan)
    for t in range(len(hole)):
        layers = _hole_layers(frames, hole, t, sigma)
        if layers is not None:
            _, _, detail, inside = layers
            energy[t] = float(np.mean(np.square(detail[inside])))
    return energy


def restore_detail(frames: np.ndarray, hole: np.ndarray, target: np.ndarray, sigma: float = DETAIL_SIGMA,
                   cap: float = RESTORE_CAP, smooth: int = RESTORE_SMOOTH) -> np.ndarray:
    """Raise the detail of ``frames``' ``hole`` pixels to ``target`` (:func:`hole_detail_energy`
    of the same frames before they were averaged), by the gains of :func:`restore_gains`.
    Changes ``frames`` in place (hole pixels only); returns the gains (T,)."""
    gains = restore_gains(hole_detail_energy(frames, hole, sigma), target, cap, smooth)
    for t in np.flatnonzero(gains > 1.0):
        (y0, y1, x0, x1), base, detail, inside = _hole_layers(frames, hole, t, sigma)  # one box at a time
        value = np.clip(np.rint(base + np.float32(gains[t]) * detail), 0, 255).astype(frames.dtype)
        frames[t, y0:y1, x0:x1][inside] = value[inside]
    return gains


def restore_gains(now: np.ndarray, target: np.ndarray, cap: float = RESTORE_CAP,
                  smooth: int = RESTORE_SMOOTH) -> np.ndarray:
    """(T,): per frame, ``sqrt(target / now)`` of two :func:`hole_detail_energy` results,
    kept within [1, ``cap``] (detail is only ever given back, never taken away), then
    averaged with the gains of the frames up to ``smooth`` away that have one; 1 where a
    frame has no hole (NaN in either)."""
    have = np.isfinite(now) & np.isfinite(target)
    raw = np.ones(len(now))
    ok = have & (now > 0)
    raw[ok] = np.clip(np.sqrt(target[ok] / now[ok]), 1.0, cap)
    gains = np.ones(len(now))
    for t in np.flatnonzero(have):
        near = slice(max(0, t - smooth), t + smooth + 1)
        gains[t] = raw[near][have[near]].mean()
    return gains
