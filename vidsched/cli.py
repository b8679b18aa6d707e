"""The ``vidsched`` command line: thin Typer adapters over importable functions.

One place (:func:`main`) turns the project's errors (and OSErrors about the user's
paths) into a message on stderr and exit status 1; Typer/Click usage errors exit with 2.
Every output location is checked before any work starts
(:func:`vidsched.atomic.check_writable`). ``compile``, ``render``, ``schemes`` and
``masks`` never import torch (a test checks this).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vidsched.atomic import atomic_write_text, check_writable
from vidsched.diffusion.registry import DEFAULT_SAMPLER, RUN_SAMPLER, RUN_STEPS, SAMPLERS  # no torch
from vidsched.errors import VidschedError
from vidsched.runtime.prior import DEFAULT_MODE, DEFAULT_PRIOR, DEFAULT_STRENGTH, DEFAULT_THRESHOLD  # numpy only

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Video inpainting with conditional video diffusion models, driven by sampling schemes.",
)


Sampler = Enum("Sampler", {name: name for name in SAMPLERS}, type=str)  # --sampler


class SeamMode(str, Enum):
    none = "none"
    match = "match"


class DetailMode(str, Enum):  # vidsched.detail.DETAIL_MODES
    none = "none"
    restore = "restore"
    clone = "clone"


class PriorKind(str, Enum):
    none = "none"
    propagate = "propagate"


class PriorMode(str, Enum):
    known = "known"
    init = "init"
    hybrid = "hybrid"


class RegionMode(str, Enum):
    auto = "auto"
    crop = "crop"
    full = "full"


class View(str, Enum):
    stages = "stages"
    graph = "graph"


class MaskType(str, Enum):  # vidsched.training.masks.MASK_TYPES
    grid = "grid"
    lines = "lines"
    box = "box"
    blob = "blob"
    object = "object"
    logo = "logo"


SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", metavar="NAME=VALUE", help="Override a scheme parameter (repeatable)."),
]
MaskOpt = Annotated[
    Optional[Path],
    typer.Option("--mask", "-m", help="Mask (.npy T x H x W, an image or a folder of images; white = fill). "
                 "Frames without a hole are complete from the start."),
]
InvertOpt = Annotated[bool, typer.Option("--mask-white-is-known", help="The mask uses DEVIL's convention (white = known).")]
StepsOpt = Annotated[int, typer.Option("--steps", min=1, help="Sampler steps per stage, for the evaluation count.")]
SamplerOpt = Annotated[Sampler, typer.Option("--sampler", help="Sampler, for the evaluation count.")]


def _check_sets(sets: list[str] | None) -> None:
    """Every ``--set`` is NAME=VALUE with a name (``--set =3`` names no parameter)."""
    for item in sets or ():
        name, sep, _ = item.partition("=")
        if sep and not name.strip():  # (no "=" at all: the compiler says so, naming the parameters)
            raise VidschedError(f"--set expects NAME=VALUE (e.g. --set T=400), got {item!r}: no NAME")


def _check_checkpoint(path: Path) -> None:
    """A missing checkpoint is named as the user gave it: a checkpoint is the pair NAME.json
    (config and metadata) + NAME.safetensors (weights), and either name (or NAME) finds it."""
    p = Path(path)
    if p.exists():
        return
    stem = p.with_suffix("") if p.suffix in (".json", ".safetensors", ".pt") else p
    if stem.with_suffix(".json").is_file():  # found; vidsched.model.checkpoint says what else is wrong
        return
    raise VidschedError(f"checkpoint not found: {p} (a checkpoint is the pair {stem.with_suffix('.json').name} + "
                        f"{stem.with_suffix('.safetensors').name})")


def _compile(scheme: str, sets: list[str] | None, mask: Path | None, invert: bool, steps: int | None = None,
             sampler: str | None = None):
    """Compile with ``--set``/``--mask``; ``steps``/``sampler`` (None: the compiler's
    defaults) only set the plan's evaluation counts."""
    from vidsched.compiler import compile_scheme, parse_overrides
    from vidsched.errors import MaskError

    _check_sets(sets)
    overrides = parse_overrides(sets)
    holes = None
    if mask is not None:
        from vidsched.lang.holes import HoleMap
        from vidsched.masks_io import load_mask

        T_set = overrides.get("T")
        notes: list[str] = []
        hole = load_mask(
            mask, invert=invert, num_frames=T_set if isinstance(T_set, int) and not isinstance(T_set, bool) else None,
            notes=notes,
        )
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        T = hole.shape[0]
        if "T" in overrides and overrides["T"] != T:
            raise MaskError(f"the mask has {T} frames but --set T={overrides['T']}")
        overrides["T"] = T
        holes = HoleMap.from_mask(hole)  # its frames without a hole are complete from the start
    sampling = {k: v for k, v in (("steps", steps), ("sampler", sampler)) if v is not None}
    return compile_scheme(scheme, overrides, holes=holes, **sampling)


def explain_lines(plan) -> list[str]:
    """One line per stage: index, batch, name, generated / observed / marginal frames."""
    from vidsched.frames_text import compact_ranges

    width = max([len("name")] + [len(s.name) for s in plan.stages])
    lines = [f"{'stage':>5}  {'batch':>5}  {'name':<{width}}  generate | observe | marginal"]
    for st in plan.stages:
        lines.append(
            f"{st.index:>5}  {plan.batch_of[st.index]:>5}  {st.name:<{width}}  "
            f"{compact_ranges(st.generate) or '-'} | {compact_ranges(st.observe) or '-'} | "
            f"{compact_ranges(st.marginal) or '-'}"
        )
        if st.joint is not None:  # a joint group: its windows, denoised together
            pad = " " * (16 + width)
            windows = ", ".join(compact_ranges(w) for w in st.joint.windows[:8])
            more = f", ... ({len(st.joint.windows)} windows)" if len(st.joint.windows) > 8 else ""
            lines.append(f"{pad}joint windows: {windows}{more}")
            if st.joint.shift:
                shifted = ", ".join(compact_ranges(w) for w in st.joint.shifted[:8])
                more = f", ... ({len(st.joint.shifted)})" if len(st.joint.shifted) > 8 else ""
                lines.append(f"{pad}shifted by {st.joint.shift}: {shifted}{more}")
    return lines


def _n(count: int, noun: str) -> str:
    """``1 stage``, ``2 stages``, ``1 batch``, ``3 batches``."""
    plural = noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{count:,} {noun if count == 1 else plural}"


def summary_lines(plan) -> list[str]:
    s = plan.stats
    params = ", ".join(f"{k}={v}" for k, v in plan.params.items())
    lines = [
        f"{plan.scheme} ({params})",
        f"  {_n(s.stages, 'stage')} in {_n(s.batches, 'batch')}; "
        f"largest window {s.max_window} of K={plan.max_frames} frames",
        f"  {_n(s.marginal_frames, 'marginal observation')} ({_n(s.distinct_marginal_frames, 'distinct frame')})",
        f"  {_n(s.network_evaluations, 'network evaluation')} ({s.sampler}, {s.sampler_steps} steps: "
        f"{s.evaluations_per_stage} per stage); {s.sequential_network_calls:,} sequential with batching",
    ]
    if plan.mask is not None:
        m = plan.mask
        lines.append(
            f"  mask: {_n(m.complete_frames, 'frame')} without a hole; {m.stages_before} -> {m.stages_after} stages "
            f"({m.stages_saved} saved, {_n(m.network_evaluations_saved, 'network evaluation')})"
        )
    return lines


@app.command("compile")
def compile_cmd(
    scheme: Annotated[str, typer.Argument(help="A .sched file or a built-in scheme name (see `vidsched schemes`).")],
    set_: SetOpt = None,
    mask: MaskOpt = None,
    mask_white_is_known: InvertOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON on stdout.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the plan JSON to this file.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print one line per stage.")] = False,
    steps: StepsOpt = 100,
    sampler: SamplerOpt = Sampler[DEFAULT_SAMPLER],
) -> None:
    """Check a scheme and lower it to an execution plan."""
    if output is not None:
        check_writable(output)
    plan = _compile(scheme, set_, mask, mask_white_is_known, steps, sampler.value)
    if output is not None:
        atomic_write_text(output, plan.to_json(indent=1))
    if as_json:
        print(plan.to_json(indent=1))
    else:
        if explain:
            print("\n".join(explain_lines(plan)))
        print("\n".join(summary_lines(plan)))
        if output is not None:
            print(f"  plan written to {output}")


def load_plan_or_compile(target: str, sets, mask, invert):
    """A plan JSON file (checked), or a scheme to compile: a :class:`~vidsched.plan.Plan`.
    A compiled plan's sampler statistics are the compiler's defaults (nothing here uses them)."""
    if target.endswith(".json"):
        from pydantic import ValidationError

        from vidsched.plan import Plan, PlanError, check_plan

        path = Path(target)
        try:  # PlanError: from check_plan, or a legacy file whose stages' batch values contradict its batches
            return check_plan(Plan.model_validate_json(path.read_text(encoding="utf-8")))
        except OSError as e:
            raise VidschedError(f"cannot read plan {path}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise VidschedError(f"{path} is not a vidsched plan: not UTF-8 text ({e.reason})") from None
        except ValidationError as e:
            raise VidschedError(f"{path} is not a vidsched plan: {e.errors()[0]['msg']} at {e.errors()[0]['loc']}") from None
        except PlanError as e:
            raise VidschedError(f"{path} is not a valid plan: {e}") from None
    return _compile(target, sets, mask, invert)


@app.command("render")
def render_cmd(
    target: Annotated[str, typer.Argument(metavar="SCHEME|PLAN", help="A scheme (file or built-in name) or a plan .json.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Figure file: .svg, .png or .pdf.")],
    view: Annotated[View, typer.Option("--view", help="stages: the paper's figure; graph: the stage graph and its batches.")] = View.stages,
    frames: Annotated[Optional[str], typer.Option("--frames", help="Only these frames, e.g. 0-99 (long videos).")] = None,
    set_: SetOpt = None,
    mask: MaskOpt = None,
    mask_white_is_known: InvertOpt = False,
) -> None:
    """Draw a scheme's plan: rows = stages, columns = frames (or the stage graph)."""
    from vidsched.render import output_format, render_plan

    try:
        output_format(output)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--output") from None
    window = None
    if frames is not None:
        from vidsched.frames_text import parse_ranges

        try:
            picked = parse_ranges(frames)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--frames") from None
        if not picked:
            raise typer.BadParameter("no frames given", param_hint="--frames")
        window = (min(picked), max(picked) + 1)
    check_writable(output)
    plan = load_plan_or_compile(target, set_, mask, mask_white_is_known)
    try:
        path = render_plan(plan, output, view=view.value, frames=window)
    except (ValueError, RuntimeError) as e:
        raise VidschedError(str(e)) from None
    print(f"wrote {path}")


@app.command("schemes")
def schemes_cmd() -> None:
    """List the built-in schemes."""
    from vidsched.compiler import builtin_schemes

    items = builtin_schemes()
    width = max((len(b.name) for b in items), default=0)
    for b in items:
        print(f"{b.name:<{width}}  {b.summary}")


@app.command("masks")
def masks_cmd(
    output: Annotated[str, typer.Option("--output", "-o", metavar="OUT", help="Where to write (white = fill): .npy (bool T x H x W), a folder (one PNG per frame: a name without a suffix), a video (.mp4/.avi/.mov/.mkv), or .png (one image, for a hole that does not move).")],
    kind: Annotated[MaskType, typer.Option("--type", help="Hole pattern: a grid, horizontal or vertical lines, a box or a blob (the paper's appendix D), an object silhouette (object removal), or a logo or caption overlay (watermark removal; it never moves).")] = MaskType.blob,
    moving: Annotated[bool, typer.Option("--moving/--stationary", help="Move the hole (random direction and speed; it stays in view) or keep it still. Logos are always still.")] = True,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Number of frames.")] = 16,
    size: Annotated[int, typer.Option("--size", min=4, help="Frame side in pixels (square frames).")] = 64,
    height: Annotated[Optional[int], typer.Option("--height", min=4, help="Frame height, for rectangular frames (default: --size).")] = None,
    width: Annotated[Optional[int], typer.Option("--width", min=4, help="Frame width, for rectangular frames (default: --size).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same options and seed give the same mask.")] = 0,
) -> None:
    """Make a random inpainting mask (the paper's appendix D, an object or a logo), e.g. for `vidsched run --mask`."""
    from vidsched.errors import MaskError
    from vidsched.masks_io import mask_output_kind, write_mask
    from vidsched.training.masks import STATIONARY_TYPES, generate_mask

    moving = moving and kind.value not in STATIONARY_TYPES
    try:
        target_kind = mask_output_kind(output)
    except MaskError as e:
        raise typer.BadParameter(str(e), param_hint="--output") from None
    if target_kind == "image" and moving and frames > 1:
        raise typer.BadParameter(
            f"{Path(output).name} is one image, for a hole that does not move: add --stationary, "
            "or write .npy, a folder or a video", param_hint="--output")
    H, W = height or size, width or size
    if max(H, W) > MAX_MASK_SIDE:
        raise VidschedError(f"a {W}x{H} mask is too large: the limit is {MAX_MASK_SIDE:,} pixels a side "
                            "(height and width)")
    if frames * H * W > MAX_MASK_PIXELS:
        raise VidschedError(
            f"a mask of {_n(frames, 'frame')} of {W}x{H} has {frames * H * W:,} pixels; the limit is "
            f"2^28 = {MAX_MASK_PIXELS:,} pixels in total (frames x height x width): make it smaller"
        )
    check_writable(output, folder=target_kind == "folder")
    try:
        hole = generate_mask(kind.value, frames, (H, W), moving=moving, seed=seed)
    except ValueError as e:
        raise VidschedError(str(e)) from None
    path = write_mask(output, hole)
    extent = "one image for every frame" if target_kind == "image" else _n(frames, "frame")
    print(f"wrote {path}: {'moving' if moving else 'stationary'} {kind.value} mask, {W}x{H}, {extent}, "
          f"hole {100 * hole.mean():.1f}% of pixels (seed {seed})")


#: `vidsched masks` makes at most this many pixels (frames x height x width): 2^28, a
#: 256 MiB bool array (1000 frames of 512 x 512), and several times that while drawing.
MAX_MASK_PIXELS = 2**28
#: ... and at most this many pixels a side (8K video).
MAX_MASK_SIDE = 8192


def _show_default_plan(scheme: str, sets, output: Path) -> None:
    """What `vidsched run` does while no trained checkpoint is shipped: the plan it would run."""
    plan = _compile(scheme, sets, None, False)
    output = output if output.suffix == "" else output.with_suffix("")
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "plan.json", plan.to_json(indent=1))
    print("\n".join(summary_lines(plan)))
    print(f"  plan written to {output / 'plan.json'}")
    try:
        from vidsched.render import render_plan

        fig = render_plan(plan, output / "plan.svg")
        print(f"  figure written to {fig}")
    except RuntimeError as e:
        print(f"  (no figure: {e})", file=sys.stderr)


@app.command("run")
def run_cmd(
    video: Annotated[Optional[Path], typer.Argument(help="Video: .mp4/.avi/.gif, a folder of PNG frames, or .npy (T x H x W x 3 uint8). Default: the shipped example.")] = None,
    mask: MaskOpt = None,
    mask_white_is_known: InvertOpt = False,
    dilate: Annotated[int, typer.Option("--dilate", min=0, max=256, help="Grow the mask by this many pixels in every direction before filling. For object removal with a tight segmentation mask, 4-8 covers the object's soft edge and shadow (ProPainter dilates by 4, DiffuEraser by 8); 0 (the default) keeps the mask as given. Pixels outside the grown mask stay exactly as they were.")] = 0,
    scheme: Annotated[str, typer.Option("--scheme", help="Sampling scheme (file or built-in name).")] = "improved_ar_far_future",
    set_: SetOpt = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", "-c", help="Model checkpoint (.safetensors with its .json). Default: the shipped one.")] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Sampler steps per stage (Heun: 2N-1 network evaluations, the others N).")] = RUN_STEPS,
    sampler: Annotated[Sampler, typer.Option("--sampler", help="Sampler: euler_a (ancestral, the default: measured best), dpmpp_2m_sde, ddpm (stochastic); heun (EDM, the paper's), dpmpp_2m (deterministic).")] = Sampler[RUN_SAMPLER],
    churn: Annotated[float, typer.Option("--churn", min=0.0, help="Heun only: EDM's S_churn, fresh noise added in each step (0: the deterministic ODE solver).")] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; each stage gets its own stream from (seed, stage).")] = 0,
    batch_stages: Annotated[bool, typer.Option("--batch-stages/--no-batch-stages", help="Run independent stages as one batched network call.")] = True,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output: a video file (.mp4/.mov as H.264, .avi/.mkv as Motion JPEG; lossy), or exact: a folder of PNGs or .npy.")] = None,
    compare: Annotated[Optional[Path], typer.Option("--compare", help="Also write a side-by-side video: input with holes tinted | result.")] = None,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Resample the video to this frame rate first.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (same arguments) from its saved progress.")] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
    cuda_graphs: Annotated[bool, typer.Option("--cuda-graphs/--no-cuda-graphs", help="Replay CUDA graphs of the network call (GPU only).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    windows_per_call: Annotated[Optional[int], typer.Option("--windows-per-call", min=1, help="Most stage windows per network call (default: 1 on CPU, the whole batch on a GPU); results do not depend on it.")] = None,
    region: Annotated[RegionMode, typer.Option("--region", help="Where the model works: crop = a square region around each hole at the zoom the model is good at (the rest of the frame untouched); full = the whole frame, letterboxed; auto = crop unless the whole frame is as good.")] = RegionMode.auto,
    context: Annotated[Optional[int], typer.Option("--context", min=0, help="Pixels of surroundings kept around each hole in a region (default: a quarter of the model's input, more for big holes).")] = None,
    explain_regions: Annotated[Optional[Path], typer.Option("--explain-regions", help="Write a picture of the regions the run would use (planned after the propagation prior, in the first chunk) over the first frame the model fills (.png) and stop.")] = None,
    refine: Annotated[int, typer.Option("--refine", min=0, max=4, help="Coarse-to-fine levels: regions coarser than zoom 1.5 are refined by tiles at half the zoom, sampled from --refine-strength starting from the coarse fill (SDEdit).")] = 0,
    seam: Annotated[SeamMode, typer.Option("--seam", help="match: shift the fill's colours near the hole's border to meet the known pixels (no visible edge); none: paste as sampled. Default match (measured: +0.5 dB hole PSNR on captions, no change on moving holes; docs/results.md section 10).")] = SeamMode.match,
    detail: Annotated[DetailMode, typer.Option("--detail", help="Sharper fills for a little fidelity. restore: the propagation prior averages each hole pixel over nearby frames (steadier, closer to the truth, but smoother); give its fine detail back to what the copied pixels had. clone: restore, and holes that stay in place for the whole video (watermarks, captions) get the fine detail (grain, grass, texture) of the best-matching place near them. none: the fill as averaged and sampled. Default none (measured over 45 held-out cases: restore costs 0.07-0.11 dB hole PSNR for sharpness +0.06-0.12; it also sharpens the ghost of an edge that propagation placed badly; docs/results.md sections 9 and 14).")] = DetailMode.none,
    refine_strength: Annotated[float, typer.Option("--refine-strength", min=0.01, max=80.0, help="Noise level (sigma) the refinement starts from: small keeps the coarse layout, large redraws it.")] = 0.5,
    prior: Annotated[PriorKind, typer.Option("--prior", help="propagate (default): bring in the pixels that other frames show (flow + homography) before the model fills the rest; none: the model fills every hole pixel.")] = PriorKind(DEFAULT_PRIOR),
    prior_mode: Annotated[PriorMode, typer.Option("--prior-mode", help="known: trusted propagated pixels become known pixels; init: the model starts from the propagated frames (SDEdit from --prior-strength); hybrid: trusted pixels known, the rest started from the propagated or Telea guess.")] = PriorMode(DEFAULT_MODE),
    prior_threshold: Annotated[float, typer.Option("--prior-threshold", min=0.0, max=1.0, help="--prior-mode known / hybrid: the confidence (0-1) from which a propagated pixel is trusted; the rest is left to the model. 0 trusts every propagated pixel (measured best with the shipped models).")] = DEFAULT_THRESHOLD,
    prior_strength: Annotated[float, typer.Option("--prior-strength", min=0.01, max=80.0, help="Noise level (sigma) --prior-mode init / hybrid starts from.")] = DEFAULT_STRENGTH,
    chunk_frames: Annotated[Optional[int], typer.Option("--chunk-frames", min=1, help="Fill a long video in chunks of this many frames, one after another, each conditioned on the finished frames before it, so memory does not grow with the video's length. Default: as many frames as about 4 GB of working memory holds at the video's size (about 45 at 1920x1080, 490 at 640x480); a shorter video is one chunk.")] = None,
    save_sources: Annotated[Optional[Path], typer.Option("--save-sources", help="Also write where each pixel came from, as a video or PNG folder: black = input, grey = propagated, white = the model.")] = None,
) -> None:
    """Inpaint a video: fill the mask's holes with the diffusion model, stage by stage."""
    from vidsched.runtime import pipeline

    if video is None:
        video, mask = pipeline.DEFAULT_VIDEO, mask or pipeline.DEFAULT_MASK
        checkpoint = checkpoint or pipeline.DEFAULT_CHECKPOINT
        missing = [p for p in (video, mask, checkpoint) if not Path(p).exists()]
        if missing:
            print(
                "note: `vidsched run` with no arguments inpaints the shipped example clip with the shipped "
                "checkpoint, and this version ships neither yet (they come with the trained model). "
                "Until then it shows the plan it would execute; to inpaint your own video: "
                "vidsched run VIDEO --mask MASK --checkpoint CKPT",
                file=sys.stderr,
            )
            _show_default_plan(scheme, set_, output or Path("out"))
            return
    checkpoint = checkpoint or pipeline.DEFAULT_CHECKPOINT
    if not Path(checkpoint).exists() and checkpoint == pipeline.DEFAULT_CHECKPOINT:
        raise VidschedError(
            "no checkpoint given and no trained checkpoint is shipped with this version yet; pass --checkpoint"
        )
    _check_checkpoint(checkpoint)
    _check_sets(set_)
    if output is None:  # beside the user, not beside the input (which may be package data)
        output = Path.cwd() / (Path(video).stem + "_inpainted.mp4")
        if video == pipeline.DEFAULT_VIDEO and compare is None:
            compare = Path.cwd() / (Path(video).stem + "_compare.mp4")
    req = pipeline.RunRequest(
        video=Path(video), mask=mask, output=output, scheme=scheme, overrides=list(set_ or []),
        checkpoint=Path(checkpoint), sampler=sampler.value, steps=steps, churn=churn, seed=seed,
        batch_stages=batch_stages, fps=fps, mask_white_is_known=mask_white_is_known, dilate=dilate, compare=compare,
        resume=resume, device=device, cuda_graphs=cuda_graphs, max_windows_per_call=windows_per_call, region=region.value, context=context,
        refine=refine, refine_strength=refine_strength, seam=seam.value, detail=detail.value, prior=prior.value, prior_mode=prior_mode.value,
        prior_threshold=prior_threshold, prior_strength=prior_strength, save_sources=save_sources,
        chunk_frames=chunk_frames,
    )
    if explain_regions is not None:
        check_writable(explain_regions, what="--explain-regions")
        path, summary = pipeline.explain_regions(req, explain_regions)
        print(f"wrote {path}: {summary}")
        return
    from vidsched.progress import run_with_progress

    try:
        result = run_with_progress(req, quiet=quiet)
    except KeyboardInterrupt:
        # Typer would exit 130 silently; say where the progress is and how to continue.
        from vidsched.runtime.resume import ProgressStore

        saved = ProgressStore(output, "")
        if saved.has_progress():
            print(f"interrupted: progress saved in {saved.dir}; run the same command with --resume to continue",
                  file=sys.stderr)
        else:
            print("interrupted before the first batch finished: nothing was saved", file=sys.stderr)
        raise typer.Exit(130) from None
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.copied_through:
        print(f"wrote {result.output} (copied through: nothing to fill)")
        if compare is not None:
            print(f"wrote {compare}")
        return
    resumed = f", resumed at batch {result.resumed_from_batch}" if result.resumed_from_batch else ""
    print(
        f"wrote {result.output}: {_n(result.frames, 'frame')}; {_n(result.stages, 'stage')} in "
        f"{_n(result.batches, 'batch')}, {_n(result.network_evaluations, 'network evaluation')}, "
        f"{result.seconds:.1f} s{resumed}"
    )
    if result.prior_summary:
        print(f"  {result.prior_summary}")
    if result.regions is not None:
        print(f"  {result.regions.summary()}")
        for line in result.region_notes:
            print(f"  ({line})")
    if compare is not None:
        print(f"wrote {compare}")


@app.command("eval")
def eval_cmd(
    pred: Annotated[Path, typer.Option("--pred", help="The inpainted video, or a folder of them (dataset mode).")],
    gt: Annotated[Path, typer.Option("--gt", help="The ground-truth video, or a folder of them with matching names.")],
    mask: Annotated[Path, typer.Option("--mask", "-m", help="The mask (white = hole), or a folder of them with matching names.")],
    mask_white_is_known: InvertOpt = False,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma-separated: psnr, ssim, lpips, pvcs, e_warp, fid, vfid (or 'all', 'offline').")] = "all",
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write the JSON report to this file.")] = None,
    device: Annotated[str, typer.Option("--device", help="Device for the weight-backed metrics: cpu or cuda.")] = "cpu",
) -> None:
    """Score an inpainting against the ground truth with DEVIL's metrics (on the composite)."""
    import json

    from vidsched.metrics.suite import METRICS, OFFLINE, evaluate, load_videos, report_lines

    chosen = {"all": list(METRICS), "offline": list(OFFLINE)}.get(metrics)
    if chosen is None:
        chosen = [m.strip().lower() for m in metrics.split(",") if m.strip()]
        bad = [m for m in chosen if m not in METRICS]
        if bad or not chosen:
            raise typer.BadParameter(f"unknown metric {bad[0] if bad else metrics!r}; choose from "
                                     f"{', '.join(METRICS)}, all, offline", param_hint="--metrics")
    if output is not None:
        check_writable(output)
    notes: list[str] = []
    videos = load_videos(pred, gt, mask, invert=mask_white_is_known, notes=notes)
    status = (lambda name: print(f"computing {name} ...", file=sys.stderr)) if not json_out else None
    report = evaluate(videos, chosen, device=device, on_metric=status)
    if report.notes.get("no_hole"):
        notes.append(str(report.notes["no_hole"]))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    document = json.dumps(report.to_dict(), indent=1)
    if output is not None:
        atomic_write_text(output, document)
    if json_out:
        print(document)
    else:
        print("\n".join(report_lines(report)))
        if output is not None:
            print(f"wrote {output}")


@app.command("model-info")
def model_info_cmd(
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", "-c", help="A checkpoint to describe.")] = None,
    preset: Annotated[Optional[str], typer.Option("--preset", help="A built-in configuration: tiny or paper.")] = None,
) -> None:
    """Describe the network: resolution, K, channels, attention, parameter count."""
    from vidsched.model.unet import VideoUNetConfig, describe

    if checkpoint is not None:
        from vidsched.model.checkpoint import load_checkpoint

        _check_checkpoint(checkpoint)
        _model, config, meta = load_checkpoint(checkpoint)
        print(describe(config))
        if meta:
            print("checkpoint: " + ", ".join(f"{k}={v}" for k, v in meta.items() if not isinstance(v, (dict, list))))
        return
    name = preset or "tiny"
    if name not in ("tiny", "paper"):
        raise typer.BadParameter("tiny or paper", param_hint="--preset")
    print(describe(getattr(VideoUNetConfig, name)()))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning vidsched errors into exit status 1.

    Also the system's refusals (``OSError``: ``cannot write PATH: <reason>``) and running
    out of memory become a message and exit status 1; any other exception is a bug and
    keeps its traceback. Typer's standalone mode prints usage errors itself and exits with 2.
    vidsched's own warnings print as ``warning: TEXT`` (:func:`_show_warning`).
    """
    import functools
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
            app(args=argv, prog_name="vidsched")
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except VidschedError as e:
        print(e.render(), file=sys.stderr)
        return 1
    except OSError as e:
        # The system refused a path of the user's (a full disk, a folder made read-only
        # after the checks, ...): outputs are checked before any work starts, so this is
        # rare, but it is the user's environment, never a traceback.
        print(f"error: {_os_error_text(e)}", file=sys.stderr)
        return 1
    except MemoryError as e:
        print(f"error: not enough memory{f' ({e})' if str(e) else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _show_warning(default, message, category, filename, lineno, file=None, line=None) -> None:
    """vidsched's own warnings (an odd frame size padded for a codec, ...) read as
    ``warning: TEXT`` on stderr, like the notes; anyone else's keep Python's format (with
    the file and line, which point a developer at the caller) through ``default``."""
    ours = Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent)
    if ours and issubclass(category, UserWarning):
        print(f"warning: {message}", file=sys.stderr if file is None else file)
    else:
        default(message, category, filename, lineno, file, line)


def _os_error_text(e: OSError) -> str:
    """``cannot write PATH: <strerror>`` for an OSError about a path, its text otherwise."""
    reason = e.strerror or str(e) or type(e).__name__
    if e.filename is None:
        return reason
    # The atomic writers work on a hidden temporary name beside the target: name the folder.
    name = Path(str(e.filename))
    if name.name.startswith(".") and (".partial-" in name.name or name.name.endswith(".tmp")):
        return f"cannot write in {name.parent}: {reason}"
    return f"cannot write {e.filename}: {reason}"


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
