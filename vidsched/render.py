"""Figures of compiled plans, drawn with Graphviz.

Two views of a :class:`~vidsched.plan.Plan` (compiled, or loaded from its JSON and checked):

- ``"stages"``: the paper's figure (Harvey et al. 2022 figs. 3, 5; the inpainting paper's
  fig. 5 and appendix C). One row per stage, one column per frame; a cell is cyan when
  the stage generates the frame, dark red when it observes the complete frame, bright red
  when it observes the frame while it is still incomplete (a marginal), and white when
  the frame is not in the stage. A joint group (windows denoised together) is a row like
  a stage's, over the union of its windows, followed by rows of its windows drawn as
  boxes in one amber band: windows that do not overlap share a row, neighbours in a row
  alternate two shades (then the same for its shifted windows, when it has them).
- ``"graph"``: the stage graph: one node per stage, an edge per dependency (solid for
  data, dashed for order), and one cluster per batch.

The whole figure is built as DOT text (see :func:`stages_dot`, :func:`graph_dot`, usable
without Graphviz installed) and laid out by Graphviz's ``dot`` through the ``graphviz``
Python package. Output format follows the file extension: .svg, .png or .pdf.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from html import escape as _html_escape
from pathlib import Path
from typing import Any

from vidsched.frames_text import compact_ranges
from vidsched.plan import Plan, PlanStage

__all__ = [
    "COLORS",
    "FORMATS",
    "VIEWS",
    "graph_dot",
    "output_format",
    "render_dot",
    "render_plan",
    "stages_dot",
]

#: Cell colours of the stages view (role -> hex colour), as in the paper's figures.
COLORS: dict[str, str] = {
    "generate": "#00bcd4",  # cyan: frames whose unknown pixels are sampled and kept
    "observe": "#8b0000",  # dark red: complete frames that condition the stage
    "marginal": "#ff2020",  # bright red: incomplete frames observed (unknown pixels discarded)
    "none": "#ffffff",  # white: frame not in the stage
}
#: The two alternating shades of a joint group's windows (stages view).
WINDOW_COLORS: tuple[str, str] = ("#ffca28", "#ffe082")
#: Legend text for each role.
ROLE_TEXT: dict[str, str] = {
    "generate": "generate",
    "observe": "observe (complete frame)",
    "marginal": "marginal (incomplete frame)",
    "none": "not in the stage",
}
#: File extension -> Graphviz output format.
FORMATS: dict[str, str] = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
VIEWS: tuple[str, ...] = ("stages", "graph")

#: Above this many frames (without ``frames=``) the stages view warns that it is large.
LARGE_T = 1000
#: The stages view draws at most this many frames (columns) in one figure: pass
#: ``frames=(a, b)`` (``--frames``) to draw a window of a longer video.
MAX_COLUMNS = 20_000

_FONT = "Helvetica"
_GRID_COLOR = "#c0c0c0"
_EDGE_DATA_COLOR = "#37474f"
_EDGE_ORDER_COLOR = "#e53935"
_NODE_FILL = "#e0f7fa"
_NODE_LINE = "#00838f"

_DOT_MISSING = "Graphviz's dot program is not installed; apt-get install graphviz"


# ------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------
def render_plan(
    plan: Plan,
    out_path: str | Path,
    view: str = "stages",
    frames: tuple[int, int] | None = None,
    title: str | None = None,
    *,
    hide_empty_rows: bool = False,
) -> Path:
    """Draw ``plan`` to ``out_path`` (.svg, .png or .pdf, chosen by the extension).

    - ``view="stages"``: rows = stages, columns = frames (the paper's figure), with a
      legend. ``frames=(a, b)`` shows only frames a..b-1 (clipped to the video);
      ``hide_empty_rows=True`` then also drops stages with no frame in that window.
    - ``view="graph"``: the stage graph with batches as clusters (``frames`` is ignored).
    - ``title``: the figure's title; ``None`` for a default one, ``""`` for none.

    Returns the path written. Raises ``ValueError`` for an unknown extension or view, or a
    frame window outside the video; ``RuntimeError`` when Graphviz's ``dot`` is missing or
    fails.
    """
    out = Path(out_path)
    fmt = output_format(out)
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of: {', '.join(VIEWS)}")
    if view == "stages":
        source = stages_dot(plan, frames=frames, title=title, fmt=fmt, hide_empty_rows=hide_empty_rows)
    else:
        source = graph_dot(plan, title=title, fmt=fmt)
    data = render_dot(source, fmt)
    from vidsched.atomic import atomic_write

    # Atomic: a failed write never leaves half a figure under the final name.
    return atomic_write(out, lambda tmp: Path(tmp).write_bytes(data), suffix=out.suffix)


def output_format(path: str | Path) -> str:
    """The Graphviz format for a file name, from its extension; ``ValueError`` otherwise."""
    suffix = Path(path).suffix.lower()
    try:
        return FORMATS[suffix]
    except KeyError:
        got = f"{suffix!r}" if suffix else "no extension"
        raise ValueError(
            f"cannot draw a figure to {str(path)!r}: unsupported output format ({got}); "
            f"use a file name ending in {', '.join(FORMATS)}"
        ) from None


def render_dot(source: str, fmt: str) -> bytes:
    """Lay out DOT ``source`` with Graphviz's ``dot`` and return the ``fmt`` output bytes."""
    if fmt not in FORMATS.values():
        raise ValueError(f"unsupported output format {fmt!r}; expected one of: {', '.join(FORMATS.values())}")
    if shutil.which("dot") is None:
        raise RuntimeError(_DOT_MISSING)
    try:
        import graphviz
    except ImportError:  # the Python package is a dependency, but dot alone is enough
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(source, engine="dot").pipe(format=fmt, quiet=True)
        except graphviz.ExecutableNotFound as exc:
            raise RuntimeError(_DOT_MISSING) from exc
        except graphviz.CalledProcessError as exc:
            raise RuntimeError(f"Graphviz's dot failed: {_stderr_text(exc.stderr)}") from exc
    proc = subprocess.run(["dot", f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed: {_stderr_text(proc.stderr)}")
    return proc.stdout


# ------------------------------------------------------------------------------------
# the stages view (the paper's figure)
# ------------------------------------------------------------------------------------
def stages_dot(
    plan: Plan,
    frames: tuple[int, int] | None = None,
    title: str | None = None,
    fmt: str = "svg",
    hide_empty_rows: bool = False,
) -> str:
    """DOT source of the stages view (see :func:`render_plan`).

    The figure has two nodes: ``grid`` (an HTML-like table: a header row of frame numbers,
    then one row per stage: a stage cell, a batch cell, and one
    cell per shown frame, each its own ``<TD>`` with a fill colour from :data:`COLORS`) and
    ``legend``. In SVG output every frame cell is exactly one filled polygon inside the
    ``grid`` node's group, and no other polygon there is filled.
    """
    T, stages = plan.num_frames, plan.stages
    lo, hi = _frame_window(frames, T)
    if hi - lo > MAX_COLUMNS:
        raise ValueError(
            f"cannot draw {hi - lo:,} frames in one figure (at most {MAX_COLUMNS:,}): draw a window of them "
            "(--frames a-b, or frames=(a, b))"
        )
    if frames is None and T > LARGE_T:
        warnings.warn(
            f"drawing all {T} frames in one figure; pass frames=(a, b) to draw a window",
            stacklevel=3,
        )
    cols = range(lo, hi)
    ncols = hi - lo

    rows = []
    for st in stages:
        roles = _roles(st)
        if hide_empty_rows and not any(lo <= f < hi for f in roles):
            continue
        rows.append((st, roles))

    # geometry: squares for short windows, narrower columns for long ones
    pitch = 14 if ncols <= 64 else 10 if ncols <= 128 else 6 if ncols <= 320 else 4
    row_h = max(pitch, 12)
    border = 1 if pitch >= 10 else 0
    label_pt = 8 if row_h <= 12 else 9
    max_frame = max(hi - 1, 0)
    digits = len(str(max_frame))
    every_frame = ncols <= 64 and digits <= 3
    head_h = 14

    h = _html_escape
    out: list[str] = []
    out.append(
        f'<TABLE BORDER="0" CELLBORDER="{border}" CELLSPACING="0" CELLPADDING="0" COLOR="{_GRID_COLOR}">'
    )
    # header row
    head = [
        f'<TD BORDER="0" ALIGN="LEFT" CELLPADDING="2"><FONT POINT-SIZE="{label_pt}">stage</FONT></TD>'
    ]
    head.append(f'<TD BORDER="0" CELLPADDING="2"><FONT POINT-SIZE="{label_pt}">batch</FONT></TD>')
    if every_frame:
        size = 7 if digits >= 3 else 8
        for f in cols:
            head.append(
                f'<TD BORDER="0" WIDTH="{pitch}" HEIGHT="{head_h}" FIXEDSIZE="TRUE">'
                f'<FONT POINT-SIZE="{size}">{f}</FONT></TD>'
            )
    else:
        tick = _tick_interval(pitch, digits)
        start = lo
        while start < hi:
            stop = min(hi, (start // tick + 1) * tick)
            span = stop - start
            text = str(start) if start % tick == 0 or start == lo else ""
            # A left border marks the tick; a short segment (at the window's edges) gets
            # no text when the number would not fit.
            fits = span * pitch >= digits * 5 + 2
            head.append(
                f'<TD BORDER="1" SIDES="L" COLSPAN="{span}" ALIGN="LEFT" BALIGN="LEFT" '
                f'WIDTH="{span * pitch}" HEIGHT="{head_h}" FIXEDSIZE="TRUE" CELLPADDING="1">'
                + (f'<FONT POINT-SIZE="8">{text}</FONT>' if text and fits else "")
                + "</TD>"
            )
            start = stop
    out.append("<TR>" + "".join(head) + "</TR>")

    # one row per stage
    for st, roles in rows:
        label = f"#{st.index}" + (f" {_short(st.name, 14)}" if st.name else "")
        cells = [
            f'<TD BORDER="0" ALIGN="LEFT" HEIGHT="{row_h}" CELLPADDING="2">'
            f'<FONT POINT-SIZE="{label_pt}">{h(label)}</FONT></TD>'
        ]
        text = f'<FONT POINT-SIZE="{label_pt}" COLOR="#555555">b{plan.batch_of[st.index]}</FONT>'
        cells.append(f'<TD BORDER="0" HEIGHT="{row_h}" CELLPADDING="2">{text}</TD>')
        for f in cols:
            color = COLORS[roles.get(f, "none")]
            cells.append(f'<TD BGCOLOR="{color}" WIDTH="{pitch}" HEIGHT="{row_h}" FIXEDSIZE="TRUE"></TD>')
        out.append("<TR>" + "".join(cells) + "</TR>")
        if st.joint is not None:
            out += _window_rows(st, cols, pitch, row_h, label_pt)
    out.append("</TABLE>")
    grid_label = "".join(out)

    legend_label = _legend_table(plan, lo, hi, T)

    if title is None:
        title = _default_title(plan, T, len(stages), lo, hi)
    graph_attrs = [f'fontname="{_FONT}"', "bgcolor=white", "ranksep=0.15", "nodesep=0.2", "margin=0.1"]
    if title:
        graph_attrs += [f"label={_dot_str(title, left=True)}", "labelloc=t", "labeljust=l", "fontsize=12"]
    if fmt == "png":
        width_pt = ncols * pitch + 120
        height_pt = (len(rows) + 1) * row_h + 80
        dpi = max(72, min(150, int(8000 * 72 / max(width_pt, height_pt))))
        graph_attrs.append(f"dpi={dpi}")
    return "\n".join(
        [
            "digraph vidsched_stages {",
            f"  graph [{', '.join(graph_attrs)}];",
            f'  node [shape=plaintext, margin=0, fontname="{_FONT}"];',
            f"  grid [label=<{grid_label}>];",
            f"  legend [label=<{legend_label}>];",
            "  grid -> legend [style=invis];",
            "}",
            "",
        ]
    )


def window_lanes(windows: list[list[int]]) -> list[list[int]]:
    """Rows of a group's windows (indices into ``windows``): each window goes to the first
    row whose last window ends before it starts (windows sorted by their first frame)."""
    lanes: list[list[int]] = []
    ends: list[int] = []
    for j in sorted(range(len(windows)), key=lambda j: (windows[j][0], windows[j][-1])):
        w = windows[j]
        for lane, end in enumerate(ends):
            if end < w[0]:
                lanes[lane].append(j)
                ends[lane] = w[-1]
                break
        else:
            lanes.append([j])
            ends.append(w[-1])
    return lanes


def _window_rows(st: PlanStage, cols: range, pitch: int, row_h: int, label_pt: int) -> list[str]:
    """The rows under a joint group's row: its windows as boxes (one amber band)."""
    rows = []
    for kind, windows in (("windows", st.joint.windows), ("shifted", st.joint.shifted)):
        for n, lane in enumerate(window_lanes(windows)):
            shade: dict[int, str] = {}
            for k, j in enumerate(lane):
                for f in windows[j]:
                    shade[f] = WINDOW_COLORS[k % 2]
            text = (f"\u2514 {len(windows)} {kind}" if kind == "windows" else f"\u2514 shifted by {st.joint.shift}")
            label = text if n == 0 else ""
            font = f'<FONT POINT-SIZE="{label_pt}" COLOR="#8d6e00">{_html_escape(label)}</FONT>' if label else ""
            cells = [f'<TD BORDER="0" ALIGN="LEFT" HEIGHT="{row_h}" CELLPADDING="2">{font}</TD>',
                     f'<TD BORDER="0" HEIGHT="{row_h}"></TD>']
            for f in cols:
                cells.append(f'<TD BGCOLOR="{shade.get(f, COLORS["none"])}" WIDTH="{pitch}" HEIGHT="{row_h}" '
                             'FIXEDSIZE="TRUE"></TD>')
            rows.append("<TR>" + "".join(cells) + "</TR>")
    return rows


def _legend_table(plan: Plan, lo: int, hi: int, T: int) -> str:
    cells = []
    for role in ("generate", "observe", "marginal", "none"):
        cells.append(
            f'<TD BORDER="1" COLOR="{_GRID_COLOR}" BGCOLOR="{COLORS[role]}" WIDTH="12" HEIGHT="12" FIXEDSIZE="TRUE"></TD>'
            f'<TD ALIGN="LEFT" CELLPADDING="3"><FONT POINT-SIZE="9">{_html_escape(ROLE_TEXT[role])}</FONT></TD>'
        )
    if any(st.joint is not None for st in plan.stages):
        cells.append(
            f'<TD BORDER="1" COLOR="{_GRID_COLOR}" BGCOLOR="{WINDOW_COLORS[0]}" WIDTH="12" HEIGHT="12" '
            'FIXEDSIZE="TRUE"></TD><TD ALIGN="LEFT" CELLPADDING="3"><FONT POINT-SIZE="9">'
            "window of a joint group (denoised together)</FONT></TD>"
        )
    given = [f for f in plan.given if 0 <= f < T]
    notes = []
    if given:
        notes.append(f"given (complete from the start): {compact_ranges(given, limit=6)}")
    if (lo, hi) != (0, T):
        notes.append(f"frames {lo}-{hi - 1} of 0-{T - 1}")
    note_cell = (
        f'<TD ALIGN="LEFT" CELLPADDING="3"><FONT POINT-SIZE="9" COLOR="#555555">'
        f"{_html_escape('; '.join(notes))}</FONT></TD>"
        if notes
        else ""
    )
    return (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0"><TR>'
        + "".join(cells)
        + note_cell
        + "</TR></TABLE>"
    )


def _tick_interval(pitch: int, digits: int) -> int:
    """Frames between labelled ticks: the smallest 'round' interval whose label fits."""
    need = max(digits * 5 + 12, 36)  # label width in points, with room to breathe
    for k in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000):
        if k * pitch >= need:
            return k
    return 10 ** max(1, digits - 1)


def _default_title(plan: Plan, T: int, n_stages: int, lo: int, hi: int) -> str:
    scheme = plan.scheme or "plan"
    text = f"{scheme} (T={T}, K={plan.max_frames}): {n_stages} stage{'s' if n_stages != 1 else ''}"
    batches = plan.batches
    if batches:
        text += f", {len(batches)} batch{'es' if len(batches) != 1 else ''}"
    if (lo, hi) != (0, T):
        text += f"; frames {lo}-{hi - 1}"
    return text


# ------------------------------------------------------------------------------------
# the graph view
# ------------------------------------------------------------------------------------
def graph_dot(plan: Plan, title: str | None = None, fmt: str = "svg") -> str:
    """DOT source of the stage graph (see :func:`render_plan`).

    Nodes are named ``s<index>``; each batch ``b`` is the cluster ``cluster_b<b>``
    (label ``batch b``), batches ranked left to right. Edges come from ``plan.edges``:
    ``"data"`` edges solid, ``"order"`` edges dashed (and red). Invisible edges keep the
    batches in order; they draw nothing.
    """
    stages = plan.stages
    by_index = {st.index: st for st in stages}
    lines = ["digraph vidsched_graph {"]
    n_batches = len(plan.batches)
    if title is None:
        scheme = plan.scheme or "plan"
        title = (
            f"{scheme}: stage graph, {len(stages)} stage{'s' if len(stages) != 1 else ''}"
            + (f" in {n_batches} batch{'es' if n_batches != 1 else ''}" if n_batches else "")
            + "\nsolid: data (observes a frame generated earlier)   "
            "dashed: order (sees a frame as marginal before it is generated)"
        )
    graph_attrs = [
        "rankdir=LR",
        f'fontname="{_FONT}"',
        "bgcolor=white",
        "newrank=true",
        "nodesep=0.15",
        "ranksep=0.45",
    ]
    if title:
        graph_attrs += [f"label={_dot_str(title, left=True)}", "labelloc=t", "labeljust=l", "fontsize=12"]
    if fmt == "png":
        graph_attrs.append("dpi=120")
    lines.append(f"  graph [{', '.join(graph_attrs)}];")
    lines.append(
        f'  node [shape=box, style="rounded,filled", fillcolor="{_NODE_FILL}", color="{_NODE_LINE}", '
        f'fontname="{_FONT}", fontsize=10, margin="0.08,0.04"];'
    )
    lines.append(f'  edge [color="{_EDGE_DATA_COLOR}", arrowsize=0.6, fontname="{_FONT}", fontsize=8];')

    def node_line(st: PlanStage) -> str:
        idx, name = st.index, st.name
        gen = compact_ranges(st.generate, limit=4)
        label = f"#{idx}" + (f" {_short(name, 24)}" if name else "") + f"\ngen {gen or '-'}"
        if st.joint is not None:
            label += f"\njoint: {len(st.joint.windows)} windows" + (f", shift {st.joint.shift}" if st.joint.shift else "")
        tip = [f"stage {idx}" + (f" ({name})" if name else "") + f", line {st.source.line}:{st.source.column}"]
        for role in ("generate", "observe", "marginal"):
            fs = getattr(st, role)
            if fs:
                tip.append(f"{role}: {compact_ranges(fs, limit=12)}")
        return f"s{idx} [label={_dot_str(label)}, tooltip={_dot_str(chr(10).join(tip))}];"

    placed: set[int] = set()
    batch_heads: list[int] = []
    for b, members in enumerate(plan.batches):
        members = [m for m in members if m in by_index and m not in placed]
        lines.append(f"  subgraph cluster_b{b} {{")
        lines.append(
            f'    label="batch {b}"; fontsize=9; fontcolor="#555555"; style="rounded"; color="#b0bec5";'
        )
        for m in members:
            lines.append("    " + node_line(by_index[m]))
            placed.add(m)
        lines.append("  }")
        if members:
            batch_heads.append(members[0])
    for idx, st in by_index.items():
        if idx not in placed:
            lines.append("  " + node_line(st))

    show_labels = len(stages) <= 40
    for i, j, kind in plan.edges:
        if i not in by_index or j not in by_index:
            raise ValueError(f"plan edge {[i, j, kind]!r} names a stage that is not in the plan")
        if kind == "order":
            shared = sorted(set(by_index[i].marginal) & set(by_index[j].generate))
            tip = f"stage {i} sees frames {compact_ranges(shared, limit=12)} as marginal; stage {j} generates them later"
            attrs = [f'style=dashed, color="{_EDGE_ORDER_COLOR}", fontcolor="{_EDGE_ORDER_COLOR}"']
        else:
            shared = sorted(set(by_index[i].generate) & set(by_index[j].observe))
            tip = f"stage {j} observes frames {compact_ranges(shared, limit=12)} generated by stage {i}"
            attrs = ["style=solid"]
        text = compact_ranges(shared, limit=3)
        if show_labels and text:
            attrs.append(f"label={_dot_str(text)}")
        attrs.append(f"tooltip={_dot_str(tip)}")
        lines.append(f"  s{i} -> s{j} [{', '.join(attrs)}];")
    for a, b in zip(batch_heads, batch_heads[1:]):
        lines.append(f"  s{a} -> s{b} [style=invis, weight=0];")
    lines.append("}")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------
def _roles(stage: PlanStage) -> dict[int, str]:
    """frame -> role for one stage. Roles are disjoint in a checked plan; if not, generate
    wins over marginal, and marginal over observe."""
    roles: dict[int, str] = {}
    for role in ("observe", "marginal", "generate"):
        for f in getattr(stage, role):
            roles[f] = role
    return roles


def _frame_window(frames: tuple[int, int] | None, T: int) -> tuple[int, int]:
    if frames is None:
        return 0, T
    try:
        a, b = frames
        a, b = int(a), int(b)
    except (TypeError, ValueError):
        raise ValueError(f"frames must be a pair (first, stop), got {frames!r}") from None
    lo, hi = max(0, a), min(T, b)
    if lo >= hi:
        raise ValueError(f"frames=({a}, {b}) selects no frame of a {T}-frame video (frames 0-{T - 1})")
    return lo, hi


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _dot_str(text: str, left: bool = False) -> str:
    """A DOT double-quoted string. Newlines become line breaks: centred, or left-aligned
    lines when ``left`` (used for multi-line titles)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    if left and "\n" in text:
        text = "".join(line + "\\l" for line in text.split("\n"))
    else:
        text = text.replace("\n", "\\n")
    return f'"{text}"'


def _stderr_text(data: Any) -> str:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    text = (data or "").strip()
    return text or "no error message"

