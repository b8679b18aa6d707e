"""LPIPS (Zhang et al. 2018), AlexNet trunk, version 0.1 -- the ``lpips`` package's ``LPIPS(net='alex')``.

Written here without torchvision; module and parameter names follow the original files so
they load strictly:

* the trunk is torchvision's ``AlexNet.features`` up to the fifth ReLU (``features.0`` ...
  ``features.11``; the last max-pool and the classifier are not used), read from
  torchvision's ``alexnet-owt-7be5be79.pth`` (its ``classifier.*`` keys are dropped);
* the linear layers are ``lin0`` ... ``lin4``, each ``model = Sequential(Dropout, Conv2d 1x1
  without bias)``, read from the lpips package's ``weights/v0.1/alex.pth`` (keys
  ``lin{k}.model.1.weight``, shapes 1 x {64, 192, 384, 256, 256} x 1 x 1).

The distance between two images in [-1, 1]: shift and scale each (ScalingLayer), take the
five ReLU outputs, unit-normalise each over channels (norm + 1e-10), square the
difference, weight the channels with the linear layer, average over space, sum over the
five layers. DEVIL scores a video as the mean over its frames of the distance between the
ground-truth frame and the composite frame, both mapped from [0, 1] to [-1, 1].
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from vidsched.errors import VidschedError
from vidsched.metrics.weights import check_frames, load_into, model_device, unit_batch

CHANNELS = (64, 192, 384, 256, 256)
# ReLU outputs of AlexNet.features that LPIPS taps (relu1 ... relu5).
TAPS = (1, 4, 7, 9, 11)


class ScalingLayer(nn.Module):
    """LPIPS v0.1's input normalisation: (x - shift) / scale, per RGB channel."""

    def __init__(self) -> None:
        super().__init__()
        # Constants, not weights: kept out of the state dict (the lpips file has none).
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet's ``features`` through the fifth ReLU; returns the five ReLU outputs."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
            nn.ReLU(),  # 1 relu1
            nn.MaxPool2d(kernel_size=3, stride=2),  # 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
            nn.ReLU(),  # 4 relu2
            nn.MaxPool2d(kernel_size=3, stride=2),  # 5
            nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
            nn.ReLU(),  # 7 relu3
            nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
            nn.ReLU(),  # 9 relu4
            nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
            nn.ReLU(),  # 11 relu5
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                outs.append(x)
        return outs


class NetLinLayer(nn.Module):
    """A 1x1 convolution to one channel without bias (behind a dropout used only in training)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, kernel_size=1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LinearLayers(nn.Module):
    """``lin0`` ... ``lin4``: the keys of the lpips package's ``weights/v0.1/alex.pth``."""

    def __init__(self) -> None:
        super().__init__()
        for k, c in enumerate(CHANNELS):
            self.add_module(f"lin{k}", NetLinLayer(c))

    def __getitem__(self, k: int) -> NetLinLayer:
        return getattr(self, f"lin{k}")


def normalize_channels(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Unit-normalise over the channel dimension, as lpips does (divide by norm + eps)."""
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet trunk; ``forward(a, b)`` on (N, 3, H, W) in [-1, 1] gives (N,)."""

    def __init__(self) -> None:
        super().__init__()
        self.scaling_layer = ScalingLayer()
        self.net = AlexNetFeatures()
        self.lins = LinearLayers()

    def forward(self, in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        outs0 = self.net(self.scaling_layer(in0))
        outs1 = self.net(self.scaling_layer(in1))
        total = torch.zeros(in0.shape[0], dtype=in0.dtype, device=in0.device)
        for k, (f0, f1) in enumerate(zip(outs0, outs1)):
            diff = (normalize_channels(f0) - normalize_channels(f1)) ** 2
            total = total + self.lins[k](diff).mean(dim=(1, 2, 3))
        return total


def load_lpips(alex_path: str | os.PathLike | None = None, lin_path: str | os.PathLike | None = None, *,
               device: str | torch.device = "cpu", allow_download: bool = False) -> LPIPS:
    """LPIPS with the real AlexNet and v0.1 linear weights (see :mod:`vidsched.metrics.weights`).

    Raises ``MetricUnavailable`` when either file is missing, ``WeightsFileError`` (a
    subclass) when a file is not the expected network.
    """
    model = LPIPS()
    load_into(model.net, "lpips_alex", alex_path, allow_download=allow_download)
    load_into(model.lins, "lpips_lin", lin_path, allow_download=allow_download)
    model.eval().requires_grad_(False)
    return model.to(device)


@torch.no_grad()
def lpips_frames(model: LPIPS, gt, comp, batch_size: int = 8) -> np.ndarray:
    """Per-frame LPIPS between two (T, H, W, 3) videos (uint8, or floats in [0, 1]): (T,) float64."""
    gt = check_frames(gt, "ground-truth video")
    comp = check_frames(comp, "composite video")
    if tuple(gt.shape) != tuple(comp.shape):
        raise VidschedError(f"the videos differ in shape: {tuple(gt.shape)} vs {tuple(comp.shape)}")
    device = model_device(model)
    out = []
    for s in range(0, gt.shape[0], batch_size):
        a = unit_batch(gt, s, s + batch_size, device) * 2 - 1
        b = unit_batch(comp, s, s + batch_size, device) * 2 - 1
        out.append(model(a, b).double().cpu().numpy())
    return np.concatenate(out)


def lpips_video(model: LPIPS, gt, comp, batch_size: int = 8) -> float:
    """DEVIL's LPIPS for one video: the mean over frames of LPIPS(ground truth, composite)."""
    return float(lpips_frames(model, gt, comp, batch_size).mean())
