"""Check a scheme's AST and compile it: the checked :class:`Program` that
:func:`vidsched.lang.evaluate.evaluate` runs.

:func:`check` walks the AST once, in the manner of miniwdl, resolving every name to a
slot, inferring static types and checking arity, assignments and operand types (a
built-in's own type rule, :mod:`vidsched.lang.builtins`, gives its result's type). It
collects *every* error (sorted by position) instead of stopping at the first, and in the
same walk generates each node's code: a Python closure over a
:class:`~vidsched.lang.machine.Runtime`, so evaluation does not re-dispatch on node
types (a 10,000-frame scheme runs tens of thousands of loop iterations). Each node's
static cost in evaluation steps is counted here too and charged when its statement runs.

The language has no I/O and no way to reach Python: values are integers, exact
fractions, booleans, frame sets and tuples (lists). Loops are bounded, integers are
bounded, and the number of stages and loop iterations is bounded
(:class:`~vidsched.lang.limits.Limits`), so
every program terminates.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from vidsched.errors import (
    ArityError,
    AssertionFailedError,
    AssignmentError,
    EvaluationError,
    LoopLimitError,
    MaskRequiredError,
    NoProgressError,
    ParameterError,
    RecursiveCallError,
    ResourceLimitError,
    SchemeError,
    SchemeErrors,
    SchemeTypeError,
    SourceFile,
    Span,
    UnknownNameError,
)
from vidsched.frames import MAX_RUNS, FrameSet
from vidsched.lang import ast
from vidsched.lang.builtins import ANY, BOOL, BUILTINS, INT, LIST, NUM, REQUIRED, SET, TYPE_TEXT, BuiltinFailure
from vidsched.lang.imports import Linked, Module, link
from vidsched.lang.machine import (
    ITEMS_PER_STEP,
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
from vidsched.lang.machine import JointBuilder
from vidsched.lang.stages import RawStage, RawWindow

STATE_NAMES = ("done", "todo", "given")
KEYWORDS = frozenset(
    "scheme let if else for in while limit assert given stage phase no marginals "
    "generate observe true false and or not by proc fn joint window".split()
)
REQUIRED_PARAMS = ("T", "K")


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


@dataclass(frozen=True)
class Program:
    """A checked scheme, compiled to closures; run it with
    :func:`vidsched.lang.evaluate.evaluate`."""

    scheme: ast.Scheme
    source: SourceFile
    param_names: tuple[str, ...]
    param_spans: dict[str, Span]
    param_fns: tuple[Callable, ...]
    body: Callable
    num_slots: int
    param_types: dict[str, str] = field(default_factory=dict)  # static type of each default


# Evaluation steps (Limits.max_fuel) of the work that is not an expression.
_STAGE_STEPS = 150  # a stage's validation and lowering, besides its frames
_STAGE_SET_OPS = 12  # ... and the operations on frame sets they do
_STEPS_PER_FRAME = 2  # each frame of a stage's window (the plan lists them)


_BIG = (SET, LIST, ANY)  # static types whose operations cost rt.frame_cost steps
_FAST_OPS = {(INT, INT, "+"), (INT, INT, "-")} | {(SET, SET, op) for op in "|&-"}
_INT_ARITH_STEPS = 4  # * // % on whole numbers (checked for their size)
_ARITH_STEPS = 16  # an operator on fractions (or on types known at run time): Fraction is slow
_CALL_STEPS = 4  # a call to a built-in
_MAX_EXPANSIONS = 10_000  # bodies of procedures and functions compiled, one per call site
_COMPARE_STEPS = 2  # each comparison of a chain


class _Checker:
    """Resolves names and types, collects static errors, compiles to closures."""

    def __init__(self, linked: Linked) -> None:
        # The file being compiled: the scheme's, or an imported one while a body declared
        # there is compiled (`expand` switches `module`, `source` and `definitions`).
        self.linked = linked
        self.module = linked.root
        self.source = linked.root.source
        self.errors: list[SchemeError] = []
        self.num_slots = 0
        # Static cost of the expressions compiled so far: nodes that cost one evaluation
        # step, and nodes that work on frame sets or lists (rt.frame_cost steps each).
        self.small = 0
        self.big = 0
        self._operands_big = False  # set by a node whose operands are frame sets
        self._weight = 1  # set by a node that costs more steps than one (a call, fractions)
        # Procedures and functions (`proc`, `fn`): each call is compiled in place, with the
        # static types of its arguments; `expanding` is the chain of calls being compiled.
        self.definitions: dict[str, ast.Definition] = linked.root.names
        self.expanding: list[tuple[ast.Definition, Span]] = []
        self.expansions = 0
        self.reported: set[tuple[type, str, Span | None]] = set()
        self.in_joint = False  # compiling the body of a `joint` block

    # ---- helpers ------------------------------------------------------------------
    def error(self, cls: type[SchemeError], message: str, span: Span, notes: list[str] | None = None) -> None:
        self.errors.append(cls(message, span, self.source, list(notes or [])))

    def enter(self, module: Module) -> tuple[Module, SourceFile, dict]:
        """Compile in `module`'s file from now on; returns what :meth:`leave` restores."""
        saved = (self.module, self.source, self.definitions)
        self.module, self.source, self.definitions = module, module.source, module.names
        return saved

    def leave(self, saved: tuple[Module, SourceFile, dict]) -> None:
        self.module, self.source, self.definitions = saved

    def call_note(self, defn: ast.Definition, call_span: Span, module: Module) -> str:
        """``in proc step, called at line 13, column 9`` (naming the caller's file when
        the body is in another)."""
        where = f"line {call_span.line}, column {call_span.column}"
        if module is not self.module:
            where += f" of {self.source.name}"
        return f"in {defn.kind} {defn.name}, called at {where}"

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
        fn, typ = method(node, scope)
        # Static cost, charged when the enclosing statement runs (see `mark`).
        if isinstance(node, (ast.IntLit, ast.BoolLit, ast.Name)):
            self.small += 1
        elif typ in _BIG or self._operands_big:
            self.big += 1
            self.small += self._weight - 1
        else:
            self.small += self._weight
        self._operands_big = False
        self._weight = 1
        return fn, typ

    def mark(self) -> tuple[int, int]:
        """Where the cost count stands; :meth:`cost_since` gives the cost of what follows."""
        return (self.small, self.big)

    def cost_since(self, mark: tuple[int, int]) -> tuple[int, int]:
        """(steps, frame-set operations) of the expressions compiled since `mark`: they
        cost ``steps + ops * rt.frame_cost`` evaluation steps each time they run."""
        return (self.small - mark[0], self.big - mark[1])

    def expr_IntLit(self, node: ast.IntLit, scope):
        v = node.value
        if v.bit_length() <= 64:
            return (lambda rt: v), INT
        span = node.span

        def big_literal(rt):  # the parser checked it against its own limits, maybe not these
            if v.bit_length() > rt.max_bits:
                rt.fail(EvaluationError, too_many_bits(f"the number {num_text(v)}", rt.max_bits), span)
            return v

        return big_literal, INT

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

    def set_conv(self, typ: str, node: ast.Expr, what: str) -> Callable | None:
        """A function (rt, value) -> frame set (a frame number becomes a one-frame set),
        or None when `typ` says the value is a frame set already."""
        if typ == SET:
            return None
        span = node.span

        def to_set(rt, v):
            if isinstance(v, FrameSet):
                return v
            if isinstance(v, int) and not isinstance(v, bool):
                return FrameSet.interval(v, v + 1) if 0 <= v < rt.T else FrameSet.empty()
            rt.fail(SchemeTypeError, f"{what} must be a frame set, not {describe(v)}", span)

        return to_set

    def as_set_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        """Wrap `fn` so its value is a frame set (a frame number becomes a one-frame set)."""
        conv = self.set_conv(typ, node, what)
        if conv is None:
            return fn
        return lambda rt: conv(rt, fn(rt))

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
            rt.fail(SchemeTypeError, f"{what} must be a whole number, not {describe(v)}", span)

        return to_int

    def as_num_fn(self, fn: Callable, typ: str, node: ast.Expr, what: str) -> Callable:
        if typ in (INT, NUM):
            return fn
        span = node.span

        def to_num(rt):
            v = fn(rt)
            if isinstance(v, (int, Fraction)) and not isinstance(v, bool):
                return v
            rt.fail(SchemeTypeError, f"{what} must be a number, not {describe(v)}", span)

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
            rt.fail(SchemeTypeError, f"{what} must be a boolean or a frame set, not {describe(v)}", span)

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
        for i, (op, sub) in enumerate(items):
            fn, typ = self.expr(sub, scope)
            compiled.append((op, fn, typ, sub))
        checks = []
        for i in range(1, len(compiled)):
            op, rfn, rtype, rnode = compiled[i]
            _, lfn, ltype, lnode = compiled[i - 1]
            checks.append(self.compare_op(op, lfn, ltype, lnode, rfn, rtype, rnode))
        fns = [c[1] for c in compiled]
        self._operands_big = any(c[2] in _BIG for c in compiled)  # e.g. comparing frame sets
        self._weight = _COMPARE_STEPS * len(checks)

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
                    rt.fail(SchemeTypeError, f"the right side of {op} must be a frame set, not {describe(b)}", span)
                if isinstance(b, tuple):
                    rt.burn(len(b) // ITEMS_PER_STEP, span)
                return (a in b) != negate

            return member
        if op in ("==", "!="):
            eq = op == "=="
            if ltype not in (LIST, ANY) and rtype not in (LIST, ANY):
                return lambda rt, a, b: (a == b) == eq

            def equal(rt, a, b):
                if isinstance(a, tuple) and isinstance(b, tuple):
                    rt.burn(min(len(a), len(b)) * rt.frame_cost // ITEMS_PER_STEP, span)
                return (a == b) == eq

            return equal
        self.expect(lnode, ltype, (NUM,), f"the left side of {op}")
        self.expect(rnode, rtype, (NUM,), f"the right side of {op}")
        import operator

        pyop = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        if ltype in (INT, NUM) and rtype in (INT, NUM):
            return lambda rt, a, b: pyop(a, b)

        def ordered(rt, a, b):
            for v in (a, b):
                if not isinstance(v, (int, Fraction)) or isinstance(v, bool):
                    rt.fail(SchemeTypeError, f"{op} compares numbers, not {describe(v)}", span)
            return pyop(a, b)

        return ordered

    def expr_BinOp(self, node: ast.BinOp, scope):
        # `a + b - c * d ...` is a spine of BinOps down the left (left-associative):
        # walk it with a loop, here and when evaluating, so that a chain of any length
        # costs no recursion (the parser does not count it as nesting either).
        spine = []
        left: ast.Expr = node
        while isinstance(left, ast.BinOp):
            spine.append(left)
            left = left.left
        fn, typ = self.expr(left, scope)
        steps = []
        for op_node in reversed(spine):
            rfn, rtp = self.expr(op_node.right, scope)
            step, result_type = self.binop_step(op_node, typ, rfn, rtp)
            big = typ in _BIG or rtp in _BIG or result_type in _BIG
            # The fast path of whole numbers costs one step; the general path (fractions,
            # powers, types known only at run time) several.
            if (typ, rtp, op_node.op) in _FAST_OPS:
                weight = 1
            elif typ == INT and rtp == INT and op_node.op != "**":
                weight = _INT_ARITH_STEPS
            else:
                weight = _ARITH_STEPS
            if op_node is node:  # expr() counts the outermost node
                self._operands_big, self._weight = big, weight
            elif big:
                self.big += 1
                self.small += weight - 1
            else:
                self.small += weight
            steps.append(step)
            typ = result_type
        if len(steps) == 1:
            (step,) = steps
            return (lambda rt: step(rt, fn(rt))), typ
        steps_t = tuple(steps)

        def chain(rt):
            value = fn(rt)
            for step in steps_t:
                value = step(rt, value)
            return value

        return chain, typ

    def binop_step(self, node: ast.BinOp, lt: str, rfn: Callable, rtp: str) -> tuple[Callable, str]:
        """One operator of a chain: a function (rt, left value) -> value, and its type."""
        op = node.op
        span = node.op_span

        if op in ("|", "&"):
            what = "union (|)" if op == "|" else "intersection (&)"
            self.expect(node.left, lt, (SET,), f"the left side of {what}")
            self.expect(node.right, rtp, (SET,), f"the right side of {what}")
            lconv = self.set_conv(lt, node.left, f"the left side of {what}")
            rf = self.as_set_fn(rfn, rtp, node.right, f"the right side of {what}")
            if op == "|":
                if lconv is None:
                    return (lambda rt, a: a.union(rf(rt))), SET
                return (lambda rt, a: lconv(rt, a).union(rf(rt))), SET
            if lconv is None:
                return (lambda rt, a: a.intersection(rf(rt))), SET
            return (lambda rt, a: lconv(rt, a).intersection(rf(rt))), SET

        if op == "-" and (lt == SET or rtp == SET):
            if lt != SET and lt != ANY:
                self.error(SchemeTypeError, f"cannot subtract a frame set from {TYPE_TEXT[lt]}", span)
            lconv = self.set_conv(lt, node.left, "the left side of -")
            rf = self.as_set_fn(rfn, rtp, node.right, "the right side of -")
            if lconv is None:
                return (lambda rt, a: a.difference(rf(rt))), SET
            return (lambda rt, a: lconv(rt, a).difference(rf(rt))), SET

        if op == "+" and (lt == SET or rtp == SET):
            self.error(SchemeTypeError, "+ adds numbers; join frame sets with |", span)
            return (lambda rt, a: FrameSet.empty()), SET

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

            return minus, ANY
        if lt == INT and rtp == INT and op in ("+", "-"):
            # The common case, kept fast; the bound on integers still applies.
            def fits(rt, r):
                if r.bit_length() > rt.max_bits:
                    rt.fail(EvaluationError, too_many_bits(f"the result of {op}", rt.max_bits), span)
                return r

            if op == "+":
                return (lambda rt, a: fits(rt, a + rfn(rt))), INT
            return (lambda rt, a: fits(rt, a - rfn(rt))), INT
        return (lambda rt, a: arith(rt, a, rfn(rt))), result_type

    # ---- procedures and functions ----------------------------------------------------
    def expand(self, defn: ast.Definition, call_span: Span | None, arg_types: list[str]) -> tuple[Callable, str, list[int]] | None:
        """Compile `defn`'s body for one call (or, with call_span None, once on its own
        with arguments of unknown type); return (code, type, parameter slots), or None
        where the call is recursive or the expansion too large (the error is reported)."""
        chain = [d.name for d, _ in self.expanding]
        if defn.name in chain:
            loop = " -> ".join(chain[chain.index(defn.name):] + [defn.name])
            self.error(
                RecursiveCallError,
                f"{defn.name} calls itself ({loop}): procedures and functions cannot be recursive",
                call_span or defn.name_span,
                ["write the repetition as a for or while loop"],
            )
            return None
        self.expansions += 1
        if self.expansions > _MAX_EXPANSIONS:
            if self.expansions == _MAX_EXPANSIONS + 1:
                self.error(ResourceLimitError, f"the calls of procedures and functions expand to more than "
                           f"{_MAX_EXPANSIONS:,} bodies", call_span or defn.name_span,
                           ["a procedure that calls others several times each multiplies them"])
            return None
        first_error = len(self.errors)
        module = self.linked.module_of.get(id(defn), self.module)
        note = self.call_note(defn, call_span, module) if call_span is not None else ""
        saved = self.enter(module)
        root = _Scope(None)
        slots = [self.declare(name, span, typ, "arg", root).slot for (name, span), typ in zip(defn.params, arg_types)]
        self.expanding.append((defn, call_span or defn.name_span))
        try:
            if defn.body is not None:
                fn, typ = self.block(defn.body, root), ANY
            else:
                fn, typ = self.expr(defn.value, root)
        finally:
            self.expanding.pop()
            self.leave(saved)
        # An error in the body is reported once, at its position in the body; where it
        # depends on this call's arguments, a note names the call site.
        new, kept = self.errors[first_error:], []
        for err in new:
            if not getattr(err, "_in_body", False):  # (not yet seen by an inner call)
                key = (type(err), err.message, err.span, err.source.name if err.source else None)
                if key in self.reported:
                    continue
                self.reported.add(key)
                err._in_body = True
            if call_span is not None:
                err.notes.append(note)
            kept.append(err)
        del self.errors[first_error:]
        self.errors += kept
        return fn, typ, slots

    def call_defined(self, defn: ast.Definition, node: ast.Call | ast.CallStmt, scope: _Scope) -> tuple[Callable, str]:
        """A call of a `proc` (as a statement) or a `fn` (in an expression)."""
        arg_fns = [self.expr(a, scope) for a in node.args]
        if len(node.args) != len(defn.params):
            n = len(defn.params)
            self.error(
                ArityError,
                f"{defn.name}() takes {n} argument{'s' if n != 1 else ''}, got {len(node.args)}",
                node.func_span,
                [f"{defn.kind} {defn.name}({', '.join(p for p, _ in defn.params)}) is declared at line {defn.span.line}"],
            )
            return (lambda rt: 0), ANY
        expanded = self.expand(defn, node.func_span, [t for _, t in arg_fns])
        if expanded is None:
            return (lambda rt: 0), ANY
        body, typ, slots = expanded
        fns = [f for f, _ in arg_fns]
        module = self.linked.module_of.get(id(defn), self.module)
        where = self.call_note(defn, node.func_span, module)
        span = node.span

        body_source = None if module is self.module else module.source  # another file: errors point into it
        imported = module.note

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

        return call, typ

    def expr_Call(self, node: ast.Call, scope):
        defn = self.definitions.get(node.func)
        if defn is not None:
            if defn.kind == "proc":
                self.error(SchemeTypeError, f"{defn.name} is a procedure: it emits stages and has no value",
                           node.func_span, [f"call it as a statement: {defn.name}(...)"])
                return (lambda rt: 0), ANY
            fn, typ = self.call_defined(defn, node, scope)
            self._weight = _CALL_STEPS
            return fn, typ
        builtin = BUILTINS.get(node.func)
        arg_fns = [self.expr(a, scope) for a in node.args]
        if builtin is None:
            notes = []
            close = difflib.get_close_matches(node.func, list(BUILTINS), n=1)
            if close:
                notes.append(f"did you mean {close[0]}?")
            notes.append("functions: " + ", ".join(sorted(BUILTINS)))
            if self.definitions:
                notes.append("declared: " + ", ".join(sorted(self.definitions)))
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
            want = builtin.param_type(i, n)
            what = f"argument {i + 1} of {builtin.name}()"
            if want == ANY:
                if not builtin.accepts_type(typ):
                    self.error(SchemeTypeError, f"{builtin.accepts_text()}, not {TYPE_TEXT[typ]}", arg.span)
                converted.append(fn)
                continue
            self.expect(arg, typ, (want,), what)
            if want == SET:
                converted.append(self.as_set_fn(fn, typ, arg, what))
            elif want == INT:
                converted.append(self.as_int_fn(fn, typ, arg, what))
            else:
                converted.append(self.as_num_fn(fn, typ, arg, what))
        result = builtin.result_type(tuple(t for _, t in arg_fns))
        impl = builtin.impl
        span = node.span
        name = builtin.name
        self._operands_big = any(t in _BIG for _, t in arg_fns)  # e.g. len(todo): a pass over the set
        self._weight = _CALL_STEPS

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
        mark = self.mark()
        fn, typ = self.expr(node.value, scope)
        steps, ops = self.cost_since(mark)
        slot = self.declare(node.name, node.name_span, typ, "let", scope).slot
        span = node.span

        def run(rt):
            rt.burn(1 + steps + ops * rt.frame_cost, span)
            rt.slots[slot] = fn(rt)

        return run

    def stmt_Assign(self, node: ast.Assign, scope):
        mark = self.mark()
        fn, typ = self.expr(node.value, scope)
        steps, ops = self.cost_since(mark)
        var = scope.lookup(node.name)
        if node.name in STATE_NAMES:
            self.error(AssignmentError, f"{node.name} is built-in state; it changes only through stages and given", node.span)
            return lambda rt: None
        if var is None:
            self.error(AssignmentError, f"{node.name} is not declared", node.span, [f"declare it first: let {node.name} = ..."])
            return lambda rt: None
        if var.kind != "let":
            kind = {"param": "a parameter (change it with --set)", "for": "a loop variable"}.get(
                var.kind, "an argument of a procedure (copy it with let)")
            self.error(AssignmentError, f"{node.name} is {kind} and cannot be assigned", node.span)
            return lambda rt: None
        if typ != ANY and var.type != ANY and not ({typ, var.type} <= {INT, NUM}) and typ != var.type:
            self.error(
                SchemeTypeError,
                f"{node.name} holds {TYPE_TEXT[var.type]}; cannot assign {TYPE_TEXT[typ]}",
                node.value.span,
            )
        slot = var.slot
        span = node.span

        def run(rt):
            rt.burn(1 + steps + ops * rt.frame_cost, span)
            rt.slots[slot] = fn(rt)

        return run

    def stmt_If(self, node: ast.If, scope):
        branches = []
        for cond, body in node.branches:
            mark = self.mark()
            fn, typ = self.expr(cond, scope)
            steps, ops = self.cost_since(mark)
            test = self.as_truth_fn(fn, typ, cond, "an if condition")
            branches.append((1 + steps, ops, cond.span, test, self.block(body, scope)))
        orelse = self.block(node.orelse, scope) if node.orelse is not None else None

        def run(rt):
            for steps, ops, cond_span, test, body in branches:
                rt.burn(steps + ops * rt.frame_cost, cond_span)
                if test(rt):
                    body(rt)
                    return
            if orelse is not None:
                orelse(rt)

        return run

    def stmt_For(self, node: ast.For, scope):
        mark = self.mark()
        it_fn, it_type = self.expr(node.iterable, scope)
        steps, ops = self.cost_since(mark)
        self.expect(node.iterable, it_type, (SET, LIST), "what a for loop iterates over")
        inner = _Scope(scope)
        var_type = INT if it_type == SET else ANY
        var = self.declare(node.var, node.var_span, var_type, "for", inner)
        body = self.block(node.body, inner)
        slot, name, span = var.slot, node.var, node.span

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

    def stmt_While(self, node: ast.While, scope):
        mark = self.mark()
        cond_fn, ct = self.expr(node.cond, scope)
        cond_steps, cond_ops = self.cost_since(mark)
        cond_fn = self.as_truth_fn(cond_fn, ct, node.cond, "a while condition")
        limit_fn = None
        mark = self.mark()
        if node.limit is not None:
            limit_fn, lt = self.expr(node.limit, scope)
            self.expect(node.limit, lt, (INT,), "a while loop's limit")
            limit_fn = self.as_int_fn(limit_fn, lt, node.limit, "a while loop's limit")
        limit_steps, limit_ops = self.cost_since(mark)
        body = self.block(node.body, scope)
        span = node.span
        line = span.line if self.module is self.linked.root else f"{span.line} of {self.source.name}"

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

    def stmt_Assert(self, node: ast.Assert, scope):
        mark = self.mark()
        fn, typ = self.expr(node.cond, scope)
        steps, ops = self.cost_since(mark)
        fn = self.as_truth_fn(fn, typ, node.cond, "an assert condition")
        message = node.message
        span = node.span
        cond_span = node.cond.span
        cond_text = self._text(cond_span)

        def run(rt):
            rt.burn(1 + steps + ops * rt.frame_cost, span)
            if not fn(rt):
                rt.fail(AssertionFailedError, message or f"assertion failed: {cond_text}", span,
                        [f"condition: {cond_text}"] if message else [])

        return run

    def _text(self, span: Span) -> str:
        if span.end_line == span.line and span.end_column:
            return self.source.line(span.line)[span.column - 1 : span.end_column - 1]
        return self.source.line(span.line)[span.column - 1 :]

    def stmt_Given(self, node: ast.Given, scope):
        mark = self.mark()
        fn, typ = self.expr(node.frames, scope)
        steps, ops = self.cost_since(mark)
        self.expect(node.frames, typ, (SET,), "given")
        fn = self.as_set_fn(fn, typ, node.frames, "given")
        span = node.span

        def run(rt):
            rt.burn(1 + steps + (ops + 3) * rt.frame_cost, span)
            frames = fn(rt)
            if rt.stages:
                rt.fail(EvaluationError, "given must come before the first stage", span)
            rt.given = rt.given.union(frames)
            rt.mark_done(frames)

        return run

    def stmt_CallStmt(self, node: ast.CallStmt, scope):
        defn = self.definitions.get(node.func)
        if defn is None or defn.kind != "proc":
            what = "a function" if defn is not None or node.func in BUILTINS else "not a procedure"
            if defn is None and node.func not in BUILTINS:
                self.expr(ast.Call(node.span, node.func, node.func_span, node.args), scope)  # unknown function
                return lambda rt: None
            self.error(SchemeTypeError, f"{node.func} is {what}: its value would be thrown away", node.func_span,
                       [f"use its value, e.g. let x = {node.func}(...)"])
            return lambda rt: None
        mark = self.mark()
        call, _ = self.call_defined(defn, node, scope)
        steps, ops = self.cost_since(mark)
        span = node.span

        def run(rt):
            rt.burn(1 + steps + ops * rt.frame_cost, span)
            call(rt)

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
        if self.in_joint:
            self.error(SchemeTypeError, "a stage inside a joint block: a joint's windows are written `window S`",
                       node.span, ["the joint's frames are `generate S` and `observe S` statements of its block"])
        gens, obs = [], []
        gen_span = obs_span = None
        mark = self.mark()
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
        steps, ops = self.cost_since(mark)
        steps += _STAGE_STEPS
        ops += len(gens) + len(obs) + _STAGE_SET_OPS
        label = node.label
        span = node.span

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
            _emit(rt, span, label, generate, observe, gen_span, obs_span)

        return run

    def stmt_Joint(self, node: ast.Joint, scope):
        """``joint [label] [shift N] { ... }``: one group of windows denoised together; its
        body's `generate`, `observe` and `window` statements fill it, and it is emitted as
        one unit (the state changes after the whole group, never inside it)."""
        if self.in_joint:
            self.error(SchemeTypeError, "a joint block inside a joint block", node.span,
                       ["a group's windows are `window S` statements; groups do not nest"])
        shift_fn = None
        mark = self.mark()
        if node.shift is not None:
            shift_fn, typ = self.expr(node.shift, scope)
            self.expect(node.shift, typ, (INT,), "a joint's shift")
            shift_fn = self.as_int_fn(shift_fn, typ, node.shift, "a joint's shift")
        steps, ops = self.cost_since(mark)
        steps += _STAGE_STEPS
        ops += _STAGE_SET_OPS
        saved, self.in_joint = self.in_joint, True
        try:
            body = self.block(node.body, _Scope(scope))
        finally:
            self.in_joint = saved
        label, span = node.label, node.span
        shift_span = node.shift.span if node.shift is not None else span

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
            _emit(rt, span, label, group.generate, group.observe, group.generate_span, group.observe_span,
                  tuple(group.windows), shift)

        return run

    def stmt_RoleStmt(self, node: ast.RoleStmt, scope):
        """``generate S`` / ``observe S`` / ``window S`` inside a joint block."""
        role, span = node.role, node.span
        if not self.in_joint and not self.expanding:
            self.error(SchemeTypeError, f"`{role}` outside a joint block", span,
                       ["a stage's frames are clauses of `stage { ... }`; `window` belongs in `joint { ... }`"])
        mark = self.mark()
        fn, typ = self.expr(node.frames, scope)
        steps, ops = self.cost_since(mark)
        what = f"a joint's {role}"
        if role != "window":
            self.expect(node.frames, typ, (SET,), what)
            fn = self.as_set_fn(fn, typ, node.frames, what)
        else:
            self.expect(node.frames, typ, (SET, LIST), "a window")
        to_set = self.set_conv(ANY, node.frames, "a window")
        frames_span = node.frames.span

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
                    rt.burn(len(frames) * _STEPS_PER_FRAME + listing_steps(frames), span)
                    group.windows.append(RawWindow(frames, span, rt.source, tuple(rt.calls),
                                                   item if isinstance(value, tuple) else None))

        return run


def _emit(rt, span: Span, label: str | None, generate: FrameSet, observe: FrameSet, gen_span: Span | None,
          obs_span: Span | None, windows: tuple[RawWindow, ...] | None = None, shift: int = 0) -> None:
    """Append a stage (or a joint group) to the stage list and mark its frames done."""
    index = len(rt.stages)
    if index >= rt.limits.max_stages:
        rt.fail(ResourceLimitError, f"the scheme emitted more than {rt.limits.max_stages:,} stages", span)
    rt.tick(span)
    # Validating and lowering the stage lists its frames (the plan has them all).
    window = generate.union(observe)
    rt.burn(len(window) * _STEPS_PER_FRAME + listing_steps(window), span)
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


def check(scheme: ast.Scheme, source: SourceFile, linked: Linked | None = None) -> Program:
    """Resolve names and types and compile; raise :class:`SchemeErrors` listing every error.

    `linked`: the scheme's imports, loaded (:func:`vidsched.lang.imports.link`); by
    default they are loaded here, relative to the folder of ``source.name``."""
    if linked is None:
        linked = link(scheme.definitions, scheme.imports, source)
    try:
        return _check(scheme, source, linked)
    except RecursionError:
        # The parser bounds the nesting (Limits.max_nesting) far below Python's recursion
        # limit; this is only reached for an AST parsed with a much larger bound.
        raise SchemeErrors([ResourceLimitError("the scheme is nested too deeply", scheme.span, source)]) from None


def _declare(checker: _Checker, module: Module) -> None:
    """Check the names `module` declares; a definition that may not be called under its
    name (declared twice, a built-in's name) leaves the module's namespace."""
    saved = checker.enter(module)
    seen: dict[str, ast.Definition] = {}
    for defn in module.definitions:
        if defn.name in seen:
            line = seen[defn.name].span.line
            checker.error(AssignmentError, f"{defn.name} is already declared (line {line})", defn.name_span)
        elif defn.name in BUILTINS or defn.name in STATE_NAMES or defn.name in KEYWORDS:
            what = "a built-in function" if defn.name in BUILTINS else "a built-in name"
            checker.error(AssignmentError, f"{defn.name} is {what} and cannot be declared", defn.name_span)
            if module.names.get(defn.name) is defn:
                del module.names[defn.name]
        else:
            seen[defn.name] = defn
    checker.leave(saved)


def _check(scheme: ast.Scheme, source: SourceFile, linked: Linked) -> Program:
    checker = _Checker(linked)
    for module in linked.modules:
        _declare(checker, module)
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
    # Each procedure's body on its own, once, with arguments of unknown type: the errors
    # that do not depend on a call (after the parameters: they hold the first slots).
    for module in linked.modules:  # (those of imported files in their own files)
        for defn in module.definitions:
            if module.names.get(defn.name) is defn:
                checker.expand(defn, None, [ANY] * len(defn.params))
    body = checker.block(scheme.body, scope)
    if checker.errors:
        imported = {id(m.source): m.note for m in linked.modules if m.note}
        for err in checker.errors:  # an error in an imported file: which import brought it in
            if id(err.source) in imported:
                err.notes.append(imported[id(err.source)])
        raise SchemeErrors(checker.errors)
    return Program(scheme, source, tuple(names), spans, tuple(fns), body, checker.num_slots, types)
