"""Test sets and methods for the experiments (vidsched.benchmark)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidsched.benchmark import (
    ModelMethod, baseline_method, heldout_test_set, masked_input, predict_all, score, evaluation_mask,
)
from vidsched.model.checkpoint import save_checkpoint
from vidsched.model.unet import VideoUNet, VideoUNetConfig
from vidsched.training.masks import APPENDIX_D_TYPES

CONFIG = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                         num_heads=2, rel_pos_channels=8, norm_groups=4)


@pytest.fixture(scope="module")
def held() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)


@pytest.mark.parametrize("kind", APPENDIX_D_TYPES + ("object",))
def test_test_masks_hole_every_frame_and_move(kind):
    for seed in range(8):
        hole = evaluation_mask(kind, 12, 32, seed, min_hole=0.02)
        assert hole.mean(axis=(1, 2)).min() >= 0.02
        assert not (hole == hole[0]).all()


def test_logo_test_masks_stand_still():
    for seed in range(4):
        hole = evaluation_mask("logo", 12, 32, seed, min_hole=0.02)
        assert hole.mean(axis=(1, 2)).min() >= 0.02 and (hole == hole[0]).all()


def test_test_set_is_reproducible_and_spans_the_split(held):
    a = heldout_test_set(held, clips=3, frames=8)
    b = heldout_test_set(held, clips=3, frames=8)
    assert list(a) == list(APPENDIX_D_TYPES)  # the paper's kinds by default
    for kind in APPENDIX_D_TYPES:
        assert [c.name for c in a[kind]] == [f"{kind}-0-f0", f"{kind}-1-f16", f"{kind}-2-f32"]
        for x, y in zip(a[kind], b[kind]):
            assert np.array_equal(x.hole, y.hole) and np.array_equal(x.gt, y.gt)
    assert np.array_equal(a["grid"][2].gt, held[32:40])
    with pytest.raises(ValueError, match="fewer than"):
        heldout_test_set(held[:5], frames=8)


def test_test_set_of_the_new_kinds(held):
    more = heldout_test_set(held, kinds=["object", "logo"], clips=2, frames=8)
    assert [c.name for c in more["object"]] == ["object-0-f0", "object-1-f32"]
    assert all(c.hole.any(axis=(1, 2)).all() for c in more["object"] + more["logo"])


def test_methods_never_see_the_hole(held):
    clip = heldout_test_set(held, kinds=["blob"], clips=1, frames=8)["blob"][0]
    shown = masked_input(clip)
    assert (shown[clip.hole] == 0).all() and np.array_equal(shown[~clip.hole], clip.gt[~clip.hole])
    copy = predict_all(baseline_method("copy"), [clip])[0]
    assert (copy.frames[clip.hole] == 0).all()  # copy-through cannot cheat
    telea = predict_all(baseline_method("telea"), [clip])[0]
    report = score([clip], [telea], ["psnr"])
    worse = score([clip], [copy], ["psnr"])
    assert report.summary["psnr"] > worse.summary["psnr"]


def test_model_method_runs_a_scheme_and_keeps_known_pixels(held, tmp_path):
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "tiny", VideoUNet(CONFIG).state_dict(), CONFIG)
    method = ModelMethod(ckpt, scheme="ar", steps=2)
    clip = heldout_test_set(held, kinds=["box"], clips=1, frames=8)["box"][0]
    pred = predict_all(method, [clip])[0]
    assert np.array_equal(pred.frames[~clip.hole], clip.gt[~clip.hole])
    assert pred.network_evaluations > 0 and pred.seconds > 0
    again = predict_all(method, [clip])[0]
    assert np.array_equal(pred.frames, again.frames)  # seeded
