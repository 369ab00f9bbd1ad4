"""Where things live: package data (shaders, resources, models manifest) and the per-user cache."""
from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """A top-level data folder (shaders, resources, models): inside the wheel, or the checkout's."""
    for candidate in (_PKG / "_data" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found next to {_PKG}")


def cache_dir() -> Path:
    """Per-user cache; BACKDROP_CACHE overrides it."""
    env = os.environ.get("BACKDROP_CACHE")
    if env:
        p = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        p = Path(base) / "backdrop-studio"
    return p


def config_dir() -> Path:
    env = os.environ.get("BACKDROP_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "backdrop-studio"
