"""The parser: every construct, source positions, newline rules, comments, syntax errors."""

from __future__ import annotations

import textwrap

import pytest

from vidsched.errors import SchemeError, SchemeSyntaxError
from vidsched.lang import ast
from vidsched.lang.parser import parse


def body(src: str) -> tuple[ast.Stmt, ...]:
    """Parse statements inside a minimal scheme; the body starts on line 2."""
    return parse("scheme s(T = 10, K = 4) {\n" + textwrap.dedent(src) + "\n}\n", "t.sched").body.stmts


def expr(src: str) -> ast.Expr:
    (stmt,) = body(f"let x = {src}")
    assert isinstance(stmt, ast.Let)
    return stmt.value


def syntax_error(text: str) -> SchemeSyntaxError:
    with pytest.raises(SchemeSyntaxError) as info:
        parse(text, "bad.sched")
    return info.value


# ---- the scheme header ------------------------------------------------------------------
def test_scheme_header_and_params():
    s = parse("scheme autoreg(T = 200, K = 16, n_obs = 0, step = K // 2) {\n}\n", "a.sched")
    assert isinstance(s, ast.Scheme)
    assert s.name == "autoreg"
    assert (s.name_span.line, s.name_span.column) == (1, 8)
    assert [p.name for p in s.params] == ["T", "K", "n_obs", "step"]
    assert [(p.span.line, p.span.column) for p in s.params] == [(1, 16), (1, 25), (1, 33), (1, 44)]
    assert isinstance(s.params[3].default, ast.BinOp) and s.params[3].default.op == "//"
    assert s.body.stmts == ()


@pytest.mark.parametrize(
    "text",
    [
        "scheme s() {}",
        "scheme s(T = 1,) {}",
        "scheme s(\n  T = 1,\n  K = 2,\n) {\n}",
        "\n\n# leading comment\nscheme s(T = 1) {}\n\n",
        "scheme s(T = 1) {}",  # no trailing newline
        "scheme s(T = 1) { ; ; }",
    ],
)
def test_scheme_header_variants(text):
    assert parse(text).name == "s"


# ---- statements -------------------------------------------------------------------------
def test_every_statement_kind():
    stmts = body(
        """\
        let a = 1
        a = a + 1
        assert a > 0, "a must be positive"
        assert true
        given 0 ..< 2
        if a > 1 { let b = 1 } else if a > 0 { let b = 2 } else { let b = 3 }
        for i in 0 ..< 3 { stage { generate i } }
        while todo limit 10 { stage "next" { generate first(todo, 2); observe last(done, 2) } }
        while todo { stage { generate todo } }
        phase warmup { stage named { generate 3 } }
        phase "the rest" { no marginals }
        no marginals
        """
    )
    kinds = [type(s).__name__ for s in stmts]
    assert kinds == [
        "Let", "Assign", "Assert", "Assert", "Given", "If", "For", "While", "While", "Phase", "Phase", "NoMarginals",
    ]
    let, assign, assert1, assert2, given, if_, for_, while1, while2, phase1, phase2, nomarg = stmts
    assert let.name == "a" and isinstance(let.value, ast.IntLit) and let.value.value == 1
    assert assign.name == "a" and isinstance(assign.value, ast.BinOp)
    assert assert1.message == "a must be positive" and assert2.message is None
    assert isinstance(assert2.cond, ast.BoolLit) and assert2.cond.value is True
    assert isinstance(given.frames, ast.RangeExpr)
    assert len(if_.branches) == 2 and if_.orelse is not None
    assert for_.var == "i" and isinstance(for_.iterable, ast.RangeExpr)
    assert isinstance(for_.body.stmts[0], ast.StageStmt)
    assert isinstance(while1.limit, ast.IntLit) and while1.limit.value == 10
    assert while2.limit is None
    stage = while1.body.stmts[0]
    assert stage.label == "next"
    assert [c.role for c in stage.clauses] == ["generate", "observe"]
    assert isinstance(stage.clauses[0].frames, ast.Call) and stage.clauses[0].frames.func == "first"
    assert phase1.label == "warmup" and phase1.body.stmts[0].label == "named"
    assert phase2.label == "the rest" and isinstance(phase2.body.stmts[0], ast.NoMarginals)


def test_stage_forms():
    (a, b, c, d) = body(
        """\
        stage {}
        stage { generate 1 }
        stage "quoted name" {
            generate 1
            observe 2
            observe 3
        }
        stage bare_name { observe 1; generate 2; }
        """
    )
    assert a.label is None and a.clauses == ()
    assert b.label is None and len(b.clauses) == 1
    assert c.label == "quoted name" and [cl.role for cl in c.clauses] == ["generate", "observe", "observe"]
    assert d.label == "bare_name" and [cl.role for cl in d.clauses] == ["observe", "generate"]


def test_string_escapes():
    (stmt,) = body(r'assert true, "say \"hi\"\tnow"')
    assert stmt.message == 'say "hi"\tnow'


# ---- expressions --------------------------------------------------------------------------
def test_literals():
    assert expr("42").value == 42
    assert expr("true").value is True and expr("false").value is False
    assert isinstance(expr("n"), ast.Name) and expr("n").id == "n"
    s = expr("{1, 2, 5}")
    assert isinstance(s, ast.SetLit) and [i.value for i in s.items] == [1, 2, 5]
    assert expr("{}").items == () and expr("[]").items == ()
    assert len(expr("{1,}").items) == 1 and len(expr("[1, 2,]").items) == 2
    lst = expr("[0 ..< 5, {7}]")
    assert isinstance(lst, ast.ListLit) and isinstance(lst.items[0], ast.RangeExpr)


def test_ranges():
    r = expr("0 ..< 10")
    assert isinstance(r, ast.RangeExpr) and not r.inclusive and r.step is None
    r = expr("1 ..= n by 3")
    assert r.inclusive and isinstance(r.step, ast.IntLit) and r.step.value == 3
    r = expr("a + 1 ..< b * 2 by k // 2")
    assert isinstance(r.start, ast.BinOp) and r.start.op == "+"
    assert isinstance(r.stop, ast.BinOp) and r.stop.op == "*"
    assert isinstance(r.step, ast.BinOp) and r.step.op == "//"


def test_calls():
    c = expr("nearest(done, K - 2, max(todo))")
    assert isinstance(c, ast.Call) and c.func == "nearest" and len(c.args) == 3
    assert isinstance(c.args[2], ast.Call) and c.args[2].func == "max"
    assert expr("f()").args == ()
    assert len(expr("f(1, 2,)").args) == 2


def test_precedence_arithmetic():
    e = expr("1 + 2 * 3 - 4")  # (1 + (2 * 3)) - 4
    assert e.op == "-" and e.left.op == "+" and e.left.right.op == "*"
    e = expr("a // b % c * d")  # left associative
    assert e.op == "*" and e.left.op == "%" and e.left.left.op == "//"
    e = expr("-2 ** 2")  # -(2 ** 2), as in Python
    assert isinstance(e, ast.Neg) and e.operand.op == "**"
    e = expr("2 ** 3 ** 2")  # right associative
    assert e.op == "**" and e.right.op == "**"
    e = expr("2 * -3")
    assert e.op == "*" and isinstance(e.right, ast.Neg)
    e = expr("(1 + 2) * 3")
    assert e.op == "*" and e.left.op == "+"
    e = expr("a / b")
    assert e.op == "/"


def test_precedence_sets_and_logic():
    e = expr("a | b & c")  # & binds tighter than |
    assert e.op == "|" and e.right.op == "&"
    e = expr("a - b | c")  # - binds tighter than |
    assert e.op == "|" and e.left.op == "-"
    e = expr("0 ..< 5 | 8 ..< 9")  # a range binds tighter than |
    assert e.op == "|" and isinstance(e.left, ast.RangeExpr) and isinstance(e.right, ast.RangeExpr)
    e = expr("a and b or c and d")
    assert isinstance(e, ast.BoolOp) and e.op == "or" and [v.op for v in e.values] == ["and", "and"]
    e = expr("not a and b")  # (not a) and b
    assert e.op == "and" and isinstance(e.values[0], ast.Not)
    e = expr("not x in s")  # not (x in s)
    assert isinstance(e, ast.Not) and isinstance(e.operand, ast.Compare)


def test_comparisons():
    e = expr("0 < step < K")
    assert isinstance(e, ast.Compare) and [op for op, _ in e.rest] == ["<", "<"]
    e = expr("a <= b >= c == d != e > f")
    assert [op for op, _ in e.rest] == ["<=", ">=", "==", "!=", ">"]
    e = expr("x in todo")
    assert e.rest[0][0] == "in"
    for text in ("x not in done", "x not  in done", "x not\tin done"):
        assert expr(text).rest[0][0] == "not in"
    e = expr("notin")  # a name, not an operator
    assert isinstance(e, ast.Name) and e.id == "notin"
    e = expr("a + 1 < b | c")  # arithmetic and sets bind tighter than comparisons
    assert e.first.op == "+" and e.rest[0][1].op == "|"


# ---- positions -----------------------------------------------------------------------------
def test_positions_on_nodes():
    text = (
        "scheme s(T = 10, K = 4) {\n"  # 1
        "    let width = K - 1\n"  # 2
        "    for i in 0 ..< 3 {\n"  # 3
        "        stage { generate first(todo, 2); observe last(done, width) }\n"  # 4
        "    }\n"  # 5
        "}\n"
    )
    s = parse(text, "p.sched")
    let, for_ = s.body.stmts
    assert (let.span.line, let.span.column) == (2, 5)
    assert (let.name_span.line, let.name_span.column) == (2, 9)
    binop = let.value
    assert (binop.span.line, binop.span.column) == (2, 17)
    assert (binop.op_span.line, binop.op_span.column) == (2, 19)
    assert (binop.right.span.line, binop.right.span.column, binop.right.span.end_column) == (2, 21, 22)
    assert (for_.span.line, for_.span.column) == (3, 5)
    assert (for_.var_span.line, for_.var_span.column) == (3, 9)
    assert (for_.iterable.span.line, for_.iterable.span.column) == (3, 14)
    stage = for_.body.stmts[0]
    assert (stage.span.line, stage.span.column) == (4, 9)
    gen, obs = stage.clauses
    assert (gen.span.line, gen.span.column) == (4, 17)
    assert (gen.frames.span.line, gen.frames.span.column) == (4, 26)
    assert (gen.frames.func_span.line, gen.frames.func_span.column, gen.frames.func_span.end_column) == (4, 26, 31)
    assert (gen.frames.args[1].span.line, gen.frames.args[1].span.column) == (4, 38)
    assert (obs.span.line, obs.span.column) == (4, 42)
    assert (obs.frames.args[1].span.line, obs.frames.args[1].span.column) == (4, 61)


def test_positions_with_tabs_and_crlf():
    s = parse("scheme s(T = 1) {\r\n\tlet x = 1\r\n\tgiven x\r\n}\r\n")
    let, given = s.body.stmts
    assert (let.span.line, let.span.column) == (2, 2)
    assert (given.span.line, given.span.column) == (3, 2)


def test_every_node_has_a_position():
    text = textwrap.dedent(
        """\
        scheme s(T = 10, K = 4, n = 2) {
            let a = [0 ..< 5 by 2, {1, 2} | 3 & 4]
            if not (n in {1, 2}) and -n < 0 or n ** 2 // 3 % 2 == 0 { a = a } else { given 1 }
            for x in a { stage { generate x - 1; observe nearest(done, 1, 0) } }
            assert 1 / 2 != 0, "m"
            phase p { no marginals }
            while false limit 3 { let z = 1 }
        }
        """
    )
    s = parse(text)
    seen = 0

    def walk(node):
        nonlocal seen
        if isinstance(node, ast.Node):
            seen += 1
            assert node.span.line >= 1 and node.span.column >= 1, node
            for name in node.__slots__:
                walk(getattr(node, name))
        elif isinstance(node, tuple):
            for item in node:
                walk(item)

    walk(s)
    assert seen > 50


# ---- newlines and separators -------------------------------------------------------------
def test_statements_split_by_newlines_or_semicolons():
    assert len(body("let a = 1\nlet b = 2")) == 2
    assert len(body("let a = 1; let b = 2")) == 2
    assert len(body("let a = 1;\n;\n\n  let b = 2;;")) == 2
    assert len(body("\n\n\nlet a = 1\n\n\n")) == 1


def test_newlines_allowed_inside_parentheses_and_brackets():
    (let,) = body("let x = max(\n    1,\n    2\n)")
    assert isinstance(let.value, ast.Call) and len(let.value.args) == 2
    (let,) = body("let x = (1 +\n    2)")
    assert let.value.op == "+"
    (let,) = body("let x = [\n  0 ..< 3,\n  5\n]")
    assert len(let.value.items) == 2
    (stage,) = body("stage { generate first(todo,\n   2); observe\\\n 1 }")
    assert len(stage.clauses) == 2
    # Inside brackets a set literal may also span lines.
    (let,) = body("let x = ({1,\n 2})")
    assert len(let.value.items) == 2


def test_backslash_continues_a_line():
    (let,) = body("let x = 1 + \\\n    2")
    assert let.value.op == "+"


def test_else_on_the_next_line():
    (if_,) = body("if a {\n} \n else {\n}")
    assert if_.orelse is not None
    (if_,) = body("if a {\n}\n\n# comment between\nelse if b {\n}\nelse {\n}")
    assert len(if_.branches) == 2 and if_.orelse is not None
    # and an if followed by an unrelated statement is still two statements
    assert len(body("if a { }\nlet b = 1")) == 2


def test_newline_ends_an_expression():
    err = syntax_error("scheme s(T = 1) {\n  let x = 1 +\n  2\n}")
    assert (err.line, err.column) == (2, 14)
    assert "end of line" in err.message


def test_newline_inside_a_multiline_stage():
    (stage,) = body("stage {\n\n  generate 1\n\n  observe 2\n\n}")
    assert [c.role for c in stage.clauses] == ["generate", "observe"]


# ---- comments ---------------------------------------------------------------------------
def test_comments():
    text = textwrap.dedent(
        """\
        # header comment
        scheme s(T = 10, K = 4) {  # trailing comment
            # a whole-line comment
            let a = 1  # after a statement
            let b = max(a,  # inside parentheses
                        2)
            # let c = this is not parsed !@$
        }
        # trailing comment at the end of the file"""
    )
    s = parse(text)
    assert [st.name for st in s.body.stmts] == ["a", "b"]
    assert (s.body.stmts[1].span.line) == 5


def test_hash_inside_a_string_is_not_a_comment():
    (stmt,) = body('assert true, "frame #3"')
    assert stmt.message == "frame #3"


# ---- syntax errors --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text,line,column,expect_in_message",
    [
        # unexpected token mid-line
        ("scheme s(T = 1) {\n  let x = 1 +* 2\n}", 2, 14, ["unexpected '*'", "expected", '"("', "a number"]),
        # a statement that stops at the end of the line
        ("scheme s(T = 1) {\n  let x =\n}", 2, 10, ["unexpected end of line", "expected", "a number"]),
        # an unknown character
        ("scheme s(T = 1) {\n  let x = 1 $ 2\n}", 2, 13, ["unexpected character '$'"]),
        # an unterminated string
        ('scheme s(T = 1) {\n  assert true, "oops\n}', 2, 16, ["unexpected character"]),
        # the end of the file inside a block
        ("scheme s(T = 1) {\n  let x = 1\n", 2, 12, ["unexpected end of file", "expected", '"}"']),
        # an empty file
        ("", 1, 1, ["unexpected end of file", '"scheme"']),
        # two schemes in one file
        ("scheme s(T = 1) {}\nscheme t(T = 1) {}", 2, 1, ["unexpected 'scheme'"]),
        # a missing operand before a closing parenthesis
        ("scheme s(T = 1) {\n  let x = max(, 1)\n}", 2, 15, ["unexpected ','"]),
        # `by` without a range
        ("scheme s(T = 1) {\n  let x = 1 by 2\n}", 2, 13, ["unexpected 'by'"]),
        # `else` may not be followed by a newline before its block
        ("scheme s(T = 1) {\n  if a {}\n  else\n  {}\n}", 3, 7, ["unexpected end of line", '"{"', '"if"']),
        # `generate` starts a statement too (a joint block's): it needs its frames
        ("scheme s(T = 1) {\n  generate\n}", 2, 11, ["unexpected end of line", "a number"]),
        # `window` belongs to joint blocks, not to a stage
        ("scheme s(T = 1) {\n  stage { window 1 }\n}", 2, 11, ["unexpected 'window'", '"generate"']),
        # a clause outside... of a stage: a statement inside a stage
        ("scheme s(T = 1) {\n  stage { let x = 1 }\n}", 2, 11, ["unexpected 'let'", '"generate"', '"observe"']),
        # a tab before the error counts as one column
        ("scheme s(T = 1) {\n\tlet x = 1 +* 2\n}", 2, 13, ["unexpected '*'"]),
    ],
)
def test_syntax_errors(text, line, column, expect_in_message):
    err = syntax_error(text)
    assert isinstance(err, SchemeError)
    assert (err.line, err.column) == (line, column), err.render()
    for piece in expect_in_message:
        assert piece in err.message, (piece, err.message)
    rendered = err.render()
    assert rendered.startswith(f"bad.sched:{line}:{column}: error[syntax]: ")


def test_expected_lists_use_the_source_text_of_operators():
    err = syntax_error("scheme s(T = 1) {\n  let x = (1 2)\n}")
    assert (err.line, err.column) == (2, 14)
    # Operators are shown as they are written, never as internal terminal names.
    for internal in ("minus", "plus", "star", "floordiv", "lbrace", "rpar", "_sep", "expr", "atom"):
        assert f'"{internal}"' not in err.message, err.message
    assert '")"' in err.message and '"*"' in err.message


def test_syntax_error_render_has_source_line_and_caret():
    err = syntax_error("scheme s(T = 1) {\n    let x = 1 +* 2\n}")
    lines = err.render().splitlines()
    assert lines[0].startswith("bad.sched:2:16: error[syntax]:")
    assert lines[1] == "        let x = 1 +* 2"
    assert lines[2].index("^") == lines[1].index("*")


def test_syntax_error_is_the_only_error_kind_raised():
    # Nonsense of several kinds never escapes as a Lark exception.
    for text in ["}", "scheme", "scheme s", "scheme s(", "scheme s(T=", "scheme s(T=1) {", "{}", "scheme 1() {}", "\x00"]:
        with pytest.raises(SchemeSyntaxError):
            parse(text)
