"""The propagation prior in the runtime: known mode shrinks the hole (and the plan),
init mode starts from the propagated frames, the sources map says where pixels came from,
and known input pixels stay bit-exact through `vidsched run --prior propagate`."""

from __future__ import annotations

import numpy as np
import pytest

from vidsched.runtime.prior import SOURCE_INPUT, SOURCE_MODEL, SOURCE_PROPAGATED, apply_prior, sources_map


def panning_clip(T=12, H=48, W=64, speed=3):
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (H, W + speed * T, 3)).astype(np.float32)
    import cv2

    big = cv2.GaussianBlur(big, (0, 0), 1.5).astype(np.uint8)  # texture that flow can follow
    frames = np.stack([big[:, speed * t: speed * t + W] for t in range(T)])
    hole = np.zeros((T, H, W), bool)
    hole[:, 16:32, 24:40] = True  # a still box: the pan shows what it hides in other frames
    return frames, hole


def test_known_mode_takes_confident_pixels_and_shrinks_the_hole():
    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "known")
    assert prior.start is None
    assert (prior.hole <= hole).all() and prior.hole.sum() < 0.5 * hole.sum()
    assert np.array_equal(prior.frames[~hole], frames[~hole])
    taken = prior.propagated
    assert taken.any() and not (taken & prior.hole).any() and (taken <= hole).all()
    err = np.abs(prior.frames[taken].astype(int) - frames[taken]).mean()  # frames are the truth here
    assert err < 6, err


def test_known_mode_drops_frames_that_become_complete_from_the_plan():
    from vidsched.compiler import compile_scheme

    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "known")
    complete_before = np.flatnonzero(~hole.reshape(len(hole), -1).any(axis=1)).tolist()
    complete_after = np.flatnonzero(~prior.hole.reshape(len(hole), -1).any(axis=1)).tolist()
    assert len(complete_after) > len(complete_before)
    before = compile_scheme("ar", {"T": 12, "K": 4}, complete_frames=complete_before)
    after = compile_scheme("ar", {"T": 12, "K": 4}, complete_frames=complete_after)
    generated = {f for st in after.stages for f in st.generate}
    assert not generated & set(complete_after)
    assert len(after.stages) <= len(before.stages)


def test_init_mode_keeps_the_hole_and_gives_a_complete_start():
    frames, hole = panning_clip()
    prior = apply_prior(frames, hole, "init")
    assert np.array_equal(prior.hole, hole) and prior.start is not None
    assert np.array_equal(prior.start[~hole], frames[~hole])
    assert np.abs(prior.start[hole].astype(int) - frames[hole]).mean() < 12


def test_hybrid_mode_trusts_confident_pixels_and_starts_the_rest_from_a_guess():
    """hybrid = known for the trusted propagated pixels + an SDEdit start for the rest:
    the hole left to the model is exactly the untrusted part (as in known mode), the start
    holds the input's known pixels and the trusted ones, and every remaining hole pixel has a guess close
    to the truth (propagated or Telea), not zeros."""
    frames, hole = panning_clip()
    known = apply_prior(frames, hole, "known", threshold=0.0)
    prior = apply_prior(frames, hole, "hybrid", threshold=0.0)
    assert np.array_equal(prior.hole, known.hole) and np.array_equal(prior.propagated, known.propagated)
    assert prior.propagated.any()
    # known pixels are the input's; the trusted ones hold the guess, steadied over time,
    # which must not blur the copies on a panning camera (3 px per frame): they stay
    # within a grey level or two of known mode's copies and of the truth
    assert np.array_equal(prior.frames[~hole], frames[~hole])
    assert np.array_equal(prior.start[~prior.hole], prior.frames[~prior.hole])
    taken = prior.propagated
    assert np.abs(prior.frames[taken].astype(int) - known.frames[taken]).mean() < 2
    assert np.abs(prior.frames[taken].astype(int) - frames[taken]).mean() < 2
    # trusting nothing: the whole hole goes to the model, started from the propagated pixels
    unsure = apply_prior(frames, hole, "hybrid", threshold=1.01)
    assert np.array_equal(unsure.hole, hole) and not unsure.propagated.any()
    assert np.array_equal(unsure.start[~hole], frames[~hole])
    assert np.abs(unsure.start[hole].astype(int) - frames[hole]).mean() < 12
    # a stationary hole that no frame sees behind: nothing trusted, the start is Telea's fill
    frames = np.repeat(frames[:1], len(frames), axis=0)  # a still camera: no frame shows behind it
    still = np.zeros_like(hole)
    still[:, 10:14, 10:14] = True
    guess = apply_prior(frames, still, "hybrid")
    assert np.array_equal(guess.hole, still) and not guess.propagated.any()
    assert guess.start[still].std() > 0 and np.abs(guess.start[still].astype(int) - frames[still]).mean() < 40


def test_sources_map():
    hole = np.zeros((2, 4, 4), bool)
    hole[:, 1:3, 1:3] = True
    taken = np.zeros_like(hole)
    taken[0, 1, 1] = True
    s = sources_map(hole, taken)
    assert s[0, 1, 1] == SOURCE_PROPAGATED and s[0, 2, 2] == SOURCE_MODEL and s[0, 0, 0] == SOURCE_INPUT
    assert (s[1][hole[1]] == SOURCE_MODEL).all()


def test_unknown_mode_is_refused():
    frames, hole = panning_clip(T=3)
    with pytest.raises(ValueError, match="prior mode"):
        apply_prior(frames, hole, "guess")



@pytest.mark.parametrize("mode", ["init", "hybrid"])
def test_frames_that_are_all_hole_do_not_start_from_the_hidden_input(monkeypatch, mode):
    """A frame with no known and no propagated pixel gives Telea nothing to draw from
    (OpenCV returns it unchanged): the start must not be the input the mask hides, or the
    model would hand it back (`vidsched run` on an all-hole mask returned the input). It
    starts from the mean colour the video shows instead, mid-grey when it shows nothing."""
    from types import SimpleNamespace

    import vidsched.propagation

    def finds_nothing(frames, hole, **options):  # propagation that brings nothing in (a scene with no overlap)
        return SimpleNamespace(frames=frames.copy(), filled=np.zeros_like(hole),
                               confidence=np.zeros(hole.shape, np.float32))

    monkeypatch.setattr(vidsched.propagation, "propagate", finds_nothing)
    frames, _ = panning_clip(T=6)
    hole = np.zeros(frames.shape[:3], bool)
    hole[2] = True  # one frame all hole; the others show a mean colour
    hole[3, 10:20, 10:20] = True
    prior = apply_prior(frames, hole, mode)
    assert np.array_equal(prior.start[~hole], frames[~hole])
    blind = prior.start[2].reshape(-1, 3)
    assert (blind == blind[0]).all()  # one flat colour, none of the hidden frame's texture
    assert np.abs(blind[0].astype(int) - frames[~hole].mean(axis=0)).max() <= 1
    assert prior.start[3][hole[3]].std() > 0  # a frame with known pixels still gets Telea's fill
    everything = apply_prior(frames, np.ones(frames.shape[:3], bool), mode)
    assert (everything.start == 128).all()


# ---- the guess is steadied over time ------------------------------------------------------------
def flickering_guess(T=6, H=40, W=56, scene_noise=0.0, seed=0):
    """A textured scene, still or changing by ``scene_noise`` grey levels per frame, a
    still hole, and a guess inside it that alternates between two flat values from frame
    to frame (Telea on a moving border, or copies from other sources, flicker like this)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, (H, W, 3)).astype(np.float32)
    frames = np.stack([np.clip(base + rng.normal(0, scene_noise, base.shape), 0, 255) for _ in range(T)])
    frames = frames.astype(np.uint8)
    hole = np.zeros((T, H, W), bool)
    hole[:, 12:28, 16:40] = True
    guess = frames.copy()
    for t in range(T):
        guess[t][hole[t]] = 100 if t % 2 == 0 else 140
    return frames, hole, guess


def test_steady_averages_a_flickering_guess_on_a_still_scene():
    from vidsched.runtime.prior import steady

    frames, hole, guess = flickering_guess()
    before = guess.copy()
    out = steady(guess, hole)
    assert out is guess
    np.testing.assert_array_equal(out[~hole], before[~hole])  # only hole pixels change
    inner = out[2:4][hole[2:4]].astype(float)  # frames with two neighbours on each side
    assert np.abs(inner - 120).max() <= 10  # (3 x 100 + 2 x 140) / 5 = 116 or 124
    flicker = lambda g: np.abs(np.diff(g[:, 12:28, 16:40].astype(float), axis=0)).mean()  # noqa: E731
    assert flicker(out) < 0.25 * flicker(before)


def test_steady_keeps_each_frames_guess_where_the_scene_changes():
    from vidsched.runtime.prior import steady

    frames, hole, guess = flickering_guess(scene_noise=80.0)
    before = guess.copy()
    out = steady(guess, hole)
    assert np.abs(out.astype(int) - before).max() <= 1


def test_steady_takes_in_what_neighbouring_frames_show_on_a_still_scene():
    """A hole moving over a still scene, guessed badly (black): where the neighbouring
    frames show the pixel, the steadied value moves towards it; frames without a hole and
    known pixels are not touched."""
    from vidsched.runtime.prior import steady

    frames, _, _ = flickering_guess(T=7)
    hole = np.zeros(frames.shape[:3], bool)
    for t in range(1, 7):  # frame 0 has no hole
        hole[t, 10:26, 4 + 6 * t: 20 + 6 * t] = True
    guess = frames.copy()
    guess[hole] = 0
    out = steady(guess.copy(), hole)
    np.testing.assert_array_equal(out[~hole], frames[~hole])
    np.testing.assert_array_equal(out[0], frames[0])
    error = lambda g: np.abs(g[hole].astype(float) - frames[hole]).mean()  # noqa: E731
    assert error(out) < 0.6 * error(guess)


def test_steady_averages_along_the_motion_on_a_panning_camera():
    """A camera panning 3 px per frame, a still hole, and a guess that is the truth plus
    each frame's own noise (copies from other sources): averaging the same point of the
    scene in the neighbouring frames (aligned by flow) takes the noise down; averaging the
    same place would smear the texture, which moves 3 px a frame. Known pixels stay."""
    from vidsched.runtime.prior import steady

    frames, hole = panning_clip(T=8)
    rng = np.random.default_rng(5)
    guess = frames.copy()
    noisy = frames.astype(np.float32) + rng.normal(0, 10, frames.shape)
    guess[hole] = np.clip(np.rint(noisy[hole]), 0, 255).astype(np.uint8)
    out = steady(guess.copy(), hole)
    np.testing.assert_array_equal(out[~hole], frames[~hole])
    error = lambda g: np.abs(g[2:6][hole[2:6]].astype(float) - frames[2:6][hole[2:6]]).mean()  # noqa: E731
    same_place = guess.astype(np.float32)
    same_place[2:6] = np.mean([guess[t - 2:t + 3] for t in range(2, 6)], axis=1)
    assert error(out) < 0.75 * error(guess)  # the noise averaged out
    assert error(out) < 0.6 * error(same_place)  # not smeared across the pan
