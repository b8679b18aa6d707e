"""Training data: OpenCV's vtest.avi (or any video), splits, and training examples.

`vtest.avi` (795 frames, 768x576, 10 fps, an elevated fixed camera over walking people)
ships inside the `opencv-python-headless` source archive on PyPI; :func:`fetch_vtest`
gets it from there and checks its sha256 (the whole corpus: :mod:`vidsched.training.corpus`). The first 80 % of the frames train,
the last 20 % are held out for evaluation and the example clip.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsched.errors import VidschedError
from vidsched.training.corpus import sha256_file as sha256
from vidsched.training.frame_indices import sample_frame_indices
from vidsched.training.masks import random_mask

VTEST_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"


def fetch_vtest(dest: Path, archive: Path | None = None) -> Path:
    """Put vtest.avi at ``dest``: from ``archive`` (a local copy of OpenCV's source
    archive) or downloaded from PyPI with the standard library (no pip, no build tools),
    both sha256-checked (see :mod:`vidsched.training.corpus`)."""
    from vidsched.training.corpus import CLIPS, extract_checked, obtain_archive

    dest = Path(dest)
    if dest.exists() and sha256(dest) == VTEST_SHA256:
        return dest
    vtest = next(c for c in CLIPS if c.name == "vtest")
    with tempfile.TemporaryDirectory() as tmp:
        return extract_checked(obtain_archive(Path(tmp), archive), vtest.member, VTEST_SHA256, dest)


def load_frames(path: Path, size: int, fps: float | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 frames of a video at the model's resolution."""
    from vidsched.geometry import to_model_resolution
    from vidsched.videoio import read_video

    video = read_video(path, fps=fps)
    small, _ = to_model_resolution(video.frames, size)
    return small


def split(frames: np.ndarray, train_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """First `train_fraction` of the frames for training, the rest held out."""
    cut = int(round(len(frames) * train_fraction))
    return frames[:cut], frames[cut:]


@dataclass
class Batch:
    x0: np.ndarray  # (B, K, 3, S, S) float32 in [-1, 1]
    known: np.ndarray  # (B, K, 1, S, S) float32: 1 = known pixel
    loss_mask: np.ndarray  # (B, K, 1, S, S) float32: 1 = unknown pixel of a generated frame
    index: np.ndarray  # (B, K) int64
    valid: np.ndarray  # (B, K) bool


class ExampleSampler:
    """Training examples: frame indices from the paper's distribution, a random mask.

    Generated frames keep the mask; observed frames are fully known; windows shorter
    than K are padded (and marked invalid, so attention ignores them).

    Two kinds of input. Without ``augment`` the clips are already at the model's
    resolution ((N, S, S, 3) uint8) and are used as they are (the first recipe's
    behaviour, random stream unchanged). With an :class:`~vidsched.training.augment.Augment`
    the clips may have any size (native resolution) and every window goes through a
    random view (a square crop at a random zoom, flip, colour jitter; temporal stride),
    and a share ``still_share`` of the examples comes from ``stills`` (photographs put
    in motion by :mod:`vidsched.training.stills`). ``mask_mix`` weighs the mask kinds
    (:func:`~vidsched.training.masks.random_mask`).
    """

    def __init__(self, frames: np.ndarray | list[np.ndarray], K: int, seed: int = 0, p_consecutive: float = 0.5,
                 max_span: int | None = None, *, size: int | None = None, augment=None,
                 stills: list[np.ndarray] | None = None, still_share: float = 0.0, still_frames: int = 48,
                 mask_mix: dict | None = None) -> None:
        # One clip, or several (each (N, H, W, 3) uint8, N may differ): a window never
        # straddles two clips, and longer clips are drawn proportionally more often.
        self.clips = [frames] if isinstance(frames, np.ndarray) else list(frames)
        if not self.clips or any(len(c) == 0 for c in self.clips):
            raise VidschedError("no training frames (every clip needs at least one frame)")
        lengths = np.array([len(c) for c in self.clips], float)
        self.clip_p = lengths / lengths.sum()
        self.K = K
        self.rng = np.random.default_rng(seed)
        self.p_consecutive = p_consecutive
        self.max_span = max_span
        self.size = int(size or self.clips[0].shape[1])
        self.augment = augment
        self.stills = list(stills or [])
        self.still_share = still_share if self.stills else 0.0
        self.still_frames = still_frames
        self.mask_mix = mask_mix
        if augment is None and any(c.shape[1:3] != (self.size, self.size) for c in self.clips):
            raise VidschedError(f"clips must be {self.size}x{self.size} without augmentation (crop: multiscale)")

    @classmethod
    def from_config(cls, cfg, clips, stills=None, seed: int | None = None) -> "ExampleSampler":
        """The sampler a :class:`~vidsched.training.config.TrainConfig` describes."""
        model, d = cfg.model_config(), cfg.data
        return cls(clips, model.max_frames, seed=cfg.seed if seed is None else seed, p_consecutive=cfg.p_consecutive,
                   size=model.image_size, augment=d.augment(), stills=stills, still_share=d.still_share,
                   mask_mix=d.mask_mix)

    def _indices(self, length: int) -> tuple[list[int], list[int]]:
        span = min(self.max_span or length, length)
        return sample_frame_indices(self.rng, self.K, span, self.p_consecutive)

    def _window(self) -> tuple[np.ndarray, list[int], list[int]]:
        """(frames of the window as float32 (F, S, S, 3) in [-1, 1], generated, observed)
        with frame numbers relative to the window's time axis."""
        rng, S = self.rng, self.size
        if self.still_share and rng.random() < self.still_share:
            from vidsched.training.stills import still_clip

            gen, obs = self._indices(self.still_frames)
            window = sorted(gen + obs)
            image = self.stills[int(rng.integers(len(self.stills)))]
            donor = self.stills[int(rng.integers(len(self.stills)))]
            clip = still_clip(image, rng, window[-1] - window[0] + 1, (S, S), donor=donor)
            frames = clip[np.asarray(window) - window[0]]
            return frames.astype(np.float32) / 127.5 - 1.0, gen, obs
        # With a single clip no draw is made, so single-clip runs keep their random stream.
        clip = self.clips[0] if len(self.clips) == 1 else self.clips[int(rng.choice(len(self.clips), p=self.clip_p))]
        if self.augment is None:
            span = min(self.max_span or len(clip), len(clip))
            offset = int(rng.integers(0, len(clip) - span + 1))
            gen, obs = sample_frame_indices(rng, self.K, span, self.p_consecutive)
            frames = clip[[offset + f for f in sorted(gen + obs)]]
            return frames.astype(np.float32) / 127.5 - 1.0, gen, obs
        from vidsched.training.augment import apply_view, random_stride, random_view

        stride = random_stride(rng, len(clip), self.augment, min_span=self.K)
        length = (len(clip) - 1) // stride + 1  # frames on the strided time axis
        span = min(self.max_span or length, length)
        offset = int(rng.integers(0, (length - span) * stride + 1))
        gen, obs = sample_frame_indices(rng, self.K, span, self.p_consecutive)
        view = random_view(rng, clip.shape[1], clip.shape[2], S, self.augment)
        frames = apply_view(clip[[offset + stride * f for f in sorted(gen + obs)]], view, S)
        return frames, gen, obs

    def example(self):
        rng, K, size = self.rng, self.K, self.size
        frames, gen, obs = self._window()
        window = sorted(gen + obs)
        if self.mask_mix is None:
            hole = random_mask(max(window) - min(window) + 1, size, rng)
        else:
            hole = random_mask(max(window) - min(window) + 1, size, rng, mix=self.mask_mix)
        x0 = np.zeros((K, 3, size, size), np.float32)
        known = np.zeros((K, 1, size, size), np.float32)
        loss = np.zeros((K, 1, size, size), np.float32)
        index = np.zeros(K, np.int64)
        valid = np.zeros(K, bool)
        gen_set = set(gen)
        for p, f in enumerate(window):
            x0[p] = frames[p].transpose(2, 0, 1)
            h = hole[f - min(window)]
            if f in gen_set:
                known[p, 0] = ~h
                loss[p, 0] = h
            else:
                known[p, 0] = 1.0
            index[p] = f
            valid[p] = True
        index[len(window):] = window[-1]
        return x0, known, loss, index, valid

    def batch(self, batch_size: int) -> Batch:
        parts = [self.example() for _ in range(batch_size)]
        return Batch(*(np.stack(p) for p in zip(*parts)))


def center_square(frames: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of every frame, resized to ``size`` x ``size``."""
    from vidsched.geometry import to_model_resolution

    h, w = frames.shape[1:3]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return to_model_resolution(frames[:, y0:y0 + side, x0:x0 + side], size)[0]


@dataclass
class TrainingData:
    """What a training run reads: clips to train on, held-out clips (at the model's
    resolution, for previews and evaluation) and photographs (``source: corpus``)."""

    train: list[np.ndarray]
    heldout: list[np.ndarray]
    stills: list[np.ndarray]


def load_training_data(data, size: int, root: Path = Path(".")) -> TrainingData:
    """The data of a :class:`DataConfig` for a model of ``size`` x ``size``.

    ``source: corpus`` is OpenCV's archive (:mod:`vidsched.training.corpus`, fetched into
    ``root/data/corpus``): the training shots at their own resolution, every source's
    held-out end centre-cropped to a square at ``size``, and the photographs.
    ``source: vtest`` is OpenCV's clip, fetched into ``root/data/vtest.avi`` if missing;
    anything else is a video, array or frame folder, or a folder of them (see
    :mod:`vidsched.training.video_folder`). Each clip is split in time: its first
    ``train_fraction`` of frames train, the rest are held out. With ``crop: multiscale``
    the training clips keep their own resolution (every window is cropped on the fly).
    """
    from vidsched.training.video_folder import load_folder, split_clips

    if data.source == "corpus":
        from vidsched.training.corpus import load_corpus

        corpus = load_corpus(Path(root) / "data" / "corpus", data.train_fraction, with_stills=data.still_share > 0)
        held = [center_square(frames, size) for _, frames in corpus.heldout]
        return TrainingData([f for _, f in corpus.train], held, [img for _, img in corpus.stills])
    source = fetch_vtest(Path(root) / "data" / "vtest.avi") if data.source == "vtest" else Path(data.source)
    if data.crop == "multiscale":
        clips = load_folder(source, None, fps=data.fps, crop="none", min_frames=data.min_frames)
        train, held = split_clips(clips, data.train_fraction)
        return TrainingData(train, [center_square(c, size) for c in held if len(c)], [])
    clips = load_folder(source, size, fps=data.fps, crop=data.crop, min_frames=data.min_frames)
    train, held = split_clips(clips, data.train_fraction)
    return TrainingData(train, held, [])
