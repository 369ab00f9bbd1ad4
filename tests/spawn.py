"""Child processes that take the stop signals as a terminal's user sends them.

A test run started in the background by a shell without job control (`make test &` in a script) or under
`nohup` inherits SIGINT or SIGHUP ignored, and an ignored signal stays ignored across exec: the command, rightly,
keeps such a choice (studio.signals), so a test that sends it would wait for a stop that never comes."""
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def default_stop_signals() -> None:
    """The stop signals back to their default action: as a child's preexec_fn, or in this process for a test
    that raises them itself."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
