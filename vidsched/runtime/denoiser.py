"""The network-backed denoiser factory used by the executor."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vidsched.diffusion.precond import Conditioning, check_prediction, denoise
from vidsched.runtime.cuda_graphs import GraphedModel


def model_denoiser(model: torch.nn.Module, cuda_graphs: bool = True, prediction: str = "eps") -> Callable:
    """``make(values, known, index, valid) -> denoise(x, sigma)`` for one batch of windows.

    ``prediction`` is what the network predicts ("eps" or "v"; a checkpoint records it
    in ``meta["prediction"]``, see :func:`vidsched.model.checkpoint.prediction_of`).

    The whole denoiser D(x, sigma) -- preconditioning, known-pixel substitution, the
    network, the clip -- is one call of :class:`GraphedModel`, which captures a CUDA
    graph per input shape on a GPU (and is a plain call on the CPU or with
    ``cuda_graphs=False``). Graphing the network alone left some twenty small kernels
    per evaluation outside the graph: on an H200 that was 0.7 ms of launch overhead per
    2.4 ms evaluation of the tiny model (BENCHMARKS.md, GPU session).
    """

    def full(x: torch.Tensor, sigma: torch.Tensor, values: torch.Tensor, known: torch.Tensor,
             index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        cond = Conditioning(known_values=values, known=known, frame_index=index, frame_valid=valid)
        # Pixel values live in [-1, 1]. An eps-predicting network's estimate
        # D = x - sigma * eps_hat multiplies the error of eps_hat by sigma, so at the
        # high noise levels of the first steps (sigma up to 80) it lands far outside
        # the data range; clipping it (as DDPM samplers clip x0) keeps those early
        # steps on the data manifold's scale. A v-network's D stays near the range
        # (c_out < 1), so the clip rarely acts there. Known pixels are in range.
        return denoise(model, x, sigma, cond, prediction)[0].clamp(-1.0, 1.0)

    check_prediction(prediction)
    graphed = GraphedModel(full, enabled=cuda_graphs)

    def make(values: torch.Tensor, known: torch.Tensor, index: torch.Tensor, valid: torch.Tensor):
        def denoiser(x: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
            # sigma as a 0-d tensor on x's device: one graph serves every step
            sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device).reshape(())
            return graphed(x, sigma, values, known, index, valid)

        return denoiser

    make.graphed = graphed  # type: ignore[attr-defined]  # for tests and benchmarks
    return make
