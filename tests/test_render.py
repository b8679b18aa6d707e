"""Tests of vidsched.render (plan figures) and vidsched.frames_text (compact frame text)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from vidsched import render
from vidsched.frames_text import compact_ranges, frame_runs, parse_ranges
from vidsched.plan import Plan
from vidsched.render import COLORS, graph_dot, render_plan, stages_dot

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

SVG = "{http://www.w3.org/2000/svg}"
NAMED = {"white": "#ffffff", "cyan": "#00ffff", "red": "#ff0000", "darkred": "#8b0000", "black": "#000000"}


# --------------------------------------------------------------------------------------
# hand-made plans
# --------------------------------------------------------------------------------------
def _stage(i, name, generate, observe=(), marginal=()):
    return {
        "index": i,
        "name": name,
        "generate": sorted(generate),
        "observe": sorted(observe),
        "marginal": sorted(marginal),
        "source": {"line": 3 + i, "column": 5},
    }


def _plan(T, K, stages, batches, edges, given=(), scheme="test"):
    windows = [len(st["generate"]) + len(st["observe"]) + len(st["marginal"]) for st in stages]
    stats = {"stages": len(stages), "batches": len(batches), "frames": T, "given_frames": len(given),
             "marginal_frames": sum(len(st["marginal"]) for st in stages),
             "distinct_marginal_frames": len({f for st in stages for f in st["marginal"]}),
             "max_window": max(windows), "mean_window": sum(windows) / len(windows), "sampler": "heun",
             "sampler_steps": 1, "evaluations_per_stage": 1, "network_evaluations": len(stages),
             "sequential_network_calls": len(batches)}
    return Plan.model_validate({
        "format": "vidsched.plan/1",
        "scheme": scheme,
        "source_file": f"{scheme}.sched",
        "params": {"T": T, "K": K},
        "num_frames": T,
        "max_frames": K,
        "given": sorted(given),
        "stages": stages,
        "batches": batches,
        "edges": edges,
        "stats": stats,
    })


def improved_ar_plan():
    """T=12, K=6: three AR stages, each also observing two future frames as marginals."""
    stages = [
        _stage(0, "ar", range(2, 6), observe=[0, 1], marginal=[6, 7]),
        _stage(1, "ar", range(6, 10), observe=[4, 5], marginal=[10, 11]),
        _stage(2, "ar", range(10, 12), observe=[6, 7, 8, 9]),
    ]
    edges = [[0, 1, "data"], [1, 2, "data"], [0, 1, "order"], [1, 2, "order"]]
    return _plan(12, 6, stages, [[0], [1], [2]], edges, given=[0, 1], scheme="improved_ar")


def two_res_plan():
    """T=9, K=5: a coarse stage, then two independent fill-in stages in one batch."""
    stages = [
        _stage(0, "coarse", [0, 4, 8]),
        _stage(1, "fill", [1, 2, 3], observe=[0, 4]),
        _stage(2, "fill <&> \"x\"", [5, 6, 7], observe=[4, 8]),
    ]
    edges = [[0, 1, "data"], [0, 2, "data"]]
    return _plan(9, 5, stages, [[0], [1, 2]], edges, scheme="two_res")


def hierarchy_like_plan():
    """Order edges across batches and a stage that sees a future frame as marginal."""
    stages = [
        _stage(0, "key", [0, 10, 19]),
        _stage(1, "mid", [5, 15], observe=[0, 10, 19], marginal=[3, 12]),
        _stage(2, "left", [1, 2, 3, 4], observe=[0, 5]),
        _stage(3, "right", [11, 12, 13, 14], observe=[10, 15]),
        _stage(4, "rest", [6, 7, 8, 9, 16, 17, 18], observe=[5, 10, 15, 19]),
    ]
    edges = [
        [0, 1, "data"],
        [0, 2, "data"],
        [1, 2, "data"],
        [1, 2, "order"],
        [1, 3, "order"],
        [1, 3, "data"],
        [0, 4, "data"],
        [1, 4, "data"],
    ]
    return _plan(20, 8, stages, [[0], [1], [2, 3, 4]], edges, scheme="hier")


PLANS = [improved_ar_plan, two_res_plan, hierarchy_like_plan]


def expected_colours(plan, lo=0, hi=None):
    """Counter of cell colours the stages view must draw, computed from the plan."""
    hi = plan.num_frames if hi is None else hi
    counts = Counter()
    for st in plan.stages:
        for f in range(lo, hi):
            if f in st.generate:
                counts[COLORS["generate"]] += 1
            elif f in st.observe:
                counts[COLORS["observe"]] += 1
            elif f in st.marginal:
                counts[COLORS["marginal"]] += 1
            else:
                counts[COLORS["none"]] += 1
    return counts


# --------------------------------------------------------------------------------------
# SVG helpers
# --------------------------------------------------------------------------------------
def _colour(value):
    value = (value or "").strip().lower()
    return NAMED.get(value, value)


def _groups(root, cls):
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def _title(g):
    t = g.find(f"{SVG}title")
    return "" if t is None else (t.text or "")


def grid_cells(svg_path):
    """(fill colour, x, y) of every filled polygon inside the ``grid`` node."""
    root = ET.parse(svg_path).getroot()
    grids = [g for g in _groups(root, "node") if _title(g) == "grid"]
    assert len(grids) == 1
    cells = []
    for poly in grids[0].iter(f"{SVG}polygon"):
        fill = _colour(poly.get("fill"))
        if fill in ("", "none", "transparent"):
            continue
        pts = [tuple(map(float, p.split(","))) for p in poly.get("points").split()]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        cells.append((fill, round(min(xs), 1), round(min(ys), 1)))
    return cells


# --------------------------------------------------------------------------------------
# frames_text
# --------------------------------------------------------------------------------------
def test_compact_ranges_basic():
    assert compact_ranges([0, 1, 2, 3, 4, 7, 9, 10, 11, 12]) == "0-4, 7, 9-12"
    assert compact_ranges([12, 9, 7, 7, 4, 3, 2, 1, 0, 10, 11]) == "0-4, 7, 9-12"
    assert compact_ranges([]) == ""
    assert compact_ranges([5]) == "5"
    assert compact_ranges([3, 4]) == "3-4"
    assert compact_ranges(range(0, 10, 3)) == "0, 3, 6, 9"
    assert compact_ranges(iter([2, 1])) == "1-2"
    assert compact_ranges([1, 2, 5], sep=",") == "1-2,5"


def test_compact_ranges_limit():
    assert compact_ranges(range(0, 20, 2), limit=3) == "0, 2, 4, ... (+7 frames)"
    assert compact_ranges([0, 1, 2, 10, 20, 21], limit=2) == "0-2, 10, ... (+2 frames)"
    assert compact_ranges([0, 5, 9], limit=2) == "0, 5, ... (+1 frame)"
    assert compact_ranges([0, 5], limit=2) == "0, 5"
    with pytest.raises(ValueError):
        compact_ranges([1], limit=0)


def test_compact_ranges_runs_objects():
    class Runs:  # like vidsched.frames.FrameSet: half-open, sorted, disjoint runs
        runs = ((0, 5), (7, 8), (9, 13), (13, 15))

        def __iter__(self):  # must not be needed
            raise AssertionError("iterated")

    assert frame_runs(Runs()) == [(0, 4), (7, 7), (9, 14)]
    assert compact_ranges(Runs()) == "0-4, 7, 9-14"


def test_compact_ranges_rejects_non_integers():
    with pytest.raises(TypeError):
        compact_ranges([1.5])
    with pytest.raises(TypeError):
        compact_ranges(["3"])


def test_parse_ranges_round_trip():
    for frames in ([], [0], [0, 1, 2, 3, 4, 7, 9, 10, 11, 12], list(range(0, 50, 7)), [3, 4]):
        assert parse_ranges(compact_ranges(frames)) == frames
    assert parse_ranges("0..3 7,9-10") == [0, 1, 2, 3, 7, 9, 10]
    for bad in ("a", "3-", "5-2", "-1", "1.5"):
        with pytest.raises(ValueError):
            parse_ranges(bad)


# --------------------------------------------------------------------------------------
# DOT text (no Graphviz needed)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", PLANS)
def test_stages_dot_one_td_per_cell(make):
    plan = make()
    src = stages_dot(plan)
    grid = src[src.index("grid [label=<") : src.index("legend [label=<")]
    colours = Counter(c.lower() for c in re.findall(r'<TD BGCOLOR="(#[0-9a-fA-F]{6})"', grid))
    assert colours == expected_colours(plan)


def test_stages_dot_window_and_hidden_rows():
    plan = hierarchy_like_plan()
    src = stages_dot(plan, frames=(10, 15))
    grid = src[src.index("grid [label=<") : src.index("legend [label=<")]
    assert len(re.findall(r"<TD BGCOLOR=", grid)) == 5 * len(plan.stages)
    # stage 2 generates 1-4 and observes 0, 5: nothing in 10..14, so it is hidden
    src = stages_dot(plan, frames=(10, 15), hide_empty_rows=True)
    grid = src[src.index("grid [label=<") : src.index("legend [label=<")]
    assert len(re.findall(r"<TD BGCOLOR=", grid)) == 5 * (len(plan.stages) - 1)
    assert "#2 left" not in grid and "#3 right" in grid


def test_stages_dot_escapes_names_and_titles():
    src = stages_dot(two_res_plan(), title='a "quoted" title\\ with <html>')
    assert "fill &lt;&amp;&gt; &quot;x&quot;" in src
    assert 'label="a \\"quoted\\" title\\\\ with <html>"' in src


def test_stages_dot_warns_for_long_videos():
    plan = _plan(1200, 16, [_stage(0, "all", range(0, 16))], [[0]], [])
    with pytest.warns(UserWarning, match="frames=\\(a, b\\)"):
        stages_dot(plan)
    stages_dot(plan, frames=(0, 100))  # no warning with a window


def test_long_video_header_is_sparse():
    plan = _plan(500, 16, [_stage(0, "all", range(0, 16))], [[0]], [])
    src = stages_dot(plan, frames=(0, 500))
    header = src[src.index("<TR>") : src.index("</TR>")]
    labels = [int(x) for x in re.findall(r">(\d+)</FONT>", header)]
    assert labels and labels[0] == 0 and len(labels) <= 60
    assert all(b - a >= 10 for a, b in zip(labels, labels[1:]))


@pytest.mark.parametrize(
    "frames", [(5, 5), (20, 30), (-10, 0), ("a", 3), (1, 2, 3)], ids=["empty", "beyond", "before", "str", "triple"]
)
def test_bad_frame_window(frames):
    with pytest.raises(ValueError):
        stages_dot(improved_ar_plan(), frames=frames)


def test_bad_plans():
    """A Plan is typed (malformed JSON never becomes one); an unchecked plan with an edge
    to a missing stage is still named, not drawn."""
    plan = improved_ar_plan().model_copy(update={"edges": [(0, 9, "data")]})
    with pytest.raises(ValueError, match="not in the plan"):
        graph_dot(plan)


def test_graph_dot_structure():
    plan = hierarchy_like_plan()
    src = graph_dot(plan)
    assert len(re.findall(r"subgraph cluster_b\d+ \{", src)) == 3
    assert 'label="#0 key\\ngen 0, 10, 19"' in src
    assert 'label="#4 rest\\ngen 6-9, 16-18"' in src
    assert src.count("style=dashed") == 2


@pytest.mark.parametrize("name", ["plan.txt", "plan", "plan.jpeg", "plan.svgz", "plan.dot"])
def test_bad_extension(tmp_path, name):
    with pytest.raises(ValueError, match="\\.svg, \\.png, \\.pdf"):
        render_plan(improved_ar_plan(), tmp_path / name)
    assert not (tmp_path / name).exists()


def test_bad_view(tmp_path):
    with pytest.raises(ValueError, match="view"):
        render_plan(improved_ar_plan(), tmp_path / "x.svg", view="gantt")


def test_missing_dot_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        render_plan(improved_ar_plan(), tmp_path / "x.svg")


# --------------------------------------------------------------------------------------
# rendered output (needs Graphviz's dot)
# --------------------------------------------------------------------------------------
@needs_dot
@pytest.mark.parametrize("make", PLANS)
def test_svg_has_one_polygon_per_cell(tmp_path, make):
    plan = make()
    out = render_plan(plan, tmp_path / "plan.svg")
    assert out == tmp_path / "plan.svg"
    cells = grid_cells(out)
    assert Counter(fill for fill, _, _ in cells) == expected_colours(plan)
    # one polygon per (stage, frame): distinct positions on a stages x frames lattice
    assert len({(x, y) for _, x, y in cells}) == len(cells)
    assert len({x for _, x, _ in cells}) == plan.num_frames
    assert len({y for _, _, y in cells}) == len(plan.stages)


@needs_dot
def test_svg_cells_are_in_frame_order(tmp_path):
    plan = improved_ar_plan()
    cells = grid_cells(render_plan(plan, tmp_path / "plan.svg"))
    xs = sorted({x for _, x, _ in cells})
    ys = sorted({y for _, _, y in cells})
    by_pos = {(x, y): fill for fill, x, y in cells}
    for row, st in zip(ys, plan.stages):
        for f, x in enumerate(xs):
            role = next((r for r in ("generate", "observe", "marginal") if f in getattr(st, r)), "none")
            assert by_pos[(x, row)] == COLORS[role], (st.index, f)


@needs_dot
def test_svg_window(tmp_path):
    plan = hierarchy_like_plan()
    cells = grid_cells(render_plan(plan, tmp_path / "w.svg", frames=(8, 16)))
    assert Counter(fill for fill, _, _ in cells) == expected_colours(plan, 8, 16)
    assert len(cells) == 8 * len(plan.stages)


@needs_dot
def test_svg_legend_and_title(tmp_path):
    out = render_plan(improved_ar_plan(), tmp_path / "t.svg", title="My scheme")
    text = out.read_text()
    for words in ("generate", "observe", "marginal", "My scheme", "given"):
        assert words in text
    out = render_plan(improved_ar_plan(), tmp_path / "u.svg", title="")
    assert "My scheme" not in out.read_text() and "improved_ar" not in out.read_text()


@needs_dot
@pytest.mark.parametrize("view", ["stages", "graph"])
@pytest.mark.parametrize(
    "ext,magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"), (".svg", b"<?xml"), (".PNG", b"\x89PNG")]
)
def test_formats(tmp_path, view, ext, magic):
    out = render_plan(two_res_plan(), tmp_path / "sub" / f"fig{ext}", view=view)
    data = out.read_bytes()
    assert len(data) > 200
    assert data.startswith(magic)


@needs_dot
def test_dot_without_python_package(tmp_path, monkeypatch):
    """Falls back to running dot directly when the graphviz package cannot be imported."""
    monkeypatch.setitem(__import__("sys").modules, "graphviz", None)
    plan = improved_ar_plan()
    cells = grid_cells(render_plan(plan, tmp_path / "p.svg"))
    assert Counter(fill for fill, _, _ in cells) == expected_colours(plan)


@needs_dot
def test_dot_failure_is_runtime_error():
    with pytest.raises(RuntimeError, match="dot failed"):
        render.render_dot("digraph { a -> }", "svg")


@needs_dot
@pytest.mark.parametrize("make", PLANS)
def test_graph_view(tmp_path, make):
    plan = make()
    root = ET.parse(render_plan(plan, tmp_path / "g.svg", view="graph")).getroot()
    nodes = _groups(root, "node")
    assert sorted(_title(n) for n in nodes) == sorted(f"s{st.index}" for st in plan.stages)
    clusters = _groups(root, "cluster")
    assert sorted(_title(c) for c in clusters) == sorted(f"cluster_b{b}" for b in range(len(plan.batches)))
    # each stage node sits inside its batch's cluster box
    for b, members in enumerate(plan.batches):
        box = next(c for c in clusters if _title(c) == f"cluster_b{b}")
        x0, y0, x1, y1 = _bbox(_shape(box))
        for m in members:
            node = next(n for n in nodes if _title(n) == f"s{m}")
            nx0, ny0, nx1, ny1 = _bbox(_shape(node))
            assert x0 <= nx0 and nx1 <= x1 and y0 <= ny0 and ny1 <= y1
    edges = _groups(root, "edge")
    drawn = [e for e in edges if e.find(f".//{SVG}path") is not None]
    dashed = [e for e in drawn if e.find(f".//{SVG}path").get("stroke-dasharray")]
    n_order = sum(1 for e in plan.edges if e[2] == "order")
    assert len(drawn) == len(plan.edges)
    assert len(dashed) == n_order


@needs_dot
def test_graph_labels(tmp_path):
    text = render_plan(hierarchy_like_plan(), tmp_path / "g.svg", view="graph").read_text()
    assert "#4 rest" in text and "gen 6&#45;9, 16&#45;18" in text
    assert "batch 2" in text


def _shape(g):
    """The outline of a node or cluster: its first path (rounded) or polygon."""
    shape = next((el for el in g.iter() if el.tag in (f"{SVG}path", f"{SVG}polygon")), None)
    assert shape is not None, _title(g)
    return shape


def _bbox(el):
    if el.tag == f"{SVG}polygon":
        pts = [tuple(map(float, p.split(","))) for p in el.get("points").split()]
    else:
        nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", el.get("d"))]
        pts = list(zip(nums[0::2], nums[1::2]))
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)
