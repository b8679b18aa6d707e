"""Check a scheme's AST and compile it: the checked :class:`~vidsched.lang.program.Program`
that :func:`vidsched.lang.evaluate.evaluate` runs.

:func:`check` walks the AST once, in the manner of miniwdl, resolving every name to a
slot (:mod:`vidsched.lang.program`), inferring static types and checking arity,
assignments and operand types (a built-in's own type rule, :mod:`vidsched.lang.builtins`,
gives its result's type). It collects *every* error (sorted by position) instead of
stopping at the first, and in the same walk generates each node's code: a Python closure
over a :class:`~vidsched.lang.machine.Runtime` (:mod:`vidsched.lang.codegen` builds them;
the static types chosen here decide which), so evaluation does not re-dispatch on node
types (a 10,000-frame scheme runs tens of thousands of loop iterations). Each node's
static cost in evaluation steps is counted here too and charged when its statement runs.
Calls of the scheme's procedures and functions (``proc``, ``fn``; each compiled in place
with its arguments' types) are handled by :mod:`vidsched.lang.procedures`.

The language has no I/O and no way to reach Python: values are integers, exact
fractions, booleans, frame sets and tuples (lists). Loops are bounded, integers are
bounded, and the number of stages and loop iterations is bounded
(:class:`~vidsched.lang.limits.Limits`), so
every program terminates.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from vidsched.errors import (
    ArityError,
    AssignmentError,
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
from vidsched.lang import ast
from vidsched.lang import codegen as cg
from vidsched.lang.builtins import ANY, BOOL, BUILTINS, INT, LIST, NUM, SET, TYPE_TEXT
from vidsched.lang.codegen import ARITH_STEPS, BIG, CALL_STEPS, COMPARE_STEPS, FAST_OPS, INT_ARITH_STEPS
from vidsched.lang.imports import Linked, link
from vidsched.lang.procedures import DefinitionCalls
from vidsched.lang.program import KEYWORDS, REQUIRED_PARAMS, STATE_NAMES, Program, Scope, Var

__all__ = ["KEYWORDS", "REQUIRED_PARAMS", "STATE_NAMES", "Program", "check"]


class _Checker(DefinitionCalls):
    """Resolves names and types, collects static errors, compiles to closures."""

    def __init__(self, linked: Linked) -> None:
        self.init_definitions(linked)  # the linked files, the one being compiled
        self.errors: list[SchemeError] = []
        self.num_slots = 0
        # Static cost of the expressions compiled so far: nodes that cost one evaluation
        # step, and nodes that work on frame sets or lists (rt.frame_cost steps each).
        self.small = 0
        self.big = 0
        self._operands_big = False  # set by a node whose operands are frame sets
        self._weight = 1  # set by a node that costs more steps than one (a call, fractions)
        self.in_joint = False  # compiling the body of a `joint` block

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
    def expr(self, node: ast.Expr, scope: Scope) -> tuple[Callable, str]:
        method = getattr(self, "expr_" + type(node).__name__)
        fn, typ = method(node, scope)
        # Static cost, charged when the enclosing statement runs (see `mark`).
        if isinstance(node, (ast.IntLit, ast.BoolLit, ast.Name)):
            self.small += 1
        elif typ in BIG or self._operands_big:
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
        return cg.big_literal_fn(v, node.span), INT

    def expr_BoolLit(self, node: ast.BoolLit, scope):
        v = node.value
        return (lambda rt: v), BOOL

    def expr_Name(self, node: ast.Name, scope: Scope):
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

    def unknown_name(self, name: str, span: Span, scope: Scope) -> None:
        candidates = scope.visible_names() + list(STATE_NAMES)
        if name in BUILTINS:
            self.error(UnknownNameError, f"{name} is a function; call it as {name}(...)", span)
            return
        notes = []
        close = difflib.get_close_matches(name, candidates, n=1)
        if close:
            notes.append(f"did you mean {close[0]}?")
        self.error(UnknownNameError, f"unknown name {name}", span, notes)

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
        return cg.truth_fn(fn, node.span, what)

    def expr_SetLit(self, node: ast.SetLit, scope):
        parts = []
        for item in node.items:
            fn, typ = self.expr(item, scope)
            self.expect(item, typ, (SET,), "a member of a set literal")
            parts.append(cg.as_set_fn(fn, typ, item.span, "a member of a set literal"))
        return cg.set_literal_fn(parts), SET

    def expr_ListLit(self, node: ast.ListLit, scope):
        fns = [self.expr(item, scope)[0] for item in node.items]
        return (lambda rt: tuple(f(rt) for f in fns)), LIST

    def expr_RangeExpr(self, node: ast.RangeExpr, scope):
        start_fn, st = self.expr(node.start, scope)
        stop_fn, sp = self.expr(node.stop, scope)
        self.expect(node.start, st, (INT,), "a range's start")
        self.expect(node.stop, sp, (INT,), "a range's end")
        start_fn = cg.as_int_fn(start_fn, st, node.start.span, "a range's start")
        stop_fn = cg.as_int_fn(stop_fn, sp, node.stop.span, "a range's end")
        step_fn = None
        if node.step is not None:
            step_fn, tt = self.expr(node.step, scope)
            self.expect(node.step, tt, (INT,), "a range's step (by)")
            step_fn = cg.as_int_fn(step_fn, tt, node.step.span, "a range's step (by)")
        inclusive = node.inclusive
        step_span = node.step.span if node.step is not None else node.span
        return cg.range_fn(start_fn, stop_fn, step_fn, inclusive, step_span), SET

    def expr_Neg(self, node: ast.Neg, scope):
        fn, typ = self.expr(node.operand, scope)
        self.expect(node.operand, typ, (NUM,), "the operand of unary -")
        fn = cg.as_num_fn(fn, typ, node.operand.span, "the operand of unary -")
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
        self._operands_big = any(c[2] in BIG for c in compiled)  # e.g. comparing frame sets
        self._weight = COMPARE_STEPS * len(checks)
        return cg.compare_fn(checks, fns), BOOL

    def compare_op(self, op, lfn, ltype, lnode, rfn, rtype, rnode):
        span = Span(lnode.span.line, lnode.span.column, rnode.span.end_line, rnode.span.end_column)
        if op in ("in", "not in"):
            self.expect(lnode, ltype, (INT,), f"the left side of {op}")
            self.expect(rnode, rtype, (SET, LIST), f"the right side of {op}")
            return cg.member_test(op, span)
        if op in ("==", "!="):
            return cg.equal_test(op, ltype in (LIST, ANY) or rtype in (LIST, ANY), span)
        self.expect(lnode, ltype, (NUM,), f"the left side of {op}")
        self.expect(rnode, rtype, (NUM,), f"the right side of {op}")
        return cg.ordered_test(op, ltype in (INT, NUM) and rtype in (INT, NUM), span)

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
            big = typ in BIG or rtp in BIG or result_type in BIG
            # The fast path of whole numbers costs one step; the general path (fractions,
            # powers, types known only at run time) several.
            if (typ, rtp, op_node.op) in FAST_OPS:
                weight = 1
            elif typ == INT and rtp == INT and op_node.op != "**":
                weight = INT_ARITH_STEPS
            else:
                weight = ARITH_STEPS
            if op_node is node:  # expr() counts the outermost node
                self._operands_big, self._weight = big, weight
            elif big:
                self.big += 1
                self.small += weight - 1
            else:
                self.small += weight
            steps.append(step)
            typ = result_type
        return cg.binop_chain_fn(fn, steps), typ

    def binop_step(self, node: ast.BinOp, lt: str, rfn: Callable, rtp: str) -> tuple[Callable, str]:
        """One operator of a chain: a function (rt, left value) -> value, and its type."""
        op = node.op
        span = node.op_span

        if op in ("|", "&"):
            what = "union (|)" if op == "|" else "intersection (&)"
            self.expect(node.left, lt, (SET,), f"the left side of {what}")
            self.expect(node.right, rtp, (SET,), f"the right side of {what}")
            lconv = cg.set_conv(lt, node.left.span, f"the left side of {what}")
            rf = cg.as_set_fn(rfn, rtp, node.right.span, f"the right side of {what}")
            return cg.set_op_step(op, lconv, rf), SET

        if op == "-" and (lt == SET or rtp == SET):
            if lt != SET and lt != ANY:
                self.error(SchemeTypeError, f"cannot subtract a frame set from {TYPE_TEXT[lt]}", span)
            lconv = cg.set_conv(lt, node.left.span, "the left side of -")
            rf = cg.as_set_fn(rfn, rtp, node.right.span, "the right side of -")
            return cg.set_op_step(op, lconv, rf), SET

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

        # (where `-` may be set difference, ANY: decided at run time)
        return cg.arith_step(op, lt, rtp, rfn, span), result_type

    def expr_Call(self, node: ast.Call, scope):
        defn = self.definitions.get(node.func)
        if defn is not None:
            return self.function_call(defn, node, scope)
        builtin = BUILTINS.get(node.func)
        arg_fns = [self.expr(a, scope) for a in node.args]
        if builtin is None:
            self.unknown_callable(node.func, node.func_span, "function")
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
                converted.append(cg.as_set_fn(fn, typ, arg.span, what))
            elif want == INT:
                converted.append(cg.as_int_fn(fn, typ, arg.span, what))
            else:
                converted.append(cg.as_num_fn(fn, typ, arg.span, what))
        result = builtin.result_type(tuple(t for _, t in arg_fns))
        self._operands_big = any(t in BIG for _, t in arg_fns)  # e.g. len(todo): a pass over the set
        self._weight = CALL_STEPS
        return cg.builtin_call_fn(builtin, converted, node.span), result

    # ---- statements -----------------------------------------------------------------
    def block(self, node: ast.Block, scope: Scope) -> Callable:
        inner = Scope(scope)
        fns = [self.stmt(s, inner) for s in node.stmts]
        return cg.block_fn(fns)

    def stmt(self, node: ast.Stmt, scope: Scope) -> Callable:
        return getattr(self, "stmt_" + type(node).__name__)(node, scope)

    def declare(self, name: str, span: Span, typ: str, kind: str, scope: Scope) -> Var:
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
        var = Var(name, self.new_slot(), typ, kind, span)
        scope.vars[name] = var
        return var

    def stmt_Let(self, node: ast.Let, scope):
        mark = self.mark()
        fn, typ = self.expr(node.value, scope)
        steps, ops = self.cost_since(mark)
        slot = self.declare(node.name, node.name_span, typ, "let", scope).slot
        return cg.store_fn(fn, slot, steps, ops, node.span)

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
        return cg.store_fn(fn, var.slot, steps, ops, node.span)

    def stmt_If(self, node: ast.If, scope):
        branches = []
        for cond, body in node.branches:
            mark = self.mark()
            fn, typ = self.expr(cond, scope)
            steps, ops = self.cost_since(mark)
            test = self.as_truth_fn(fn, typ, cond, "an if condition")
            branches.append((1 + steps, ops, cond.span, test, self.block(body, scope)))
        orelse = self.block(node.orelse, scope) if node.orelse is not None else None
        return cg.if_fn(branches, orelse)

    def stmt_For(self, node: ast.For, scope):
        mark = self.mark()
        it_fn, it_type = self.expr(node.iterable, scope)
        steps, ops = self.cost_since(mark)
        self.expect(node.iterable, it_type, (SET, LIST), "what a for loop iterates over")
        inner = Scope(scope)
        var_type = INT if it_type == SET else ANY
        var = self.declare(node.var, node.var_span, var_type, "for", inner)
        body = self.block(node.body, inner)
        return cg.for_fn(it_fn, steps, ops, var.slot, node.var, body, node.span)

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
            limit_fn = cg.as_int_fn(limit_fn, lt, node.limit.span, "a while loop's limit")
        limit_steps, limit_ops = self.cost_since(mark)
        body = self.block(node.body, scope)
        span = node.span
        line = span.line if self.module is self.linked.root else f"{span.line} of {self.source.name}"
        return cg.while_fn(cond_fn, cond_steps, cond_ops, limit_fn, limit_steps, limit_ops, body, span, line)

    def stmt_Assert(self, node: ast.Assert, scope):
        mark = self.mark()
        fn, typ = self.expr(node.cond, scope)
        steps, ops = self.cost_since(mark)
        fn = self.as_truth_fn(fn, typ, node.cond, "an assert condition")
        return cg.assert_fn(fn, steps, ops, node.message, self._text(node.cond.span), node.span)

    def _text(self, span: Span) -> str:
        if span.end_line == span.line and span.end_column:
            return self.source.line(span.line)[span.column - 1 : span.end_column - 1]
        return self.source.line(span.line)[span.column - 1 :]

    def stmt_Given(self, node: ast.Given, scope):
        mark = self.mark()
        fn, typ = self.expr(node.frames, scope)
        steps, ops = self.cost_since(mark)
        self.expect(node.frames, typ, (SET,), "given")
        fn = cg.as_set_fn(fn, typ, node.frames.span, "given")
        return cg.given_fn(fn, steps, ops, node.span)

    def stmt_NoMarginals(self, node, scope):
        return cg.no_marginals_fn()

    def stmt_Phase(self, node: ast.Phase, scope):
        body = self.block(node.body, scope)
        return cg.phase_fn(body, node.label)

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
            fn = cg.as_set_fn(fn, typ, clause.frames.span, clause.role)
            if clause.role == "generate":
                gens.append(fn)
                gen_span = gen_span or clause.span
            else:
                obs.append(fn)
                obs_span = obs_span or clause.span
        steps, ops = self.cost_since(mark)
        steps += cg.STAGE_STEPS
        ops += len(gens) + len(obs) + cg.STAGE_SET_OPS
        return cg.stage_fn(gens, obs, steps, ops, node.label, node.span, gen_span, obs_span)

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
            shift_fn = cg.as_int_fn(shift_fn, typ, node.shift.span, "a joint's shift")
        steps, ops = self.cost_since(mark)
        steps += cg.STAGE_STEPS
        ops += cg.STAGE_SET_OPS
        saved, self.in_joint = self.in_joint, True
        try:
            body = self.block(node.body, Scope(scope))
        finally:
            self.in_joint = saved
        shift_span = node.shift.span if node.shift is not None else node.span
        return cg.joint_fn(shift_fn, steps, ops, body, node.label, node.span, shift_span)

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
            fn = cg.as_set_fn(fn, typ, node.frames.span, what)
        else:
            self.expect(node.frames, typ, (SET, LIST), "a window")
        to_set = cg.set_conv(ANY, node.frames.span, "a window")
        return cg.role_fn(role, fn, to_set, steps, ops, span, node.frames.span)


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


def _check(scheme: ast.Scheme, source: SourceFile, linked: Linked) -> Program:
    checker = _Checker(linked)
    for module in linked.modules:
        checker.declare_definitions(module)
    scope = Scope(None)
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
        var = Var(param.name, checker.new_slot(), typ if typ != NUM else ANY, "param", param.span)
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
    # Each procedure's body on its own (after the parameters: they hold the first slots).
    checker.check_bodies()
    body = checker.block(scheme.body, scope)
    if checker.errors:
        imported = {id(m.source): m.note for m in linked.modules if m.note}
        for err in checker.errors:  # an error in an imported file: which import brought it in
            if id(err.source) in imported:
                err.notes.append(imported[id(err.source)])
        raise SchemeErrors(checker.errors)
    return Program(scheme, source, tuple(names), spans, tuple(fns), body, checker.num_slots, types)
