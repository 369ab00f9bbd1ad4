"""EffectSettings: one validated, versioned settings object. Defaults live here and nowhere else.

A preset file is JSON: {"format": "backdrop-preset", "version": N, "settings": {...}}. Only values that differ
from the defaults are written, so new defaults reach old files. Older versions migrate in order; anything
malformed raises PresetError naming the field, and nothing half-loaded is ever returned."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from studio import StudioError, printable
from studio.paths import NotRegularFile, read_regular

FORMAT = "backdrop-preset"
VERSION = 2
MODES = ("none", "blur", "replace", "mask")
TIERS = ("auto", "hd", "full", "lite", "general")
WRAP_BLENDS = ("screen", "add")


class PresetError(StudioError):
    pass


@dataclass(frozen=True)
class Field:
    """One setting as every reader sees it: validation, the panel's widgets, argparse."""
    name: str
    label: str
    lo: float | None = None      # numbers: the closed range validation accepts and the slider spans
    hi: float | None = None
    step: float | None = None    # the slider's step
    fmt: str = "{:.2f}"          # the slider's label
    choices: tuple = ()          # strings: the accepted values, in menu order


SCHEMA: dict[str, Field] = {f.name: f for f in (
    Field("mode", "Mode", choices=MODES),
    Field("max_coc", "Max blur radius (px)", 0.0, 64.0, 1.0, "{:.0f}"),
    Field("blur_scale", "Blur scale", 0.1, 0.5, 0.05),
    Field("sigma_space", "Sigma space", 0.25, 8.0, 0.25),
    Field("sigma_color", "Sigma colour", 0.01, 1.0, 0.01),
    Field("coverage", "Coverage", 0.0, 1.0, 0.05),
    Field("temporal_smoothing", "Temporal smoothing", 0.0, 0.95, 0.05),
    Field("wrap_strength", "Light wrap strength", 0.0, 1.0, 0.05),
    Field("wrap_width", "Light wrap width (px)", 0.0, 64.0, 1.0, "{:.0f}"),
    Field("wrap_blend", "Light wrap blend", choices=WRAP_BLENDS),
    Field("background", "Background"),
    Field("tier", "Model tier", choices=TIERS),
    Field("second_look", "Second look at small people"),
    Field("segment_on_change", "Segment only when the picture changed"),
    Field("refine", "Refine mask (joint bilateral)"),
    Field("clean_edges", "Clean edge colours (replace)"),
    Field("mirror", "Mirror"),
)}
# the sliders, in panel order: every number but coverage (two sliders of its own)
SLIDERS = tuple(n for n, f in SCHEMA.items() if f.step is not None and n != "coverage")
_NUM = {n: (SCHEMA[n].lo, SCHEMA[n].hi) for n in SLIDERS}
_CHOICE = {n: f.choices for n, f in SCHEMA.items() if f.choices}
COVERAGE_MIN_GAP = 0.01  # the smoothstep divides by (high - low): both renderers need a real gap
TOP_LEVEL = ("format", "version", "settings")


@dataclass(frozen=True)
class EffectSettings:
    mode: str = "blur"
    max_coc: float = 16.0          # max circle-of-confusion radius, output pixels
    blur_scale: float = 0.25       # working resolution of the blur passes, fraction of the frame
    sigma_space: float = 1.5       # joint bilateral spatial sigma, refine-resolution pixels (best boundary F)
    sigma_color: float = 0.06      # joint bilateral colour sigma, RGB in [0, 1]
    coverage: tuple = (0.3, 0.7)   # smoothstep edges: probability -> blend weight
    temporal_smoothing: float = 0.8
    wrap_strength: float = 0.35
    wrap_width: float = 12.0       # output pixels
    wrap_blend: str = "screen"
    background: str = ""           # image or video for replace mode
    tier: str = "auto"
    second_look: bool = True       # one more inference on a crop around small or far people (Auto: if it fits)
    segment_on_change: bool = True  # live: still frames reuse the mask, others may carry it by motion (reuse.py)
    refine: bool = True
    clean_edges: bool = True       # replace mode: the person's own colours at the edge, not the old background's
    mirror: bool = False

    def __post_init__(self):
        for name, value in validate(asdict(self)).items():  # keep the normalised values (floats, tuple)
            object.__setattr__(self, name, value)

    # -- convenience ------------------------------------------------------------------------------------------
    def with_(self, **changes) -> "EffectSettings":
        """A copy with some fields changed (validated)."""
        return from_dict({**to_dict(self, only_changed=False), **changes})


def _err(name: str, msg: str) -> PresetError:
    return PresetError(f"preset field {name!r}: {msg}")


def _num(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(name, f"must be a number, got {type(v).__name__}")
    try:
        f = float(v)
    except OverflowError:  # an integer beyond float range
        raise _err(name, "is far out of range") from None
    if not math.isfinite(f):
        raise _err(name, "must be finite")
    return f


def _known_fields() -> set[str]:
    return {f.name for f in fields(EffectSettings)}


def validate(d: dict) -> dict:
    """Check a complete settings dict; return it with numbers as floats and coverage as a tuple."""
    out = {}
    known = _known_fields()
    for k in d:
        if k not in known:
            raise _err(printable(k, 60), "unknown field")
    for name, (lo, hi) in _NUM.items():
        if name in d:
            v = _num(name, d[name])
            if not lo <= v <= hi:
                raise _err(name, f"{v:g} is out of range [{lo:g}, {hi:g}]")
            out[name] = v
    for name, choices in _CHOICE.items():
        if name in d:
            v = d[name]
            if not isinstance(v, str) or v not in choices:
                raise _err(name, f"must be one of {', '.join(choices)}, got {printable(repr(v), 60)}")
            out[name] = v
    for name in ("refine", "clean_edges", "second_look", "segment_on_change", "mirror"):
        if name in d:
            if not isinstance(d[name], bool):
                raise _err(name, "must be true or false")
            out[name] = d[name]
    if "background" in d:
        if not isinstance(d["background"], str):
            raise _err("background", "must be a file path (string)")
        out["background"] = d["background"]
    if "coverage" in d:
        c = d["coverage"]
        if not isinstance(c, (list, tuple)) or len(c) != 2:
            raise _err("coverage", "must be two numbers [low, high]")
        lo, hi = (_num("coverage", x) for x in c)
        if not (SCHEMA["coverage"].lo <= lo < hi <= SCHEMA["coverage"].hi):
            raise _err("coverage", f"needs 0 <= low < high <= 1, got [{lo:g}, {hi:g}]")
        if hi - lo < COVERAGE_MIN_GAP:
            raise _err("coverage", f"high must exceed low by at least {COVERAGE_MIN_GAP:g}, got [{lo:g}, {hi:g}]")
        out["coverage"] = (lo, hi)
    return out


DEFAULTS = None  # set below


def to_dict(s: EffectSettings, only_changed: bool = True) -> dict:
    d = asdict(s)
    d["coverage"] = list(d["coverage"])
    if only_changed:
        base = asdict(DEFAULTS)
        base["coverage"] = list(base["coverage"])
        d = {k: v for k, v in d.items() if v != base[k]}
    return d


def from_dict(d: dict) -> EffectSettings:
    if not isinstance(d, dict):
        raise PresetError("preset 'settings' must be a JSON object")
    clean = validate(d)
    try:
        return replace(DEFAULTS, **clean) if DEFAULTS is not None else EffectSettings(**clean)
    except TypeError as e:  # pragma: no cover - validate() names fields first
        raise PresetError(f"invalid preset: {e}") from None


# -- versions -------------------------------------------------------------------------------------------------

def _v1_to_v2(s: dict) -> dict:
    """Version 1 (the 0.1 draft) had one `threshold`, `blur_radius` and `smoothing`; v2 has a coverage band."""
    s = dict(s)
    if "threshold" in s:
        t = _num("threshold", s.pop("threshold"))
        if not 0.0 < t < 1.0:
            raise _err("threshold", f"{t:g} is out of range (0, 1)")
        half = min(0.2, t, 1.0 - t)
        s["coverage"] = [t - half, t + half]
    if "blur_radius" in s:
        s["max_coc"] = s.pop("blur_radius")
    if "smoothing" in s:
        s["temporal_smoothing"] = s.pop("smoothing")
    return s


MIGRATIONS = {1: _v1_to_v2}


def parse_preset(doc) -> EffectSettings:
    if not isinstance(doc, dict):
        raise PresetError("preset must be a JSON object")
    if doc.get("format") != FORMAT:
        raise PresetError(f"not a Backdrop preset (field 'format' must be {FORMAT!r})")
    for key in doc:
        if key not in TOP_LEVEL:
            where = next((k for k in TOP_LEVEL if str(key).lower() == k), None)
            hint = (f"did you mean {where!r}?" if where else
                    "settings go inside 'settings'" if key in _known_fields() else
                    f"a preset holds only {', '.join(TOP_LEVEL)}")
            raise PresetError(f"preset has an unknown top-level field {printable(key, 60)!r}: {hint}")
    ver = doc.get("version")
    if isinstance(ver, bool) or not isinstance(ver, int):
        raise PresetError("preset field 'version' must be an integer")
    if ver > VERSION:
        raise PresetError(f"preset version {ver} is newer than this Backdrop Studio understands ({VERSION})")
    if ver < 1:
        raise PresetError(f"preset version {ver} is not supported")
    settings = doc.get("settings", {})
    if not isinstance(settings, dict):
        raise PresetError("preset field 'settings' must be a JSON object")
    while ver < VERSION:
        if ver not in MIGRATIONS:
            raise PresetError(f"preset version {ver} cannot be migrated to {VERSION}")
        settings = MIGRATIONS[ver](settings)
        ver += 1
    return from_dict(settings)


MAX_PRESET_BYTES = 1 << 20  # a preset is a few hundred bytes; anything this big is not one


def load_preset(path: str | os.PathLike) -> EffectSettings:
    """Read, check and migrate a preset file; every failure is a PresetError with one printable line."""
    shown = printable(path, 120)
    try:
        raw = read_regular(path, MAX_PRESET_BYTES)   # a FIFO or device in its place must not block (vcam's watcher)
    except FileNotFoundError:
        raise PresetError(f"preset not found: {shown}") from None
    except NotRegularFile:
        raise PresetError(f"preset {shown} is not a regular file") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise PresetError(f"cannot read preset {shown}: {printable(getattr(e, 'strerror', None) or e, 80)}") from None
    if len(raw) > MAX_PRESET_BYTES:
        raise PresetError(f"preset {shown} is too large to be a preset (over {MAX_PRESET_BYTES >> 20} MB)")
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Notepad) is fine
    except UnicodeDecodeError:
        raise PresetError(f"preset {shown} is not UTF-8 text") from None
    try:
        doc = json.loads(text)
    except RecursionError:
        raise PresetError(f"preset {shown} is nested too deeply to be a preset") from None
    except ValueError as e:
        raise PresetError(f"preset {shown} is not valid JSON: {printable(e, 120)}") from None
    try:
        return parse_preset(doc)
    except PresetError as e:
        raise PresetError(f"{shown}: {e}") from None


def preset_doc(s: EffectSettings) -> dict:
    return {"format": FORMAT, "version": VERSION, "settings": to_dict(s)}


def save_preset(s: EffectSettings, path: str | os.PathLike) -> None:
    """Write atomically: a crash or a full disk never leaves a half-written preset in place of a good one, and
    a reader watching the file never sees half of one. Failures are StudioError (one line)."""
    from studio.atomic import write_bytes

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudioError(f"cannot write preset {printable(p, 120)}: {e.strerror}") from None
    write_bytes(p, (json.dumps(preset_doc(s), indent=2) + "\n").encode())


class PresetWatcher:
    """Watches a preset file (size, mtime and inode, checked every `interval` s on its own thread: no Qt, no
    extra dependency) and keeps the newest valid settings for the consumer to take between two frames.
    A broken file keeps the running settings: on_error(message) is called once per distinct problem."""

    def __init__(self, path: str | os.PathLike, interval: float = 0.1, on_error=None):
        import threading

        self.path = Path(path)
        self.interval = interval
        self.on_error = on_error or (lambda message: None)
        self._stamp = self._read_stamp()
        self._pending: EffectSettings | None = None
        self._last_error = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="preset-watch", daemon=True)

    def start(self) -> "PresetWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def take(self) -> EffectSettings | None:
        """The settings of the last valid change not taken yet, or None."""
        with self._lock:
            s, self._pending = self._pending, None
        return s

    def _read_stamp(self):
        try:
            st = os.stat(self.path)
            return (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            stamp = self._read_stamp()
            if stamp == self._stamp:
                continue
            self._stamp = stamp
            try:
                s = load_preset(self.path)
            except PresetError as e:
                if str(e) != self._last_error:
                    self._last_error = str(e)
                    self.on_error(str(e))
                continue
            self._last_error = ""
            with self._lock:
                self._pending = s


DEFAULTS = EffectSettings()
