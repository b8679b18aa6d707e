"""The paper's tables at our scale, on held-out real footage (docs/results.md).

    python experiments/paper_tables.py methods     # like table 1: the model vs baselines, per mask type
    python experiments/paper_tables.py schemes     # like table 2: sampling schemes on long blob occlusions
    python experiments/paper_tables.py samplers    # like table 3: Heun 10/25/50/100 steps and DDPM, wall time
    python experiments/paper_tables.py diversity   # several seeds on one input: picture and variance
    python experiments/paper_tables.py all

Every experiment uses clips of the held-out last 20 % of OpenCV's vtest.avi (fetched
into data/ if missing) and the shipped checkpoint unless ``--checkpoint`` says
otherwise, and writes ``experiments/results/NAME.json`` (every figure, the machine, the
command) and, where a picture says more, a PNG in ``docs/img/``. Metrics are the
evaluation suite's (vidsched.metrics.suite): PSNR, SSIM and E_warp always; LPIPS, PVCS,
FID and VFID when their weights are on the machine (otherwise listed as unavailable).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"
IMG = REPO / "docs" / "img"
METRICS = ("psnr", "ssim", "e_warp", "lpips", "pvcs", "fid", "vfid")
SCHEMES = ("ar", "reverse_ar", "hierarchy2", "improved_ar", "improved_ar_far_future", "improved_ar_3res")
BASELINES = ("telea", "ns", "propagation", "copy")


def _machine() -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import RUNTIME_PACKAGES, machine, torch_info

    return {**machine(RUNTIME_PACKAGES), "torch": torch_info()}


def _image_size(args) -> int:
    from vidsched.model.checkpoint import read_checkpoint_info

    return read_checkpoint_info(args.checkpoint)[0].image_size


@functools.lru_cache(maxsize=None)
def _held(size: int) -> np.ndarray:
    """The held-out frames, decoded once for all experiments of a run."""
    from vidsched.benchmark import heldout_frames

    return heldout_frames(size, root=REPO)


def _save(name: str, payload: dict) -> Path:
    from vidsched.atomic import atomic_write_text

    payload = {"experiment": name, "command": "python experiments/paper_tables.py " + " ".join(sys.argv[1:]),
               "machine": _machine(), **payload}
    path = atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=1))
    print(f"wrote {path.relative_to(REPO)}")
    return path


def _summary(report) -> dict:
    return {"summary": report.summary, "per_video": report.per_video, "unavailable": sorted(report.unavailable),
            "seconds": report.seconds}


def _row(label: str, summary: dict, extra: str = "") -> str:
    cells = [f"{summary[m]:.3e}" if m == "e_warp" else f"{summary[m]:.4f}" if m == "ssim" else f"{summary[m]:.2f}"
             for m in METRICS if m in summary]
    return f"{label:<28} " + "  ".join(f"{c:>10}" for c in cells) + (f"  {extra}" if extra else "")


def _markdown(rows: list[tuple[str, dict, dict]]) -> str:
    """A markdown table: one row per (label, metric summary, extra columns); best per metric in bold."""
    metrics = [m for m in METRICS if m in rows[0][1]]
    extras = list(rows[0][2])
    from vidsched.metrics.suite import HIGHER_IS_BETTER, LABELS

    best = {m: (max if HIGHER_IS_BETTER[m] else min)(r[1][m] for r in rows) for m in metrics}

    def cell(m: str, v: float) -> str:
        text = f"{v:.3e}" if m == "e_warp" else f"{v:.4f}" if m == "ssim" else f"{v:.2f}"
        return f"**{text}**" if v == best[m] else text

    head = ["method"] + [LABELS[m] + (" ↑" if HIGHER_IS_BETTER[m] else " ↓") for m in metrics] + extras
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, summary, extra in rows:
        lines.append("| " + " | ".join([label] + [cell(m, summary[m]) for m in metrics] + [str(v) for v in extra.values()]) + " |")
    return "\n".join(lines) + "\n"


def _write_markdown(name: str, text: str) -> None:
    from vidsched.atomic import atomic_write_text

    path = atomic_write_text(RESULTS / f"{name}.md", text)
    print(f"wrote {path.relative_to(REPO)}")


def _header(summary: dict, extra: str = "") -> str:
    return f"{'':<28} " + "  ".join(f"{m:>10}" for m in METRICS if m in summary) + (f"  {extra}" if extra else "")


def _strip(videos: list[tuple[np.ndarray, np.ndarray | None]], labels: list[str], t: int, zoom: int = 3) -> np.ndarray:
    """One row of a figure: frame t of each (frames, hole or None) side by side, labelled
    above, holes tinted as in `vidsched run --compare`."""
    from vidsched.compositing import side_by_side

    panels = []
    for (frames, hole), label in zip(videos, labels):
        f = frames[t : t + 1]
        h = np.zeros(f.shape[:3], bool) if hole is None else hole[t : t + 1]
        video = side_by_side(f, h, f, labels=(label, ""), zoom=zoom)
        panels.append(video[0, :, : zoom * f.shape[2] + 2])  # the left panel, its label and a white gap
    return np.concatenate(panels, axis=1)


def _write_png(image: np.ndarray, name: str) -> None:
    from PIL import Image

    from vidsched.atomic import atomic_write

    path = IMG / name
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG", optimize=True))
    print(f"wrote {path.relative_to(REPO)}")


# ---- table 1 --------------------------------------------------------------------------------
def methods(args) -> None:
    from vidsched.benchmark import ModelMethod, baseline_method, heldout_test_set, predict_all, score

    model = ModelMethod(args.checkpoint, scheme=args.scheme, steps=args.steps)
    held = _held(model.config.image_size)
    test_set = heldout_test_set(held, clips=args.clips, frames=args.frames)
    print(f"vidsched: scheme {args.scheme}, Heun {args.steps} steps, checkpoint {args.checkpoint}")
    runners = {"vidsched": model,
               **{name: baseline_method(name) for name in BASELINES}}
    table, figure_rows = {}, []
    for kind, clips in test_set.items():
        print(f"\n{kind} masks (moving), {len(clips)} clips x {args.frames} frames")
        table[kind] = {}
        preds = {}
        for label, method in runners.items():
            preds[label] = predict_all(method, clips)
            report = score(clips, preds[label], METRICS)
            table[kind][label] = {**_summary(report), "seconds_per_video": float(np.mean([p.seconds for p in preds[label]]))}
            if len(table[kind]) == 1:
                print(_header(report.summary, "s/video"))
            print(_row(label, report.summary, f"{table[kind][label]['seconds_per_video']:.2f}"))
        # a picture: input | vidsched | Telea | propagation | truth, at the middle frame of clip 0
        clip = clips[0]
        t = len(clip.gt) // 2
        ours = next(iter(runners))
        figure_rows.append(_strip([(clip.gt, clip.hole), (preds[ours][0].frames, None),
                                   (preds["telea"][0].frames, None), (preds["propagation"][0].frames, None),
                                   (clip.gt, None)],
                                  [f"{kind}: input", "vidsched", "Telea", "propagation", "ground truth"], t))
    _write_png(np.concatenate(figure_rows, axis=0), "results_methods.png")
    _write_markdown("methods", "\n".join(
        f"**{kind}** (moving)\n\n" + _markdown([(label, r["summary"], {"s / video": f"{r['seconds_per_video']:.2f}"})
                                               for label, r in rows.items()])
        for kind, rows in table.items()))
    _save("methods", {"checkpoint": str(args.checkpoint), "clips": args.clips, "frames": args.frames,
                      "scheme": args.scheme, "steps": args.steps, "results": table})


# ---- table 2 --------------------------------------------------------------------------------
def schemes(args) -> None:
    from vidsched.benchmark import ModelMethod, heldout_test_set, predict_all, score

    frames = args.long_frames
    table = {}
    # Long occlusions: big, slow blobs that sit on walkers for many frames.
    options = {"max_speed": 0.6}
    clips = heldout_test_set(_held(_image_size(args)), kinds=["blob"], clips=args.clips, frames=frames,
                             min_hole=0.08, mask_options=options)["blob"]
    print(f"moving blob masks (max speed 0.6 px/frame, >= 8 % of every frame), {len(clips)} clips x {frames} frames")
    for scheme in SCHEMES:
        model = ModelMethod(args.checkpoint, scheme=scheme, steps=args.steps)
        preds = predict_all(model, clips)
        report = score(clips, preds, METRICS)
        evals = preds[0].network_evaluations
        table[scheme] = {**_summary(report), "network_evaluations": evals,
                         "seconds_per_video": float(np.mean([p.seconds for p in preds]))}
        if scheme == SCHEMES[0]:
            print(_header(report.summary, "evals  s/video"))
        print(_row(scheme, report.summary, f"{evals:5d}  {table[scheme]['seconds_per_video']:.1f}"))
    _write_markdown("schemes", _markdown([(name, r["summary"], {"network evaluations": r["network_evaluations"],
                                                                 "s / video": f"{r['seconds_per_video']:.1f}"})
                                          for name, r in table.items()]))
    _save("schemes", {"checkpoint": str(args.checkpoint), "clips": args.clips, "frames": frames,
                      "steps": args.steps, "mask": {"kind": "blob", "moving": True, **options, "min_hole": 0.08},
                      "results": table})


# ---- table 3 --------------------------------------------------------------------------------
def samplers(args) -> None:
    from vidsched.benchmark import ModelMethod, heldout_test_set, predict_all, score

    settings = [(name, int(steps)) for name, steps in (item.split(":") for item in args.samplers.split(","))]
    table, points = {}, []
    clips = heldout_test_set(_held(_image_size(args)), kinds=["blob"], clips=args.sampler_clips,
                             frames=args.frames)["blob"]
    print(f"moving blob masks, {len(clips)} clips x {args.frames} frames, scheme {args.scheme}")
    for sampler, steps in settings:
        model = ModelMethod(args.checkpoint, scheme=args.scheme, sampler=sampler, steps=steps)
        preds = predict_all(model, clips)
        report = score(clips, preds, METRICS)
        label = f"{sampler} {steps}"
        evals = preds[0].network_evaluations
        table[label] = {**_summary(report), "network_evaluations": evals,
                        "seconds_per_video": float(np.mean([p.seconds for p in preds]))}
        if not points:
            print(_header(report.summary, "evals  s/video"))
        print(_row(label, report.summary, f"{evals:5d}  {table[label]['seconds_per_video']:.1f}"))
        points.append((sampler, steps, evals, report.summary["psnr"], report.summary["ssim"]))
    _plot_quality(points)
    _write_markdown("samplers", _markdown([(name, r["summary"], {"network evaluations": r["network_evaluations"],
                                                                  "s / video": f"{r['seconds_per_video']:.1f}"})
                                           for name, r in table.items()]))
    _save("samplers", {"checkpoint": str(args.checkpoint), "clips": args.sampler_clips, "frames": args.frames,
                       "scheme": args.scheme, "results": table})


def _plot_quality(points) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no quality plot: pip install matplotlib)")
        return
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=110)
    for ax, col, name in ((axes[0], 3, "PSNR (dB)"), (axes[1], 4, "SSIM")):
        for sampler, marker in (("heun", "o"), ("ddpm", "s")):
            pts = [p for p in points if p[0] == sampler]
            ax.plot([p[2] for p in pts], [p[col] for p in pts], marker=marker, label=sampler)
            for p in pts:
                ax.annotate(str(p[1]), (p[2], p[col]), textcoords="offset points", xytext=(3, 3), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("network evaluations per video")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("quality against network evaluations (labels: sampler steps)", fontsize=9)
    fig.tight_layout()
    IMG.mkdir(parents=True, exist_ok=True)
    fig.savefig(IMG / "results_quality_vs_evaluations.png")
    plt.close(fig)
    print("wrote docs/img/results_quality_vs_evaluations.png")


# ---- diversity ------------------------------------------------------------------------------
def diversity(args) -> None:
    from vidsched.benchmark import ModelMethod, heldout_test_set, masked_input

    model = ModelMethod(args.checkpoint, scheme=args.scheme, steps=args.steps)
    held = _held(model.config.image_size)
    clip = heldout_test_set(held, kinds=["box"], clips=3, frames=args.frames, min_hole=0.10)["box"][1]
    seeds = list(range(args.seeds))
    samples = np.stack([model(masked_input(clip), clip.hole, seed=s).frames for s in seeds]).astype(np.float64) / 255
    # per-pixel variance across seeds (mean over RGB), averaged over the hole
    variance = samples.var(axis=0).mean(axis=-1)
    inside = float(variance[clip.hole].mean())
    outside = float(variance[~clip.hole].mean())
    t = len(clip.gt) // 2
    row = _strip([(clip.gt, clip.hole)] + [((s * 255).round().astype(np.uint8), None) for s in samples]
                 + [(clip.gt, None)],
                 ["input"] + [f"seed {s}" for s in seeds] + ["ground truth"], t)
    _write_png(row, "results_diversity.png")
    print(f"{len(seeds)} seeds on {clip.name}: pixel variance in the hole {inside:.5f} (outside {outside:.1e})")
    _save("diversity", {"checkpoint": str(args.checkpoint), "clip": clip.name, "frames": args.frames,
                        "scheme": args.scheme, "steps": args.steps, "seeds": seeds,
                        "variance_in_hole": inside, "variance_outside_hole": outside,
                        "std_in_hole": float(np.sqrt(inside))})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", choices=["methods", "schemes", "samplers", "diversity", "all"])
    ap.add_argument("--checkpoint", type=Path, default=REPO / "vidsched" / "assets" / "vidsched-vtest64.json")
    ap.add_argument("--scheme", default="improved_ar_far_future")
    ap.add_argument("--steps", type=int, default=10, help="Heun steps (methods, schemes, diversity)")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--long-frames", type=int, default=32, help="clip length of the schemes experiment")
    ap.add_argument("--sampler-clips", type=int, default=2)
    ap.add_argument("--samplers", default="heun:10,heun:25,heun:50,heun:100,ddpm:100,ddpm:250",
                    help="sampler:steps list of the samplers experiment")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    for name in (["methods", "schemes", "samplers", "diversity"] if args.experiment == "all" else [args.experiment]):
        globals()[name](args)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
