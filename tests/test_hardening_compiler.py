"""Hardening of the compiler: deep nesting, long chains, huge numbers, long runs.

Every program must end quickly with either a plan or the project's own error (a
``SchemeErrors`` whose errors carry a position), never ``RecursionError``, a hang or
another exception; the error of a limit names the limit and points where it is passed.
Each test runs under a 20 s alarm, so that a hang fails it instead of stalling the suite
(no test asserts a tight time).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

import pytest

from vidsched.compiler import compile_scheme, load_scheme_source
from vidsched.errors import EvaluationError, ParameterError, ResourceLimitError, SchemeError, SchemeErrors, SourceFile
from vidsched.lang.limits import Limits
from vidsched.lang.parser import parse
from vidsched.plan import Plan

FILE = "deep.sched"
ALARM_S = 20


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` swallows it."""


@contextmanager
def alarm(seconds: int = ALARM_S):
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - Windows
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def scheme(body: str, params: str = "T = 8, K = 8") -> str:
    return f"scheme s({params}) {{\n{body}\n    stage {{ generate todo }}\n}}\n"


def outcome(text: str, **kwargs) -> Plan | SchemeErrors:
    """Compile under the alarm: a plan or the project's error, nothing else."""
    with alarm():
        try:
            return compile_scheme(SourceFile(FILE, text), **kwargs)
        except SchemeErrors as e:
            rendered = e.render()
            assert rendered and "Traceback" not in rendered
            for err in e.errors:
                assert err.span is not None and err.line >= 1 and err.column >= 1, err.render()
                assert f"{FILE}:{err.line}:{err.column}: error[{err.kind}]" in err.render()
            return e


def the_error(text: str, cls: type[SchemeError], **kwargs) -> SchemeError:
    result = outcome(text, **kwargs)
    assert isinstance(result, SchemeErrors), "expected an error, got a plan"
    (err,) = [e for e in result.errors if type(e) is cls] or [None]
    assert err is not None, [f"{type(e).__name__}: {e.message}" for e in result.errors]
    return err


def column_of(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


# ---- 1. deep nesting ---------------------------------------------------------------------------
DEEP = {
    "1,000 unary minus": scheme("    let x = " + "-" * 1000 + "1"),
    "250 nested ifs": scheme("    " + "if true { " * 250 + "let x = 1" + " }" * 250),
    "2,000 nested ifs": scheme("    " + "if true { " * 2000 + "let x = 1" + " }" * 2000),
    "1,000 nested whiles": scheme("    let i = 0\n    " + "while i < 1 { " * 1000 + "i = i + 1" + " }" * 1000),
    "1,000 nested phases": scheme("    " + "phase p { " * 1000 + "let x = 1" + " }" * 1000),
    "1,000 right-nested parentheses": scheme("    let x = " + "1 + (" * 1000 + "1" + ")" * 1000),
    "2,000 nested set literals": scheme("    let x = " + "{" * 2000 + "1" + "}" * 2000),
    "1,000 nested set operations": scheme("    let x = " + "(todo - " * 1000 + "{1}" + ")" * 1000),
    "1,000 nested calls": scheme("    let x = " + "first(" * 1000 + "todo" + ", 1)" * 1000),
    "1,000 nested lists": scheme("    let x = " + "[" * 1000 + "1" + "]" * 1000),
    "500 not": scheme("    let b = " + "not " * 500 + "true"),
    "1,000-level power tower": scheme("    let x = " + "1 ** " * 1000 + "1"),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_deeply_nested_programs_end_with_the_nesting_error(name):
    text = DEEP[name]
    err = the_error(text, ResourceLimitError)
    assert "nested more than 100 levels deep" in err.message
    rendered = err.render()
    assert rendered.splitlines()[2].strip() == "^" * len(rendered.splitlines()[2].strip())  # a caret


def test_the_nesting_error_points_where_the_limit_is_passed():
    text = scheme("    let x = " + "-" * 1000 + "1")
    err = the_error(text, ResourceLimitError)
    assert err.message == "expression nested more than 100 levels deep"
    # `let` is level 1 and the k-th minus level k + 1: the 100th minus passes the limit.
    assert (err.line, err.column) == (2, len("    let x = ") + 100)
    lines = err.render().splitlines()
    assert lines[0].startswith(f"{FILE}:2:{len('    let x = ') + 100}: error[resource-limit]: ")
    assert lines[2].index("^") == 4 + err.column - 1


def test_nested_blocks_are_reported_at_the_statement():
    text = scheme("    " + "if true { " * 250 + "let x = 1" + " }" * 250)
    err = the_error(text, ResourceLimitError)
    assert err.message == "blocks nested more than 100 levels deep"
    assert text[text.index("\n") + 1:][err.column - 1: err.column + 1] == "if"


@pytest.mark.parametrize(
    "limit, depth, ok",
    [(100, 97, True), (100, 120, False), (10, 7, True), (10, 12, False), (250, 240, True)],
)
def test_the_nesting_limit_comes_from_the_caller(limit, depth, ok):
    text = scheme("    let x = " + "-" * depth + "1")
    result = outcome(text, limits=Limits(max_nesting=limit))
    assert isinstance(result, Plan) == ok, result


def nested_if_program(levels: int) -> str:
    return scheme("    " + "if true { " * levels + "stage { generate 0 }" + " }" * levels)


def test_programs_at_the_nesting_limit_compile_far_from_the_recursion_limit():
    """The bound keeps the recursive passes well inside Python's default recursion
    limit: the deepest programs allowed compile even when called 300 frames deep, and
    one level more is the nesting error."""
    deepest = [
        (nested_if_program(98), nested_if_program(99)),
        (scheme("    let x = " + "-" * 98 + "1"), scheme("    let x = " + "-" * 99 + "1")),
        (scheme("    stage { generate " + "first(" * 98 + "todo" + ", 1)" * 98 + " }"),
         scheme("    stage { generate " + "first(" * 99 + "todo" + ", 1)" * 99 + " }")),
        (scheme("    " + "if true { " * 48 + "let b = " + "not " * 50 + "true" + " }" * 48),
         scheme("    " + "if true { " * 48 + "let b = " + "not " * 51 + "true" + " }" * 48)),
    ]

    def deep_call(n, fn):
        return fn() if n == 0 else deep_call(n - 1, fn)

    for text, one_more in deepest:
        with alarm():
            result = deep_call(300, lambda: outcome(text))
        assert isinstance(result, Plan), result.render()
        result = outcome(one_more)
        assert isinstance(result, SchemeErrors) and "nested more than 100 levels" in result.errors[0].message


def test_parsing_deep_text_does_not_recurse():
    """Lark's LALR parser and the tree transformer use explicit stacks: with the
    nesting bound lifted, 20,000 levels still parse."""
    text = scheme("    let x = " + "-" * 20_000 + "(" * 20_000 + "1" + ")" * 20_000)
    with alarm():
        tree = parse(text, FILE, Limits(max_nesting=10**9))
    node = tree.body.stmts[0].value
    for _ in range(20_000):
        node = node.operand
    assert node.value == 1
    with alarm(), pytest.raises(ResourceLimitError, match="nested more than 100 levels deep"):
        parse(text, FILE)


# ---- 2. long chains are one level: they compile -------------------------------------------------
@pytest.mark.parametrize("terms", [500, 5000])
def test_long_addition_chains_compile(terms):
    text = scheme(f"    let x = 1{' + 1' * (terms - 1)}\n    assert x == {terms}")
    assert isinstance(outcome(text), Plan)


@pytest.mark.parametrize("terms", [500, 5000])
def test_long_chains_on_several_lines_and_of_every_operator_compile(terms):
    lines = "\n".join("        + 3 * 2 - 5 // 1 % 7" for _ in range(terms // 4))
    text = scheme(f"    let x = (1\n{lines})\n    assert x == 1 + {terms // 4} * (6 - 5)")
    assert isinstance(outcome(text), Plan)
    sets = " | ".join(f"{{{i % 8}}}" for i in range(terms))
    text = scheme(f"    let s = todo & ({sets}) - {{7}}\n    assert s == 0 ..< 7")
    assert isinstance(outcome(text), Plan)


def test_a_left_chain_behind_parentheses_is_one_level():
    # ((((1 + 1) + 1) + 1) ...): a chain written with parentheses, 2,000 deep
    text = scheme("    let x = " + "(" * 2000 + "1" + " + 1)" * 2000 + "\n    assert x == 2001")
    assert isinstance(outcome(text), Plan)


# ---- 3. arithmetic: bounded before it is computed ------------------------------------------------
def test_a_huge_power_of_a_fraction_is_refused_before_it_is_computed():
    text = scheme("    let x = iroot((184 / 7) ** -9999998, 1)")
    err = the_error(text, EvaluationError)
    assert (err.line, err.column) == column_of(text, "**")
    assert "too large" in err.message and "256 bits" in err.message


def test_doubling_in_a_long_loop_stops_at_the_integer_limit():
    text = scheme("    let x = 1\n    while true limit 2000000 { x = x + x }")
    err = the_error(text, EvaluationError)
    assert (err.line, err.column) == column_of(text, "+")
    assert "more than 256 bits" in err.message
    assert any("iteration 25" in n for n in err.notes), err.notes  # about 256 iterations, not 2,000,000


def test_addition_of_whole_numbers_is_bounded_too():
    text = scheme(f"    let x = {2**255} + {2**255}")
    err = the_error(text, EvaluationError)
    assert (err.line, err.column) == column_of(text, "+")
    assert "more than 256 bits" in err.message


@pytest.mark.parametrize(
    "expr, value",
    [
        ("iroot(2 ** 200, 2 ** 255)", 1),  # a huge degree: the root is 1
        ("iroot(10 ** 70 + 1, 2 ** 100)", 1),
        ("1 ** (2 ** 255)", 1),
        ("(0 - 1) ** (2 ** 255 + 1)", -1),
        ("(3 / 2) ** 160 * 2 ** 160", 3**160),
        ("iroot((3 / 2) ** 160, 2 ** 200)", 1),
    ],
)
def test_big_operands_with_small_results_are_fine(expr, value):
    text = scheme(f"    let x = {expr}\n    assert x == {value}")
    assert isinstance(outcome(text), Plan)


def test_a_number_literal_past_the_limit_is_an_error_at_the_literal():
    digits = "9" * 5000  # more than Python's own int() accepts
    text = scheme(f"    let x = {digits}")
    err = the_error(text, EvaluationError)
    assert (err.line, err.column) == column_of(text, "9999")
    assert "256 bits" in err.message
    text = scheme(f"    let x = {2**256}")
    err = the_error(text, EvaluationError)
    assert "too large" in err.message and (err.line, err.column) == column_of(text, str(2**256))


def test_binop_uses_the_callers_integer_limit():
    small = Limits(max_int_bits=16)
    err = the_error(scheme("    let x = 200 * 400"), EvaluationError, limits=small)
    assert "more than 16 bits" in err.message
    err = the_error(scheme("    let x = 2 ** 20"), EvaluationError, limits=small)
    assert "more than 16 bits" in err.message
    err = the_error(scheme("    let x = 40000 + 40000"), EvaluationError, limits=small)
    assert "more than 16 bits" in err.message
    err = the_error(scheme("    let x = 1 / 300 / 300"), EvaluationError, limits=small)
    assert "more than 16 bits" in err.message
    err = the_error(scheme("    let x = 70000"), EvaluationError, limits=small)
    assert "more than 16 bits" in err.message
    # ... and a larger one lets larger numbers through
    big = Limits(max_int_bits=2048)
    text = scheme(f"    let x = 2 ** 2000 + 1\n    assert x - 1 == 2 ** 2000 and x > {2**1999}")
    assert isinstance(outcome(text, limits=big), Plan)


def test_a_huge_parameter_override_is_an_error_at_the_parameter():
    text = scheme("    assert step >= 0", "T = 8, K = 8, step = 1")
    with alarm(), pytest.raises(SchemeErrors) as info:
        compile_scheme(SourceFile(FILE, text), {"step": 2**5000})
    (err,) = info.value.errors
    assert err.kind == "parameter" and "256 bits" in err.message
    assert (err.line, err.column) == column_of(text, "step")


# ---- 4. work: bounded by the fuel -------------------------------------------------------------
def test_a_long_loop_runs_out_of_fuel_at_the_loop():
    text = scheme("    let x = 1\n    while true limit 2000000 { x = x + 1 }")
    err = the_error(text, ResourceLimitError)
    assert "evaluation steps" in err.message and f"{Limits().max_fuel:,}" in err.message
    assert err.line == 3


def test_the_fuel_limit_comes_from_the_caller():
    text = scheme("    let x = 0\n    let i = 0\n    while i < 100 { x = x + i\n        i = i + 1 }\n    assert x == 4950")
    assert isinstance(outcome(text, limits=Limits(max_fuel=100_000)), Plan)
    err = the_error(text, ResourceLimitError, limits=Limits(max_fuel=200, fuel_per_frame=0))
    assert "more than 200 evaluation steps" in err.message
    err = the_error(text, ResourceLimitError, limits=Limits(max_fuel=200, fuel_per_frame=25))  # T = 8
    assert "more than 400 evaluation steps" in err.message and "200 + 25 per frame with T = 8" in err.message
    assert err.line in (4, 5)  # in the loop


@pytest.mark.parametrize(
    "body",
    [
        "    for a in 0 ..< T { for b in 0 ..< T { } }",
        "    let s = reversed(todo)",
        "    let s = spread(todo, T - 1)",
        "    for c in chunks(todo, K) { stage { generate c } }",
        "    while todo { stage { generate first(todo, K) } }",
        "    let i = 0\n    while i < T { given {i}\n        i = i + 1 }",
        "    for s in [0 ..< T by 2] { for i in 0 ..< 100000 { stage { generate i } } }",
    ],
)
def test_work_on_a_video_past_the_frame_limit_fails_at_once(body):
    text = f"scheme s(T = 10000000, K = 8) {{\n{body}\n}}\n"
    err = the_error(text, ParameterError)
    assert f"more than the limit of {Limits().max_frames:,} frames" in err.message


@pytest.mark.parametrize(
    "body",
    [
        "    for a in 0 ..< T { for b in 0 ..< T { } }",
        "    let i = 0\n    while i < T { given {i}\n        i = i + 1 }",
        "    for s in [0 ..< T by 2] { for i in 0 ..< 100000 { stage { generate i } } }",
    ],
)
def test_runaway_work_on_the_longest_video_runs_out_of_fuel(body):
    # The budget grows with T (fuel_per_frame); a small one keeps this test quick.
    text = f"scheme s(T = 1000000, K = 8) {{\n{body}\n}}\n"
    err = the_error(text, ResourceLimitError, limits=Limits(fuel_per_frame=2))
    assert "evaluation steps" in err.message and "2 per frame with T = 1,000,000" in err.message


def test_a_shipped_scheme_past_the_frame_limit_fails_at_once():
    source = load_scheme_source("fdm/hierarchy")
    text = source.text.replace("T = 200", "T = 2000000")
    err = the_error(text, ParameterError)
    assert f"more than the limit of {Limits().max_frames:,} frames" in err.message


def test_a_text_past_the_size_limit_is_refused_where_it_passes_it():
    text = scheme("    let x = 1\n" + "    # padding\n" * 100)
    err = the_error(text, ResourceLimitError, limits=Limits(max_source_chars=200))
    assert "more than the limit of 200" in err.message
    assert (err.line, err.column) == (text.count("\n", 0, 200) + 1, 200 - text.rfind("\n", 0, 200))


def test_bad_escapes_in_strings_are_syntax_errors():
    for bad in ['"\\N{no such name}"', '"\\x4"']:
        text = scheme(f"    stage {bad} {{ generate 0 }}")
        result = outcome(text)
        assert isinstance(result, SchemeErrors) and result.errors[0].kind == "syntax"
        assert (result.errors[0].line, result.errors[0].column) == column_of(text, bad)
