"""Flow warping error E_warp (Lai et al. 2018), as DEVIL (Szeto & Corso 2021) computes it.

Optical flow is estimated on the *ground truth*, forward ``w_f`` (frame t -> t+1) and
backward ``w_b`` (t+1 -> t), with ``gt[t](x) ~ gt[t+1](x + w_f(x))``. The composite frame
t+1 is warped onto frame t and compared over the pixels whose motion is trusted::

    W_t(x)   = comp[t+1](x + w_f(x))                      (bilinear, border clamp)
    E_t      = mean over non-occluded pixels x and channels c of (W_t(x) - comp[t](x))^2
    E_warp   = mean over frame pairs t = 0 .. T-2 of E_t  (pairs with no trusted pixel skipped)

A pixel x of frame t is *occluded* (left out) where any of these hold
(:func:`occlusion_mask`; Ruder et al. 2016, as coded by Lai et al. and DEVIL)::

    forward-backward inconsistency:  |w_f + w~_b|^2 > 0.01 (|w_f|^2 + |w~_b|^2) + 0.5,
                                     w~_b(x) = w_b(x + w_f(x))
    motion boundary:                 |grad u|^2 + |grad v|^2 > 0.01 |w_f|^2 + 0.002,
                                     (u, v) = w_f, forward differences (0 in the last row/column)
    out of frame (vidsched):         x + w_f(x) outside [0, W-1] x [0, H-1]

Lai's ``detect_occlusion(fw_flow, bw_flow)`` is called as ``detect_occlusion(bw_flow,
fw_flow)`` by Lai's and DEVIL's scripts, so its "bw_flow" -- the flow whose gradients and
magnitude make the motion-boundary test -- is the forward flow of frame t, as above.

The out-of-frame test is vidsched's addition: with border-clamped warping, a pixel that
leaves the frame under a smooth motion passes the forward-backward test (the backward flow
read at the clamped border position cancels the forward flow), so Lai's and DEVIL's masks
keep it and compare it with a border pixel of frame t+1 it never moved to.
``exclude_out_of_frame=False`` gives their mask exactly.

Averaging follows DEVIL's ``warp_error_computer.py``: per pair, the mean over the trusted
pixel-channels (``nanmean``), then the mean over the pairs that have any (a video whose
pairs have none gives NaN). The value is the raw mean squared error of ``[0, 1]`` pixels,
unscaled (DEVIL's tables print it to 6 decimals; some papers multiply by 1e3 or 1e2).

Flow backend: DEVIL used FlowNet2 (weights needed, CUDA-only layers); vidsched defaults to
OpenCV's DIS optical flow (Kroeger et al. 2016), preset MEDIUM (:class:`DISFlow`), which
works offline, so E_warp values are comparable between vidsched runs but not digit for
digit with DEVIL's. Any callable ``(frame_a, frame_b) -> flow`` serves as a backend
(frames ``(H, W, 3)`` float32 RGB in ``[0, 1]``, flow ``(H, W, 2)`` float ``(dx, dy)``
with ``frame_a(x) ~ frame_b(x + flow(x))``); give it a ``name`` attribute so that results
can record it (:func:`flow_backend_name`).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from vidsched.errors import VidschedError
from vidsched.metrics.pixel import as_float01

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
# Frame pairs per chunk: each (pairs, H, W, 3) working array holds about this many values.
_CHUNK_VALUES = 1 << 20

_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class DISFlow:
    """OpenCV's DIS optical flow on the frames' 8-bit luma (``cv2.DISOpticalFlow_create``).

    Needs no weights. A new DIS object per call keeps it stateless (and safe to share).
    """

    def __init__(self, preset: str = "medium") -> None:
        if preset not in _DIS_PRESETS:
            raise VidschedError(f"unknown DIS preset {preset!r} (choose from {', '.join(_DIS_PRESETS)})")
        self.preset = preset
        self.name = f"opencv-dis-{preset}"

    def __call__(self, frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
        return dis.calc(_luma_u8(frame_a), _luma_u8(frame_b), None)

    def __repr__(self) -> str:
        return f"DISFlow(preset={self.preset!r})"


def _luma_u8(frame: np.ndarray) -> np.ndarray:
    u8 = np.rint(np.asarray(frame, dtype=np.float32) * 255).astype(np.uint8)
    return cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)


DEFAULT_FLOW = DISFlow("medium")


def flow_backend_name(flow: FlowFn) -> str:
    """The name to record for a flow backend: its ``name`` attribute, else its qualified name."""
    name = getattr(flow, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(flow, "__qualname__", type(flow).__qualname__)


def warp_bilinear(frames: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``out[n, y, x] = frames[n]`` sampled at ``(x + flow[n, y, x, 0], y + flow[n, y, x, 1])``.

    ``frames`` ``(N, H, W, C)``, ``flow`` ``(N, H, W, 2)``; bilinear, with each of the four
    neighbours' indices clamped to the frame (= FlowNet2's ``Resample2d``, which Lai et al.
    and DEVIL warp with; equal to it up to float32 rounding). Returns float32.
    """
    n, h, w, c = frames.shape
    gx = np.arange(w, dtype=np.float32) + flow[..., 0]
    gy = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    x0, y0 = np.floor(gx), np.floor(gy)
    ax, ay = (gx - x0)[..., None], (gy - y0)[..., None]
    x0, y0 = x0.astype(np.intp), y0.astype(np.intp)
    xl, xr = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    first_row = np.arange(n)[:, None, None] * h
    row_t = (first_row + np.clip(y0, 0, h - 1)) * w
    row_b = (first_row + np.clip(y0 + 1, 0, h - 1)) * w
    flat = np.asarray(frames, dtype=np.float32).reshape(n * h * w, c)
    tl, tr = np.take(flat, row_t + xl, axis=0), np.take(flat, row_t + xr, axis=0)
    bl, br = np.take(flat, row_b + xl, axis=0), np.take(flat, row_b + xr, axis=0)
    top = tl + ax * (tr - tl)
    bottom = bl + ax * (br - bl)
    return top + ay * (bottom - top)


def _occluded(forward: np.ndarray, backward: np.ndarray, exclude_out_of_frame: bool) -> np.ndarray:
    _, h, w, _ = forward.shape
    backward_at = warp_bilinear(backward, forward)
    mag_f = np.sum(np.square(forward), axis=-1)
    occluded = (np.sum(np.square(forward + backward_at), axis=-1)
                > 0.01 * (mag_f + np.sum(np.square(backward_at), axis=-1)) + 0.5)
    grad = np.zeros(forward.shape[:3], dtype=np.float32)
    grad[:, :, :-1] += np.sum(np.square(forward[:, :, :-1] - forward[:, :, 1:]), axis=-1)
    grad[:, :-1, :] += np.sum(np.square(forward[:, :-1, :] - forward[:, 1:, :]), axis=-1)
    occluded |= grad > 0.01 * mag_f + 0.002
    if exclude_out_of_frame:
        tx = np.arange(w, dtype=np.float32) + forward[..., 0]
        ty = np.arange(h, dtype=np.float32)[:, None] + forward[..., 1]
        occluded |= (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    return occluded


def occlusion_mask(forward: np.ndarray, backward: np.ndarray, exclude_out_of_frame: bool = True) -> np.ndarray:
    """Pixels of frame t whose warping error is not counted, True = occluded (module docstring).

    ``forward`` (t -> t+1) and ``backward`` (t+1 -> t) flows are ``(H, W, 2)`` or a stack
    ``(N, H, W, 2)``; the mask is ``(H, W)`` or ``(N, H, W)`` bool.
    """
    forward, backward = np.asarray(forward, dtype=np.float32), np.asarray(backward, dtype=np.float32)
    if forward.shape != backward.shape or forward.ndim not in (3, 4) or forward.shape[-1] != 2:
        raise VidschedError(f"the flows must both be (H, W, 2) or (N, H, W, 2), got shapes "
                            f"{forward.shape} and {backward.shape}")
    if forward.ndim == 3:
        return _occluded(forward[None], backward[None], exclude_out_of_frame)[0]
    n, h, w, _ = forward.shape
    chunk = max(1, _CHUNK_VALUES // (h * w * 3))
    occluded = np.zeros((n, h, w), dtype=bool)
    for s in range(0, n, chunk):
        occluded[s:s + chunk] = _occluded(forward[s:s + chunk], backward[s:s + chunk], exclude_out_of_frame)
    return occluded


def _flow_checked(flow_fn: FlowFn, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.asarray(flow_fn(a, b), dtype=np.float32)
    if out.shape != a.shape[:2] + (2,):
        raise VidschedError(f"flow backend {flow_backend_name(flow_fn)} returned shape {out.shape}, "
                            f"expected {a.shape[:2] + (2,)}")
    if not np.isfinite(out).all():
        raise VidschedError(f"flow backend {flow_backend_name(flow_fn)} returned NaN or infinite flow")
    return out


def reference_motion(
    gt: np.ndarray, flow: FlowFn = DEFAULT_FLOW, exclude_out_of_frame: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Forward flows ``(T-1, H, W, 2)`` and occlusion masks ``(T-1, H, W)`` of a ground-truth video.

    They depend on the ground truth only: compute them once per video to score many
    predictions with :func:`warping_error_from_motion`.
    """
    gt = as_float01(gt, "ground truth").astype(np.float32, copy=False)
    if gt.shape[0] < 2:
        raise VidschedError(f"the warping error needs at least 2 frames, got {gt.shape[0]}")
    forward = np.stack([_flow_checked(flow, gt[t], gt[t + 1]) for t in range(len(gt) - 1)])
    backward = np.stack([_flow_checked(flow, gt[t + 1], gt[t]) for t in range(len(gt) - 1)])
    return forward, occlusion_mask(forward, backward, exclude_out_of_frame)


def warping_error_from_motion(comp: np.ndarray, forward: np.ndarray, occluded: np.ndarray) -> float:
    """E_warp of ``comp`` given :func:`reference_motion`'s flows and masks (module docstring)."""
    comp = as_float01(comp, "composite")
    forward, occluded = np.asarray(forward, dtype=np.float32), np.asarray(occluded, dtype=bool)
    t, h, w, _ = comp.shape
    if t < 2:
        raise VidschedError(f"the warping error needs at least 2 frames, got {t}")
    if forward.shape != (t - 1, h, w, 2) or occluded.shape != (t - 1, h, w):
        raise VidschedError(f"the flows {forward.shape} and occlusion masks {occluded.shape} do not fit a "
                            f"video of shape {comp.shape}: expected ({t - 1}, {h}, {w}, 2) and ({t - 1}, {h}, {w})")
    chunk = max(1, _CHUNK_VALUES // (h * w * 3))
    sums = np.empty(t - 1, dtype=np.float64)
    for s in range(0, t - 1, chunk):
        e = min(s + chunk, t - 1)
        warped = warp_bilinear(comp[s + 1:e + 1], forward[s:e])
        sq = np.square(warped - comp[s:e]).sum(axis=-1, dtype=np.float64)
        sums[s:e] = np.where(occluded[s:e], 0.0, sq).sum(axis=(1, 2))
    counts = 3 * np.count_nonzero(~occluded, axis=(1, 2))
    kept = counts > 0
    if not kept.any():
        return float("nan")
    return float(np.mean(sums[kept] / counts[kept]))


def warping_error(
    gt: np.ndarray, comp: np.ndarray, flow: FlowFn = DEFAULT_FLOW, exclude_out_of_frame: bool = True
) -> float:
    """E_warp of the composite ``comp``, with flow and occlusion from the ground truth ``gt``.

    ``flow`` is the optical-flow backend (default: :data:`DEFAULT_FLOW`, OpenCV DIS
    MEDIUM; record :func:`flow_backend_name` with the result).
    """
    if np.shape(comp) != np.shape(gt):
        raise VidschedError(f"the composite has shape {np.shape(comp)} but the ground truth {np.shape(gt)}")
    forward, occluded = reference_motion(gt, flow, exclude_out_of_frame)
    return warping_error_from_motion(comp, forward, occluded)
