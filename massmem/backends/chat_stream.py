"""Chat Completions stream chunks turned into massmem events.

Servers that speak the protocol agree on its shape but not on its details:
reasoning arrives as ``reasoning_content`` (vLLM, llama.cpp, DeepSeek) or
``reasoning`` (OpenRouter), tool-call fragments come with or without an
``index`` and with their id and name once or on every fragment, and finish
reasons have local spellings (``eos``, ``end_turn``).  :class:`ChunkAssembler`
absorbs all of them and keeps tool calls until the stream ends, so a
``ToolCall`` is never partial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from massmem.errors import InvalidResponse
from massmem.messages import (
    FinishReason,
    ReasoningDelta,
    ServerToolActivity,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

__all__ = ["ChunkAssembler", "as_int"]


@dataclass(slots=True)
class _ToolCallParts:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


class ChunkAssembler:
    """Turns Chat Completions chunks into events; tool calls are kept until the stream ends.

    Tool-call fragments are keyed by ``index``: the id and name arrive once (some
    servers, e.g. llama-cpp-python, repeat them on every fragment, so the first
    value wins) and the argument text arrives in pieces that are concatenated.
    """

    def __init__(self) -> None:
        self.calls: dict[int, _ToolCallParts] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        #: chunks that carried model output; llama-cpp-python sends one per sampled token
        self.output_chunks = 0
        self.cited = False

    def feed(self, chunk: Any) -> list[StreamEvent]:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = _usage_from(usage)
        searched = self._citations(chunk)
        choices = getattr(chunk, "choices", None)
        if choices is None:
            if usage is None and not searched:
                raise InvalidResponse(f"stream chunk without choices or usage: {_preview(chunk)}")
            return list(searched)
        if not isinstance(choices, list):
            raise InvalidResponse(f"stream chunk with malformed choices: {_preview(chunk)}")
        events: list[StreamEvent] = list(searched)
        for choice in choices:
            if getattr(choice, "index", 0) not in (0, None):
                continue  # massmem asks for one choice; ignore any others
            events.extend(self._feed_delta(getattr(choice, "delta", None)))
            reason = getattr(choice, "finish_reason", None)
            if reason:
                self.finish_reason = str(reason)
        return events

    def _citations(self, chunk: Any) -> list[StreamEvent]:
        """xAI live search ran: its ``citations`` (a chunk field no other server sends), shown once."""
        citations = getattr(chunk, "citations", None)
        if self.cited or not isinstance(citations, list) or not citations:
            return []
        self.cited = True
        return [ServerToolActivity("live_search", f"{len(citations)} sources, first {citations[0]}"[:200])]

    def _feed_delta(self, delta: Any) -> list[StreamEvent]:
        if delta is None:
            return []
        events: list[StreamEvent] = []
        reasoning = _reasoning_text(delta)
        if reasoning:
            events.append(ReasoningDelta(reasoning))
        content = getattr(delta, "content", None)
        if content is not None and not isinstance(content, str):
            raise InvalidResponse(f"stream delta with non-text content: {_preview(delta)}")
        if content:
            events.append(TextDelta(content))
        fragments = getattr(delta, "tool_calls", None) or []
        if not isinstance(fragments, list):
            raise InvalidResponse(f"stream delta with malformed tool_calls: {_preview(delta)}")
        for fragment in fragments:
            self._add_fragment(fragment)
        if reasoning or content or fragments:
            self.output_chunks += 1
        return events

    def _add_fragment(self, fragment: Any) -> None:
        call_id = getattr(fragment, "id", None) or ""
        index = getattr(fragment, "index", None)
        if not isinstance(index, int):
            index = self._index_for_unindexed(call_id)
        parts = self.calls.setdefault(index, _ToolCallParts())
        if call_id and not parts.id:
            parts.id = str(call_id)
        function = getattr(fragment, "function", None)
        name = getattr(function, "name", None)
        if name and not parts.name:
            parts.name = str(name)
        arguments = getattr(function, "arguments", None)
        if arguments:
            parts.arguments.append(str(arguments))

    def _index_for_unindexed(self, call_id: str) -> int:
        """Servers that omit ``index``: a new id opens a new call, anything else continues the last."""
        for index, parts in self.calls.items():
            if call_id and parts.id == call_id:
                return index
        if call_id or not self.calls:
            return len(self.calls)
        return max(self.calls)

    def tool_calls(self) -> list[ToolCall]:
        out: list[ToolCall] = []
        for index in sorted(self.calls):
            parts = self.calls[index]
            if not parts.name and not parts.arguments:
                continue
            out.append(ToolCall.from_raw(parts.id or f"call_{index}", parts.name, "".join(parts.arguments)))
        return out

    def reason(self, has_tool_calls: bool) -> FinishReason:
        mapped = _FINISH_REASONS.get((self.finish_reason or "").lower(), "other")
        # Some servers (Ollama among them) report "stop" even when they return tool calls.
        if has_tool_calls and mapped == "stop":
            return "tool_calls"
        return mapped


def _reasoning_text(delta: Any) -> str:
    """Reasoning from ``reasoning_content`` (vLLM, DeepSeek, llama.cpp) or ``reasoning`` (OpenRouter)."""
    for name in ("reasoning_content", "reasoning"):
        value = getattr(delta, name, None)
        if value is None:
            extra = getattr(delta, "model_extra", None) or {}
            value = extra.get(name)
        if isinstance(value, str) and value:
            return value  # servers that send both send the same text: take one
    return ""


def _usage_from(usage: Any) -> Usage:
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=as_int(getattr(usage, "prompt_tokens", 0)),
        output_tokens=as_int(getattr(usage, "completion_tokens", 0)),
        reasoning_tokens=as_int(getattr(completion_details, "reasoning_tokens", 0)),
        cached_tokens=as_int(getattr(prompt_details, "cached_tokens", 0)),
    )


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _preview(obj: Any, limit: int = 200) -> str:
    dump = getattr(obj, "model_dump_json", None)
    text = dump(warnings=False) if callable(dump) else repr(obj)
    return text if len(text) <= limit else text[:limit] + "…"
