import os
from pathlib import Path

import studio  # noqa: F401  (first, as in the `backdrop` command: it sets OpenCV's image-size limit)
import cv2
import numpy as np
import pytest

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path(os.environ.get("BACKDROP_TEST_DATA", "/work/shared/data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    assert DATA.is_dir(), f"test data not found at {DATA}"
    return DATA


@pytest.fixture(scope="session")
def portrait(data_dir) -> np.ndarray:
    img = cv2.imread(str(data_dir / "stock-people/images/girl-919048_1280.jpg"))
    assert img is not None
    return cv2.resize(img, (1280, 720), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def background(data_dir) -> np.ndarray:
    img = cv2.imread(str(data_dir / "backgrounds/pixabay_porch-691330_1280.jpg"))
    assert img is not None
    return img


@pytest.fixture(scope="session")
def gl_context():
    from studio.render.egl import EglContext

    ctx = EglContext()
    yield ctx
    ctx.close()


@pytest.fixture(autouse=True)
def _gl_no_error(request):
    """Every test that draws with GL leaves no GL error behind (moderngl's guard)."""
    if "gl_context" not in request.fixturenames:
        yield
        return
    from OpenGL import GL

    request.getfixturevalue("gl_context").make_current()
    assert GL.glGetError() == GL.GL_NO_ERROR, "a GL error was pending before the test"
    yield
    request.getfixturevalue("gl_context").make_current()
    assert GL.glGetError() == GL.GL_NO_ERROR
