"""experiments/aggregate.py: several real_clips runs combined (means, spread, win counts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from script_loader import load_script


@pytest.fixture(scope="module")
def aggregate():
    yield load_script("experiments/aggregate.py")
    sys.modules.pop("aggregate", None)


METHODS = ["telea", "model/auto"]


def run_payload(mask_seed: int, psnr: dict[str, dict[str, float]]) -> dict:
    """A real_clips-shaped payload: psnr[clip][method] for one mask kind ("logo")."""
    def metrics(v):
        return {"hole_psnr": v, "ssim": 0.9, "e_warp": 1e-4, "sharpness": None, "seconds": 1.0,
                "network_evaluations": 0, "known_exact": True}

    return {"command": "python experiments/real_clips.py --mask-seed X", "machine": {"cpu": "test"},
            "load_avg": 0.0, "frames": 8, "seed": 0, "mask_seed": mask_seed, "methods": METHODS,
            "clips": [{"name": c} for c in psnr],
            "results": {"logo": {c: {"methods": {m: metrics(v) for m, v in row.items()}} for c, row in psnr.items()}}}


def write_runs(tmp_path: Path, payloads: list[dict]) -> list[Path]:
    paths = []
    for i, p in enumerate(payloads):
        path = tmp_path / f"run{i}.json"
        path.write_text(json.dumps(p))
        paths.append(path)
    return paths


def test_means_spread_and_wins(aggregate, tmp_path, capsys) -> None:
    runs = [run_payload(0, {"a": {"telea": 20.0, "model/auto": 21.0}, "b": {"telea": 30.0, "model/auto": 29.0}}),
            run_payload(1, {"a": {"telea": 22.0, "model/auto": 21.0}, "b": {"telea": 30.0, "model/auto": 32.0}}),
            run_payload(2, {"a": {"telea": 24.0, "model/auto": 27.0}, "b": {"telea": 30.0, "model/auto": 29.0}})]
    paths = write_runs(tmp_path, runs)
    assert aggregate.main([*map(str, paths), "--name", "agg"]) == 0
    payload = json.loads((tmp_path / "agg.json").read_text())
    logo = payload["results"]["logo"]
    a = logo["per_clip"]["a"]
    assert a["telea"]["hole_psnr"] == pytest.approx(22.0)
    assert a["telea"]["hole_psnr_std"] == pytest.approx(2.0)  # sample standard deviation
    assert a["model/auto"]["hole_psnr"] == pytest.approx(23.0)
    assert a["model/auto"]["hole_psnr_runs"] == [21.0, 21.0, 27.0]
    assert logo["per_clip"]["b"]["model/auto"]["hole_psnr"] == pytest.approx(30.0)
    assert logo["mean"]["model/auto"]["hole_psnr"] == pytest.approx(26.5)
    assert logo["mean"]["telea"]["hole_psnr"] == pytest.approx(26.0)
    assert logo["per_clip"]["a"]["telea"]["sharpness"] is None  # no value in any run
    wins = logo["wins"]["model/auto vs telea"]
    # clip a: ahead on runs 0 and 2; clip b: ahead on run 1 only; a tie would not count
    assert wins["per_clip"] == {"a": 2, "b": 1} and wins["ahead"] == 3 and wins["of"] == 6
    assert wins["clips_ahead_on_mean"] == 1  # a: 23 > 22; b: 30 == 30 is not ahead
    assert list(logo["wins"]) == ["model/auto vs telea"]  # baselines are not compared with each other
    md = (tmp_path / "agg.md").read_text()
    assert "| a | 22.00 ± 2.00 | 23.00 ± 3.46 |" in md
    assert "| model/auto vs telea | 2/3 | 1/3 | 3/6 | 1/2 |" in md
    assert "mask_seed" in md
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["hole_psnr"]["logo"]["model/auto"] == pytest.approx(26.5)


def test_runs_that_do_not_match_are_refused(aggregate, tmp_path) -> None:
    one = run_payload(0, {"a": {"telea": 20.0, "model/auto": 21.0}})
    other_clip = run_payload(1, {"z": {"telea": 20.0, "model/auto": 21.0}})
    with pytest.raises(SystemExit, match="clips differ"):
        aggregate.main([*map(str, write_runs(tmp_path, [one, other_clip])), "--name", "x"])
    other_methods = run_payload(1, {"a": {"telea": 20.0, "model/auto": 21.0}})
    other_methods["methods"] = ["telea"]
    with pytest.raises(SystemExit, match="methods differ"):
        aggregate.main([*map(str, write_runs(tmp_path, [one, other_methods])), "--name", "x"])
    with pytest.raises(SystemExit):
        aggregate.main([str(write_runs(tmp_path, [one])[0]), "--name", "x"])  # one run is not an aggregate
    assert not (tmp_path / "x.json").exists()
