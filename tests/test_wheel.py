"""The wheel is complete: built, installed into a fresh venv, it runs outside the checkout.

The grammar (``vidsched.grammar``) and the built-in schemes (``vidsched.schemes``) are
package data; a wheel that forgot them would still pass every other test, because in a
checkout the code falls back to ``grammar/`` and ``schemes/`` beside the package.

Offline: the wheel is built with ``--no-isolation`` (setuptools from this environment) from a copy of the source tree (so the checkout gets no ``build/``), and
installed with ``--no-deps --no-index`` into a fresh venv whose ``.pth`` file appends the
site-packages folders of the interpreter running the tests, so lark, pydantic, typer, ...
come from this environment however it was made. (``--system-site-packages`` would not
do: inside a user's venv it shows the *base* interpreter's packages, not the venv's.)
Folders appended by a ``.pth`` line are not scanned for ``.pth`` files themselves, so an
editable install of the checkout in this environment (``pip install -e .``) installs no
import hook in the venv; the test checks with ``vidsched.__file__`` that the wheel's copy
is the one imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

# Never copied into the build tree: VCS data, build outputs, caches, virtual envs.
_SKIP_NAMES = {".git", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", ".venv", "venv", "out"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_NAMES or n.endswith((".egg-info", ".pyc"))}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    """(venv python, venv bin dir, a working directory outside the checkout, the source copy)."""
    # Looked up, not imported: importing setuptools would change sys.path for other tests.
    if importlib.util.find_spec("build") is None:
        pytest.skip("building the wheel needs the build package (the [test] extra)")
    try:
        setuptools_version = metadata.version("setuptools")
    except metadata.PackageNotFoundError:
        pytest.skip("building the wheel offline (--no-isolation) needs setuptools in this environment")
    # setuptools >= 70.1 has its own bdist_wheel; older ones need the wheel package.
    # (Hence --skip-dependency-check below: pyproject's build-system lists "wheel",
    # which recent setuptools no longer needs and which may not be installed.)
    if _version(setuptools_version) < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip(f"setuptools {setuptools_version} needs the wheel package to build a wheel offline")

    root = tmp_path_factory.mktemp("wheel")
    src, dist, env_dir, work = root / "src", root / "dist", root / "venv", root / "work"
    work.mkdir()
    shutil.copytree(REPO, src, ignore=_ignore)

    env = _clean_env()
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--skip-dependency-check", "--outdir", str(dist), str(src)], root, env)
    wheels = sorted(dist.glob("vidsched-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"

    # No pip in the venv (ensurepip is slow): the venv's python runs this
    # environment's pip through the appended site-packages and installs into the venv.
    venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=(os.name != "nt")).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / ("python.exe" if os.name == "nt" else "python")
    venv_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work, env).stdout.strip())
    (venv_site / "_vidsched_test_parent.pth").write_text("\n".join(_parent_site_packages()) + "\n")
    _run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "--no-compile", str(wheels[0])],
        work,
        env,
    )
    return py, bin_dir, work, src


def _parent_site_packages() -> list[str]:
    """The site-packages folders of the interpreter running the tests (its venv's, if any)."""
    import site
    import sysconfig

    folders = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    return list(dict.fromkeys(f for f in folders if Path(f).is_dir()))


def _venv_env(bin_dir: Path) -> dict[str, str]:
    return _clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(bin_dir.parent))


def test_wheel_contains_package_data(wheel_venv):
    py, bin_dir, work, _ = wheel_venv
    code = (
        "import json, vidsched\n"
        "from importlib import resources\n"
        "print(json.dumps({'file': vidsched.__file__,\n"
        "  'grammar': resources.files('vidsched.grammar').joinpath('scheme.lark').is_file(),\n"
        "  'schemes': sorted(p.name for p in resources.files('vidsched.schemes').iterdir())}))\n"
    )
    out = json.loads(_run([str(py), "-c", code], work, _venv_env(bin_dir)).stdout)
    installed = Path(out["file"]).resolve()
    venv_root = bin_dir.parent.resolve()
    assert venv_root in installed.parents, f"vidsched imported from {installed}, not from the venv {venv_root}"
    assert REPO not in installed.parents, f"vidsched imported from the checkout: {installed}"
    assert out["grammar"], "scheme.lark is not in the wheel (vidsched.grammar)"
    assert "ar.sched" in out["schemes"], f"built-in schemes missing from the wheel: {out['schemes']}"


def test_installed_cli_lists_and_compiles_schemes(wheel_venv):
    py, bin_dir, work, src = wheel_venv
    env = _venv_env(bin_dir)
    exe = bin_dir / ("vidsched.exe" if os.name == "nt" else "vidsched")
    assert exe.exists(), "the wheel did not install the vidsched console script"

    listed = _run([str(exe), "schemes"], work, env).stdout
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    assert "ar" in names, listed
    # Every shipped scheme (sub-folders included) made it into the wheel.
    schemes_dir = src / "schemes"
    shipped = sorted(
        p.relative_to(schemes_dir).with_suffix("").as_posix()
        for p in schemes_dir.rglob("*.sched")
        if not any(part.startswith(("_", ".")) for part in p.relative_to(schemes_dir).parts[:-1])
    )
    assert sorted(names) == shipped, f"installed: {sorted(names)}\nin the checkout: {shipped}"

    plan = json.loads(_run([str(exe), "compile", "ar", "--set", "T=50", "--json"], work, env).stdout)
    assert plan["stages"], plan
    # improved_ar_2res imports std.improved_ar: the library (vidsched/lang/std) is in the wheel.
    imported = json.loads(_run([str(exe), "compile", "improved_ar_2res", "--set", "T=50", "--json"], work, env).stdout)
    assert {f for st in imported["stages"] for f in st["generate"]} == set(range(50)), imported
    covered = set()
    for stage in plan["stages"]:
        covered.update(stage["generate"])
    assert covered == set(range(50)), "the plan for ar at T=50 does not generate every frame"
