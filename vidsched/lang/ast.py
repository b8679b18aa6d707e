"""The scheme language's abstract syntax tree: frozen dataclasses, a position on each.

The parser (`parser.py`) builds these from Lark's parse tree; nothing else creates
them. Later passes never mutate the tree: the checker (`check.py`) resolves names and
types and compiles it to closures, the evaluator runs those closures.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidsched.errors import Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span


# ---- expressions -------------------------------------------------------------------
class Expr(Node):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class IntLit(Expr):
    value: int


@dataclass(frozen=True, slots=True)
class BoolLit(Expr):
    value: bool


@dataclass(frozen=True, slots=True)
class Name(Expr):
    id: str


@dataclass(frozen=True, slots=True)
class SetLit(Expr):
    """``{a, b, c}``: a frame set (members may be frames or sets, which are joined)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ListLit(Expr):
    """``[S1, S2]``: a list, for ``for`` loops over several frame sets."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class RangeExpr(Expr):
    """``start ..< stop`` (exclusive) or ``start ..= stop`` (inclusive), ``by step``."""

    start: Expr
    stop: Expr
    inclusive: bool
    step: Expr | None


@dataclass(frozen=True, slots=True)
class BinOp(Expr):
    """Arithmetic (+ - * // % / **) or set algebra (| & -); `op` is the token text."""

    op: str
    left: Expr
    right: Expr
    op_span: Span


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """A chain ``a < b <= c``; ops are "<", "<=", ">", ">=", "==", "!=", "in", "not in"."""

    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    values: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: str
    func_span: Span
    args: tuple[Expr, ...]


# ---- statements --------------------------------------------------------------------
class Stmt(Node):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Block(Node):
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Let(Stmt):
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True, slots=True)
class Assign(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True, slots=True)
class If(Stmt):
    branches: tuple[tuple[Expr, Block], ...]
    orelse: Block | None


@dataclass(frozen=True, slots=True)
class For(Stmt):
    var: str
    var_span: Span
    iterable: Expr
    body: Block


@dataclass(frozen=True, slots=True)
class While(Stmt):
    cond: Expr
    limit: Expr | None
    body: Block


@dataclass(frozen=True, slots=True)
class Assert(Stmt):
    cond: Expr
    message: str | None


@dataclass(frozen=True, slots=True)
class Given(Stmt):
    frames: Expr


@dataclass(frozen=True, slots=True)
class Clause(Node):
    role: str  # "generate" | "observe"
    frames: Expr


@dataclass(frozen=True, slots=True)
class StageStmt(Stmt):
    label: str | None
    clauses: tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class Phase(Stmt):
    label: str
    body: Block


@dataclass(frozen=True, slots=True)
class NoMarginals(Stmt):
    pass


@dataclass(frozen=True, slots=True)
class Joint(Stmt):
    """``joint [label] [shift N] { ... }``: windows denoised together, one unit of the
    plan (a group); its body's `generate`, `observe` and `window` statements fill it."""

    label: str | None
    shift: Expr | None
    body: Block


@dataclass(frozen=True, slots=True)
class RoleStmt(Stmt):
    """``generate S``, ``observe S`` or ``window S`` as a statement (inside a joint)."""

    role: str  # "generate" | "observe" | "window"
    frames: Expr


@dataclass(frozen=True, slots=True)
class CallStmt(Stmt):
    """``name(args)`` as a statement: a call of a procedure (``proc``)."""

    func: str
    func_span: Span
    args: tuple[Expr, ...]


# ---- the program -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Param(Node):
    name: str
    default: Expr


@dataclass(frozen=True, slots=True)
class Definition(Node):
    """``proc name(a, b) { ... }`` (body: a block that may emit stages) or
    ``fn name(a, b) = expr`` (value: the expression it returns)."""

    kind: str  # "proc" | "fn"
    name: str
    name_span: Span
    params: tuple[tuple[str, Span], ...]
    body: Block | None
    value: Expr | None


@dataclass(frozen=True, slots=True)
class Import(Node):
    """``import "lib/steps.sched"`` (path: True, a path relative to the importing file),
    ``import std.improved_ar`` (path: False, a library shipped with vidsched), or
    ``from TARGET import a, b`` (names: only those)."""

    target: str
    target_span: Span
    path: bool
    names: tuple[tuple[str, Span], ...] | None = None  # None: every definition


@dataclass(frozen=True, slots=True)
class Scheme(Node):
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: Block
    definitions: tuple[Definition, ...] = ()
    imports: tuple[Import, ...] = ()


@dataclass(frozen=True, slots=True)
class Library(Node):
    """An imported file: its imports and definitions (a scheme block in it is ignored)."""

    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
