"""massmem's persistent memory (:class:`~massmem.memory.persistent.PersistentMemory`) behind
the store protocol, two ways.

* :class:`Mem0Store` — the ``mem0`` type a team file declares under ``memory_stores``: a plain
  store.  Entries are kept as raw records in their own collection of the shared Qdrant store
  and found with persistent memory's hybrid (dense + lexical) search, so its scores are
  fusion scores rather than cosines.  No extraction LLM is bound here: what is added is what
  is kept.  It survives across sessions (all sessions are searched).
* :class:`PersistentStore` — one agent's own persistent memory, as the team binds it
  (:mod:`massmem.team.memory_binding`).  Its queries take the winner/turn scope and the
  records to leave out as query options (``previous_winners``, ``exclude``), its block is
  persistent memory's own (each memory with the turn and agent it came from), and a whole
  turn is recorded at once (:meth:`PersistentStore.record_turn`), facts extracted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from massmem.memory.stores.base import MemoryResult, MemoryStore

if TYPE_CHECKING:
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.recall import WinnerLike
    from massmem.memory.recording import RecordResult

__all__ = ["Mem0Store", "PersistentStore"]

_SESSION = "memory_store"


class Mem0Store(MemoryStore):
    type_name = "mem0"

    def __init__(self, name: str, memory: PersistentMemory) -> None:
        super().__init__(name)
        self.memory = memory
        self._turn = 0

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> Mem0Store:
        from massmem.config.schema import PersistentMemoryConfig
        from massmem.memory.embedder import collection_slug, create_embedder
        from massmem.memory.persistent import PersistentMemory

        options = config.config
        settings = PersistentMemoryConfig(enabled=True, embedding=options.embedding, qdrant=options.qdrant)
        embedder = overrides.pop("embedder", None) or create_embedder(options.embedding)
        memory = PersistentMemory(
            settings,
            agent_id=config.name,
            session_id=_SESSION,
            embedder=embedder,
            collection=f"massmem_store_{config.name}_{collection_slug(embedder)}",
            search_all_sessions=True,
            **overrides,
        )
        return cls(config.name, memory)

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        self._turn += 1
        extra = {"mime_type": mime_type, "store_metadata": dict(metadata or {})}
        await self.memory.record([{"role": "assistant", "content": content}], turn=self._turn, metadata=extra)

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        if not text.strip():
            return []
        hits = await self.memory.retrieve(text, limit=top_k)
        return [
            MemoryResult(
                hit.text,
                str(hit.metadata.get("mime_type", "text/plain")),
                dict(hit.metadata.get("store_metadata") or {}),
                hit.score,
            )
            for hit in hits
            if hit.score >= similarity_threshold
        ]

    async def count(self) -> int:
        return await asyncio.to_thread(self.memory.count)

    async def clear(self) -> None:
        memory = self.memory

        def drop() -> None:
            memory.store.drop_collection(memory.collection)
            memory.store.ensure_collection(memory.collection, memory.embedder.dims)

        await asyncio.to_thread(drop)

    async def close(self) -> None:
        self.memory.close()


class PersistentStore(MemoryStore):
    """One agent's persistent memory as a store: scope and exclusions are query options."""

    type_name = "persistent"

    def __init__(self, memory: PersistentMemory, name: str = "persistent") -> None:
        super().__init__(name)
        self.memory = memory

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        """One note, recorded like a turn's answer (``metadata["turn"]`` tags it; 0 when absent)."""
        extra = dict(metadata or {})
        turn = int(extra.pop("turn", 0) or 0)
        await self.memory.record([{"role": "assistant", "content": content}], turn=turn, metadata=extra)

    async def record_turn(
        self, messages: Sequence[Any], *, turn: int, reasoning: str | None = None
    ) -> RecordResult:
        """A whole turn (the question and what the agent said), with fact extraction."""
        return await self.memory.record(messages, turn=turn, reasoning=reasoning)

    async def query(
        self,
        text: str,
        *,
        top_k: int = 3,
        similarity_threshold: float = 0.0,
        previous_winners: Iterable[WinnerLike] = (),
        exclude: Collection[str] = (),
    ) -> list[MemoryResult]:
        hits = await self.memory.retrieve(
            text, previous_winners=previous_winners, limit=top_k, exclude=exclude
        )
        return [
            MemoryResult(
                h.text, "text/plain", {"agent_id": h.agent_id, "turn": h.turn, "kind": h.kind}, h.score
            )
            for h in hits
            if h.score >= similarity_threshold
        ]

    async def update_context(
        self,
        text: str,
        *,
        top_k: int = 3,
        similarity_threshold: float = 0.0,
        max_tokens: int | None = None,
        previous_winners: Iterable[WinnerLike] = (),
        exclude: Collection[str] = (),
    ) -> str | None:
        """Persistent memory's own block: each memory with the turn (and agent) it came from."""
        hits = await self.memory.retrieve(
            text, previous_winners=previous_winners, limit=top_k, exclude=exclude
        )
        hits = [h for h in hits if h.score >= similarity_threshold]
        return self.memory.render(hits) if hits else None

    async def clear(self) -> None:
        from massmem.errors import MemoryError_

        raise MemoryError_(
            f"the persistent memory of {self.memory.agent_id} lives in a collection other agents share; "
            f"delete its memories with: massmem memory forget --agent {self.memory.agent_id}"
        )

    async def close(self) -> None:
        self.memory.close()
