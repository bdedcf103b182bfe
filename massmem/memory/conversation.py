"""Short-term memory: the verbatim messages of one agent's current context.

It stores typed :mod:`massmem.messages` only, so what :meth:`ConversationMemory.messages`
returns can go straight into a :class:`~massmem.backends.base.ModelRequest`; bookkeeping
(which messages are pinned) lives beside the list, never inside a message, so nothing
internal reaches a provider.

``max_messages`` bounds the window.  Eviction drops the oldest *unpinned* messages —
an agent pins the message that states its task so a long coordination never forgets the
question — and never leaves a tool result whose call was evicted, because providers reject
a tool result that answers nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from massmem.messages import AssistantMessage, Message, ToolResultMessage, message_from_dict, message_to_dict

__all__ = ["ConversationMemory"]


class ConversationMemory:
    """An ordered list of messages with an optional size bound."""

    def __init__(self, max_messages: int | None = None, messages: Iterable[Message] = ()) -> None:
        if max_messages is not None and max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.max_messages = max_messages
        self._messages: list[Message] = []
        self._pinned: list[bool] = []
        for message in messages:
            self.add(message)

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, message: Message, *, pinned: bool = False) -> None:
        """Append a message; pinned ones survive eviction."""
        self._messages.append(message)
        self._pinned.append(pinned)
        self._evict()

    def extend(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self.add(message)

    def messages(self) -> list[Message]:
        """A copy of the messages, oldest first."""
        return list(self._messages)

    def clear(self) -> None:
        self._messages.clear()
        self._pinned.clear()

    def _evict(self) -> None:
        if self.max_messages is None or len(self._messages) <= self.max_messages:
            return
        excess = len(self._messages) - self.max_messages
        drop: set[int] = set()
        for i, pinned in enumerate(self._pinned):
            if len(drop) == excess:
                break
            if not pinned:
                drop.add(i)
        kept = [
            (m, p) for i, (m, p) in enumerate(zip(self._messages, self._pinned, strict=True)) if i not in drop
        ]
        # A result whose call was evicted would be rejected by the provider: drop it too.
        calls = {c.id for m, _ in kept if isinstance(m, AssistantMessage) for c in m.tool_calls}
        kept = [
            (m, p) for m, p in kept if not (isinstance(m, ToolResultMessage) and m.tool_call_id not in calls)
        ]
        self._messages = [m for m, _ in kept]
        self._pinned = [p for _, p in kept]

    # -- state save / load ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_messages": self.max_messages,
            "messages": [message_to_dict(m) for m in self._messages],
            "pinned": [i for i, p in enumerate(self._pinned) if p],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationMemory:
        memory = cls(max_messages=data.get("max_messages"))
        pinned = set(data.get("pinned", ()))
        # Restore without evicting: the saved list already respected the bound.
        for i, raw in enumerate(data.get("messages", ())):
            memory._messages.append(message_from_dict(raw))
            memory._pinned.append(i in pinned)
        return memory
