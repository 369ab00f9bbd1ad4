"""`python -m studio` and the `backdrop` command. Signal handlers go in before the heavy imports, so a
Ctrl+C or SIGTERM in the first half second is a clean stop too (studio.signals)."""
import sys


def run() -> int:
    from studio import signals

    signals.install()
    try:
        from studio.cli import main

        return main(signals_installed=True)
    except KeyboardInterrupt as e:   # stopped while loading or parsing: nothing was opened or written yet
        print(f"backdrop: stopped by {e or 'SIGINT'} while starting", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())
