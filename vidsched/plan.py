"""The execution plan: the compiler's output and the runtime's input.

A plan is plain data (ints and lists, JSON-serialisable, ``format: "vidsched.plan/1"``)
described by frozen pydantic models, so the runtime and scripts can load a plan file and
get a validation error instead of a crash when it is malformed; :func:`check_plan`
checks the invariants a compiled plan has. This module is the contract between the
compiler and the runtime and imports neither: the compiler's last pass
(:func:`vidsched.lang.lower.lower`) builds a plan from validated stages, and the runtime,
the renderer and the CLI read it.

Graph semantics. Stages are numbered in program order. Edge i -> j ("data") when stage
j observes a frame that stage i generates; edge j -> i ("order") when stage j observes
frame f as a marginal (still incomplete) and stage i generates f later: i must not run
before j, or j would see a finished frame instead of an incomplete one. Every edge
points forward in program order, so the graph is acyclic. Batches are its layers: a
stage's batch is one more than the latest batch among its data predecessors and no
earlier than its order predecessors' batch. The runtime reads every window of a batch
before it writes any generated frame, so all stages of a batch see exactly what they
would see run one by one in program order. A stage's batch is recorded once, in the
plan's ``batches`` (ask :attr:`Plan.batch_of`); plans written by earlier versions also
carry ``batch`` on every stage, and are read as long as the two agree.

Joint groups (``vidsched.plan/2``). A stage may be a *group* of windows denoised
together (temporal MultiDiffusion): its ``generate`` / ``observe`` / ``marginal`` lists
cover the union of its windows (which may hold more than K frames), and ``joint`` lists
the windows, each at most K frames, together holding every frame of the group. The
runtime samples the union in one sampler run; every network evaluation runs each window
and averages a frame's estimate over the windows that hold it (``joint.shifted``: the
windows of the odd evaluations, when ``joint.shift`` > 0). Everything else treats the
group as one stage: one node of the graph, one member of a batch, one random stream. A
plan with a group says ``format: "vidsched.plan/2"``; a plan without one is written
exactly as before (``vidsched.plan/1``, no ``joint`` key), and both are read.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from vidsched.errors import VidschedError

PLAN_FORMAT = "vidsched.plan/1"
#: The format of a plan with joint groups (stages with ``joint``); every other field as /1.
PLAN_FORMAT_JOINT = "vidsched.plan/2"
PLAN_FORMATS = (PLAN_FORMAT, PLAN_FORMAT_JOINT)
#: The most frames a plan may have: the compiler's largest T (``Limits().max_frames``, a
#: test checks they agree).
MAX_FRAMES = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourcePos(_Model):
    line: int
    column: int


class JointWindows(_Model):
    """The windows of a joint group (frame lists, sorted, each at most K frames)."""

    windows: list[list[int]]
    shift: int = Field(0, description="frames of the group the windows move on alternate evaluations")
    shifted: list[list[int]] = Field(default_factory=list, description="the windows of odd evaluations (shift > 0)")

    def windows_at(self, evaluation: int) -> list[list[int]]:
        """The windows of network evaluation number ``evaluation`` (0, 1, ...)."""
        return self.shifted if evaluation % 2 and self.shifted else self.windows

    def evaluations(self, per_stage: int) -> int:
        """Window evaluations of the group's sampler run (``per_stage`` evaluations)."""
        odd = per_stage // 2
        return (per_stage - odd) * len(self.windows) + odd * len(self.shifted or self.windows)


class PlanStage(_Model):
    index: int
    name: str
    generate: list[int]
    observe: list[int] = Field(description="complete observations: every pixel known")
    marginal: list[int] = Field(description="incomplete observations: sampled jointly, discarded")
    source: SourcePos
    context: list[str] = Field(default_factory=list, description="loop values when the stage was emitted")
    joint: JointWindows | None = Field(None, description="a group of windows denoised together (plan/2)")

    @model_serializer(mode="wrap")
    def _without_absent_joint(self, handler):
        data = handler(self)
        if data.get("joint", 0) is None:  # a stage is written as in vidsched.plan/1
            del data["joint"]
        return data

    @property
    def window(self) -> list[int]:
        """Its frames (a group's: the union of its windows)."""
        return sorted(self.generate + self.observe + self.marginal)

    def evaluations(self, per_stage: int) -> int:
        """Network evaluations (of one window each) of this stage's sampler run."""
        return per_stage if self.joint is None else self.joint.evaluations(per_stage)


class PlanStats(_Model):
    stages: int
    batches: int
    frames: int
    given_frames: int
    marginal_frames: int = Field(description="marginal slots summed over stages")
    distinct_marginal_frames: int
    max_window: int
    mean_window: float
    sampler: str
    sampler_steps: int
    evaluations_per_stage: int
    network_evaluations: int
    sequential_network_calls: int = Field(description="batches x evaluations per stage")


class MaskReport(_Model):
    complete_frames: int = Field(description="frames the mask leaves without a hole")
    stages_before: int
    stages_after: int
    stages_saved: int
    frames_generated_before: int
    frames_generated_after: int
    network_evaluations_saved: int


class Plan(_Model):
    format: Literal["vidsched.plan/1", "vidsched.plan/2"] = PLAN_FORMAT
    scheme: str
    source_file: str
    params: dict[str, int | bool]
    num_frames: int
    max_frames: int
    given: list[int]
    stages: list[PlanStage]
    batches: list[list[int]]
    edges: list[tuple[int, int, Literal["data", "order"]]]
    stats: PlanStats
    mask: MaskReport | None = None

    @model_validator(mode="before")
    @classmethod
    def _without_legacy_stage_batches(cls, data):
        """Plans written before ``batches`` was the only record of a stage's batch also
        carry ``batch`` on each stage: take those out, refusing one ``batches`` contradicts."""
        stages = data.get("stages") if isinstance(data, dict) else None
        if not isinstance(stages, list) or not any(isinstance(st, dict) and "batch" in st for st in stages):
            return data
        batch_of = _batch_numbers(data.get("batches"))
        kept = []
        for pos, st in enumerate(stages):
            if isinstance(st, dict) and "batch" in st:
                st = dict(st)  # the caller's data stays as it was
                said, index = st.pop("batch"), st.get("index", pos)
                if isinstance(index, int) and index in batch_of and said != batch_of[index]:
                    raise PlanError(f"stage {index} says batch {said} but the batches list puts it in batch "
                                    f"{batch_of[index]}")
            kept.append(st)
        return {**data, "stages": kept}

    @cached_property
    def batch_of(self) -> dict[int, int]:
        """Stage index -> the number of its batch (its position in ``batches``); built once
        per plan (plans are frozen)."""
        return _batch_numbers(self.batches)

    def to_json(self, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    def graph(self) -> nx.DiGraph:
        """The stage graph as networkx (node attribute ``batch``, edge attribute ``kind``)."""
        g = nx.DiGraph()
        for st in self.stages:
            g.add_node(st.index, batch=self.batch_of[st.index], name=st.name)
        for i, j, kind in self.edges:
            g.add_edge(i, j, kind=kind)
        return g


def _batch_numbers(batches) -> dict[int, int]:
    """Stage index -> the first batch that lists it (anything but lists of ints skipped:
    the legacy reader sees ``batches`` before pydantic has checked it)."""
    out: dict[int, int] = {}
    for b, members in enumerate(batches if isinstance(batches, list) else ()):
        for i in members if isinstance(members, list) else ():
            if isinstance(i, int):
                out.setdefault(i, b)
    return out


# ---- checking a plan loaded from a file ---------------------------------------------------------
class PlanError(VidschedError):
    """A plan (JSON) that breaks the invariants every compiled plan satisfies."""


def check_plan(plan: Plan) -> Plan:
    """Check the invariants of a plan loaded from a file (the compiler's output satisfies
    them by construction); :class:`PlanError` naming the first one broken, else ``plan``.

    * ``num_frames`` is 1 .. the compiler's limit on T, ``max_frames`` (K) at least 1;
    * frame lists are sorted, without duplicates, inside ``0..T-1``; a stage's three roles
      are disjoint and hold at most K frames together; every stage generates a frame;
    * each frame is generated at most once and never when given, and every frame is
      generated or given; in program order ``observe`` lists only complete frames and
      ``marginal`` only incomplete ones;
    * stage indices are ``0..n-1``; the batches partition the stages (a legacy file's
      stage-level ``batch`` values are checked against them when it is read); every edge
      points forward between existing stages, with batch(i) < batch(j) for data and
      batch(i) <= batch(j) for order edges, and every frame a stage observes from an
      earlier stage has its data edge;
    * run batch by batch, every stage sees the complete / marginal split of program order;
    * ``stats`` count the same stages, batches and frames.

    The work is linear in the plan's size (never in T alone), so any file checks quickly.
    """
    T, K, stages = plan.num_frames, plan.max_frames, plan.stages
    n = len(stages)
    limit = MAX_FRAMES
    if not 1 <= T <= limit:
        raise PlanError(f"num_frames = {T:,} is outside 1..{limit:,} (the most frames a plan may have)")
    if K < 1:
        raise PlanError(f"max_frames (K) = {K} must be at least 1")

    def frames(xs) -> str:
        from vidsched.frames_text import compact_ranges

        return compact_ranges(sorted(xs), limit=8) if xs else "-"

    def check_list(where: str, xs: list[int]) -> None:
        if any(a >= b for a, b in zip(xs, xs[1:])):
            raise PlanError(f"{where} is not sorted or has duplicates")
        outside = [f for f in xs if not 0 <= f < T]
        if outside:
            raise PlanError(f"{where} has frames {frames(outside)} outside 0..{T - 1} (num_frames = {T})")

    check_list("given", plan.given)
    complete = set(plan.given)
    generated_by: dict[int, int] = {}
    for pos, st in enumerate(stages):
        where = f"stage {st.index} ({st.name})" if st.name else f"stage {st.index}"
        if st.index != pos:
            raise PlanError(f"the stage at position {pos} has index {st.index} (stages must be numbered 0..{n - 1})")
        for role in ("generate", "observe", "marginal"):
            check_list(f"{where}: {role}", getattr(st, role))
        gen, obs, mar = set(st.generate), set(st.observe), set(st.marginal)
        if not gen:
            raise PlanError(f"{where} generates no frame")
        for (a, sa), (b, sb) in ((("generate", gen), ("observe", obs)), (("generate", gen), ("marginal", mar)),
                                 (("observe", obs), ("marginal", mar))):
            if sa & sb:
                raise PlanError(f"{where}: frames {frames(sa & sb)} are both in {a} and in {b}")
        if st.joint is not None:
            if plan.format == PLAN_FORMAT:
                raise PlanError(f"{where} is a joint group, which a {PLAN_FORMAT} plan cannot have "
                                f"(format {PLAN_FORMAT_JOINT})")
            _check_windows(where, st.joint, gen | obs | mar, K, check_list)
        elif len(gen) + len(obs) + len(mar) > K:
            raise PlanError(f"{where} has {len(gen) + len(obs) + len(mar)} frames but K = {K}")
        if gen & complete:
            raise PlanError(f"{where} generates frames {frames(gen & complete)} that are already complete "
                            "(given, or generated by an earlier stage)")
        if obs - complete:
            raise PlanError(f"{where} observes frames {frames(obs - complete)} as complete before they are")
        if mar & complete:
            raise PlanError(f"{where} lists frames {frames(mar & complete)} as marginal but they are complete")
        for f in gen:
            generated_by[f] = st.index
        complete |= gen
    if len(complete) != T:  # every member is in 0..T-1, so only a count is needed
        raise PlanError(f"{T - len(complete):,} of the {T:,} frames are neither given nor generated by any stage")

    batch_of: dict[int, int] = {}
    for b, members in enumerate(plan.batches):
        if not members:
            raise PlanError(f"batch {b} is empty")
        for i in members:
            if not 0 <= i < n:
                raise PlanError(f"batch {b} lists stage {i}, but the plan has {n} stages (0..{n - 1})")
            if i in batch_of:
                raise PlanError(f"stage {i} is in batches {batch_of[i]} and {b}")
            batch_of[i] = b
    for st in stages:
        if st.index not in batch_of:
            raise PlanError(f"stage {st.index} is in no batch")
    edges = set()
    for i, j, kind in plan.edges:
        if not (0 <= i < n and 0 <= j < n):
            raise PlanError(f"edge {i} -> {j} ({kind}) names a stage that is not in the plan")
        if i >= j:
            raise PlanError(f"edge {i} -> {j} ({kind}) points backwards in program order")
        if not (batch_of[i] < batch_of[j] if kind == "data" else batch_of[i] <= batch_of[j]):
            raise PlanError(f"edge {i} -> {j} ({kind}) but stage {i} is in batch {batch_of[i]} and stage {j} "
                            f"in batch {batch_of[j]}")
        edges.add((i, j))
    for st in stages:
        for f in st.observe:
            src = generated_by.get(f)
            if src is not None and (src, st.index) not in edges:
                raise PlanError(f"stage {st.index} observes frame {f} generated by stage {src}, but there is no "
                                f"edge {src} -> {st.index}")
    complete = set(plan.given)
    for b, members in enumerate(plan.batches):
        for i in members:
            late = set(stages[i].observe) - complete
            if late:
                raise PlanError(f"stage {i} (batch {b}) observes frames {frames(late)} that no earlier batch "
                                "completes")
            early = set(stages[i].marginal) & complete
            if early:
                raise PlanError(f"stage {i} (batch {b}) sees frames {frames(early)} as marginal, but an earlier "
                                "batch completes them")
        for i in members:
            complete.update(stages[i].generate)
    s = plan.stats
    for what, said, actual in (("stages", s.stages, n), ("batches", s.batches, len(plan.batches)),
                               ("frames", s.frames, T)):
        if said != actual:
            raise PlanError(f"stats.{what} = {said} but the plan has {actual}")
    return plan


def _check_windows(where: str, joint: JointWindows, frames: set[int], K: int, check_list) -> None:
    """A group's windows: sorted, each 1..K frames of the group, together all of them
    (and the same for the shifted windows, present exactly when shift > 0)."""
    if joint.shift < 0:
        raise PlanError(f"{where}: joint.shift = {joint.shift} must be at least 0")
    if bool(joint.shifted) != (joint.shift > 0):
        raise PlanError(f"{where}: joint.shifted must list windows exactly when joint.shift > 0")
    for kind, windows in (("windows", joint.windows), ("shifted", joint.shifted)):
        if kind == "shifted" and not windows:
            continue
        covered: set[int] = set()
        for j, w in enumerate(windows):
            what = f"{where}: joint.{kind}[{j}]"
            check_list(what, w)
            if not 1 <= len(w) <= K:
                raise PlanError(f"{what} has {len(w)} frames; a window holds 1..K = {K}")
            if not set(w) <= frames:
                raise PlanError(f"{what} holds frames the group neither generates nor observes")
            covered.update(w)
        if covered != frames:
            raise PlanError(f"{where}: {len(frames - covered)} frames of the group are in none of its joint.{kind}")
