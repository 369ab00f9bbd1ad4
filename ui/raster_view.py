"""The preview on a machine without a hardware GPU: a plain widget that paints the CPU twin's image.

On a software rasteriser the window already draws the effect with the CPU twin (ui/output.py); showing that
image through a QOpenGLWidget then costs llvmpipe more than the effect itself, because the widget's texture and
the rest of the window are composited with GL every frame (42 ms of CPU per 720p frame in the window against
~11 for the pipeline). Without any GL widget, Qt keeps the window on its raster backing store. This widget
has the Viewport's interface as the main window uses it; it never touches GL (renderer is None)."""
from __future__ import annotations

import time

import cv2
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

from studio.imageops import enlarge, fit_inside, shrink
from studio.render.effects import LETTERBOX_RGB
from studio.settings import EffectSettings

_LETTERBOX = QColor(*(round(c * 255) for c in LETTERBOX_RGB))


def software_gl_here() -> bool:
    """Whether this display's OpenGL is a software rasteriser (or missing), asked of Qt's own GL once before
    the window is built: a context on an offscreen surface and its GL_RENDERER string."""
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    from studio.render import SOFTWARE_GL

    ctx = QOpenGLContext()
    if not ctx.create():
        return True
    surface = QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    try:
        if not ctx.makeCurrent(surface):
            return True
        from OpenGL import GL

        name = (GL.glGetString(GL.GL_RENDERER) or b"").decode(errors="replace").lower()
        ctx.doneCurrent()
    except Exception:   # no usable GL at all: the raster preview still works
        return True
    finally:
        surface.destroy()
    return any(k in name for k in SOFTWARE_GL)


class RasterViewport(QWidget):
    frame_drawn = Signal(dict)     # per-frame stage timings incl. end-to-end latency
    gl_failed = Signal(str)        # a fault while painting (the window shows it), as Viewport's
    gl_ready = Signal(bool)        # emitted once shown: True (the CPU twin draws the preview)

    uses_gl = False

    def __init__(self, parent=None):
        super().__init__(parent)
        self.renderer = None
        self.software_gl = True
        self.settings = EffectSettings()
        self.packet = None
        self.background = None
        self.dropped = 0
        self.output = None          # the WindowOutput whose render thread draws the preview
        self._shown = None          # (packet, image, its render's stage ms) shown last
        self._drawn_packet = None   # the packet whose frame was reported drawn (frame_drawn) last
        self._scaled = None         # (key, QImage) the last image at the widget's size
        self._announced = False
        self.setMinimumSize(480, 270)
        self.setAutoFillBackground(False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)   # every pixel is painted: nothing under it

    # -- the interface the main window uses (as Viewport's) ----------------------------------------------------
    def set_packet(self, packet) -> None:
        self.packet = packet
        out = self.output
        if out is not None and out.renders_preview:
            out.submit_packet(packet, self.settings, self.background)

    def output_stopped(self) -> None:
        self._shown = None
        self.update()

    def set_settings(self, s: EffectSettings) -> None:
        self.settings = s
        self._redraw()

    def reset_temporal(self) -> None:
        pass                        # the CPU render keeps the temporal state (WindowOutput)

    def set_background(self, image) -> None:
        self.background = image
        self._redraw()

    def release_gl(self) -> None:
        pass

    def _redraw(self) -> None:
        out = self.output
        if out is not None and out.renders_preview:
            out.redraw(self.packet, self.settings, self.background)
        self._scaled = None
        self.update()

    def grabFramebuffer(self) -> QImage:
        """What the widget shows, 32-bit ARGB (B, G, R, A in memory), as QOpenGLWidget.grabFramebuffer gives."""
        return self.grab().toImage().convertToFormat(QImage.Format.Format_ARGB32)

    # -- painting ------------------------------------------------------------------------------------------------
    def showEvent(self, e) -> None:
        super().showEvent(e)
        if not self._announced:
            self._announced = True
            self.gl_ready.emit(True)

    def paintEvent(self, e) -> None:
        try:
            self._paint()
        except Exception as ex:     # never let an exception escape a Qt virtual
            self.gl_failed.emit(f"preview error: {ex}")

    def _paint(self) -> None:
        out = self.output
        item = out.take_image() if out is not None else None
        if item is not None:
            self._shown = item
            self._scaled = None
        p = QPainter(self)
        try:
            if self._shown is None:
                p.fillRect(self.rect(), _LETTERBOX)
                return
            packet, image, timings = self._shown
            t0 = time.perf_counter()
            dpr = self.devicePixelRatioF()
            W, H = max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))
            fh, fw = image.shape[:2]
            w, h = fit_inside(fw, fh, W, H)    # as WindowOutput._preview_frame sizes the image it draws
            if out is not None:
                grew = out.preview_box is not None and (W, H) != out.preview_box and w > fw
                out.preview_box = (W, H)    # the render thread draws the preview alone at this size
                if grew and (fw, fh) != (packet.frame.shape[1], packet.frame.shape[0]) and out.renders_preview:
                    out.redraw(self.packet or packet, self.settings, self.background)   # drawn smaller than the view
            key = (id(image), w, h, self.settings.mirror)
            if self._scaled is None or self._scaled[0] != key:
                if (w, h) == (fw, fh):     # drawn at the view's size already (the CPU preview drawn alone)
                    small = image
                elif w < fw:
                    small = shrink(image, w, h)
                else:
                    small = enlarge(image, w, h)
                if self.settings.mirror:
                    small = cv2.flip(small, 1)
                # Qt's own 32-bit format is blitted as it is; BGR888 was converted on every paint (0.27 against
                # 0.14 ms with the conversion here, 752x423)
                bgra = cv2.cvtColor(small, cv2.COLOR_BGR2BGRA)
                q = QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_RGB32)
                q.setDevicePixelRatio(dpr)
                self._scaled = (key, q, bgra)    # bgra holds the pixels q points at
            if (w, h) != (W, H):   # the letterbox under the whole view, then the picture: bands rounded apart
                p.fillRect(self.rect(), _LETTERBOX)     # from the picture left a row unpainted (0.02 ms)
            p.drawImage(round((W - w) / 2 / dpr), round((H - h) / 2 / dpr), self._scaled[1])
        finally:
            p.end()
        if item is not None and packet is not self._drawn_packet:   # a new frame is on screen as this paint is
            self._drawn_packet = packet        # flushed; the same frame drawn again (a slider moved) is not one
            now = time.perf_counter()
            self.frame_drawn.emit({**packet.timings, "refine": timings.get("refine", 0.0),
                                   "render": timings.get("render", (now - t0) * 1e3),
                                   "latency": (now - packet.t_in) * 1e3})
