"""A headless OpenGL 3.3 core context through EGL (Mesa surfaceless or any EGL device), for the CLI and tests.

PyOpenGL must be told to use EGL before OpenGL is first imported; `ensure_egl_platform()` does that."""
from __future__ import annotations

import ctypes
import os

from studio import StudioError


class GlUnavailable(StudioError):
    pass


def ensure_egl_platform() -> None:
    """Bind PyOpenGL to EGL where this system has it (Linux); elsewhere EglContext() says it is unavailable."""
    from studio.platform import bind_gl_platform

    bind_gl_platform()


class EglContext:
    """Owns an EGL display and a surfaceless GL 3.3 core context; make_current() on the thread that renders."""

    def __init__(self):
        ensure_egl_platform()
        if os.environ.get("PYOPENGL_PLATFORM") != "egl":
            raise GlUnavailable("PyOpenGL is bound to another platform; set PYOPENGL_PLATFORM=egl before start")
        try:
            from OpenGL import EGL
        except Exception as e:  # ImportError or a missing libEGL
            raise GlUnavailable(f"EGL is not available ({e}); install Mesa EGL (libegl1, libegl-mesa0)") from None
        self._egl = EGL
        dpy = EGL.EGL_NO_DISPLAY
        try:
            from OpenGL.EGL.EXT.platform_base import eglGetPlatformDisplayEXT

            dpy = eglGetPlatformDisplayEXT(0x31DD, EGL.EGL_DEFAULT_DISPLAY, None)  # EGL_PLATFORM_SURFACELESS_MESA
        except Exception:
            dpy = EGL.EGL_NO_DISPLAY
        if not dpy:
            dpy = EGL.eglGetDisplay(EGL.EGL_DEFAULT_DISPLAY)
        major, minor = EGL.EGLint(), EGL.EGLint()
        try:
            ok = dpy and EGL.eglInitialize(dpy, ctypes.pointer(major), ctypes.pointer(minor))
        except Exception as e:
            raise GlUnavailable(f"cannot initialise EGL: {e}") from None
        if not ok:
            raise GlUnavailable("cannot initialise EGL (no GPU driver or Mesa found)")
        self.display = dpy
        attribs = (EGL.EGLint * 5)(EGL.EGL_RENDERABLE_TYPE, EGL.EGL_OPENGL_BIT, EGL.EGL_SURFACE_TYPE,
                                   EGL.EGL_PBUFFER_BIT, EGL.EGL_NONE)
        config = EGL.EGLConfig()
        n = EGL.EGLint()
        if not EGL.eglChooseConfig(dpy, attribs, ctypes.pointer(config), 1, ctypes.pointer(n)) or n.value < 1:
            attribs = (EGL.EGLint * 3)(EGL.EGL_RENDERABLE_TYPE, EGL.EGL_OPENGL_BIT, EGL.EGL_NONE)
            if not EGL.eglChooseConfig(dpy, attribs, ctypes.pointer(config), 1, ctypes.pointer(n)) or n.value < 1:
                raise GlUnavailable("no EGL config with desktop OpenGL")
        EGL.eglBindAPI(EGL.EGL_OPENGL_API)
        ctx_attribs = (EGL.EGLint * 7)(EGL.EGL_CONTEXT_MAJOR_VERSION, 3, EGL.EGL_CONTEXT_MINOR_VERSION, 3,
                                       EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK,
                                       EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL.EGL_NONE)
        ctx = EGL.eglCreateContext(dpy, config, EGL.EGL_NO_CONTEXT, ctx_attribs)
        if not ctx:
            raise GlUnavailable("cannot create an OpenGL 3.3 core context through EGL")
        self.context = ctx
        self.make_current()

    def make_current(self) -> None:
        EGL = self._egl
        if not EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, self.context):
            raise GlUnavailable("eglMakeCurrent failed (surfaceless contexts unsupported?)")

    def close(self) -> None:
        if getattr(self, "context", None):
            EGL = self._egl
            EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
            EGL.eglDestroyContext(self.display, self.context)
            self.context = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
