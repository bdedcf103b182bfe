"""SIGTERM ends a run the way Ctrl-C does: a message, the session marked interrupted, exit 143.

``kill PID``, a container stopping or a CI job timing out sends SIGTERM.  Python's default is
to die at once, which left the session ``active`` forever and said nothing.  The CLI installs
:func:`install` so SIGTERM raises :class:`Terminated` — a ``KeyboardInterrupt`` — and every
place that already cleans up after Ctrl-C (cancel the turn's model calls, close backends,
record the session's status) does the same for it.  Only the exit status differs: 143
(128 + 15, what shells report for a process SIGTERM ended) instead of 130, so a supervisor
can tell the two apart.  In interactive mode Ctrl-C cancels one turn; SIGTERM ends the session.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["EXIT_TERMINATED", "Terminated", "install", "interrupt_exit_code", "interrupt_reason"]

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # Once is enough: a second SIGTERM while cleaning up must not cut the clean-up short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def install() -> None:
    """Turn SIGTERM into :class:`Terminated` for this process (the CLI's ``main`` calls it).

    Also give Ctrl-C back to a process started on a terminal with SIGINT ignored.  A shell
    without job control starts ``cmd &`` that way, and the ignore is inherited by everything
    it runs (Python then installs no ``KeyboardInterrupt`` handler).  The interactive mode's
    Ctrl-C, which cancels a turn, was then silently lost.  On a terminal, a Ctrl-C is a
    person's.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN and _on_a_terminal():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _on_a_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # no stdin, or a closed one
        return False


def interrupt_exit_code(exc: BaseException) -> int:
    """143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def interrupt_reason(exc: BaseException) -> str:
    """What the registry's error column and the terminal say about the interruption."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted by the user"
