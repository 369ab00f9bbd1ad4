"""Camera modes: what a V4L2 camera offers (pixel format, size, frame rate), read with the kernel's enumeration
ioctls, and the mode the studio and `vcam` pick from them.

The default is 1280x720 at 30 fps where the camera offers it. At one size and rate a raw format (YUYV, NV12)
is preferred to MJPG: it costs a colour conversion instead of a JPEG decode. Most USB 2 cameras give raw 720p at
only 5 to 10 fps, and then MJPG wins because it reaches the rate. A camera that offers nothing at the asked size
at the asked rate gives its largest mode that reaches the rate without exceeding the asked area (the rate
comes first: 640x480 at 30 rather than 1280x720 at 10) (a 640x480-only camera runs at
640x480; a larger output size is then filled by scaling and centre-cropping, never by stretching).

The ioctl is a parameter so the tests drive the enumeration through a fake driver that speaks the same binary
structures as the kernel (there is no camera on the test machines)."""
from __future__ import annotations

import errno
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from studio import StudioError, printable

VIDIOC_QUERYCAP = 0x80685600
VIDIOC_ENUM_FMT = 0xC0405602
VIDIOC_ENUM_FRAMESIZES = 0xC02C564A
VIDIOC_ENUM_FRAMEINTERVALS = 0xC034564B
BUF_TYPE_VIDEO_CAPTURE = 1
CAP_VIDEO_CAPTURE = 0x00000001
CAP_DEVICE_CAPS = 0x80000000
DISCRETE, CONTINUOUS, STEPWISE = 1, 2, 3

# struct v4l2_capability, v4l2_fmtdesc, v4l2_frmsizeenum, v4l2_frmivalenum (linux/videodev2.h)
CAPABILITY = struct.Struct("<16s32s32sIII12x")       # 104 bytes
FMTDESC = struct.Struct("<III32sII12x")              # 64
FRMSIZE = struct.Struct("<III6I8x")                  # 44
FRMIVAL = struct.Struct("<IIIII6I8x")                # 52

COMPRESSED = {"MJPG", "JPEG", "H264", "HEVC", "VP80", "VP90"}
KNOWN = COMPRESSED | {"YUYV", "UYVY", "NV12", "NV21", "YU12", "YV12", "RGB3", "BGR3", "GREY"}
DECODABLE = {"MJPG", "JPEG", "YUYV", "UYVY", "NV12", "NV21", "YU12", "YV12", "RGB3", "BGR3", "GREY"}  # by OpenCV
# sizes and rates offered from a stepwise or continuous range
COMMON_SIZES = ((640, 360), (640, 480), (800, 600), (960, 540), (1024, 576), (1280, 720), (1280, 960),
                (1600, 900), (1920, 1080), (2560, 1440), (3840, 2160))
COMMON_RATES = (60.0, 30.0, 25.0, 24.0, 15.0, 10.0, 5.0)
DEFAULT_SIZE, DEFAULT_FPS = (1280, 720), 30.0
MAX_MODES = 512          # a driver that never ends its list (or a hostile fake) is cut off here
MAX_CALLS = 4096         # and the ioctls asked of one device in all


@dataclass(frozen=True)
class CameraMode:
    fourcc: str
    width: int
    height: int
    fps: float

    @property
    def compressed(self) -> bool:
        return self.fourcc in COMPRESSED

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def spec(self) -> str:
        return f"{self.width}x{self.height}@{self.fps:g}:{self.fourcc.rstrip()}"

    def label(self) -> str:
        kind = "compressed" if self.compressed else "raw"
        return f"{self.width}x{self.height} · {self.fps:g} fps · {self.fourcc.rstrip()} ({kind})"


def parse_mode(text: str) -> CameraMode:
    """'1280x720@30:MJPG' -> CameraMode; StudioError (one line) otherwise."""
    bad = StudioError(f"camera mode must look like 1280x720@30:MJPG, got {printable(repr(text), 40)}")
    try:
        size, rest = str(text).split("@", 1)
        rate, fourcc = rest.split(":", 1)
        w, h = (int(v) for v in size.lower().split("x"))
        fps = float(rate)
    except ValueError:
        raise bad from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192 and 0.5 <= fps <= 1000 and 1 <= len(fourcc.rstrip()) <= 4
            and fourcc.isascii() and fourcc.isprintable() and " " not in fourcc.rstrip()):
        raise bad
    # V4L2 codes are case-sensitive ('pBAA'), padded with spaces ('Y16 '); the common ones typed in lower case
    # (mjpg, yuyv) are meant in upper case
    fourcc = fourcc.rstrip().ljust(4)
    if fourcc.upper() in KNOWN:
        fourcc = fourcc.upper()
    return CameraMode(fourcc, w, h, round(fps, 2))


def _fourcc(code: int) -> str:
    """The four characters as the driver gives them: 'Y16 ' keeps its space (OpenCV needs all four)."""
    return code.to_bytes(4, "little").decode("ascii", "replace").replace("\0", " ")


class _Budget:
    def __init__(self):
        self.left = MAX_CALLS


def _ask(ioctl, fd: int, request: int, layout: struct.Struct, *fields, budget: _Budget | None = None) -> tuple | None:
    """One enumeration step: None when the driver says the list has ended (EINVAL) or the budget is spent."""
    if budget is not None:
        if budget.left <= 0:
            return None
        budget.left -= 1
    buf = bytearray(layout.pack(*fields))
    try:
        ioctl(fd, request, buf, True)
    except OSError as e:
        if e.errno == errno.EINVAL:
            return None
        raise
    return layout.unpack(buf)


def _fps(num: int, den: int) -> float | None:
    return round(den / num, 2) if num > 0 and den > 0 else None


def _sizes(ioctl, fd: int, code: int, budget: _Budget) -> list[tuple[int, int]]:
    out = []
    for i in range(MAX_MODES):
        r = _ask(ioctl, fd, VIDIOC_ENUM_FRAMESIZES, FRMSIZE, i, code, 0, 0, 0, 0, 0, 0, 0, budget=budget)
        if r is None:
            break
        kind, v = r[2], r[3:]
        if kind == DISCRETE:
            out.append((v[0], v[1]))
            continue
        min_w, max_w, step_w, min_h, max_h, step_h = v
        step_w, step_h = max(step_w, 1), max(step_h, 1)
        out += [(w, h) for w, h in COMMON_SIZES if min_w <= w <= max_w and min_h <= h <= max_h
                and (w - min_w) % step_w == 0 and (h - min_h) % step_h == 0]
        break                       # a range is the only entry
    return out


def _rates(ioctl, fd: int, code: int, w: int, h: int, budget: _Budget) -> list[float]:
    out = []
    for i in range(MAX_MODES):
        r = _ask(ioctl, fd, VIDIOC_ENUM_FRAMEINTERVALS, FRMIVAL, i, code, w, h, 0, 0, 0, 0, 0, 0, 0, budget=budget)
        if r is None:
            break
        kind, v = r[4], r[5:]
        if kind == DISCRETE:
            f = _fps(v[0], v[1])
            if f:
                out.append(f)
            continue
        fast, slow = _fps(v[0], v[1]), _fps(v[2], v[3])   # min interval = highest rate
        if fast and slow:
            out += [f for f in COMMON_RATES if slow <= f <= fast] or [fast]
        break
    return out


def enumerate_modes(fd: int, ioctl=None) -> list[CameraMode]:
    """Every (format, size, rate) the capture device on `fd` offers, in the driver's order."""
    if ioctl is None:
        import fcntl
        ioctl = fcntl.ioctl
    modes: list[CameraMode] = []
    budget = _Budget()
    for i in range(64):
        r = _ask(ioctl, fd, VIDIOC_ENUM_FMT, FMTDESC, i, BUF_TYPE_VIDEO_CAPTURE, 0, b"", 0, 0, budget=budget)
        if r is None:
            break
        code = r[4]
        fourcc = _fourcc(code)
        try:
            sizes = _sizes(ioctl, fd, code, budget)
            rates = {s: _rates(ioctl, fd, code, *s, budget) for s in sizes}
        except OSError:
            continue          # this format cannot be asked further (ENOTTY, EIO): the others still can
        for (w, h), fs in rates.items():
            modes += [CameraMode(fourcc, w, h, f) for f in fs if 0.5 <= f <= 1000]
        if len(modes) >= MAX_MODES:
            break
    return list(dict.fromkeys(modes))[:MAX_MODES]


@dataclass
class CameraInfo:
    device: str
    card: str           # the driver's name for it ("HD Pro Webcam C920")
    bus: str            # where it is plugged ("usb-0000:00:14.0-1"): with card, a key that survives renumbering
    capture: bool       # a video capture node (a UVC camera's second node carries metadata only)

    @property
    def key(self) -> str:
        return f"{self.card} [{self.bus}]" if self.bus else self.card


def _open(device: str | os.PathLike) -> int:
    return os.open(device, os.O_RDWR | os.O_NONBLOCK)


def query_info(device: str | os.PathLike, ioctl=None) -> CameraInfo | None:
    """The driver's card name and whether the node captures video; None when it cannot be asked."""
    if ioctl is None:
        import fcntl
        ioctl = fcntl.ioctl
    try:
        fd = _open(device)
    except OSError:
        return None
    try:
        r = _ask(ioctl, fd, VIDIOC_QUERYCAP, CAPABILITY, b"", b"", b"", 0, 0, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if r is None:
        return None
    caps = r[5] if r[4] & CAP_DEVICE_CAPS else r[4]
    text = [printable(v.split(b"\0", 1)[0].decode("utf-8", "replace"), 60) for v in r[:3]]
    return CameraInfo(str(device), text[1], text[2], bool(caps & CAP_VIDEO_CAPTURE))


def query_modes(device: str | os.PathLike, ioctl=None) -> list[CameraMode]:
    """The modes of a camera device; an empty list when it cannot be opened or asked (busy, no permission)."""
    try:
        fd = _open(device)
    except OSError:
        return []
    try:
        return enumerate_modes(fd, ioctl)
    except OSError:
        return []
    finally:
        os.close(fd)


def choose_mode(modes: list[CameraMode], size: tuple[int, int] | None = None,
                fps: float | None = None) -> CameraMode | None:
    """The mode to open (see the module's docstring); None when the camera listed none."""
    modes = [m for m in modes if m.fourcc.rstrip() in DECODABLE] or modes   # OpenCV cannot show depth (Z16)
    if not modes:
        return None
    w, h = size or DEFAULT_SIZE
    rate = fps or DEFAULT_FPS
    fast = [m for m in modes if m.size == (w, h) and m.fps >= rate - 0.5]
    if fast:   # the slowest that reaches the rate (30 rather than 60: half the work); raw before MJPG
        return min(fast, key=lambda m: (m.fps, m.compressed))
    area = w * h   # otherwise the rate comes before the size: 640x480 at 30 rather than 1280x720 at 10

    def score(m: CameraMode):
        a = m.width * m.height
        return (m.fps >= rate - 0.5, a <= area, a if a <= area else -a,
                m.width * h == m.height * w, not m.compressed, -abs(m.fps - rate))
    return max(modes, key=score)


def summary(modes: list[CameraMode], limit: int = 6) -> str:
    """'MJPG 1920x1080@30 1280x720@30 …; YUYV 640x480@30 …' with the best rate per size, largest first."""
    parts = []
    for fourcc in dict.fromkeys(m.fourcc for m in modes):
        best: dict[tuple[int, int], float] = {}
        for m in modes:
            if m.fourcc == fourcc:
                best[m.size] = max(best.get(m.size, 0.0), m.fps)
        sizes = sorted(best, key=lambda s: -s[0] * s[1])
        shown = " ".join(f"{w}x{h}@{best[(w, h)]:g}" for w, h in sizes[:limit])
        more = f" (+{len(sizes) - limit} more)" if len(sizes) > limit else ""
        parts.append(f"{fourcc.rstrip()} {shown}{more}")
    return "; ".join(parts)


# -- the studio's remembered choice per camera (config_dir()/cameras.json) --------------------------------------
CHOICES_FORMAT = "backdrop-cameras"
MAX_CHOICES_BYTES = 64 * 1024


class ChoicesError(StudioError):
    pass


def load_choices(path: str | os.PathLike) -> dict:
    """{"source": last camera spec or "", "modes": {camera key: mode spec}}; a missing file is empty.
    A broken file raises ChoicesError (one line); entries that are not valid modes are dropped."""
    p = Path(path)
    empty = {"source": "", "modes": {}}
    try:
        if not p.exists():
            return empty
        if not p.is_file():       # a FIFO or a device would block the studio's start
            raise ChoicesError(f"{p.name} is not a regular file")
        if p.stat().st_size > MAX_CHOICES_BYTES:
            raise ChoicesError(f"{p.name} is larger than {MAX_CHOICES_BYTES // 1024} KB")
        doc = json.loads(p.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ChoicesError(f"{p.name} cannot be read: {printable(e, 80)}") from None
    if not isinstance(doc, dict) or doc.get("format") != CHOICES_FORMAT:
        raise ChoicesError(f"{p.name} is not a camera-choices file")
    source = doc.get("source", "")
    modes = doc.get("modes", {})
    out = {"source": source if isinstance(source, str) and source.startswith("camera:") and len(source) < 256
           else "", "modes": {}}
    if isinstance(modes, dict):
        for key, spec in list(modes.items())[-256:]:   # the newest cameras (dicts keep the order written)
            try:
                out["modes"][str(key)[:200]] = parse_mode(spec).spec()
            except StudioError:
                continue
    return out


def save_choices(path: str | os.PathLike, choices: dict) -> None:
    from studio.atomic import write_bytes

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudioError(f"cannot write {printable(p, 120)}: {e.strerror}") from None
    doc = {"format": CHOICES_FORMAT, "version": 1, "source": choices.get("source", ""),
           "modes": dict(choices.get("modes", {}))}
    write_bytes(p, (json.dumps(doc, indent=2) + "\n").encode())
