"""Parse scheme source text into the AST (`ast.py`) with Lark's LALR parser.

The grammar is ``grammar/scheme.lark`` at the top of the repository; it is installed
as package data (``vidsched.grammar``), so an installed wheel parses without the
checkout. Newlines separate statements except inside ``( )`` and ``[ ]`` and before
``else`` (so ``}`` and ``else`` may sit on different lines); a small post-lexer drops
those newlines, in the spirit of Python's tokenizer.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from lark import Lark, Token, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.visitors import Transformer_NonRecursive

from vidsched.errors import EvaluationError, ResourceLimitError, SchemeError, SchemeSyntaxError, SourceFile, Span
from vidsched.lang import ast
from vidsched.lang.limits import Limits

GRAMMAR_FILE = "scheme.lark"

# Readable names for the terminals that appear in "expected ..." messages.
_TERMINAL_TEXT = {
    "NAME": "a name",
    "INT": "a number",
    "STRING": 'a "string"',
    "LPAR": '"("',
    "RPAR": '")"',
    "LBRACE": '"{"',
    "RBRACE": '"}"',
    "LSQB": '"["',
    "RSQB": '"]"',
    "COMMA": '","',
    "EQUAL": '"="',
    "_NEWLINE": "a new line",
    "NOT_IN": '"not in"',
    "SEMICOLON": '";"',
    "UPTO": '"..<"',
    "THROUGH": '"..="',
    "GENERATE": '"generate"',
    "OBSERVE": '"observe"',
    "WINDOW": '"window"',
    "$END": "the end of the file",
}


def grammar_text() -> str:
    """The grammar, from the installed package or, in a checkout, from ``grammar/``."""
    try:
        return resources.files("vidsched.grammar").joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        path = Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_FILE
        return path.read_text(encoding="utf-8")


# After these tokens a `{` starts a set literal (an expression is expected); after any
# other token (`)`, a name, a number, `else`, `stage`, a label, ...) it opens a block.
_EXPRESSION_BEFORE = frozenset(
    "EQUAL LPAR LSQB COMMA LBRACE PLUS MINUS STAR FLOORDIV PERCENT SLASH POW UNION INTER "
    "LT LE GT GE EQ NE IN NOT_IN AND OR NOT UPTO THROUGH BY LIMIT GENERATE OBSERVE WINDOW SHIFT GIVEN ASSERT".split()
)


class _NewlineFilter:
    """Post-lexer: drop NEWLINE tokens inside ( ), [ ] and set literals { }, and before
    ``else``, so expressions may span lines and ``}`` / ``else`` may sit on two lines."""

    always_accept = ("_NEWLINE",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0  # open ( [ and set-literal {
        braces: list[bool] = []  # for each open {: is it a set literal?
        previous = None
        pending: Token | None = None
        try:
            for tok in stream:
                if tok.type == "_NEWLINE":
                    if depth == 0 and pending is None:
                        pending = tok
                    continue
                if pending is not None:
                    if tok.type != "ELSE":
                        yield pending
                    pending = None
                if tok.type in ("LPAR", "LSQB"):
                    depth += 1
                elif tok.type in ("RPAR", "RSQB"):
                    depth = max(0, depth - 1)
                elif tok.type == "LBRACE":
                    is_set = previous in _EXPRESSION_BEFORE and (previous != "LBRACE" or (braces and braces[-1]))
                    braces.append(is_set)
                    depth += is_set
                elif tok.type == "RBRACE" and braces:
                    depth = max(0, depth - braces.pop())
                previous = tok.type
                yield tok
        except UnexpectedInput as e:
            # The contextual lexer reads the token after a held-back newline in the
            # parser state *before* that newline; remember the newline so that `parse`
            # can report the newline itself when it is what the parser cannot accept.
            e.pending_newline = pending  # type: ignore[attr-defined]
            raise
        if pending is not None:
            yield pending


@functools.cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        start=["start", "library"],
        propagate_positions=True,
        postlex=_NewlineFilter(),
        maybe_placeholders=True,
    )


def _span(meta_or_token) -> Span:
    return Span(
        meta_or_token.line,
        meta_or_token.column,
        getattr(meta_or_token, "end_line", None),
        getattr(meta_or_token, "end_column", None),
    )


# A literal longer than this is refused before it is converted (Python's own int() refuses
# more than 4,300 digits, and no limit on integers lets such a number through anyway).
MAX_LITERAL_DIGITS = 1000


class _ParseFailure(Exception):
    """Internal: a SchemeError raised inside the transformer (Lark wraps it in VisitError)."""

    def __init__(self, error: SchemeError) -> None:
        self.error = error


def _number_text(value: int) -> str:
    text = str(value)
    return text if len(text) <= 30 else f"{text[:12]}...{text[-6:]} ({len(text)} digits)"


@v_args(meta=True)
class _ToAst(Transformer_NonRecursive):
    """Lark parse tree -> frozen AST nodes (every node keeps its source span).

    Non-recursive (an explicit stack), so that a deeply nested text cannot exhaust
    Python's stack here; :func:`_check_nesting` then bounds the depth for later passes.
    """

    def __init__(self, source: SourceFile, limits: Limits) -> None:
        super().__init__()
        self.source = source
        self.limits = limits

    def _fail(self, cls: type[SchemeError], message: str, span: Span, notes: list[str] | None = None):
        raise _ParseFailure(cls(message, span, self.source, list(notes or [])))

    def _unquote(self, token: Token) -> str:
        body = token[1:-1]
        if "\\" not in body:
            return body
        try:
            # latin-1 + backslashreplace keeps every other character as it is written.
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as e:
            self._fail(SchemeSyntaxError, f"invalid escape in a string: {e.reason}", _span(token))

    def start(self, meta, children):
        *definitions, scheme = children
        imports = tuple(d for d in definitions if isinstance(d, ast.Import))
        definitions = tuple(d for d in definitions if isinstance(d, ast.Definition))
        if not definitions and not imports:
            return scheme
        return ast.Scheme(scheme.span, scheme.name, scheme.name_span, scheme.params, scheme.body, definitions, imports)

    def library(self, meta, children):
        imports = tuple(d for d in children if isinstance(d, ast.Import))
        definitions = tuple(d for d in children if isinstance(d, ast.Definition))
        return ast.Library(_span(meta) if not meta.empty else Span(1, 1), imports, definitions)

    def import_stmt(self, meta, children):
        keyword, (target, target_span, is_path), *names = children
        selected = tuple((str(n), _span(n)) for n in names if n is not None and n.type == "NAME")
        return ast.Import(_span(meta), target, target_span, is_path, selected if keyword.type == "FROM" else None)

    def import_path(self, meta, children):
        (tok,) = children
        return (self._unquote(tok), _span(tok), True)

    def import_module(self, meta, children):
        return (".".join(str(t) for t in children), _span(meta), False)

    def _definition(self, meta, children, kind):
        _kw, name, *params, last = children
        params = tuple((str(p), _span(p)) for p in params if p is not None)
        body = last if kind == "proc" else None
        value = last if kind == "fn" else None
        return ast.Definition(_span(meta), kind, str(name), _span(name), params, body, value)

    def proc_def(self, meta, children):
        return self._definition(meta, children, "proc")

    def fn_def(self, meta, children):
        return self._definition(meta, children, "fn")

    def call_stmt(self, meta, children):
        func, *args = children
        return ast.CallStmt(_span(meta), str(func), _span(func), tuple(a for a in args if a is not None))

    def scheme(self, meta, children):
        name = children[0]
        params = tuple(c for c in children[1:-1] if c is not None)
        return ast.Scheme(_span(meta), str(name), _span(name), params, children[-1])

    def param(self, meta, children):
        name, default = children
        return ast.Param(_span(name), str(name), default)

    def block(self, meta, children):
        stmts = tuple(c for c in children if isinstance(c, ast.Stmt))
        return ast.Block(_span(meta) if not meta.empty else Span(0, 0), stmts)

    # statements
    def let_stmt(self, meta, children):
        name, value = children
        return ast.Let(_span(meta), str(name), _span(name), value)

    def assign_stmt(self, meta, children):
        name, value = children
        return ast.Assign(_span(name), str(name), value)

    def if_stmt(self, meta, children):
        cond, body, *rest = children
        branches = [(cond, body)]
        orelse = None
        for item in rest:
            if item is None:
                continue
            if isinstance(item, tuple):
                branches.append(item)
            else:
                orelse = item
        return ast.If(_span(meta), tuple(branches), orelse)

    def elif_clause(self, meta, children):
        return (children[0], children[1])

    def else_clause(self, meta, children):
        return children[0]

    def for_stmt(self, meta, children):
        var, iterable, body = children
        return ast.For(_span(meta), str(var), _span(var), iterable, body)

    def while_stmt(self, meta, children):
        cond, _limit_kw, limit, body = children
        return ast.While(_span(meta), cond, limit, body)

    def assert_stmt(self, meta, children):
        keyword, cond, message = children
        return ast.Assert(_span(keyword), cond, self._unquote(message) if message is not None else None)

    def given_stmt(self, meta, children):
        keyword, frames = children
        return ast.Given(_span(keyword), frames)

    def stage_stmt(self, meta, children):
        keyword, label, *clauses = children
        return ast.StageStmt(_span(keyword), label, tuple(c for c in clauses if c is not None))

    def phase_stmt(self, meta, children):
        keyword, label, body = children
        return ast.Phase(_span(keyword), label, body)

    def joint_stmt(self, meta, children):
        keyword, label, _shift_kw, shift, body = children
        return ast.Joint(_span(keyword), label, shift, body)

    def role_stmt(self, meta, children):
        role, frames = children
        end = frames.span
        return ast.RoleStmt(Span(role.line, role.column, end.end_line, end.end_column), str(role), frames)

    def nomarg_stmt(self, meta, children):
        return ast.NoMarginals(_span(meta))

    def label(self, meta, children):
        (tok,) = children
        return self._unquote(tok) if tok.type == "STRING" else str(tok)

    def clause(self, meta, children):
        role, frames = children
        return ast.Clause(_span(role), str(role), frames)

    # expressions
    def int_lit(self, meta, children):
        (tok,) = children
        bits = self.limits.max_int_bits
        if len(tok) > MAX_LITERAL_DIGITS:
            self._fail(
                EvaluationError,
                f"this number is too large: it has {len(tok):,} digits, more than {bits} bits (the limit on integers)",
                _span(tok),
            )
        value = int(tok)
        if value.bit_length() > bits:
            self._fail(
                EvaluationError,
                f"the number {_number_text(value)} is too large: it has more than {bits} bits (the limit on integers)",
                _span(tok),
            )
        return ast.IntLit(_span(meta), value)

    def true_lit(self, meta, children):
        return ast.BoolLit(_span(meta), True)

    def false_lit(self, meta, children):
        return ast.BoolLit(_span(meta), False)

    def name(self, meta, children):
        return ast.Name(_span(meta), str(children[0]))

    def set_lit(self, meta, children):
        return ast.SetLit(_span(meta), tuple(c for c in children if c is not None))

    def list_lit(self, meta, children):
        return ast.ListLit(_span(meta), tuple(c for c in children if c is not None))

    def call(self, meta, children):
        func, *args = children
        return ast.Call(_span(meta), str(func), _span(func), tuple(a for a in args if a is not None))

    def range(self, meta, children):
        start, op, stop, _by, step = children
        return ast.RangeExpr(_span(meta), start, stop, op.type == "THROUGH", step)

    def _left_assoc(self, meta, children):
        node = children[0]
        for i in range(1, len(children), 2):
            op, right = children[i], children[i + 1]
            span = Span(node.span.line, node.span.column, right.span.end_line, right.span.end_column)
            node = ast.BinOp(span, str(op), node, right, _span(op))
        return node

    sum = product = union = inter = _left_assoc

    def power(self, meta, children):
        return self._left_assoc(meta, children)

    def neg(self, meta, children):
        return ast.Neg(_span(meta), children[1])

    def not_op(self, meta, children):
        return ast.Not(_span(meta), children[1])

    def compare(self, meta, children):
        first = children[0]
        rest = tuple((children[i], children[i + 1]) for i in range(1, len(children), 2))
        return ast.Compare(_span(meta), first, rest)

    def comp_op(self, meta, children):
        text = str(children[0])
        return "not in" if text.startswith("not") else text

    def or_expr(self, meta, children):
        return ast.BoolOp(_span(meta), "or", tuple(children[0::2]))

    def and_expr(self, meta, children):
        return ast.BoolOp(_span(meta), "and", tuple(children[0::2]))


@functools.cache
def _literal_terminals() -> dict[str, str]:
    """Terminal name -> its literal text, for terminals defined by a plain string."""
    return {t.name: t.pattern.value for t in _parser().terminals if t.pattern.type == "str"}


def _terminal_text(name: str) -> str:
    if name in _TERMINAL_TEXT:
        return _TERMINAL_TEXT[name]
    literal = _literal_terminals().get(name)
    if literal is not None:
        return f'"{literal}"'
    return f'"{name.lower()}"'


def _acceptable(state) -> set[str] | None:
    """The terminals the parser accepts in a parser state (None when unknown)."""
    try:
        actions = state.parse_conf.parse_table.states[state.position]
    except (AttributeError, KeyError, IndexError):
        return None
    return {name for name in actions if name.isupper() or name.startswith("$")}


def _acceptable_after(state, newline: Token) -> set[str] | None:
    """What the parser accepts once it has taken `newline` (None when it cannot)."""
    try:
        after = state.copy()
        after.feed_token(newline)
    except Exception:  # noqa: BLE001 - any failure: fall back to the state before
        return None
    return _acceptable(after)


_CLOSERS = ('"}"', '")"', '"]"')


def _expected_text(expected: set[str], limit: int = 10) -> str:
    """Readable list of what the parser expected: closing brackets and the kinds of
    token (a name, a number, ...) first, then keywords and operators as written."""

    def order(text: str) -> tuple[int, str]:
        return (0 if text in _CLOSERS else 1 if not text.startswith('"') else 2, text)

    names = sorted({_terminal_text(t) for t in expected if not t.startswith("__")}, key=order)
    if len(names) > limit:
        return ", ".join(names[:limit]) + ", ..."
    return ", ".join(names)


def _position(text: str, offset: int) -> Span:
    """The 1-based line and column of a character offset (lines end at "\\n", as in Lark)."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Span(line, column)


def _nested(node: ast.Node) -> list[tuple[ast.Node, int]]:
    """The nodes directly inside `node`, each with the nesting levels it adds (0 or 1),
    in source order. A BinOp's left operand adds none: `a + b + c` is ((a + b) + c), and
    a chain of left-associative operators counts as one level however long it is (the
    checker and the evaluator walk such chains with a loop)."""
    if isinstance(node, ast.BinOp):
        return [(node.left, 0), (node.right, 1)]
    if isinstance(node, (ast.SetLit, ast.ListLit)):
        return [(item, 1) for item in node.items]
    if isinstance(node, (ast.Call, ast.CallStmt)):
        return [(arg, 1) for arg in node.args]
    if isinstance(node, ast.RangeExpr):
        parts = [node.start, node.stop] + ([node.step] if node.step is not None else [])
        return [(p, 1) for p in parts]
    if isinstance(node, ast.Compare):
        return [(node.first, 1)] + [(sub, 1) for _, sub in node.rest]
    if isinstance(node, ast.BoolOp):
        return [(v, 1) for v in node.values]
    if isinstance(node, (ast.Not, ast.Neg)):
        return [(node.operand, 1)]
    if isinstance(node, ast.Block):  # a block is at its statement's level
        return [(stmt, 1) for stmt in node.stmts]
    if isinstance(node, (ast.Let, ast.Assign)):
        return [(node.value, 1)]
    if isinstance(node, ast.If):
        out: list[tuple[ast.Node, int]] = []
        for cond, body in node.branches:
            out += [(cond, 1), (body, 0)]
        return out + ([(node.orelse, 0)] if node.orelse is not None else [])
    if isinstance(node, ast.For):
        return [(node.iterable, 1), (node.body, 0)]
    if isinstance(node, ast.While):
        return [(node.cond, 1)] + ([(node.limit, 1)] if node.limit is not None else []) + [(node.body, 0)]
    if isinstance(node, ast.Assert):
        return [(node.cond, 1)]
    if isinstance(node, ast.Given):
        return [(node.frames, 1)]
    if isinstance(node, ast.StageStmt):
        return [(clause.frames, 1) for clause in node.clauses]
    if isinstance(node, ast.Phase):
        return [(node.body, 0)]
    if isinstance(node, ast.Joint):
        return ([(node.shift, 1)] if node.shift is not None else []) + [(node.body, 0)]
    if isinstance(node, ast.RoleStmt):
        return [(node.frames, 1)]
    if isinstance(node, ast.Definition):
        return [(node.body, 0)] if node.body is not None else [(node.value, 1)]
    if isinstance(node, ast.Scheme):
        return [(d, 0) for d in node.definitions] + [(p.default, 1) for p in node.params] + [(node.body, 0)]
    if isinstance(node, ast.Library):
        return [(d, 0) for d in node.definitions]
    return []


def _check_nesting(scheme: ast.Scheme, source: SourceFile, limit: int) -> None:
    """Refuse a scheme nested more than `limit` levels deep (blocks and expressions
    counted together), at the first node, in source order, that passes the limit.

    The checker and the evaluator recurse once per level (a few Python frames each), so
    this bound is what keeps them far from Python's recursion limit. The walk itself
    uses an explicit stack.
    """
    # (node, its level, the innermost statement around it or itself, that one's level)
    stack: list[tuple[ast.Node, int, ast.Node, int]] = [(scheme, 0, scheme, 0)]
    while stack:
        node, level, stmt, stmt_level = stack.pop()
        if isinstance(node, ast.Stmt):
            stmt, stmt_level = node, level
        if level > limit:
            if isinstance(node, ast.Expr) and 2 * (level - stmt_level) > limit:
                message, span = f"expression nested more than {limit} levels deep", node.span
            else:  # mostly blocks: point at the innermost statement
                message, span = f"blocks nested more than {limit} levels deep", stmt.span
            raise ResourceLimitError(
                message,
                Span(span.line, span.column),  # a caret at its start: the rest may be long
                source,
                [
                    "blocks and the expressions inside them count together; "
                    "a chain such as a + b + c + ... is one level",
                    "split it up with `let`, or flatten the nesting",
                ],
            )
        for child, extra in reversed(_nested(node)):
            stack.append((child, level + extra, stmt, stmt_level))


def parse(text: str, filename: str = "<scheme>", limits: Limits | None = None) -> ast.Scheme:
    """Parse one scheme. Raises :class:`SchemeSyntaxError` with the position, or another
    :class:`SchemeError` where the text passes one of the `limits` (its length, the
    nesting depth, the size of a number)."""
    return _parse(text, filename, limits, "start")


def parse_library(text: str, filename: str = "<library>", limits: Limits | None = None) -> ast.Library:
    """Parse a file that is imported: imports and definitions, and a scheme block that
    may be missing (and is dropped). Errors as for :func:`parse`."""
    return _parse(text, filename, limits, "library")


def _parse(text: str, filename: str, limits: Limits | None, start: str):
    limits = limits if limits is not None else Limits()
    source = SourceFile(filename, text)
    if len(text) > limits.max_source_chars:
        raise ResourceLimitError(
            f"the scheme is {len(text):,} characters long, more than the limit of {limits.max_source_chars:,}",
            _position(text, limits.max_source_chars),
            source,
        )
    try:
        tree = _parser().parse(text, start=start)
        scheme = _ToAst(source, limits).transform(tree)
    except UnexpectedCharacters as e:
        raise SchemeSyntaxError(
            f"unexpected character {text[e.pos_in_stream]!r}", Span(e.line, e.column), source
        ) from None
    except UnexpectedToken as e:
        tok = e.token
        acceptable = _acceptable(getattr(e, "state", None))
        expected = acceptable if acceptable is not None else set(e.expected)
        newline = getattr(e, "pending_newline", None)
        if newline is not None and acceptable is not None:
            if "_NEWLINE" not in acceptable:
                # The statement stops at the end of this line (e.g. `let x =` and nothing).
                span = Span(newline.line, newline.column, newline.line, newline.column + 1)
                raise SchemeSyntaxError(
                    f"unexpected end of line; expected {_expected_text(expected)}", span, source
                ) from None
            # The token was read before the newline was taken: expect what follows it.
            expected = _acceptable_after(e.state, newline) or expected
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            span = Span(len(lines), len(lines[-1]) + 1)
            what = "end of file"
        elif tok.type == "_NEWLINE":
            span = Span(tok.line, tok.column, tok.line, tok.column + 1)
            what = "end of line"
        else:
            span = Span(tok.line, tok.column, tok.end_line, tok.end_column)
            what = f"{str(tok)!r}"
        raise SchemeSyntaxError(
            f"unexpected {what}; expected {_expected_text(expected)}", span, source
        ) from None
    except UnexpectedEOF as e:
        lines = text.splitlines() or [""]
        raise SchemeSyntaxError(
            f"unexpected end of file; expected {_expected_text(set(e.expected))}",
            Span(len(lines), len(lines[-1]) + 1),
            source,
        ) from None
    except UnexpectedInput as e:  # pragma: no cover - other Lark errors
        raise SchemeSyntaxError(str(e).splitlines()[0], Span(e.line, e.column), source) from None
    except VisitError as e:
        if isinstance(e.orig_exc, _ParseFailure):
            raise e.orig_exc.error from None
        raise e.orig_exc from None  # pragma: no cover - a bug in the transformer
    _check_nesting(scheme, source, limits.max_nesting)
    return scheme
