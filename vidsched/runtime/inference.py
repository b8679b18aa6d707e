"""The one inference path: frames and a hole in, filled frames out.

Every caller that runs the model on a video goes through :class:`Inpainter`:
``vidsched run`` (:mod:`vidsched.runtime.pipeline`), the experiments' model method
(:mod:`vidsched.benchmark`) and the training previews (:mod:`vidsched.training.report`).

    frames (T, H, W, 3) uint8, hole (T, H, W) bool  (any size)
    -> regions around the holes (vidsched.regions: a square box per hole or per stretch
       of a moving hole's path, at the zoom the model is good at; or the whole frame)
    -> per region: cut the box from every frame and resize it to the model's S x S
       (letterboxed, never stretched); compile the scheme for the region's own hole
       (mask-aware specialisation drops the frames where the region has nothing to fill)
    -> per wave of regions (:func:`job_waves`): run their plans in lockstep
       (runtime.executor.Executor.run_tracks: the b-th batch of every region of the wave
       together, their windows sharing network calls); paste the filled pixels back at
       the source resolution, ONLY where the hole was
    -> the filled frames: every known pixel is the input's, bit for bit.

The host copy stays at the input's resolution; only one wave's S x S windows exist at
the model's. Regions are ordered: a later region sees what earlier ones filled as known
pixels, and the holes that other regions fill are unknown pixels of its conditioning
frames (the executor's ``unknown`` map), never known values. Regions whose boxes are
apart cannot see each other, so they share a wave; the result is that of the regions one
by one (to the bit with one window per network call, as on a CPU; up to float rounding
with batched calls, as on a GPU, where a wave of R regions makes R times fewer calls).

Resume: after every batch the current wave's small buffers (stacked) and a global batch
counter are saved; each finished region's small buffer is saved once, so a resumed run
re-pastes the finished regions (deterministically) and continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from vidsched.errors import VidschedError

DEFAULT_SCHEME = "improved_ar_far_future"
REGION_SEED_OFFSET = 1 << 20  # region r > 0 seeds its stages from stage_seed(seed, offset + r)


@dataclass(frozen=True)
class InferenceSettings:
    """What a run does besides the model: scheme, sampler, seed, batching, regions."""

    scheme: str = DEFAULT_SCHEME
    scheme_params: tuple[tuple[str, int | bool], ...] = ()  # (name, value) pairs; T and K come from the input/model
    sampler: object = None  # runtime.executor.SamplerSettings (None: its defaults, RUN_SAMPLER and RUN_STEPS)
    seed: int = 0
    batch_stages: bool = True
    region: str = "auto"  # auto, crop or full (vidsched.regions.plan_regions)
    context: int | None = None  # pixels of surroundings around a hole (None: the regions' default)
    max_windows_per_call: int | None = None  # None: 1 on a CPU, the whole batch on a GPU
    # Coarse-to-fine (SDEdit, Meng et al. 2022): regions coarser than zoom 1.5 are refined
    # `refine` times by tiles at half the zoom, each sampled from `refine_strength` (sigma)
    # starting from the coarser fill, the known pixels (and earlier tiles) conditioning it.
    refine: int = 0
    refine_strength: float = 0.5
    seam: str = "none"  # "match": match the fill's border colours to the known pixels (vidsched.seams)

    def sampler_settings(self):
        from vidsched.runtime.executor import SamplerSettings

        return self.sampler if self.sampler is not None else SamplerSettings()


@dataclass
class RegionJob:
    """One region's problem at the model's resolution."""

    region: object  # vidsched.regions.Region
    plan: object  # vidsched.plan.Plan
    geometry: object  # vidsched.geometry.Geometry of the box -> S x S
    refine: bool = False  # a coarse-to-fine tile: re-samples the region's fill from refine_strength
    # The bounding box (y0, x0, y1, x1, source pixels, over every frame) of the pixels it
    # fills, the only ones it writes (None: its whole box).
    fill_box: tuple[int, int, int, int] | None = None


@dataclass
class InferenceResult:
    frames: np.ndarray  # (T, H, W, 3) uint8
    regions: object  # vidsched.regions.RegionPlan
    stages: int = 0
    batches: int = 0
    network_evaluations: int = 0
    seconds: float = 0.0
    resumed_from_batch: int = 0
    notes: list[str] = field(default_factory=list)
    region_notes: list[str] = field(default_factory=list)  # how the regions were chosen


class Inpainter:
    """A loaded network with its sampler settings: call it on frames and a hole."""

    def __init__(self, model, config, meta: dict, settings: InferenceSettings = InferenceSettings(),
                 device=None, cuda_graphs: bool = True) -> None:
        import torch

        from vidsched.model.checkpoint import prediction_of, schedule_of
        from vidsched.runtime.denoiser import model_denoiser
        from vidsched.runtime.executor import Executor

        self.config, self.settings = config, settings
        self.notes: list[str] = []
        # "auto" crops only for a network trained at several zooms (data.crop: multiscale):
        # one trained on whole frames squeezed to S x S has seen a single zoom, and a close-up
        # region is outside what it knows (checked by eye: a pale smear instead of grass).
        self.region_mode = settings.region
        if settings.region == "auto" and not trained_multiscale(meta):
            self.region_mode = "full"
            self.notes.append("this checkpoint was trained on whole frames only: it works on the whole frame "
                              "(--region crop forces regions)")
        self.device = device or torch.device("cpu")
        self.model = model.to(self.device).eval()
        sampler = settings.sampler_settings()
        if sampler.spec.grid == "schedule" and sampler.schedule != schedule_of(meta):
            # DDPM's sigma grid follows the schedule the network was trained with.
            from dataclasses import replace

            sampler = replace(sampler, schedule=schedule_of(meta))
        self.sampler = sampler
        cap = settings.max_windows_per_call or (1 if self.device.type == "cpu" else None)
        make = model_denoiser(self.model, cuda_graphs=cuda_graphs, prediction=prediction_of(meta))
        self.executor = Executor(make, sampler, device=self.device, max_windows_per_call=cap)
        from dataclasses import replace

        self.refine_executor = Executor(make, replace(sampler, start_sigma=settings.refine_strength),
                                        device=self.device, max_windows_per_call=cap)

    @classmethod
    def from_checkpoint(cls, path, settings: InferenceSettings = InferenceSettings(), device=None,
                        cuda_graphs: bool = True) -> "Inpainter":
        from vidsched.model.checkpoint import load_checkpoint

        model, config, meta = load_checkpoint(path)
        return cls(model, config, meta, settings, device, cuda_graphs)

    # ---- planning ------------------------------------------------------------------------
    def plan(self, hole: np.ndarray):
        """The regions of a hole (T, H, W) and, per region, its geometry and compiled plan."""
        from vidsched.compiler import compile_scheme
        from vidsched.geometry import Geometry, mask_to_model_resolution
        from vidsched.lang.holes import HoleMap
        from vidsched.regions import REFINE_MIN_ZOOM, plan_regions, refinement_tiles

        S = self.config.image_size
        s = self.settings
        regions = plan_regions(hole, S, mode=self.region_mode, context=s.context, window=self.config.max_frames)
        params = dict(s.scheme_params)
        K = self.config.max_frames
        if "K" in params and params["K"] != K:
            if isinstance(params["K"], int) and params["K"] > K:
                raise VidschedError(f"--set K={params['K']}: the model sees at most K = {K} frames per stage")
        params.setdefault("K", K)
        if "T" in params and params["T"] != len(hole):
            raise VidschedError(f"--set T={params['T']}, but the video has {len(hole)} frames")
        params["T"] = len(hole)
        def job(region, fill, refine: bool) -> RegionJob:
            geometry = Geometry.compute((region.y1 - region.y0, region.x1 - region.x0), S, "letterbox")
            small = mask_to_model_resolution(fill, geometry)
            # The region's hole as the model sees it: its frames without a hole are complete,
            # and the mask-aware built-ins read it.
            plan = compile_scheme(s.scheme, params, holes=HoleMap.from_mask(small), steps=self.sampler.steps,
                                  sampler=self.sampler.name)
            ys, xs = np.nonzero(fill.any(axis=0))
            fill_box = ((region.y0 + int(ys.min()), region.x0 + int(xs.min()),
                         region.y0 + int(ys.max()) + 1, region.x0 + int(xs.max()) + 1) if ys.size else None)
            return RegionJob(region, plan, geometry, refine, fill_box)

        jobs = []
        unknown = hole.copy()  # regions run in order: each fills what the earlier ones left
        for region in regions.regions:
            fill = self._fill(unknown, region)
            if not fill.any():
                continue  # everything it would fill was filled by earlier regions
            unknown[:, region.y0:region.y1, region.x0:region.x1] &= ~fill
            jobs.append(job(region, fill, False))
        level = [j.region for j in jobs]
        for _ in range(s.refine):  # coarse-to-fine: tiles at half the zoom of the coarse regions
            level = [t for r in level if r.zoom > REFINE_MIN_ZOOM for t in refinement_tiles(r, hole, S)]
            jobs.extend(job(t, self._fill(hole, t), True) for t in level)
        return regions, jobs

    def _track(self, r: int, job: RegionJob, out: np.ndarray, hole: np.ndarray, unknown: np.ndarray,
               prior: np.ndarray | None, seed: int, saved: np.ndarray | None):
        """Job ``r``'s problem at the model's resolution as an executor Track -- its buffer
        is ``saved`` (a resumed run's), else the SDEdit start (the coarse fill for a
        refinement tile, the prior's guess) or the known pixels -- and what pasting its
        fill back needs (box, fill, the box at the model's resolution)."""
        from vidsched.geometry import mask_to_model_resolution, to_model_resolution
        from vidsched.runtime.executor import Track, initial_buffer, stage_seed

        region, geometry = job.region, job.geometry
        box = (slice(None), slice(region.y0, region.y1), slice(region.x0, region.x1))
        # A refinement tile re-samples hole pixels that are filled by now: its fill is the
        # original hole, everything else (earlier tiles included) conditions it.
        fill = self._fill(hole if job.refine else unknown, region)
        small, _ = to_model_resolution(out[box], geometry.model_h, mode="letterbox")
        small_fill = mask_to_model_resolution(fill, geometry)
        small_unknown = mask_to_model_resolution(unknown[box], geometry) | small_fill
        if saved is not None:
            buffer = saved
        elif job.refine or prior is not None:  # SDEdit starts from the coarse fill / the prior
            guess = small if job.refine else to_model_resolution(prior[box], geometry.model_h, mode="letterbox")[0]
            buffer = guess.astype(np.float16) / np.float16(127.5) - np.float16(1.0)
        else:
            buffer = initial_buffer(small, small_unknown)
        # Every region draws its own noise (the first keeps the run's seed, so a single
        # whole-frame region samples exactly as the plan alone would).
        region_seed = seed if r == 0 else stage_seed(seed, REGION_SEED_OFFSET + r)
        return Track(job.plan, buffer, small_fill, region_seed, small_unknown, f"region {r + 1}"), (box, fill, small)

    def _paste(self, job: RegionJob, track, box, fill: np.ndarray, small: np.ndarray, out: np.ndarray,
               unknown: np.ndarray, prior: np.ndarray | None) -> None:
        """Paste a sampled job's fill into ``out`` (only its fill pixels) and mark them known."""
        from vidsched.compositing import composite_back
        from vidsched.runtime.executor import compose_output
        from vidsched.seams import match_border

        filled = compose_output(small, track.hole, track.buffer)
        if prior is not None and not job.refine:
            out[box] = _detail_preserving(out[box], fill, filled, prior[box], job.geometry)
        else:
            out[box] = composite_back(out[box], fill, filled, job.geometry)
        unknown[box] &= ~fill
        if self.settings.seam == "match":
            out[box] = match_border(out[box], fill, known=~unknown[box])

    @staticmethod
    def _fill(unknown: np.ndarray, region) -> np.ndarray:
        """The pixels this region fills: unknown pixels of its box that it owns (its own
        pieces of the hole, in its frames; vidsched.regions). Other regions' holes in its
        box stay unknown pixels of its conditioning frames."""
        return unknown[:, region.y0:region.y1, region.x0:region.x1] & region.owned(len(unknown))

    def fingerprint_parts(self, regions, jobs) -> list:
        """What identifies this run's plans and settings (for resume)."""
        boxes = [(r.y0, r.x0, r.y1, r.x1, list(r.frames), [list(p) for p in r.pieces]) for r in regions.regions]
        return [regions.mode, boxes, [j.plan.model_dump(mode="json") for j in jobs], self.sampler.to_dict(),
                self.settings.seed, self.settings.batch_stages]

    # ---- running -------------------------------------------------------------------------
    def __call__(self, frames: np.ndarray, hole: np.ndarray, progress=None, store=None, resume: bool = False,
                 planned=None, seed: int | None = None, prior: np.ndarray | None = None) -> InferenceResult:
        """Fill ``hole`` (T, H, W) bool in ``frames`` (T, H, W, 3) uint8.

        ``store`` (a :class:`~vidsched.runtime.resume.ProgressStore`) saves progress after
        every batch; with ``resume`` the run continues from it. ``planned`` reuses the
        output of :meth:`plan`; ``seed`` overrides the settings' seed. ``prior`` (T, H, W, 3)
        uint8 holds a guess for the hole pixels (propagated pixels, a coarse fill): with the
        sampler's ``start_sigma`` set, sampling starts from it noised to that level (SDEdit)."""
        if prior is not None and self.sampler.start_sigma is None:
            raise VidschedError("a prior needs a starting noise level (SamplerSettings.start_sigma)")
        if prior is None and self.sampler.start_sigma is not None:
            raise VidschedError("a starting noise level (start_sigma) needs a prior to start from")
        import torch

        from vidsched.runtime.executor import batches_to_run

        regions, jobs = planned if planned is not None else self.plan(hole)
        s = self.settings
        seed = s.seed if seed is None else seed
        orders = [batches_to_run(job.plan, s.batch_stages) for job in jobs]
        waves = job_waves(jobs, s.batch_stages)
        steps = [max(len(orders[r]) for r in wave) for wave in waves]
        offsets = np.cumsum([0] + steps).tolist()
        result = InferenceResult(frames=frames.copy(), regions=regions,
                                 region_notes=[*self.notes, *regions.notes])
        result.stages = sum(len(j.plan.stages) for j in jobs)
        result.batches = offsets[-1]
        start, state_buffers = 0, None
        if resume and store is not None and store.exists():
            state = store.load()
            start, state_buffers = state.next_batch, state.buffer
            result.resumed_from_batch = start
        if progress is not None and progress.on_start:
            left = sum(len(orders[r][b]) for w, wave in enumerate(waves) for r in wave
                       for b in range(len(orders[r])) if offsets[w] + b >= start)
            progress.on_start(left, offsets[-1] - start, self.sampler.steps)
        unknown = hole.copy()
        out = result.frames
        t0 = time.perf_counter()
        for w, wave in enumerate(waves):
            local_start = min(max(start - offsets[w], 0), steps[w])
            parts = []
            for k, r in enumerate(wave):
                saved = None
                if local_start == steps[w] and store is not None and steps[w]:
                    saved = store.load_array(f"region-{r}")  # finished before the interruption
                elif local_start > 0 and state_buffers is not None:
                    saved = state_buffers[k]
                parts.append(self._track(r, jobs[r], out, hole, unknown, prior, seed, saved))
            tracks = [track for track, _ in parts]
            if local_start < steps[w]:
                def after_batch(next_batch: int, buffers: list, w=w, wave=wave) -> None:
                    if store is not None:
                        if next_batch == steps[w]:
                            for r, buf in zip(wave, buffers):
                                store.save_array(f"region-{r}", buf)
                        store.save(offsets[w] + next_batch, np.stack(buffers))

                executor = self.refine_executor if jobs[wave[0]].refine else self.executor
                with torch.inference_mode():
                    stats = executor.run_tracks(tracks, batch_stages=s.batch_stages, start_batch=local_start,
                                                progress=_shifted(progress, offsets[w]), after_batch=after_batch)
                result.network_evaluations += sum(st.network_evaluations for st in stats)
            for r, (track, where) in zip(wave, parts):  # in job order: a later job's fill last
                self._paste(jobs[r], track, *where, out, unknown, prior)
        result.seconds = time.perf_counter() - t0
        for job in jobs:
            if job.plan.mask is not None and job.plan.mask.stages_saved:
                frames, saved = job.plan.mask.complete_frames, job.plan.mask.stages_saved
                result.notes.append(f"{frames} frame{'s' if frames != 1 else ''} ha{'ve' if frames != 1 else 's'} "
                                    f"no hole in a region: {saved} stage{'s' if saved != 1 else ''} of the scheme "
                                    f"{'were' if saved != 1 else 'was'} skipped there")
                break
        return result


def job_waves(jobs, batch_stages: bool = True) -> list[list[int]]:
    """The jobs (indices, in order) grouped into waves that run in lockstep, their network
    calls shared (on a GPU, one call for the windows of every region of a wave), with the
    result of the jobs one by one.

    A job reads pixels of its box only (over every frame: its plan may observe any frame
    of the box) and writes only the pixels it fills. A later job must therefore run in a
    later wave than an earlier one whose fill lies in its box (it must see that fill as
    known pixels), and in no earlier wave than an earlier one whose box holds its own
    fill (which must not see it); within a wave, fills are pasted in job order. Otherwise
    a job joins the first wave it may, among the waves of its kind (coarse regions and
    refinement tiles sample with different settings). Without stage batching
    (``--no-batch-stages``) every job is a wave of its own."""
    waves: list[list[int]] = []
    wave_of: list[int] = []
    for r, job in enumerate(jobs):
        w = 0 if batch_stages else len(waves)
        for q in range(r):
            if _overlap(_written(jobs[q]), _box(job.region)):
                w = max(w, wave_of[q] + 1)
            elif _overlap(_written(job), _box(jobs[q].region)):
                w = max(w, wave_of[q])
        while w < len(waves) and jobs[waves[w][0]].refine != job.refine:
            w += 1
        if w == len(waves):
            waves.append([])
        waves[w].append(r)
        wave_of.append(w)
    return waves


def _box(region) -> tuple[int, int, int, int]:
    return region.y0, region.x0, region.y1, region.x1


def _written(job) -> tuple[int, int, int, int]:
    fill_box = getattr(job, "fill_box", None)
    return fill_box if fill_box is not None else _box(job.region)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _detail_preserving(base: np.ndarray, fill: np.ndarray, filled: np.ndarray, guess: np.ndarray,
                       geometry) -> np.ndarray:
    """Paste a fill that was sampled from a guess (SDEdit) without losing the guess's
    detail: the model works at its own resolution, so pasting its upsampled fill would
    blur a guess made at the source resolution (Telea, propagated pixels) even where the
    model kept it. Instead the model's *change* is upsampled and added to the full-
    resolution guess: guess + up(model fill) - up(guess at model resolution). Where the
    model changes nothing the guess comes back exactly; known pixels are never touched."""
    from vidsched.compositing import composite_back
    from vidsched.geometry import to_model_resolution

    small_guess, _ = to_model_resolution(guess, geometry.model_h, mode="letterbox")
    model_up = composite_back(base, fill, filled, geometry).astype(np.int16)
    guess_up = composite_back(base, fill, small_guess, geometry).astype(np.int16)
    detailed = np.clip(guess.astype(np.int16) + model_up - guess_up, 0, 255).astype(np.uint8)
    return np.where(fill[..., None], detailed, base)


def trained_multiscale(meta: dict) -> bool:
    """Whether a checkpoint's network was trained on crops at several zooms (the trainer
    records its data settings in the checkpoint's metadata)."""
    data = meta.get("data")
    return isinstance(data, dict) and data.get("crop") == "multiscale"


def _shifted(progress, offset: int):
    """The caller's progress callbacks with batch numbers counted over every region."""
    if progress is None:
        return None
    from dataclasses import replace

    def start(b: int, members: list[int]) -> None:
        progress.on_batch_start(offset + b, members)

    def end(b: int) -> None:
        progress.on_batch_end(offset + b)

    def tracks(b: int, members: list) -> None:
        progress.on_batch_tracks(offset + b, members)

    return replace(progress, on_start=None,
                   on_batch_start=start if progress.on_batch_start else None,
                   on_batch_end=end if progress.on_batch_end else None,
                   on_batch_tracks=tracks if progress.on_batch_tracks else None)
