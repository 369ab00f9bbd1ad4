"""Automatic tier choice: each tier's cost measured on this machine (cached), the best that fits the budget."""
from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

from studio import StudioError
from studio.atomic import write_bytes
from studio.paths import cache_dir, read_regular
from studio.segment import models
from studio.segment.segmenter import Segmenter

# Tiers whose masks the joint bilateral refinement no longer improves enough to pay for it. Measured with the
# second look on (`benchmarks/run.py`, refinement): with hd masks it adds 0.001-0.003 boundary F at the DAVIS
# tolerance (0.010 at 0.002 of the diagonal) for 2.3 ms of CPU per 720p frame, where going from full to hd adds
# 0.02 for 1.3 ms. Auto leaves it off there; choosing hd by hand keeps the checkbox's choice.
REFINE_DOES_NOT_PAY = {"hd": "with hd masks refinement adds under 0.003 boundary F for about 2 ms: off"}


@dataclass
class TierChoice:
    tier: str
    refine: bool
    reason: str
    measured_ms: dict[str, float]
    second_look: bool = True     # one more inference of the tier (the crop around small people) still fits


def _machine_key(threads: int) -> str:
    try:
        import ai_edge_litert

        ver = getattr(ai_edge_litert, "__version__", "")
    except ImportError:
        ver = ""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}|{cpu}|{os.cpu_count()}|t{threads}|{ver}"


def measure_tiers(threads: int = 1, seconds: float = 1.0, use_cache: bool = True) -> dict[str, float]:
    """Median inference ms per tier, measured for about `seconds` in all; cached per machine."""
    cache = cache_dir() / "tier-bench.json"
    key = _machine_key(threads)
    names = models.tier_names()
    table = _read_tier_cache(cache) if use_cache else {}
    if _valid_entry(table.get(key), names):
        return table[key]
    result = {}
    frame = np.full((720, 1280, 3), 127, np.uint8)
    for name in names:
        seg = Segmenter(name, threads=threads)
        seg(frame)
        times = []
        deadline = time.perf_counter() + seconds / len(names)
        while time.perf_counter() < deadline or len(times) < 5:
            r = seg(frame)
            times.append(r.timings["resize"] + r.timings["inference"])
        result[name] = float(np.median(times))
    table[key] = result
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(cache, json.dumps(table, indent=1).encode())
    except (OSError, StudioError):
        pass  # a cache we cannot write only costs a second of measuring next time
    return result


MAX_CACHE_BYTES = 1 << 20    # a few hundred bytes per machine


def _read_tier_cache(path) -> dict:
    """The measured-cost cache; unreadable or of the wrong shape, it counts as empty (tiers are measured again)."""
    try:
        raw = read_regular(path, MAX_CACHE_BYTES)     # a FIFO, /dev/zero: counted as unreadable, never a hang
        doc = json.loads(raw.decode("utf-8")) if len(raw) <= MAX_CACHE_BYTES else None
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        models._note(f"tier timing cache {path} is unreadable; measuring again")
        return {}
    return doc


def _valid_entry(entry, names) -> bool:
    return (isinstance(entry, dict) and all(n in entry for n in names)
            and all(isinstance(entry[n], (int, float)) and not isinstance(entry[n], bool)
                    and math.isfinite(entry[n]) and entry[n] > 0 for n in names))


def choose_tier(source_fps: float = 30.0, source_size: tuple[int, int] = (1280, 720), threads: int = 1,
                measured: dict[str, float] | None = None) -> TierChoice:
    """Meet's rule of thumb: segmentation may take a fraction of the frame budget; take the best tier that fits.

    Portrait-orientation sources prefer the square `general` model. If even `lite` uses more than half of its
    budget, the joint bilateral refinement is switched off too (as Meet does on low-end machines). The second
    look at small people (one more inference of the tier) is allowed only where twice the tier fits."""
    ms = measured if measured is not None else measure_tiers(threads)
    fps = source_fps if source_fps and source_fps > 0 else 30.0
    budget = 0.35 * 1000.0 / fps
    w, h = source_size
    order = ["general", "hd", "full", "lite"] if h > w else ["hd", "full", "general", "lite"]
    order = [t for t in order if t in ms]
    for t in order[:-1]:
        if ms[t] <= budget:
            look = 2 * ms[t] <= budget
            why = (f"{t} takes {ms[t]:.1f} ms, within the {budget:.1f} ms segmentation budget at {fps:g} fps"
                   + (" (portrait source)" if h > w else "")
                   + ("; a second look at small people fits" if look else "; no room for a second look")
                   + (f"; {REFINE_DOES_NOT_PAY[t]}" if t in REFINE_DOES_NOT_PAY else ""))
            return TierChoice(t, t not in REFINE_DOES_NOT_PAY, why, ms, look)
    last = order[-1]
    refine = ms[last] <= 0.5 * budget
    look = 2 * ms[last] <= 0.5 * budget
    why = (f"{order[0]} takes {ms[order[0]]:.1f} ms, over the {budget:.1f} ms budget at {fps:g} fps; "
           f"{last} takes {ms[last]:.1f} ms" + ("" if refine else ", tight: refinement off")
           + ("" if look else "; no second look"))
    return TierChoice(last, refine, why, ms, look)
