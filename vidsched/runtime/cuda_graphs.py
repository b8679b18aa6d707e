"""CUDA graphs for the denoiser call: capture once per input shape, replay per evaluation.

A stage costs 2N - 1 network evaluations of the same shape (Heun, N steps), and a plan
has many stages of the same window shape (K frames, padded), so the launch overhead of
the network's hundreds of small kernels is paid once per shape instead of per call.
The wrapper keeps static input buffers per shape; a call copies its inputs into them,
replays the graph and returns a copy of the static output. Nothing inside the captured
region synchronises with the host (the network has no ``.item()`` and no data-dependent
Python control flow).

On CPU, or with ``enabled=False`` (``--no-cuda-graphs``), calls go straight to the model.
"""

from __future__ import annotations

import torch


class GraphedModel:
    """Wraps a function of tensors returning one tensor (the network, or the whole
    denoiser around it: :func:`vidsched.runtime.denoiser.model_denoiser`); called with
    the same arguments. Every argument must be a tensor; the graph is keyed by their
    shapes and dtypes."""

    def __init__(self, model, enabled: bool = True, warmup: int = 3) -> None:
        self.model = model
        self.enabled = enabled
        self.warmup = warmup
        self._graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, tuple[torch.Tensor, ...], torch.Tensor]] = {}
        self.captures = 0
        self.replays = 0

    def _usable(self, args: tuple[torch.Tensor, ...]) -> bool:
        return self.enabled and torch.cuda.is_available() and all(a.is_cuda for a in args)

    @torch.no_grad()
    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        if not self._usable(args):
            return self.model(*args)
        key = tuple((tuple(a.shape), a.dtype) for a in args)
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._capture(args)
            self._graphs[key] = entry
        graph, static_in, static_out = entry
        for buf, a in zip(static_in, args):
            buf.copy_(a)
        graph.replay()
        self.replays += 1
        return static_out.clone()

    def _capture(self, args: tuple[torch.Tensor, ...]):
        # The graph's buffers are normal tensors even when the first call comes inside
        # torch.inference_mode() (the executor's): inference tensors could not be written
        # by a later call outside it (seen on an H200: "Inplace update to inference tensor
        # outside InferenceMode"), while a normal tensor takes copies in either mode.
        with torch.inference_mode(False), torch.no_grad():
            static_in = static_buffers(args)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):  # warm up kernels (cuDNN autotuning) off the graph
                for _ in range(self.warmup):
                    self.model(*static_in)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(*static_in)
        self.captures += 1
        return graph, static_in, static_out


def static_buffers(args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Copies of ``args`` that later calls can overwrite in place, inside or outside
    ``torch.inference_mode()``, whichever mode the arguments were made in."""
    with torch.inference_mode(False):
        return tuple(a.clone() for a in args)
