"""Check a scheme's AST and run it: the evaluator that emits the ordered stage list.

Two passes, in the manner of miniwdl:

1. :func:`check` walks the AST once, resolving every name to a slot, inferring static
   types and checking arity, assignments and operand types. It collects *every* error
   (sorted by position) instead of stopping at the first, and at the same time compiles
   each node to a Python closure, so evaluation does not re-dispatch on node types (a
   10,000-frame scheme runs tens of thousands of loop iterations).
2. :func:`evaluate` runs the compiled program with its parameters and returns a
   :class:`StageList`: the stages in program order with the frames each generates and
   observes. It does not judge the stages; `validate.py` does.

The language has no I/O and no way to reach Python: values are integers, exact
fractions, booleans, frame sets and tuples (lists). Loops are bounded, integers are
bounded, and the number of stages and loop iterations is bounded (:class:`Limits`), so
every program terminates.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from vidsched.errors import (
    ArityError,
    AssertionFailedError,
    AssignmentError,
    EvaluationError,
    LoopLimitError,
    NoProgressError,
    ParameterError,
    ResourceLimitError,
    SchemeError,
    SchemeErrors,
    SchemeTypeError,
    SourceFile,
    Span,
    UnknownNameError,
)
from vidsched.frames import FrameSet
from vidsched.frames_text import compact_ranges
from vidsched.lang import ast
from vidsched.lang.builtins import ANY, BOOL, BUILTINS, INT, LIST, NUM, SET, BuiltinFailure

STATE_NAMES = ("done", "todo", "given")
KEYWORDS = frozenset(
    "scheme let if else for in while limit assert given stage phase no marginals "
    "generate observe true false and or not by".split()
)
REQUIRED_PARAMS = ("T", "K")
TYPE_TEXT = {INT: "a whole number", NUM: "a number", BOOL: "a boolean", SET: "a frame set", LIST: "a list"}


@dataclass(frozen=True)
class Limits:
    """Bounds that guarantee every scheme terminates quickly."""

    max_frames: int = 10_000_000  # largest T
    max_stages: int = 200_000
    max_steps: int = 20_000_000  # loop iterations and stages, all loops together
    max_int_bits: int = 256
    # A `while` without `limit N` may run at most this many iterations per entry:
    # generous for any scheme that makes progress (a stage per iteration needs <= T).
    while_limit_per_frame: int = 4
    while_limit_base: int = 1000

    def default_while_limit(self, num_frames: int) -> int:
        return self.while_limit_per_frame * num_frames + self.while_limit_base


# ---- the stage list (output of evaluation) ------------------------------------------
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


# ---- compiled program -------------------------------------------------------------
@dataclass
class _Var:
    name: str
    slot: int
    type: str
    kind: str  # "param" | "let" | "for"
    span: Span


class _Scope:
    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.vars: dict[str, _Var] = {}

    def lookup(self, name: str) -> _Var | None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        return None

    def visible_names(self) -> list[str]:
        names: list[str] = []
        scope: _Scope | None = self
        while scope is not None:
            names += scope.vars
            scope = scope.parent
        return names


@dataclass
class Program:
    """A checked scheme, compiled to closures; run it with :func:`evaluate`."""

    scheme: ast.Scheme
    source: SourceFile
    param_names: tuple[str, ...]
    param_spans: dict[str, Span]
    param_fns: tuple[Callable, ...]
    body: Callable
    num_slots: int
    param_types: dict[str, str] = field(default_factory=dict)  # static type of each default


class _Stop(Exception):
    """Internal: carries the runtime error that ends evaluation."""

    def __init__(self, error: SchemeError) -> None:
        self.error = error


@dataclass
class _Runtime:
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
    context: list[str] = field(default_factory=list)
    steps: int = 0
    scheme_name: str = ""
    in_params: bool = True

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
                where += " (" + ", ".join(c for c in self.context if c) + ")"
        notes.append(where)
        raise _Stop(cls(message, span, self.source, notes, stage=None if self.in_params else len(self.stages)))

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

    def tick(self, span: Span) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail(
                ResourceLimitError,
                f"the scheme ran more than {self.limits.max_steps:,} loop iterations; is a loop stuck?",
                span,
            )


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, Fraction)):
        return f"the number {value}"
    if isinstance(value, FrameSet):
        return f"the frame set {{{compact_ranges(value)}}}"
    if isinstance(value, tuple):
        return f"a list of {len(value)}"
    return repr(value)


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, Fraction):
        return NUM
    if isinstance(value, FrameSet):
        return SET
    return LIST


def _norm(x: Fraction | int) -> Fraction | int:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


class _Checker:
    """Resolves names and types, collects static errors, compiles to closures."""

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        self.errors: list[SchemeError] = []
        self.num_slots = 0

    # ---- helpers ------------------------------------------------------------------
    def error(self, cls: type[SchemeError], message: str, span: Span, notes: list[str] | None = None) -> None:
        self.errors.append(cls(message, span, self.source, list(notes or [])))

    def new_slot(self) -> int:
        self.num_slots += 1
        return self.num_slots - 1

    def expect(self, node: ast.Expr, got: str, want: tuple[str, ...], what: str) -> None:
        """Static type check; ANY (unknown until run time) always passes."""
        if got == ANY or got in want or (NUM in want and got == INT):
            return
        if SET in want and got in (INT, NUM):  # a frame number is a one-frame set
            return
        wanted = " or ".join(TYPE_TEXT[w] for w in want)
        self.error(SchemeTypeError, f"{what} must be {wanted}, not {TYPE_TEXT[got]}", node.span)

    # ---- expressions ---------------------------------------------------------------
    def expr(self, node: ast.Expr, scope: _Scope) -> tuple[Callable, str]:
        method = getattr(self, "expr_" + type(node).__name__)
        return method(node, scope)

    def expr_IntLit(self, node: ast.IntLit, scope):
        v = node.value
        return (lambda rt: v), INT

    def expr_BoolLit(self, node: ast.BoolLit, scope):
        v = node.value
        return (lambda rt: v), BOOL

    def expr_Name(self, node: ast.Name, scope: _Scope):
        name = node.id
        if name == "done":
            return (lambda rt: rt.done), SET
        if name == "todo":
            return (lambda rt: rt.todo), SET
        if name == "given":
            return (lambda rt: rt.given), SET
        var = scope.lookup(name)
        if var is None:
            self.unknown_name(name, node.span, scope)
            return (lambda rt: 0), ANY
        slot = var.slot
        return (lambda rt: rt.slots[slot]), var.type

    def unknown_name(self, name: str, span: Span, scope: _Scope) -> None:
        candidates = scope.visible_names() + list(STATE_NAMES)
        if name in BUILTINS:
            self.error(UnknownNameError, f"{name} is a function; call it as {name}(...)", span)
            return
        notes = []
        close = difflib.get_close_matches(name, candidates, n=1)
        if close:
            notes.append(f"did you mean {close[0]}?")
        self.error(UnknownNameError, f"unknown name {name}", span, notes)

    def as_set_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        """Wrap `fn` so its value is a frame set (a frame number becomes a one-frame set)."""
        if typ == SET:
            return fn
        span = node.span

        def to_set(rt):
            v = fn(rt)
            if isinstance(v, FrameSet):
                return v
            if isinstance(v, int) and not isinstance(v, bool):
                return FrameSet.interval(v, v + 1) if 0 <= v < rt.T else FrameSet.empty()
            rt.fail(SchemeTypeError, f"{what} must be a frame set, not {_describe(v)}", span)

        return to_set

    def as_int_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        if typ == INT:
            return fn
        span = node.span

        def to_int(rt):
            v = fn(rt)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, Fraction):
                rt.fail(SchemeTypeError, f"{what} must be a whole number, not {v} (use floor() or //)", span)
            rt.fail(SchemeTypeError, f"{what} must be a whole number, not {_describe(v)}", span)

        return to_int

    def as_num_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        if typ in (INT, NUM):
            return fn
        span = node.span

        def to_num(rt):
            v = fn(rt)
            if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
                return v
            rt.fail(SchemeTypeError, f"{what} must be a number, not {_describe(v)}", span)

        return to_num

    def as_truth_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        """Conditions take booleans and frame sets (a set is true when not empty)."""
        if typ == BOOL:
            return fn
        if typ in (SET, LIST):
            return lambda rt: bool(fn(rt))
        if typ in (INT, NUM):
            self.error(
                SchemeTypeError,
                f"{what} must be a boolean or a frame set, not {TYPE_TEXT[typ]}",
                node.span,
                ["compare it explicitly, e.g. n > 0"],
            )
        span = node.span

        def truth(rt):
            v = fn(rt)
            if isinstance(v, bool):
                return v
            if isinstance(v, (FrameSet, tuple)):
                return bool(v)
            rt.fail(SchemeTypeError, f"{what} must be a boolean or a frame set, not {_describe(v)}", span)

        return truth

    def expr_SetLit(self, node: ast.SetLit, scope):
        parts = []
        for item in node.items:
            fn, typ = self.expr(item, scope)
            self.expect(item, typ, (SET,), "a member of a set literal")
            parts.append(self.as_set_fn(fn, typ, item, "a member of a set literal"))

        def build(rt):
            out = FrameSet.empty()
            for p in parts:
                out = out.union(p(rt))
            return out

        return build, SET

    def expr_ListLit(self, node: ast.ListLit, scope):
        fns = [self.expr(item, scope)[0] for item in node.items]
        return (lambda rt: tuple(f(rt) for f in fns)), LIST

    def expr_RangeExpr(self, node: ast.RangeExpr, scope):
        start_fn, st = self.expr(node.start, scope)
        stop_fn, sp = self.expr(node.stop, scope)
        self.expect(node.start, st, (INT,), "a range's start")
        self.expect(node.stop, sp, (INT,), "a range's end")
        start_fn = self.as_int_fn(start_fn, st, node.start, "a range's start")
        stop_fn = self.as_int_fn(stop_fn, sp, node.stop, "a range's end")
        step_fn = None
        if node.step is not None:
            step_fn, tt = self.expr(node.step, scope)
            self.expect(node.step, tt, (INT,), "a range's step (by)")
            step_fn = self.as_int_fn(step_fn, tt, node.step, "a range's step (by)")
        inclusive = node.inclusive
        step_span = node.step.span if node.step is not None else node.span

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

        return build, SET

    def expr_Neg(self, node: ast.Neg, scope):
        fn, typ = self.expr(node.operand, scope)
        self.expect(node.operand, typ, (NUM,), "the operand of unary -")
        fn = self.as_num_fn(fn, typ, node.operand, "the operand of unary -")
        return (lambda rt: -fn(rt)), (typ if typ in (INT, ANY) else NUM)

    def expr_Not(self, node: ast.Not, scope):
        fn, typ = self.expr(node.operand, scope)
        fn = self.as_truth_fn(fn, typ, node.operand, "the operand of not")
        return (lambda rt: not fn(rt)), BOOL

    def expr_BoolOp(self, node: ast.BoolOp, scope):
        fns = []
        for v in node.values:
            fn, typ = self.expr(v, scope)
            fns.append(self.as_truth_fn(fn, typ, v, f"an operand of {node.op}"))
        if node.op == "and":
            return (lambda rt: all(f(rt) for f in fns)), BOOL
        return (lambda rt: any(f(rt) for f in fns)), BOOL

    def expr_Compare(self, node: ast.Compare, scope):
        items = [(None, node.first)] + list(node.rest)
        compiled = []
        prev_type = None
        for i, (op, sub) in enumerate(items):
            fn, typ = self.expr(sub, scope)
            compiled.append((op, fn, typ, sub))
        checks = []
        for i in range(1, len(compiled)):
            op, rfn, rtype, rnode = compiled[i]
            _, lfn, ltype, lnode = compiled[i - 1]
            checks.append(self.compare_op(op, lfn, ltype, lnode, rfn, rtype, rnode))
        prev_type = compiled[0][2]
        del prev_type
        fns = [c[1] for c in compiled]

        if len(checks) == 1:
            test = checks[0]
            lf, rf = fns[0], fns[1]
            return (lambda rt: test(rt, lf(rt), rf(rt))), BOOL

        def chain(rt):
            left = fns[0](rt)
            for k, test in enumerate(checks):
                right = fns[k + 1](rt)
                if not test(rt, left, right):
                    return False
                left = right
            return True

        return chain, BOOL

    def compare_op(self, op, lfn, ltype, lnode, rfn, rtype, rnode):
        span = Span(lnode.span.line, lnode.span.column, rnode.span.end_line, rnode.span.end_column)
        if op in ("in", "not in"):
            self.expect(lnode, ltype, (INT,), f"the left side of {op}")
            self.expect(rnode, rtype, (SET, LIST), f"the right side of {op}")
            negate = op == "not in"

            def member(rt, a, b):
                if not isinstance(b, (FrameSet, tuple)):
                    rt.fail(SchemeTypeError, f"the right side of {op} must be a frame set, not {_describe(b)}", span)
                return (a in b) != negate

            return member
        if op in ("==", "!="):
            eq = op == "=="
            return lambda rt, a, b: (a == b) == eq
        self.expect(lnode, ltype, (NUM,), f"the left side of {op}")
        self.expect(rnode, rtype, (NUM,), f"the right side of {op}")
        import operator

        pyop = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        if ltype in (INT, NUM) and rtype in (INT, NUM):
            return lambda rt, a, b: pyop(a, b)

        def ordered(rt, a, b):
            for v in (a, b):
                if not isinstance(v, (int, Fraction)) or isinstance(v, bool):
                    rt.fail(SchemeTypeError, f"{op} compares numbers, not {_describe(v)}", span)
            return pyop(a, b)

        return ordered

    def expr_BinOp(self, node: ast.BinOp, scope):
        lfn, lt = self.expr(node.left, scope)
        rfn, rtp = self.expr(node.right, scope)
        op = node.op
        span = node.op_span
        limits_bits = Limits().max_int_bits

        if op in ("|", "&"):
            what = "union (|)" if op == "|" else "intersection (&)"
            self.expect(node.left, lt, (SET,), f"the left side of {what}")
            self.expect(node.right, rtp, (SET,), f"the right side of {what}")
            lf = self.as_set_fn(lfn, lt, node.left, f"the left side of {what}")
            rf = self.as_set_fn(rfn, rtp, node.right, f"the right side of {what}")
            if op == "|":
                return (lambda rt: lf(rt).union(rf(rt))), SET
            return (lambda rt: lf(rt).intersection(rf(rt))), SET

        if op == "-" and (lt == SET or rtp == SET):
            if lt != SET and lt != ANY:
                self.error(SchemeTypeError, f"cannot subtract a frame set from {TYPE_TEXT[lt]}", span)
            lf = self.as_set_fn(lfn, lt, node.left, "the left side of -")
            rf = self.as_set_fn(rfn, rtp, node.right, "the right side of -")
            return (lambda rt: lf(rt).difference(rf(rt))), SET

        if op == "+" and (lt == SET or rtp == SET):
            self.error(SchemeTypeError, "+ adds numbers; join frame sets with |", span)
            return (lambda rt: FrameSet.empty()), SET

        # Arithmetic.
        for sub, typ, side in ((node.left, lt, "left"), (node.right, rtp, "right")):
            self.expect(sub, typ, (NUM,), f"the {side} side of {op}")
        if op == "//":
            result_type = INT
        elif op == "/":
            result_type = NUM
        elif ANY in (lt, rtp):
            result_type = ANY  # an operand's type is known only at run time
        elif op == "**":
            # int ** int is a fraction when the exponent is negative: checked at run time.
            result_type = ANY if lt == INT and rtp == INT else NUM
        else:
            result_type = INT if lt == INT and rtp == INT else NUM

        if op == "-" and lt == ANY or rtp == ANY and op == "-":
            # Could be set difference or subtraction: decide at run time.
            def minus(rt):
                a, b = lfn(rt), rfn(rt)
                if isinstance(a, FrameSet):
                    if isinstance(b, int) and not isinstance(b, bool):
                        b = FrameSet.interval(b, b + 1)
                    if not isinstance(b, FrameSet):
                        rt.fail(SchemeTypeError, f"cannot subtract {_describe(b)} from a frame set", span)
                    return a.difference(b)
                return arith(rt, a, b)
        else:
            minus = None

        def check_num(rt, v):
            if not isinstance(v, (int, Fraction)) or isinstance(v, bool):
                rt.fail(SchemeTypeError, f"{op} needs numbers, not {_describe(v)}", span)

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
                    if b > 4096 or (abs(a) > 1 and (abs(a).bit_length() if isinstance(a, int) else 64) * b > limits_bits * 4):
                        rt.fail(EvaluationError, f"{a} ** {b} is too large", span)
                    r = Fraction(a) ** b if b < 0 else a**b
                else:  # pragma: no cover
                    raise AssertionError(op)
            except ZeroDivisionError:
                rt.fail(EvaluationError, "division by zero", span)
            r = _norm(r)
            bits = r.bit_length() if isinstance(r, int) else max(r.numerator.bit_length(), r.denominator.bit_length())
            if bits > limits_bits:
                rt.fail(EvaluationError, f"the result of {op} has more than {limits_bits} bits", span)
            return r

        if minus is not None:
            return minus, ANY
        if lt == INT and rtp == INT and op in ("+", "-"):
            add = op == "+"
            return (lambda rt: lfn(rt) + rfn(rt)) if add else (lambda rt: lfn(rt) - rfn(rt)), INT
        return (lambda rt: arith(rt, lfn(rt), rfn(rt))), result_type

    def expr_Call(self, node: ast.Call, scope):
        builtin = BUILTINS.get(node.func)
        arg_fns = [self.expr(a, scope) for a in node.args]
        if builtin is None:
            notes = []
            close = difflib.get_close_matches(node.func, list(BUILTINS), n=1)
            if close:
                notes.append(f"did you mean {close[0]}?")
            notes.append("functions: " + ", ".join(sorted(BUILTINS)))
            self.error(UnknownNameError, f"unknown function {node.func}", node.func_span, notes)
            return (lambda rt: 0), ANY
        n = len(node.args)
        nparams = len(builtin.params)
        if (builtin.variadic and n < nparams) or (not builtin.variadic and n != nparams):
            self.error(
                ArityError,
                f"{builtin.name}() takes {builtin.arity_text()} argument{'s' if nparams != 1 else ''}, got {n}",
                node.func_span,
                [f"{builtin.name}: {builtin.doc}"],
            )
            return (lambda rt: 0), ANY
        converted = []
        for i, (arg, (fn, typ)) in enumerate(zip(node.args, arg_fns)):
            want = builtin.params[min(i, nparams - 1)]
            what = f"argument {i + 1} of {builtin.name}()"
            if builtin.variadic and n > 1:
                want = NUM  # min(a, b, ...) / max(a, b, ...) over numbers
            if want == ANY:
                converted.append(fn)
                continue
            self.expect(arg, typ, (want,), what)
            if want == SET:
                converted.append(self.as_set_fn(fn, typ, arg, what))
            elif want == INT:
                converted.append(self.as_int_fn(fn, typ, arg, what))
            else:
                converted.append(self.as_num_fn(fn, typ, arg, what))
        if builtin.name == "len" and arg_fns[0][1] in (INT, NUM, BOOL):
            self.error(SchemeTypeError, f"len() takes a frame set or a list, not {TYPE_TEXT[arg_fns[0][1]]}", node.args[0].span)
        result = builtin.result
        if builtin.name in ("min", "max") and n == 1 and arg_fns[0][1] == SET:
            result = INT
        if builtin.name in ("min", "max", "abs") and n >= 1 and all(t == INT for _, t in arg_fns):
            result = INT
        elif builtin.name in ("min", "max", "abs") and any(t in (ANY, LIST) for _, t in arg_fns):
            result = ANY  # e.g. a loop variable over a list: known at run time
        impl = builtin.impl
        span = node.span
        name = builtin.name

        def call(rt):
            args = [f(rt) for f in converted]
            if name in ("chunks", "runs") and isinstance(args[0], FrameSet):
                # Each returned set is a bitmask as wide as the video: charge the list's
                # size up front so `chunks(todo, 1)` on a huge video is refused, not slow.
                pieces = (
                    args[0].run_count()
                    if name == "runs"
                    else -(-len(args[0]) // args[1]) if isinstance(args[1], int) and args[1] > 0 else 0
                )
                rt.charge(pieces * (1 + rt.T // 64), span)
            if name == "len" and not isinstance(args[0], (FrameSet, tuple)):
                rt.fail(SchemeTypeError, f"len() takes a frame set or a list, not {_describe(args[0])}", span)
            try:
                return impl(*args)
            except BuiltinFailure as e:
                rt.fail(EvaluationError, str(e), span)
            except TypeError:
                rt.fail(SchemeTypeError, f"{name}() cannot take {', '.join(_describe(a) for a in args)}", span)

        return call, result

    # ---- statements -----------------------------------------------------------------
    def block(self, node: ast.Block, scope: _Scope) -> Callable:
        inner = _Scope(scope)
        fns = [self.stmt(s, inner) for s in node.stmts]

        def run(rt):
            saved = rt.no_marginals
            for f in fns:
                f(rt)
            rt.no_marginals = saved

        return run

    def stmt(self, node: ast.Stmt, scope: _Scope) -> Callable:
        return getattr(self, "stmt_" + type(node).__name__)(node, scope)

    def declare(self, name: str, span: Span, typ: str, kind: str, scope: _Scope) -> _Var:
        if name in KEYWORDS:
            self.error(AssignmentError, f"{name} is a keyword of the language and cannot be a name", span)
        elif name in STATE_NAMES or name in BUILTINS:
            what = "built-in state" if name in STATE_NAMES else "a built-in function"
            self.error(AssignmentError, f"{name} is {what} and cannot be declared", span)
        existing = scope.lookup(name)
        if existing is not None:
            self.error(
                AssignmentError,
                f"{name} is already declared (line {existing.span.line})",
                span,
                [f"to change it write `{name} = ...`"] if existing.kind == "let" else [],
            )
        var = _Var(name, self.new_slot(), typ, kind, span)
        scope.vars[name] = var
        return var

    def stmt_Let(self, node: ast.Let, scope):
        fn, typ = self.expr(node.value, scope)
        slot = self.declare(node.name, node.name_span, typ, "let", scope).slot

        def run(rt):
            rt.slots[slot] = fn(rt)

        return run

    def stmt_Assign(self, node: ast.Assign, scope):
        fn, typ = self.expr(node.value, scope)
        var = scope.lookup(node.name)
        if node.name in STATE_NAMES:
            self.error(AssignmentError, f"{node.name} is built-in state; it changes only through stages and given", node.span)
            return lambda rt: None
        if var is None:
            self.error(AssignmentError, f"{node.name} is not declared", node.span, [f"declare it first: let {node.name} = ..."])
            return lambda rt: None
        if var.kind != "let":
            kind = "a parameter (change it with --set)" if var.kind == "param" else "a loop variable"
            self.error(AssignmentError, f"{node.name} is {kind} and cannot be assigned", node.span)
            return lambda rt: None
        if typ != ANY and var.type != ANY and not ({typ, var.type} <= {INT, NUM}) and typ != var.type:
            self.error(
                SchemeTypeError,
                f"{node.name} holds {TYPE_TEXT[var.type]}; cannot assign {TYPE_TEXT[typ]}",
                node.value.span,
            )
        slot = var.slot

        def run(rt):
            rt.slots[slot] = fn(rt)

        return run

    def stmt_If(self, node: ast.If, scope):
        branches = []
        for cond, body in node.branches:
            fn, typ = self.expr(cond, scope)
            branches.append((self.as_truth_fn(fn, typ, cond, "an if condition"), self.block(body, scope)))
        orelse = self.block(node.orelse, scope) if node.orelse is not None else None

        def run(rt):
            for test, body in branches:
                if test(rt):
                    body(rt)
                    return
            if orelse is not None:
                orelse(rt)

        return run

    def stmt_For(self, node: ast.For, scope):
        it_fn, it_type = self.expr(node.iterable, scope)
        self.expect(node.iterable, it_type, (SET, LIST), "what a for loop iterates over")
        inner = _Scope(scope)
        var_type = INT if it_type == SET else ANY
        var = self.declare(node.var, node.var_span, var_type, "for", inner)
        body = self.block(node.body, inner)
        slot, name, span = var.slot, node.var, node.span

        def run(rt):
            items = it_fn(rt)
            if isinstance(items, int) and not isinstance(items, bool):
                rt.fail(SchemeTypeError, f"a for loop iterates over a frame set or a list, not {_describe(items)}", span)
            if not isinstance(items, (FrameSet, tuple)):
                rt.fail(SchemeTypeError, f"a for loop iterates over a frame set or a list, not {_describe(items)}", span)
            rt.context.append("")
            try:
                for value in items:
                    rt.tick(span)
                    rt.slots[slot] = value
                    rt.context[-1] = f"{name} = {compact_ranges(value) if isinstance(value, FrameSet) else value}"
                    body(rt)
            finally:
                rt.context.pop()

        return run

    def stmt_While(self, node: ast.While, scope):
        cond_fn, ct = self.expr(node.cond, scope)
        cond_fn = self.as_truth_fn(cond_fn, ct, node.cond, "a while condition")
        limit_fn = None
        if node.limit is not None:
            limit_fn, lt = self.expr(node.limit, scope)
            self.expect(node.limit, lt, (INT,), "a while loop's limit")
            limit_fn = self.as_int_fn(limit_fn, lt, node.limit, "a while loop's limit")
        body = self.block(node.body, scope)
        span = node.span
        line = span.line

        def run(rt):
            limit = limit_fn(rt) if limit_fn is not None else rt.limits.default_while_limit(rt.T)
            rt.context.append("")
            try:
                iteration = 0
                while cond_fn(rt):
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

    def stmt_Assert(self, node: ast.Assert, scope):
        fn, typ = self.expr(node.cond, scope)
        fn = self.as_truth_fn(fn, typ, node.cond, "an assert condition")
        message = node.message
        span = node.span
        cond_span = node.cond.span
        cond_text = self._text(cond_span)

        def run(rt):
            if not fn(rt):
                rt.fail(AssertionFailedError, message or f"assertion failed: {cond_text}", span,
                        [f"condition: {cond_text}"] if message else [])

        return run

    def _text(self, span: Span) -> str:
        if span.end_line == span.line and span.end_column:
            return self.source.line(span.line)[span.column - 1 : span.end_column - 1]
        return self.source.line(span.line)[span.column - 1 :]

    def stmt_Given(self, node: ast.Given, scope):
        fn, typ = self.expr(node.frames, scope)
        self.expect(node.frames, typ, (SET,), "given")
        fn = self.as_set_fn(fn, typ, node.frames, "given")
        span = node.span

        def run(rt):
            frames = fn(rt)
            if rt.stages:
                rt.fail(EvaluationError, "given must come before the first stage", span)
            rt.given = rt.given.union(frames)
            rt.mark_done(frames)

        return run

    def stmt_NoMarginals(self, node, scope):
        def run(rt):
            rt.no_marginals = True

        return run

    def stmt_Phase(self, node: ast.Phase, scope):
        body = self.block(node.body, scope)
        label = node.label

        def run(rt):
            rt.phases.append(label)
            try:
                body(rt)
            finally:
                rt.phases.pop()

        return run

    def stmt_StageStmt(self, node: ast.StageStmt, scope):
        gens, obs = [], []
        gen_span = obs_span = None
        for clause in node.clauses:
            fn, typ = self.expr(clause.frames, scope)
            self.expect(clause.frames, typ, (SET,), f"{clause.role}")
            fn = self.as_set_fn(fn, typ, clause.frames, clause.role)
            if clause.role == "generate":
                gens.append(fn)
                gen_span = gen_span or clause.span
            else:
                obs.append(fn)
                obs_span = obs_span or clause.span
        label = node.label
        span = node.span

        def run(rt):
            generate = FrameSet.empty()
            for f in gens:
                generate = generate.union(f(rt))
            observe = FrameSet.empty()
            for f in obs:
                observe = observe.union(f(rt))
            index = len(rt.stages)
            if index >= rt.limits.max_stages:
                rt.fail(ResourceLimitError, f"the scheme emitted more than {rt.limits.max_stages:,} stages", span)
            rt.tick(span)
            name = label or (rt.phases[-1] if rt.phases else rt.scheme_name)
            if label and rt.phases:
                name = f"{rt.phases[-1]}/{label}"
            rt.stages.append(
                RawStage(index, name, generate, observe, span, gen_span, obs_span, tuple(c for c in rt.context if c), rt.no_marginals)
            )
            rt.mark_done(generate)

        return run


def check(scheme: ast.Scheme, source: SourceFile) -> Program:
    """Resolve names and types and compile; raise :class:`SchemeErrors` listing every error."""
    checker = _Checker(source)
    scope = _Scope(None)
    names, spans, fns, types = [], {}, [], {}
    for param in scheme.params:
        fn, typ = checker.expr(param.default, scope)
        if param.name in spans:
            checker.error(ParameterError, f"parameter {param.name} is declared twice", param.span)
            continue
        if param.name in KEYWORDS:
            checker.error(ParameterError, f"{param.name} is a keyword of the language and cannot be a parameter", param.span)
        elif param.name in STATE_NAMES or param.name in BUILTINS:
            checker.error(ParameterError, f"{param.name} is a built-in name and cannot be a parameter", param.span)
        checker.expect(param.default, typ, (INT, BOOL), f"the default of {param.name}")
        var = _Var(param.name, checker.new_slot(), typ if typ != NUM else ANY, "param", param.span)
        scope.vars[param.name] = var
        names.append(param.name)
        spans[param.name] = param.span
        types[param.name] = typ
        fns.append(fn)
    for required in REQUIRED_PARAMS:
        if required not in spans:
            meaning = "the number of frames in the video" if required == "T" else "the most frames one stage may see"
            checker.error(
                ParameterError,
                f"the scheme must declare the parameter {required} ({meaning})",
                scheme.name_span,
                [f"e.g. scheme {scheme.name}(T = 200, K = 16) {{ ... }}"],
            )
    body = checker.block(scheme.body, scope)
    if checker.errors:
        raise SchemeErrors(checker.errors)
    return Program(scheme, source, tuple(names), spans, tuple(fns), body, checker.num_slots, types)


def parse_override(text: str) -> tuple[str, int | bool | str]:
    """``NAME=VALUE`` from the command line; VALUE is an integer or true/false.

    Any other VALUE is returned as text: :func:`evaluate` reports it at the parameter's
    declaration, next to the other parameter errors.
    """
    if "=" not in text:
        raise ParameterError(f"--set {text}: expected NAME=VALUE, e.g. --set T=400")
    name, _, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if value in ("true", "false"):
        return name, value == "true"
    try:
        return name, int(value)
    except ValueError:
        return name, value


def evaluate(program: Program, overrides: Mapping[str, int | bool] | None = None, limits: Limits = Limits()) -> StageList:
    """Run a checked program with its parameters; return the stages it emits in order."""
    overrides = dict(overrides or {})
    source = program.source
    scheme = program.scheme
    errors: list[SchemeError] = []
    for name, value in overrides.items():
        if name not in program.param_spans:
            close = difflib.get_close_matches(name, program.param_names, n=1)
            notes = [f"did you mean {close[0]}?"] if close else []
            notes.append("parameters: " + ", ".join(program.param_names))
            errors.append(
                ParameterError(f"--set {name}={value}: the scheme has no parameter {name}", scheme.name_span, source, notes)
            )
        elif not isinstance(value, int):
            errors.append(
                ParameterError(
                    f"--set {name}={value}: the value must be a whole number (or true/false)",
                    program.param_spans[name],
                    source,
                )
            )
        elif isinstance(value, bool) and program.param_types.get(name, INT) not in (BOOL, ANY):
            errors.append(
                ParameterError(
                    f"--set {name}={str(value).lower()}: {name} is a whole number, not true/false",
                    program.param_spans[name],
                    source,
                )
            )
        elif not isinstance(value, bool) and program.param_types.get(name, INT) == BOOL:
            errors.append(
                ParameterError(f"--set {name}={value}: {name} is true or false", program.param_spans[name], source)
            )
    if errors:
        raise SchemeErrors(errors)

    rt = _Runtime(T=1, K=1, limits=limits, source=source, slots=[None] * program.num_slots, scheme_name=scheme.name)
    params: dict[str, int] = {}
    try:
        for slot, (name, fn) in enumerate(zip(program.param_names, program.param_fns)):
            value = overrides[name] if name in overrides else fn(rt)
            if isinstance(value, Fraction):
                rt.fail(ParameterError, f"parameter {name} must be a whole number, not {value}", program.param_spans[name])
            if name in REQUIRED_PARAMS and (isinstance(value, bool) or value < 1):
                rt.fail(ParameterError, f"parameter {name} must be at least 1, got {value}", program.param_spans[name])
            if name == "T" and value > limits.max_frames:
                rt.fail(ParameterError, f"T = {value} is more than the limit of {limits.max_frames:,} frames", program.param_spans[name])
            rt.slots[slot] = value
            params[name] = value
            if name == "T":
                rt.T = value
            elif name == "K":
                rt.K = value
        rt.context = []
        rt.in_params = False
        program.body(rt)
    except _Stop as stop:
        raise SchemeErrors([stop.error]) from None
    except RecursionError:
        raise SchemeErrors([ResourceLimitError("the scheme is nested too deeply", scheme.span, source)]) from None
    return StageList(
        scheme=scheme.name,
        source=source,
        name_span=scheme.name_span,
        params=params,
        num_frames=rt.T,
        max_frames=rt.K,
        given=rt.given,
        stages=tuple(rt.stages),
    )
