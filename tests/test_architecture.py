"""The core stays importable without Qt widgets: studio/ never imports ui/ or any Qt GUI module."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_core_has_no_qt_and_no_ui():
    bad = []
    for py in (ROOT / "studio").rglob("*.py"):
        for mod in _imports(py):
            if mod == "ui" or mod.startswith("ui.") or mod.startswith(("PySide6", "PyQt", "pyqtgraph")):
                if not (py.name == "cli.py" and mod == "ui.app"):  # the one door: `backdrop studio`
                    bad.append(f"{py.relative_to(ROOT)} imports {mod}")
    assert not bad, bad


def test_core_imports_without_qt():
    import subprocess
    import sys

    code = ("import sys, studio.cli, studio.pipeline, studio.cpu_renderer, studio.gl_renderer, studio.vcam, "
            "studio.render_cmd, studio.bench, studio.evaluate; "
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'ui'))], 'Qt loaded'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
