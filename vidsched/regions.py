"""Where in the frame the model works: regions around the holes, at a useful zoom.

The model sees S x S pixels (S = 64). Shrinking a whole 1280x720 frame to 64x64 fills a
40x40 watermark from about 2x4 model pixels and squashes the frame's aspect ratio.
Like IOPaint's ``crop`` hd_strategy (one box per mask contour plus ``crop_margin``,
moved inward at the image edges rather than cut), :func:`plan_regions` puts a square
box around each hole, sized so the model works at a zoom (source pixels per model
pixel) near 1; the rest of the frame is left untouched. The runtime crops each box
from every frame, resizes it to S x S (letterboxing with edge padding when the frame
is narrower than the box), fills the region's hole and pastes back only hole pixels
inside the box, region after region.

Rules of ``mode="crop"`` (the numbers are the module constants below):

* Pieces: 8-connected components of the hole per frame, labelled on a block
  grid (block = S // 8 px, so holes within ~2 blocks join, a cheap stand-in for a
  pixel dilation), each refined to its exact bounding box at full resolution; pieces of
  a frame whose boxes overlap once grown by ``dilation`` px are joined (the dilation is
  done on boxes, never on the video).
* Context: ``context`` px around the dilated box; by default it scales with the hole,
  ``clip(0.25 * longer side, S // 4, 2 * S)`` (2 * S = 128 = IOPaint's crop_margin).
  A hole that fits in S with at least ``min(context, S // 8)`` px on each side gets an
  S-sized box instead (zoom exactly 1: a plain crop, no resampling); its margin is then
  the room left, ``min(context, (S - extent) // 2)``. Such a piece asks only for the fair
  margin (the squaring adds the rest), so a small hole whose outline jitters from frame to
  frame (the part of a hole propagation leaves to the model) still fits one S-sized box
  rather than a union a pixel or two larger, which would resample every pixel. The box
  is squared with a side of at least S (zoom >= 1: upsampling a tiny crop gains nothing), moved inward at frame
  edges, and spans an axis outright where the side exceeds the frame.
* Time: a box is fixed for all frames of its region (the model needs a still camera).
  Pieces are swept in order of frame (raster order within one); a piece joins the
  existing region whose box it overlaps if the union's side stays <= GROW (1.5) x the
  larger single-piece side (GROW_SHORT, 2.0, while the region has fewer than ``window``
  frames) or does not grow, choosing the smallest union; else it starts a new region. A
  still hole is therefore one region for all its frames; a moving one becomes a sequence
  of regions, roughly one per half box side of travel. Smaller boxes mean a sharper fill
  but more regions, i.e. more model calls; a region with fewer than K frames costs as
  much as one with K, hence the looser cap until a region has ``window`` frames.
* Ownership, not merging: a region owns the pieces that joined it (``Region.pieces``)
  and fills only those; boxes may overlap (a caption's region and that of a hole passing
  near it), and the runtime runs regions in order, so a later region sees what earlier
  ones filled as known pixels and the holes other regions still have to fill as unknown
  ones. Merging overlapping boxes instead would chain: two neighbouring holes' regions
  would become one box around both, at a coarser zoom for every frame of both.
* Caps: over ``max_regions``, regions are merged pairwise, cheapest first (least growth
  of the box side; a grid pre-clustering when there are over GREEDY_MAX), with their
  pieces. A region whose box covers >= FULL_FRAC (75 %) of the frame becomes the whole
  frame, owning every hole pixel of its frames; regions sharing a frame with it join
  it. Each is noted in ``RegionPlan.notes``.

Guarantee (checked by tests/test_regions.py): every hole pixel of frame t is owned by
exactly one region listing t, at least ``dilation + min(context, S // 8)`` px (default
4 + 8) from every edge of that region's box that is not on the frame border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vidsched.errors import MaskError
from vidsched.frames_text import compact_ranges

REGION_MODES = ("auto", "crop", "full")  # vidsched run --region
GROW = 1.5  # a region's side may reach GROW x the side one of its frames needs
GROW_SHORT = 2.0  # ... and GROW_SHORT x while it has fewer than `window` frames
AUTO_FULL_ZOOM = 1.25  # auto: a frame that fits the model at this zoom is used whole
AUTO_GAIN = 0.8  # auto: crop only if some region's zoom is below AUTO_GAIN x full zoom
FULL_FRAC = 0.75  # a region box covering this much of the frame becomes the frame
GREEDY_MAX = 256  # more regions than this over the cap: grid pre-clustering first
_CHUNK = 64  # frames labelled at once (bounds memory)


@dataclass(frozen=True)
class Region:
    """A box (source pixels, half-open, inside the frame) and the frames it fills."""

    y0: int
    x0: int
    y1: int
    x1: int
    frames: tuple[int, ...]  # sorted; the frames whose hole pixels inside the box it fills
    zoom: float  # source pixels per model pixel: max(height, width) / S
    # The parts of the hole it owns: (t, y0, x0, y1, x1) boxes (source pixels, half-open).
    # Empty: every hole pixel of its box in its frames (a whole-frame region, a tile).
    pieces: tuple[tuple[int, int, int, int, int], ...] = ()

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def side(self) -> int:
        return max(self.height, self.width)

    @property
    def area(self) -> int:
        return self.height * self.width

    @property
    def slices(self) -> tuple[slice, slice]:
        """``frame[region.slices]`` is the crop."""
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def contains(self, y: int, x: int) -> bool:
        return self.y0 <= y < self.y1 and self.x0 <= x < self.x1

    def owned(self, num_frames: int) -> np.ndarray:
        """``(num_frames, height, width)`` bool over the box: where the region may fill
        (its pieces in its frames; with no pieces, its whole box in its frames)."""
        own = np.zeros((num_frames, self.height, self.width), bool)
        if not self.pieces:
            own[list(self.frames)] = True
        for t, y0, x0, y1, x1 in self.pieces:
            own[t, y0 - self.y0:y1 - self.y0, x0 - self.x0:x1 - self.x0] = True
        return own


@dataclass(frozen=True)
class RegionPlan:
    """Regions in processing order; ``mode`` is what ``auto`` resolved to."""

    regions: tuple[Region, ...]
    mode: str  # "full" or "crop"
    notes: tuple[str, ...]  # merges, caps hit, fallbacks (for the CLI summary)
    frame_shape: tuple[int, int]  # (H, W) of the hole the plan was made for

    def summary(self, limit: int = 4) -> str:
        """E.g. ``crop, 2 regions: 64x64 at zoom 1 (frames 0-59), 96x96 at zoom 1.5
        (frames 3-9,12)``; at most ``limit`` regions are spelled out."""
        n = len(self.regions)
        head = f"{self.mode}, {n} region{'s' if n != 1 else ''}"
        parts = [f"{r.height}x{r.width} at zoom {r.zoom:.3g} (frames {compact_ranges(r.frames, 4, sep=',')})"
                 for r in self.regions[:limit]]
        if n > limit:
            parts.append(f"... {n - limit} more")
        return head + (": " + ", ".join(parts) if parts else "")


class _Geo:
    """Frame size and model size: turns needed boxes (y0, x0, y1, x1) into square ones."""

    def __init__(self, S: int, H: int, W: int):
        self.S, self.H, self.W = S, H, W

    def side(self, b) -> int:
        """The side of b's square box, as the model sees it (spans stop at the frame)."""
        return min(max(b[2] - b[0], b[3] - b[1], self.S), max(self.H, self.W))

    def sides(self, y0, x0, y1, x1) -> np.ndarray:
        return np.minimum(np.maximum(np.maximum(y1 - y0, x1 - x0), self.S), max(self.H, self.W))

    def square(self, b) -> tuple[int, int, int, int]:
        """Smallest square of side >= S containing b, moved inward, spanning short axes."""
        s = max(b[2] - b[0], b[3] - b[1], self.S)
        out = []
        for a, e, n in ((b[0], b[2], self.H), (b[1], b[3], self.W)):
            if s >= n:
                out.append((0, n))
            else:
                start = min(max((a + e - s) // 2, 0), n - s)
                out.append((start, start + s))
        return out[0][0], out[1][0], out[0][1], out[1][1]


def _downsample(m: np.ndarray, f: int) -> np.ndarray:
    """Block-any of (n, H, W) by f x f (rows by a contiguous reduce, columns by strided
    ORs on the f-times smaller result: much faster than reshape().any(axis=(2, 4)))."""
    if f == 1:
        return m
    n, H, W = m.shape
    full = H // f * f
    words = m.view(np.uint64) if W % 8 == 0 and m.flags.c_contiguous else m  # OR 8 px at once
    rows = np.bitwise_or.reduce(words[:, :full].reshape(n, H // f, f, -1), axis=2).view(bool)
    if full < H:
        rows = np.concatenate([rows, m[:, full:].any(axis=1, keepdims=True)], axis=1)
    out = np.zeros((n, rows.shape[1], -(-W // f)), bool)
    for k in range(f):
        part = rows[:, :, k::f]
        out[:, :, :part.shape[2]] |= part
    return out


def _components(hole: np.ndarray, busy: np.ndarray, f: int) -> np.ndarray:
    """Rows (t, y0, x0, y1, x1): exact boxes of the block-grid components of the frames
    ``busy`` (those with a hole), by t."""
    T, H, W = hole.shape
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # 8-connected within a frame, never across frames
    rows = []
    for c in range(0, len(busy), _CHUNK):
        ts = busy[c:c + _CHUNK]
        contiguous = ts[-1] - ts[0] + 1 == len(ts)
        m = hole[ts[0]:ts[-1] + 1] if contiguous else hole[ts]  # a view when it can
        labels, _ = ndimage.label(_downsample(m, f), structure=structure)
        for sl in ndimage.find_objects(labels):
            i = sl[0].start
            ya, yb = sl[1].start * f, min(sl[1].stop * f, H)
            xa, xb = sl[2].start * f, min(sl[2].stop * f, W)
            sub = m[i, ya:yb, xa:xb]
            ys, xs = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
            rows.append((ts[i], ya + ys[0], xa + xs[0], ya + ys[-1] + 1, xa + xs[-1] + 1))
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def _needed(comps: np.ndarray, geo: _Geo, context: int | None, dilation: int) -> np.ndarray:
    """The box each component needs: dilated box plus its context, clipped to the frame."""
    S = geo.S
    e = comps[:, 1:5] + np.array([-dilation, -dilation, dilation, dilation])
    eh, ew = e[:, 2] - e[:, 0], e[:, 3] - e[:, 1]
    ext = np.maximum(eh, ew)
    if context is None:
        ctx = np.clip(np.ceil(0.25 * ext).astype(np.int64), S // 4, 2 * S)
    else:
        ctx = np.full(len(e), context, np.int64)
    snap = ext + 2 * np.minimum(ctx, S // 8) <= S  # fits at zoom 1 with a fair margin
    my = np.where(snap, np.minimum(ctx, S // 8), ctx)
    mx = np.where(snap, np.minimum(ctx, S // 8), ctx)
    nb = np.stack([e[:, 0] - my, e[:, 1] - mx, e[:, 2] + my, e[:, 3] + mx], axis=1)
    return np.clip(nb, 0, np.array([geo.H, geo.W, geo.H, geo.W]))


def _overlap_groups(boxes: np.ndarray) -> list[list[int]]:
    """Indices of ``boxes`` (n x 4: y0, x0, y1, x1) grouped so that boxes overlapping,
    directly or through others, share a group (their union boxes are then disjoint)."""
    boxes = np.array(boxes, dtype=np.int64).reshape(-1, 4)
    groups = [[k] for k in range(len(boxes))]
    alive = np.ones(len(boxes), bool)
    i = 0
    while i < len(boxes):
        if alive[i]:
            b = boxes[i]
            hit = (alive & (boxes[:, 0] < b[2]) & (boxes[:, 2] > b[0]) & (boxes[:, 1] < b[3]) & (boxes[:, 3] > b[1]))
            hit[i] = False
            if hit.any():
                for j in np.flatnonzero(hit):
                    groups[i] += groups[j]
                boxes[i] = (min(b[0], boxes[hit, 0].min()), min(b[1], boxes[hit, 1].min()),
                            max(b[2], boxes[hit, 2].max()), max(b[3], boxes[hit, 3].max()))
                alive[hit] = False
                continue  # check i again with its bigger box
        i += 1
    return [sorted(groups[k]) for k in np.flatnonzero(alive)]


def _bound(boxes: np.ndarray) -> list[int]:
    """The union box of the rows of ``boxes`` (n x 4)."""
    return [int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max())]


def _frame_items(pieces: np.ndarray, geo: _Geo, context, dilation: int, crowd: int) -> list:
    """Items (t, needed box, piece box) of one frame's pieces (rows t, y0, x0, y1, x1).

    Pieces whose boxes overlap once grown by ``dilation`` are one hole (or holes too close
    to fill apart) and are joined first. A frame with more than ``crowd`` pieces left
    (specks: more than the region cap could keep apart) also joins pieces whose square
    boxes overlap, so that planning stays fast and the specks share regions."""
    t = int(pieces[0, 0])
    boxes = pieces[:, 1:5]
    grown = boxes + np.array([-dilation, -dilation, dilation, dilation])
    boxes = np.array([_bound(boxes[g]) for g in _overlap_groups(grown)], np.int64).reshape(-1, 4)
    needed = _needed(np.c_[np.full(len(boxes), t), boxes], geo, context, dilation)
    if len(boxes) > crowd:
        groups = _overlap_groups(np.array([geo.square(b) for b in needed]))
        boxes = np.array([_bound(boxes[g]) for g in groups], np.int64)
        needed = np.array([_bound(needed[g]) for g in groups], np.int64)
    order = np.lexsort((boxes[:, 1], boxes[:, 0]))  # raster order of the pieces
    return [(t, list(map(int, needed[k])), (t, *map(int, boxes[k]))) for k in order]


def _track(items: list, geo: _Geo, window: int) -> tuple[list, list, list]:
    """Sweep frames in order; each item (t, needed box) joins the overlapping region whose
    union box stays smallest within the growth cap, or starts a new region. Returns each
    region's needed box, frames and items (indices into ``items``)."""
    cap = 64
    nb = np.zeros((cap, 4), np.int64)
    ref, own, count, last = np.zeros(cap), np.zeros(cap), np.zeros(cap, np.int64), np.full(cap, -1)
    frames: list[list[int]] = []
    members: list[list[int]] = []
    for k, (t, b) in enumerate(items):
        r, side = len(frames), geo.side(b)
        if r:
            u0, u1 = np.minimum(nb[:r, 0], b[0]), np.minimum(nb[:r, 1], b[1])
            u2, u3 = np.maximum(nb[:r, 2], b[2]), np.maximum(nb[:r, 3], b[3])
            sides = geo.sides(u0, u1, u2, u3)
            limit = np.where(count[:r] < window, GROW_SHORT, GROW) * np.maximum(ref[:r], side)
            grows = sides > own[:r]  # joining inside a region's box is always fine
            ok = ((nb[:r, 0] < b[2]) & (nb[:r, 2] > b[0]) & (nb[:r, 1] < b[3]) & (nb[:r, 3] > b[1])
                  & ((sides <= limit) | ~grows))
            if ok.any():
                j = int(np.argmin(np.where(ok, sides, np.inf)))
                nb[j] = (u0[j], u1[j], u2[j], u3[j])
                ref[j], own[j] = max(ref[j], side), sides[j]
                members[j].append(k)
                if last[j] != t:
                    count[j] += 1
                    last[j] = t
                    frames[j].append(t)
                continue
        if r == cap:
            cap *= 2
            nb = np.concatenate([nb, np.zeros_like(nb)])
            ref, own, count, last = (np.concatenate([a, np.zeros_like(a)]) for a in (ref, own, count, last))
        nb[r], ref[r], own[r], count[r], last[r] = b, side, side, 1, t
        frames.append([t])
        members.append([k])
    return ([list(map(int, nb[k])) for k in range(len(frames))], [set(f) for f in frames],
            [list(m) for m in members])


def _cap(nbs: list, fsets: list, members: list, geo: _Geo, max_regions: int) -> tuple[list, list, list]:
    """Merge regions, cheapest first, until at most max_regions remain."""
    cell = geo.S
    while len(nbs) > max(max_regions, GREEDY_MAX):  # grid clustering of the box centres
        boxes = np.array([geo.square(b) for b in nbs])
        key = ((boxes[:, 0] + boxes[:, 2]) // (2 * cell)) * (geo.W + 1) + (boxes[:, 1] + boxes[:, 3]) // (2 * cell)
        _, group = np.unique(key, return_inverse=True)
        merged_nb: dict[int, list] = {}
        merged_fs: dict[int, set] = {}
        merged_ms: dict[int, list] = {}
        for k, g in enumerate(group.ravel().tolist()):
            merged_nb[g] = _bound(np.array([merged_nb[g], nbs[k]])) if g in merged_nb else list(nbs[k])
            merged_fs[g] = merged_fs.get(g, set()) | fsets[k]
            merged_ms[g] = merged_ms.get(g, []) + members[k]
        keys = sorted(merged_nb)
        nbs, fsets, members = [merged_nb[g] for g in keys], [merged_fs[g] for g in keys], [merged_ms[g] for g in keys]
        cell *= 2
    if len(nbs) <= max_regions:
        return nbs, fsets, members
    nb = np.array(nbs, np.int64)
    own = geo.sides(*nb.T).astype(float)

    def costs(i: int) -> np.ndarray:
        u = geo.sides(np.minimum(nb[:, 0], nb[i, 0]), np.minimum(nb[:, 1], nb[i, 1]),
                      np.maximum(nb[:, 2], nb[i, 2]), np.maximum(nb[:, 3], nb[i, 3]))
        return u - np.maximum(own, own[i]) + 1e-3 * u  # growth first, then size

    cost = np.stack([costs(i) for i in range(len(nb))])
    np.fill_diagonal(cost, np.inf)
    alive = np.ones(len(nb), bool)
    fsets, members = [set(f) for f in fsets], [list(m) for m in members]
    for _ in range(len(nb) - max_regions):
        i, j = divmod(int(np.argmin(cost)), len(nb))
        i, j = min(i, j), max(i, j)
        nb[i] = _bound(nb[[i, j]])
        own[i] = geo.side(nb[i])
        fsets[i] |= fsets[j]
        members[i] += members[j]
        alive[j] = False
        cost[j, :] = cost[:, j] = np.inf
        row = np.where(alive, costs(i), np.inf)
        row[i] = np.inf
        cost[i, :] = cost[:, i] = row
    keep = np.flatnonzero(alive)
    return [list(map(int, nb[k])) for k in keep], [fsets[k] for k in keep], [members[k] for k in keep]


def _absorb(nbs: list, fsets: list, members: list, full: list[bool], frame_box: list[int]
            ) -> tuple[list, list, list]:
    """Whole-frame regions take over: a region sharing a frame with one becomes whole-frame
    too (until none does), and whole-frame regions sharing a frame become one. A whole-
    frame region owns every hole pixel of its frames (no pieces)."""
    full = list(full)
    while True:
        covered = set().union(*(f for f, w in zip(fsets, full) if w))
        grow = [k for k, (f, w) in enumerate(zip(fsets, full)) if not w and not f.isdisjoint(covered)]
        if not grow:
            break
        for k in grow:
            full[k] = True
    groups: list[set] = []
    for k in np.flatnonzero(full):
        merged = set(fsets[k])
        for g in [g for g in groups if not g.isdisjoint(merged)]:
            merged |= g
            groups.remove(g)
        groups.append(merged)
    keep = [k for k in range(len(nbs)) if not full[k]]
    return ([nbs[k] for k in keep] + [list(frame_box) for _ in groups], [fsets[k] for k in keep] + groups,
            [members[k] for k in keep] + [[] for _ in groups])


def _crop(hole: np.ndarray, busy, geo: _Geo, context, dilation, max_regions, window):
    """Needed boxes, frame sets and pieces (t, y0, x0, y1, x1) of the crop regions, and notes."""
    S, H, W = geo.S, geo.H, geo.W
    comps = _components(hole, np.asarray(busy), max(1, min(8, S // 8)))
    bounds = np.flatnonzero(np.diff(comps[:, 0])) + 1
    items, crowded = [], 0
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(comps)]):
        crowded += hi - lo > max_regions
        items += _frame_items(comps[lo:hi], geo, context, dilation, max_regions)
    pieces = [piece for _, _, piece in items]
    nbs, fsets, members = _track([(t, b) for t, b, _ in items], geo, window)
    notes = []
    if crowded:
        notes.append(f"{crowded} frame{'s' if crowded != 1 else ''} with more separate holes than max_regions = "
                     f"{max_regions}: holes whose boxes overlap there were merged")
    if len(nbs) > max_regions:
        notes.append(f"{len(nbs)} regions over max_regions = {max_regions}: merged the closest")
        nbs, fsets, members = _cap(nbs, fsets, members, geo, max_regions)
    full = [_area(geo.square(b)) >= FULL_FRAC * H * W for b in nbs]
    if any(full):
        worst = max(_area(geo.square(b)) for b, f in zip(nbs, full) if f) / (H * W)
        why = (f"the frame ({W}x{H}) is no larger than the model's input ({S}x{S})" if max(H, W) <= S
               else f"a region around the hole needs {worst:.0%} of the frame")
        nbs, fsets, members = _absorb(nbs, fsets, members, full, [0, 0, H, W])
        count = sum(len(f) for b, f in zip(nbs, fsets) if b == [0, 0, H, W])
        notes.append(f"{why}: whole frame for {count} frame{'s' if count != 1 else ''}")
    parts = [tuple(pieces[k] for k in sorted(m)) for m in members]
    return nbs, fsets, parts, notes


def _area(box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def plan_regions(hole, model_size: int = 64, *, mode: str = "auto", context: int | None = None,
                 dilation: int = 4, max_regions: int = 32, window: int = 8) -> RegionPlan:
    """Plan the regions the model fills, for a (T, H, W) bool hole (True = fill).

    ``mode``: ``"full"`` is one region, the whole frame (zoom max(H, W) / S, letterboxed,
    never stretched), listing every frame with a hole. ``"crop"`` follows the rules in
    the module docstring. ``"auto"`` is crop unless crop gains nothing: the frame fits
    the model at zoom <= AUTO_FULL_ZOOM (1.25), or every crop region's zoom is >=
    AUTO_GAIN (0.8) x the full zoom (no region is 25 % sharper; crops would only add
    model calls and seams), e.g. a hole that covers most of the frame.
    ``context`` (px, default scaled with the hole), ``dilation`` (px), ``max_regions``
    and ``window`` (K, the frames per model call) are described there too.
    Deterministic; a 2000-frame 640x480 video plans in well under a second.
    """
    hole = np.asarray(hole)
    if hole.ndim == 2:
        hole = hole[None]
    if hole.ndim != 3 or 0 in hole.shape:
        raise MaskError(f"hole must be a non-empty T x H x W array, got shape {hole.shape}")
    hole = hole.astype(bool, copy=False)
    if mode not in REGION_MODES:
        raise ValueError(f"mode must be 'auto', 'full' or 'crop', not {mode!r}")
    if model_size < 1 or dilation < 0 or max_regions < 1 or window < 1 or (context is not None and context < 0):
        raise ValueError("need model_size >= 1, dilation >= 0, max_regions >= 1, window >= 1, context >= 0")
    T, H, W = hole.shape
    geo = _Geo(int(model_size), H, W)
    z_full = max(H, W) / model_size
    busy = tuple(int(t) for t in np.flatnonzero(hole.reshape(T, -1).any(axis=1)))
    if not busy:
        return RegionPlan((), "crop" if mode == "crop" else "full", ("no hole pixels: nothing to fill",), (H, W))
    full = (Region(0, 0, H, W, busy, z_full),)
    if mode == "full":
        return RegionPlan(full, "full", (), (H, W))
    if mode == "auto" and z_full <= AUTO_FULL_ZOOM:
        return RegionPlan(full, "full", (f"auto: the frame fits the model at zoom {z_full:.3g}: whole frame",), (H, W))
    nbs, fsets, parts, notes = _crop(hole, busy, geo, context, int(dilation), int(max_regions), int(window))
    regions = []
    for b, fs, own in zip(nbs, fsets, parts):
        y0, x0, y1, x1 = (int(v) for v in geo.square(b))
        regions.append(Region(y0, x0, y1, x1, tuple(sorted(int(t) for t in fs)), max(y1 - y0, x1 - x0) / model_size,
                              own))
    regions.sort(key=lambda r: (r.frames[0], r.y0, r.x0, r.frames))
    if mode == "auto" and min(r.zoom for r in regions) >= AUTO_GAIN * z_full:
        notes.append(f"auto: crop regions are no sharper than the whole frame (zoom {z_full:.3g}): whole frame")
        return RegionPlan(full, "full", tuple(notes), (H, W))
    return RegionPlan(tuple(regions), "crop", tuple(notes), (H, W))


def draw_regions(frame_rgb_uint8: np.ndarray, hole_frame: np.ndarray | None, plan: RegionPlan,
                 frame_index: int) -> np.ndarray:
    """A picture of the plan on one frame: hole tinted red, every region's box with its
    number and zoom; boxes of regions that fill this frame green, the others grey."""
    import cv2  # only here: the planner itself needs no OpenCV

    img = np.array(frame_rgb_uint8, dtype=np.uint8, copy=True)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    H, W = img.shape[:2]
    if hole_frame is not None:
        m = np.asarray(hole_frame, bool)
        img[m] = (0.45 * img[m] + 0.55 * np.array([255, 32, 32])).astype(np.uint8)
    scale = max(0.3, min(H, W) / 600)
    thick = max(1, round(min(H, W) / 300))
    for k, r in enumerate(plan.regions, 1):
        active = frame_index in r.frames
        colour = (0, 255, 0) if active else (170, 170, 170)
        cv2.rectangle(img, (r.x0, r.y0), (r.x1 - 1, r.y1 - 1), colour, thick + int(active))
        org = (r.x0 + 3 * thick, r.y0 + int(22 * scale) + 2 * thick)
        cv2.putText(img, f"{k} z{r.zoom:.2g}", org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    return img


REFINE_MIN_ZOOM = 1.5  # regions coarser than this get a finer pass when refinement is on


def refinement_tiles(region: Region, hole: np.ndarray, model_size: int = 64, overlap: float = 0.25
                     ) -> tuple[Region, ...]:
    """Tiles for a coarse-to-fine pass over ``region``: squares of about half its side
    (never below the model's size), overlapping by ``overlap`` of a side, covering its box;
    only tiles with hole pixels in the region's frames are kept, each listing those frames.

    A region at zoom z is filled first at zoom z; its tiles then refine the fill at zoom
    ~z / 2 from an intermediate noise level (SDEdit), so a big hole gets a coherent layout
    from the coarse pass and detail from the fine one."""
    side = max(model_size, -(-region.side // 2))
    if side >= region.side:
        return ()
    step = max(1, int(side * (1 - overlap)))

    def starts(lo: int, hi: int) -> list[int]:
        if hi - lo <= side:
            return [lo]
        out = list(range(lo, hi - side, step))
        return out + [hi - side]

    frames = list(region.frames)
    tiles = []
    for y in starts(region.y0, region.y1):
        for x in starts(region.x0, region.x1):
            y1, x1 = min(y + side, region.y1), min(x + side, region.x1)
            busy = hole[frames, y:y1, x:x1].reshape(len(frames), -1).any(axis=1)
            if busy.any():
                tiles.append(Region(y, x, y1, x1, tuple(int(f) for f, b in zip(frames, busy) if b),
                                    max(y1 - y, x1 - x) / model_size))
    return tuple(tiles)
