# Two commands do everything on a fresh machine:  `make run`  and  `make test`.
# Both create .venv, install the pip and apt packages, and fetch the models (each step only when needed).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PKGS := xvfb xauth libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libglx-mesa0 libgles2 libgbm1 \
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
  libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0 libxcb-xfixes0 libxcb-sync1 \
  libdbus-1-3 libfontconfig1 libglib2.0-0 ffmpeg
STAMP := $(VENV)/.installed

.PHONY: run test setup apt models kernels bench bench-peer clean

setup: apt $(STAMP) models kernels

apt:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/backdrop models fetch

# numba compiles the CPU kernels on first use and keeps them on disk: compiled here, the window's first start shows
# its first frame in about a second, not 14 (this 2-core machine); under a second when they are already compiled
kernels: $(STAMP)
	$(BIN)/python -c "from studio.render import cpu; from studio.segment import reuse; cpu.warmup(); reuse.SegmentOnChange()"

run: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(BIN)/backdrop; \
	else echo "no display: running the studio on a virtual screen (Xvfb) for 300 frames"; \
	  xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/backdrop studio --source demo --frames 300 --screenshot studio.png; fi

test: setup
	xvfb-run -a -s "-screen 0 1920x1080x24" $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py

# The recipe most users would write (MediaPipe Tasks + OpenCV), in its own virtual environment so mediapipe
# never becomes a dependency; CPU per frame at 720p30 beside ours, as a ratio.
PEER := .venv-peer
bench-peer: setup
	test -x $(PEER)/bin/python || $(PY) -m venv $(PEER)
	$(PEER)/bin/python -c "import mediapipe" 2>/dev/null || $(PEER)/bin/python -m pip install -q "mediapipe==0.10.14"
	$(BIN)/python benchmarks/run.py --peer

clean:
	rm -rf $(VENV) $(PEER) build dist *.egg-info
