"""The mask as a scheme sees it: each frame's hole on a coarse grid of cells, as a bitset.

The mask-aware built-ins (``hole_fraction``, ``coverage``, ``informative``,
:mod:`vidsched.lang.builtins`) ask how big a frame's hole is and which other frames know
the pixels it misses. Asked on every stage of a 10,000-frame video, they must be cheap
and exact, so the mask is reduced once, before the scheme runs:

* The frame is cut into a grid of at most ``GRID`` x ``GRID`` cells (32 x 32): the rows
  into ``min(GRID, H)`` bands as equal as possible (band ``i`` of ``n`` holds the rows
  ``i * H // n`` to ``(i + 1) * H // n - 1``), the columns likewise.
* A cell is a **hole** of a frame when *any* of its pixels is to be filled, and **known**
  otherwise (all its pixels are known in the input).
* Frame ``f``'s hole is a Python int with bit ``r * cols + c`` set for each hole cell:
  ``hole_a & ~hole_b`` is the cells of a's hole that b knows, ``int.bit_count`` counts
  them.

"Known" is about the input video (the mask), not about what the scheme has generated so
far: the values depend only on the mask, so a plan is a function of the scheme, its
parameters and the mask. The hole of a *set* of frames is the union of its frames'
holes; a cell of it is known in a set ``B`` when at least one frame of ``B`` knows it.
Every value is exact (a whole number or a fraction), so plans stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from vidsched.frames import FrameSet

GRID = 32  # the most cells per side
_CHUNK = 1024  # frames reduced at a time (bounds the memory of from_mask)


def _number(x: Fraction) -> int | Fraction:
    """A fraction with denominator 1 as a whole number, as the language's numbers are."""
    return x.numerator if x.denominator == 1 else x


@dataclass(frozen=True)
class HoleMap:
    """Each frame's hole on a ``rows`` x ``cols`` grid (bit ``r * cols + c``)."""

    rows: int
    cols: int
    holes: tuple[int, ...]  # one bitset per frame

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1:
            raise ValueError(f"a hole map needs at least one cell, got {self.rows} x {self.cols}")
        top = 1 << self.cells
        if any(h < 0 or h >= top for h in self.holes):
            raise ValueError(f"a frame's hole has bits outside the {self.rows} x {self.cols} grid")

    @property
    def cells(self) -> int:
        return self.rows * self.cols

    @property
    def num_frames(self) -> int:
        return len(self.holes)

    @classmethod
    def from_mask(cls, hole, grid: int = GRID) -> HoleMap:
        """From a bool array T x H x W (True = a pixel to fill)."""
        import numpy as np

        hole = np.asarray(hole, dtype=bool)
        if hole.ndim != 3 or 0 in hole.shape:
            raise ValueError(f"a mask must be T x H x W, got shape {hole.shape}")
        pixels = np.ascontiguousarray(hole).view(np.uint8)  # OR on bytes: faster than on bools
        T, H, W = hole.shape
        rows, cols = min(grid, H), min(grid, W)
        row_starts = (np.arange(rows) * H) // rows
        col_starts = (np.arange(cols) * W) // cols
        holes: list[int] = []
        for lo in range(0, T, _CHUNK):
            part = np.bitwise_or.reduceat(pixels[lo : lo + _CHUNK], row_starts, axis=1)
            part = np.bitwise_or.reduceat(part, col_starts, axis=2)  # 0 or 1 per cell
            packed = np.packbits(part.reshape(len(part), -1), axis=1, bitorder="little")
            holes.extend(int.from_bytes(row.tobytes(), "little") for row in packed)
        return cls(rows, cols, tuple(holes))

    def complete_frames(self) -> list[int]:
        """Frames without a hole (a hole cell has at least one pixel to fill)."""
        return [f for f, h in enumerate(self.holes) if not h]

    # ---- queries (frame sets are inside the video: the language clips them) ------------
    def union(self, frames: FrameSet) -> int:
        """The cells that are a hole in at least one frame of ``frames``."""
        out = 0
        holes = self.holes
        for lo, hi in frames.runs:
            for h in holes[lo:hi]:
                out |= h
        return out

    def common(self, frames: FrameSet) -> int:
        """The cells that are a hole in every frame of ``frames`` (known in none of them);
        every cell for the empty set."""
        out = (1 << self.cells) - 1
        holes = self.holes
        for lo, hi in frames.runs:
            for h in holes[lo:hi]:
                out &= h
                if not out:
                    return 0
        return out

    def hole_fraction(self, frames: FrameSet) -> int | Fraction:
        """The share of the grid's cells in the hole of ``frames`` (0 to 1)."""
        return _number(Fraction(self.union(frames).bit_count(), self.cells))

    def coverage(self, target: FrameSet, by: FrameSet) -> int | Fraction:
        """The share of the hole of ``target`` that ``by`` knows: its cells known in at
        least one frame of ``by`` (1 when ``target`` has no hole, 0 when ``by`` is empty)."""
        need = self.union(target)
        if not need:
            return 1
        left = need & self.common(by)
        return _number(Fraction(need.bit_count() - left.bit_count(), need.bit_count()))

    def informative(self, target: FrameSet, candidates: FrameSet, n: int,
                    charge: Callable[[int], None] | None = None) -> FrameSet:
        """At most ``n`` frames of ``candidates`` that know most of the hole of ``target``,
        chosen greedily: each pick knows the most cells of it that the earlier picks did
        not (ties: the frame nearest to the span of ``target``, then the earlier one); it
        stops early when no candidate knows a cell still missing.

        ``charge(units)`` is told the work of the greedy rounds before they run: one unit
        per pick and candidate left after one pass over ``candidates`` (which keeps one
        frame per distinct hole, and none that knows no cell of the hole)."""
        need = self.union(target)
        if not need or n <= 0 or not candidates:
            return FrameSet.empty()
        lo_t, hi_t = target.min(), target.max()
        full = (1 << self.cells) - 1
        # One representative per distinct hole, the nearest: frames with the same hole know
        # the same cells, so after one of them is picked the others add nothing.
        best: dict[int, tuple[int, int]] = {}
        holes = self.holes
        for lo, hi in candidates.runs:
            for f in range(lo, hi):
                h = holes[f]
                if not need & ~h:  # knows no cell of the hole
                    continue
                key = (lo_t - f if f < lo_t else f - hi_t if f > hi_t else 0, f)
                old = best.get(h)
                if old is None or key < old:
                    best[h] = key
        pool = [(full & ~h, key) for h, key in best.items()]
        if charge is not None:
            charge(len(pool) * min(n, len(pool)))
        picked: list[int] = []
        while pool and len(picked) < n:
            top, top_key, top_i = 0, None, -1
            for i, (known, key) in enumerate(pool):
                gain = (need & known).bit_count()
                if gain > top or (gain == top and gain and key < top_key):
                    top, top_key, top_i = gain, key, i
            if not top:
                break
            known, key = pool.pop(top_i)
            picked.append(key[1])
            need &= ~known
        return FrameSet.of(picked)
