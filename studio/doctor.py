"""`backdrop doctor`: can a virtual camera work on this machine? One check per line, each failure with its fix.

Everything is read from files (/sys, /proc, /dev, the EFI variables) under `root`, so the tests run every case
against fake trees; nothing is changed. The verdict (`ok`) is true only when `vcam` would work: the v4l2loopback
module loaded, a loopback device this user can write, and pyvirtualcam importable."""
from __future__ import annotations

import os
import platform
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.capture.modes import choose_mode, query_info, query_modes, summary

MODPROBE = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=Backdrop"
SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"


@dataclass
class Check:
    name: str
    status: str          # "ok", "fail" (vcam cannot work), "warn" (works, but some apps will not see it), "info"
    message: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "info": "info"}[self.status]
        return f"[{mark}] {self.name}: {self.message}" + (f" -> {self.fix}" if self.fix else "")


@dataclass
class Machine:
    """What the checks read: a root folder (a fake tree in tests), this user's ids, kernel and environment."""
    root: Path = Path("/")
    uid: int = -1
    groups: tuple = ()
    kernel: str = ""
    env: dict | None = None
    ioctl: object = None     # how cameras are asked for their modes (tests: a fake V4L2 driver)

    def __post_init__(self):
        self.root = Path(self.root)
        if self.uid < 0:
            self.uid = os.getuid() if hasattr(os, "getuid") else 0
            self.groups = tuple(os.getgroups()) if hasattr(os, "getgroups") else ()
        self.kernel = self.kernel or platform.release()
        self.env = dict(os.environ) if self.env is None else self.env

    def p(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""


def _devices(m: Machine) -> list[tuple[str, str, bool]]:
    """(/dev/videoN, name, is_loopback) per video4linux node; a loopback device has no physical `device`."""
    out = []
    base = m.p("/sys/class/video4linux")
    for d in sorted(base.glob("video*"), key=lambda x: int(x.name[5:]) if x.name[5:].isdigit() else 1 << 30):
        out.append((f"/dev/{d.name}", _read(d / "name"), not (d / "device").exists()))
    return out


def _writable(m: Machine, dev: str) -> tuple[bool, str]:
    try:
        st = m.p(dev).stat()
    except OSError:
        return False, f"{dev} does not exist"
    mode = st.st_mode
    ok = (m.uid == 0 or (st.st_uid == m.uid and mode & stat.S_IWUSR) or
          (st.st_gid in m.groups and mode & stat.S_IWGRP) or mode & stat.S_IWOTH)
    return bool(ok), f"{dev} is not writable by this user (owner {st.st_uid}, group {st.st_gid}, mode {mode & 0o777:o})"


def _holders(m: Machine) -> dict[str, list[str]]:
    """/dev node -> ["name (pid N)"] of the processes that hold it open."""
    out: dict[str, list[str]] = {}
    for proc in m.p("/proc").glob("[0-9]*"):
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("/dev/video"):
                who = f"{_read(proc / 'comm') or '?'} (pid {proc.name})"
                if who not in out.setdefault(target, []):
                    out[target].append(who)
    return out


def _secure_boot(m: Machine) -> bool | None:
    var = m.p(f"/sys/firmware/efi/efivars/{SECURE_BOOT_VAR}")
    try:
        data = var.read_bytes()
    except OSError:
        return None
    return len(data) >= 5 and data[4] == 1


def _module_checks(m: Machine) -> tuple[list[Check], bool]:
    mod = m.p("/sys/module/v4l2loopback")
    if mod.is_dir():
        ver = _read(mod / "version")
        checks = [Check("v4l2loopback", "ok", "module loaded" + (f" (version {ver})" if ver else ""))]
        params = mod / "parameters"
        caps = _read(params / "exclusive_caps")
        if not caps or not all(v in ("Y", "1") for v in caps.split(",") if v):
            checks.append(Check("exclusive_caps", "warn", f"exclusive_caps={caps or 'unset'}: Chrome, Edge, "
                                "Teams and other Chromium-based apps will not list the camera",
                                f"sudo modprobe -r v4l2loopback && {MODPROBE}"))
        else:
            checks.append(Check("exclusive_caps", "ok", f"exclusive_caps={caps} (Chromium-based apps see it)"))
        label = _read(params / "card_label")
        checks.append(Check("card_label", "info", f"card_label={label}" if label else
                            "no card_label: apps show a generic name", "" if label else MODPROBE))
        return checks, True
    lib = m.p(f"/lib/modules/{m.kernel}")
    installed = any(lib.rglob("v4l2loopback.ko*")) if lib.is_dir() else False
    checks = [Check("v4l2loopback", "fail", "installed but not loaded" if installed else
                    f"module not installed for kernel {m.kernel}",
                    MODPROBE if installed else
                    f"sudo apt install v4l2loopback-dkms (Fedora: sudo dnf install akmod-v4l2loopback), "
                    f"then {MODPROBE}")]
    sb = _secure_boot(m)
    if sb:
        checks.append(Check("secure boot", "fail", "Secure Boot is on: the kernel refuses unsigned modules, so "
                            "modprobe fails with 'Key was rejected by service'",
                            "enrol the DKMS signing key: sudo mokutil --import /var/lib/dkms/mok.pub, reboot and "
                            "confirm in the blue MOK screen (or turn Secure Boot off)"))
    elif sb is False:
        checks.append(Check("secure boot", "ok", "Secure Boot is off: an unsigned module can load"))
    return checks, False


def _device_checks(m: Machine, loaded: bool) -> tuple[list[Check], bool]:
    devs = _devices(m)
    loops = [(d, n) for d, n, lb in devs if lb]
    cams = [(d, n) for d, n, lb in devs if not lb]
    checks, usable = [], False
    if not loops:
        checks.append(Check("loopback device", "fail", "no loopback video device",
                            MODPROBE if loaded else "load the module (above)"))
    for dev, name in loops:
        ok, why = _writable(m, dev)
        usable |= ok
        checks.append(Check("loopback device", "ok" if ok else "fail",
                            f"{dev} '{name}' is a loopback output" + ("" if ok else f"; {why}"),
                            "" if ok else "sudo usermod -aG video $USER, then log out and in again"))
    holders = _holders(m)
    shown = 0
    for dev, name in cams:
        info = query_info(m.p(dev), m.ioctl)
        if info is not None and not info.capture:
            checks.append(Check("camera", "info", f"{dev} '{name}' carries metadata only (a camera's second "
                                "node): not a source"))
            continue
        shown += 1
        who = holders.get(dev, [])
        checks.append(Check("camera", "warn" if who else "ok", f"{dev} '{name}' is a camera" +
                            (f", in use by {', '.join(who)}" if who else ", free"),
                            "close that program, or pick another camera with --source camera:/dev/videoN"
                            if who else ""))
        checks.append(_modes_check(m, dev))
    if not shown:
        checks.append(Check("camera", "info", "no camera found (vcam can still send a file or the demo)"))
    return checks, usable


def _modes_check(m: Machine, dev: str) -> Check:
    """What the camera offers and the mode vcam and the studio open (at the default 1280x720, 30 fps)."""
    modes = query_modes(m.p(dev), m.ioctl)
    if not modes:
        return Check("camera modes", "info", f"{dev}: its modes could not be read (busy, or no permission)")
    pick = choose_mode(modes)
    text = f"{dev}: {summary(modes)}; vcam and the studio open {pick.spec()}"
    if pick.size != (1280, 720) or pick.fps < 29.5:
        return Check("camera modes", "warn", text + " (no 1280x720 at 30 fps: vcam scales and centre-crops it to "
                     "--size; the studio runs at the camera's size)",
                     "choose another with `vcam --camera-mode`, or in the studio's Source panel")
    return Check("camera modes", "info", text)


def run_checks(m: Machine | None = None) -> dict:
    """{"ok": vcam would work, "checks": [Check...]}"""
    m = m or Machine()
    if not platform.system() == "Linux" and m.root == Path("/"):
        checks = [_backend_check()]
        return {"ok": checks[0].status == "ok", "checks": checks}
    checks, loaded = _module_checks(m)
    dev_checks, usable = _device_checks(m, loaded)
    checks += dev_checks
    backend = _backend_check()
    checks.append(backend)
    if m.env.get("XDG_SESSION_TYPE") == "wayland" or m.env.get("WAYLAND_DISPLAY"):
        checks.append(Check("wayland", "info", "Wayland session: Firefox may ask the PipeWire camera portal and "
                            "not list loopback devices", "in about:config set "
                            "media.webrtc.camera.allow-pipewire to false"))
    return {"ok": loaded and usable and backend.status == "ok", "checks": checks}


def _backend_check() -> Check:
    try:
        import pyvirtualcam
    except ImportError:
        return Check("pyvirtualcam", "fail", "not installed", "pip install pyvirtualcam")
    backend = {"Linux": "v4l2loopback", "Windows": "OBS Virtual Camera", "Darwin": "OBS Virtual Camera"}.get(
        platform.system(), "none")
    return Check("pyvirtualcam", "ok", f"version {getattr(pyvirtualcam, '__version__', '?')}, backend {backend}")


def report(result: dict) -> dict:
    return {"ok": result["ok"], "checks": [asdict(c) for c in result["checks"]]}
