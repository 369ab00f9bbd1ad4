"""The studio's main window: viewport in the middle, panels at the side, presets in the menu."""
from __future__ import annotations

import collections
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QScrollArea,
                               QTabWidget, QToolButton, QVBoxLayout, QWidget)

from studio import StudioError, printable
from studio.paths import config_dir
from studio.capture.background import BackgroundFeed, load_background
from studio.settings import DEFAULTS, MODES, TIERS, EffectSettings, PresetError, load_preset, save_preset
from studio.capture import modes as camera_modes
from studio.capture.sources import list_cameras
from ui.panels import EffectControls, FaultBanner, MaskPanel, SourceSelector, StatsGraphs, TierSelector
from ui.raster_view import RasterViewport, software_gl_here
from ui.viewport import Viewport
from ui.output import WindowOutput
from ui.workers import LiveFeed


def last_settings_path():
    return config_dir() / "last.json"


def camera_choices_path():
    """The camera last used and the mode chosen per camera (the effect settings stay in last.json, which is a
    preset that can be exported to machines with other cameras)."""
    return config_dir() / "cameras.json"


def set_aside(p: Path) -> str:
    """Move a broken settings file out of the way (never delete what the user had); say where it went."""
    dest = p.with_name(f"{p.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        p.rename(dest)
    except OSError as e:
        return f"It could not be moved aside ({e.strerror}) and will be replaced when settings change."
    return f"The broken file was kept as {printable(dest, 160)}."


class MainWindow(QMainWindow):
    frames_drawn = Signal(int)
    source_failed = Signal(str)
    camera_ioctl = None      # the ioctl used to ask cameras for their modes (tests put a fake driver here)
    # on software GL the CPU twin draws the preview and a raster widget shows it; BACKDROP_GL_PREVIEW=1 keeps the
    # GL viewport and its GLSL passes (tests use it)
    cpu_preview = os.environ.get("BACKDROP_GL_PREVIEW", "") in ("", "0")

    def __init__(self, source: str | None = None, preset: str | None = None):
        super().__init__()
        self.setWindowTitle("Backdrop Studio")
        self.banner = FaultBanner()
        self.settings = self._initial_settings(preset)
        self._auto_no_refine = False    # Auto's "refinement off": applied to the drawing, never saved
        self.viewport = RasterViewport() if self.cpu_preview and software_gl_here() else Viewport()
        self.viewport.set_settings(self.settings)
        self.masks = MaskPanel()
        self.controls = EffectControls(self.settings)
        self.tiers = TierSelector()
        cams = list_cameras(ioctl=self.camera_ioctl)
        self.camera_choices = self._load_camera_choices()
        self.sources = SourceSelector(cams)
        self.graphs = StatsGraphs()
        self.status_label = QLabel("")
        self.output_label = QLabel("")
        self.output_label.setStyleSheet("color: #c0392b; font-weight: bold;")
        self.statusBar().addPermanentWidget(self.output_label)
        self.statusBar().addPermanentWidget(self.status_label)
        self.output = WindowOutput(self)
        self.output.failed.connect(self._on_output_failed)
        self.output.preview_failed.connect(self._on_preview_failed)
        self.viewport.output = self.output
        self.output.image_ready.connect(self.viewport.update)
        self._build_layout()
        self._make_menus()

        self.frames = 0
        self._last_latency = 0.0
        self.latencies: collections.deque = collections.deque(maxlen=9000)
        self.dropped_seen = 0
        self._last_raw = None
        self._autosave = QTimer(self, singleShot=True, interval=500)
        self._autosave.timeout.connect(self._save_last)
        self._connect_panels()
        # responsiveness probe: how late a 20 ms timer fires tells how long the GUI thread was busy
        self.stalls: list[float] = []
        self._probe_last = time.perf_counter()
        self._probe = QTimer(self, interval=20)
        self._probe.timeout.connect(self._on_probe)
        self._probe.start()
        self._panel_timer = QTimer(self, interval=100)
        self._panel_timer.timeout.connect(self._refresh_masks)
        self._panel_timer.start()

        self.feed: LiveFeed | None = None
        self.tiers.set_tier(self.settings.tier)
        self._apply_background(self.settings.background)
        remembered = self.camera_choices["source"]
        self.start_source(source or (remembered if remembered in cams else cams[0] if cams else "demo"))

    def _build_layout(self) -> None:
        """The viewport (under the fault bar) on the left; source, model, masks and the tabs on the right."""
        side = QWidget()
        col = QVBoxLayout(side)
        for w in (self.sources, self.tiers, self.masks):
            col.addWidget(w)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.controls, "Effect")
        self.tabs.addTab(self.graphs, "Performance")
        col.addWidget(self.tabs)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(400)
        view = QVBoxLayout()
        view.setContentsMargins(0, 0, 0, 0)
        view.setSpacing(0)
        view.addWidget(self.banner)
        view.addWidget(self.viewport, 1)
        central = QWidget()
        lay = QHBoxLayout(central)
        lay.addLayout(view, 1)
        lay.addWidget(scroll)
        self.setCentralWidget(central)

    def _connect_panels(self) -> None:
        self.controls.settings_changing.connect(self._on_settings_changing)
        self.controls.settings_changed.connect(self._on_settings_changed)
        self.controls.pick_background.connect(self._on_pick_background)
        self.tiers.tier_changed.connect(self._on_tier_changed)
        self.sources.source_chosen.connect(self.start_source)
        self.sources.mode_chosen.connect(self._on_mode_chosen)
        self.sources.open_file.connect(self._on_open_file)
        self.viewport.frame_drawn.connect(self._on_frame_drawn)
        self.viewport.gl_failed.connect(lambda m: self.banner.set_fault("gl", m))
        self.viewport.gl_ready.connect(lambda software: self._preview_on_cpu())

    # -- settings -----------------------------------------------------------------------------------------
    def _initial_settings(self, preset: str | None) -> EffectSettings:
        if preset:
            return load_preset(preset)  # an explicit bad preset is an error at start
        p = last_settings_path()
        if p.exists():
            try:
                return load_preset(p)
            except PresetError as e:
                self.banner.set_fault("settings", f"Last settings could not be used ({e}); starting from the "
                                                  f"defaults. {set_aside(p)}")
        return DEFAULTS

    def _effective(self, s: EffectSettings) -> EffectSettings:
        """What is drawn: the settings, with refinement off where Auto chose so for the tier it picked (the
        checkbox and the saved settings keep the user's choice, which returns with another tier)."""
        return s.with_(refine=False) if self._auto_no_refine and s.tier == "auto" and s.refine else s

    def apply_settings(self, s: EffectSettings, save: bool = True) -> None:
        bg_changed = s.background != self.settings.background
        tier_changed = s.tier != self.settings.tier
        self.settings = s
        self.viewport.set_settings(self._effective(s))
        if self.controls.settings() != s:
            self.controls.set_settings(s)
        if bg_changed:
            self._apply_background(s.background)
        if tier_changed:
            self.tiers.set_tier(s.tier)
            if self.feed is not None:
                self.feed.pipeline.set_tier(s.tier)
        if self.feed is not None:
            self.feed.pipeline.second_look = s.second_look
            self.feed.pipeline.segment_on_change = s.segment_on_change
        if save:
            self._autosave.start()

    def _on_settings_changing(self, s):
        self.settings = s
        self.viewport.set_settings(self._effective(s))

    def _on_settings_changed(self, s):
        self.apply_settings(s)

    def _save_last(self):
        try:
            save_preset(self.settings, last_settings_path())
        except StudioError as e:   # save_preset says every failure as one line
            self.show_error(f"could not save the last settings: {e}")

    def _apply_background(self, path: str) -> None:
        """Images go to the viewport once; videos are read frame by frame on the capture thread."""
        self._bg_feed_path = None
        if self.feed is not None:
            self.feed.pipeline.set_background_feed(None)
        if not path:
            self.viewport.set_background(None)
            return
        try:
            feed = BackgroundFeed(path)
            self.viewport.set_background(feed.next())
            if feed.is_video:
                self._bg_feed_path = path
                if self.feed is not None:
                    self.feed.pipeline.set_background_feed(feed)
                else:
                    feed.close()
            else:
                feed.close()
        except StudioError as e:
            self.banner.set_fault("background", f"Background not shown: {e}")
            return
        self.banner.clear_fault("background")

    # -- sources and tiers ----------------------------------------------------------------------------------
    def start_source(self, spec: str) -> None:
        """Switch to another source: the old pipeline ends, a new one starts, the mask history is dropped.
        A camera opens in the mode remembered for it, else in the one Auto picks from its list."""
        self.stop_threads()
        self.banner.clear_fault("source_warning")    # said of the source being replaced
        self.source_spec = spec
        self.sources.set_current(spec)
        self.viewport.reset_temporal()
        self.output.reset_temporal()
        mode = self._camera_mode(spec)
        self.feed = LiveFeed(spec, self.settings.tier, self, camera_mode=mode, second_look=self.settings.second_look,
                             segment_on_change=self.settings.segment_on_change)
        if getattr(self, "_bg_feed_path", None):
            try:
                self.feed.pipeline.set_background_feed(BackgroundFeed(self._bg_feed_path))
            except StudioError as e:
                self.banner.set_fault("background", f"Background not shown: {e}")
        self.feed.source_error.connect(self._on_source_error)
        self.feed.source_warning.connect(
            lambda m: self.banner.set_fault("source_warning", f"{m}; playing the frames that decode"))
        self.feed.source_ok.connect(self._on_source_ok)
        self.feed.model_error.connect(self._on_model_error)
        self.feed.background_error.connect(self._on_background_error)
        self.feed.tier_chosen.connect(self._on_tier_chosen)
        self.feed.packet_ready.connect(self._on_packet_ready)
        self.feed.start()

    def _camera_key(self, spec: str) -> tuple[str, str]:
        dev = spec.split(":", 1)[1]
        dev = f"/dev/video{dev}" if dev.isascii() and dev.isdigit() else dev
        info = camera_modes.query_info(dev, self.camera_ioctl)
        return dev, info.key if info is not None else dev

    def _camera_mode(self, spec: str):
        """List the camera's modes in the selector and return the one to open (None: Auto)."""
        if not spec.startswith("camera:"):
            self.sources.set_modes([], None)
            return None
        dev, key = self._camera_key(spec)
        modes = camera_modes.query_modes(dev, self.camera_ioctl)
        chosen = self.camera_choices["modes"].get(key, "")
        try:
            mode = camera_modes.parse_mode(chosen) if chosen else None
        except StudioError:          # never raised from Qt's slot: the camera opens in Auto instead
            self.camera_choices["modes"].pop(key, None)
            chosen, mode = "", None
        self.sources.set_modes(modes, camera_modes.choose_mode(modes), chosen)
        if self.camera_choices["source"] != spec:
            self.camera_choices["source"] = spec
            self._save_camera_choices()
        return mode

    def _on_mode_chosen(self, mode_spec: str) -> None:
        _, key = self._camera_key(self.source_spec)
        if mode_spec:
            self.camera_choices["modes"][key] = mode_spec
        else:
            self.camera_choices["modes"].pop(key, None)
        self._save_camera_choices()
        self.start_source(self.source_spec)

    def _load_camera_choices(self) -> dict:
        p = camera_choices_path()
        try:
            return camera_modes.load_choices(p)
        except camera_modes.ChoicesError as e:
            self.banner.set_fault("cameras", f"Camera choices could not be used ({e}); cameras open in their "
                                             f"Auto mode. {set_aside(p)}")
            return {"source": "", "modes": {}}

    def _save_camera_choices(self) -> None:
        try:
            camera_modes.save_choices(camera_choices_path(), self.camera_choices)
        except StudioError as e:
            self.show_error(f"could not save the camera choice: {e}")

    def _on_source_error(self, message: str) -> None:
        """The source failed to open or stopped: shown over the viewport until it delivers again."""
        self.banner.set_fault("source", f"Source problem: {message}")
        self.source_failed.emit(message)
        self.last_error = message

    def _on_background_error(self, message: str) -> None:
        self.banner.set_fault("background", f"Background stopped: {message}")
        self.last_error = message

    def _on_source_ok(self, name: str) -> None:
        self.banner.clear_fault("source")
        self.statusBar().showMessage(f"source: {name}", 4000)

    def _on_tier_chosen(self, choice) -> None:
        """The pipeline resolved the tier (Auto: measured off the GUI thread, from the source's real size and
        rate: portrait sources get general)."""
        if isinstance(choice, str):
            self.tiers.show_reason("")
            self._auto_no_refine = False
        else:
            self.tiers.show_reason(f"Auto chose {choice.tier}: {choice.reason}")
            self._auto_no_refine = not choice.refine
        auto = not isinstance(choice, str)
        self.controls.set_auto_off(choice.tier if self._auto_no_refine else None,
                                   choice.tier if auto and not choice.second_look else None)
        self.viewport.set_settings(self._effective(self.settings))

    def _on_tier_changed(self, tier: str):
        if tier and tier != self.settings.tier:
            self.apply_settings(self.settings.with_(tier=tier))

    def stop_threads(self) -> None:
        """The one place that stops every worker: returns when the pipeline's threads have ended."""
        if self.feed is not None:
            self.feed.stop()
            self.feed.deleteLater()
            self.feed = None

    # -- frames ---------------------------------------------------------------------------------------------
    def _on_model_error(self, message: str) -> None:
        self.banner.set_fault("model", f"Segmentation stopped: {message}")
        self.last_error = message

    def _on_packet_ready(self):
        p = self.feed.take() if self.feed is not None else None
        if p is None:
            return
        self.banner.clear_fault("model")
        self._last_raw = p.mask
        self.viewport.set_packet(p)

    def _on_frame_drawn(self, timings: dict):
        self.frames += 1
        self.banner.clear_fault("preview")     # drawing again: a preview fault is gone
        self.latencies.append(timings.get("latency", 0.0))
        self.graphs.add(time.perf_counter(), timings)
        self.dropped_seen = ((self.feed.pipeline.dropped if self.feed is not None else 0) + self.viewport.dropped
                             + self.output.render_dropped)
        self._last_latency = timings.get("latency", 0.0)
        self._show_status()
        self.frames_drawn.emit(self.frames)

    def _show_status(self) -> None:
        """fps over the last two seconds: 0 as soon as frames stop, whatever the last latency was."""
        fps = self.graphs.fps()
        lat = f"latency {self._last_latency:.1f} ms" if fps > 0 else "no frames"
        self.status_label.setText(f"{fps:.1f} fps · {lat} · dropped {self.dropped_seen}")
        if self.output.active:
            self.output_label.setText(self.output.status())

    def _on_probe(self):
        now = time.perf_counter()
        self.stalls.append(max(0.0, (now - self._probe_last) * 1e3 - 20.0))
        self._probe_last = now
        if len(self.stalls) > 20000:
            del self.stalls[:10000]

    def gui_stall_p95(self) -> float:
        return float(np.percentile(self.stalls[5:], 95)) if len(self.stalls) > 6 else 0.0

    def _refresh_masks(self):
        self._show_status()
        refined = None
        r = self.viewport.renderer
        if self.output.renders_preview:
            refined = self.output.weight     # the CPU render that draws the preview has it
        elif r is not None and "weight" in getattr(r, "_tex", {}):
            self.viewport.makeCurrent()
            try:
                refined = r.read_weight()
            finally:
                self.viewport.doneCurrent()
        self.masks.show_masks(self._last_raw, refined)

    # -- faults -------------------------------------------------------------------------------------------
    def show_error(self, message: str, modal: bool = False) -> None:
        self.statusBar().showMessage(message, 10000)
        self.last_error = message
        if modal:
            QMessageBox.warning(self, "Backdrop Studio", message)

    # -- menus ----------------------------------------------------------------------------------------------
    def _make_menus(self):
        m = self.menuBar().addMenu("&File")
        self._act(m, "Open video or image…", self._on_open_file, "Ctrl+O")
        self._act(m, "Load preset…", self._on_load_preset, "Ctrl+L")
        self._act(m, "Save preset…", self._on_save_preset, "Ctrl+S")
        self._act(m, "Export for virtual camera…", self._on_export_preset, "Ctrl+E")
        m.addSeparator()
        self._act(m, "Quit", self.close, "Ctrl+Q")
        o = self.menuBar().addMenu("&Output")
        self._act(o, "Send to the virtual camera", partial(self.start_output, "vcam"), "Ctrl+Shift+V")
        self._act(o, "Record to a file…", self._on_record, "Ctrl+Shift+R")
        self._act(o, "Send YUV4MPEG2 to a pipe or .y4m file…", self._on_pipe)
        self.stop_output_action = self._act(o, "Stop output", self.stop_output, "Ctrl+Shift+S")
        self.output_mirror_action = self._act(o, "Mirror the output", self._on_output_mirror)
        self.output_mirror_action.setCheckable(True)
        tb = self.addToolBar("Output")
        tb.setObjectName("outputToolbar")
        self.output_button = QToolButton()
        self.output_button.setText("Output")
        self.output_button.setMenu(o)
        self.output_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        tb.addWidget(self.output_button)
        v = self.menuBar().addMenu("&View")
        # QAction.triggered passes `checked`: each slot takes it apart from the value it sets (a default-argument
        # lambda received the bool as its mode, and with_(mode=False) raised inside the slot)
        self.mode_actions = {mode: self._act(v, f"Mode: {mode}", partial(self._set_field, "mode", mode), str(i))
                             for i, mode in enumerate(MODES, start=1)}
        v.addSeparator()
        self.tier_actions = {tier: self._act(v, f"Tier: {tier}", partial(self._set_field, "tier", tier), key)
                             for key, tier in zip(("F5", "F6", "F7", "F8", "F9"), TIERS)}
        v.addSeparator()
        self.mirror_action = self._act(v, "Mirror", self._toggle_mirror, "M")
        self._act(v, "Full screen", self._toggle_full_screen, "F11")
        v.addSeparator()
        self._act(v, "Reload shaders", self.reload_shaders, "Ctrl+R")

    def _set_field(self, name: str, value, _checked: bool = False) -> None:
        self.apply_settings(self.settings.with_(**{name: value}))

    def _toggle_mirror(self, _checked: bool = False) -> None:
        self.apply_settings(self.settings.with_(mirror=not self.settings.mirror))

    def _act(self, menu, text, slot, key=None):
        a = QAction(text, self)
        if key:
            a.setShortcut(QKeySequence(key))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def reload_shaders(self) -> list[str]:
        """Recompile every shader from disk; a broken file keeps the last good program and is reported."""
        r = self.viewport.renderer
        if r is None:
            return []
        self.viewport.makeCurrent()
        try:
            errors = r.programs.reload()
        finally:
            self.viewport.doneCurrent()
        if errors:
            self.show_error(errors[0])
        else:
            self.statusBar().showMessage("shaders reloaded", 3000)
        self.viewport.update()
        return errors

    def _toggle_full_screen(self):
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _on_open_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", "",
                                              "Media (*.mp4 *.mkv *.avi *.mov *.webm *.png *.jpg *.jpeg)")
        if path:
            self.start_source(path)

    def _on_pick_background(self):
        path, _ = QFileDialog.getOpenFileName(self, "Background", "",
                                              "Images and videos (*.png *.jpg *.jpeg *.webp *.mp4 *.mkv *.webm)")
        if path:
            self.set_background_path(path)

    def set_background_path(self, path: str) -> bool:
        """Pick a background (image or video); an unreadable one is reported and changes nothing."""
        try:
            load_background(path)
        except StudioError as e:
            self.banner.set_fault("background", f"Background not changed: {e}")
            return False
        self.apply_settings(self.settings.with_(background=path, mode="replace"))
        return True

    def load_preset_file(self, path: str) -> bool:
        """Load a preset; a broken one is refused with a message and changes nothing."""
        try:
            s = load_preset(path)
        except PresetError as e:
            self.show_error(str(e))
            return False
        self.apply_settings(s)
        return True

    def _on_load_preset(self):
        path, _ = QFileDialog.getOpenFileName(self, "Load preset", "", "Presets (*.json)")
        if path and not self.load_preset_file(path):
            QMessageBox.warning(self, "Backdrop Studio", self.last_error)

    def _on_save_preset(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "preset.json", "Presets (*.json)")
        if path:
            self.save_preset_file(path)

    def _on_export_preset(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export for virtual camera", "vcam-preset.json",
                                              "Presets (*.json)")
        if path and self.save_preset_file(path):
            self.statusBar().showMessage(f"exported; run: backdrop vcam --preset {path}", 10000)

    def save_preset_file(self, path: str) -> bool:
        """Save atomically (a running vcam never reads half a file); a failure is shown and changes nothing."""
        try:
            save_preset(self.settings, path)
        except StudioError as e:
            self.show_error(str(e), modal=True)
            return False
        return True

    # -- output ----------------------------------------------------------------------------------------------
    def start_output(self, target: str, _checked: bool = False) -> bool:
        """Send what the preview shows to `target` (vcam, /dev/videoN, -, a FIFO, .y4m, a video file)."""
        fps = self.feed.pipeline.source_fps if self.feed is not None else 30.0
        try:
            self.output.start(target, fps, gl_readback=not self.viewport.software_gl)
        except StudioError as e:
            self._on_output_failed(str(e))
            return False
        self.banner.clear_fault("output")
        self.statusBar().showMessage(f"output started: {target}", 4000)
        return True

    def stop_output(self, _checked: bool = False) -> None:
        error = self.output.stop()
        self.viewport.output_stopped()
        self._preview_on_cpu()
        self.output_label.setText("")
        if error is None:
            self.statusBar().showMessage("output stopped", 4000)

    def _preview_on_cpu(self) -> None:
        """On a software rasteriser the CPU twin draws the preview on its own thread (the same maths; a fraction
        of llvmpipe's cost), and the viewport only shows its image; on a GPU the GLSL passes draw it."""
        gl_up = self.viewport.renderer is not None or not self.viewport.uses_gl
        if self.cpu_preview and gl_up and self.viewport.software_gl and not self.output.active:
            self.output.start_preview()

    def _on_preview_failed(self, message: str) -> None:
        """The CPU render of the preview stopped on a fault: shown until a frame is drawn again, and started
        again (the raster preview has no other way to draw)."""
        self.banner.set_fault("preview", f"{message}; restarting the preview")
        self.last_error = message
        self._preview_on_cpu()

    def _on_output_failed(self, message: str) -> None:
        """The output stopped (no backend, device busy, the reader gone, disk full); the preview goes on."""
        self.output.stop()
        self.viewport.output_stopped()
        self._preview_on_cpu()
        self.output_label.setText("")
        text = f"Output stopped: {message} (run `backdrop doctor` to check the virtual camera set-up)"
        self.banner.set_fault("output", text)
        self.statusBar().showMessage(text, 15000)
        self.last_error = message

    def _on_record(self, _checked: bool = False) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Record to", "recording.mp4", "Video (*.mp4 *.mkv *.avi *.mov)")
        if path:
            self.start_output(path)

    def _on_pipe(self, _checked: bool = False) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "YUV4MPEG2 to", "out.y4m", "YUV4MPEG2 (*.y4m);;Any (*)")
        if path:
            self.start_output(path)

    def _on_output_mirror(self, checked: bool = False) -> None:
        self.output.mirror = bool(checked)

    def closeEvent(self, e):
        self.output.stop()
        self.stop_threads()
        self.viewport.release_gl()
        self._panel_timer.stop()
        self._probe.stop()
        self.graphs.timer.stop()
        if self._autosave.isActive():
            self._autosave.stop()
            self._save_last()
        super().closeEvent(e)

    def latency_p95(self) -> float:
        return float(np.percentile(self.latencies, 95)) if self.latencies else 0.0
