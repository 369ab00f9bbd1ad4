"""vcam: YUV4MPEG2 on stdout decoded by an independent decoder (ffmpeg), presets, and the missing backend."""
import json
import subprocess
import sys

import cv2
import numpy as np


def _vcam(*args, **kw):
    return subprocess.run([sys.executable, "-m", "studio", "vcam", *args], capture_output=True, timeout=300, **kw)


def test_y4m_stream_decodes_with_ffmpeg(tmp_path, data_dir):
    clip = str(data_dir / "stock-people/videos/doctor-26732.mp4")
    r = _vcam("--source", clip, "--size", "1280x720", "--frames", "60", "--output", "-", "--renderer", "cpu",
              "--blur-radius", "24")
    assert r.returncode == 0, r.stderr.decode()
    (tmp_path / "s.y4m").write_bytes(r.stdout)
    dec = subprocess.run(["ffmpeg", "-v", "error", "-i", str(tmp_path / "s.y4m"), "-f", "rawvideo",
                          "-pix_fmt", "bgr24", "-"], capture_output=True, timeout=120)
    assert dec.returncode == 0, dec.stderr.decode()
    frames = np.frombuffer(dec.stdout, np.uint8).reshape(-1, 720, 1280, 3)
    assert len(frames) == 60
    # the person stays sharp while the background is blurred, compared with the unprocessed demo frame
    from studio.segment.segmenter import Segmenter
    from studio.capture.sources import VideoSource

    src = VideoSource(clip, size=(1280, 720))
    raw = [src.read() for _ in range(60)][-1]
    m = cv2.resize(Segmenter("full")(raw).mask, (1280, 720))
    lap = lambda im: np.abs(cv2.Laplacian(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    person, bg = m > 0.95, m < 0.05
    out = frames[59]
    assert lap(out)[person].mean() > 0.7 * lap(raw)[person].mean()
    assert lap(out)[bg].mean() < 0.5 * lap(raw)[bg].mean()


def test_missing_backend_says_what_to_load():
    r = _vcam("--source", "demo", "--frames", "3")
    err = [l for l in r.stderr.decode().splitlines() if not l.startswith("INFO")]
    assert r.returncode != 0 and len(err) == 1
    assert "v4l2loopback" in err[0] and "exclusive_caps=1" in err[0]


def test_preset_and_flag_override(tmp_path):
    from studio.settings import DEFAULTS, save_preset

    from studio.capture.sources import DemoSource

    p = tmp_path / "p.json"
    save_preset(DEFAULTS.with_(mode="mask"), p)
    plain = cv2.cvtColor(DemoSource((320, 180)).frame_at(0), cv2.COLOR_BGR2YUV_I420)

    def first_frame(*extra):
        r = _vcam("--preset", str(p), "--source", "demo", "--size", "320x180", "--frames", "2", "--output", "-",
                  "--renderer", "cpu", *extra)
        assert r.returncode == 0, r.stderr.decode()
        body = r.stdout.split(b"\n", 1)[1]
        return np.frombuffer(body[6:6 + 320 * 180 * 3 // 2], np.uint8).reshape(plain.shape).astype(int)

    assert np.abs(first_frame("--mode", "none") - plain).max() <= 1      # the flag wins: the plain frame
    assert np.abs(first_frame() - plain).mean() > 3                       # the preset alone: the mask tint
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "backdrop-preset", "version": 2, "settings": {"mode": "sepia"}}))
    r = _vcam("--preset", str(bad), "--source", "demo", "--frames", "2", "--output", "-")
    assert r.returncode != 0 and b"'mode'" in r.stderr and r.stdout == b""


def test_device_readers_counts_other_processes(tmp_path):
    from studio.platform import device_readers

    dev = tmp_path / "fake-video"
    dev.write_bytes(b"")
    assert device_readers(str(dev)) == 0
    p = subprocess.Popen([sys.executable, "-c", f"f = open({str(dev)!r}); import time; time.sleep(30)"])
    try:
        import time

        deadline = time.time() + 10
        while device_readers(str(dev)) == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert device_readers(str(dev)) == 1
    finally:
        p.kill()
        p.wait()


def test_video_background_advances(tmp_path, data_dir):
    bgv = str(data_dir / "stock-people/videos/thoughtful-35590.mp4")
    r = _vcam("--source", "demo", "--mode", "replace", "--background", bgv, "--size", "640x360", "--frames", "40",
              "--output", "-", "--renderer", "cpu")
    assert r.returncode == 0, r.stderr.decode()
    body = r.stdout.split(b"\n", 1)[1]
    n = 6 + 360 * 640 * 3 // 2                        # b"FRAME\n" + one I420 picture
    assert len(body) == 40 * n and all(body[i * n:i * n + 6] == b"FRAME\n" for i in range(40))
    frames = np.frombuffer(body, np.uint8).reshape(40, n)[:, 6:]
    y = frames[:, :360 * 640].reshape(-1, 360, 640).astype(int)
    assert abs(y[0, :40, :40] - y[39, :40, :40]).mean() > 2   # the corner is background: it plays
