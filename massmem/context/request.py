"""What one model call sends, and the pieces it is built from.

A request is assembled from three things, each owned by someone else:

* the caller's :class:`TurnPlan` — system prompt, tools or response format (the team loop
  decides these);
* the stored messages, rendered under the current compressed view (see
  :func:`massmem.context.compression.render`);
* the :class:`ContextBlock`\\ s the agent's *context providers* return for this call
  (retrieved memories, shared memory), rendered into the system prompt — never stored, so
  they can change from one call to the next and be cut when a call does not fit.

A :class:`Draft` keeps those pieces together with the request they make, so the
:class:`~massmem.context.manager.ContextManager` can rebuild it after a compression or cut
its blocks without asking anyone twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec
from massmem.context.compression import CompressedView, Entry
from massmem.messages import Message, SystemMessage, UserMessage

__all__ = [
    "ContextBlock",
    "ContextProvider",
    "Draft",
    "TurnContext",
    "TurnPlan",
    "ask_providers",
    "build_request",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ContextBlock:
    """Extra context for one call, e.g. ``ContextBlock("Relevant memories", "...")``."""

    label: str
    text: str


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a context provider may look at to decide what to add.

    ``compressed`` says that older messages of this conversation were summarised for this
    request: a provider must not assume their words are still in context (persistent memory
    stops leaving out the turns the conversation held).
    """

    agent_id: str
    question: str
    messages: Sequence[Message]
    compressed: bool = False


ContextProvider = Callable[[TurnContext], Awaitable[Sequence[ContextBlock]]]


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """Everything one call needs that the caller decides.

    ``standalone`` calls see only ``system``, ``history`` and ``prompt`` and leave the
    conversation untouched (the final presentation is one); otherwise ``history``,
    ``prompt`` and the reply are appended to the conversation, ``pin_prompt`` keeping the
    prompt through eviction and compression.  ``history`` holds messages that precede the
    prompt — earlier turns of a session as user/assistant pairs — stored unpinned, so
    compression may summarise them like any older message.
    """

    system: str
    prompt: str | None = None
    pin_prompt: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: Literal["auto", "required", "none"] = "auto"
    response_format: JsonSchemaFormat | None = None
    standalone: bool = False
    history: tuple[Message, ...] = ()
    #: put this call's context blocks (memories) before the latest user message instead of in
    #: the system prompt: small models read the turn in front of them, not a long system prompt
    context_in_prompt: bool = False


@dataclass(frozen=True, slots=True)
class Draft:
    """A request in the making: what it was made from and the request itself.

    ``entries`` are the stored messages (with their pinned flags) and ``view`` the
    compressed view they were rendered under into ``history``; ``blocks`` are the providers'
    context for this call.  ``question`` is what the providers were told the agent works on.
    """

    plan: TurnPlan
    entries: Sequence[Entry]
    question: str
    view: CompressedView | None
    history: list[Message]
    blocks: list[ContextBlock]
    request: ModelRequest


def build_request(plan: TurnPlan, history: Sequence[Message], blocks: Sequence[ContextBlock]) -> ModelRequest:
    """The system prompt with each block appended as a ``<context>`` element, then ``history``."""
    parts = [f'<context label="{b.label}">\n{b.text.strip()}\n</context>' for b in blocks]
    messages = list(history)
    latest = next((i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], UserMessage)), None)
    system = plan.system
    if parts and plan.context_in_prompt and latest is not None:
        # Only the request carries the blocks; the stored conversation stays as it was.
        latest_message = messages[latest]
        assert isinstance(latest_message, UserMessage)
        messages[latest] = UserMessage("\n\n".join([*parts, latest_message.content]))
    elif parts:
        system += "\n\n" + "\n\n".join(parts)
    return ModelRequest(
        messages=[SystemMessage(system), *messages],
        tools=plan.tools,
        tool_choice=plan.tool_choice,
        response_format=plan.response_format,
    )


async def ask_providers(providers: Sequence[ContextProvider], context: TurnContext) -> list[ContextBlock]:
    """Ask every provider for this call's blocks, concurrently; a failing provider is skipped.

    Memory is an aid: losing it for one call must not take the agent out of the question.
    """
    if not providers:
        return []
    results = await asyncio.gather(*(provider(context) for provider in providers), return_exceptions=True)
    blocks: list[ContextBlock] = []
    for provider, result in zip(providers, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            log.warning("agent %s: context provider %r failed: %s", context.agent_id, provider, result)
            continue
        blocks += [b for b in result if b.text]
    return blocks
