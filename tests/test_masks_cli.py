"""`vidsched masks` and masks_io.write_mask: every output format reads back through
masks_io.load_mask (what `vidsched run --mask` uses), seeds reproduce, --stationary
stands still (logos always do), bad options fail cleanly and write nothing, and no torch
is imported; also rectangular frames in the generator, and its masks pinned by a digest."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from vidsched.cli import main
from vidsched.errors import MaskError
from vidsched.masks_io import load_mask, mask_output_kind, write_mask
from vidsched.training.masks import MASK_TYPES, STATIONARY_TYPES, generate_mask, random_mask

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "vtest_heldout.mp4"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def flat(text: str) -> str:
    """Typer's usage errors come in a box, wrapped: join them back into one line."""
    return " ".join(text.replace("│", " ").replace("╭", " ").replace("╰", " ").split())


def env_for_subprocess() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---- every format reads back ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mask.npy", "frames", "frames_slash/", "mask.mp4", "mask.avi", "mask.mov", "mask.mkv"])
@pytest.mark.parametrize("kind", MASK_TYPES)
def test_each_format_reads_back_as_the_generated_mask(capsys, tmp_path, name, kind):
    out = tmp_path / name if not name.endswith("/") else str(tmp_path / name)
    code, stdout, err = run_cli(capsys, "masks", "--type", kind, "--frames", 12, "--height", 36, "--width", 64,
                                "--seed", 7, "-o", out)
    assert code == 0, err
    expected = generate_mask(kind, 12, (36, 64), moving=True, seed=7)
    hole = load_mask(out)
    assert hole.shape == (12, 36, 64) and hole.dtype == bool
    assert np.array_equal(hole, expected)  # the video codecs too: load_mask thresholds at 127
    motion = "stationary" if kind in STATIONARY_TYPES else "moving"
    assert stdout.startswith("wrote ") and f"{motion} {kind} mask, 64x36, 12 frames, hole " in stdout
    assert f"{100 * expected.mean():.1f}% of pixels (seed 7)" in stdout
    assert not [p for p in files_in(tmp_path) if ".partial" in p or p.endswith(".tmp")], "temporary files left"


def test_npy_is_a_bool_array(capsys, tmp_path):
    code, _, err = run_cli(capsys, "masks", "--type", "box", "--frames", 5, "--size", 32, "-o", tmp_path / "m.npy")
    assert code == 0, err
    data = np.load(tmp_path / "m.npy", allow_pickle=False)
    assert data.dtype == bool and data.shape == (5, 32, 32)
    assert np.array_equal(data, generate_mask("box", 5, 32, seed=0))


def test_folder_holds_white_on_black_pngs(capsys, tmp_path):
    from PIL import Image

    code, _, err = run_cli(capsys, "masks", "--frames", 3, "--size", 16, "-o", tmp_path / "holes")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "holes").iterdir())
    assert names == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    pixels = np.asarray(Image.open(tmp_path / "holes" / names[0]).convert("L"))
    assert set(np.unique(pixels)) <= {0, 255}
    assert np.array_equal(pixels == 255, generate_mask("blob", 3, 16, seed=0)[0])


def test_stationary_png_is_one_image_for_every_frame(capsys, tmp_path):
    out = tmp_path / "hole.png"
    code, stdout, err = run_cli(capsys, "masks", "--type", "grid", "--stationary", "--frames", 9, "--size", 24, "-o", out)
    assert code == 0, err
    assert "stationary grid mask, 24x24, one image for every frame" in stdout
    expected = generate_mask("grid", 9, 24, moving=False, seed=0)
    assert np.array_equal(load_mask(out, num_frames=9), expected)


def test_defaults(capsys, tmp_path):
    code, stdout, err = run_cli(capsys, "masks", "-o", tmp_path / "m.npy")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "m.npy"), generate_mask("blob", 16, 64, moving=True, seed=0))
    assert "moving blob mask, 64x64, 16 frames" in stdout


def test_mask_fits_the_example_video(capsys, tmp_path):
    """What `vidsched run examples/vtest_heldout.mp4 --mask mask.npy` checks before it runs."""
    if not EXAMPLE.exists():
        pytest.skip("the example clip is not in this checkout")
    from vidsched.geometry import check_mask
    from vidsched.videoio import read_video

    video = read_video(EXAMPLE)
    out = tmp_path / "mask.npy"
    code, _, err = run_cli(capsys, "masks", "--type", "lines", "--frames", video.num_frames,
                           "--height", video.height, "--width", video.width, "-o", out)
    assert code == 0, err
    hole = check_mask(load_mask(out), video)
    assert hole.shape == (video.num_frames, video.height, video.width) and hole.any()


# ---- seeds, moving and stationary ---------------------------------------------------------------
def _cli_mask(capsys, tmp_path: Path, *args) -> np.ndarray:
    out = tmp_path / f"m{len(list(tmp_path.iterdir()))}.npy"
    code, _, err = run_cli(capsys, "masks", "--frames", 12, "--size", 32, *args, "-o", out)
    assert code == 0, err
    return np.load(out)


@pytest.mark.parametrize("kind", MASK_TYPES)
def test_seed_reproduces_the_mask(capsys, tmp_path, kind):
    a = _cli_mask(capsys, tmp_path, "--type", kind, "--seed", 4)
    b = _cli_mask(capsys, tmp_path, "--type", kind, "--seed", 4)
    c = _cli_mask(capsys, tmp_path, "--type", kind, "--seed", 5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind", MASK_TYPES)
def test_stationary_frames_are_identical_and_moving_ones_are_not(capsys, tmp_path, kind):
    still = _cli_mask(capsys, tmp_path, "--type", kind, "--stationary", "--seed", 4)
    moving = _cli_mask(capsys, tmp_path, "--type", kind, "--moving", "--seed", 4)
    assert still.any() and all(np.array_equal(still[0], f) for f in still)
    assert any(not np.array_equal(moving[0], f) for f in moving) == (kind not in STATIONARY_TYPES)


def test_rewriting_replaces_the_earlier_output(capsys, tmp_path):
    out = tmp_path / "m.npy"
    _ = run_cli(capsys, "masks", "--seed", 1, "--size", 16, "-o", out)
    code, _, err = run_cli(capsys, "masks", "--seed", 2, "--size", 16, "-o", out)
    assert code == 0, err
    assert np.array_equal(np.load(out), generate_mask("blob", 16, 16, seed=2))
    assert files_in(tmp_path) == ["m.npy"]


# ---- bad options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--type", "star"], 2, "'star'"),
        (["--frames", "0"], 2, "--frames"),
        (["--size", "3"], 2, "--size"),
        (["--width", "2"], 2, "--width"),
        (["-o", "{tmp}/mask.txt"], 2, "unknown mask format '.txt'"),
        (["-o", "{tmp}/mask.gif"], 2, "unknown mask format '.gif'"),
        (["-o", "{tmp}/hole.png"], 2, "add --stationary"),
        (["--size", "33", "-o", "{tmp}/mask.mp4"], 1, "video codecs need an even width and height"),
        (["-o", "{tmp}/busy"], 1, "refusing to replace the folder"),
    ],
)
def test_bad_options_fail_cleanly_and_write_nothing(capsys, tmp_path, args, code, message):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    before = files_in(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "mask.npy")]
    got, out, err = run_cli(capsys, "masks", *args)
    assert got == code, err
    assert message in flat(err)
    assert "Traceback" not in err and out == ""
    assert files_in(tmp_path) == before
    if code == 1:
        assert err.startswith("error: ")


def test_missing_output_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "masks")
    assert code == 2 and "--output" in flat(err)


def test_help_lists_the_options(capsys):
    code, out, _ = run_cli(capsys, "masks", "--help")
    assert code == 0
    for option in ("--type", "--moving", "--stationary", "--frames", "--size", "--height", "--width", "--seed", "--output"):
        assert option in out


# ---- no torch --------------------------------------------------------------------------------------
def test_masks_command_never_imports_torch(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys
        from vidsched.cli import main
        codes = [main(["masks", "--type", t, "--frames", "4", "--size", "16", "-o", {str(tmp_path)!r} + "/" + t + ext])
                 for t, ext in (("grid", ".npy"), ("lines", ".mp4"), ("box", ""), ("blob", ".avi"),
                                ("object", ".npy"), ("logo", ".npy"))]
        codes.append(main(["masks", "--stationary", "--size", "16", "-o", {str(tmp_path / "one.png")!r}]))
        print("CODES", codes)
        print("TORCH", sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env_for_subprocess(), timeout=300)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("CODES", "TORCH")))
    assert lines["CODES"] == "[0, 0, 0, 0, 0, 0, 0]", result.stderr
    assert lines["TORCH"] == "[]"


# ---- write_mask as a library function ---------------------------------------------------------------
def test_write_mask_round_trips_any_bool_mask(tmp_path):
    rng = np.random.default_rng(0)
    mask = rng.random((5, 10, 14)) < 0.3
    for name in ("a.npy", "folder", "v.avi"):
        write_mask(tmp_path / name, mask)
        assert np.array_equal(load_mask(tmp_path / name), mask), name


@pytest.mark.parametrize("bad", [np.zeros((4, 4), bool), np.zeros((0, 4, 4), bool), np.zeros((2, 4, 4, 3), bool)])
def test_write_mask_needs_t_h_w(tmp_path, bad):
    with pytest.raises(MaskError, match="T x H x W"):
        write_mask(tmp_path / "m.npy", bad)
    assert files_in(tmp_path) == []


def test_mask_output_kind():
    assert [mask_output_kind(p) for p in ("m.npy", "M.NPY", "x.png", "v.mp4", "v.AVI", "dir", "dir.d/")] == [
        "npy", "npy", "image", "video", "video", "folder", "folder"]
    with pytest.raises(MaskError, match="unknown mask format"):
        mask_output_kind("m.jpg")


# ---- the generator: rectangular frames, masks pinned -------------------------------------------------
@pytest.mark.parametrize("kind", MASK_TYPES)
@pytest.mark.parametrize("moving", [False, True])
@pytest.mark.parametrize("hw", [(36, 64), (64, 20)])
def test_rectangular_masks(kind, moving, hw):
    a = generate_mask(kind, 10, hw, moving=moving, seed=3)
    assert a.shape == (10, *hw) and a.dtype == bool and a.any() and not a.all()
    assert np.array_equal(a, generate_mask(kind, 10, hw, moving=moving, seed=3))
    assert all(np.array_equal(a[0], f) for f in a) == (not moving or kind in STATIONARY_TYPES)


@pytest.mark.parametrize("kind", MASK_TYPES)
def test_square_size_as_int_or_pair(kind):
    assert np.array_equal(generate_mask(kind, 6, 32, seed=9), generate_mask(kind, 6, (32, 32), seed=9))


def test_masks_for_a_seed_are_pinned():
    """The trainer's masks and the benchmark's test sets come from these seeds: a change to
    the generator must be deliberate. (Digest taken from the generator whose moving boxes,
    blobs and objects stay in view; update it only when changing the masks on purpose.)"""
    h = hashlib.sha256()
    for kind in MASK_TYPES:
        for moving in (False, True):
            h.update(np.packbits(generate_mask(kind, 8, 32, moving=moving, seed=11)).tobytes())
    rng = np.random.default_rng(5)
    for _ in range(10):
        h.update(np.packbits(random_mask(6, 64, rng)).tobytes())
    assert h.hexdigest() == "cd939b4cfa4b7b83d2187436b2221f7dde8cd22c0faa3023517667c17267a998"


def test_cli_types_are_the_generators():
    from vidsched.cli import MaskType

    assert tuple(t.value for t in MaskType) == MASK_TYPES


def test_logos_are_stationary_and_may_be_one_png(capsys, tmp_path):
    """A logo never moves: the summary says so and a .png is accepted without --stationary."""
    code, stdout, err = run_cli(capsys, "masks", "--type", "logo", "--frames", 5, "--width", 160, "--height", 96,
                                "-o", tmp_path / "logo.png")
    assert code == 0, err
    assert "stationary logo mask" in stdout
