"""Vector stores: one Qdrant client per store per process, shared by every agent.

Qdrant's local mode keeps its data in a folder that only one client may open at a time.
A team runs several agents in one process, so :func:`open_store` keeps a registry keyed
by the store's resolved path (or server address) and hands every caller the same
:class:`Store`.  A second *process* that tries to open the same folder is refused at once
with :class:`~massmem.errors.StoreLocked`, whose message names the folder and the fix
(Qdrant server mode).  massmem takes its own non-blocking lock on the folder before
Qdrant reads anything, so the refusal is immediate and never a hang.

A :class:`Store` also owns what retrieval needs beside the vectors:

* a lexical index (:class:`~massmem.memory.lexical.LexicalIndex`, SQLite FTS5) kept in
  step with every point written through massmem or through mem0;
* in local mode, an in-memory mirror of each collection's vectors and filter fields
  (:class:`DenseMirror`).  Local Qdrant evaluates payload filters point by point in
  Python, which costs ~15 ms per filtered query on a few hundred points; the mirror does
  the same brute-force search with numpy masks in well under a millisecond.  Qdrant stays
  the store of record: the mirror is filled from it and updated on every write.

Local Qdrant is not thread-safe, so in local mode every client call goes through the
store's lock; in server mode the lock serialises writes only.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem import paths
from massmem.errors import MemoryError_, StoreLocked
from massmem.memory.lexical import LexicalIndex, LexicalRow, ScopeClause

if TYPE_CHECKING:
    import numpy as np

    from massmem.config.schema import QdrantConfig

__all__ = [
    "DenseMirror",
    "PointRecord",
    "Store",
    "close_all_stores",
    "open_store",
    "server_mode_hint",
]

log = logging.getLogger(__name__)

_LOCK_FILE = ".massmem.lock"
_LEXICAL_FILE = "massmem_lexical.sqlite3"


def server_mode_hint() -> str:
    return (
        "Local Qdrant lets one process at a time open a store. To run several massmem "
        "processes on one memory, start the Qdrant server "
        "(docker compose -f docker-compose.qdrant.yml up -d) and set "
        "memory.persistent_memory.qdrant.mode: server (host: localhost, port: 6333)."
    )


@dataclass(slots=True)
class PointRecord:
    """A point as retrieval sees it."""

    id: str
    payload: dict[str, Any]
    vector: Any = None  # np.ndarray | None
    score: float = 0.0


# ----------------------------------------------------------------------------- dense mirror


class DenseMirror:
    """All vectors and filter fields of one collection, for fast filtered brute-force search."""

    def __init__(self, dims: int) -> None:
        import numpy as np

        self.dims = dims
        self._vectors = np.zeros((64, dims), dtype=np.float32)
        self._agent = np.full(64, -1, dtype=np.int32)
        self._session = np.full(64, -1, dtype=np.int32)
        self._turn = np.full(64, np.nan, dtype=np.float64)
        self._alive = np.zeros(64, dtype=bool)
        self._size = 0
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._payloads: list[dict[str, Any]] = []
        self._codes: dict[str, int] = {}

    def __len__(self) -> int:
        return int(self._alive[: self._size].sum())

    def _code(self, value: Any) -> int:
        if value is None:
            return -1
        key = str(value)
        code = self._codes.get(key)
        if code is None:
            code = self._codes[key] = len(self._codes)
        return code

    def _grow(self, need: int) -> None:
        import numpy as np

        cap = len(self._alive)
        if need <= cap:
            return
        new = max(need, cap * 2)
        vectors = np.zeros((new, self.dims), dtype=np.float32)
        vectors[:cap] = self._vectors
        self._vectors = vectors
        self._agent = np.concatenate([self._agent, np.full(new - cap, -1, dtype=np.int32)])
        self._session = np.concatenate([self._session, np.full(new - cap, -1, dtype=np.int32)])
        self._turn = np.concatenate([self._turn, np.full(new - cap, np.nan)])
        self._alive = np.concatenate([self._alive, np.zeros(new - cap, dtype=bool)])

    def upsert(self, ids: Sequence[str], vectors: Any, payloads: Sequence[dict[str, Any]]) -> None:
        import numpy as np

        raw = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        matrix = (raw / np.where(norms == 0, 1.0, norms)).astype(np.float32)
        self._grow(self._size + len(ids))
        for point_id, vector, payload in zip(ids, matrix, payloads, strict=True):
            key = str(point_id)
            row = self._row.get(key)
            if row is None:
                row = self._size
                self._size += 1
                self._row[key] = row
                self._ids.append(key)
                self._payloads.append(payload)
            else:
                self._payloads[row] = payload
            self._vectors[row] = vector
            self._agent[row] = self._code(payload.get("agent_id"))
            self._session[row] = self._code(payload.get("run_id"))
            turn = payload.get("turn")
            self._turn[row] = float(turn) if isinstance(turn, int | float) else np.nan
            self._alive[row] = True

    def delete(self, ids: Sequence[str]) -> None:
        for point_id in ids:
            row = self._row.get(str(point_id))
            if row is not None:
                self._alive[row] = False

    def get(self, point_id: str) -> PointRecord | None:
        row = self._row.get(str(point_id))
        if row is None or not self._alive[row]:
            return None
        return PointRecord(self._ids[row], self._payloads[row], self._vectors[row])

    def _mask(self, clauses: Sequence[ScopeClause] | None) -> np.ndarray:
        import numpy as np

        n = self._size
        alive = self._alive[:n]
        if clauses is None:
            return alive.copy()
        mask = np.zeros(n, dtype=bool)
        for clause in clauses:
            code = self._codes.get(clause.agent_id)
            if code is None:
                continue
            part = self._agent[:n] == code
            if clause.session is not None:
                scode = self._codes.get(clause.session)
                if scode is None:
                    continue
                part &= self._session[:n] == scode
            if clause.max_turn is not None:
                with np.errstate(invalid="ignore"):
                    part &= self._turn[:n] <= clause.max_turn
            mask |= part
        return mask & alive

    def search(
        self, query: np.ndarray, clauses: Sequence[ScopeClause] | None, limit: int
    ) -> list[PointRecord]:
        import numpy as np

        rows = np.flatnonzero(self._mask(clauses))
        if rows.size == 0 or limit <= 0:
            return []
        scores = self._vectors[rows] @ np.asarray(query, dtype=np.float32)
        top = np.argpartition(-scores, limit - 1)[:limit] if rows.size > limit else np.arange(rows.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            PointRecord(self._ids[rows[i]], self._payloads[rows[i]], self._vectors[rows[i]], float(scores[i]))
            for i in top
        ]


# ------------------------------------------------------------------------------------ store


@dataclass(slots=True)
class _Collection:
    name: str
    dims: int
    mirror: DenseMirror | None = None


@dataclass
class Store:
    """One Qdrant client (local folder or server) and everything massmem keeps beside it."""

    key: str
    mode: str
    client: Any
    lexical: LexicalIndex
    path: Path | None = None
    address: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    _lock_file: Any = None
    _collections: dict[str, _Collection] = field(default_factory=dict)
    closed: bool = False

    @property
    def is_local(self) -> bool:
        return self.mode == "local"

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock for reads where the client needs it (local mode)."""
        if self.is_local:
            with self.lock:
                yield
        else:
            yield

    def describe(self) -> str:
        return f"local store {self.path}" if self.is_local else f"Qdrant server {self.address}"

    # -- collections ------------------------------------------------------------------------

    def ensure_collection(self, name: str, dims: int) -> None:
        """Create ``name`` in mem0's layout (unnamed dense vector + ``bm25`` sparse slot) if missing."""
        known = self._collections.get(name)
        if known is not None:
            if known.dims != dims:
                raise MemoryError_(_dims_message(name, known.dims, dims))
            return
        from qdrant_client import models

        with self.lock:
            if name in self._collections:
                return
            if self.client.collection_exists(name):
                info = self.client.get_collection(name)
                size = _vector_size(info)
                if size is not None and size != dims:
                    raise MemoryError_(_dims_message(name, size, dims))
            else:
                self.client.create_collection(
                    collection_name=name,
                    vectors_config=models.VectorParams(size=dims, distance=models.Distance.COSINE),
                    sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
                )
                if not self.is_local:
                    for field_name, schema in (
                        ("agent_id", "keyword"),
                        ("run_id", "keyword"),
                        ("user_id", "keyword"),
                        ("turn", "integer"),
                    ):
                        with contextlib.suppress(Exception), warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            self.client.create_payload_index(name, field_name=field_name, field_schema=schema)
            self._tune_local(name)
            entry = _Collection(name, dims)
            if self.is_local:
                entry.mirror = DenseMirror(dims)
                points = self._scroll_all(name, with_vectors=True)
                if points:
                    entry.mirror.upsert(
                        [p.id for p in points], [p.vector for p in points], [p.payload for p in points]
                    )
                # The lexical index is a cache: rebuild it if it lost step with the vectors.
                if self.lexical.count(name) != len(points):
                    self.lexical.rebuild(name, (_lexical_row(name, p.id, p.payload) for p in points))
            else:
                # Other processes write to a server: catch the local lexical cache up on open.
                total = int(self.client.count(name, exact=True).count)
                if self.lexical.count(name) != total:
                    points = self._scroll_all(name, with_vectors=False)
                    self.lexical.rebuild(name, (_lexical_row(name, p.id, p.payload) for p in points))
            self._collections[name] = entry

    def _tune_local(self, name: str) -> None:
        """Local Qdrant commits (and syncs) once per point; WAL makes a batch ~10x faster."""
        if not self.is_local:
            return
        try:
            storage = self.client._client.collections[name].storage.storage
            storage.execute("PRAGMA journal_mode=WAL")
            storage.execute("PRAGMA synchronous=NORMAL")
        except Exception:  # pragma: no cover - internal layout of another qdrant-client version
            log.debug("could not tune local Qdrant collection %s", name, exc_info=True)

    def _scroll_all(self, name: str, *, with_vectors: bool) -> list[PointRecord]:
        out: list[PointRecord] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                name, limit=1024, offset=offset, with_payload=True, with_vectors=with_vectors
            )
            for p in points:
                out.append(PointRecord(str(p.id), dict(p.payload or {}), _dense(p.vector)))
            if offset is None:
                return out

    def mirror(self, name: str) -> DenseMirror | None:
        entry = self._collections.get(name)
        return entry.mirror if entry else None

    # -- writes (every write keeps the lexical index and the mirror in step) -----------------

    def upsert(self, name: str, ids: Sequence[str], vectors: Any, payloads: Sequence[dict[str, Any]]) -> None:
        from qdrant_client import models

        if not ids:
            return
        points = [
            models.PointStruct(id=pid, vector={"": [float(x) for x in vec]}, payload=payload)
            for pid, vec, payload in zip(ids, vectors, payloads, strict=True)
        ]
        with self.lock:
            self.client.upsert(collection_name=name, points=points)
            self.after_upsert(name, ids, vectors, payloads)

    def after_upsert(
        self, name: str, ids: Sequence[str], vectors: Any, payloads: Sequence[dict[str, Any]]
    ) -> None:
        """Bring the lexical index and mirror up to date after points were written to Qdrant."""
        self.lexical.upsert(_lexical_row(name, str(i), p) for i, p in zip(ids, payloads, strict=True))
        mirror = self.mirror(name)
        if mirror is not None and vectors is not None:
            mirror.upsert([str(i) for i in ids], vectors, payloads)

    def after_change(self, name: str, point_id: str) -> None:
        """Re-read one point (mem0 updated it in place) into the lexical index and mirror."""
        points = self.retrieve(name, [point_id], with_vectors=True)
        if not points:
            self.after_delete(name, [point_id])
            return
        p = points[0]
        self.after_upsert(name, [p.id], [p.vector] if p.vector is not None else None, [p.payload])

    def after_delete(self, name: str, ids: Sequence[str]) -> None:
        self.lexical.delete(name, [str(i) for i in ids])
        mirror = self.mirror(name)
        if mirror is not None:
            mirror.delete([str(i) for i in ids])

    def forget_collection(self, name: str) -> None:
        self.lexical.drop_collection(name)
        self._collections.pop(name, None)

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        from qdrant_client import models

        if not ids:
            return
        with self.lock:
            self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)))
            self.after_delete(name, ids)

    def drop_collection(self, name: str) -> None:
        with self.lock:
            if self.client.collection_exists(name):
                self.client.delete_collection(name)
            self.forget_collection(name)

    # -- reads ------------------------------------------------------------------------------

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[PointRecord]:
        if not ids:
            return []
        mirror = self.mirror(name)
        if mirror is not None:
            with self.lock:
                found = [mirror.get(i) for i in ids]
            return [p for p in found if p is not None]
        with self.reading():
            points = self.client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=with_vectors)
        return [PointRecord(str(p.id), dict(p.payload or {}), _dense(p.vector)) for p in points]

    def dense_search(
        self, name: str, vector: np.ndarray, clauses: Sequence[ScopeClause] | None, limit: int
    ) -> list[PointRecord]:
        mirror = self.mirror(name)
        if mirror is not None:
            with self.lock:
                return mirror.search(vector, clauses, limit)
        query_filter = qdrant_filter(clauses)
        if clauses is not None and query_filter is None:
            return []
        with self.reading():
            hits = self.client.query_points(
                collection_name=name,
                query=[float(x) for x in vector],
                query_filter=query_filter,
                limit=limit,
                with_payload=True,
                with_vectors=True,
            ).points
        return [PointRecord(str(h.id), dict(h.payload or {}), _dense(h.vector), float(h.score)) for h in hits]

    def count(self, name: str) -> int:
        mirror = self.mirror(name)
        if mirror is not None:
            return len(mirror)
        with self.reading():
            return int(self.client.count(name, exact=True).count)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                self.client.close()
            with contextlib.suppress(Exception):
                self.lexical.close()
            if self._lock_file is not None:
                with contextlib.suppress(Exception):
                    import portalocker

                    portalocker.unlock(self._lock_file)
                with contextlib.suppress(Exception):
                    self._lock_file.close()
                self._lock_file = None


def qdrant_filter(clauses: Sequence[ScopeClause] | None) -> Any:
    """The Qdrant filter for a list of OR-ed scope clauses (``None`` means everything)."""
    if clauses is None:
        return None
    if not clauses:
        return None
    from qdrant_client import models

    parts: list[Any] = []
    for clause in clauses:
        must: list[Any] = [
            models.FieldCondition(key="agent_id", match=models.MatchValue(value=clause.agent_id))
        ]
        if clause.session is not None:
            must.append(models.FieldCondition(key="run_id", match=models.MatchValue(value=clause.session)))
        if clause.max_turn is not None:
            must.append(models.FieldCondition(key="turn", range=models.Range(lte=clause.max_turn)))
        parts.append(models.Filter(must=must))
    return parts[0] if len(parts) == 1 else models.Filter(should=parts)


def _lexical_row(collection: str, point_id: str, payload: dict[str, Any]) -> LexicalRow:
    turn = payload.get("turn")
    return LexicalRow(
        point_id=str(point_id),
        collection=collection,
        body=str(payload.get("data", "")),
        agent_id=payload.get("agent_id"),
        session=payload.get("run_id"),
        turn=int(turn) if isinstance(turn, int | float) else None,
    )


def _dense(vector: Any) -> Any:
    if vector is None:
        return None
    if isinstance(vector, dict):
        vector = vector.get("")
        if vector is None:
            return None
    import numpy as np

    return np.asarray(vector, dtype=np.float32)


def _vector_size(info: Any) -> int | None:
    vectors = info.config.params.vectors
    if isinstance(vectors, dict):
        params = vectors.get("")
        return getattr(params, "size", None)
    return getattr(vectors, "size", None)


def _dims_message(name: str, have: int, want: int) -> str:
    return (
        f"the vector collection {name!r} holds {have}-dimensional vectors but the embedder makes "
        f"{want}-dimensional ones; use the embedder it was built with, or another collection"
    )


# --------------------------------------------------------------------------------- registry

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


def open_store(config: QdrantConfig | None = None) -> Store:
    """The process-wide :class:`Store` for ``config`` (local folder by default)."""
    global _atexit_registered
    mode = config.mode if config is not None else "local"
    if mode == "server":
        assert config is not None
        key = "server:" + _server_address(config)
    else:
        key = "local:" + str(_local_path(config))
    with _registry_lock:
        store = _registry.get(key)
        if store is not None and not store.closed:
            return store
        if mode == "server" and config is not None:
            store = _open_server(config, key)
        else:
            store = _open_local(_local_path(config), key)
        _registry[key] = store
        if not _atexit_registered:
            atexit.register(close_all_stores)
            _atexit_registered = True
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
    from qdrant_client import QdrantClient

    try:
        client = QdrantClient(path=str(path), force_disable_check_same_thread=True)
    except RuntimeError as exc:
        portalocker.unlock(handle)
        handle.close()
        if "already accessed" in str(exc):
            raise StoreLocked(
                f"the memory store {path} is already open in another client. " + server_mode_hint()
            ) from exc
        raise MemoryError_(f"could not open the memory store {path}: {exc}") from exc
    except Exception as exc:
        portalocker.unlock(handle)
        handle.close()
        raise MemoryError_(f"could not open the memory store {path}: {exc}") from exc
    lexical = LexicalIndex(path / _LEXICAL_FILE)
    store = Store(key=key, mode="local", client=client, lexical=lexical, path=path)
    store._lock_file = handle
    return store


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
    slug = re.sub(r"[^A-Za-z0-9]+", "_", address).strip("_")
    lexical = LexicalIndex(paths.home() / "lexical" / f"{slug}.sqlite3")
    return Store(key=key, mode="server", client=client, lexical=lexical, address=address)
