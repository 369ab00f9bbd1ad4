"""Starting the studio: GL/Qt environment, the window, screenshot runs, Ctrl+C."""
from __future__ import annotations

import json
import os
import signal
import sys
import time



def prepare_environment() -> None:
    """On Linux, Qt on X11 through EGL so PyOpenGL (EGL platform) and Qt share one GL loader; elsewhere Qt's own
    context (see studio.platform.gl_platform)."""
    from studio.platform import bind_gl_platform

    if bind_gl_platform() == "egl" and os.environ.get("QT_QPA_PLATFORM", "xcb").startswith("xcb"):
        os.environ.setdefault("QT_XCB_GL_INTEGRATION", "xcb_egl")


def install_close_on_signals(win):
    """Ctrl+C, SIGTERM and SIGHUP close the window as its close button does.

    Python runs a signal handler between any two bytecodes of the GUI thread, often inside paintGL: closing the
    window there freed the GL context under Qt's own render call and segfaulted in QOpenGLContext::functions()
    (2 of 8 runs, 7 of 12 with a replacement background). The handler only queues the close for the event loop,
    which runs closeEvent (stop workers, release GL, save settings) with nothing on the stack."""
    from PySide6.QtCore import QTimer

    def handler(_signum, _frame):
        QTimer.singleShot(0, win.close)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and (name == "SIGINT" or signal.getsignal(sig) is not signal.SIG_IGN):
            signal.signal(sig, handler)
    return handler


SCREENSHOT_EXT = (".png", ".jpg", ".jpeg", ".bmp")


def check_screenshot_target(path: str) -> None:
    from pathlib import Path

    from studio import StudioError, printable
    from studio.atomic import check_target

    check_target(path)
    if Path(path).suffix.lower() not in SCREENSHOT_EXT:
        raise StudioError(f"screenshot {printable(path, 120)} must be one of {', '.join(SCREENSHOT_EXT)}")


def save_screenshot(win, path: str) -> None:
    """The window as an image, written atomically (a failed save leaves an older screenshot as it was)."""
    from pathlib import Path

    from PySide6.QtCore import QBuffer, QIODevice

    from studio import StudioError
    from studio.atomic import write_bytes

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    fmt = Path(path).suffix.lower().lstrip(".").replace("jpeg", "jpg").upper()
    if not win.grab().save(buf, fmt):
        raise StudioError(f"cannot encode the screenshot as {fmt}")
    write_bytes(path, bytes(buf.data()))


def _script(win, args, failure: list) -> None:
    """A scripted run (--frames N): draw N frames, save the screenshot, print one JSON line, close. A source
    that fails is an error here (no one watches the fault bar); failures are appended to `failure`."""
    from PySide6.QtCore import QTimer

    from studio import StudioError, printable
    from studio.platform import process_age

    t0, cpu_t0 = time.perf_counter(), time.process_time()

    def fail(message) -> None:
        if not failure:
            print(f"backdrop: error: {printable(message)}", file=sys.stderr, flush=True)
        failure.append(str(message))
        QTimer.singleShot(0, win.close)

    def on_frame(n):
        if n == 1:
            win._first_frame_s = process_age()
        if n == 10:
            win._t_measure = (time.perf_counter(), n, time.process_time())
        if n < args.frames:
            return
        win.frames_drawn.disconnect(on_frame)
        t_start, n0, cpu0 = getattr(win, "_t_measure", (t0, 0, cpu_t0))
        wall = max(1e-6, time.perf_counter() - t_start)
        fps = (n - n0) / wall
        cpu = time.process_time() - cpu0      # the whole process: every thread, Qt and the GL driver's too
        # frames_drawn comes from inside the preview's paint event: grabbing the window there repaints it
        # recursively (Qt warns and skips it), so the rest runs once the event loop is back
        QTimer.singleShot(0, lambda: finish(n, fps, wall, cpu, n0))

    def finish(n, fps, wall, cpu, n0) -> None:
        if args.screenshot:
            try:
                save_screenshot(win, args.screenshot)
            except StudioError as e:
                fail(e)
        output = {}
        if getattr(args, "output", None):
            w = win.output.worker
            output = {"output_fps": round(w.fps(), 2) if w else 0.0, "output_dropped": win.output.dropped,
                      "output_frames": w.sent if w else 0}
        print(json.dumps({"frames": n, "fps": round(fps, 2), "latency_ms_p95": round(win.latency_p95(), 2),
                          "cpu_ms_per_frame": round(cpu * 1e3 / max(1, n - n0), 2),
                          "core_percent": round(100 * cpu / wall, 1),
                          "first_frame_s": round(getattr(win, "_first_frame_s", 0.0), 3),
                          "gui_stall_ms_p95": round(win.gui_stall_p95(), 2),
                          "screenshot": args.screenshot, **output}), flush=True,
              file=sys.stderr if getattr(args, "output", None) == "-" else sys.stdout)   # stdout is the stream
        win.close()

    win.source_failed.connect(fail)
    if getattr(args, "output", None):
        win.output.failed.connect(fail)   # a scripted run with an output that fails is an error
    win.frames_drawn.connect(on_frame)


def run_studio(args) -> int:
    prepare_environment()
    from PySide6.QtGui import QSurfaceFormat

    fmt = QSurfaceFormat()
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setSwapInterval(0 if args.screenshot else 1)
    QSurfaceFormat.setDefaultFormat(fmt)  # before the QApplication exists

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from studio import StudioError
    from studio.segment.models import check_installed
    from ui.main_window import MainWindow

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and \
            os.environ.get("QT_QPA_PLATFORM") is None:
        raise StudioError("no display found: run under a desktop session or `xvfb-run -a backdrop studio`")
    check_installed()  # says which model is missing or corrupt, and how to repair it
    if args.screenshot:
        check_screenshot_target(args.screenshot)
    if getattr(args, "output", None):
        from studio.output import check_output_target

        check_output_target(args.output)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Backdrop Studio")
    app.setDesktopFileName("io.github.backdrop_studio.Studio")
    from PySide6.QtGui import QIcon

    from studio.paths import data_dir

    app.setWindowIcon(QIcon(str(data_dir("resources") / "icons" / "backdrop.svg")))
    win = MainWindow(source=args.source, preset=args.preset)
    win.resize(1280, 720)  # measured: 27 fps under Xvfb + llvmpipe at this size, 15 fps at 1600x900
    win.show()
    install_close_on_signals(win)
    if getattr(args, "output", None):
        win.start_output(args.output)
    keepalive = QTimer(interval=200)  # lets Python run its signal handlers
    keepalive.timeout.connect(lambda: None)
    keepalive.start()
    failure: list[str] = []
    if args.frames:
        _script(win, args, failure)
    rc = app.exec()
    win.stop_threads()
    return 2 if failure else rc
