import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from studio.segment.segmenter import Segmenter, downscale
from studio.segment.tiers import choose_tier

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tier", ["full", "lite", "general"])
def test_mask_covers_the_person(tier, data_dir):
    img = cv2.imread(str(data_dir / "portraits-dev/images/1.jpg"))
    gt = cv2.imread(str(data_dir / "portraits-dev/masks/1.png"), cv2.IMREAD_GRAYSCALE) >= 128
    res = Segmenter(tier)(img)
    assert res.mask.dtype == np.float32 and 0 <= res.mask.min() and res.mask.max() <= 1
    pred = cv2.resize(res.mask, (gt.shape[1], gt.shape[0])) >= 0.5
    iou = (pred & gt).sum() / (pred | gt).sum()
    assert iou > 0.8, iou
    assert set(res.timings) == {"resize", "inference"}


def test_empty_scene_has_no_person():
    seg = Segmenter("full")
    wall = np.full((720, 1280, 3), (90, 120, 140), np.uint8)
    assert seg(wall).mask.mean() < 0.05


def test_builtin_fallback_matches_xnnpack(portrait):
    a = Segmenter("full")(portrait).mask
    b = Segmenter("full", xnnpack=False)(portrait).mask
    assert np.abs(a - b).max() < 1e-3


def test_downscale_is_close_to_area_filter(portrait):
    for w, h in ((256, 144), (160, 96)):
        ref = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_AREA).astype(float)
        fast = downscale(portrait, w, h).astype(float)
        naive = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_NEAREST).astype(float)
        assert np.abs(fast - ref).mean() < 1.5
        assert np.abs(fast - ref).mean() < 0.7 * np.abs(naive - ref).mean()


def test_auto_tier_rules():
    fast = {"hd": 3.5, "full": 2.0, "lite": 1.3, "general": 3.5}
    c = choose_tier(30, (1280, 720), measured=fast)
    assert c.tier == "hd" and "budget" in c.reason and c.second_look   # this machine at 720p30
    assert not c.refine and "refinement adds under 0.003" in c.reason  # it does not pay with hd masks
    assert choose_tier(30, (720, 1280), measured=fast).tier == "general"
    c = choose_tier(60, (1280, 720), measured={**fast, "hd": 7.0})
    assert c.tier == "full"                                         # 60 fps: 5.8 ms budget, hd does not fit
    slow = {"hd": 25.0, "full": 14.0, "lite": 3.5, "general": 20.0}
    c = choose_tier(60, (1280, 720), measured=slow)
    assert c.tier == "lite" and not c.refine and "refinement off" in c.reason
    c = choose_tier(30, (1280, 720), measured=slow)
    assert c.tier == "lite" and c.refine


def _python(code: str, *flags: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (pytest itself runs with faulthandler on), stderr as bytes."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, timeout=120, cwd=ROOT, env=env)


def test_litert_note_is_kept_off_stderr_and_nothing_else_is():
    """LiteRT writes "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." from C for every interpreter, before
    every command's own lines; whatever else reaches file descriptor 2 meanwhile (another thread, C code) is kept,
    in order."""
    r = _python("from studio.segment.segmenter import Segmenter\n"
                "Segmenter('full'); Segmenter('lite', xnnpack=False)\n")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    r = _python("import os, threading\n"
                "from studio.segment import segmenter\n"
                "with segmenter._without_litert_note():\n"
                "    os.write(2, b'first\\n' + segmenter._LITERT_NOTE + b'\\n')\n"
                "    t = threading.Thread(target=lambda: os.write(2, b'from another thread\\n'))\n"
                "    t.start(); t.join()\n"
                "    os.write(2, b'last, no newline')\n")
    assert r.returncode == 0 and r.stderr == b"first\nfrom another thread\nlast, no newline", r.stderr


def test_a_crash_while_litert_note_would_be_held_back_still_reports():
    """While an interpreter is made, file descriptor 2 is a temporary file: a crash meanwhile (a segfault in
    LiteRT's C++) wrote faulthandler's report there, and it went with the process. Where faulthandler is on, fd 2
    is left alone: the report reaches stderr (and so does the note)."""
    code = ("import faulthandler, os, sys\n"
            "from studio.segment import segmenter\n"
            "with segmenter._without_litert_note():\n"
            "    os.write(2, segmenter._LITERT_NOTE + b'\\n')\n"
            "    faulthandler._sigsegv()\n")
    r = _python(code, "-X", "faulthandler")
    assert r.returncode != 0 and b"Fatal Python error: Segmentation fault" in r.stderr, r.stderr[-300:]
    r = _python(code.replace("faulthandler._sigsegv()", "pass"))
    assert r.returncode == 0 and r.stderr == b""   # without faulthandler, the note is held back
    # faulthandler pointed at a copy of stderr, as pytest points it (so that capturing fd 2 cannot swallow a
    # report): it stays pointed there after an interpreter is made (it was moved to fd 2 for good)
    r = _python("import faulthandler, os, tempfile\n"
                "faulthandler.enable(file=os.dup(2))\n"
                "from studio.segment import segmenter\n"
                "with segmenter._without_litert_note():\n"
                "    pass\n"
                "held = tempfile.TemporaryFile()\n"
                "os.dup2(held.fileno(), 2)\n"
                "faulthandler._sigsegv()\n")
    assert r.returncode != 0 and b"Fatal Python error: Segmentation fault" in r.stderr, r.stderr[-300:]
