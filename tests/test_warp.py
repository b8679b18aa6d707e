"""Flow warping error E_warp (vidsched.metrics.warp): warping, the occlusion mask of Lai et
al. / DEVIL, the averaging, and the default OpenCV DIS flow on synthetic videos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vidsched.errors import VidschedError
from vidsched.metrics.pixel import composite
from vidsched.metrics.warp import (
    DEFAULT_FLOW,
    DISFlow,
    flow_backend_name,
    occlusion_mask,
    reference_motion,
    warp_bilinear,
    warping_error,
    warping_error_from_motion,
)


def texture(h: int, w: int, seed: int = 0, sigma: float = 2.0) -> np.ndarray:
    """Smooth random RGB texture in [0.2, 0.8]."""
    rng = np.random.default_rng(seed)
    chans = []
    for _ in range(3):
        n = cv2.GaussianBlur(rng.random((h, w)), (0, 0), sigma)
        chans.append(0.2 + 0.6 * (n - n.min()) / (n.max() - n.min()))
    return np.stack(chans, axis=-1)


def translating(T: int, H: int, W: int, dx: int, dy: int, seed: int = 0) -> np.ndarray:
    """Content moving by (dx, dy) px per frame: frame[t+1](x + (dx, dy)) = frame[t](x)."""
    pad = (abs(dx) + abs(dy)) * T + 1
    tex = texture(H + 2 * pad, W + 2 * pad, seed)
    return np.stack([tex[pad - dy * t:pad - dy * t + H, pad - dx * t:pad - dx * t + W]
                     for t in range(T)]).astype(np.float32)


def zero_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A backend without a ``name`` attribute."""
    return np.zeros(a.shape[:2] + (2,), dtype=np.float32)


class OracleFlow:
    """Exact flow of :func:`translating`: it knows which frame comes first by its content."""

    name = "oracle"

    def __init__(self, video: np.ndarray, dx: float, dy: float) -> None:
        self.index = {frame.tobytes(): t for t, frame in enumerate(video)}
        self.step = np.float32([dx, dy])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        sign = self.index[b.tobytes()] - self.index[a.tobytes()]
        return np.broadcast_to(sign * self.step, a.shape[:2] + (2,)).copy()


# ---- references: Lai et al.'s / DEVIL's code, pixel by pixel --------------------------------
def resample2d(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """FlowNet2's Resample2d CUDA kernel, one pixel at a time."""
    h, w, c = img.shape
    out = np.zeros((h, w, c))
    for y in range(h):
        for x in range(w):
            xf, yf = x + float(flow[y, x, 0]), y + float(flow[y, x, 1])
            alpha, beta = xf - math.floor(xf), yf - math.floor(yf)
            xl, xr = max(min(math.floor(xf), w - 1), 0), max(min(math.floor(xf) + 1, w - 1), 0)
            yt, yb = max(min(math.floor(yf), h - 1), 0), max(min(math.floor(yf) + 1, h - 1), 0)
            out[y, x] = ((1 - alpha) * (1 - beta) * img[yt, xl] + alpha * (1 - beta) * img[yt, xr]
                         + (1 - alpha) * beta * img[yb, xl] + alpha * beta * img[yb, xr])
    return out


def lai_detect_occlusion(fw_flow: np.ndarray, bw_flow: np.ndarray) -> np.ndarray:
    """``detect_occlusion`` of DEVIL's src/common_util/flow.py (from Lai et al.), verbatim but for the warp."""
    fw_flow_w = resample2d(fw_flow, bw_flow)
    fb_flow_sum = fw_flow_w + bw_flow
    fb_flow_mag = fb_flow_sum[..., 0] ** 2 + fb_flow_sum[..., 1] ** 2
    fw_flow_w_mag = fw_flow_w[..., 0] ** 2 + fw_flow_w[..., 1] ** 2
    bw_flow_mag = bw_flow[..., 0] ** 2 + bw_flow[..., 1] ** 2
    mask1 = fb_flow_mag > 0.01 * (fw_flow_w_mag + bw_flow_mag) + 0.5
    h, w = bw_flow.shape[:2]
    fx_du, fx_dv, fy_du, fy_dv = (np.zeros((h, w)) for _ in range(4))
    fx, fy = bw_flow[..., 0], bw_flow[..., 1]
    fx_du[:, :-1] = fx[:, :-1] - fx[:, 1:]
    fx_dv[:-1, :] = fx[:-1, :] - fx[1:, :]
    fy_du[:, :-1] = fy[:, :-1] - fy[:, 1:]
    fy_dv[:-1, :] = fy[:-1, :] - fy[1:, :]
    mask2 = (fx_du ** 2 + fx_dv ** 2 + fy_du ** 2 + fy_dv ** 2) > 0.01 * bw_flow_mag + 0.002
    return mask1 | mask2


# ---- warping -------------------------------------------------------------------------------
def test_warp_bilinear_matches_resample2d() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((2, 6, 7, 3)).astype(np.float32)
    flow = rng.uniform(-3, 3, (2, 6, 7, 2)).astype(np.float32)  # many samples leave the frame
    got = warp_bilinear(img, flow)
    for n in range(2):
        np.testing.assert_allclose(got[n], resample2d(img[n], flow[n]), atol=1e-6)


def test_warp_integer_shift_is_exact_and_clamps_at_the_border() -> None:
    img = np.random.default_rng(1).random((1, 5, 6, 2)).astype(np.float32)
    flow = np.zeros((1, 5, 6, 2), dtype=np.float32)
    flow[..., 0] = 2
    out = warp_bilinear(img, flow)
    np.testing.assert_array_equal(out[0, :, :4], img[0, :, 2:])
    np.testing.assert_array_equal(out[0, :, 4:], np.repeat(img[0, :, 5:], 2, axis=1))


# ---- occlusion -----------------------------------------------------------------------------
def test_occlusion_mask_is_lai_and_devil_criterion() -> None:
    rng = np.random.default_rng(2)
    h, w = 9, 11
    fw = cv2.GaussianBlur(rng.normal(0, 2, (h, w, 2)), (0, 0), 1.0).astype(np.float32)
    bw = (-fw + rng.normal(0, 0.6, (h, w, 2)) * (rng.random((h, w, 1)) < 0.4)).astype(np.float32)
    # DEVIL calls detect_occlusion(bw_flow, fw_flow): the mask lives on frame t.
    expected = lai_detect_occlusion(bw, fw)
    assert 0 < expected.sum() < expected.size
    np.testing.assert_array_equal(occlusion_mask(fw, bw, exclude_out_of_frame=False), expected)
    tx, ty = np.arange(w) + fw[..., 0], np.arange(h)[:, None] + fw[..., 1]
    outside = (tx < 0) | (tx > w - 1) | (ty < 0) | (ty > h - 1)
    assert outside.any()
    np.testing.assert_array_equal(occlusion_mask(fw, bw), expected | outside)
    stacked = occlusion_mask(np.stack([fw, -fw]), np.stack([bw, -bw]))
    np.testing.assert_array_equal(stacked[0], expected | outside)


def test_occlusion_of_a_moving_square() -> None:
    h, w, s, d = 20, 24, 6, 3  # square [6, 12) x [6, 12) moves right by 3
    fw = np.zeros((h, w, 2), dtype=np.float32)
    bw = np.zeros((h, w, 2), dtype=np.float32)
    fw[s:2 * s, s:2 * s, 0] = d
    bw[s:2 * s, s + d:2 * s + d, 0] = -d
    occ = occlusion_mask(fw, bw)
    # Background that the square covers in frame t+1 has no consistent backward flow.
    assert occ[s + 1:2 * s - 1, 2 * s:2 * s + d].all()
    # The square's inner pixels and the far background are trusted.
    assert not occ[s + 1:2 * s - 2, s + 1:2 * s - 2].any()
    assert not occ[:s - 1].any() and not occ[:, 2 * s + d + 1:].any()
    # Its left and right edges are motion boundaries (forward differences).
    assert occ[s:2 * s, s - 1].all() and occ[s:2 * s, 2 * s - 1].all()


def test_pixels_leaving_the_frame_are_excluded() -> None:
    video = translating(5, 16, 20, dx=2, dy=1)
    forward, occluded = reference_motion(video, OracleFlow(video, 2, 1))
    np.testing.assert_array_equal(forward[..., 0], 2)
    expected = np.zeros((16, 20), dtype=bool)
    expected[:, -2:] = True
    expected[-1:, :] = True
    np.testing.assert_array_equal(occluded, np.broadcast_to(expected, occluded.shape))
    # The translation is exact, so every trusted pixel warps without error...
    assert warping_error(video, video, OracleFlow(video, 2, 1)) == 0.0
    # ...while Lai's / DEVIL's mask keeps the departing pixels and compares them with the
    # clamped border of the next frame.
    assert warping_error(video, video, OracleFlow(video, 2, 1), exclude_out_of_frame=False) > 1e-4


# ---- averaging -----------------------------------------------------------------------------
def test_mean_over_pairs_of_the_mean_over_trusted_pixels() -> None:
    comp = np.zeros((3, 4, 5, 3))
    comp[1] = 0.1  # pair 0: error 0.01 on every pixel
    comp[2] = 0.4  # pair 1: error 0.09 on every pixel
    comp[1, 0, 0] = 0.3  # pair 0: one pixel with error 0.09 ...
    forward = np.zeros((2, 4, 5, 2), dtype=np.float32)
    occluded = np.zeros((2, 4, 5), dtype=bool)
    occluded[0] = True
    occluded[0, 0, 0] = occluded[0, 0, 1] = False  # ... and only it and a neighbour trusted
    # Pair 0 after its own mask: ((0.3 - 0)^2 + (0.1 - 0)^2) / 2 = 0.05; pair 1: (0.4 - 0.1)^2,
    # except pixel (0, 0) where (0.4 - 0.3)^2.
    pair1 = (19 * 0.09 + 0.01) / 20
    expected = (0.05 + pair1) / 2
    assert warping_error_from_motion(comp, forward, occluded) == pytest.approx(expected, rel=1e-6)
    # A pair without trusted pixels is skipped; a video without any gives NaN.
    occluded[0] = True
    assert warping_error_from_motion(comp, forward, occluded) == pytest.approx(pair1, rel=1e-6)
    assert math.isnan(warping_error_from_motion(comp, forward, np.ones_like(occluded)))


def test_chunks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import vidsched.metrics.warp as warp

    video = translating(5, 24, 24, dx=1, dy=1)
    comp = np.clip(video + np.float32(0.03) * (np.arange(5) % 2)[:, None, None, None], 0, 1)
    whole = warping_error(video, comp)
    monkeypatch.setattr(warp, "_CHUNK_VALUES", 1)  # one frame pair per chunk
    assert warping_error(video, comp) == pytest.approx(whole, rel=1e-12)


# ---- the default flow (OpenCV DIS) on synthetic videos -------------------------------------
@pytest.fixture(scope="module")
def moving() -> np.ndarray:
    return translating(5, 64, 64, dx=2, dy=1)


def test_dis_recovers_the_translation(moving: np.ndarray) -> None:
    flow = DEFAULT_FLOW(moving[0], moving[1])
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    np.testing.assert_allclose(np.median(flow.reshape(-1, 2), axis=0), [2, 1], atol=0.05)


def test_warping_error_near_zero_for_a_translation_and_large_for_flicker(moving: np.ndarray) -> None:
    still = warping_error(moving, moving)
    assert 0 <= still < 1e-5
    # Brightness flicker of +-0.025: every pair differs by 0.05, E_t = 0.0025.
    flicker = moving + np.float32(0.05) * (np.arange(5) % 2)[:, None, None, None] - np.float32(0.025)
    flickering = warping_error(moving, flicker)
    assert flickering == pytest.approx(0.0025, rel=0.02)
    assert flickering > 100 * still
    # Flicker inside a hole only: the composite keeps the known pixels steady.
    hole = np.zeros(moving.shape[:3], dtype=bool)
    hole[:, 16:48, 16:48] = True
    in_hole = warping_error(moving, composite(moving, flicker, hole))
    assert 10 * still < in_hole < flickering


def test_uint8_input_and_precomputed_motion_agree(moving: np.ndarray) -> None:
    u8 = np.rint(moving * 255).astype(np.uint8)
    forward, occluded = reference_motion(u8)
    assert forward.shape == (4, 64, 64, 2) and occluded.shape == (4, 64, 64)
    assert warping_error_from_motion(u8, forward, occluded) == warping_error(u8, u8)


# ---- backends and errors -------------------------------------------------------------------
def test_flow_backend_names() -> None:
    assert flow_backend_name(DEFAULT_FLOW) == "opencv-dis-medium"
    assert flow_backend_name(DISFlow("fast")) == "opencv-dis-fast"
    assert flow_backend_name(zero_flow) == "zero_flow"
    assert warping_error(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)), zero_flow) == 0.0
    with pytest.raises(VidschedError, match="unknown DIS preset 'slow'"):
        DISFlow("slow")


def test_warping_error_rejects_bad_input() -> None:
    video = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(VidschedError, match="at least 2 frames, got 1"):
        warping_error(video[:1], video[:1])
    with pytest.raises(VidschedError, match="the composite has shape"):
        warping_error(video, video[:2])
    with pytest.raises(VidschedError, match=r"returned shape \(8, 8\), expected \(8, 8, 2\)"):
        warping_error(video, video, flow=lambda a, b: np.zeros(a.shape[:2]))
    with pytest.raises(VidschedError, match="do not fit"):
        warping_error_from_motion(video, np.zeros((1, 8, 8, 2)), np.zeros((1, 8, 8), dtype=bool))
    with pytest.raises(VidschedError, match=r"\(H, W, 2\) or \(N, H, W, 2\)"):
        occlusion_mask(np.zeros((8, 8, 2)), np.zeros((8, 9, 2)))
