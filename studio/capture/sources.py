"""Frame sources: camera, video file, still image, and the embedded demo. Frames are BGR uint8."""
from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from studio import MAX_PIXELS, MAX_SIDE, StudioError, opencv_path, printable
from studio.capture.modes import CameraMode, choose_mode, query_info, query_modes
from studio.imageops import fit_cover
from studio.platform import video_devices

VIDEO_EXT = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".y4m", ".mpg", ".mpeg", ".ogv"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


class SourceError(StudioError):
    """A source failed to open or stopped delivering frames. Callers may reopen it later."""


class FrameSource:
    live = False     # live sources drop stale frames; file sources deliver every frame
    clocked = False  # the device sets the frame rate (a camera); others are paced by the pipeline
    fps: float = 30.0
    name = "source"

    def read(self) -> np.ndarray:
        """Return the next frame (BGR uint8) or raise SourceError. EOF of a non-looping file raises EOFError."""
        raise NotImplementedError

    @property
    def size(self) -> tuple[int, int]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _fit(frame: np.ndarray, size: tuple[int, int] | None, grow: bool = True) -> np.ndarray:
    """Scale to cover `size` and centre-crop: another aspect ratio is cropped, never stretched. grow=False: a
    smaller frame is only cropped (the live pipeline's sink scales it up last)."""
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return fit_cover(frame, *size, grow=grow)


class CameraSource(FrameSource):
    """A V4L2 (or, elsewhere, the OS's) camera opened in one mode: `mode` when given, else the one choose_mode
    picks from what the camera lists for the asked size and rate (1280x720 at 30 by default). Frames are decoded
    once, by OpenCV, from the camera's own format."""
    live = True
    clocked = True

    def __init__(self, device: str | int, size: tuple[int, int] | None = None, fps: float | None = None,
                 mode: CameraMode | None = None):
        self.name = f"camera:{printable(device, 80)}"
        if isinstance(device, str) and device.isascii() and device.isdigit():
            if len(device) > 4:
                raise SourceError(f"no camera number {printable(device, 40)}: use camera:0, camera:1, ...")
            device = int(device)
        try:
            if isinstance(device, str):
                opencv_path(device)
            if isinstance(device, str) and not os.path.exists(device):
                raise SourceError(f"camera {printable(device, 120)} does not exist")
            path = f"/dev/video{device}" if isinstance(device, int) else device
            self.modes = query_modes(path) if os.name == "posix" else []
            self.mode = mode or choose_mode(self.modes, size, fps)
            cap = cv2.VideoCapture(device, cv2.CAP_V4L2) if os.name == "posix" else cv2.VideoCapture(device)
        except (cv2.error, OverflowError, ValueError) as e:
            raise SourceError(f"cannot open camera {printable(device, 120)}: {printable(e, 80)}") from None
        if not cap.isOpened():
            raise SourceError(f"cannot open camera {device} (is it connected and not in use?)")
        m = self.mode
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*(m.fourcc if m else "MJPG")))
        want_size, want_fps = (m.size, m.fps) if m else (size, fps)
        if want_size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, want_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, want_size[1])
        if want_fps:
            cap.set(cv2.CAP_PROP_FPS, want_fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._cap = cap
        self.fps = cap.get(cv2.CAP_PROP_FPS) or want_fps or 30.0
        self._size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        code = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
        got = code.to_bytes(4, "little").decode("ascii", "replace").strip() if code else (m.fourcc if m else "?")
        self.name += f" {self._size[0]}x{self._size[1]} {self.fps:g} fps {got}"

    @property
    def size(self):
        return self._size

    def read(self):
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"{self.name} stopped delivering frames")
        return frame

    def close(self):
        self._cap.release()


# The rates a file's header may give and be kept: what every writer of ours opens with and writes every frame
# of (.mp4 refuses 65536 and 1/1000 frames a second, .mkv miscounts frames from 2000 and .avi from 1001, both
# refuse 1/1000), to a thousandth of a frame a second as they all store it; 1000 is also a camera mode's top
# rate. A phone's 960 fps slow motion keeps its rate; 1000000:1 is read at 30.
FILE_FPS_RANGE = (0.002, 1000.0)


def file_rate(rate: float, path) -> tuple[float, str | None]:
    """A file's frame rate as used (pacing, the rate a render writes) and a note when the header's was set
    aside: none (0), or one no encoder takes (a million frames a second made the .mp4 encoder fail to open,
    one frame in 1000 seconds both encoders)."""
    if not math.isfinite(rate) or rate <= 0:
        return 30.0, None    # no rate in the header: as OpenCV's own guess when it has none
    if not FILE_FPS_RANGE[0] <= rate <= FILE_FPS_RANGE[1]:
        return 30.0, f"{printable(path, 120)} says {rate:.10g} frames a second; read at 30"
    return rate, None


class VideoSource(FrameSource):
    def __init__(self, path: str, loop: bool = False, size: tuple[int, int] | None = None,
                 decode_threads: int = 0, grow: bool = True):
        """decode_threads: FFmpeg's decoding threads (0: its default, one per core). A live pipeline paced at
        the camera's rate passes 1: the worker threads cost 0.3 ms of CPU per 720p frame more than they save.
        grow=False: frames smaller than `size` are only cropped to its aspect (see _fit)."""
        self.name = str(path)
        try:
            found = Path(path).is_file()
        except (OSError, ValueError):   # a name too long, a NUL byte
            found = False
        if not found:
            raise SourceError(f"video file not found: {printable(path, 120)}")
        try:
            self._path = opencv_path(path)
        except StudioError as e:
            raise SourceError(str(e)) from None
        self._threads = decode_threads
        self._loop = loop
        self._want = size
        self._grow = grow
        self._cap = self._open_capture()
        ok, first = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok:
            raise SourceError(f"cannot decode video {path}")
        self._pending = first
        self._decoded = 1            # frames decoded since the file was (re)opened
        self.warning: str | None = None   # the file decodes fewer frames than its header lists (cut short)
        self.fps, self.rate_note = file_rate(self._cap.get(cv2.CAP_PROP_FPS), path)
        n = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = n if n > 0 else None
        fitted = _fit(first, size, grow)
        self._size = (fitted.shape[1], fitted.shape[0])

    def _open_capture(self):
        if self._threads:
            return cv2.VideoCapture(self._path, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, self._threads])
        return cv2.VideoCapture(self._path)

    @property
    def size(self):
        return self._size

    def read(self):
        if self._pending is not None:
            f, self._pending = self._pending, None
            return _fit(f, self._want, self._grow)
        ok, frame = self._cap.read()
        if not ok:
            self._check_length()
            if not self._loop:
                raise EOFError(self._path)
            self._cap.release()
            self._cap = self._open_capture()
            self._decoded = 0
            ok, frame = self._cap.read()
            if not ok:
                raise SourceError(f"video {self._path} could not be reopened")
        self._decoded += 1
        return _fit(frame, self._want, self._grow)

    def _check_length(self) -> None:
        """At the end of the file: a file that decodes well short of the frames its header lists (a download or
        copy cut short, a damaged stream) says so once, rather than looping or ending early unexplained.
        Containers that estimate the count (Matroska) are off by a frame or two: 5 % is allowed."""
        n = self.frame_count
        if self.warning is None and n is not None and self._decoded < 0.95 * n - 2:
            self.warning = (f"{printable(self._path, 120)} ends after {self._decoded} of the {n} frames its "
                            "header lists: the file is cut short or damaged")

    def close(self):
        self._cap.release()


MIN_SIDE = 16


def _cut_short_jpeg(p: Path) -> bool:
    """A JPEG whose end-of-image marker is missing: a download or copy that stopped part way."""
    try:
        with open(p, "rb") as f:
            if f.read(2) != b"\xff\xd8":
                return False
            f.seek(max(0, p.stat().st_size - 4096))
            return b"\xff\xd9" not in f.read()
    except OSError:
        return False


def read_image(path: str | os.PathLike, what: str = "image", flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """A BGR (or with IMREAD_GRAYSCALE, grey) image; every failure (missing, not an image, damaged, absurd
    size) is one SourceError line."""
    p = Path(path)
    shown = printable(path, 120)
    try:
        if not p.is_file():
            raise SourceError(f"{what} not found: {shown}")
        if _cut_short_jpeg(p):  # libjpeg would decode the part it has, grey below, with a warning of its own
            raise SourceError(f"cannot decode {what} {shown}: the JPEG file is cut short")
        name = opencv_path(p)
        img = cv2.imread(name, flags)
        known = cv2.haveImageReader(name)
    except (OSError, cv2.error) as e:
        raise SourceError(f"cannot read {what} {shown}: {printable(getattr(e, 'strerror', None) or e, 80)}") from None
    if img is None:
        if known:
            raise SourceError(f"cannot decode {what} {shown}: damaged, or larger than "
                              f"{MAX_PIXELS // 1_000_000} megapixels")
        raise SourceError(f"cannot read {what} {shown} (not an image or unsupported format)")
    h, w = img.shape[:2]
    if w * h > MAX_PIXELS:  # only where cv2 was loaded before studio set its limit
        raise SourceError(f"{what} {shown} is {w}x{h}: larger than {MAX_PIXELS // 1_000_000} megapixels")
    if min(w, h) < MIN_SIDE:
        raise SourceError(f"{what} {shown} is {w}x{h}: too small (each side needs at least {MIN_SIDE} px)")
    return img


class ImageSource(FrameSource):
    def __init__(self, path: str, size: tuple[int, int] | None = None, fps: float = 30.0, grow: bool = True):
        self.name = str(path)
        self._frame = _fit(read_image(path), size, grow)
        self.fps = fps

    @property
    def size(self):
        return self._frame.shape[1], self._frame.shape[0]

    def read(self):
        return self._frame


class DemoSource(FrameSource):
    """The embedded default: a real portrait (public-domain astronaut photo, fetched with the models) with a gentle
    hand-held drift and zoom, so it behaves like a live feed (the live pipeline paces it to `fps`).

    Each frame is a crop of the pre-scaled portrait resized to the output (1.7-2.9 ms at 720p, one thread): the
    rotating warpAffine it once was cost 8-9 ms, more than segmenting and drawing the effect together, and
    made the window's CPU figure with the demo say little about a camera (whose frame costs 0.5 ms)."""

    live = True

    def __init__(self, size: tuple[int, int] = (1280, 720), fps: float = 30.0):
        from studio.segment.models import demo_path

        self.name = "demo"
        self.fps = fps
        self._size = tuple(size)
        img = cv2.imread(str(demo_path()), cv2.IMREAD_COLOR)
        if img is None:
            raise SourceError("demo portrait could not be decoded: run `backdrop models fetch --force`")
        w, h = self._size
        # Scale so the portrait covers the frame with 12% margin for the drift; head in the upper third.
        s = max(w / img.shape[1], h / img.shape[0]) * 1.12
        self._img = cv2.resize(img, (math.ceil(img.shape[1] * s), math.ceil(img.shape[0] * s)),
                               interpolation=cv2.INTER_CUBIC)
        self._i = 0

    @property
    def size(self):
        return self._size

    def frame_at(self, i: int) -> np.ndarray:
        w, h = self._size
        t = i / self.fps
        ih, iw = self._img.shape[:2]
        cx = iw / 2 + 0.035 * w * math.sin(2 * math.pi * t / 6.0)
        cy = ih * 0.40 + 0.02 * h * math.sin(2 * math.pi * t / 4.3)
        zoom = 1.0 + 0.03 * math.sin(2 * math.pi * t / 9.1)
        cw, ch = min(iw, round(w / zoom)), min(ih, round(h / zoom))
        x0 = min(max(round(cx - cw / 2), 0), iw - cw)
        y0 = min(max(round(cy - ch / 2), 0), ih - ch)
        crop = self._img[y0:y0 + ch, x0:x0 + cw]
        if (cw, ch) == (w, h):
            return crop.copy()
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)

    def read(self):
        f = self.frame_at(self._i)
        self._i += 1
        return f


def parse_size(text) -> tuple[int, int] | None:
    """'1280x720' (or an already parsed (w, h)) -> (w, h); None stays None."""
    if not text:
        return None
    if isinstance(text, tuple):
        return text
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise StudioError(f"size must look like 1280x720, got {printable(repr(text), 40)}") from None
    if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
        raise StudioError(f"size {w}x{h} is out of range: each side 16 to {MAX_SIDE}")
    if w % 2 or h % 2:
        raise StudioError(f"size {w}x{h}: width and height must be even (4:2:0 video)")
    return w, h


def open_source(spec: str, size: tuple[int, int] | None = None, fps: float | None = None,
                loop: bool = True, mode: CameraMode | None = None, decode_threads: int = 0,
                grow: bool = True) -> FrameSource:
    """camera:N | camera:/dev/videoN | demo | a video file | an image file. `mode` is for cameras only,
    `decode_threads` for video files. grow=False: files smaller than `size` are cropped to its aspect, not
    scaled up (a camera's frames come as its mode gives them; the demo is drawn at `size`)."""
    if spec == "demo":
        return DemoSource(size or (1280, 720), fps or 30.0)
    if spec.startswith("camera:"):
        return CameraSource(spec.split(":", 1)[1], size, fps, mode)
    p = Path(spec)
    ext = p.suffix.lower()
    if ext in IMAGE_EXT:
        return ImageSource(spec, size, fps or 30.0, grow)
    if ext in VIDEO_EXT or p.is_file():
        return VideoSource(spec, loop=loop, size=size, decode_threads=decode_threads, grow=grow)
    raise SourceError(f"unknown source {spec!r}: use camera:N, demo, a video file or an image")


def list_cameras(devices: list[tuple[str, str]] | None = None, ioctl=None) -> list[str]:
    """Capture devices, leaving out virtual-camera outputs (ours included) so the studio cannot feed itself, and
    the metadata-only second node every UVC camera has (it cannot deliver a picture)."""
    out = []
    for d, name in video_devices() if devices is None else devices:
        if any(k in name.lower() for k in ("loopback", "dummy", "backdrop", "obs virtual")):
            continue
        info = query_info(d, ioctl)
        if info is None or info.capture:     # a node that cannot be asked (busy, no permission) is listed
            out.append(f"camera:{d}")
    return out
