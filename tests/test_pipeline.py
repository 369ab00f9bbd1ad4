"""The one live pipeline (window and vcam) and the file pipeline: hand-offs, stopping, tiers, pacing."""
import json
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from studio.pipeline import LatestSlot, LivePipeline, run_frames


def _extra_threads(before):
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_live_pipeline_stops_at_once_and_leaves_no_thread():
    """20 start/stop cycles, each with packets waiting in a full hand-off (the consumer never takes them):
    stop() returns in well under 0.3 s and no thread is left (run_live once stalled 2 s and leaked one)."""
    before = set(threading.enumerate())
    for _ in range(20):
        pipe = LivePipeline("demo", tier="lite", size=(320, 180), fps=60).start()
        deadline = time.perf_counter() + 10
        while pipe.packets._item is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert pipe.packets._item is not None   # the segmenter is now waiting on the full slot
        t0 = time.perf_counter()
        pipe.stop()
        assert time.perf_counter() - t0 < 0.3
        assert not _extra_threads(before)


def test_live_pipeline_delivers_paced_frames_with_masks(data_dir):
    clip = sorted((data_dir / "webcam-clips/videos").iterdir())[0]
    events = []
    pipe = LivePipeline(str(clip), tier="full", fps=30, on_event=lambda k, v: events.append(k)).start()
    got = []
    t0 = time.perf_counter()
    while len(got) < 30:
        p = pipe.get(timeout=2)
        assert p is not None
        got.append(p)
    elapsed = time.perf_counter() - t0
    pipe.stop()
    assert "source_ok" in events and "tier" in events
    assert [p.index for p in got] == list(range(30))          # back-pressure: nothing dropped
    assert 0.8 < elapsed < 1.6                                 # paced at the file's 30 fps, like a camera
    assert all(p.mask.shape == (144, 256) and p.tier == "full" for p in got)
    assert all("capture" in p.timings and "inference" in p.timings for p in got)


def test_newest_wins_when_the_consumer_is_slow():
    pipe = LivePipeline("demo", tier="lite", size=(320, 180), fps=60, drop_stale=True).start()
    time.sleep(1.5)
    p = pipe.get(timeout=2)
    pipe.stop()
    assert p is not None and p.index > 30 and pipe.dropped > 20


def test_a_failing_source_ends_the_pipeline_with_its_error_or_is_retried(tmp_path):
    from studio.capture.sources import SourceError

    pipe = LivePipeline(str(tmp_path / "gone.mp4")).start()
    with pytest.raises(SourceError, match="not found"):
        pipe.get(timeout=5)
    pipe.stop()
    events = []
    pipe = LivePipeline(str(tmp_path / "gone.mp4"), retry_source=True,
                        on_event=lambda k, v: events.append((k, v))).start()
    time.sleep(1.5)
    assert pipe.running and [k for k, _ in events].count("source_error") == 1   # reported once, retried
    t0 = time.perf_counter()
    pipe.stop()
    assert time.perf_counter() - t0 < 0.3                      # the retry wait ends at once


def test_run_frames_ends_its_worker_when_the_consumer_raises():
    before = set(threading.enumerate())

    class Seg:
        def __call__(self, frame):
            from studio.segment.segmenter import SegResult
            return SegResult(np.zeros((9, 16), np.float32))

    class Renderer:
        def render(self, frame, mask):
            return frame

    def on_output(p, out):
        if p.index == 3:
            raise RuntimeError("sink failed")

    frames = (np.zeros((8, 8, 3), np.uint8) for _ in range(1000))
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="sink failed"):
        run_frames(frames, Seg(), Renderer(), on_output, overlap=True)
    assert time.perf_counter() - t0 < 0.5 and not _extra_threads(before)


def test_latest_slot_put_wait_and_close():
    s = LatestSlot()
    assert s.put_wait(1)
    done = []
    t = threading.Thread(target=lambda: done.append(s.put_wait(2)))
    t.start()
    time.sleep(0.05)
    assert not done            # waits: the slot is full
    assert s.get() == 1
    t.join(1)
    assert done == [True] and s.get() == 2
    s.close()
    assert s.get() is None and not s.put_wait(3)


def test_pacer_holds_the_rate_and_stops_at_once():
    from studio.capture.pacing import Pacer

    stop = threading.Event()
    p = Pacer(50, stop)
    t0 = time.perf_counter()
    for _ in range(26):
        assert p.wait()
    assert 0.45 < time.perf_counter() - t0 < 0.7
    threading.Timer(0.05, stop.set).start()
    p.period = 10.0
    p.wait()
    t1 = time.perf_counter()
    assert not p.wait() and time.perf_counter() - t1 < 0.2


@pytest.fixture
def tight_machine(tmp_path, monkeypatch):
    """A tier-timing cache saying every tier is slow here: Auto takes lite and turns refinement off."""
    import shutil

    from studio.segment import models
    from studio.segment.tiers import _machine_key

    cache = tmp_path / "cache"
    shutil.copytree(models.models_dir(), cache / "models")
    (cache / "tier-bench.json").write_text(json.dumps({_machine_key(1): {"hd": 60.0, "full": 40.0,
                                                                          "lite": 30.0, "general": 90.0}}))
    monkeypatch.setenv("BACKDROP_CACHE", str(cache))
    return cache


def _backdrop(*args):
    r = subprocess.run([sys.executable, "-m", "studio", *map(str, args)], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return r


def test_render_and_vcam_apply_autos_refine_choice(tight_machine, tmp_path, data_dir):
    """Auto's "refinement off" (and "no second look") reaches render and vcam (bench and the window applied it;
    these did not)."""
    img = data_dir / "stock-people/images/girl-919048_1280.jpg"
    off = tmp_path / "off.json"
    off.write_text(json.dumps({"format": "backdrop-preset", "version": 2,
                               "settings": {"tier": "lite", "refine": False, "second_look": False}}))
    _backdrop("render", img, "-o", tmp_path / "auto.png", "--tier", "auto", "--renderer", "cpu")
    _backdrop("render", img, "-o", tmp_path / "off.png", "--preset", off, "--renderer", "cpu")
    _backdrop("render", img, "-o", tmp_path / "on.png", "--tier", "lite", "--renderer", "cpu")
    auto, no, yes = (cv2.imread(str(tmp_path / f"{n}.png")).astype(int) for n in ("auto", "off", "on"))
    assert np.array_equal(auto, no) and not np.array_equal(auto, yes)
    outs = {}
    for name, extra in (("auto", ["--tier", "auto"]), ("off", ["--preset", off])):
        r = _backdrop("vcam", "--source", img, "--size", "320x180", "--frames", "3", "--output", "-",
                      "--renderer", "cpu", *extra)
        outs[name] = r.stdout
    assert outs["auto"] == outs["off"]


def test_window_does_not_measure_tiers_on_the_gui_thread(tight_machine, monkeypatch):
    """With a cold tier cache Auto measures each tier (about a second): off the GUI thread."""
    from studio.segment import tiers

    (tight_machine / "tier-bench.json").unlink()
    calls = []
    real = tiers.measure_tiers

    def spy(*a, **kw):
        calls.append(threading.current_thread().name)
        return real(*a, **kw)

    monkeypatch.setattr(tiers, "measure_tiers", spy)
    pipe = LivePipeline("demo", tier="auto", size=(320, 180), drop_stale=True).start()
    assert pipe.get(timeout=20) is not None
    pipe.stop()
    assert calls == ["segment"]


def test_latest_slot_put_if_empty_never_replaces_or_counts():
    slot = LatestSlot()
    assert slot.put_if_empty(1) and not slot.put_if_empty(2)
    assert slot.get(0) == 1 and slot.dropped == 0
    slot.close()
    assert not slot.put_if_empty(3) and slot.get(0) is None
