"""Frame sets as short human-readable text: ``[0, 1, 2, 3, 4, 7, 9, 10, 11, 12]`` <-> ``"0-4, 7, 9-12"``.

Used by error messages, ``explain`` output and figures. No dependencies.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

__all__ = ["compact_ranges", "frame_runs", "parse_ranges"]


def frame_runs(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Inclusive runs ``[(first, last), ...]`` of consecutive frames, sorted, duplicates ignored.

    Objects with a ``runs`` attribute of sorted, disjoint, half-open ``(lo, hi)`` intervals
    (``vidsched.frames.FrameSet``) are converted without enumerating their members.
    """
    runs_attr = getattr(frames, "runs", None)
    if runs_attr is not None and not callable(runs_attr):
        out: list[tuple[int, int]] = []
        for lo, hi in runs_attr:
            if hi <= lo:
                continue
            if out and out[-1][1] + 1 >= lo:  # adjacent or overlapping: merge
                out[-1] = (out[-1][0], max(out[-1][1], hi - 1))
            else:
                out.append((lo, hi - 1))
        return out
    values = sorted({_as_int(f) for f in frames})
    runs: list[tuple[int, int]] = []
    for f in values:
        if runs and runs[-1][1] + 1 == f:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return runs


def compact_ranges(frames: Iterable[int], limit: int | None = None, sep: str = ", ") -> str:
    """Compact text for a set of frame indices: ``"0-4, 7, 9-12"``.

    - Order and duplicates do not matter; an empty set gives ``""``.
    - A run of two frames is written ``"3-4"``; a single frame ``"7"``.
    - ``limit``: the most runs to write; when there are more, the text ends with
      ``", ... (+N frames)"`` counting the frames left out, so a message about a huge,
      fragmented set stays readable.
    """
    runs = frame_runs(frames)
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    shown = runs if limit is None or len(runs) <= limit else runs[:limit]
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in shown]
    if len(shown) < len(runs):
        rest = sum(b - a + 1 for a, b in runs[len(shown):])
        parts.append(f"... (+{rest} frame{'s' if rest != 1 else ''})")
    return sep.join(parts)


def parse_ranges(text: str) -> list[int]:
    """Inverse of :func:`compact_ranges`: ``"0-4, 7"`` -> ``[0, 1, 2, 3, 4, 7]``.

    Accepts commas and/or whitespace as separators and ``a-b`` (inclusive) or ``a..b``
    (inclusive) for runs; frames must be non-negative. Raises ``ValueError`` on bad text.
    """
    out: set[int] = set()
    for token in text.replace(",", " ").split():
        for dash in ("..", "-"):
            if dash in token:
                a_text, _, b_text = token.partition(dash)
                a, b = _parse_frame(a_text, token), _parse_frame(b_text, token)
                if b < a:
                    raise ValueError(f"bad frame range {token!r}: {b} is before {a}")
                out.update(range(a, b + 1))
                break
        else:
            out.add(_parse_frame(token, token))
    return sorted(out)


def _parse_frame(text: str, token: str) -> int:
    if not text.isdigit():
        raise ValueError(f"bad frame range {token!r}: expected a frame number or a-b")
    return int(text)


def _as_int(f: object) -> int:
    try:
        return operator.index(f)  # type: ignore[arg-type]  # ints and numpy integers
    except TypeError:
        raise TypeError(f"frame indices must be integers, got {f!r}") from None
