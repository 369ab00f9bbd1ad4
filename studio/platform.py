"""Everything that differs between operating systems, in one place: the GL platform, the allocator, /proc and
/dev/video* (Linux). Callers ask here and get a neutral answer elsewhere.

Allocator tuning for the per-frame paths.

Each frame allocates a few multi-megabyte numpy buffers (outputs, kernel scratch). glibc serves blocks above
its mmap threshold with fresh mmap()s, so every frame pays thousands of page faults for them: measured here,
the 1080p CPU render went from 7 ms to 15 ms per frame that way. Keeping large blocks on the heap (and not
trimming it) lets freed buffers be reused without faults."""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import time
from pathlib import Path

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_done = False


def tune_allocator() -> bool:
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024))   # the most glibc accepts on 64-bit
    ok = bool(mallopt(_M_TRIM_THRESHOLD, 512 * 1024 * 1024)) and ok
    ok = bool(mallopt(_M_TOP_PAD, 64 * 1024 * 1024)) and ok
    _done = ok
    return ok


def gl_platform(system: str = sys.platform) -> str | None:
    """The PyOpenGL platform to bind before OpenGL is first imported: EGL on Linux (Qt then uses xcb_egl, so the
    widget and headless renders share one loader); elsewhere None: Qt's own WGL/CGL context drives the widget
    and headless renders use the CPU twin (no libEGL on Windows or macOS)."""
    return "egl" if system.startswith("linux") else None


def bind_gl_platform(system: str = sys.platform) -> str | None:
    plat = gl_platform(system)
    if plat:
        os.environ.setdefault("PYOPENGL_PLATFORM", plat)
    return plat


def device_readers(path: str) -> int:
    """How many other processes hold `path` open (Linux /proc); v4l2loopback clients show up this way.
    Elsewhere 1: a client is assumed (the camera is never released)."""
    if not sys.platform.startswith("linux"):
        return 1
    try:
        target = os.path.realpath(path)
    except OSError:
        return 0
    me = str(os.getpid())
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") == target:
                        n += 1
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return n


def process_age() -> float:
    """Seconds since this process started (Linux /proc), for time-to-first-frame; else since import."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()




def video_devices() -> list[tuple[str, str]]:
    """(device, driver-reported name) for each /dev/video* (Linux); an empty list elsewhere."""
    if not sys.platform.startswith("linux"):
        return []
    return [(d, _v4l2_name(d)) for d in sorted(glob.glob("/dev/video*"))]


def _v4l2_name(dev: str) -> str:
    try:
        return Path(f"/sys/class/video4linux/{Path(dev).name}/name").read_text().strip()
    except OSError:
        return ""


