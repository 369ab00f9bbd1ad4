"""The live GL viewport: draws each frame with its own mask through the GlRenderer (GUI thread only)."""
from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtOpenGLWidgets import QOpenGLWidget

from studio.render.effects import LETTERBOX_RGB
from studio.settings import EffectSettings


class Viewport(QOpenGLWidget):
    frame_drawn = Signal(dict)     # per-frame stage timings incl. end-to-end latency
    gl_failed = Signal(str)
    gl_ready = Signal(bool)        # the GL renderer is up; True on a software rasteriser

    uses_gl = True                 # (ui/raster_view.RasterViewport shows the CPU twin's image without GL)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.renderer = None
        self.settings = EffectSettings()
        self.packet = None
        self._drawn_packet = None
        self.background = None
        self._bg_dirty = False
        self._pending = None
        self.dropped = 0
        self.output = None          # a WindowOutput: read back each new frame when it sends from GL
        self.software_gl = True
        self._shown = None          # (packet, image) from the output's CPU render, shown as it is
        self.frameSwapped.connect(self._on_frame_swapped)
        self.setMinimumSize(480, 270)

    def set_packet(self, packet) -> None:
        """Store the newest packet and schedule a repaint; an older packet not drawn yet is dropped (counted).
        While the output's CPU render draws the preview too (software GL), the packet goes to it instead and
        the repaint comes with its image."""
        out = self.output
        if out is not None and out.renders_preview:   # the render thread's slot counts what it drops
            self.packet = packet
            out.submit_packet(packet, self.settings, self.background)
            return
        if self.packet is not None and self.packet is not self._drawn_packet:
            self.dropped += 1
        self.packet = packet
        self.update()

    def output_stopped(self) -> None:
        """Back to drawing with GL: its temporal state is as old as the output's start."""
        self._shown = None
        self.reset_temporal()
        self.update()

    def set_settings(self, s: EffectSettings) -> None:
        self.settings = s
        self._redraw()

    def reset_temporal(self) -> None:
        """A new source: the smoothed mask of the old one must not bleed into the first frames."""
        if self.renderer is not None:
            self.renderer.reset()

    def set_background(self, image) -> None:
        self.background = image
        self._bg_dirty = True
        self._redraw()

    def _redraw(self) -> None:
        """Draw the current frame again with new settings: through the CPU render when it draws the preview
        (the GL path repaints from the packet it holds)."""
        out = self.output
        if out is not None and out.renders_preview:
            out.redraw(self.packet, self.settings, self.background)
        self.update()

    def initializeGL(self) -> None:
        try:
            from studio.render.gl import GlRenderer

            self.renderer = GlRenderer(self.settings)  # stage times come from its GPU timer queries
            from OpenGL import GL

            from studio.render import SOFTWARE_GL

            name = (GL.glGetString(GL.GL_RENDERER) or b"").decode(errors="replace").lower()
            self.software_gl = any(k in name for k in SOFTWARE_GL)
            ctx = self.context()
            ctx.aboutToBeDestroyed.connect(self._cleanup)
            self.gl_ready.emit(self.software_gl)
        except Exception as e:  # a broken driver must not take the window down
            self.renderer = None
            self.gl_failed.emit(f"OpenGL renderer unavailable: {e}")

    def release_gl(self) -> None:
        """Free GL objects while the context is alive (window close), not during interpreter teardown."""
        ctx = self.context()
        if ctx is not None:
            try:
                ctx.aboutToBeDestroyed.disconnect(self._cleanup)
            except (RuntimeError, TypeError):
                pass
        self._cleanup()

    def _cleanup(self) -> None:
        if self.renderer is not None:
            self.makeCurrent()
            self.renderer.release()
            self.renderer = None
            self.doneCurrent()

    def paintGL(self) -> None:
        try:
            self._paint()
        except Exception as e:  # never let an exception escape a Qt virtual
            self.gl_failed.emit(f"render error: {e}")

    def _paint(self) -> None:
        from OpenGL import GL

        dpr = self.devicePixelRatioF()
        w, h = int(self.width() * dpr), int(self.height() * dpr)
        out = self.output
        if self.renderer is not None and out is not None and out.renders_preview:
            self._paint_output_image(out, (self.defaultFramebufferObject(), w, h))
            return
        self._shown = None
        p = self.packet
        if self.renderer is None or p is None:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.defaultFramebufferObject())
            GL.glClearColor(*LETTERBOX_RGB, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            return
        if getattr(p, "background", None) is not None and p is not self._drawn_packet:
            self.renderer.set_background(p.background)   # a video background: one frame per packet
        elif self._bg_dirty:
            self.renderer.set_background(self.background)
        self._bg_dirty = False
        new = p is not self._drawn_packet
        t0 = time.perf_counter()
        self.renderer.draw(p.frame, p.mask, self.settings,
                           target=(self.defaultFramebufferObject(), w, h, self.settings.mirror), advance=new)
        if new:
            self._drawn_packet = p
            self._pending = (p, t0, time.perf_counter(), None)   # stage times from the GPU timers
            out = self.output
            if out is not None and out.active and out.gl_readback:
                # the output at the source's size, not mirrored: offscreen, read back a frame later (no stall)
                self.renderer.draw(p.frame, p.mask, self.settings, advance=False)
                out.gl_image(self.renderer.read_output_async())
                GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.defaultFramebufferObject())

    def _paint_output_image(self, out, target) -> None:
        """Software GL with the output on: show the image the output's render thread drew (one render serves
        both); the preview's mirror is applied here, the output's own in the output."""
        from OpenGL import GL

        item = out.take_image()
        new = item is not None
        if new:
            self._shown = item
        if self._shown is None:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, target[0])
            GL.glClearColor(*LETTERBOX_RGB, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            return
        p, image, timings = self._shown
        t0 = time.perf_counter()
        self.renderer.show(image, (*target, self.settings.mirror))
        if new and p is not self._drawn_packet:   # the same frame drawn again (a slider moved) is not a new one
            self._drawn_packet = p
            self._pending = (p, t0, time.perf_counter(), timings)   # the output render's own stage times

    def _on_frame_swapped(self) -> None:
        """The frame is on screen: end-to-end latency is capture time to this buffer swap."""
        pend, self._pending = self._pending, None
        if pend is None:
            return
        p, t0, t1, cpu = pend
        now = time.perf_counter()
        gpu = cpu if cpu is not None else (self.renderer.gpu_ms if self.renderer else {})
        self.frame_drawn.emit({**p.timings, "refine": gpu.get("refine", 0.0),
                               "render": gpu.get("render", (t1 - t0) * 1e3),
                               "latency": (now - p.t_in) * 1e3})
