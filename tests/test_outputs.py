"""Outputs never cost the user a file: full disks, file-size limits, signals, a lost source, an immutable
target, a reader that goes away. Real processes, real encoders, real ffmpeg.

The rule (studio.output): the target is replaced only by a complete, verified result; a recording stopped by
the user is complete if it holds at least one frame; a failed run never replaces anything."""
import os
import re
import resource
import signal
import stat
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from spawn import default_stop_signals

PRECIOUS = b"precious: the user's own recording"
pytestmark = pytest.mark.slow


def _backdrop(*argv, limit_bytes=None, **kw):
    def preexec():
        default_stop_signals()
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.Popen([sys.executable, "-m", "studio", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=preexec, **kw)


def _finish(p, timeout=180):
    out, err = p.communicate(timeout=timeout)
    lines = [l for l in err.decode(errors="replace").splitlines() if l.strip()]
    return p.returncode, lines, out


def _wait_for_handler(p, signum, timeout=30.0):
    """Until the process catches `signum` (its SigCgt mask in /proc): Python installs the command's handlers
    first thing, but on a loaded machine that can take longer than a fixed sleep."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with open(f"/proc/{p.pid}/status") as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        if caught >> (signum - 1) & 1:
            return
        time.sleep(0.01)
    raise AssertionError(f"the process did not catch signal {signum} within {timeout} s")


def _is_status_line(line: str) -> bool:
    """vcam's every-3-seconds line: `vcam: 29.8 fps, latency p95 41.0 ms, dropped 0`."""
    return re.fullmatch(r"vcam: [0-9.]+ fps, latency p95 [0-9.]+ ms, dropped [0-9]+", line) is not None


def _only(tmp_path, *names):
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)   # no hidden temp file left


def _frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


@pytest.fixture(scope="module")
def clip(data_dir):
    return data_dir / "stock-people/videos/doctor-26732.mp4"


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv", ".y4m"])
def test_render_past_a_file_size_limit_keeps_the_old_file(tmp_path, clip, ext):
    out = tmp_path / f"keep{ext}"
    out.write_bytes(PRECIOUS)
    rc, err, _ = _finish(_backdrop("render", clip, "-o", out, "--renderer", "cpu", limit_bytes=300_000))
    assert rc == 2 and len(err) == 1 and "failed" in err[0] and "unchanged" in err[0], err
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


def test_vcam_past_a_file_size_limit_keeps_the_old_file(tmp_path, clip):
    out = tmp_path / "rec.mp4"
    out.write_bytes(PRECIOUS)
    rc, err, _ = _finish(_backdrop("vcam", "--source", clip, "--size", "640x360", "--frames", "60",
                                   "--output", out, "--renderer", "cpu", limit_bytes=100_000))
    assert rc == 2 and len(err) == 1 and "file-size limit" in err[0], err
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_vcam_stopped_before_the_first_frame_keeps_the_old_file(tmp_path, clip, sig):
    out = tmp_path / "rec.mp4"
    out.write_bytes(PRECIOUS)
    p = _backdrop("vcam", "--source", clip, "--size", "640x360", "--output", out, "--renderer", "cpu")
    _wait_for_handler(p, getattr(signal, sig))   # before that, the signal's default action kills it silently
    time.sleep(0.3)   # no frame yet: still importing, or opening the source and the model
    p.send_signal(getattr(signal, sig))
    rc, err, _ = _finish(p)
    # which of the two clean stops depends on how far start-up got on a loaded machine (CI saw both)
    assert len(err) == 1, (rc, err)
    if rc in (130, -signal.SIGINT):   # -2: once in 12 runs under 6x parallel load, after the same line; not
        assert err[0] == f"backdrop: stopped by {sig} while starting", err   # found in 30 single runs
    else:
        assert rc == 0 and "before the first frame" in err[0] and "unchanged" in err[0], err
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_vcam_stopped_by_the_user_keeps_the_recording_and_the_mode(tmp_path, clip, sig):
    out = tmp_path / "rec.mp4"
    out.write_bytes(PRECIOUS)
    os.chmod(out, 0o640)
    p = _backdrop("vcam", "--source", clip, "--size", "640x360", "--output", out, "--renderer", "cpu")
    time.sleep(5)
    p.send_signal(getattr(signal, sig))
    rc, err, _ = _finish(p)
    assert rc == 0, err
    assert len(err) <= 3 and f"stopped by {sig}" in err[-1] and "wrote" in err[-1], err
    assert out.read_bytes() != PRECIOUS and _frames(out) >= 10
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    _only(tmp_path, out.name)


def test_vcam_source_lost_mid_run_replaces_nothing(tmp_path, clip):
    short = tmp_path / "short.mp4"
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", str(clip), "-t", "1", "-an", str(short)], timeout=60)
    assert r.returncode == 0
    out = tmp_path / "rec.mp4"
    out.write_bytes(PRECIOUS)
    p = _backdrop("vcam", "--source", short, "--size", "320x180", "--output", out, "--renderer", "cpu")
    time.sleep(3)   # playing (a file source loops)
    short.unlink()  # unplugged: the next loop cannot reopen it
    rc, err, _ = _finish(p)
    assert rc == 2 and "could not be reopened" in err[-1], err
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


def test_immutable_target_says_where_the_result_went(tmp_path):
    out = tmp_path / "locked.mp4"
    out.write_bytes(PRECIOUS)
    assert subprocess.run(["chattr", "+i", str(out)]).returncode == 0, "chattr +i must work for this test"
    try:
        rc, err, _ = _finish(_backdrop("vcam", "--source", "demo", "--size", "320x180", "--frames", "10",
                                       "--output", out, "--renderer", "cpu"))
    finally:
        subprocess.run(["chattr", "-i", str(out)])
    kept = tmp_path / "locked.backdrop-1.mp4"
    assert rc == 2 and len(err) == 1 and "cannot replace" in err[0] and str(kept) in err[0], err
    assert out.read_bytes() == PRECIOUS and _frames(kept) == 10
    _only(tmp_path, out.name, kept.name)


def test_new_outputs_get_the_usual_mode(tmp_path, small_png):
    out = tmp_path / "new.png"
    rc, err, _ = _finish(_backdrop("render", small_png, "-o", out, "--renderer", "cpu"))
    assert rc == 0, err
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_render_interrupted_keeps_the_old_file(tmp_path, clip):
    out = tmp_path / "keep.mp4"
    out.write_bytes(PRECIOUS)
    p = _backdrop("render", clip, "-o", out, "--renderer", "cpu")
    time.sleep(4)   # encoding
    p.send_signal(signal.SIGTERM)
    rc, err, _ = _finish(p)
    assert rc == 130 and len(err) == 1 and "interrupted" in err[0], err
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


def test_stdout_reader_going_away_is_a_quiet_stop(tmp_path):
    p = subprocess.Popen(f"set -o pipefail; {sys.executable} -m studio vcam --source demo --size 320x180 "
                         f"--output - --renderer cpu | head -c 300000 > /dev/null", shell=True,
                         executable="/bin/bash", stderr=subprocess.PIPE)
    _, err = p.communicate(timeout=120)
    text = err.decode()
    assert p.returncode == 0 and "Traceback" not in text and "Exception ignored" not in text, text
    assert "stopped by the reader closing the pipe" in text


@pytest.fixture
def small_png(tmp_path, data_dir):
    img = cv2.imread(str(data_dir / "stock-people/images/girl-919048_1280.jpg"))
    p = tmp_path.parent / "small-input.png"
    cv2.imwrite(str(p), cv2.resize(img, (96, 64)))
    return p


def test_a_truncated_recording_is_never_committed(tmp_path):
    """The writer reports no errors: close() checks the file itself before it replaces anything."""
    from studio import StudioError
    from studio.output import VideoFileSink

    out = tmp_path / "out.avi"
    out.write_bytes(PRECIOUS)
    sink = VideoFileSink(str(out), 160, 96, 30.0)
    for i in range(40):
        sink.send(np.full((96, 160, 3), i * 5, np.uint8))
    sink.writer.release()
    with open(sink.target.tmp, "r+b") as f:   # what a full disk leaves behind
        f.truncate(os.path.getsize(sink.target.tmp) // 2)
    with pytest.raises(StudioError, match="unchanged"):
        sink.close()
    assert out.read_bytes() == PRECIOUS
    _only(tmp_path, out.name)


def test_sink_worker_stops_on_a_broken_pipe_and_keeps_its_caller_alive():
    from studio.output import Y4mSink
    from studio.output.worker import SinkWorker

    r, w = os.pipe()
    os.close(r)                                   # the reader is gone before the first frame
    errors = []
    worker = SinkWorker(lambda item: Y4mSink(os.fdopen(w, "wb"), 64, 48, 30, owns_stream=True),
                        on_error=errors.append).start()
    worker.submit(np.zeros((48, 64, 3), np.uint8))
    worker._thread.join(5)
    assert errors == ["the reader went away (broken pipe)"] and worker.error == errors[0]
    worker.submit(np.zeros((48, 64, 3), np.uint8))   # later frames are ignored, nothing raises
    assert worker.stop() == errors[0]


def test_sink_worker_newest_wins_and_counts_drops():
    import threading

    from studio.output import Sink
    from studio.output.worker import SinkWorker

    gate = threading.Event()

    class Slow(Sink):
        frames = 0

        def send(self, frame):
            gate.wait(5)
            self.frames += 1

    worker = SinkWorker(lambda item: Slow()).start()
    for i in range(10):
        worker.submit(np.full((4, 4, 3), i, np.uint8))
        time.sleep(0.01)
    gate.set()
    assert worker.stop() is None
    assert worker.sent + worker.dropped == 10 and worker.dropped >= 7


@pytest.mark.gui
def test_window_output_to_a_fifo_read_by_ffmpeg(tmp_path):
    import json

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    decoded = tmp_path / "decoded.gray"
    reader = subprocess.Popen(["ffmpeg", "-v", "error", "-i", str(fifo), "-f", "rawvideo", "-pix_fmt", "gray",
                               str(decoded)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    r = subprocess.run([sys.executable, "-m", "studio", "studio", "--source", "demo", "--frames", "60", "--output",
                        str(fifo)], capture_output=True, text=True, timeout=180,
                       env={**os.environ, "BACKDROP_CONFIG": str(tmp_path / "cfg")})
    _, err = reader.communicate(timeout=60)
    out = decoded.read_bytes()
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["output_frames"] >= 50 and res["output_fps"] > 5, res
    assert reader.returncode == 0, err.decode()
    n = len(out) // (1280 * 720)
    assert n >= res["output_frames"] and len(out) % (1280 * 720) == 0   # every frame whole, at the source's size


@pytest.mark.parametrize("name", ["cam.y4m", "vcam"])
def test_vcam_output_to_a_fifo_read_by_ffmpeg_keeps_the_fifo(tmp_path, name):
    """vcam used to write a .y4m FIFO as a file: under a temporary name renamed over it, so the FIFO was gone
    and its reader waited forever. Now it streams into it, as the window's --output does; a FIFO named `vcam`
    is that FIFO, not the virtual camera."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    decoded = tmp_path / "decoded.gray"
    reader = subprocess.Popen(["ffmpeg", "-v", "error", "-i", str(fifo), "-f", "rawvideo", "-pix_fmt", "gray",
                               str(decoded)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rc, err, _ = _finish(_backdrop("vcam", "--source", "demo", "--size", "320x180", "--frames", "20", "--output", name,
                                   "--renderer", "cpu", cwd=tmp_path))
    _, ff_err = reader.communicate(timeout=60)
    err = [e for e in err if not _is_status_line(e)]   # 20 frames taking 3 s (a loaded machine) print one
    assert rc == 0 and len(err) == 1 and err[0].startswith("vcam: 20 frames") and "wrote" not in err[0], err
    assert reader.returncode == 0, ff_err.decode()
    assert len(decoded.read_bytes()) == 20 * 320 * 180
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _only(tmp_path, fifo.name, decoded.name)


def test_vcam_waiting_for_a_fifo_reader_stops_on_a_signal(tmp_path):
    fifo = tmp_path / "cam.y4m"
    os.mkfifo(fifo)
    p = _backdrop("vcam", "--source", "demo", "--size", "320x180", "--output", fifo, "--renderer", "cpu")
    _wait_for_handler(p, signal.SIGTERM)
    time.sleep(2.0)   # the model loaded and the FIFO waited on, on most machines; either way one clean line
    p.send_signal(signal.SIGTERM)
    rc, err, _ = _finish(p, timeout=60)
    assert len(err) == 1 and ("before the first frame" in err[0] or "while starting" in err[0]), (rc, err)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _only(tmp_path, fifo.name)


@pytest.mark.parametrize("name", ["out.png", "out.mp4", "out.y4m"])
def test_render_to_a_fifo_is_refused_and_the_fifo_kept(tmp_path, clip, small_png, name):
    """render writes files beside the target and renames them over it: a FIFO there was replaced by a file."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    rc, err, _ = _finish(_backdrop("render", small_png if name.endswith(".png") else clip, "-o", fifo,
                                   "--renderer", "cpu"), timeout=60)
    assert rc == 2 and len(err) == 1 and "it is a FIFO, not a file" in err[0], (rc, err)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    _only(tmp_path, name)


@pytest.mark.gui
def test_window_output_to_an_unusable_target_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studio", "studio", "--source", "demo", "--frames", "30", "--output",
                        str(tmp_path / "x.webm")], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "BACKDROP_CONFIG": str(tmp_path / "cfg")})
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(err) == 1 and ".webm is not a supported" in err[0], r.stderr


@pytest.mark.parametrize("delay", [0.02, 0.4, 0.9, 2.5])
def test_vcam_signalled_twice_stops_cleanly(tmp_path, clip, delay):
    """Ctrl+C twice, or `timeout` signalling the process and its group: the second signal must not break the
    stop the first began (a traceback from threading's locks, C++ aborting inside FFmpeg, a temp file left)."""
    out = tmp_path / "rec.mp4"
    out.write_bytes(PRECIOUS)
    p = _backdrop("vcam", "--source", clip, "--size", "320x180", "--output", out, "--renderer", "cpu")
    time.sleep(delay)
    p.send_signal(signal.SIGTERM)
    time.sleep(0.03)
    p.send_signal(signal.SIGTERM)
    rc, err, _ = _finish(p)
    # before the interpreter has run a line of ours, the default action ends it: nothing was opened yet
    early = rc == -signal.SIGTERM and not err
    assert rc in (0, 130, -signal.SIGTERM) and (len(err) == 1 or early), (rc, err)
    assert not any("Traceback" in e or "terminate" in e for e in err)
    assert out.read_bytes() == PRECIOUS or _frames(out) >= 1
    assert [q.name for q in tmp_path.iterdir()] == [out.name]


def test_signals_in_cooperative_mode_only_ask_for_a_stop():
    from studio import signals

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXFSZ)}
    try:
        default_stop_signals()   # a run under nohup: SIGHUP ignored, a choice install() keeps
        signals.install()
        with pytest.raises(KeyboardInterrupt, match="SIGHUP"):
            signal.raise_signal(signal.SIGHUP)          # a short command: stopped at once
        signals.install()
        signals.cooperative()
        signal.raise_signal(signal.SIGTERM)             # a long one: only asked
        assert signals.STOP.is_set()
        signal.raise_signal(signal.SIGTERM)             # a second signal changes nothing
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            signals.check()                             # raised where the command chose
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        signals.STOP.clear()


def test_a_stop_asked_for_while_starting_is_not_lost(tmp_path, capsys):
    """A signal while the command is still importing raises KeyboardInterrupt wherever the interpreter is; inside
    importlib's lock callbacks it is swallowed ("Exception ignored in ..."). STOP is still set, but main() used to
    install the handlers again and clear it: vcam then ran on, recording, until killed (seen under load). Now a
    stop from before main() stands; a direct call of main() still starts afresh."""
    from studio import signals
    from studio.cli import main

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXFSZ)}
    out = tmp_path / "rec.y4m"
    try:
        signals.install()
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            pass                                           # swallowed, as an import lock's callback does
        rc = main(["vcam", "--source", "demo", "--frames", "3", "--output", str(out)], signals_installed=True)
        assert rc == 130 and not out.exists()
        assert "backdrop: stopped by SIGTERM while starting" in capsys.readouterr().err
        assert main(["models", "list", "--json"]) == 0     # a direct call: no stop pending
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        signals.STOP.clear()


@pytest.mark.parametrize("size", [(960, 540), (853, 480), (640, 480), (1920, 1080)])
def test_a_sink_brings_a_frame_of_another_size_to_its_own(tmp_path, data_dir, size):
    """The live pipeline hands a smaller source's frames over at their size; the sink scales them to cover its
    size and crops (the I420 sinks convert first and scale the three planes: half the bytes). Against scaling
    the BGR frame first and converting it, measured: Y within 1 grey level, U and V mean 0.16 (960x540) and 0.21
    (640x480, cropped to 640x360, never stretched), p99.9 2. An odd width (853x480) takes the BGR way: equal."""
    from studio.imageops import fit_cover
    from studio.output import NullSink, VideoFileSink, Y4mSink

    img = cv2.imread(str(data_dir / "stock-people/images/girl-919048_1280.jpg"))
    frame = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    want = cv2.cvtColor(fit_cover(frame, 1280, 720), cv2.COLOR_BGR2YUV_I420)
    with open(tmp_path / "out.y4m", "wb") as f:
        sink = Y4mSink(f, 1280, 720, 30)
        sink.send(frame)
        sink.close()
    data = (tmp_path / "out.y4m").read_bytes()
    got = np.frombuffer(data[data.index(b"FRAME\n") + 6:], np.uint8).reshape(1080, 1280)
    d = np.abs(got.astype(int) - want.astype(int))
    assert d[:720].max() <= 1 and d[720:].mean() < 0.3 and np.percentile(d[720:], 99.9) <= 3, (
        d[:720].max(), d[720:].mean())
    null = NullSink(1280, 720)
    null.send(frame)
    assert null.frames == 1 and np.array_equal(null._yuv, got)
    video = VideoFileSink(str(tmp_path / "out.avi"), 1280, 720, 30)
    video.send(frame)
    video.close()
    ok, back = cv2.VideoCapture(str(tmp_path / "out.avi")).read()
    assert ok and back.shape == (720, 1280, 3)
