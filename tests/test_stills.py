"""Clips from still photos: shape and determinism, a view that never leaves the photo (no
black border), smooth sub-pixel motion that matches the planned velocity, a zoom range
from close-ups to the whole photo, and a pasted object that stays in view and moves.
Images are generated (a smooth random texture plus a checkerboard), so no file is needed."""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from vidsched.training.stills import (  # noqa: E402
    CameraPath,
    paste_moving_object,
    random_camera_path,
    render_path,
    still_clip,
)


def photo(h: int = 200, w: int = 300, seed: int = 0) -> np.ndarray:
    """A smooth colour texture with a checkerboard on top: structure at every scale."""
    rng = np.random.default_rng(seed)
    smooth = cv2.resize(rng.uniform(0, 255, (h // 10 + 1, w // 10 + 1, 3)).astype(np.float32), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:h, :w]
    checker = np.where((yy // 8 + xx // 8) % 2 == 0, 40.0, -40.0)[:, :, None]
    return np.clip(smooth + checker, 0, 255).astype(np.uint8)


SIZES = [((200, 300), (64, 64)), ((200, 300), (32, 128)), ((300, 120), (64, 96)), ((480, 640), (48, 48)),
         ((90, 90), (64, 64)), ((60, 200), (64, 32))]


def test_clip_shape_dtype_and_range():
    clip = still_clip(photo(), np.random.default_rng(0), 16, (64, 48), donor=photo(seed=1), p_object=1.0)
    assert clip.shape == (16, 64, 48, 3) and clip.dtype == np.uint8
    assert clip.min() >= 0 and clip.max() <= 255 and clip.std() > 5
    # Edge cases: one frame, a donor smaller than the object.
    assert still_clip(photo(), np.random.default_rng(1), 1, (32, 32)).shape == (1, 32, 32, 3)
    tiny = paste_moving_object(clip, photo(10, 12), np.random.default_rng(2))
    assert tiny.shape == clip.shape and tiny.dtype == np.uint8


def test_reproducible_for_a_seed_and_different_for_another():
    img, donor = photo(), photo(seed=1)
    a = still_clip(img, np.random.default_rng(7), 8, (32, 32), donor, 0.5)
    b = still_clip(img, np.random.default_rng(7), 8, (32, 32), donor, 0.5)
    c = still_clip(img, np.random.default_rng(8), 8, (32, 32), donor, 0.5)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("image_hw,out_hw", SIZES)
def test_view_stays_inside_the_photo(image_hw, out_hw):
    h, w = out_hw
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
    for seed in range(200):
        path = random_camera_path(np.random.default_rng(seed), 16, image_hw, out_hw)
        src = path.matrices() @ corners.T  # (frames, 2, 4)
        assert src[:, 0].min() >= 0 and src[:, 0].max() <= image_hw[1] - 1, seed
        assert src[:, 1].min() >= 0 and src[:, 1].max() <= image_hw[0] - 1, seed


@pytest.mark.parametrize("image_hw,out_hw", SIZES)
def test_no_black_border(image_hw, out_hw):
    """A constant photo renders constant, with black outside it: any sample that falls
    off the photo (or off the pre-shrunk photo) would darken a pixel."""
    grey = np.full((*image_hw, 3), 200, np.uint8)
    for seed in range(40):
        path = random_camera_path(np.random.default_rng(seed), 12, image_hw, out_hw)
        clip = render_path(grey, path, border=cv2.BORDER_CONSTANT)
        assert clip.min() >= 199, (seed, path.zoom.min())


def test_motion_is_smooth():
    for seed in range(200):
        path = random_camera_path(np.random.default_rng(seed), 16, (480, 640), (64, 64))
        move = np.diff(path.centre, axis=0) / path.zoom[1:, None]  # output px per frame
        jerk = np.diff(path.centre, 2, axis=0) / path.zoom[2:, None]
        assert np.hypot(*move.T).max() <= 3.0 + 1e-9, seed  # realistic speeds, output px per frame
        assert np.hypot(*jerk.T).max() <= 0.15, seed  # gentle acceleration only
        assert np.abs(np.diff(np.log(path.zoom), 2)).max() < 1e-9
        assert np.abs(np.diff(path.angle, 2)).max() < 1e-9
        assert np.abs(path.angle).max() <= np.radians(4.0) + 1e-9


def test_some_paths_are_nearly_static():
    speeds = []
    for seed in range(200):
        path = random_camera_path(np.random.default_rng(seed), 16, (480, 640), (64, 64))
        speeds.append(np.abs(np.diff(path.centre, axis=0) / path.zoom[1:, None]).max())
    static = np.mean(np.array(speeds) < 0.15)
    assert 0.05 <= static <= 0.4


def pink_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """1/f noise, like natural images: no period for phase correlation to lock onto."""
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    k[0, 0] = 1.0
    n = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(h, w))) / k))
    n = 128 + 45 * (n - n.mean()) / n.std()
    return np.repeat(np.clip(n, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def band_limited_up(g: np.ndarray, k: int = 4, keep: float = 0.4) -> np.ndarray:
    """Keep the lowest `keep` of the band and zero-pad the spectrum to k times the size."""
    h, w = g.shape
    ry, rx = int(h * keep / 2), int(w * keep / 2)
    spec = np.fft.fftshift(np.fft.fft2(g))
    big = np.zeros((h * k, w * k), complex)
    big[h * k // 2 - ry:h * k // 2 + ry + 1, w * k // 2 - rx:w * k // 2 + rx + 1] = \
        spec[h // 2 - ry:h // 2 + ry + 1, w // 2 - rx:w // 2 + rx + 1]
    return np.real(np.fft.ifft2(np.fft.ifftshift(big)))


def measured_shifts(clip: np.ndarray, k: int = 4) -> np.ndarray:
    """Frame-to-frame content shift (x, y) in output px, by cv2.phaseCorrelate.

    On raw 64-96 px frames cv2's 5x5 peak centroid is off by up to ~0.4 px even for
    exact Fourier shifts (it whitens the spectrum, so the peak is one pixel wide), and
    bilinear interpolation's phase is wrong near Nyquist. So each Hann-windowed frame is
    band-limited and upsampled 4x first: the peak is then broad and the error ~0.05 px.
    """
    gray = clip.astype(np.float64).mean(axis=3)
    window = cv2.createHanningWindow(gray.shape[1:][::-1], cv2.CV_64F)
    up = [band_limited_up(g * window, k) for g in gray]
    return np.array([cv2.phaseCorrelate(up[t], up[t + 1])[0] for t in range(len(up) - 1)]) / k


def test_pure_pan_matches_phase_correlation():
    img = pink_photo(480, 640)
    frames = 10
    known = CameraPath(centre=np.array([[200 + 1.3 * t, 150 - 0.7 * t] for t in range(frames)]),
                       zoom=np.ones(frames), angle=np.zeros(frames), image_hw=(480, 640), out_hw=(96, 96))
    # The content moves against the camera.
    assert np.abs(measured_shifts(render_path(img, known)) + [1.3, -0.7]).max() < 0.2
    # Random (some accelerating) pans as drawn: zooms 1.1 to 4.6, most of them rendered
    # from the INTER_AREA pre-shrunk photo, whose coordinate mapping this checks too.
    for seed in range(12):
        path = random_camera_path(np.random.default_rng(seed), 12, (480, 640), (96, 96), motion={"pan"})
        expected = -np.diff(path.centre, axis=0) / path.zoom[1:, None]
        assert np.abs(measured_shifts(render_path(img, path)) - expected).max() < 0.2, seed


def test_unknown_motion_is_refused():
    with pytest.raises(ValueError, match="unknown motion"):
        random_camera_path(np.random.default_rng(0), 4, (100, 100), (32, 32), motion={"dolly"})


def test_zoom_covers_close_ups_and_whole_views():
    whole = min(199 / 64, 299 / 64)  # zoom that shows (nearly) the whole 200x300 photo in 64x64
    zooms = np.array([random_camera_path(np.random.default_rng(s), 16, (200, 300), (64, 64)).zoom
                      for s in range(300)])
    assert zooms.min() >= 0.75 and zooms.max() <= whole
    assert np.mean(zooms.min(axis=1) <= 1.5) >= 0.1
    assert np.mean(zooms.max(axis=1) >= 0.85 * whole) >= 0.1


def test_pasted_object_stays_in_view_and_moves():
    clip = render_path(photo(), random_camera_path(np.random.default_rng(0), 16, (200, 300), (64, 64)))
    for seed in range(60):
        out, alpha = paste_moving_object(clip, photo(seed=seed + 1), np.random.default_rng(seed), return_alpha=True)
        assert out.shape == clip.shape and out.dtype == np.uint8
        area = alpha.sum(axis=(1, 2))
        assert (area > 0.01 * 64 * 64).all() and alpha.max() <= 1.0 + 1e-6
        ys, xs = np.nonzero(alpha[0] > 0.5)
        assert 64 / 12 <= max(np.ptp(xs), np.ptp(ys)) + 1 <= 64 / 3 + 1, seed  # 1/8 to 1/3 of the short side
        # Soft edge: some alpha values strictly between 0 and 1.
        assert ((alpha > 0.05) & (alpha < 0.95)).any()
        yy, xx = np.mgrid[:64, :64]
        cx, cy = (alpha * xx).sum((1, 2)) / area, (alpha * yy).sum((1, 2)) / area
        assert np.hypot(cx[-1] - cx[0], cy[-1] - cy[0]) > 2.0, seed
        # Where the object is absent, the background is untouched.
        assert np.array_equal(out[alpha == 0], clip[alpha == 0])
