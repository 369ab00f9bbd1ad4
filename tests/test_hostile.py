"""Hostile input is normal input: fuzzed presets, bad flags, broken media, broken caches, absurd images.

Every command either works (exit 0) or says one line and exits 2, never a traceback; and nothing the user had is
lost: an existing output file keeps its bytes whenever a command fails. The bulk runs in-process through
`studio.cli.main` (the same entry point as the `backdrop` command); a sample runs as real subprocesses."""
import json
import os
import signal
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings as hsettings, strategies as st

from studio.cli import main
from studio.settings import SCHEMA

PRECIOUS = b"precious: the user's own file"
FIELDS = list(SCHEMA)   # every field the settings have, new ones included


@pytest.fixture(autouse=True)
def _keep_signal_handlers():
    """main() installs SIGTERM/SIGHUP handlers; give the test process its own back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGXFSZ)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.fixture(scope="module")
def small_image(tmp_path_factory, data_dir):
    img = cv2.imread(str(data_dir / "stock-people/images/girl-919048_1280.jpg"))
    p = tmp_path_factory.mktemp("img") / "small.png"
    cv2.imwrite(str(p), cv2.resize(img, (96, 64), interpolation=cv2.INTER_AREA))
    return p


def run_main(capsys, *argv):
    """The CLI in-process: (exit code, stderr lines). argparse's own exit comes back as its code."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.strip()]


def assert_clean_failure(rc, err, *must_contain):
    text = "\n".join(err)
    assert "Traceback" not in text, text
    assert rc == 2, (rc, text)
    assert len(err) == 1, text
    assert len(err[0]) < 1000, len(err[0])
    for m in must_contain:
        assert m in err[0], err[0]


def run_cli(*argv, timeout=120, **kw):
    """A real `backdrop` process: (exit code, stderr lines)."""
    r = subprocess.run([sys.executable, "-m", "studio", *map(str, argv)], capture_output=True, timeout=timeout, **kw)
    err = [line for line in r.stderr.decode(errors="replace").splitlines() if line.strip()]
    return r.returncode, err, r.stdout


# -- presets ---------------------------------------------------------------------------------------------------

def _hostile_scalar():
    return st.one_of(
        st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(min_value=10**308, max_value=10**400),
        st.floats(allow_nan=True, allow_infinity=True), st.floats(0.0, 1.0),
        st.text(max_size=12), st.sampled_from(["blur", "replace", "mask", "none", "full", "lite", "auto", "add",
                                               "screen", "\x1b[31mred\n", "../../etc/passwd", ""]))


hostile_values = st.recursive(_hostile_scalar(), lambda c: st.lists(c, max_size=3) |
                              st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=8)
hostile_docs = st.one_of(
    st.fixed_dictionaries(
        {"format": st.just("backdrop-preset"), "version": st.sampled_from([1, 2, 3, 0, -1, 2.0, "2", True, 10**30]),
         "settings": st.dictionaries(st.sampled_from(FIELDS + ["threshold", "blur_radius", "smoothing", "x"]),
                                     hostile_values, max_size=4)},
        optional={"Settings": hostile_values, "mode": hostile_values, "extra": hostile_values}),
    hostile_values)


def _preset_bytes(doc, bom: bool) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


# hand-made cases from the issue, each once
HAND_MADE = [
    b'{"format": "backdrop-preset", "version": 2, "settings": {"max_coc": 1' + b"0" * 400 + b"}}",
    b'{"format": "backdrop-preset", "version": 2, "settings": {"max_coc": ' + b"9" * 5000 + b"}}",
    b'{"format": "backdrop-preset", "version": 2, "settings": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    b'{"format": "backdrop-preset", "version": 2, "settings": {"coverage": [0.3, 0.300000001]}}',
    b'{"format": "backdrop-preset", "version": 2, "settings": {"coverage": [0.5, 0.5000001]}}',
    b'{"format": "backdrop-preset", "version": 2, "mode": "mask"}',
    b'{"format": "backdrop-preset", "version": 2, "Settings": {"mode": "mask"}}',
    b'{"format": "backdrop-preset", "version": 2, "settings": {}, "comment": "x"}',
    b'\xef\xbb\xbf{"format": "backdrop-preset", "version": 2, "settings": {"mode": "mask"}}',
    b'{"format": "backdrop-preset", "version": 2, "settings": {"mode": "sepia\\u001b[2J\\n"}}',
    b'{"format": "backdrop-preset", "version": 2, "settings": {"mode": "replace", "background": "a\\nb\\u001b.png"}}',
    b'{"format": "backdrop-preset", "version": 1, "settings": {"threshold": 1e400}}',
    b'{"format": "backdrop-preset", "version": 2, "settings": {"max_coc": NaN}}',
    b"\xff\xfe{\x00}\x00",
    b"",
    b"{" * 3000,
]


def _check_render_with_preset(capsys, tmp_path, image, data: bytes):
    preset = tmp_path / "p.json"
    preset.write_bytes(data)
    out = tmp_path / "out.png"
    out.write_bytes(PRECIOUS)
    rc, err = run_main(capsys, "render", image, "-o", out, "--preset", preset, "--renderer", "cpu")
    text = "\n".join(err)
    assert "Traceback" not in text
    if rc == 0:
        assert cv2.imread(str(out)) is not None and err == []
    else:
        assert_clean_failure(rc, err)
        assert out.read_bytes() == PRECIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "p.json"]   # no temp left behind
    return rc


@pytest.mark.parametrize("data", HAND_MADE, ids=range(len(HAND_MADE)))
def test_hand_made_presets(capsys, tmp_path, small_image, data):
    rc = _check_render_with_preset(capsys, tmp_path, small_image, data)
    if data.startswith(b"\xef\xbb\xbf"):
        assert rc == 0   # Notepad's byte-order mark is fine


@hsettings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=hostile_docs, bom=st.booleans())
@example(doc={"format": "backdrop-preset", "version": 2, "settings": {"coverage": [0.1, 0.9], "max_coc": 0}},
         bom=False)
def test_fuzzed_presets_through_render(capsys, tmp_path_factory, small_image, doc, bom):
    _check_render_with_preset(capsys, tmp_path_factory.mktemp("fz"), small_image, _preset_bytes(doc, bom))


@hsettings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={f: st.one_of(st.floats(-1, 70), st.sampled_from([0.0, 1.0, 64.0]))
                                            for f in ["max_coc", "blur_scale", "sigma_space", "sigma_color",
                                                      "temporal_smoothing", "wrap_strength", "wrap_width"]}),
       st.floats(0, 1), st.floats(0, 1), st.sampled_from(["blur", "replace", "mask", "none"]))
def test_every_valid_setting_renders(values, lo, hi, mode):
    """What validation accepts, both renderers' maths can draw (the CPU twin is the oracle of the shaders)."""
    from studio.render.cpu import CpuRenderer
    from studio.settings import PresetError, from_dict

    try:
        s = from_dict({**values, "coverage": [lo, hi], "mode": mode})
    except PresetError:
        return
    r = CpuRenderer(s)
    r.set_background(np.full((40, 30, 3), 90, np.uint8))
    frame = np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    mask = np.random.default_rng(2).random((9, 16), dtype=np.float32)
    for _ in range(2):
        out = r.render(frame, mask, s)
        assert out.shape == frame.shape and out.dtype == np.uint8


def test_a_50mb_path_is_one_short_line(capsys):
    rc, err = run_main(capsys, "render", "x" * 50_000_000 + ".png", "-o", "/tmp/never.png")
    assert_clean_failure(rc, err)
    rc, err = run_main(capsys, "vcam", "--preset", "y" * 5000, "--source", "demo", "--output", "-")
    assert_clean_failure(rc, err, "preset")


@pytest.mark.slow
@pytest.mark.parametrize("data", HAND_MADE[:12], ids=range(12))
def test_presets_through_real_processes(tmp_path, small_image, data):
    """A sample of the corpus through `render` and `vcam` as real processes."""
    preset = tmp_path / "p.json"
    preset.write_bytes(data)
    out = tmp_path / "out.png"
    out.write_bytes(PRECIOUS)
    rc, err, _ = run_cli("render", small_image, "-o", out, "--preset", preset, "--renderer", "cpu")
    assert rc in (0, 2) and not any("Traceback" in e for e in err), err
    assert (len(err) == 1 and out.read_bytes() == PRECIOUS) if rc else (not err)
    rec = tmp_path / "rec.y4m"
    rec.write_bytes(PRECIOUS)
    rc2, err2, _ = run_cli("vcam", "--preset", preset, "--source", small_image, "--size", "96x64", "--frames",
                           "3", "--output", rec, "--renderer", "cpu")
    assert rc2 == rc and not any("Traceback" in e for e in err2), err2
    if rc2:
        assert len(err2) == 1 and rec.read_bytes() == PRECIOUS
    else:
        assert rec.read_bytes().startswith(b"YUV4MPEG2 W96 H64")


# -- flags -----------------------------------------------------------------------------------------------------

BAD_FLAGS = [
    ["bench", "--threads", "0", "--frames", "1"], ["bench", "--threads", "-1"], ["bench", "--threads", "1000"],
    ["bench", "--frames", "0"], ["bench", "--frames", "1e3"], ["bench", "--size", "0x0"],
    ["bench", "--size", "1280x720x3"], ["bench", "--size", "99999x10"], ["bench", "--mode", "sepia"],
    ["vcam", "--source", "demo", "--frames", "-1", "--output", "-"],
    ["vcam", "--source", "demo", "--fps", "nan", "--frames", "1", "--output", "-"],
    ["vcam", "--fps", "inf"], ["vcam", "--fps", "-5"], ["vcam", "--fps", "0"], ["vcam", "--fps", "1e9"],
    ["vcam", "--size", "641x480"], ["vcam", "--blur-radius", "-3"], ["vcam", "--blur-radius", "nan"],
    ["vcam", "--tier", "huge"], ["vcam", "--renderer", "vulkan"],
    ["render", "in.png"], ["render", "--blur-radius", "1e999", "a.png", "-o", "b.png"],
    ["eval", "x", "--bf-tol", "0"], ["eval", "x", "--bf-tol", "nan"], ["eval", "x", "--threads", "0"],
    ["studio", "--frames", "-3"], ["studio", "--frames", "ten"], ["models", "delete"], ["--no-such-flag"],
    ["vcam", "--output", "/tmp/x.webm", "--source", "demo"],
    ["render", "nonexistent-input.png", "-o", "nonexistent-dir/x.png"],
    ["vcam", "--camera-mode", "1280x720"], ["vcam", "--camera-mode", "1280x720@0:MJPG"],
    ["vcam", "--camera-mode", "1280x720@30:\x1b[31mX"], ["vcam", "--camera-mode", "0x0@30:YUYV"],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(a) for a in BAD_FLAGS])
def test_bad_flags_one_line_exit_2(capsys, argv):
    rc, err = run_main(capsys, *argv)
    assert_clean_failure(rc, err)


EMPTY_NAMES = [
    ("render", "--preset"), ("render", "--background"), ("render", "-o"), ("render", "input"),
    ("vcam", "--preset"), ("vcam", "--background"), ("vcam", "--source"), ("vcam", "--device"),
    ("vcam", "--output"), ("bench", "--source"), ("eval", "dataset"), ("studio", "--source"),
    ("studio", "--preset"), ("studio", "--screenshot"), ("studio", "--output"),
]


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("command, flag", EMPTY_NAMES, ids=[" ".join(c) for c in EMPTY_NAMES])
def test_a_name_given_empty_is_refused_not_read_as_absent(capsys, tmp_path, small_image, command, flag, blank):
    """`vcam --preset ""` ran without a preset and `vcam --output ""` went looking for a virtual camera: an
    empty name is a mistake the user should hear about, not the default."""
    out = tmp_path / "out.png"
    out.write_bytes(PRECIOUS)
    base = {"render": [small_image, "-o", out], "vcam": ["--source", small_image, "--output", "-", "--frames", "2"],
            "bench": ["--frames", "2"], "eval": [], "studio": ["--frames", "2"]}[command]
    if flag in ("input", "dataset"):
        argv = [command, blank, *base[1:]] if command == "render" else [command, blank]
    else:
        argv = [command, *base, f"{flag}={blank}"] if flag.startswith("--") else [command, *base, flag, blank]
    rc, err = run_main(capsys, *argv)
    assert_clean_failure(rc, err, f"argument {flag}" if flag != "-o" else "argument -o/--output")
    assert out.read_bytes() == PRECIOUS


@pytest.mark.parametrize("kind", ["fifo", "folder", "socket"])
def test_a_virtual_camera_device_that_is_no_device_is_one_line(tmp_path, kind):
    """pyvirtualcam opens whatever it is given: a FIFO named as --device blocked vcam for good. (A missing or
    plain file is left to the backend, whose capability query fails with its own reason: the stand-in backend
    of tests/test_vcam.py writes to a plain file.)"""
    import socket

    dev = tmp_path / "video9"
    if kind == "fifo":
        os.mkfifo(dev)
    elif kind == "folder":
        dev.mkdir()
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(dev))
    rc, err, _ = run_cli("vcam", "--source", "demo", "--size", "320x180", "--frames", "3", "--device", dev,
                         "--renderer", "cpu", timeout=60)
    assert_clean_failure(rc, err, "not a video device")
    # said before the source is opened (and the model loaded): the missing file is not what it reports
    rc, err, _ = run_cli("vcam", "--source", tmp_path / "missing.mp4", "--frames", "3", "--device", dev, timeout=60)
    assert_clean_failure(rc, err, "not a video device")


def test_threads_beyond_the_cores_write_nothing_to_the_tier_cache(capsys, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BACKDROP_CACHE", str(cache))
    rc, err = run_main(capsys, "bench", "--threads", "1000", "--tier", "auto", "--frames", "2")
    assert_clean_failure(rc, err, "--threads")
    assert not (cache / "tier-bench.json").exists()


# -- broken media ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broken_media(tmp_path_factory, data_dir):
    d = tmp_path_factory.mktemp("media")
    clip = (data_dir / "stock-people/videos/doctor-26732.mp4").read_bytes()
    media = {
        "empty.mp4": b"", "text.mp4": b"this is not a video\n" * 50, "truncated.mp4": clip[: len(clip) // 3],
        "head-only.mp4": clip[:4096], "garbage.png": b"\x89PNG\r\n\x1a\n" + os.urandom(2000),
        "text.jpg": b"hello", "empty.png": b"",
    }
    jpg = (data_dir / "stock-people/images/girl-919048_1280.jpg").read_bytes()
    media["truncated.jpg"] = jpg[:3000]
    for name, data in media.items():
        (d / name).write_bytes(data)
    cv2.imwrite(str(d / "huge.png"), np.zeros((9000, 9000), np.uint8))   # 81 MP: over the limit
    cv2.imwrite(str(d / "thin.png"), np.zeros((5000, 1, 3), np.uint8))
    (d / "folder.mp4").mkdir()
    return d


MEDIA = ["empty.mp4", "text.mp4", "truncated.mp4", "head-only.mp4", "garbage.png", "text.jpg", "empty.png",
         "truncated.jpg", "huge.png", "thin.png", "folder.mp4", "missing.mp4"]


@pytest.mark.parametrize("name", MEDIA)
@pytest.mark.parametrize("role", ["render-input", "render-background", "vcam-source", "vcam-background",
                                  "bench-source", "eval-image"])
def test_broken_media_through_each_command(capsys, tmp_path, broken_media, small_image, name, role):
    path = broken_media / name
    out = tmp_path / ("out.png" if role == "render-background" else "out.mp4")
    out.write_bytes(PRECIOUS)
    argv = {
        "render-input": ["render", path, "-o", out, "--renderer", "cpu"],
        "render-background": ["render", small_image, "-o", out, "--mode", "replace", "--background", path,
                              "--renderer", "cpu"],
        "vcam-source": ["vcam", "--source", path, "--size", "96x64", "--frames", "3", "--output", out,
                        "--renderer", "cpu"],
        "vcam-background": ["vcam", "--source", small_image, "--size", "96x64", "--frames", "3", "--output", out,
                            "--mode", "replace", "--background", path, "--renderer", "cpu"],
        "bench-source": ["bench", "--source", path, "--frames", "3"],
        "eval-image": ["eval", tmp_path / "ds"],
    }[role]
    if role == "eval-image":
        _dataset_with(tmp_path / "ds", path, small_image)
    rc, err = run_main(capsys, *argv)
    text = "\n".join(err)
    assert "Traceback" not in text
    if rc == 0:   # a truncated video still holds frames: it plays what it has
        assert name.startswith("truncated") and "mp4" in name, text
        if role not in ("bench-source", "eval-image"):
            assert out.read_bytes() != PRECIOUS
    else:
        assert_clean_failure(rc, err)
        assert out.read_bytes() == PRECIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name] + (["ds"] if role == "eval-image" else []))


@pytest.mark.parametrize("rate, used", [("F1000000:1", 30), ("F65536:1", 30), ("F1:1000", 30), ("F0:1", None),
                                        ("F-30:1", None), ("F30:0", None), ("F480:1", 480), ("F1000:1", 1000),
                                        ("F1001:1", 30), ("F1:2", 0.5), ("F1:500", 0.002),
                                        ("F30000:1001", 29.97)])
@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".avi", ".y4m"])
def test_a_video_whose_header_gives_an_absurd_rate_still_renders(capsys, tmp_path, small_image, rate, used, ext):
    """A YUV4MPEG2 header of a million frames a second made the .mp4 encoder fail to open and the .mkv writer
    report -9223372036854775808 frames, one of a frame in 1000 seconds made both fail; such a rate is read as 30
    with a note. A real slow-motion clip's 480 (read as 30 for a while) and the rates every writer keeps
    faithfully keep theirs. Headers with none keep OpenCV's own guess."""
    img = cv2.imread(str(small_image))
    h, w = img.shape[:2]
    yuv = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes()
    src = tmp_path / "in.y4m"
    src.write_bytes(f"YUV4MPEG2 W{w} H{h} {rate} Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + yuv) * 3)
    out = tmp_path / f"out{ext}"
    rc, err = run_main(capsys, "render", src, "-o", out, "--renderer", "cpu")
    assert rc == 0, err
    notes = [e for e in err if "note:" in e]
    assert len(notes) == (1 if used == 30 else 0), err
    cap = cv2.VideoCapture(str(out))
    got, n = cap.get(cv2.CAP_PROP_FPS), 0
    while cap.read()[0]:
        n += 1
    assert n == 3
    assert 0.002 <= got <= 1000 and (used is None or got == pytest.approx(used, rel=0.01)), got


@pytest.mark.parametrize("rate, budget_fps", [("F480:1", 30.0), ("F60:1", 30.0), ("F30:1", 30.0), ("F15:1", 15.0)])
def test_render_picks_its_auto_tier_for_no_faster_than_30_fps(capsys, tmp_path, small_image, monkeypatch, rate,
                                                               budget_fps):
    """A render is offline: a 480 fps slow-motion clip made Auto pick the tier of a 480 fps camera (lite, no
    refinement, no second look) for a render that has all the time it needs."""
    from studio.cli import render as render_cmd

    asked = []
    real = render_cmd.choose_tier
    monkeypatch.setattr(render_cmd, "choose_tier", lambda fps, size: asked.append(fps) or real(fps, size))
    img = cv2.imread(str(small_image))
    h, w = img.shape[:2]
    yuv = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes()
    src = tmp_path / "in.y4m"
    src.write_bytes(f"YUV4MPEG2 W{w} H{h} {rate} Ip A1:1 C420jpeg\n".encode() + (b"FRAME\n" + yuv) * 2)
    rc, err = run_main(capsys, "render", src, "-o", tmp_path / "out.y4m", "--renderer", "cpu")
    assert rc == 0 and asked == [budget_fps], (err, asked)


def _dataset_with(d, image, mask_source):
    """An eval dataset whose one image is `image` (with a good mask of the same stem)."""
    (d / "images").mkdir(parents=True)
    (d / "masks").mkdir()
    (d / "images" / image.name).symlink_to(image)
    cv2.imwrite(str(d / "masks" / f"{image.stem}.png"), cv2.imread(str(mask_source), cv2.IMREAD_GRAYSCALE))
    return d


def _peak_rss_mb(argv) -> tuple[int, float]:
    """Exit code and peak RSS (MB) of one `backdrop` process, measured by a wrapper that runs only it."""
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    r = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "studio", *map(str, argv)],
                       capture_output=True, text=True, timeout=120)
    rc, mb = r.stdout.split()
    return int(rc), float(mb)


@pytest.mark.slow
def test_absurd_images_cost_little(tmp_path, broken_media, small_image):
    rc, mb = _peak_rss_mb(["render", broken_media / "huge.png", "-o", tmp_path / "o.png"])
    assert rc == 2 and mb < 400, mb
    thin = tmp_path / "thin16.png"
    cv2.imwrite(str(thin), np.zeros((5000, 16, 3), np.uint8))   # thin but allowed: fitted once, cheaply
    rc, mb = _peak_rss_mb(["vcam", "--source", small_image, "--size", "1280x720", "--frames", "3", "--mode",
                           "replace", "--background", thin, "--output", tmp_path / "o.y4m", "--renderer", "cpu"])
    assert rc == 0 and mb < 600, mb


def test_fit_cover_crops_before_scaling():
    from studio.imageops import fit_cover

    strip = np.arange(5000, dtype=np.uint8).reshape(5000, 1, 1).repeat(3, axis=2)
    out = fit_cover(strip, 1280, 720)
    assert out.shape == (720, 1280, 3)
    img = np.random.default_rng(0).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    assert np.array_equal(fit_cover(img, 500, 300), img)
    assert np.array_equal(fit_cover(img, 250, 300), img[:, 125:375])


# -- caches ----------------------------------------------------------------------------------------------------

@pytest.fixture
def cache_copy(tmp_path, monkeypatch):
    import shutil

    from studio.segment import models

    src = models.models_dir()
    dst = tmp_path / "cache"
    shutil.copytree(src, dst / "models")
    monkeypatch.setenv("BACKDROP_CACHE", str(dst))
    return dst


@pytest.mark.parametrize("content", ["[]", "null", '"x"', '{"full-256x144.tflite": 5}', "[[[[", "\x00\x01"])
def test_registry_of_the_wrong_shape_counts_as_absent(capsys, cache_copy, content):
    (cache_copy / "models/registry.json").write_text(content)
    rc, err = run_main(capsys, "models", "list")
    assert rc == 0 and len(err) == 1 and "treating it as absent" in err[0]
    rc, err = run_main(capsys, "bench", "--frames", "2")
    assert rc == 2 and "Traceback" not in "\n".join(err)
    assert "backdrop models fetch" in err[-1]


@pytest.mark.parametrize("content", ["[]", "garbage", '{"k": 5}', "{}", '{"%s": {"full": "fast"}}'])
def test_tier_cache_of_the_wrong_shape_is_measured_again(capsys, cache_copy, content):
    from studio.segment.tiers import _machine_key

    (cache_copy / "tier-bench.json").write_text(content.replace("%s", _machine_key(1).replace("|", "|")))
    rc, err = run_main(capsys, "bench", "--frames", "2", "--tier", "auto")
    assert rc == 0, err
    table = json.loads((cache_copy / "tier-bench.json").read_text())
    entry = table[_machine_key(1)]
    assert all(isinstance(entry[t], float) and entry[t] > 0 for t in ("full", "lite", "general"))


def test_unwritable_cache_is_one_line(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("BACKDROP_CACHE", str(blocker / "cache"))
    rc, err = run_main(capsys, "models", "fetch")
    assert_clean_failure(rc, err, "BACKDROP_CACHE")


def test_studio_names_a_corrupt_model(cache_copy, tmp_path):
    p = cache_copy / "models/full-256x144.tflite"
    p.write_bytes(p.read_bytes()[:-100])
    rc, err, _ = run_cli("studio", "--source", "demo", "--frames", "3",
                         env={**os.environ, "BACKDROP_CONFIG": str(tmp_path / "cfg")})
    assert rc == 2 and len(err) == 1 and "corrupt" in err[0] and "backdrop models fetch" in err[0], err


def _rewrite_with_checksum(cache, name: str, data: bytes) -> None:
    """A model file replaced and the registry rewritten to match it: the checksum passes, the file is no model."""
    from studio.segment import models

    (cache / "models" / name).write_bytes(data)
    reg = json.loads((cache / "models/registry.json").read_text())
    reg[name] = models.sha256(data)
    (cache / "models/registry.json").write_text(json.dumps(reg))


@pytest.mark.parametrize("which", ["xnnpack", "builtin", "both", "other-model"])
def test_a_model_that_passes_its_checksum_but_is_no_model_is_one_line(capsys, cache_copy, which):
    """A tampered registry used to let LiteRT's ValueError through as a traceback; the XNNPACK file's fault was
    hidden by a silent fall-back to the slower builtin twin."""
    if which == "other-model":   # a real model, of another shape: the general tier's in the full tier's place
        data = (cache_copy / "models/general-256x256.tflite").read_bytes()
        _rewrite_with_checksum(cache_copy, "full-256x144.tflite", data)
    for name in {"xnnpack": ["full-256x144.tflite"], "builtin": ["full-256x144.builtin.tflite"],
                 "both": ["full-256x144.tflite", "full-256x144.builtin.tflite"]}.get(which, []):
        _rewrite_with_checksum(cache_copy, name, b"not a flatbuffer " * 64)
    rc, err = run_main(capsys, "bench", "--frames", "2", "--tier", "full")
    if which == "builtin":   # the XNNPACK model serves; its twin is read only where XNNPACK is missing
        assert rc == 0, err
        from studio.segment import models
        from studio.segment.segmenter import Segmenter

        with pytest.raises(models.ModelError, match="not a model LiteRT can load.*models fetch --force"):
            Segmenter("full", xnnpack=False)
        return
    want = "has input 256x256" if which == "other-model" else "not a model LiteRT can load"
    assert_clean_failure(rc, err, want)


def _subgraph_vector_emptied(model: bytes, field: int) -> bytes:
    """A .tflite flatbuffer whose first subgraph's `field` vector (1 inputs, 2 outputs) is made empty: still a
    model LiteRT loads, one with nothing in or nothing out."""
    buf = bytearray(model)

    def deref(pos):
        return pos + struct.unpack_from("<I", buf, pos)[0]

    def field_at(table, i):
        vtable = table - struct.unpack_from("<i", buf, table)[0]
        return table + struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0]

    subgraph = deref(deref(field_at(deref(0), 2)) + 4)   # Model.subgraphs[0]
    struct.pack_into("<I", buf, deref(field_at(subgraph, field)), 0)
    return bytes(buf)


@pytest.mark.parametrize("field", [1, 2], ids=["no-inputs", "no-outputs"])
def test_a_model_with_no_input_or_no_output_is_one_line(capsys, cache_copy, field):
    """A real model rewritten to have no outputs loaded in LiteRT and then failed on get_output_details()[0]
    with an IndexError traceback."""
    data = (cache_copy / "models/full-256x144.tflite").read_bytes()
    _rewrite_with_checksum(cache_copy, "full-256x144.tflite", _subgraph_vector_emptied(data, field))
    rc, err = run_main(capsys, "bench", "--frames", "2", "--tier", "full")
    assert_clean_failure(rc, err, "inputs and")


@pytest.mark.parametrize("spec", ["camera:²", "camera:99999999999999999999", "camera:" + "x" * 300,
                                  "y" * 300 + ".mp4"])
def test_crafted_sources_are_one_line(capsys, spec):
    rc, err = run_main(capsys, "vcam", "--source", spec, "--frames", "3", "--output", "-", "--renderer", "cpu")
    assert_clean_failure(rc, err)


def test_vcam_with_a_missing_model_ends_with_one_line(capsys, tmp_path, monkeypatch, small_image):
    """The segmentation thread used to wait for another tier that nobody would pick: vcam hung silently."""
    monkeypatch.setenv("BACKDROP_CACHE", str(tmp_path / "empty"))
    out = tmp_path / "o.y4m"
    out.write_bytes(PRECIOUS)
    rc, err = run_main(capsys, "vcam", "--source", small_image, "--size", "96x64", "--frames", "3", "--output", out,
                       "--renderer", "cpu", "--tier", "full")
    assert_clean_failure(rc, err, "backdrop models fetch")
    assert out.read_bytes() == PRECIOUS


def test_atomic_write_through_a_symlink_keeps_the_link(tmp_path):
    from studio.atomic import write_bytes

    (tmp_path / "real").mkdir()
    real = tmp_path / "real/p.json"
    real.write_bytes(b"old")
    link = tmp_path / "link.json"
    link.symlink_to("real/p.json")
    write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["p.json"]


def test_an_interrupted_close_leaves_no_temporary_file(tmp_path, monkeypatch):
    from studio.output import VideoFileSink

    out = tmp_path / "o.mp4"
    out.write_bytes(PRECIOUS)
    sink = VideoFileSink(str(out), 64, 48, 30.0)
    sink.send(np.zeros((48, 64, 3), np.uint8))

    def interrupted():
        raise KeyboardInterrupt
    monkeypatch.setattr(sink, "_verify", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["o.mp4"] and out.read_bytes() == PRECIOUS


def test_window_preset_save_failure_is_shown_not_raised(tmp_path, monkeypatch):
    """save_preset raises StudioError (one line) for every failure; callers catch that, not OSError."""
    from studio import StudioError
    from studio.settings import DEFAULTS, save_preset

    (tmp_path / "afile").write_text("x")
    with pytest.raises(StudioError):
        save_preset(DEFAULTS, tmp_path / "afile" / "last.json")


def test_bench_refuses_more_frames_than_memory_holds(capsys):
    rc, err = run_main(capsys, "bench", "--frames", "100000")
    assert_clean_failure(rc, err, "in memory")


def test_a_preset_that_is_a_fifo_or_a_device_is_refused_not_waited_on(capsys, tmp_path, small_image):
    """Opening a FIFO for reading waits for a writer: render --preset fifo hung, and vcam's preset watcher hung
    (and then the whole vcam, past SIGTERM) when the preset it watched was replaced by one."""
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    for preset in (fifo, "/dev/zero", tmp_path):
        out = tmp_path / "o.png"
        rc, err = run_main(capsys, "render", small_image, "-o", out, "--preset", preset, "--renderer", "cpu")
        assert_clean_failure(rc, err, "preset")
        assert not out.exists()


def test_cache_files_that_are_fifos_or_devices_count_as_unreadable(tmp_path, monkeypatch):
    from studio.segment import models, tiers

    monkeypatch.setenv("BACKDROP_CACHE", str(tmp_path))
    os.mkfifo(tmp_path / "tier-bench.json")
    assert tiers._read_tier_cache(tmp_path / "tier-bench.json") == {}
    (tmp_path / "models").mkdir()
    os.mkfifo(tmp_path / "models" / "registry.json")
    assert models._registry() == {}
    (tmp_path / "models" / "registry.json").unlink()
    os.symlink("/dev/zero", tmp_path / "models" / "registry.json")
    assert models._registry() == {}
    os.mkfifo(models.model_path("lite"))
    with pytest.raises(models.ModelError):
        models.load_model_bytes("lite")


def test_file_names_that_are_not_utf8_are_refused_not_crashed_on(capsys, tmp_path, small_image, data_dir):
    """OpenCV crashed the process (SIGSEGV, no message) on a name holding an undecodable byte: as an input
    image or video, a background (also from a preset), a video output's folder. One line, exit 2, no file left."""
    bad = os.fsdecode(b"n\xff")
    img, vid, folder = tmp_path / f"{bad}.png", tmp_path / f"{bad}.mp4", tmp_path / bad
    img.write_bytes(small_image.read_bytes())
    vid.write_bytes((data_dir / "webcam-clips/videos/eat.mkv").read_bytes())
    folder.mkdir()
    preset = tmp_path / "p.json"
    preset.write_text(json.dumps({"format": "backdrop-preset", "version": 2,
                                  "settings": {"mode": "replace", "background": str(img)}}))
    out = tmp_path / "o.png"
    for argv in (["render", img, "-o", out], ["render", vid, "-o", tmp_path / "o.mp4"],
                 ["render", small_image, "-o", out, "--mode", "replace", "--background", img],
                 ["render", small_image, "-o", out, "--preset", preset],
                 ["render", data_dir / "webcam-clips/videos/eat.mkv", "-o", folder / "o.mp4"]):
        r = subprocess.run([sys.executable, "-m", "studio", *map(str, argv), "--renderer", "cpu"],
                           capture_output=True, timeout=120)
        err = r.stderr.decode(errors="replace").splitlines()
        assert_clean_failure(r.returncode, err, "not valid UTF-8")
    assert not out.exists() and not (tmp_path / "o.mp4").exists() and list(folder.iterdir()) == []


def test_an_output_that_is_the_input_is_refused(capsys, tmp_path, small_image, data_dir):
    """render -o INPUT (or a link to it, or the background) and vcam --output SOURCE overwrote the user's file."""
    img = tmp_path / "same.png"
    img.write_bytes(small_image.read_bytes())
    link = tmp_path / "link.png"
    link.symlink_to(img)
    clip = tmp_path / "v.mkv"
    clip.write_bytes((data_dir / "webcam-clips/videos/eat.mkv").read_bytes())
    before = {p: p.read_bytes() for p in (img, clip)}
    for argv in (["render", img, "-o", img], ["render", img, "-o", link],
                 ["render", small_image, "-o", img, "--mode", "replace", "--background", img],
                 ["render", clip, "-o", clip],
                 ["vcam", "--source", clip, "--output", clip, "--frames", "3", "--size", "160x96"]):
        rc, err = run_main(capsys, *argv, "--renderer", "cpu")
        assert_clean_failure(rc, err, "overwritten")
    assert all(p.read_bytes() == b for p, b in before.items())


def test_vcam_with_an_empty_size_or_a_closed_stdout_says_so(capsys, tmp_path, small_image):
    rc, err = run_main(capsys, "vcam", "--source", small_image, "--size", "", "--frames", "2", "--output",
                       tmp_path / "o.y4m")
    assert_clean_failure(rc, err, "size must look like 1280x720")
    r = subprocess.run([sys.executable, "-m", "studio", "vcam", "--source", str(small_image), "--size", "160x96",
                        "--frames", "3", "--output", "-", "--renderer", "cpu"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120, preexec_fn=lambda: os.close(1))
    err = r.stderr.decode().splitlines()
    assert_clean_failure(r.returncode, err, "standard output is closed")
