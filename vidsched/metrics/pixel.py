"""Per-frame pixel metrics of DEVIL (Szeto & Corso 2021): PSNR and SSIM on the composite.

Videos are ``(T, H, W, 3)`` RGB arrays, ``uint8`` or floating point in ``[0, 1]``
(:func:`as_float01`); a hole mask is ``(T, H, W)`` bool, True = a pixel the method filled.
Every metric compares the ground truth with the *composite* (:func:`composite`): known
pixels from the ground truth, hole pixels from the prediction. A video's score is the mean
of its per-frame scores (DEVIL's ``psnr_computer.py`` / ``ssim_computer.py``); the mean
over videos is the caller's.

PSNR (data range 1)::

    MSE_t  = mean over (y, x, c) of (gt[t] - comp[t])^2
    PSNR_t = 10 log10(1 / MSE_t)                      [dB]

Identical frames (``MSE_t = 0``) give ``+inf``, as ``skimage.metrics.peak_signal_noise_ratio``
(which DEVIL calls) does, so the mean over a video that has one is ``+inf`` too. A frame
without hole pixels is such a frame: its composite *is* the ground truth. DEVIL's table
script (``summarize_quant_results.py``) then clips each video's PSNR to the largest finite
per-video value; pass ``max_db`` to cap per-frame values instead, or leave frames without a
hole out before scoring.

SSIM (Wang et al. 2004) with a 7x7 uniform window and the sample covariance (N - 1 = 48),
per channel, over the windows that lie inside the frame, then the mean over channels --
``skimage.metrics.structural_similarity(..., win_size=7, gaussian_weights=False)``::

    mu_x, mu_y        = window means;  s_x^2, s_y^2, s_xy = 49/48 x window (co)variances
    SSIM(window)      = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))
    C1 = (0.01 L)^2,  C2 = (0.03 L)^2,  L = data range
    SSIM_t            = mean over channels of the mean over windows

Two modes differ only in ``L``:

* ``"devil"`` (default): ``L = 2``. DEVIL (``ssim_computer.py``, ``scikit-image==0.17.2`` in
  its requirements) ran ``structural_similarity(gt, comp, multichannel=True)`` on float32
  frames in ``[0, 1]``, without ``data_range``; that version then took the range
  from the dtype's limits, ``(-1, 1)`` for floats (``skimage/util/dtype.py``), so ``L = 2``.
  The constants are 4x larger than intended, which raises SSIM, most of all in flat
  regions. Use this mode to compare with numbers published with DEVIL.
* ``"standard"``: ``L = 1``, the true range of ``[0, 1]`` images -- what current
  scikit-image computes with ``data_range=1``. Lower than ``"devil"`` (smaller constants
  pull each window's terms less towards 1); not comparable with DEVIL's tables.

Neither mode is Wang et al.'s reference SSIM (11x11 Gaussian window, population covariance).
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from vidsched.errors import VidschedError

SsimMode = Literal["devil", "standard"]
SSIM_DATA_RANGE: dict[str, float] = {"devil": 2.0, "standard": 1.0}
SSIM_WINDOW = 7
_K1, _K2 = 0.01, 0.03
# Frames per SSIM chunk: each float64 working array holds about this many values (~8 MiB).
_CHUNK_VALUES = 1 << 20


def as_float01(video: np.ndarray, name: str = "video") -> np.ndarray:
    """``video`` as floating point in ``[0, 1]``, after checking it is ``(T, H, W, 3)``.

    ``uint8`` becomes ``float32`` ``k / 255`` (as DEVIL's frame loader); floating input is
    checked to be finite and in ``[0, 1]`` and kept at its precision (``float16`` becomes
    ``float32``). ``name`` labels the array in error messages.
    """
    video = np.asarray(video)
    if video.ndim != 4 or video.shape[-1] != 3:
        raise VidschedError(f"{name}: expected an RGB video of shape (T, H, W, 3), got shape {video.shape}")
    if 0 in video.shape:
        raise VidschedError(f"{name}: the video is empty (shape {video.shape})")
    if video.dtype == np.uint8:
        return video.astype(np.float32) / np.float32(255)
    if video.dtype.kind != "f":
        raise VidschedError(f"{name}: expected uint8 or floating-point pixels in [0, 1], got dtype {video.dtype}")
    if video.dtype == np.float16:
        video = video.astype(np.float32)
    if not np.isfinite(video).all():
        raise VidschedError(f"{name}: the video has NaN or infinite pixels")
    lo, hi = float(video.min()), float(video.max())
    if lo < 0.0 or hi > 1.0:
        raise VidschedError(f"{name}: floating-point pixels must lie in [0, 1], got values in "
                            f"[{lo:.4g}, {hi:.4g}] (clip the video, or pass uint8)")
    return video


def _pair(gt: np.ndarray, comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt, comp = as_float01(gt, "ground truth"), as_float01(comp, "composite")
    if gt.shape != comp.shape:
        raise VidschedError(f"the composite has shape {comp.shape} but the ground truth {gt.shape}")
    return gt, comp


def composite(gt: np.ndarray, pred: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Known pixels from ``gt``, hole pixels (``hole`` True) from ``pred``: ``C = M*P + (1-M)*G``.

    Returns floating point in ``[0, 1]`` (:func:`as_float01`), the input DEVIL scores.
    """
    gt, pred = as_float01(gt, "ground truth"), as_float01(pred, "prediction")
    return np.where(_check_pair(pred, gt, hole)[..., None], pred, gt)


def _check_pair(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """``hole`` as a bool (T, H, W) mask of the video ``gt`` that ``pred`` matches in shape."""
    if pred.shape != gt.shape:
        raise VidschedError(f"the prediction has shape {pred.shape} but the ground truth {gt.shape}")
    hole = np.asarray(hole)
    if hole.dtype != np.bool_:
        raise VidschedError(f"the hole mask must be bool (True = hole), got dtype {hole.dtype}")
    if hole.shape != gt.shape[:3]:
        raise VidschedError(f"the hole mask has shape {hole.shape} but the video is {gt.shape[:3]} (T, H, W)")
    return hole


def psnr_frames(gt: np.ndarray, comp: np.ndarray, max_db: float | None = None) -> np.ndarray:
    """PSNR of every frame in dB, shape ``(T,)``: ``10 log10(1 / MSE_t)`` (data range 1).

    Identical frames give ``+inf``, or ``max_db`` if given (every value is capped at it).
    """
    gt, comp = _pair(gt, comp)
    diff = gt.astype(np.float64) - comp.astype(np.float64)
    mse = np.mean(np.square(diff), axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(1.0 / mse)
    return psnr if max_db is None else np.minimum(psnr, max_db)


def psnr_video(gt: np.ndarray, comp: np.ndarray, max_db: float | None = None) -> float:
    """Mean of :func:`psnr_frames` over the video (``+inf`` if a frame is identical and ``max_db`` is None)."""
    return float(np.mean(psnr_frames(gt, comp, max_db)))


def _box_mean(stack: np.ndarray, height: int) -> np.ndarray:
    """7x7 window means of frames stacked as ``(n * H, W, 3)``, cropped to whole windows.

    One ``cv2.blur`` filters all frames: rows of a frame further than 3 from its top and
    bottom never see the neighbouring frame, and those are the only rows kept.
    """
    pad = SSIM_WINDOW // 2
    out = cv2.blur(stack, (SSIM_WINDOW, SSIM_WINDOW), borderType=cv2.BORDER_REFLECT)
    out = out.reshape(-1, height, stack.shape[1], 3)
    return out[:, pad:height - pad, pad:-pad]


def ssim_frames(gt: np.ndarray, comp: np.ndarray, mode: SsimMode = "devil") -> np.ndarray:
    """SSIM of every frame, shape ``(T,)``; ``mode`` sets the data range (module docstring).

    Frames must be at least 7x7. Computed in float64 (as scikit-image does).
    """
    if mode not in SSIM_DATA_RANGE:
        raise VidschedError(f"unknown SSIM mode {mode!r} (choose from {', '.join(SSIM_DATA_RANGE)})")
    gt, comp = _pair(gt, comp)
    T, H, W, _ = gt.shape
    if H < SSIM_WINDOW or W < SSIM_WINDOW:
        raise VidschedError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {W}x{H}")
    L = SSIM_DATA_RANGE[mode]
    c1, c2 = (_K1 * L) ** 2, (_K2 * L) ** 2
    cov_norm = SSIM_WINDOW**2 / (SSIM_WINDOW**2 - 1)
    chunk = max(1, _CHUNK_VALUES // (H * W * 3))
    out = np.empty(T, dtype=np.float64)
    for start in range(0, T, chunk):
        x = gt[start:start + chunk].astype(np.float64).reshape(-1, W, 3)
        y = comp[start:start + chunk].astype(np.float64).reshape(-1, W, 3)
        ux, uy = _box_mean(x, H), _box_mean(y, H)
        vx = cov_norm * (_box_mean(x * x, H) - ux * ux)
        vy = cov_norm * (_box_mean(y * y, H) - uy * uy)
        vxy = cov_norm * (_box_mean(x * y, H) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        out[start:start + chunk] = s.mean(axis=(1, 2, 3))
    return out


def ssim_video(gt: np.ndarray, comp: np.ndarray, mode: SsimMode = "devil") -> float:
    """Mean of :func:`ssim_frames` over the video."""
    return float(np.mean(ssim_frames(gt, comp, mode)))


# ---- hole-only metrics ----------------------------------------------------------------------
# Luminance weights (ITU-R BT.601, as OpenCV's RGB -> grey) for the sharpness ratio.
_LUMA = np.array([0.299, 0.587, 0.114])


def _hole_triplet(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pred`` and ``gt`` as float64 in ``[0, 1]`` (:func:`as_float01`) and ``hole`` checked
    to be a bool ``(T, H, W)`` mask of the same video."""
    def f64(video: np.ndarray, name: str) -> np.ndarray:  # uint8 -> k / 255 computed in float64
        checked = as_float01(video, name)
        video = np.asarray(video)
        return video / 255.0 if video.dtype == np.uint8 else checked.astype(np.float64, copy=False)

    gt, pred = f64(gt, "ground truth"), f64(pred, "prediction")
    return pred, gt, _check_pair(pred, gt, hole)


def hole_psnr(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> float:
    """PSNR in dB over the hole's pixels only, pooled over the whole video (data range 1).

    ::

        MSE  = mean over every hole pixel (t, y, x) of every frame and channel c of (pred - gt)^2
        PSNR = 10 log10(1 / MSE)

    Unlike :func:`psnr_video` (a mean of per-frame PSNRs over whole frames, DEVIL's), the
    known pixels do not dilute the error -- a small hole's score is not raised by the
    rest of the frame -- and one MSE is taken over all hole pixels, so frames with a
    larger hole weigh more and no frame gives ``+inf`` on its own. Only the hole pixels
    of ``pred`` are read (its known pixels may be anything), so the prediction and its
    composite score the same.

    ``uint8`` videos are scaled to ``[0, 1]`` (``k / 255``, in float64), floating ones must
    lie in it (:func:`as_float01`). Returns ``+inf`` if the prediction equals the ground truth on
    every hole pixel, and ``nan`` if the mask has no hole pixel (nothing to score).
    """
    pred, gt, hole = _hole_triplet(pred, gt, hole)
    if not hole.any():
        return float("nan")
    mse = float(np.mean(np.square(pred[hole] - gt[hole])))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(1.0 / mse))


def _eroded_hole(hole: np.ndarray) -> np.ndarray:
    """Each frame's hole eroded by 1 px (3x3 square): the pixels whose 8 neighbours are
    all in the hole too. Outside the frame counts as not hole, so frame-edge pixels drop."""
    kernel = np.ones((3, 3), np.uint8)
    out = np.zeros_like(hole)
    for t in np.flatnonzero(hole.reshape(len(hole), -1).any(axis=1)):
        out[t] = cv2.erode(hole[t].astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return out


def _gradient_energy(video: np.ndarray, where: np.ndarray, frames: np.ndarray) -> float:
    """Sum over ``where`` (frames ``frames``) of the squared 3x3 Sobel gradient of the luminance."""
    total = 0.0
    for t in frames:
        luma = video[t] @ _LUMA
        gx = cv2.Sobel(luma, cv2.CV_64F, 1, 0, ksize=3)
        gy = cv2.Sobel(luma, cv2.CV_64F, 0, 1, ksize=3)
        total += float((gx * gx + gy * gy)[where[t]].sum())
    return total


def sharpness_ratio(pred: np.ndarray, gt: np.ndarray, hole: np.ndarray) -> float:
    """Gradient energy of the prediction inside the hole over the ground truth's.

    ::

        Y        = 0.299 R + 0.587 G + 0.114 B                (luminance, in [0, 1])
        E(v)     = mean over pixels p of the eroded hole, over all frames with a hole,
                   of |Sobel_x Y(p)|^2 + |Sobel_y Y(p)|^2     (3x3 Sobel kernels)
        ratio    = E(pred) / E(gt)

    1.0 = the fill is as sharp (has as much fine detail) as the truth; below 1 it is
    blurrier (an over-smoothed fill scores near 0); above 1 it has more edges or noise
    than the truth. It says nothing about whether the detail is the *right* one (PSNR
    and SSIM do): it measures blur, the typical failure of a fill that looks fine in
    the numbers.

    The border step: a fill rarely meets its surroundings seamlessly, and the step at
    the hole's edge would add gradient energy that is not detail of the fill. So each
    frame's hole is eroded by 1 px with a 3x3 square (pixels outside the frame count as
    not hole): a pixel counts only if its 8 neighbours are hole pixels too, so the 3x3
    Sobel stencil at every counted pixel reads hole pixels only -- the fill alone in the
    prediction, the truth alone in the ground truth -- never a known pixel. The
    prediction's known pixels are therefore never read, and the prediction and its
    composite score the same.

    The pixels are pooled over the frames with a hole (one ratio per video, frames with a
    larger hole weigh more). Returns ``nan`` if the eroded hole is empty (no hole, or one
    at most 2 px thick everywhere), ``1.0`` if both energies are 0 (flat truth and flat
    fill), and ``+inf`` if only the truth's is.
    """
    pred, gt, hole = _hole_triplet(pred, gt, hole)
    inner = _eroded_hole(hole)
    frames = np.flatnonzero(inner.reshape(len(inner), -1).any(axis=1))
    if len(frames) == 0:
        return float("nan")
    e_pred = _gradient_energy(pred, inner, frames)
    e_gt = _gradient_energy(gt, inner, frames)
    if e_gt == 0.0:
        return 1.0 if e_pred == 0.0 else float("inf")
    return e_pred / e_gt  # the pixel counts cancel: a ratio of sums is the ratio of means
