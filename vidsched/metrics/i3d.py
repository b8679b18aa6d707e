"""pytorch-i3d's InceptionI3d (RGB), and the two metrics DEVIL builds on it: PVCS and VFID.

Written here from piergiaj/pytorch-i3d's definition; the module tree has the same names
(top-level modules named after the endpoints, ``Conv3d_1a_7x7`` ... ``Mixed_5c``, plus
``logits``; inside, ``Unit3D`` = ``conv3d`` + ``bn``, and inception branches ``b0``, ``b1a``,
``b1b``, ``b2a``, ``b2b``, ``b3b``), so ``rgb_imagenet.pt`` loads strictly. As in the
original, every convolution and max pool pads to TensorFlow's 'SAME' output size, with
the padding worked out per input size and split with the smaller half in front; batch
norms use eps 1e-3.

Input scaling: DEVIL feeds I3D frames in [0, 1] (its ``numpy_image_to_tensor``), for both
PVCS and VFID, although pytorch-i3d's own data loaders scale to [-1, 1]. We follow DEVIL so
the numbers are comparable with its published ones; ``symmetric_input=True`` gives the
[-1, 1] variant.

* PVCS (DEVIL's ``PNetLinI3D``): over 10-frame clips with stride 1 (one clip, padded
  with copies of the last frame, for a video under 10 frames), at the endpoints
  ``Conv3d_2c_3x3``, ``Mixed_3c``, ``Mixed_4f``, ``Mixed_5c``: unit-normalise over channels
  (norm + 1e-10), squared difference, sum over channels, mean over time and space; sum
  over the four layers; mean over clips.
* VFID: the whole video as one clip; ``Mixed_5c`` averaged over time and space gives one
  1024-d feature per video; the Frechet distance between the feature sets of the ground
  truth and composite videos.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidsched.errors import VidschedError
from vidsched.metrics.weights import check_frames, load_into, model_device, unit_batch

ENDPOINTS = (
    "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
    "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
)
PVCS_ENDPOINTS = ("Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")
PVCS_CHANNELS = (192, 480, 832, 1024)
FEATURES = 1024
WINDOW = 10


def _same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> tuple[int, ...]:
    """F.pad argument (last dimension first) for TensorFlow 'SAME' padding of a (T, H, W) input."""
    pad = []
    for s, k, st in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max(k - st, 0) if s % st == 0 else max(k - s % st, 0)
        pad += [total // 2, total - total // 2]
    return tuple(pad)


def _triple(v) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


class MaxPool3dSamePadding(nn.Module):
    """3-D max pool after zero 'SAME' padding (the original pads with zeros, not -inf)."""

    def __init__(self, kernel_size, stride) -> None:
        super().__init__()
        self.kernel_size = _triple(kernel_size)
        self.stride = _triple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel_size, self.stride))
        return F.max_pool3d(x, self.kernel_size, self.stride)


class Unit3D(nn.Module):
    """Conv3d (no padding of its own) after 'SAME' padding, then batch norm and ReLU."""

    def __init__(self, cin: int, cout: int, kernel_shape=(1, 1, 1), stride=(1, 1, 1), activation: bool = True,
                 use_batch_norm: bool = True, use_bias: bool = False) -> None:
        super().__init__()
        self.kernel_shape = _triple(kernel_shape)
        self.stride = _triple(stride)
        self.activation = activation
        self.conv3d = nn.Conv3d(cin, cout, kernel_size=self.kernel_shape, stride=self.stride, padding=0,
                                bias=use_bias)
        self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if use_batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, _same_padding(tuple(x.shape[2:]), self.kernel_shape, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max pool -> 1x1."""

    def __init__(self, cin: int, out: tuple[int, int, int, int, int, int]) -> None:
        super().__init__()
        self.b0 = Unit3D(cin, out[0])
        self.b1a = Unit3D(cin, out[1])
        self.b1b = Unit3D(out[1], out[2], kernel_shape=3)
        self.b2a = Unit3D(cin, out[3])
        self.b2b = Unit3D(out[3], out[4], kernel_shape=3)
        self.b3a = MaxPool3dSamePadding(kernel_size=3, stride=1)
        self.b3b = Unit3D(cin, out[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """Inception-v1 I3D (Carreira & Zisserman 2017) with pytorch-i3d's module names.

    ``forward(x)`` on (N, 3, T, H, W) returns a dict of the requested endpoints' outputs.
    ``logits`` (Kinetics-400 classes) is built so the original file loads strictly; the
    metrics do not use it.
    """

    def __init__(self, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, kernel_shape=7, stride=2)
        self.MaxPool3d_2a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, kernel_shape=3)
        self.MaxPool3d_3a_3x3 = MaxPool3dSamePadding(kernel_size=(1, 3, 3), stride=(1, 2, 2))
        self.Mixed_3b = InceptionModule(192, (64, 96, 128, 16, 32, 32))
        self.Mixed_3c = InceptionModule(256, (128, 128, 192, 32, 96, 64))
        self.MaxPool3d_4a_3x3 = MaxPool3dSamePadding(kernel_size=3, stride=2)
        self.Mixed_4b = InceptionModule(480, (192, 96, 208, 16, 48, 64))
        self.Mixed_4c = InceptionModule(512, (160, 112, 224, 24, 64, 64))
        self.Mixed_4d = InceptionModule(512, (128, 128, 256, 24, 64, 64))
        self.Mixed_4e = InceptionModule(512, (112, 144, 288, 32, 64, 64))
        self.Mixed_4f = InceptionModule(528, (256, 160, 320, 32, 128, 128))
        self.MaxPool3d_5a_2x2 = MaxPool3dSamePadding(kernel_size=2, stride=2)
        self.Mixed_5b = InceptionModule(832, (256, 160, 320, 32, 128, 128))
        self.Mixed_5c = InceptionModule(832, (384, 192, 384, 48, 128, 128))
        self.logits = Unit3D(1024, num_classes, activation=False, use_batch_norm=False, use_bias=True)

    def forward(self, x: torch.Tensor, endpoints=("Mixed_5c",)) -> dict[str, torch.Tensor]:
        unknown = [e for e in endpoints if e not in ENDPOINTS]
        if unknown or not endpoints:
            raise ValueError(f"unknown I3D endpoints {unknown} (choose from {', '.join(ENDPOINTS)})")
        last = max(ENDPOINTS.index(e) for e in endpoints)
        out = {}
        for name in ENDPOINTS[: last + 1]:
            x = getattr(self, name)(x)
            if name in endpoints:
                out[name] = x
        return out


def load_i3d(path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
             allow_download: bool = False) -> InceptionI3d:
    """I3D with the real ``rgb_imagenet.pt`` weights (see :mod:`vidsched.metrics.weights`)."""
    model = InceptionI3d()
    load_into(model, "i3d_rgb", path, allow_download=allow_download)
    model.eval().requires_grad_(False)
    return model.to(device)


def _clip_tensor(frames, start: int, stop: int, device, symmetric: bool) -> torch.Tensor:
    x = unit_batch(frames, start, stop, device)  # (T, 3, H, W) in [0, 1]
    if symmetric:
        x = x * 2 - 1
    return x.permute(1, 0, 2, 3)  # (3, T, H, W)


@torch.no_grad()
def i3d_features(model: InceptionI3d, video, *, symmetric_input: bool = False) -> np.ndarray:
    """VFID's feature of one (T, H, W, 3) video: ``Mixed_5c`` averaged over time and space, (1024,) float64.

    The whole video is one clip, as in DEVIL.
    """
    video = check_frames(video, "video")
    device = model_device(model)
    x = _clip_tensor(video, 0, video.shape[0], device, symmetric_input)[None]
    feat = model(x, ("Mixed_5c",))["Mixed_5c"]
    return feat.mean(dim=(2, 3, 4))[0].double().cpu().numpy()


def _normalize_channels(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


def _window(frames, start: int, window: int, device, symmetric: bool) -> torch.Tensor:
    """Frames ``start:start+window`` as (3, window, H, W); a video too short is padded with its last frame."""
    clip = _clip_tensor(frames, start, start + window, device, symmetric)
    if clip.shape[1] < window:
        clip = torch.cat([clip, clip[:, -1:].expand(-1, window - clip.shape[1], -1, -1)], dim=1)
    return clip


@torch.no_grad()
def pvcs_clips(model: InceptionI3d, gt, comp, *, window: int = WINDOW, clips_per_batch: int = 4,
               symmetric_input: bool = False) -> np.ndarray:
    """PVCS of each clip (10 frames, stride 1) of two (T, H, W, 3) videos: (clips,) float64."""
    gt = check_frames(gt, "ground-truth video")
    comp = check_frames(comp, "composite video")
    if tuple(gt.shape) != tuple(comp.shape):
        raise VidschedError(f"the videos differ in shape: {tuple(gt.shape)} vs {tuple(comp.shape)}")
    device = model_device(model)
    t = gt.shape[0]
    starts = list(range(max(1, t - window + 1)))
    out = []
    for b in range(0, len(starts), clips_per_batch):
        chunk = starts[b: b + clips_per_batch]
        xa = torch.stack([_window(gt, s, window, device, symmetric_input) for s in chunk])
        xb = torch.stack([_window(comp, s, window, device, symmetric_input) for s in chunk])
        fa = model(xa, PVCS_ENDPOINTS)
        fb = model(xb, PVCS_ENDPOINTS)
        total = torch.zeros(len(chunk), dtype=torch.float64, device=xa.device)
        for name in PVCS_ENDPOINTS:
            d = (_normalize_channels(fa[name]) - _normalize_channels(fb[name])) ** 2
            total += d.sum(dim=1).mean(dim=(1, 2, 3)).double()
        out.append(total.cpu().numpy())
    return np.concatenate(out)


def pvcs_video(model: InceptionI3d, gt, comp, *, window: int = WINDOW, clips_per_batch: int = 4,
               symmetric_input: bool = False) -> float:
    """DEVIL's PVCS for one video: the mean over its 10-frame clips (stride 1)."""
    return float(pvcs_clips(model, gt, comp, window=window, clips_per_batch=clips_per_batch,
                            symmetric_input=symmetric_input).mean())
