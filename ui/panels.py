"""Side panels: mask thumbnails, effect controls bound to EffectSettings, tier and source selectors, graphs."""
from __future__ import annotations

import collections
import time

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QSlider, QToolButton, QVBoxLayout, QWidget)

from studio.segment.models import tier, tier_names
from studio.settings import SCHEMA, SLIDERS, EffectSettings


def _to_pixmap(gray: np.ndarray, w: int) -> QPixmap:
    g = np.clip(gray * 255 + 0.5, 0, 255).astype(np.uint8)
    h = max(1, int(round(w * g.shape[0] / g.shape[1])))
    g = np.ascontiguousarray(cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR))
    img = QImage(g.data, w, h, w, QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(img.copy())


class FaultBanner(QFrame):
    """A bar above the viewport that keeps every current fault in view until it is gone: a lost source stays
    until the source delivers again; notices (settings set aside, an unreadable background) until dismissed."""

    LIVE = ("source", "model")  # faults that clear themselves; the rest are notices the user dismisses

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("faultBanner")
        self.setStyleSheet("#faultBanner { background: #7a2620; } #faultBanner QLabel { color: white; }"
                           "#faultBanner QToolButton { color: white; background: #9c3a31; border: 1px solid #d9918a;"
                           " padding: 2px 10px; }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.dismiss = QToolButton()
        self.dismiss.setText("Dismiss")
        self.dismiss.clicked.connect(self.dismiss_notices)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.dismiss)
        self.faults: dict[str, str] = {}
        self.hide()

    def set_fault(self, key: str, message: str) -> None:
        self.faults[key] = message
        self._refresh()

    def clear_fault(self, key: str) -> None:
        if self.faults.pop(key, None) is not None:
            self._refresh()

    def dismiss_notices(self) -> None:
        self.faults = {k: v for k, v in self.faults.items() if k in self.LIVE}
        self._refresh()

    def text(self) -> str:
        return self.label.text()

    def _refresh(self) -> None:
        self.label.setText("\n".join(self.faults.values()))
        self.dismiss.setVisible(any(k not in self.LIVE for k in self.faults))
        self.setVisible(bool(self.faults))


class MaskPanel(QGroupBox):
    """Raw model mask and refined blend weight as live thumbnails."""

    def __init__(self, parent=None):
        super().__init__("Masks", parent)
        lay = QHBoxLayout(self)
        self.raw = QLabel("no mask yet")       # each thumbnail's caption is below it
        self.refined = QLabel("no mask yet")
        for lab, cap in ((self.raw, "raw"), (self.refined, "refined")):
            box = QVBoxLayout()
            lab.setFixedSize(128, 72)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box.addWidget(lab)
            box.addWidget(QLabel(cap), alignment=Qt.AlignmentFlag.AlignHCenter)
            lay.addLayout(box)

    def show_masks(self, raw: np.ndarray | None, refined: np.ndarray | None) -> None:
        if raw is not None:
            self.raw.setPixmap(_to_pixmap(raw, 128))
        if refined is not None:
            self.refined.setPixmap(_to_pixmap(refined, 128))


class _Slider(QWidget):
    """A float slider: `changing` on every tick, `changed` when settled (released or 300 ms idle)."""

    changing = Signal(float)
    changed = Signal(float)

    def __init__(self, lo, hi, value, step, fmt="{:.2f}", parent=None):
        super().__init__(parent)
        self.lo, self.step, self.fmt = lo, step, fmt
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, int(round((hi - lo) / step)))
        self.label = QLabel()
        self.label.setMinimumWidth(44)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider)
        lay.addWidget(self.label)
        self._settle = QTimer(self, singleShot=True, interval=300)
        self._settle.timeout.connect(self._on_settled)
        self.slider.valueChanged.connect(self._on_tick)
        self.slider.sliderReleased.connect(self._on_settled)
        self.set_value(value)

    def value(self) -> float:
        return self.lo + self.slider.value() * self.step

    def set_value(self, v: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(int(round((v - self.lo) / self.step)))
        self.slider.blockSignals(False)
        self.label.setText(self.fmt.format(self.value()))

    def _on_tick(self, _):
        self.label.setText(self.fmt.format(self.value()))
        self.changing.emit(self.value())
        if not self.slider.isSliderDown():
            self._settle.start()   # keys, wheel, clicks: settled after 300 ms without another tick

    def _on_settled(self):
        self._settle.stop()
        self.changed.emit(self.value())


class EffectControls(QGroupBox):
    """Controls bound to EffectSettings. `settings_changing` per tick (uniforms), `settings_changed` settled."""

    settings_changing = Signal(object)
    settings_changed = Signal(object)
    pick_background = Signal()

    def __init__(self, settings: EffectSettings, parent=None):
        super().__init__("Effect", parent)
        self._s = settings
        form = QFormLayout(self)
        self.mode = QComboBox()
        self.mode.addItems(list(SCHEMA["mode"].choices))
        form.addRow(SCHEMA["mode"].label, self.mode)
        self.refine = QCheckBox(SCHEMA["refine"].label)
        self._refine_tip = ("Joint bilateral filter: the low-resolution mask follows the frame's own edges "
                            "(hair, shoulders)")
        self.refine.setToolTip(self._refine_tip)
        form.addRow(self.refine)
        self.second_look = QCheckBox(SCHEMA["second_look"].label)
        self._look_tip = ("One more inference on a crop around each small or far person (full body, standing "
                          "back), merged into the mask; skipped when the person fills the frame, and by Auto when "
                          "the machine has no room for it")
        self.second_look.setToolTip(self._look_tip)
        form.addRow(self.second_look)
        self.segment_on_change = QCheckBox(SCHEMA["segment_on_change"].label)
        self.segment_on_change.setToolTip("A still frame reuses the last mask; after a segmented frame, the next one "
                                          "may carry its mask by optical flow where the flow explains the motion; "
                                          "fast motion is segmented every frame")
        form.addRow(self.segment_on_change)
        self.sliders: dict[str, _Slider] = {}
        for name in SLIDERS:  # ranges, steps and labels from the one schema validation reads too
            f = SCHEMA[name]
            sl = _Slider(f.lo, f.hi, getattr(settings, name), f.step, f.fmt)
            sl.changing.connect(lambda v, n=name: self._update(False, **{n: v}))
            sl.changed.connect(lambda v, n=name: self._update(True, **{n: v}))
            self.sliders[name] = sl
            form.addRow(f.label, sl)
        cov = SCHEMA["coverage"]
        self.cov_lo = _Slider(cov.lo, cov.hi - cov.step, settings.coverage[0], cov.step)
        self.cov_hi = _Slider(cov.lo + cov.step, cov.hi, settings.coverage[1], cov.step)
        for sl in (self.cov_lo, self.cov_hi):
            sl.changing.connect(lambda _, moved=sl: self._coverage(False, moved))
            sl.changed.connect(lambda _, moved=sl: self._coverage(True, moved))
        form.addRow(f"{cov.label} low", self.cov_lo)
        form.addRow(f"{cov.label} high", self.cov_hi)
        self.wrap_blend = QComboBox()
        self.wrap_blend.addItems(list(SCHEMA["wrap_blend"].choices))
        form.addRow(SCHEMA["wrap_blend"].label, self.wrap_blend)
        self.clean_edges = QCheckBox(SCHEMA["clean_edges"].label)
        self.clean_edges.setToolTip("Replace mode: estimate the person's own colour at the edge, so the old "
                                    "background (a white wall, a green screen) does not show as a rim")
        form.addRow(self.clean_edges)
        self.bg_button = QPushButton("Background…")
        self.bg_label = QLabel("(none)")
        self.bg_label.setWordWrap(True)
        form.addRow(self.bg_button, self.bg_label)
        self.mirror = QCheckBox(SCHEMA["mirror"].label)
        form.addRow(self.mirror)
        self.mode.currentTextChanged.connect(lambda m: self._update(True, mode=m))
        self.refine.toggled.connect(lambda v: self._update(True, refine=v))
        self.wrap_blend.currentTextChanged.connect(lambda m: self._update(True, wrap_blend=m))
        self.mirror.toggled.connect(lambda v: self._update(True, mirror=v))
        self.clean_edges.toggled.connect(lambda v: self._update(True, clean_edges=v))
        self.second_look.toggled.connect(lambda v: self._update(True, second_look=v))
        self.segment_on_change.toggled.connect(lambda v: self._update(True, segment_on_change=v))
        self.bg_button.clicked.connect(self.pick_background)
        self.set_settings(settings)

    def settings(self) -> EffectSettings:
        return self._s

    def set_settings(self, s: EffectSettings) -> None:
        self._s = s
        for w in (self.mode, self.refine, self.wrap_blend, self.mirror, self.clean_edges,
                  self.second_look, self.segment_on_change):
            w.blockSignals(True)
        self.mode.setCurrentText(s.mode)
        self.refine.setChecked(s.refine)
        self.wrap_blend.setCurrentText(s.wrap_blend)
        self.mirror.setChecked(s.mirror)
        self.clean_edges.setChecked(s.clean_edges)
        self.second_look.setChecked(s.second_look)
        self.segment_on_change.setChecked(s.segment_on_change)
        for w in (self.mode, self.refine, self.wrap_blend, self.mirror, self.clean_edges,
                  self.second_look, self.segment_on_change):
            w.blockSignals(False)
        for f, sl in self.sliders.items():
            sl.set_value(getattr(s, f))
        self.cov_lo.set_value(s.coverage[0])
        self.cov_hi.set_value(s.coverage[1])
        self.bg_label.setText(s.background or "(none)")

    def set_auto_off(self, refine_off: str | None, look_off: str | None) -> None:
        """Auto chose a tier (named) with which it leaves refinement, or the second look, off; None where it does
        not. Each box keeps the user's choice, which applies again with a tier chosen by hand; meanwhile it says
        that the step is off and cannot be clicked, rather than being a box whose clicks change nothing."""
        for box, key, tier, tip, why in (
                (self.refine, "refine", refine_off, self._refine_tip,
                 "the refinement adds little for its cost with {} masks"),
                (self.second_look, "second_look", look_off, self._look_tip,
                 "this machine has no room for one more {} inference")):
            name = SCHEMA[key].label
            box.setEnabled(tier is None)
            box.setText(name if tier is None else f"{name}: off, Auto chose {tier}")
            box.setToolTip(tip if tier is None else f"Auto leaves it off: {why.format(tier)}. Choose a model by "
                                                    "hand to set it.")

    def _coverage(self, settled: bool, moved: "_Slider") -> None:
        """The two sliders stay ordered: the one moved past the other pushes it a step ahead (each slider's range
        leaves that step), so the values shown are the ones the effect uses."""
        lo, hi = self.cov_lo.value(), self.cov_hi.value()
        if hi <= lo:
            step = SCHEMA["coverage"].step
            if moved is self.cov_lo:
                self.cov_hi.set_value(lo + step)
            else:
                self.cov_lo.set_value(hi - step)
            lo, hi = self.cov_lo.value(), self.cov_hi.value()
        self._update(settled, coverage=(lo, hi))

    def _update(self, settled: bool, **changes) -> None:
        try:
            self._s = self._s.with_(**changes)
        except Exception:
            return
        (self.settings_changed if settled else self.settings_changing).emit(self._s)


class TierSelector(QGroupBox):
    tier_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__("Model", parent)
        lay = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.addItem("Auto", "auto")
        for name in tier_names():   # labels from the model manifest
            self.combo.addItem(tier(name).label, name)
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        lay.addWidget(self.combo)
        lay.addWidget(self.reason)
        self.combo.currentIndexChanged.connect(lambda i: self.tier_changed.emit(self.combo.itemData(i)))

    def set_tier(self, tier: str) -> None:
        i = self.combo.findData(tier)
        if i >= 0:
            self.combo.setCurrentIndex(i)

    def current(self) -> str:
        return self.combo.currentData()

    def show_reason(self, text: str) -> None:
        self.reason.setText(text)


class SourceSelector(QGroupBox):
    """The source (cameras, demo, a file) and, for a camera, the mode it runs in: each size and rate it offers,
    MJPG or raw, with "Auto" (1280x720 at 30 where offered) first."""
    source_chosen = Signal(str)
    mode_chosen = Signal(str)       # a mode spec ("1280x720@30:MJPG"), or "" for Auto
    open_file = Signal()

    def __init__(self, cameras: list[str], parent=None):
        super().__init__("Source", parent)
        col = QVBoxLayout(self)
        row = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.addItems(cameras + ["demo"])
        self.file_button = QPushButton("Open file…")
        row.addWidget(self.combo, 1)
        row.addWidget(self.file_button)
        col.addLayout(row)
        self.mode_combo = QComboBox()
        self.mode_combo.setToolTip("The camera's mode: size, frame rate and format. MJPG is decoded on the CPU; "
                                   "a raw format (YUYV, NV12) costs less but USB 2 cameras give it at low rates.")
        self.mode_combo.setVisible(False)
        col.addWidget(self.mode_combo)
        self.combo.activated.connect(lambda i: self.source_chosen.emit(self.combo.itemText(i)))
        self.mode_combo.activated.connect(lambda i: self.mode_chosen.emit(self.mode_combo.itemData(i) or ""))
        self.file_button.clicked.connect(self.open_file)

    def set_current(self, spec: str) -> None:
        if self.combo.findText(spec) < 0:
            self.combo.addItem(spec)
        self.combo.setCurrentText(spec)

    def set_modes(self, modes, auto, chosen: str = "") -> None:
        """List a camera's modes (CameraMode objects); `auto` is the one Auto opens; `chosen` the remembered
        spec ("" for Auto). No modes (not a camera, or one that cannot be asked) hides the list."""
        self.mode_combo.clear()
        if not modes:
            self.mode_combo.setVisible(False)
            return
        self.mode_combo.addItem(f"Auto — {auto.label()}" if auto is not None else "Auto", "")
        for m in modes:
            self.mode_combo.addItem(m.label(), m.spec())
        i = self.mode_combo.findData(chosen) if chosen else 0
        if i < 0:   # remembered, and what opens, though the camera does not list it now: shown as it is
            self.mode_combo.addItem(f"{chosen} (remembered; not listed by the camera now)", chosen)
            i = self.mode_combo.count() - 1
        self.mode_combo.setCurrentIndex(i)
        self.mode_combo.setVisible(True)

    def current_mode(self) -> str:
        return self.mode_combo.currentData() or ""


class StatsGraphs(QWidget):
    """FPS and per-stage latency over the last ~10 s: numpy ring buffers, redrawn by a 4 Hz timer."""

    STAGES = ["capture", "resize", "inference", "second_look", "refine", "render", "latency"]
    COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#b3de69", "#fb8072", "#80b1d3", "#fdb462"]

    def __init__(self, seconds: float = 10.0, parent=None):
        super().__init__(parent)
        self.n = 600
        self.seconds = seconds
        self.t = np.full(self.n, np.nan)
        self.v = {s: np.full(self.n, np.nan) for s in self.STAGES}
        self.i = 0
        self._cpu_marks: collections.deque = collections.deque()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.fps_label = QLabel("FPS –")
        lay.addWidget(self.fps_label)
        self.fps_plot = pg.PlotWidget()
        self.fps_plot.setFixedHeight(90)
        self.fps_plot.setLabel("left", "FPS")
        self.fps_curve = self.fps_plot.plot(pen=pg.mkPen("#66c2a5", width=1), skipFiniteCheck=True)
        self.lat_plot = pg.PlotWidget()
        self.lat_plot.setFixedHeight(150)
        self.lat_plot.setLabel("left", "ms")
        self.lat_plot.addLegend(offset=(-1, 1), labelTextSize="7pt", colCount=3)
        self.curves = {s: self.lat_plot.plot(pen=pg.mkPen(c, width=1), name=s, connect="finite")
                       for s, c in zip(self.STAGES, self.COLORS)}
        for p in (self.fps_plot, self.lat_plot):
            p.setClipToView(True)
            p.setAntialiasing(False)
            p.setDownsampling(auto=True, mode="peak")
            p.setMouseEnabled(False, False)
        lay.addWidget(self.fps_plot)
        lay.addWidget(self.lat_plot)
        lay.addStretch(1)
        # 4 Hz: under llvmpipe every redraw recomposes the window; at 20 Hz the graphs cost ~30% of the fps
        self.timer = QTimer(self, interval=250)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()

    def add(self, t: float, timings: dict) -> None:
        k = self.i % self.n
        self.t[k] = t
        for s in self.STAGES:
            self.v[s][k] = timings.get(s, np.nan)
        self.i += 1

    def fps(self, now: float | None = None) -> float:
        """Frames per second over the last two seconds up to `now`: 0 once frames stop coming."""
        now = time.perf_counter() if now is None else now
        t = self.t[~np.isnan(self.t)]
        recent = np.sort(t[t >= now - 2.0])
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0]) if len(recent) > 1 else 0.0

    def redraw(self) -> None:
        if self.i == 0:
            return
        order = np.argsort(np.nan_to_num(self.t, nan=-1e18))
        t = self.t[order]
        ok = ~np.isnan(t)
        if ok.sum() < 2:
            return
        t = t[ok]
        keep = t >= t[-1] - self.seconds
        if keep.sum() < 2:   # the first frame after a stall longer than the graph: nothing to draw a rate from
            return
        tk = t[keep]
        tt = tk - t[-1]
        # the rate over the last second at each frame (frames since then / the time they span): a burst of
        # frames after a stall is not a rate of 1/dt (1/dt averaged over five drew 110-170 fps at 30)
        first = np.searchsorted(tk, tk - 1.0, side="left")
        span = tk - tk[first]
        rate = np.where(span > 0, (np.arange(len(tk)) - first) / np.maximum(span, 1e-9), np.nan)
        self.fps_curve.setData(tt[1:], rate[1:])
        for s, c in self.curves.items():
            c.setData(tt, self.v[s][order][ok][keep])
        cpu = self.cpu()
        self.fps_label.setText(f"FPS {self.fps():.1f}" + (f" · CPU {cpu[0]:.1f} ms per frame ({cpu[1]:.0f} % of a core)"
                                                          if cpu else ""))

    def cpu(self, now: float | None = None, cpu_now: float | None = None):
        """(CPU ms per drawn frame, % of one core) over the last ~2 s: the whole process's CPU time (every
        thread: capture, model, rendering, Qt), what the user pays at the camera's rate; None until known."""
        now = time.perf_counter() if now is None else now
        cpu_now = time.process_time() if cpu_now is None else cpu_now
        self._cpu_marks.append((now, cpu_now, self.i))
        while len(self._cpu_marks) > 2 and self._cpu_marks[1][0] <= now - 2.0:
            self._cpu_marks.popleft()
        t0, c0, i0 = self._cpu_marks[0]
        if now - t0 < 0.5 or self.i - i0 < 1:
            return None
        return (cpu_now - c0) * 1e3 / (self.i - i0), (cpu_now - c0) / (now - t0) * 100.0
