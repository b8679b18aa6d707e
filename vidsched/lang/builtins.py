"""Built-in functions of the scheme language.

Each entry says its arity, the static type of each argument and its type rule (the type
of its result from its arguments' types; used by the checker to report wrong types
before anything runs) and its implementation. All
functions are total on valid input and raise :class:`BuiltinFailure` with a message in
the user's terms otherwise; the evaluator attaches the call's position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from vidsched.frames import FrameSet

# Static types. "num" is an integer or an exact fraction (from `/`).
INT, NUM, BOOL, SET, LIST, ANY = "int", "num", "bool", "set", "list", "any"
#: A static type in a message ("must be a frame set, not a whole number").
TYPE_TEXT = {INT: "a whole number", NUM: "a number", BOOL: "a boolean", SET: "a frame set", LIST: "a list"}


# Whether a built-in reads the mask (Builtin.mask).
OPTIONAL, REQUIRED = "optional", "required"


class BuiltinFailure(Exception):
    """A built-in was called with values it cannot accept."""


@dataclass(frozen=True)
class Builtin:
    name: str
    params: tuple[str, ...]  # static type per argument; "set" also accepts a frame number
    result: str
    impl: Callable[..., object]
    doc: str
    variadic: bool = False  # the last param repeats (at least one)
    # The result's static type from the arguments' (default: always `result`).
    type_rule: Callable[[tuple[str, ...]], str] | None = None
    # What an argument of static type ANY must be (checked statically when its type is
    # known, else when it runs); empty: anything the implementation takes.
    accepts: tuple[str, ...] = ()
    # Its work grows with the members it lists or returns: the evaluator charges them.
    lists: bool = False
    # It reads the mask: the evaluator passes the HoleMap (vidsched.lang.holes), or None
    # without a mask, as the first argument. REQUIRED: a call without a mask is an error
    # at the call; OPTIONAL: the function answers without one.
    mask: str = ""

    def arity_text(self) -> str:
        if self.variadic:
            return f"at least {len(self.params)}"
        return str(len(self.params))

    def param_type(self, position: int, count: int) -> str:
        """The static type argument `position` of a call with `count` arguments must have."""
        if self.variadic and count > 1:
            return NUM  # min(a, b, ...) / max(a, b, ...) over numbers
        return self.params[min(position, len(self.params) - 1)]

    def result_type(self, arg_types: tuple[str, ...]) -> str:
        return self.type_rule(arg_types) if self.type_rule is not None else self.result

    def accepts_type(self, arg_type: str) -> bool:
        """Whether an argument of static type `arg_type` may stand where the parameter
        says ANY (a type known only when it runs is checked then)."""
        return not self.accepts or arg_type == ANY or arg_type in self.accepts

    def accepts_text(self) -> str:
        """``len() takes a frame set or a list``: the start of a refusal's message."""
        return f"{self.name}() takes {' or '.join(TYPE_TEXT[t] for t in self.accepts)}"


def _numeric_type(types: tuple[str, ...]) -> str:
    """min, max, abs of whole numbers are whole; of a value known only when it runs
    (a loop variable over a list), known then; otherwise a number."""
    if types and all(t == INT for t in types):
        return INT
    if any(t in (ANY, LIST) for t in types):
        return ANY
    return NUM


def _extreme_type(types: tuple[str, ...]) -> str:
    """min(S) / max(S) of a frame set is a frame; of numbers, as :func:`_numeric_type`."""
    return INT if types == (SET,) else _numeric_type(types)


def _count(n: object, what: str = "n") -> int:
    if not isinstance(n, int) or isinstance(n, bool):
        raise BuiltinFailure(f"{what} must be a whole number, got {n}")
    if n < 0:
        raise BuiltinFailure(f"{what} must be at least 0, got {n}")
    return n


def _as_int(x: object, what: str) -> int:
    if isinstance(x, Fraction):
        raise BuiltinFailure(f"{what} must be a whole number, got {x} (use floor() or //)")
    return x  # type: ignore[return-value]


def _nonempty(s: FrameSet, fn: str) -> FrameSet:
    if not s:
        raise BuiltinFailure(f"{fn}() of an empty frame set")
    return s


def _min(*args):
    if len(args) == 1:
        (x,) = args
        if isinstance(x, FrameSet):
            return _nonempty(x, "min").min()
        if isinstance(x, tuple):
            if not x:
                raise BuiltinFailure("min() of an empty list")
            return min(x)
        return x
    return min(args)


def _max(*args):
    if len(args) == 1:
        (x,) = args
        if isinstance(x, FrameSet):
            return _nonempty(x, "max").max()
        if isinstance(x, tuple):
            if not x:
                raise BuiltinFailure("max() of an empty list")
            return max(x)
        return x
    return max(args)


def _len(x):
    return len(x)


def _ceil_div(a, b):
    a, b = _as_int(a, "ceil_div's first argument"), _as_int(b, "ceil_div's second argument")
    if b == 0:
        raise BuiltinFailure("ceil_div by zero")
    return -(-a // b)


def _floor(x):
    return x.numerator // x.denominator if isinstance(x, Fraction) else x


def _ceil(x):
    return -(-x.numerator // x.denominator) if isinstance(x, Fraction) else x


def _iroot(x, n):
    """floor(x ** (1/n)) for a non-negative integer or fraction x, exactly.

    The largest r with r**n <= x is the largest with r**n <= floor(x) (r**n is a whole
    number). That r is below 2 ** (bit_length(floor(x)) / n + 1), so the search is over
    numbers of a few bits more than x ** (1/n), whatever n is: a huge degree costs
    nothing (the root is then 1).
    """
    n = _count(n, "the root's degree")
    if n == 0:
        raise BuiltinFailure("iroot's degree must be at least 1")
    if x < 0:
        raise BuiltinFailure(f"iroot of a negative number ({x})")
    q = x.numerator // x.denominator if isinstance(x, Fraction) else x
    if q < 2:
        return q  # 0 or 1
    bits = q.bit_length()
    if n >= bits:  # 1 <= q < 2 ** bits <= 2 ** n: the root is in [1, 2)
        return 1
    lo, hi = 1, 1 << (bits // n + 1)  # lo ** n <= q < hi ** n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid**n <= q:
            lo = mid
        else:
            hi = mid
    return lo


def _first(s, n):
    return s.first(_count(n))


def _last(s, n):
    return s.last(_count(n))


def _nearest(s, n, to):
    return s.nearest(_count(n), _as_int(to, "nearest's frame"))


def _spread(s, n):
    return s.spread(_count(n))


def _spread_right(s, n):
    return s.spread_right(_count(n))


def _chunks(s, n):
    n = _count(n, "the chunk size")
    if n == 0:
        raise BuiltinFailure("chunks() needs a chunk size of at least 1")
    return tuple(s.chunks(n))


def _sliding(s, n, step):
    """Windows of n consecutive members of S, one every `step` members, the last one
    ending at S's last member (so every member is in a window); S itself when it has at
    most n members."""
    n, step = _count(n, "the window size"), _count(step, "the step")
    if n == 0 or step == 0:
        raise BuiltinFailure(f"sliding() needs a window size and a step of at least 1, got {n} and {step}")
    members = list(s)
    if not members:
        return ()
    last = max(len(members) - n, 0)
    starts = list(range(0, last + 1, step))
    if starts[-1] != last:
        starts.append(last)
    return tuple(FrameSet.of(members[i : i + n]) for i in starts)


def sliding_count(members: int, n: int, step: int) -> int:
    """How many windows sliding() returns for a set of `members` members."""
    if members <= 0 or n <= 0 or step <= 0:
        return 0
    return -(-max(members - n, 0) // step) + 1


def _after(s, f):
    return s.after(_as_int(f, "after's frame"))


def _before(s, f):
    return s.before(_as_int(f, "before's frame"))


def _nth(s, i):
    i = _as_int(i, "nth's position")
    n = len(s)
    if not -n <= i < n:
        raise BuiltinFailure(f"nth(S, {i}): S has {n} members")
    return s.at(i % n)


def _runs(s):
    return tuple(FrameSet.interval(lo, hi) for lo, hi in s.runs)


def _reversed(x):
    if isinstance(x, FrameSet):
        return tuple(reversed(x))
    return tuple(reversed(x))


def _abs(x):
    return abs(x)


def _has_mask(holes):
    return holes is not None


def _hole_fraction(holes, s):
    return holes.hole_fraction(s)


def _coverage(holes, a, b):
    return holes.coverage(a, b)


def _informative(holes, s, candidates, n, charge=None):
    return holes.informative(s, candidates, _count(n), charge)


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in [
        Builtin("len", (ANY,), INT, _len, "number of members of a frame set or list", accepts=(SET, LIST)),
        Builtin("min", (ANY,), NUM, _min, "smallest frame of a set, or smallest of several numbers", True,
                type_rule=_extreme_type, lists=True),
        Builtin("max", (ANY,), NUM, _max, "largest frame of a set, or largest of several numbers", True,
                type_rule=_extreme_type, lists=True),
        Builtin("abs", (NUM,), NUM, _abs, "absolute value", type_rule=_numeric_type),
        Builtin("ceil_div", (NUM, NUM), INT, _ceil_div, "a / b rounded up"),
        Builtin("floor", (NUM,), INT, _floor, "round a fraction down"),
        Builtin("ceil", (NUM,), INT, _ceil, "round a fraction up"),
        Builtin("iroot", (NUM, INT), INT, _iroot, "floor(x ** (1/n)), exact", lists=True),
        Builtin("first", (SET, INT), SET, _first, "the n smallest members"),
        Builtin("last", (SET, INT), SET, _last, "the n largest members"),
        Builtin("nearest", (SET, INT, INT), SET, _nearest, "the n members closest to a frame (ties: earlier)",
                lists=True),
        Builtin("spread", (SET, INT), SET, _spread, "n members evenly spaced, first and last included", lists=True),
        Builtin(
            "spread_right", (SET, INT), SET, _spread_right,
            "the first member, then the last member of each of n-1 equal parts (FDM's linspace)", lists=True,
        ),
        Builtin("chunks", (SET, INT), LIST, _chunks, "consecutive pieces of n members", lists=True),
        Builtin("sliding", (SET, INT, INT), LIST, _sliding,
                "windows of n consecutive members, one every step members, the last ending at the last member",
                lists=True),
        Builtin("after", (SET, INT), SET, _after, "members greater than a frame"),
        Builtin("before", (SET, INT), SET, _before, "members smaller than a frame"),
        Builtin("nth", (SET, INT), INT, _nth, "the member at a position (negative: from the end)"),
        Builtin("runs", (SET,), LIST, _runs, "the maximal runs of consecutive frames, as a list of sets", lists=True),
        Builtin("reversed", (ANY,), LIST, _reversed, "a set's frames (or a list) in reverse order, as a list",
                lists=True),
        Builtin("has_mask", (), BOOL, _has_mask, "whether the scheme is compiled for a mask (--mask)",
                mask=OPTIONAL),
        Builtin("hole_fraction", (SET,), NUM, _hole_fraction,
                "the share of the mask's grid cells that are a hole in S (in any frame of S)", lists=True,
                mask=REQUIRED),
        Builtin("coverage", (SET, SET), NUM, _coverage,
                "the share of the hole of A that B knows (cells known in some frame of B)", lists=True,
                mask=REQUIRED),
        Builtin("informative", (SET, SET, INT), SET, _informative,
                "at most n frames of C that know most of the hole of S, picked greedily", lists=True,
                mask=REQUIRED),
    ]
}
