"""Typed messages and stream events.

Messages are what an agent's conversation is made of; stream events are what a
backend yields while a model answers.  Both are kind-tagged unions of frozen
dataclasses, so code switches on them with ``match`` instead of probing
optional fields.  Nothing here knows about any provider's wire format: each
backend converts at its edge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "AssistantMessage",
    "FinishReason",
    "Finished",
    "Message",
    "ReasoningDelta",
    "ServerToolActivity",
    "StreamEvent",
    "SystemMessage",
    "TextDelta",
    "ToolCall",
    "ToolResultMessage",
    "Usage",
    "UserMessage",
    "message_from_dict",
    "message_to_dict",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A request from the model to call a tool.  Also a stream event (complete, never partial)."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    #: The arguments exactly as the model produced them; kept for replay and for
    #: diagnosing malformed JSON (``arguments`` is then empty).
    raw_arguments: str = ""
    kind: Literal["tool_call"] = "tool_call"

    @classmethod
    def from_raw(cls, id: str, name: str, raw: str) -> ToolCall:
        """Build from a provider's raw JSON argument string, tolerating junk."""
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        return cls(id=id, name=name, arguments=parsed, raw_arguments=raw)


@dataclass(frozen=True, slots=True)
class SystemMessage:
    content: str
    kind: Literal["system"] = "system"


@dataclass(frozen=True, slots=True)
class UserMessage:
    content: str
    kind: Literal["user"] = "user"


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    kind: Literal["assistant"] = "assistant"


@dataclass(frozen=True, slots=True)
class ToolResultMessage:
    tool_call_id: str
    name: str
    content: str
    kind: Literal["tool_result"] = "tool_result"


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True)
class ServerToolActivity:
    """A tool the provider runs itself (web search, code execution) did something.

    Kept apart from :class:`ToolCall` on purpose: massmem must never try to answer a
    server-side call, only show it in the live view.  ``tool`` is the provider's own name
    (``web_search``, ``code_execution``...), ``detail`` a short human line (a query, a status).
    """

    tool: str
    detail: str = ""
    kind: Literal["server_tool"] = "server_tool"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as reported by the provider (``estimated`` when we had to count ourselves)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    kind: Literal["usage"] = "usage"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage | None) -> Usage:
        """The sum of two records, estimated if either part was; ``None`` (nothing reported) adds nothing.

        Running totals (a seat's calls, an agent's summary requests, a run) are built with ``+``.
        """
        if other is None:
            return self
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            estimated=self.estimated or other.estimated,
        )

    def __sub__(self, earlier: Usage) -> Usage:
        """What a running total grew by since the ``earlier`` reading (estimated as the total is)."""
        if not isinstance(earlier, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens - earlier.input_tokens,
            output_tokens=self.output_tokens - earlier.output_tokens,
            reasoning_tokens=self.reasoning_tokens - earlier.reasoning_tokens,
            cached_tokens=self.cached_tokens - earlier.cached_tokens,
            estimated=self.estimated,
        )


FinishReason: TypeAlias = Literal["stop", "tool_calls", "length", "content_filter", "other"]


@dataclass(frozen=True, slots=True)
class Finished:
    reason: FinishReason = "stop"
    kind: Literal["finished"] = "finished"


StreamEvent: TypeAlias = TextDelta | ReasoningDelta | ServerToolActivity | ToolCall | Usage | Finished


# -- plain-data round trip (session state, debug dumps) ---------------------------------------


def message_to_dict(message: Message) -> dict[str, Any]:
    match message:
        case SystemMessage(content=c) | UserMessage(content=c):
            return {"kind": message.kind, "content": c}
        case AssistantMessage(content=c, tool_calls=calls):
            out: dict[str, Any] = {"kind": "assistant", "content": c}
            if calls:
                out["tool_calls"] = [
                    {"id": t.id, "name": t.name, "arguments": t.arguments, "raw_arguments": t.raw_arguments}
                    for t in calls
                ]
            return out
        case ToolResultMessage(tool_call_id=i, name=n, content=c):
            return {"kind": "tool_result", "tool_call_id": i, "name": n, "content": c}
    raise TypeError(f"not a message: {message!r}")


def message_from_dict(data: dict[str, Any]) -> Message:
    kind = data.get("kind")
    if kind == "system":
        return SystemMessage(str(data["content"]))
    if kind == "user":
        return UserMessage(str(data["content"]))
    if kind == "assistant":
        calls = tuple(
            ToolCall(
                id=str(t["id"]),
                name=str(t["name"]),
                arguments=dict(t.get("arguments") or {}),
                raw_arguments=str(t.get("raw_arguments", "")),
            )
            for t in data.get("tool_calls", ())
        )
        return AssistantMessage(str(data.get("content", "")), calls)
    if kind == "tool_result":
        return ToolResultMessage(str(data["tool_call_id"]), str(data["name"]), str(data["content"]))
    raise ValueError(f"unknown message kind {kind!r}")
