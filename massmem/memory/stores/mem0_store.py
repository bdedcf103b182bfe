"""``mem0``: massmem's persistent memory (:class:`~massmem.memory.persistent.PersistentMemory`)
used as a plain store.

Entries are kept as raw records in their own collection of the shared Qdrant store and
found with persistent memory's hybrid (dense + lexical) search, so its scores are fusion
scores rather than cosines.  No extraction LLM is bound here: what is added is what is
kept.  It survives across sessions (all sessions are searched).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from massmem.memory.stores.base import MemoryResult, MemoryStore

if TYPE_CHECKING:
    from massmem.memory.persistent import PersistentMemory

__all__ = ["Mem0Store"]

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
