"""An agent's conversation memory seen through the store protocol.

Conversation memory is an agent's own verbatim context, so it is not a ``type:`` a team file
declares; this adapter lets library code treat it like any other store — add a note as a
message, query the messages by word overlap (newest first on ties), render the matches as
one labelled block, clear it.  The messages stay :mod:`massmem.messages` values, so nothing
added here reaches a provider in any other shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from massmem.memory.conversation import ConversationMemory
from massmem.memory.stores.base import MemoryResult, MemoryStore, lexical_similarity, terms
from massmem.messages import AssistantMessage, Message, SystemMessage, ToolResultMessage, UserMessage

__all__ = ["ConversationStore"]

_ROLES = {"user": UserMessage, "assistant": AssistantMessage, "system": SystemMessage}


def _text(message: Message) -> str:
    content = getattr(message, "content", "")
    return content if isinstance(content, str) else ""


def _role(message: Message) -> str:
    return "tool" if isinstance(message, ToolResultMessage) else str(message.kind)


class ConversationStore(MemoryStore):
    """:class:`ConversationMemory` behind :class:`MemoryStore` (``metadata["role"]`` picks the role)."""

    type_name = "conversation"

    def __init__(self, memory: ConversationMemory, name: str = "conversation") -> None:
        super().__init__(name)
        self.memory = memory

    async def add(
        self, content: str, *, mime_type: str = "text/plain", metadata: Mapping[str, Any] | None = None
    ) -> None:
        role = str((metadata or {}).get("role", "user"))
        factory = _ROLES.get(role)
        if factory is None:
            from massmem.errors import MemoryError_

            raise MemoryError_(
                f"a conversation entry's role must be one of {', '.join(_ROLES)}, not {role!r}"
            )
        self.memory.add(factory(content))

    async def query(
        self, text: str, *, top_k: int = 3, similarity_threshold: float = 0.0
    ) -> list[MemoryResult]:
        wanted = terms(text)
        scored = []
        for position, message in enumerate(self.memory.messages()):
            body = _text(message)
            if not body.strip():
                continue
            score = lexical_similarity(wanted, terms(body)) if wanted else 1.0
            if score >= similarity_threshold and (score > 0 or not wanted):
                scored.append((score, position, body, _role(message)))
        scored.sort(key=lambda row: (row[0], row[1]), reverse=True)
        return [
            MemoryResult(body, "text/plain", {"role": role, "position": position}, score)
            for score, position, body, role in scored[:top_k]
        ]

    async def clear(self) -> None:
        self.memory.clear()
