"""Training data: OpenCV's vtest.avi (or any video), splits, and training examples.

`vtest.avi` (795 frames, 768x576, 10 fps, an elevated fixed camera over walking people)
ships inside the `opencv-python-headless` source archive on PyPI; :func:`fetch_vtest`
gets it from there with pip and checks its sha256. The first 80 % of the frames train,
the last 20 % are held out for evaluation and the example clip.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsched.errors import VidschedError
from vidsched.training.frame_indices import sample_frame_indices
from vidsched.training.masks import random_mask

VTEST_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
VTEST_SDIST = "opencv-python-headless==4.10.0.84"
VTEST_MEMBER = "opencv/samples/data/vtest.avi"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_vtest(dest: Path) -> Path:
    """Put vtest.avi at `dest` (downloading the OpenCV source archive with pip if needed)."""
    dest = Path(dest)
    if dest.exists() and sha256(dest) == VTEST_SHA256:
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation",
               "-d", tmp, VTEST_SDIST]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("opencv*-python-headless-*.tar.gz")) + list(Path(tmp).glob("opencv_python_headless-*.tar.gz"))
        if not archives:
            raise VidschedError(f"could not download {VTEST_SDIST}: {proc.stderr.strip()[-500:]}")
        with tarfile.open(archives[0]) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(VTEST_MEMBER)), None)
            if member is None:
                raise VidschedError(f"{archives[0].name} does not contain {VTEST_MEMBER}")
            src = tar.extractfile(member)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
    digest = sha256(dest)
    if digest != VTEST_SHA256:
        dest.unlink()
        raise VidschedError(f"vtest.avi has sha256 {digest}, expected {VTEST_SHA256}")
    return dest


def load_frames(path: Path, size: int, fps: float | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 frames of a video at the model's resolution."""
    from vidsched.videoio import read_video, to_model_resolution

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
    """

    def __init__(self, frames: np.ndarray | list[np.ndarray], K: int, seed: int = 0, p_consecutive: float = 0.5,
                 max_span: int | None = None) -> None:
        # One clip, or several (each (N, S, S, 3) uint8, N may differ): a window never
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

    def example(self):
        rng, K = self.rng, self.K
        # With a single clip no draw is made, so single-clip runs keep their random stream.
        clip = self.clips[0] if len(self.clips) == 1 else self.clips[int(rng.choice(len(self.clips), p=self.clip_p))]
        span = min(self.max_span or len(clip), len(clip))
        offset = int(rng.integers(0, len(clip) - span + 1))
        gen, obs = sample_frame_indices(rng, K, span, self.p_consecutive)
        window = sorted(gen + obs)
        size = clip.shape[1]
        hole = random_mask(max(window) - min(window) + 1, size, rng)
        x0 = np.zeros((K, 3, size, size), np.float32)
        known = np.zeros((K, 1, size, size), np.float32)
        loss = np.zeros((K, 1, size, size), np.float32)
        index = np.zeros(K, np.int64)
        valid = np.zeros(K, bool)
        gen_set = set(gen)
        for p, f in enumerate(window):
            x0[p] = clip[offset + f].transpose(2, 0, 1).astype(np.float32) / 127.5 - 1.0
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


def load_training_data(data, size: int, root: Path = Path(".")) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training clips, held-out clips) at ``size`` x ``size`` for a :class:`DataConfig`.

    ``source: vtest`` is OpenCV's clip, fetched into ``root/data/vtest.avi`` if missing;
    anything else is a video, array or frame folder, or a folder of them (see
    :mod:`vidsched.training.video_folder`). Each clip is split in time: its first
    ``train_fraction`` of frames train, the rest are held out.
    """
    from vidsched.training.video_folder import load_folder, split_clips

    source = fetch_vtest(Path(root) / "data" / "vtest.avi") if data.source == "vtest" else Path(data.source)
    clips = load_folder(source, size, fps=data.fps, crop=data.crop, min_frames=data.min_frames)
    return split_clips(clips, data.train_fraction)
