"""Compression: summarise older messages so a conversation fits its window again.

Nothing here deletes anything.  An agent's :class:`~massmem.memory.conversation.ConversationMemory`
keeps every message; compression produces a :class:`CompressedView` — a summary plus the
stored messages it stands for — and :func:`render` turns stored messages and a view into
what a request sends.  Architecture rule 4: compression changes what is *rendered*.

The rebuilt conversation, after the system prompt, is::

    [pinned messages before the split]     the original request, verbatim
    [summary]                              an assistant message: the model's own account
    [every message from the split on]      recent work, verbatim, ending with the newest prompt

The summary sits where the messages it replaces sat, so the conversation still reads in
order, still alternates user → assistant → user, and still ends with the newest user
message (or tool results), which every chat API needs.  The model reads its own summary as
its last word before the recent exchange and continues from it instead of starting over.
When no pinned user message precedes the summary (e.g. only earlier turns of an
interactive session were summarised), a one-line user message asking for the summary is
put before it, so the conversation still opens with the user.

The split always falls on a user message, which keeps each assistant tool call together
with its results (and :func:`split_candidates` checks that explicitly).

Two ways to choose the split:

* **by tokens** (proactive, before a call): the largest verbatim tail whose rebuilt request
  fits ``target_ratio × window``;
* **by message share** (reactive, after the provider refused): keep about
  ``compression_target_ratio`` of the messages, then, when the window is known, move the
  split later until the rebuilt request is under the proactive trigger.

Summaries are written by the agent's own backend (no tools).  If one summary request would
itself overflow, the messages are summarised in chunks, each chunk folding the summary so
far into a new one; a single message bigger than a chunk is cut in the middle.  A
:class:`SummaryCache` remembers summaries by the messages they cover, so an interactive
session's earlier turns are summarised once, not again for every question.

When summarising cannot bring a request under ``fit_ratio × window`` (the system prompt's
injected context — retrieved memories, shared memory — is not a message and is never
summarised), the context manager cuts those injected blocks for that call (see ``ContextManager._fit``);
they are rendered per call, so nothing stored is lost either.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal

from massmem.backends.base import Backend, ModelRequest, collect
from massmem.context.tokens import TokenCounter
from massmem.errors import ContextLengthExceeded
from massmem.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolResultMessage,
    Usage,
    UserMessage,
    message_to_dict,
)
from massmem.paths import atomic_write_text

__all__ = [
    "CompressedView",
    "CompressionReport",
    "CompressionResult",
    "CompressionSettings",
    "Entry",
    "Summariser",
    "SummaryCache",
    "choose_split",
    "compress",
    "cut_middle",
    "render",
    "request_to_dict",
    "split_candidates",
    "summary_budget",
    "transcript_line",
    "write_dump",
]

#: a stored message and whether it is pinned
Entry = tuple[Message, bool]


@functools.cache
def _template(name: str) -> Template:
    text = resources.files("massmem.context").joinpath("templates", f"{name}.txt").read_text("utf-8")
    return Template(text)


def _render(name: str, **values: object) -> str:
    return _template(name).substitute({k: str(v) for k, v in values.items()})


# --------------------------------------------------------------------------- settings and results


@dataclass(slots=True)
class CompressionSettings:
    """When and how far an agent compresses (``memory.compression`` and the orchestrator's ratio)."""

    #: compress before a call whose estimate passes ``trigger_threshold × window``
    proactive: bool = True
    trigger_threshold: float = 0.75
    #: proactive compression aims at this share of the window
    target_ratio: float = 0.40
    #: reactive compression keeps about this share of the messages verbatim
    reactive_ratio: float = 0.20
    #: when summarising cannot bring a request under this share of the window, the injected
    #: context blocks (memories, shared memory: rendered per call, never stored) are cut
    fit_ratio: float = 0.90


@dataclass(frozen=True, slots=True)
class CompressedView:
    """A summary and the stored messages (by identity) it stands for."""

    summary: str
    covered: tuple[Message, ...]
    ids: frozenset[int] = field(default=frozenset(), compare=False)

    @classmethod
    def of(cls, summary: str, covered: Sequence[Message]) -> CompressedView:
        covered = tuple(covered)
        # The view holds the messages themselves, so their ids stay theirs while it lives.
        return cls(summary, covered, frozenset(id(m) for m in covered))


@dataclass(frozen=True, slots=True)
class CompressionReport:
    """One compression, for events and displays (tokens are calibrated estimates)."""

    agent_id: str
    reason: Literal["proactive", "reactive"]
    tokens_before: int
    tokens_after: int
    window: int | None
    summarised_messages: int
    kept_messages: int
    summary_calls: int
    #: tokens cut from the injected context blocks when summarising alone was not enough
    context_trimmed: int = 0
    kind: Literal["compression"] = "compression"


@dataclass(slots=True)
class CompressionResult:
    view: CompressedView
    summarised: list[Message]
    summary: str
    split: int
    summary_calls: int = 0
    summary_requests: list[ModelRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


# --------------------------------------------------------------------------- rendering


def _last_covered(entries: Sequence[Entry], view: CompressedView | None) -> int:
    if view is None:
        return -1
    last = -1
    for i, (message, _) in enumerate(entries):
        if id(message) in view.ids:
            last = i
    return last


def summary_message(summary: str) -> AssistantMessage:
    return AssistantMessage(_render("summary_message", summary=summary.strip()).strip())


def bridge_message() -> UserMessage:
    return UserMessage(_render("summary_bridge").strip())


def render(entries: Sequence[Entry], view: CompressedView | None) -> list[Message]:
    """What a request sends for ``entries`` (after the system prompt) under ``view``."""
    if view is None:
        return [m for m, _ in entries]
    last = _last_covered(entries, view)
    head, tail = entries[: last + 1], entries[last + 1 :]
    kept = [m for m, pinned in head if pinned or id(m) not in view.ids]
    out: list[Message] = list(kept)
    if not any(isinstance(m, UserMessage) for m in kept):
        out.append(bridge_message())
    out.append(summary_message(view.summary))
    out.extend(m for m, _ in tail)
    return out


# --------------------------------------------------------------------------- choosing the split


def split_candidates(entries: Sequence[Entry], view: CompressedView | None) -> list[int]:
    """Indices where the verbatim tail may start, earliest (longest tail) first.

    A candidate is a user message at or before the newest user message, after everything
    the view already covers, with at least one unpinned, not yet summarised message before
    it, and with no tool result after it that answers a call before it.
    """
    start = _last_covered(entries, view) + 1
    users = [i for i, (m, _) in enumerate(entries) if isinstance(m, UserMessage)]
    if not users:
        return []
    last_user = users[-1]
    # Splits that would part a call from its result: any k in (call index, result index].
    call_at: dict[str, int] = {}
    forbidden: set[int] = set()
    for i, (message, _) in enumerate(entries):
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                call_at[call.id] = i
        elif isinstance(message, ToolResultMessage) and message.tool_call_id in call_at:
            forbidden.update(range(call_at[message.tool_call_id] + 1, i + 1))
    out: list[int] = []
    material = False
    for i in range(start, last_user + 1):
        if i in users and material and i not in forbidden:
            out.append(i)
        if not entries[i][1]:
            material = True
    return out


def choose_split(
    entries: Sequence[Entry],
    view: CompressedView | None,
    counts: Sequence[int],
    *,
    fixed: int,
    summary_tokens: int,
    bridge_tokens: int,
    keep_ratio: float | None = None,
    budget: int | None = None,
) -> int | None:
    """The split index for the rebuild, or None when nothing can be summarised.

    ``counts`` are the entries' token counts and ``fixed`` what the request costs besides
    them (system prompt, tools), all in the same unit as ``budget``.  With ``keep_ratio``
    the tail keeps about that share of the unpinned messages; with ``budget`` the split
    moves later until the rebuilt request is estimated to fit (or no later split exists).
    """
    candidates = split_candidates(entries, view)
    if not candidates:
        return None
    n = len(entries)
    # suffix[k]: tokens of entries[k:]; pinned_prefix[k]: tokens of pinned entries[:k]
    suffix = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        suffix[i] = suffix[i + 1] + counts[i]
    pinned_prefix = [0] * (n + 1)
    for i in range(n):
        pinned_prefix[i + 1] = pinned_prefix[i] + (counts[i] if entries[i][1] else 0)

    # The bridge message is needed when no pinned user message precedes the summary.
    first_pinned_user = next(
        (i for i, (m, pinned) in enumerate(entries) if pinned and isinstance(m, UserMessage)), n
    )

    def estimate(k: int) -> int:
        bridge = bridge_tokens if first_pinned_user >= k else 0
        return fixed + pinned_prefix[k] + bridge + summary_tokens + suffix[k]

    position = 0
    if keep_ratio is not None:
        unpinned = [i for i, (_, pinned) in enumerate(entries) if not pinned]
        keep = max(1, round(keep_ratio * len(unpinned)))
        # the latest candidate whose tail still holds `keep` unpinned messages
        for j, k in enumerate(candidates):
            if sum(1 for i in unpinned if i >= k) >= keep:
                position = j
    if budget is not None:
        while position < len(candidates) - 1 and estimate(candidates[position]) > budget:
            position += 1
    return candidates[position]


def summary_budget(window: int | None) -> int:
    """The most tokens a summary may take: a tenth of the window, within [48, 2048]."""
    if not window:
        return 512
    return max(48, min(2048, window // 10))


# --------------------------------------------------------------------------- summarising


def transcript_line(message: Message) -> str:
    """One message as text for the summariser."""
    match message:
        case UserMessage(content=c):
            return f"[user]\n{c.strip()}"
        case AssistantMessage(content=c, tool_calls=calls):
            parts = [c.strip()] if c.strip() else []
            parts += [f"(called {t.name} {t.raw_arguments or json.dumps(t.arguments)})" for t in calls]
            return "[assistant]\n" + "\n".join(parts)
        case ToolResultMessage(name=n, content=c):
            return f"[tool result: {n}]\n{c.strip()}"
        case SystemMessage(content=c):
            return f"[system]\n{c.strip()}"
    raise TypeError(f"not a message: {message!r}")


def cut_middle(text: str, chars: int) -> str:
    """``text`` cut to about ``chars`` characters, keeping its head (2/3) and its end (1/3)."""
    keep = max(24, chars)
    if len(text) <= keep:
        return text
    head = keep * 2 // 3
    tail = keep - head
    return f"{text[:head]}\n[… {len(text) - keep} characters left out …]\n{text[-tail:]}"


def _cut(text: str, tokens: int) -> str:
    """``text`` cut in the middle to about ``tokens`` tokens (three characters a token: cautious)."""
    return cut_middle(text, tokens * 3)


def _extractive(summary: str, lines: Sequence[str], tokens: int) -> str:
    """A mechanical summary for when the model wrote none: the start of every message."""
    budget = max(48, tokens * 3)
    per_line = max(40, budget // max(1, len(lines)))
    parts = [summary.strip()] if summary.strip() else []
    parts += [" ".join(line.split())[:per_line] for line in lines]
    return "\n".join(parts)[:budget]


class Summariser:
    """Writes a summary of messages with the agent's own backend, in chunks when it must.

    ``window`` is the model's window if known (it bounds each request); ``max_tokens`` the
    summary's length; ``learn`` is told any window a context-length error reveals.
    """

    #: context-length errors tolerated while shrinking the chunks
    MAX_OVERFLOWS = 6

    def __init__(
        self,
        backend: Backend,
        counter: TokenCounter,
        *,
        window: int | None,
        max_tokens: int,
        learn: Callable[[int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.counter = counter
        self.window = window
        self.max_tokens = max_tokens
        self.learn = learn
        self.calls = 0
        self.requests: list[ModelRequest] = []
        self.usage = Usage()

    def _request(self, summary: str, transcript: str) -> ModelRequest:
        previous = _render("summary_previous", summary=summary.strip()) if summary.strip() else ""
        return ModelRequest(
            messages=[
                SystemMessage(_render("summary_system").strip()),
                UserMessage(_render("summary_request", previous=previous, transcript=transcript).strip()),
            ],
            max_tokens=self.max_tokens,
        )

    def _input_budget(self) -> int | None:
        """Raw tokens of transcript one request may carry, or None when the window is unknown."""
        if not self.window:
            return None
        overhead = self.counter.raw_request(self._request("", ""))
        usable = (self.window * 0.9 - self.max_tokens) / max(self.counter.calibration, 0.25)
        return max(32, int(usable) - overhead)

    def _take(self, lines: list[str], summary: str, budget: int | None) -> tuple[list[str], list[str]]:
        """The next chunk of lines that fits ``budget`` beside ``summary``, and the rest."""
        if budget is None:
            return lines, []
        room = max(32, budget - self.counter.text(summary))
        chunk: list[str] = []
        used = 0
        for i, line in enumerate(lines):
            size = self.counter.text(line) + 2
            if used + size > room:
                if not chunk:  # one message bigger than a whole chunk: cut it
                    return [_cut(line, room)], lines[i + 1 :]
                return chunk, lines[i:]
            chunk.append(line)
            used += size
        return chunk, []

    async def run(self, messages: Sequence[Message], previous: str = "") -> str:
        lines = [transcript_line(m) for m in messages]
        summary = previous
        pending = lines
        budget = self._input_budget()
        overflows = 0
        while pending:
            chunk, rest = self._take(pending, summary, budget)
            request = self._request(summary, "\n\n".join(chunk))
            self.requests.append(request)
            self.calls += 1
            try:
                completion = await collect(self.backend.stream(request))
            except ContextLengthExceeded as error:
                overflows += 1
                if overflows > self.MAX_OVERFLOWS:
                    raise
                counted = self.counter.raw_request(request)
                if error.requested_tokens:
                    self.counter.observe(counted, error.requested_tokens)
                if error.allowed_tokens:
                    if self.learn is not None:
                        self.learn(error.allowed_tokens)
                    self.window = min(self.window or error.allowed_tokens, error.allowed_tokens)
                if self.window and self.max_tokens > self.window // 4:
                    self.max_tokens = max(32, self.window // 4)
                smaller = self._input_budget()
                sent = counted - self.counter.raw_request(self._request("", ""))
                if smaller is None or smaller >= sent:
                    smaller = max(32, min(sent, budget or sent) // 2)
                budget = smaller
                continue
            if completion.usage is not None:
                self.usage = self.usage + completion.usage
            text = completion.text.strip()
            summary = text or _extractive(summary, chunk, self.max_tokens)
            pending = rest
        return summary


# --------------------------------------------------------------------------- the whole step


class SummaryCache:
    """Summaries already written, keyed by the exact messages they summarise (a bounded LRU).

    Keys are running SHA-256 digests over the messages' transcript text, so any leading run
    of messages can be looked up in one pass.
    """

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._entries: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _keys(messages: Sequence[Message]) -> list[str]:
        digest = hashlib.sha256()
        keys = []
        for message in messages:
            digest.update(transcript_line(message).encode("utf-8", "surrogatepass") + b"\x00")
            keys.append(digest.copy().hexdigest())
        return keys

    def best(self, messages: Sequence[Message], done: int, previous: str) -> tuple[int, str]:
        """The longest leading run of ``messages`` (beyond ``done``) with a summary, and that summary."""
        keys = self._keys(messages)
        for i in range(len(keys) - 1, done - 1, -1):
            found = self._entries.get(keys[i])
            if found is not None:
                self._entries[keys[i]] = self._entries.pop(keys[i])  # most recently used last
                return i + 1, found
        return done, previous

    def put(self, messages: Sequence[Message], summary: str) -> None:
        if not messages or not summary:
            return
        key = self._keys(messages)[-1]
        self._entries.pop(key, None)
        self._entries[key] = summary
        while len(self._entries) > self.limit:
            self._entries.pop(next(iter(self._entries)))


async def compress(
    entries: Sequence[Entry],
    view: CompressedView | None,
    *,
    counter: TokenCounter,
    backend: Backend,
    fixed: int,
    window: int | None,
    keep_ratio: float | None = None,
    budget: int | None = None,
    learn: Callable[[int], None] | None = None,
    cache: SummaryCache | None = None,
) -> CompressionResult | None:
    """Summarise what the split leaves behind; None when there is nothing to summarise.

    ``fixed`` and ``budget`` are calibrated token counts (what the request costs besides
    the entries, and what the rebuilt request should fit in).  With a ``cache``, a summary
    already written for the same leading messages (an interactive session's earlier turns,
    summarised for the previous question) is reused, and only what follows is summarised.
    """
    cap = summary_budget(window)
    calibration = max(counter.calibration, 0.25)
    counts = [counter.message(m) for m, _ in entries]
    split = choose_split(
        entries,
        view,
        counts,
        fixed=int(fixed / calibration),
        summary_tokens=cap,
        bridge_tokens=counter.message(bridge_message()),
        keep_ratio=keep_ratio,
        budget=None if budget is None else int(budget / calibration),
    )
    if split is None:
        return None
    start = _last_covered(entries, view) + 1
    to_summarise = [m for m, pinned in entries[start:split] if not pinned]
    covered = (view.covered if view is not None else ()) + tuple(to_summarise)
    done, previous = (len(view.covered), view.summary) if view is not None else (0, "")
    if cache is not None:
        done, previous = cache.best(covered, done, previous)
    summariser = Summariser(backend, counter, window=window, max_tokens=cap, learn=learn)
    rest = covered[done:]
    summary = await summariser.run(rest, previous) if rest else previous
    if cache is not None:
        cache.put(covered, summary)
    return CompressionResult(
        view=CompressedView.of(summary, covered),
        summarised=to_summarise,
        summary=summary,
        split=split,
        summary_calls=summariser.calls,
        summary_requests=summariser.requests,
        usage=summariser.usage,
    )


# --------------------------------------------------------------------------- debug dumps


def request_to_dict(request: ModelRequest) -> dict[str, Any]:
    return {
        "messages": [message_to_dict(m) for m in request.messages],
        "tools": [
            {"name": t.name, "description": t.description, "parameters": t.parameters} for t in request.tools
        ],
        "tool_choice": request.tool_choice,
        "response_format": None if request.response_format is None else request.response_format.name,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }


def _write(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False), durable=False)
    return path


async def write_dump(debug_dir: Path, agent_id: str, number: int, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``debug_dir/compression/<agent_id>/<n>_<timestamp>.json`` off the loop."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now)) + f"{int(now % 1 * 1000):03d}"
    path = Path(debug_dir) / "compression" / agent_id / f"{number:03d}_{stamp}.json"
    return await asyncio.to_thread(_write, path, payload)
