"""The one seam every backend implements.

A backend turns a :class:`ModelRequest` into a stream of typed events.  That is
all the rest of massmem asks of a provider; retries, fallbacks and metering
are wrappers around this seam, not flags inside it.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from massmem.messages import (
    AssistantMessage,
    Finished,
    FinishReason,
    Message,
    ReasoningDelta,
    ServerToolActivity,
    StreamEvent,
    TextDelta,
    ToolCall,
    Usage,
)

__all__ = [
    "Backend",
    "Capabilities",
    "Completion",
    "JsonSchemaFormat",
    "ModelRequest",
    "ToolSpec",
    "collect",
]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call, described by a JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JsonSchemaFormat:
    """Ask the model for a JSON object that follows ``schema`` (structured output / grammar mode)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    tool_choice: Literal["auto", "required", "none"] = "auto"
    response_format: JsonSchemaFormat | None = None
    max_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can do; the coordinator picks its action protocol from this."""

    tool_calling: bool = True
    json_schema: bool = False
    reasoning: bool = False
    #: "message": system prompt is a message; "parameter": a separate request field (Claude, Gemini)
    system_prompt: Literal["message", "parameter"] = "message"
    context_window: int | None = None


class Backend(abc.ABC):
    """A model behind one wire protocol.

    Subclasses implement :meth:`stream`.  It must translate every provider
    exception into :mod:`massmem.errors` before it escapes.
    """

    #: registry name of the backend type (``chatcompletion``, ``claude``, ...)
    type_name: str = "backend"

    def __init__(self, *, model: str, capabilities: Capabilities | None = None) -> None:
        self.model = model
        self.capabilities = capabilities or Capabilities()

    @abc.abstractmethod
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Yield events for one model call.  Ends with exactly one :class:`Finished`."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections.  Safe to call more than once."""

    def describe(self) -> str:
        return f"{self.type_name}:{self.model}"


@dataclass(slots=True)
class Completion:
    """A whole streamed answer gathered into one value."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: FinishReason = "stop"

    def as_message(self) -> AssistantMessage:
        return AssistantMessage(self.text, tuple(self.tool_calls))


async def collect(
    events: AsyncIterator[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> Completion:
    """Drain a stream into a :class:`Completion`.

    ``on_event`` hears each text and reasoning delta as it arrives (an agent's live view);
    callers that only want the whole answer leave it out.
    """
    out = Completion()
    text: list[str] = []
    reasoning: list[str] = []
    async for event in events:
        match event:
            case TextDelta(text=t):
                text.append(t)
                if on_event is not None:
                    on_event(event)
            case ReasoningDelta(text=t):
                reasoning.append(t)
                if on_event is not None:
                    on_event(event)
            case ServerToolActivity():
                # The provider ran it; shown live, never collected as a call to answer.
                if on_event is not None:
                    on_event(event)
            case ToolCall():
                out.tool_calls.append(event)
            case Usage():
                out.usage = event
            case Finished(reason=r):
                out.finish_reason = r
    out.text = "".join(text)
    out.reasoning = "".join(reasoning)
    return out
