"""Procedures (`proc`) and functions (`fn`): a working example and one test per error."""

from __future__ import annotations

import pytest

from vidsched.compiler import compile_scheme
from vidsched.errors import (
    ArityError,
    AssertionFailedError,
    AssignmentError,
    RecursiveCallError,
    ResourceLimitError,
    SchemeErrors,
    SchemeTypeError,
    SourceFile,
    StageTooLargeError,
    UnknownNameError,
)
from vidsched.lang.limits import Limits

DEFS = """fn half(n) = n // 2

proc step(block, K) {
    stage {
        generate block
        observe last(done, K - len(block))
    }
}
"""


def compile_text(text: str, **kw):
    return compile_scheme(SourceFile("t.sched", text), **kw)


def errors_of(text: str, **kw):
    with pytest.raises(SchemeErrors) as info:
        compile_text(text, **kw)
    return info.value.errors


def test_procedure_and_function_give_the_same_plan_as_written_out():
    with_procs = DEFS + "scheme demo(T = 12, K = 4) {\n    while todo {\n        step(first(todo, half(K)), K)\n    }\n}\n"
    inline = (
        "scheme demo(T = 12, K = 4) {\n    while todo {\n        let block = first(todo, K // 2)\n"
        "        stage {\n            generate block\n            observe last(done, K - len(block))\n"
        "        }\n    }\n}\n"
    )
    a, b = compile_text(with_procs), compile_text(inline)
    assert [(s.generate, s.observe) for s in a.stages] == [(s.generate, s.observe) for s in b.stages]
    assert len(a.stages) == 6 and a.stages[0].generate == [0, 1]


def test_procedures_call_each_other_and_use_loops():
    text = DEFS + (
        "proc pairs(K) {\n    for i in 0 ..< 2 {\n        step(first(todo, half(K)), K)\n    }\n}\n"
        "scheme s(T = 8, K = 4) {\n    pairs(K)\n    pairs(K)\n}\n"
    )
    assert [s.generate for s in compile_text(text).stages] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_arity_error_at_the_call():
    (err,) = errors_of(DEFS + "scheme s(T = 8, K = 4) {\n    step(todo)\n}\n")
    assert isinstance(err, ArityError) and (err.line, err.column) == (10, 5)
    assert "step() takes 2 arguments, got 1" in err.message
    assert any("declared at line 3" in n for n in err.notes)


def test_unknown_procedure_is_an_error_at_the_call_with_the_nearest_name():
    (err,) = errors_of(DEFS + "scheme s(T = 8, K = 4) {\n    stepp(todo, K)\n}\n")
    assert isinstance(err, UnknownNameError) and (err.line, err.column) == (10, 5)
    assert err.message == "unknown procedure stepp"
    assert "did you mean step?" in err.notes and "procedures: step" in err.notes
    # an unknown function in an expression: the nearest declared or built-in name
    (err,) = errors_of(DEFS + "scheme s(T = 8, K = 4) {\n    let h = halff(K)\n}\n")
    assert err.message == "unknown function halff" and (err.line, err.column) == (10, 13)
    assert "did you mean half?" in err.notes
    # the arguments of an unknown procedure are still checked
    errs = errors_of("scheme s(T = 8, K = 4) {\n    nope(zz)\n}\n")
    assert [(e.message, e.line, e.column) for e in errs] == [("unknown procedure nope", 2, 5),
                                                            ("unknown name zz", 2, 10)]
    assert any("proc NAME" in n for n in errs[0].notes)


def test_type_error_in_a_function_body_names_the_call():
    (err,) = errors_of(DEFS + "scheme s(T = 8, K = 4) {\n    let h = half(todo)\n}\n")
    assert isinstance(err, SchemeTypeError) and (err.line, err.column) == (1, 14)
    assert "in fn half, called at line 10, column 13" in err.notes


def test_procedure_has_no_value_and_function_value_is_not_thrown_away():
    errs = errors_of(DEFS + "scheme s(T = 8, K = 4) {\n    let x = step(1, K)\n    half(3)\n}\n")
    assert [type(e) for e in errs] == [SchemeTypeError, SchemeTypeError]
    assert "has no value" in errs[0].message and "thrown away" in errs[1].message


def test_error_in_a_body_is_reported_once_not_per_call():
    text = "proc p(n) {\n    let y = zz\n}\nscheme s(T = 8, K = 4) {\n    p(1)\n    p(2)\n}\n"
    (err,) = errors_of(text)
    assert isinstance(err, UnknownNameError) and (err.line, err.column) == (2, 13)


def test_arguments_cannot_be_assigned_and_names_are_checked():
    errs = errors_of("proc p(n) {\n    n = 2\n}\nproc first(a) {\n}\nscheme s(T = 8, K = 4) {\n    p(1)\n}\n")
    assert all(isinstance(e, AssignmentError) for e in errs) and len(errs) == 2
    assert "argument of a procedure" in errs[0].message and "built-in function" in errs[1].message


@pytest.mark.parametrize(
    "defs, line, column",
    [
        ("proc p(n) {\n    p(n - 1)\n}\n", 2, 5),
        ("fn f(n) = f(n) + 1\n\n\n", 1, 11),
        ("proc p(n) {\n    q(n)\n}\nproc q(n) {\n    p(n)\n}\n", 5, 5),
    ],
)
def test_recursion_is_forbidden_at_the_recursive_call(defs, line, column):
    errs = errors_of(defs + "scheme s(T = 4, K = 4) {\n    stage { generate todo }\n}\n")
    assert errs and all(isinstance(e, RecursiveCallError) for e in errs)
    assert (errs[-1].line, errs[-1].column) == (line, column) or (errs[0].line, errs[0].column) == (line, column)
    assert "cannot be recursive" in errs[0].message


def test_runtime_error_in_a_body_names_the_call_site():
    text = 'proc p(n) {\n    assert n < 3, "small n"\n}\nscheme s(T = 8, K = 4) {\n    p(1)\n    p(5)\n}\n'
    (err,) = errors_of(text)
    assert isinstance(err, AssertionFailedError) and (err.line, err.column) == (2, 5)
    assert "in proc p, called at line 6, column 5" in err.notes


def test_stage_error_in_a_body_names_the_call_site():
    text = "proc p(n) {\n    stage { generate first(todo, n) }\n}\nscheme s(T = 6, K = 4) {\n    p(6)\n}\n"
    (err,) = errors_of(text)
    assert isinstance(err, StageTooLargeError) and (err.line, err.column) == (2, 5)
    assert "in proc p, called at line 5, column 5" in err.notes


def test_fuel_applies_inside_procedures():
    text = (
        "fn spin(x) = len(x | x | x | x | x | x | x | x)\n"
        "proc p(K) {\n    let i = 0\n    while i < 100000 limit 100000 {\n        i = i + 1\n        let y = spin(todo)\n    }\n"
        "    stage { generate todo }\n}\nscheme s(T = 8, K = 8) {\n    p(K)\n}\n"
    )
    (err,) = errors_of(text, limits=Limits(max_fuel=20_000, fuel_per_frame=0))
    assert isinstance(err, ResourceLimitError) and "evaluation steps" in err.message
    assert "in proc p, called at line 11, column 5" in err.notes


def test_expansion_is_bounded():
    defs = "proc p0(n) {\n}\n" + "".join(
        f"proc p{i}(n) {{\n    p{i - 1}(n)\n    p{i - 1}(n)\n}}\n" for i in range(1, 16)
    )
    errs = errors_of(defs + "scheme s(T = 8, K = 4) {\n    p15(1)\n    stage { generate todo }\n}\n")
    assert any(isinstance(e, ResourceLimitError) and "10,000 bodies" in e.message for e in errs)


def test_a_long_chain_of_calls_is_an_error_not_a_crash():
    n = 600
    defs = "proc p0(n) {\n    stage { generate todo }\n}\n" + "".join(
        f"proc p{i}(n) {{\n    if n > 0 {{\n        p{i - 1}(n)\n    }}\n}}\n" for i in range(1, n)
    )
    (err,) = errors_of(defs + f"scheme s(T = 4, K = 4) {{\n    p{n - 1}(1)\n}}\n")
    assert isinstance(err, ResourceLimitError) and "nested too deeply" in err.message
