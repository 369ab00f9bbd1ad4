"""imageops.shrink: the downscale of every frame larger than where it goes (a 1080p source for a 720p output,
the window's preview, a VGA camera for the model), against INTER_AREA, which it replaces for its cost."""
import cv2
import numpy as np
import pytest

from studio.imageops import downscale, enlarge, fit_cover, shrink


@pytest.fixture(scope="module")
def detailed(data_dir, portrait):
    """720p pictures with fine detail (railings, window frames, foliage) and a portrait."""
    out = [portrait]
    for name in ("pixabay_architecture-5082700_1280.jpg", "pixabay_porch-691330_1280.jpg"):
        img = cv2.imread(str(data_dir / "backgrounds" / name))
        out.append(fit_cover(img, 1280, 720))
    return out


def _zone_plate(w=1280, h=720):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    z = (127.5 + 127.5 * np.cos(np.pi * ((x - w / 2) ** 2 + (y - h / 2) ** 2) / w)).astype(np.uint8)
    return cv2.merge([z, z, z])


@pytest.mark.parametrize("dst", [(1200, 675), (1010, 568), (752, 423), (660, 371)])
def test_shrink_is_close_to_a_box_filter_under_2x(detailed, dst):
    for img in detailed:
        got = shrink(img, *dst)
        assert got.shape == (dst[1], dst[0], 3) and got.dtype == np.uint8
        diff = np.abs(got.astype(np.float32) - cv2.resize(img, dst, interpolation=cv2.INTER_AREA))
        assert diff.mean() < 1.5 and np.percentile(diff, 99) < 16, (dst, diff.mean(), np.percentile(diff, 99))


@pytest.mark.parametrize("src,dst", [((1280, 720), (560, 315)), ((1280, 720), (256, 256)), ((1280, 720), (320, 176)),
                                     ((1921, 1081), (1279, 719)), ((3840, 2160), (1280, 720)),
                                     ((640, 480), (256, 144))])
def test_shrink_sizes_and_larger_ratios(detailed, src, dst):
    """Beyond 2x the halving boxes make it a little softer than INTER_AREA's box, never more aliased."""
    for img in detailed:
        img = cv2.resize(img, src, interpolation=cv2.INTER_CUBIC)
        got = shrink(img, *dst)
        assert got.shape == (dst[1], dst[0], 3)
        diff = np.abs(got.astype(np.float32) - cv2.resize(img, dst, interpolation=cv2.INTER_AREA))
        assert diff.mean() < 3.0 and np.percentile(diff, 99) < 32, (src, dst, diff.mean(), np.percentile(diff, 99))


@pytest.mark.parametrize("w", [1010, 752, 660])
def test_shrink_leaves_no_more_aliasing_than_a_box_filter(w):
    """A zone plate (rings finer towards the edges) scaled down: what is left of the rings finer than the
    output can hold, against an ideal (the plate blurred past them). Bilinear alone leaves 1.15-1.7x the box
    filter's aliasing here (43, 50, 52 against 38, 34, 31); shrink's pre-filter brings it to the box's."""
    h = round(w * 9 / 16)
    zp = _zone_plate()
    ideal = cv2.resize(cv2.GaussianBlur(zp, (0, 0), 0.9 * 1280 / w), (w, h), interpolation=cv2.INTER_LINEAR)

    def err(img):
        return float(np.abs(img.astype(np.float32) - ideal).mean())

    box = err(cv2.resize(zp, (w, h), interpolation=cv2.INTER_AREA))
    bilinear = err(cv2.resize(zp, (w, h), interpolation=cv2.INTER_LINEAR))
    assert err(shrink(zp, w, h)) <= 1.05 * box < bilinear


def test_the_callers_scale_down_through_shrink(portrait):
    big = cv2.resize(portrait, (1920, 1080), interpolation=cv2.INTER_AREA)
    assert np.array_equal(fit_cover(big, 1280, 720), shrink(big, 1280, 720))
    vga = cv2.resize(portrait, (640, 480), interpolation=cv2.INTER_AREA)
    assert np.array_equal(downscale(vga, 320, 176), shrink(vga, 320, 176))
    assert shrink(vga, 640, 480) is vga
    mask = np.random.default_rng(0).random((480, 640)).astype(np.float32)   # one channel, float: as well
    assert shrink(mask, 320, 176).shape == (176, 320)


def test_enlarge_is_bilinear_at_pixel_centres(detailed):
    """enlarge (warpAffine) draws INTER_LINEAR's picture, clamped to the edge, within one grey level: on black
    and white noise at random sizes and ratios (the hardest case for its 1/32-pixel sample grid), one and three
    channels, and on photos scaled as the sinks scale a smaller frame (mean under 0.15)."""
    rng = np.random.default_rng(3)
    for i in range(120):
        sw, sh = int(rng.integers(2, 400)), int(rng.integers(2, 300))
        w, h = int(sw * rng.uniform(1.0, 3.0)) + 1, int(sh * rng.uniform(1.0, 3.0)) + 1
        src = (rng.random((sh, sw)) > 0.5).astype(np.uint8) * 255
        if i % 2:
            src = np.ascontiguousarray(np.dstack([src, src[::-1], src[:, ::-1]]))
        want = cv2.resize(src, (w, h), interpolation=cv2.INTER_LINEAR)
        got = enlarge(src, w, h)
        assert got.shape == want.shape and got.dtype == np.uint8
        assert np.abs(got.astype(int) - want).max() <= 1, (sw, sh, w, h)
    for img in detailed:
        small = shrink(img, 960, 540)
        want = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_LINEAR)
        dst = np.empty_like(want)
        assert enlarge(small, 1280, 720, dst=dst) is dst
        d = np.abs(dst.astype(int) - want)
        assert d.max() <= 1 and d.mean() < 0.15


def test_enlarge_leaves_the_images_warpaffine_is_coarse_on_to_inter_linear():
    """Two or five channels, float64: warpAffine samples them on a 1/32-pixel grid (7-8 grey levels off on
    noise), so enlarge hands them to INTER_LINEAR itself: the same bytes."""
    rng = np.random.default_rng(4)
    for img in ((rng.random((37, 53, 2)) > 0.5).astype(np.uint8) * 255,
                (rng.random((37, 53, 5)) > 0.5).astype(np.uint8) * 255, rng.random((37, 53))):
        assert np.array_equal(enlarge(img, 101, 67), cv2.resize(img, (101, 67), interpolation=cv2.INTER_LINEAR))
