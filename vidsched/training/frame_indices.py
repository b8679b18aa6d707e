"""Which frames a training example generates (X) and observes (Y) — paper sec. 4.3.

The paper's frame-index distribution is a mixture of

* FDM's distribution (Harvey et al. 2022): groups of s ~ U{1..K} indices, evenly spaced
  with a log-uniformly drawn spacing, at a random position in the video; the first
  group is generated, each later group goes to the observed or the generated frames
  with probability 1/2, until a group no longer fits in K frames; and
* runs of consecutive frames (the paper's footnote: they improve temporal coherence):
  a run of n ~ U{2..K} consecutive frames, of which a contiguous block is generated and
  the rest of the run observed.

The mixture weight of the consecutive runs is `p_consecutive`. Generated frames keep
the video's mask during training; observed frames are fully known.
"""

from __future__ import annotations

import math

import numpy as np


def fdm_group(rng: np.random.Generator, K: int, T: int) -> list[int]:
    """s ~ U{1..K} indices with log-uniform spacing, placed at random in 0..T-1."""
    while True:
        s = int(rng.integers(1, K + 1))
        max_scale = T / (s - 0.999)
        scale = math.exp(rng.random() * math.log(max_scale)) if max_scale > 1 else 1.0
        pos = rng.random() * (T - scale * (s - 1))
        indices = [int(pos + i * scale) for i in range(s)]
        if all(0 <= i < T for i in indices):
            return sorted(set(indices))


def fdm_indices(rng: np.random.Generator, K: int, T: int) -> tuple[list[int], list[int]]:
    generate: set[int] = set()
    observe: set[int] = set()
    first = True
    while True:
        group = [i for i in fdm_group(rng, K, T) if i not in generate and i not in observe]
        if len(generate) + len(observe) + len(group) > K:
            break
        if first or rng.random() < 0.5:
            generate.update(group)
        else:
            observe.update(group)
        first = False
        if len(generate) + len(observe) == min(K, T):
            break
    return sorted(generate), sorted(observe)


def consecutive_indices(rng: np.random.Generator, K: int, T: int) -> tuple[list[int], list[int]]:
    n = int(rng.integers(min(2, K, T), min(K, T) + 1))
    start = int(rng.integers(0, T - n + 1))
    run = list(range(start, start + n))
    m = int(rng.integers(1, n + 1))  # generated block length
    a = int(rng.integers(0, n - m + 1))
    return run[a : a + m], run[:a] + run[a + m :]


def sample_frame_indices(
    rng: np.random.Generator, K: int, T: int, p_consecutive: float = 0.5
) -> tuple[list[int], list[int]]:
    """(generate, observe): disjoint sorted frame lists, 1 <= |generate|, total <= K."""
    if rng.random() < p_consecutive:
        return consecutive_indices(rng, K, T)
    return fdm_indices(rng, K, T)
