"""Opening vector stores: one engine per store per process, shared by every agent.

A local store is a folder of Qdrant Edge shards that only one process may open at a time.
A team runs several agents in one process, so :func:`open_store` keeps a registry keyed
by the store's resolved path (or server address) and hands every caller the same
:class:`~massmem.memory.qdrant_store.Store`.  A second *process* that tries to open the
same folder is refused at once with :class:`~massmem.errors.StoreLocked`, whose message
names the folder and the fix (Qdrant server mode).  massmem takes its own non-blocking
lock on the folder before the engine reads anything, so the refusal is immediate and never
a hang.

A folder written by an earlier massmem (``qdrant-client``'s local mode) is converted on
open by :mod:`massmem.memory.legacy_store`, losing nothing.  ``on_disk: false`` keeps the
store in a temporary folder that is removed when the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from massmem import paths
from massmem.errors import MemoryError_, StoreLocked
from massmem.memory.qdrant_store import Store

if TYPE_CHECKING:
    from massmem.config.schema import QdrantConfig

__all__ = ["close_all_stores", "open_store", "register_store", "server_mode_hint", "store_for_key"]

_LOCK_FILE = ".massmem.lock"
_ENGINE_DIR = "edge"


def server_mode_hint() -> str:
    return (
        "A local memory store can be open in one process at a time. To run several massmem "
        "processes on one memory, start the Qdrant server "
        "(docker compose -f docker-compose.qdrant.yml up -d) and set "
        "memory.persistent_memory.qdrant.mode: server (host: localhost, port: 6333)."
    )


_registry: dict[str, Store] = {}
_registry_lock = threading.Lock()
_atexit_registered = False


def _server_address(config: QdrantConfig) -> str:
    if config.url:
        return config.url.rstrip("/")
    return f"http://{config.host}:{config.port or 6333}"


def _local_path(config: QdrantConfig | None) -> Path:
    raw = config.path if config is not None and config.path else None
    path = Path(raw).expanduser() if raw else paths.qdrant_dir()
    return path.resolve()


def open_store(config: QdrantConfig | None = None, *, on_disk: bool = True) -> Store:
    """The process-wide :class:`Store` for ``config`` (local folder by default)."""
    global _atexit_registered
    mode = config.mode if config is not None else "local"
    if mode == "server":
        assert config is not None
        key = "server:" + _server_address(config)
    elif not on_disk:
        key = "memory:" + str(_local_path(config))
    else:
        key = "local:" + str(_local_path(config))
    with _registry_lock:
        store = _registry.get(key)
        if store is not None and not store.closed:
            return store
        if mode == "server" and config is not None:
            store = _open_server(config, key)
        elif not on_disk:
            store = _open_in_memory(key)
        else:
            store = _open_local(_local_path(config), key)
        _registry[key] = store
        if not _atexit_registered:
            atexit.register(close_all_stores)
            _atexit_registered = True
        return store


def register_store(store: Store) -> None:
    """Make a store built elsewhere (a test's server engine, say) findable by :func:`store_for_key`."""
    with _registry_lock:
        current = _registry.get(store.key)
        if current is None or current.closed:
            _registry[store.key] = store


def store_for_key(key: str) -> Store:
    """The open store registered under ``key`` (how mem0's adapter finds the store it writes to)."""
    with _registry_lock:
        store = _registry.get(key)
    if store is None or store.closed:
        raise MemoryError_(f"the memory store {key} is not open")
    return store


def close_all_stores() -> None:
    """Close every store this process opened (tests; the end of a run)."""
    with _registry_lock:
        stores = list(_registry.values())
        _registry.clear()
    for store in stores:
        store.close()


def _open_local(path: Path, key: str) -> Store:
    import portalocker

    path.mkdir(parents=True, exist_ok=True)
    lock_path = path / _LOCK_FILE
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the store's lifetime
    try:
        portalocker.lock(handle, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    except portalocker.exceptions.LockException:
        holder = _read_holder(lock_path)
        handle.close()
        raise StoreLocked(
            f"the memory store {path} is already open in another process{holder}. " + server_mode_hint()
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    try:
        from massmem.memory.edge_engine import EdgeEngine
        from massmem.memory.legacy_store import convert_legacy_store

        convert_legacy_store(path, path / _ENGINE_DIR)
        engine = EdgeEngine(path / _ENGINE_DIR)
    except BaseException as exc:
        portalocker.unlock(handle)
        handle.close()
        if isinstance(exc, MemoryError_ | KeyboardInterrupt | SystemExit):
            raise
        raise MemoryError_(f"could not open the memory store {path}: {exc}") from exc
    return Store(key=key, engine=engine, path=path, _lock_file=handle)


def _open_in_memory(key: str) -> Store:
    import tempfile

    from massmem.memory.edge_engine import EdgeEngine

    folder = tempfile.TemporaryDirectory(prefix="massmem-memory-")
    engine = EdgeEngine(Path(folder.name))
    return Store(key=key, engine=engine, path=None, _temporary=folder)


def _read_holder(lock_path: Path) -> str:
    try:
        pid = lock_path.read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _open_server(config: QdrantConfig, key: str) -> Store:
    from qdrant_client import QdrantClient

    address = _server_address(config)
    api_key = config.api_key.get_secret_value() if config.api_key else None
    if config.url:
        client = QdrantClient(url=config.url, api_key=api_key, timeout=10, check_compatibility=False)
    else:
        client = QdrantClient(
            host=config.host, port=config.port or 6333, api_key=api_key, timeout=10, check_compatibility=False
        )
    try:
        client.get_collections()
    except Exception as exc:
        from massmem.errors import redact

        with contextlib.suppress(Exception):
            client.close()
        raise MemoryError_(
            f"cannot reach the Qdrant server at {address}: {redact(str(exc))}. Start it with "
            "docker compose -f docker-compose.qdrant.yml up -d, or set memory.persistent_memory.qdrant.mode: local"
        ) from exc
    from massmem.memory.server_engine import ServerEngine

    return Store(key=key, engine=ServerEngine(client, address), address=address)
