"""What massmem asks of a vector engine, whichever Qdrant runs underneath.

Two engines implement :class:`Engine`:

* :class:`~massmem.memory.edge_engine.EdgeEngine` — Qdrant Edge, the Qdrant engine in-process
  (one shard folder per collection).  The default: nothing to install or start.
* :class:`~massmem.memory.server_engine.ServerEngine` — a Qdrant server through
  ``qdrant-client``'s Query API (``docker-compose.qdrant.yml``), for several processes or
  machines on one memory.

Both keep the same collection layout — unnamed cosine dense vectors (several a point, scored by
the best: see :meth:`Engine.multivector`) with int8 copies (scalar quantisation: a quarter of
the bytes to scan, the best candidates re-scored on the floats), and a ``bm25`` sparse vector
with the IDF modifier — and answer :meth:`Engine.query` the same way: one request whose dense
and BM25 prefetches are fused inside the engine by distribution-based score fusion (DBSF:
each list's scores normalised by its mean and spread, then summed).  Nothing about a
collection is cached beside the engine, so what another process wrote to a server is
in the next query's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from massmem.memory.points import PointRecord, Where, Write

__all__ = ["QUANTILE", "Engine", "Sparse", "dense_value", "is_multi"]

#: a BM25 sparse vector as ``(indices, values)``
Sparse = tuple[list[int], list[float]]
#: int8 quantisation clips each dimension's values to this quantile of the data first
QUANTILE = 0.99


def is_multi(vector: Any) -> bool:
    """Is ``vector`` several vectors (a matrix, or a list of lists) rather than one?"""
    ndim = getattr(vector, "ndim", None)
    if ndim is not None:
        return bool(ndim == 2)
    return bool(len(vector)) and hasattr(vector[0], "__len__")


def dense_value(vector: Any, multi: bool) -> list[float] | list[list[float]]:
    """``vector`` as the engine takes it: one list of floats, or a list of them (``multi``).

    A point's vectors are its whole text's first, then one per sentence (see
    :meth:`Engine.multivector`); a collection of one vector per point keeps the first.
    """
    rows = [vector] if not is_multi(vector) else list(vector)
    if multi:
        return [[float(x) for x in row] for row in rows]
    return [float(x) for x in rows[0]]


class Engine(Protocol):
    mode: str  # "local" | "server"

    def describe(self) -> str: ...

    def collections(self) -> list[str]: ...

    def dims(self, name: str) -> int | None:
        """The dense size of collection ``name``; ``None`` when it does not exist."""
        ...

    def create(self, name: str, dims: int) -> None: ...

    def drop(self, name: str) -> None: ...

    def backfill_sparse(self, name: str, encode: Any) -> int:
        """Give BM25 vectors (``encode(texts)``) to points that have none; how many got one."""
        ...

    def upsert(self, name: str, writes: Sequence[Write], sparse: Sequence[Sparse | None]) -> None: ...

    def set_payload(self, name: str, point_id: str, payload: dict[str, Any]) -> None:
        """Merge ``payload`` into the point's payload (Qdrant's ``set_payload``)."""
        ...

    def delete(self, name: str, ids: Sequence[str]) -> None: ...

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[PointRecord]: ...

    def scroll(
        self, name: str, where: Where, limit: int, offset: Any = None, *, with_vectors: bool = False
    ) -> tuple[list[PointRecord], Any]: ...

    def count(self, name: str, where: Where = None) -> int: ...

    def multivector(self, name: str) -> bool:
        """Does each point of ``name`` hold several dense vectors, scored by their best (MaxSim)?

        Collections made by this version do: a raw record of a user's message keeps its whole
        text's vector and one per sentence, so a fact said in passing ("By the way, my locker
        code is 4-17-32. Anyway: ...") is found by its own sentence.  Collections made before
        hold one vector per point and keep working as they are.
        """
        ...

    def query(
        self,
        name: str,
        *,
        dense: Sequence[float] | None,
        sparse: Sparse | None,
        where: Where,
        limit: int,
        prefetch: int | None = None,
        with_vectors: bool = False,
        fields: Sequence[str] | None = None,
    ) -> list[PointRecord]:
        """Best ``limit`` points: dense only, BM25 only, or both fused by DBSF in the engine.

        ``prefetch`` is how many each search hands to the fusion (at least ``limit``): the more,
        the more candidates both searches found, so the fewer fused on one score alone.
        ``fields``: only these payload keys (re-ranking a pool needs two; reading every
        pooled point's whole payload costs ~2 ms per query at 100 points), ``None``: all.
        """
        ...

    def close(self) -> None: ...
