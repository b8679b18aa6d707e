"""Held-out evaluation on real clips at their own resolution.

    python experiments/real_clips.py                                   # the shipped model, regions auto and full
    python experiments/real_clips.py --checkpoint runs/NAME/checkpoint.json --region auto
    python experiments/real_clips.py --quick --synthetic               # tiny, generated clips (tests)

Clips: the held-out end (last 20 %) of each training source of the corpus (vtest 768x576,
megamind 720x528, tree 320x240, box 640x480) and the unseen handheld source (cup 640x480),
from ``vidsched.training.corpus.load_corpus`` (``python model/train.py fetch-data`` puts
the corpus in ``data/corpus``). Each gives one stretch of ``--frames`` frames starting
``--start`` frames into its held-out part, moved forward to the first shot long enough if a
scene cut falls inside it (a clip shorter than ``--frames`` is used whole; the JSON records
the frames used). Nothing is resized: every method sees the clip at its own resolution,
and the model runs through the one inference path (``vidsched.benchmark.ModelMethod``), which
cuts regions around the holes (``--region auto``) or letterboxes whole frames (``full``).

Masks (``vidsched.benchmark.evaluation_mask``, at least 1 % of every frame; seeded per clip
from the clip's name, so a clip gets the same hole whatever else is run): ``object``
(moving object silhouettes) and ``logo`` (stationary logos and captions); ``lines``
(appendix D's moving thin lines: scratches, wires) and ``box`` on request. A moving hole
must hide moving content: seeds are tried until at least ``--min-moving`` (5 %) of its
pixels are where the truth changes between frames (the JSON records the share reached).
Every method gets the clip with its hole blacked out.

Methods: the baselines (``--baselines``, default Telea, temporal and flow propagation), the
shipped checkpoint (``vidsched/assets/vidsched-corpus64.json``; ``--no-shipped`` leaves it
out) and every ``--checkpoint``, each with every ``--region`` mode, named
``<checkpoint file stem>/<region>``. Sampler ``--sampler`` (default DPM-Solver++(2M)),
``--steps`` (default 10), scheme ``--scheme`` (default improved_ar_far_future).

Metrics per (clip, mask, method):

* ``hole_psnr`` -- PSNR over the hole's pixels only, pooled over the video
  (``vidsched.metrics.pixel.hole_psnr``);
* ``ssim`` -- SSIM, DEVIL mode, of the composite over the frames with a hole;
* ``e_warp`` -- flow warping error of the composite (``vidsched.metrics.warp``; flow on the
  truth, once per clip); the truth's own E_warp is recorded beside it (``e_warp_truth``):
  the known pixels, the same for every method, set that floor;
* ``sharpness`` -- gradient energy in the hole, prediction over truth
  (``vidsched.metrics.pixel.sharpness_ratio``; 1 = as sharp as the truth, < 1 blurrier);
* ``seconds`` -- the method's wall time on the clip; ``known_exact`` -- every known pixel
  of the output equals the input's.

Writes ``experiments/results/real_clips.json`` (every number, the masks, the machine, the
command) and ``real_clips.md`` (per mask type, one table per metric: rows clips, columns
methods), and ``docs/img/real_clips_<mask>.png`` (per clip one row at the middle frame:
input with the hole tinted | each method | truth). ``--quick`` (2 clips, 8 frames, 2 sampler
steps) writes ``real_clips_quick*`` into ``experiments/results/quick/`` instead. The last line
printed is one JSON object: the means over clips per mask type and method (a value that is
not finite is written as null for NaN, "inf" / "-inf" for infinities).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsched.diffusion.registry import SAMPLERS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"
IMG = REPO / "docs" / "img"
SHIPPED = REPO / "vidsched" / "assets" / "vidsched-corpus64.json"  # vidsched.runtime.pipeline.DEFAULT_CHECKPOINT
CORPUS = REPO / "data" / "corpus"
MASKS = ("object", "logo", "lines", "box")
REGIONS = ("auto", "full")  # the default comparison; "crop" is accepted too
METRICS = ("hole_psnr", "ssim", "e_warp", "sharpness", "seconds")
LABELS = {"hole_psnr": "hole PSNR (dB) ↑", "ssim": "SSIM (DEVIL) ↑", "e_warp": "E_warp ↓",
          "sharpness": "sharpness ratio (1 = truth)", "seconds": "wall seconds ↓"}
PANEL_HEIGHT = 180  # pixels of one panel of the pictures


@dataclass
class Clip:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8, the stretch evaluated
    source: str  # "heldout end", "unseen" or "synthetic"
    start: int = 0  # index of its first frame in the source's held-out part
    available: int = 0  # frames of that part


# ---- clips ------------------------------------------------------------------------------------
def pick_stretch(frames: np.ndarray, length: int, start: int = 0) -> tuple[int, np.ndarray]:
    """``length`` frames from ``start`` on, without a scene cut inside: if a cut falls in the
    stretch, the first later shot of at least ``length`` frames is taken (else the longest
    shot from ``start`` on, whole). A clip shorter than that is used whole."""
    from vidsched.training.corpus import scene_cuts

    start = min(max(0, start), max(0, len(frames) - 1))
    bounds = [0, *scene_cuts(frames), len(frames)]
    shots = [(max(a, start), b) for a, b in zip(bounds[:-1], bounds[1:]) if b > start]
    for a, b in shots:
        if b - a >= length:
            return a, frames[a:a + length]
    a, b = max(shots, key=lambda s: s[1] - s[0])
    return a, frames[a:b]


def corpus_clips(root: Path, names: list[str] | None, length: int, start: int) -> list[Clip]:
    """The held-out ends of the training sources and the unseen sources, one stretch each."""
    from vidsched.training.corpus import CLIPS, load_corpus

    wanted = [c for c in CLIPS if names is None or c.name in names]
    if names is not None and len(wanted) != len(names):
        known = ", ".join(c.name for c in CLIPS)
        raise SystemExit(f"unknown clip in --clips {','.join(names)} (known: {known})")
    corpus = load_corpus(root, clips=tuple(wanted), with_stills=False)
    out = []
    for source, items in (("heldout end", corpus.heldout), ("unseen", corpus.unseen)):
        for name, frames in items:
            first, stretch = pick_stretch(frames, length, start)
            out.append(Clip(name, np.ascontiguousarray(stretch), source, first, len(frames)))
    return out


def synthetic_clips(count: int, length: int) -> list[Clip]:
    """Small generated clips (no corpus needed): a textured background panning under a
    moving square, at a few non-square sizes."""
    sizes = [(48, 64), (56, 40), (40, 72)]
    out = []
    for i in range(count):
        H, W = sizes[i % len(sizes)]
        rng = np.random.default_rng(100 + i)
        yy, xx = np.mgrid[0:H + length * 2, 0:W + length * 2].astype(np.float64)
        base = (0.5 + 0.25 * np.sin(xx / 4.0 + i) * np.cos(yy / 6.0)
                + 0.1 * rng.standard_normal(yy.shape))
        texture = np.stack([base, 1 - base, 0.5 + 0.5 * (base - 0.5)], axis=-1)
        frames = []
        for t in range(length):
            f = texture[t:t + H, 2 * t:2 * t + W].copy()
            y, x = (3 + 2 * t) % (H - 12), (5 + 3 * t) % (W - 12)
            f[y:y + 10, x:x + 10] = (0.9, 0.2, 0.1)
            frames.append(f)
        frames = np.rint(np.clip(np.stack(frames), 0, 1) * 255).astype(np.uint8)
        out.append(Clip(f"synthetic{i}", frames, "synthetic", 0, length))
    return out


# ---- masks ------------------------------------------------------------------------------------
def mask_seed(clip: str, kind: str, base: int) -> int:
    """A seed from the clip's name and the mask kind: a clip's hole does not depend on
    which other clips run."""
    return base + zlib.crc32(f"{clip}/{kind}".encode()) % 100_000


MASK_TRIES = 20  # seeds tried for a moving mask that hides enough moving content


def moving_content(frames: np.ndarray) -> np.ndarray:
    """(T-1, H, W) bool: where the truth changes from frame t to t + 1 (luminance by more
    than 0.04, about 10 grey levels: motion, not compression noise)."""
    luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    return np.abs(np.diff(luma, axis=0)) > 0.04


def clip_mask(clip: Clip, kind: str, base_seed: int, min_moving: float = 0.0) -> tuple[np.ndarray, dict]:
    """The hole of ``kind`` for a clip and what describes it.

    A moving hole (object, box) should hide moving content, or the clip tests filling
    a static background only: seeds are tried (at most MASK_TRIES) until the fraction of
    hole pixels whose truth changes from the previous frame (:func:`moving_content`) is at
    least ``min_moving``; if none reaches it, the seed that hides the most is taken.
    Stationary holes (logos) are taken as the generator makes them."""
    from vidsched.benchmark import evaluation_mask
    from vidsched.metrics.pixel import _eroded_hole
    from vidsched.training.masks import STATIONARY_TYPES

    T, H, W = clip.frames.shape[:3]
    moving = kind not in STATIONARY_TYPES
    changes = moving_content(clip.frames) if T > 1 else None

    def hidden(hole: np.ndarray) -> float | None:
        return float(changes[hole[1:]].mean()) if changes is not None and hole[1:].any() else None

    best, tries = None, 0
    for attempt in range(MASK_TRIES if moving and min_moving > 0 and changes is not None else 1):
        seed = mask_seed(clip.name, kind, base_seed) + 7919 * attempt
        hole = evaluation_mask(kind, T, (H, W), seed, moving=moving)
        share, tries = hidden(hole), attempt + 1
        if best is None or (share or 0.0) > (best[2] or 0.0):
            best = (seed, hole, share)
        if share is not None and share >= min_moving:
            break
    seed, hole, share = best
    info = {"kind": kind, "moving": bool(moving), "seed": int(seed), "seeds_tried": tries,
            "hole_fraction": float(hole.mean()),
            "hole_fraction_min": float(hole.mean(axis=(1, 2)).min()),
            "moving_content_in_hole": share,
            "eroded_hole_pixels": int(_eroded_hole(hole).sum())}
    return hole, info


# ---- methods ----------------------------------------------------------------------------------
def checkpoint_labels(paths: list[Path]) -> list[str]:
    """File stems; a stem that repeats gets its folder's name in front."""
    stems = [Path(p).stem for p in paths]
    return [f"{Path(p).parent.name}-{s}" if stems.count(s) > 1 else s for p, s in zip(paths, stems)]


def build_methods(args) -> dict:
    from vidsched.benchmark import ModelMethod, baseline_method

    methods = {name: baseline_method(name) for name in args.baselines}
    checkpoints = ([] if args.no_shipped else [SHIPPED]) + list(args.checkpoint)
    settings = args.samplers or [(args.sampler, args.steps, 0.0)]
    for path, label in zip(checkpoints, checkpoint_labels(checkpoints)):
        for region in args.region:
            for (sampler, steps, churn), strength in itertools.product(settings, args.prior_strength or [None]):
                extra = "".join([f"+refine{args.refine}" if args.refine else "",
                                 "+seam" if args.seam != "none" else "",
                                 {"none": "", "restore": "+restore", "clone": "+detail"}[args.detail],
                                 f"+prior-{args.prior}" if args.prior != "none" else "",
                                 f"@{args.prior_threshold:g}" if args.prior_threshold is not None else "",
                                 f"~{strength:g}" if strength is not None else "",
                                 f" {sampler}:{steps}" if args.samplers else "",
                                 f":{churn:g}" if args.samplers and churn else ""])
                methods[f"{label}/{region}{extra}"] = ModelMethod(
                    path, scheme=args.scheme, sampler=sampler, steps=steps, churn=churn, seed=args.seed, region=region,
                    refine=args.refine, seam=args.seam, prior=args.prior, prior_threshold=args.prior_threshold,
                    prior_strength=strength, detail=args.detail)
    return methods


def sampler_setting(text: str) -> tuple[str, int, float]:
    """"dpmpp_2m:10" -> ("dpmpp_2m", 10, 0.0); "heun:10:40" -> ("heun", 10, 40.0) (Heun's S_churn)."""
    from vidsched.diffusion.registry import SAMPLERS

    name, steps, *rest = text.split(":") + [""]
    churn = rest[0] if rest and rest[0] else "0"
    try:
        churn_value = float(churn)
    except ValueError:
        churn_value = -1.0
    if (name not in SAMPLERS or not steps.isdigit() or int(steps) < 1 or len(rest) > 2 or churn_value < 0
            or (churn_value > 0 and "s_churn" not in SAMPLERS[name].options)):
        raise argparse.ArgumentTypeError(f"{text!r}: expected sampler:steps[:churn] with a sampler of "
                                         f"{', '.join(SAMPLERS)}, steps >= 1 and churn >= 0 (heun only)")
    return name, int(steps), churn_value


def plot_quality_vs_evaluations(payload: dict, png: Path) -> Path:
    """Hole PSNR (mean over clips) against network evaluations per video, one line per
    sampler and mask kind: how much quality each sampler buys per evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vidsched.atomic import atomic_write

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for kind, per_clip in payload["results"].items():
        lines: dict[str, list[tuple[float, float]]] = {}
        for label in payload["methods"]:
            if " " not in label:
                continue  # a baseline
            method, setting = label.rsplit(" ", 1)  # "<checkpoint>/<region>... <sampler>:<steps>"
            evals = _mean([r["methods"][label]["network_evaluations"] for r in per_clip.values()])
            psnr = payload["summary"][kind][label]["hole_psnr"]
            name, _, *churn = setting.split(":")
            lines.setdefault(f"{method} {name}" + (f" churn {churn[0]}" if churn else ""), []).append((evals, psnr))
        for line, points in sorted(lines.items()):
            points.sort()
            ax.plot(*zip(*points), marker="o", label=f"{line} ({kind})")
        for label in payload["methods"]:
            if " " not in label:
                ax.axhline(payload["summary"][kind][label]["hole_psnr"], ls=":", lw=1, color="grey")
                ax.annotate(f"{label} ({kind})", (0, payload["summary"][kind][label]["hole_psnr"]),
                            xycoords=("axes fraction", "data"), fontsize=7, color="grey", va="bottom")
    ax.set_xscale("log")
    ax.set_xlabel("network evaluations per video (mean over clips)")
    ax.set_ylabel("hole PSNR, dB (mean over clips)")
    ax.set_title("quality against sampling cost", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return png


# ---- metrics ----------------------------------------------------------------------------------
def score(gt: np.ndarray, pred: np.ndarray, hole: np.ndarray, motion) -> dict:
    from vidsched.metrics.pixel import hole_psnr, sharpness_ratio, ssim_video
    from vidsched.metrics.warp import warping_error_from_motion

    comp = np.where(hole[..., None], pred, gt)
    holed = np.flatnonzero(hole.reshape(len(hole), -1).any(axis=1))
    return {"hole_psnr": hole_psnr(pred, gt, hole),
            "ssim": ssim_video(gt[holed], comp[holed]) if len(holed) else float("nan"),
            "e_warp": warping_error_from_motion(comp, *motion) if motion is not None else float("nan"),
            "sharpness": sharpness_ratio(pred, gt, hole)}


def _num(v):
    """A JSON-safe number: NaN -> None, infinities -> "inf" / "-inf"."""
    if v is None or isinstance(v, (bool, str, int)):
        return v
    v = float(v)
    if np.isnan(v):
        return None
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _mean(values: list) -> float:
    """Mean of the values that are not NaN / None ("inf" strings count as infinities)."""
    vals = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    vals = vals[~np.isnan(vals)]
    return float(vals.mean()) if len(vals) else float("nan")


# ---- pictures and tables ----------------------------------------------------------------------
def _label(width: int, text: str, height: int = 20) -> np.ndarray:
    import cv2

    band = np.full((height, width, 3), 24, np.uint8)
    scale = 0.45
    while scale > 0.25 and cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 6:
        scale -= 0.05
    cv2.putText(band, text, (3, height - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (240, 240, 240), 1, cv2.LINE_AA)
    return band


def _panel(frame: np.ndarray, label: str, hole: np.ndarray | None = None) -> np.ndarray:
    """One frame at PANEL_HEIGHT (aspect kept), the hole tinted as `vidsched run --compare`
    does, a label band above and a white gap on the right."""
    import cv2

    from vidsched.compositing import HOLE_TINT

    if hole is not None:
        tinted = ((frame.astype(np.uint16) + np.array(HOLE_TINT, np.uint16) + 1) // 2).astype(np.uint8)
        frame = np.where(hole[..., None], tinted, frame)
    H, W = frame.shape[:2]
    w = max(1, int(round(W * PANEL_HEIGHT / H)))
    interpolation = cv2.INTER_AREA if H > PANEL_HEIGHT else cv2.INTER_NEAREST
    small = cv2.resize(frame, (w, PANEL_HEIGHT), interpolation=interpolation)
    panel = np.concatenate([_label(w, label), small], axis=0)
    return np.concatenate([panel, np.full((panel.shape[0], 3, 3), 255, np.uint8)], axis=1)


def figure_row(clip: Clip, hole: np.ndarray, preds: dict[str, np.ndarray]) -> np.ndarray:
    t = len(clip.frames) // 2
    H, W = clip.frames.shape[1:3]
    panels = [_panel(clip.frames[t], f"{clip.name} {W}x{H} f{t}: input", hole[t])]
    panels += [_panel(p[t], label) for label, p in preds.items()]
    panels.append(_panel(clip.frames[t], "truth"))
    return np.concatenate(panels, axis=1)


def stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.concatenate([r, np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)], axis=1) for r in rows]
    gap = np.full((3, width, 3), 255, np.uint8)
    return np.concatenate([x for r in padded for x in (r, gap)][:-1], axis=0)


def _cell(metric: str, v) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if metric == "e_warp":
        return f"{v:.3e}"
    if metric == "ssim":
        return f"{v:.4f}"
    if metric == "sharpness":
        return f"{v:.3f}"
    return f"{v:.2f}" if metric == "hole_psnr" else f"{v:.1f}"


def markdown(payload: dict) -> str:
    methods = payload["methods"]
    lines = ["# Real clips at their own resolution\n",
             f"`{payload['command']}` — {payload['frames']} frames per clip, sampler {payload['sampler']} "
             f"{payload['steps']} steps, scheme {payload['scheme']}, {payload['seconds_total']:.0f} s in all "
             f"({payload['machine'].get('cpu', '?')}, load {payload.get('load_avg')}).\n",
             "Clips: " + ", ".join(f"{c['name']} {c['width']}x{c['height']} ({c['source']}, frames "
                                   f"{c['start']}-{c['start'] + c['frames'] - 1} of {c['available']})"
                                   for c in payload["clips"]) + ".\n"]
    best_is = {"hole_psnr": max, "ssim": max, "e_warp": min, "seconds": min}
    for kind, per_clip in payload["results"].items():
        lines.append(f"## {kind} masks\n")
        holes = ", ".join(f"{c} {r['mask']['hole_fraction']:.1%}"
                          + (f" ({r['mask']['moving_content_in_hole']:.0%} moving)"
                             if r["mask"]["moving_content_in_hole"] is not None else "")
                          for c, r in per_clip.items())
        lines.append(f"Hole: mean fraction of the frame (share of its pixels where the truth changes "
                     f"between frames): {holes}.\n")
        for metric in METRICS:
            extra = ["truth"] if metric == "e_warp" else []
            head = ["clip"] + methods + extra
            lines += [f"**{LABELS[metric]}**\n", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            rows = [(c, [r["methods"][m][metric] for m in methods] + ([r["e_warp_truth"]] if extra else []))
                    for c, r in per_clip.items()]
            rows.append(("**mean**", [payload["summary"][kind][m][metric] for m in methods]
                         + ([_num(_mean([r["e_warp_truth"] for r in per_clip.values()]))] if extra else [])))
            for name, values in rows:
                cells = [_cell(metric, v) for v in values]
                finite = [v for v in values[:len(methods)] if isinstance(v, float)]
                if metric in best_is and finite:
                    best = best_is[metric](finite)
                    cells = [f"**{c}**" if v == best else c for c, v in zip(cells, values)]
                elif metric == "sharpness" and finite:
                    best = min(finite, key=lambda v: abs(np.log(v)) if v > 0 else np.inf)
                    cells = [f"**{c}**" if v == best else c for c, v in zip(cells, values)]
                lines.append("| " + " | ".join([name] + cells) + " |")
            lines.append("")
    return "\n".join(lines)


def _machine() -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import RUNTIME_PACKAGES, load_avg, machine, torch_info

    return {**machine(RUNTIME_PACKAGES), "torch": torch_info(), "load_avg_at_start": load_avg()}


def _load_avg():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import load_avg

    return load_avg()


# ---- main -------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    csv = lambda s: [x for x in s.split(",") if x]  # noqa: E731
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="the corpus folder (fetch-data)")
    ap.add_argument("--clips", type=csv, default=None, help="clip names, comma separated (default: all)")
    ap.add_argument("--synthetic", action="store_true", help="small generated clips instead of the corpus")
    ap.add_argument("--frames", type=int, default=None, help="frames per clip (default 24; --quick 8)")
    ap.add_argument("--start", type=int, default=0, help="first frame, counted in the held-out part")
    ap.add_argument("--masks", type=csv, default=["object", "logo"], help=f"mask kinds of {', '.join(MASKS)}")
    ap.add_argument("--mask-seed", type=int, default=0)
    ap.add_argument("--min-moving", type=float, default=0.05,
                    help="fraction of a moving hole's pixels that should hide moving content (seeds are tried)")
    ap.add_argument("--baselines", type=csv, default=["telea", "propagation", "flow_propagation"])
    ap.add_argument("--checkpoint", type=Path, action="append", default=[],
                    help="a checkpoint to evaluate (repeatable)")
    ap.add_argument("--no-shipped", action="store_true", help="leave out the shipped checkpoint")
    ap.add_argument("--region", type=csv, default=list(REGIONS), help="region modes, comma separated (auto, full)")
    ap.add_argument("--scheme", default="improved_ar_far_future")
    ap.add_argument("--sampler", default="dpmpp_2m", choices=list(SAMPLERS))
    ap.add_argument("--refine", type=int, default=0, help="coarse-to-fine levels for the model (vidsched run --refine)")
    ap.add_argument("--seam", default="none", choices=["none", "match"], help="seam matching (vidsched run --seam)")
    ap.add_argument("--detail", default="none", choices=["none", "restore", "clone"],
                    help="still holes get their surroundings' detail (vidsched run --detail)")
    ap.add_argument("--prior", default="none", choices=["none", "known", "init", "hybrid"],
                    help="the propagation prior's mode (vidsched run --prior propagate --prior-mode ...)")
    ap.add_argument("--samplers", type=lambda t: [sampler_setting(x) for x in t.split(",") if x], default=None,
                    help="sampler:steps list (e.g. dpmpp_2m:5,dpmpp_2m:10,heun:10): one model method each, "
                         "and a plot of quality against network evaluations (replaces --sampler/--steps)")
    ap.add_argument("--prior-threshold", type=float, default=None,
                    help="--prior known: the confidence from which a propagated pixel is known (default: the runtime's)")
    ap.add_argument("--prior-strength", type=lambda t: [float(x) for x in t.split(",") if x], default=None,
                    help="--prior init / hybrid: the starting sigma(s), comma separated (one method each; "
                         "default: the runtime's)")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default 10; --quick 2)")
    ap.add_argument("--seed", type=int, default=0, help="the model's sampling seed")
    ap.add_argument("--quick", action="store_true", help="tiny: 2 clips, 8 frames, 2 sampler steps")
    ap.add_argument("--name", default=None, help="results name (default real_clips; --quick real_clips_quick)")
    ap.add_argument("--results-dir", type=Path, default=None)
    ap.add_argument("--img-dir", type=Path, default=None)
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--save-outputs", type=Path, default=None,
                    help="write every result to DIR/<clip>_<mask>.npz (truth, hole and one array per method, "
                         "'/' in names as '__')")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default; 1 is much faster on a CPU shared with other work)")
    args = ap.parse_args(argv)
    args.frames = args.frames or (8 if args.quick else 24)
    args.steps = args.steps or (2 if args.quick else 10)
    args.name = args.name or ("real_clips_quick" if args.quick else "real_clips")
    quick_dir = RESULTS / "quick"
    args.results_dir = args.results_dir or (quick_dir if args.quick else RESULTS)
    args.img_dir = args.img_dir or (quick_dir if args.quick else IMG)
    from vidsched.baselines import BASELINES

    for kind in args.masks:
        if kind not in MASKS:
            ap.error(f"--masks: unknown kind {kind!r} (choose from {', '.join(MASKS)})")
    for region in args.region:
        if region not in REGIONS + ("crop",):
            ap.error(f"--region: unknown mode {region!r} (choose from auto, crop, full)")
    for name in args.baselines:
        if name not in BASELINES:
            ap.error(f"--baselines: unknown baseline {name!r} (choose from {', '.join(BASELINES)})")
    if args.frames < 2:
        ap.error("--frames must be at least 2 (E_warp compares consecutive frames)")
    return args


def main(argv=None, clips: list[tuple[str, np.ndarray]] | None = None) -> int:
    """Run the evaluation; ``clips`` ((name, frames) pairs) replaces the corpus (tests)."""
    args = parse_args(argv)
    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv, clips)
    finally:
        torch.set_num_threads(threads)


def _run(args, argv, clips) -> int:
    import torch

    from vidsched.atomic import atomic_write, atomic_write_text
    from vidsched.metrics.warp import DEFAULT_FLOW, flow_backend_name, reference_motion, warping_error_from_motion

    started = time.perf_counter()
    machine = _machine()
    if clips is not None:
        chosen = [Clip(n, np.ascontiguousarray(f[:args.frames]), "given", 0, len(f)) for n, f in clips]
    elif args.synthetic:
        chosen = synthetic_clips(2 if args.quick else 3, args.frames)
    else:
        names = args.clips or (["vtest", "cup"] if args.quick else None)
        chosen = corpus_clips(args.corpus, names, args.frames, args.start)
    if args.quick:
        chosen = chosen[:2]
    methods = build_methods(args)
    labels = list(methods)
    print(f"real clips: {len(chosen)} clips, masks {', '.join(args.masks)}, methods {', '.join(labels)}; "
          f"sampler {args.sampler} {args.steps} steps, scheme {args.scheme}")

    results: dict = {kind: {} for kind in args.masks}
    figures: dict = {kind: [] for kind in args.masks}
    for c, clip in enumerate(chosen):
        gt = clip.frames
        T, H, W = gt.shape[:3]
        t0 = time.perf_counter()
        motion = reference_motion(gt) if T > 1 else None
        e_warp_truth = warping_error_from_motion(gt, *motion) if motion is not None else float("nan")
        print(f"\n{clip.name} ({clip.source}) {W}x{H}, {T} frames from {clip.start}: "
              f"flow {time.perf_counter() - t0:.1f} s, truth's E_warp {e_warp_truth:.3e}")
        for kind in args.masks:
            hole, info = clip_mask(clip, kind, args.mask_seed, args.min_moving)
            given = np.where(hole[..., None], np.uint8(0), gt)
            row, preds = {}, {}
            share = info["moving_content_in_hole"]
            print(f"  {kind} (hole {info['hole_fraction']:.1%} of the frame, moving content in it "
                  f"{'-' if share is None else f'{share:.1%}'}, seed {info['seed']})")
            for label, method in methods.items():
                pred = method(given, hole, seed=args.seed)
                frames = pred.frames
                if frames.shape != gt.shape or frames.dtype != np.uint8:
                    raise RuntimeError(f"{label} returned {frames.dtype} {frames.shape} for a {gt.shape} clip")
                metrics = score(gt, frames, hole, motion)
                metrics["seconds"] = pred.seconds
                metrics["network_evaluations"] = int(pred.network_evaluations)
                metrics["known_exact"] = bool(np.array_equal(frames[~hole], gt[~hole]))
                row[label] = {k: _num(v) for k, v in metrics.items()}
                preds[label] = frames
                print(f"    {label:<26} hole PSNR {metrics['hole_psnr']:6.2f} dB  SSIM {metrics['ssim']:.4f}  "
                      f"E_warp {metrics['e_warp']:.3e}  sharpness {metrics['sharpness']:.3f}  "
                      f"{pred.seconds:6.1f} s{'' if metrics['known_exact'] else '  KNOWN PIXELS CHANGED'}")
            results[kind][clip.name] = {"mask": info, "e_warp_truth": _num(e_warp_truth), "methods": row}
            if args.save_outputs is not None:
                Path(args.save_outputs).mkdir(parents=True, exist_ok=True)
                np.savez_compressed(Path(args.save_outputs) / f"{clip.name}_{kind}.npz", truth=gt, hole=hole,
                                    **{label.replace("/", "__"): p for label, p in preds.items()})
            if not args.no_figures:
                figures[kind].append(figure_row(clip, hole, preds))

    summary = {kind: {label: {m: _num(_mean([r["methods"][label][m] for r in per_clip.values()])) for m in METRICS}
                      for label in labels}
               for kind, per_clip in results.items()}
    for kind, per_method in summary.items():
        for label in labels:
            per_method[label]["known_exact"] = all(r["methods"][label]["known_exact"] for r in results[kind].values())
    seconds_total = time.perf_counter() - started
    command = "python experiments/real_clips.py " + " ".join(sys.argv[1:] if argv is None else argv)
    payload = {"experiment": "real_clips", "command": command.strip(), "machine": machine,
               "load_avg": _load_avg(), "seconds_total": seconds_total,
               "frames": args.frames, "scheme": args.scheme, "sampler": args.sampler, "steps": args.steps,
               "seed": args.seed, "mask_seed": args.mask_seed, "min_moving": args.min_moving,
               "regions": args.region, "threads": torch.get_num_threads(),
               "checkpoints": {label.rsplit("/", 1)[0]: str(getattr(m, "checkpoint", ""))
                               for label, m in methods.items() if hasattr(m, "checkpoint")},
               "flow": flow_backend_name(DEFAULT_FLOW), "methods": labels,
               "clips": [{"name": c.name, "source": c.source, "width": int(c.frames.shape[2]),
                          "height": int(c.frames.shape[1]), "frames": int(len(c.frames)), "start": c.start,
                          "available": c.available} for c in chosen],
               "results": results, "summary": summary}
    out = Path(args.results_dir)
    path = atomic_write_text(out / f"{args.name}.json", json.dumps(payload, indent=1, allow_nan=False) + "\n")
    md = atomic_write_text(out / f"{args.name}.md", markdown(payload))
    print(f"\nwrote {path}\nwrote {md}")
    if not args.no_figures:
        from PIL import Image

        for kind, rows in figures.items():
            image = stack_rows(rows)
            png = Path(args.img_dir) / f"{args.name}_{kind}.png"
            atomic_write(png, lambda tmp: Image.fromarray(image).save(tmp, format="PNG", optimize=True))
            print(f"wrote {png}")
        if args.samplers:
            print(f"wrote {plot_quality_vs_evaluations(payload, Path(args.img_dir) / f'{args.name}_evaluations.png')}")
    print("\nmeans over clips:")
    for kind, per_method in summary.items():
        print(f"  {kind}")
        for label, s in per_method.items():
            print(f"    {label:<26} " + "  ".join(f"{m} {_cell(m, s[m])}" for m in METRICS))
    print(f"done in {seconds_total:.0f} s")
    print(json.dumps({"experiment": "real_clips", "frames": args.frames, "clips": [c.name for c in chosen],
                      "summary": summary}, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
