"""The one way the program writes a file the user may already have: under a hidden temporary name beside the
target, renamed over it only when complete. A failed or interrupted write never touches the existing file, and
a replaced file keeps its permissions."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from studio import StudioError, printable


def _read_umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it (once, at import, before any worker starts)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _not_a_file(p: Path) -> str:
    """What an existing target that is neither a file nor a folder is (a FIFO, a device, a socket); '' otherwise."""
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        return ""
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return ""


def check_target(path: str | os.PathLike) -> Path:
    """Refuse, with one line, a target that cannot be written: a folder, a missing or unwritable folder."""
    p = Path(path)
    shown = printable(p, 120)
    try:
        if p.is_dir():
            raise StudioError(f"cannot write {shown}: it is a folder; give a file name")
        kind = _not_a_file(p)
        if kind:   # written beside and renamed over, it would be replaced by a file: a reader waits forever
            raise StudioError(f"cannot write {shown}: it is {kind}, not a file; give a file name")
        d = p.parent
        if not d.is_dir():
            raise StudioError(f"cannot write {shown}: folder {printable(d, 120)} does not exist")
    except OSError as e:  # a name too long, a loop of links
        raise StudioError(f"cannot write {shown}: {e.strerror}") from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise StudioError(f"cannot write {shown}: folder {printable(d, 120)} is not writable")
    return p


class AtomicFile:
    """A temporary file beside `path`: write to `tmp` (or the open `file`), then commit() or abort()."""

    def __init__(self, path: str | os.PathLike, binary_handle: bool = False):
        self.path = check_target(path)
        # a symlink (a dotfiles repo's preset) keeps pointing where it did: the file it names is replaced
        self.real = Path(os.path.realpath(self.path)) if self.path.is_symlink() else self.path
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=".backdrop-", suffix=self.path.suffix or ".tmp",
                                            dir=str(self.real.parent))
        except OSError as e:
            raise StudioError(f"cannot write {printable(self.path, 120)}: {e.strerror}") from None
        if binary_handle:
            self.file = os.fdopen(fd, "wb")
        else:
            os.close(fd)
            self.file = None
        self.done = False

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def _mode(self) -> int:
        try:
            return stat.S_IMODE(os.stat(self.real).st_mode)   # a replaced file keeps its permissions
        except OSError:
            return 0o666 & ~_UMASK                           # a new file gets what open() would give it

    def commit(self) -> Path:
        """Flush, set the mode, rename over the target. If the rename is refused (an immutable target), the
        finished file is kept under a free name beside it, and the error says where."""
        if self.file is not None:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
        else:   # written by someone else (a video encoder): on disk before it replaces anything
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            os.chmod(self.tmp, self._mode())
        except OSError:
            pass   # file systems without modes (vfat, exFAT) refuse chmod: the file is still good
        try:
            os.replace(self.tmp, self.real)
        except OSError as e:
            kept = self._keep_beside()
            where = f"; the result was kept as {printable(kept, 120)}" if kept else ""
            raise StudioError(f"cannot replace {printable(self.path, 120)}: {e.strerror}{where}") from None
        self.done = True
        try:   # the rename itself on disk
            dfd = os.open(self.real.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass
        return self.path

    def _keep_beside(self) -> Path | None:
        for i in range(1, 100):
            cand = self.path.with_name(f"{self.path.stem}.backdrop-{i}{self.path.suffix}")
            try:
                os.link(self.tmp, cand)   # never overwrites
            except FileExistsError:
                continue
            except OSError:
                break
            os.unlink(self.tmp)
            self.done = True
            return cand
        self.abort()
        return None

    def abort(self) -> None:
        """Drop the temporary file; the target is left as it was."""
        if self.file is not None and not self.file.closed:
            try:
                self.file.close()
            except OSError:
                pass
        try:
            os.unlink(self.tmp)
        except OSError:
            pass
        self.done = True


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write a whole file atomically (presets, caches, images)."""
    f = AtomicFile(path, binary_handle=True)
    try:
        f.write(data)
        return f.commit()
    except OSError as e:  # ENOSPC, EFBIG, EIO: the old file stays
        raise StudioError(f"cannot write {printable(f.path, 120)}: {e.strerror or e}") from None
    finally:
        if not f.done:
            f.abort()
