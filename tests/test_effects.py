"""The GLSL passes against their CPU twin, on real frames, through a real EGL/Mesa context."""
import cv2
import numpy as np
import pytest

from studio.render.cpu import CpuRenderer, coc_blur, temporal
from studio.render.effects import make_plan
from studio.render.gl import GlRenderer
from studio.segment.segmenter import Segmenter
from studio.settings import EffectSettings

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def mask(portrait):
    return Segmenter("full")(portrait).mask.copy()


def _parity(a, b):
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.float32)
    return d.mean(), np.percentile(d, 99)


@pytest.mark.parametrize("mode", ["blur", "replace", "mask", "none"])
def test_gl_matches_cpu(mode, gl_context, portrait, mask, background):
    s = EffectSettings(mode=mode)
    g, c = GlRenderer(s), CpuRenderer(s)
    g.set_background(background)
    c.set_background(background)
    for _ in range(3):  # temporal state evolves the same way
        og, oc = g.render(portrait, mask), c.render(portrait, mask)
    mean, p99 = _parity(og, oc)
    # measured: mean 0.02/255 (blur, mask), 0.001 (replace), 0 (none); max 2-3/255, 4 in replace where clean
    # edges divide by a small colour difference (llvmpipe's bilinear weights have 8 bits)
    limit = 5 if mode == "replace" else 3
    assert mean <= 0.06 and p99 <= 1 and np.abs(og.astype(int) - oc.astype(int)).max() <= limit, (mean, p99)
    # the refined blend weight, pass by pass the same maths: measured mean 1e-5, max 0.04 (a handful of
    # pixels where a colour weight sits at the exp(-30) cut-off)
    twin = CpuRenderer(s)
    for _ in range(3):
        wc, _ = twin.prepare(portrait, mask)
    dw = np.abs(g.read_weight() - wc)
    assert dw.mean() < 1e-4 and dw.max() < 0.06, (dw.mean(), dw.max())
    if mode != "none":
        assert np.abs(og.astype(int) - portrait.astype(int)).mean() > (0.5 if mode == "blur" else 2)
    g.release()


def test_gl_matches_cpu_on_video_frames(gl_context, data_dir):
    cap = cv2.VideoCapture(str(data_dir / "webcam-clips/videos") + "/" +
                           sorted(p.name for p in (data_dir / "webcam-clips/videos").iterdir())[0])
    frames = [cap.read()[1] for _ in range(5)]
    seg = Segmenter("full")
    s = EffectSettings(mode="blur", max_coc=24.0)
    g, c = GlRenderer(s), CpuRenderer(s)
    for f in frames:
        m = seg(f).mask
        og, oc = g.render(f, m), c.render(f, m)
        mean, p99 = _parity(og, oc)
        assert mean <= 0.06 and p99 <= 1 and np.abs(og.astype(int) - oc.astype(int)).max() <= 3, (mean, p99)
    g.release()


@pytest.mark.parametrize("mode", ["blur", "replace"])
def test_a_smaller_frame_drawn_for_a_larger_output_looks_drawn_at_its_size(mode, portrait, mask, background):
    """The live pipeline keeps a 960x540 source's frames at that size for a 1280x720 output and the sink scales
    the drawn frame up (cheaper than drawing 1.8x the pixels). The picture must be the one drawing the scaled-up
    frame gives: the blur's working size and radius are the output's (measured: mean 0.16, p99 2 grey levels;
    with the blur measured in the small frame's pixels instead, p99 5), and replace draws at the output's size
    (its background has more detail than the frame): identical."""
    from studio.imageops import fit_cover

    small = cv2.resize(portrait, (960, 540), interpolation=cv2.INTER_AREA)
    s = EffectSettings(mode=mode)
    ref_r, r, naive_r = CpuRenderer(s), CpuRenderer(s), CpuRenderer(s)
    for x in (ref_r, r, naive_r):
        x.set_background(background)
    ref = ref_r.render(fit_cover(small, 1280, 720), mask)
    out = r.render(small, mask, size=(1280, 720))
    assert out.shape == ((540, 960, 3) if mode == "blur" else (720, 1280, 3))
    mean, p99 = _parity(ref, fit_cover(out, 1280, 720))
    naive = _parity(ref, fit_cover(naive_r.render(small, mask), 1280, 720))
    if mode == "blur":
        assert mean < 0.3 and p99 <= 2 and naive[1] >= 4, (mean, p99, naive)
    else:
        assert mean == 0 and naive[0] > 0.05, (mean, naive)


def test_gl_matches_cpu_drawing_a_smaller_frame_for_a_larger_output(gl_context, portrait, mask):
    small = cv2.resize(portrait, (960, 540), interpolation=cv2.INTER_AREA)
    s = EffectSettings(mode="blur")
    g, c = GlRenderer(s), CpuRenderer(s)
    og, oc = g.render(small, mask, size=(1280, 720)), c.render(small, mask, size=(1280, 720))
    mean, p99 = _parity(og, oc)
    assert og.shape == (540, 960, 3) and mean <= 0.06 and p99 <= 1, (mean, p99)
    assert _parity(og, g.render(small, mask))[1] >= 2     # the size reached the passes
    g.release()


def test_blur_keeps_person_sharp_and_blurs_background(portrait, mask):
    out = CpuRenderer(EffectSettings(mode="blur", max_coc=24.0)).render(portrait, mask)
    m = cv2.resize(mask, (1280, 720)) 
    lap = lambda im: np.abs(cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    person, bg = m > 0.95, m < 0.05
    assert lap(out)[person].mean() > 0.8 * lap(portrait)[person].mean()
    assert lap(out)[bg].mean() < 0.5 * lap(portrait)[bg].mean()


def test_coc_blur_does_not_spread_sharp_pixels():
    """A white 'person' square on black: no white may leak outside it."""
    img = np.zeros((60, 60, 3), np.uint8)
    w = np.zeros((60, 60), np.float32)
    img[20:40, 20:40] = 255
    w[20:40, 20:40] = 1.0
    plan = make_plan(EffectSettings(max_coc=8.0, blur_scale=0.5), (120, 120), (60, 60))
    out = coc_blur(img, w, plan)
    outside = np.ones((60, 60), bool)
    outside[18:42, 18:42] = False
    assert out[outside].max() < 1e-6
    gauss = cv2.GaussianBlur(img.astype(np.float32) / 255, (0, 0), 2.0)
    assert gauss[outside].max() > 0.1  # a plain blur would leak


def _coc_reference(small, wb, cmax):
    """effects.py's CoC blur written out in numpy, tap by tap (float64): the definition the kernel must keep."""
    K = int(np.ceil(cmax))
    img = small.astype(np.float64) / 255
    C = cmax * (1.0 - wb.astype(np.float64))

    def one_pass(img, C, axis):
        n = img.shape[axis]
        num, den = np.zeros_like(img), np.zeros(C.shape)
        for k in range(-K, K + 1):
            idx = np.clip(np.arange(n) + k, 0, n - 1)
            Cq, cq = np.take(C, idx, axis=axis), np.take(img, idx, axis=axis)
            wq = np.clip(Cq - abs(k) + 1, 0, 1) * (0.05 + Cq / cmax)
            num += wq[..., None] * cq
            den += wq
        return num / den[..., None]

    return one_pass(one_pass(img, C, 1), C, 0)


@pytest.mark.parametrize("shape,cmax", [((180, 320), 4.0), ((37, 53), 7.3), ((9, 8), 12.0), ((60, 90), 0.6),
                                        ((120, 200), 15.0)])
def test_coc_blur_kernel_matches_its_definition(shape, cmax):
    """The compiled passes (the centre tap first, then both taps at each distance together, the row buffer's
    edge pads filled apart) against the definition summed tap by tap, at sizes where the reach is wider than
    the picture too: within 1e-5 everywhere."""
    rng = np.random.default_rng(int(cmax * 10))
    h, w = shape
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    wb = cv2.GaussianBlur((rng.random((h, w)) > 0.6).astype(np.float32), (0, 0), 2.0)
    plan = make_plan(EffectSettings(max_coc=cmax * 4, blur_scale=0.25), (w * 4, h * 4), (w, h))
    assert plan.cmax == pytest.approx(cmax)
    got = coc_blur(small, wb, plan)
    assert np.abs(got - _coc_reference(small, wb, plan.cmax)).max() < 1e-5


def test_temporal_smoothing_follows_fast_motion():
    prev = np.zeros((4, 4), np.float32)
    small = np.full((4, 4), 0.05, np.float32)
    big = np.ones((4, 4), np.float32)
    assert temporal(prev, small, 0.8).max() < 0.02        # jitter is damped
    assert temporal(prev, big, 0.8).min() == pytest.approx(1.0)  # a real change passes at once


def test_shader_error_names_file_and_line(gl_context, tmp_path):
    from studio.paths import data_dir
    from studio.render.shaders import ShaderError, compile_program

    for f in data_dir("shaders").iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    lines = (tmp_path / "refine.frag").read_text().splitlines()
    idx = next(i for i, l in enumerate(lines) if "float m;" in l)
    lines[idx] = "    float m = undefined_thing;"
    (tmp_path / "refine.frag").write_text("\n".join(lines))
    with pytest.raises(ShaderError, match=rf"refine\.frag:{idx + 1}\b"):
        compile_program("fullscreen.vert", "refine.frag", root=tmp_path)


def test_temporal_smoothing_cuts_background_flicker_without_losing_iou(data_dir):
    """lucia-video: flicker in regions that stay background drops by >= 30%, IoU within 0.01."""
    from studio.metrics import flicker, iou

    d = data_dir / "lucia-video"
    names = sorted(p.name for p in (d / "images").iterdir())
    frames = [cv2.imread(str(d / "images" / n)) for n in names]
    gts = [cv2.imread(str(d / "masks" / n.replace(".jpg", ".png")), cv2.IMREAD_GRAYSCALE) >= 128 for n in names]
    stays = ~np.any(np.stack([cv2.dilate(g.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0 for g in gts]), 0)
    seg = Segmenter("full")
    masks = [seg(f).mask.copy() for f in frames]
    res = {}
    for sm in (0.0, EffectSettings().temporal_smoothing):
        s = EffectSettings(temporal_smoothing=sm)
        r = CpuRenderer(s)
        ws = []
        for f, m in zip(frames, masks):
            plan = make_plan(s, (f.shape[1], f.shape[0]), (m.shape[1], m.shape[0]))
            ws.append(cv2.resize(r.refine(f, m, plan), (f.shape[1], f.shape[0])))
        res[sm] = (flicker(ws, stays), np.mean([iou(w >= 0.5, g) for w, g in zip(ws, gts)]))
    (f0, i0), (f1, i1) = res.values()
    assert f1 <= 0.7 * f0, (f0, f1)
    assert abs(i1 - i0) <= 0.01


def test_reload_keeps_the_last_good_program(gl_context, tmp_path, portrait, mask):
    from studio.paths import data_dir

    for f in data_dir("shaders").iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    s = EffectSettings(mode="blur")
    g = GlRenderer(s, shader_root=tmp_path)
    before = g.render(portrait, mask)
    good = (tmp_path / "composite.frag").read_text()
    (tmp_path / "composite.frag").write_text(good.replace("o = vec4(c, 1.0);", "o = vec4(c, 1.0) oops;"))
    errors = g.programs.reload()
    assert len(errors) == 1 and "composite.frag:" in errors[0]
    g.reset()
    assert np.array_equal(g.render(portrait, mask), before)   # still drawing with the last good program
    (tmp_path / "composite.frag").write_text(good.replace("o = vec4(c, 1.0);", "o = vec4(1.0 - c, 1.0);"))
    assert g.programs.reload() == []
    g.reset()
    assert np.abs(g.render(portrait, mask).astype(int) + before.astype(int) - 255).max() <= 1  # new one live
    g.release()


@pytest.mark.parametrize("kind", ["cpu", "gl"])
def test_new_background_frame_is_used_even_at_the_same_address(kind, gl_context, portrait, mask):
    """Video backgrounds reuse memory: a buffer refilled in place and set again must show its new content."""
    s = EffectSettings(mode="replace", wrap_strength=0.0)
    r = CpuRenderer(s) if kind == "cpu" else GlRenderer(s)
    buf = np.full((720, 1280, 3), 40, np.uint8)
    r.set_background(buf)
    a = r.render(portrait, mask)
    buf[:] = 220
    r.set_background(buf)
    b = r.render(portrait, mask)
    bg = cv2.resize(mask, (1280, 720)) < 0.05
    assert b[bg].mean() - a[bg].mean() > 150


def test_refinement_sharpens_edges_against_hand_drawn_masks(data_dir):
    """lucia-video (hand-drawn masks): at a 0.002-of-diagonal boundary tolerance (2 px) the joint bilateral
    refinement lifts boundary F by >= 0.02 and does not lower IoU. (At DAVIS's 0.008 the 8 px tolerance hides
    edge moves this small: see the closing note of the Effects issue.)"""
    from studio.evaluate import evaluate

    off = evaluate(data_dir / "lucia-video", refine=False, bf_tol=0.002)
    on = evaluate(data_dir / "lucia-video", refine=True, bf_tol=0.002)
    assert on["n"] == off["n"] == 70 and on["bf_tol"] == 0.002
    assert on["bf_mean"] >= off["bf_mean"] + 0.02, (off["bf_mean"], on["bf_mean"])
    assert on["iou_mean"] >= off["iou_mean"]


def test_shared_constants_reach_the_shaders_from_python(gl_context):
    """TAPS, the CoC floor, the bilateral cut-off, the temporal edges, the tint and the letterbox colour have one
    source (studio.render.effects); no shader keeps a literal copy."""
    from OpenGL import GL

    from studio.paths import data_dir
    from studio.render.effects import shader_defines
    from studio.render.shaders import ProgramCache

    text = {f.name: f.read_text() for f in data_dir("shaders").iterdir()}
    for name in shader_defines():
        assert any(name in t for t in text.values()), name
        assert not any(f"#define {name}" in t for t in text.values()), name
    for literal in ("0.05", "30.0", "0.09", "0.3, 0.6", "TAPS 5"):
        assert not any(literal in t for t in text.values()), literal
    cache = ProgramCache()
    prog = cache.get("refine.frag")
    assert cache._uniforms[prog]["u_step"][1] == GL.GL_INT
    assert cache._uniforms[prog]["u_sigma_space"][1] == GL.GL_FLOAT
    GL.glUseProgram(prog)
    cache.set_uniform(prog, "u_step", 2.0)          # types come from the program, not from Python values
    cache.set_uniform(prog, "u_sigma_space", 1)
    cache.set_uniform(prog, "u_coverage", (0, 1))
    cache.set_uniform(prog, "u_no_such_uniform", 3)
    assert GL.glGetError() == GL.GL_NO_ERROR
    cache.release()


def test_async_read_back_returns_the_previous_draw(gl_context, portrait, mask):
    """Double-buffered PBOs: each call hands back the image of the draw before, equal to a blocking read."""
    g = GlRenderer(EffectSettings(mode="blur"))
    shifted = np.roll(portrait, 40, axis=1)
    g.draw(portrait, mask)
    first = g.read_output()
    assert g.read_output_async() is None                 # nothing read back yet
    g.draw(shifted, mask)
    second = g.read_output()
    assert np.array_equal(g.read_output_async(), first)
    g.draw(portrait, mask)
    assert np.array_equal(g.read_output_async(), second)
    small = cv2.resize(portrait, (640, 360))
    g.draw(small, mask)
    assert g.read_output_async() is None                 # a new size starts over
    g.release()


@pytest.fixture(scope="module")
def green_cases(data_dir):
    from studio.evaluate import green_screen_cases

    return green_screen_cases(data_dir / "portraits-dev", 20)


@pytest.mark.parametrize("wrap", [0.0, 0.35])
def test_gl_matches_cpu_cleaning_edges_over_a_green_screen(gl_context, green_cases, wrap):
    """Clean edges, where they change the most: a person pasted over saturated green."""
    frame = green_cases[0][0]
    m = Segmenter("full")(frame).mask
    s = EffectSettings(mode="replace", wrap_strength=wrap)
    grey = np.full_like(frame, 128)
    g, c = GlRenderer(s), CpuRenderer(s)
    g.set_background(grey)
    c.set_background(grey)
    og, oc = g.render(frame, m), c.render(frame, m)
    mean, p99 = _parity(og, oc)
    assert mean <= 0.06 and p99 <= 1 and np.abs(og.astype(int) - oc.astype(int)).max() <= 5, (mean, p99)
    plain = CpuRenderer(s.with_(clean_edges=False))
    plain.set_background(grey)
    assert np.abs(plain.render(frame, m).astype(int) - oc.astype(int)).max() > 30   # it does something
    g.release()


def _composite_alpha(frame, mask, clean):
    """The alpha the replace composite used, read back by replacing with black and with white (no light wrap:
    out = B + (F - B) a, so white - black = 255 (1 - a))."""
    outs = []
    for level in (0, 255):
        r = CpuRenderer(EffectSettings(mode="replace", clean_edges=clean, wrap_strength=0.0))
        r.set_background(np.full_like(frame, level))
        outs.append(r.render(frame, mask).astype(np.float32))
    return 1.0 - (outs[1] - outs[0]).mean(axis=2) / 255.0


def test_clean_edges_remove_the_old_background_rim(green_cases):
    """The issue's measure: people from portraits-dev pasted with a soft edge over saturated green, the
    background replaced by grey, the green left in the band from 6 px inside to 12 px outside the outline.
    Measured: 4.84 grey levels (p95 30.7) without, 0.63 (p95 3.2) with clean edges (full tier); the
    composite's alpha keeps its IoU against the true outline (0.967 both)."""
    from studio.evaluate import replaced_over_grey

    seg = Segmenter("full")
    masks = [seg(f).mask for f, *_ in green_cases]
    res = {clean: replaced_over_grey(green_cases, masks, EffectSettings(mode="replace", clean_edges=clean))
           for clean in (False, True)}
    assert res[False]["mean"] > 3.5 and res[True]["mean"] <= 1.0, res
    assert res[True]["p95"] <= 6.0
    # the alpha the composite used, read back by replacing with black and with white (no light wrap)
    ious = {}
    for clean in (False, True):
        vals = []
        for (frame, _, b, _), m in zip(green_cases, masks):
            p, g = _composite_alpha(frame, m, clean) >= 0.5, b > 0
            vals.append((p & g).sum() / (p | g).sum())
        ious[clean] = float(np.mean(vals))
    assert ious[True] >= ious[False] - 0.002, ious


def test_clean_edges_never_make_the_person_translucent(data_dir):
    """The colour's own alpha only acts in a narrow band at the mask's edge: a wider band once made the inside
    of a face translucent where skin was close to a white wall. On real webcam frames, no pixel 8 px or more
    inside the mask loses alpha, and none 4 px inside loses more than a little (alpha read back by replacing
    with black and with white)."""
    seg = Segmenter("hd")
    for clip in ("help.mkv", "book.mkv", "night.mkv"):
        cap = cv2.VideoCapture(str(data_dir / "webcam-clips/videos" / clip))
        for _ in range(20):
            frame = cap.read()[1]
        m = seg(frame).mask
        alpha = {clean: _composite_alpha(frame, m, clean) for clean in (False, True)}
        dist = cv2.distanceTransform((alpha[False] >= 0.999).astype(np.uint8), cv2.DIST_L2, 5)
        deep, near = dist >= 8, dist >= 4
        assert deep.sum() > 10000 and alpha[True][deep].min() >= 0.99, clip   # measured: 1.0
        assert alpha[True][near].min() >= 0.85, clip                         # measured: 0.89 at the least
        assert np.abs(alpha[True] - alpha[False]).max() > 0.1, clip   # the edge itself does change


def test_gaussian_kernel_of_a_vanishing_sigma_is_one_tap():
    """A valid light-wrap width of 1e-197 px once gave sigma 1e-200, whose square is 0: a kernel of NaN."""
    from studio.render.effects import gaussian_kernel

    for sigma in (0.0, 1e-200, 1e-8, 0.049):
        k = gaussian_kernel(sigma)
        assert np.array_equal(k, np.ones(1, np.float32)), sigma
    k = gaussian_kernel(2.0)
    assert np.isfinite(k).all() and abs(k.sum() - 1) < 1e-6 and len(k) == 13


def test_video_background_renderer_passes_the_live_pipelines_still_flag(portrait, mask, data_dir):
    """The live pipeline renders with picture=N (which segmented picture a frame is); the video-background
    wrapper took no such argument and vcam with a video background failed on the first still frame."""
    from studio.capture.background import BackgroundFeed
    from studio.render import VideoBackgroundRenderer

    clip = sorted((data_dir / "webcam-clips/videos").iterdir())[0]
    r = VideoBackgroundRenderer(CpuRenderer(EffectSettings(mode="replace")), BackgroundFeed(str(clip)))
    a = r.render(portrait, mask)
    b = r.render(portrait, mask, picture=3)
    assert a.shape == b.shape == portrait.shape


def test_blur_layer_reused_only_for_the_same_picture_and_settings(portrait, mask):
    """A still frame reuses the blur layer drawn for the picture it equals, never another picture's (a carried
    frame's, or one from before a mode switch) and never one drawn with other settings."""
    r = CpuRenderer(EffectSettings(mode="blur"))
    a = r.render(portrait, mask, picture=1)
    other = cv2.GaussianBlur(portrait, (0, 0), 6)
    assert np.array_equal(r.render(other, mask, picture=1), _over_cached_layer(r, other, mask))  # layer kept
    b = r.render(other, mask, picture=2)                           # another picture: drawn anew
    assert not np.array_equal(a, b)
    fresh = CpuRenderer(EffectSettings(mode="blur")).render(other, mask)
    r2 = CpuRenderer(EffectSettings(mode="blur"))
    r2.render(portrait, mask, picture=1)
    r2.render(portrait, mask, EffectSettings(mode="replace"), picture=0)
    assert np.array_equal(r2.render(other, mask, picture=0), fresh)  # unknown picture: never reused
    r3 = CpuRenderer(EffectSettings(mode="blur"))
    r3.render(portrait, mask, picture=1)
    changed = r3.render(portrait, mask, EffectSettings(mode="blur", max_coc=30.0), picture=1)
    assert np.array_equal(changed, CpuRenderer(EffectSettings(mode="blur", max_coc=30.0)).render(portrait, mask))


def _over_cached_layer(r, frame, mask):
    """The frame composited over the blur layer cached in `r` (what a still frame must show); the mask is the
    same every frame, so the smoothed weight is the mask's own."""
    from studio.render import kernels
    from studio.render.cpu import _EMPTY_ROWS, _NO_LAYER, _TINT, expand_rows

    w, _ = CpuRenderer(r.settings).prepare(frame, mask)
    return kernels.composite_rows(frame, expand_rows(w, frame.shape[1]), r._blur_rows[1], _EMPTY_ROWS, frame, 1,
                                  False, _TINT, _EMPTY_ROWS, _EMPTY_ROWS, _EMPTY_ROWS, _NO_LAYER, _NO_LAYER)


@pytest.mark.parametrize("mode", ["blur", "replace"])
def test_byte_upload_draws_the_same_image_as_the_drivers_conversion(mode, gl_context, portrait, mask, background):
    """A GPU uploads BGR frames as raw bytes and unpacks them in a pass; it must draw exactly what the driver's
    own GL_BGR conversion draws (frame, background and the software preview's shown image), at an odd width."""
    frame = np.ascontiguousarray(portrait[:, 1:])          # odd width: rows of 3*w bytes, no padding assumed
    assert frame.shape[1] % 2 == 1
    s = EffectSettings(mode=mode)
    fast, plain = GlRenderer(s, byte_upload=True), GlRenderer(s, byte_upload=False)
    for r in (fast, plain):
        r.set_background(background)
    for _ in range(2):
        a, b = fast.render(frame, mask), plain.render(frame, mask)
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - frame.astype(int)).mean() > 0.5     # an effect was drawn
    fast.draw(frame, mask)
    assert np.array_equal(fast._read("frame", fast.GL.GL_BGRA, fast.GL.GL_UNSIGNED_BYTE, np.uint8, 4)[..., :3],
                          frame)                            # the unpacked texture holds the frame, channel for channel
    fast.release()
    plain.release()


def test_byte_upload_is_off_on_a_software_rasteriser(gl_context):
    """llvmpipe runs the unpack pass at 3x the cost of the copy it saves (720p: 4.1 ms against 1.2 ms); a GPU
    takes it."""
    from OpenGL import GL

    from studio.render import SOFTWARE_GL

    name = GL.glGetString(GL.GL_RENDERER).decode().lower()
    g = GlRenderer(EffectSettings())
    assert g.byte_upload is not any(k in name for k in SOFTWARE_GL), name
    g.release()


@pytest.mark.parametrize("mirror", [False, True])
def test_show_draws_the_image_letterboxed_in_a_widgets_framebuffer(gl_context, portrait, mirror):
    """show() (the software preview: the CPU twin's image on screen) in a framebuffer of another shape: the
    image scaled with its aspect kept, the rest letterbox, bottom-up rows as a widget's, mirrored on request."""
    from OpenGL import GL

    from studio.render.effects import LETTERBOX_RGB

    W, H = 800, 600                                   # 4:3 target, 16:9 image: bands above and below
    g = GlRenderer(EffectSettings())
    _, fbo = g._target("widget", W, H, GL.GL_RGBA8)   # a framebuffer standing in for the widget's
    g.show(portrait, (fbo, W, H, mirror))
    GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    got = np.frombuffer(GL.glReadPixels(0, 0, W, H, GL.GL_BGR, GL.GL_UNSIGNED_BYTE), np.uint8).reshape(H, W, 3)
    got = got[::-1]                                   # GL rows are bottom-up
    h = round(W * 720 / 1280)                         # 450 rows of picture, 75 of letterbox above and below
    top = (H - h) // 2
    want = cv2.resize(portrait, (W, h), interpolation=cv2.INTER_LINEAR)
    if mirror:
        want = want[:, ::-1]
    inner = got[top + 2:top + h - 2]
    assert np.abs(inner.astype(int) - want[2:-2].astype(int)).mean() < 2.0
    band = np.array([round(c * 255) for c in LETTERBOX_RGB[::-1]])
    assert np.abs(got[:top - 1].reshape(-1, 3) - band).max() <= 1
    assert np.abs(got[top + h + 1:].reshape(-1, 3) - band).max() <= 1
    g.release()


def test_plans_are_shared_per_settings_and_sizes_and_read_only():
    """make_plan is cached (a live stream asks for the same plan in prepare and in render): the same arguments
    give the same plan, any other setting or size its own, and the shared kernels cannot be written."""
    s = EffectSettings(mode="replace", wrap_strength=0.5)
    plan = make_plan(s, (960, 540), (320, 176), (1280, 720))
    assert make_plan(EffectSettings(mode="replace", wrap_strength=0.5), (960, 540), (320, 176), (1280, 720)) is plan
    assert make_plan(s.with_(max_coc=8.0), (960, 540), (320, 176), (1280, 720)).cmax == plan.cmax / 2
    assert make_plan(s, (960, 540), (320, 176)).blur_w == 240 and plan.blur_w == 320
    for k in (plan.wrap_kernel, plan.fg_kernel, plan.fg_inner_kernel, plan.fg_edge_kernel):
        with pytest.raises(ValueError):
            k[0] = 0.0


@pytest.mark.parametrize("wrap", [0.0, 0.35])
def test_clean_edges_looked_at_only_near_the_edge_give_the_same_picture(green_cases, background, wrap):
    """The composite looks for clean-edge pixels only where the weight's cells are not plainly 0 or 1 or the
    edge band's are not 0 (spans per row); the picture must be the one a look at every pixel gives, at the
    output's size and at a smaller frame's own (other column maps), the person near the frame's edges too."""
    from studio.render import kernels
    from studio.render.cpu import _EMPTY_ROWS, _NO_LAYER, _TINT, expand_rows

    checked = 0
    for frame, _, _, alpha in green_cases[:6]:
        for size in ((1280, 720), (960, 540), (500, 282)):
            f = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            m = cv2.resize(alpha.astype(np.float32), (320, 176), interpolation=cv2.INTER_AREA)
            s = EffectSettings(mode="replace", wrap_strength=wrap)
            r = CpuRenderer(s)
            r.set_background(background)
            w, _ = r.prepare(f, m)
            plan = make_plan(s, size, (320, 176))
            fs, bs, edge = r._edge_colours(f, w, plan)
            bg = r._background(plan)
            lrows = erows = _EMPTY_ROWS
            if wrap:
                light, e = r._wrap(w, plan)
                lrows, erows = expand_rows(light, size[0]), expand_rows(e, size[0])
            args = (f, expand_rows(w, size[0]), lrows, erows, bg, 2, False, _TINT, expand_rows(fs, size[0]),
                    expand_rows(bs, size[0]), expand_rows(edge, size[0]))
            every = kernels.composite_rows(*args, _NO_LAYER, _NO_LAYER)
            assert np.array_equal(kernels.composite_rows(*args, w, edge), every), (size, wrap)
            checked += int(np.count_nonzero(every != kernels.composite_rows(*args[:8], _EMPTY_ROWS, _EMPTY_ROWS,
                                                                             _EMPTY_ROWS, _NO_LAYER, _NO_LAYER)))
    assert checked > 10_000    # the clean edges did change pixels: the comparison was not of two plain replaces


@pytest.mark.parametrize("size", [(1280, 720), (333, 200), (96, 54)])
def test_clean_edge_spans_follow_the_weight_alone(size):
    """Where the edge band is empty, only the weight's cells say which pixels take the clean-edge maths: a
    pixel between a 0 cell and a 1 cell (across or down) or next to a fractional one must be looked at.
    Synthetic layers: hard 0/1 blocks, a few fractional cells and a block of them, random colours."""
    from studio.render import kernels
    from studio.render.cpu import _EMPTY_ROWS, _NO_LAYER, _TINT, expand_rows

    rng = np.random.default_rng(size[0])
    w = (cv2.resize(rng.random((6, 9)).astype(np.float32), (40, 22), interpolation=cv2.INTER_NEAREST) > 0.5)
    w = w.astype(np.float32)
    w.flat[rng.choice(w.size, 12, replace=False)] = 0.5
    w[5:11, 10:20] = 0.25        # a block of one fractional value: its inner cells differ from no neighbour
    edge = np.zeros((30, 48), np.float32)
    frame = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    fs, bs = (rng.random((15, 24, 3)).astype(np.float32) for _ in range(2))
    W = size[0]
    args = (frame, expand_rows(w, W), _EMPTY_ROWS, _EMPTY_ROWS, bg, 2, False, _TINT, expand_rows(fs, W),
            expand_rows(bs, W), expand_rows(edge, W))
    every = kernels.composite_rows(*args, _NO_LAYER, _NO_LAYER)
    assert np.array_equal(kernels.composite_rows(*args, w, edge), every)


def test_replace_follows_a_new_blur_scale_with_the_same_background(portrait, background):
    """The light wrap reads the background at the blur's resolution; the renderer kept that copy per frame size
    only, so moving the Blur scale slider in replace mode raised a broadcast error on the next frame."""
    mask = np.zeros((176, 320), np.float32)
    mask[40:150, 100:220] = 1.0
    r = CpuRenderer(EffectSettings(mode="replace"))
    r.set_background(background)
    r.render(portrait, mask)
    for scale in (0.5, 0.1, 0.25):
        s = EffectSettings(mode="replace", blur_scale=scale)
        fresh = CpuRenderer(s)
        fresh.set_background(background)
        fresh.render(portrait, mask)      # the temporal state of one frame, as r's
        assert np.array_equal(r.render(portrait, mask, s), fresh.render(portrait, mask)), scale
