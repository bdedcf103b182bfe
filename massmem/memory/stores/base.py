"""The memory-store protocol: every pluggable store speaks it.

A store keeps entries (text plus a MIME type and metadata) and answers queries with
scored :class:`MemoryResult` rows, best first.  How its results enter an agent's
context is the store's own decision (:meth:`MemoryStore.update_context`): the default
renders one clearly labelled block, trimmed to a token budget.

Stores never import the agent layer; :mod:`massmem.team.memory_binding` wraps the
rendered text into the agent's context blocks.
"""

from __future__ import annotations

import abc
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from massmem.errors import MemoryError_

__all__ = [
    "MemoryResult",
    "MemoryStore",
    "lexical_similarity",
    "render_results",
    "store_dir",
    "terms",
]


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class MemoryResult:
    """One hit: what was stored and how well it matched (0..1, higher is better)."""

    content: str
    mime_type: str = "text/plain"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    score: float = 0.0


class MemoryStore(abc.ABC):
    """A named store with add / query / update_context / clear / close."""

    #: the ``type:`` this class is registered under
    type_name: str = "store"
    #: read-only stores refuse :meth:`add`
    writable: bool = True

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Store one entry."""

    @abc.abstractmethod
    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        """At most ``top_k`` entries scoring at least ``similarity_threshold``, best first."""

    @abc.abstractmethod
    async def clear(self) -> None:
        """Forget every entry."""

    async def close(self) -> None:  # noqa: B027 - optional for stores holding nothing
        """Release files and clients (the store is not used afterwards)."""

    async def update_context(
        self,
        text: str,
        *,
        top_k: int = 3,
        similarity_threshold: float = 0.0,
        max_tokens: int | None = None,
    ) -> str | None:
        """The labelled block this store adds to a call, or None when it has nothing to add."""
        results = await self.query(text, top_k=top_k, similarity_threshold=similarity_threshold)
        if not results:
            return None
        return render_results(self.label(), results, max_tokens=max_tokens)

    def label(self) -> str:
        return f"MEMORY STORE '{self.name}' ({self.type_name})"

    def _refuse_write(self) -> None:
        raise MemoryError_(f"memory store {self.name!r} ({self.type_name}) is read-only")


def render_results(
    label: str, results: Sequence[MemoryResult], *, max_tokens: int | None = None
) -> str | None:
    """``=== label ===`` then one bullet per result, cut to ``max_tokens`` (None: no cut).

    Whole results are dropped from the end once the budget is spent; the first result is
    shortened rather than dropped, so a tight budget still shows the best match.
    """
    from massmem.context.tokens import estimate_tokens

    head = f"=== {label} ==="
    tail = f"=== END OF {label} ==="
    lines = [head]
    used = estimate_tokens(head) + estimate_tokens(tail) + 2
    for result in results:
        source = result.metadata.get("source")
        where = f"[{source}] " if isinstance(source, str) and source else ""
        line = "• " + where + " ".join(result.content.split())
        cost = estimate_tokens(line) + 1
        if max_tokens is not None and used + cost > max_tokens:
            if len(lines) > 1:
                break
            room = max_tokens - used
            if room < 8:
                return None
            # estimate is ~4 chars/token for prose; shrink until it fits
            keep = max(10, room * 4)
            while keep > 10 and estimate_tokens(line[:keep] + "…") + 1 > room:
                keep = int(keep * 0.8)
            line = line[:keep] + "…"
            cost = estimate_tokens(line) + 1
        lines.append(line)
        used += cost
    lines.append(tail)
    return "\n".join(lines)


def terms(text: str) -> set[str]:
    """Lower-cased content words of ``text`` (stop words dropped)."""
    from massmem.memory.stop_words import STOP_WORDS

    return {t for t in _WORD.findall(text.lower()) if t not in STOP_WORDS}


def lexical_similarity(query: set[str], document: set[str]) -> float:
    """Cosine similarity of two word sets (0 when either is empty)."""
    if not query or not document:
        return 0.0
    return len(query & document) / math.sqrt(len(query) * len(document))


def store_dir(name: str, type_name: str) -> Path:
    """``MASSMEM_HOME/memory_stores/<type>-<name>/`` (created)."""
    from massmem import paths

    folder = paths.safe_child(paths.home() / "memory_stores", f"{type_name}-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def now() -> float:
    return time.time()
