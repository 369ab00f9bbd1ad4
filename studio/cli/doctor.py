"""`backdrop doctor`: one line per check of the virtual-camera set-up, each failure with its exact fix."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio import doctor


def add_parser(sub):
    d = sub.add_parser("doctor", help="check whether a virtual camera can work here, and say how to fix it")
    d.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    # the folder /sys, /proc and /dev are read under: fake trees in the tests
    d.add_argument("--root", default="/", help=argparse.SUPPRESS)
    return d


def run(args) -> int:
    root = Path(args.root)
    result = doctor.run_checks(doctor.Machine(root=root))
    if args.json:
        print(json.dumps(doctor.report(result)))
    else:
        for c in result["checks"]:
            print(c.line())
        print("vcam can run here" if result["ok"] else "vcam cannot send to a virtual camera yet: fix the FAIL lines")
    return 0 if result["ok"] else 1
