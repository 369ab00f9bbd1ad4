"""The wheel carries shaders, resources and the models manifest, and runs from site-packages outside the checkout.

The wheel is installed into a fresh virtual environment whose only extra path is the test environment's
site-packages (for the heavy dependencies, already installed there); the project itself comes from the wheel."""
import json
import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (w,) = out.glob("backdrop_studio-*.whl")
    return w


@pytest.fixture(scope="module")
def fresh_env(wheel, tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=300)
    py = env_dir / "bin" / "python"
    purelib = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                           text=True).strip())
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (purelib / "zz_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return env_dir


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for must in ("studio/_data/shaders/composite.frag", "studio/_data/shaders/common.glsl",
                 "studio/_data/models/manifest.json", "studio/_data/resources/icons/backdrop.svg",
                 "studio/cli/__init__.py", "studio/render/gl.py", "studio/output/__init__.py",
                 "ui/main_window.py"):
        assert must in names, must
    assert not [n for n in names if n.endswith(".tflite")]


def _run(env_dir, *args, cwd):
    env = {**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(env_dir / "bin" / "backdrop"), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_installed_app_runs_outside_the_checkout(fresh_env, tmp_path, data_dir):
    py = fresh_env / "bin" / "python"
    where = subprocess.check_output([str(py), "-c", "import studio, studio.paths as p; "
                                     "print(studio.__file__); print(p.data_dir('shaders'))"],
                                    text=True, cwd=tmp_path).split()
    assert all(str(fresh_env) in w for w in where), where
    r = _run(fresh_env, "--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("backdrop ")
    r = _run(fresh_env, "models", "fetch", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(fresh_env, "bench", "--source", "demo", "--frames", "20", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["fps"] > 0
    img = data_dir / "stock-people/images/doctor-5871743_640.jpg"
    r = _run(fresh_env, "render", "--renderer", "gl", str(img), "-o", "x.png", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "x.png").stat().st_size > 1000, r.stderr


def test_installed_window_starts(fresh_env, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.fail("needs a display (xvfb-run)")
    env_cfg = tmp_path / "cfg"
    os.environ["BACKDROP_CONFIG"] = str(env_cfg)
    try:
        r = _run(fresh_env, "studio", "--source", "demo", "--frames", "10", "--screenshot", "s.png", cwd=tmp_path)
    finally:
        os.environ.pop("BACKDROP_CONFIG")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["frames"] == 10
    assert (tmp_path / "s.png").stat().st_size > 10000
