"""Combine several ``real_clips.py`` runs (other mask placements or sampling seeds) into one table.

One run puts one hole on each clip: a logo that happens to cover the only yellow object
on vtest's lawn scores 10 dB for every method, and a 0.2 dB gap between two methods on
one placement is within what a second placement moves. This script reads runs that
differ only in ``--mask-seed`` (or ``--seed``) and reports, per mask kind and clip, the
mean over runs, its spread (standard deviation over runs) and, for every model method
against every baseline, on how many runs it was ahead:

    for s in 0 1 2 3 4; do python experiments/real_clips.py ... --mask-seed $s --name place$s; done
    python experiments/aggregate.py experiments/results/place{0,1,2,3,4}.json --name placements

Writes ``<name>.json`` and ``<name>.md`` beside the first input (``--results-dir`` to
change). The runs must have the same methods, clips and mask kinds (checked).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_clips import METRICS, _cell, _mean, _num  # noqa: E402  (the runs' metrics, formats, means)


def load_runs(paths: list[Path]) -> list[dict]:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    first = runs[0]
    for path, run in zip(paths[1:], runs[1:]):
        for key in ("methods", "frames"):
            if run[key] != first[key]:
                raise SystemExit(f"{path}: {key} differ from {paths[0]}'s ({run[key]} vs {first[key]})")
        if [c["name"] for c in run["clips"]] != [c["name"] for c in first["clips"]]:
            raise SystemExit(f"{path}: clips differ from {paths[0]}'s")
        if set(run["results"]) != set(first["results"]):
            raise SystemExit(f"{path}: mask kinds differ from {paths[0]}'s")
    return runs


def _values(runs: list[dict], kind: str, clip: str, method: str, metric: str) -> np.ndarray:
    vals = [r["results"][kind][clip]["methods"][method][metric] for r in runs]
    return np.array([np.nan if v is None else float(v) for v in vals], np.float64)


def is_model(method: str) -> bool:
    """Model methods are named ``<checkpoint>/<region>...``; baselines have no slash."""
    return "/" in method


def aggregate(runs: list[dict]) -> dict:
    """Per kind: per clip and method, mean and spread of every metric over the runs, and
    the per-run values of hole PSNR; per (model method, baseline), the runs where the
    model was ahead on hole PSNR, per clip and over all (clip, run) pairs."""
    first = runs[0]
    methods = first["methods"]
    clips = [c["name"] for c in first["clips"]]
    out: dict = {}
    for kind in first["results"]:
        per_clip: dict = {}
        for clip in clips:
            per_clip[clip] = {}
            for m in methods:
                stats = {}
                for metric in METRICS:
                    v = _values(runs, kind, clip, m, metric)
                    ok = v[~np.isnan(v)]
                    stats[metric] = float(ok.mean()) if len(ok) else None
                    stats[f"{metric}_std"] = float(ok.std(ddof=1)) if len(ok) > 1 else None
                stats["hole_psnr_runs"] = [None if np.isnan(x) else float(x)
                                           for x in _values(runs, kind, clip, m, "hole_psnr")]
                per_clip[clip][m] = stats
        mean = {m: {metric: _num(_mean([per_clip[c][m][metric] for c in clips])) for metric in METRICS}
                for m in methods}
        wins: dict = {}
        for m in filter(is_model, methods):
            for b in methods:
                if b == m or is_model(b):
                    continue
                ahead = {c: int(np.sum(_values(runs, kind, c, m, "hole_psnr") > _values(runs, kind, c, b, "hole_psnr")))
                         for c in clips}
                on_mean = sum(per_clip[c][m]["hole_psnr"] > per_clip[c][b]["hole_psnr"] for c in clips)
                wins[f"{m} vs {b}"] = {"per_clip": ahead, "ahead": sum(ahead.values()),
                                       "of": len(clips) * len(runs), "clips_ahead_on_mean": on_mean}
        out[kind] = {"per_clip": per_clip, "mean": mean, "wins": wins}
    return out


def markdown(runs: list[dict], paths: list[Path], table: dict, command: str) -> str:
    first = runs[0]
    methods = first["methods"]
    lines = ["# Real clips over several runs\n",
             f"`{command}` — {len(runs)} runs of `{first['command']}` differing in "
             + ", ".join(sorted({k for r in runs for k in ("mask_seed", "seed")
                                 if len({x[k] for x in runs}) > 1}) or ["nothing"])
             + f" (mask seeds {', '.join(str(r['mask_seed']) for r in runs)}; sampling seeds "
             + f"{', '.join(str(r['seed']) for r in runs)}). Every cell: mean over the runs ± standard "
             "deviation over the runs (sample, n - 1).\n"]
    for kind, t in table.items():
        lines.append(f"## {kind} masks\n")
        for metric in ("hole_psnr", "e_warp", "sharpness"):
            head = ["clip"] + methods
            lines += [f"**{metric}**\n", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for clip, row in t["per_clip"].items():
                cells = [f"{_cell(metric, row[m][metric])} ± {_cell(metric, row[m][metric + '_std'])}"
                         if row[m][metric + "_std"] is not None else _cell(metric, row[m][metric]) for m in methods]
                lines.append("| " + " | ".join([clip] + cells) + " |")
            lines.append("| **mean** | " + " | ".join(_cell(metric, t["mean"][m][metric]) for m in methods) + " |")
            lines.append("")
        if t["wins"]:
            lines += ["**runs where the model method is ahead on hole PSNR** (per clip, then over all)\n",
                      "| model vs baseline | " + " | ".join(t["per_clip"]) + " | all | clips ahead on the mean |",
                      "|" + "---|" * (len(t["per_clip"]) + 3)]
            for pair, w in t["wins"].items():
                lines.append(f"| {pair} | " + " | ".join(f"{w['per_clip'][c]}/{len(runs)}" for c in t["per_clip"])
                             + f" | {w['ahead']}/{w['of']} | {w['clips_ahead_on_mean']}/{len(t['per_clip'])} |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", type=Path, nargs="+", help="real_clips.py result JSONs")
    ap.add_argument("--name", required=True, help="results name")
    ap.add_argument("--results-dir", type=Path, default=None, help="default: the first run's folder")
    args = ap.parse_args(argv)
    if len(args.runs) < 2:
        ap.error("give at least two runs")
    from vidsched.atomic import atomic_write_text

    runs = load_runs(args.runs)
    table = aggregate(runs)
    command = "python experiments/aggregate.py " + " ".join(sys.argv[1:] if argv is None else argv)
    out = args.results_dir or args.runs[0].parent
    payload = {"experiment": "aggregate", "command": command, "runs": [str(p) for p in args.runs],
               "commands": [r["command"] for r in runs], "machines": [r["machine"].get("cpu") for r in runs],
               "load_avg": [r.get("load_avg") for r in runs], "methods": runs[0]["methods"], "results": table}
    path = atomic_write_text(Path(out) / f"{args.name}.json", json.dumps(payload, indent=1, allow_nan=False) + "\n")
    md = atomic_write_text(Path(out) / f"{args.name}.md", markdown(runs, args.runs, table, command))
    print(f"wrote {path}\nwrote {md}")
    summary = {kind: {m: t["mean"][m]["hole_psnr"] for m in runs[0]["methods"]} for kind, t in table.items()}
    print(json.dumps({"experiment": "aggregate", "runs": len(runs), "hole_psnr": summary}, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
