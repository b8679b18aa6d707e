"""Frame sets: immutable sorted sets of frame indices, stored as runs, periodic segments
or a bitmask.

Sampling schemes manipulate sets such as ``todo`` (every frame not yet generated) on
every stage, and some schemes work on fragmented sets (every 3rd frame: thousands of
runs). A set has one of three forms:

* at most ``MAX_RUNS`` maximal runs of consecutive frames: a tuple of half-open
  ``(lo, hi)`` intervals. ``todo``, ``done``, a stage's window: every operation
  (union, ``first(todo, step)``, ``last(done, n)``, ``len``, listing) costs O(runs),
  whatever T is, and the set takes O(runs) memory, so a scheme of T / step stages
  compiles in time and memory linear in T;
* more runs that follow a few periodic patterns (every 3rd frame; every frame but every
  3rd; the keyframes of several levels together): at most ``MAX_SEGS`` *segments*
  ``(lo, hi, period, pattern)``, each holding the frames f of lo..hi-1 whose residue
  ``f % period`` is a bit of ``pattern`` (period <= ``MAX_PERIOD``). Operations on such
  sets (and on sets of runs) cost O(segments): a boundary sweep that combines the two
  patterns of every piece with one small-integer operation over lcm(periods) bits, so
  ``keys & todo`` on a video of 10^6 frames costs the same as on 10^3 frames;
* other sets (irregular and fragmented): one big-integer bitmask, bit ``f`` standing for
  frame ``f``; union, intersection and difference are single C-level big-integer
  operations (``|``, ``&``, ``& ~``) over max/64 machine words, and positional selection
  (the n-th member) is a binary search on popcounts.

The form is chosen automatically: runs when there are few, else periodic segments when
a few suffice (recognised in run lists as they grow, e.g. ``done | block``, and kept by
the operations), else a bitmask; results of bitmask operations take the run form again
when they have few runs. Runs are the canonical form of a set of at most ``MAX_RUNS``
runs (equal sets of few runs have equal forms); a set of more runs compares equal to an
equal set whatever its form. :func:`work_done` counts the bitmask work done (in frames
/ ``FRAMES_PER_WORK`` per pass over a mask) and the Python work on segments
(``SEG_OP_WORK``, ``SEG_WORK``), which the evaluator charges as evaluation steps: a set
operation costs what it actually does, not a function of T, at about the evaluator's
rate of steps per second, so a loop of set operations runs out of fuel in about the
time the budget stands for.

Frames are non-negative: constructors drop negative numbers (sets are clipped to the
video, 0..T-1, by the evaluator anyway).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator

from vidsched.framebits import (
    FRAMES_PER_WORK,
    MAX_PERIOD,
    MAX_RUNS,
    SEG_OP_WORK,
    SEG_WORK,
    Work,
    _bits_of_runs,
    _bits_of_segs,
    _compress,
    _count,
    _mask,
    _normalize,
    _nth_bit,
    _rot,
    _runs_of_bits,
    _seg_op,
    _seg_run_count,
    _seg_runs,
    _select_in,
    _splice,
    _window_bits,
)

__all__ = ["FrameSet", "MAX_FRAME", "MAX_RUNS", "MAX_SEGS", "work_done"]

MAX_FRAME = 1 << 31  # a guard against building absurdly large masks by mistake
_FEW = 32  # runs (or members) few enough to find one by one with whole-mask operations
MAX_SEGS = 64  # a set of more runs is stored as at most this many periodic segments (framebits.MAX_PERIOD)
_WINDOW = 4096  # operations within this many frames combine bits (_seg_algebra)


class FrameSet:
    """An immutable, sorted set of non-negative frame indices."""

    __slots__ = ("_runs", "_segs", "_bits", "_n")  # _n: len of a set of segments, once known

    def __init__(self, bits: int = 0) -> None:
        """From a bitmask (bit f set when frame f is a member)."""
        Work.done += 2 * (bits.bit_length() // FRAMES_PER_WORK)  # made, and its runs counted
        self._segs = None
        if bits and (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
            self._runs, self._bits = tuple(_runs_of_bits(bits)), None
        else:
            self._runs, self._bits = (None if bits else ()), (bits if bits else None)

    @staticmethod
    def _of_runs(runs) -> FrameSet:
        """From sorted, disjoint, non-adjacent, non-empty runs (any number of them)."""
        if not runs:
            return _EMPTY
        if len(runs) > MAX_RUNS:
            segs = _compress(runs)
            if len(segs) <= MAX_SEGS:
                return FrameSet._stored_segs(segs)
            return FrameSet._of_bits(_bits_of_runs(runs))
        s = object.__new__(FrameSet)
        s._runs, s._segs, s._bits = tuple(runs), None, None
        return s

    @staticmethod
    def _stored_segs(segs) -> FrameSet:
        """From stored segments of more than MAX_RUNS runs."""
        s = object.__new__(FrameSet)
        s._runs, s._segs, s._bits, s._n = None, tuple(segs), None, None
        return s

    @staticmethod
    def _of_segs(pieces) -> FrameSet:
        """From sorted, disjoint segments (any patterns, maybe empty): runs when they make
        few, segments when few suffice, else a bitmask."""
        return FrameSet._of_normal(_normalize(pieces))

    @staticmethod
    def _of_normal(segs) -> FrameSet:
        """From stored segments (_normalize): runs when they make few, else segments
        when few suffice, else a bitmask."""
        if not segs:
            return _EMPTY
        if _seg_run_count(segs, MAX_RUNS) <= MAX_RUNS:
            return FrameSet._of_runs(list(_seg_runs(segs)))
        if len(segs) > MAX_SEGS:
            return FrameSet._of_bits(_bits_of_segs(segs))
        return FrameSet._stored_segs(segs)

    @staticmethod
    def _of_bits(bits: int) -> FrameSet:
        Work.done += 2 * (bits.bit_length() // FRAMES_PER_WORK)  # made, and its runs counted
        if not bits:
            return _EMPTY
        s = object.__new__(FrameSet)
        s._segs = None
        if (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
            s._runs, s._bits = tuple(_runs_of_bits(bits)), None
        else:
            s._runs, s._bits = None, bits
        return s

    def _pass(self) -> None:
        """Count one pass over this set's bitmask as work."""
        Work.done += self._bits.bit_length() // FRAMES_PER_WORK

    def _seg_pass(self) -> None:
        """Count one walk over this set's segments as work."""
        Work.done += SEG_WORK * len(self._segs)

    def _mask_bits(self) -> int:
        """The bitmask (built for a set stored as runs or segments)."""
        if self._bits is not None:
            return self._bits
        if self._segs is not None:
            return _bits_of_segs(self._segs)
        Work.done += (self._runs[-1][1] if self._runs else 0) // FRAMES_PER_WORK
        return _bits_of_runs(self._runs)

    def _seg_list(self):
        """Segments of a set stored as runs or segments (None for a bitmask)."""
        if self._segs is not None:
            return self._segs
        if self._runs is not None:
            return [(lo, hi, 1, 1) for lo, hi in self._runs]
        return None

    # ---- construction -------------------------------------------------------------
    @staticmethod
    def empty() -> FrameSet:
        return _EMPTY

    @staticmethod
    def interval(lo: int, hi: int) -> FrameSet:
        """Frames lo, lo+1, ..., hi-1 (empty when hi <= lo; negative frames dropped)."""
        lo = max(lo, 0)
        if hi <= lo:
            return _EMPTY
        if hi > MAX_FRAME:
            raise ValueError(f"frame {hi - 1} is too large")
        return FrameSet._of_runs(((lo, hi),))

    @staticmethod
    def range(start: int, stop: int, step: int = 1) -> FrameSet:
        """Like Python's ``range(start, stop, step)``, as a set (step may be negative)."""
        if step == 0:
            raise ValueError("range step must not be 0")
        if step < 0:
            # Same members as the ascending range from the last member up to start.
            count = len(range(start, stop, step))
            if count == 0:
                return _EMPTY
            start, stop, step = start + (count - 1) * step, start + 1, -step
        if start < 0:  # skip the negative members
            start += -(-(0 - start) // step) * step
        if stop <= start:
            return _EMPTY
        if step == 1:
            return FrameSet.interval(start, stop)
        if stop > MAX_FRAME:
            raise ValueError(f"frame {stop - 1} is too large")
        count = (stop - start + step - 1) // step
        if count <= MAX_RUNS:  # step >= 2: one run per member
            return FrameSet._of_runs(tuple((f, f + 1) for f in range(start, stop, step)))
        last = start + (count - 1) * step
        if step <= MAX_PERIOD:  # one periodic segment
            return FrameSet._stored_segs(((start, last + 1, step, 1 << (start % step)),))
        # Bits 0, step, 2*step, ...: double the pattern until it is long enough.
        pattern, covered = 1, 1
        while covered < count:
            pattern |= pattern << (covered * step)
            covered *= 2
        pattern &= (1 << (last - start + 1)) - 1
        return FrameSet._of_bits(pattern << start)

    @staticmethod
    def of(frames: Iterable[int]) -> FrameSet:
        """Build from any iterable of ints (duplicates and order do not matter)."""
        values = sorted({f for f in frames if f >= 0})
        if not values:
            return _EMPTY
        top = values[-1]
        if top >= MAX_FRAME:
            raise ValueError(f"frame {top} is too large")
        runs: list[list[int]] = []
        for f in values:
            if runs and runs[-1][1] == f:
                runs[-1][1] = f + 1
            else:
                runs.append([f, f + 1])
        return FrameSet._of_runs([(a, b) for a, b in runs])

    # ---- basic protocol -----------------------------------------------------------
    @property
    def bits(self) -> int:
        """The bitmask: bit f is set when frame f is a member."""
        return self._mask_bits()

    @property
    def stored_as_runs(self) -> bool:
        return self._runs is not None

    @property
    def stored_as_segments(self) -> bool:
        """Stored as periodic segments (a set of more than MAX_RUNS runs)."""
        return self._segs is not None

    @property
    def runs(self) -> tuple[tuple[int, int], ...]:
        """Maximal runs of consecutive members as half-open intervals ``(lo, hi)``."""
        if self._runs is not None:
            return self._runs
        if self._segs is not None:
            self._seg_pass()
            return tuple(_seg_runs(self._segs))
        self._pass()
        return tuple(_runs_of_bits(self._bits))

    def __len__(self) -> int:
        if self._runs is not None:
            return sum(hi - lo for lo, hi in self._runs)
        if self._segs is not None:
            if self._n is None:
                self._seg_pass()
                self._n = sum(_count(P, pat, lo, hi) for lo, hi, P, pat in self._segs)
            return self._n
        self._pass()
        return self._bits.bit_count()

    def __bool__(self) -> bool:
        return self._runs is None or bool(self._runs)

    def __iter__(self) -> Iterator[int]:
        if self._runs is not None:
            for lo, hi in self._runs:
                yield from range(lo, hi)
            return
        if self._segs is not None:
            for lo, hi, P, pat in self._segs:
                if P == 1:
                    yield from range(lo, hi)
                    continue
                r = _rot(pat, P, lo)
                offsets = [i for i in range(P) if r >> i & 1]
                for base in range(lo, hi, P):
                    for o in offsets:
                        if base + o >= hi:
                            break
                        yield base + o
            return
        # Only the occupied span is converted: a small set late in a long video is cheap.
        self._pass()
        low = self.min()
        text = bin(self._bits >> low)[:1:-1]
        i = 0
        while i >= 0:
            yield low + i
            i = text.find("1", i + 1)

    def __reversed__(self) -> Iterator[int]:
        return reversed(list(self))

    def __contains__(self, frame: object) -> bool:
        if not isinstance(frame, int) or frame < 0:
            return False
        if self._runs is not None:
            i = bisect_right(self._runs, (frame, MAX_FRAME + 1)) - 1
            return i >= 0 and self._runs[i][0] <= frame < self._runs[i][1]
        if self._segs is not None:
            i = bisect_right(self._segs, (frame, MAX_FRAME + 1)) - 1
            if i < 0:
                return False
            lo, hi, P, pat = self._segs[i]
            return lo <= frame < hi and (pat >> (frame % P)) & 1 == 1
        self._pass()
        return (self._bits >> frame) & 1 == 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameSet):
            return False
        if self._runs is not None or other._runs is not None:
            return self._runs == other._runs  # runs: the form of every set of few runs
        if self._segs is not None and self._segs == other._segs:
            return True
        if self._segs is not None and other._segs is not None:
            if len(self) != len(other) or self.min() != other.min() or self.max() != other.max():
                return False
            a, b = self._segs, other._segs
            diff = _seg_op(a, b, "sub")
            if diff is not None:
                back = _seg_op(b, a, "sub")
                if back is not None:
                    return not _normalize(diff) and not _normalize(back)
        if self._bits is not None:
            self._pass()
        return self._mask_bits() == other._mask_bits()

    def __hash__(self) -> int:
        if self._runs is not None:
            return hash(self._runs)
        return hash((len(self), self.min(), self.max()))  # the same for either form

    def __repr__(self) -> str:
        from vidsched.frames_text import compact_ranges

        return f"FrameSet({{{compact_ranges(self)}}})"

    def to_list(self) -> list[int]:
        return list(self)

    def min(self) -> int:
        if not self:
            raise ValueError("min of an empty frame set")
        if self._runs is not None:
            return self._runs[0][0]
        if self._segs is not None:
            return self._segs[0][0]
        self._pass()
        return (self._bits & -self._bits).bit_length() - 1

    def max(self) -> int:
        if not self:
            raise ValueError("max of an empty frame set")
        return self.span_end() - 1

    def span_end(self) -> int:
        """One more than the largest member (0 when empty)."""
        if self._runs is not None:
            return self._runs[-1][1] if self._runs else 0
        if self._segs is not None:
            return self._segs[-1][1]
        return self._bits.bit_length()

    # ---- set algebra ----------------------------------------------------------------
    def union(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            if not a:
                return other
            if not b:
                return self
            out: list[tuple[int, int]] = []
            for lo, hi in sorted(a + b):
                if out and lo <= out[-1][1]:
                    if hi > out[-1][1]:
                        out[-1] = (out[-1][0], hi)
                else:
                    out.append((lo, hi))
            return FrameSet._of_runs(out)
        if a == ():
            return other
        if b == ():
            return self
        result = self._seg_algebra(other, "or")
        if result is not None:
            return result
        return FrameSet._of_bits(self._mask_bits() | other._mask_bits())

    def _seg_algebra(self, other: FrameSet, op: str) -> FrameSet | None:
        """The operation on segments when neither set is a bitmask and the periods allow.

        When the result lies in a short stretch of frames (a stage's block against
        ``done``), the two sets' bits over that stretch are combined instead, and a result
        of few runs is made at once."""
        A, B = self._seg_list(), other._seg_list()
        if A is None or B is None:
            return None
        Work.done += SEG_OP_WORK + SEG_WORK * (len(A) + len(B))
        if op == "or":
            lo, hi = min(A[0][0], B[0][0]), max(A[-1][1], B[-1][1])
        elif op == "and":
            lo, hi = max(A[0][0], B[0][0]), min(A[-1][1], B[-1][1])
            if lo >= hi:
                return _EMPTY
            if hi - lo > _WINDOW:  # the shorter set's span, if short
                lo, hi = min(((A[0][0], A[-1][1]), (B[0][0], B[-1][1])), key=lambda s: s[1] - s[0])
        else:
            lo, hi = A[0][0], A[-1][1]
        if hi - lo <= _WINDOW:
            a, b = _window_bits(A, lo, hi), _window_bits(B, lo, hi)
            bits = a | b if op == "or" else a & b if op == "and" else a & ~b
            if not bits:
                return _EMPTY
            if (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
                return FrameSet._of_runs([(lo + x, lo + y) for x, y in _runs_of_bits(bits)])
        if op != "and":  # a short set against a long one (done | block, todo - block)
            big, small = A, B
            if op == "or" and B[-1][1] - B[0][0] > A[-1][1] - A[0][0]:
                big, small = B, A
            lo, hi = small[0][0], small[-1][1]
            if hi - lo <= _WINDOW:
                a, b = _window_bits(big, lo, hi), _window_bits(small, lo, hi)
                return FrameSet._of_normal(_splice(big, lo, hi, a | b if op == "or" else a & ~b))
        pieces = _seg_op(A, B, op)
        return None if pieces is None else FrameSet._of_segs(pieces)

    def intersection(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            out = []
            i = j = 0
            while i < len(a) and j < len(b):
                lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
                if lo < hi:
                    out.append((lo, hi))
                if a[i][1] < b[j][1]:
                    i += 1
                else:
                    j += 1
            return FrameSet._of_runs(out)
        if a == () or b == ():
            return _EMPTY
        result = self._seg_algebra(other, "and")
        if result is not None:
            return result
        if self._bits is None:  # only the bits under this set's span matter
            return FrameSet._of_bits(other._mask_bits() & self._mask_bits())
        if other._bits is None:
            return FrameSet._of_bits(self._bits & other._mask_bits())
        return FrameSet._of_bits(self._bits & other._bits)

    def difference(self, other: FrameSet) -> FrameSet:
        a, b = self._runs, other._runs
        if a is not None and b is not None:
            if not a or not b:
                return self
            out = []
            j = 0
            for lo, hi in a:
                while j < len(b) and b[j][1] <= lo:
                    j += 1
                k = j
                while k < len(b) and b[k][0] < hi:
                    if b[k][0] > lo:
                        out.append((lo, b[k][0]))
                    lo = max(lo, b[k][1])
                    k += 1
                if lo < hi:
                    out.append((lo, hi))
            return FrameSet._of_runs(out)
        if a == () or b == ():
            return self
        result = self._seg_algebra(other, "sub")
        if result is not None:
            return result
        mine = self._mask_bits()
        if other._bits is None:  # only the part inside this set's span matters
            return FrameSet._of_bits(mine & ~other.clip(mine.bit_length())._mask_bits())
        return FrameSet._of_bits(mine & ~other._bits)

    __or__ = union
    __and__ = intersection
    __sub__ = difference

    def clip(self, num_frames: int) -> FrameSet:
        """Keep frames 0..num_frames-1."""
        if self.span_end() <= num_frames:
            return self
        if self._runs is not None:
            return FrameSet._of_runs([(lo, min(hi, num_frames)) for lo, hi in self._runs if lo < num_frames])
        if self._segs is not None:
            return FrameSet._of_segs([(lo, min(hi, num_frames), P, pat) for lo, hi, P, pat in self._segs
                                      if lo < num_frames])
        return FrameSet._of_bits(self._bits & _mask(0, max(num_frames, 0)))

    def shift(self, offset: int) -> FrameSet:
        """Every member moved by `offset` (members that would be negative are dropped)."""
        if self._runs is not None:
            return FrameSet._of_runs(
                [(max(lo + offset, 0), hi + offset) for lo, hi in self._runs if hi + offset > 0]
            )
        if self._segs is not None:  # frame f + offset has the residue of f
            return FrameSet._of_segs([(max(lo + offset, 0), hi + offset, P, _rot(pat, P, -offset))
                                      for lo, hi, P, pat in self._segs if hi + offset > 0])
        return FrameSet._of_bits(self._bits << offset if offset >= 0 else self._bits >> -offset)

    # ---- positional selection -------------------------------------------------------
    def _select(self, position: int, count: int | None = None) -> int:
        """The frame of the member at sorted position `position` (0 <= position < len).

        Runs and segments: a walk over them. Bitmask: Python ints have no random access,
        so every operation on the whole mask reads all of it: the member is found in a
        window at the nearer end of the set (from its smallest or its largest member),
        widened fourfold until it holds enough members, then by binary search inside the
        window; a few passes over the mask in all, instead of one per step of a binary
        search over the whole mask. `count`: len(self), if the caller knows it.
        """
        if self._runs is not None:
            for lo, hi in self._runs:
                if position < hi - lo:
                    return lo + position
                position -= hi - lo
            raise IndexError(position)
        if self._segs is not None:
            self._seg_pass()
            for lo, hi, P, pat in self._segs:
                n = _count(P, pat, lo, hi)
                if position < n:
                    q, k = divmod(position, pat.bit_count())
                    return lo + q * P + _nth_bit(_rot(pat, P, lo), k)
                position -= n
            raise IndexError(position)
        bits = self._bits
        Work.done += bits.bit_length() // FRAMES_PER_WORK
        n = bits.bit_count() if count is None else count
        if position < n - position:  # nearer the bottom: grow a window from the smallest
            low = (bits & -bits).bit_length() - 1
            rest = bits >> low
            width = 256
            while True:
                window = rest & ((1 << width) - 1)
                if window.bit_count() > position:
                    return low + _select_in(window, position)
                width *= 4
        above = n - 1 - position  # members above the answer: grow a window of top bits
        top = bits.bit_length()
        width = 256
        while True:
            start = max(0, top - width)
            window = bits >> start
            have = window.bit_count()
            if have > above:
                return start + _select_in(window, have - 1 - above)
            width *= 4

    def _pick(self, positions: list[int]) -> list[int]:
        """Frames at many sorted positions: a binary search each when there are few,
        one pass over the members when there are many (keeps spread() linear)."""
        if len(positions) <= 16 or self._bits is None and len(positions) <= 4 * MAX_RUNS:
            n = len(self)
            return [self._select(p, n) for p in positions]
        members = list(self)
        return [members[p] for p in positions]

    def _rank(self, frame: int) -> int:
        """Number of members smaller than `frame`."""
        if frame <= 0:
            return 0
        if self._runs is not None:
            return sum(min(hi, frame) - lo for lo, hi in self._runs if lo < frame)
        if self._segs is not None:
            self._seg_pass()
            return sum(_count(P, pat, lo, min(hi, frame)) for lo, hi, P, pat in self._segs if lo < frame)
        self._pass()
        return (self._bits & ((1 << frame) - 1)).bit_count()

    def at(self, position: int) -> int:
        """The member at sorted position `position` (0-based)."""
        n = len(self)
        if not 0 <= position < n:
            raise IndexError(position)
        return self._select(position, n)

    def slice(self, start: int, stop: int) -> FrameSet:
        """Members at sorted positions start..stop-1 (clamped to the set)."""
        n = len(self)
        start, stop = max(start, 0), min(stop, n)
        if start >= stop:
            return _EMPTY
        if start == 0 and stop == n:
            return self
        if self._runs is not None:
            out = []
            pos = 0  # position of the current run's first member
            for lo, hi in self._runs:
                a, b = max(start - pos, 0), min(stop - pos, hi - lo)
                if a < b:
                    out.append((lo + a, lo + b))
                pos += hi - lo
                if pos >= stop:
                    break
            return FrameSet._of_runs(out)
        if self._segs is not None:
            first, last = self._select(start, n), self._select(stop - 1, n)
            if last - first < _WINDOW:  # a short piece (a stage's block): its bits
                bits = _window_bits(self._segs, first, last + 1)
                if (bits & ~(bits << 1)).bit_count() <= MAX_RUNS:
                    return FrameSet._of_runs([(first + x, first + y) for x, y in _runs_of_bits(bits)])
            return FrameSet._of_segs([(max(lo, first), min(hi, last + 1), P, pat)
                                      for lo, hi, P, pat in self._segs if hi > first and lo <= last])
        bits = self._bits
        lo = self._select(start, n) if start > 0 else 0
        hi = self._select(stop - 1, n) + 1 if stop < n else None
        if hi is not None:
            bits &= (1 << hi) - 1
        if lo:
            bits = (bits >> lo) << lo
        return FrameSet._of_bits(bits)

    def first(self, n: int) -> FrameSet:
        return self.slice(0, n)

    def last(self, n: int) -> FrameSet:
        return self.slice(len(self) - n, len(self)) if n > 0 else _EMPTY

    def after(self, frame: int) -> FrameSet:
        """Members strictly greater than `frame`."""
        if frame < 0:
            return self
        if self._runs is not None:
            return FrameSet._of_runs([(max(lo, frame + 1), hi) for lo, hi in self._runs if hi > frame + 1])
        if self._segs is not None:
            if self._segs[0][0] > frame:
                return self
            return FrameSet._of_segs([(max(lo, frame + 1), hi, P, pat) for lo, hi, P, pat in self._segs
                                      if hi > frame + 1])
        return FrameSet._of_bits((self._bits >> (frame + 1)) << (frame + 1))

    def before(self, frame: int) -> FrameSet:
        """Members strictly smaller than `frame`."""
        if frame <= 0:
            return _EMPTY
        if frame >= self.span_end():
            return self
        return self.clip(frame)

    def nearest(self, n: int, to: int) -> FrameSet:
        """The n members closest to frame `to`; on a tie the earlier frame wins."""
        if n >= len(self):
            return self
        if n <= 0:
            return _EMPTY
        c = self._rank(to + 1)  # members <= to
        # Candidates: the n nearest on each side (as lists, one pass each), then merge
        # outward from `to`; on a tie the earlier frame (below) wins.
        down = list(reversed(list(self.slice(c - n, c))))  # nearest first
        up = list(self.slice(c, c + n))
        i = j = 0
        while i + j < n:
            if i < len(down) and (j >= len(up) or to - down[i] <= up[j] - to):
                i += 1
            else:
                j += 1
        return FrameSet.of(down[:i] + up[:j])

    def spread(self, n: int) -> FrameSet:
        """n members evenly spaced by position, first and last included.

        Member at position floor(i * (m - 1) / (n - 1)) for i = 0..n-1, m = len(self):
        exactly ``int(numpy.linspace(first, last, n))`` for a contiguous set, which is
        how FDM picks frames spread over a video.
        """
        m = len(self)
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        return FrameSet.of(self._pick([i * (m - 1) // (n - 1) for i in range(n)]))

    def spread_right(self, n: int) -> FrameSet:
        """n members: the first, then the last member of each of n - 1 equal parts.

        Positions 0 and ceil(i * m / (n - 1)) - 1 for i = 1..n-1. For a contiguous set
        lo..hi-1 this is exactly FDM's ``int(numpy.linspace(lo, hi - 0.001, n))`` (the
        0.001 only matters when i * m / (n - 1) is an integer, for n < 1000).
        """
        m = len(self)
        if n >= m:
            return self
        if n <= 0:
            return _EMPTY
        if n == 1:
            return self.first(1)
        positions = [0] + [-(-i * m // (n - 1)) - 1 for i in range(1, n)]
        return FrameSet.of(self._pick(positions))

    def chunks(self, n: int) -> list[FrameSet]:
        """Consecutive pieces of n members (by position); the last may be shorter."""
        if n <= 0:
            raise ValueError("chunk size must be positive")
        members = list(self)
        return [FrameSet.of(members[i : i + n]) for i in range(0, len(members), n)]

    def run_count(self) -> int:
        """Number of maximal runs of consecutive members (without building them)."""
        if self._runs is not None:
            return len(self._runs)
        if self._segs is not None:
            self._seg_pass()
            return _seg_run_count(self._segs)
        self._pass()
        return (self._bits & ~(self._bits << 1)).bit_count()

    def first_runs(self, n: int) -> FrameSet:
        """The members in the first `n` maximal runs (without listing the others)."""
        if n <= 0:
            return _EMPTY
        if self._runs is not None:
            return self if len(self._runs) <= n else FrameSet._of_runs(self._runs[:n])
        if self._segs is not None:
            self._seg_pass()
            runs = []
            for run in _seg_runs(self._segs):
                if len(runs) == n:
                    return FrameSet._of_runs(runs)
                runs.append(run)
            return self
        self._pass()
        starts = FrameSet(self._bits & ~(self._bits << 1))  # the first frame of each run
        count = len(starts)
        if count <= n:
            return self
        return FrameSet._of_bits(self._bits & ((1 << starts._select(n, count)) - 1))


_EMPTY = object.__new__(FrameSet)
_EMPTY._runs, _EMPTY._segs, _EMPTY._bits = (), None, None


def work_done() -> int:
    """The work all frame sets have done so far, in evaluation steps (bitmask passes in
    units of ``FRAMES_PER_WORK`` frames, segment operations in ``SEG_OP_WORK`` and
    ``SEG_WORK`` steps): the evaluator charges the difference between two readings."""
    return Work.done
