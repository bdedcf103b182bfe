"""Every stored memory with its origin: list, search, show and delete them (``massmem memory``).

Each memory is a :class:`MemoryItem` with its origin — agent, turn and memory session (the
config's ``memory.persistent_memory.session_name`` when set, else the run's session id) — and
its kind (``raw``: words an agent or the user actually said; ``fact``: what extraction kept).

:class:`StoreInspector` reads every massmem collection of one store through the memory
layer's own pieces (:func:`~massmem.memory.store.open_store`, ``Store.delete_points`` — which
keeps the lexical index in step — and :func:`~massmem.memory.retrieval.hybrid_search`); it is
the one place outside the store that pages through Qdrant.  Commands and the REPL only render
what it returns.  Importing this module is cheap: Qdrant and the embedder load only when an
inspector is opened, and only when a store exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from massmem.errors import MassmemError

if TYPE_CHECKING:
    from massmem.config.schema import PersistentMemoryConfig

__all__ = [
    "COLLECTION_PREFIX",
    "MemoryInspector",
    "MemoryItem",
    "StoreInspector",
    "has_store",
    "open_inspector",
    "session_deleter",
]

#: collections massmem's persistent memory writes (``massmem_<embedder>-<dims>``)
COLLECTION_PREFIX = "massmem_"


@dataclass(slots=True)
class MemoryItem:
    """One stored memory and its origin."""

    id: str
    text: str
    agent_id: str | None
    session_id: str | None
    turn: int | None
    kind: str
    created_at: str | None = None
    collection: str | None = None
    score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "turn": self.turn,
            "kind": self.kind,
            "created_at": self.created_at,
            "collection": self.collection,
            "metadata": self.metadata,
        }
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


#: spelled out here because the inspectors' ``list`` method shadows the builtin in their classes
_Items = list[MemoryItem]


class MemoryInspector(Protocol):
    """What the memory commands need from persistent memory."""

    def list(self, *, session: str | None, agent: str | None, limit: int | None) -> list[MemoryItem]: ...

    def search(self, query: str, *, session: str | None, agent: str | None, limit: int) -> _Items: ...

    def get(self, memory_id: str) -> MemoryItem | None: ...

    def forget(self, memory_ids: Sequence[str]) -> int: ...

    def close(self) -> None: ...


_CORE = {"data", "hash", "created_at", "updated_at", "agent_id", "run_id", "session_id", "turn", "kind"}


def _item(point_id: str, payload: dict[str, Any], collection: str, score: float | None = None) -> MemoryItem:
    turn = payload.get("turn")
    return MemoryItem(
        id=str(point_id),
        text=str(payload.get("data", "")),
        agent_id=payload.get("agent_id"),
        session_id=payload.get("run_id") or payload.get("session_id"),
        turn=int(turn) if isinstance(turn, int | float) else None,
        kind=str(payload.get("kind", "fact")),
        created_at=payload.get("created_at"),
        collection=collection,
        score=score,
        metadata={k: v for k, v in payload.items() if k not in _CORE},
    )


class StoreInspector:
    """:class:`MemoryInspector` over the memory store's public API (every massmem collection)."""

    def __init__(self, config: PersistentMemoryConfig) -> None:
        from massmem.memory.store import open_store

        self.config = config
        self.store = open_store(config.qdrant, on_disk=config.on_disk)

    def collections(self) -> list[str]:
        return sorted(n for n in self.store.collections() if n.startswith(COLLECTION_PREFIX))

    def _scroll(self, collection: str, session: str | None, agent: str | None) -> Iterator[MemoryItem]:
        from massmem.memory.points import Equals

        fields = {k: v for k, v in (("run_id", session), ("agent_id", agent)) if v is not None}
        for point in self.store.scroll_all(collection, Equals(fields) if fields else None, page=512):
            yield _item(point.id, point.payload, collection)

    def list(self, *, session: str | None, agent: str | None, limit: int | None) -> list[MemoryItem]:
        items = [item for c in self.collections() for item in self._scroll(c, session, agent)]
        items.sort(key=lambda i: (i.created_at or "", int(i.metadata.get("seq", 0) or 0)))
        return items[-limit:] if limit is not None else items

    def search(self, query: str, *, session: str | None, agent: str | None, limit: int) -> _Items:
        from massmem.memory.embedder import collection_slug, create_embedder
        from massmem.memory.points import ScopeClause
        from massmem.memory.retrieval import hybrid_search

        embedder = create_embedder(self.config.embedding)
        collection = f"{COLLECTION_PREFIX}{collection_slug(embedder)}"
        if collection not in self.collections():
            return []
        self.store.ensure_collection(collection, embedder.dims)
        agents = (
            [agent]
            if agent is not None
            else sorted({i.agent_id for i in self._scroll(collection, session, None) if i.agent_id})
        )
        if not agents:
            return []
        clauses = [ScopeClause(a, session, None) for a in agents]
        points = hybrid_search(self.store, collection, embedder, query, clauses, limit)
        return [_item(p.id, p.payload, collection, p.score) for p in points]

    def get(self, memory_id: str) -> MemoryItem | None:
        for collection in self.collections():
            found = self.store.retrieve(collection, [memory_id])
            if found:
                return _item(found[0].id, found[0].payload, collection)
        return None

    def forget(self, memory_ids: Sequence[str]) -> int:
        wanted = set(memory_ids)
        deleted = 0
        for collection in self.collections():
            ids = [p.id for p in self.store.retrieve(collection, list(wanted))]
            if ids:
                self.store.delete_points(collection, ids)
                deleted += len(ids)
        return deleted

    def close(self) -> None:
        """The store is shared with the rest of the process (a REPL's agents); it closes at exit."""


def has_store(config: PersistentMemoryConfig) -> bool:
    """False when the local store has never been written (nothing to open, nothing to import)."""
    if config.qdrant.mode == "server":
        return True
    from massmem import paths

    folder = Path(config.qdrant.path).expanduser() if config.qdrant.path else paths.qdrant_dir()
    return folder.exists() and any(folder.iterdir())


def open_inspector(config: PersistentMemoryConfig) -> MemoryInspector:
    """A :class:`StoreInspector` on ``config``'s store; a :class:`MassmemError` without the memory extra."""
    try:
        return StoreInspector(config)
    except ImportError as exc:  # the memory extra is not installed
        raise MassmemError(f"persistent memory is not available: {exc}") from exc


def session_deleter(config: PersistentMemoryConfig) -> Callable[[str], int] | None:
    """``f(session_id) -> memories deleted`` on ``config``'s store; ``None`` when memory is unavailable."""
    if not has_store(config):
        return lambda session_id: 0
    try:
        import qdrant_client  # noqa: F401
    except ImportError:
        return None

    def delete(session_id: str) -> int:
        inspector = open_inspector(config)
        try:
            items = inspector.list(session=session_id, agent=None, limit=None)
            return inspector.forget([i.id for i in items]) if items else 0
        finally:
            inspector.close()

    return delete
