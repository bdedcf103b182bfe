"""Which process owns an active session, and whether it still runs.

An active session records its owner as the pair (pid, start time): a pid alone is no
identity, since the system reuses them.  The registry uses :func:`owner_alive` to mark
the sessions of killed processes interrupted instead of leaving them active forever.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["current_owner", "owner_alive", "process_start"]


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``); ``None`` where unknown.

    A pid alone is not an identity: the system reuses them.  The pair (pid, start) is.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def owner_alive(pid: int | None, start: str | None) -> bool:
    """Whether the process that owns a session still runs (``True`` when it cannot be known)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return True
    if state in ("Z", "X"):  # killed and not yet reaped by its parent
        return False
    return start is None or process_start(pid) in (None, start)


def current_owner() -> tuple[int, str | None]:
    """This process as the owner of a session: its pid and start time."""
    pid = os.getpid()
    return pid, process_start(pid)
