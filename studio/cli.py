"""The `backdrop` command."""
from __future__ import annotations

import argparse
import json
import sys

from studio import StudioError, __version__


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


def _bf_tol(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < v <= 0.1:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.1], got {text}")
    return v


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="backdrop", description="Backdrop Studio: real-time background blur and "
                                "replacement.")
    p.add_argument("--version", action="version", version=f"backdrop {__version__}")
    sub = p.add_subparsers(dest="command")

    m = sub.add_parser("models", help="fetch and list segmentation models")
    m.add_argument("action", choices=["fetch", "list"])
    m.add_argument("--force", action="store_true", help="fetch again even if installed")
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_models)

    e = sub.add_parser("eval", help="IoU and boundary F on DATASET/images + DATASET/masks")
    e.add_argument("dataset")
    e.add_argument("--tier", default="full", choices=["full", "lite", "general", "auto"])
    e.add_argument("--refine", dest="refine", action="store_true", default=False)
    e.add_argument("--no-refine", dest="refine", action="store_false")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--bf-tol", type=_bf_tol, default=0.008, metavar="FRACTION",
                   help="boundary F tolerance as a fraction of the image diagonal (DAVIS: 0.008)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_cmd_eval)

    b = sub.add_parser("bench", help="per-stage timings of the headless pipeline")
    b.add_argument("--source", default="demo")
    b.add_argument("--size", default=None, help="WxH (default: the source's size, 1280x720 for demo)")
    b.add_argument("--frames", type=int, default=300)
    b.add_argument("--tier", default="full", choices=["full", "lite", "general", "auto"])
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--mode", default="blur", choices=["none", "blur", "replace", "mask"])
    b.add_argument("--renderer", default="cpu", choices=["cpu", "gl", "auto"])
    b.add_argument("--no-refine", dest="refine", action="store_false", default=True)
    b.add_argument("--pipeline", choices=["serial", "overlap"], default="overlap",
                   help="overlap inference and rendering on two threads (default) or run them in series")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_bench)

    r = sub.add_parser("render", help="apply the effect to an image or a video file")
    r.add_argument("input")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--preset")
    r.add_argument("--renderer", default="auto", choices=["cpu", "gl", "auto"])
    r.add_argument("--mode", choices=["none", "blur", "replace", "mask"])
    r.add_argument("--background")
    r.add_argument("--blur-radius", type=float, help="max CoC radius in output pixels")
    r.add_argument("--tier", choices=["full", "lite", "general", "auto"])
    r.set_defaults(func=_cmd_render)

    v = sub.add_parser("vcam", help="run the effect headless into a virtual camera")
    v.add_argument("--preset")
    v.add_argument("--source", default="camera:0")
    v.add_argument("--device")
    v.add_argument("--size", default="1280x720")
    v.add_argument("--fps", type=float, default=30.0)
    v.add_argument("--renderer", default="auto", choices=["cpu", "gl", "auto"])
    v.add_argument("--frames", type=int, default=0)
    v.add_argument("--output", help="a video file, or - for YUV4MPEG2 on stdout (no virtual camera needed)")
    v.add_argument("--mode", choices=["none", "blur", "replace", "mask"])
    v.add_argument("--background")
    v.add_argument("--blur-radius", type=float)
    v.add_argument("--tier", choices=["full", "lite", "general", "auto"])
    v.add_argument("--on-demand", action="store_true", help="release the camera while no client reads")
    v.set_defaults(func=_cmd_vcam)

    s = sub.add_parser("studio", help="open the studio window (the default)")
    s.add_argument("--source", default=None)
    s.add_argument("--preset")
    s.add_argument("--screenshot")
    s.add_argument("--frames", type=int, default=0)
    s.set_defaults(func=_cmd_studio)
    return p


def main(argv=None) -> int:
    from studio.alloc import tune_allocator

    tune_allocator()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        args = parser.parse_args(["studio", *(argv or sys.argv[1:])])
    try:
        return args.func(args)
    except StudioError as e:
        print(f"backdrop: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
