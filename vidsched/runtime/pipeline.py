"""`vidsched run` end to end: video and mask in, inpainted video out.

    read video (any size, fps) and mask; check every output location
    -> the one inference path (runtime.inference.Inpainter): regions around the holes,
       a plan per region, the executor, hole pixels pasted back at the input's resolution,
       progress saved after every batch
    -> write atomically (and the side-by-side comparison, if asked)

Every known pixel of the input is returned unchanged: only hole pixels are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsched.diffusion.registry import RUN_SAMPLER, RUN_STEPS
from vidsched.errors import MaskError, VidschedError

from vidsched.runtime.inference import DEFAULT_SCHEME  # noqa: E402  (no torch at import)
from vidsched.runtime.prior import DEFAULT_MODE, DEFAULT_PRIOR, DEFAULT_STRENGTH, DEFAULT_THRESHOLD, STARTING_MODES


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
DEFAULT_CHECKPOINT = PACKAGE_ASSETS / "vidsched-corpus64.json"  # model/README.md (the model card)
PREVIOUS_CHECKPOINT = PACKAGE_ASSETS / "vidsched-vtest64.json"  # the first shipped model: vtest alone, eps
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
    sampler: str = RUN_SAMPLER
    steps: int = RUN_STEPS
    churn: float = 0.0  # Heun's S_churn (Karras et al. 2022, Alg. 2): 0 is the deterministic ODE solver
    seed: int = 0
    batch_stages: bool = True
    fps: float | None = None
    mask_white_is_known: bool = False
    dilate: int = 0  # grow the mask by this many pixels first (vidsched.masks_io.grow_mask)
    compare: Path | None = None
    resume: bool = False
    device: str = "auto"
    cuda_graphs: bool = True
    max_windows_per_call: int | None = None  # None: 1 on CPU, the whole batch on a GPU
    region: str = "auto"  # auto, crop (regions around the holes) or full (the whole frame, letterboxed)
    context: int | None = None  # pixels of surroundings kept around each hole (None: the default)
    refine: int = 0  # coarse-to-fine levels (runtime.inference.InferenceSettings.refine)
    refine_strength: float = 0.5
    seam: str = "match"  # match the fill's border colours to the known pixels (vidsched.seams; results section 10)
    prior: str = DEFAULT_PRIOR  # propagate: bring in pixels other frames show (runtime/prior.py), or none
    prior_mode: str = DEFAULT_MODE  # known: trusted propagated pixels become known; init: SDEdit start
    prior_threshold: float = DEFAULT_THRESHOLD  # confidence from which a propagated pixel is known (known mode)
    prior_strength: float = DEFAULT_STRENGTH  # SDEdit's starting sigma (init mode)
    save_sources: Path | None = None  # write where each pixel came from (input / propagated / model)


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
    prior_summary: str | None = None  # what the propagation prior brought in (--prior propagate)
    regions: object = None  # vidsched.regions.RegionPlan
    region_notes: list[str] = field(default_factory=list)
    prior_seconds: float = 0.0


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


def check_outputs(req: RunRequest) -> None:
    """Every place the run writes (the output, the progress folder beside it, --compare)
    can be written: checked before any work, so a bad path fails at once, not after the
    sampling (VidschedError naming the path)."""
    from vidsched.atomic import check_writable
    from vidsched.runtime.resume import partial_dir
    from vidsched.videoio import output_kind

    check_writable(req.output, folder=output_kind(req.output) == "folder")
    progress = partial_dir(req.output)
    if progress.exists() and not progress.is_dir():
        raise VidschedError(f"cannot save the run's progress in {progress}: a file of that name exists")
    for option, path in (("--compare", req.compare), ("--save-sources", getattr(req, "save_sources", None))):
        if path is not None:
            check_writable(path, folder=output_kind(path) == "folder", what=option)


def load_inputs(req: RunRequest, notes: list[str] | None = None):
    """The video and a hole mask of the same shape (T, H, W); how the mask was read (if
    worth a word) is appended to ``notes``."""
    from vidsched.masks_io import load_mask
    from vidsched.geometry import check_mask
    from vidsched.videoio import output_kind, read_video, same_file

    if same_file(req.video, req.output):
        raise VidschedError(f"the output {req.output} is the input video; choose another -o")
    # Check the output names before any work, not after the sampling.
    output_kind(req.output)
    if req.compare is not None:
        output_kind(req.compare)
        if same_file(req.compare, req.video) or same_file(req.compare, req.output):
            raise VidschedError(f"--compare {req.compare} is the input or the output; choose another name")
    check_outputs(req)
    video = read_video(req.video, fps=req.fps)
    if req.mask is None:
        raise MaskError("no mask given: pass --mask (white = pixels to fill)")
    hole = load_mask(req.mask, invert=req.mask_white_is_known, num_frames=video.num_frames, notes=notes)
    if getattr(video, "source_frames", None) is not None and req.fps is not None and hole.shape[0] != video.num_frames:
        # The video was resampled in time: keep the mask in step with it.
        if hole.shape[0] > max(video.source_frames):
            hole = hole[np.asarray(video.source_frames)]
    hole = check_mask(hole, video)
    if req.dilate:
        from vidsched.masks_io import grow_mask

        grown = grow_mask(hole, req.dilate)
        if notes is not None and hole.any():
            added = int(grown.sum() - hole.sum())
            notes.append(f"--dilate {req.dilate}: the mask grew by {added:,} pixels "
                         f"({percent(added / hole.sum())} more to fill)")
        hole = grown
    return video, hole


def inpaint(req: RunRequest, progress=None) -> RunResult:
    """Run the whole job; `progress` is an executor.Progress (optional)."""
    from vidsched.compiler import parse_overrides
    from vidsched.videoio import write_video

    notes: list[str] = []
    video, hole = load_inputs(req, notes)
    result = RunResult(output=req.output, frames=video.num_frames, notes=notes)
    if not hole.any():
        write_video(req.output, video.frames, video.fps, input_path=req.video)
        _write_sources(req, hole, hole, video.fps)
        _write_compare(req, video, hole, video.frames)
        result.copied_through = True
        result.notes.append("the mask has no pixel to fill: the video was copied through unchanged")
        return result
    if hole.all():
        result.notes.append("the mask covers every pixel of every frame: nothing of the video is known, "
                            "so the model draws every pixel from nothing")

    from vidsched.runtime.executor import SamplerSettings
    from vidsched.runtime.inference import InferenceSettings, Inpainter
    from vidsched.runtime.resume import ProgressStore, fingerprint

    frames, todo, start, propagated = video.frames, hole, None, np.zeros_like(hole)
    start_sigma = None
    if req.prior == "propagate":
        from vidsched.runtime.prior import apply_prior

        prior = apply_prior(video.frames, hole, req.prior_mode, threshold=req.prior_threshold)
        frames, todo, start, propagated = prior.frames, prior.hole, prior.start, prior.propagated
        start_sigma = req.prior_strength if req.prior_mode in STARTING_MODES else None
        result.prior_seconds = prior.seconds
        result.prior_summary = (  # a line of the closing summary, not a warning
            f"propagation: {percent(prior.filled_fraction)} of the hole is visible in other frames"
            + (f"; the model starts from it at sigma {req.prior_strength:g}" if req.prior_mode == "init" else
               f"; {percent(propagated.sum() / hole.sum())} taken as known, "
               + (("the model fills the rest" + (f", starting from a guess at sigma {req.prior_strength:g}"
                                                 if req.prior_mode == "hybrid" else ""))
                  if todo.any() else "nothing left for the model")))
    if not todo.any():  # propagation filled every hole pixel with confidence
        write_video(req.output, frames, video.fps, input_path=req.video)
        _write_sources(req, hole, propagated, video.fps)
        _write_compare(req, video, hole, frames)
        return result

    settings = InferenceSettings(
        scheme=req.scheme, scheme_params=tuple(parse_overrides(req.overrides).items()),
        sampler=SamplerSettings(name=req.sampler, steps=req.steps, s_churn=req.churn, start_sigma=start_sigma), seed=req.seed,
        batch_stages=req.batch_stages, region=req.region, context=req.context,
        max_windows_per_call=req.max_windows_per_call, refine=req.refine, refine_strength=req.refine_strength,
        seam=req.seam)
    inpainter = Inpainter.from_checkpoint(req.checkpoint, settings, pick_device(req.device), req.cuda_graphs)
    planned = inpainter.plan(todo)
    result.regions = planned[0]
    # The saved state is "batches done so far" in the order the executor runs them, so
    # the batching choice is part of the run (a different order would skip stages).
    from vidsched.model.checkpoint import checkpoint_sha256

    # The checkpoint by its weights' sha256, not its path: retraining into the same file
    # must not resume into a mix of two models.
    run_key = fingerprint(*inpainter.fingerprint_parts(*planned), frames, todo, start if start is not None else 0,
                          checkpoint_sha256(req.checkpoint))
    store = ProgressStore(req.output, run_key)
    if req.resume and not store.exists():
        result.notes.append("--resume: no saved progress found, starting from the beginning")
    elif not req.resume and store.exists():
        store.clear()  # a stale state from an earlier run of the same output
        result.notes.append(f"discarded the saved progress of an earlier run in {store.dir} "
                            "(--resume continues one)")
    done = inpainter(frames, todo, progress=progress, store=store, resume=req.resume, planned=planned, prior=start)
    write_video(req.output, done.frames, video.fps, input_path=req.video)  # the outputs once all went well
    _write_sources(req, hole, propagated, video.fps)
    _write_compare(req, video, hole, done.frames)
    store.clear()
    result.stages, result.batches = done.stages, done.batches
    result.network_evaluations = done.network_evaluations
    result.seconds = done.seconds
    result.resumed_from_batch = done.resumed_from_batch
    result.notes.extend(done.notes)
    result.region_notes = done.region_notes
    return result


def percent(share: float) -> str:
    """``share`` (0-1) as ``"N %"``, never rounded to 0 or 100 when it is neither: a summary
    that says "100 % taken as known, the model fills the rest" contradicts itself."""
    if 0 < share < 0.005:
        return "< 1 %"
    if 0.995 <= share < 1:
        return "> 99 %"
    return f"{100 * share:.0f} %"


def _write_sources(req: RunRequest, hole: np.ndarray, propagated: np.ndarray, fps: float) -> None:
    """--save-sources: where each pixel came from (input, propagated, the model)."""
    if req.save_sources is not None:
        from vidsched.runtime.prior import sources_map, sources_video
        from vidsched.videoio import write_video

        write_video(req.save_sources, sources_video(sources_map(hole, propagated)), fps)


def _write_compare(req: RunRequest, video, hole: np.ndarray, result: np.ndarray) -> None:
    """--compare: the input with its hole tinted beside the result."""
    if req.compare is not None:
        from vidsched.compositing import side_by_side
        from vidsched.videoio import write_video

        write_video(req.compare, side_by_side(video.frames, hole, result), video.fps, input_path=req.video)


def explain_regions(req: RunRequest, picture: Path) -> tuple[Path, str]:
    """Draw the regions a run would use over the first frame with a hole; nothing is sampled."""
    from PIL import Image

    from vidsched.atomic import atomic_write
    from vidsched.model.checkpoint import read_checkpoint_info
    from vidsched.regions import draw_regions, plan_regions

    if Path(picture).suffix.lower() != ".png":
        raise VidschedError(f"--explain-regions {picture}: write a .png picture")
    video, hole = load_inputs(req)
    config, _, _ = read_checkpoint_info(req.checkpoint)
    plan = plan_regions(hole, config.image_size, mode=req.region, context=req.context, window=config.max_frames)
    with_hole = np.flatnonzero(hole.reshape(len(hole), -1).any(axis=1))
    t = int(with_hole[0]) if len(with_hole) else 0
    image = draw_regions(video.frames[t], hole[t], plan, t)
    atomic_write(picture, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
    return Path(picture), "".join([plan.summary(), *(f"\n  ({note})" for note in plan.notes)])
