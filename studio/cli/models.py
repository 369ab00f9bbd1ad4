"""`backdrop models fetch|list`: the model cache."""
from __future__ import annotations

import json
import sys

from studio.segment import models


def add_parser(sub):
    m = sub.add_parser("models", help="fetch and list segmentation models")
    m.add_argument("action", choices=["fetch", "list"], help="fetch: download, verify and derive; list: status")
    m.add_argument("--force", action="store_true", help="fetch again even if installed")
    m.add_argument("--json", action="store_true", help="list as JSON")
    return m


def run(args) -> int:
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
