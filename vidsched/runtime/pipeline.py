"""`vidsched run` end to end: video and mask in, inpainted video out.

    read video (any size, fps) and mask; check every output location
    -> chunks of frames (runtime.chunks: one unless the video is too long for memory),
       one after another, each conditioned on the finished frames before it:
       -> the propagation prior (runtime.prior): pixels other frames show, a guess for the rest
       -> the one inference path (runtime.inference.Inpainter): regions around the holes,
          a plan per region, the executor, hole pixels pasted back at the input's
          resolution, progress saved after every batch (and every finished chunk)
       -> its frames written at once (videowrite.video_sink; the side-by-side comparison and
          the sources map too, if asked); each output appears, whole, at the end

Every known pixel of the input is returned unchanged: only hole pixels are written.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsched.detail import RESTORING_MODES
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
    region: str = "auto"  # one of REGION_MODES: auto, crop (regions around the holes) or full (the whole frame, letterboxed)
    context: int | None = None  # pixels of surroundings kept around each hole (None: the default)
    refine: int = 0  # coarse-to-fine levels (runtime.inference.InferenceSettings.refine)
    refine_strength: float = 0.5
    seam: str = "match"  # match the fill's border colours to the known pixels (vidsched.seams; results section 10)
    detail: str = "none"  # restore: the prior keeps the detail its average takes; clone: that, and still holes get
    # their surroundings' detail (vidsched.detail; results sections 9 and 14)
    prior: str = DEFAULT_PRIOR  # propagate: bring in pixels other frames show (runtime/prior.py), or none
    prior_mode: str = DEFAULT_MODE  # known: trusted propagated pixels become known; init: SDEdit start
    prior_threshold: float = DEFAULT_THRESHOLD  # confidence from which a propagated pixel is known (known mode)
    prior_strength: float = DEFAULT_STRENGTH  # SDEdit's starting sigma (init mode)
    save_sources: Path | None = None  # write where each pixel came from (input / propagated / model)
    chunk_frames: int | None = None  # frames per chunk of a long video (None: as many as ~4 GB allows)


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
    from vidsched.videowrite import output_kind

    check_writable(req.output, folder=output_kind(req.output) == "folder")
    progress = partial_dir(req.output)
    if progress.exists() and not progress.is_dir():
        raise VidschedError(f"cannot save the run's progress in {progress}: a file of that name exists")
    for option, path in (("--compare", req.compare), ("--save-sources", getattr(req, "save_sources", None))):
        if path is not None:
            check_writable(path, folder=output_kind(path) == "folder", what=option)


def load_inputs(req: RunRequest, notes: list[str] | None = None):
    """The video (decoded chunk by chunk) and its hole mask (T, H, W; a
    :class:`~vidsched.packedmask.PackedMask`: ``hole[a:b]`` gives bool frames); how the
    mask was read (if worth a word) is appended to ``notes``."""
    from vidsched.geometry import check_mask
    from vidsched.masks_io import fit_mask_size, load_mask
    from vidsched.videoio import read_video, same_file
    from vidsched.videowrite import output_kind

    if same_file(req.video, req.output):
        raise VidschedError(f"the output {req.output} is the input video; choose another -o")
    # Check the output names before any work, not after the sampling.
    output_kind(req.output)
    if req.compare is not None:
        output_kind(req.compare)
        if same_file(req.compare, req.video) or same_file(req.compare, req.output):
            raise VidschedError(f"--compare {req.compare} is the input or the output; choose another name")
    check_outputs(req)
    video = read_video(req.video, fps=req.fps, stream=True)  # a video file is decoded chunk by chunk
    if req.mask is None:
        raise MaskError("no mask given: pass --mask (white = pixels to fill)")
    # One bit a pixel, read frame by frame (vidsched.packedmask): the mask of a long video
    # fits in memory, and a single image is held once whatever the length.
    hole = load_mask(req.mask, invert=req.mask_white_is_known, num_frames=video.num_frames, notes=notes,
                     packed=True)
    if getattr(video, "source_frames", None) is not None and req.fps is not None and hole.shape[0] != video.num_frames:
        # The video was resampled in time: keep the mask in step with it.
        if hole.shape[0] > max(video.source_frames):
            hole = hole.frames(np.asarray(video.source_frames))
    hole = fit_mask_size(hole, *video.size, notes)
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


def check_choices(req: RunRequest) -> None:
    """Each option with a fixed set of values has one of them (VidschedError otherwise): the
    CLI's enums check the same sets, but a RunRequest built in code meets no CLI."""
    from vidsched.detail import DETAIL_MODES
    from vidsched.regions import REGION_MODES
    from vidsched.runtime.prior import PRIOR_KINDS, PRIOR_MODES
    from vidsched.seams import SEAM_MODES

    for option, value, allowed in (("--region", req.region, REGION_MODES), ("--seam", req.seam, SEAM_MODES),
                                   ("--detail", req.detail, DETAIL_MODES), ("--prior", req.prior, PRIOR_KINDS),
                                   ("--prior-mode", req.prior_mode, PRIOR_MODES)):
        if value not in allowed:
            raise VidschedError(f"{option} {value!r} is not one of {', '.join(allowed)}")


def inpaint(req: RunRequest, progress=None) -> RunResult:
    """Run the whole job; `progress` is an executor.Progress (optional)."""
    check_choices(req)
    notes: list[str] = []
    video, hole = load_inputs(req, notes)
    result = RunResult(output=req.output, frames=video.num_frames, notes=notes)
    T = len(hole)
    if not hole.any():
        with _outputs(req, video.fps, T) as write:
            step = _plan_chunks(req, hole)[0].stop  # as many frames at a time as a chunk
            for a in range(0, T, step):
                frames, none = video.frames[a:a + step], hole[a:a + step]
                write(frames, none, frames, none)
        result.copied_through = True
        result.notes.append("the mask has no pixel to fill: the video was copied through unchanged")
        return result
    if req.detail in RESTORING_MODES and (req.prior == "none" or req.prior_mode not in STARTING_MODES):
        result.notes.append(f"--detail {req.detail}: the prior does not average over frames here (--prior "
                            f"{req.prior}" + (f" --prior-mode {req.prior_mode}" if req.prior != "none" else "")
                            + "), so there is no detail to give back" + (
                                "; still holes are still cloned" if req.detail == "clone" else ""))
    if hole.all():
        result.notes.append("the mask covers every pixel of every frame: nothing of the video is known, "
                            "so the model draws every pixel from nothing")

    from vidsched.runtime.resume import ProgressStore

    chunks = _plan_chunks(req, hole)
    if len(chunks) > 1:
        result.notes.append(
            f"{T} frames in {len(chunks)} chunks of about {chunks[0].stop - chunks[0].start} (memory: "
            + ("--chunk-frames" if req.chunk_frames else "about 4 GB of working memory at this frame size; "
               "--chunk-frames sets it")
            + "); each chunk is conditioned on the finished frames before it")
    store = ProgressStore(req.output, "")
    if req.resume and not store.has_progress():
        result.notes.append("--resume: no saved progress found, starting from the beginning")
    elif not req.resume and store.has_progress():
        store.clear()  # a stale state from an earlier run of the same output
        result.notes.append(f"discarded the saved progress of an earlier run in {store.dir} "
                            "(--resume continues one)")
    runner = _ChunkRunner(req, hole, result, progress)
    # Frames are written as their chunk finishes; each output appears, whole, at the end.
    with _outputs(req, video.fps, T) as write:
        pending = None  # the last chunk's fill of the frames the next one fills too
        for i, chunk in enumerate(chunks):
            if progress is not None and progress.on_chunk is not None and len(chunks) > 1:
                progress.on_chunk(chunk.index, len(chunks), chunk.start, chunk.stop)
            filled, propagated = runner.fill(video.frames, chunk, len(chunks))
            if chunk.blend:
                both = slice(0, chunk.blend)
                filled[both], propagated[both] = cross_fade(*pending, filled[both], propagated[both],
                                                            hole[chunk.start:chunk.start + chunk.blend])
            shared = chunks[i + 1].blend if i + 1 < len(chunks) else 0
            done = len(filled) - shared
            pending = (filled[done:], propagated[done:])
            piece = slice(chunk.start, chunk.start + done)
            write(video.frames[piece], hole[piece], filled[:done], propagated[:done])
            video.frames[piece] = filled[:done]  # finished: the next chunk is conditioned on it
    store.clear()
    runner.summarise()
    return result


@contextmanager
def _outputs(req: RunRequest, fps: float, num_frames: int):
    """The run's outputs (the result; --compare, --save-sources if asked), written piece by
    piece: ``write(input frames, hole, result frames, propagated)`` takes the next frames;
    each output appears, whole, when the block ends (videowrite.video_sink)."""
    from contextlib import ExitStack

    from vidsched.compositing import side_by_side
    from vidsched.runtime.prior import sources_map, sources_video
    from vidsched.videowrite import video_sink

    with ExitStack() as stack:
        out = stack.enter_context(video_sink(req.output, fps, num_frames, input_path=req.video))
        compare = (stack.enter_context(video_sink(req.compare, fps, num_frames, input_path=req.video))
                   if req.compare is not None else None)
        sources = (stack.enter_context(video_sink(req.save_sources, fps, num_frames))
                   if req.save_sources is not None else None)

        def write(frames: np.ndarray, hole: np.ndarray, result: np.ndarray, propagated: np.ndarray) -> None:
            if compare is not None:
                compare(side_by_side(frames, hole, result))
            if sources is not None:
                sources(sources_video(sources_map(hole, propagated)))
            out(result)

        yield write


def _plan_chunks(req: RunRequest, hole: np.ndarray):
    """The chunks a run fills (vidsched.runtime.chunks): ``--chunk-frames``, or what the
    memory budget allows at the video's size."""
    from vidsched.runtime.chunks import auto_chunk_frames, plan_chunks

    T, H, W = hole.shape
    return plan_chunks(T, req.chunk_frames or min(T, auto_chunk_frames(H, W)))


def cross_fade(before: np.ndarray, before_propagated: np.ndarray, after: np.ndarray, after_propagated: np.ndarray,
               hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames that two chunks both filled (``before`` by the earlier one, ``after`` by the
    later, ``N x H x W x 3``): their hole pixels fade from the one to the other, frame
    ``j`` taking ``(j + 1) / (N + 1)`` of ``after``; known pixels are the same in both and
    stay exact. A pixel counts as propagated (for ``--save-sources``) where the fill with
    the larger weight propagated it."""
    n = len(before)
    weight = (np.arange(1, n + 1, dtype=np.float32) / np.float32(n + 1))[:, None, None, None]
    mixed = np.rint((1 - weight) * before + weight * after).astype(np.uint8)
    frames = np.where(hole[..., None], mixed, after)
    propagated = np.where(weight[..., 0] >= 0.5, after_propagated, before_propagated)
    return frames, propagated


def chunk_prior(req: RunRequest, frames: np.ndarray, hole: np.ndarray, context: int, cut: int, progress=None):
    """The propagation prior of a chunk's frames: ``context`` finished frames first, then
    the chunk's own up to ``cut``, then its look-ahead (a source only). ``progress``: an
    executor.Progress whose ``on_prior`` hears how many frames are propagated."""
    from vidsched.runtime.prior import apply_prior

    return apply_prior(frames, hole, req.prior_mode, threshold=req.prior_threshold,
                       fill=(context, cut) if context or cut < len(frames) else None,
                       progress=getattr(progress, "on_prior", None), restore=req.detail in RESTORING_MODES)


class _ChunkRunner:
    """Fills a run's chunks one after another (vidsched.runtime.chunks): the prior, then
    the model on what is left, with its progress saved; adds up what they did."""

    def __init__(self, req: RunRequest, hole: np.ndarray, result: RunResult, progress) -> None:
        self.req, self.hole, self.result, self.progress = req, hole, result, progress
        self.inpainter = None
        self._checkpoint_sha = None
        self.prior_hole = self.prior_filled = 0.0  # for the summary: hole pixels, and those propagation filled
        self.detail_gains: list[float] = []  # for the summary: --detail restore's gain of each frame with a hole
        self.propagated = self.filled_hole = 0
        self.detail_sources = None  # --detail clone: planned on the first chunk, used by every chunk

    def fill(self, video_frames: np.ndarray, chunk, num_chunks: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``[chunk.start, chunk.stop)`` filled, and which of their hole pixels
        propagation filled (kept as known); ``video_frames`` holds the finished frames
        before ``chunk.start``."""
        from vidsched.runtime.resume import ProgressStore, fingerprint

        req, result = self.req, self.result
        frames = video_frames[chunk.lo:chunk.hi]
        # Finished frames: known pixels from now on (the prior hides their holes from
        # propagation, which copies only what the input shows: vidsched.runtime.prior).
        hole = self.hole[chunk.lo:chunk.hi]
        known_hole = hole.copy()
        known_hole[:chunk.start - chunk.lo] = False
        keep = slice(chunk.start - chunk.lo, chunk.stop - chunk.lo)
        cut = chunk.stop - chunk.lo  # the model works on [lo, stop): the look-ahead is the prior's
        if num_chunks > 1:  # a finished chunk of an interrupted run: its hole pixels were saved
            key = fingerprint(self._settings_parts(), chunk.lo, chunk.start, chunk.stop, chunk.hi, frames, hole)
            name, store = f"chunk-{chunk.index}-{key[:16]}", ProgressStore(req.output, "")
            if req.resume and store.has_array(name):
                done = frames[keep].copy()
                done[hole[keep]] = store.load_array(name)
                propagated = store.load_array(name + "-propagated") if store.has_array(name + "-propagated") \
                    else np.zeros_like(hole[keep])
                self._count(hole[keep], propagated, chunk.blend)
                return done, propagated
        todo, start, propagated, model_frames = known_hole[:cut], None, np.zeros_like(hole[:cut]), frames[:cut]
        start_sigma = None
        if req.prior == "propagate":
            prior = chunk_prior(req, frames, hole, chunk.start - chunk.lo, cut, self.progress)
            model_frames, todo, propagated = prior.frames[:cut], prior.hole[:cut], prior.propagated[:cut]
            start = prior.start[:cut] if prior.start is not None else None
            start_sigma = req.prior_strength if req.prior_mode in STARTING_MODES else None
            result.prior_seconds += prior.seconds
            chunk_hole = float(known_hole[:cut].sum())
            self.prior_hole += chunk_hole
            self.prior_filled += prior.filled_fraction * chunk_hole
            if prior.detail_gains is not None:  # --detail restore / clone: for the summary
                own = known_hole[:cut].reshape(cut, -1).any(axis=1)  # not the frames an earlier chunk finished
                self.detail_gains.extend(prior.detail_gains[:cut][own].tolist())
        self._count(hole[keep], propagated[keep], chunk.blend)
        if not todo.any():  # propagation filled every hole pixel with confidence
            done = model_frames[keep].copy()
        else:
            done = self._model(model_frames, todo, start, start_sigma, chunk)[keep]
        if req.detail == "clone":
            # Only what no frame showed: propagated pixels keep their own (real) detail.
            done = self._detail(done, hole[keep] & ~propagated[keep], store if num_chunks > 1 else None)
        if num_chunks > 1:  # finished: keep its hole pixels for --resume
            store.save_array(name, done[hole[keep]])
            store.save_array(name + "-propagated", propagated[keep])
            store.clear_batches()
        return done, propagated[keep]

    def _detail(self, done: np.ndarray, hole: np.ndarray, store=None) -> np.ndarray:
        """``done`` with its still holes given their surroundings' detail (vidsched.detail).
        The sources are found once, on the first chunk, so that every chunk copies from the
        same place and the texture does not jump at a chunk's first frame; in chunks they
        are saved with the progress (``store``), so that a resumed run whose first chunk
        was finished copies from the same place too."""
        from vidsched.detail import (apply_detail, describe_sources, plan_detail, sources_from_array, sources_to_array,
                                     still_and_ever)
        from vidsched.runtime.resume import fingerprint

        if self.detail_sources is None:
            always, ever = still_and_ever(self.hole)
            name = f"detail-sources-{fingerprint(self._settings_parts(), always, ever)[:16]}"
            if store is not None and self.req.resume and store.has_array(name):
                self.detail_sources = sources_from_array(store.load_array(name), always)
            else:
                self.detail_sources = plan_detail(done, always, ever)
                if store is not None:
                    store.save_array(name, sources_to_array(self.detail_sources, always))
            self.result.notes.append(describe_sources(self.detail_sources, bool(always.any())))
        return apply_detail(done, hole, self.detail_sources)

    def _count(self, hole: np.ndarray, propagated: np.ndarray, blend: int) -> None:
        """For the summary: a chunk's hole pixels and those propagation filled, less the
        frames the chunk before has counted already."""
        self.filled_hole += int(hole[blend:].sum())
        self.propagated += int(propagated[blend:].sum())

    def _settings_parts(self) -> list:
        from dataclasses import asdict

        settings = {k: v for k, v in asdict(self.req).items()
                    if k not in ("video", "mask", "output", "compare", "save_sources", "resume", "device",
                                 "cuda_graphs", "max_windows_per_call")}
        return [settings, self.checkpoint_sha()]

    def checkpoint_sha(self) -> str:
        """The checkpoint by its weights' sha256, not its path (hashed once per run):
        retraining into the same file must not resume into a mix of two models."""
        if self._checkpoint_sha is None:
            from vidsched.model.checkpoint import checkpoint_sha256

            self._checkpoint_sha = checkpoint_sha256(self.req.checkpoint)
        return self._checkpoint_sha

    def _model(self, frames: np.ndarray, todo: np.ndarray, start, start_sigma, chunk) -> np.ndarray:
        """The model fills ``todo`` in ``frames`` (a chunk's, look-ahead cut off); its
        progress is saved after every batch."""
        from vidsched.compiler import parse_overrides
        from vidsched.runtime.executor import SamplerSettings
        from vidsched.runtime.inference import InferenceSettings, Inpainter
        from vidsched.runtime.resume import ProgressStore, fingerprint

        req, result = self.req, self.result
        if self.inpainter is None:  # loaded once; its settings come from the request alone
            settings = InferenceSettings(
                scheme=req.scheme, scheme_params=tuple(parse_overrides(req.overrides).items()),
                sampler=SamplerSettings(name=req.sampler, steps=req.steps, s_churn=req.churn, start_sigma=start_sigma),
                seed=req.seed, batch_stages=req.batch_stages, region=req.region, context=req.context,
                max_windows_per_call=req.max_windows_per_call, refine=req.refine, refine_strength=req.refine_strength,
                seam=req.seam)
            self.inpainter = Inpainter.from_checkpoint(req.checkpoint, settings, pick_device(req.device),
                                                       req.cuda_graphs)
        inpainter = self.inpainter
        planned = inpainter.plan(todo)
        first = result.regions is None
        if first:
            result.regions = planned[0]
        # The saved state is "batches done so far" in the order the executor runs them, so
        # the batching choice is part of the run (a different order would skip stages).
        run_key = fingerprint(*inpainter.fingerprint_parts(*planned), frames, todo, start if start is not None else 0,
                              self.checkpoint_sha())
        store = ProgressStore(req.output, run_key)
        done = inpainter(frames, todo, progress=self.progress, store=store, resume=req.resume, planned=planned,
                         prior=start)
        result.stages += done.stages
        result.batches += done.batches
        result.network_evaluations += done.network_evaluations
        result.seconds += done.seconds
        if done.resumed_from_batch and not result.resumed_from_batch:
            result.resumed_from_batch = done.resumed_from_batch
        if first:  # the first chunk's regions and notes speak for the run (each chunk plans its own)
            result.notes.extend(done.notes)
            result.region_notes = done.region_notes + (
                [f"regions of frames {chunk.start}-{chunk.stop - 1}, the first chunk the model worked on; "
                 "every chunk plans its own"] if chunk.stop - chunk.start < len(self.hole) else [])
        return done.frames

    def summarise(self) -> None:
        """The closing summary's line on the prior."""
        req = self.req
        if req.prior != "propagate" or not self.prior_hole:
            return
        share = self.propagated / max(1, self.filled_hole)
        self.result.prior_summary = (  # a line of the closing summary, not a warning
            f"propagation ({self.result.prior_seconds:.1f} s): {percent(self.prior_filled / self.prior_hole)} of the "
            "hole is visible in other frames"
            + (f"; the model starts from it at sigma {req.prior_strength:g}" if req.prior_mode == "init" else
               f"; {percent(share)} taken as known, "
               + (("the model fills the rest" + (f", starting from a guess at sigma {req.prior_strength:g}"
                                                 if req.prior_mode == "hybrid" else ""))
                  if share < 1 else "nothing left for the model"))
            + (f"; {describe_gains(self.detail_gains)}" if self.detail_gains else ""))


def describe_gains(gains: list[float]) -> str:
    """What --detail restore (and clone) did to the prior's guess, for the summary (gains of
    vidsched.detail.restore_detail)."""
    raised = [g for g in gains if g > 1.005]
    if not raised:
        return "--detail: the average over frames took no fine detail away, nothing was raised"
    return (f"--detail: the fine detail the average over frames took was given back, x{np.mean(raised):.2f} "
            f"on average in {len(raised)} of {len(gains)} frames (at most x{max(raised):.2f})")


def percent(share: float) -> str:
    """``share`` (0-1) as ``"N %"``, never rounded to 0 or 100 when it is neither: a summary
    that says "100 % taken as known, the model fills the rest" contradicts itself."""
    if 0 < share < 0.005:
        return "< 1 %"
    if 0.995 <= share < 1:
        return "> 99 %"
    return f"{100 * share:.0f} %"


def explain_regions(req: RunRequest, picture: Path) -> tuple[Path, str]:
    """Draw the regions a run would use over the first frame it fills (after the prior, in
    its first chunk); nothing is sampled."""
    from PIL import Image

    from vidsched.atomic import atomic_write
    from vidsched.model.checkpoint import read_checkpoint_info
    from vidsched.regions import draw_regions, plan_regions

    check_choices(req)
    if Path(picture).suffix.lower() != ".png":
        raise VidschedError(f"--explain-regions {picture}: write a .png picture")
    video, hole = load_inputs(req)
    config, _, _ = read_checkpoint_info(req.checkpoint)
    # The regions of the run's first chunk, planned as the run plans them: on what the
    # propagation prior leaves to the model.
    T = len(hole)
    chunk = _plan_chunks(req, hole)[0]
    todo, notes = hole[:chunk.stop], []
    if req.prior == "propagate" and todo.any():
        todo = chunk_prior(req, video.frames[:chunk.hi], hole[:chunk.hi], 0, chunk.stop).hole[:chunk.stop]
        notes.append(f"planned on what propagation leaves to the model: {percent(todo.sum() / hole[:chunk.stop].sum())} "
                     "of the hole" + (f"; frames 0-{chunk.stop - 1}, the first chunk" if chunk.stop < T else ""))
    plan = plan_regions(todo, config.image_size, mode=req.region, context=req.context, window=config.max_frames)
    with_hole = [np.flatnonzero(todo.reshape(len(todo), -1).any(axis=1)), np.flatnonzero(hole.frame_has_hole())]
    t = int(with_hole[0][0]) if len(with_hole[0]) else int(with_hole[1][0]) if len(with_hole[1]) else 0
    image = draw_regions(video.frames[t], todo[t] if t < len(todo) else hole[t], plan, t)
    atomic_write(picture, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
    return Path(picture), "".join([plan.summary(), *(f"\n  ({note})" for note in [*notes, *plan.notes])])
