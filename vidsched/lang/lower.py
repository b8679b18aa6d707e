"""Lowering, the compiler's last pass: validated stages -> :class:`~vidsched.plan.Plan`.

It builds the stage graph (networkx), the batches of mutually independent stages and
the summary statistics; the graph's semantics are in :mod:`vidsched.plan`.
"""

from __future__ import annotations

import networkx as nx

from vidsched.frames import FrameSet
from vidsched.lang.validate import CheckedStage, Specialisation, ValidatedStages
from vidsched.plan import PLAN_FORMAT, PLAN_FORMAT_JOINT, JointWindows, MaskReport, Plan, PlanStage, PlanStats, SourcePos


def stage_graph(validated: ValidatedStages) -> nx.DiGraph:
    """Edges i -> j: data dependencies and the order constraints that keep marginals valid."""
    g = nx.DiGraph()
    generator: dict[int, int] = {}
    for st in validated.stages:
        g.add_node(st.index)
        for f in st.generate:
            generator[f] = st.index
    for st in validated.stages:
        for f in st.complete:
            src = generator.get(f)
            if src is not None and src != st.index:
                g.add_edge(src, st.index, kind="data")
        for f in st.marginal:
            later = generator.get(f)
            if later is not None and not g.has_edge(st.index, later):
                g.add_edge(st.index, later, kind="order")
    return g


def batch_layers(graph: nx.DiGraph, num_stages: int) -> list[int]:
    """Batch of each stage, as early as its edges allow.

    A data edge i -> j puts j in a later batch than i. An order edge i -> j (i sees a
    frame as marginal that j generates) only keeps j from an *earlier* batch: in the
    same batch j's output is written after every window of the batch has been read, so
    i still sees the frame incomplete.
    """
    layer = [0] * num_stages
    for j in range(num_stages):  # edges point forward, so program order is topological
        if j not in graph:
            continue
        for i, attrs in graph.pred[j].items():
            need = layer[i] + (1 if attrs["kind"] == "data" else 0)
            if need > layer[j]:
                layer[j] = need
    return layer


def shifted_windows(frames: FrameSet, windows: tuple[FrameSet, ...], shift: int, K: int) -> list[list[int]]:
    """A group's windows moved ``shift`` frames later *along the group* (the member
    ``shift`` places after each, so gaps such as observed keyframes count as frames
    of the group): members moved past the group's last frame drop out, and the members no
    moved window holds (the first ``shift`` ones, for sliding windows) are added as
    windows of at most K consecutive members. Sorted by first frame, duplicates dropped."""
    members = frames.to_list()
    position = {f: i for i, f in enumerate(members)}
    n = len(members)
    moved: list[list[int]] = []
    seen: set[tuple[int, ...]] = set()
    covered = [False] * n
    for w in windows:
        new = [position[f] + shift for f in w if position[f] + shift < n]
        key = tuple(new)
        if new and key not in seen:
            seen.add(key)
            moved.append([members[p] for p in new])
            for p in new:
                covered[p] = True
    left = [p for p in range(n) if not covered[p]]
    for start in range(0, len(left), K):
        moved.append([members[p] for p in left[start : start + K]])
    moved.sort()
    return moved


def _joint(st: CheckedStage, K: int) -> JointWindows | None:
    if st.windows is None:
        return None
    windows = sorted(w.to_list() for w in st.windows)
    frames = st.generate | st.complete | st.marginal
    shift = st.raw.shift
    shifted = shifted_windows(frames, tuple(FrameSet.of(w) for w in windows), shift, K) if shift else []
    return JointWindows(windows=windows, shift=shift, shifted=shifted)


def lower(
    validated: ValidatedStages,
    *,
    sampler: str,
    steps: int,
    evaluations_per_stage: int,
    source_file: str = "",
    specialisation: Specialisation | None = None,
) -> Plan:
    """Validated stages -> :class:`Plan`.

    ``sampler``, ``steps`` and ``evaluations_per_stage`` (the network evaluations one
    stage costs with them, from :mod:`vidsched.diffusion.registry`) go into the plan's
    statistics; the compiler does not know samplers itself."""
    stage_list = validated.stage_list
    graph = stage_graph(validated)
    layer = batch_layers(graph, len(validated.stages))
    batches: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for idx, b in enumerate(layer):
        batches[b].append(idx)
    per_stage = evaluations_per_stage
    stages = [
        PlanStage(
            index=st.index,
            name=st.raw.name,
            generate=st.generate.to_list(),
            observe=st.complete.to_list(),
            marginal=st.marginal.to_list(),
            source=SourcePos(line=st.raw.plan_span.line, column=st.raw.plan_span.column),
            context=list(st.raw.context),
            joint=_joint(st, stage_list.max_frames),
        )
        for st in validated.stages
    ]
    windows = []  # the size of every window (each of a group's)
    for st in stages:
        windows += [len(st.generate) + len(st.observe) + len(st.marginal)] if st.joint is None else [len(w) for w in st.joint.windows]
    marginal_union = set()
    for st in validated.stages:
        marginal_union.update(st.marginal)
    stats = PlanStats(
        stages=len(stages),
        batches=len(batches),
        frames=stage_list.num_frames,
        given_frames=len(validated.known),
        marginal_frames=sum(len(st.marginal) for st in validated.stages),
        distinct_marginal_frames=len(marginal_union),
        max_window=max(windows, default=0),
        mean_window=round(sum(windows) / len(windows), 3) if windows else 0.0,
        sampler=sampler,
        sampler_steps=steps,
        evaluations_per_stage=per_stage,
        network_evaluations=sum(st.evaluations(per_stage) for st in stages),
        sequential_network_calls=per_stage * len(batches),
    )
    mask = None
    if specialisation is not None:
        mask = MaskReport(
            complete_frames=len(specialisation.complete_frames),
            stages_before=specialisation.stages_before,
            stages_after=specialisation.stages_after,
            stages_saved=specialisation.stages_before - specialisation.stages_after,
            frames_generated_before=specialisation.frames_generated_before,
            frames_generated_after=specialisation.frames_generated_after,
            network_evaluations_saved=per_stage * (specialisation.stages_before - specialisation.stages_after),
        )
    edges = sorted((i, j, d["kind"]) for i, j, d in graph.edges(data=True))
    return Plan(
        format=PLAN_FORMAT_JOINT if any(st.joint is not None for st in stages) else PLAN_FORMAT,
        scheme=stage_list.scheme,
        source_file=source_file,
        params=dict(stage_list.params),
        num_frames=stage_list.num_frames,
        max_frames=stage_list.max_frames,
        given=validated.known.to_list(),
        stages=stages,
        batches=batches,
        edges=edges,
        stats=stats,
        mask=mask,
    )
