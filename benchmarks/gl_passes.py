"""The GL path per pass at 720p, 1080p and 4K, and the output's read-back, on whatever EGL gives (a GPU driver or
Mesa llvmpipe). Needs numpy, OpenCV, PyOpenGL and this package; no model (the mask is drawn, at the hd tier's
320x176) and no Qt (the window's read-back is the same GL calls the viewport makes, run under EGL).

    python benchmarks/gl_passes.py [--frames N] [--sizes 1280x720,1920x1080,3840x2160] [--json OUT]

Per pass: GPU time from GL_TIMESTAMP queries around each draw call (no glFinish between passes, so the passes
run as they do live). Read-back: glReadPixels of the finished frame (synchronous), and the PBO path the window
uses when its output is on (the previous frame mapped while this one is read: CPU time on the calling thread).
Frame: the window's path at 1920x1080, i.e. the effect drawn into the widget's framebuffer, drawn again offscreen
at the source size and read back through the PBOs, as wall time per frame."""
from __future__ import annotations

import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.render.egl import EglContext  # noqa: E402
from studio.render.gl import GlRenderer  # noqa: E402
from studio.settings import EffectSettings  # noqa: E402

MASK_W, MASK_H = 320, 176
WINDOW = (1920, 1080)


def summarize(xs) -> dict:
    a = np.asarray(xs, np.float64)
    return {"median": round(float(np.median(a)), 4), "p95": round(float(np.percentile(a, 95)), 4), "n": len(a)}


def picture(w: int, h: int, seed: int) -> np.ndarray:
    """A textured frame (gradient, noise, edges): content does not change GPU time, but it is not flat."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / w * 200, y / h * 200, (x + y) / (w + h) * 255], -1)
    img = base + rng.normal(0, 12, (h, w, 3))
    img[(x // 64 + y // 64) % 2 == 0] *= 0.8
    return np.clip(img, 0, 255).astype(np.uint8)


def person_mask(t: int) -> np.ndarray:
    """A soft head-and-shoulders probability at mask resolution, swaying with t."""
    y, x = np.mgrid[0:MASK_H, 0:MASK_W].astype(np.float32)
    cx = MASK_W / 2 + 20 * np.sin(t / 15)
    head = ((x - cx) / 45) ** 2 + ((y - 60) / 55) ** 2
    body = ((x - cx) / 120) ** 2 + ((y - 190) / 80) ** 2
    d = np.minimum(head, body)
    return np.clip((1.15 - d) * 4, 0, 1).astype(np.float32)


class TimedGl(GlRenderer):
    """GlRenderer with a GL_TIMESTAMP before and after every pass; the stage timers (GL_TIME_ELAPSED) stay off
    because the timestamps measure the same thing pass by pass."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.stamps: list[tuple[str, int, int]] = []
        self.timing = True        # False: plain passes, as the window draws them

    def _query_begin(self, stage):
        pass

    def _query_end(self):
        pass

    def _collect_queries(self):
        pass

    def _pass(self, prog_name, fbo, w, h, textures, uniforms, viewport=None):
        GL = self.GL
        if not self.timing:
            return super()._pass(prog_name, fbo, w, h, textures, uniforms, viewport)
        q0, q1 = (int(q) for q in GL.glGenQueries(2))
        GL.glQueryCounter(q0, GL.GL_TIMESTAMP)
        super()._pass(prog_name, fbo, w, h, textures, uniforms, viewport)
        GL.glQueryCounter(q1, GL.GL_TIMESTAMP)
        self.stamps.append((prog_name.split(".")[0], q0, q1))

    def pass_ms(self) -> dict[str, float]:
        """GPU ms per stage of the draws since the last call (passes of one program add up); blocks."""
        GL = self.GL
        out: dict[str, float] = {}
        a, b = ctypes.c_uint64(), ctypes.c_uint64()   # PyOpenGL cannot size a 64-bit result itself
        for stage, q0, q1 in self.stamps:
            GL.glGetQueryObjectui64v(q0, GL.GL_QUERY_RESULT, ctypes.byref(a))
            GL.glGetQueryObjectui64v(q1, GL.GL_QUERY_RESULT, ctypes.byref(b))
            out[stage] = out.get(stage, 0.0) + (b.value - a.value) / 1e6
            GL.glDeleteQueries(2, [q0, q1])
        self.stamps = []
        return out


def bench_size(GL, w: int, h: int, frames: int, settings: EffectSettings, byte_upload=None) -> dict:
    frames_in = [picture(w, h, s) for s in range(4)]
    masks = [person_mask(t) for t in range(32)]
    bg = picture(w, h, 99)[:, ::-1].copy()
    g = TimedGl(settings, byte_upload=byte_upload)
    win = (g._target("window", *WINDOW, GL.GL_RGBA8)[1], *WINDOW)   # a framebuffer standing in for the widget's
    g.set_background(bg)
    warm = 10
    per: dict[str, list] = {}
    upload, submit, total = [], [], []
    for i in range(frames + warm):
        f, m = frames_in[i % 4], masks[i % 32]
        GL.glFinish()
        t0 = time.perf_counter()
        g.draw(f, m)
        t1 = time.perf_counter()
        st = g.pass_ms()          # waits for the GPU
        if i < warm:
            continue
        submit.append((t1 - t0) * 1e3)
        total.append(sum(st.values()))
        for k, v in st.items():
            per.setdefault(k, []).append(v)
    # the upload alone (frame + mask), wall time to finished; the unpack pass untimed, as the driver's path
    g.timing = False
    for i in range(frames):
        GL.glFinish()
        t0 = time.perf_counter()
        g._upload("frame", frames_in[i % 4])
        g._upload("mask", masks[i % 32])
        GL.glFinish()
        upload.append((time.perf_counter() - t0) * 1e3)
    g.timing = True
    # read-back of the finished frame: synchronous glReadPixels
    sync = []
    for i in range(frames):
        g.draw(frames_in[i % 4], masks[i % 32])
        g.pass_ms()
        t0 = time.perf_counter()
        out = g.read_output()
        sync.append((time.perf_counter() - t0) * 1e3)
    assert out.shape == (h, w, 3)
    # the window with its output on: effect into the widget's framebuffer, again offscreen, PBO read-back
    pbo, frame_ms, got = [], [], 0
    g.timing = False
    for i in range(frames + warm):
        t0 = time.perf_counter()
        g.draw(frames_in[i % 4], masks[i % 32], target=(*win, True))
        g.draw(frames_in[i % 4], masks[i % 32], advance=False)
        t1 = time.perf_counter()
        img = g.read_output_async()
        t2 = time.perf_counter()
        GL.glFinish()   # the buffer swap's wait, as vsync-free as it gets
        t3 = time.perf_counter()
        if i >= warm:
            pbo.append((t2 - t1) * 1e3)
            frame_ms.append((t3 - t0) * 1e3)
            got += img is not None
    g.release()
    return {"passes_gpu_ms": {k: summarize(v) for k, v in per.items()},
            "draw_gpu_ms": summarize(total), "draw_submit_cpu_ms": summarize(submit),
            "upload_ms": summarize(upload), "readback_sync_ms": summarize(sync),
            "readback_pbo_cpu_ms": summarize(pbo), "window_frame_with_output_ms": summarize(frame_ms),
            "window_fps_with_output": round(1e3 / float(np.median(frame_ms)), 1), "pbo_images": got}


def _tex(GL, internal, w, h):
    tid = int(GL.glGenTextures(1))
    GL.glBindTexture(GL.GL_TEXTURE_2D, tid)
    GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal, w, h, 0, GL.GL_RED, GL.GL_UNSIGNED_BYTE, None)
    return tid


def bench_transfer(GL, w: int, h: int, frames: int) -> dict:
    """Ways to move a BGR frame in and out: CPU ms on the calling thread (`call`) and to finished (`done`)."""
    img = picture(w, h, 1)
    GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    rgb8, rgba8 = _tex(GL, GL.GL_RGB8, w, h), _tex(GL, GL.GL_RGBA8, w, h)
    r8 = _tex(GL, GL.GL_R8, 3 * w, h)
    pbo = int(GL.glGenBuffers(1))
    GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
    GL.glBufferData(GL.GL_PIXEL_UNPACK_BUFFER, img.nbytes, None, GL.GL_STREAM_DRAW)
    GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
    import cv2

    def up_bgr():
        GL.glBindTexture(GL.GL_TEXTURE_2D, rgb8)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, img)

    def up_bgr_into_rgba():
        GL.glBindTexture(GL.GL_TEXTURE_2D, rgba8)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, img)

    def up_bgra():
        four = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
        GL.glBindTexture(GL.GL_TEXTURE_2D, rgba8)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_BGRA, GL.GL_UNSIGNED_INT_8_8_8_8_REV, four)

    def up_r8():
        GL.glBindTexture(GL.GL_TEXTURE_2D, r8)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, 3 * w, h, GL.GL_RED, GL.GL_UNSIGNED_BYTE, img)

    def up_pbo_bgr():
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, pbo)
        GL.glBufferSubData(GL.GL_PIXEL_UNPACK_BUFFER, 0, img.nbytes, img)
        GL.glBindTexture(GL.GL_TEXTURE_2D, rgb8)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, ctypes.c_void_p(0))
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)

    fbo = int(GL.glGenFramebuffers(1))
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, rgba8, 0)

    def rd_bgr():
        GL.glReadPixels(0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE)

    def rd_bgra_cvt():
        d = GL.glReadPixels(0, 0, w, h, GL.GL_BGRA, GL.GL_UNSIGNED_BYTE)
        cv2.cvtColor(np.frombuffer(d, np.uint8).reshape(h, w, 4), cv2.COLOR_BGRA2BGR)

    def rd_rgba_cvt():
        d = GL.glReadPixels(0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        cv2.cvtColor(np.frombuffer(d, np.uint8).reshape(h, w, 4), cv2.COLOR_RGBA2BGR)

    out = {}
    for name, fn in (("upload_bgr_rgb8", up_bgr), ("upload_bgr_rgba8", up_bgr_into_rgba),
                     ("upload_bgra_cvt", up_bgra), ("upload_r8_3w", up_r8), ("upload_pbo_bgr", up_pbo_bgr),
                     ("read_bgr", rd_bgr), ("read_bgra_cvt", rd_bgra_cvt), ("read_rgba_cvt", rd_rgba_cvt)):
        call, done = [], []
        for i in range(frames + 5):
            GL.glFinish()
            t0 = time.perf_counter()
            fn()
            t1 = time.perf_counter()
            GL.glFinish()
            t2 = time.perf_counter()
            if i >= 5:
                call.append((t1 - t0) * 1e3)
                done.append((t2 - t0) * 1e3)
        out[name] = {"call": summarize(call), "done": summarize(done)}
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
    GL.glDeleteFramebuffers(1, [fbo])
    GL.glDeleteBuffers(1, [pbo])
    GL.glDeleteTextures([rgb8, rgba8, r8])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--sizes", default="1280x720,1920x1080,3840x2160")
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--transfer", action="store_true", help="only the ways to upload and read back a frame")
    ap.add_argument("--driver-upload", action="store_true",
                    help="upload BGR through the driver's conversion, as before the byte upload (for comparison)")
    a = ap.parse_args(argv)
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    ctx = EglContext()
    from OpenGL import GL

    res = {"renderer": GL.glGetString(GL.GL_RENDERER).decode(), "version": GL.glGetString(GL.GL_VERSION).decode(),
           "mask": f"{MASK_W}x{MASK_H}", "window": "{}x{}".format(*WINDOW), "frames": a.frames,
           "upload": "driver" if a.driver_upload else "auto"}
    print(res["renderer"], "|", res["version"], flush=True)
    if a.transfer:
        for w, h in sizes:
            r = res[f"transfer_{w}x{h}"] = bench_transfer(GL, w, h, a.frames)
            print(f"{w}x{h}: " + "; ".join(f"{k} {v['call']['median']:.3f}/{v['done']['median']:.3f}"
                                            for k, v in r.items()), flush=True)
        sizes = []
    for mode in ("blur", "replace") if sizes else ():
        for w, h in sizes:
            t0 = time.perf_counter()
            r = bench_size(GL, w, h, a.frames, EffectSettings(mode=mode),
                           byte_upload=False if a.driver_upload else None)
            res[f"{mode}_{w}x{h}"] = r
            passes = ", ".join(f"{k} {v['median']:.3f}" for k, v in r["passes_gpu_ms"].items())
            print(f"{mode} {w}x{h}: GPU {r['draw_gpu_ms']['median']:.3f} ms ({passes}); submit "
                  f"{r['draw_submit_cpu_ms']['median']:.3f}; upload {r['upload_ms']['median']:.3f}; read-back sync "
                  f"{r['readback_sync_ms']['median']:.3f}, PBO {r['readback_pbo_cpu_ms']['median']:.3f}; window+output "
                  f"{r['window_frame_with_output_ms']['median']:.3f} ms/frame [{time.perf_counter() - t0:.0f}s]",
                  flush=True)
    ctx.close()
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
