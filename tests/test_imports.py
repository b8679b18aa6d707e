"""Imports (`import "file.sched"`, `import std.NAME`, `from TARGET import a, b`) and the
shipped library of the paper's building blocks (vidsched/lang/std): what works, and one
test per error, with its file and position."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from vidsched.compiler import compile_scheme, load_scheme_source
from vidsched.errors import (
    AssertionFailedError,
    SchemeErrors,
    SchemeSyntaxError,
    SchemeTypeError,
    SourceFile,
    StageTooLargeError,
    UnknownNameError,
)
from vidsched.lang.imports import SchemeImportError, std_modules, std_root

REPO = Path(__file__).resolve().parents[1]

STEPS = """# helpers
fn half(n) = n // 2

proc step(block, K) {
    stage {
        generate block
        observe last(done, K - len(block))
    }
}
"""

MAIN = """import "lib/steps.sched"

scheme demo(T = 12, K = 4) {
    while todo {
        step(first(todo, half(K)), K)
    }
}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def errors_of(path: Path, **kw) -> list:
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(path, **kw)
    return info.value.errors


def frames(plan) -> list:
    return [(s.generate, s.observe, s.marginal) for s in plan.stages]


# ---- what works -------------------------------------------------------------------------
def test_relative_import_gives_the_plan_of_the_definitions_written_in_place(tmp_path):
    write(tmp_path, {"lib/steps.sched": STEPS, "main.sched": MAIN})
    imported = compile_scheme(tmp_path / "main.sched")
    inline = compile_scheme(SourceFile("inline.sched", STEPS + MAIN.replace('import "lib/steps.sched"\n', "")))
    assert frames(imported) == frames(inline)
    assert imported.stages[0].generate == [0, 1] and len(imported.stages) == 6


def test_relative_paths_start_from_the_importing_file_not_the_working_directory(tmp_path, monkeypatch):
    write(tmp_path, {
        "a/lib/steps.sched": STEPS,
        "a/lib/more.sched": 'import "steps.sched"\nproc two(K) {\n    step(first(todo, 2), K)\n    step(first(todo, 2), K)\n}\n',
        "b/main.sched": 'import "../a/lib/more.sched"\nscheme m(T = 4, K = 4) { two(K) }\n',
    })
    monkeypatch.chdir(tmp_path / "a")
    plan = compile_scheme(tmp_path / "b" / "main.sched")
    assert [s.generate for s in plan.stages] == [[0, 1], [2, 3]]


def test_library_import_and_selective_import(tmp_path):
    whole = "import std.improved_ar\nscheme s(T = 60, K = 8) {\n    improved_ar(0 ..< T by 3, K, 4, 2)\n    fill(0 ..< T, K, 4, 2)\n}\n"
    some = whole.replace("import std.improved_ar", "from std.improved_ar import improved_ar, fill")
    a = compile_scheme(SourceFile("a.sched", whole))
    b = compile_scheme(SourceFile("b.sched", some))
    assert frames(a) == frames(b) and a.stages[0].generate == [0, 3, 6, 9, 12, 15]
    # `from` brings only the names listed
    write(tmp_path, {"c.sched": "from std.improved_ar import fill\nscheme s(T = 6, K = 4) { improved_ar(todo, K, 2, 1) }\n"})
    (err,) = errors_of(tmp_path / "c.sched")
    assert isinstance(err, UnknownNameError) and "improved_ar" in err.message


def test_an_import_brings_only_the_files_own_definitions_and_they_keep_their_own_helpers(tmp_path):
    write(tmp_path, {
        "lib/steps.sched": STEPS,
        "lib/two.sched": 'import "steps.sched"\nproc two(K) {\n    step(first(todo, half(K)), K)\n}\n',
        # `half` here differs from the library's: the library's `two` must use its own
        "main.sched": 'from "lib/two.sched" import two\nfn half(n) = n\nscheme m(T = 4, K = 4) {\n    two(K)\n    two(K)\n}\n',
        "leak.sched": 'import "lib/two.sched"\nscheme m(T = 4, K = 4) { step(todo, K) }\n',
    })
    assert [s.generate for s in compile_scheme(tmp_path / "main.sched").stages] == [[0, 1], [2, 3]]
    (err,) = errors_of(tmp_path / "leak.sched")  # two.sched's own import is not re-exported
    assert isinstance(err, UnknownNameError) and "step" in err.message


def test_a_file_imported_twice_is_one_module_and_no_clash(tmp_path):
    write(tmp_path, {
        "lib/steps.sched": STEPS,
        "lib/a.sched": 'import "steps.sched"\nproc a(K) { step(first(todo, 2), K) }\n',
        "main.sched": 'import "lib/steps.sched"\nimport "lib/steps.sched"\nimport "lib/a.sched"\n'
                      "scheme m(T = 4, K = 4) {\n    a(K)\n    step(todo, K)\n}\n",
    })
    assert [s.generate for s in compile_scheme(tmp_path / "main.sched").stages] == [[0, 1], [2, 3]]


def test_an_imported_file_may_have_a_scheme_block_which_is_ignored(tmp_path):
    write(tmp_path, {"other.sched": STEPS + "scheme other(T = 1, K = 1) { stage { generate 0 } }\n",
                     "main.sched": MAIN.replace("lib/steps.sched", "other.sched")})
    assert len(compile_scheme(tmp_path / "main.sched").stages) == 6


def test_compiling_a_library_alone_says_it_has_no_scheme():
    (err,) = errors_of(std_root() / "ar.sched")
    assert isinstance(err, SchemeSyntaxError) and '"scheme"' in err.message


# ---- the library of the paper's building blocks ----------------------------------------------
LIBRARY_USES = {
    "ar": "import std.ar\nscheme x(T = 200, K = 16, step = K // 2) {\n    no marginals\n    ar(0 ..< T, K, step)\n}\n",
    "hierarchy2": (
        "import std.hierarchy\nscheme y(T = 200, K = 16, step = K // 2) {\n    no marginals\n"
        "    let keys = spread(0 ..< T, K)\n    stage { generate keys }\n    fill_gaps(keys, K, step)\n}\n"
    ),
    "improved_ar_far_future": (
        "from std.improved_ar import improved_ar_far_future\n"
        "scheme z(T = 200, K = 16, step = K // 2, future = K // 4, far = 2 * K) {\n"
        "    improved_ar_far_future(K, step, future, far)\n}\n"
    ),
}


@pytest.mark.parametrize("name", sorted(LIBRARY_USES))
@pytest.mark.parametrize("overrides", [{"T": 40, "K": 8}, {"T": 1000}, {"T": 333, "K": 12, "step": 5}])
def test_library_procedures_reproduce_the_built_in_schemes(name, overrides):
    plan = compile_scheme(SourceFile(f"{name}_lib.sched", LIBRARY_USES[name]), overrides)
    assert frames(plan) == frames(compile_scheme(name, overrides))


def _inlined(name: str) -> SourceFile:
    """The built-in scheme with its `from std.improved_ar import ...` replaced by the
    library's text: the scheme as it was written before it imported."""
    text = load_scheme_source(name).text
    library = (std_root() / "improved_ar.sched").read_text(encoding="utf-8")
    line = "from std.improved_ar import improved_ar, fill\n"
    assert line in text
    return SourceFile(f"{name}_inline.sched", text.replace(line, library))


def _without_positions(plan) -> dict:
    d = json.loads(plan.to_json())
    d.pop("source_file")
    for st in d["stages"]:
        st.pop("source")
        st["context"] = [re.sub(r" of the while at line .*", "", c) for c in st["context"]]
    return d


@pytest.mark.parametrize("name, overrides", [
    ("improved_ar_2res", {"T": 200}), ("improved_ar_2res", {"T": 1000, "K": 8, "stride": 5}),
    ("improved_ar_3res", {"T": 200}), ("improved_ar_3res", {"T": 1000, "K": 8, "coarse": 7, "mid": 3}),
])
def test_multi_resolution_schemes_import_the_library_and_keep_their_plans(name, overrides):
    imported = compile_scheme(name, overrides)
    assert _without_positions(imported) == _without_positions(compile_scheme(_inlined(name), overrides))
    # every position in the plan is in the scheme's own file: the calls of the library
    text = load_scheme_source(name).text.splitlines()
    for st in imported.stages:
        assert re.search(r"\b(improved_ar|fill)\(", text[st.source.line - 1]), (st.index, st.source)
    assert any("of std/improved_ar.sched" in c for st in imported.stages for c in st.context)
    assert imported.to_json() == compile_scheme(name, overrides).to_json()  # deterministic


# The multi-resolution schemes as written by hand before procedures existed (commit
# 62d13ae), compiled: digests of their plans (without positions and statistics).
BEFORE_PROCEDURES = REPO / "tests" / "data" / "multires_before_procedures.json"
MULTIRES_CASES = {
    "improved_ar_2res": [{"T": 200}, {"T": 1000, "K": 8, "stride": 5}, {"T": 5000},
                         {"T": 333, "K": 12, "stride": 2, "step": 3, "future": 5}],
    "improved_ar_3res": [{"T": 200}, {"T": 1000, "K": 8, "coarse": 7, "mid": 3}, {"T": 5000},
                         {"T": 333, "K": 12, "coarse": 12, "mid": 5, "step": 4, "future": 0}],
}


def plan_content(plan) -> dict:
    """What a plan says, without where it was written (positions) or its statistics."""
    d = _without_positions(plan)
    d.pop("stats")
    return d


@pytest.mark.parametrize("name, overrides", [(n, o) for n, cases in MULTIRES_CASES.items() for o in cases])
def test_multi_resolution_schemes_plan_what_they_planned_before_procedures(name, overrides):
    before = json.loads(BEFORE_PROCEDURES.read_text())
    key = name + "@" + ",".join(f"{k}={v}" for k, v in overrides.items())
    content = json.dumps(plan_content(compile_scheme(name, overrides)), sort_keys=True)
    assert hashlib.sha256(content.encode()).hexdigest() == before[key]


def test_the_library_is_package_data():
    assert std_modules() == ["std.ar", "std.hierarchy", "std.improved_ar"]
    assert std_root().is_relative_to(REPO / "vidsched") or "site-packages" in str(std_root())
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "std/*.sched" in data["vidsched.lang"]


# ---- errors -------------------------------------------------------------------------------
def test_import_cycle_is_an_error_at_the_import_that_closes_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # names in messages as the user wrote them: a.sched, b.sched
    write(tmp_path, {
        "a.sched": 'import "b.sched"\nscheme a(T = 4, K = 4) { stage { generate todo } }\n',
        "b.sched": '# b\nimport "a.sched"\nproc p(x) { stage { generate x } }\n',
        "self.sched": 'import "self.sched"\nscheme s(T = 4, K = 4) { stage { generate todo } }\n',
    })
    (err,) = errors_of(Path("a.sched"))
    assert isinstance(err, SchemeImportError) and err.kind == "import"
    assert err.message == "import cycle: a.sched -> b.sched -> a.sched"
    assert err.source.name == "b.sched" and (err.line, err.column) == (2, 1)
    text = err.render()
    assert text.startswith('b.sched:2:1: error[import]') and '    import "a.sched"\n    ^^^^^^^^^^^^^^^^' in text
    assert "b.sched is imported at line 1 of a.sched" in err.notes
    (err,) = errors_of(Path("self.sched"))
    assert err.message == "import cycle: self.sched -> self.sched" and (err.line, err.column) == (1, 1)


def test_missing_file_is_an_error_at_the_import(tmp_path):
    write(tmp_path, {"m.sched": '# m\nimport "lib/nope.sched"\nimport std.nothing\nimport "x.txt"\n'
                                "scheme m(T = 4, K = 4) { stage { generate todo } }\n"})
    errs = errors_of(tmp_path / "m.sched")
    assert [type(e) for e in errs] == [SchemeImportError] * 3
    missing, library, suffix = errs
    assert (missing.line, missing.column) == (2, 8) and 'file not found: "lib/nope.sched"' in missing.message
    assert '    import "lib/nope.sched"\n           ^^^^^^^^^^^^^^^^' in missing.render()
    assert (library.line, library.column) == (3, 8) and "no library named std.nothing" in library.message
    assert any("std.improved_ar" in n for n in library.notes)
    assert (suffix.line, suffix.column) == (4, 8) and ".sched" in suffix.message


def test_a_relative_import_needs_a_file_on_disk():
    with pytest.raises(SchemeErrors) as info:
        compile_scheme(SourceFile("<text>", MAIN))
    (err,) = info.value.errors
    assert isinstance(err, SchemeImportError) and "not a file on disk" in err.message and err.line == 1


def test_name_clashes_are_errors(tmp_path):
    write(tmp_path, {
        "lib/steps.sched": STEPS,
        "lib/steps2.sched": STEPS,
        "two.sched": 'import "lib/steps.sched"\nimport "lib/steps2.sched"\nscheme c(T = 4, K = 4) { stage { generate todo } }\n',
        "local.sched": 'import "lib/steps.sched"\nproc step(a) { stage { generate a } }\n'
                       "scheme c(T = 4, K = 4) { step(todo) }\n",
        "from.sched": 'from "lib/steps.sched" import step, nope\nscheme c(T = 4, K = 4) { stage { generate todo } }\n',
        "ok.sched": 'from "lib/steps.sched" import step\nfrom "lib/steps2.sched" import half\n'
                    "scheme c(T = 4, K = 4) { step(first(todo, half(K)), K); step(todo, K) }\n",
    })
    errs = errors_of(tmp_path / "two.sched")
    assert sorted(e.message for e in errs) == [
        "half is imported twice: from lib/steps.sched and from lib/steps2.sched",
        "step is imported twice: from lib/steps.sched and from lib/steps2.sched",
    ]
    assert all(isinstance(e, SchemeImportError) and (e.line, e.column) == (2, 8) for e in errs)
    (err,) = errors_of(tmp_path / "local.sched")
    assert err.message == "step is declared here and also imported from lib/steps.sched"
    assert (err.line, err.column) == (2, 6)
    (err,) = errors_of(tmp_path / "from.sched")
    assert "declares no procedure or function nope" in err.message and (err.line, err.column) == (1, 37)
    assert len(compile_scheme(tmp_path / "ok.sched").stages) == 2  # selective imports avoid the clash


def test_syntax_error_inside_an_imported_file_points_into_that_file(tmp_path):
    write(tmp_path, {"lib/bad.sched": "proc q(a) {\n    stage { generate a + }\n}\n",
                     "main.sched": '# main\nimport "lib/bad.sched"\nscheme c(T = 4, K = 4) { q(todo) }\n'})
    (err,) = errors_of(tmp_path / "main.sched")
    assert isinstance(err, SchemeSyntaxError) and err.source.name.endswith("lib/bad.sched")
    text = err.render()
    assert re.search(r"lib/bad\.sched:2:26: error\[syntax\]", text)
    assert "        stage { generate a + }\n                             ^" in text
    assert re.search(r"lib/bad\.sched is imported at line 2 of .*main\.sched", text)


def test_type_error_inside_an_imported_procedure_notes_the_call_and_the_import(tmp_path):
    write(tmp_path, {"lib/g.sched": "proc g(a) {\n    let x = a + 1\n    stage { generate todo }\n}\n",
                     "main.sched": 'import "lib/g.sched"\nscheme c(T = 4, K = 4) {\n    g(true)\n}\n'})
    (err,) = errors_of(tmp_path / "main.sched")
    assert isinstance(err, SchemeTypeError) and (err.line, err.column) == (2, 13)
    assert err.source.name.endswith("lib/g.sched")
    assert any(re.fullmatch(r"in proc g, called at line 3, column 5 of .*main\.sched", n) for n in err.notes)
    assert any(n.startswith(f"{err.source.name} is imported at line 1 of") for n in err.notes)


def test_run_time_and_stage_errors_inside_an_imported_file_point_into_it(tmp_path):
    write(tmp_path, {
        "lib/steps.sched": STEPS.replace("K - len(block)", "K - len(block) + 5"),
        "lib/check.sched": 'proc g(a) {\n    assert a < 2, "a is too big"\n}\n',
        "big.sched": MAIN,
        "assert.sched": 'import "lib/check.sched"\nscheme c(T = 4, K = 4) {\n    g(3)\n    stage { generate todo }\n}\n',
    })
    (big := tmp_path / "big.sched").write_text(MAIN)
    errs = errors_of(big)
    assert all(isinstance(e, StageTooLargeError) for e in errs)
    first = errs[0]
    assert first.source.name.endswith("lib/steps.sched") and (first.line, first.column) == (5, 5)
    assert "lib/steps.sched:5:5: error[stage-too-large]" in first.render()
    assert any(re.fullmatch(r"in proc step, called at line 5, column 9 of .*big\.sched", n) for n in first.notes)
    assert any(re.fullmatch(r".*lib/steps\.sched is imported at line 1 of .*big\.sched", n) for n in first.notes)
    (err,) = errors_of(tmp_path / "assert.sched")
    assert isinstance(err, AssertionFailedError) and err.source.name.endswith("lib/check.sched")
    assert (err.line, err.column) == (2, 5)
    assert any(re.fullmatch(r".*lib/check\.sched is imported at line 1 of .*assert\.sched", n) for n in err.notes)


def test_errors_after_an_imported_call_point_back_into_the_scheme(tmp_path):
    # rt.source is restored when the imported body returns (also when it fails)
    write(tmp_path, {"lib/steps.sched": STEPS,
                     "main.sched": 'import "lib/steps.sched"\nscheme c(T = 4, K = 4) {\n    step(first(todo, 2), K)\n'
                                   '    assert false, "after"\n}\n'})
    (err,) = errors_of(tmp_path / "main.sched")
    assert isinstance(err, AssertionFailedError) and err.source.name.endswith("main.sched") and err.line == 4
