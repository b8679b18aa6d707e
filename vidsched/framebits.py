"""The integer and periodic-segment algebra behind :class:`vidsched.frames.FrameSet`:
pure functions on bitmasks (an ``int``, bit ``f`` for frame ``f``), half-open runs
``(lo, hi)`` and periodic segments ``(lo, hi, period, pattern)`` (the frames ``f`` of
``lo..hi-1`` whose residue ``f % period`` is a bit of ``pattern``). :mod:`vidsched.frames`
describes the forms and when each is used; this module knows nothing of ``FrameSet``.

``Work.done`` counts the work these functions and the frame sets do, in the evaluator's
steps (:func:`vidsched.frames.work_done`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from math import gcd

_ONES = re.compile(r"1+")
MAX_RUNS = 32  # a set of at most this many runs is stored as runs, else as a bitmask
FRAMES_PER_WORK = 4096  # frames of a bitmask that one unit of work stands for
MAX_PERIOD = 1024  # periods of segments go up to this (bits of a pattern)
# Evaluation steps of the Python work on segments: an operation on a set of segments
# costs some microseconds, like 30 steps of the evaluator, plus a few per segment it
# reads or makes, so a loop over such operations uses up its fuel in about the time it
# takes.
SEG_OP_WORK = 32
SEG_WORK = 8
_RUN_PERIODS = 8  # a period of a run list spans at most this many runs (_compress)


class Work:
    """The work done by frame-set operations so far (bitmask passes in units of
    ``FRAMES_PER_WORK`` frames, segment work in ``SEG_OP_WORK`` / ``SEG_WORK`` steps):
    the evaluator charges the difference between two readings as evaluation steps."""

    done = 0


def _mask(lo: int, hi: int) -> int:
    """Bits lo..hi-1 set (lo >= 0)."""
    return ((1 << (hi - lo)) - 1) << lo if hi > lo else 0


def _runs_of_bits(bits: int) -> list[tuple[int, int]]:
    """Maximal runs of a non-zero bitmask, ascending."""
    starts = bits & ~(bits << 1)  # the first member of each run
    if starts.bit_count() <= 4:
        # Few runs, maybe far apart: peel them off the top (a few passes over the mask).
        ends = bits & ~(bits >> 1)  # the last member of each run
        out = []
        while starts:
            lo, hi = starts.bit_length() - 1, ends.bit_length()
            starts ^= 1 << lo
            ends ^= 1 << (hi - 1)
            out.append((lo, hi))
        out.reverse()
        return out
    low = (bits & -bits).bit_length() - 1
    text = bin(bits >> low)[:1:-1]  # little-endian: character i is frame low + i
    return [(low + m.start(), low + m.end()) for m in _ONES.finditer(text)]


def _bits_of_runs(runs) -> int:
    if len(runs) <= 2 * MAX_RUNS:
        bits = 0
        for lo, hi in runs:
            bits |= _mask(lo, hi)
        return bits
    parts, end = [], 0  # many runs: one pass, as text (linear, not runs x span)
    for lo, hi in runs:
        parts.append("0" * (lo - end))
        parts.append("1" * (hi - lo))
        end = hi
    return int("".join(parts)[::-1], 2)


def _bits_of_segs(segs) -> int:
    Work.done += segs[-1][1] // FRAMES_PER_WORK if segs else 0
    bits = 0
    for lo, hi, P, pat in segs:
        bits |= _seg_bits(P, pat, lo, hi - lo) << lo
    return bits


# ---- periodic segments ------------------------------------------------------------------
# A segment (lo, hi, P, pat): the frames f of lo..hi-1 with bit f % P of pat set. In a
# stored set the segments are sorted and disjoint, each starts and ends on a member, and
# each pattern has its minimal period (a run is (lo, hi, 1, 1)).


def _rep(pat: int, P: int, L: int) -> int:
    """A pattern of period P as one of period L (a multiple of P, both <= MAX_PERIOD)."""
    return pat if P == L else pat * (((1 << L) - 1) // ((1 << P) - 1))


def _rot(pat: int, P: int, start: int) -> int:
    """The pattern read from residue start % P: bit i is residue (start + i) % P."""
    s = start % P
    return ((pat | (pat << P)) >> s) & ((1 << P) - 1) if s else pat


def _count(P: int, pat: int, lo: int, hi: int) -> int:
    """Members of pattern (P, pat) among frames lo..hi-1."""
    if hi <= lo:
        return 0
    q, r = divmod(hi - lo, P)
    n = q * pat.bit_count() if q else 0
    if r:
        n += (_rot(pat, P, lo) & ((1 << r) - 1)).bit_count()
    return n


def _seg_bits(P: int, pat: int, lo: int, n: int) -> int:
    """The members of (P, pat) among frames lo..lo+n-1 as bits 0..n-1."""
    if P == 1:
        return (1 << n) - 1 if pat else 0
    bits, width = _rot(pat, P, lo), P
    while width < n:  # doubling: O(n) in all
        bits |= bits << width
        width *= 2
    return bits & ((1 << n) - 1)


def _nth_bit(bits: int, k: int) -> int:
    """Position of the k-th (0-based) set bit of a small int."""
    for _ in range(k):
        bits &= bits - 1
    return (bits & -bits).bit_length() - 1


@lru_cache(maxsize=4096)
def _minimal(P: int, pat: int) -> tuple[int, int]:
    """The same pattern with its smallest period."""
    if pat == (1 << P) - 1:
        return 1, 1
    for d in range(1, P // 2 + 1):
        if P % d == 0:
            small = pat & ((1 << d) - 1)
            if _rep(small, d, P) == pat:
                return d, small
    return P, pat


@lru_cache(maxsize=4096)
def _period_runs(P: int, pat: int) -> tuple[tuple[int, int], ...]:
    """Runs of one period of a pattern, as offsets in 0..P-1 (pat != 0)."""
    return tuple(_runs_of_bits(pat))


def _run_starts(P: int, pat: int) -> int:
    """Residues r of members whose frame r - 1 is not a member."""
    return pat & ~(((pat << 1) | (pat >> (P - 1))) & ((1 << P) - 1)) if P > 1 else 0


def _trim(lo: int, hi: int, P: int, pat: int):
    """The segment cut down to its first and last member (None when it has none)."""
    if P == 1:
        return (lo, hi, 1, 1) if pat and lo < hi else None
    r = _rot(pat, P, lo)
    first = lo + (r & -r).bit_length() - 1
    if first >= hi:
        return None
    r = _rot(pat, P, hi - P)  # bit i: frame hi - P + i
    last = hi - P + r.bit_length() - 1
    return (first, last + 1, P, pat)


def _fits(P: int, pat: int, seg) -> bool:
    """Does pattern (P, pat) have exactly seg's members over seg's frames?"""
    lo, hi, P2, pat2 = seg
    if P == P2:
        return pat == pat2 or hi - lo < P and _seg_bits(P, pat, lo, hi - lo) == _seg_bits(P, pat2, lo, hi - lo)
    L = P * P2 // gcd(P, P2)
    if hi - lo >= L:
        return L <= MAX_PERIOD and _rep(pat, P, L) == _rep(pat2, P2, L)
    return _seg_bits(P, pat, lo, hi - lo) == _seg_bits(P2, pat2, lo, hi - lo)


def _merge_into(out: list, seg) -> None:
    """Append a trimmed segment, joining it to the last one when one pattern covers both
    (and the gap between them, which holds no member)."""
    if out:
        a, b, P, pat = out[-1]
        lo, hi, P2, pat2 = seg
        if P == P2 == 1:
            if b == lo:
                out[-1] = (a, hi, 1, 1)
                return
        else:
            if _count(P, pat, b, lo) == 0 and _fits(P, pat, seg):
                out[-1] = (a, hi, P, pat)
                return
            if _count(P2, pat2, b, lo) == 0 and _fits(P2, pat2, out[-1]):
                out[-1] = (a, hi, P2, pat2)
                return
    out.append(seg)


def _compress(runs) -> list:
    """Segments for sorted, disjoint, non-adjacent runs: a stretch of runs that repeats
    with a period of up to _RUN_PERIODS runs and MAX_PERIOD frames becomes one segment."""
    Work.done += 2 * len(runs)
    out: list = []
    n, i = len(runs), 0
    while i < n:
        best_m, best_cover = 0, 1
        lo0 = runs[i][0]
        for m in range(1, _RUN_PERIODS + 1):
            if i + m >= n:
                break
            P = runs[i + m][0] - lo0
            if P > MAX_PERIOD:
                break
            j = i
            while j + m < n and runs[j + m][0] - runs[j][0] == P and runs[j + m][1] - runs[j][1] == P:
                j += 1
            cover = j + m - i  # runs i .. i + cover - 1 repeat with period m runs
            if cover >= 2 * m and cover > best_cover:
                best_m, best_cover = m, cover
        if best_m:
            m = best_m
            P = runs[i + m][0] - lo0
            local = 0
            for a, b in runs[i : i + m]:
                local |= _mask(a - lo0, b - lo0)
            s = lo0 % P
            pat = ((local << s) | (local >> (P - s))) & ((1 << P) - 1) if s else local
            P, pat = _minimal(P, pat)
            _merge_into(out, (lo0, runs[i + best_cover - 1][1], P, pat))
            i += best_cover
        else:
            _merge_into(out, (lo0, runs[i][1], 1, 1))
            i += 1
    return out


def _normalize(pieces) -> list:
    """Stored segments for sorted, disjoint pieces (any patterns, maybe empty): trimmed,
    minimal periods, runs that repeat compressed, neighbours with one pattern joined."""
    Work.done += SEG_WORK * len(pieces)
    out: list = []
    runs: list = []  # pending runs (consecutive pieces of single runs), compressed together
    for lo, hi, P, pat in pieces:
        if P > 1:
            P, pat = _minimal(P, pat)
        seg = _trim(lo, hi, P, pat)
        if seg is None:
            continue
        lo, hi, P, pat = seg
        if P > 1 and hi - lo <= P:  # within one period: its runs, if few
            bits = _seg_bits(P, pat, lo, hi - lo)
            if (bits & ~(bits << 1)).bit_count() <= 4:
                for a, b in _runs_of_bits(bits):
                    if runs and runs[-1][1] == lo + a:
                        runs[-1] = (runs[-1][0], lo + b)
                    else:
                        runs.append((lo + a, lo + b))
                continue
        if P == 1:
            if runs and runs[-1][1] == lo:
                runs[-1] = (runs[-1][0], hi)
            else:
                runs.append((lo, hi))
            continue
        if runs:
            for s in _compress(runs):
                _merge_into(out, s)
            runs = []
        _merge_into(out, seg)
    if runs:
        for s in _compress(runs):
            _merge_into(out, s)
    return out


def _seg_runs(segs) -> Iterator[tuple[int, int]]:
    """Maximal runs of stored segments, ascending."""
    cur = None
    for lo, hi, P, pat in segs:
        if P == 1:
            parts = ((lo, hi),)
        else:
            local = _period_runs(P, _rot(pat, P, lo))
            parts = ((base + a, min(base + b, hi)) for base in range(lo, hi, P) for a, b in local if base + a < hi)
        for a, b in parts:
            if cur is None:
                cur = [a, b]
            elif cur[1] == a:
                cur[1] = b
            else:
                yield cur[0], cur[1]
                cur = [a, b]
    if cur is not None:
        yield cur[0], cur[1]


def _seg_run_count(segs, limit: int | None = None) -> int:
    """Number of maximal runs of stored segments (counting stops past `limit`)."""
    n, end = 0, -1
    for lo, hi, P, pat in segs:
        n += (lo != end) + _count(P, _run_starts(P, pat), lo + 1, hi)
        end = hi
        if limit is not None and n > limit:
            break
    return n


def _window_bits(segs, lo: int, hi: int) -> int:
    """Members of segments among frames lo..hi-1 as bits 0..hi-lo-1."""
    bits = 0
    for a, b, P, pat in segs:
        if b <= lo:
            continue
        if a >= hi:
            break
        a, b = max(a, lo), min(b, hi)
        bits |= _seg_bits(P, pat, a, b - a) << (a - lo)
    return bits


def _splice(segs, lo: int, hi: int, bits: int) -> list:
    """Stored segments with the frames lo..hi-1 replaced by `bits` (bit i: frame lo + i):
    the segments outside are kept as they are."""
    n, k = len(segs), 0
    while k < n and segs[k][1] <= lo:
        k += 1
    out = list(segs[:k])
    mid, tail = [], None
    while k < n and segs[k][0] < hi:
        a, b, P, pat = segs[k]
        if a < lo:
            mid.append((a, lo, P, pat))
        if b > hi:
            tail = (hi, b, P, pat)
        k += 1
    if bits:
        mid.extend((lo + x, lo + y, 1, 1) for x, y in _runs_of_bits(bits))
    if tail is not None:
        mid.append(tail)
    for s in _normalize(mid):
        _merge_into(out, s)
    if k < n:
        _merge_into(out, segs[k])
        out.extend(segs[k + 1 :])
    return out


def _seg_op(A, B, op: str):
    """Pieces of A | B, A & B or A - B (op "or", "and", "sub") for segment lists, by one
    sweep over both; None when two patterns would need a period above MAX_PERIOD."""
    keep_a, keep_b = op != "and", op == "or"
    pieces = []
    i = j = x = 0  # x: the frames below it are done
    nA, nB = len(A), len(B)
    while i < nA and j < nB:
        a, b = A[i], B[j]
        if a[1] <= b[0]:  # a ends before b starts
            if keep_a:
                pieces.append((max(a[0], x), a[1], a[2], a[3]))
            x, i = a[1], i + 1
            continue
        if b[1] <= a[0]:
            if keep_b:
                pieces.append((max(b[0], x), b[1], b[2], b[3]))
            x, j = b[1], j + 1
            continue
        lo_a, lo_b = max(a[0], x), max(b[0], x)
        if lo_a != lo_b:  # the part of one before the other starts
            if lo_a < lo_b:
                if keep_a:
                    pieces.append((lo_a, lo_b, a[2], a[3]))
            elif keep_b:
                pieces.append((lo_b, lo_a, b[2], b[3]))
            x = max(lo_a, lo_b)
            continue
        end = min(a[1], b[1])
        Pa, Pb = a[2], b[2]
        if Pa == Pb:
            L, pa, pb = Pa, a[3], b[3]
        else:
            L = Pa * Pb // gcd(Pa, Pb)
            if L > MAX_PERIOD:
                return None
            pa, pb = _rep(a[3], Pa, L), _rep(b[3], Pb, L)
        pat = pa | pb if op == "or" else pa & pb if op == "and" else pa & ~pb
        if pat:
            pieces.append((lo_a, end, L, pat))
        x = end
        if a[1] == end:
            i += 1
        if b[1] == end:
            j += 1
    if keep_a:
        pieces.extend((max(a[0], x), a[1], a[2], a[3]) for a in A[i:])
    if keep_b:
        pieces.extend((max(b[0], x), b[1], b[2], b[3]) for b in B[j:])
    return pieces


def _select_in(bits: int, position: int) -> int:
    """Smallest f with popcount(bits & mask(0, f + 1)) > position (binary search)."""
    lo, hi = 0, bits.bit_length()  # answer in [lo, hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (bits & ((1 << mid) - 1)).bit_count() > position:
            hi = mid
        else:
            lo = mid
    return lo
