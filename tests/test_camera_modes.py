"""Camera modes: enumeration through the kernel's ioctl structures (a fake driver: no camera here), the choice
of mode, the camera list, and the remembered choices file under hostile contents."""
import json

import pytest

from fake_v4l2 import C920, USB3, VGA_ONLY, FakeV4L2
from studio import StudioError
from studio.capture import modes as m
from studio.capture.modes import CameraMode


def _modes(formats):
    return m.enumerate_modes(0, FakeV4L2(formats))


def test_struct_sizes_match_the_ioctl_numbers():
    """The size is encoded in each request number (_IOWR): a wrong layout would be refused by a real driver."""
    for req, layout in ((m.VIDIOC_QUERYCAP, m.CAPABILITY), (m.VIDIOC_ENUM_FMT, m.FMTDESC),
                        (m.VIDIOC_ENUM_FRAMESIZES, m.FRMSIZE), (m.VIDIOC_ENUM_FRAMEINTERVALS, m.FRMIVAL)):
        assert (req >> 16) & 0x3FFF == layout.size


def test_enumerates_every_format_size_and_rate():
    got = _modes(C920)
    assert CameraMode("YUYV", 640, 480, 30.0) in got
    assert CameraMode("YUYV", 1280, 720, 10.0) in got
    assert CameraMode("MJPG", 1920, 1080, 30.0) in got
    assert len(got) == 2 + 2 + 1 + 2 * 3
    assert m.summary(got) == "YUYV 1920x1080@5 1280x720@10 640x480@30; MJPG 1920x1080@30 1280x720@30 640x480@30"


def test_stepwise_sizes_and_continuous_rates_offer_the_common_ones():
    got = _modes({"YUYV": ("stepwise", (320, 1920, 16, 240, 1080, 8), (30.0, 5.0))})
    sizes = sorted({g.size for g in got})
    assert (1280, 720) in sizes and (640, 480) in sizes and (1920, 1080) in sizes
    assert (3840, 2160) not in sizes
    assert sorted({g.fps for g in got}) == [5.0, 10.0, 15.0, 24.0, 25.0, 30.0]


def test_ntsc_rates_count_as_30():
    got = _modes({"MJPG": {(1280, 720): [29.97]}})
    assert got == [CameraMode("MJPG", 1280, 720, 29.97)]
    assert m.choose_mode(got) == got[0]


@pytest.mark.parametrize("formats, size, fps, expected", [
    (C920, None, None, CameraMode("MJPG", 1280, 720, 30.0)),        # raw 720p is only 10 fps: MJPG wins
    (C920, (640, 480), None, CameraMode("YUYV", 640, 480, 30.0)),   # raw reaches 30: no JPEG decode
    (C920, (1920, 1080), 30, CameraMode("MJPG", 1920, 1080, 30.0)),
    (USB3, None, None, CameraMode("NV12", 1280, 720, 30.0)),        # 30 rather than 60: half the work
    (USB3, None, 60, CameraMode("NV12", 1280, 720, 60.0)),
    (VGA_ONLY, None, None, CameraMode("YUYV", 640, 480, 30.0)),     # only 640x480: that, at its rate
    (VGA_ONLY, (1920, 1080), 30, CameraMode("YUYV", 640, 480, 30.0)),
    ({"MJPG": {(1920, 1080): [30]}}, None, None, CameraMode("MJPG", 1920, 1080, 30.0)),  # only larger
    ({"YUYV": {(1280, 720): [10]}, "MJPG": {(640, 480): [30]}}, None, None,
     CameraMode("MJPG", 640, 480, 30.0)),                           # the rate before the size
])
def test_choose_mode(formats, size, fps, expected):
    assert m.choose_mode(_modes(formats), size, fps) == expected


def test_no_modes_means_no_choice():
    assert m.choose_mode([]) is None
    assert m.summary([]) == ""


def test_a_driver_that_never_ends_its_list_is_cut_off():
    class Endless(FakeV4L2):
        def __call__(self, fd, request, buf, mutate=True):
            if request == m.VIDIOC_ENUM_FRAMEINTERVALS:   # always another interval, whatever the index
                i, code, w, h, *_ = m.FRMIVAL.unpack(buf)
                buf[:] = m.FRMIVAL.pack(i, code, w, h, m.DISCRETE, 1, 30 + i % 7, 0, 0, 0, 0)
                return 0
            return super().__call__(fd, request, buf, mutate)
    fake = Endless({"MJPG": {(1280, 720): [30]}})
    got = m.enumerate_modes(0, fake)
    assert 1 <= len(got) <= m.MAX_MODES and fake.calls < 2 * m.MAX_MODES


def test_a_device_that_cannot_be_asked_has_no_modes(tmp_path):
    f = tmp_path / "video0"
    f.write_bytes(b"")
    assert m.query_modes(f) == []                    # the real ioctl on a regular file: ENOTTY
    assert m.query_modes(tmp_path / "missing") == []
    assert m.query_info(tmp_path / "missing") is None
    assert m.query_info(f) is None


def test_camera_list_leaves_out_metadata_nodes_and_loopbacks(tmp_path):
    from studio.capture.sources import list_cameras

    devs = []
    for name in ("video0", "video1", "video2"):
        (tmp_path / name).write_bytes(b"")
        devs.append(str(tmp_path / name))

    listed = list_cameras([(devs[0], "C920"), (devs[1], "C920"), (devs[2], "Backdrop loopback")],
                          ioctl=FakeV4L2(C920, metadata_nodes=("video1",)))
    assert listed == [f"camera:{devs[0]}"]


def test_query_info_reads_card_and_bus(tmp_path):
    f = tmp_path / "video0"
    f.write_bytes(b"")
    info = m.query_info(f, FakeV4L2(C920, card="HD Pro Webcam C920", bus="usb-0000:00:14.0-1"))
    assert info.card == "HD Pro Webcam C920" and info.capture
    assert info.key == "HD Pro Webcam C920 [usb-0000:00:14.0-1]"


@pytest.mark.parametrize("text", ["", "1280x720", "1280x720@30", "axb@30:MJPG", "1280x720@0:MJPG",
                                  "1280x720@nan:MJPG", "99999x720@30:MJPG", "1280x720@30:MJPEG", "1280x720@30:", "1280x720@30:M J", "1280x720@30:\x1bXYZ",
                                  None, "1280x720@inf:MJPG"])
def test_bad_mode_specs_are_one_line(text):
    with pytest.raises(StudioError) as e:
        m.parse_mode(text)
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)


def test_mode_spec_round_trips():
    mode = CameraMode("MJPG", 1280, 720, 29.97)
    assert m.parse_mode(mode.spec()) == mode
    assert m.parse_mode("1280x720@30:mjpg") == CameraMode("MJPG", 1280, 720, 30.0)


def test_choices_round_trip_and_drop_bad_entries(tmp_path):
    p = tmp_path / "cameras.json"
    m.save_choices(p, {"source": "camera:/dev/video0", "modes": {"C920 [usb-1]": "1280x720@30:MJPG"}})
    assert m.load_choices(p) == {"source": "camera:/dev/video0", "modes": {"C920 [usb-1]": "1280x720@30:MJPG"}}
    p.write_text(json.dumps({"format": "backdrop-cameras", "source": "/etc/passwd",
                             "modes": {"a": "nonsense", "b": 5, "c": "640x480@30:YUYV"}}))
    assert m.load_choices(p) == {"source": "", "modes": {"c": "640x480@30:YUYV"}}
    assert m.load_choices(tmp_path / "absent.json") == {"source": "", "modes": {}}


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe\x00", b"[]", b'{"format": "backdrop-preset"}',
                                     b"[" * 100000, b" " * (m.MAX_CHOICES_BYTES + 1)])
def test_broken_choices_files_are_one_line(tmp_path, content):
    p = tmp_path / "cameras.json"
    p.write_bytes(content)
    with pytest.raises(m.ChoicesError) as e:
        m.load_choices(p)
    assert "\n" not in str(e.value)


def test_space_padded_and_case_sensitive_formats_survive():
    """Depth, thermal and IR cameras list 'Z16 ', 'Y16 ': the trailing space is part of the code (OpenCV needs
    all four characters; a three-character code raised TypeError and ended the pipeline). Auto prefers what
    OpenCV can show."""
    got = _modes({"Z16 ": {(1280, 720): [30]}, "YUYV": {(640, 480): [30]}})
    assert CameraMode("Z16 ", 1280, 720, 30.0) in got
    z = next(g for g in got if g.fourcc.startswith("Z"))
    assert z.spec() == "1280x720@30:Z16" and m.parse_mode(z.spec()) == z and "Z16 (raw)" in z.label()
    assert m.choose_mode(got) == CameraMode("YUYV", 640, 480, 30.0)
    assert m.parse_mode("640x480@30:pBAA").fourcc == "pBAA" and m.parse_mode("640x480@30:yuyv").fourcc == "YUYV"


def test_a_format_that_cannot_be_asked_further_leaves_the_others():
    class Partial(FakeV4L2):
        def __call__(self, fd, request, buf, mutate=True):
            if request == m.VIDIOC_ENUM_FRAMESIZES and m.FRMSIZE.unpack(buf)[1] == int.from_bytes(b"H264", "little"):
                raise OSError(25, "inappropriate ioctl")
            return super().__call__(fd, request, buf, mutate)
    got = m.enumerate_modes(0, Partial({"H264": {(1280, 720): [30]}, "MJPG": {(1280, 720): [30]}}))
    assert got == [CameraMode("MJPG", 1280, 720, 30.0)]


def test_a_driver_whose_lists_never_end_costs_a_bounded_number_of_calls():
    class Endless(FakeV4L2):
        def __call__(self, fd, request, buf, mutate=True):
            self.calls += 1
            if request == m.VIDIOC_ENUM_FRAMESIZES:       # always another size
                i, code, *_ = m.FRMSIZE.unpack(buf)
                buf[:] = m.FRMSIZE.pack(i, code, m.DISCRETE, 16 + i, 16, 0, 0, 0, 0)
                return 0
            if request == m.VIDIOC_ENUM_FRAMEINTERVALS:   # and every interval invalid
                raise OSError(22, "end")
            return super().__call__(fd, request, buf, mutate)
    fake = Endless({"MJPG": {}, "YUYV": {}})
    assert m.enumerate_modes(0, fake) == [] and fake.calls <= m.MAX_CALLS + 2


def test_a_fifo_as_the_choices_file_does_not_block(tmp_path):
    import os

    p = tmp_path / "cameras.json"
    os.mkfifo(p)
    with pytest.raises(m.ChoicesError, match="not a regular file"):
        m.load_choices(p)


def test_the_choices_file_keeps_the_newest_cameras(tmp_path):
    p = tmp_path / "cameras.json"
    modes = {f"cam {i}": "640x480@30:YUYV" for i in range(300)}
    p.write_text(json.dumps({"format": "backdrop-cameras", "modes": modes}))
    kept = m.load_choices(p)["modes"]
    assert len(kept) == 256 and "cam 299" in kept and "cam 0" not in kept
