"""Benchmark suite (apart from the tests): records the issues' figures as JSON in bench-results/.

    .venv/bin/python benchmarks/run.py [--quick]

Figures: segmenter resize+inference per tier at 720p (1 thread), CPU renderer per frame at 720p, GL renderer
per pass (llvmpipe here), halo against a plain Gaussian blur-then-blend, flicker with and without temporal
smoothing on lucia-video, the headless pipeline throughput, refinement's boundary F at two tolerances. Medians
and p95 over many frames."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"

from studio.metrics import summarize  # noqa: E402
from studio.render.cpu import CpuRenderer, warmup  # noqa: E402
from studio.render.effects import make_plan  # noqa: E402
from studio.metrics import band, flicker, iou  # noqa: E402
from studio.segment.segmenter import Segmenter  # noqa: E402
from studio.settings import EffectSettings  # noqa: E402


def timeit(f, n):
    for _ in range(5):
        f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t) * 1e3)
    return summarize(ts)


def _cycling(fn, items):
    """A call of fn on the next of `items` (round and round), for timeit."""
    it = itertools.cycle(items)
    return lambda: fn(next(it))


def frame720():
    img = cv2.imread(str(DATA / "stock-people/images/girl-919048_1280.jpg"))
    return cv2.resize(img, (1280, 720), interpolation=cv2.INTER_AREA)


def bench_segmenter(n):
    f = frame720()
    out = {}
    from studio.segment.models import tier_names

    for tier in tier_names():
        seg = Segmenter(tier, threads=1)
        out[tier] = timeit(lambda: seg(f), n)
    return out


def bench_cpu_renderer(n):
    f = frame720()
    m = Segmenter("full")(f).mask.copy()
    bg = cv2.imread(str(DATA / "backgrounds/pixabay_porch-691330_1280.jpg"))
    out = {}
    for mode in ("blur", "replace", "none"):
        for refine in (True, False):
            r = CpuRenderer(EffectSettings(mode=mode, refine=refine))
            r.set_background(bg)
            out[f"{mode}{'' if refine else '_norefine'}"] = timeit(lambda: r.render(f, m), n)
    r = CpuRenderer(EffectSettings(mode="replace", clean_edges=False))
    r.set_background(bg)
    out["replace_noclean"] = timeit(lambda: r.render(f, m), n)
    return out


def green_screen(n_images):
    """The old-background rim in replace mode: people from portraits-dev over saturated green, replaced by
    grey, the green left in the band 6 px inside to 12 px outside the outline (studio.evaluate), with and
    without clean edges, full and hd tiers."""
    from studio.evaluate import green_screen_cases, replaced_over_grey

    cases = green_screen_cases(DATA / "portraits-dev", n_images)
    out = {}
    for tier in ("full", "hd"):
        seg = Segmenter(tier)
        masks = [seg(c[0]).mask for c in cases]
        for clean in (False, True):
            res = replaced_over_grey(cases, masks, EffectSettings(mode="replace", clean_edges=clean))
            out[f"{tier}_{'clean' if clean else 'plain'}"] = {"n": res["n"], "mean": round(res["mean"], 3),
                                                            "p95": round(res["p95"], 2)}
    return out


def bench_gl(n):
    from studio.render.egl import EglContext
    from studio.render.gl import GlRenderer

    ctx = EglContext()
    from OpenGL import GL

    f = frame720()
    m = Segmenter("full")(f).mask.copy()
    res = {"renderer": GL.glGetString(GL.GL_RENDERER).decode()}
    for mode in ("blur", "replace"):
        g = GlRenderer(EffectSettings(mode=mode), profile=True)
        bg = cv2.imread(str(DATA / "backgrounds/pixabay_porch-691330_1280.jpg"))
        g.set_background(bg)
        per = {}
        for _ in range(n):
            g.render(f, m)
            for k, v in g.timings.items():
                per.setdefault(k, []).append(v)
        res[mode] = {k: summarize(v) for k, v in per.items()}
        g.release()
    ctx.close()
    return res


def halo(n_images):
    """People from portraits-dev pasted over uniform grey using their true masks; blur radius 24 px.
    Mean |output - grey| in the band 3-15 px outside the true outline: ours vs Gaussian blur-then-blend."""
    imgs = sorted((DATA / "portraits-dev/images").iterdir())[:n_images]
    seg = Segmenter("full")
    ours, plain = [], []
    for p in imgs:
        img = cv2.imread(str(p))
        gt = cv2.imread(str(DATA / "portraits-dev/masks" / (p.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        if img is None or gt is None:
            continue
        img = cv2.resize(img, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_AREA)
        m = (gt >= 128).astype(np.uint8)
        grey = np.full_like(img, 128)
        comp = np.where(m[..., None] > 0, img, grey)
        ring = band(m, 3, 15)
        if ring.sum() < 100:
            continue
        mask = seg(comp).mask
        out = CpuRenderer(EffectSettings(mode="blur", max_coc=24.0, temporal_smoothing=0.0)).render(comp, mask)
        w = cv2.resize(mask, (comp.shape[1], comp.shape[0]), interpolation=cv2.INTER_LINEAR)[..., None]
        gb = cv2.GaussianBlur(comp.astype(np.float32), (0, 0), 24 / 2.0)
        base = comp * w + gb * (1 - w)
        ours.append(np.abs(out.astype(np.float32) - 128)[ring].mean())
        plain.append(np.abs(base - 128)[ring].mean())
    return {"n": len(ours), "ours_mean_dev": round(float(np.mean(ours)), 3),
            "gaussian_mean_dev": round(float(np.mean(plain)), 3),
            "ratio": round(float(np.mean(ours) / np.mean(plain)), 3)}


def flicker_test():
    """Mean frame-to-frame mask change in regions that stay background, smoothed vs unsmoothed."""
    imgs = sorted((DATA / "lucia-video/images").iterdir())
    gts = [cv2.imread(str(DATA / "lucia-video/masks" / (p.stem + ".png")), cv2.IMREAD_GRAYSCALE) >= 128
           for p in imgs]
    frames = [cv2.imread(str(p)) for p in imgs]
    stays_bg = ~np.any(np.stack([cv2.dilate(g.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0 for g in gts]),
                       axis=0)
    seg = Segmenter("full")
    out = {}
    for name, sm in (("unsmoothed", 0.0), ("smoothed", EffectSettings().temporal_smoothing)):
        s = EffectSettings(temporal_smoothing=sm)
        r = CpuRenderer(s)
        weights, ious = [], []
        for f, g in zip(frames, gts):
            m = seg(f).mask
            plan = make_plan(s, (f.shape[1], f.shape[0]), (m.shape[1], m.shape[0]))
            wgt = cv2.resize(r.refine(f, m, plan), (f.shape[1], f.shape[0]), interpolation=cv2.INTER_LINEAR)
            weights.append(wgt)
            ious.append(iou(wgt >= 0.5, g))
        out[name] = {"flicker": round(flicker(weights, stays_bg), 6), "iou": round(float(np.mean(ious)), 4)}
    out["reduction"] = round(1 - out["smoothed"]["flicker"] / out["unsmoothed"]["flicker"], 3)
    return out


def bench_live(frames, only=None):
    """CPU per delivered frame at the camera's rate (bench --live): the doctor clip at 720p30 and 1080p30, blur
    and replace, default settings (Auto), with and without segmenting only on change; and a still picture."""
    from types import SimpleNamespace

    from studio.cli.bench import run_live_bench

    out = {}
    clip = str(DATA / "stock-people/videos/doctor-26732.mp4")
    still = str(DATA / "stock-people/images/girl-919048_1280.jpg")
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)   # as the commands run OpenCV (studio.cli sets it before importing cv2)
    runs = [("720p30_blur", clip, "1280x720", "blur", True), ("720p30_blur_every_frame", clip, "1280x720", "blur",
            False), ("1080p30_blur", clip, "1920x1080", "blur", True), ("720p30_replace", clip, "1280x720",
            "replace", True), ("1080p30_replace", clip, "1920x1080", "replace", True),
            ("720p30_still_picture", still, "1280x720", "blur", True),
            ("720p30_still_picture_every_frame", still, "1280x720", "blur", False)]
    for name, src, size, mode, on_change in runs:
        if only and name not in only:
            continue
        a = SimpleNamespace(source=src, size=size, fps=30.0, frames=frames, tier="auto", mode=mode,
                            renderer="cpu", refine=True, second_look=False, segment_on_change=on_change,
                            sink="null")
        r = run_live_bench(a)
        out[name] = {k: r[k] for k in ("cpu_ms_per_frame", "core_percent", "cpu_ms_per_frame_by_thread",
                                       "segmented_percent", "tier", "fps", "dropped")}
    cv2.setNumThreads(threads)
    return out


def camera_formats(n: int) -> dict:
    """What a camera frame costs to become BGR at 720p, one thread: MJPG decoded (libjpeg-turbo, as OpenCV's
    V4L2 backend decodes it; 4:2:2 at quality 85, like a UVC camera's) against raw YUYV and NV12 converted.
    The frames are the doctor clip's, scaled to 1280x720."""
    cap = cv2.VideoCapture(str(DATA / "stock-people/videos/doctor-26732.mp4"))
    frames = []
    while len(frames) < 30:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (1280, 720), interpolation=cv2.INTER_LINEAR))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                                      cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422])[1] for f in frames]
    yuyv = []
    for f in frames:   # Y0 U Y1 V per pixel pair, from the frame's YUV
        yuv = cv2.cvtColor(f, cv2.COLOR_BGR2YUV)
        p = np.empty((720, 1280, 2), np.uint8)
        p[..., 0] = yuv[..., 0]
        p[:, 0::2, 1] = yuv[:, 0::2, 1]
        p[:, 1::2, 1] = yuv[:, 0::2, 2]
        yuyv.append(p)
    nv12 = []
    for f in frames:
        i420 = cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420)
        uv = i420[720:].reshape(2, 360, 640)
        nv12.append(np.vstack([i420[:720], np.dstack([uv[0], uv[1]]).reshape(360, 1280)]))
    out = {}
    for name, fn, data in (("mjpg_decode", lambda b: cv2.imdecode(b, cv2.IMREAD_COLOR), jpegs),
                           ("yuyv_to_bgr", lambda b: cv2.cvtColor(b, cv2.COLOR_YUV2BGR_YUYV), yuyv),
                           ("nv12_to_bgr", lambda b: cv2.cvtColor(b, cv2.COLOR_YUV2BGR_NV12), nv12)):
        out[name] = timeit(_cycling(fn, data), n)
    out["mjpg_kb_per_frame"] = round(float(np.mean([len(j) for j in jpegs])) / 1024, 1)
    cv2.setNumThreads(threads)
    return out


def downscaling(n: int) -> dict:
    """Scaling a frame down, one thread, median and p95 ms: INTER_AREA's general path against imageops.shrink,
    how far apart the pictures are (mean grey levels over detailed 720p photos: two backgrounds with railings
    and window frames, a portrait), and the aliasing each leaves on a zone plate (mean distance to the plate
    blurred past what the output can hold; plain bilinear for scale). The cases the pipeline meets: a 1080p
    camera or file for a 720p output, the window's preview of a 720p frame, a 640x480 camera for the model."""
    from studio.imageops import fit_cover, shrink

    photos = [fit_cover(cv2.imread(str(DATA / "backgrounds" / name)), 1280, 720)
              for name in ("pixabay_architecture-5082700_1280.jpg", "pixabay_porch-691330_1280.jpg")]
    photos.append(fit_cover(cv2.imread(str(DATA / "stock-people/images/girl-919048_1280.jpg")), 1280, 720))
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    rings = 127.5 + 127.5 * np.cos(np.pi * ((x - 640) ** 2 + (y - 360) ** 2) / 1280)
    plate = cv2.merge([rings.astype(np.uint8)] * 3)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    out = {}
    for (W, H), (w, h) in (((1920, 1080), (1280, 720)), ((1280, 720), (752, 423)), ((640, 480), (320, 176))):
        frames = [p if (W, H) == (1280, 720) else cv2.resize(p, (W, H), interpolation=cv2.INTER_AREA if W < 1280
                                                             else cv2.INTER_CUBIC) for p in photos]
        row = {}
        for name, fn in (("area", lambda f: cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)),
                         ("shrink", lambda f: shrink(f, w, h))):
            row[name] = timeit(_cycling(fn, frames), n)
        row["mean_abs_diff"] = round(float(np.mean([np.abs(shrink(f, w, h).astype(np.float32) - cv2.resize(
            f, (w, h), interpolation=cv2.INTER_AREA)).mean() for f in frames])), 2)
        out[f"{W}x{H}_to_{w}x{h}"] = row
    ideal = cv2.resize(cv2.GaussianBlur(plate, (0, 0), 0.9 * 1280 / 752), (752, 423),
                       interpolation=cv2.INTER_LINEAR).astype(np.float32)
    scaled = {"area": cv2.resize(plate, (752, 423), interpolation=cv2.INTER_AREA), "shrink": shrink(plate, 752, 423),
              "bilinear": cv2.resize(plate, (752, 423), interpolation=cv2.INTER_LINEAR)}
    out["zone_plate_aliasing_752"] = {name: round(float(np.abs(img.astype(np.float32) - ideal).mean()), 1)
                                      for name, img in scaled.items()}
    cv2.setNumThreads(threads)
    return out


def peer_recipe(frames, ours_ms: float | None) -> dict:
    """The peer recipe (benchmarks/peer_recipe.py) run by .venv-peer's python on the doctor clip at 720p30,
    and the ratio of its CPU per frame to ours (live_cpu 720p30_blur)."""
    import subprocess

    from studio.segment.models import models_dir

    py = ROOT / ".venv-peer" / "bin" / "python"
    if not py.exists():
        return {"error": "no .venv-peer: run `make bench-peer`"}
    r = subprocess.run([str(py), str(ROOT / "benchmarks" / "peer_recipe.py"),
                        str(models_dir() / "selfie_segmentation_landscape.tflite"),
                        str(DATA / "stock-people/videos/doctor-26732.mp4"), "--frames", str(frames)],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(r.stdout.strip().splitlines()[-1])
    if ours_ms:
        out["ratio_to_ours"] = round(out["cpu_ms_per_frame"] / ours_ms, 2)
    return out


def bench_pipeline(frames):
    """`backdrop bench` on the doctor clip (decoded into memory first) at 720p and 1080p."""
    from types import SimpleNamespace

    from studio.cli.bench import run_bench

    out = {}
    for size in ("1280x720", "1920x1080"):
        for pipe in ("overlap", "serial"):
            a = SimpleNamespace(source=str(DATA / "stock-people/videos/doctor-26732.mp4"), size=size,
                                frames=frames, tier="full", threads=1, mode="blur", renderer="cpu", refine=True,
                                second_look=False,
                                pipeline=pipe)
            r = run_bench(a)
            out[f"{size}_{pipe}"] = {"fps": r["fps"], "latency": r["stages"]["latency"], "stages": r["stages"]}
    return out


def tier_ladder(step):
    """Each tier's IoU and boundary F (raw masks, threshold 0.5) on portraits-dev and lucia-video (every step-th
    image), beside its resize + inference cost at 720p."""
    from studio.evaluate import evaluate, pairs
    from studio.segment.models import tier_names

    out = {}
    for name in tier_names():
        r = {}
        for ds in ("portraits-dev", "lucia-video"):
            items = pairs(DATA / ds)[::step]
            res = evaluate(DATA / ds, tier=name, items=items)
            r[ds] = {"n": res["n"], "iou": round(res["iou_mean"], 4), "bf": round(res["bf_mean"], 4)}
        out[name] = r
    return out


def second_look(step):
    """The second look at small people: IoU and boundary F with and without it (hd), and its cost per 720p
    frame on a small person (lucia-video, scaled) and a close one (the stock portrait)."""
    from studio.evaluate import evaluate, pairs

    out = {}
    for ds in ("portraits-dev", "lucia-video"):
        items = pairs(DATA / ds)[::step]
        for look in (False, True):
            res = evaluate(DATA / ds, tier="hd", items=items, second_look=look)
            out[f"{ds}_{'on' if look else 'off'}"] = {"iou": round(res["iou_mean"], 4), "bf": round(res["bf_mean"], 4)}
    small = cv2.resize(cv2.imread(str(sorted((DATA / "lucia-video/images").iterdir())[0])), (1280, 720))
    for name, img in (("small_person", small), ("close_person", frame720())):
        for look in (False, True):
            seg = Segmenter("hd", second_look=look)
            out[f"cost_720p_{name}_{'on' if look else 'off'}_ms"] = timeit(lambda: seg(img), 100)
    return out


def refinement(step):
    """Boundary F and IoU with and without refinement, at DAVIS's tolerance (0.008 of the diagonal) and a tight
    one (0.002), on portraits-dev (pseudo ground truth) and lucia-video (hand-drawn masks). Every step-th image."""
    from studio.evaluate import masks, pairs
    from studio.metrics import boundary_f

    out = {}
    for ds in ("portraits-dev", "lucia-video"):
        items = pairs(DATA / ds)[::step]
        for tier, look in (("full", False), ("hd", True)):
            r = {"n": len(items), "tier": tier, "second_look": look}
            for key, on in (("no_refine", False), ("refine", True)):
                scores = [(iou(p, g), boundary_f(p, g, 0.008), boundary_f(p, g, 0.002))
                          for _, p, g, _ in masks(items, tier, on, second_look=look)]
                for name, v in zip(("iou", "bf_0.008", "bf_0.002"), np.mean(scores, axis=0)):
                    r[f"{key}_{name}"] = round(float(v), 4)
            for tol in (0.008, 0.002):
                r[f"bf_gain_{tol}"] = round(r[f"refine_bf_{tol}"] - r[f"no_refine_bf_{tol}"], 4)
            out[ds if tier == "full" else f"{ds}_hd_second_look"] = r
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peer", action="store_true",
                    help="only the peer recipe against our live CPU at 720p30 (needs .venv-peer: make bench-peer)")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    a = ap.parse_args()
    n = 50 if a.quick else 300
    from studio.platform import tune_allocator

    tune_allocator()
    warmup()
    res = {"machine": {"node": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
           "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if a.peer:
        live = bench_live(300, only=("720p30_blur",))
        res["live_cpu"] = live
        res["peer_recipe"] = peer_recipe(300, live["720p30_blur"]["cpu_ms_per_frame"])
        print(json.dumps(res, indent=1))
        return
    res["segmenter_720p_1thread_ms"] = bench_segmenter(n)
    cv2.setNumThreads(1)
    res["cpu_renderer_720p_1thread_ms"] = bench_cpu_renderer(n // 2)
    cv2.setNumThreads(-1)
    res["tiers"] = tier_ladder(4 if a.quick else 1)
    res["second_look"] = second_look(4 if a.quick else 1)
    res["pipeline"] = bench_pipeline(120 if a.quick else 600)
    res["live_cpu"] = bench_live(150 if a.quick else 600)
    res["camera_formats_720p_ms"] = camera_formats(100 if a.quick else 300)
    res["downscaling_ms"] = downscaling(30 if a.quick else 100)
    res["peer_recipe"] = peer_recipe(150 if a.quick else 600, res["live_cpu"]["720p30_blur"]["cpu_ms_per_frame"])
    try:
        res["gl_per_pass_ms"] = bench_gl(n // 5)
    except Exception as e:
        res["gl_per_pass_ms"] = {"error": str(e)}
    res["halo"] = halo(40 if a.quick else 120)
    res["green_screen_spill"] = green_screen(20)
    res["flicker"] = flicker_test()
    res["refinement"] = refinement(4 if a.quick else 1)
    Path(a.out).mkdir(exist_ok=True)
    path = Path(a.out) / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"saved {path}")
    compare(res, json.loads((ROOT / "benchmarks" / "baseline.json").read_text()))


KEY_FIGURES = [  # (path, higher_is_better)
    (("segmenter_720p_1thread_ms", "full", "median"), False),
    (("segmenter_720p_1thread_ms", "lite", "median"), False),
    (("segmenter_720p_1thread_ms", "hd", "median"), False),
    (("tiers", "hd", "lucia-video", "iou"), True),
    (("tiers", "hd", "portraits-dev", "iou"), True),
    (("cpu_renderer_720p_1thread_ms", "blur", "median"), False),
    (("pipeline", "1280x720_overlap", "fps"), True),
    (("pipeline", "1280x720_overlap", "latency", "p95"), False),
    (("pipeline", "1920x1080_overlap", "fps"), True),
    (("live_cpu", "720p30_blur", "cpu_ms_per_frame"), False),
    (("halo", "ratio"), False),
    (("green_screen_spill", "hd_clean", "mean"), False),
    (("flicker", "reduction"), True),
    (("refinement", "lucia-video", "bf_gain_0.002"), True),
]


def compare(now: dict, base: dict) -> None:
    """Each key figure as a ratio to the committed baseline (benchmarks/baseline.json); > 1.10 worse flags."""
    print("\nagainst benchmarks/baseline.json (ratio now/baseline):")
    for path, higher in KEY_FIGURES:
        a, b = now, base
        try:
            for k in path:
                a, b = a[k], b[k]
        except (KeyError, TypeError):
            continue
        ratio = a / b if b else float("nan")
        worse = ratio < 1 / 1.10 if higher else ratio > 1.10
        print(f"  {'/'.join(path):45} {a:10.3f}  x{ratio:5.2f}{'  REGRESSION?' if worse else ''}")


if __name__ == "__main__":
    main()
