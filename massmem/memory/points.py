"""The plain data the memory engine speaks: points, scopes and equality filters.

These are massmem's own shapes, independent of which Qdrant engine holds the data (Qdrant
Edge in-process, or a Qdrant server through ``qdrant-client``), so retrieval, mem0's adapter
and the inspection commands never touch an engine's types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Equals", "PointRecord", "ScopeClause", "Where", "Write", "as_record"]


@dataclass(slots=True)
class PointRecord:
    """A point as retrieval sees it (``score`` is whatever the query that found it scored)."""

    id: str
    payload: dict[str, Any]
    vector: Any = None  # np.ndarray | None
    score: float = 0.0


@dataclass(frozen=True, slots=True)
class ScopeClause:
    """One allowed slice of a collection: an agent, optionally one session, optionally turns <= N."""

    agent_id: str
    session: str | None = None
    max_turn: int | None = None


@dataclass(frozen=True, slots=True)
class Equals:
    """Every key equals its value (a list value means "any of these"); mem0's filters."""

    fields: Mapping[str, Any]


#: ``None`` = every point; a list of clauses = points in any of them (an empty list = none);
#: :class:`Equals` = points whose payload matches.
Where: TypeAlias = Sequence[ScopeClause] | Equals | None


@dataclass(frozen=True, slots=True)
class Write:
    """One point to write: its dense vector(s), and the text its BM25 vector is made from.

    ``vector`` is one vector, or several (the whole text's first, then one per sentence) for
    a collection whose points keep several (:meth:`~massmem.memory.engine.Engine.multivector`).
    """

    id: str
    vector: Any
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text_lemmatized") or self.payload.get("data") or "")


def as_record(point: Any, with_vectors: bool, score: float = 0.0) -> PointRecord:
    """An engine's point (Edge's ``Record``/``ScoredPoint``, qdrant-client's) as a :class:`PointRecord`."""
    vector = None
    if with_vectors:
        import numpy as np

        raw = point.vector
        if isinstance(raw, dict):
            raw = raw.get("")
        vector = None if raw is None else np.asarray(raw, dtype=np.float32)
    return PointRecord(str(point.id), dict(point.payload or {}), vector, score)
