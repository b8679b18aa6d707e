"""Short training clips made from still photographs with a synthetic camera motion.

A few videos teach the network one scene; thousands of photographs (any image folder)
teach it generic textures, and a virtual camera that pans, zooms and rolls over them
teaches it the motion a video model has to continue. The camera is planned, not
jittered: positions are smooth sub-pixel floats, and the view stays inside the photo in
every frame, so no black border ever tells the network "this is synthetic". An optional
object cut from a second photo moves on its own path over the moving background.

Convention: a :class:`CameraPath` maps an output pixel ``p`` (x, y) of frame ``t`` to
the source position ``centre[t] + zoom[t] * R(angle[t]) @ (p - o)``, ``o`` the output
centre; ``zoom`` is source pixels per output pixel (> 1: the view shrinks the photo).
numpy and OpenCV only, fast enough to call in a data loader (a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np

MOTIONS = ("pan", "zoom", "rotate")
_EPS = 1e-3  # source px kept clear of the photo's edge: cv2's fixed-point maths rounds


@dataclass(frozen=True, eq=False)
class CameraPath:
    """A virtual camera of output size ``out_hw`` over a photo of size ``image_hw``.

    ``centre`` (frames, 2) is the view centre (x, y) in source pixels, ``zoom`` (frames,)
    source pixels per output pixel, ``angle`` (frames,) the roll in radians.
    """

    centre: np.ndarray
    zoom: np.ndarray
    angle: np.ndarray
    image_hw: tuple[int, int]
    out_hw: tuple[int, int]

    @property
    def frames(self) -> int:
        return len(self.zoom)

    def matrices(self) -> np.ndarray:
        """(frames, 2, 3) affines from output pixel (x, y, 1) to source (x, y)."""
        h, w = self.out_hw
        c, s = np.cos(self.angle), np.sin(self.angle)
        a = self.zoom[:, None, None] * np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], 1)
        t = self.centre - a @ np.array([(w - 1) / 2, (h - 1) / 2])
        return np.concatenate([a, t[:, :, None]], axis=2)


def _half_extents(zoom, angle, out_hw):
    """Source-axis half sizes of the view's rotated rectangle, to its pixel edges.

    Planning with the edges (half an output pixel beyond the corner pixel centres) leaves
    the margin that :func:`render_path`'s pre-shrunk source needs (see there)."""
    a, b = out_hw[1] / 2, out_hw[0] / 2
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    return zoom * (a * c + b * s), zoom * (a * s + b * c)


def _fit_scale(lo, hi, disp) -> float:
    """Largest factor <= 1 for `disp` (frames,) so that some start x0 keeps
    x0 + f * disp[t] within [lo[t], hi[t]] for every t (pairwise constraints)."""
    den = disp[None, :] - disp[:, None]
    num = hi[None, :] - lo[:, None]
    pos = den > 1e-12
    return float(min(1.0, (num[pos] / den[pos]).min())) if pos.any() else 1.0


def _smooth_track(rng, lo, hi, disp):
    """Start in the feasible band and follow the (shrunk) displacement curve.
    lo/hi/disp are (frames, 2); returns (frames, 2) positions, clipped for safety."""
    f = min(_fit_scale(lo[:, k], hi[:, k], disp[:, k]) for k in range(2))
    disp = disp * max(f, 0.0)
    start_lo, start_hi = (lo - disp).max(0), (hi - disp).min(0)
    start = np.where(start_lo <= start_hi, rng.uniform(np.minimum(start_lo, start_hi), np.maximum(start_lo, start_hi)),
                     (start_lo + start_hi) / 2)
    return np.clip(start + disp, lo, hi)


def _displacement(rng, frames, peak_speed, scale=1.0):
    """A random-direction displacement curve (frames, 2) whose fastest step is
    `peak_speed` * `scale`: constant or gently accelerating, g(s) = (1 - a) s + a s^2
    with |a| <= 0.4, whose steps are at most (1 + |a|) times the mean (no jitter)."""
    s = np.arange(frames) / max(frames - 1, 1)
    acc = rng.uniform(-0.4, 0.4) if rng.random() < 0.5 else 0.0
    g = (1 - acc) * s + acc * s * s
    phi = rng.uniform(0, 2 * np.pi)
    total = peak_speed / (1 + abs(acc)) * scale * max(frames - 1, 0)
    return g[:, None] * (total * np.array([np.cos(phi), np.sin(phi)]))


def random_camera_path(rng: np.random.Generator, frames: int, image_hw: tuple[int, int], out_hw: tuple[int, int], *,
                       max_speed: float = 3.0, max_zoom_change: float = 1.3, max_rotation: float = np.radians(4.0),
                       close_zoom: float = 1.0, p_static: float = 0.1,
                       motion: Collection[str] | None = None) -> CameraPath:
    """A smooth random camera path whose view stays inside the photo in every frame.

    The zoom is drawn log-uniformly between ``close_zoom`` source px per output px
    (close-ups, sharp detail) and the largest zoom that fits (the whole photo), so the
    network sees both. Motion: with probability ``p_static`` nearly static (< 0.1 px per
    frame), else some of a pan (peak 0.1 to ``max_speed`` output px per frame), a log-linear
    zoom (by up to ``max_zoom_change`` over the clip) and a roll (up to ``max_rotation``
    over the clip, passing through level). ``motion`` forces the set ("pan", "zoom",
    "rotate"; empty: static). A pan that would leave the photo is slowed until it fits.
    """
    if frames < 1 or min(image_hw) < 2 or min(out_hw) < 1:
        raise ValueError(f"need frames >= 1, an image of at least 2x2 and an output size, "
                         f"got {frames}, {image_hw}, {out_hw}")
    if motion is None:
        if rng.random() < p_static:
            motion = set()
        else:
            motion = {m for m, p in zip(MOTIONS, (0.7, 0.4, 0.25)) if rng.random() < p} or {"pan"}
    unknown = set(motion) - set(MOTIONS)
    if unknown:
        raise ValueError(f"unknown motion {sorted(unknown)}: use {', '.join(MOTIONS)}")
    hs, ws = image_hw
    s = np.arange(frames) / max(frames - 1, 1)
    angle = np.zeros(frames)
    if "rotate" in motion:
        angle = rng.uniform(-max_rotation, max_rotation) * (s - rng.uniform(0, 1))
    ex1, ey1 = _half_extents(1.0, angle, out_hw)
    z_hi = float(np.minimum((ws - 1 - 2 * _EPS) / (2 * ex1), (hs - 1 - 2 * _EPS) / (2 * ey1)).min())
    z_lo = min(close_zoom, z_hi)
    k = 0.0
    if "zoom" in motion:
        k = rng.choice([-1.0, 1.0]) * min(rng.uniform(np.log(1.05), np.log(max_zoom_change)), np.log(z_hi / z_lo))
    z_top = np.exp(rng.uniform(np.log(z_lo) + abs(k), np.log(z_hi)))
    zoom = z_top * np.exp(k * s - max(k, 0.0))  # log-linear; its largest value is z_top
    ex, ey = _half_extents(zoom, angle, out_hw)
    lo = np.stack([ex + _EPS, ey + _EPS], 1)
    hi = np.stack([ws - 1 - ex - _EPS, hs - 1 - ey - _EPS], 1)
    speed = rng.uniform(0.1, max_speed) if "pan" in motion else rng.uniform(0.0, 0.1)
    disp = _displacement(rng, frames, speed, scale=float(zoom.min()))  # <= speed output px in every frame
    centre = _smooth_track(rng, lo, hi, disp)
    return CameraPath(centre, zoom, angle, (int(hs), int(ws)), (int(out_hw[0]), int(out_hw[1])))


def render_path(image: np.ndarray, path: CameraPath, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Render (frames, H, W, 3) uint8 from an RGB uint8 photo, bilinear per frame.

    Bilinear sampling aliases when the view shrinks the photo, so when every frame's zoom
    is above 1.5 the part of the photo the path covers is first shrunk once with
    INTER_AREA (to a zoom of about 1). The planner's half-pixel margin keeps every
    sample inside the shrunk photo too; ``border`` only matters for hand-made paths.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    h, w = path.out_hw
    m = path.matrices()
    ex, ey = _half_extents(path.zoom, path.angle, path.out_hw)
    cx, cy = path.centre[:, 0], path.centre[:, 1]
    x0 = int(np.clip(np.floor((cx - ex).min()), 0, image.shape[1] - 1))
    y0 = int(np.clip(np.floor((cy - ey).min()), 0, image.shape[0] - 1))
    x1 = int(np.clip(np.ceil((cx + ex).max()), x0, image.shape[1] - 1))
    y1 = int(np.clip(np.ceil((cy + ey).max()), y0, image.shape[0] - 1))
    src = image[y0:y1 + 1, x0:x1 + 1]
    m[:, :, 2] -= (x0, y0)
    shrink = float(path.zoom.min())
    if shrink > 1.5:
        hc, wc = src.shape[:2]
        wr, hr = max(1, int(np.ceil(wc / shrink))), max(1, int(np.ceil(hc / shrink)))
        src = cv2.resize(src, (wr, hr), interpolation=cv2.INTER_AREA)
        sc = np.array([wr / wc, hr / hc])  # x' = (x + 0.5) * sc - 0.5 (cv2.resize's centres)
        m = m * sc[None, :, None]
        m[:, :, 2] += 0.5 * sc - 0.5
    out = np.empty((path.frames, h, w, 3), np.uint8)
    for t in range(path.frames):
        cv2.warpAffine(src, m[t], (w, h), dst=out[t], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=border, borderValue=0)
    return out


def _object_sprite(donor, side, rng):
    """A premultiplied RGBA float32 sprite (side, side, 4): a donor patch under a soft,
    irregular alpha (a union of 2-4 ellipses, feathered 1-2 px) that never touches the
    sprite's edge, so the cut-out has no straight borders."""
    pad = 3
    d = side - 2 * pad
    canvas = np.zeros((side, side), np.uint8)
    for i in range(int(rng.integers(2, 5))):
        axes = rng.uniform(d / 8, d / 2.5, size=2) if i else rng.uniform(d / 3, d / 2, size=2)
        room = d / 2 - axes.max()
        centre = side / 2 + rng.uniform(-room, room, size=2)
        cv2.ellipse(canvas, (int(round(centre[0] * 16)), int(round(centre[1] * 16))),
                    (int(axes[0] * 16), int(axes[1] * 16)), float(rng.uniform(0, 180)), 0, 360, 255, -1,
                    cv2.LINE_AA, 4)
    alpha = cv2.GaussianBlur(canvas.astype(np.float32) / 255, (0, 0), rng.uniform(0.5, 1.0))
    hd, wd = donor.shape[:2]
    if min(hd, wd) < side:
        f = side / min(hd, wd)
        donor = cv2.resize(donor, (max(side, int(np.ceil(wd * f))), max(side, int(np.ceil(hd * f)))))
        hd, wd = donor.shape[:2]
    crop = int(np.exp(rng.uniform(0, np.log(min(4.0, min(hd, wd) / side)))) * side)
    y, x = int(rng.integers(0, hd - crop + 1)), int(rng.integers(0, wd - crop + 1))
    patch = cv2.resize(donor[y:y + crop, x:x + crop], (side, side), interpolation=cv2.INTER_AREA)
    return np.dstack([patch.astype(np.float32) * alpha[:, :, None], alpha])


def paste_moving_object(frames: np.ndarray, donor: np.ndarray, rng: np.random.Generator, *, max_speed: float = 3.0,
                        return_alpha: bool = False):
    """Composite an object cut from `donor` that moves on its own smooth path.

    The object spans 1/8 to 1/3 of the frame's short side, its fastest step is 0.3 to
    `max_speed` px per frame (slowed if needed) and stays wholly in view, so the clip has a
    foreground moving independently of the background. Returns the new uint8 frames,
    and with ``return_alpha`` also the (frames, H, W) float32 alpha.
    """
    t_len, h, w = frames.shape[:3]
    side = min(int(np.ceil(rng.uniform(1 / 8, 1 / 3) * min(h, w))) + 6, h, w)
    sprite = _object_sprite(donor, side, rng)
    lo = np.zeros((t_len, 2))
    hi = np.tile([w - side, h - side], (t_len, 1)).astype(float)
    pos = _smooth_track(rng, lo, hi, _displacement(rng, t_len, rng.uniform(0.3, max_speed)))
    out = np.empty_like(frames)
    alphas = np.empty((t_len, h, w), np.float32)
    for t in range(t_len):
        m = np.array([[1.0, 0.0, pos[t, 0]], [0.0, 1.0, pos[t, 1]]])
        layer = cv2.warpAffine(sprite, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alphas[t] = a = layer[:, :, 3]
        out[t] = np.clip(frames[t] * (1 - a[:, :, None]) + layer[:, :, :3] + 0.5, 0, 255).astype(np.uint8)
    return (out, alphas) if return_alpha else out


def still_clip(image: np.ndarray, rng: np.random.Generator, frames: int, out_hw: tuple[int, int],
               donor: np.ndarray | None = None, p_object: float = 0.3) -> np.ndarray:
    """A (frames, H, W, 3) uint8 training clip from one RGB photo: a random camera path,
    plus (probability `p_object`, if a `donor` photo is given) a moving pasted object."""
    path = random_camera_path(rng, frames, image.shape[:2], out_hw)
    clip = render_path(image, path)
    if donor is not None and rng.random() < p_object:
        clip = paste_moving_object(clip, donor, rng)
    return clip
