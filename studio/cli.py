"""The `backdrop` command."""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys

from studio import StudioError, __version__, printable


def _cmd_models(args) -> int:
    from studio import models

    if args.action == "fetch":
        models.fetch(force=args.force, log=lambda m: print(m, file=sys.stderr))
        return 0
    rows = models.status_rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"cache: {models.models_dir()}")
    print(f"{'tier':8} {'input':8} {'ops':8} {'status':8} {'bytes':>8}  file")
    for r in rows:
        print(f"{r['tier']:8} {r['input']:8} {r['ops']:8} {r['status']:8} {r['bytes']:>8}  {r['file']}")
    if any(r["status"] != "ok" for r in rows):
        print("some models are missing or corrupt: run `backdrop models fetch`")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage block) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


def _number(lo: float, hi: float, kind=float, lo_open: bool = False):
    """An argparse type: a finite number of `kind` in [lo, hi] (or (lo, hi] with lo_open)."""
    def parse(text: str):
        try:
            v = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: "
                                             f"{printable(repr(text), 60)}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {printable(text, 40)}")
        if (v <= lo if lo_open else v < lo) or v > hi:
            fmt = "{:d}" if kind is int else "{:g}"
            raise argparse.ArgumentTypeError(f"must be in {'(' if lo_open else '['}{fmt.format(lo)}, "
                                             f"{fmt.format(hi)}], got {fmt.format(v)}")
        return v
    return parse


def _size(text: str):
    from studio.sources import parse_size

    try:
        return parse_size(text)
    except StudioError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_bf_tol = _number(0.0, 0.1, lo_open=True)
_THREADS = _number(1, max(1, os.cpu_count() or 1), int)
_FPS = _number(1.0, 240.0)
_MAX_FRAMES = 10_000_000


def _blur_radius(text: str):
    from studio.settings import _NUM

    return _number(*_NUM["max_coc"])(text)


def _cmd_eval(args) -> int:
    from studio.evaluate import evaluate

    res = evaluate(args.dataset, tier=args.tier, refine=args.refine, threads=args.threads,
                   log=lambda m: print(m, file=sys.stderr), bf_tol=args.bf_tol)
    print(f"{res['dataset']}: n={res['n']} tier={res['tier']} refine={res['refine']}")
    print(f"  IoU mean {res['iou_mean']:.4f}  median {res['iou_median']:.4f}")
    print(f"  boundary F mean {res['bf_mean']:.4f}  median {res['bf_median']:.4f}"
          f"  (tolerance {res['bf_tol']:g} of the diagonal)")
    if args.json:
        out = {k: v for k, v in res.items() if k != "per_image"}
        print(json.dumps(out))
    return 0


def _cmd_bench(args) -> int:
    from studio.bench import run_bench

    res = run_bench(args)
    print(f"source {res['source']} {res['size']}  tier {res['tier']}  mode {res['mode']}  "
          f"renderer {res['renderer']}  frames {res['frames']}")
    for name, st in res["stages"].items():
        print(f"  {name:12} median {st['median']:7.3f} ms   p95 {st['p95']:7.3f} ms")
    print(f"  throughput {res['fps']:.1f} fps")
    if res.get("tier_reason"):
        print(f"  auto tier: {res['tier']} ({res['tier_reason']})")
    if args.json:
        print(json.dumps(res))
    return 0


def _cmd_render(args) -> int:
    from studio.render_cmd import run_render

    return run_render(args)


def _cmd_vcam(args) -> int:
    from studio.vcam import run_vcam

    return run_vcam(args)


def _cmd_studio(args) -> int:
    from ui.app import run_studio

    return run_studio(args)


MODES = ["none", "blur", "replace", "mask"]
TIERS = ["full", "lite", "general", "auto"]
RENDERERS = ["cpu", "gl", "auto"]
_RENDERER_HELP = "gl: GLSL on a headless EGL context; cpu: the numba twin; auto: gl on a hardware GPU, else cpu"


def _effect_flags(p: argparse.ArgumentParser) -> None:
    """Flags that override single fields of the preset (render, vcam)."""
    p.add_argument("--preset", help="a preset file exported by the studio (JSON)")
    p.add_argument("--mode", choices=MODES, help="effect: none, blur, replace (needs a background) or mask view")
    p.add_argument("--background", metavar="IMG_OR_VIDEO", help="replacement background (image or video)")
    p.add_argument("--blur-radius", type=_blur_radius, metavar="PX", help="max blur radius in output pixels")
    p.add_argument("--tier", choices=TIERS, help="segmentation model tier (auto: measured on this machine)")
    p.add_argument("--renderer", default="auto", choices=RENDERERS, help=_RENDERER_HELP)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="backdrop", description="Backdrop Studio: real-time background blur and replacement.")
    p.add_argument("--version", action="version", version=f"backdrop {__version__}")
    sub = p.add_subparsers(dest="command")

    m = sub.add_parser("models", help="fetch and list segmentation models")
    m.add_argument("action", choices=["fetch", "list"], help="fetch: download, verify and derive; list: status")
    m.add_argument("--force", action="store_true", help="fetch again even if installed")
    m.add_argument("--json", action="store_true", help="list as JSON")
    m.set_defaults(func=_cmd_models)

    e = sub.add_parser("eval", help="IoU and boundary F on DATASET/images + DATASET/masks")
    e.add_argument("dataset", help="a folder with images/ and masks/ of the same stems")
    e.add_argument("--tier", default="full", choices=TIERS, help="model tier (default full)")
    e.add_argument("--refine", dest="refine", action="store_true", default=False,
                   help="score the refined mask (joint bilateral) instead of the raw one")
    e.add_argument("--no-refine", dest="refine", action="store_false", help="score the raw mask (default)")
    e.add_argument("--threads", type=_THREADS, default=1, help="LiteRT threads (1 to the number of cores)")
    e.add_argument("--bf-tol", type=_bf_tol, default=0.008, metavar="FRACTION",
                   help="boundary F tolerance as a fraction of the image diagonal (DAVIS: 0.008)")
    e.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    e.set_defaults(func=_cmd_eval)

    b = sub.add_parser("bench", help="per-stage timings of the headless pipeline")
    b.add_argument("--source", default="demo", help="demo, a video file or an image (decoded into memory first)")
    b.add_argument("--size", type=_size, default=None, help="WxH (default: the source's size, 1280x720 for demo)")
    b.add_argument("--frames", type=_number(1, _MAX_FRAMES, int), default=300, help="frames to time")
    b.add_argument("--tier", default="full", choices=TIERS, help="model tier (default full)")
    b.add_argument("--threads", type=_THREADS, default=1, help="LiteRT threads (1 to the number of cores)")
    b.add_argument("--mode", default="blur", choices=MODES, help="effect (default blur)")
    b.add_argument("--renderer", default="cpu", choices=RENDERERS, help=_RENDERER_HELP + " (default cpu)")
    b.add_argument("--no-refine", dest="refine", action="store_false", default=True,
                   help="skip the joint bilateral refinement")
    b.add_argument("--pipeline", choices=["serial", "overlap"], default="overlap",
                   help="overlap inference and rendering on two threads (default) or run them in series")
    b.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    b.set_defaults(func=_cmd_bench)

    r = sub.add_parser("render", help="apply the effect to an image or a video file")
    r.add_argument("input", help="an image or a video file")
    r.add_argument("-o", "--output", required=True,
                   help="an image for an image input; a video (.mp4 .mkv .avi .mov .m4v .y4m) for a video input; "
                        "written under a temporary name and renamed only when complete")
    _effect_flags(r)
    r.set_defaults(func=_cmd_render)

    v = sub.add_parser("vcam", help="run the effect headless into a virtual camera, a file or a pipe")
    v.add_argument("--source", default="camera:0", help="camera:N, camera:/dev/videoN, demo, a video or an image")
    v.add_argument("--device", help="the virtual camera device (default: the first one pyvirtualcam finds)")
    v.add_argument("--size", type=_size, default=(1280, 720), help="output WxH (default 1280x720)")
    v.add_argument("--fps", type=_FPS, default=30.0, help="output frame rate, 1 to 240 (default 30)")
    v.add_argument("--frames", type=_number(0, _MAX_FRAMES, int), default=0,
                   help="stop after N frames (default 0: run until Ctrl+C)")
    v.add_argument("--output", help="a video file (.mp4 .mkv .avi .mov .m4v), a .y4m file, or - for YUV4MPEG2 "
                                    "on stdout (no virtual camera needed)")
    v.add_argument("--on-demand", action="store_true", help="release the camera while no client reads")
    _effect_flags(v)
    v.set_defaults(func=_cmd_vcam)

    s = sub.add_parser("studio", help="open the studio window (the default)")
    s.add_argument("--source", default=None, help="camera:N, demo, a video or an image (default: first camera)")
    s.add_argument("--preset", help="start from this preset instead of the last settings")
    s.add_argument("--screenshot", metavar="PNG", help="with --frames: save a screenshot of the window")
    s.add_argument("--frames", type=_number(0, _MAX_FRAMES, int), default=0,
                   help="scripted run: draw N frames, print one JSON line and quit (0: run normally)")
    s.set_defaults(func=_cmd_studio)
    return p


def _stop_on_signal(signum, _frame):
    """SIGTERM and SIGHUP stop a command as Ctrl+C does: workers stopped, outputs completed or removed."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


def install_signal_handlers() -> None:
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup's choice stands
            signal.signal(sig, _stop_on_signal)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def main(argv=None) -> int:
    from studio.alloc import tune_allocator

    tune_allocator()
    # OpenCV and its FFmpeg print warnings per frame (a full disk: one per frame); the commands check results
    # themselves and say what went wrong in one line
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["studio", *argv]
    args = parser.parse_args(argv)
    install_signal_handlers()
    try:
        return args.func(args)
    except StudioError as e:
        print(f"backdrop: error: {printable(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # the last line of defence: a file-system fault the command did not expect
        where = f" ({printable(e.filename, 120)})" if getattr(e, "filename", None) else ""
        print(f"backdrop: error: {printable(e.strerror or e)}{where}", file=sys.stderr)
        return 2
