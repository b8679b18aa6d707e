"""Execute a plan: run every stage's diffusion sampler on its window of the video.

For each batch of the plan (stages that do not depend on each other):

1. *gather*: every stage's window (its generate, observe and marginal frames, sorted,
   padded to K) is read from the video buffer, with each frame's role set by its mask:
   generate and marginal frames keep the user's mask (their unknown pixels are
   sampled), complete observations are fully known (paper sec. 4.1, 4.4);
2. *sample*: the windows of the batch go through the sampler together, one batched
   network call per evaluation; every stage draws its noise from its own stream,
   seeded by (seed, stage index), so batching and resuming never change a result;
3. *write back*: only the unknown pixels of generate frames are written; the samples
   of marginal frames are thrown away (eq. 4: sampling the joint and discarding Z
   samples the marginal). Known pixels of the input are never changed.

All windows of a batch are read before any frame is written, which is what makes a
stage and a later stage that generates one of its marginal frames safe in one batch.

A *joint group* (a stage with ``joint``: windows denoised together, temporal
MultiDiffusion) is one sampler run over the union of its windows' frames: its denoiser
runs every window (batched, ``max_windows_per_call`` at a time) and gives each frame the
mean of the estimates of the windows that hold it, known pixels clean as everywhere
(:func:`joint_denoiser`). The samplers see one denoiser of one state, as for a stage; the
group draws its noise from its own stream, seeded by (seed, its index), and counts as
one stage of its batch.

The video buffer stays on the host (float16, values in [-1, 1]); only windows go to the
device, so device memory does not grow with the number of frames.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from vidsched.errors import VidschedError
from vidsched.diffusion.registry import RUN_SAMPLER, RUN_STEPS, SAMPLERS, SamplerSpec, sampler_spec
from vidsched.plan import Plan, PlanStage


class SamplingError(VidschedError):
    """The sampler produced NaN or inf."""


@dataclass(frozen=True)
class SamplerSettings:
    """How each stage is sampled (Karras et al. 2022, EDM; defaults are EDM's)."""

    name: str = RUN_SAMPLER  # a name of vidsched.diffusion.registry.SAMPLERS
    steps: int = RUN_STEPS
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    rho: float = 7.0
    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: float = float("inf")
    s_noise: float = 1.0
    schedule: str = "cosine"  # the training schedule, for DDPM's sigmas
    # SDEdit (Meng et al. 2022): start from the buffer's values at this noise level instead
    # of pure noise at sigma_max (None: from pure noise). The buffer's hole pixels must then
    # hold a prior (a coarse fill, propagated pixels).
    start_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise VidschedError(f"unknown sampler {self.name!r} ({', '.join(SAMPLERS)})")
        if self.s_churn < 0:
            raise VidschedError(f"churn must be >= 0, not {self.s_churn}")
        if self.s_churn > 0 and "s_churn" not in self.spec.options:
            takers = ", ".join(s.name for s in SAMPLERS.values() if "s_churn" in s.options)
            raise VidschedError(f"churn (fresh noise in each step) is an option of {takers}, not {self.name}; "
                                "the stochastic samplers dpmpp_2m_sde, euler_a and ddpm add their own")

    @property
    def spec(self) -> SamplerSpec:
        return sampler_spec(self.name)

    @property
    def evaluations_per_stage(self) -> int:
        return self.spec.evaluations(self.steps)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["s_tmax"] = None if d["s_tmax"] == float("inf") else d["s_tmax"]
        return d


def stage_seed(seed: int, stage_index: int) -> int:
    """The seed of one stage's random stream: depends only on (seed, stage index)."""
    digest = hashlib.sha256(f"vidsched/{seed}/{stage_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass
class Window:
    """One stage's window, host side, padded to K frames (layout F = K); a joint group's
    union of frames, padded to at least K (F = max(K, frames))."""

    stage: PlanStage
    frames: list[int]  # the window's frames, sorted (len <= K; a group's: any number)
    values: np.ndarray  # (F, 3, H, W) float32 in [-1, 1]; 0 where unknown
    init: np.ndarray  # (F, 3, H, W) float32: the buffer's values, prior included (SDEdit's start)
    known: np.ndarray  # (F, 1, H, W) bool: 1 = pixel known (conditioning)
    index: np.ndarray  # (F,) int64: true frame indices (padding repeats the last)
    valid: np.ndarray  # (F,) bool: False for padding frames


def gather_window(stage: PlanStage, buffer: np.ndarray, hole: np.ndarray, K: int,
                  unknown: np.ndarray | None = None) -> Window:
    """Read a stage's window from the buffer and set each frame's role.

    buffer: (T, H, W, 3) float16 in [-1, 1]; hole: (T, H, W) bool, True = pixel the user
    asked to fill. Complete observations (generated earlier, or without a hole) are
    fully known; generate and marginal frames are known exactly where the user's mask
    says so.

    ``unknown`` (T, H, W) bool, if given, is the pixels not known *now*, including holes
    that this plan does not fill (a region's plan declares frames whose holes another
    region fills as complete): every frame conditions on exactly its known pixels.
    """
    frames = sorted(stage.generate + stage.observe + stage.marginal)
    if stage.joint is not None:  # the union of a group's windows: each window is at most K
        length = max(K, len(frames))
    elif len(frames) > K:
        raise VidschedError(f"stage {stage.index} has {len(frames)} frames but the model sees at most K = {K}")
    else:
        length = K
    _, H, W, _ = buffer.shape
    values = np.zeros((length, 3, H, W), np.float32)
    known = np.zeros((length, 1, H, W), bool)
    complete = set(stage.observe)
    for p, f in enumerate(frames):
        values[p] = buffer[f].astype(np.float32).transpose(2, 0, 1)
        if unknown is not None:
            known[p, 0] = ~unknown[f]
        else:
            known[p, 0] = True if f in complete else ~hole[f]
    init = values.copy()
    values *= known  # unknown pixels carry no information
    index = np.array(frames + [frames[-1]] * (length - len(frames)), np.int64)
    valid = np.array([True] * len(frames) + [False] * (length - len(frames)))
    return Window(stage, frames, values, init, known, index, valid)


def write_back(window: Window, sample: np.ndarray, buffer: np.ndarray, hole: np.ndarray) -> None:
    """Write the unknown pixels of the stage's generate frames; discard everything else.

    sample: (F, 3, H, W) float32 in [-1, 1] (the sampler's output for this window).
    """
    generate = set(window.stage.generate)
    for p, f in enumerate(window.frames):
        if f not in generate:
            continue  # observed or marginal: its samples are thrown away
        holes = hole[f]
        frame = sample[p].transpose(1, 2, 0).clip(-1.0, 1.0).astype(buffer.dtype)
        buffer[f][holes] = frame[holes]


def _batched_windows(windows: Sequence[Window], device: torch.device):
    """Stack windows into the network's layout: (B, F, C, H, W) and friends."""
    values = torch.from_numpy(np.stack([w.values for w in windows])).to(device)
    known = torch.from_numpy(np.stack([w.known for w in windows]).astype(np.float32)).to(device)
    index = torch.from_numpy(np.stack([w.index for w in windows])).to(device)
    valid = torch.from_numpy(np.stack([w.valid for w in windows])).to(device)
    return values, known, index, valid


@dataclass(frozen=True)
class WindowLayout:
    """Where each window of a joint group reads its frames in the group's state: ``slots``
    (W, K) positions in the union (F frames; padding slots read the union's padding
    positions, or repeat the window's last frame), with the windows' own conditioning."""

    slots: torch.Tensor  # (W, K) int64
    valid: torch.Tensor  # (W, K) bool: a frame of the window (False: padding)
    values: torch.Tensor  # (W, K, 3, H, W)
    known: torch.Tensor  # (W, K, 1, H, W)
    index: torch.Tensor  # (W, K) int64: true frame indices
    identity: bool  # one window laid out exactly as the union: fusion is the window's output
    scatter: torch.Tensor  # (N,) int64: union positions the fused estimate sums ...
    scatter_from: torch.Tensor  # (N,) int64: ... from these flat (window, slot) outputs
    counts: torch.Tensor  # (F, 1, 1, 1): how many windows hold each position (>= 1)


def window_layout(group: Window, windows: Sequence[Sequence[int]], K: int, values: torch.Tensor,
                  known: torch.Tensor) -> WindowLayout:
    """The layout of `windows` (frame lists) in `group` (a gathered union, F >= K positions;
    `values`, `known`: its tensors on the device)."""
    position = {f: p for p, f in enumerate(group.frames)}
    n, F = len(group.frames), len(group.index)
    slots, valid, index = [], [], []
    for w in windows:
        own = [position[f] for f in w]
        pad = K - len(own)
        extra = list(range(n, min(n + pad, F)))  # the union's padding positions first
        extra += [own[-1]] * (pad - len(extra))
        slots.append(own + extra)
        valid.append([True] * len(own) + [False] * pad)
        index.append(list(w) + [w[-1]] * pad)
    device = values.device
    slots_t = torch.tensor(slots, dtype=torch.int64, device=device)
    valid_t = torch.tensor(valid, dtype=torch.bool, device=device)
    keep = valid_t.view(*valid_t.shape, 1, 1, 1).to(values.dtype)
    # A padding slot's output reaches the union only at the union's padding positions.
    counted = (valid_t | (slots_t >= n)).flatten()
    scatter = slots_t.flatten()[counted]
    counts = torch.bincount(scatter, minlength=F).clamp(min=1).to(values.dtype).view(F, 1, 1, 1)
    identity = len(windows) == 1 and slots[0] == list(range(F))
    return WindowLayout(slots_t, valid_t, values[slots_t] * keep, known[slots_t] * keep,
                        torch.tensor(index, dtype=torch.int64, device=device), identity, scatter,
                        counted.nonzero().flatten(), counts)


def joint_denoiser(make_denoiser: Callable, layouts: Sequence[WindowLayout], values: torch.Tensor,
                   known: torch.Tensor, max_windows: int | None = None) -> Callable:
    """``denoise(x, sigma)`` of a joint group's state x (1, F, 3, H, W): every network
    evaluation runs each window of the layout (``layouts[e % 2]`` on evaluation e: the
    shifted windows on odd ones, when there are two layouts), ``max_windows`` per network
    call, and gives each frame the mean of the windows' estimates of it; known pixels are
    the known values, as in a stage. A single window laid out as the union returns its
    estimate as it is (the same numbers as the stage it would be)."""
    calls = []  # per layout: (first window, end, denoiser of those windows)
    for layout in layouts:
        count = len(layout.slots)
        cap = max_windows or count
        calls.append([(a, min(a + cap, count), make_denoiser(layout.values[a:a + cap], layout.known[a:a + cap],
                                                          layout.index[a:a + cap], layout.valid[a:a + cap]))
                      for a in range(0, count, cap)])
    is_known = known > 0
    evaluation = [0]

    def denoise(x: torch.Tensor, sigma) -> torch.Tensor:
        which = evaluation[0] % len(layouts)
        evaluation[0] += 1
        layout = layouts[which]
        views = x[0][layout.slots]  # (W, K, 3, H, W)
        outs = torch.cat([d(views[a:b], sigma) for a, b, d in calls[which]])
        if layout.identity:
            return outs
        flat = outs.flatten(0, 1)[layout.scatter_from]
        fused = torch.zeros_like(x[0]).index_add_(0, layout.scatter, flat) / layout.counts
        return torch.where(is_known, values, fused)[None]

    return denoise


@dataclass
class RunStats:
    stages: int = 0
    batches: int = 0
    network_evaluations: int = 0
    sequential_calls: int = 0
    seconds: float = 0.0
    batches_done_before: int = 0  # resumed from a saved state

    def summary(self) -> str:
        return (
            f"{self.stages} stages in {self.batches} batches, {self.network_evaluations:,} network evaluations "
            f"({self.sequential_calls:,} sequential calls), {self.seconds:.1f} s"
        )


@dataclass
class Progress:
    """Callbacks for progress display (all optional)."""

    on_batch_start: Callable[[int, list[int]], None] | None = None
    on_step: Callable[[], None] | None = None  # called once per sampler step
    on_batch_end: Callable[[int], None] | None = None
    on_start: Callable[[int, int, int], None] | None = None  # (stages left, batches left, steps per stage)
    on_batch_calls: Callable[[int], None] | None = None  # sampler runs this batch takes (windows capped per call)
    on_chunk: Callable[[int, int, int, int], None] | None = None  # (chunk, chunks, first frame, end) of a long video
    on_prior: Callable[[int, int], None] | None = None  # (frames propagated, of how many): the prior's progress
    # (batch, [(track label, its stage indices)]): a batch of plans run in lockstep, e.g. regions
    on_batch_tracks: Callable[[int, list[tuple[str, list[int]]]], None] | None = None


def batches_to_run(plan: Plan, batch_stages: bool) -> list[list[int]]:
    """The plan's batches, or one stage at a time in program order."""
    if batch_stages:
        return [list(b) for b in plan.batches]
    return [[st.index] for st in plan.stages]


@dataclass
class Executor:
    """Runs plans with a sampler over a denoiser factory.

    ``make_denoiser(values, known, index, valid) -> denoise(x, sigma)``: builds the
    denoiser for one batch of windows (tensors on ``device``); see
    :func:`vidsched.runtime.model_denoiser` for the network-backed one.
    """

    make_denoiser: Callable
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    # Most windows per network call; None = the whole batch. Every window of a batch is
    # still read before any is written, so a cap never changes a result (each stage has
    # its own noise stream). On a CPU a cap of 1 is faster: batched activations fall
    # out of the cache (BENCHMARKS.md, stage batching).
    max_windows_per_call: int | None = None
    _grids: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def sigmas(self) -> torch.Tensor:
        """The sampler's noise grid on the device, made once per settings (a DDPM start
        part-way into its schedule bisects for the starting time), not once per batch."""
        key = (self.settings, self.device, self.dtype)
        if key not in self._grids:
            s = self.settings
            grid = s.spec.sigmas(s.steps, sigma_min=s.sigma_min, sigma_max=s.sigma_max, rho=s.rho,
                                 schedule=s.schedule, start_sigma=s.start_sigma)
            self._grids[key] = grid.to(self.device, self.dtype)
        return self._grids[key]

    def sample_batch(self, windows: Sequence[Window], seed: int | Sequence[int], on_step=None) -> np.ndarray:
        """Sample a batch of windows; returns (B, K, 3, H, W) float32. ``seed``: the run's
        seed, or one per window (windows of several plans run in lockstep, each plan with
        its own seed)."""
        values, known, index, valid = _batched_windows(windows, self.device)
        init = (torch.from_numpy(np.stack([w.init for w in windows])).to(self.device, self.dtype)
                if self.settings.start_sigma is not None else None)
        denoise = self.make_denoiser(values.to(self.dtype), known.to(self.dtype), index, valid)
        shape = values.shape[1:]
        seeds = [seed] * len(windows) if isinstance(seed, (int, np.integer)) else list(seed)
        # One CPU generator per stage: the same noise whatever the batch or device.
        gens = [torch.Generator().manual_seed(stage_seed(s, w.stage.index)) for s, w in zip(seeds, windows)]

        def noise(_step: int | None = None) -> torch.Tensor:
            draws = [torch.randn(shape, generator=g) for g in gens]
            return torch.stack(draws).to(self.device, self.dtype)

        sigmas = self.sigmas()
        x = noise() * sigmas[0]
        if init is not None:  # SDEdit: the prior, noised to the starting level
            x = x + init
        out = self._sample(denoise, x, sigmas, noise, on_step)
        self._check_finite(out, windows)
        return out.cpu().numpy()

    def sample_group(self, group: Window, K: int, seed: int, on_step=None) -> np.ndarray:
        """Sample a joint group (its gathered union, ``group.stage.joint`` its windows) in
        one sampler run; returns (F, 3, H, W) float32 like one window of
        :meth:`sample_batch`."""
        values, known, _, _ = _batched_windows([group], self.device)
        values, known = values[0].to(self.dtype), known[0].to(self.dtype)
        joint = group.stage.joint
        layouts = [window_layout(group, joint.windows, K, values, known)]
        if joint.shifted:
            layouts.append(window_layout(group, joint.shifted, K, values, known))
        denoise = joint_denoiser(self.make_denoiser, layouts, values, known, self.max_windows_per_call)
        gen = torch.Generator().manual_seed(stage_seed(seed, group.stage.index))

        def noise(_step: int | None = None) -> torch.Tensor:
            return torch.randn(values.shape, generator=gen)[None].to(self.device, self.dtype)

        sigmas = self.sigmas()
        x = noise() * sigmas[0]
        if self.settings.start_sigma is not None:  # SDEdit: the prior, noised to the starting level
            x = x + torch.from_numpy(group.init)[None].to(self.device, self.dtype)
        out = self._sample(denoise, x, sigmas, noise, on_step)
        self._check_finite(out, [group])
        return out[0].cpu().numpy()

    def _sample(self, denoise, x, sigmas, noise, on_step) -> torch.Tensor:
        callback = (lambda info: on_step()) if on_step is not None else None
        s = self.settings
        options = {key: getattr(s, key) for key in s.spec.options}
        return s.spec.sample(denoise, x, sigmas, noise_sampler=noise, callback=callback, **options).float()

    def _check_finite(self, out: torch.Tensor, windows: Sequence[Window]) -> None:
        finite = torch.isfinite(out).flatten(1).all(dim=1).cpu()  # one sync per batch
        if not bool(finite.all()):
            bad = ", ".join(f"{w.stage.index} ({w.stage.name})" for w, ok in zip(windows, finite.tolist()) if not ok)
            raise SamplingError(
                f"the sampler produced NaN or inf in stage {bad}; check the checkpoint, or try another seed or sampler"
            )

    def run(
        self,
        plan: Plan,
        buffer: np.ndarray,
        hole: np.ndarray,
        *,
        seed: int = 0,
        batch_stages: bool = True,
        start_batch: int = 0,
        progress: Progress | None = None,
        after_batch: Callable[[int, np.ndarray], None] | None = None,
        unknown: np.ndarray | None = None,
    ) -> RunStats:
        """Run the plan's batches from `start_batch` on, updating `buffer` in place.

        ``after_batch(next_batch, buffer)`` is called after every batch (for saving
        progress); ``buffer`` holds the state after that batch. ``unknown`` (default: the
        hole) marks the pixels not known at the start, a superset of ``hole`` when other
        holes in the frames are filled elsewhere; a frame the plan generates is known
        everywhere afterwards.
        """
        each = None if after_batch is None else (lambda b, buffers: after_batch(b, buffers[0]))
        return self.run_tracks([Track(plan, buffer, hole, seed, unknown)], batch_stages=batch_stages,
                               start_batch=start_batch, progress=progress, after_batch=each)[0]

    def run_tracks(
        self,
        tracks: Sequence["Track"],
        *,
        batch_stages: bool = True,
        start_batch: int = 0,
        progress: Progress | None = None,
        after_batch: Callable[[int, list[np.ndarray]], None] | None = None,
    ) -> list[RunStats]:
        """Run several independent plans in lockstep: their b-th batches together, their
        windows sharing network calls (``max_windows_per_call`` at a time). Each track
        updates its own buffer; a track whose plan has fewer batches sits out the rest.
        The tracks must not read what another writes (regions with disjoint boxes,
        :mod:`vidsched.runtime.inference`): every window draws its noise from its own
        track's seed and stage, so the result is each plan's alone, and on a CPU with
        one window per call it is the same to the bit.

        Batch b of the run is every track's b-th batch; ``after_batch(next_batch,
        buffers)`` is called after each, ``start_batch`` resumes at one. Returns one
        :class:`RunStats` per track (its sequential calls are the run's)."""
        progress = progress or Progress()
        orders = [batches_to_run(t.plan, batch_stages) for t in tracks]
        steps = max(len(o) for o in orders)
        stats = [RunStats(stages=len(t.plan.stages), batches=len(o), batches_done_before=min(start_batch, len(o)))
                 for t, o in zip(tracks, orders)]
        unknowns = []
        for t, order in zip(tracks, orders):
            unknown = None if t.unknown is None else t.unknown.copy()
            if unknown is not None:
                for b in range(min(start_batch, len(order))):  # resumed: frames generated before are known
                    for i in order[b]:
                        unknown[t.plan.stages[i].generate] = False
            unknowns.append(unknown)
        per_stage = self.settings.evaluations_per_stage
        t0 = time.perf_counter()
        if progress.on_start:
            left = sum(len(o[b]) for o in orders for b in range(start_batch, len(o)))
            progress.on_start(left, steps - start_batch, self.settings.steps)
        sequential = 0
        for b in range(start_batch, steps):
            active = [k for k, o in enumerate(orders) if b < len(o)]
            members = [i for k in active for i in orders[k][b]]
            if progress.on_batch_start:
                progress.on_batch_start(b, members)
            if progress.on_batch_tracks:
                progress.on_batch_tracks(b, [(tracks[k].label, list(orders[k][b])) for k in active])
            # Gather every window of the batch before writing anything (a joint group: the
            # union of its windows, sampled on its own: one sampler run, one unit).
            gathered = [(k, gather_window(tracks[k].plan.stages[i], tracks[k].buffer, tracks[k].hole,
                                          tracks[k].plan.max_frames, unknowns[k]))
                        for k in active for i in orders[k][b]]
            windows = [(k, w) for k, w in gathered if w.stage.joint is None]
            groups = [(k, w) for k, w in gathered if w.stage.joint is not None]
            cap = self.max_windows_per_call or len(windows) or 1
            if progress.on_batch_calls:
                progress.on_batch_calls(-(-len(windows) // cap) + len(groups))
            samples = {}
            for start in range(0, len(windows), cap):
                chunk = windows[start : start + cap]
                out = self.sample_batch([w for _, w in chunk], [tracks[k].seed for k, _ in chunk], progress.on_step)
                samples.update(zip(((k, w.stage.index) for k, w in chunk), out))
                sequential += per_stage
            for k, group in groups:
                samples[k, group.stage.index] = self.sample_group(group, tracks[k].plan.max_frames, tracks[k].seed,
                                                                 progress.on_step)
                sequential += per_stage
            for k, window in gathered:
                write_back(window, samples[k, window.stage.index], tracks[k].buffer, tracks[k].hole)
                if unknowns[k] is not None:
                    unknowns[k][window.stage.generate] = False
            for k in active:
                stats[k].network_evaluations += sum(tracks[k].plan.stages[i].evaluations(per_stage)
                                                    for i in orders[k][b])
            if after_batch is not None:
                after_batch(b + 1, [t.buffer for t in tracks])
            if progress.on_batch_end:
                progress.on_batch_end(b)
        seconds = time.perf_counter() - t0
        for s in stats:
            s.sequential_calls, s.seconds = sequential, seconds
        return stats


@dataclass
class Track:
    """One plan of a lockstep run (:meth:`Executor.run_tracks`): its buffer (T, H, W, 3)
    float16, updated in place, the hole it fills, its seed, and the pixels not known at
    the start (default: the hole)."""

    plan: Plan
    buffer: np.ndarray
    hole: np.ndarray
    seed: int = 0
    unknown: np.ndarray | None = None
    label: str = ""  # what progress calls it (e.g. "region 2")


def initial_buffer(frames: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) frames -> float16 buffer in [-1, 1], holes set to 0."""
    buf = frames.astype(np.float16) / np.float16(127.5) - np.float16(1.0)
    buf[hole] = 0
    return buf


def compose_output(frames: np.ndarray, hole: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """uint8 result: known pixels copied from the input bit for bit, holes from the buffer."""
    filled = np.clip(np.rint((buffer.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    out = frames.copy()
    out[hole] = filled[hole]
    return out
