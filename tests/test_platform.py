"""Per-OS choices live in studio.platform; the choice logic is tested here for every OS value."""
import pytest

from studio import platform as plat


@pytest.mark.parametrize("system,expected", [("linux", "egl"), ("linux2", "egl"), ("win32", None),
                                             ("darwin", None), ("freebsd13", None)])
def test_gl_platform_per_os(system, expected):
    assert plat.gl_platform(system) == expected


def test_bind_leaves_other_systems_to_qt(monkeypatch):
    monkeypatch.delenv("PYOPENGL_PLATFORM", raising=False)
    assert plat.bind_gl_platform("darwin") is None
    import os

    assert "PYOPENGL_PLATFORM" not in os.environ
    assert plat.bind_gl_platform("linux") == "egl" and os.environ["PYOPENGL_PLATFORM"] == "egl"


@pytest.mark.parametrize("system", ["win32", "darwin"])
def test_linux_only_parts_answer_neutrally_elsewhere(monkeypatch, system):
    monkeypatch.setattr(plat.sys, "platform", system)
    assert plat.video_devices() == []
    assert plat.device_readers("/dev/video9") == 1       # a client is assumed: on-demand never releases
    monkeypatch.setattr(plat, "_done", False)
    assert plat.tune_allocator() is False                 # glibc's mallopt is Linux's


def test_headless_render_falls_back_to_the_cpu_twin_without_egl(monkeypatch):
    """Where EGL cannot start (Windows, macOS, a machine without libEGL), `auto` renders on the CPU."""
    from studio import render
    from studio.render import egl

    class NoEgl:
        def __init__(self):
            raise egl.GlUnavailable("EGL is not available here")

    monkeypatch.setattr(egl, "EglContext", NoEgl)
    r, ctx = render.make_renderer("auto", render.EffectSettings())
    assert r.name == "cpu" and ctx is None
    with pytest.raises(egl.GlUnavailable):
        render.make_renderer("gl", render.EffectSettings())
