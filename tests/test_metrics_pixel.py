"""Offline DEVIL metrics: PSNR, SSIM, the composite (vidsched.metrics.pixel) and the
Frechet distance behind FID / VFID (vidsched.metrics.frechet).

scikit-image is the reference where it is installed (the ``test`` extra); the hand-computed
cases run without it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from vidsched.errors import VidschedError
from vidsched.metrics.frechet import frechet_distance, frechet_distance_gaussians, gaussian_stats
from vidsched.metrics.pixel import as_float01, composite, psnr_frames, psnr_video, ssim_frames, ssim_video


def smooth_video(T: int = 3, H: int = 40, W: int = 48, seed: int = 0) -> np.ndarray:
    """A uint8 video with structure at several scales (so SSIM is far from 0 and 1)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    frames = []
    for t in range(T):
        base = 0.5 + 0.3 * np.sin(xx / 5.0 + t) * np.cos(yy / 7.0 - 0.5 * t)
        rgb = np.stack([base, base ** 2, 1 - base], axis=-1) + 0.05 * rng.standard_normal((H, W, 3))
        frames.append(np.clip(rgb, 0, 1))
    return np.rint(np.stack(frames) * 255).astype(np.uint8)


def distorted(video: np.ndarray, seed: int = 1, sigma: float = 12.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(video + rng.normal(0, sigma, video.shape), 0, 255).astype(np.uint8)


# ---- PSNR ----------------------------------------------------------------------------------
def test_psnr_constant_offset_is_20_db() -> None:
    gt = np.random.default_rng(0).uniform(0, 0.9, (3, 16, 16, 3))
    np.testing.assert_allclose(psnr_frames(gt, gt + 0.1), 20.0, atol=1e-9)
    assert psnr_video(gt, gt + 0.1) == pytest.approx(20.0, abs=1e-9)


def test_psnr_per_frame_and_mean_over_frames() -> None:
    gt = np.full((2, 8, 8, 3), 0.5)
    comp = gt.copy()
    comp[0] += 0.1  # 20 dB
    comp[1] += 0.01  # 40 dB
    np.testing.assert_allclose(psnr_frames(gt, comp), [20.0, 40.0], atol=1e-6)
    assert psnr_video(gt, comp) == pytest.approx(30.0, abs=1e-6)


def test_psnr_identical_frames_are_infinite_without_warning() -> None:
    gt = smooth_video()
    comp = gt.copy()
    comp[1] = distorted(gt[1:2])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = psnr_frames(gt, comp)
    assert np.isposinf(frames[0]) and np.isposinf(frames[2]) and np.isfinite(frames[1])
    assert np.isposinf(psnr_video(gt, comp))
    capped = psnr_frames(gt, comp, max_db=100.0)
    np.testing.assert_allclose(capped, [100.0, frames[1], 100.0])
    assert psnr_video(gt, comp, max_db=100.0) == pytest.approx((200.0 + frames[1]) / 3)


def test_psnr_matches_skimage() -> None:
    skm = pytest.importorskip("skimage.metrics")
    gt, comp = smooth_video(), distorted(smooth_video())
    # DEVIL: float32 frames k / 255, data_range=1; scikit-image 0.17 computed in float64
    # (current versions keep float32, so pass float64 copies of the float32 frames).
    g, c = (v.astype(np.float32) / np.float32(255) for v in (gt, comp))
    expected = [skm.peak_signal_noise_ratio(a.astype(np.float64), b.astype(np.float64), data_range=1)
                for a, b in zip(g, c)]
    np.testing.assert_allclose(psnr_frames(gt, comp), expected, rtol=1e-12)


# ---- SSIM ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["devil", "standard"])
def test_ssim_identical_is_one(mode: str) -> None:
    gt = smooth_video()
    np.testing.assert_allclose(ssim_frames(gt, gt, mode), 1.0, atol=1e-12)


@pytest.mark.parametrize(("mode", "L"), [("devil", 2.0), ("standard", 1.0)])
def test_ssim_constant_frames_by_hand(mode: str, L: float) -> None:
    # No variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1) with C1 = (0.01 L)^2.
    a, b = 0.2, 0.6
    gt, comp = np.full((1, 9, 11, 3), a), np.full((1, 9, 11, 3), b)
    c1 = (0.01 * L) ** 2
    assert ssim_video(gt, comp, mode) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_devil_is_more_lenient_than_standard() -> None:
    gt, comp = smooth_video(), distorted(smooth_video())
    devil, standard = ssim_frames(gt, comp, "devil"), ssim_frames(gt, comp, "standard")
    assert np.all(devil > standard)
    assert 0.1 < standard.min() and devil.max() < 0.99


def test_ssim_devil_matches_skimage_with_data_range_2() -> None:
    skm = pytest.importorskip("skimage.metrics")
    gt, comp = smooth_video(), distorted(smooth_video())
    # DEVIL's float32 frames; scikit-image 0.17 computed in float64 (current versions
    # keep float32), so pass float64 copies.
    g, c = ((v.astype(np.float32) / np.float32(255)).astype(np.float64) for v in (gt, comp))
    expected = [skm.structural_similarity(a, b, data_range=2.0, win_size=7, gaussian_weights=False, channel_axis=-1)
                for a, b in zip(g, c)]
    np.testing.assert_allclose(ssim_frames(gt, comp, "devil"), expected, rtol=1e-9)
    # "averaged over channels": the multichannel value is the mean of the per-channel ones.
    per_channel = [np.mean([skm.structural_similarity(a[..., k], b[..., k], data_range=2.0, win_size=7)
                            for k in range(3)]) for a, b in zip(g, c)]
    np.testing.assert_allclose(ssim_frames(gt, comp, "devil"), per_channel, rtol=1e-9)
    assert ssim_video(gt, comp) == pytest.approx(np.mean(expected), rel=1e-9)


def test_ssim_standard_matches_skimage_with_data_range_1() -> None:
    skm = pytest.importorskip("skimage.metrics")
    gt, comp = smooth_video(T=2, H=33, W=29), distorted(smooth_video(T=2, H=33, W=29), sigma=25)
    g, c = gt.astype(np.float64) / 255, comp.astype(np.float64) / 255
    expected = [skm.structural_similarity(a, b, data_range=1.0, channel_axis=-1) for a, b in zip(g, c)]
    np.testing.assert_allclose(ssim_frames(g, c, "standard"), expected, rtol=1e-9)


def test_ssim_chunks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import vidsched.metrics.pixel as pixel

    gt, comp = smooth_video(T=5), distorted(smooth_video(T=5))
    whole = ssim_frames(gt, comp)
    monkeypatch.setattr(pixel, "_CHUNK_VALUES", 1)  # one frame per chunk
    np.testing.assert_allclose(ssim_frames(gt, comp), whole, rtol=1e-12)


def test_ssim_rejects_small_frames_and_unknown_modes() -> None:
    with pytest.raises(VidschedError, match="at least 7x7"):
        ssim_frames(np.zeros((1, 6, 20, 3)), np.zeros((1, 6, 20, 3)))
    with pytest.raises(VidschedError, match="unknown SSIM mode 'gaussian'"):
        ssim_frames(np.zeros((1, 8, 8, 3)), np.zeros((1, 8, 8, 3)), mode="gaussian")  # type: ignore[arg-type]


# ---- inputs and the composite --------------------------------------------------------------
def test_uint8_and_float_inputs_agree() -> None:
    gt, comp = smooth_video(), distorted(smooth_video())
    gf, cf = gt / 255.0, comp / 255.0
    np.testing.assert_allclose(psnr_frames(gt, comp), psnr_frames(gf, cf), rtol=1e-6)
    np.testing.assert_allclose(ssim_frames(gt, comp), ssim_frames(gf, cf), rtol=1e-6)


def test_as_float01_conversions() -> None:
    u8 = np.array([0, 51, 255], dtype=np.uint8).reshape(1, 1, 1, 3)
    out = as_float01(u8)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.ravel(), np.array([0, 51, 255], dtype=np.float32) / np.float32(255))
    assert as_float01(np.zeros((1, 2, 2, 3), dtype=np.float16)).dtype == np.float32
    assert as_float01(np.zeros((1, 2, 2, 3))).dtype == np.float64


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 4, 3)), r"shape \(T, H, W, 3\), got shape \(4, 4, 3\)"),
        (np.zeros((1, 4, 4, 4)), r"got shape \(1, 4, 4, 4\)"),
        (np.zeros((0, 4, 4, 3)), "empty"),
        (np.zeros((1, 4, 4, 3), dtype=np.int16), "dtype int16"),
        (np.full((1, 4, 4, 3), 1.5), r"in \[0, 1\], got values in \[1.5, 1.5\]"),
        (np.full((1, 4, 4, 3), np.nan), "NaN"),
    ],
)
def test_as_float01_rejects(array: np.ndarray, message: str) -> None:
    with pytest.raises(VidschedError, match=message):
        as_float01(array, "prediction")
    with pytest.raises(VidschedError, match="^prediction: "):
        as_float01(array, "prediction")


def test_metrics_reject_shape_mismatch() -> None:
    with pytest.raises(VidschedError, match="the composite has shape"):
        psnr_frames(np.zeros((2, 8, 8, 3)), np.zeros((3, 8, 8, 3)))


def test_composite_takes_hole_pixels_from_the_prediction() -> None:
    gt = np.zeros((2, 3, 4, 3), dtype=np.uint8)
    pred = np.full((2, 3, 4, 3), 255, dtype=np.uint8)
    hole = np.zeros((2, 3, 4), dtype=bool)
    hole[0, 1, 2] = hole[1, 0, 0] = True
    comp = composite(gt, pred, hole)
    assert comp.dtype == np.float32
    np.testing.assert_array_equal(comp[..., 0], hole.astype(np.float32))
    np.testing.assert_array_equal(comp[..., 0], comp[..., 2])
    # Known pixels are the ground truth, so the metrics see only the hole's errors.
    assert np.isposinf(psnr_video(gt, composite(gt, pred, np.zeros_like(hole))))


def test_composite_rejects_bad_masks() -> None:
    video = np.zeros((2, 3, 4, 3), dtype=np.uint8)
    with pytest.raises(VidschedError, match="must be bool"):
        composite(video, video, np.zeros((2, 3, 4), dtype=np.uint8))
    with pytest.raises(VidschedError, match=r"hole mask has shape \(2, 4, 3\)"):
        composite(video, video, np.zeros((2, 4, 3), dtype=bool))
    with pytest.raises(VidschedError, match="the prediction has shape"):
        composite(video, video[:1], np.zeros((2, 3, 4), dtype=bool))


# ---- Frechet distance ----------------------------------------------------------------------
@pytest.mark.parametrize("method", ["sqrtm", "eigen"])
def test_frechet_diagonal_closed_form(method: str) -> None:
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance_gaussians(mu1, np.diag(s1), mu2, np.diag(s2), method=method)
    assert got == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("method", ["sqrtm", "eigen"])
def test_frechet_rotated_covariances_closed_form(method: str) -> None:
    # The trace term is basis-independent: rotate two commuting covariances together.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    s1, s2 = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    expected = 4.0 + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance_gaussians(np.zeros(5), q @ np.diag(s1) @ q.T, np.full(5, 2 / np.sqrt(5)),
                                     q @ np.diag(s2) @ q.T, method=method)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_one_dimension_and_scalars() -> None:
    # d^2 = (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s.
    assert frechet_distance_gaussians(1.0, 4.0, 3.0, 9.0) == pytest.approx(4.0 + 1.0)


@pytest.mark.parametrize("method", ["sqrtm", "eigen"])
def test_frechet_of_feature_sets(method: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 8))
    y = rng.normal(size=(250, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 0.3
    assert frechet_distance(x, x, method) == pytest.approx(0.0, abs=1e-9)
    d = frechet_distance(x, y, method)
    assert d > 0.1
    assert frechet_distance(y, x, method) == pytest.approx(d, rel=1e-9)
    shift = np.arange(8) / 10
    assert frechet_distance(x, x + shift, method) == pytest.approx(np.sum(shift ** 2), rel=1e-9)
    mu1, s1 = gaussian_stats(x)
    mu2, s2 = gaussian_stats(y)
    np.testing.assert_allclose(s1, np.cov(x, rowvar=False))
    assert frechet_distance_gaussians(mu1, s1, mu2, s2, method=method) == pytest.approx(d, rel=1e-12)


def test_frechet_methods_agree_on_singular_covariances() -> None:
    # Fewer samples than dimensions (VFID over a few videos): rank-deficient covariances.
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(12, 40)) * 1.3 + 0.2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eigen = frechet_distance(x, y, "eigen")
    assert np.isfinite(eigen) and eigen > 0
    assert frechet_distance(x, y, "sqrtm") == pytest.approx(eigen, rel=1e-6)


def test_frechet_rejects_bad_input() -> None:
    with pytest.raises(VidschedError, match="at least 2 feature vectors"):
        frechet_distance(np.zeros((1, 4)), np.zeros((5, 4)))
    with pytest.raises(VidschedError, match="different dimensions: 4 and 3"):
        frechet_distance(np.ones((5, 4)), np.ones((5, 3)))
    with pytest.raises(VidschedError, match=r"shape \(N, D\)"):
        frechet_distance(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(VidschedError, match="NaN"):
        frechet_distance(np.full((3, 2), np.nan), np.zeros((3, 2)))
    with pytest.raises(VidschedError, match="covariances must be 3x3"):
        frechet_distance_gaussians(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(VidschedError, match="unknown matrix square-root method"):
        frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2),
                                   method="svd")  # type: ignore[arg-type]


# ---- hole-only metrics: hole PSNR and the sharpness ratio -----------------------------------
def _square_hole(T: int = 3, H: int = 40, W: int = 48, y0: int = 10, y1: int = 30, x0: int = 12,
                 x1: int = 36) -> np.ndarray:
    hole = np.zeros((T, H, W), bool)
    hole[:, y0:y1, x0:x1] = True
    return hole


def test_hole_psnr_identical_is_infinite() -> None:
    from vidsched.metrics.pixel import hole_psnr

    gt = smooth_video()
    pred = gt.copy()
    pred[~_square_hole()] = 0  # known pixels are never read
    assert np.isposinf(hole_psnr(pred, gt, _square_hole()))


def test_hole_psnr_constant_offset_in_the_hole() -> None:
    from vidsched.metrics.pixel import hole_psnr

    gt = np.random.default_rng(0).integers(0, 200, (3, 40, 48, 3)).astype(np.uint8)
    hole = _square_hole()
    pred = gt.copy()
    pred[hole] += 51  # 51 / 255 = 0.2 -> MSE 0.04 -> 10 log10(25) dB
    pred[~hole] = 255 - gt[~hole]  # wrong known pixels change nothing
    assert hole_psnr(pred, gt, hole) == pytest.approx(10 * np.log10(25), abs=1e-9)
    # pooled over all hole pixels of the video: the offset in one frame only -> MSE / 3
    one = gt.copy()
    one[0][hole[0]] += 51
    assert hole_psnr(one, gt, hole) == pytest.approx(10 * np.log10(3 * 25), abs=1e-9)
    # not diluted by the known pixels, unlike the whole-frame PSNR of the composite
    assert psnr_video(gt, composite(gt, pred, hole)) > hole_psnr(pred, gt, hole) + 3


def test_hole_psnr_floats_and_empty_hole() -> None:
    from vidsched.metrics.pixel import hole_psnr

    gt = np.full((2, 8, 8, 3), 0.5)
    hole = np.zeros((2, 8, 8), bool)
    assert np.isnan(hole_psnr(gt, gt, hole))
    hole[1, 2:4, 2:4] = True
    assert hole_psnr(gt + 0.01, gt, hole) == pytest.approx(40.0, abs=1e-6)
    with pytest.raises(VidschedError):
        hole_psnr(gt, gt, hole.astype(np.uint8))
    with pytest.raises(VidschedError):
        hole_psnr(gt, gt, hole[:, :4])


def test_sharpness_ratio_identical_is_one() -> None:
    from vidsched.metrics.pixel import sharpness_ratio

    gt = smooth_video()
    assert sharpness_ratio(gt, gt, _square_hole()) == pytest.approx(1.0, abs=1e-12)
    flat = np.full((2, 16, 16, 3), 100, np.uint8)
    assert sharpness_ratio(flat, flat, _square_hole(2, 16, 16, 4, 12, 4, 12)) == 1.0


def test_sharpness_ratio_blurred_fill_is_below_one() -> None:
    import cv2

    from vidsched.metrics.pixel import sharpness_ratio

    gt = smooth_video(seed=3)
    hole = _square_hole()
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in gt])
    pred = np.where(hole[..., None], blurred, gt)
    ratio = sharpness_ratio(pred, gt, hole)
    assert 0 < ratio < 0.7
    # a flat fill has no detail at all
    flat = np.where(hole[..., None], np.uint8(128), gt)
    assert sharpness_ratio(flat, gt, hole) == 0.0
    # added noise is "sharper" than the truth
    assert sharpness_ratio(distorted(gt), gt, hole) > 1.0


def test_sharpness_ratio_ignores_the_border_step() -> None:
    from vidsched.metrics.pixel import sharpness_ratio

    # A flat truth, a flat fill of another grey: the only edge is the hole's border.
    gt = np.full((2, 20, 20, 3), 50, np.uint8)
    hole = _square_hole(2, 20, 20, 5, 15, 5, 15)
    pred = np.where(hole[..., None], np.uint8(200), gt)
    assert sharpness_ratio(pred, gt, hole) == 1.0  # both energies 0 once eroded
    # ... whereas detail inside the fill counts
    inner = pred.copy()
    inner[:, 8, 8] = 0
    assert np.isposinf(sharpness_ratio(inner, gt, hole))  # the truth is flat
    # a textured truth outside the hole does not count either
    textured = smooth_video(2, 20, 20)
    outside = np.where(hole[..., None], np.uint8(90), textured)
    truth = np.where(hole[..., None], np.uint8(90), textured)
    truth[:, 9, 9] = 200  # some detail inside, so the truth's energy is not 0
    assert sharpness_ratio(outside, truth, hole) == 0.0


def test_sharpness_ratio_thin_hole_is_nan() -> None:
    from vidsched.metrics.pixel import sharpness_ratio

    gt = smooth_video()
    hole = np.zeros(gt.shape[:3], bool)
    hole[:, 10:12, :] = True  # 2 px thick: nothing left after erosion
    assert np.isnan(sharpness_ratio(gt, gt, hole))
    edge = np.zeros(gt.shape[:3], bool)
    edge[:, :3, :] = True  # 3 px along the top edge: the frame edge erodes it too
    hole3 = np.zeros(gt.shape[:3], bool)
    hole3[:, 10:13, :] = True  # 3 px in the middle: the middle row (minus its ends) survives
    assert np.isnan(sharpness_ratio(gt, gt, np.zeros_like(hole)))
    assert sharpness_ratio(gt, gt, edge) == pytest.approx(1.0)
    assert sharpness_ratio(gt, gt, hole3) == pytest.approx(1.0)
