"""`vidsched run` end to end: video and mask in, inpainted video out.

    read video (any size, fps) and mask  ->  model resolution (videoio.Geometry)
    -> compile the scheme for T frames, the model's K, specialised to the mask
    -> execute the plan (runtime.executor) with progress saved after every batch
    -> composite the filled holes back into the original frames -> write atomically

Every known pixel of the input is returned unchanged: only hole pixels are written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsched.errors import MaskError, VidschedError

DEFAULT_SCHEME = "improved_ar_far_future"


def _package_dir(package: str, fallback: Path) -> Path:
    """An installed data package's folder, or its source folder in a checkout."""
    try:
        from importlib import resources

        return Path(str(resources.files(package)))
    except (ModuleNotFoundError, TypeError):
        return fallback


_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ASSETS = _package_dir("vidsched.assets", _ROOT / "vidsched" / "assets")
EXAMPLES = _package_dir("vidsched.examples", _ROOT / "examples")
DEFAULT_CHECKPOINT = PACKAGE_ASSETS / "vidsched-vtest64.json"
DEFAULT_VIDEO = EXAMPLES / "vtest_heldout.mp4"
DEFAULT_MASK = EXAMPLES / "vtest_heldout_mask"


@dataclass
class RunRequest:
    video: Path
    mask: Path | None
    output: Path
    scheme: str = DEFAULT_SCHEME
    overrides: list[str] = field(default_factory=list)
    checkpoint: Path = DEFAULT_CHECKPOINT
    sampler: str = "heun"
    steps: int = 25
    seed: int = 0
    batch_stages: bool = True
    fps: float | None = None
    mask_white_is_known: bool = False
    compare: Path | None = None
    resume: bool = False
    device: str = "auto"
    cuda_graphs: bool = True
    max_windows_per_call: int | None = None  # None: 1 on CPU, the whole batch on a GPU


@dataclass
class RunResult:
    output: Path
    frames: int
    stages: int = 0
    batches: int = 0
    network_evaluations: int = 0
    seconds: float = 0.0
    copied_through: bool = False
    resumed_from_batch: int = 0
    notes: list[str] = field(default_factory=list)


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise VidschedError(f"unknown device {name!r}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VidschedError("--device cuda was asked for, but no CUDA GPU is available")
    return device


def load_inputs(req: RunRequest):
    """The video and a hole mask of the same shape (T, H, W)."""
    from vidsched.masks_io import load_mask
    from vidsched.videoio import check_mask, output_kind, read_video, same_file

    if same_file(req.video, req.output):
        raise VidschedError(f"the output {req.output} is the input video; choose another -o")
    # Check the output names before any work, not after the sampling.
    output_kind(req.output)
    if req.compare is not None:
        output_kind(req.compare)
        if same_file(req.compare, req.video) or same_file(req.compare, req.output):
            raise VidschedError(f"--compare {req.compare} is the input or the output; choose another name")
    video = read_video(req.video, fps=req.fps)
    if req.mask is None:
        raise MaskError("no mask given: pass --mask (white / nonzero = pixels to fill)")
    hole = load_mask(req.mask, invert=req.mask_white_is_known, num_frames=video.num_frames)
    if getattr(video, "source_frames", None) is not None and req.fps is not None and hole.shape[0] != video.num_frames:
        # The video was resampled in time: keep the mask in step with it.
        if hole.shape[0] > max(video.source_frames):
            hole = hole[np.asarray(video.source_frames)]
    hole = check_mask(hole, video)
    return video, hole


def inpaint(req: RunRequest, progress=None) -> RunResult:
    """Run the whole job; `progress` is an executor.Progress (optional)."""
    from vidsched.compiler import compile_scheme, parse_overrides
    from vidsched.videoio import composite_back, mask_to_model_resolution, side_by_side, to_model_resolution, write_video

    video, hole = load_inputs(req)
    result = RunResult(output=req.output, frames=video.num_frames)
    if not hole.any():
        write_video(req.output, video.frames, video.fps, input_path=req.video)
        result.copied_through = True
        result.notes.append("the mask has no pixel to fill: the video was copied through unchanged")
        return result

    import torch

    from vidsched.model.checkpoint import load_checkpoint
    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, compose_output, initial_buffer
    from vidsched.runtime.resume import ProgressStore, fingerprint

    from vidsched.model.checkpoint import prediction_of, schedule_of

    model, config, meta = load_checkpoint(req.checkpoint)
    device = pick_device(req.device)
    model = model.to(device).eval()

    overrides = parse_overrides(req.overrides)
    K = config.max_frames
    if "K" in overrides and overrides["K"] != K:
        if isinstance(overrides["K"], int) and overrides["K"] > K:
            raise VidschedError(f"--set K={overrides['K']}: the model sees at most K = {K} frames per stage")
    overrides.setdefault("K", K)
    if "T" in overrides and overrides["T"] != video.num_frames:
        raise VidschedError(f"--set T={overrides['T']}, but the video has {video.num_frames} frames")
    overrides["T"] = video.num_frames

    small, geometry = to_model_resolution(video.frames, config.image_size)
    small_hole = mask_to_model_resolution(hole, geometry)
    complete = np.flatnonzero(~small_hole.reshape(len(small_hole), -1).any(axis=1)).tolist()
    # DDPM's sigma grid follows the schedule the network was trained with.
    settings = SamplerSettings(name=req.sampler, steps=req.steps, schedule=schedule_of(meta))
    plan = compile_scheme(req.scheme, overrides, complete_frames=complete, steps=req.steps, sampler=req.sampler)

    # The saved state is "batches done so far" in the order the executor runs them, so
    # the batching choice is part of the run (a different order would skip stages).
    run_key = fingerprint(plan.model_dump(mode="json"), small, small_hole, req.seed, settings.to_dict(),
                          str(Path(req.checkpoint).resolve()), {"batch_stages": req.batch_stages})
    store = ProgressStore(req.output, run_key)
    start_batch = 0
    buffer = initial_buffer(small, small_hole)
    if req.resume:
        if store.exists():
            state = store.load()
            start_batch, buffer = state.next_batch, state.buffer
            result.resumed_from_batch = start_batch
        else:
            result.notes.append("--resume: no saved progress found, starting from the beginning")
    elif store.exists():
        store.clear()  # a stale state from an earlier run of the same output
        result.notes.append(f"discarded the saved progress of an earlier run in {store.dir} "
                            "(--resume continues one)")

    # On a CPU, one window per network call is fastest (BENCHMARKS.md); batches still
    # read every window before writing, so results do not depend on this.
    cap = req.max_windows_per_call if req.max_windows_per_call else (1 if device.type == "cpu" else None)
    executor = Executor(model_denoiser(model, cuda_graphs=req.cuda_graphs, prediction=prediction_of(meta)), settings, device=device,
                        max_windows_per_call=cap)
    t0 = time.perf_counter()
    with torch.inference_mode():
        stats = executor.run(plan, buffer, small_hole, seed=req.seed, batch_stages=req.batch_stages,
                             start_batch=start_batch, progress=progress, after_batch=store.save)
    filled_small = compose_output(small, small_hole, buffer)
    out_frames = composite_back(video.frames, hole, filled_small, geometry)
    write_video(req.output, out_frames, video.fps, input_path=req.video)
    if req.compare is not None:
        write_video(req.compare, side_by_side(video.frames, hole, out_frames), video.fps, input_path=req.video)
    store.clear()
    result.stages, result.batches = stats.stages, stats.batches
    result.network_evaluations = stats.network_evaluations
    result.seconds = time.perf_counter() - t0
    if plan.mask is not None and plan.mask.stages_saved:
        result.notes.append(
            f"{plan.mask.complete_frames} frames have no hole: {plan.mask.stages_saved} stages of the scheme were skipped"
        )
    return result
