"""One agent: its backend, its conversation, and how one model call is made.

The agent knows nothing about teams or votes.  The orchestrator hands it a
:class:`TurnPlan` (the rendered system prompt, the new user text, the tools or response
format) and gets back a :class:`Completion`; deltas are forwarded through a callback as
they stream.  Keeping the agent this narrow is what lets memory grow later without
touching the team loop:

* **context providers** — async callables that return labelled :class:`ContextBlock`\\ s
  (retrieved facts, shared memory, …) rendered into the system prompt of each call;
  rendered, never stored, so retrieval can change from one call to the next;
* **after-turn hooks** — async callables that receive a :class:`TurnRecord` after every
  call (fact extraction, recording, debug dumps).

A failing provider or hook is logged and skipped: memory is an aid, and losing it for
one call must not take the agent out of the question.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from massmem.backends.base import Backend, Completion, JsonSchemaFormat, ModelRequest, ToolSpec
from massmem.errors import BackendError
from massmem.memory.conversation import ConversationMemory
from massmem.messages import (
    Finished,
    Message,
    ReasoningDelta,
    StreamEvent,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

if TYPE_CHECKING:
    from massmem.config.schema import ActionMode, AgentConfig, MemoryConfig

__all__ = [
    "AfterTurnHook",
    "Agent",
    "ContextBlock",
    "ContextProvider",
    "TurnContext",
    "TurnPlan",
    "TurnRecord",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContextBlock:
    """Extra context for one call, e.g. ``ContextBlock("Relevant memories", "...")``."""

    label: str
    text: str


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a context provider may look at to decide what to add."""

    agent_id: str
    question: str
    messages: Sequence[Message]


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """Everything one call needs that the caller decides.

    ``standalone`` calls see only ``system`` and ``prompt`` and leave the conversation
    untouched (the final presentation is one); otherwise ``prompt`` and the reply are
    appended to the conversation, ``pin_prompt`` keeping the prompt through eviction.
    """

    system: str
    prompt: str | None = None
    pin_prompt: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "required", "none"] = "auto"
    response_format: JsonSchemaFormat | None = None
    standalone: bool = False


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished call, as after-turn hooks see it."""

    agent_id: str
    question: str
    request: ModelRequest
    completion: Completion
    seconds: float


ContextProvider = Callable[[TurnContext], Awaitable[Sequence[ContextBlock]]]
AfterTurnHook = Callable[[TurnRecord], Awaitable[None]]


class Agent:
    """A team member: a backend plus the conversation it has had on the current question."""

    def __init__(
        self,
        id: str,
        backend: Backend,
        system_message: str | None = None,
        conversation: ConversationMemory | None = None,
        action_mode: ActionMode = "auto",
        *,
        context_providers: Sequence[ContextProvider] = (),
        after_turn: Sequence[AfterTurnHook] = (),
    ) -> None:
        self.id = id
        self.backend = backend
        self.system_message = system_message
        self.conversation = conversation if conversation is not None else ConversationMemory()
        self.action_mode: ActionMode = action_mode
        self.context_providers: list[ContextProvider] = list(context_providers)
        self.after_turn: list[AfterTurnHook] = list(after_turn)
        self.question = ""
        #: seconds spent inside ``backend.stream`` since construction (benchmarks, reports)
        self.backend_seconds = 0.0

    @classmethod
    def from_config(
        cls,
        config: AgentConfig,
        *,
        memory: MemoryConfig | None = None,
        backend: Backend | None = None,
    ) -> Agent:
        """Build an agent from its config section; ``backend`` overrides the configured one."""
        from massmem.backends.registry import build_backend
        from massmem.backends.retry import wrap

        max_messages = None
        if memory is not None and memory.enabled and memory.conversation_memory.enabled:
            max_messages = memory.conversation_memory.max_messages
        return cls(
            config.id,
            backend
            if backend is not None
            else wrap(build_backend(config.backend, agent_id=config.id), config.backend, agent_id=config.id),
            config.system_message,
            ConversationMemory(max_messages=max_messages),
            config.backend.action_mode,
        )

    def begin(self, question: str) -> None:
        """Start work on a new question.  Earlier questions reach the model as rendered history."""
        self.question = question
        self.conversation.clear()

    async def take_turn(
        self, plan: TurnPlan, on_event: Callable[[StreamEvent], None] | None = None
    ) -> Completion:
        """Make one model call; forward text and reasoning deltas to ``on_event`` as they stream."""
        if plan.standalone:
            history: list[Message] = [UserMessage(plan.prompt or "")]
        else:
            if plan.prompt:
                self.conversation.add(UserMessage(plan.prompt), pinned=plan.pin_prompt)
            history = self.conversation.messages()
        system = plan.system + await self._context(history)
        request = ModelRequest(
            messages=[SystemMessage(system), *history],
            tools=plan.tools,
            tool_choice=plan.tool_choice,
            response_format=plan.response_format,
        )
        started = time.perf_counter()
        try:
            completion = await self._stream(request, on_event)
        except BackendError as error:
            if error.agent_id is None:
                error.agent_id = self.id
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.backend_seconds += elapsed
        if not plan.standalone:
            self.conversation.add(completion.as_message())
        if self.after_turn:
            await self._after(TurnRecord(self.id, self.question, request, completion, elapsed))
        return completion

    def acknowledge(self, completion: Completion, text: str) -> None:
        """Answer each tool call of ``completion`` (providers require a result for every call)."""
        for call in completion.tool_calls:
            self.conversation.add(ToolResultMessage(call.id, call.name, text))

    async def _stream(
        self, request: ModelRequest, on_event: Callable[[StreamEvent], None] | None
    ) -> Completion:
        out = Completion()
        text: list[str] = []
        reasoning: list[str] = []
        async for event in self.backend.stream(request):
            match event:
                case TextDelta(text=t):
                    text.append(t)
                    if on_event is not None:
                        on_event(event)
                case ReasoningDelta(text=t):
                    reasoning.append(t)
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
        if out.usage is None:
            out.usage = _estimated_usage(request, out)
        return out

    async def _context(self, history: Sequence[Message]) -> str:
        if not self.context_providers:
            return ""
        context = TurnContext(self.id, self.question, tuple(history))
        results = await asyncio.gather(
            *(provider(context) for provider in self.context_providers), return_exceptions=True
        )
        parts: list[str] = []
        for provider, result in zip(self.context_providers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.warning("agent %s: context provider %r failed: %s", self.id, provider, result)
                continue
            parts += [f'<context label="{b.label}">\n{b.text.strip()}\n</context>' for b in result if b.text]
        return "\n\n" + "\n\n".join(parts) if parts else ""

    async def _after(self, record: TurnRecord) -> None:
        for hook in self.after_turn:
            try:
                await hook(record)
            except Exception as error:
                log.warning("agent %s: after-turn hook %r failed: %s", self.id, hook, error)


def _estimated_usage(request: ModelRequest, completion: Completion) -> Usage:
    """Usage for a call whose provider reported none, marked as an estimate."""
    from massmem.context.tokens import estimate_message_tokens, estimate_tokens

    sent = estimate_message_tokens(request.messages) + sum(
        estimate_tokens(t.description) + estimate_tokens(str(t.parameters)) for t in request.tools
    )
    made = estimate_tokens(completion.text) + estimate_tokens(completion.reasoning)
    made += sum(estimate_tokens(c.raw_arguments or str(c.arguments)) for c in completion.tool_calls)
    return Usage(input_tokens=sent, output_tokens=made, estimated=True)
