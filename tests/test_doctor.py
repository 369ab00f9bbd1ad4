"""`backdrop doctor` against fake /sys, /proc and /dev trees (no v4l2loopback module can load in this sandbox:
the trees are laid out as the kernel lays them out), plus one real run here."""
import json
import os
import subprocess
import sys

from studio import doctor

KERNEL = "6.1.0-test"
ME, VIDEO = 1000, 44


def tree(tmp_path, *, loaded=True, installed=True, caps="Y", label="Backdrop", loop_mode=0o660,
         loop_gid=VIDEO, camera=True, busy=False, secure_boot=None, loopback=True):
    r = tmp_path / "root"
    (r / "proc").mkdir(parents=True)
    (r / "dev").mkdir()
    if installed:
        ko = r / f"lib/modules/{KERNEL}/updates/dkms/v4l2loopback.ko.zst"
        ko.parent.mkdir(parents=True)
        ko.write_bytes(b"")
    if loaded:
        params = r / "sys/module/v4l2loopback/parameters"
        params.mkdir(parents=True)
        (r / "sys/module/v4l2loopback/version").write_text("0.12.7\n")
        (params / "exclusive_caps").write_text(caps + "\n")
        (params / "card_label").write_text(label + "\n")
    v4l = r / "sys/class/video4linux"
    v4l.mkdir(parents=True)
    if camera:
        (v4l / "video0/device").mkdir(parents=True)        # a real camera has a physical device
        (v4l / "video0/name").write_text("HD Pro Webcam C920\n")
        (r / "dev/video0").write_bytes(b"")
    if loaded and loopback:
        (v4l / "video10").mkdir()
        (v4l / "video10/name").write_text(label + "\n")
        dev = r / "dev/video10"
        dev.write_bytes(b"")
        os.chmod(dev, loop_mode)
        os.chown(dev, 0, loop_gid)
    if busy:
        (r / "proc/4242/fd").mkdir(parents=True)
        (r / "proc/4242/comm").write_text("zoom\n")
        os.symlink("/dev/video0", r / "proc/4242/fd/17")
    if secure_boot is not None:
        var = r / f"sys/firmware/efi/efivars/{doctor.SECURE_BOOT_VAR}"
        var.parent.mkdir(parents=True)
        var.write_bytes(b"\x06\x00\x00\x00" + (b"\x01" if secure_boot else b"\x00"))
    return r


def run(root, uid=ME, groups=(VIDEO,), env=None):
    res = doctor.run_checks(doctor.Machine(root=root, uid=uid, groups=groups, kernel=KERNEL, env=env or {}))
    return res["ok"], {(c.name, c.status): c for c in res["checks"]}


def test_everything_in_place(tmp_path):
    ok, checks = run(tree(tmp_path))
    assert ok
    assert ("v4l2loopback", "ok") in checks and "0.12.7" in checks["v4l2loopback", "ok"].message
    assert "/dev/video10 'Backdrop' is a loopback output" in checks["loopback device", "ok"].message
    assert "/dev/video0 'HD Pro Webcam C920' is a camera, free" == checks["camera", "ok"].message
    assert ("exclusive_caps", "ok") in checks and ("pyvirtualcam", "ok") in checks


def test_module_missing(tmp_path):
    ok, checks = run(tree(tmp_path, loaded=False, installed=False))
    assert not ok
    c = checks["v4l2loopback", "fail"]
    assert "not installed" in c.message and "apt install v4l2loopback-dkms" in c.fix and "exclusive_caps=1" in c.fix
    assert checks["loopback device", "fail"].fix


def test_module_installed_not_loaded(tmp_path):
    ok, checks = run(tree(tmp_path, loaded=False))
    assert not ok and checks["v4l2loopback", "fail"].fix == doctor.MODPROBE


def test_secure_boot_rejecting_the_module(tmp_path):
    ok, checks = run(tree(tmp_path, loaded=False, secure_boot=True))
    assert not ok and "mokutil --import" in checks["secure boot", "fail"].fix
    _, checks = run(tree(tmp_path / "b", loaded=False, secure_boot=False))
    assert ("secure boot", "ok") in checks


def test_chrome_needs_exclusive_caps(tmp_path):
    ok, checks = run(tree(tmp_path, caps="N"))
    assert ok   # vcam works; Chromium-based apps will not list it
    assert "Chromium" in checks["exclusive_caps", "warn"].message and "exclusive_caps=1" in checks[
        "exclusive_caps", "warn"].fix


def test_device_not_writable_by_this_user(tmp_path):
    ok, checks = run(tree(tmp_path), groups=())
    assert not ok and "usermod -aG video" in checks["loopback device", "fail"].fix
    ok, _ = run(tree(tmp_path / "w", loop_mode=0o666), groups=())
    assert ok


def test_loaded_without_devices(tmp_path):
    ok, checks = run(tree(tmp_path, loopback=False))
    assert not ok and checks["loopback device", "fail"].fix == doctor.MODPROBE


def test_camera_held_by_another_program(tmp_path):
    ok, checks = run(tree(tmp_path, busy=True))
    assert ok and "in use by zoom (pid 4242)" in checks["camera", "warn"].message


def test_wayland_note(tmp_path):
    _, checks = run(tree(tmp_path), env={"XDG_SESSION_TYPE": "wayland"})
    assert "allow-pipewire" in checks["wayland", "info"].fix
    _, checks = run(tree(tmp_path / "x11"), env={"XDG_SESSION_TYPE": "x11"})
    assert ("wayland", "info") not in checks


def test_cli_here_and_on_a_fake_tree(tmp_path):
    r = subprocess.run([sys.executable, "-m", "studio", "doctor"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "[FAIL] v4l2loopback" in r.stdout   # no module in this sandbox
    assert r.stdout.strip().splitlines()[-1].startswith("vcam cannot")
    good = tree(tmp_path)
    r = subprocess.run([sys.executable, "-m", "studio", "doctor", "--json", "--root", str(good)],
                       capture_output=True, text=True, timeout=60)
    doc = json.loads(r.stdout)
    assert {"ok", "checks"} <= set(doc) and all({"name", "status", "message", "fix"} <= set(c) for c in doc["checks"])
    assert r.returncode == 0 and doc["ok"] is True and r.stderr.strip() == ""   # exit 0 only when vcam would work


def _with_metadata_node(root):
    v4l = root / "sys/class/video4linux"
    (v4l / "video1/device").mkdir(parents=True)
    (v4l / "video1/name").write_text("HD Pro Webcam C920\n")
    (root / "dev/video1").write_bytes(b"")
    return root


def test_camera_modes_and_the_one_opened(tmp_path):
    """Each camera's modes through a fake V4L2 driver (the kernel's structures; no camera here); the UVC
    metadata node is named as such, not listed as a second camera."""
    from fake_v4l2 import C920, FakeV4L2

    root = _with_metadata_node(tree(tmp_path))
    res = doctor.run_checks(doctor.Machine(root=root, uid=ME, groups=(VIDEO,), kernel=KERNEL, env={},
                                           ioctl=FakeV4L2(C920, metadata_nodes=("video1",))))
    assert res["ok"]
    lines = [c.line() for c in res["checks"]]
    assert ("[info] camera modes: /dev/video0: YUYV 1920x1080@5 1280x720@10 640x480@30; MJPG 1920x1080@30 "
            "1280x720@30 640x480@30; vcam and the studio open 1280x720@30:MJPG") in lines
    assert "[info] camera: /dev/video1 'HD Pro Webcam C920' carries metadata only (a camera's second node): " \
           "not a source" in lines
    assert sum(line.startswith("[ok  ] camera:") for line in lines) == 1


def test_a_camera_without_720p30_is_a_warning_with_what_happens(tmp_path):
    from fake_v4l2 import VGA_ONLY, FakeV4L2

    res = doctor.run_checks(doctor.Machine(root=tree(tmp_path), uid=ME, groups=(VIDEO,), kernel=KERNEL, env={},
                                           ioctl=FakeV4L2(VGA_ONLY)))
    c = next(c for c in res["checks"] if c.name == "camera modes")
    assert res["ok"] and c.status == "warn"
    assert "open 640x480@30:YUYV" in c.message and "scales and centre-crops" in c.message and "--camera-mode" in c.fix


def test_a_camera_that_cannot_be_asked(tmp_path):
    _, checks = run(tree(tmp_path))     # the fake tree's /dev/video0 is a plain file: the real ioctl fails
    assert "could not be read" in checks["camera modes", "info"].message
