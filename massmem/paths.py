"""Every path massmem writes comes from here.

``MASSMEM_HOME`` (default ``~/.massmem``) holds the session registry, session
state, the embedded vector store, logs, debug dumps and (unless ``MASSMEM_CACHE_DIR``
says otherwise) the model cache.  Tests point it at a
temporary directory.  User-given ids pass :func:`massmem.config.schema.is_safe_id`
before they become path components.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from massmem.errors import StorageError, UsageError

__all__ = [
    "atomic_write_text",
    "cache_dir",
    "ensure_dir",
    "home",
    "logs_dir",
    "qdrant_dir",
    "safe_child",
    "sessions_dir",
    "storage_error",
    "use_logs_dir",
]

#: ``ui.log_dir`` of the running team, when it set one (:func:`use_logs_dir`)
_logs_override: Path | None = None


def home() -> Path:
    raw = os.environ.get("MASSMEM_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".massmem"


def sessions_dir() -> Path:
    return home() / "sessions"


def logs_dir() -> Path:
    """``ui.log_dir`` when the running team set one, else ``MASSMEM_HOME/logs``."""
    return _logs_override if _logs_override is not None else home() / "logs"


def use_logs_dir(folder: str | Path | None) -> None:
    """Send this process's logs and debug dumps to ``folder`` (``None``: back to the default).

    The CLI calls it with the team's ``ui.log_dir`` so every writer that asks
    :func:`logs_dir` (debug dumps, the local model server's log) honours it.
    """
    global _logs_override
    _logs_override = Path(folder).expanduser() if folder else None


def qdrant_dir() -> Path:
    return home() / "qdrant"


def cache_dir() -> Path:
    """Rebuildable files (the ONNX embedding model): ``MASSMEM_CACHE_DIR``, else ``MASSMEM_HOME/cache``.

    Deleting it loses nothing; its own variable lets several homes (tests, users) share one.
    """
    raw = os.environ.get("MASSMEM_CACHE_DIR")
    return Path(raw).expanduser() if raw else home() / "cache"


def safe_child(parent: Path, name: str) -> Path:
    """``parent / name`` after checking that ``name`` is a safe id (no separators, no ``..``)."""
    from massmem.ids import is_safe_id

    if not is_safe_id(name):
        raise UsageError(f"{name!r} is not a valid id: use letters, digits, '_', '.' or '-' (no '/' or '..')")
    return parent / name


def storage_error(exc: OSError, path: Path, doing: str) -> StorageError:
    """An operating-system failure on ``path`` as a message that names it and says what to do.

    Why: a full disk or a file in the way is the user's to fix, and a traceback tells them
    neither where nor how.  ``doing`` completes "cannot …" (e.g. ``"write the session state"``).
    """
    code = exc.errno
    reason = exc.strerror or str(exc) or type(exc).__name__
    if code in (errno.ENOSPC, errno.EDQUOT):
        advice = "free some space on that disk, or set MASSMEM_HOME to a folder on another disk"
    elif code == errno.EFBIG:
        advice = "the file would exceed this process's file-size limit (ulimit -f); raise it or free space"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = f"make it writable, or set MASSMEM_HOME to a folder you can write (now {home()})"
    elif code in (errno.ENOTDIR, errno.EEXIST):
        advice = (
            "a file is in the way where massmem needs a folder: move it aside, or set MASSMEM_HOME elsewhere"
        )
    elif code == errno.ELOOP:
        advice = "it is a symbolic link, which massmem does not follow here: remove the link"
    else:
        advice = f"check that path and MASSMEM_HOME ({home()})"
    return StorageError(f"cannot {doing} {path}: {reason} — {advice}")


def _blocking_file(folder: Path) -> Path | None:
    """The first of ``folder`` and its parents that exists but is not a folder."""
    for part in (folder, *folder.parents):
        try:
            if part.exists() and not part.is_dir():
                return part
        except OSError:
            return None
    return None


def ensure_dir(folder: Path) -> Path:
    """``mkdir -p folder``, or a :class:`StorageError` naming the file in the way or the refusal."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = _blocking_file(folder)
        if blocking is not None:
            fix = "point MASSMEM_HOME at a folder" if blocking == home() else "move that file aside"
            raise StorageError(
                f"cannot create the folder {folder}: {blocking} is a file, not a folder — {fix}"
            ) from None
        raise storage_error(exc, folder, "create the folder") from None
    return folder


def atomic_write_text(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new one, never half.

    The text goes to a temporary file beside ``path`` that is renamed over it; a failure
    removes the temporary file and leaves ``path`` as it was.  ``durable`` also syncs the
    file and its folder, so the new content survives a power cut (state a user would lose);
    rebuildable files (indexes, caches) skip it.  Only the folder must exist: a rename replaces
    a link at ``path`` itself, never the file it points to.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable and os.name == "posix":
        with contextlib.suppress(OSError):
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
