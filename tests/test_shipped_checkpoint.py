"""The checkpoint shipped for `vidsched run` loads and samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsched.compiler import compile_scheme
from vidsched.runtime import pipeline

pytestmark = pytest.mark.skipif(not pipeline.DEFAULT_CHECKPOINT.exists(), reason="no shipped checkpoint")


def test_shipped_checkpoint_loads_and_fills_a_hole():
    from vidsched.model.checkpoint import load_checkpoint
    from vidsched.runtime.denoiser import model_denoiser
    from vidsched.runtime.executor import Executor, SamplerSettings, compose_output, initial_buffer

    model, config, meta = load_checkpoint(pipeline.DEFAULT_CHECKPOINT)
    assert config.image_size == 64 and config.max_frames == 8
    assert meta["step"] > 0
    S = config.image_size
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(60, 200, (1, S, S, 3), dtype=np.uint8), 8, axis=0)
    hole = np.zeros((8, S, S), bool)
    hole[:, 20:40, 20:40] = True
    plan = compile_scheme("ar", {"T": 8, "K": 8})
    buffer = initial_buffer(frames, hole)
    torch.manual_seed(0)
    with torch.inference_mode():
        Executor(model_denoiser(model, cuda_graphs=False), SamplerSettings(steps=2)).run(plan, buffer, hole)
    out = compose_output(frames, hole, buffer)
    assert np.array_equal(out[~hole], frames[~hole])
    assert np.isfinite(buffer.astype(np.float32)).all()
    assert out[hole].std() > 0  # something was generated
