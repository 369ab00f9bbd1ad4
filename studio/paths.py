"""Where things live: package data (shaders, resources, models manifest) and the per-user cache."""
from __future__ import annotations

import os
import stat
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


class NotRegularFile(OSError):
    """A path the program reads as a file names a FIFO, a device or a folder."""


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """Up to limit + 1 bytes of a regular file (more than `limit` read: the caller says it is too large). The
    file is opened without blocking and checked after opening, so a FIFO or a device put in its place (even
    between a check and the read) raises NotRegularFile instead of hanging or reading without end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(f"{os.fsdecode(path)} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            return f.read(limit + 1)
    finally:
        if fd >= 0:
            os.close(fd)
