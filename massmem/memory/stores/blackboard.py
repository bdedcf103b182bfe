"""``blackboard``: an append-only board of notes, newest first, optionally kept on disk.

Entries are never edited; beyond ``max_items`` the oldest fall off.  With ``persist``
the board is one JSON file under ``MASSMEM_HOME/memory_stores/blackboard-<name>/``,
rewritten atomically after every append, so a later run (or session) sees it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from massmem.errors import MemoryError_
from massmem.memory.stores.base import MemoryResult, MemoryStore, lexical_similarity, now, store_dir, terms
from massmem.paths import atomic_write_text

__all__ = ["BlackboardStore"]

_FILE = "blackboard.json"


class BlackboardStore(MemoryStore):
    type_name = "blackboard"

    def __init__(self, name: str, *, max_items: int = 200, path: Path | None = None) -> None:
        super().__init__(name)
        self.max_items = max_items
        self.path = path
        self._entries: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        if path is not None and path.is_file():
            self._entries = self._load(path)[-max_items:]

    @classmethod
    def from_config(cls, config: Any) -> BlackboardStore:
        options = config.config
        path = store_dir(config.name, cls.type_name) / _FILE if options.persist else None
        return cls(config.name, max_items=options.max_items, path=path)

    @staticmethod
    def _load(path: Path) -> list[dict[str, Any]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MemoryError_(f"cannot read the blackboard {path}: {exc}") from exc
        entries = data.get("entries") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise MemoryError_(f"the blackboard {path} has no 'entries' list")
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("content"), str)]

    def _save(self) -> None:
        if self.path is None:
            return
        atomic_write_text(self.path, json.dumps({"entries": self._entries}, ensure_ascii=False))

    def __len__(self) -> int:
        return len(self._entries)

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        async with self._lock:
            entry = {
                "content": content,
                "mime_type": mime_type,
                "metadata": dict(metadata or {}),
                "at": now(),
            }
            self._entries.append(entry)
            if len(self._entries) > self.max_items:
                del self._entries[: len(self._entries) - self.max_items]
            await asyncio.to_thread(self._save)

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        """The newest entries that pass the threshold (scored by word overlap), newest first."""
        wanted = terms(text)
        out: list[MemoryResult] = []
        for entry in reversed(self._entries):
            content = entry["content"]
            score = lexical_similarity(wanted, terms(content)) if wanted else 1.0
            if score < similarity_threshold:
                continue
            out.append(
                MemoryResult(content, entry.get("mime_type", "text/plain"), entry.get("metadata", {}), score)
            )
            if len(out) >= top_k:
                break
        return out

    async def clear(self) -> None:
        async with self._lock:
            self._entries.clear()
            await asyncio.to_thread(self._save)
