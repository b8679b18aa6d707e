"""The machine a checked program runs on: the evaluation state (:class:`Runtime`: the
parameters, ``done``/``todo``/``given``, the stages emitted so far, the budgets of
:class:`~vidsched.lang.limits.Limits`) and the value helpers the compiled closures call
(type of a value, its text in a message, bounded powers, listing costs).

:mod:`vidsched.lang.check` compiles each node to a closure over a :class:`Runtime`
(:mod:`vidsched.lang.codegen` builds them);
:mod:`vidsched.lang.evaluate` makes one and runs the program on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from vidsched.errors import (
    EvaluationError,
    ResourceLimitError,
    SchemeError,
    SourceFile,
    Span,
)
from vidsched.frames import FrameSet, work_done
from vidsched.lang.builtins import BOOL, INT, LIST, NUM, SET, sliding_count
from vidsched.lang.holes import HoleMap
from vidsched.lang.limits import SET_OP_STEPS, Limits
from vidsched.lang.stages import RawStage, RawWindow, frames_text

BITS_PER_STEP = 64  # listing the members of a set of many reads its bits one by one
ITEMS_PER_STEP = 16  # items of a list read per step (`in`, ==, min, max, reversed)
# The built-ins that read the mask (vidsched.lang.holes): one step per frame of each set
# they read (an operation on an int of up to 1,024 bits each), two per candidate of
# informative() (it also keeps one frame per distinct hole); informative() charges its
# greedy rounds itself, one step per pick and candidate that knows a cell of the hole
# (one per distinct hole), once its first pass has found them.
MASK_LISTING = ("hole_fraction", "coverage", "informative")


@dataclass
class JointBuilder:
    """The group a ``joint`` block is filling: its roles and windows so far (spans of
    its roles only when written in the joint's own file, ``source``)."""

    source: SourceFile | None = None
    generate: FrameSet = field(default_factory=FrameSet.empty)
    observe: FrameSet = field(default_factory=FrameSet.empty)
    generate_span: Span | None = None
    observe_span: Span | None = None
    windows: list[RawWindow] = field(default_factory=list)


class Stop(Exception):
    """Internal: carries the runtime error that ends evaluation."""

    def __init__(self, error: SchemeError) -> None:
        self.error = error


@dataclass
class Runtime:
    T: int
    K: int
    limits: Limits
    source: SourceFile
    slots: list
    given: FrameSet = field(default_factory=FrameSet.empty)
    done: FrameSet = field(default_factory=FrameSet.empty)
    _todo: FrameSet | None = None
    stages: list[RawStage] = field(default_factory=list)
    no_marginals: bool = False
    phases: list[str] = field(default_factory=list)
    context: list[str | tuple[str, object]] = field(default_factory=list)  # see context_text
    calls: list[str] = field(default_factory=list)  # the procedure calls being run, for messages
    # Calls into imported files being run: the position of each call (the first is in the
    # scheme's own file); `source` is then the file of the code running.
    entries: list[Span] = field(default_factory=list)
    steps: int = 0
    scheme_name: str = ""
    in_params: bool = True
    fuel: int = 0  # evaluation steps used so far (Limits.max_fuel)
    frame_cost: int = SET_OP_STEPS  # steps per operation on a frame set, besides its bitmask work
    _work_seen: int = 0  # frame-set work (work_done) already charged
    holes: HoleMap | None = None  # the mask, for the built-ins that read it (None: no mask)
    joint: JointBuilder | None = None  # the joint block being run (its statements fill it)

    def __post_init__(self) -> None:
        self.max_bits = self.limits.max_int_bits
        self._work_seen = work_done()
        self.set_frames(self.T)

    def set_frames(self, T: int) -> None:
        self.T = T
        self.max_fuel = self.limits.fuel_budget(T)

    @property
    def todo(self) -> FrameSet:
        if self._todo is None:
            self._todo = FrameSet.interval(0, self.T).difference(self.done)
        return self._todo

    def mark_done(self, frames: FrameSet) -> None:
        if frames:
            self.done = self.done.union(frames)
            if self._todo is not None:
                self._todo = self._todo.difference(frames)

    def fail(self, cls: type[SchemeError], message: str, span: Span, notes: list[str] | None = None):
        notes = list(notes or [])
        if self.in_params:
            where = "while evaluating the parameters"
        else:
            n = len(self.stages)
            where = f"after {n} stage{'' if n == 1 else 's'} had been emitted" if n else "before the first stage"
            if self.context:
                where += " (" + ", ".join(context_text(None, c, span) for c in self.context if c) + ")"
        notes += reversed(self.calls)
        notes.append(where)
        raise Stop(cls(message, span, self.source, notes, stage=None if self.in_params else len(self.stages)))

    def charge(self, units: int, span: Span) -> None:
        """Count work that is not a loop iteration (e.g. a built-in that returns many
        frame sets) against the same budget, before doing it."""
        self.steps += units
        if self.steps > self.limits.max_steps:
            self.fail(
                ResourceLimitError,
                f"the scheme does more than {self.limits.max_steps:,} units of work; a built-in here returns too much",
                span,
            )

    def burn(self, units: int, span: Span) -> None:
        """Use `units` evaluation steps, plus the bitmask work frame sets did since the last
        call (vidsched.frames.work_done); passing the fuel budget is an error at `span`."""
        work = work_done()
        self.fuel += units + (work - self._work_seen)
        self._work_seen = work
        if self.fuel > self.max_fuel:
            lim = self.limits
            self.fail(
                ResourceLimitError,
                f"the scheme takes more than {self.max_fuel:,} evaluation steps (the limit on the work of a compile: "
                f"{lim.max_fuel:,} + {lim.fuel_per_frame} per frame with T = {self.T:,})",
                span,
                ["operations on fragmented frame sets (more than 32 runs) cost more on longer videos"],
            )

    def tick(self, span: Span) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail(
                ResourceLimitError,
                f"the scheme ran more than {self.limits.max_steps:,} loop iterations; is a loop stuck?",
                span,
            )


def context_text(rt: Runtime | None, entry: str | tuple[str, object], span: Span) -> str:
    """A loop's value for messages and the plan, e.g. ``i = 3`` or ``piece = 4-7``."""
    if isinstance(entry, str):
        return entry
    name, value = entry
    if isinstance(value, FrameSet):
        if rt is not None:
            rt.burn(1 + 4 * rt.frame_cost, span)  # a few passes over the set (frames_text)
        return f"{name} = {frames_text(value)}"
    return f"{name} = {num_text(value) if isinstance(value, int) and not isinstance(value, bool) else value}"


def listing_steps(s: FrameSet) -> int:
    """Evaluation steps of listing a frame set's members, on top of one per member: a few
    members are found with whole-set operations, more by reading every bit of the span
    (FrameSet.__iter__)."""
    if s.stored_as_runs or len(s) <= 32:  # runs: one step per member is enough
        return 0
    return s.span_end() // BITS_PER_STEP


def listing_cost(rt: Runtime, name: str, args: list) -> int:
    """Evaluation steps of a built-in whose work grows with the members it lists (on top
    of the call's own cost): checked before it runs."""
    if name in MASK_LISTING:  # a pass over each frame set read (informative's rounds: later)
        steps = sum(len(s) + listing_steps(s) for s in args if isinstance(s, FrameSet))
        if name == "informative" and isinstance(args[1], FrameSet):
            steps += len(args[1])  # its pass keeps the nearest frame of each distinct hole
        return steps
    x = args[0]
    if name == "iroot":  # a binary search over about bits(x) / n candidates, a power each
        if isinstance(x, Fraction):
            x = x.numerator // x.denominator
        return 2 * abs(x).bit_length() if isinstance(x, int) else 0
    if isinstance(x, tuple):  # min, max, reversed of a list
        return len(x) // ITEMS_PER_STEP
    if not isinstance(x, FrameSet):
        return 0
    span_steps = listing_steps(x)
    if name in ("min", "max"):
        return 0
    if name == "runs":
        return span_steps + x.run_count() * rt.frame_cost
    if name == "reversed":
        return span_steps + len(x)
    n = args[1] if len(args) > 1 and isinstance(args[1], int) else 0
    if name == "chunks":
        pieces = -(-len(x) // n) if n > 0 else 0
        return span_steps + len(x) + pieces * rt.frame_cost
    if name == "sliding":  # each window lists its members
        step = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        windows = sliding_count(len(x), n, step)
        return span_steps + len(x) + windows * (min(max(n, 0), len(x)) + rt.frame_cost)
    # spread, spread_right, nearest: at most n members picked, from a listing of the set
    # when n is large
    n = min(max(n, 0), len(x))
    return n + (span_steps + len(x) if n > 16 else 0)


def describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, Fraction)):
        return f"the number {num_text(value)}"
    if isinstance(value, FrameSet):
        return f"the frame set {{{frames_text(value)}}}"
    if isinstance(value, tuple):
        return f"a list of {len(value)}"
    return repr(value)


def type_of(value: object) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, Fraction):
        return NUM
    if isinstance(value, FrameSet):
        return SET
    return LIST


def norm(x: Fraction | int) -> Fraction | int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


def num_text(value: int | Fraction) -> str:
    """A number for a message, abbreviated when it is very long."""
    if isinstance(value, Fraction):
        return f"{num_text(value.numerator)}/{num_text(value.denominator)}"
    if value.bit_length() > 3000:  # str() of a huge int is slow (and refused past 4,300 digits)
        return f"a {value.bit_length():,}-bit number"
    text = str(value)
    return text if len(text) <= 40 else f"{text[:16]}...{text[-8:]} ({len(text)} digits)"


def too_many_bits(what: str, bits: int) -> str:
    return f"{what} is too large: it has more than {bits} bits (the limit on integers)"


def power(rt: Runtime, a: int | Fraction, b: int, span: Span) -> int | Fraction:
    """a ** b, refused *before* computing it when the result would pass the bound on
    integers: |x| >= 2 ** (bit_length(x) - 1), so x ** e has at least
    (bit_length(x) - 1) * e + 1 bits. Below that estimate the result has at most about
    twice the bound, cheap to compute and then checked exactly by the caller."""
    e = abs(b)
    num, den = (a.numerator, a.denominator) if isinstance(a, Fraction) else (a, 1)
    for part in (num, den):
        bits = abs(part).bit_length()
        if bits > 1 and (bits - 1) * e + 1 > rt.max_bits:
            base = f"({num_text(a)})" if isinstance(a, Fraction) or a < 0 else num_text(a)
            rt.fail(
                EvaluationError,
                f"{base} ** {num_text(b)} is too large: the result would have more than "
                f"{rt.max_bits} bits (the limit on integers)",
                span,
            )
    return Fraction(a) ** b if b < 0 else a**b
