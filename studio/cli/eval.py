"""`backdrop eval DATASET`: IoU and boundary F of a tier."""
from __future__ import annotations

import json
import sys

from studio.cli.args import BF_TOL, THREADS, given
from studio.settings import TIERS


def add_parser(sub):
    e = sub.add_parser("eval", help="IoU and boundary F on DATASET/images + DATASET/masks")
    e.add_argument("dataset", type=given("a folder"), help="a folder with images/ and masks/ of the same stems")
    e.add_argument("--tier", default="full", choices=TIERS, help="model tier (default full)")
    e.add_argument("--refine", dest="refine", action="store_true", default=False,
                   help="score the refined mask (joint bilateral) instead of the raw one")
    e.add_argument("--no-refine", dest="refine", action="store_false", help="score the raw mask (default)")
    e.add_argument("--second-look", action="store_true",
                   help="merge a second inference on a crop around each small person (the studio's default)")
    e.add_argument("--threads", type=THREADS, default=1, help="LiteRT threads (1 to the number of cores)")
    e.add_argument("--bf-tol", type=BF_TOL, default=0.008, metavar="FRACTION",
                   help="boundary F tolerance as a fraction of the image diagonal (DAVIS: 0.008)")
    e.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    return e


def run(args) -> int:
    from studio.evaluate import evaluate

    res = evaluate(args.dataset, tier=args.tier, refine=args.refine, threads=args.threads,
                   log=lambda m: print(m, file=sys.stderr), bf_tol=args.bf_tol, second_look=args.second_look)
    print(f"{res['dataset']}: n={res['n']} tier={res['tier']} refine={res['refine']} "
          f"second_look={res['second_look']}")
    print(f"  IoU mean {res['iou_mean']:.4f}  median {res['iou_median']:.4f}")
    print(f"  boundary F mean {res['bf_mean']:.4f}  median {res['bf_median']:.4f}"
          f"  (tolerance {res['bf_tol']:g} of the diagonal)")
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "per_image"}))
    return 0
