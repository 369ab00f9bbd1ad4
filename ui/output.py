"""The window's own output: what the preview shows, sent to a virtual camera, a pipe or a recording.

Each drawn frame is handed to a SinkWorker (studio.output.worker): a newest-wins slot and an output thread,
so the GUI thread never waits for the sink. On a hardware GPU the viewport also draws the frame offscreen at the
source's size and reads it back through double-buffered PBOs (no GPU stall); on a software rasteriser (where GL
costs the GUI thread most) the output thread draws the same packet with the CPU twin, the same maths."""
from __future__ import annotations

import time

import cv2
from PySide6.QtCore import QObject, Signal

from studio import printable
from studio.output import check_output_target, is_live_target, open_target
from studio.output.worker import SinkWorker
from studio.render.cpu import CpuRenderer


class WindowOutput(QObject):
    failed = Signal(str)      # emitted from the output thread, delivered on the GUI thread

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worker: SinkWorker | None = None
        self.target = ""
        self.mirror = False          # the output is not mirrored unless asked (the preview may be)
        self.gl_readback = False
        self.t_start = 0.0
        self.recording = False
        self._cpu: CpuRenderer | None = None
        self._bg = None

    @property
    def active(self) -> bool:
        return self.worker is not None

    def start(self, target: str, fps: float, gl_readback: bool) -> None:
        """Raise StudioError (one line) for a target that cannot be used; the sink itself opens on the output
        thread, and its faults arrive through `failed`."""
        check_output_target(target)
        self.stop()
        self.target, self.gl_readback, self.t_start = target, gl_readback, time.perf_counter()
        self.recording = not is_live_target(target)   # REC for a file, LIVE for a camera, stdout, FIFO
        self._cpu = None if gl_readback else CpuRenderer()

        def open_sink(item):
            h, w = (item if gl_readback else item[0].frame).shape[:2]
            return open_target(target, w, h, fps, should_stop=lambda: worker.slot.closed)

        worker = SinkWorker(open_sink, self._flip if gl_readback else self._render, on_error=self.failed.emit)
        self.worker = worker.start()

    def stop(self) -> str | None:
        """Stop sending: a recording holding a frame is completed, an empty one leaves nothing behind."""
        worker, self.worker = self.worker, None
        return worker.stop() if worker is not None else None

    # -- per drawn frame (GUI thread) --------------------------------------------------------------------------
    def frame_drawn(self, packet, settings, background) -> None:
        if self.worker is not None and not self.gl_readback and packet is not None:
            self.worker.submit((packet, settings, background))

    def gl_image(self, image) -> None:
        if self.worker is not None and self.gl_readback and image is not None:
            self.worker.submit(image)

    # -- output thread -----------------------------------------------------------------------------------------
    def _flip(self, image):
        return cv2.flip(image, 1) if self.mirror else image

    def _render(self, item):
        packet, settings, background = item
        bg = packet.background if packet.background is not None else background
        if bg is not self._bg:
            self._cpu.set_background(bg)
            self._bg = bg
        out = self._cpu.render(packet.frame, packet.mask, settings)
        return cv2.flip(out, 1) if self.mirror else out

    # -- status ------------------------------------------------------------------------------------------------
    def status(self) -> str:
        w = self.worker
        if w is None:
            return ""
        el = int(time.perf_counter() - self.t_start)
        rec = "● REC" if self.recording else "● LIVE"
        return (f"{rec} {el // 60:02d}:{el % 60:02d} → {printable(self.target, 40)} · out {w.fps():.1f} fps · "
                f"dropped {w.dropped}")

