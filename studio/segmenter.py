"""Person segmentation on LiteRT (XNNPACK), cheap preprocessing, and automatic tier selection."""
from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from studio import StudioError, models
from studio.effects import grid_sample
from studio.atomic import write_bytes
from studio.paths import cache_dir


def downscale(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize a frame to (w, h) cheaply without aliasing badly.

    INTER_AREA at a non-integer 8x/7.5x ratio costs more than the model itself. Instead, for large ratios we take
    a 2x2 grid of exact-centre samples per output pixel (INTER_NEAREST_EXACT to 2w x 2h, touching only those
    pixels), then average them with INTER_AREA's integer fast path: within ~0.6 grey levels of a full box filter
    at a fifth of the cost. Small ratios go straight through INTER_AREA/LINEAR."""
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    ratio = min(fw / w, fh / h)
    if ratio >= 3.0:
        return grid_sample(frame, w, h)
    if ratio > 1.0:
        return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)


@dataclass
class SegResult:
    mask: np.ndarray  # float32 (h, w) person probability in [0, 1], model resolution
    timings: dict[str, float] = field(default_factory=dict)  # stage -> ms


class Segmenter:
    """One LiteRT interpreter for one tier. Not thread-safe: one per worker thread."""

    def __init__(self, tier: str = "full", threads: int = 1, xnnpack: bool | None = None):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        self.tier = models.tier(tier)
        self.threads = threads
        if xnnpack is None:
            xnnpack = os.environ.get("BACKDROP_NO_XNNPACK", "") in ("", "0")
        self.xnnpack = False
        interp = None
        if xnnpack:
            try:
                interp = Interpreter(model_content=models.load_model_bytes(tier), num_threads=threads)
                interp.allocate_tensors()
                self.xnnpack = True
            except (RuntimeError, ValueError) as e:
                if isinstance(e, models.ModelError):
                    raise
                interp = None  # XNNPACK (which implements the custom op) unavailable: builtin twin below
        if interp is None:
            interp = Interpreter(model_content=models.load_model_bytes(tier, builtin_ops=True), num_threads=threads,
                                 experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            interp.allocate_tensors()
        self._interp = interp
        inp = interp.get_input_details()[0]
        out = interp.get_output_details()[0]
        _, h, w, _ = inp["shape"]
        if (w, h) != self.tier.size:
            raise StudioError(f"model for tier {tier} has input {w}x{h}, manifest says {self.tier.width}x{self.tier.height}")
        self._in_index = inp["index"]
        self._out_index = out["index"]
        self._scale = np.float32(1.0 / 255.0)

    @property
    def size(self) -> tuple[int, int]:
        return self.tier.size

    def _input_view(self) -> np.ndarray:
        return self._interp.tensor(self._in_index)()[0]

    def __call__(self, frame_bgr: np.ndarray) -> SegResult:
        """Segment one BGR uint8 frame (any size, stretched to the model's input)."""
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        t0 = time.perf_counter()
        w, h = self.tier.size
        small = downscale(frame_bgr, w, h)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        np.multiply(rgb, self._scale, out=self._input_view(), casting="unsafe")
        t1 = time.perf_counter()
        self._interp.invoke()
        mask = self._interp.get_tensor(self._out_index)[0, :, :, 0]
        t2 = time.perf_counter()
        return SegResult(mask, {"resize": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3})


# --- automatic tier selection --------------------------------------------------------------------------------

@dataclass
class TierChoice:
    tier: str
    refine: bool
    reason: str
    measured_ms: dict[str, float]


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


def _read_tier_cache(path) -> dict:
    """The measured-cost cache; unreadable or of the wrong shape, it counts as empty (tiers are measured again)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
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
    budget, the joint bilateral refinement is switched off too (as Meet does on low-end machines)."""
    ms = measured if measured is not None else measure_tiers(threads)
    fps = source_fps if source_fps and source_fps > 0 else 30.0
    budget = 0.35 * 1000.0 / fps
    w, h = source_size
    order = ["general", "full", "lite"] if h > w else ["full", "general", "lite"]
    order = [t for t in order if t in ms]
    for t in order[:-1]:
        if ms[t] <= budget:
            why = (f"{t} takes {ms[t]:.1f} ms, within the {budget:.1f} ms segmentation budget at {fps:g} fps"
                   + (" (portrait source)" if h > w else ""))
            return TierChoice(t, True, why, ms)
    last = order[-1]
    refine = ms[last] <= 0.5 * budget
    why = (f"{order[0]} takes {ms[order[0]]:.1f} ms, over the {budget:.1f} ms budget at {fps:g} fps; "
           f"{last} takes {ms[last]:.1f} ms" + ("" if refine else ", tight: refinement off"))
    return TierChoice(last, refine, why, ms)
