"""What of a turn is recorded in persistent memory, and in which pieces.

A turn arrives as messages; :func:`prepare_entries` keeps what is worth remembering
(the user's words, the answer, the workflow tool calls; other tool calls and reasoning when
the recording settings ask) and :func:`split_passages` cuts long texts into pieces the local
embedding model reads whole.  :class:`RecordResult` is what one recording reports back: the
ids written (so the team knows what its history holds) and how extraction went.

Plain functions over plain data: no store, no embedder, no mem0 here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MIN_CONTENT_CHARS",
    "PASSAGE_CHARS",
    "TOOL_RESULT_CHARS",
    "WORKFLOW_TOOLS",
    "Entry",
    "RecordResult",
    "prepare_entries",
    "split_passages",
]

#: contents shorter than this (after trimming) are not worth a memory
MIN_CONTENT_CHARS = 10
#: the coordination tools whose calls are always recorded
WORKFLOW_TOOLS = frozenset({"new_answer", "vote"})
#: longest passage embedded as one raw record (the local model reads ~256 tokens)
PASSAGE_CHARS = 1000
#: a sentence shorter than this joins the next one when a text is cut by sentence
SENTENCE_MIN = 40
#: a tool result longer than this is cut before recording
TOOL_RESULT_CHARS = 8000


@dataclass(slots=True)
class RecordResult:
    batch_id: str
    turn: int
    raw_ids: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    #: ``disabled`` | ``ok`` | ``empty`` | ``unusable`` | ``error`` | ``skipped``
    extraction: str = "disabled"
    #: the raw text was kept because extraction failed
    kept_raw: bool = False
    skipped: str | None = None
    messages_sent: list[dict[str, str]] = field(default_factory=list)
    llm_answer: str | None = None


@dataclass(slots=True)
class Entry:
    """One piece of a turn worth recording: who said it, the words, metadata to keep."""

    role: str
    text: str
    metadata: dict[str, Any]


def prepare_entries(
    messages: Iterable[Any],
    *,
    record_all_tool_calls: bool = False,
    record_reasoning: bool = False,
    reasoning: str | None = None,
) -> tuple[list[Entry], list[str]]:
    """What of ``messages`` is recorded, and the names of the tools they used.

    Accepts massmem messages or plain dicts (``role``, ``content``, optional ``tool_calls``,
    ``name``, ``metadata``).  System messages are skipped; so is anything under
    :data:`MIN_CONTENT_CHARS` characters.  Workflow tool calls are always kept; other tool
    calls and tool results only with ``record_all_tool_calls``; reasoning only with
    ``record_reasoning``.
    """
    entries: list[Entry] = []
    tools: list[str] = []

    def keep(role: str, text: str, metadata: dict[str, Any] | None = None) -> None:
        if len(text.strip()) >= MIN_CONTENT_CHARS:
            entries.append(Entry(role, text.strip(), dict(metadata or {})))

    for message in messages:
        role, content, calls, name, metadata = _unpack(message)
        if role == "system":
            continue
        if role == "reasoning":
            if record_reasoning:
                keep("assistant", f"[Reasoning]\n{content}", metadata)
            continue
        if role in ("tool", "tool_result"):
            if record_all_tool_calls:
                text = (
                    content if len(content) <= TOOL_RESULT_CHARS else content[:TOOL_RESULT_CHARS] + " …[cut]"
                )
                keep("assistant", f"[Tool Result: {name or 'tool'}]\n{text}", metadata)
            continue
        if role == "assistant":
            keep("assistant", content, metadata)
            for call_name, arguments in calls:
                tools.append(call_name)
                if call_name in WORKFLOW_TOOLS:
                    keep("assistant", _render_workflow_call(call_name, arguments), metadata)
                elif record_all_tool_calls:
                    keep(
                        "assistant",
                        f"[Tool Call: {call_name}]\nArguments: {json.dumps(arguments, ensure_ascii=False, default=str)}",
                        metadata,
                    )
            continue
        keep("user", content, metadata)
    if reasoning and record_reasoning:
        keep("assistant", f"[Reasoning]\n{reasoning}")
    return entries, list(dict.fromkeys(tools))


def _unpack(message: Any) -> tuple[str, str, list[tuple[str, dict[str, Any]]], str | None, dict[str, Any]]:
    if isinstance(message, Mapping):
        role = str(message.get("role") or message.get("kind") or "user")
        if role == "tool_result":
            role = "tool"
        content = message.get("content")
        calls = []
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                function = call.get("function")
                fn: Mapping[str, Any] = function if isinstance(function, Mapping) else call
                args = fn.get("arguments", {})
                if isinstance(args, str):
                    try:
                        args = json.loads(args)
                    except json.JSONDecodeError:
                        args = {"raw": args}
                calls.append((str(fn.get("name", "tool")), dict(args) if isinstance(args, Mapping) else {}))
            else:
                calls.append((str(getattr(call, "name", "tool")), dict(getattr(call, "arguments", {}) or {})))
        return role, _text(content), calls, message.get("name"), dict(message.get("metadata") or {})
    kind = getattr(message, "kind", None)
    if kind is None:
        return "user", str(message), [], None, {}
    role = {"tool_result": "tool"}.get(kind, kind)
    calls = [(c.name, dict(c.arguments)) for c in getattr(message, "tool_calls", ())]
    return role, _text(getattr(message, "content", "")), calls, getattr(message, "name", None), {}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        return "\n".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)


def _render_workflow_call(name: str, arguments: Mapping[str, Any]) -> str:
    if name == "new_answer":
        body = arguments.get("content") or arguments.get("answer") or ""
        if body:
            return f"[Tool Call: new_answer]\n{body}"
    if name == "vote":
        target = arguments.get("agent_id") or arguments.get("target") or "?"
        reason = arguments.get("reason") or ""
        return f"[Tool Call: vote] for {target}: {reason}".rstrip(": ")
    return f"[Tool Call: {name}]\nArguments: {json.dumps(dict(arguments), ensure_ascii=False, default=str)}"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def split_passages(text: str, limit: int = PASSAGE_CHARS, *, by_sentence: bool = False) -> list[str]:
    """Cut ``text`` into passages of at most ``limit`` characters at paragraph or sentence ends.

    ``by_sentence``: every sentence its own piece (one shorter than :data:`SENTENCE_MIN`
    characters joins the next).  Those pieces give a user's passage its per-sentence vectors;
    stored as passages of their own they lose the context around them (LoCoMo recall@10 fell
    from 0.763 to 0.679).
    """
    if len(text) <= limit and not by_sentence:
        return [text]
    pieces = [p for p in _SENTENCE_END.split(text) if p and p.strip()]
    out: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > limit:  # a single sentence longer than a passage
            if current:
                out.append(current)
                current = ""
            out.append(piece[:limit])
            piece = piece[limit:]
        full = bool(current) and (
            len(current) + 1 + len(piece) > limit or (by_sentence and len(current) >= SENTENCE_MIN)
        )
        if full:
            out.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    if current:
        if by_sentence and out and len(current) < SENTENCE_MIN and len(out[-1]) + 1 + len(current) <= limit:
            out[-1] = f"{out[-1]} {current}"
        else:
            out.append(current)
    return [p.strip() for p in out if p.strip()]
