"""Deterministic in-process models: :class:`ScriptedBackend` and :class:`FunctionBackend`.

They exist so the team loop can be tested — by massmem and by library users — without a
network, and so demos can run with no key.  They speak the same seam as every real
backend (:meth:`Backend.stream`) and honour their declared :class:`Capabilities`: a
scripted backend built with ``tool_calling=False`` never emits a tool call, exactly like
a weak local model, which is what graceful-degradation tests need.

A reply is one of:

* ``str`` or :class:`TextReply` — plain text;
* :class:`AnswerReply` — a ``new_answer`` action, :class:`VoteReply` — a ``vote`` action;
* :class:`ShareReply` — ``share`` calls (shared entries), alone or followed by an action;
* :class:`RaiseReply` or a bare exception instance — raised from :meth:`stream`;
* a :class:`~massmem.config.schema.ScriptedReply` from a YAML file.

How an action reply is rendered depends on the request, because a model can only act
through what it was offered:

* the request offers tools (and the backend can call tools) → a :class:`ToolCall`;
* the request asks for a JSON schema (and the backend supports it) → JSON text
  ``{"action": <tool name>, ...arguments}`` — the shape :mod:`massmem.coordination.tools`
  parses;
* neither (final presentation, plain-text mode) → plain text: an answer's content; a vote
  becomes the last answer this backend gave (so the winner "presents" its own answer),
  or the vote's reason when it never answered.

When the script runs out the backend **repeats the last reply** by default
(``on_exhausted="repeat"``) — a script ``[answer, vote]`` then keeps voting, which is what
an agent that has made up its mind does.  ``on_exhausted="raise"`` raises
:class:`~massmem.errors.InvalidResponse` instead, for tests that must prove no extra call
happens.  An empty script answers every call with empty text.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from massmem.backends.base import Backend, Capabilities, ModelRequest
from massmem.config.schema import ScriptedBackendConfig, ScriptedReply
from massmem.errors import InvalidResponse
from massmem.messages import Finished, ReasoningDelta, StreamEvent, TextDelta, ToolCall, Usage

__all__ = [
    "AnswerReply",
    "FunctionBackend",
    "RaiseReply",
    "Reply",
    "ScriptedBackend",
    "ShareReply",
    "TextReply",
    "VoteReply",
    "from_config",
]

#: Capabilities of both test backends unless the caller says otherwise.
DEFAULT_CAPABILITIES = Capabilities(tool_calling=True, json_schema=True)


@dataclass(frozen=True, slots=True)
class TextReply:
    """Plain text (optionally with reasoning).  ``delay`` overrides the backend's latency."""

    text: str
    reasoning: str = ""
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class AnswerReply:
    """Submit ``content`` as a new answer."""

    content: str
    text: str = ""
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class VoteReply:
    """Vote for the anonymous agent id ``agent_id`` (``"agent1"``...)."""

    agent_id: str
    reason: str = ""
    text: str = ""
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class ShareReply:
    """Publish ``entries`` — ``(type, content, scope)`` triples — then take ``then``'s action, if any."""

    entries: tuple[tuple[str, str, str], ...]
    then: AnswerReply | VoteReply | None = None
    delay: float | None = None


@dataclass(frozen=True, slots=True)
class RaiseReply:
    """Raise ``error`` from :meth:`Backend.stream` (after the delay)."""

    error: BaseException
    delay: float | None = None


Reply: TypeAlias = (
    str | TextReply | AnswerReply | VoteReply | ShareReply | RaiseReply | BaseException | ScriptedReply
)
_Normal: TypeAlias = TextReply | AnswerReply | VoteReply | ShareReply | RaiseReply


def _normalise(reply: Reply) -> _Normal:
    match reply:
        case str():
            return TextReply(reply)
        case TextReply() | AnswerReply() | VoteReply() | ShareReply() | RaiseReply():
            return reply
        case BaseException():
            return RaiseReply(reply)
        case ScriptedReply(share=shares) if shares:
            then = (
                _normalise(reply.model_copy(update={"share": []})) if reply.new_answer or reply.vote else None
            )
            assert then is None or isinstance(then, AnswerReply | VoteReply)
            return ShareReply(tuple((s.type, s.content, s.scope) for s in shares), then)
        case ScriptedReply(new_answer=str(content)):
            return AnswerReply(content)
        case ScriptedReply(vote=str(target), reason=reason):
            return VoteReply(target, reason)
        case ScriptedReply(text=text):
            return TextReply(text or "")
    raise TypeError(f"not a scripted reply: {reply!r}")


class _Renderer:
    """Turns a reply into stream events for one request; remembers the last answer given."""

    def __init__(self, capabilities: Capabilities, chunk_size: int | None) -> None:
        self.capabilities = capabilities
        self.chunk_size = chunk_size
        self.last_answer: str | None = None
        self._calls = 0

    def _text(self, text: str) -> list[StreamEvent]:
        if not text:
            return []
        if not self.chunk_size:
            return [TextDelta(text)]
        size = self.chunk_size
        return [TextDelta(text[i : i + size]) for i in range(0, len(text), size)]

    def render(
        self, reply: TextReply | AnswerReply | VoteReply | ShareReply, request: ModelRequest
    ) -> list[StreamEvent]:
        if isinstance(reply, ShareReply):
            return self._share(reply, request)
        if isinstance(reply, TextReply):
            events: list[StreamEvent] = [ReasoningDelta(reply.reasoning)] if reply.reasoning else []
            return events + self._text(reply.text) + [Finished("stop")]
        if isinstance(reply, AnswerReply):
            name, args = "new_answer", {"content": reply.content}
            self.last_answer = reply.content
        else:
            name, args = "vote", {"agent_id": reply.agent_id, "reason": reply.reason}
        offered = self.capabilities.tool_calling and request.tools and request.tool_choice != "none"
        if offered:
            self._calls += 1
            call = ToolCall(f"call_{self._calls}", name, args, json.dumps(args))
            return [*self._text(reply.text), call, Finished("tool_calls")]
        if self.capabilities.json_schema and request.response_format is not None:
            return [*self._text(json.dumps({"action": name, **args})), Finished("stop")]
        if isinstance(reply, AnswerReply):
            plain = reply.content
        else:
            plain = self.last_answer if self.last_answer is not None else reply.reason
        return [*self._text(plain), Finished("stop")]

    def _share(self, reply: ShareReply, request: ModelRequest) -> list[StreamEvent]:
        """``share`` calls (or a JSON ``"share"`` list), then the follow-up action if any."""
        entries = [{"type": t, "content": c, "scope": s} for t, c, s in reply.entries]
        after: list[StreamEvent] = (
            self.render(reply.then, request) if reply.then is not None else [Finished("stop")]
        )
        offered = self.capabilities.tool_calling and request.tools and request.tool_choice != "none"
        if offered:
            calls: list[StreamEvent] = []
            for args in entries:
                self._calls += 1
                calls.append(ToolCall(f"call_{self._calls}", "share", args, json.dumps(args)))
            return [*calls, *after[:-1], Finished("tool_calls")]
        if self.capabilities.json_schema and request.response_format is not None:
            action: dict[str, Any] = {}
            if reply.then is not None:
                text = "".join(e.text for e in after if isinstance(e, TextDelta))
                action = json.loads(text)
            return [*self._text(json.dumps({**action, "share": entries})), Finished("stop")]
        return after


def _estimate_usage(request: ModelRequest, events: Sequence[StreamEvent]) -> Usage:
    """A rough token count (4 characters a token) so usage totals are never all zero."""
    prompt = sum(len(getattr(m, "content", "")) for m in request.messages)
    out = 0
    for event in events:
        match event:
            case TextDelta(text=t) | ReasoningDelta(text=t):
                out += len(t)
            case ToolCall(raw_arguments=raw):
                out += len(raw)
    return Usage(input_tokens=prompt // 4, output_tokens=out // 4, estimated=True)


class ScriptedBackend(Backend):
    """Plays a fixed list of replies, one per call, and records every request it receives."""

    type_name = "scripted"

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        latency: float = 0.0,
        model: str = "scripted",
        capabilities: Capabilities | None = None,
        on_exhausted: Literal["repeat", "raise"] = "repeat",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(model=model, capabilities=capabilities or DEFAULT_CAPABILITIES)
        self.replies: list[_Normal] = [_normalise(r) for r in replies]
        self.latency = latency
        self.on_exhausted = on_exhausted
        #: every request received, in order — tests assert on what the model was shown
        self.requests: list[ModelRequest] = []
        self._renderer = _Renderer(self.capabilities, chunk_size)
        self._next = 0

    @property
    def calls(self) -> int:
        return len(self.requests)

    def _take(self) -> _Normal:
        if self._next < len(self.replies):
            reply = self.replies[self._next]
            self._next += 1
            return reply
        if self.on_exhausted == "raise":
            raise InvalidResponse(
                f"scripted backend ran out of replies after {len(self.replies)}", provider="scripted"
            )
        return self.replies[-1] if self.replies else TextReply("")

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        reply = self._take()
        delay = self.latency if reply.delay is None else reply.delay
        if delay > 0:
            await asyncio.sleep(delay)
        if isinstance(reply, RaiseReply):
            raise reply.error
        events = self._renderer.render(reply, request)
        usage = _estimate_usage(request, events)
        for event in events[:-1]:
            yield event
        yield usage
        yield events[-1]


FunctionResult: TypeAlias = Reply | Sequence[StreamEvent] | StreamEvent | AsyncIterator[StreamEvent]
ReplyFunction: TypeAlias = Callable[[ModelRequest], FunctionResult | Awaitable[FunctionResult]]


class FunctionBackend(Backend):
    """Answers each request by calling ``fn(request)`` — for tests whose replies depend on the prompt.

    ``fn`` may be sync or async and may return anything :class:`ScriptedBackend` accepts as a
    reply (rendered the same way), a list of stream events, or an async iterator of events
    (streamed as produced).  If it raises, :meth:`stream` raises the same exception.
    A :class:`Finished` event is appended when the function's events lack one.
    """

    type_name = "function"

    def __init__(
        self,
        fn: ReplyFunction,
        *,
        model: str = "function",
        capabilities: Capabilities | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(model=model, capabilities=capabilities or DEFAULT_CAPABILITIES)
        self.fn = fn
        self.requests: list[ModelRequest] = []
        self._renderer = _Renderer(self.capabilities, chunk_size)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        result: Any = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        finished = False
        if hasattr(result, "__anext__"):
            async for event in result:
                finished = finished or isinstance(event, Finished)
                yield event
        else:
            events = self._events(result, request)
            for event in events:
                finished = finished or isinstance(event, Finished)
                yield event
        if not finished:
            yield Finished("stop")

    def _events(self, result: Any, request: ModelRequest) -> list[StreamEvent]:
        if isinstance(result, TextDelta | ReasoningDelta | ToolCall | Usage | Finished):
            return [result]
        if isinstance(result, list | tuple):
            return list(result)
        reply = _normalise(result)
        if isinstance(reply, RaiseReply):
            raise reply.error
        events = self._renderer.render(reply, request)
        return [*events[:-1], _estimate_usage(request, events), events[-1]]


def from_config(config: ScriptedBackendConfig, **context: Any) -> ScriptedBackend:
    """Registry factory for ``type: scripted`` (``context`` such as ``agent_id`` is not needed)."""
    return ScriptedBackend(
        config.replies,
        latency=config.latency,
        model=config.model,
        capabilities=Capabilities(tool_calling=True, json_schema=True, context_window=config.context_window),
    )
