"""One test per kind of scheme error: class, position, and the rendered message.

Each test writes a small scheme with the mistake at a known place (found by searching
the text for a marker substring) and checks:

* the error's class, found in ``SchemeErrors.errors``;
* its line and column;
* ``err.render()``: ``file:line:col``, the source line, and a caret under the column.
"""

from __future__ import annotations

import re

import pytest

from vidsched.compiler import compile_scheme
from vidsched.errors import (
    ArityError,
    AssertionFailedError,
    AssignmentError,
    CoverageError,
    EmptyStageError,
    EvaluationError,
    GeneratedTwiceError,
    GenerateObserveOverlapError,
    LoopLimitError,
    MarginalForbiddenError,
    NoProgressError,
    ParameterError,
    ResourceLimitError,
    SchemeError,
    SchemeErrors,
    SchemeSyntaxError,
    SchemeTypeError,
    SourceFile,
    StageTooLargeError,
    UnknownNameError,
)
from vidsched.lang.limits import Limits

FILE = "bad.sched"


def pos(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of `needle` in `text`."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    return line, column


def all_errors(text: str, overrides=None, **kwargs) -> list[SchemeError]:
    with pytest.raises(SchemeError) as info:
        compile_scheme(SourceFile(FILE, text), overrides, **kwargs)
    err = info.value
    assert isinstance(err, SchemeErrors), f"compile_scheme raised a bare {type(err).__name__}"
    return err.errors


def one_error(text: str, cls: type[SchemeError], overrides=None, **kwargs) -> SchemeError:
    errors = all_errors(text, overrides, **kwargs)
    matching = [e for e in errors if type(e) is cls]
    assert len(matching) == 1, [f"{type(e).__name__}: {e.message}" for e in errors]
    return matching[0]


def check_rendered(err: SchemeError, text: str, line: int, column: int) -> str:
    """The message has file:line:col, the source line and a caret under the column."""
    assert (err.line, err.column) == (line, column), err.render()
    rendered = err.render()
    lines = rendered.splitlines()
    assert lines[0].startswith(f"{FILE}:{line}:{column}: error[{err.kind}]: "), rendered
    source_line = text.splitlines()[line - 1]
    assert lines[1] == "    " + source_line.rstrip()
    caret = lines[2]
    assert re.fullmatch(r" *\^+", caret), rendered
    assert caret.index("^") == 4 + column - 1
    assert "Traceback" not in rendered
    return rendered


def scheme(body: str, params: str = "T = 8, K = 8") -> str:
    return f"scheme s({params}) {{\n{body}\n}}\n"


COVER = "    stage { generate todo }"  # a valid last stage, so that only the mistake is reported


# ---- 1. syntax, names, types, arity, parameters ---------------------------------------------
def test_syntax_error():
    text = scheme("    let x = 1 +* 2\n" + COVER)
    err = one_error(text, SchemeSyntaxError)
    rendered = check_rendered(err, text, *pos(text, "* 2"))
    assert "unexpected '*'" in rendered and "expected" in rendered


def test_unknown_name():
    text = scheme("    let width = K - stpe\n" + COVER, "T = 8, K = 4, step = 2")
    err = one_error(text, UnknownNameError)
    rendered = check_rendered(err, text, *pos(text, "stpe"))
    assert "unknown name stpe" in rendered
    assert "did you mean step?" in rendered


def test_unknown_function():
    text = scheme("    stage { generate frist(todo, 2) }\n" + COVER)
    err = one_error(text, UnknownNameError)
    rendered = check_rendered(err, text, *pos(text, "frist"))
    assert "unknown function frist" in rendered and "did you mean first?" in rendered


def test_function_used_as_a_value():
    text = scheme("    let x = first\n" + COVER)
    err = one_error(text, UnknownNameError)
    check_rendered(err, text, *pos(text, "first"))
    assert "first is a function" in err.message


def test_type_error():
    text = scheme("    let n = 2\n    if n { stage { generate 0 } }\n" + COVER)
    err = one_error(text, SchemeTypeError)
    rendered = check_rendered(err, text, *pos(text, "n {"))
    assert "must be a boolean or a frame set, not a whole number" in rendered


def test_type_error_adding_sets():
    text = scheme("    let s = {1} + 2\n" + COVER)
    err = one_error(text, SchemeTypeError)
    rendered = check_rendered(err, text, *pos(text, "+ 2"))
    assert "join frame sets with |" in rendered


def test_type_error_at_run_time():
    # `n` is an integer at run time, and `for` needs a set or a list: found while evaluating.
    text = scheme("    let xs = [1, {2}]\n    for x in xs { for y in x { } }\n" + COVER)
    err = one_error(text, SchemeTypeError)
    check_rendered(err, text, *pos(text, "for y"))
    assert "iterates over a frame set or a list, not the number 1" in err.message


def test_arity_error():
    text = scheme("    stage { generate first(todo) }\n" + COVER)
    err = one_error(text, ArityError)
    rendered = check_rendered(err, text, *pos(text, "first"))
    assert "first() takes 2 arguments, got 1" in rendered


@pytest.mark.parametrize(
    "params,needle,message",
    [
        ("T = 8, K = 0", "K = 0", "parameter K must be at least 1, got 0"),
        ("T = 20000000, K = 4", "T = 2", "T = 20000000 is more than the limit of 1,000,000 frames"),
        ("T = 8, K = 4, T = 9", "T = 9", "parameter T is declared twice"),
    ],
)
def test_parameter_error_bad_default(params, needle, message):
    text = scheme(COVER, params)
    err = one_error(text, ParameterError)
    check_rendered(err, text, *pos(text, needle))
    assert message in err.message


def test_parameter_error_bad_default_type():
    text = scheme(COVER, "T = 8, K = 4, frames = {1, 2}")
    err = one_error(text, SchemeTypeError)
    check_rendered(err, text, *pos(text, "{1, 2}"))
    assert "the default of frames must be a whole number or a boolean, not a frame set" in err.message


def test_parameter_error_unknown_override():
    text = scheme(COVER, "T = 8, K = 4, step = 2")
    err = one_error(text, ParameterError, ["stpe=3"])
    rendered = check_rendered(err, text, *pos(text, "s("))  # at the scheme's name
    assert "--set stpe=3: the scheme has no parameter stpe" in rendered
    assert "did you mean step?" in rendered and "parameters: T, K, step" in rendered


def test_parameter_error_non_integer_override():
    text = scheme(COVER, "T = 8, K = 4, step = 2")
    err = one_error(text, ParameterError, ["step=two"])
    rendered = check_rendered(err, text, *pos(text, "step"))  # at the parameter's declaration
    assert "--set step=two: the value must be a whole number" in rendered


def test_parameter_error_boolean_for_a_number():
    text = scheme(COVER, "T = 8, K = 4, step = 2")
    err = one_error(text, ParameterError, ["step=true"])
    check_rendered(err, text, *pos(text, "step"))
    assert "step is a whole number, not true/false" in err.message


def test_boolean_parameter_can_be_overridden():
    text = scheme("    if reverse { stage { generate todo } } else { stage { generate todo } }",
                  "T = 8, K = 8, reverse = false")
    plan = compile_scheme(SourceFile(FILE, text), ["reverse=true"])
    assert plan.params["reverse"] is True
    err = one_error(text, ParameterError, ["reverse=3"])
    assert "reverse is true or false" in err.message


def test_parameter_error_override_out_of_range():
    text = scheme(COVER)
    err = one_error(text, ParameterError, ["T=0"])
    check_rendered(err, text, *pos(text, "T = 8"))
    assert "parameter T must be at least 1, got 0" in err.message


def test_several_parameter_errors_are_all_reported():
    text = scheme(COVER, "T = 8, K = 4, step = 2")
    errors = all_errors(text, ["nope=1", "step=x", "other=2"])
    assert [type(e) for e in errors] == [ParameterError] * 3
    assert [e.column for e in errors] == sorted(e.column for e in errors)


@pytest.mark.parametrize("params,missing", [("K = 4", "T"), ("T = 8", "K"), ("", "T")])
def test_parameter_error_missing_T_or_K(params, missing):
    text = scheme(COVER, params)
    errors = all_errors(text)
    err = next(e for e in errors if f"parameter {missing} " in e.message)
    assert type(err) is ParameterError
    rendered = check_rendered(err, text, *pos(text, "s("))
    assert f"the scheme must declare the parameter {missing}" in rendered
    if params == "":
        assert len(errors) == 2  # both T and K are reported


def test_malformed_set_option():
    with pytest.raises(ParameterError) as info:
        compile_scheme(SourceFile(FILE, scheme(COVER)), ["T"])
    assert "expected NAME=VALUE" in info.value.message
    assert info.value.render().startswith("error[parameter]: ")


# ---- assignment ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body,needle,message",
    [
        ("    K = 3", "K = 3", "K is a parameter (change it with --set) and cannot be assigned"),
        ("    done = {}", "done", "done is built-in state"),
        ("    total = 1", "total", "total is not declared"),
        ("    for i in {1} { i = 2 }", "i = 2", "i is a loop variable and cannot be assigned"),
        ("    let x = 1\n    let x = 2", "x = 2", "x is already declared (line 2)"),
        ("    let todo = {1}", "todo", "todo is built-in state and cannot be declared"),
        ("    let first = 2", "first", "first is a built-in function and cannot be declared"),
    ],
)
def test_assignment_error(body, needle, message):
    text = scheme(body + "\n" + COVER)
    err = one_error(text, AssignmentError)
    check_rendered(err, text, *pos(text, needle))
    assert message in err.message


def test_assignment_type_mismatch_is_a_type_error():
    text = scheme("    let s = {1}\n    s = 3\n" + COVER)
    err = one_error(text, SchemeTypeError)
    check_rendered(err, text, *pos(text, "3\n"))
    assert "s holds a frame set; cannot assign a whole number" in err.message


# ---- evaluation --------------------------------------------------------------------------
def test_evaluation_error_division_by_zero():
    text = scheme("    let zero = K - 8\n    let x = T // zero\n" + COVER)
    err = one_error(text, EvaluationError)
    rendered = check_rendered(err, text, *pos(text, "// zero"))
    assert "division by zero" in rendered


@pytest.mark.parametrize("op", ["/", "%"])
def test_evaluation_error_other_divisions_by_zero(op):
    text = scheme(f"    let x = T {op} (K - 8)\n" + COVER)
    err = one_error(text, EvaluationError)
    check_rendered(err, text, *pos(text, f"{op} ("))


def test_evaluation_error_min_of_empty_set():
    text = scheme("    stage { generate todo }\n    let m = min(todo)")
    err = one_error(text, EvaluationError)
    rendered = check_rendered(err, text, *pos(text, "min(todo)"))
    assert "min() of an empty frame set" in rendered


def test_evaluation_error_given_after_a_stage():
    text = scheme("    stage { generate 0 ..< 4 }\n    given 4 ..< 6\n    stage { generate todo }")
    err = one_error(text, EvaluationError)
    rendered = check_rendered(err, text, *pos(text, "given"))
    assert "given must come before the first stage" in rendered


def test_evaluation_error_bad_range_step():
    text = scheme("    let s = 0 ..< 8 by K - 8\n" + COVER)
    err = one_error(text, EvaluationError)
    check_rendered(err, text, *pos(text, "K - 8"))
    assert "step must be at least 1, got 0" in err.message


def test_evaluation_error_inside_a_loop_names_the_loop_values():
    text = scheme("    for i in 0 ..< 4 {\n        let q = 12 // (2 - i)\n    }\n" + COVER)
    err = one_error(text, EvaluationError)
    check_rendered(err, text, *pos(text, "// (2"))
    assert any("i = 2" in note for note in err.notes), err.notes


# ---- assertion ----------------------------------------------------------------------------
def test_assertion_error_with_message():
    text = scheme('    assert 0 < step < K, "step must be between 1 and K-1"\n' + COVER, "T = 8, K = 4, step = 4")
    err = one_error(text, AssertionFailedError)
    rendered = check_rendered(err, text, *pos(text, "assert"))
    assert "step must be between 1 and K-1" in rendered
    assert "condition: 0 < step < K" in rendered


def test_assertion_error_without_message():
    text = scheme("    assert len(todo) < T\n" + COVER)
    err = one_error(text, AssertionFailedError)
    check_rendered(err, text, *pos(text, "assert"))
    assert err.message == "assertion failed: len(todo) < T"


# ---- stage checks -------------------------------------------------------------------------
def test_stage_too_large():
    text = scheme(
        "    stage { generate 0 ..< 4 }\n"
        "    for i in [4] {\n"
        "        stage { generate i ..< 8; observe 0 ..< 2 }\n"
        "    }",
        "T = 8, K = 4",
    )
    err = one_error(text, StageTooLargeError)
    rendered = check_rendered(err, text, *pos(text, "stage", 1))
    assert "stage 1 has 6 frames but K = 4" in rendered
    assert "i = 4" in rendered
    assert "generates 4: 4-7" in rendered and "observes 2: 0-1" in rendered


def test_generated_twice():
    text = scheme("    stage { generate 0 ..< 4 }\n    stage { generate 2 ..< 6 }\n    stage { generate 6 ..< 8 }")
    err = one_error(text, GeneratedTwiceError)
    rendered = check_rendered(err, text, *pos(text, "generate", 1))
    assert "stage 1 generates frames that are already complete" in rendered
    assert "2-3 already generated by stage 0" in rendered


def test_generated_twice_a_given_frame():
    text = scheme("    given 0 ..< 2\n    stage { generate 1 ..< 5 }\n    stage { generate 5 ..< 8 }")
    err = one_error(text, GeneratedTwiceError)
    check_rendered(err, text, *pos(text, "generate"))
    assert "1 complete from the start (given)" in err.message


def test_empty_stage():
    text = scheme("    stage { generate 0 ..< 4 }\n    stage first_again { generate first(todo, 0); observe 0 }\n"
                  "    stage { generate todo }")
    err = one_error(text, EmptyStageError)
    rendered = check_rendered(err, text, *pos(text, "generate first"))
    assert "stage 1 generates no frames" in rendered
    assert "first_again" in rendered


def test_empty_stage_without_a_generate_clause():
    text = scheme("    stage { observe 0 }\n" + COVER)
    err = one_error(text, EmptyStageError)
    check_rendered(err, text, *pos(text, "stage"))


def test_generate_observe_overlap():
    text = scheme("    stage { generate 0 ..< 4; observe 3 ..< 5 }\n    stage { generate 4 ..< 8 }")
    err = one_error(text, GenerateObserveOverlapError)
    rendered = check_rendered(err, text, *pos(text, "observe"))
    assert "stage 0 both generates and observes frames 3" in rendered


def test_coverage():
    text = scheme("    stage { generate 0 ..< 2 }\n    stage { generate 5 }", "T = 12, K = 4")
    err = one_error(text, CoverageError)
    rendered = check_rendered(err, text, *pos(text, "s("))
    assert "frames 2-4, 6-11 are never generated (9 of 12)" in rendered


def test_coverage_respects_given():
    text = scheme("    given 0 ..< 4\n    stage { generate 4 ..< 8 }")
    compile_scheme(SourceFile(FILE, text))  # no error


def test_marginal_forbidden():
    text = scheme(
        "    stage { generate 0 ..< 2; observe 6 ..< 8 }\n"  # allowed: a marginal
        "    phase strict {\n"
        "        no marginals\n"
        "        stage { generate 2 ..< 4; observe 6 ..< 8 }\n"
        "    }\n"
        "    stage { generate 4 ..< 8 }",
    )
    err = one_error(text, MarginalForbiddenError)
    rendered = check_rendered(err, text, *pos(text, "observe", 1))
    assert "stage 1 observes frames 6-7 before they are complete" in rendered
    assert "complete so far: 0-1" in rendered
    assert "strict" in rendered


def test_no_progress():
    text = scheme("    let n = 0\n    while todo {\n        n = n\n    }")
    err = one_error(text, NoProgressError)
    rendered = check_rendered(err, text, *pos(text, "while"))
    assert "makes no progress" in rendered


def test_loop_limit():
    text = scheme("    let i = 0\n    while i < 100 limit 5 { i = i + 1 }\n" + COVER)
    err = one_error(text, LoopLimitError)
    rendered = check_rendered(err, text, *pos(text, "while"))
    assert "passed its limit of 5 iterations" in rendered


def test_loop_limit_default():
    text = scheme("    let i = 0\n    while i < 10 ** 9 { i = i + 1 }\n" + COVER)
    err = one_error(text, LoopLimitError)
    check_rendered(err, text, *pos(text, "while"))
    assert "limit N" in err.render()  # tells the user how to raise the limit


def test_resource_limit_stages():
    text = scheme("    for f in 0 ..< T { stage { generate f } }", "T = 50, K = 4")
    err = one_error(text, ResourceLimitError, limits=Limits(max_stages=10))
    rendered = check_rendered(err, text, *pos(text, "stage"))
    assert "more than 10 stages" in rendered and "f = 10" in rendered


def test_resource_limit_steps():
    text = scheme("    for a in 0 ..< T { for b in 0 ..< T { } }\n" + COVER, "T = 100, K = 100")
    err = one_error(text, ResourceLimitError, limits=Limits(max_steps=500))
    check_rendered(err, text, *pos(text, "for b"))
    assert "more than 500 loop iterations" in err.message


def test_resource_limit_huge_numbers():
    text = scheme("    let big = 2 ** 4000\n" + COVER)
    err = one_error(text, EvaluationError)
    check_rendered(err, text, *pos(text, "**"))
    assert "too large" in err.message


# ---- several errors, ordering and formatting ---------------------------------------------------
def test_all_static_errors_are_reported_sorted_by_position():
    text = scheme(
        "    let a = nope + 1\n"  # unknown name (line 2)
        "    let b = first(todo)\n"  # arity (line 3)
        "    K = 5\n"  # assignment (line 4)
        "    let c = {1} + {2}\n"  # type (line 5)
        "    stage { generate frist(todo, 1) }\n"  # unknown function (line 6)
    )
    errors = all_errors(text)
    kinds = [type(e) for e in errors]
    assert kinds == [UnknownNameError, ArityError, AssignmentError, SchemeTypeError, UnknownNameError]
    assert [e.line for e in errors] == [2, 3, 4, 5, 6]
    rendered = SchemeErrors(errors).render()
    assert rendered.endswith("5 errors found")
    assert [int(m) for m in re.findall(rf"^{FILE}:(\d+):", rendered, re.M)] == [2, 3, 4, 5, 6]


def test_all_stage_errors_are_reported_sorted_by_position():
    text = scheme(
        "    stage { generate 0 ..< 6 }\n"  # too large (line 2)
        "    stage { generate 5 ..< 7; observe 7 }\n"  # generated twice + overlap? no: 7 observed only
        "    stage { generate 9; observe 9 }\n"  # overlap (line 4)
        "    stage { observe 0 }\n",  # empty (line 5)
        "T = 12, K = 4",
    )
    errors = all_errors(text)
    kinds = [type(e).__name__ for e in errors]
    assert kinds == [
        "CoverageError",  # at the scheme name, line 1
        "StageTooLargeError",
        "GeneratedTwiceError",
        "GenerateObserveOverlapError",
        "EmptyStageError",
    ]
    keys = [(e.line, e.column) for e in errors]
    assert keys == sorted(keys)
    assert "stage 0 has 6 frames" in errors[1].message
    assert "5 already generated by stage 0" in errors[2].message
    assert "frames 7-8, 10-11 are never generated" in errors[0].message


def test_errors_in_a_loop_name_each_stage_and_its_loop_values():
    text = scheme("    for i in 0 ..< 4 {\n        stage { generate i * 2 ..< i * 2 + 2; observe 7 }\n    }", "T = 8, K = 2")
    errors = all_errors(text)
    too_large = [e for e in errors if isinstance(e, StageTooLargeError)]
    assert [e.stage for e in too_large] == [0, 1, 2]
    for e in too_large:
        assert any(f"i = {e.stage}" in n for n in e.notes), e.notes
        assert f"stage {e.stage} " in e.message
    # the last iteration generates 6-7 and observes 7: an overlap, not a too-large stage
    overlap = [e for e in errors if isinstance(e, GenerateObserveOverlapError)]
    assert len(overlap) == 1 and overlap[0].stage == 3 and any("i = 3" in n for n in overlap[0].notes)
    rendered = SchemeErrors(errors).render()
    assert "the same error in 2 more stages: 1-2" in rendered


def test_nested_loop_values_are_all_named():
    text = scheme(
        "    for i in [0, 4] {\n        for c in chunks(i ..< i + 4, 2) {\n"
        "            stage { generate c; observe 7 }\n        }\n    }",
        "T = 8, K = 2",
    )
    errors = all_errors(text)
    last = [e for e in errors if isinstance(e, StageTooLargeError)][-1]
    assert last.stage == 2
    assert any("i = 4" in n and "c = 4-5" in n for n in last.notes), last.notes


def test_frame_lists_are_printed_as_compact_ranges():
    text = scheme("    stage { generate 10 ..< 20 | 30 ..< 33 | 40 }", "T = 50, K = 100")
    err = one_error(text, CoverageError)
    assert "frames 0-9, 20-29, 33-39, 41-49 are never generated (36 of 50)" in err.message
    text = scheme("    stage { generate 10 ..< 20 | 25 }\n    stage { generate 0 ..< 10 }", "T = 26, K = 20")
    err = one_error(text, StageTooLargeError if False else CoverageError)
    assert "20-24" in err.message


def test_render_of_a_multi_character_span_underlines_it():
    text = scheme("    let a = unknown_thing + 1\n" + COVER)
    err = one_error(text, UnknownNameError)
    caret = err.render().splitlines()[2]
    assert caret.strip() == "^" * len("unknown_thing")


def test_caret_lines_up_after_tabs():
    text = "scheme s(T = 8, K = 4) {\n\tlet a = nope\n\tstage { generate todo }\n}\n"
    err = one_error(text, UnknownNameError)
    lines = err.render().splitlines()
    assert (err.line, err.column) == (2, 10)
    assert lines[1] == "    \tlet a = nope"
    assert lines[2] == "    \t        ^^^^"


def test_negative_power_is_checked_where_a_whole_number_is_needed():
    # int ** int is a fraction when the exponent is negative: a clear error, not a crash
    text = scheme("    let s = 0 ..< 2 ** (K - 9)\n" + COVER)
    err = one_error(text, SchemeTypeError)
    check_rendered(err, text, *pos(text, "2 **"))
    assert "a range's end must be a whole number, not 1/2" in err.message
    # with a non-negative exponent the same expression is a whole number
    compile_scheme(SourceFile(FILE, scheme("    stage { generate 0 ..< 2 ** (K - 6) }\n    stage { generate todo }")))


# ---- reserved words, parameter-time errors, oversized built-in results ------------------
@pytest.mark.parametrize("word", ["true", "limit", "stage", "in", "by"])
def test_keywords_cannot_be_declared(word):
    text = scheme(f"    let {word} = 3\n{COVER}")
    err = one_error(text, AssignmentError)
    check_rendered(err, text, *pos(text, word))
    assert "keyword" in err.message


def test_keyword_as_a_loop_variable():
    text = scheme(f"    for no in 0 ..< 3 {{ }}\n{COVER}")
    err = one_error(text, AssignmentError)
    check_rendered(err, text, *pos(text, "no in"))


def test_error_in_a_parameter_default_says_so():
    text = "scheme s(T = 8, K = 8, step = K // 0) {\n    stage { generate todo }\n}\n"
    err = one_error(text, EvaluationError)
    assert any("while evaluating the parameters" in n for n in err.notes), err.notes
    assert not any("stage" in n for n in err.notes), err.notes


def test_chunks_of_a_huge_video_is_refused_up_front():
    # One piece per frame of the longest video: more than a (smaller) bound on the work.
    text = scheme("    for c in chunks(todo, 1) { stage { generate c } }", "T = 1000000, K = 4")
    err = one_error(text, ResourceLimitError, limits=Limits(max_steps=500_000))
    check_rendered(err, text, *pos(text, "chunks"))
