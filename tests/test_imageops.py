"""imageops.shrink: the downscale of every frame larger than where it goes (a 1080p source for a 720p output,
the window's preview, a VGA camera for the model), against INTER_AREA, which it replaces for its cost."""
import cv2
import numpy as np
import pytest

from studio.imageops import downscale, fit_cover, shrink


@pytest.mark.parametrize("src,dst", [((1920, 1080), (1280, 720)), ((1280, 720), (900, 506)),
                                     ((1280, 720), (560, 315)), ((640, 480), (320, 176)),
                                     ((1921, 1081), (1279, 719)), ((1280, 720), (640, 360)),
                                     ((3840, 2160), (1280, 720)), ((1280, 720), (256, 256)),
                                     ((640, 480), (256, 144))])
def test_shrink_is_close_to_a_box_filter_on_a_photo(portrait, src, dst):
    img = cv2.resize(portrait, src, interpolation=cv2.INTER_AREA)
    got = shrink(img, *dst)
    assert got.shape == (dst[1], dst[0], 3) and got.dtype == np.uint8
    ref = cv2.resize(img, dst, interpolation=cv2.INTER_AREA).astype(np.float32)
    diff = np.abs(got.astype(np.float32) - ref)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) < 12, (diff.mean(), np.percentile(diff, 99))


def test_shrink_filters_rather_than_picks():
    """One-pixel stripes at 1080p for 720p: INTER_NEAREST keeps full-contrast stripes (aliasing at its worst),
    a box filter (INTER_AREA) flattens most of it; shrink must be far nearer the box than the pick."""
    row = (np.arange(1920) % 2 * 255).astype(np.uint8)
    img = np.repeat(np.tile(row, (1080, 1))[..., None], 3, axis=2)
    spread = {name: float(f(img)[..., 0].std()) for name, f in (
        ("nearest", lambda i: cv2.resize(i, (1280, 720), interpolation=cv2.INTER_NEAREST)),
        ("area", lambda i: cv2.resize(i, (1280, 720), interpolation=cv2.INTER_AREA)),
        ("shrink", lambda i: shrink(i, 1280, 720)))}
    assert spread["shrink"] < 0.55 * spread["nearest"], spread
    assert spread["area"] < spread["nearest"]


def test_the_callers_scale_down_through_shrink(portrait):
    big = cv2.resize(portrait, (1920, 1080), interpolation=cv2.INTER_AREA)
    assert np.array_equal(fit_cover(big, 1280, 720), shrink(big, 1280, 720))
    vga = cv2.resize(portrait, (640, 480), interpolation=cv2.INTER_AREA)
    assert np.array_equal(downscale(vga, 320, 176), shrink(vga, 320, 176))
    assert np.array_equal(shrink(vga, 640, 480), vga)
    mask = np.random.default_rng(0).random((480, 640)).astype(np.float32)   # one channel, float: as well
    assert shrink(mask, 320, 176).shape == (176, 320)
