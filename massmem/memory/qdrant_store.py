"""The store behind persistent memory: one Qdrant engine, shared by every agent of a process.

A :class:`Store` is what the rest of massmem talks to.  It hides which engine runs underneath
(:mod:`massmem.memory.engine`: Qdrant Edge in-process by default, a Qdrant server for scale-out),
makes every point's BM25 sparse vector as it is written, and turns retrieval into one fused
engine query (:meth:`Store.query`).  Every call holds the store's lock where the engine needs it:
an Edge shard is one process's data and its calls are serialised; a server needs no lock.

Stores are opened (one per path or server per process) by :func:`massmem.memory.store.open_store`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from massmem.errors import MemoryError_
from massmem.memory.bm25 import encode_documents, encode_query
from massmem.memory.engine import Engine
from massmem.memory.points import PointRecord, Where, Write

__all__ = ["Store"]

log = logging.getLogger(__name__)


@dataclass
class Store:
    """One engine (local folder or server) with massmem's upkeep around each call."""

    key: str
    engine: Engine
    path: Path | None = None
    address: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    _lock_file: Any = None
    _dims: dict[str, int] = field(default_factory=dict)
    _temporary: Any = None  # a TemporaryDirectory holding an in-memory (on_disk: false) store
    closed: bool = False

    @property
    def mode(self) -> str:
        return self.engine.mode

    @property
    def is_local(self) -> bool:
        return self.engine.mode == "local"

    @contextlib.contextmanager
    def _calling(self) -> Iterator[None]:
        if self.closed:
            raise MemoryError_(f"the memory store {self.describe()} is closed")
        if self.is_local:
            with self.lock:
                yield
        else:
            yield

    def describe(self) -> str:
        return self.engine.describe()

    # -- collections ------------------------------------------------------------------------

    def collections(self) -> list[str]:
        with self._calling():
            return self.engine.collections()

    def ensure_collection(self, name: str, dims: int) -> None:
        """Create ``name`` (dense + ``bm25`` sparse) if missing; refuse another vector size."""
        known = self._dims.get(name)
        if known is None:
            with self._calling():
                known = self.engine.dims(name)
                if known is None:
                    self.engine.create(name, dims)
                    known = dims
                elif known == dims:
                    # a collection older massmem wrote to a server: its points get BM25 vectors
                    filled = self.engine.backfill_sparse(name, encode_documents)
                    if filled:
                        log.info("gave %d memories in %s BM25 vectors", filled, name)
            self._dims[name] = known
        if known != dims:
            raise MemoryError_(
                f"the vector collection {name!r} holds {known}-dimensional vectors but the embedder makes "
                f"{dims}-dimensional ones; use the embedder it was built with, or another collection"
            )

    def drop_collection(self, name: str) -> None:
        with self._calling():
            self.engine.drop(name)
        self._dims.pop(name, None)

    def forget_collection(self, name: str) -> None:
        """Forget what this process knows of ``name`` (mem0 dropped or reset it)."""
        self._dims.pop(name, None)

    # -- writes -----------------------------------------------------------------------------

    def upsert(self, name: str, ids: Sequence[str], vectors: Any, payloads: Sequence[dict[str, Any]]) -> None:
        writes = [Write(str(i), v, dict(p or {})) for i, v, p in zip(ids, vectors, payloads, strict=True)]
        if not writes:
            return
        sparse = encode_documents([w.text for w in writes])
        with self._calling():
            self.engine.upsert(name, writes, sparse)

    def update(
        self, name: str, point_id: str, *, vector: Any = None, payload: dict[str, Any] | None = None
    ) -> None:
        """mem0's update: a new vector and payload replace the point; a payload alone is merged."""
        if vector is not None:
            if payload is None:
                found = self.retrieve(name, [point_id])
                payload = found[0].payload if found else {}
            self.upsert(name, [point_id], [vector], [payload])
        elif payload is not None:
            with self._calling():
                current = self.engine.retrieve(name, [point_id], with_vectors=True)
                if not current or current[0].vector is None:
                    self.engine.set_payload(name, point_id, payload)
                    return
            merged = {**current[0].payload, **payload}
            self.upsert(name, [point_id], [current[0].vector], [merged])  # the BM25 vector follows the text

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            with self._calling():
                self.engine.delete(name, [str(i) for i in ids])

    # -- reads ------------------------------------------------------------------------------

    def multivector(self, name: str) -> bool:
        """Do points of ``name`` keep a vector per sentence besides their whole text's (MaxSim)?"""
        with self._calling():
            return self.engine.multivector(name)

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[PointRecord]:
        with self._calling():
            return self.engine.retrieve(name, [str(i) for i in ids], with_vectors=with_vectors)

    def scroll(
        self,
        name: str,
        where: Where = None,
        *,
        limit: int = 512,
        offset: Any = None,
        with_vectors: bool = False,
    ) -> tuple[list[PointRecord], Any]:
        with self._calling():
            return self.engine.scroll(name, where, limit, offset, with_vectors=with_vectors)

    def scroll_all(self, name: str, where: Where = None, *, page: int = 1024) -> Iterator[PointRecord]:
        offset = None
        while True:
            points, offset = self.scroll(name, where, limit=page, offset=offset)
            yield from points
            if offset is None:
                return

    def count(self, name: str, where: Where = None) -> int:
        with self._calling():
            return self.engine.count(name, where)

    def query(
        self,
        name: str,
        *,
        vector: Any = None,
        text: str | None = None,
        where: Where = None,
        limit: int,
        prefetch: int | None = None,
        with_vectors: bool = False,
        fields: Sequence[str] | None = None,
    ) -> list[PointRecord]:
        """One engine query: dense (``vector``), BM25 (``text``), or both fused in the engine.

        ``fields``: only these payload keys of each point (``None``: the whole payload).
        """
        dense = None if vector is None else [float(x) for x in vector]
        sparse = encode_query(text) if text else None
        with self._calling():
            return self.engine.query(
                name,
                dense=dense,
                sparse=sparse,
                where=where,
                limit=limit,
                prefetch=prefetch,
                with_vectors=with_vectors,
                fields=fields,
            )

    def dense_search(self, name: str, vector: Any, where: Where, limit: int) -> list[PointRecord]:
        return self.query(name, vector=vector, where=where, limit=limit)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            with contextlib.suppress(Exception):
                self.engine.close()
            if self._lock_file is not None:
                with contextlib.suppress(Exception):
                    import portalocker

                    portalocker.unlock(self._lock_file)
                with contextlib.suppress(Exception):
                    self._lock_file.close()
                self._lock_file = None
            if self._temporary is not None:
                with contextlib.suppress(Exception):
                    self._temporary.cleanup()
                self._temporary = None
