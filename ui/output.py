"""The window's own output: what the preview shows, sent to a virtual camera, a pipe or a recording.

Nothing here makes the GUI thread wait. On a hardware GPU the viewport also draws each frame offscreen at the
source's size and reads it back through double-buffered PBOs (no GPU stall); the image goes to a SinkWorker
(studio.output.worker: a newest-wins slot and an output thread). On a software rasteriser, where each GL pass
costs the GUI thread most, one render serves both: a render thread draws each packet with the CPU twin (the
same maths), hands the image to the SinkWorker and back to the viewport, which only shows it. The preview is then
exactly the output, and a sink that blocks (a FIFO whose reader paused) only drops frames: the render thread
never waits for it, so the preview keeps running. On a software rasteriser the render thread also draws the
preview while no output is on (start_preview): the window then never runs llvmpipe's effect passes."""
from __future__ import annotations

import threading
import time

import cv2
from PySide6.QtCore import QObject, Signal

from studio import printable
from studio.handoff import LatestSlot
from studio.imageops import fit_inside, shrink
from studio.output import check_output_target, is_live_target, open_target
from studio.output.worker import SinkWorker
from studio.render.cpu import CpuRenderer


class WindowOutput(QObject):
    failed = Signal(str)      # emitted from the output thread, delivered on the GUI thread
    preview_failed = Signal(str)  # the render thread drawing the preview alone stopped on a fault
    image_ready = Signal()    # a CPU-rendered image waits in take_image() (at most one notification queued)

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
        self._packets: LatestSlot | None = None
        self._render_thread: threading.Thread | None = None
        self._shown_lock = threading.Lock()
        self._shown = None
        self._notified = False
        self._reset = False
        self.weight = None
        self.render_dropped_before = 0   # frames the render slots of stopped renders dropped
        # the preview's box in device pixels (set by the raster preview as it paints): drawing the preview
        # alone, a larger frame is scaled down to fit it first and the effect drawn at that size
        self.preview_box: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        return self.worker is not None

    @property
    def renders_preview(self) -> bool:
        """True while the CPU twin draws the preview (and the output, if one is on): on software GL."""
        return self._packets is not None and not self._packets.closed

    def start_preview(self) -> None:
        """Software GL without an output: the render thread draws the preview alone (the CPU twin costs a
        software rasteriser's GL passes a fraction: 720p blur 5 ms against 35 ms on llvmpipe)."""
        if self._packets is not None and self._packets.closed and self.worker is None:   # stopped by a fault
            self._render_thread.join()
            self.render_dropped_before += self._packets.dropped
            self._packets = self._render_thread = None
        if self._packets is None:
            self._start_render(None)

    def _start_render(self, worker) -> None:
        self._cpu, self._bg = CpuRenderer(), None
        self._packets = LatestSlot()
        self._render_thread = threading.Thread(target=self._render_loop, args=(self._packets, worker),
                                               name="preview-render", daemon=True)
        self._render_thread.start()

    def start(self, target: str, fps: float, gl_readback: bool) -> None:
        """Raise StudioError (one line) for a target that cannot be used; the sink itself opens on the output
        thread, and its faults arrive through `failed`."""
        check_output_target(target)
        self.stop()
        self.target, self.gl_readback, self.t_start = target, gl_readback, time.perf_counter()
        self.recording = not is_live_target(target)   # REC for a file, LIVE for a camera, stdout, FIFO

        def open_sink(image):
            h, w = image.shape[:2]
            return open_target(target, w, h, fps, should_stop=lambda: worker.slot.closed)

        worker = SinkWorker(open_sink, self._flip if gl_readback else None,
                            on_error=lambda message: self._on_worker_error(worker, message))
        self.worker = worker.start()
        if not gl_readback:
            self._start_render(worker)

    def stop(self) -> str | None:
        """Stop sending: a recording holding a frame is completed, an empty one leaves nothing behind."""
        worker, self.worker = self.worker, None
        if self._packets is not None:
            self._packets.close()
            self._render_thread.join()
            self.render_dropped_before += self._packets.dropped
            self._packets = self._render_thread = None
        with self._shown_lock:
            self._shown = self.weight = None
        return worker.stop() if worker is not None else None

    @property
    def render_dropped(self) -> int:
        """Every frame the CPU render's slots dropped since the window opened (preview and output)."""
        return self.render_dropped_before + (self._packets.dropped if self._packets is not None else 0)

    @property
    def dropped(self) -> int:
        w = self.worker
        return (w.dropped if w is not None else 0) + (self._packets.dropped if self._packets is not None else 0)

    # -- per frame (GUI thread) --------------------------------------------------------------------------------
    def submit_packet(self, packet, settings, background) -> None:
        """Software GL: a new packet for the render thread (newest wins)."""
        if self._packets is not None and packet is not None:
            self._packets.put((packet, settings, background))

    def redraw(self, packet, settings, background) -> None:
        """The settings or the background changed: draw the current packet again, unless a newer one waits
        already (a stalled source must still show a slider's effect)."""
        if self._packets is not None and packet is not None:
            self._packets.put_if_empty((packet, settings, background))

    def take_image(self):
        """(packet, image, the CPU render's stage ms) the render thread drew last and the preview has not taken,
        or None."""
        with self._shown_lock:
            self._notified = False
            item, self._shown = self._shown, None
        return item

    def gl_image(self, image) -> None:
        if self.worker is not None and self.gl_readback and image is not None:
            self.worker.submit(image)

    # -- render and output threads ----------------------------------------------------------------------------
    def _on_worker_error(self, worker: SinkWorker, message: str) -> None:
        """From an output thread. An output stopped and replaced may still fail late (a reader that stalled
        past stop()'s timeout): that must not stop the output running now."""
        if worker is not self.worker:
            return
        packets = self._packets
        if packets is not None:
            packets.close()   # the output failed: the window starts the preview again (_preview_on_cpu)
        self.failed.emit(message)

    def reset_temporal(self) -> None:
        """A new source: the render thread's smoothed mask of the old one must not bleed into the first frames."""
        self._reset = True

    def _flip(self, image):
        return cv2.flip(image, 1) if self.mirror else image

    def _preview_frame(self, frame):
        """(frame, size) to draw the preview alone with: a frame larger than the preview's box scaled down to
        the size it is shown at, with its own size as the size drawn for (blur and reaches as at full size,
        effects.make_plan), so the effect is drawn for the pixels on screen and the preview has no scaling
        left to do. 720p blur into a 752x423 view, one thread: 4.4 against 5.6 ms for the effect and the
        preview's scaling together, the picture within 0.3 grey levels on average (p99 3)."""
        box = self.preview_box
        fh, fw = frame.shape[:2]
        w, h = (fw, fh) if box is None else fit_inside(fw, fh, *box)
        if w >= fw:
            return frame, None
        return shrink(frame, w, h), (fw, fh)

    def _render_loop(self, packets: LatestSlot, worker: SinkWorker) -> None:
        try:
            while (item := packets.get()) is not None:
                packet, settings, background = item
                if self._reset:
                    self._reset = False
                    self._cpu.reset()
                bg = packet.background if packet.background is not None else background
                if bg is not self._bg:
                    self._cpu.set_background(bg)
                    self._bg = bg
                frame, size = packet.frame, None
                if worker is None and settings.mode != "replace":   # replace draws at the frame's size
                    frame, size = self._preview_frame(packet.frame)
                prepared = self._cpu.prepare(frame, packet.mask, settings)
                out = self._cpu.render(frame, packet.mask, settings, prepared=prepared,
                                       picture=packet.picture, size=size)   # a still picture reuses its blur
                with self._shown_lock:
                    self._shown = (packet, out, dict(self._cpu.timings))
                    self.weight = prepared[0]      # the refined mask, for the window's mask panel
                    notify, self._notified = not self._notified, True
                if notify:
                    self.image_ready.emit()
                if worker is not None:
                    worker.submit(self._flip(out))
        except Exception as e:        # a fault here stops only the output, never the window
            packets.close()
            if worker is None:        # the preview alone: the window shows the fault and starts it again
                self.preview_failed.emit(f"preview render failed: {printable(e)}")
            elif worker is self.worker:
                self.failed.emit(f"output render failed: {printable(e)}")

    # -- status ------------------------------------------------------------------------------------------------
    def status(self) -> str:
        w = self.worker
        if w is None:
            return ""
        el = int(time.perf_counter() - self.t_start)
        rec = "● REC" if self.recording else "● LIVE"
        return (f"{rec} {el // 60:02d}:{el % 60:02d} → {printable(self.target, 40)} · out {w.fps():.1f} fps · "
                f"dropped {self.dropped}")

