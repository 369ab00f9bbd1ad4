"""Where rendered frames go. Every sink has the same three calls (pyvirtualcam's backend pattern):

  send(frame_bgr)  one frame, BGR uint8; a frame of another size is scaled to cover the sink's and centre-cropped
                   (the live pipeline keeps a smaller source's frames at their own size: scaling once, last,
                   is cheaper than drawing the effect at the output's size)
  close()          the stream is complete: a file is checked and renamed over its target
  abort()          the stream failed: a file sink drops its temporary file and the target is left as it was

Rule for files (`render -o`, `vcam --output`): the target is replaced only by a complete, verified recording. A
recording stopped by the user (Ctrl+C, SIGTERM, SIGHUP) is complete if it holds at least one frame; a run that
fails (source lost, disk full, write error) never replaces anything."""
from __future__ import annotations

import os
import resource
import stat
from pathlib import Path

import cv2
import numpy as np

from studio import StudioError, opencv_path, printable
from studio.atomic import AtomicFile, check_target
from studio.imageops import enlarge, fit_cover

# extension -> OpenCV fourcc; .y4m is written by Y4mSink. WebM is not offered: OpenCV has no VP8/VP9 tag for it.
VIDEO_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".m4v": "mp4v", ".mkv": "MJPG", ".avi": "MJPG"}
VIDEO_OUTPUTS = (*VIDEO_CODECS, ".y4m")


class Sink:
    frames = 0
    size: tuple[int, int] = (0, 0)

    def send(self, frame_bgr: np.ndarray) -> None:
        raise NotImplementedError

    def fit(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The frame at the sink's size (scaled to cover, centre-cropped); unchanged when it is already."""
        w, h = self.size
        if (frame_bgr.shape[1], frame_bgr.shape[0]) == (w, h):
            return frame_bgr
        return fit_cover(frame_bgr, w, h)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        self.close()


class NullSink(Sink):
    """`bench --live`: each frame converted to I420 at the sink's size, as the virtual camera and YUV4MPEG2
    sinks send it, then dropped."""

    def __init__(self, w: int, h: int):
        self.size = (w, h)
        self._yuv = np.empty((h * 3 // 2, w), np.uint8)

    def send(self, frame_bgr: np.ndarray) -> None:
        to_i420(frame_bgr, self._yuv)
        self.frames += 1


def write_failed(path, why) -> StudioError:
    """The one message for an output that could not be completed: the user's file, if any, is untouched."""
    return StudioError(f"writing {printable(path, 120)} failed ({why}); the existing file, if any, is unchanged")


def y4m_header(w: int, h: int, fps: float) -> bytes:
    if w % 2 or h % 2:
        raise StudioError("YUV4MPEG2 4:2:0 needs an even width and height")
    num, den = (int(fps), 1) if float(fps).is_integer() else (int(round(fps * 1000)), 1000)
    return f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420jpeg\n".encode()


class Y4mSink(Sink):
    """YUV4MPEG2 (4:2:0) to a binary stream (stdout, a FIFO): any client (ffmpeg, a player) can read it.
    A reader that goes away raises BrokenPipeError from send()."""

    def __init__(self, stream, w: int, h: int, fps: float, owns_stream: bool = False):
        self.stream = stream
        self.owns_stream = owns_stream   # a FIFO we opened is closed with the sink; stdout is not
        self.frames = 0
        self.size = (w, h)
        stream.write(y4m_header(w, h, fps))
        # one buffer per frame, "FRAME\n" + I420, converted in place: one write call, no copies
        self._buf = bytearray(b"FRAME\n" + bytes(w * h * 3 // 2))
        self._yuv = np.frombuffer(self._buf, np.uint8, offset=6).reshape(h * 3 // 2, w)

    def send(self, frame_bgr: np.ndarray) -> None:
        to_i420(frame_bgr, self._yuv)
        self.stream.write(self._buf)
        self.frames += 1

    def close(self) -> None:
        self.stream.flush()
        if self.owns_stream:
            self.stream.close()

    def abort(self) -> None:
        try:
            self.stream.flush()
            if self.owns_stream:
                self.stream.close()
        except OSError:
            pass


def _planes(yuv: np.ndarray, w: int, h: int):
    """The Y, U and V planes of an I420 buffer laid out as (h * 3 / 2, w)."""
    flat = yuv.reshape(-1)
    cw, ch = w // 2, h // 2
    return (flat[:w * h].reshape(h, w), flat[w * h:w * h + cw * ch].reshape(ch, cw),
            flat[w * h + cw * ch:].reshape(ch, cw))


def to_i420(frame_bgr: np.ndarray, dst: np.ndarray) -> None:
    """BGR to I420 in `dst` (shape (h * 3 / 2, w)), scaled to cover (w, h) and centre-cropped. A smaller frame
    is converted at its own size and its three planes are scaled up (imageops.enlarge): half the bytes of
    scaling BGR first (720p from 960x540: 1.0 ms against 1.8 with INTER_LINEAR; 0.5 with enlarge)."""
    h, w = dst.shape[0] * 2 // 3, dst.shape[1]
    if (frame_bgr.shape[1], frame_bgr.shape[0]) == (w, h):
        cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420, dst=dst)
        return
    small = fit_cover(frame_bgr, w, h, grow=False)
    sh, sw = small.shape[:2]
    if (sw, sh) == (w, h) or sw % 2 or sh % 2:
        cv2.cvtColor(fit_cover(small, w, h), cv2.COLOR_BGR2YUV_I420, dst=dst)
        return
    yuv = cv2.cvtColor(small, cv2.COLOR_BGR2YUV_I420)
    for plane, out in zip(_planes(yuv, sw, sh), _planes(dst, w, h)):
        enlarge(plane, out.shape[1], out.shape[0], dst=out)


class Y4mFileSink(Y4mSink):
    """A .y4m file, written atomically: every write error (disk full, file too large) surfaces at once."""

    def __init__(self, path: str, w: int, h: int, fps: float):
        self.target = AtomicFile(path, binary_handle=True)
        try:
            super().__init__(self.target.file, w, h, fps)
        except BaseException:
            self.target.abort()
            raise

    def send(self, frame_bgr: np.ndarray) -> None:
        try:
            super().send(frame_bgr)
        except OSError as e:  # ENOSPC, EFBIG (past RLIMIT_FSIZE), EIO
            raise write_failed(self.target.path, e.strerror or e) from None

    def close(self) -> None:
        if self.frames == 0:
            self.abort()
            raise StudioError(f"no frames were written; {printable(self.target.path, 120)} left unchanged")
        try:
            self.target.commit()
        except OSError as e:
            raise write_failed(self.target.path, e.strerror or e) from None
        finally:
            if not self.target.done:   # any failure, a second Ctrl+C included: no temporary file stays
                self.abort()

    def abort(self) -> None:
        self.target.abort()


def _space_left(path: str) -> int:
    try:
        st = os.statvfs(path)
        return st.f_bavail * st.f_frsize
    except OSError:
        return 1 << 40


def _at_size_limit(size: int) -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return soft != resource.RLIM_INFINITY and size >= soft


class VideoFileSink(Sink):
    """A compressed video through OpenCV's VideoWriter. The writer reports no write errors, so close() checks
    the result before it replaces anything: the container's frame count, the last frame decoded back, and no
    sign of a full disk or a file-size limit."""

    def __init__(self, path: str, w: int, h: int, fps: float):
        ext = Path(path).suffix.lower()
        if ext not in VIDEO_CODECS:
            raise StudioError(unsupported_output(path))
        opencv_path(Path(path).resolve().parent)   # its temporary file in this folder goes to OpenCV
        self.target = AtomicFile(path)
        self.frames = 0
        self.size = (w, h)
        self.writer = cv2.VideoWriter(self.target.tmp, cv2.VideoWriter_fourcc(*VIDEO_CODECS[ext]), fps, (w, h))
        if not self.writer.isOpened():
            self.target.abort()
            raise StudioError(f"cannot write video {printable(path, 120)}: the {ext} encoder did not open")

    def send(self, frame_bgr: np.ndarray) -> None:
        self.writer.write(self.fit(frame_bgr))
        self.frames += 1
        if self.frames % 30 == 0:  # fail early, not after the whole video
            problem = self._out_of_room()
            if problem:
                raise write_failed(self.target.path, problem)

    def _out_of_room(self) -> str:
        tmp = self.target.tmp
        if _space_left(tmp) < (64 << 10):
            return "the disk is full"
        if _at_size_limit(os.path.getsize(tmp)):
            return "the file-size limit was reached"
        return ""

    def close(self) -> None:
        try:
            self.writer.release()
            shown = printable(self.target.path, 120)
            if self.frames == 0:
                raise StudioError(f"no frames were written; {shown} left unchanged")
            problem = self._verify()
            if problem:
                raise write_failed(self.target.path, problem)
            self.target.commit()
        except OSError as e:
            raise write_failed(self.target.path, e.strerror or e) from None
        finally:
            if not self.target.done:   # any failure, a second Ctrl+C included: no temporary file stays
                self.target.abort()

    def _verify(self) -> str:
        tmp = self.target.tmp
        problem = self._out_of_room()
        if problem:
            return problem
        cap = cv2.VideoCapture(tmp)
        try:
            if not cap.isOpened():
                return "the written file cannot be read back"
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            # one more than counted: a Ctrl+C that lands between the write and the count
            if n not in (self.frames, self.frames + 1):
                return f"{n} of {self.frames} frames in the written file"
            cap.set(cv2.CAP_PROP_POS_FRAMES, n - 1)
            if not cap.read()[0]:
                return "the last frame cannot be decoded"
        finally:
            cap.release()
        return ""

    def abort(self) -> None:
        self.writer.release()
        self.target.abort()


def unsupported_output(path) -> str:
    ext = Path(path).suffix.lower() or "no extension"
    return (f"cannot write {printable(path, 120)}: {ext} is not a supported video output; "
            f"use one of {', '.join(VIDEO_OUTPUTS)}")


def check_not_an_input(out, inputs) -> None:
    """An output that is one of the inputs (the same file, or a link to it) would overwrite what it is made from."""
    for inp in inputs:
        try:
            same = bool(inp) and os.path.exists(out) and os.path.samefile(out, inp)
        except (OSError, ValueError):
            same = False
        if same:
            raise StudioError(f"output {printable(out, 120)} is the input {printable(inp, 120)}: it would be "
                              "overwritten; choose another output")


def check_video_target(path: str) -> None:
    """Everything about a video output that can be checked before any work starts."""
    check_target(path)
    opencv_path(Path(path).resolve().parent)   # the writer opens a temporary file in this folder
    if Path(path).suffix.lower() not in VIDEO_OUTPUTS:
        raise StudioError(unsupported_output(path))


def _open_fifo(path: str, should_stop):
    """Open a FIFO for writing once a reader has it open; give up (None) when should_stop() says so. A plain
    blocking open would wait forever for a reader that never comes, and could not be stopped."""
    import errno
    import fcntl
    import time

    while not should_stop():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:   # ENXIO: no reader yet
                raise
            time.sleep(0.1)
            continue
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "wb")
    return None


def open_target(target: str, w: int, h: int, fps: float, device: str | None = None,
                should_stop=lambda: False) -> Sink:
    """One output target as the user names it: `vcam` (the first virtual camera), a /dev/video* device, `-`
    (YUV4MPEG2 on stdout), a FIFO or a .y4m path (YUV4MPEG2), or a video file (a recording)."""
    import sys

    if target == "vcam":
        return VirtualCameraSink(w, h, fps, device)
    if target.startswith("/dev/video"):
        return VirtualCameraSink(w, h, fps, target)
    if target == "-":
        return Y4mSink(sys.stdout.buffer, w, h, fps)
    if is_fifo(target):
        return open_fifo_sink(target, w, h, fps, should_stop)
    return open_video_file(target, w, h, fps)


def open_fifo_sink(path: str, w: int, h: int, fps: float, should_stop=lambda: False) -> Sink:
    """YUV4MPEG2 into a FIFO once a reader opens it. Opening waits for that reader: call this on the output
    thread."""
    stream = _open_fifo(path, should_stop)
    if stream is None:
        raise StudioError(f"no program opened {printable(path, 120)} for reading")
    return Y4mSink(stream, w, h, fps, owns_stream=True)


def is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_live_target(target: str) -> bool:
    """A camera, stdout or a FIFO (a stream someone watches), as opposed to a file being recorded."""
    return target in ("vcam", "-") or target.startswith("/dev/video") or is_fifo(target)


def check_output_target(target: str) -> None:
    """What can be checked of a target before anything starts (one line, exit 2 in the commands)."""
    if is_live_target(target):
        return
    check_video_target(target)


def open_video_file(path: str, w: int, h: int, fps: float) -> Sink:
    check_video_target(path)
    if Path(path).suffix.lower() == ".y4m":
        return Y4mFileSink(path, w, h, fps)
    return VideoFileSink(path, w, h, fps)


VCAM_HINT = ("no virtual camera backend found: on Linux install and load v4l2loopback "
             "(sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
             "card_label=Backdrop); on Windows/macOS install OBS Studio and start its virtual camera once; "
             "or use --output PATH / --output -")


def check_device(device: str | None) -> None:
    """pyvirtualcam opens whatever device it is given: a FIFO there blocked the command for good, waiting for a
    reader. A FIFO, a folder or a socket is refused here; anything else is the backend's to judge (a missing or
    plain file fails its capability query with its own reason)."""
    if device is None:
        return
    try:
        mode = os.stat(device).st_mode
    except (OSError, ValueError):
        return
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            raise StudioError(f"{printable(device, 120)} is {kind}, not a video device; `backdrop doctor` lists "
                              "the virtual cameras there are")


class VirtualCameraSink(Sink):
    """pyvirtualcam: v4l2loopback on Linux, the OBS virtual camera elsewhere. Frames go as I420, v4l2loopback's
    own format, converted here (OpenCV's BT.601 video range, as the library's own conversion from BGR) with a
    smaller frame scaled plane by plane (to_i420); a backend that refuses I420 gets BGR."""

    def __init__(self, w: int, h: int, fps: float, device: str | None):
        try:
            import pyvirtualcam
        except ImportError:
            raise StudioError("pyvirtualcam is not installed: pip install pyvirtualcam") from None
        check_device(device)
        even = w % 2 == 0 and h % 2 == 0     # 4:2:0 needs both (the window opens its output at the source's size)
        self._yuv = np.empty((h * 3 // 2, w), np.uint8) if even else None
        try:
            try:
                fmt = pyvirtualcam.PixelFormat.I420 if even else pyvirtualcam.PixelFormat.BGR
                self.cam = pyvirtualcam.Camera(width=w, height=h, fps=fps, device=device, fmt=fmt)
            except Exception as e:   # only a backend that takes no I420 (none of pyvirtualcam's today) gets BGR
                if not even or "format" not in str(e).lower():
                    raise
                self._yuv = None
                self.cam = pyvirtualcam.Camera(width=w, height=h, fps=fps, device=device,
                                               fmt=pyvirtualcam.PixelFormat.BGR)
        except Exception as e:  # the library raises RuntimeError with the backend's reason
            raise StudioError(f"{VCAM_HINT} ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        self.device = self.cam.device
        self.frames = 0
        self.size = (w, h)

    def send(self, frame_bgr):
        if self._yuv is not None:
            to_i420(frame_bgr, self._yuv)
            self.cam.send(self._yuv)
        else:
            self.cam.send(self.fit(frame_bgr))
        self.frames += 1
        self.cam.sleep_until_next_frame()

    def close(self):
        self.cam.close()
