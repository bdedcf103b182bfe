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

What each call sends is the agent's :class:`~massmem.context.manager.ContextManager`'s
business (``agent.context``): it builds the request, compresses before the call when the
request nears the window, recovers once from a context-length error, and accounts for the
call afterwards.  A turn here is: store the prompt, ``prepare``, stream, maybe ``recover``
and retry once, store the reply, ``account``, run the hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from massmem.backends.base import Backend, Completion, ModelRequest, collect
from massmem.context.compression import CompressionReport, Entry
from massmem.context.manager import ContextManager
from massmem.context.request import ContextBlock, ContextProvider, TurnContext, TurnPlan
from massmem.context.usage import ContextUsage
from massmem.errors import BackendError, ContextLengthExceeded
from massmem.memory.conversation import ConversationMemory
from massmem.messages import StreamEvent, ToolResultMessage, UserMessage

if TYPE_CHECKING:
    from massmem.config.schema import ActionMode, AgentConfig, MemoryConfig

__all__ = [
    "AfterTurnHook",
    "Agent",
    "ContextBlock",
    "ContextNotice",
    "ContextProvider",
    "MemoryActivity",
    "TurnContext",
    "TurnPlan",
    "TurnRecord",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One finished call, as after-turn hooks see it."""

    agent_id: str
    question: str
    request: ModelRequest
    completion: Completion
    seconds: float


@dataclass(frozen=True, slots=True)
class MemoryActivity:
    """A memory store was queried or written while the agent worked (live view, ``--debug``).

    ``text`` is the query, or the start of what was added; ``results`` counts the entries a
    query returned (or rendered into the context).
    """

    store: str
    op: Literal["query", "add"]
    text: str
    results: int = 0
    ms: float = 0.0


AfterTurnHook = Callable[[TurnRecord], Awaitable[None]]
#: what ``take_turn(on_context=...)`` is told: a compression, each call's context figure,
#: and what memory stores were asked or told during the call
ContextNotice = CompressionReport | ContextUsage | MemoryActivity


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
        self._backend = backend
        self.system_message = system_message
        self.conversation = conversation if conversation is not None else ConversationMemory()
        self.action_mode: ActionMode = action_mode
        #: appended to, never replaced: the context manager asks this very list on every call
        self.context_providers: list[ContextProvider] = list(context_providers)
        self.after_turn: list[AfterTurnHook] = list(after_turn)
        self.question = ""
        #: what each call sends: window, counter, compression, the last call's figure
        self.context = ContextManager(id, backend, self.context_providers)
        self._stream_seconds = 0.0
        #: the running call's ``on_context`` (context providers and hooks report through it)
        self._notice_sink: Callable[[ContextNotice], None] | None = None

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
        agent = cls(
            config.id,
            backend
            if backend is not None
            else wrap(build_backend(config.backend, agent_id=config.id), config.backend, agent_id=config.id),
            config.system_message,
            ConversationMemory(max_messages=max_messages),
            config.backend.action_mode,
        )
        agent.context.configured_window = config.backend.context_window
        if memory is not None:
            agent.context.settings.trigger_threshold = memory.compression.trigger_threshold
            agent.context.settings.target_ratio = memory.compression.target_ratio
        return agent

    # -- what displays and the session read -------------------------------------------------------
    @property
    def backend(self) -> Backend:
        return self._backend

    @backend.setter
    def backend(self, backend: Backend) -> None:
        """Swap the model: its summaries for compression go to the same backend as its calls."""
        self._backend = backend
        self.context.backend = backend

    @property
    def backend_seconds(self) -> float:
        """Seconds spent inside the backend since construction, summary requests included."""
        return self._stream_seconds + self.context.summary_seconds

    @property
    def context_window(self) -> int | None:
        """The window the agent plans with (see :attr:`ContextManager.window`)."""
        return self.context.window

    @property
    def context_usage(self) -> ContextUsage | None:
        """The last call's context figure (used / window, API or estimate)."""
        return self.context.usage

    @property
    def compressions(self) -> list[CompressionReport]:
        """Every compression since construction, oldest first (a session keeps each turn's)."""
        return self.context.compressions

    @property
    def debug_dir(self) -> Path | None:
        """With a folder here (``--debug``), each compression is written there as JSON."""
        return self.context.debug_dir

    @debug_dir.setter
    def debug_dir(self, folder: Path | None) -> None:
        self.context.debug_dir = folder

    # -- a turn --------------------------------------------------------------------------------
    def begin(self, question: str) -> None:
        """Start work on a new question; earlier turns arrive as ``TurnPlan.history``."""
        self.question = question
        self.conversation.clear()
        self.context.forget_view()

    async def take_turn(
        self,
        plan: TurnPlan,
        on_event: Callable[[StreamEvent], None] | None = None,
        *,
        on_context: Callable[[ContextNotice], None] | None = None,
    ) -> Completion:
        """Make one model call; forward text and reasoning deltas to ``on_event`` as they stream.

        ``on_context`` hears of each compression (a :class:`CompressionReport`), of memory
        activity during the call (:class:`MemoryActivity`, from :meth:`notify`) and, once the
        call ended, of the context figure (a :class:`ContextUsage`).
        """
        self._notice_sink = on_context
        try:
            return await self._take_turn(plan, on_event, on_context)
        finally:
            self._notice_sink = None

    def notify(self, notice: ContextNotice) -> None:
        """Report ``notice`` to whoever runs the current call (no-op between calls)."""
        sink = self._notice_sink
        if sink is not None:
            try:
                sink(notice)
            except Exception:  # a listener's fault must not cost the call
                log.exception("agent %s: a context listener failed", self.id)

    async def _take_turn(
        self,
        plan: TurnPlan,
        on_event: Callable[[StreamEvent], None] | None,
        on_context: Callable[[ContextNotice], None] | None,
    ) -> Completion:
        entries = self._store(plan)
        streamed = self._stream_seconds
        try:
            draft = await self.context.prepare(plan, entries, self.question, on_context)
            try:
                completion = await self._call(draft.request, on_event)
            except ContextLengthExceeded as error:
                draft = await self.context.recover(error, draft, on_context)
                try:
                    completion = await self._call(draft.request, on_event)
                except ContextLengthExceeded as again:  # one retry only
                    raise self.context.still_too_long(again, draft) from None
        except BackendError as error:
            if error.agent_id is None:
                error.agent_id = self.id
            raise
        seconds = self._stream_seconds - streamed
        if not plan.standalone:
            self.conversation.add(completion.as_message())
        self.context.account(draft, completion, on_context)
        if self.after_turn:
            await self._after(TurnRecord(self.id, self.question, draft.request, completion, seconds))
        return completion

    def _store(self, plan: TurnPlan) -> list[Entry]:
        """The messages this call renders, with their pinned flags; a conversation call stores its prompt.

        A standalone call's messages are its own: ``history`` and the pinned prompt.
        """
        if plan.standalone:
            entries: list[Entry] = [(m, False) for m in plan.history]
            entries.append((UserMessage(plan.prompt or ""), True))
            return entries
        for message in plan.history:
            self.conversation.add(message)
        if plan.prompt:
            self.conversation.add(UserMessage(plan.prompt), pinned=plan.pin_prompt)
        return _entries(self.conversation)

    async def _call(
        self, request: ModelRequest, on_event: Callable[[StreamEvent], None] | None
    ) -> Completion:
        started = time.perf_counter()
        try:
            return await collect(self.backend.stream(request), on_event=on_event)
        finally:
            self._stream_seconds += time.perf_counter() - started

    def acknowledge(
        self, completion: Completion, text: str, per_call: Mapping[str, str] | None = None
    ) -> None:
        """Answer each tool call of ``completion`` (providers require a result for every call).

        ``per_call`` gives some calls (by id) their own result instead of ``text``.
        """
        for call in completion.tool_calls:
            result = per_call.get(call.id, text) if per_call else text
            self.conversation.add(ToolResultMessage(call.id, call.name, result))

    async def _after(self, record: TurnRecord) -> None:
        for hook in self.after_turn:
            try:
                await hook(record)
            except Exception as error:
                log.warning("agent %s: after-turn hook %r failed: %s", self.id, hook, error)


def _entries(conversation: ConversationMemory) -> list[Entry]:
    """The stored messages with their pinned flags."""
    entries = getattr(conversation, "entries", None)
    if callable(entries):
        return list(entries())
    return list(zip(conversation.messages(), conversation._pinned, strict=True))
