"""The store behind persistent memory: one Qdrant client and everything massmem keeps beside it.

A :class:`Store` owns what retrieval needs beside the vectors:

* a lexical index (:class:`~massmem.memory.lexical.LexicalIndex`, SQLite FTS5) kept in
  step with every point written through massmem or through mem0;
* in local mode, an in-memory mirror of each collection's vectors and filter fields
  (:class:`~massmem.memory.dense_mirror.DenseMirror`), which answers filtered searches
  far faster than local Qdrant does; Qdrant stays the store of record.

Local Qdrant is not thread-safe, so in local mode every client call goes through the
store's lock; in server mode the lock serialises writes only.  Stores are opened (one per
path or server per process) by :func:`massmem.memory.store.open_store`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import MemoryError_
from massmem.memory.dense_mirror import DenseMirror, PointRecord
from massmem.memory.lexical import LexicalIndex, LexicalRow, ScopeClause

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Store", "qdrant_filter"]

log = logging.getLogger(__name__)


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
