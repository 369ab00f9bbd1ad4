#!/usr/bin/env bash
# Build the one-folder desktop app into dist/backdrop-studio and report its size and time to first frame.
# Usage: bash packaging/build.sh        (after `make test` or `make run` has created .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run 'make test' or 'make run' first (creates .venv)"; exit 1; }
"$PY" -m pip install -q "pyinstaller>=6.6"
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/backdrop.spec
echo "build took $(( $(date +%s) - start )) s"
# desktop integration files next to the app (install them under ~/.local/share to get a menu entry)
mkdir -p dist/backdrop-studio/share/applications dist/backdrop-studio/share/metainfo \
         dist/backdrop-studio/share/icons/hicolor/scalable/apps
cp packaging/linux/io.github.backdrop_studio.Studio.desktop dist/backdrop-studio/share/applications/
cp packaging/linux/io.github.backdrop_studio.Studio.metainfo.xml dist/backdrop-studio/share/metainfo/
cp resources/icons/backdrop.svg dist/backdrop-studio/share/icons/hicolor/scalable/apps/io.github.backdrop_studio.Studio.svg
du -sh dist/backdrop-studio
APP=dist/backdrop-studio/backdrop-studio
"$APP" --version
if command -v xvfb-run >/dev/null; then
  xvfb-run -a -s "-screen 0 1920x1080x24" "$APP" studio --source demo --frames 30 --screenshot build/bundle-shot.png
fi
