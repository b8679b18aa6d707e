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
    assert sorted(p.size for p in pieces) == [80, 100]
    assert np.array_equal(np.logical_or.reduce([p.mask() for p in pieces]), always)  # exactly the still pixels
    big = np.zeros((100, 200), bool)
    big[:60, :100] = True  # 30 % of the frame
    assert detail.still_pieces(big) == [] and detail.still_pieces(np.zeros((9, 9), bool)) == []


def test_a_piece_is_its_pixels_and_grows_like_a_dilated_mask():
    import cv2

    mask = np.zeros((30, 40), bool)
    mask[0:3, 35:40] = mask[10, 10] = True  # touches the top and right borders; a speck
    piece = detail.Piece.of(mask)
    assert piece.size == 16 and np.array_equal(piece.mask(), mask) and piece.first == 35
    for pixels in (1, 4):
        grown = np.zeros_like(mask)
        grown[piece.grown(pixels)] = True
        expected = cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0
        assert np.array_equal(grown, expected)


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
    assert min(s.piece.size for s in sources) >= sorted(p.size for p in detail.still_pieces(specks))[-5]
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


# ---- --detail restore: the detail the prior's average over frames took, given back ----------

def test_restore_gains_stay_within_one_and_the_cap_and_are_smoothed_over_frames():
    now = np.array([1.0, 1.0, 1.0, np.nan, 4.0, 1.0])
    target = np.array([4.0, 0.25, 100.0, 1.0, 4.0, 1.0])
    raw = detail.restore_gains(now, target, cap=2.0, smooth=0)
    np.testing.assert_allclose(raw, [2.0, 1.0, 2.0, 1.0, 1.0, 1.0])  # never below 1 (detail is not taken away)
    smoothed = detail.restore_gains(now, target, cap=2.0, smooth=1)
    assert smoothed[3] == 1.0  # no hole there: no gain
    np.testing.assert_allclose(smoothed[:3], [1.5, 5 / 3, 1.5])  # averaged with the neighbours that have a hole
    np.testing.assert_allclose(detail.restore_gains(now[:1], target[:1], cap=2.0, smooth=2), [2.0])  # one frame


def test_restore_detail_gives_an_averaged_fill_its_detail_back_in_hole_pixels_only():
    """A fill whose detail was halved (what an average over frames does to detail the
    frames agree on) is raised back to the detail it had: close to the truth again."""
    truth, _, mask = textured_clip()
    truth[:, :48] = np.random.default_rng(0).integers(60, 140, (48, 128, 3))  # texture up there too
    hole = np.zeros(truth.shape[:3], bool)
    hole[1:5] = mask  # frames 0 and 5 have no hole
    base, fine = detail.split(truth, detail.DETAIL_SIGMA)
    averaged = np.where(hole[..., None], np.clip(np.rint(base + 0.5 * fine), 0, 255), truth).astype(np.uint8)
    target = detail.hole_detail_energy(truth, hole)
    assert np.isnan(target[0]) and np.isnan(target[5]) and np.isfinite(target[1:5]).all()
    out = averaged.copy()
    gains = detail.restore_detail(out, hole, target)
    assert np.array_equal(out[~hole], truth[~hole])  # known pixels (and frames without a hole) untouched
    assert gains[0] == gains[5] == 1.0 and (gains[1:5] > 1.5).all()
    err = lambda v: np.abs(v[hole].astype(float) - truth[hole]).mean()  # noqa: E731
    assert err(out) < 0.5 * err(averaged), (err(out), err(averaged))
    already = truth.copy()  # a fill that kept its detail is left as it is
    assert (detail.restore_detail(already, hole, target) <= 1.0 + 1e-6).all()
    assert np.array_equal(already, truth)


def grainy_pan(T=12, H=48, W=64, speed=1.3, grain=10.0):
    """A fine texture panning ``speed`` px a frame (sub-pixel: every copy is resampled)
    with grain of its own in each frame, and a still hole the pan uncovers: (frames, hole)."""
    import cv2

    rng = np.random.default_rng(1)
    big = cv2.GaussianBlur(rng.integers(0, 256, (H, W + 40, 3)).astype(np.float32), (0, 0), 1.0)
    frames = []
    for t in range(T):
        shifted = cv2.warpAffine(big, np.float32([[1, 0, -speed * t], [0, 1, 0]]), (W + 40, H), flags=cv2.INTER_CUBIC)
        frames.append(np.clip(shifted[:, :W] + rng.normal(0, grain, (H, W, 3)), 0, 255))
    hole = np.zeros((T, H, W), bool)
    hole[:, 16:32, 24:40] = True
    return np.stack(frames).astype(np.uint8), hole


def test_the_prior_with_restore_keeps_more_of_the_copied_detail_on_a_pan():
    """apply_prior(restore=True): the steadied guess of a panning, grainy clip has more
    detail in the hole than without (closer to what the truth has), its known pixels are
    the input's, and it says by how much each frame's detail was raised."""
    from vidsched.runtime.prior import apply_prior

    frames, hole = grainy_pan()
    plain = apply_prior(frames, hole, "hybrid")
    kept = apply_prior(frames, hole, "hybrid", restore=True)
    assert plain.detail_gains is None and kept.detail_gains is not None
    assert np.array_equal(kept.start[~hole], frames[~hole]) and np.array_equal(kept.frames[~hole], frames[~hole])
    energy = lambda v: np.nanmean(detail.hole_detail_energy(v, hole))  # noqa: E731
    assert energy(plain.start) < 0.8 * energy(frames)  # the average took detail away ...
    assert energy(kept.start) > 1.15 * energy(plain.start)  # ... and restore gave it back
    assert energy(kept.start) < 1.2 * energy(frames)  # ... no more than the truth has
    assert (kept.detail_gains >= 1).all() and (kept.detail_gains > 1.1).any()


def test_vidsched_run_detail_restore_says_what_it_gave_back(capsys, tmp_path):
    from vidsched.cli import main

    checkpoint, _, _ = watermarked_run_assets(tmp_path)
    frames, hole = grainy_pan(H=96, W=96)  # room below the hole for a clone source
    np.save(tmp_path / "pan.npy", frames)
    np.save(tmp_path / "pan_mask.npy", hole.astype(np.uint8) * 255)
    args = ["run", tmp_path / "pan.npy", "--mask", tmp_path / "pan_mask.npy", "--checkpoint", checkpoint,
            "--steps", "1", "--detail", "restore", "-o", tmp_path / "out.npy"]
    assert main([str(a) for a in args]) == 0
    out, err = capsys.readouterr()
    assert "--detail: the fine detail the average over frames took was given back" in out + err, out + err
    assert "--detail clone" not in out + err  # restore alone plans no clone sources
    restored = np.load(tmp_path / "out.npy")
    assert np.array_equal(restored[~hole], frames[~hole])
    # clone = restore + the surroundings' detail for what no frame shows: the pixels the
    # pan uncovers keep their own (restored) detail, the model's get the clone's.
    assert main([str(a) for a in args[:-4] + ["--detail", "clone", "-o", tmp_path / "clone.npy",
                                              "--save-sources", tmp_path / "sources.npy"]]) == 0
    said = "".join(capsys.readouterr())
    assert "--detail: the fine detail" in said and "--detail clone: 1 still piece" in said
    cloned, sources = np.load(tmp_path / "clone.npy"), np.load(tmp_path / "sources.npy")[..., 0]
    propagated, generated = sources == 128, sources == 255  # the sources video: grey / white
    assert propagated.any() and generated.any()
    assert np.array_equal(cloned[propagated], restored[propagated])
    assert (cloned[generated] != restored[generated]).any(axis=-1).mean() > 0.5


def test_a_run_request_with_an_unknown_choice_fails_before_writing_anything(tmp_path):
    """The CLI's enums check --detail, --seam, ...; a RunRequest built in code is checked too."""
    from vidsched.errors import VidschedError
    from vidsched.runtime.pipeline import RunRequest, inpaint

    _, frames, mask = textured_clip()
    np.save(tmp_path / "clip.npy", frames)
    np.save(tmp_path / "mask.npy", np.broadcast_to(mask, frames.shape[:3]).astype(np.uint8) * 255)
    for option, value in (("detail", "sharp"), ("seam", "feather"), ("region", "tiles"), ("prior", "flow"),
                          ("prior_mode", "known!")):
        request = RunRequest(video=tmp_path / "clip.npy", mask=tmp_path / "mask.npy", output=tmp_path / "out.npy",
                             **{option: value})
        with pytest.raises(VidschedError, match=f"--{option.replace('_', '-')} {value!r} is not one of"):
            inpaint(request)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npy", "mask.npy"]


def test_the_cli_offers_exactly_the_choices_the_run_accepts():
    from vidsched import cli
    from vidsched.regions import REGION_MODES
    from vidsched.runtime.prior import PRIOR_KINDS, PRIOR_MODES
    from vidsched.seams import SEAM_MODES

    for enum, allowed in ((cli.DetailMode, detail.DETAIL_MODES), (cli.SeamMode, SEAM_MODES),
                          (cli.RegionMode, REGION_MODES), (cli.PriorKind, PRIOR_KINDS), (cli.PriorMode, PRIOR_MODES)):
        assert sorted(m.value for m in enum) == sorted(allowed), enum


def test_restore_without_an_average_to_restore_says_so(capsys, tmp_path):
    """--detail restore with --prior none (or --prior-mode known) has nothing to give back:
    the run says so instead of doing nothing silently."""
    from vidsched.cli import main

    checkpoint, _, _ = watermarked_run_assets(tmp_path)
    args = ["run", tmp_path / "clip.npy", "--mask", tmp_path / "mask.npy", "--checkpoint", checkpoint, "--steps", "1",
            "--detail", "restore", "--prior", "none", "-o", tmp_path / "out.npy"]
    assert main([str(a) for a in args]) == 0
    said = "".join(capsys.readouterr())
    assert "--detail restore: the prior does not average over frames here (--prior none)" in said, said
