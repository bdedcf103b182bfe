"""``vector``: entries in a Qdrant collection, embedded with massmem's own embedder.

The collection lives in the shared store :func:`massmem.memory.store.open_store` hands
out (embedded Qdrant under ``MASSMEM_HOME`` by default, or a server), so it shares the
one client per path with persistent memory.  Its name carries the embedder's slug, so
vectors of different models never mix.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from massmem.memory.stores.base import MemoryResult, MemoryStore, now

if TYPE_CHECKING:
    from massmem.memory.embedder import Embedder
    from massmem.memory.qdrant_store import Store

__all__ = ["VectorStore"]


class VectorStore(MemoryStore):
    type_name = "vector"

    def __init__(self, name: str, *, store: Store, embedder: Embedder, collection: str | None = None) -> None:
        from massmem.memory.embedder import collection_slug

        super().__init__(name)
        self.store = store
        self.embedder = embedder
        self.collection = f"massmem_store_{collection or name}_{collection_slug(embedder)}"
        self.store.ensure_collection(self.collection, embedder.dims)

    @classmethod
    def from_config(cls, config: Any) -> VectorStore:
        from massmem.memory.embedder import create_embedder
        from massmem.memory.store import open_store

        options = config.config
        return cls(
            config.name,
            store=open_store(options.qdrant),
            embedder=create_embedder(options.embedding),
            collection=options.collection,
        )

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        await asyncio.to_thread(self._add, content, mime_type, dict(metadata or {}))

    def _add(self, content: str, mime_type: str, metadata: dict[str, Any]) -> None:
        vector = self.embedder.embed([content])
        payload = {"data": content, "mime_type": mime_type, "metadata": metadata, "created_at": now()}
        self.store.upsert(self.collection, [str(uuid.uuid4())], vector, [payload])

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        if not text.strip():
            return []
        return await asyncio.to_thread(self._query, text, top_k, similarity_threshold)

    def _query(self, text: str, top_k: int, threshold: float) -> list[MemoryResult]:
        vector = self.embedder.embed_one(text)
        hits = self.store.dense_search(self.collection, vector, None, top_k)
        out = []
        for hit in hits:
            score = float(hit.score) if hit.score is not None else 0.0
            if score < threshold:
                continue
            payload = hit.payload
            out.append(
                MemoryResult(
                    str(payload.get("data", "")),
                    str(payload.get("mime_type", "text/plain")),
                    dict(payload.get("metadata") or {}),
                    score,
                )
            )
        return out

    async def count(self) -> int:
        return await asyncio.to_thread(self.store.count, self.collection)

    async def clear(self) -> None:
        def drop() -> None:
            self.store.drop_collection(self.collection)
            self.store.ensure_collection(self.collection, self.embedder.dims)

        await asyncio.to_thread(drop)
