"""Every path massmem writes comes from here.

``MASSMEM_HOME`` (default ``~/.massmem``) holds the session registry, session
state, the embedded vector store, logs, debug dumps and (unless ``MASSMEM_CACHE_DIR``
says otherwise) the model cache.  Tests point it at a
temporary directory.  User-given ids pass :func:`massmem.config.schema.is_safe_id`
before they become path components.
"""

from __future__ import annotations

import os
from pathlib import Path

from massmem.errors import UsageError

__all__ = ["cache_dir", "home", "logs_dir", "qdrant_dir", "safe_child", "sessions_dir"]


def home() -> Path:
    raw = os.environ.get("MASSMEM_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".massmem"


def sessions_dir() -> Path:
    return home() / "sessions"


def logs_dir() -> Path:
    return home() / "logs"


def qdrant_dir() -> Path:
    return home() / "qdrant"


def cache_dir() -> Path:
    """Rebuildable files (the int8 embedding model): ``MASSMEM_CACHE_DIR``, else ``MASSMEM_HOME/cache``.

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
