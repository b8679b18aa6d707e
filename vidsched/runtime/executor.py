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
from vidsched.diffusion.registry import DEFAULT_SAMPLER, SAMPLERS, SamplerSpec, sampler_spec
from vidsched.plan import Plan, PlanStage


class SamplingError(VidschedError):
    """The sampler produced NaN or inf."""


@dataclass(frozen=True)
class SamplerSettings:
    """How each stage is sampled (Karras et al. 2022, EDM; defaults are EDM's)."""

    name: str = DEFAULT_SAMPLER  # a name of vidsched.diffusion.registry.SAMPLERS
    steps: int = 25
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
    """One stage's window, host side, padded to K frames (layout F = K)."""

    stage: PlanStage
    frames: list[int]  # the window's frames, sorted (len <= K)
    values: np.ndarray  # (K, 3, H, W) float32 in [-1, 1]; 0 where unknown
    init: np.ndarray  # (K, 3, H, W) float32: the buffer's values, prior included (SDEdit's start)
    known: np.ndarray  # (K, 1, H, W) bool: 1 = pixel known (conditioning)
    index: np.ndarray  # (K,) int64: true frame indices (padding repeats the last)
    valid: np.ndarray  # (K,) bool: False for padding frames


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
    if len(frames) > K:
        raise VidschedError(f"stage {stage.index} has {len(frames)} frames but the model sees at most K = {K}")
    _, H, W, _ = buffer.shape
    values = np.zeros((K, 3, H, W), np.float32)
    known = np.zeros((K, 1, H, W), bool)
    complete = set(stage.observe)
    for p, f in enumerate(frames):
        values[p] = buffer[f].astype(np.float32).transpose(2, 0, 1)
        if unknown is not None:
            known[p, 0] = ~unknown[f]
        else:
            known[p, 0] = True if f in complete else ~hole[f]
    init = values.copy()
    values *= known  # unknown pixels carry no information
    index = np.array(frames + [frames[-1]] * (K - len(frames)), np.int64)
    valid = np.array([True] * len(frames) + [False] * (K - len(frames)))
    return Window(stage, frames, values, init, known, index, valid)


def write_back(window: Window, sample: np.ndarray, buffer: np.ndarray, hole: np.ndarray) -> None:
    """Write the unknown pixels of the stage's generate frames; discard everything else.

    sample: (K, 3, H, W) float32 in [-1, 1] (the sampler's output for this window).
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

    def sigmas(self) -> torch.Tensor:
        s = self.settings
        grid = s.spec.sigmas(s.steps, sigma_min=s.sigma_min, sigma_max=s.sigma_max, rho=s.rho, schedule=s.schedule,
                             start_sigma=s.start_sigma)
        return grid.to(self.device, self.dtype)

    def sample_batch(self, windows: Sequence[Window], seed: int, on_step=None) -> np.ndarray:
        """Sample a batch of windows; returns (B, K, 3, H, W) float32."""
        values, known, index, valid = _batched_windows(windows, self.device)
        init = (torch.from_numpy(np.stack([w.init for w in windows])).to(self.device, self.dtype)
                if self.settings.start_sigma is not None else None)
        denoise = self.make_denoiser(values.to(self.dtype), known.to(self.dtype), index, valid)
        shape = values.shape[1:]
        # One CPU generator per stage: the same noise whatever the batch or device.
        gens = [torch.Generator().manual_seed(stage_seed(seed, w.stage.index)) for w in windows]

        def noise(_step: int | None = None) -> torch.Tensor:
            draws = [torch.randn(shape, generator=g) for g in gens]
            return torch.stack(draws).to(self.device, self.dtype)

        sigmas = self.sigmas()
        x = noise() * sigmas[0]
        if init is not None:  # SDEdit: the prior, noised to the starting level
            x = x + init
        callback = (lambda info: on_step()) if on_step is not None else None
        s = self.settings
        options = {key: getattr(s, key) for key in s.spec.options}
        out = s.spec.sample(denoise, x, sigmas, noise_sampler=noise, callback=callback, **options)
        out = out.float()
        finite = torch.isfinite(out).flatten(1).all(dim=1).cpu()  # one sync per batch
        if not bool(finite.all()):
            bad = ", ".join(f"{w.stage.index} ({w.stage.name})" for w, ok in zip(windows, finite.tolist()) if not ok)
            raise SamplingError(
                f"the sampler produced NaN or inf in stage {bad}; check the checkpoint, or try another seed or sampler"
            )
        return out.cpu().numpy()

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
        progress = progress or Progress()
        K = plan.max_frames
        order = batches_to_run(plan, batch_stages)
        stats = RunStats(stages=len(plan.stages), batches=len(order), batches_done_before=start_batch)
        if unknown is not None:
            unknown = unknown.copy()
            for b in range(start_batch):  # resumed: frames generated before are known
                for i in order[b]:
                    unknown[plan.stages[i].generate] = False
        per_stage = self.settings.evaluations_per_stage
        t0 = time.perf_counter()
        if progress.on_start:
            left = sum(len(order[b]) for b in range(start_batch, len(order)))
            progress.on_start(left, len(order) - start_batch, self.settings.steps)
        for b in range(start_batch, len(order)):
            members = order[b]
            if progress.on_batch_start:
                progress.on_batch_start(b, members)
            # Gather every window of the batch before writing anything.
            windows = [gather_window(plan.stages[i], buffer, hole, K, unknown) for i in members]
            cap = self.max_windows_per_call or len(windows)
            if progress.on_batch_calls:
                progress.on_batch_calls(-(-len(windows) // cap))
            samples = []
            for start in range(0, len(windows), cap):
                samples.extend(self.sample_batch(windows[start : start + cap], seed, progress.on_step))
                stats.sequential_calls += per_stage
            for window, sample in zip(windows, samples):
                write_back(window, sample, buffer, hole)
                if unknown is not None:
                    unknown[window.stage.generate] = False
            stats.network_evaluations += per_stage * len(members)
            if after_batch is not None:
                after_batch(b + 1, buffer)
            if progress.on_batch_end:
                progress.on_batch_end(b)
        stats.seconds = time.perf_counter() - t0
        return stats


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
