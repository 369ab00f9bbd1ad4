"""The house's shape: import-linter contracts (pyproject.toml) and a core that works where Qt cannot load."""
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts():
    """The core never imports Qt or ui; commands > pipeline > stages > foundations (lint-imports)."""
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0 and "2 kept, 0 broken" in r.stdout, r.stdout[-3000:] + r.stderr


# An import hook that makes Qt impossible to import, as on a headless server without it
_NO_QT = """
import sys
class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'ui'):
            raise ImportError('Qt is not available here')
sys.meta_path.insert(0, NoQt())
from studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_render_and_vcam_run_where_qt_cannot_be_imported(tmp_path, data_dir):
    img = data_dir / "stock-people/images/girl-919048_1280.jpg"
    out = tmp_path / "out.png"
    r = subprocess.run([sys.executable, "-c", _NO_QT, "render", str(img), "-o", str(out), "--renderer", "cpu"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and out.stat().st_size > 10000, r.stderr
    r = subprocess.run([sys.executable, "-c", _NO_QT, "vcam", "--source", "demo", "--size", "320x180", "--frames",
                        "5", "--output", "-", "--renderer", "cpu"], capture_output=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    body = r.stdout.split(b"\n", 1)[1]
    frames = np.frombuffer(body, np.uint8).reshape(5, 6 + 320 * 180 * 3 // 2)
    assert (frames[:, :6] == np.frombuffer(b"FRAME\n", np.uint8)).all()
    r = subprocess.run([sys.executable, "-c", _NO_QT, "studio", "--frames", "1"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    err = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode == 2 and len(err) == 1 and "needs Qt (PySide6)" in err[0], r.stderr  # the hook blocks Qt
