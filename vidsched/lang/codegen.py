"""The code :mod:`vidsched.lang.check` generates: each node of a checked scheme becomes
a Python closure over a :class:`~vidsched.lang.machine.Runtime`, so evaluation does not
re-dispatch on node types (a 10,000-frame scheme runs tens of thousands of loop
iterations).

The checker decides, from the static types, which closure a node needs (a conversion
is left out where the type says the value has the right kind already, a fast path is
taken for whole numbers); the functions here build those closures, and check at run
time what the static types could not settle (a type known only at run time, a bound on
integers, a range's step). Each statement's static cost in evaluation steps
(:attr:`~vidsched.lang.limits.Limits.max_fuel`), counted by the checker with the
weights below, is charged when the statement runs; :func:`emit` appends a stage.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from fractions import Fraction

from vidsched.errors import (
    AssertionFailedError,
    EvaluationError,
    LoopLimitError,
    MaskRequiredError,
    NoProgressError,
    ResourceLimitError,
    SchemeTypeError,
    Span,
)
from vidsched.frames import MAX_RUNS, FrameSet
from vidsched.lang.builtins import ANY, INT, LIST, NUM, REQUIRED, SET, Builtin, BuiltinFailure
from vidsched.lang.machine import (
    ITEMS_PER_STEP,
    JointBuilder,
    context_text,
    describe,
    listing_cost,
    listing_steps,
    norm,
    num_text,
    power,
    too_many_bits,
    type_of,
)
from vidsched.lang.stages import RawStage, RawWindow

# ---- costs -------------------------------------------------------------------------
# Evaluation steps (Limits.max_fuel) of the work that is not an expression.
STAGE_STEPS = 150  # a stage's validation and lowering, besides its frames
STAGE_SET_OPS = 12  # ... and the operations on frame sets they do
STEPS_PER_FRAME = 2  # each frame of a stage's window (the plan lists them)

BIG = (SET, LIST, ANY)  # static types whose operations cost rt.frame_cost steps
FAST_OPS = {(INT, INT, "+"), (INT, INT, "-")} | {(SET, SET, op) for op in "|&-"}
INT_ARITH_STEPS = 4  # * // % on whole numbers (checked for their size)
ARITH_STEPS = 16  # an operator on fractions (or on types known at run time): Fraction is slow
CALL_STEPS = 4  # a call to a built-in
COMPARE_STEPS = 2  # each comparison of a chain


# ---- conversions -------------------------------------------------------------------
def set_conv(typ: str, span: Span, what: str) -> Callable | None:
    """A function (rt, value) -> frame set (a frame number becomes a one-frame set),
    or None when `typ` says the value is a frame set already."""
    if typ == SET:
        return None

    def to_set(rt, v):
        if isinstance(v, FrameSet):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return FrameSet.interval(v, v + 1) if 0 <= v < rt.T else FrameSet.empty()
        rt.fail(SchemeTypeError, f"{what} must be a frame set, not {describe(v)}", span)

    return to_set


def as_set_fn(fn: Callable, typ: str, span: Span, what: str) -> Callable:
    """Wrap `fn` so its value is a frame set (a frame number becomes a one-frame set)."""
    conv = set_conv(typ, span, what)
    if conv is None:
        return fn
    return lambda rt: conv(rt, fn(rt))


def as_int_fn(fn: Callable, typ: str, span: Span, what: str) -> Callable:
    if typ == INT:
        return fn

    def to_int(rt):
        v = fn(rt)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, Fraction):
            rt.fail(SchemeTypeError, f"{what} must be a whole number, not {v} (use floor() or //)", span)
        rt.fail(SchemeTypeError, f"{what} must be a whole number, not {describe(v)}", span)

    return to_int


def as_num_fn(fn: Callable, typ: str, span: Span, what: str) -> Callable:
    if typ in (INT, NUM):
        return fn

    def to_num(rt):
        v = fn(rt)
        if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
            return v
        rt.fail(SchemeTypeError, f"{what} must be a number, not {describe(v)}", span)

    return to_num


def truth_fn(fn: Callable, span: Span, what: str) -> Callable:
    """A condition whose value is checked at run time: a boolean, or a frame set or list
    (true when not empty)."""

    def truth(rt):
        v = fn(rt)
        if isinstance(v, bool):
            return v
        if isinstance(v, (FrameSet, tuple)):
            return bool(v)
        rt.fail(SchemeTypeError, f"{what} must be a boolean or a frame set, not {describe(v)}", span)

    return truth


# ---- expressions -------------------------------------------------------------------
def big_literal_fn(v: int, span: Span) -> Callable:
    def big_literal(rt):  # the parser checked it against its own limits, maybe not these
        if v.bit_length() > rt.max_bits:
            rt.fail(EvaluationError, too_many_bits(f"the number {num_text(v)}", rt.max_bits), span)
        return v

    return big_literal


def set_literal_fn(parts: list[Callable]) -> Callable:
    def build(rt):
        out = FrameSet.empty()
        for p in parts:
            out = out.union(p(rt))
        return out

    return build


def range_fn(start_fn: Callable, stop_fn: Callable, step_fn: Callable | None, inclusive: bool,
             step_span: Span) -> Callable:
    def build(rt):
        a, b = start_fn(rt), stop_fn(rt)
        if inclusive:
            b += 1
        s = step_fn(rt) if step_fn is not None else 1
        if s < 1:
            rt.fail(EvaluationError, f"a range's step must be at least 1, got {s}", step_span)
        # Clip before enumerating: frames outside 0..T-1 never exist.
        if a < 0:
            a += -(-(0 - a) // s) * s
        b = min(b, rt.T)
        if s == 1:
            return FrameSet.interval(a, b)
        return FrameSet.range(a, b, s) if a < b else FrameSet.empty()

    return build


def compare_fn(checks: list[Callable], fns: list[Callable]) -> Callable:
    """A chain ``a < b <= c``: each test (rt, left, right) on neighbouring operands."""
    if len(checks) == 1:
        test = checks[0]
        lf, rf = fns[0], fns[1]
        return lambda rt: test(rt, lf(rt), rf(rt))

    def chain(rt):
        left = fns[0](rt)
        for k, test in enumerate(checks):
            right = fns[k + 1](rt)
            if not test(rt, left, right):
                return False
            left = right
        return True

    return chain


def member_test(op: str, span: Span) -> Callable:
    negate = op == "not in"

    def member(rt, a, b):
        if not isinstance(b, (FrameSet, tuple)):
            rt.fail(SchemeTypeError, f"the right side of {op} must be a frame set, not {describe(b)}", span)
        if isinstance(b, tuple):
            rt.burn(len(b) // ITEMS_PER_STEP, span)
        return (a in b) != negate

    return member


def equal_test(op: str, lists: bool, span: Span) -> Callable:
    """``==`` / ``!=``; `lists`: an operand may be a list (compared item by item, charged)."""
    eq = op == "=="
    if not lists:
        return lambda rt, a, b: (a == b) == eq

    def equal(rt, a, b):
        if isinstance(a, tuple) and isinstance(b, tuple):
            rt.burn(min(len(a), len(b)) * rt.frame_cost // ITEMS_PER_STEP, span)
        return (a == b) == eq

    return equal


def ordered_test(op: str, numbers: bool, span: Span) -> Callable:
    """``<`` ``<=`` ``>`` ``>=``; `numbers`: both operands are statically numbers."""
    pyop = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
    if numbers:
        return lambda rt, a, b: pyop(a, b)

    def ordered(rt, a, b):
        for v in (a, b):
            if not isinstance(v, (int, Fraction)) or isinstance(v, bool):
                rt.fail(SchemeTypeError, f"{op} compares numbers, not {describe(v)}", span)
        return pyop(a, b)

    return ordered


def set_op_step(op: str, lconv: Callable | None, rf: Callable) -> Callable:
    """``|``, ``&`` or ``-`` on frame sets, as a step (rt, left value) -> value of a chain."""
    if op == "|":
        if lconv is None:
            return lambda rt, a: a.union(rf(rt))
        return lambda rt, a: lconv(rt, a).union(rf(rt))
    if op == "&":
        if lconv is None:
            return lambda rt, a: a.intersection(rf(rt))
        return lambda rt, a: lconv(rt, a).intersection(rf(rt))
    if lconv is None:
        return lambda rt, a: a.difference(rf(rt))
    return lambda rt, a: lconv(rt, a).difference(rf(rt))


def arith_step(op: str, lt: str, rtp: str, rfn: Callable, span: Span) -> Callable:
    """An arithmetic operator as a step (rt, left value) -> value of a chain; `lt` and
    `rtp` are the operands' static types. Every result is bounded (rt.max_bits)."""

    def check_num(rt, v):
        if not isinstance(v, (int, Fraction)) or isinstance(v, bool):
            rt.fail(SchemeTypeError, f"{op} needs numbers, not {describe(v)}", span)

    def arith(rt, a, b):
        check_num(rt, a)
        check_num(rt, b)
        try:
            if op == "+":
                r = a + b
            elif op == "-":
                r = a - b
            elif op == "*":
                r = a * b
            elif op == "/":
                r = Fraction(a) / b
            elif op == "//":
                r = a // b
                r = int(r)
            elif op == "%":
                r = a % b
            elif op == "**":
                if not isinstance(b, int):
                    rt.fail(EvaluationError, f"** needs a whole-number exponent, not {b} (use iroot)", span)
                r = power(rt, a, b, span)
            else:  # pragma: no cover
                raise AssertionError(op)
        except ZeroDivisionError:
            rt.fail(EvaluationError, "division by zero", span)
        r = norm(r)
        bits = r.bit_length() if isinstance(r, int) else max(r.numerator.bit_length(), r.denominator.bit_length())
        if bits > rt.max_bits:
            rt.fail(EvaluationError, too_many_bits(f"the result of {op}", rt.max_bits), span)
        return r

    if (op == "-" and lt == ANY) or (rtp == ANY and op == "-"):
        # Could be set difference or subtraction: decide at run time.
        def minus(rt, a):
            b = rfn(rt)
            if isinstance(a, FrameSet):
                if isinstance(b, int) and not isinstance(b, bool):
                    b = FrameSet.interval(b, b + 1)
                if not isinstance(b, FrameSet):
                    rt.fail(SchemeTypeError, f"cannot subtract {describe(b)} from a frame set", span)
                return a.difference(b)
            return arith(rt, a, b)

        return minus
    if lt == INT and rtp == INT and op in ("+", "-"):
        # The common case, kept fast; the bound on integers still applies.
        def fits(rt, r):
            if r.bit_length() > rt.max_bits:
                rt.fail(EvaluationError, too_many_bits(f"the result of {op}", rt.max_bits), span)
            return r

        if op == "+":
            return lambda rt, a: fits(rt, a + rfn(rt))
        return lambda rt, a: fits(rt, a - rfn(rt))
    return lambda rt, a: arith(rt, a, rfn(rt))


def binop_chain_fn(fn: Callable, steps: list[Callable]) -> Callable:
    """`a + b - c ...`: the first operand, then each operator's step, in a loop."""
    if len(steps) == 1:
        (step,) = steps
        return lambda rt: step(rt, fn(rt))
    steps_t = tuple(steps)

    def chain(rt):
        value = fn(rt)
        for step in steps_t:
            value = step(rt, value)
        return value

    return chain


def defined_call_fn(fns: list[Callable], slots: list[int], body: Callable, span: Span, where: str,
                    body_source, imported: str) -> Callable:
    """A call of a procedure or function compiled in place: bind the arguments to the
    body's slots and run it (with `where` among the notes of an error; `body_source`:
    the body's file where it is another file, brought in by the import `imported`)."""

    def call(rt):
        values = [f(rt) for f in fns]
        rt.burn(len(values), span)
        for slot, value in zip(slots, values):
            rt.slots[slot] = value
        if body_source is not None:  # (notes come out in reverse: the call, then the import)
            rt.calls.append(imported)
            rt.entries.append(span)
            caller_source, rt.source = rt.source, body_source
        rt.calls.append(where)
        try:
            return body(rt)
        finally:
            rt.calls.pop()
            if body_source is not None:
                rt.source = caller_source
                rt.entries.pop()
                rt.calls.pop()

    return call


def builtin_call_fn(builtin: Builtin, converted: list[Callable], span: Span) -> Callable:
    """A call of a built-in (:mod:`vidsched.lang.builtins`) on its converted arguments."""
    impl = builtin.impl
    name = builtin.name
    reads_mask = builtin.mask

    def call(rt):
        if reads_mask == REQUIRED and rt.holes is None:
            rt.fail(
                MaskRequiredError,
                f"{name}() needs the mask: compile with --mask MASK",
                span,
                ["test has_mask() first for a scheme that also compiles without a mask"],
            )
        args = [f(rt) for f in converted]
        if builtin.lists:
            rt.burn(listing_cost(rt, name, args), span)
        if name in ("chunks", "runs") and isinstance(args[0], FrameSet):
            # Charge the list's size up front so `chunks(todo, 1)` on a huge video is
            # refused, not slow. A piece of at most MAX_RUNS runs is stored as its runs;
            # a piece of a fragmented set may be a bitmask as wide as the video.
            size = args[1] if name == "chunks" and isinstance(args[1], int) else 0
            pieces = args[0].run_count() if name == "runs" else -(-len(args[0]) // size) if size > 0 else 0
            wide = name == "chunks" and size > MAX_RUNS and not args[0].stored_as_runs
            rt.charge(pieces * (1 + (rt.T // 64 if wide else 0)), span)
        if builtin.accepts:
            for arg in args:  # (no built-in that reads the mask takes ANY)
                if type_of(arg) not in builtin.accepts:
                    rt.fail(SchemeTypeError, f"{builtin.accepts_text()}, not {describe(arg)}", span)
        if name == "informative":  # its greedy rounds are charged once it knows them
            args.append(lambda units: rt.burn(units, span))
        try:
            return impl(rt.holes, *args) if reads_mask else impl(*args)
        except BuiltinFailure as e:
            rt.fail(EvaluationError, str(e), span)
        except TypeError:
            rt.fail(SchemeTypeError, f"{name}() cannot take {', '.join(describe(a) for a in args)}", span)

    return call


# ---- statements --------------------------------------------------------------------
def block_fn(fns: list[Callable]) -> Callable:
    """A block's statements in order; ``no marginals`` lasts to the end of its block."""

    def run(rt):
        saved = rt.no_marginals
        for f in fns:
            f(rt)
        rt.no_marginals = saved

    return run


def store_fn(fn: Callable, slot: int, steps: int, ops: int, span: Span) -> Callable:
    """``let x = ...`` / ``x = ...``: charge the expression's cost, store its value."""

    def run(rt):
        rt.burn(1 + steps + ops * rt.frame_cost, span)
        rt.slots[slot] = fn(rt)

    return run


def if_fn(branches: list[tuple[int, int, Span, Callable, Callable]], orelse: Callable | None) -> Callable:
    """`branches`: (steps, frame-set operations, condition's span, test, body) each."""

    def run(rt):
        for steps, ops, cond_span, test, body in branches:
            rt.burn(steps + ops * rt.frame_cost, cond_span)
            if test(rt):
                body(rt)
                return
        if orelse is not None:
            orelse(rt)

    return run


def for_fn(it_fn: Callable, steps: int, ops: int, slot: int, name: str, body: Callable, span: Span) -> Callable:
    def run(rt):
        rt.burn(1 + steps + ops * rt.frame_cost, span)
        items = it_fn(rt)
        if isinstance(items, FrameSet):
            rt.burn(listing_steps(items), span)
        if isinstance(items, int) and not isinstance(items, bool):
            rt.fail(SchemeTypeError, f"a for loop iterates over a frame set or a list, not {describe(items)}", span)
        if not isinstance(items, (FrameSet, tuple)):
            rt.fail(SchemeTypeError, f"a for loop iterates over a frame set or a list, not {describe(items)}", span)
        rt.context.append("")
        try:
            for value in items:
                rt.tick(span)
                rt.burn(3, span)  # the iteration, its context and its body's block
                rt.slots[slot] = value
                rt.context[-1] = (name, value)  # as text only when needed (context_text)
                body(rt)
        finally:
            rt.context.pop()

    return run


def while_fn(cond_fn: Callable, cond_steps: int, cond_ops: int, limit_fn: Callable | None, limit_steps: int,
             limit_ops: int, body: Callable, span: Span, line: int | str) -> Callable:
    """A while loop, bounded by its limit (or the default one) and stopped where an
    iteration makes no progress; `line`: where it is, for the context of an error."""

    def run(rt):
        rt.burn(1 + limit_steps + limit_ops * rt.frame_cost, span)
        limit = limit_fn(rt) if limit_fn is not None else rt.limits.default_while_limit(rt.T)
        # Each test of the condition, and the no-progress check of each iteration
        # (a copy and a comparison of every variable).
        per_iteration = 1 + cond_steps + len(rt.slots) // 16
        rt.context.append("")
        try:
            iteration = 0
            while True:
                rt.burn(per_iteration + cond_ops * rt.frame_cost, span)
                if not cond_fn(rt):
                    break
                rt.context[-1] = f"iteration {iteration + 1} of the while at line {line}"
                if iteration >= limit:
                    rt.fail(
                        LoopLimitError,
                        f"this while loop passed its limit of {limit} iterations",
                        span,
                        [] if limit_fn is not None else ["raise it with `while COND limit N { ... }` if that is intended"],
                    )
                iteration += 1
                rt.tick(span)
                rt.context[-1] = f"iteration {iteration} of the while at line {line}"
                before = (list(rt.slots), rt.done, len(rt.stages))
                body(rt)
                if len(rt.stages) == before[2] and rt.done == before[1] and rt.slots == before[0]:
                    rt.fail(
                        NoProgressError,
                        "this while loop makes no progress: an iteration changed no variable and emitted no stage",
                        span,
                        ["its condition stays true forever"],
                    )
        finally:
            rt.context.pop()

    return run


def assert_fn(fn: Callable, steps: int, ops: int, message: str | None, cond_text: str, span: Span) -> Callable:
    def run(rt):
        rt.burn(1 + steps + ops * rt.frame_cost, span)
        if not fn(rt):
            rt.fail(AssertionFailedError, message or f"assertion failed: {cond_text}", span,
                    [f"condition: {cond_text}"] if message else [])

    return run


def given_fn(fn: Callable, steps: int, ops: int, span: Span) -> Callable:
    def run(rt):
        rt.burn(1 + steps + (ops + 3) * rt.frame_cost, span)
        frames = fn(rt)
        if rt.stages:
            rt.fail(EvaluationError, "given must come before the first stage", span)
        rt.given = rt.given.union(frames)
        rt.mark_done(frames)

    return run


def call_stmt_fn(call: Callable, steps: int, ops: int, span: Span) -> Callable:
    def run(rt):
        rt.burn(1 + steps + ops * rt.frame_cost, span)
        call(rt)

    return run


def no_marginals_fn() -> Callable:
    def run(rt):
        rt.no_marginals = True

    return run


def phase_fn(body: Callable, label: str) -> Callable:
    def run(rt):
        rt.phases.append(label)
        try:
            body(rt)
        finally:
            rt.phases.pop()

    return run


def stage_fn(gens: list[Callable], obs: list[Callable], steps: int, ops: int, label: str | None, span: Span,
             gen_span: Span | None, obs_span: Span | None) -> Callable:
    def run(rt):
        rt.burn(steps + ops * rt.frame_cost, span)
        if rt.joint is not None:
            rt.fail(EvaluationError, "a stage inside a joint block: a joint's windows are written `window S`",
                    span)
        generate = FrameSet.empty()
        for f in gens:
            generate = generate.union(f(rt))
        observe = FrameSet.empty()
        for f in obs:
            observe = observe.union(f(rt))
        emit(rt, span, label, generate, observe, gen_span, obs_span)

    return run


def joint_fn(shift_fn: Callable | None, steps: int, ops: int, body: Callable, label: str | None, span: Span,
             shift_span: Span) -> Callable:
    """A joint block: its body fills one group, emitted as one unit (the state changes
    after the whole group, never inside it)."""

    def run(rt):
        rt.burn(steps + ops * rt.frame_cost, span)
        if rt.joint is not None:
            rt.fail(EvaluationError, "a joint block inside a joint block", span,
                    ["a group's windows are `window S` statements; groups do not nest"])
        shift = shift_fn(rt) if shift_fn is not None else 0
        if shift < 0:
            rt.fail(EvaluationError, f"a joint's shift must be at least 0, got {num_text(shift)}", shift_span)
        group = rt.joint = JointBuilder(source=rt.source)
        try:
            body(rt)
        finally:
            rt.joint = None
        emit(rt, span, label, group.generate, group.observe, group.generate_span, group.observe_span,
             tuple(group.windows), shift)

    return run


def role_fn(role: str, fn: Callable, to_set: Callable, steps: int, ops: int, span: Span,
            frames_span: Span) -> Callable:
    """``generate S`` / ``observe S`` / ``window S`` inside a joint block."""

    def run(rt):
        rt.burn(1 + steps + (ops + 1) * rt.frame_cost, span)
        group = rt.joint
        if group is None:
            rt.fail(EvaluationError, f"`{role}` outside a joint block", span)
        value = fn(rt)
        if role == "generate":
            group.generate = group.generate.union(value)
            group.generate_span = group.generate_span or (span if rt.source is group.source else None)
        elif role == "observe":
            group.observe = group.observe.union(value)
            group.observe_span = group.observe_span or (span if rt.source is group.source else None)
        else:
            items = value if isinstance(value, tuple) else (value,)
            for item, v in enumerate(items):
                frames = to_set(rt, v)
                rt.tick(frames_span)
                rt.burn(len(frames) * STEPS_PER_FRAME + listing_steps(frames), span)
                group.windows.append(RawWindow(frames, span, rt.source, tuple(rt.calls),
                                               item if isinstance(value, tuple) else None))

    return run


def emit(rt, span: Span, label: str | None, generate: FrameSet, observe: FrameSet, gen_span: Span | None,
         obs_span: Span | None, windows: tuple[RawWindow, ...] | None = None, shift: int = 0) -> None:
    """Append a stage (or a joint group) to the stage list and mark its frames done."""
    index = len(rt.stages)
    if index >= rt.limits.max_stages:
        rt.fail(ResourceLimitError, f"the scheme emitted more than {rt.limits.max_stages:,} stages", span)
    rt.tick(span)
    # Validating and lowering the stage lists its frames (the plan has them all).
    window = generate.union(observe)
    rt.burn(len(window) * STEPS_PER_FRAME + listing_steps(window), span)
    name = label or (rt.phases[-1] if rt.phases else rt.scheme_name)
    if label and rt.phases:
        name = f"{rt.phases[-1]}/{label}"
    context = tuple(context_text(rt, c, span) for c in rt.context if c)
    entries = rt.entries
    rt.stages.append(
        RawStage(index, name, generate, observe, span, gen_span, obs_span, context, rt.no_marginals,
                 tuple(rt.calls), rt.source if entries else None, entries[0] if entries else None,
                 windows, shift)
    )
    rt.mark_done(generate)
