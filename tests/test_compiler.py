"""The compiler: evaluator semantics, validation, lowering to a plan, mask specialisation."""

from __future__ import annotations

import json

import networkx as nx
import pytest

from vidsched.compiler import compile_scheme, stage_list_for
from vidsched.errors import (
    AssertionFailedError,
    AssignmentError,
    MarginalForbiddenError,
    SchemeError,
    SchemeErrors,
    SourceFile,
    UnknownNameError,
)
from vidsched.frames import FrameSet
from vidsched.lang.check import check
from vidsched.lang.evaluate import evaluate
from vidsched.lang.parser import parse
from vidsched.lang.validate import specialise, validate
from vidsched.diffusion.registry import evaluations
from vidsched.lang.lower import lower
from vidsched.plan import PLAN_FORMAT, Plan


def src(body: str, params: str = "T = 20, K = 20") -> SourceFile:
    return SourceFile("t.sched", f"scheme s({params}) {{\n{body}\n}}\n")


def plan_of(body: str, params: str = "T = 20, K = 20", overrides=None, **kwargs) -> Plan:
    return compile_scheme(src(body, params), overrides, **kwargs)


def raw_stages(body: str, params: str = "T = 20, K = 20", overrides=None):
    """Evaluate without validation: the stages as emitted."""
    return stage_list_for(src(body, params), overrides).stages


def generated(body: str, params: str = "T = 20, K = 20") -> list[list[int]]:
    return [s.generate.to_list() for s in raw_stages(body, params)]


def holds(condition: str, params: str = "T = 20, K = 20", setup: str = "") -> bool:
    """Whether an in-language assertion holds (evaluated, not validated)."""
    try:
        stage_list_for(src(f"{setup}\nassert {condition}", params))
    except SchemeErrors as e:
        if all(isinstance(x, AssertionFailedError) for x in e.errors):
            return False
        raise
    return True


def errors_of(body: str, params: str = "T = 20, K = 20", **kwargs) -> list[SchemeError]:
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(src(body, params), **kwargs)
    return info.value.errors


# ---- built-in state: done, todo, given ----------------------------------------------------
def test_done_and_todo_update_after_each_stage():
    body = """
    assert done == {} and todo == 0 ..< T
    stage { generate 0 ..< 5 }
    assert done == 0 ..< 5 and todo == 5 ..< T
    stage { generate 10 ..< 12; observe 0 ..< 5 }
    assert done == 0 ..< 5 | 10 ..< 12 and todo == 5 ..< 10 | 12 ..< T
    assert len(done) == 7 and len(todo) == 13
    stage { generate todo }
    assert done == 0 ..< T and not todo
    """
    plan = plan_of(body)
    assert [s.generate for s in plan.stages] == [list(range(5)), [10, 11], list(range(5, 10)) + list(range(12, 20))]


def test_state_is_read_when_the_clause_is_evaluated():
    # Inside one stage, every clause sees the state before the stage.
    (st,) = raw_stages("stage { generate first(todo, 3); observe first(todo, 5) }")
    assert st.generate.to_list() == [0, 1, 2]
    assert st.observe.to_list() == [0, 1, 2, 3, 4]  # todo before the stage, not after it


def test_given():
    body = """
    given 0 ..< 3
    given {7}
    assert given == 0 ..< 3 | 7 and done == given and todo == 3 ..< 7 | 8 ..< T
    stage { generate todo; observe given }
    """
    plan = plan_of(body)
    assert plan.given == [0, 1, 2, 7]
    assert plan.stages[0].observe == [0, 1, 2, 7]
    assert plan.stats.given_frames == 4


def test_given_frames_are_clipped_to_the_video():
    plan = plan_of("given 15 ..< 100 | {-3}\nstage { generate todo }")
    assert plan.given == [15, 16, 17, 18, 19]


# ---- control flow ---------------------------------------------------------------------------
def test_for_over_a_set_and_over_a_list():
    assert generated("for f in {3, 1, 2} { stage { generate f } }") == [[1], [2], [3]]
    assert generated("for s in [5 ..< 7, {1}, 2] { stage { generate s } }") == [[5, 6], [1], [2]]
    assert generated("for c in chunks(0 ..< 7, 3) { stage { generate c } }") == [[0, 1, 2], [3, 4, 5], [6]]
    assert generated("for r in runs({1, 2, 5, 7, 8}) { stage { generate r } }") == [[1, 2], [5], [7, 8]]
    assert generated("for f in reversed(0 ..< 3) { stage { generate f } }") == [[2], [1], [0]]


def test_for_loop_variable_from_a_list_of_numbers_is_usable_as_a_number():
    # A loop variable's type is known only at run time; arithmetic on it is allowed.
    body = "for s in [3, 1] { stage { generate first(todo, s * 2) } }"
    assert generated(body) == [[0, 1, 2, 3, 4, 5], [6, 7]]
    body = "for s in [1, 2] { stage { generate (s + 1) ..< (s + 2) | -s + 10 | max(s, 3) | abs(-s) } }"
    assert generated(body) == [[1, 2, 3, 9], [2, 3, 8]]


def test_for_iterates_over_the_value_at_loop_entry():
    # `todo` changes inside the loop, but the loop walks the set it started with.
    assert generated("for f in first(todo, 3) { stage { generate f } }") == [[0], [1], [2]]


def test_while():
    body = """
    let n = 0
    while todo {
        stage { generate first(todo, 6) }
        n = n + 1
    }
    assert n == 4
    """
    assert generated(body) == [list(range(0, 6)), list(range(6, 12)), list(range(12, 18)), [18, 19]]


def test_while_with_limit_and_counter():
    body = """
    let i = 0
    while i < 3 limit 3 { i = i + 1 }
    assert i == 3
    stage { generate todo }
    """
    plan_of(body)


def test_if_else_if_else():
    body = """
    for x in [1, 5, 9] {
        if x < 3 { stage { generate x } }
        else if x < 7 { stage { generate x + 10 } }
        else { stage { generate x ..< x + 2 } }
    }
    """
    assert generated(body) == [[1], [15], [9, 10]]
    body = "if todo { stage { generate 0 } }\nif {} { stage { generate 1 } } else { stage { generate 2 } }"
    assert generated(body) == [[0], [2]]


def test_let_scoping():
    # a block's names are not visible after it
    errs = errors_of("if true { let inner = 1 }\nlet y = inner\nstage { generate todo }")
    assert [type(e) for e in errs] == [UnknownNameError]
    assert errs[0].line == 3
    # sibling blocks may reuse a name
    plan_of("if true { let a = 1 } else { let a = 2 }\nfor i in {1} { let a = {3} }\nstage { generate todo }")
    # an inner block may not redeclare an outer name, but may assign it
    errs = errors_of("let a = 1\nif true { let a = 2 }\nstage { generate todo }")
    assert [type(e) for e in errs] == [AssignmentError]
    assert holds("a == 2", setup="let a = 1\nif true { a = 2 }")
    # a let in a loop body starts fresh on every iteration
    assert generated("for i in {1, 2} { let x = i * 3\n stage { generate x } }") == [[3], [6]]


def test_parameter_defaults_may_use_earlier_parameters():
    plan = plan_of("stage { generate first(todo, step) }\nstage { generate todo }", "T = 20, K = 20, step = K // 4")
    assert plan.params == {"T": 20, "K": 20, "step": 5}
    assert plan.stages[0].generate == [0, 1, 2, 3, 4]
    plan = plan_of("while todo { stage { generate first(todo, step) } }", "T = 20, K = 20, step = K // 4", ["K=12"])
    assert plan.params["step"] == 3 and plan.max_frames == 12
    assert [len(s.generate) for s in plan.stages] == [3] * 6 + [2]


# ---- expressions ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "condition",
    [
        # chained comparisons
        "1 < 2 < 3", "not (1 < 3 < 2)", "1 <= 1 < 2 != 3", "3 > 2 >= 2 == 2",
        "not (1 < 2 > 5)",
        # membership
        "3 in 0 ..< 5", "5 not in 0 ..< 5", "not 5 in 0 ..< 5", "2 in [1, 2]", "{1} in [{1}, {2}]" if False else "1 in {1}",
        "0 in todo", "19 in todo", "20 not in todo", "-1 not in todo",
        # integer arithmetic (floor division and modulo as in Python)
        "7 // 2 == 3", "-7 // 2 == -4", "7 % 3 == 1", "-7 % 3 == 2", "2 ** 10 == 1024", "-2 ** 2 == -4",
        "1 + 2 * 3 - 4 == 3", "(1 + 2) * 3 == 9", "ceil_div(7, 2) == 4", "ceil_div(8, 2) == 4",
        "min(3, 1, 2) == 1", "max(3, 1, 2) == 3", "abs(-4) == 4",
        # exact fractions
        "7 / 2 * 2 == 7", "1 / 3 + 1 / 3 + 1 / 3 == 1", "1 / 3 < 0.34 * 1" if False else "1 / 3 < 34 / 100",
        "floor(7 / 2) == 3", "ceil(7 / 2) == 4", "floor(-7 / 2) == -4", "ceil(-7 / 2) == -3",
        "(2 / 3) ** 2 == 4 / 9", "2 ** -1 == 1 / 2", "floor(10 / 4 * 4) == 10",
        # iroot is exact, also where floating point is not
        "iroot(27, 3) == 3", "iroot(26, 3) == 2", "iroot(10 ** 30, 3) == 10 ** 10",
        "iroot(10 ** 30 - 1, 3) == 10 ** 10 - 1", "iroot(64 / 27, 3) == 1", "iroot(8 / 27 * 27, 3) == 2",
        "iroot(0, 5) == 0", "iroot(1, 1) == 1", "iroot(2 ** 100, 2) == 2 ** 50",
        "iroot(((200 - 0) / (8 - 1)) ** 2, 3) == 9",
        # booleans
        "true and not false", "false or true", "not (true and false)",
        # sets as conditions and in comparisons
        "todo", "not {}", "{1, 2} == 1 ..= 2", "{1} != {2}",
        "len(0 ..< 5 by 2) == 3", "len([1, 2, 3]) == 3", "min(3 ..< 9) == 3", "max(3 ..< 9) == 8",
        "min([4, 2, 7]) == 2", "nth(5 ..< 9, 0) == 5", "nth(5 ..< 9, -1) == 8",
    ],
)
def test_expression_semantics(condition):
    assert holds(condition), condition


def test_iroot_is_the_exact_floor_of_the_root():
    """iroot searches a range bounded by the bit length of its argument (any degree is
    cheap); it agrees with the definition, the largest r with r ** n <= x."""
    from fractions import Fraction

    from vidsched.lang.builtins import BUILTINS

    iroot = BUILTINS["iroot"].impl
    values = [0, 1, 2, 3, 7, 8, 9, 26, 27, 28, 10**30 - 1, 10**30, 2**255 - 1, Fraction(64, 27), Fraction(200, 7),
              Fraction(1, 3), Fraction(10**40, 3)]
    values += [k**n + d for k in range(2, 40) for n in range(1, 8) for d in (-1, 0, 1)]
    for x in values:
        for n in [1, 2, 3, 4, 5, 7, 13, 64, 255, 256, 257, 2**100]:
            r = iroot(x, n)
            assert r**n <= x < (r + 1) ** n if n < 300 else r == (1 if x >= 1 else 0), (x, n, r)


@pytest.mark.parametrize(
    "expr,expected",
    [
        # ranges: exclusive, inclusive, stepped
        ("2 ..< 6", [2, 3, 4, 5]),
        ("2 ..= 6", [2, 3, 4, 5, 6]),
        ("1 ..< 10 by 3", [1, 4, 7]),
        ("0 ..= 9 by 3", [0, 3, 6, 9]),
        ("6 ..< 2", []),
        # sets are clipped to 0..T-1 (T = 20)
        ("-5 ..< 3", [0, 1, 2]),
        ("-5 ..< 3 by 2", [1]),  # -5, -3, -1, 1: the step is kept from the start
        ("18 ..< 100", [18, 19]),
        ("{-1, 3, 25, 19}", [3, 19]),
        ("-1 | 2", [2]),
        ("first(todo, 100)", list(range(20))),
        ("0 ..= 2 | 10 ..< 12", [0, 1, 2, 10, 11]),
        # set algebra
        ("(0 ..< 10) & (5 ..< 15)", [5, 6, 7, 8, 9]),
        ("(0 ..< 10) - (2 ..< 8)", [0, 1, 8, 9]),
        ("todo - 0 - 19", list(range(1, 19))),
        ("(0 ..< 6) - {2, 3} | 9", [0, 1, 4, 5, 9]),
        ("{1, {4, 5}, 2 ..< 4}", [1, 2, 3, 4, 5]),
        # functions on sets
        ("first(5 ..< 15, 3)", [5, 6, 7]),
        ("last(5 ..< 15, 3)", [12, 13, 14]),
        ("nearest(0 ..< 20 by 2, 3, 9)", [8, 10, 6] and [6, 8, 10]),
        ("spread(0 ..< 20, 4)", [0, 6, 12, 19]),
        ("spread_right(0 ..< 20, 4)", [0, 6, 13, 19]),
        ("after(todo, 16)", [17, 18, 19]),
        ("before(todo, 3)", [0, 1, 2]),
        ("nth(5 ..< 9, 2)", [7]),
        ("max(0 ..< 7)", [6]),
    ],
)
def test_set_values(expr, expected):
    assert generated(f"stage {{ generate {expr} }}") == [expected]


def test_clipping_follows_T_overrides():
    stages = raw_stages("stage { generate 0 ..< 100 }", overrides=["T=7"])
    assert stages[0].generate.to_list() == list(range(7))


def test_named_stages_and_phases():
    body = """
    stage { generate 0 }
    stage one { generate 1 }
    phase warmup {
        stage { generate 2 }
        stage "two words" { generate 3 }
        phase inner { stage { generate 4 } }
    }
    stage { generate todo }
    """
    names = [s.name for s in plan_of(body).stages]
    assert names == ["s", "one", "warmup", "warmup/two words", "inner", "s"]


def test_stage_context_records_loop_values():
    plan = plan_of("for i in 0 ..< 2 { for c in chunks(i * 10 ..< i * 10 + 10, 5) { stage { generate c } } }")
    assert [s.context for s in plan.stages] == [
        ["i = 0", "c = 0-4"], ["i = 0", "c = 5-9"], ["i = 1", "c = 10-14"], ["i = 1", "c = 15-19"],
    ]


def test_source_positions_of_stages():
    plan = plan_of("stage { generate 0 ..< 10 }\n  for i in {1} {\n    stage { generate todo }\n  }")
    assert [(s.source.line, s.source.column) for s in plan.stages] == [(2, 1), (4, 5)]


# ---- no marginals -----------------------------------------------------------------------------------
MARGINAL_STAGES = """
stage a { generate 0 ..< 4; observe 10 }
{block}
stage c { generate todo }
"""


def test_marginals_are_allowed_by_default():
    plan = plan_of("stage a { generate 0 ..< 4; observe 10 }\nstage b { generate 4 ..< 8; observe 12 }\nstage { generate todo }")
    assert plan.stages[0].marginal == [10] and plan.stages[1].marginal == [12]


def test_no_marginals_applies_from_its_statement_to_the_end_of_its_block():
    body = """
    stage a { generate 0 ..< 4; observe 10 }
    phase strict {
        stage b { generate 4 ..< 6; observe 11 }
        no marginals
        stage c { generate 6 ..< 8; observe 12 }
        if true { stage d { generate 8; observe 13 } }
    }
    stage e { generate 9; observe 14 }
    stage { generate todo }
    """
    errs = errors_of(body)
    assert [type(e) for e in errs] == [MarginalForbiddenError, MarginalForbiddenError]
    assert [e.stage for e in errs] == [2, 3]  # c and d; not a, b (before) or e (after the block)


def test_no_marginals_at_the_top_forbids_every_marginal():
    errs = errors_of("no marginals\nstage { generate 0 ..< 4; observe 10 }\nstage { generate todo }")
    assert [type(e) for e in errs] == [MarginalForbiddenError]
    # complete observations are fine
    plan_of("no marginals\nstage { generate 0 ..< 4 }\nstage { generate todo; observe 0 ..< 4 }", "T = 20, K = 20")


def test_no_marginals_inside_a_loop_body_resets_each_iteration():
    body = """
    for i in [0, 1] {
        if i == 0 { no marginals }
        stage { generate i; observe 15 }
    }
    stage { generate todo }
    """
    # the flag is restored when the if-block ends: neither stage is strict
    plan = plan_of(body)
    assert [s.marginal for s in plan.stages[:2]] == [[15], [15]]


# ---- validation: complete vs marginal ----------------------------------------------------------------
def test_observations_are_classified_complete_or_marginal():
    body = """
    given 0 ..< 2
    stage one { generate 2 ..< 6; observe 0 ..< 2 | 6 ..< 8 }
    stage two { generate 6 ..< 10; observe 2 ..< 6 | 10 | 18 }
    stage three { generate todo; observe 0 ..< 4 }
    """
    plan = plan_of(body)
    one, two, three = plan.stages
    assert (one.observe, one.marginal) == ([0, 1], [6, 7])
    assert (two.observe, two.marginal) == ([2, 3, 4, 5], [10, 18])
    assert (three.observe, three.marginal) == ([0, 1, 2, 3], [])
    assert plan.stats.marginal_frames == 4
    assert plan.stats.distinct_marginal_frames == 4


def test_validate_directly():
    sl = stage_list_for(src("stage { generate 0 ..< 10; observe 12 }\nstage { generate todo; observe 0 }"))
    v = validate(sl)
    assert [(s.complete.to_list(), s.marginal.to_list()) for s in v.stages] == [([], [12]), ([0], [])]
    assert [s.window for s in v.stages] == [11, 11]
    # the same stages with frame 12 known from the start: no marginal
    v = validate(sl, known=FrameSet.of([]))
    assert v.stages[0].marginal.to_list() == [12]


# ---- lowering: graph, batches, stats ----------------------------------------------------------------
def improved_ar_body() -> str:
    return """
    stage { generate 0 ..< 4; observe 4 ..< 6 }
    stage { generate 4 ..< 8; observe 2 ..< 4 | 8 ..< 10 }
    stage { generate 8 ..< 12; observe 6 ..< 8 }
    """


def test_edges_data_and_order():
    plan = plan_of(improved_ar_body(), "T = 12, K = 8")
    assert [s.marginal for s in plan.stages] == [[4, 5], [8, 9], []]
    assert sorted(map(tuple, plan.edges)) == [(0, 1, "data"), (1, 2, "data")]
    assert plan.batches == [[0], [1], [2]]


def test_order_edge_without_data_edge():
    # stage 0 observes 9 as a marginal; stage 2 generates 9 later without observing stage 0's frames
    body = """
    stage { generate 0 ..< 3; observe 9 }
    stage { generate 3 ..< 6 }
    stage { generate 6 ..< 10 }
    """
    plan = plan_of(body, "T = 10, K = 10")
    assert [tuple(e) for e in plan.edges] == [(0, 2, "order")]
    # An order edge keeps stage 2 from running *before* stage 0; the same batch is fine
    # (the batch's windows are all read before any frame is written).
    assert plan.batches == [[0, 1, 2]]
    assert [plan.batch_of[s.index] for s in plan.stages] == [0, 0, 0]


def test_order_edge_and_data_edge_combine():
    # stage 1 observes stage 0's frames (data) and frame 9 as a marginal; stage 2
    # generates 9: it may share stage 1's batch but not precede it.
    body = """
    stage { generate 0 ..< 3 }
    stage { generate 3 ..< 6; observe 2 | 9 }
    stage { generate 6 ..< 10 }
    """
    plan = plan_of(body, "T = 10, K = 10")
    assert sorted(tuple(e) for e in plan.edges) == [(0, 1, "data"), (1, 2, "order")]
    assert plan.batches == [[0, 2], [1]] or plan.batches == [[0], [1, 2]]
    assert plan.batch_of[2] >= plan.batch_of[1]


def test_independent_stages_share_a_batch():
    body = """
    stage keys { generate {0, 10, 20} }
    for gap in [1 ..< 10, 11 ..< 20] { stage fill { generate gap; observe {0, 10, 20} } }
    stage tail { generate todo; observe 20 }
    """
    plan = plan_of(body, "T = 30, K = 20")
    assert plan.batches == [[0], [1, 2, 3]]
    assert plan.stats.batches == 2 and plan.stats.stages == 4
    assert sorted(map(tuple, plan.edges)) == [(0, 1, "data"), (0, 2, "data"), (0, 3, "data")]


def test_batches_are_the_layers_of_the_stage_graph():
    body = """
    stage { generate 0 ..< 4 }
    stage { generate 10 ..< 14 }
    stage { generate 4 ..< 7; observe 0 ..< 4 | 10 }
    stage { generate 7 ..< 10; observe 4 ..< 7 | 18 }
    stage { generate 14 ..< 17; observe 10 ..< 14 }
    stage { generate todo }
    """
    plan = plan_of(body)
    g = plan.graph()
    assert nx.is_directed_acyclic_graph(g)
    for i, j, _ in plan.edges:
        assert i < j  # every edge points forward in program order
    for st in plan.stages:
        # As early as allowed: after every data predecessor, not before an order one.
        need = [g.nodes[p]["batch"] + (g.edges[p, st.index]["kind"] == "data") for p in g.predecessors(st.index)]
        assert g.nodes[st.index]["batch"] == max(need, default=0)
    flat = [i for b in plan.batches for i in b]
    assert sorted(flat) == list(range(len(plan.stages)))
    for b, members in enumerate(plan.batches):
        assert all(plan.batch_of[i] == b for i in members)
        assert members == sorted(members)
        for i in members:  # no data edge inside a batch
            for j in members:
                assert not (g.has_edge(i, j) and g.edges[i, j]["kind"] == "data")
    # the last stage generates 17-19 after stage 3 observed 18 as a marginal: order edge 3 -> 5
    assert (3, 5, "order") in [tuple(e) for e in plan.edges]
    assert plan.batches == [[0, 1], [2, 4], [3, 5]]


def test_batching_never_changes_what_a_stage_sees():
    """Run batches as units: every stage sees the same complete frames as in program order."""
    plan = compile_scheme("improved_ar", ["T=80", "K=8"])
    done = set(plan.given)
    for batch in plan.batches:
        for i in batch:
            st = plan.stages[i]
            assert set(st.observe) <= done, f"stage {i} observes a frame not yet complete in its batch"
            assert not (set(st.marginal) & done), f"stage {i} would see a finished frame as marginal"
        for i in batch:
            done |= set(plan.stages[i].generate)
    assert done == set(range(80))


def test_stats():
    plan = plan_of(improved_ar_body(), "T = 12, K = 8", steps=100, sampler="heun")
    s = plan.stats
    assert (s.stages, s.batches, s.frames, s.given_frames) == (3, 3, 12, 0)
    assert s.marginal_frames == 4 and s.distinct_marginal_frames == 4
    assert s.max_window == 8 and s.mean_window == round((6 + 8 + 6) / 3, 3)
    assert s.evaluations_per_stage == 199
    assert s.network_evaluations == 3 * 199
    assert s.sequential_network_calls == 3 * 199


@pytest.mark.parametrize("steps,sampler,per_stage", [(100, "heun", 199), (1, "heun", 1), (18, "heun", 35),
                                                     (1000, "ddpm", 1000), (50, "ddpm", 50)])
def test_network_evaluations(steps, sampler, per_stage):
    assert evaluations(sampler, steps) == per_stage
    plan = plan_of("for c in chunks(0 ..< T, 5) { stage { generate c } }", steps=steps, sampler=sampler)
    assert plan.stats.stages == 4 and plan.stats.batches == 1
    assert plan.stats.network_evaluations == 4 * per_stage
    assert plan.stats.sequential_network_calls == per_stage
    assert (plan.stats.sampler, plan.stats.sampler_steps) == (sampler, steps)


def test_bad_sampler_settings():
    with pytest.raises(ValueError):
        evaluations("heun", 0)
    with pytest.raises(ValueError):
        evaluations("euler", 10)


def test_max_window():
    plan = plan_of("stage { generate 0 ..< 3; observe 10 ..< 15 }\nstage { generate todo }", "T = 20, K = 20")
    assert plan.stats.max_window == 17  # the second stage: 17 generated + 0 observed
    plan = plan_of("stage { generate 0 ..< 10 }\nstage { generate todo; observe 0 ..< 3 }", "T = 15, K = 20")
    assert plan.stats.max_window == 10


# ---- the plan as JSON --------------------------------------------------------------------------------
def test_plan_json_round_trip_and_contract():
    plan = plan_of("given 0 ..< 2\n" + "stage { generate 2 ..< 6; observe 0 ..< 2 | 6 }\nstage { generate todo }",
                   "T = 12, K = 12")
    text = plan.to_json(indent=1)
    data = json.loads(text)
    assert data["format"] == PLAN_FORMAT == "vidsched.plan/1"
    for key in ("scheme", "params", "num_frames", "max_frames", "given", "stages", "batches", "stats"):
        assert key in data
    assert data["scheme"] == "s" and data["params"] == {"T": 12, "K": 12}
    assert data["num_frames"] == 12 and data["max_frames"] == 12 and data["given"] == [0, 1]
    st = data["stages"][0]
    for key in ("index", "name", "generate", "observe", "marginal", "source"):
        assert key in st
    assert st["source"] == {"line": 3, "column": 1}
    assert st["marginal"] == [6]
    for stage in data["stages"]:
        for key in ("generate", "observe", "marginal"):
            assert stage[key] == sorted(stage[key])
    back = Plan.model_validate_json(text)
    assert back == plan
    assert Plan.model_validate_json(plan.to_json()) == plan


def test_plan_json_rejects_other_formats():
    data = json.loads(plan_of("stage { generate todo }").to_json())
    data["format"] = "vidsched.plan/9"  # (/2 is a plan with joint groups)
    with pytest.raises(Exception):
        Plan.model_validate(data)


def test_pipeline_pieces_are_importable_on_their_own():
    source = src("stage { generate todo }")
    program = check(parse(source.text, source.name), source)
    sl = evaluate(program, {"T": 5})
    plan = lower(validate(sl), sampler="heun", steps=100, evaluations_per_stage=199)
    assert plan.num_frames == 5 and plan.stages[0].generate == [0, 1, 2, 3, 4]


# What each module may load: the chain source -> AST -> checked program -> stages ->
# validated stages -> plan -> runtime has no arrow pointing back, the plan is a leaf
# contract, and the sampler table loads neither the compiler nor torch.
_IMPORT_RULES = {
    "vidsched.plan": ("vidsched.lang", "vidsched.compiler", "vidsched.diffusion", "vidsched.runtime", "torch"),
    "vidsched.lang.parser": ("vidsched.plan", "vidsched.lang.check", "vidsched.diffusion", "torch"),
    "vidsched.lang.program": ("vidsched.plan", "vidsched.lang.check", "vidsched.lang.codegen", "vidsched.lang.machine",
                              "torch"),
    "vidsched.lang.codegen": ("vidsched.plan", "vidsched.lang.check", "vidsched.lang.evaluate", "torch"),
    "vidsched.lang.procedures": ("vidsched.plan", "vidsched.lang.check", "vidsched.lang.evaluate", "torch"),
    "vidsched.lang.check": ("vidsched.plan", "vidsched.lang.evaluate", "vidsched.lang.validate", "torch"),
    "vidsched.lang.evaluate": ("vidsched.plan", "vidsched.lang.validate", "vidsched.diffusion", "torch"),
    "vidsched.lang.validate": ("vidsched.plan", "vidsched.lang.lower", "vidsched.diffusion", "torch"),
    "vidsched.lang.lower": ("vidsched.compiler", "vidsched.diffusion", "vidsched.runtime", "torch"),
    "vidsched.diffusion.registry": ("vidsched.compiler", "vidsched.lang", "vidsched.plan", "torch"),
    "vidsched.diffusion.samplers": ("vidsched.compiler", "vidsched.lang", "vidsched.plan"),
    "vidsched.render": ("vidsched.compiler", "vidsched.lang", "vidsched.diffusion", "torch"),
}


@pytest.mark.parametrize("module", sorted(_IMPORT_RULES))
def test_imports_point_down_the_pipeline(module):
    import subprocess
    import sys

    code = (f"import sys, {module}; print('\\n'.join(m for m in sys.modules if m.startswith("
            f"{_IMPORT_RULES[module]!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == [], f"importing {module} loads {out.split()}"


def test_the_plan_and_the_compiler_agree_on_the_most_frames():
    from vidsched.lang.limits import Limits
    from vidsched.plan import MAX_FRAMES

    assert Limits().max_frames == MAX_FRAMES


# ---- mask-aware specialisation -------------------------------------------------------------------------
def ar_body() -> str:
    return "while todo { stage { generate first(todo, 4); observe last(done, 2) } }"


def test_mask_drops_complete_frames_from_generate_sets():
    plan = plan_of(ar_body(), "T = 16, K = 6", complete_frames=[1, 2, 9])
    gens = [s.generate for s in plan.stages]
    assert gens == [[0, 3], [4, 5, 6, 7], [8, 10, 11], [12, 13, 14, 15]]
    assert plan.given == [1, 2, 9]
    for s in plan.stages:
        assert not set(s.generate) & {1, 2, 9}
    # the mask-complete frames are complete observations wherever they are observed
    for s in plan.stages:
        assert not set(s.marginal) & {1, 2, 9}
    assert plan.mask is not None
    assert plan.mask.complete_frames == 3
    assert (plan.mask.stages_before, plan.mask.stages_after, plan.mask.stages_saved) == (4, 4, 0)
    assert (plan.mask.frames_generated_before, plan.mask.frames_generated_after) == (16, 13)


def test_mask_drops_stages_left_with_nothing_to_generate():
    plan = plan_of(ar_body(), "T = 16, K = 6", complete_frames=range(4, 12))
    assert [s.generate for s in plan.stages] == [[0, 1, 2, 3], [12, 13, 14, 15]]
    assert [s.index for s in plan.stages] == [0, 1]  # renumbered
    m = plan.mask
    assert (m.stages_before, m.stages_after, m.stages_saved) == (4, 2, 2)
    assert m.network_evaluations_saved == 2 * 199
    assert plan.stats.network_evaluations == 2 * 199
    assert plan.batches == [[0], [1]] or plan.batches == [[0, 1]]


def test_mask_specialised_plan_is_still_valid():
    plan = plan_of(
        "stage { generate 0 ..< 4; observe 4 ..< 6 }\nwhile todo { stage { generate first(todo, 4); observe last(done, 2) } }",
        "T = 16, K = 6",
        complete_frames=[0, 1, 2, 3, 5, 10, 11],
    )
    done = set(plan.given)
    for st in plan.stages:
        assert not set(st.generate) & done, "a frame is generated twice"
        assert set(st.observe) <= done
        assert not set(st.marginal) & done
        assert len(st.generate) + len(st.observe) + len(st.marginal) <= plan.max_frames
        assert st.generate
        done |= set(st.generate)
    assert done == set(range(16))
    assert plan.stages[0].generate == [4, 6, 7]  # stage 0 (0-3) was dropped; 5 is complete


def test_mask_with_every_frame_complete():
    plan = plan_of(ar_body(), "T = 8, K = 6", complete_frames=range(8))
    assert plan.stages == [] and plan.batches == []
    assert plan.mask.stages_after == 0 and plan.stats.network_evaluations == 0


def test_mask_ignores_frames_outside_the_video():
    plan = plan_of(ar_body(), "T = 8, K = 6", complete_frames=[0, 50])
    assert plan.given == [0] and plan.mask.complete_frames == 1


def test_scheme_must_be_valid_before_the_mask_applies():
    # frame 5 is never generated: an error even if the mask says it is complete
    with pytest.raises(SchemeErrors):
        plan_of("stage { generate 0 ..< 5 }", "T = 6, K = 6", complete_frames=[5])


def test_specialise_directly():
    sl = stage_list_for(src(ar_body(), "T = 12, K = 6"))
    new, report = specialise(sl, FrameSet.of(range(4, 8)))
    assert len(new.stages) == 2 and report.stages_before == 3 and report.stages_after == 2
    assert new.given.to_list() == [4, 5, 6, 7]
    validate(new)


def test_all_shipped_schemes_compile_with_their_defaults():
    from vidsched.compiler import builtin_schemes

    names = [b.name for b in builtin_schemes()]
    assert "ar" in names
    for name in names:
        plan = compile_scheme(name)
        covered = set(plan.given)
        for st in plan.stages:
            covered |= set(st.generate)
        assert covered == set(range(plan.num_frames)), name
        assert plan.stats.max_window <= plan.max_frames, name


def test_mask_keeps_whole_frames_in_the_window_as_observations():
    # ar with K = 6: stage 1 generates 6-11 observing 0-5 (window 12? no: step 3, K 6)
    plan_full = plan_of(ar_body(), "T = 16, K = 6")
    plan = plan_of(ar_body(), "T = 16, K = 6", complete_frames=[4, 5])
    for full, st in zip(
        [s for s in plan_full.stages if set(s.generate) - {4, 5}], plan.stages
    ):
        # same window; frames 4 and 5 moved from generate to the complete observations
        assert sorted(full.generate + full.observe + full.marginal) == sorted(st.generate + st.observe + st.marginal)
        assert not {4, 5} & set(st.generate)
        assert {4, 5} & set(full.generate) <= set(st.observe)


def test_set_literals_may_span_lines():
    plan = plan_of("let s = {1,\n  2,\n  3}\nstage { generate s | {0,\n 4} }\nstage { generate todo }", "T = 8, K = 8")
    assert plan.stages[0].generate == [0, 1, 2, 3, 4]


def test_shipped_schemes_need_a_small_part_of_the_evaluation_steps():
    """The default Limits.max_fuel bounds any compile to about a second; the shipped
    schemes stay far from it on a 10,000-frame video (docs/language.md, section 24)."""
    from vidsched.compiler import builtin_schemes
    from vidsched.lang.limits import Limits

    for scheme in builtin_schemes():
        used = stage_list_for(scheme.name, {"T": 10_000}).fuel_used
        assert 0 < used <= Limits().max_fuel // 3, (scheme.name, used)
