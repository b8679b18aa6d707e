"""Inpainting methods on a test set: what the experiments and the model card compare.

A *method* turns ``(gt frames, hole)`` into a prediction: the diffusion model run through
a compiled scheme (:class:`ModelMethod`), or one of :mod:`vidsched.baselines`. A *test
set* is a list of clips with holes: :func:`heldout_test_set` cuts them from the held-out
last 20 % of OpenCV's vtest.avi (never seen in training) and draws appendix-D masks from
fixed seeds, so every method sees exactly the same inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsched.diffusion.registry import RUN_SAMPLER, RUN_STEPS
from vidsched.training.masks import APPENDIX_D_TYPES, MASK_TYPES, STATIONARY_TYPES, generate_mask


@dataclass(frozen=True)
class EvalClip:
    name: str
    gt: np.ndarray  # (T, S, S, 3) uint8
    hole: np.ndarray  # (T, S, S) bool


@dataclass
class Prediction:
    frames: np.ndarray  # (T, S, S, 3) uint8
    seconds: float
    network_evaluations: int = 0


def heldout_frames(size: int, video: Path | None = None, root: Path = Path(".")) -> np.ndarray:
    """The held-out split of vtest (frames 636-794; or of ``video``) at ``size`` x ``size``."""
    from vidsched.training.config import DataConfig
    from vidsched.training.data import load_training_data

    data = DataConfig(source=str(video)) if video is not None else DataConfig()
    return load_training_data(data, size, root=root).heldout[0]


def evaluation_mask(kind: str, frames: int, size: int, seed: int, moving: bool = True, min_hole: float = 0.01,
              **options) -> np.ndarray:
    """A mask of ``kind`` (an appendix-D kind, or any of ``MASK_TYPES``) that holes at
    least ``min_hole`` of every frame.

    Every generated frame has a hole, but thin lines or a small blob can hole less than
    ``min_hole``, and a slow hole over a few frames may not move a whole pixel; a test
    clip should test the method in every frame with the motion asked for (logos never
    move), so seeds ``seed, seed + 100, ...`` are tried until one qualifies.
    """
    for attempt in range(1000):
        hole = generate_mask(kind, frames, size, moving=moving, seed=seed + 100 * attempt, **options)
        still = moving and kind not in STATIONARY_TYPES and frames > 1 and bool((hole == hole[0]).all())
        if hole.mean(axis=(1, 2)).min() >= min_hole and not still:
            return hole
    raise ValueError(f"no {kind} mask of {frames} frames holes {min_hole:.0%} of every frame")


def heldout_test_set(held: np.ndarray, kinds: Sequence[str] = APPENDIX_D_TYPES, clips: int = 4, frames: int = 16,
                     moving: bool = True, mask_seed: int = 0, min_hole: float = 0.01,
                     mask_options: dict | None = None) -> dict[str, list[EvalClip]]:
    """``clips`` clips of ``frames`` frames, evenly spaced over ``held``, per mask kind
    (by default the paper's appendix-D kinds; ``object`` and ``logo`` may be asked for).

    Clip c of kind k gets :func:`evaluation_mask` of seed ``mask_seed + 1000 c + index(k)``.
    """
    if len(held) < frames:
        raise ValueError(f"the held-out split has {len(held)} frames, fewer than {frames}")
    starts = np.linspace(0, len(held) - frames, clips).astype(int)
    size = held.shape[1]
    out: dict[str, list[EvalClip]] = {}
    for kind in kinds:
        k = MASK_TYPES.index(kind)
        out[kind] = [
            EvalClip(f"{kind}-{c}-f{start}", held[start : start + frames],
                     evaluation_mask(kind, frames, size, mask_seed + 1000 * c + k, moving, min_hole, **(mask_options or {})))
            for c, start in enumerate(starts)
        ]
    return out


@dataclass
class ModelMethod:
    """The diffusion model under a scheme: compile for the clip's length, execute, composite."""

    checkpoint: Path | str
    scheme: str = "improved_ar_far_future"
    sampler: str = RUN_SAMPLER
    steps: int = RUN_STEPS
    churn: float = 0.0  # Heun's S_churn
    seed: int = 0
    scheme_params: dict = field(default_factory=dict)
    region: str = "auto"  # the runtime's regions (vidsched.regions); "full" for whole frames
    refine: int = 0  # coarse-to-fine levels (runtime.inference.InferenceSettings)
    seam: str = "none"  # "match": seam matching (vidsched.seams)
    prior: str = "none"  # "known" / "init" / "hybrid": the propagation prior's mode (runtime.prior)
    prior_threshold: float | None = None  # known mode: confidence from which a pixel is known (None: the default)
    prior_strength: float | None = None  # init / hybrid: SDEdit's starting sigma (None: the default)
    detail: str = "none"  # as `vidsched run --detail`: "restore" or "clone" (vidsched.detail)

    def __post_init__(self) -> None:
        from vidsched.runtime.executor import SamplerSettings
        from vidsched.runtime.inference import InferenceSettings, Inpainter

        # One window per network call: faster on a CPU (BENCHMARKS.md, stage batching), same result.
        from vidsched.runtime.prior import DEFAULT_STRENGTH, STARTING_MODES

        start_sigma = (self.prior_strength or DEFAULT_STRENGTH) if self.prior in STARTING_MODES else None
        settings = InferenceSettings(scheme=self.scheme, scheme_params=tuple(self.scheme_params.items()),
                                     sampler=SamplerSettings(name=self.sampler, steps=self.steps, s_churn=self.churn,
                                                             start_sigma=start_sigma),
                                     seed=self.seed, region=self.region, max_windows_per_call=1,
                                     refine=self.refine, seam=self.seam)
        self.inpainter = Inpainter.from_checkpoint(self.checkpoint, settings, cuda_graphs=False)
        self.config = self.inpainter.config

    def __call__(self, gt: np.ndarray, hole: np.ndarray, seed: int | None = None) -> Prediction:
        start = time.perf_counter()
        frames, todo, prior = gt, hole, None
        if self.prior != "none":  # the propagation prior, as `vidsched run --prior propagate`
            from vidsched.detail import RESTORING_MODES
            from vidsched.runtime.prior import apply_prior

            options = {} if self.prior_threshold is None else {"threshold": self.prior_threshold}
            options["restore"] = self.detail in RESTORING_MODES
            p = apply_prior(gt, hole, self.prior, **options)
            frames, todo, prior = p.frames, p.hole, p.start
        if not todo.any():
            filled, evaluations = frames, 0
        else:
            done = self.inpainter(frames, todo, seed=seed, prior=prior)
            filled, evaluations = done.frames, done.network_evaluations
        if self.detail == "clone":  # as `vidsched run --detail clone`
            from vidsched.detail import apply_detail, plan_detail, still_and_ever

            # only into what the model filled (``todo``): propagated pixels keep their own detail
            filled = apply_detail(filled, todo, plan_detail(filled, *still_and_ever(hole)))
        return Prediction(filled, time.perf_counter() - start, evaluations)


def baseline_method(name: str) -> Callable[[np.ndarray, np.ndarray], Prediction]:
    from vidsched.baselines import BASELINES

    fn = BASELINES[name]

    def run(gt: np.ndarray, hole: np.ndarray, seed: int | None = None) -> Prediction:
        start = time.perf_counter()
        return Prediction(fn(gt, hole), time.perf_counter() - start)

    return run


def predict_all(method: Callable, clips: Sequence[EvalClip], seed_offset: bool = True) -> list[Prediction]:
    """Run a method on every clip (clip c gets seed ``method.seed + c`` if it takes seeds)."""
    out = []
    for c, clip in enumerate(clips):
        seed = (getattr(method, "seed", 0) + c) if seed_offset else None
        out.append(method(masked_input(clip), clip.hole, seed=seed))
    return out


def masked_input(clip: EvalClip) -> np.ndarray:
    """What a method is given: the clip with its hole blacked out, so no method (copy-through
    included) can read the ground truth it is scored against."""
    return np.where(clip.hole[..., None], np.uint8(0), clip.gt)


def score(clips: Sequence[EvalClip], predictions: Sequence[Prediction], metrics: Sequence[str]):
    """The evaluation suite's report for one method on one test set."""
    from vidsched.metrics.suite import EvalVideo, evaluate

    videos = [EvalVideo(c.name, c.gt, p.frames, c.hole) for c, p in zip(clips, predictions)]
    return evaluate(videos, metrics)
