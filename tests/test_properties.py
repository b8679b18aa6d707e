"""Robustness properties of the compiler (hypothesis).

(a) Randomly generated programs, from a small generator that follows the language's
    grammar loosely (and emits nonsense on purpose; now and then huge numbers,
    arithmetic bombs, long operator chains and nesting far past the limit), and (b)
    shipped schemes mutated at random (characters and tokens deleted, inserted, swapped;
    numbers changed, sometimes to huge ones; operands nested deeply) must
    either compile or raise the project's own ``SchemeError``: never another exception,
    never a hang. When they compile, the plan must be valid and survive JSON.
(c) Mask specialisation of a valid plan, for a random set of complete frames, is valid.
(a') Generated programs with procedures, functions and imports (of the shipped library,
    of missing files and names), calls of the right and the wrong arity and recursive
    ones: the same property as (a).

Work is bounded with ``Limits``; each example also runs under a hard wall-clock alarm so
that a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import re
import signal
from contextlib import contextmanager
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidsched.compiler import builtin_schemes, compile_scheme
from vidsched.errors import SchemeError, SchemeErrors, SourceFile
from vidsched.lang.builtins import BUILTINS
from vidsched.lang.limits import Limits
from vidsched.plan import Plan

LIMITS = Limits(max_stages=2000, max_steps=200_000)
HARD_TIMEOUT_S = 20  # per example; a hang fails here (hypothesis' deadline only sees finished calls)
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    derandomize=False,
)


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no `except Exception` swallows it."""


@contextmanager
def hard_timeout(seconds: int):
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - Windows
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"compilation did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_plan(plan: Plan) -> None:
    """Everything a valid plan promises."""
    T, K = plan.num_frames, plan.max_frames
    done = set(plan.given)
    for st in plan.stages:
        gen, obs, mar = set(st.generate), set(st.observe), set(st.marginal)
        assert gen, "a stage generates nothing"
        assert not gen & done, "a frame is generated twice"
        assert obs <= done, "an observed frame is not complete"
        assert not mar & done, "a marginal frame is complete"
        assert not (gen & obs or gen & mar or obs & mar)
        if st.joint is None:
            assert len(gen | obs | mar) <= K
        else:  # a joint group: each window (and shifted window) at most K, together all its frames
            for ws in (st.joint.windows, st.joint.shifted or st.joint.windows):
                assert all(1 <= len(w) <= K and w == sorted(w) for w in ws)
                assert set().union(*map(set, ws)) == gen | obs | mar
        assert all(0 <= f < T for f in gen | obs | mar)
        for lst in (st.generate, st.observe, st.marginal):
            assert lst == sorted(lst)
        done |= gen
    assert done == set(range(T)), "coverage"
    assert sorted(i for b in plan.batches for i in b) == list(range(len(plan.stages)))
    for i, j, kind in plan.edges:
        bi, bj = plan.batch_of[i], plan.batch_of[j]
        assert i < j and (bi < bj if kind == "data" else bi <= bj)
    assert Plan.model_validate_json(plan.to_json()) == plan


def compile_or_scheme_error(text: str, **kwargs) -> Plan | SchemeError:
    """Compile; only the project's SchemeError may come out, and it must render."""
    with hard_timeout(HARD_TIMEOUT_S):
        try:
            plan = compile_scheme(SourceFile("gen.sched", text), limits=LIMITS, **kwargs)
        except SchemeError as e:
            rendered = e.render()
            assert isinstance(rendered, str) and rendered
            assert "Traceback" not in rendered
            errors = e.errors if isinstance(e, SchemeErrors) else [e]
            assert errors
            for err in errors:
                if err.span is not None:
                    assert err.line >= 1 and err.column >= 1
                    # in the scheme, or in a library it imports (e.g. std/improved_ar.sched)
                    assert err.source.name == "gen.sched" or err.source.name.startswith("std/")
                    assert f"{err.source.name}:{err.line}:{err.column}:" in err.render()
            return e
    check_plan(plan)
    return plan


# ---- (a) generated programs -----------------------------------------------------------------------
# Two layers: well-typed expressions (integers, frame sets, conditions), so that many
# programs pass the checker and exercise evaluation and validation, mixed with untyped
# random expressions over every construct, names (known and unknown) and functions
# (with any number of arguments), which exercise the checker's error paths.
NAMES = ["T", "K", "n", "i", "x", "s", "done", "todo", "given", "zz", "step"]
FUNCS = sorted(BUILTINS) + ["foo"]
BINOPS = ["+", "-", "*", "//", "%", "/", "**", "|", "&", "<", "<=", ">", ">=", "==", "!=", "in", "not in",
          "and", "or"]
SMALL_INTS = st.one_of(st.integers(-3, 40), st.sampled_from([0, 1, 2, 100, 1000, 10**6, 10**40]))
# Occasionally: huge numbers and arithmetic bombs (refused before they are computed),
# long operator chains (one nesting level, they compile) and deep nesting (refused past
# Limits.max_nesting with the project's error, never a RecursionError).
HUGE = st.sampled_from(
    ["2 ** 255", "2 ** 256", str(10**80), "9" * 120, "(184 / 7) ** -9999998", "iroot(2 ** 200, 2 ** 255)",
     "10 ** 9999", "(3 / 2) ** 200", "2 ** 255 + 2 ** 255", "iroot(10 ** 70, 1000000)"]
)
CHAINS = st.tuples(st.sampled_from(["+", "-", "*", "|", "and", "<"]), st.integers(1, 2000)).map(
    lambda t: "(1" + f" {t[0]} 1" * t[1] + ")"
)
DEEP_WRAPS = [("-", ""), ("not ", ""), ("(", ")"), ("{", "}"), ("[", "]"), ("abs(", ")"), ("1 + (", ")"),
              ("first(todo, 1) | (", ")")]


def _deep(e):
    """`e` wrapped in one construct up to 300 levels deep (past the nesting limit of 100)."""
    return st.tuples(st.sampled_from(DEEP_WRAPS), st.integers(1, 300), e).map(
        lambda t: t[0][0] * t[1] + t[2] + t[0][1] * t[1]
    )


def _join(fmt):
    return lambda t: fmt.format(*t)


ANY_EXPR = st.recursive(
    st.one_of(SMALL_INTS.map(str), st.sampled_from(NAMES), st.sampled_from(["true", "false", "{}", "[]"]), HUGE, CHAINS),
    lambda e: st.one_of(
        _deep(e),
        st.tuples(e, st.sampled_from(BINOPS), e).map(_join("({} {} {})")),
        st.tuples(st.sampled_from(["-", "not "]), e).map("".join),
        st.tuples(st.sampled_from(FUNCS), st.lists(e, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
        st.lists(e, max_size=3).map(lambda xs: "{" + ", ".join(xs) + "}"),
        st.lists(e, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(e, st.sampled_from(["..<", "..="]), e).map(_join("({} {} {})")),
        st.tuples(e, e, e).map(_join("({} ..< {} by {})")),
    ),
    max_leaves=8,
)

INT_LEAF = st.one_of(st.integers(-2, 30).map(str), st.sampled_from(["T", "K", "n", "a", "b", "len(todo)"]))
SET_LEAF = st.sampled_from(["todo", "done", "given", "{}", "{0}", "{1, 3}", "(0 ..< K)", "(0 ..< T by 3)"])


INT_OPS = ["+", "-", "*", "//", "%"]
SET_FUNCS = ["first", "last", "spread", "spread_right", "after", "before"]


def _int(draw, depth: int) -> str:
    """A well-typed integer expression (it may still fail at run time: min({}), x // 0)."""
    choice = draw(st.integers(0, 7 if depth > 0 else 0))
    if choice == 0:
        return draw(INT_LEAF)
    d = depth - 1
    if choice == 1:
        return f"({_int(draw, d)} {draw(st.sampled_from(INT_OPS))} {_int(draw, d)})"
    if choice == 2:
        return f"{draw(st.sampled_from(['len', 'min', 'max']))}({_set(draw, d)})"
    if choice == 3:
        return f"nth({_set(draw, d)}, {_int(draw, d)})"
    if choice == 4:
        return f"{draw(st.sampled_from(['ceil_div', 'max', 'min']))}({_int(draw, d)}, {_int(draw, d)})"
    if choice == 5:
        return f"iroot({_int(draw, d)}, {draw(st.integers(1, 3))})"
    if choice == 6:
        return f"floor({_int(draw, d)} / {_int(draw, d)})"
    return draw(INT_LEAF)


def _set(draw, depth: int) -> str:
    """A well-typed frame-set expression."""
    choice = draw(st.integers(0, 8 if depth > 0 else 0))
    if choice == 0:
        return draw(SET_LEAF)
    d = depth - 1
    if choice == 1:
        return f"({_set(draw, d)} {draw(st.sampled_from(['|', '&', '-']))} {_set(draw, d)})"
    if choice == 2:
        return f"({_int(draw, d)} {draw(st.sampled_from(['..<', '..=']))} {_int(draw, d)})"
    if choice == 3:
        return f"({_int(draw, d)} ..< {_int(draw, d)} by {_int(draw, d)})"
    if choice == 4:
        return f"{draw(st.sampled_from(SET_FUNCS))}({_set(draw, d)}, {_int(draw, d)})"
    if choice == 5:
        return f"nearest({_set(draw, d)}, {_int(draw, d)}, {_int(draw, d)})"
    if choice == 6:
        return "{" + ", ".join(_int(draw, d) for _ in range(draw(st.integers(0, 3)))) + "}"
    if choice == 7:  # reads the mask: a mask-required error without one
        return f"informative({_set(draw, d)}, {_set(draw, d)}, {_int(draw, d)})"
    return draw(SET_LEAF)


def _cond(draw, depth: int) -> str:
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return f"{_int(draw, depth)} {draw(st.sampled_from(['<', '<=', '>', '>=', '==', '!=']))} {_int(draw, depth)}"
    if choice == 1:
        return f"{_int(draw, depth)} < {_int(draw, depth)} <= {_int(draw, depth)}"
    if choice == 2:
        return f"{_int(draw, depth)} {draw(st.sampled_from(['in', 'not in']))} {_set(draw, depth)}"
    if choice == 3:
        return _set(draw, depth)
    if choice == 4:
        return f"not {_set(draw, depth)}"
    if choice == 5:
        return f"hole_fraction({_set(draw, depth)}) {draw(st.sampled_from(['<', '>=', '==']))} {_int(draw, depth)} / 4"
    if choice == 6:
        return f"has_mask() and coverage({_set(draw, depth)}, {_set(draw, depth)}) > 1 / 2"
    return draw(st.sampled_from(["true", "false"]))


INT_EXPR = st.composite(lambda draw: _int(draw, 2))()
SET_EXPR = st.composite(lambda draw: _set(draw, 2))()
COND = st.composite(lambda draw: _cond(draw, 2))()
# Names declared by the program skeleton below; statements may use and assign them.
SENSIBLE = st.sampled_from(
    [
        "while todo { stage { generate first(todo, K // 2 + 1); observe last(done, K // 2) } }",
        "for c in chunks(todo, K) { stage { generate c } }",
        "stage { generate spread(todo, K) }",
        "stage { generate first(todo, K - 2); observe first(after(todo, K), 2) }",
        "while todo limit T { stage { generate last(todo, 3); observe nearest(done, K - 3, max(todo)) } }",
        "no marginals",
        "for r in runs(todo) { stage { generate first(r, K) } }",
        "if todo { joint { generate todo; observe done; window sliding(0 ..< T, K, K // 2 + 1) } }",
        "if todo { joint j shift 1 { let w = first(todo, 2 * K); generate w; window sliding(w, K, max(1, K - 2)) } }",
    ]
)


NONSENSE_TARGETS = NAMES + ["a", "fs"]
PHASE_LABELS = ["p", '"phase two"']


def _stmt(draw, depth: int, nonsense: bool) -> str:
    """One statement; with `nonsense`, sometimes an untyped random one."""
    if nonsense and draw(st.integers(0, 3)) == 0:
        kind = draw(st.integers(0, 5))
        e = draw(ANY_EXPR)
        if kind == 0:
            return f"let {draw(st.sampled_from(NONSENSE_TARGETS))} = {e}"
        if kind == 1:
            return f"{draw(st.sampled_from(NONSENSE_TARGETS))} = {e}"
        if kind == 2:
            return f"assert {e}"
        if kind == 3:
            return f"stage {{ {draw(st.sampled_from(['generate', 'observe']))} {e} }}"
        if kind == 4:
            return f"given {e}" if draw(st.booleans()) else f"joint {{ {draw(st.sampled_from(['window', 'generate']))} {e} }}"
        if kind == 5 and draw(st.integers(0, 3)) == 0:  # blocks nested up to 300 deep
            levels = draw(st.integers(1, 300))
            opener = draw(st.sampled_from(["if true {", "while todo {", "for x in [1] {", "phase p {"]))
            return f"{opener} " * levels + _stmt(draw, 0, False) + " }" * levels
        return f"{draw(st.sampled_from(['for x in', 'while', 'if']))} {e} {_block(draw, depth - 1, nonsense)}"
    kind = draw(st.integers(0, 12 if depth > 0 else 7))
    if kind <= 1:
        return draw(SENSIBLE)
    if kind == 2:
        return f"{draw(st.sampled_from(['a', 'b']))} = {draw(INT_EXPR)}"
    if kind == 3:
        return f"fs = {draw(SET_EXPR)}"
    if kind == 4:
        return f"assert {draw(COND)}" + (', "message"' if draw(st.booleans()) else "")
    if kind == 5:
        if draw(st.booleans()):
            return f"given {draw(SET_EXPR)}"
        shift = f"shift {draw(INT_EXPR)} " if draw(st.booleans()) else ""
        windows = f"window sliding({draw(SET_EXPR)}, {draw(INT_EXPR)}, {draw(INT_EXPR)})"
        return f"joint {shift}{{ generate {draw(SET_EXPR)}; observe {draw(SET_EXPR)}; window {draw(SET_EXPR)}; {windows} }}"
    if kind <= 7:
        label = draw(st.sampled_from(["", "named ", '"a name" ']))
        observe = f"; observe {draw(SET_EXPR)}" if draw(st.booleans()) else ""
        return f"stage {label}{{ generate {draw(SET_EXPR)}{observe} }}"
    if kind == 8:
        orelse = f" else {_block(draw, depth - 1, nonsense)}" if draw(st.booleans()) else ""
        return f"if {draw(COND)} {_block(draw, depth - 1, nonsense)}{orelse}"
    if kind == 9:
        return f"for v in {draw(SET_EXPR)} {_block(draw, depth - 1, nonsense)}"
    if kind == 10:
        return f"for c in chunks({draw(SET_EXPR)}, {draw(st.integers(1, 5))}) {_block(draw, depth - 1, nonsense)}"
    if kind == 11:
        limit = f" limit {draw(INT_EXPR)}" if draw(st.booleans()) else ""
        return f"while {draw(COND)}{limit} {_block(draw, depth - 1, nonsense)}"
    return f"phase {draw(st.sampled_from(PHASE_LABELS))} {_block(draw, depth - 1, nonsense)}"


def _block(draw, depth: int, nonsense: bool) -> str:
    stmts = [_stmt(draw, depth, nonsense) for _ in range(draw(st.integers(0, 3)))]
    return "{\n" + "\n".join(stmts) + "\n}"


PARAMS = st.one_of(
    st.tuples(st.integers(1, 64), st.integers(1, 20), st.integers(0, 5)).map(_join("T = {}, K = {}, n = {}")),
    st.tuples(st.integers(1, 64), st.integers(1, 20)).map(_join("T = {}, K = {}, n = 0, step = K // 2")),
    st.tuples(st.integers(1, 64), st.integers(1, 20), st.integers(0, 5)).map(_join("T = {}, K = {}, n = {}")),
    ANY_EXPR.map(lambda e: f"T = 30, K = {e}, n = 1"),
    st.sampled_from(["", "T = 10", "T = 0, K = 0", "T = 10, K = 4, T = 3", "K = 4, x = true"]),
)
TAIL = st.sampled_from(["", "while todo { stage { generate first(todo, K) } }",
                        "if todo { joint shift K // 4 { generate todo; observe done; window sliding(0 ..< T, K, max(1, K // 2)) } }"])


@st.composite
def programs(draw) -> str:
    nonsense = draw(st.booleans())
    params = draw(PARAMS)
    head = draw(st.sampled_from(["", "given 0 ..< n"]))
    stmts = [_stmt(draw, 2, nonsense) for _ in range(draw(st.integers(0, 5)))]
    sep = draw(st.sampled_from(["\n", "; ", "\n\n  "]))
    body = [head, "let a = 0", "let b = 1", "let fs = {}"] + stmts + [draw(TAIL)]
    return f"scheme gen({params}) {{\n" + sep.join(body) + "\n}\n"


@PROPERTY_SETTINGS
@given(programs())
def test_generated_programs_compile_or_raise_scheme_errors(text):
    compile_or_scheme_error(text)


@st.composite
def hole_maps(draw):
    """A random mask on a small grid: T frames of up to 3 x 4 cells, each a hole or not."""
    from vidsched.lang.holes import HoleMap

    T = draw(st.integers(1, 64))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    bits = draw(st.lists(st.integers(0, (1 << rows * cols) - 1), min_size=T, max_size=T))
    return HoleMap(rows, cols, tuple(bits))


@PROPERTY_SETTINGS
@given(programs(), hole_maps())
def test_generated_programs_with_a_mask_compile_or_raise_scheme_errors(text, holes):
    result = compile_or_scheme_error(text, holes=holes)
    if isinstance(result, Plan):
        assert result.num_frames == holes.num_frames
        assert set(holes.complete_frames()) <= set(result.given)


# ---- (a') procedures, functions and imports --------------------------------------------------------
# Definitions take the skeleton's names as arguments (T, K, n; a and b for functions), so
# their bodies are drawn from the same statements and expressions; calls may have the
# wrong number of arguments, name nothing, or recurse (directly or through another
# definition), and imports name the library, a missing library or file, or a name the
# library does not declare.
PROC_ARGS = "T, K, n"
FN_ARGS = "T, K, n, a, b"
DEF_NAMES = ["p", "q", "f", "g", "ar"]  # ar: also a procedure of std.ar (a clash when imported)
# An import, and calls of what it brings (a call of a name it does not bring: unknown).
IMPORTS = {
    "": [],
    "import std.ar": ["ar(todo, K, max(1, K // 2))", "ar_stage(first(todo, max(1, K // 2)), K)"],
    "from std.improved_ar import fill, far_future": ["fill(0 ..< T, K, max(1, K // 2), 0)",
                                                      "let h = far_future(min(todo | {0}), 2, 1)"],
    "import std.hierarchy": ["fill_gaps(spread(0 ..< T, 2), K, max(1, K // 2))"],
    "import std.ar\nfrom std.ar import ar_stage": ["ar_stage(first(todo, 2), K)"],
    "import std.nothing": [],
    'import "lib/missing.sched"': [],
    "from std.ar import nope": ["nope(K)"],
}


def _call(draw, defs: dict[str, str], slot: int) -> str:
    """A call of a definition as its kind wants it (a `proc` as a statement, a `fn` in an
    expression); now and then the wrong arity, the wrong kind or an unknown name."""
    if defs and draw(st.integers(0, 4)) > 0:
        name = draw(st.sampled_from(sorted(defs)))
        kind = defs[name]
        args = PROC_ARGS if kind == "proc" else FN_ARGS
    else:  # a mistake (or nothing declared to call)
        name = draw(st.sampled_from(sorted(defs) + ["pp"]))
        kind = draw(st.sampled_from(["proc", "fn"]))
        args = draw(st.sampled_from(["K", "", FN_ARGS, PROC_ARGS]))
    if kind == "proc":
        return f"{name}({args})"
    if draw(st.booleans()):
        return f"let c{slot} = {name}({args})"
    return f"stage {{ generate first(todo, 1) | ({name}({args}) & todo) }}"


def _definition(draw, name: str, kind: str, defs: dict[str, str]) -> str:
    """A `proc` over the skeleton's statements (and calls of the definitions, itself
    included: recursion), or a `fn` of an integer or a frame-set expression."""
    if kind == "fn":
        value = _int(draw, 2) if draw(st.booleans()) else _set(draw, 2)
        return f"fn {name}({FN_ARGS}) = {value}"
    stmts = ["let a = 0", "let b = 1", "let fs = {}"]
    for i in range(draw(st.integers(0, 3))):
        if draw(st.integers(0, 4)) == 0:
            stmts.append(_call(draw, defs, i))
        else:
            stmts.append(_stmt(draw, 1, draw(st.integers(0, 3)) == 0))
    return f"proc {name}({PROC_ARGS}) {{\n    " + "\n    ".join(stmts) + "\n}"


@st.composite
def programs_with_definitions(draw) -> str:
    defs: dict[str, str] = {}
    for name in draw(st.lists(st.sampled_from(DEF_NAMES), min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=3,
                              unique=True)):
        defs[name] = draw(st.sampled_from(["proc", "proc", "fn"]))
    texts = [_definition(draw, name, kind, defs) for name, kind in defs.items()]
    if texts and draw(st.sampled_from(range(10))) == 9:  # declared twice
        texts.append(texts[0])
    imported = draw(st.sampled_from(sorted(IMPORTS)))
    calls = [_call(draw, defs, i) for i in range(draw(st.integers(0, 3 if defs else 1)))]
    calls += draw(st.lists(st.sampled_from(IMPORTS[imported] or ["ar(todo, K, 2)"]), max_size=2 if imported else 1))
    body = ["let a = 0", "let b = 1", "let fs = {}"] + calls + [draw(TAIL)]
    params = draw(st.sampled_from(["T = 24, K = 6, n = 2", "T = 40, K = 8, n = 0", "T = 5, K = 3, n = 1"]))
    return (imported + "\n" + "\n".join(texts) + f"\nscheme gen({params}) {{\n    "
            + "\n    ".join(body) + "\n}\n")


@PROPERTY_SETTINGS
@given(programs_with_definitions())
def test_generated_procedures_functions_and_imports_compile_or_raise_scheme_errors(text):
    compile_or_scheme_error(text)


def outcomes(strategy, examples: int) -> tuple[list[str], list[SchemeError]]:
    """Compile `examples` programs drawn from `strategy`: the texts that gave a plan, and
    every error of the others (a sanity check of a generator)."""
    plans: list[str] = []
    errors: list[SchemeError] = []

    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(text):
        result = compile_or_scheme_error(text)
        if isinstance(result, Plan):
            plans.append(text)
        else:
            errors.extend(result.errors if isinstance(result, SchemeErrors) else [result])

    collect()
    return plans, errors


def test_the_generator_of_definitions_reaches_plans_and_their_errors():
    """Sanity check: it yields plans that call definitions and every error of the constructs."""
    plans, errors = outcomes(programs_with_definitions(), 300)
    assert any("proc " in text or "import" in text for text in plans)
    kinds = {e.kind for e in errors}
    assert {"recursion", "arity", "import", "unknown-name"} <= kinds, kinds
    assert any(e.message.startswith("unknown procedure") for e in errors)


def test_the_generator_reaches_every_outcome():
    """Sanity check of the generator itself: it yields valid plans and errors of many kinds."""
    plans, errors = outcomes(programs(), 150)
    assert plans
    kinds = {e.kind for e in errors}
    assert len(kinds) >= 5, kinds


# ---- (b) mutated shipped schemes ------------------------------------------------------------------------
SHIPPED = {b.name: b.text for b in builtin_schemes()}
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z_0-9]*|\d+|\.\.[<=]|//|\*\*|[<>=!]=|\"[^\"\n]*\"|#[^\n]*|.", re.S)
INSERTS = list("{}()[],;=<>+-*/%|&#\"\n ") + ["..<", "..=", "not in", "stage", "generate", "observe", "while",
                                                 "limit", "given", "no marginals", "let", "else", "0", "-1",
                                                 "999999", "todo", "done", "K", "T", "joint", "window", "shift"]


@st.composite
def mutated(draw) -> str:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    text = SHIPPED[name]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["del_char", "ins", "swap_chars", "del_token", "dup_token", "swap_tokens",
                                     "number", "number", "number", "deepen"]))
        tokens = TOKEN.findall(text)
        if kind == "number":
            spots = [i for i, t in enumerate(tokens) if t.isdigit()]
            if spots:
                i = draw(st.sampled_from(spots))
                tokens[i] = str(draw(st.one_of(st.integers(0, 40), st.sampled_from([0, 1, 2, 3, 1000, 10**5, 10**9]),
                                               st.sampled_from([2**64, 2**300, 10**80]))))
            text = "".join(tokens)
        elif kind == "deepen":  # an operand nested up to 300 levels deep
            spots = [i for i, t in enumerate(tokens) if t.isdigit() or t in ("todo", "done", "K", "T")]
            if spots:
                i = draw(st.sampled_from(spots))
                opener, closer = draw(st.sampled_from(DEEP_WRAPS[:6]))
                n = draw(st.integers(1, 300))
                tokens[i] = opener * n + tokens[i] + closer * n
            text = "".join(tokens)
        elif kind in ("del_token", "dup_token", "swap_tokens"):
            i = draw(st.integers(0, len(tokens) - 1))
            if kind == "del_token":
                del tokens[i]
            elif kind == "dup_token":
                tokens.insert(i, tokens[i])
            else:
                j = draw(st.integers(0, len(tokens) - 1))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            text = "".join(tokens)
        else:
            i = draw(st.integers(0, max(0, len(text) - 1)))
            if kind == "del_char":
                text = text[:i] + text[i + 1 :]
            elif kind == "ins":
                text = text[:i] + draw(st.sampled_from(INSERTS)) + text[i:]
            elif len(text) > i + 1:
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text


@PROPERTY_SETTINGS
@given(mutated())
def test_mutated_schemes_compile_or_raise_scheme_errors(text):
    compile_or_scheme_error(text)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_schemes_compile(name):
    result = compile_or_scheme_error(SHIPPED[name])
    assert isinstance(result, Plan), result.render()


# ---- (c) mask specialisation -----------------------------------------------------------------------------
@settings(max_examples=100, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(SHIPPED)),
    st.integers(20, 90),
    st.lists(st.integers(0, 89), max_size=60),
)
def test_mask_specialisation_keeps_plans_valid(name, T, complete):
    overrides = {"T": T}
    base = compile_or_scheme_error(SHIPPED[name], overrides=overrides)
    if not isinstance(base, Plan):
        return  # e.g. a scheme whose assertion rejects this T
    plan = compile_or_scheme_error(SHIPPED[name], overrides=overrides, complete_frames=complete)
    assert isinstance(plan, Plan), plan.render()
    complete_set = {f for f in complete if f < T}
    assert set(plan.given) == set(base.given) | complete_set
    assert not any(set(st.generate) & complete_set for st in plan.stages)
    assert plan.mask is not None
    assert plan.mask.stages_before == len(base.stages)
    assert plan.mask.stages_after == len(plan.stages) <= len(base.stages)
    assert plan.stats.network_evaluations <= base.stats.network_evaluations


@settings(max_examples=60, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])
@given(hole_maps(), st.integers(2, 16))
def test_shipped_schemes_that_read_the_mask_stay_valid(holes, K):
    for name, text in sorted(SHIPPED.items()):
        if "has_mask()" in text:
            result = compile_or_scheme_error(text, overrides={"K": K}, holes=holes)
            assert isinstance(result, Plan), result.render()


# ---- (d) frame sets spread over a long video ---------------------------------------------------------
# The positional operations search a window grown from either end of the set, and a set of
# few runs is listed run by run: check both against plain lists on sets far larger than
# tests/test_frames.py's (members up to 2,000,000 apart, runs of up to 5,000 frames).
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(0, 2_000_000), max_size=60),
    st.lists(st.tuples(st.integers(0, 2_000_000), st.integers(1, 5_000)), max_size=3),
    st.data(),
)
def test_frame_sets_over_a_long_video(frames, runs, data):
    from vidsched.frames import FrameSet

    members = sorted(set(frames) | {f for lo, n in runs for f in range(lo, lo + n)})
    s = FrameSet.of(members)
    assert list(s) == members and len(s) == len(members)
    expected_runs: list[list[int]] = []
    for f in members:
        if expected_runs and expected_runs[-1][1] == f:
            expected_runs[-1][1] = f + 1
        else:
            expected_runs.append([f, f + 1])
    assert s.runs == tuple(map(tuple, expected_runs))
    k = data.draw(st.integers(0, 40))
    assert list(s.first_runs(k)) == [f for lo, hi in expected_runs[:k] for f in range(lo, hi)]
    if members:
        m = len(members)
        p = data.draw(st.integers(0, m - 1))
        assert s.at(p) == members[p]
        a, b = data.draw(st.integers(-2, m + 2)), data.draw(st.integers(-2, m + 2))
        assert list(s.slice(a, b)) == members[max(a, 0):max(b, 0)]
        n = data.draw(st.integers(0, 70))
        assert list(s.first(n)) == members[:n] and list(s.last(n)) == (members[-n:] if n else [])
