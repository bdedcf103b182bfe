"""What the orchestrator lets every agent see: answers, votes and findings, with attribution.

:class:`SharedMemory` has two parts:

* a **shared conversation memory** — every answer, vote and note in order, with the agent
  that gave it; the last ``window`` entries (default 10) are shown to each agent;
* an optional **shared persistent memory** — the same entries recorded in the long-term
  store under the team's own id, so later turns and sessions can retrieve them by meaning.
  Any agent retrieves them with the task as the query, including an agent that joined the
  team after they were written; entries the window already shows are left out.

It is a :class:`~massmem.memory.stores.base.MemoryStore`, so it reaches agents the way every
memory does (:mod:`massmem.team.memory_binding`): answers and votes are added as they
happen (:meth:`add`, or :meth:`record_answer` / :meth:`record_vote`) and :meth:`update_context`
(:meth:`render_for`) renders the block right before an agent works.  Memory is an aid: every
failure here is logged and swallowed, never raised into the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.memory.stores.base import MemoryResult, MemoryStore, lexical_similarity, terms

if TYPE_CHECKING:
    from massmem.config.schema import SharedMemoryConfig
    from massmem.memory.persistent import PersistentMemory

__all__ = ["SHARED_AGENT_ID", "SharedEntry", "SharedMemory"]

log = logging.getLogger(__name__)

#: the agent id shared persistent memories are stored under
SHARED_AGENT_ID = "team_shared"


@dataclass(frozen=True, slots=True)
class SharedEntry:
    agent_id: str
    kind: str  # "answer" | "vote" | "note"
    content: str
    timestamp: float
    turn: int | None = None
    target: str | None = None  # the agent voted for

    def label(self) -> str:
        if self.kind == "vote":
            return f"[{self.agent_id} voted for {self.target or '?'}]"
        if self.kind == "answer":
            return f"[{self.agent_id} answer]"
        return f"[{self.agent_id}]"


class SharedMemory(MemoryStore):
    """The team's shared memory; safe to call from concurrent agent tasks."""

    type_name = "shared"

    def __init__(
        self,
        config: SharedMemoryConfig | None = None,
        *,
        persistent: PersistentMemory | None = None,
        max_entry_chars: int = 1200,
    ) -> None:
        from massmem.config.schema import SharedMemoryConfig

        super().__init__("shared")
        self.config = config if config is not None else SharedMemoryConfig()
        self.persistent = persistent if self.config.persistent else None
        self.max_entry_chars = max_entry_chars
        self._entries: list[SharedEntry] = []
        #: the persistent record ids of each entry, so the window's own entries are not retrieved again
        self._record_ids: dict[SharedEntry, list[str]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @property
    def window(self) -> int:
        return self.config.window

    def entries(self) -> list[SharedEntry]:
        with self._lock:
            return list(self._entries)

    def recent(self, n: int | None = None) -> list[SharedEntry]:
        n = self.window if n is None else n
        with self._lock:
            return list(self._entries[-n:]) if n > 0 else []

    # ------------------------------------------------------------------ recording

    async def record_answer(self, agent_id: str, answer: str, *, turn: int | None = None) -> None:
        await self._record(SharedEntry(agent_id, "answer", answer, time.time(), turn))

    async def record_vote(
        self, agent_id: str, voted_for: str, reason: str = "", *, turn: int | None = None
    ) -> None:
        content = reason.strip() or "(no reason given)"
        await self._record(SharedEntry(agent_id, "vote", content, time.time(), turn, voted_for))

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        """One entry; ``metadata`` names its ``agent_id``, ``kind`` (answer, vote, note), ``turn``
        and, for a vote, its ``target``."""
        meta = dict(metadata or {})
        agent_id = str(meta.get("agent_id", "?"))
        kind = str(meta.get("kind", "note"))
        turn = meta.get("turn")
        if kind == "vote":
            await self.record_vote(agent_id, str(meta.get("target", "?")), content, turn=turn)
            return
        await self._record(SharedEntry(agent_id, kind, content, time.time(), turn))

    async def _record(self, entry: SharedEntry) -> None:
        if not self.enabled:
            return
        try:
            with self._lock:
                self._entries.append(entry)
        except Exception as exc:  # pragma: no cover - appending cannot really fail
            log.warning("shared memory: could not record %s from %s: %s", entry.kind, entry.agent_id, exc)
            return
        if self.persistent is not None and entry.kind != "vote":
            try:
                text = f"{entry.label()} {entry.content}"
                result = await self.persistent.record(
                    [{"role": "assistant", "content": text}],
                    turn=entry.turn or 0,
                    metadata={"shared_from": entry.agent_id, "shared_kind": entry.kind},
                )
                with self._lock:
                    self._record_ids[entry] = [*result.raw_ids, *_fact_ids(result.facts)]
            except Exception as exc:
                log.warning("shared memory: persistent recording for %s failed: %s", entry.agent_id, exc)

    # ------------------------------------------------------------------ rendering

    async def render_for(self, agent_id: str, query: str | None = None) -> str | None:
        """The block to show ``agent_id`` before it works, or ``None`` when there is nothing.

        With a ``query`` (the task), the shared persistent memory is searched by meaning; what
        the window shows is left out of the hits, so no entry is shown twice.
        """
        if not self.enabled:
            return None
        sections: list[str] = []
        recent: list[SharedEntry] = []
        try:
            recent = self.recent()
            total = len(self._entries)
            if recent:
                head = f"=== SHARED CONVERSATION MEMORY (last {len(recent)} of {total} entries) ==="
                body = [f"{e.label()} {self._clip(e.content)}" for e in recent]
                sections.append("\n".join([head, *body]))
        except Exception as exc:  # pragma: no cover - defensive
            log.warning("shared memory: rendering for %s failed: %s", agent_id, exc)
        if self.persistent is not None and query:
            try:
                with self._lock:
                    shown = {i for e in recent for i in self._record_ids.get(e, ())}
                hits = await self.persistent.retrieve(query, exclude=shown)
                if hits:
                    lines = ["=== SHARED PERSISTENT MEMORY ==="]
                    lines += [f"• {self._clip(h.text)}" for h in hits]
                    sections.append("\n".join(lines))
            except Exception as exc:
                log.warning("shared memory: retrieval for %s failed: %s", agent_id, exc)
        if not sections:
            return None
        return "\n\n".join([*sections, "=== END OF SHARED MEMORY ==="])

    async def update_context(
        self,
        text: str,
        *,
        top_k: int = 3,
        similarity_threshold: float = 0.0,
        max_tokens: int | None = None,
        agent_id: str = "",
    ) -> str | None:
        """The shared block for ``agent_id``: the window, and what the task finds (:meth:`render_for`)."""
        return await self.render_for(agent_id, query=text)

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        """Entries of the conversation part by word overlap with ``text``, newest first on ties."""
        wanted = terms(text)
        scored = []
        for position, entry in enumerate(self.entries()):
            score = lexical_similarity(wanted, terms(entry.content)) if wanted else 1.0
            if score >= similarity_threshold and (score > 0 or not wanted):
                scored.append((score, position, entry))
        scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [
            MemoryResult(
                e.content, "text/plain", {"agent_id": e.agent_id, "kind": e.kind, "turn": e.turn}, score
            )
            for score, _, e in scored[:top_k]
        ]

    def _clip(self, text: str) -> str:
        flat = " ".join(text.split())
        if len(flat) > self.max_entry_chars:
            return flat[: self.max_entry_chars - 1] + "…"
        return flat

    # ------------------------------------------------------------------ state

    async def clear(self) -> None:
        """Forget the conversation part (the persistent part is deleted with ``massmem memory forget``)."""
        with self._lock:
            self._entries.clear()
            self._record_ids.clear()

    async def close(self) -> None:
        if self.persistent is not None:
            self.persistent.close()


def _fact_ids(facts: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids of the facts mem0 reported for a record call (entries without one are skipped)."""
    return [str(f["id"]) for f in facts if isinstance(f, Mapping) and f.get("id")]
