"""``list``: entries kept in memory for one run, ranked by word overlap, then recency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from massmem.memory.stores.base import MemoryResult, MemoryStore, lexical_similarity, terms

__all__ = ["ListStore"]


@dataclass
class _Item:
    content: str
    mime_type: str
    metadata: dict[str, Any]
    seq: int
    words: set[str] = field(default_factory=set)


class ListStore(MemoryStore):
    """The simplest store: a list.  An empty query returns the newest entries."""

    type_name = "list"

    def __init__(self, name: str, *, max_items: int | None = None) -> None:
        super().__init__(name)
        self.max_items = max_items
        self._items: list[_Item] = []
        self._seq = 0

    @classmethod
    def from_config(cls, config: Any) -> ListStore:
        return cls(config.name, max_items=config.config.max_items)

    def __len__(self) -> int:
        return len(self._items)

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        self._seq += 1
        self._items.append(_Item(content, mime_type, dict(metadata or {}), self._seq, terms(content)))
        if self.max_items is not None and len(self._items) > self.max_items:
            del self._items[: len(self._items) - self.max_items]

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        wanted = terms(text)
        scored = []
        for item in self._items:
            score = lexical_similarity(wanted, item.words) if wanted else 1.0
            if score >= similarity_threshold:
                scored.append((score, item.seq, item))
        scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [MemoryResult(i.content, i.mime_type, dict(i.metadata), s) for s, _, i in scored[:top_k]]

    async def clear(self) -> None:
        self._items.clear()
