"""Training batches drawn in worker processes, so a GPU step does not wait on augmentation.

Drawing a batch (crops at random zooms, photographs put in motion, masks) runs on one host
core; on a GPU that was most of a step (56 % of the first H200 burst, BENCHMARKS.md). With
``data_workers: N`` (N >= 1) the trainer takes its batches from N processes instead, each
with its own :class:`~vidsched.training.data.ExampleSampler`, prefetching a few batches
ahead. Each worker's random stream is seeded from (seed, rank, the step the loop starts
at, worker number), so no two workers repeat each other; a resumed run therefore draws
fresh examples rather than the ones an uninterrupted run would have drawn (with workers,
resume is not bit-identical; with ``data_workers: 0``, the default, it is).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator

import numpy as np
import torch

from vidsched.training.data import Batch, ExampleSampler

PREFETCH = 4  # batches each worker keeps ready


class _BatchStream(torch.utils.data.IterableDataset):
    """An endless stream of batches (tuples of arrays, in :class:`Batch` field order)."""

    def __init__(self, cfg, clips, stills, seed: tuple[int, ...]) -> None:
        super().__init__()
        self.cfg, self.clips, self.stills, self.seed = cfg, clips, stills, seed

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        torch.set_num_threads(1)  # N workers on N cores: no oversubscription
        sampler = ExampleSampler.from_config(self.cfg, self.clips, self.stills, seed=[*self.seed, worker])
        while True:
            b = sampler.batch(self.cfg.batch_size)
            yield (b.x0, b.known, b.loss_mask, b.index, b.valid)


def worker_batches(cfg, clips, stills, seed: tuple[int, ...], pin: bool = False) -> Iterator[Batch]:
    """Endless :class:`Batch` es of tensors from ``cfg.data_workers`` processes.

    ``seed`` is the stream's identity (e.g. (seed, rank, start step)); the worker number is
    appended per process. ``pin`` puts the batches in page-locked memory (for a CUDA copy
    that overlaps the previous step)."""
    if cfg.data_workers < 1:
        raise ValueError("worker_batches needs data_workers >= 1")
    import cv2

    # Workers are forked (the clips are shared, not pickled once per worker). OpenCV's thread
    # pool does not survive a fork: a worker that touched its thread settings hung. So the
    # pool is set to one thread before the fork (each worker then runs OpenCV serially, N
    # workers on N cores) and restored when the stream ends.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        loader = torch.utils.data.DataLoader(
            _BatchStream(cfg, clips, stills, tuple(int(s) for s in seed)), batch_size=None,
            num_workers=cfg.data_workers, prefetch_factor=PREFETCH, pin_memory=pin, persistent_workers=False,
            multiprocessing_context="fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        for parts in loader:
            yield Batch(*parts)
    finally:
        cv2.setNumThreads(threads)
