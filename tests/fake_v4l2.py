"""A fake V4L2 driver for the enumeration ioctls: it reads and writes the kernel's binary structures
(linux/videodev2.h) exactly as a driver does, and ends each list with EINVAL. No camera and no loopback module
exist on the test machines, so this is the faithful stand-in for one.

formats: {"MJPG": {(1280, 720): [30, 15], ...}} for discrete sizes and rates, or
         {"YUYV": ("stepwise", (min_w, max_w, step_w, min_h, max_h, step_h), (fast_fps, slow_fps))}."""
from __future__ import annotations

import errno
import os

from studio.capture import modes as m


def _code(fourcc: str) -> int:
    return int.from_bytes(fourcc.encode(), "little")


class FakeV4L2:
    def __init__(self, formats: dict, card: str = "Fake Cam", bus: str = "usb-1", capture: bool = True,
                 metadata_nodes: tuple = ()):
        self.formats = formats
        self.card, self.bus, self.capture = card, bus, capture
        self.metadata_nodes = metadata_nodes   # node names ("video1") that answer as a UVC metadata node
        self.calls = 0

    def _is_metadata(self, fd) -> bool:
        if not self.metadata_nodes:
            return not self.capture
        return os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) in self.metadata_nodes

    def _fmt(self, code: int):
        for name, spec in self.formats.items():
            if _code(name) == code:
                return spec
        raise OSError(errno.EINVAL, "no such format")

    def __call__(self, fd, request, buf, mutate=True):
        self.calls += 1
        if request == m.VIDIOC_QUERYCAP:
            caps = 0x00800000 if self._is_metadata(fd) else m.CAP_VIDEO_CAPTURE   # META_CAPTURE
            buf[:] = m.CAPABILITY.pack(b"uvcvideo", self.card.encode(), self.bus.encode(), 0x60000,
                                       caps | m.CAP_DEVICE_CAPS | m.CAP_VIDEO_CAPTURE, caps)
            return 0
        if request == m.VIDIOC_ENUM_FMT:
            index, typ, *_ = m.FMTDESC.unpack(buf)
            names = [] if self._is_metadata(fd) else list(self.formats)
            if typ != m.BUF_TYPE_VIDEO_CAPTURE or index >= len(names):
                raise OSError(errno.EINVAL, "end")
            buf[:] = m.FMTDESC.pack(index, typ, 0, names[index].encode(), _code(names[index]), 0)
            return 0
        if request == m.VIDIOC_ENUM_FRAMESIZES:
            index, code, *_ = m.FRMSIZE.unpack(buf)
            spec = self._fmt(code)
            if isinstance(spec, tuple):
                if index:
                    raise OSError(errno.EINVAL, "end")
                buf[:] = m.FRMSIZE.pack(index, code, m.STEPWISE, *spec[1])
                return 0
            sizes = list(spec)
            if index >= len(sizes):
                raise OSError(errno.EINVAL, "end")
            buf[:] = m.FRMSIZE.pack(index, code, m.DISCRETE, *sizes[index], 0, 0, 0, 0)
            return 0
        if request == m.VIDIOC_ENUM_FRAMEINTERVALS:
            index, code, w, h, *_ = m.FRMIVAL.unpack(buf)
            spec = self._fmt(code)
            if isinstance(spec, tuple):
                if index:
                    raise OSError(errno.EINVAL, "end")
                fast, slow = spec[2]
                buf[:] = m.FRMIVAL.pack(index, code, w, h, m.CONTINUOUS, 1000, int(fast * 1000),
                                        1000, int(slow * 1000), 1, 1000)
                return 0
            rates = spec.get((w, h))
            if rates is None or index >= len(rates):
                raise OSError(errno.EINVAL, "end")
            r = rates[index]
            num, den = (1001, 30000) if r == 29.97 else (1, int(r))
            buf[:] = m.FRMIVAL.pack(index, code, w, h, m.DISCRETE, num, den, 0, 0, 0, 0)
            return 0
        raise OSError(errno.ENOTTY, "inappropriate ioctl")


# typical cameras
C920 = {"YUYV": {(640, 480): [30, 15], (1280, 720): [10, 5], (1920, 1080): [5]},
        "MJPG": {(640, 480): [30, 15], (1280, 720): [30, 15], (1920, 1080): [30, 15]}}
VGA_ONLY = {"YUYV": {(640, 480): [30, 15], (320, 240): [30]}}
USB3 = {"NV12": {(1280, 720): [60, 30]}, "MJPG": {(1280, 720): [60, 30], (1920, 1080): [60, 30]}}
