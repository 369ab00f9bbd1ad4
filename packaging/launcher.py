"""Entry point of the bundled app: `backdrop-studio [command ...]`, the studio window when no command is given."""
import os
import sys

if getattr(sys, "frozen", False):
    # numba's on-disk cache cannot live inside the read-only bundle
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "backdrop-studio",
                                                          "numba"))

from studio.__main__ import run  # noqa: E402  (signal handlers first, then the commands)

sys.exit(run())
