"""Fact extraction: massmem's prompt, the check on what the extraction LLM returned, and
the bridge that lets an agent's own massmem backend serve as mem0's LLM.

mem0 asks its LLM for ``{"memory": [{"text": ...}, ...]}``.  Which LLM that is depends on
``memory.persistent_memory.llm.provider``:

* ``agent`` (default) — the agent's own backend.  The caller hands
  :class:`~massmem.memory.persistent.PersistentMemory` a *sync* callable
  ``extract_fn(messages) -> str``; :func:`backend_extract_fn` builds one from a
  :class:`~massmem.backends.base.Backend`.  mem0 runs in a worker thread, so the callable
  never runs on the agent's event loop: it either schedules the backend call onto that loop
  from the worker thread (when given the loop) or runs it on a private loop of its own.
* any mem0-native provider (``openai``, ``anthropic``, ``ollama``, ...) — mem0 calls it.
* ``none`` — no extraction; raw records only.

Whatever the LLM answers is captured per thread (:data:`capture`), so the caller can tell
"nothing worth keeping" from "the model answered something unusable" — mem0 itself treats
both as an empty list.  Unusable output never loses the record: the raw text is kept.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from massmem.backends.base import Backend

__all__ = [
    "EXTRACTION_RULES",
    "EXTRACTION_SYSTEM_PROMPT",
    "ExtractFn",
    "backend_extract_fn",
    "capture",
    "parse_extraction",
]

ExtractFn = Callable[[list[dict[str, str]]], str]

EXTRACTION_RULES = """\
Keep only knowledge that will still help someone months from now who cannot see this conversation.

Write every memory as one self-contained statement:
- Name its subject outright (the project, library, person, dataset, file or command) instead of
  "it", "this", "the answer" or "the above".
- Keep the specifics that make it useful: numbers with units, versions, names, dates, paths,
  commands, and the reason or condition when one was given.
- One fact per memory; split a compound finding into several memories.

Worth keeping:
- facts about the subject matter, with their context (for example "SQLite FTS5 ranks full-text
  matches with BM25 through its bm25() function");
- conclusions together with why they hold;
- what the user asked for, prefers or decided;
- ways of working that succeeded or failed, and why (for example "reading the directory tree before
  opening single files gave a faster overview of an unfamiliar code base");
- concrete recommendations that say what to do, when, and why.

Never keep:
- anything about the team's process: who answered, votes and their reasons, rankings or comparisons
  of agents or of their answers;
- instructions on formatting, or on how an answer should begin or be presented;
- generic advice with nothing specific in it;
- counts of tool calls or other statistics that teach nothing;
- greetings, filler, and restatements of the question.
If nothing qualifies, keep nothing."""

EXTRACTION_SYSTEM_PROMPT = """\
You turn a conversation between a user and an AI agent into durable memories.
Read the messages under "New Messages" in the next message; use the other sections only as
background (do not repeat an Existing Memory). Follow the Custom Instructions about what to keep.

Answer with JSON only - no prose, no code fences - in exactly this shape:
{"memory": [{"id": "0", "text": "one self-contained fact", "attributed_to": "user"}]}
"attributed_to" is "user" for what the user said or wants, "assistant" for what the agent found or did.
When nothing is worth keeping, answer {"memory": []}."""

#: JSON schema of the answer, for backends that can constrain their output to one.
EXTRACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "memory": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "text": {"type": "string"},
                    "attributed_to": {"type": "string", "enum": ["user", "assistant"]},
                },
                "required": ["text"],
            },
        }
    },
    "required": ["memory"],
}


class _Capture(threading.local):
    """What the extraction LLM did in this thread's current record call."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.calls = 0
        self.raw: str | None = None
        self.error: BaseException | None = None


#: per-thread record of the last extraction call (mem0 runs each call in one worker thread)
capture = _Capture()

_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def parse_extraction(text: str | None) -> list[dict[str, Any]] | None:
    """The memories in an extraction answer, or ``None`` when the answer is unusable.

    ``[]`` is a usable answer ("nothing worth keeping"); ``None`` means the text was not the
    JSON object mem0 asked for (prose, a cut-off answer, a bare list, items without text).
    """
    if text is None:
        return None
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    data: Any = None
    try:
        data = json.loads(body, strict=False)
    except json.JSONDecodeError:
        start, end = body.find("{"), body.rfind("}")
        if start != -1 and end > start:
            try:
                data = json.loads(body[start : end + 1], strict=False)
            except json.JSONDecodeError:
                return None
    if not isinstance(data, dict) or not isinstance(data.get("memory"), list):
        return None
    items = data["memory"]
    if not all(isinstance(i, dict) and isinstance(i.get("text"), str) for i in items):
        return None
    return items


def to_backend_messages(messages: Sequence[dict[str, Any]]) -> list[Any]:
    """mem0's ``[{"role", "content"}]`` as massmem messages, with massmem's system prompt.

    mem0's own system prompt is ~8k tokens of instructions; a small local model cannot hold
    it, so it is replaced by :data:`EXTRACTION_SYSTEM_PROMPT`.  The user part (new messages,
    existing memories, massmem's rules as custom instructions) is passed on unchanged.
    """
    from massmem.messages import AssistantMessage, SystemMessage, UserMessage

    out: list[Any] = [SystemMessage(EXTRACTION_SYSTEM_PROMPT)]
    for message in messages:
        role = message.get("role")
        content = str(message.get("content") or "")
        if role == "system":
            continue
        out.append(AssistantMessage(content) if role == "assistant" else UserMessage(content))
    if len(out) == 1:
        out.append(UserMessage("(no messages)"))
    return out


def backend_extract_fn(
    backend: Backend,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    max_tokens: int = 1024,
    timeout: float = 300.0,
) -> ExtractFn:
    """A sync ``extract_fn`` that asks ``backend`` for the extraction answer.

    With ``loop`` (the agent's running loop) the call is scheduled onto it from mem0's
    worker thread and the thread waits for it: the backend's connections stay on the loop
    that owns them and the loop itself never blocks.  Without ``loop`` the call runs on a
    fresh loop in the worker thread.  Either way it must not be called on the loop's thread.
    """
    from massmem.backends.base import JsonSchemaFormat, ModelRequest, collect

    def extract(messages: list[dict[str, str]]) -> str:
        response_format = None
        if getattr(backend.capabilities, "json_schema", False):
            response_format = JsonSchemaFormat("memories", EXTRACTION_SCHEMA)
        request = ModelRequest(
            messages=to_backend_messages(messages),
            tool_choice="none",
            response_format=response_format,
            max_tokens=max_tokens,
            temperature=0.0,
        )

        async def call() -> str:
            completion = await collect(backend.stream(request))
            return completion.text

        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                raise RuntimeError("extract_fn must run in a worker thread, not on the agent's event loop")
            return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout)
        return asyncio.run(asyncio.wait_for(call(), timeout))

    return extract


def dumps_for_log(text: str | None, limit: int = 300) -> str:
    """A one-line, truncated rendering of an LLM answer for log messages."""
    if text is None:
        return "<no answer>"
    flat = " ".join(text.split())
    return json.dumps(flat[:limit] + ("…" if len(flat) > limit else ""))
