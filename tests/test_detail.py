"""vidsched.detail: still holes get the fine detail of the best-matching place near them;
nothing else changes."""

from __future__ import annotations

import numpy as np
import pytest

from vidsched import detail
from vidsched.packedmask import PackedMask


def textured_clip(T: int = 6, H: int = 96, W: int = 128):
    """Flat grey above, a fine checkerboard (+-20) on grey below; a bar-shaped hole in the
    lower half, filled flat (a smooth fill), the same in every frame."""
    yy, xx = np.mgrid[0:H, 0:W]
    truth = np.full((T, H, W, 3), 100, np.uint8)
    truth[:, H // 2:] = (100 + (((yy + xx) % 2) * 40 - 20))[H // 2:, :, None]
    mask = np.zeros((H, W), bool)
    mask[70:76, 40:90] = True
    filled = truth.copy()
    filled[:, mask] = 100
    return truth, filled, mask


def test_still_pieces_group_nearby_letters_and_drop_large_ones():
    always = np.zeros((100, 200), bool)
    always[10:20, 10:14] = always[10:20, 18:22] = True  # two letters 4 px apart: one piece
    always[60:70, 150:160] = True  # far away: another piece
    pieces = detail.still_pieces(always)
    assert len(pieces) == 2
    assert sorted(int(p.sum()) for p in pieces) == [80, 100]
    assert np.array_equal(np.logical_or.reduce(pieces), always)  # exactly the still pixels, grouping added none
    big = np.zeros((100, 200), bool)
    big[:60, :100] = True  # 30 % of the frame
    assert detail.still_pieces(big) == [] and detail.still_pieces(np.zeros((9, 9), bool)) == []


def test_the_source_is_where_the_base_matches_and_clear_of_every_hole():
    truth, filled, mask = textured_clip()
    ever = mask.copy()
    source = detail.find_source(filled, mask, ever)
    ys, xs = np.nonzero(mask)
    assert (ys + source.dy).min() >= 48  # in the textured half: its base (grey 100) matches
    assert not ever[ys + source.dy, xs + source.dx].any()
    # a hole elsewhere in some frame blocks that place: the source moves off it
    blocked = ever.copy()
    blocked[ys + source.dy, xs + source.dx] = True
    other = detail.find_source(filled, mask, blocked)
    assert other is not None and (other.dy, other.dx) != (source.dy, source.dx)
    assert not blocked[ys + other.dy, xs + other.dx].any()


def test_no_source_when_the_frame_has_no_room():
    frames = np.full((2, 20, 20, 3), 80, np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[4:16, 4:16] = True
    assert detail.find_source(frames, mask, mask) is None
    assert detail.plan_detail(frames, mask, mask) == []
    assert "nothing was changed" in detail.describe_sources([], still=True)
    assert "stays in place" in detail.describe_sources([], still=False)


def test_apply_copies_the_source_detail_into_hole_pixels_only():
    truth, filled, mask = textured_clip()
    hole = np.broadcast_to(mask, filled.shape[:3]).copy()
    hole[2] = False  # a frame where the piece is not hole: left as it is
    sources = detail.plan_detail(filled, mask, mask)
    out = detail.apply_detail(filled, hole, sources)
    assert np.array_equal(out[~hole], filled[~hole])  # known pixels exact, frame 2 untouched
    (source,) = sources
    assert (source.dy + source.dx) % 2 == 0  # the search steps keep the checkerboard in phase
    err = lambda v: np.abs(v[hole].astype(int) - truth[hole]).mean()
    assert err(out) < 0.5 * err(filled)  # the flat fill took the checkerboard's detail
    assert "1 still piece" in detail.describe_sources(sources, still=True)
    assert "50x6" in source.describe()


def test_packed_mask_always_and_ever():
    rng = np.random.default_rng(1)
    m = rng.random((7, 9, 21)) < 0.7
    m[:, 2:5, 3:12] = True
    packed = PackedMask.from_array(m)
    assert np.array_equal(packed.always(), m.all(axis=0))
    assert np.array_equal(packed.ever(), m.any(axis=0))
    assert np.array_equal(packed.frames(slice(1, 3)).always(), m[1:3].all(axis=0))


def watermarked_run_assets(tmp_path):
    """A tiny random-weight checkpoint and a 24-frame clip (48 x 64) with a still watermark
    over the textured half: (checkpoint, frames, mask)."""
    import torch

    from vidsched.model.checkpoint import save_checkpoint
    from vidsched.model.unet import VideoUNet, VideoUNetConfig

    config = VideoUNetConfig(image_size=16, max_frames=4, channels=8, channel_mult=(1, 2), attention_resolutions=(8,),
                             num_heads=2, rel_pos_channels=8)
    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "ckpt" / "tiny", VideoUNet(config).state_dict(), config)
    truth, _, _ = textured_clip(T=24, H=48, W=64)
    mask = np.zeros((48, 64), bool)
    mask[36:40, 20:44] = True
    frames = truth.copy()
    frames[:, mask] = 255  # the watermark
    np.save(tmp_path / "clip.npy", frames)
    np.save(tmp_path / "mask.npy", np.broadcast_to(mask, frames.shape[:3]).astype(np.uint8) * 255)
    return checkpoint, frames, mask


@pytest.mark.parametrize("chunk", [None, "8"])
def test_vidsched_run_detail_clone_on_a_watermark(capsys, tmp_path, chunk):
    """`vidsched run --detail clone`: the still hole's pixels change and no known pixel
    does; the sources are planned once, however many chunks."""
    from vidsched.cli import main

    checkpoint, frames, mask = watermarked_run_assets(tmp_path)
    outs = {}
    for mode in ("none", "clone"):
        args = ["run", tmp_path / "clip.npy", "--mask", tmp_path / "mask.npy", "--checkpoint", checkpoint,
                "--steps", "1", "--detail", mode, "-o", tmp_path / f"{mode}.npy"]
        assert main([str(a) for a in args + (["--chunk-frames", chunk] if chunk else [])]) == 0
        out, err = capsys.readouterr()
        outs[mode] = np.load(tmp_path / f"{mode}.npy")
        said = out + err  # notes go to stderr
        assert said.count("--detail clone:") == (1 if mode == "clone" else 0), said
    assert "1 still piece" in said
    assert np.array_equal(outs["clone"][:, ~mask], frames[:, ~mask])
    assert (outs["clone"][:, mask] != outs["none"][:, mask]).any(axis=-1).mean() > 0.5


def test_many_still_pieces_are_bounded_and_summarised(monkeypatch):
    """Dust on the lens: hundreds of still specks. Only the MAX_PIECES largest pieces are
    searched, and the summary counts the rest instead of listing them."""
    monkeypatch.setattr(detail, "MAX_PIECES", 5)
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 255, (3, 240, 320, 3), dtype=np.uint8)
    specks = np.zeros((240, 320), bool)
    for i, (y, x) in enumerate([(y, x) for y in range(30, 220, 40) for x in range(30, 300, 40)]):
        specks[y:y + 2 + i % 4, x:x + 3 + i % 5] = True
    assert len(detail.still_pieces(specks)) > 20
    sources = detail.plan_detail(frames, specks, specks)
    assert 0 < len(sources) <= 5
    assert min(s.piece.sum() for s in sources) >= sorted(p.sum() for p in detail.still_pieces(specks))[-5]
    line = detail.describe_sources(sources, still=True)
    assert line.count(" from ") == min(4, len(sources)) and (len(sources) <= 4 or "more" in line)


def test_an_interrupted_chunked_run_with_detail_resumes_to_the_same_output(capsys, monkeypatch, tmp_path):
    """The sources are saved with the progress: a run stopped after its first chunk and
    resumed copies the detail from the same place as an uninterrupted one."""
    from vidsched.cli import main
    from vidsched.runtime import resume

    checkpoint, _, _ = watermarked_run_assets(tmp_path)

    def run(output, *extra):
        code = main([str(a) for a in ["run", tmp_path / "clip.npy", "--mask", tmp_path / "mask.npy", "--checkpoint",
                                      checkpoint, "--steps", "1", "--detail", "clone", "--chunk-frames", "8", "-q",
                                      "-o", output, *extra]])
        return code, capsys.readouterr()

    assert run(tmp_path / "ref.npy")[0] == 0
    save = resume.ProgressStore.save

    def save_then_interrupt(self, next_batch, buffer):  # stop during the second chunk
        save(self, next_batch, buffer)
        if list(self.dir.glob("chunk-0-*.npy")):
            raise KeyboardInterrupt

    out = tmp_path / "out.npy"
    with monkeypatch.context() as m:
        m.setattr(resume.ProgressStore, "save", save_then_interrupt)
        code, _ = run(out)
    partial = out.with_name(out.name + ".vidsched-partial")
    assert code == 130 and list(partial.glob("detail-sources-*.npy"))
    def no_new_plan(*args, **kwargs):
        raise AssertionError("the resumed run planned its sources again instead of reading the saved ones")

    with monkeypatch.context() as m:  # a plan made on another chunk's frames could pick another place
        m.setattr(detail, "plan_detail", no_new_plan)
        code, (stdout, stderr) = run(out, "--resume")
    assert code == 0, stderr
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "ref.npy"))
    assert "--detail clone: 1 still piece" in stdout + stderr
