"""GlRenderer: the effect as GLSL passes (shaders/*.frag), drawing into whatever framebuffer it is handed.

It never creates or owns a context: call every method on the thread where the caller's context is current (the
viewport's GUI thread, or an EglContext for headless use). The maths is studio.render.effects; CpuRenderer is its twin."""
from __future__ import annotations

import time

import numpy as np

from studio import StudioError
from studio.imageops import fit_cover
from studio.render.effects import EffectPlan, make_plan, output_frame
from studio.settings import EffectSettings

_MODES = {"none": 0, "blur": 1, "replace": 2, "mask": 3}


class GlError(StudioError):
    pass


def _letterbox(fw: int, fh: int, width: int, height: int) -> tuple[float, float, float, float]:
    """Where an fw x fh image goes in a width x height target, aspect kept and centred: (x, y, w, h) pixels."""
    sc = min(width / fw, height / fh)
    return (width - fw * sc) / 2, (height - fh * sc) / 2, fw * sc, fh * sc


class GlRenderer:
    name = "gl"

    def __init__(self, settings: EffectSettings | None = None, shader_root=None, profile: bool = False,
                 byte_upload: bool | None = None):
        from OpenGL import GL

        from studio.render.shaders import ProgramCache

        self.GL = GL
        self.settings = settings or EffectSettings()
        self.programs = ProgramCache(shader_root)
        for f in ("temporal.frag", "downsample.frag", "refine.frag", "blur_prep.frag", "coc_blur.frag",
                  "wrap_blur.frag", "composite.frag", "unpack.frag", "show.frag"):
            self.programs.get(f)  # compile everything up front: errors surface at start, not mid-stream
        self.vao = GL.glGenVertexArrays(1)
        self._max_tex = int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE))
        if byte_upload is None:   # a GPU: the unpack pass is nearly free; llvmpipe: it costs 3x the copy it saves
            from studio.render import SOFTWARE_GL

            name = (GL.glGetString(GL.GL_RENDERER) or b"").decode(errors="replace").lower()
            byte_upload = not any(k in name for k in SOFTWARE_GL)
        self.byte_upload = byte_upload
        self._tex: dict[str, tuple[int, int, int]] = {}
        self._fbo: dict[str, int] = {}
        self._state = 0          # which of state0/state1 holds the latest smoothed mask
        self._have_state = False
        self._bg_image = None
        self._bg_key = None
        self._bg_version = 0
        self._bg_small_key = None
        self.profile = profile
        self.timings: dict[str, float] = {}
        self.gpu_ms: dict[str, float] = {}   # GPU time per stage, from timer queries one frame late
        self._queries: dict[str, list] = {}
        self._frame_no = 0
        self._pbos: list[int] = []           # output read-back, double-buffered
        self._pbo_size = None
        self._check("init")

    # -- resources ------------------------------------------------------------------------------------------
    def _check(self, where: str) -> None:
        err = self.GL.glGetError()
        if err != self.GL.GL_NO_ERROR:
            raise GlError(f"OpenGL error 0x{err:04x} in {where}")

    def _texture(self, name: str, w: int, h: int, internal, fmt, typ) -> int:
        GL = self.GL
        cur = self._tex.get(name)
        if cur and cur[1] == w and cur[2] == h:
            return cur[0]
        if cur:
            GL.glDeleteTextures([cur[0]])
            if name in self._fbo:
                GL.glDeleteFramebuffers(1, [self._fbo.pop(name)])
        tid = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tid)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, internal, w, h, 0, fmt, typ, None)
        for p, v in ((GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR), (GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR),
                     (GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE), (GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, v)
        self._tex[name] = (tid, w, h)
        return tid

    def _target(self, name: str, w: int, h: int, internal) -> tuple[int, int]:
        GL = self.GL
        fmt, typ = (GL.GL_RGBA, GL.GL_UNSIGNED_BYTE) if internal == GL.GL_RGBA8 else (GL.GL_RGBA, GL.GL_FLOAT)
        if internal == GL.GL_R32F:
            fmt = GL.GL_RED
        tid = self._texture(name, w, h, internal, fmt, typ)
        fbo = self._fbo.get(name)
        if fbo is None:
            fbo = GL.glGenFramebuffers(1)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tid, 0)
            if GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) != GL.GL_FRAMEBUFFER_COMPLETE:
                raise GlError(f"framebuffer for {name} incomplete")
            self._fbo[name] = fbo
        return tid, fbo

    def _upload(self, name: str, arr: np.ndarray) -> int:
        """A float32 mask into an R32F texture; a BGR uint8 image into an RGBA8 one: its bytes go up as they are
        (an R8 texture 3x as wide) and a pass unpacks them, where the driver's own BGR conversion runs on the CPU
        (720p on an H200's host: 0.22 ms against 1.13; 4K 2.9 against 9.3). On a software rasteriser
        (byte_upload False) and for images wider than a third of GL_MAX_TEXTURE_SIZE, the driver's way."""
        GL = self.GL
        h, w = arr.shape[:2]
        if self.byte_upload and arr.dtype == np.uint8 and arr.ndim == 3 and 3 * w <= self._max_tex:
            src = self._texture(f"{name}_bytes", 3 * w, h, GL.GL_R8, GL.GL_RED, GL.GL_UNSIGNED_BYTE)
            GL.glBindTexture(GL.GL_TEXTURE_2D, src)
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, 3 * w, h, GL.GL_RED, GL.GL_UNSIGNED_BYTE,
                               np.ascontiguousarray(arr))
            tid, fbo = self._target(name, w, h, GL.GL_RGBA8)
            self._pass("unpack.frag", fbo, w, h, {"u_bytes": src}, {})
            return tid
        if arr.dtype == np.float32:
            internal, fmt, typ = GL.GL_R32F, GL.GL_RED, GL.GL_FLOAT
        else:
            internal, fmt, typ = GL.GL_RGB8, GL.GL_BGR, GL.GL_UNSIGNED_BYTE
        tid = self._texture(name, w, h, internal, fmt, typ)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tid)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, typ, np.ascontiguousarray(arr))
        return tid

    def _pass(self, prog_name: str, fbo: int, w: int, h: int, textures: dict, uniforms: dict,
              viewport=None) -> None:
        GL = self.GL
        t0 = time.perf_counter() if self.profile else 0.0
        prog = self.programs.get(prog_name)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glViewport(*(viewport or (0, 0, w, h)))
        GL.glUseProgram(prog)
        for unit, (uname, tid) in enumerate(textures.items()):
            GL.glActiveTexture(GL.GL_TEXTURE0 + unit)
            GL.glBindTexture(GL.GL_TEXTURE_2D, tid)
            GL.glUniform1i(self.programs.uniform(prog, uname), unit)
        for uname, v in uniforms.items():
            self.programs.set_uniform(prog, uname, v)
        GL.glBindVertexArray(self.vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        if self.profile:
            GL.glFinish()
            stage = prog_name.split(".")[0]  # passes of one program add up (e.g. both blur directions)
            self.timings[stage] = self.timings.get(stage, 0.0) + (time.perf_counter() - t0) * 1e3

    # -- public ---------------------------------------------------------------------------------------------
    def reset(self) -> None:
        self._have_state = False

    def set_background(self, image: np.ndarray | None) -> None:
        self._bg_image = image
        self._bg_version += 1   # not id(): a freed frame's id can come back with the next video frame

    def draw(self, frame: np.ndarray, mask: np.ndarray, settings: EffectSettings | None = None,
             target: tuple | None = None, advance: bool = True, size: tuple[int, int] | None = None) -> int:
        """Run every pass. Without `target` the result is left in the 'out' texture (RGBA8, frame size; in
        replace with `size`, that size), whose id is returned. With target=(fbo, width, height, mirror) the
        composite is drawn straight into that framebuffer (a widget's), aspect kept. advance=False redraws the
        same frame without stepping the temporal smoothing again (a repaint, or a settings change between
        frames). The passes mirror CpuRenderer: temporal + refine (the mask-resolution half), then the
        background layer, then composite.
        size: the output's size, where the frame is smaller (effects.output_frame)."""
        s = settings or self.settings
        frame, size = output_frame(frame, s, size)
        fh, fw = frame.shape[:2]
        plan = make_plan(s, (fw, fh), (mask.shape[1], mask.shape[0]), size)
        if self.profile:
            self.timings = {}
        frame_t, raw_t = self._upload_inputs(frame, mask, advance)
        self._query_begin("refine")
        weight_t = self._refine(frame_t, self._temporal(raw_t, plan, advance), plan)
        self._query_end()
        self._query_begin("render")
        layers = {"u_frame": frame_t, "u_weight": weight_t, "u_blur": weight_t, "u_bg": weight_t,
                  "u_wrap": weight_t, "u_fg": weight_t, "u_bgc": weight_t, "u_edge": weight_t}
        wrap_on = False
        if s.mode == "blur":
            layers["u_blur"] = self._coc_blur(frame_t, weight_t, plan)
        elif s.mode == "replace":
            layers["u_bg"] = self._background(plan)
            wrap_on = plan.wrap_strength > 0 and len(plan.wrap_kernel) > 1
            if wrap_on:
                layers["u_wrap"] = self._wrap(layers["u_bg"], weight_t, plan)
            if plan.clean_edges:
                layers["u_fg"], layers["u_bgc"], layers["u_edge"] = self._edge_colours(frame_t, weight_t, plan)
        out_t = self._composite(layers, {"u_mode": _MODES[s.mode], "u_wrap_on": wrap_on,
                                         "u_wrap_add": plan.wrap_add, "u_clean": plan.clean_edges},
                                (fw, fh), target)
        self._query_end()
        self._collect_queries()
        self._check("draw")
        return out_t

    def show(self, image: np.ndarray, target: tuple) -> None:
        """Draw a finished BGR image (the CPU twin's) into target=(fbo, width, height, mirror), aspect kept: one
        upload and show.frag's single fetch, none of the effect passes. On llvmpipe the composite's program, even
        on its plain path, made the window's frame cost 51 ms of CPU against 42 (shaders/show.frag)."""
        t = self._upload("shown", image)
        fbo, width, height, mirror = target
        rect = _letterbox(image.shape[1], image.shape[0], width, height)
        self._pass("show.frag", fbo, width, height, {"u_frame": t}, {"u_rect": rect, "u_mirror": bool(mirror)})
        self._check("show")

    # -- the passes, in the order CpuRenderer runs the same maths ------------------------------------------------
    def _upload_inputs(self, frame, mask, advance: bool) -> tuple[int, int]:
        t0 = time.perf_counter()
        if advance or "frame" not in self._tex:
            frame_t = self._upload("frame", frame)
            raw_t = self._upload("mask", np.ascontiguousarray(mask, dtype=np.float32))
        else:
            frame_t, raw_t = self._tex["frame"][0], self._tex["mask"][0]
        if self.profile:
            self.GL.glFinish()
            self.timings["upload"] = (time.perf_counter() - t0) * 1e3
        return frame_t, raw_t

    def _temporal(self, raw_t: int, plan: EffectPlan, advance: bool) -> int:
        """Temporal smoothing, ping-pong at mask resolution; a repaint reuses the last state."""
        GL = self.GL
        mw, mh = plan.mask_w, plan.mask_h
        if not advance and self._have_state:
            return self._tex[f"state{self._state}"][0]
        prev_t, _ = self._target(f"state{self._state}", mw, mh, GL.GL_R32F)
        state_t, state_f = self._target(f"state{1 - self._state}", mw, mh, GL.GL_R32F)
        first = not self._have_state or self._tex.get("_state_size") != (mw, mh)
        self._pass("temporal.frag", state_f, mw, mh, {"u_raw": raw_t, "u_prev": prev_t},
                   {"u_smoothing": float(plan.smoothing), "u_first": first})
        self._state = 1 - self._state
        self._have_state = True
        self._tex["_state_size"] = (mw, mh)
        return state_t

    def _refine(self, frame_t: int, state_t: int, plan: EffectPlan) -> int:
        """Separable joint bilateral (horizontal into refine_h, then vertical with coverage): the blend weight."""
        GL = self.GL
        rw, rh = plan.refine_w, plan.refine_h
        guide_t, guide_f = self._target("guide", rw, rh, GL.GL_RGBA8)
        if plan.refine:
            self._pass("downsample.frag", guide_f, rw, rh, {"u_src": frame_t}, {"u_size": (rw, rh)})
        weight_t, weight_f = self._target("weight", rw, rh, GL.GL_R32F)
        common = {"u_size": (rw, rh), "u_refine": plan.refine, "u_step": plan.tap_step,
                  "u_sigma_space": plan.sigma_space, "u_sigma_color": plan.sigma_color,
                  "u_coverage": plan.coverage}
        src_t = state_t
        if plan.refine:
            rh_t, rh_f = self._target("refine_h", rw, rh, GL.GL_R32F)
            self._pass("refine.frag", rh_f, rw, rh, {"u_mask": state_t, "u_guide": guide_t},
                       {**common, "u_axis": (1, 0), "u_final": False})
            src_t = rh_t
        self._pass("refine.frag", weight_f, rw, rh, {"u_mask": src_t, "u_guide": guide_t},
                   {**common, "u_axis": (0, 1), "u_final": True})
        return weight_t

    def _coc_blur(self, frame_t: int, weight_t: int, plan: EffectPlan) -> int:
        """The frame at blur resolution with its person weight, then the CoC gather blur, both directions."""
        GL = self.GL
        bw, bh = plan.blur_w, plan.blur_h
        small_t, small_f = self._target("small", bw, bh, GL.GL_RGBA32F)
        self._pass("blur_prep.frag", small_f, bw, bh, {"u_src": frame_t, "u_weight": weight_t}, {"u_size": (bw, bh)})
        h_t, h_f = self._target("blur_h", bw, bh, GL.GL_RGBA32F)
        blur_t, v_f = self._target("blur_v", bw, bh, GL.GL_RGBA32F)
        common = {"u_size": (bw, bh), "u_cmax": plan.cmax, "u_taps": plan.coc_taps}
        self._pass("coc_blur.frag", h_f, bw, bh, {"u_src": small_t}, {**common, "u_axis": (1, 0)})
        self._pass("coc_blur.frag", v_f, bw, bh, {"u_src": h_t}, {**common, "u_axis": (0, 1)})
        return blur_t

    def _wrap(self, bg_t: int, weight_t: int, plan: EffectPlan) -> int:
        """Light wrap at blur resolution: the background blurred, and how much of it surrounds each pixel."""
        GL = self.GL
        bw, bh = plan.blur_w, plan.blur_h
        bsm_t, bsm_f = self._target("bg_small", bw, bh, GL.GL_RGBA8)
        if self._bg_small_key != (self._bg_key, bw, bh):  # a still background is downsampled once
            self._pass("downsample.frag", bsm_f, bw, bh, {"u_src": bg_t}, {"u_size": (bw, bh)})
            self._bg_small_key = (self._bg_key, bw, bh)
        k = plan.wrap_kernel
        r = len(k) // 2
        if r > 64:
            raise GlError("light-wrap kernel too wide")
        kern = np.zeros(129, np.float32)
        kern[:len(k)] = k
        wh_t, wh_f = self._target("wrap_h", bw, bh, GL.GL_RGBA32F)
        wrap_t, wv_f = self._target("wrap_v", bw, bh, GL.GL_RGBA32F)
        common = {"u_size": (bw, bh), "u_radius": r, "u_kernel": kern, "u_strength": plan.wrap_strength}
        self._pass("wrap_blur.frag", wh_f, bw, bh, {"u_src": bsm_t, "u_weight": weight_t},
                   {**common, "u_axis": (1, 0), "u_first": True})
        self._pass("wrap_blur.frag", wv_f, bw, bh, {"u_src": wh_t, "u_weight": weight_t},
                   {**common, "u_axis": (0, 1), "u_first": False})
        return wrap_t

    @staticmethod
    def _kernel(k: np.ndarray) -> tuple[int, np.ndarray]:
        r = len(k) // 2
        if r > 64:
            raise GlError("kernel too wide")
        kern = np.zeros(129, np.float32)
        kern[:len(k)] = k
        return r, kern

    def _edge_colours(self, frame_t: int, weight_t: int, plan: EffectPlan) -> tuple[int, int, int]:
        """Clean edges: Fs and Bs at half the blur resolution, the edge band at blur resolution (textures)."""
        GL = self.GL
        gw, gh = plan.fg_w, plan.fg_h
        small_t, small_f = self._target("fg_small", gw, gh, GL.GL_RGBA8)
        self._pass("downsample.frag", small_f, gw, gh, {"u_src": frame_t}, {"u_size": (gw, gh)})
        r, kern = self._kernel(plan.fg_inner_kernel)
        h_t, h_f = self._target("fg_wh", gw, gh, GL.GL_RGBA32F)
        wi_t, wi_f = self._target("fg_wi", gw, gh, GL.GL_RGBA32F)
        common = {"u_size": (gw, gh), "u_radius": r, "u_kernel": kern}
        self._pass("fg_weight.frag", h_f, gw, gh, {"u_src": weight_t}, {**common, "u_axis": (1, 0), "u_first": True})
        self._pass("fg_weight.frag", wi_f, gw, gh, {"u_src": h_t}, {**common, "u_axis": (0, 1), "u_first": False})
        r, kern = self._kernel(plan.fg_kernel)
        common = {"u_size": (gw, gh), "u_radius": r, "u_kernel": kern}
        out = []
        for which, name in ((0, "fg_fs"), (1, "fg_bs")):
            mh_t, mh_f = self._target(name + "_h", gw, gh, GL.GL_RGBA32F)
            m_t, m_f = self._target(name, gw, gh, GL.GL_RGBA32F)
            self._pass("fg_means.frag", mh_f, gw, gh, {"u_src": small_t, "u_wi": wi_t},
                       {**common, "u_axis": (1, 0), "u_first": True, "u_which": which})
            self._pass("fg_means.frag", m_f, gw, gh, {"u_src": mh_t, "u_wi": wi_t},
                       {**common, "u_axis": (0, 1), "u_first": False, "u_which": which})
            out.append(m_t)
        bw, bh = plan.blur_w, plan.blur_h
        r, kern = self._kernel(plan.fg_edge_kernel)
        common = {"u_size": (bw, bh), "u_radius": r, "u_kernel": kern}
        eh_t, eh_f = self._target("fg_edge_h", bw, bh, GL.GL_RGBA32F)
        edge_t, edge_f = self._target("fg_edge", bw, bh, GL.GL_RGBA32F)
        self._pass("fg_edge.frag", eh_f, bw, bh, {"u_src": weight_t}, {**common, "u_axis": (1, 0), "u_first": True})
        self._pass("fg_edge.frag", edge_f, bw, bh, {"u_src": eh_t}, {**common, "u_axis": (0, 1), "u_first": False})
        return out[0], out[1], edge_t

    def _composite(self, layers: dict, uniforms: dict, frame_size, target) -> int:
        """Into the offscreen 'out' texture (returned), or into a widget's framebuffer with aspect kept."""
        fw, fh = frame_size
        if target is None:
            out_t, out_f = self._target("out", fw, fh, self.GL.GL_RGBA8)
            self._pass("composite.frag", out_f, fw, fh, layers,
                       {**uniforms, "u_rect": (0.0, 0.0, fw, fh), "u_flip": False, "u_mirror": False})
            return out_t
        fbo, width, height, mirror = target
        self._pass("composite.frag", fbo, width, height, layers,
                   {**uniforms, "u_rect": _letterbox(fw, fh, width, height), "u_flip": True,
                    "u_mirror": bool(mirror)})
        return 0

    # -- GPU timers (GL_TIME_ELAPSED, double-buffered so reading never stalls the pipeline) --------------------
    def _query_begin(self, stage: str) -> None:
        GL = self.GL
        qs = self._queries.get(stage)
        if qs is None:
            qs = self._queries[stage] = [int(q) for q in GL.glGenQueries(2)] + [False, False]
        slot = self._frame_no % 2
        GL.glBeginQuery(GL.GL_TIME_ELAPSED, qs[slot])
        qs[2 + slot] = True

    def _query_end(self) -> None:
        self.GL.glEndQuery(self.GL.GL_TIME_ELAPSED)

    def _collect_queries(self) -> None:
        """Read last frame's timers if they are ready (they usually are): GPU ms per stage."""
        GL = self.GL
        prev = (self._frame_no + 1) % 2
        for stage, qs in self._queries.items():
            if not qs[2 + prev]:
                continue
            if GL.glGetQueryObjectuiv(qs[prev], GL.GL_QUERY_RESULT_AVAILABLE):
                ns = GL.glGetQueryObjectuiv(qs[prev], GL.GL_QUERY_RESULT)  # 32 bits of ns: < 4 s
                self.gpu_ms[stage] = float(ns) / 1e6
                qs[2 + prev] = False
        self._frame_no += 1

    def _background(self, plan: EffectPlan) -> int:
        key = (plan.frame_w, plan.frame_h, self._bg_version)
        if self._bg_key != key:
            if self._bg_image is None:
                img = np.zeros((plan.frame_h, plan.frame_w, 3), np.uint8)
            else:
                img = fit_cover(self._bg_image, plan.frame_w, plan.frame_h)
            self._upload("bg", img)
            self._bg_key = key
        return self._tex["bg"][0]

    def _read(self, name: str, fmt, typ, dtype, channels: int) -> np.ndarray:
        GL = self.GL
        _, w, h = self._tex[name]
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo[name])
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, w, h, fmt, typ)
        self._check(f"read {name}")
        shape = (h, w) if channels == 1 else (h, w, channels)
        return np.frombuffer(data, dtype).reshape(shape).copy()

    def read_weight(self) -> np.ndarray:
        """The refined weight of the last draw (for the mask panel), float32 at refine resolution."""
        return self._read("weight", self.GL.GL_RED, self.GL.GL_FLOAT, np.float32, 1)

    def read_output_async(self) -> np.ndarray | None:
        """Start copying the last offscreen draw into one of two pixel-buffer objects and return the other's
        pixels: the previous draw's image (BGR uint8, frame size), or None right after the first draw or a size
        change. glReadPixels into a PBO returns at once, and the buffer mapped was filled a frame ago, so the
        calling (GUI) thread does not wait for the GPU."""
        import ctypes

        GL = self.GL
        _, w, h = self._tex["out"]
        nbytes = w * h * 3
        if self._pbo_size != (w, h):
            self._release_pbos()
            self._pbos = [int(b) for b in GL.glGenBuffers(2)]
            for b in self._pbos:
                GL.glBindBuffer(GL.GL_PIXEL_PACK_BUFFER, b)
                GL.glBufferData(GL.GL_PIXEL_PACK_BUFFER, nbytes, None, GL.GL_STREAM_READ)
            self._pbo_size, self._pbo_full, self._pbo_next = (w, h), [False, False], 0
        i, j = self._pbo_next, 1 - self._pbo_next
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo["out"])
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glBindBuffer(GL.GL_PIXEL_PACK_BUFFER, self._pbos[i])
        GL.glReadPixels(0, 0, w, h, GL.GL_BGR, GL.GL_UNSIGNED_BYTE, ctypes.c_void_p(0))
        self._pbo_full[i] = True
        out = None
        if self._pbo_full[j]:
            GL.glBindBuffer(GL.GL_PIXEL_PACK_BUFFER, self._pbos[j])
            ptr = GL.glMapBufferRange(GL.GL_PIXEL_PACK_BUFFER, 0, nbytes, GL.GL_MAP_READ_BIT)
            addr = ptr if isinstance(ptr, int) else ctypes.cast(ptr, ctypes.c_void_p).value
            out = np.ctypeslib.as_array((ctypes.c_ubyte * nbytes).from_address(addr)).reshape(h, w, 3).copy()
            GL.glUnmapBuffer(GL.GL_PIXEL_PACK_BUFFER)
            self._pbo_full[j] = False
        GL.glBindBuffer(GL.GL_PIXEL_PACK_BUFFER, 0)
        self._pbo_next = j
        self._check("read back")
        return out

    def _release_pbos(self) -> None:
        if self._pbos:
            self.GL.glDeleteBuffers(len(self._pbos), self._pbos)
        self._pbos, self._pbo_size = [], None

    def read_output(self) -> np.ndarray:
        """The last offscreen draw, BGR uint8 at the size drawn (draw's 'out' texture)."""
        return self._read("out", self.GL.GL_BGR, self.GL.GL_UNSIGNED_BYTE, np.uint8, 3)

    def render(self, frame: np.ndarray, mask: np.ndarray, settings: EffectSettings | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
        """Draw and read back (BGR uint8): the headless path and the twin of CpuRenderer.render."""
        t0 = time.perf_counter()
        self.draw(frame, mask, settings, size=size)
        out = self.read_output()
        self.timings["render"] = (time.perf_counter() - t0) * 1e3
        return out

    def release(self) -> None:
        GL = self.GL
        for name, v in list(self._tex.items()):
            if not name.startswith("_"):
                GL.glDeleteTextures([v[0]])
        for f in self._fbo.values():
            GL.glDeleteFramebuffers(1, [f])
        self._tex.clear()
        self._fbo.clear()
        for qs in self._queries.values():
            GL.glDeleteQueries(2, qs[:2])
        self._queries.clear()
        self._release_pbos()
        self.programs.release()
        GL.glDeleteVertexArrays(1, [self.vao])
