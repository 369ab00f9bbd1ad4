import numpy as np
import pytest

from studio.capture.sources import SourceError, VideoSource, open_source


def test_demo_is_a_moving_person():
    src = open_source("demo", size=(640, 360))
    a, b = src.read(), None
    for _ in range(15):
        b = src.read()
    assert a.shape == (360, 640, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # gentle motion
    from studio.segment.segmenter import Segmenter
    assert Segmenter("full")(a).mask.mean() > 0.15  # a real person is in it


def test_video_loops_when_live(data_dir):
    clip = sorted((data_dir / "webcam-clips/videos").iterdir())[0]
    src = VideoSource(str(clip), loop=True)
    n = src.frame_count
    frames = [src.read() for _ in range(n + 5)]
    assert frames[-1].shape == (480, 640, 3)
    once = VideoSource(str(clip), loop=False)
    with pytest.raises(EOFError):
        for _ in range(n + 5):
            once.read()


@pytest.mark.parametrize("spec,msg", [
    ("/no/such/file.mp4", "not found"), ("camera:/dev/video99", "does not exist"), ("weird:thing", "unknown"),
])
def test_source_failures_are_clear(spec, msg):
    with pytest.raises(SourceError, match=msg):
        open_source(spec)


def test_corrupt_video(tmp_path):
    p = tmp_path / "broken.mp4"
    p.write_bytes(b"\x00" * 5000)
    with pytest.raises(SourceError, match="cannot decode"):
        open_source(str(p))


def test_corrupt_image(tmp_path):
    p = tmp_path / "broken.png"
    p.write_bytes(b"not a png")
    with pytest.raises(SourceError, match="cannot read image"):
        open_source(str(p))
