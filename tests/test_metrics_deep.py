"""The weight-backed metrics (LPIPS, PVCS, FID, VFID): finding, loading, and invariants.

The real weight files cannot be fetched here, so every test uses seeded random weights
built from our own modules, saved with ``torch.save`` and loaded back through the real
search path (explicit path, environment variable, weights folder, torch hub cache) with
strict key and shape checks. What can be checked without the real files:

* key names and shapes: digests of the sorted ``key:shape`` lists, taken from the
  original code (torchvision 0.12's ``alexnet().features`` and ``Inception3(num_classes=1008,
  aux_logits=False)`` with pytorch-fid's FID blocks, without ``fc``; piergiaj/pytorch-i3d's
  ``InceptionI3d(400)``), and the parameter counts of those networks;
* invariants that hold for any weights: a video against itself scores 0, LPIPS and PVCS
  are symmetric and positive for different videos, identical feature sets are at Frechet
  distance 0;
* a missing file is ``MetricUnavailable`` naming the file and its environment variable; a
  wrong file fails loudly naming the keys.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from vidsched.errors import VidschedError
from vidsched.metrics import i3d, inception, lpips, weights
from vidsched.metrics.weights import WEIGHTS, MetricUnavailable, WeightsFileError, locate_weights

ENV_VARS = [spec.env for spec in WEIGHTS.values()]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No weight file of the real machine is ever found: empty folders, no variables."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VIDSCHED_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "_installed_lpips_weights", lambda: [])
    torch.manual_seed(0)


def _digest(state: dict) -> tuple[str, int]:
    text = "\n".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in sorted(state.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16], len(state)


def _randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Seeded, well-scaled random weights (He init; BN with random affine and running stats)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.01)
            elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Random-weight files in the formats of the originals (with their unused classifier keys)."""
    d = tmp_path_factory.mktemp("random_weights")
    torch.manual_seed(1)
    alex = dict(_randomize(lpips.AlexNetFeatures(), 1).state_dict())
    alex.update({"classifier.1.weight": torch.zeros(4096, 9216), "classifier.1.bias": torch.zeros(4096),
                 "classifier.4.weight": torch.zeros(4096, 4096), "classifier.4.bias": torch.zeros(4096),
                 "classifier.6.weight": torch.zeros(1000, 4096), "classifier.6.bias": torch.zeros(1000)})
    lin = {k: v.abs() for k, v in _randomize(lpips.LinearLayers(), 2).state_dict().items()}  # real ones are >= 0
    inc = dict(_randomize(inception.FIDInceptionV3(), 3).state_dict())
    inc.update({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    i3d_sd = _randomize(i3d.InceptionI3d(), 4).state_dict()
    out = {}
    for name, state in (("lpips_alex", alex), ("lpips_lin", lin), ("fid_inception", inc), ("i3d_rgb", i3d_sd)):
        path = d / WEIGHTS[name].filename
        torch.save(state, path)
        out[name] = path
    return out


@pytest.fixture(scope="module")
def lpips_model(files):
    return lpips.load_lpips(files["lpips_alex"], files["lpips_lin"])


@pytest.fixture(scope="module")
def i3d_model(files):
    return i3d.load_i3d(files["i3d_rgb"])


def _video(t, h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


def _inpainted(video, seed):
    out = video.copy()
    h, w = video.shape[1:3]
    out[:, h // 4: h // 2, w // 4: w // 2] = _video(len(video), h // 2 - h // 4, w // 2 - w // 4, seed)
    return out


# ---- the networks match the originals -------------------------------------------------------------
def test_alexnet_and_lpips_layers_match_the_originals():
    feats = lpips.AlexNetFeatures().state_dict()
    assert _digest(feats) == ("65a1ac453d1bee99", 10)  # torchvision alexnet().features, same keys/shapes
    assert [tuple(feats[f"features.{i}.weight"].shape) for i in (0, 3, 6, 8, 10)] == [
        (64, 3, 11, 11), (192, 64, 5, 5), (384, 192, 3, 3), (256, 384, 3, 3), (256, 256, 3, 3)]
    assert sum(v.numel() for v in feats.values()) == 2_469_696
    lins = lpips.LinearLayers().state_dict()
    assert {k: tuple(v.shape) for k, v in lins.items()} == {
        "lin0.model.1.weight": (1, 64, 1, 1), "lin1.model.1.weight": (1, 192, 1, 1),
        "lin2.model.1.weight": (1, 384, 1, 1), "lin3.model.1.weight": (1, 256, 1, 1),
        "lin4.model.1.weight": (1, 256, 1, 1)}
    scaling = lpips.ScalingLayer()
    assert scaling.shift.flatten().tolist() == pytest.approx([-0.030, -0.088, -0.188])
    assert scaling.scale.flatten().tolist() == pytest.approx([0.458, 0.448, 0.450])
    assert "scaling_layer.shift" not in lpips.LPIPS().state_dict()


def test_fid_inception_and_i3d_match_the_originals():
    inc = inception.FIDInceptionV3()
    state = inc.state_dict()
    assert _digest(state) == ("3b230a8cda9b9faa", 564)  # pytorch-fid's Inception without fc
    assert sum(p.numel() for p in inc.parameters()) == 21_785_568
    assert tuple(state["Conv2d_1a_3x3.conv.weight"].shape) == (32, 3, 3, 3)
    assert tuple(state["Mixed_7c.branch_pool.bn.running_var"].shape) == (192,)
    net = i3d.InceptionI3d()
    state = net.state_dict()
    assert _digest(state) == ("c8b754ab0093cd88", 344)  # piergiaj/pytorch-i3d InceptionI3d(400)
    assert sum(p.numel() for p in net.parameters()) == 12_697_264
    assert tuple(state["Conv3d_1a_7x7.conv3d.weight"].shape) == (64, 3, 7, 7, 7)
    assert tuple(state["logits.conv3d.weight"].shape) == (400, 1024, 1, 1, 1)
    with torch.no_grad():
        out = net.eval()(torch.rand(1, 3, 10, 32, 48), i3d.PVCS_ENDPOINTS)
    # 'SAME' padding: time /2 (conv1) /2 (pool 4a) /2 (pool 5a), space /32, rounding up
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "Conv3d_2c_3x3": (1, 192, 5, 8, 12), "Mixed_3c": (1, 480, 5, 4, 6),
        "Mixed_4f": (1, 832, 3, 2, 3), "Mixed_5c": (1, 1024, 2, 1, 2)}


# ---- where weights are looked for ------------------------------------------------------------------
def test_search_order(monkeypatch, tmp_path):
    spec = WEIGHTS["i3d_rgb"]
    wdir = tmp_path / "weights"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    wdir.mkdir(parents=True)
    hub.mkdir(parents=True)
    in_dir = wdir / spec.filename
    in_dir.write_bytes(b"x")
    explicit = tmp_path / "explicit.pt"
    explicit.write_bytes(b"x")
    from_env = tmp_path / "env.pt"
    from_env.write_bytes(b"x")
    assert locate_weights("i3d_rgb") == in_dir
    monkeypatch.setenv(spec.env, str(from_env))
    assert locate_weights("i3d_rgb") == from_env
    assert locate_weights("i3d_rgb", explicit) == explicit
    # An explicit path or variable that is not a file is an error, never a fall-through.
    with pytest.raises(MetricUnavailable, match="missing.pt"):
        locate_weights("i3d_rgb", tmp_path / "missing.pt")
    monkeypatch.setenv(spec.env, str(tmp_path / "gone.pt"))
    with pytest.raises(MetricUnavailable, match=f"{spec.env}=.*gone.pt is not a file"):
        locate_weights("i3d_rgb")
    # torch hub's checkpoints folder, under the current or the older torchvision name
    monkeypatch.delenv(spec.env)
    (hub / "alexnet-owt-4df8aa71.pth").write_bytes(b"x")
    assert locate_weights("lpips_alex") == hub / "alexnet-owt-4df8aa71.pth"
    (hub / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert locate_weights("fid_inception") == hub / "pt_inception-2015-12-05-6726825d.pth"
    (wdir / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert locate_weights("fid_inception") == wdir / "pt_inception-2015-12-05-6726825d.pth"


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_absent_weights_are_unavailable_with_the_reason(name, monkeypatch, tmp_path):
    called = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: called.append(a))
    spec = WEIGHTS[name]
    with pytest.raises(MetricUnavailable) as info:
        locate_weights(name)
    msg = str(info.value)
    assert isinstance(info.value, VidschedError)
    assert spec.filename in msg and spec.env in msg and str(tmp_path / "weights") in msg
    assert spec.url in msg and "allow_download=True" in msg
    assert not called  # never downloads unasked


def test_loaders_raise_unavailable():
    for load, env in ((lpips.load_lpips, "VIDSCHED_LPIPS_ALEX"),
                      (inception.load_fid_inception, "VIDSCHED_FID_INCEPTION"),
                      (i3d.load_i3d, "VIDSCHED_I3D_RGB")):
        with pytest.raises(MetricUnavailable, match=env):
            load()


def test_download_is_checked(monkeypatch, tmp_path):
    def fake_download(url, dst, hash_prefix=None, progress=True):
        assert url == WEIGHTS["i3d_rgb"].url
        with open(dst, "wb") as f:
            f.write(b"not the I3D weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(MetricUnavailable, match="git blob hash"):
        locate_weights("i3d_rgb", allow_download=True)
    assert not any((tmp_path / "weights").iterdir())  # nothing half-checked left behind

    def offline(url, dst, hash_prefix=None, progress=True):
        assert hash_prefix == "6726825d"
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(MetricUnavailable, match="download from .*pt_inception.* failed.*unreachable"):
        locate_weights("fid_inception", allow_download=True)
    blob = tmp_path / "hello"
    blob.write_bytes(b"hello\n")
    assert weights._git_blob_sha1(blob) == "ce013625030ba8dba906f756967f9e9ca394464a"  # git hash-object


# ---- strict loading --------------------------------------------------------------------------------
def test_loads_through_env_var_and_weights_folder(monkeypatch, tmp_path, files):
    monkeypatch.setenv("VIDSCHED_LPIPS_ALEX", str(files["lpips_alex"]))
    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / WEIGHTS["lpips_lin"].filename).write_bytes(files["lpips_lin"].read_bytes())
    model = lpips.load_lpips()
    saved = torch.load(files["lpips_lin"], weights_only=True)
    assert torch.equal(model.lins.lin2.model[1].weight, saved["lin2.model.1.weight"])
    assert not model.training and not any(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("change", ["missing", "extra", "shape", "nested", "garbage"])
def test_a_wrong_file_fails_loudly(change, tmp_path, files):
    state = dict(torch.load(files["i3d_rgb"], weights_only=True))
    path = tmp_path / "wrong.pt"
    if change == "missing":
        del state["Mixed_4c.b1b.conv3d.weight"]
        expect = r"1 missing key\(s\): Mixed_4c.b1b.conv3d.weight"
    elif change == "extra":
        state["Mixed_6a.b0.conv3d.weight"] = torch.zeros(1)
        expect = r"1 unexpected key\(s\): Mixed_6a.b0.conv3d.weight"
    elif change == "shape":
        state["Mixed_5c.b0.bn.weight"] = torch.zeros(383)
        expect = r"Mixed_5c.b0.bn.weight: file \(383,\) vs network \(384,\)"
    elif change == "nested":
        state = {"state_dict": {"a": torch.zeros(1)}, "epoch": 3}
        expect = "not a state dict of tensors"
    if change == "garbage":
        path.write_bytes(b"this is not a weight file")
        expect = "could not be read"
    else:
        torch.save(state, path)
    with pytest.raises(WeightsFileError, match=expect) as info:
        i3d.load_i3d(path)
    assert str(path) in str(info.value) and isinstance(info.value, MetricUnavailable)


def test_files_without_batchnorm_counters_load(tmp_path, files):
    # Files saved by old PyTorch (pytorch-i3d's, pytorch-fid's) have no num_batches_tracked.
    state = {k: v for k, v in torch.load(files["i3d_rgb"], weights_only=True).items()
             if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pt")
    model = i3d.load_i3d(tmp_path / "old.pt")
    assert torch.equal(model.Mixed_3b.b0.bn.running_mean, state["Mixed_3b.b0.bn.running_mean"])


# ---- invariants ------------------------------------------------------------------------------------
def test_lpips_invariants(lpips_model):
    gt = _video(3, 64, 48, 0)
    comp = _inpainted(gt, 1)
    assert lpips.lpips_video(lpips_model, gt, gt) == 0.0
    d = lpips.lpips_video(lpips_model, gt, comp)
    assert d > 0
    assert lpips.lpips_video(lpips_model, comp, gt) == pytest.approx(d, rel=1e-5)
    per_frame = lpips.lpips_frames(lpips_model, gt, comp, batch_size=2)
    assert per_frame.shape == (3,) and per_frame.dtype == np.float64
    assert d == pytest.approx(per_frame.mean())
    # floats in [0, 1] give the same numbers as uint8
    assert lpips.lpips_video(lpips_model, gt / 255.0, comp / 255.0) == pytest.approx(d, rel=1e-5)
    with pytest.raises(VidschedError, match="differ in shape"):
        lpips.lpips_video(lpips_model, gt, comp[:2])
    with pytest.raises(VidschedError, match=r"floats in \[0, 1\]"):
        lpips.lpips_video(lpips_model, gt * 1.0, comp * 1.0)


def test_pvcs_invariants(i3d_model):
    gt = _video(11, 32, 40, 2)
    comp = _inpainted(gt, 3)
    assert i3d.pvcs_video(i3d_model, gt, gt) == 0.0
    clips = i3d.pvcs_clips(i3d_model, gt, comp, clips_per_batch=1)
    assert clips.shape == (2,) and (clips > 0).all()  # 10-frame clips, stride 1
    assert i3d.pvcs_video(i3d_model, gt, comp) == pytest.approx(clips.mean(), rel=1e-4)  # batched clips
    assert i3d.pvcs_video(i3d_model, comp, gt) == pytest.approx(clips.mean(), rel=1e-4)
    # each layer term is at most 4 (unit vectors), so PVCS is at most 16
    assert clips.max() <= 16
    # a video under 10 frames is one clip padded with its last frame
    short = i3d.pvcs_clips(i3d_model, gt[:4], comp[:4])
    padded = np.concatenate([gt[:4], np.repeat(gt[3:4], 6, axis=0)])
    padded_comp = np.concatenate([comp[:4], np.repeat(comp[3:4], 6, axis=0)])
    assert short.shape == (1,)
    assert short[0] == pytest.approx(i3d.pvcs_clips(i3d_model, padded, padded_comp)[0], rel=1e-6)


def test_vfid_features(i3d_model):
    video = _video(6, 32, 32, 4)
    feat = i3d.i3d_features(i3d_model, video)
    assert feat.shape == (1024,) and feat.dtype == np.float64 and np.isfinite(feat).all()
    assert (feat >= 0).all()  # the mean of ReLU outputs
    assert not np.allclose(feat, i3d.i3d_features(i3d_model, video, symmetric_input=True))


def test_inception_features_and_frechet(files):
    model = inception.load_fid_inception(files["fid_inception"])
    frames = _video(3, 40, 56, 5)
    frames[2] = frames[0]
    feats = inception.inception_features(model, frames, batch_size=2)
    assert feats.shape == (3, 2048) and feats.dtype == np.float64 and np.isfinite(feats).all()
    assert np.allclose(feats[0], feats[2], rtol=1e-5, atol=1e-6)
    assert np.allclose(inception.inception_features(model, frames[:1] / 255.0), feats[:1], rtol=1e-5, atol=1e-6)
    frechet = pytest.importorskip("vidsched.metrics.frechet")
    sub = feats[:, :64]
    assert frechet.frechet_distance(sub, sub) == pytest.approx(0.0, abs=1e-6 * float(np.abs(sub).max()) ** 2)
