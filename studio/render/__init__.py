"""Renderers: the GLSL passes (gl), their numba/OpenCV twin (cpu), and the factory that picks one."""
from __future__ import annotations

from studio import StudioError
from studio.settings import EffectSettings

SOFTWARE_GL = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")


def make_renderer(kind: str, settings: EffectSettings):
    """'cpu', 'gl' (headless EGL) or 'auto': GL on a hardware GPU, else the CPU twin (on a software rasteriser
    such as llvmpipe the CPU renderer is ~4x faster: 4.9 ms against 22 ms per 720p frame here)."""
    from studio.render.cpu import CpuRenderer, warmup

    if kind != "cpu":
        try:
            from studio.render.egl import EglContext
            from studio.render.gl import GlRenderer

            ctx = EglContext()
            from OpenGL import GL

            name = (GL.glGetString(GL.GL_RENDERER) or b"").decode(errors="replace").lower()
            if kind == "gl" or not any(k in name for k in SOFTWARE_GL):
                return GlRenderer(settings), ctx
            ctx.close()
        except StudioError:
            if kind == "gl":
                raise
    warmup()  # load the compiled kernels now, not on the first live frame
    return CpuRenderer(settings), None


class VideoBackgroundRenderer:
    """A renderer whose replacement background advances one video frame per rendered frame (`feed.next()`)."""

    def __init__(self, renderer, feed):
        self._r = renderer
        self._feed = feed
        self._first = True

    def __getattr__(self, name):
        return getattr(self._r, name)

    def render(self, frame, mask, prepared=None, **kw):
        """kw: what the wrapped renderer takes besides (picture=N from the live pipeline)."""
        if not self._first:
            self._r.set_background(self._feed.next())
        self._first = False
        if prepared is None:
            return self._r.render(frame, mask, **kw)
        return self._r.render(frame, mask, prepared=prepared, **kw)
