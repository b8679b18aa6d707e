"""The evaluation suite: DEVIL's metrics over one video or a dataset of videos.

Every metric sees the *composite* (known pixels from the ground truth, hole pixels from
the prediction), as DEVIL does (Szeto & Corso 2021). Per-video metrics (PSNR, SSIM,
LPIPS, PVCS, E_warp) are means over the video's frames (or clips, or frame pairs), then
a mean over videos; FID pools the frames of all videos and VFID one feature per video
into one Frechet distance each. A metric whose network weights are not on this machine
is reported as unavailable with the reason -- never computed with random weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vidsched.errors import VidschedError

PER_VIDEO = ("psnr", "ssim", "lpips", "pvcs", "e_warp")
DATASET = ("fid", "vfid")
METRICS = PER_VIDEO + DATASET
OFFLINE = ("psnr", "ssim", "e_warp")  # need no network weights
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "lpips": False, "pvcs": False, "e_warp": False,
                    "fid": False, "vfid": False}
UNITS = {"psnr": "dB"}


@dataclass(frozen=True)
class EvalVideo:
    name: str
    gt: np.ndarray  # (T, H, W, 3) uint8
    pred: np.ndarray  # (T, H, W, 3) uint8: the method's output (only its hole pixels count)
    hole: np.ndarray  # (T, H, W) bool, True = pixel that was filled

    @property
    def composite(self) -> np.ndarray:
        return np.where(self.hole[..., None], self.pred, self.gt)

    @property
    def holed_frames(self) -> np.ndarray:
        """Indices of the frames with a hole. Frames without one are the ground truth
        itself on the composite (PSNR +inf, SSIM 1, LPIPS 0): they say nothing about the
        method, so the per-frame metrics skip them. DEVIL's masks hole every frame, where
        this changes nothing."""
        return np.flatnonzero(self.hole.reshape(len(self.hole), -1).any(axis=1))


@dataclass
class EvalReport:
    per_video: dict[str, dict[str, float]] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)
    # Metrics that mean nothing for these inputs (PSNR of a video with no hole), and why.
    not_applicable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def check_video(v: EvalVideo) -> EvalVideo:
    for label, arr in (("ground truth", v.gt), ("prediction", v.pred)):
        if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise VidschedError(f"{v.name}: the {label} must be T x H x W x 3 uint8, got {arr.dtype} {arr.shape}")
    if v.pred.shape != v.gt.shape:
        raise VidschedError(f"{v.name}: the prediction is {v.pred.shape[:3]} (T, H, W) but the ground truth is "
                            f"{v.gt.shape[:3]}")
    if v.hole.shape != v.gt.shape[:3]:
        raise VidschedError(f"{v.name}: the mask is {v.hole.shape} but the videos are {v.gt.shape[:3]} (T, H, W)")
    return v


class _Networks:
    """Weight-backed networks, loaded once on first use (or found unavailable once)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._cache: dict[str, object] = {}

    def get(self, name: str):
        if name not in self._cache:
            from vidsched.metrics.weights import MetricUnavailable

            try:
                self._cache[name] = self._load(name)
            except MetricUnavailable as e:
                self._cache[name] = e
        value = self._cache[name]
        if isinstance(value, Exception):
            raise value
        return value

    def _load(self, name: str):
        if name == "lpips":
            from vidsched.metrics.lpips import load_lpips

            return load_lpips(device=self.device)
        if name == "i3d":
            from vidsched.metrics.i3d import load_i3d

            return load_i3d(device=self.device)
        if name == "inception":
            from vidsched.metrics.inception import load_fid_inception

            return load_fid_inception(device=self.device)
        raise KeyError(name)


#: Metrics scored over the frames with a hole only: without any hole they do not apply.
HOLE_ONLY = ("psnr", "ssim", "lpips")


def _per_video_metric(name: str, nets: _Networks) -> Callable[[EvalVideo], float]:
    def framewise(fn):  # over the frames with a hole (see EvalVideo.holed_frames)
        def run(v: EvalVideo) -> float:
            t = v.holed_frames
            return fn(v.gt[t], v.composite[t]) if len(t) else float("nan")

        return run

    if name == "psnr":
        from vidsched.metrics.pixel import psnr_video

        return framewise(psnr_video)
    if name == "ssim":
        from vidsched.metrics.pixel import ssim_video

        return framewise(ssim_video)
    if name == "e_warp":
        from vidsched.metrics.warp import warping_error

        return lambda v: warping_error(v.gt, v.composite)
    if name == "lpips":
        from vidsched.metrics.lpips import lpips_video

        return framewise(lambda gt, comp: lpips_video(nets.get("lpips"), gt, comp))
    if name == "pvcs":
        from vidsched.metrics.i3d import pvcs_video

        return lambda v: pvcs_video(nets.get("i3d"), v.gt, v.composite)
    raise KeyError(name)


def _dataset_metric(name: str, videos: Sequence[EvalVideo], nets: _Networks) -> float:
    from vidsched.metrics.frechet import frechet_distance as _frechet

    def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
        # pytorch-fid's sqrtm route for well-sampled sets; with no more samples than
        # dimensions the covariances are singular and the eigen route is exact and faster.
        method = "eigen" if min(len(a), len(b)) <= a.shape[1] else "sqrtm"
        return _frechet(a, b, method=method)

    if name == "fid":
        from vidsched.metrics.inception import inception_features

        model = nets.get("inception")
        real = np.concatenate([inception_features(model, v.gt) for v in videos])
        fake = np.concatenate([inception_features(model, v.composite) for v in videos])
        return frechet_distance(real, fake)
    if name == "vfid":
        from vidsched.metrics.i3d import i3d_features

        if len(videos) < 2:
            raise _NotApplicable("VFID needs at least 2 videos (one I3D feature per video)")
        model = nets.get("i3d")
        real = np.stack([i3d_features(model, v.gt) for v in videos])
        fake = np.stack([i3d_features(model, v.composite) for v in videos])
        return frechet_distance(real, fake)
    raise KeyError(name)


class _NotApplicable(Exception):
    pass


def _mean_over_videos(name: str, values: list[float]) -> float:
    """The mean over videos. A video identical to its ground truth has PSNR +inf; like
    DEVIL's tables, such values count as the largest finite PSNR of the set (+inf only
    when every video is identical)."""
    arr = np.array(values, float)
    if name == "psnr" and np.isposinf(arr).any() and np.isfinite(arr).any():
        arr[np.isposinf(arr)] = arr[np.isfinite(arr)].max()
    return float(np.nanmean(arr)) if not np.isnan(arr).all() else float("nan")


def evaluate(
    videos: Sequence[EvalVideo],
    metrics: Sequence[str] = METRICS,
    device: str = "cpu",
    on_metric: Callable[[str], None] | None = None,
) -> EvalReport:
    """Score ``videos`` with ``metrics``; see the module docstring for the averaging."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise VidschedError(f"unknown metric {unknown[0]!r} (choose from {', '.join(METRICS)})")
    if not videos:
        raise VidschedError("nothing to evaluate: no videos")
    videos = [check_video(v) for v in videos]
    from vidsched.metrics.warp import DEFAULT_FLOW, flow_backend_name
    from vidsched.metrics.weights import MetricUnavailable

    nets = _Networks(device)
    report = EvalReport(per_video={v.name: {} for v in videos})
    report.notes = {"videos": len(videos), "frames": int(sum(len(v.gt) for v in videos)),
                    "ssim": "DEVIL parity (skimage 0.17 on floats: data range 2, 7x7 uniform window)",
                    "e_warp": f"raw mean squared warping error; optical flow {flow_backend_name(DEFAULT_FLOW)} "
                              "(DEVIL used FlowNet2); pixels that leave the frame are excluded",
                    "frames_scored": "PSNR, SSIM and LPIPS over the frames with a hole; E_warp and PVCS over all",
                    "composite": "known pixels from the ground truth, hole pixels from the prediction"}
    no_hole = [v.name for v in videos if not len(v.holed_frames)]
    which = [LABELS[m].split(" ")[0] for m in HOLE_ONLY if m in metrics]
    if no_hole and which:
        listed = " and ".join([", ".join(which[:-1]), which[-1]] if len(which) > 1 else which)
        verb = "does" if len(which) == 1 else "do"
        if len(no_hole) == len(videos):
            text = f"the mask has no hole (nothing was filled): {listed} {verb} not apply"
        else:
            them = "it" if len(no_hole) == 1 else "them"
            text = (f"the mask of {', '.join(no_hole)} has no hole (nothing was filled): {listed} {verb} not apply "
                    f"to {them}, and the means leave {them} out")
        report.notes["no_hole"] = text
    for name in metrics:
        if name in HOLE_ONLY and len(no_hole) == len(videos):
            report.not_applicable[name] = "not applicable: no video has a hole (nothing was filled)"
            continue
        if on_metric is not None:
            on_metric(name)
        start = time.perf_counter()
        try:
            if name in PER_VIDEO:
                fn = _per_video_metric(name, nets)
                values = {v.name: float(fn(v)) for v in videos if not (name in HOLE_ONLY and v.name in no_hole)}
                for vname, value in values.items():
                    report.per_video[vname][name] = value
                report.summary[name] = _mean_over_videos(name, list(values.values()))
            else:
                report.summary[name] = float(_dataset_metric(name, videos, nets))
        except (MetricUnavailable, _NotApplicable) as e:
            report.unavailable[name] = str(e)
            continue
        report.seconds[name] = time.perf_counter() - start
    return report


# ---- inputs ---------------------------------------------------------------------------------
def _load_one(name: str, pred: Path, gt: Path, mask: Path, invert: bool, notes: list[str] | None = None) -> EvalVideo:
    from vidsched.masks_io import load_mask
    from vidsched.videoio import read_video

    g = read_video(gt).frames
    p = read_video(pred).frames
    hole = load_mask(mask, invert=invert, num_frames=len(g), notes=notes)
    if hole.shape[1:] != g.shape[1:3]:
        raise VidschedError(f"{name}: the mask is {hole.shape[2]}x{hole.shape[1]} but the video is "
                            f"{g.shape[2]}x{g.shape[1]}")
    return check_video(EvalVideo(name, g, p, hole))


def load_videos(pred: Path, gt: Path, mask: Path, invert: bool = False,
                notes: list[str] | None = None) -> list[EvalVideo]:
    """One video (three files) or a dataset (three folders of clips with matching names).

    In dataset mode clips are matched by name without extension, so ``gt/a.mp4``,
    ``pred/a.png-folder`` and ``masks/a.npy`` form one video. A clip missing from the
    prediction or mask folder is an error that names it. Notes on how masks were read
    (:func:`vidsched.masks_io.load_mask`) are appended to ``notes``.
    """
    from vidsched.training.video_folder import find_clips

    pred, gt, mask = Path(pred), Path(gt), Path(mask)
    for option, what, path in (("--gt", "ground truth", gt), ("--pred", "prediction", pred), ("--mask", "mask", mask)):
        if not path.exists():
            raise VidschedError(f"{what} not found: {path} ({option})")
    gt_clips = find_clips(gt)
    if not (gt.is_dir() and (len(gt_clips) > 1 or gt_clips[0] != gt)):
        return [_load_one(gt.stem, pred, gt, mask, invert, notes)]

    def by_stem(folder: Path, what: str) -> dict[str, Path]:
        if not folder.is_dir():
            raise VidschedError(f"--gt is a folder of clips, so {what} must be a folder too: {folder}")
        return {p.stem if p.is_file() else p.name: p for p in find_clips(folder)}

    preds, masks = by_stem(pred, "--pred"), by_stem(mask, "--mask")
    videos = []
    for clip in gt_clips:
        stem = clip.stem if clip.is_file() else clip.name
        missing = [what for what, table in (("--pred", preds), ("--mask", masks)) if stem not in table]
        if missing:
            raise VidschedError(f"{clip.name}: no clip named {stem!r} in {' or '.join(missing)}")
        videos.append(_load_one(stem, preds[stem], clip, masks[stem], invert, notes))
    return videos


# ---- presentation ---------------------------------------------------------------------------
LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "lpips": "LPIPS", "pvcs": "PVCS", "e_warp": "E_warp",
          "fid": "FID", "vfid": "VFID"}


def _fmt(name: str, value: float) -> str:
    if name == "e_warp":
        return f"{value:.3e}"
    return f"{value:.2f}" if name in ("psnr", "fid", "vfid") else f"{value:.4f}"


def report_lines(report: EvalReport, per_video: bool | None = None) -> list[str]:
    """A plain-text table: one row per metric (and per video in dataset mode), then why
    any metric was unavailable (each reason once)."""
    names = list(report.summary) + [m for m in (*report.unavailable, *report.not_applicable) if m not in report.summary]
    lines = [f"{'metric':<10} {'value':>11}  {'better':<7} {'time':>8}"]
    for name in names:
        if name in report.summary:
            arrow = "higher" if HIGHER_IS_BETTER[name] else "lower"
            lines.append(f"{LABELS[name]:<10} {_fmt(name, report.summary[name]):>11}  {arrow:<7} "
                         f"{report.seconds.get(name, 0.0):7.2f}s")
        elif name in report.not_applicable:
            lines.append(f"{LABELS[name]:<10} {'n/a':>11}  (not applicable)")
        else:
            lines.append(f"{LABELS[name]:<10} {'unavailable':>11}")
    videos = report.per_video
    if per_video if per_video is not None else len(videos) > 1:
        cols = [m for m in PER_VIDEO if m in report.summary]
        width = max(len(v) for v in videos)
        lines += ["", f"{'video':<{width}}  " + "  ".join(f"{LABELS[m]:>10}" for m in cols)]
        lines += [f"{v:<{width}}  " + "  ".join(f"{_fmt(m, r[m]) if m in r else 'n/a':>10}" for m in cols)
                  for v, r in videos.items()]
    reasons: dict[str, list[str]] = {}
    for name, why in report.unavailable.items():
        reasons.setdefault(why, []).append(LABELS[name])
    for why, which in reasons.items():
        lines += ["", why]
    lines += ["", f"{report.notes.get('videos')} video(s), {report.notes.get('frames')} frames; "
                  f"SSIM: {report.notes.get('ssim')}; E_warp: {report.notes.get('e_warp')}"]
    return lines
