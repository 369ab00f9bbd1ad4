"""Person segmentation on LiteRT (XNNPACK) with cheap preprocessing. Tier choice: studio.segment.tiers."""
from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from studio import StudioError, printable
from studio.segment import models
from studio.imageops import downscale
from studio.segment.second_look import SecondLook


@dataclass
class SegResult:
    mask: np.ndarray  # float32 (h, w) person probability in [0, 1], model resolution
    timings: dict[str, float] = field(default_factory=dict)  # stage -> ms


_LITERT_NOTE = b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_litert_note():
    """LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on stderr for every interpreter,
    from C, with no setting to turn it off (TF_CPP_MIN_LOG_LEVEL does not reach it): before every command's own
    lines. Meanwhile file descriptor 2 goes to a temporary file, whose lines but that one are then written back
    (a file, not a pipe: whatever another thread writes meanwhile cannot fill it and block).

    Not where faulthandler is on (`python -X faulthandler`, PYTHONFAULTHANDLER, pytest): a crash meanwhile would
    write its report into the temporary file, lost with the process, and where faulthandler writes cannot be
    read back to point it elsewhere for a while. There the note shows: a crash report matters more."""
    if faulthandler.is_enabled():
        yield
        return
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):   # stderr closed (2>&-): nothing to keep clean
            yield
            return
        try:
            held = tempfile.TemporaryFile()
        except OSError:
            os.close(saved)
            yield
            return
        with held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                try:
                    sys.stderr.flush()
                except (OSError, ValueError, AttributeError):
                    pass
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                rest = b"".join(line for line in held.read().splitlines(keepends=True)
                                if not line.startswith(_LITERT_NOTE))
                _write_all(2, rest)


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write part of a buffer (a signal landing mid-write): the rest in turn, until an error (a
    closed reader)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError:
            return


def _interpreter(tier: str, builtin_ops: bool, **kw):
    """A LiteRT interpreter for a tier's model file, its tensors allocated (RuntimeError: an op it cannot run).
    A file that passed its checksum yet is no model (the registry was rewritten to match it: not a file `models
    fetch` made) is a ModelError that says how to repair it."""
    from ai_edge_litert.interpreter import Interpreter

    data = models.load_model_bytes(tier, builtin_ops=builtin_ops)
    with _without_litert_note():
        try:
            interp = Interpreter(model_content=data, **kw)
        except ValueError as e:
            raise _not_a_model(tier, builtin_ops, e) from None
        try:
            interp.allocate_tensors()
        except (RuntimeError, ValueError) as e:   # an op it cannot run (XNNPACK's custom op without XNNPACK)
            raise RuntimeError(str(e)) from None
    return interp


def _not_a_model(tier: str, builtin_ops: bool, e: BaseException) -> models.ModelError:
    why = printable(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__, 80)
    return models.ModelError(f"model file {models.model_path(tier, builtin_ops)} is not a model LiteRT can load "
                             f"({why}): run `backdrop models fetch --force` to repair it")


class Segmenter:
    """One LiteRT interpreter for one tier. Not thread-safe: one per worker thread."""

    def __init__(self, tier: str = "full", threads: int = 1, xnnpack: bool | None = None,
                 second_look: bool = False):
        from ai_edge_litert.interpreter import OpResolverType

        self.tier = models.tier(tier)
        self.threads = threads
        if xnnpack is None:
            xnnpack = os.environ.get("BACKDROP_NO_XNNPACK", "") in ("", "0")
        self.xnnpack = False
        interp = None
        if xnnpack:
            try:
                interp = _interpreter(tier, False, num_threads=threads)
                self.xnnpack = True
            except RuntimeError:
                interp = None  # XNNPACK (which implements the custom op) unavailable: builtin twin below
        if interp is None:
            try:
                interp = _interpreter(tier, True, num_threads=threads,
                                      experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            except RuntimeError as e:
                raise _not_a_model(tier, True, e) from None
        self._interp = interp
        ins, outs = interp.get_input_details(), interp.get_output_details()
        if len(ins) != 1 or not outs:
            raise _not_a_model(tier, not self.xnnpack, ValueError(
                f"{len(ins)} inputs and {len(outs)} outputs, not an image in and a mask out"))
        inp, out = ins[0], outs[0]
        if (len(inp["shape"]) != 4 or inp["shape"][3] != 3 or len(out["shape"]) != 4 or out["shape"][3] < 1
                or inp["dtype"] != np.float32 or out["dtype"] != np.float32):
            raise _not_a_model(tier, not self.xnnpack, ValueError(
                f"input {list(inp['shape'])} {np.dtype(inp['dtype']).name} and output {list(out['shape'])} "
                f"{np.dtype(out['dtype']).name}, not a float32 image in and a mask out"))
        _, h, w, _ = inp["shape"]
        if (w, h) != self.tier.size:
            raise StudioError(f"model for tier {tier} has input {w}x{h}, manifest says {self.tier.width}x{self.tier.height}")
        self._in_index = inp["index"]
        self._out_index = out["index"]
        self._scale = np.float32(1.0 / 255.0)
        self.second_look = second_look   # a second inference on a crop around small people (second_look.py)
        self._look = SecondLook()

    def reset(self) -> None:
        """A new source: forget the tracked crops."""
        self._look.reset()

    @property
    def size(self) -> tuple[int, int]:
        return self.tier.size

    def _input_view(self) -> np.ndarray:
        return self._interp.tensor(self._in_index)()[0]

    def _infer(self, small_bgr: np.ndarray) -> np.ndarray:
        """The model on an image already at its input size: the person probability (a copy)."""
        rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
        np.multiply(rgb, self._scale, out=self._input_view(), casting="unsafe")
        self._interp.invoke()
        return self._interp.get_tensor(self._out_index)[0, :, :, 0].copy()

    def __call__(self, frame_bgr: np.ndarray) -> SegResult:
        """Segment one BGR uint8 frame (any size, stretched to the model's input); with second_look, merge a
        second inference on a crop around each small person."""
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        t0 = time.perf_counter()
        w, h = self.tier.size
        small = downscale(frame_bgr, w, h)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        np.multiply(rgb, self._scale, out=self._input_view(), casting="unsafe")
        t1 = time.perf_counter()
        self._interp.invoke()
        mask = self._interp.get_tensor(self._out_index)[0, :, :, 0]
        t2 = time.perf_counter()
        timings = {"resize": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3}
        if self.second_look:
            mask, timings["second_look"] = self._look(self._infer, frame_bgr, mask.copy(), (w, h))
        return SegResult(mask, timings)
