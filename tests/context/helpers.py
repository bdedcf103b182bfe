"""A model with a small window, built on FunctionBackend, for compression tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from massmem.backends.base import ModelRequest
from massmem.backends.scripted import FunctionBackend
from massmem.errors import ContextLengthExceeded
from massmem.messages import (
    AssistantMessage,
    Finished,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolResultMessage,
    Usage,
)


def model_tokens(request: ModelRequest) -> int:
    """The toy model's own tokenizer: three characters a token, five per message.

    Deliberately not massmem's counter, so the agent has to learn the difference.
    """
    total = 0
    for message in request.messages:
        total += 5 + len(getattr(message, "content", "")) // 3
        if isinstance(message, AssistantMessage):
            total += sum(len(c.raw_arguments) // 3 + 3 for c in message.tool_calls)
        if isinstance(message, ToolResultMessage):
            total += 2
    return total


def is_summary_request(request: ModelRequest) -> bool:
    first = request.messages[0]
    return isinstance(first, SystemMessage) and first.content.startswith("You condense a conversation")


@dataclass
class SmallWindowModel:
    """Answers ``reply``; summarises with ``summary``; refuses any request over ``window`` tokens."""

    window: int
    reply: str = "ok"
    summary: str = "SUMMARY: we discussed things."
    report_window: bool = True
    #: report the model's own token count as usage (as real providers do)
    report_usage: bool = True
    requests: list[ModelRequest] = field(default_factory=list)
    refused: list[ModelRequest] = field(default_factory=list)

    def __call__(self, request: ModelRequest) -> list[StreamEvent]:
        self.requests.append(request)
        size = model_tokens(request)
        if size > self.window:
            self.refused.append(request)
            raise ContextLengthExceeded(
                f"Requested tokens ({size}) exceed context window of {self.window}",
                requested_tokens=size,
                allowed_tokens=self.window if self.report_window else None,
                provider="toy",
            )
        text = self.summary if is_summary_request(request) else self.reply
        events: list[StreamEvent] = [TextDelta(text)]
        if self.report_usage:
            events.append(Usage(input_tokens=size, output_tokens=len(text) // 3))
        return [*events, Finished()]

    def backend(self) -> FunctionBackend:
        return FunctionBackend(self, model="toy-model")

    @property
    def main_requests(self) -> list[ModelRequest]:
        return [r for r in self.requests if not is_summary_request(r)]

    @property
    def summary_requests(self) -> list[ModelRequest]:
        return [r for r in self.requests if is_summary_request(r)]
