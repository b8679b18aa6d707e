"""The stage list: what evaluating a scheme emits, before it is judged.

The intermediate form between :mod:`vidsched.lang.evaluate` (which produces it) and
:mod:`vidsched.lang.validate` (which classifies every observed frame as complete or
marginal): frozen values, the stages in program order with the frames each generates
and observes.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidsched.errors import SourceFile, Span
from vidsched.frames import FrameSet
from vidsched.frames_text import compact_ranges

_RUNS_SHOWN = 16  # a frame set in a message: at most this many runs


@dataclass(frozen=True)
class RawWindow:
    """One window of a joint group (``window S``): the frames one network call of the
    group sees; where it was written (its file: the joint's or an imported one)."""

    frames: FrameSet
    span: Span
    source: SourceFile
    calls: tuple[str, ...] = ()
    item: int | None = None  # its position in a list (``window L``), for messages


@dataclass(frozen=True)
class RawStage:
    """One stage as the scheme emitted it, before validation."""

    index: int
    name: str
    generate: FrameSet
    observe: FrameSet
    span: Span
    generate_span: Span | None
    observe_span: Span | None
    context: tuple[str, ...]  # loop values at emission, e.g. ("i = 3",)
    no_marginals: bool
    calls: tuple[str, ...] = ()  # the procedure calls that emitted it (for messages)
    # Emitted in an imported file: that file (the spans are in it), and the position in
    # the scheme's own file of the call that led there (the plan's `source`).
    file: SourceFile | None = None
    origin: Span | None = None
    # A joint group (``joint { ... }``): its windows (None: an ordinary stage, whose one
    # window is generate | observe) and how far they move on alternate evaluations.
    windows: tuple[RawWindow, ...] | None = None
    shift: int = 0

    @property
    def is_group(self) -> bool:
        return self.windows is not None

    @property
    def plan_span(self) -> Span:
        """Its position in the scheme's own file (the plan's ``source``)."""
        return self.origin or self.span


@dataclass(frozen=True)
class StageList:
    scheme: str
    source: SourceFile
    name_span: Span
    params: dict[str, int]
    num_frames: int
    max_frames: int
    given: FrameSet
    stages: tuple[RawStage, ...]
    fuel_used: int = 0  # evaluation steps the run took (Limits.max_fuel)


def frames_text(s: FrameSet) -> str:
    """compact_ranges(s), cut short (``..., (+N frames)``) for a set of many runs, so
    that a message about a huge, fragmented set is short and quick to write."""
    runs = s.run_count()
    if runs <= _RUNS_SHOWN:
        return compact_ranges(s)
    head = s.first_runs(_RUNS_SHOWN)
    rest = len(s) - len(head)
    return f"{compact_ranges(head)}, ... (+{rest} frame{'s' if rest != 1 else ''})"
