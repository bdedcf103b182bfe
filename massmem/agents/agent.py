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

Context management happens here, around the backend call (see :mod:`massmem.context`):

* before the call the request is counted; past ``trigger_threshold × window`` older
  messages are summarised by the agent's own backend (**proactive** compression);
* a :class:`~massmem.errors.ContextLengthExceeded` from the backend teaches the agent the
  window, then older messages are summarised and the call is retried exactly once
  (**reactive** compression);
* after the call the agent records a :class:`~massmem.context.usage.ContextUsage`
  (used / window, the provider's figure or an estimate) and calibrates its counter.

Compression only changes what is rendered into requests: the conversation keeps every
message.  A request rendered from a compressed view tells its context providers so
(:attr:`TurnContext.compressed`): what the summarised messages said verbatim is no longer in
context, and memory may bring it back.  With ``debug_dir`` set, each compression is dumped
as JSON.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from massmem.backends.base import Backend, Completion, JsonSchemaFormat, ModelRequest, ToolSpec
from massmem.context.compression import (
    CompressedView,
    CompressionReport,
    CompressionResult,
    CompressionSettings,
    Entry,
    SummaryCache,
    compress,
    cut_middle,
    render,
    request_to_dict,
    write_dump,
)
from massmem.context.tokens import TokenCounter
from massmem.context.usage import ContextUsage
from massmem.context.windows import resolve_window
from massmem.errors import BackendError, ContextLengthExceeded
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
    message_to_dict,
)

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


ContextProvider = Callable[[TurnContext], Awaitable[Sequence[ContextBlock]]]
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
        self.backend = backend
        self.system_message = system_message
        self.conversation = conversation if conversation is not None else ConversationMemory()
        self.action_mode: ActionMode = action_mode
        self.context_providers: list[ContextProvider] = list(context_providers)
        self.after_turn: list[AfterTurnHook] = list(after_turn)
        self.question = ""
        #: seconds spent inside ``backend.stream`` since construction (benchmarks, reports)
        self.backend_seconds = 0.0
        # -- context management ------------------------------------------------------------
        #: counts tokens for this agent's model (tiktoken offline or a calibrated estimate)
        self.counter = TokenCounter(backend.model)
        self.compression = CompressionSettings()
        #: ``context_window`` from the backend config (wins over capabilities and the table)
        self.configured_window: int | None = None
        #: the window a context-length error revealed (wins over everything else)
        self.learnt_window: int | None = None
        #: with a folder here (``--debug``), each compression is written there as JSON
        self.debug_dir: Path | None = None
        #: the last call's context figure (used / window, API or estimate)
        self.context_usage: ContextUsage | None = None
        #: every compression since construction, oldest first
        self.compressions: list[CompressionReport] = []
        #: tokens the summary requests cost (they are real spend, outside any turn's usage)
        self.summary_usage = Usage()
        self._view: CompressedView | None = None
        #: summaries by the messages they cover: a session's earlier turns are summarised once
        self._summaries = SummaryCache()
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
        agent.configured_window = config.backend.context_window
        if memory is not None:
            agent.compression.trigger_threshold = memory.compression.trigger_threshold
            agent.compression.target_ratio = memory.compression.target_ratio
        return agent

    @property
    def context_window(self) -> int | None:
        """The window to plan with: learnt, configured, the backend's, the table's, or None."""
        return resolve_window(
            learnt=self.learnt_window,
            configured=self.configured_window,
            capability=self.backend.capabilities.context_window,
            model=self.backend.model,
        )

    def learn_window(self, tokens: int) -> None:
        """The provider said its window holds ``tokens``: plan with that from now on."""
        if tokens > 0:
            self.learnt_window = tokens if self.learnt_window is None else min(self.learnt_window, tokens)

    def begin(self, question: str) -> None:
        """Start work on a new question; earlier turns arrive as ``TurnPlan.history``."""
        self.question = question
        self.conversation.clear()
        self._view = None

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
        if plan.standalone:
            entries: list[Entry] = [(m, False) for m in plan.history]
            entries.append((UserMessage(plan.prompt or ""), True))
            view = None
        else:
            for message in plan.history:
                self.conversation.add(message)
            if plan.prompt:
                self.conversation.add(UserMessage(plan.prompt), pinned=plan.pin_prompt)
            entries = _entries(self.conversation)
            view = self._view
        seconds = 0.0
        try:
            draft = await self._draft(plan, entries, view)
            draft = await self._proactive(plan, entries, draft, on_context)
            started = time.perf_counter()
            try:
                completion = await self._stream(draft.request, on_event)
            except ContextLengthExceeded as error:
                seconds += time.perf_counter() - started
                draft = await self._reactive(plan, entries, draft, error, on_context)
                started = time.perf_counter()
                completion = await self._retry(draft.request, on_event)
            seconds += time.perf_counter() - started
        except BackendError as error:
            if error.agent_id is None:
                error.agent_id = self.id
            raise
        request = draft.request
        if not plan.standalone:
            self._view = draft.view
            self.conversation.add(completion.as_message())
        self._account(request, completion, on_context)
        if self.after_turn:
            await self._after(TurnRecord(self.id, self.question, request, completion, seconds))
        return completion

    def acknowledge(
        self, completion: Completion, text: str, per_call: Mapping[str, str] | None = None
    ) -> None:
        """Answer each tool call of ``completion`` (providers require a result for every call).

        ``per_call`` gives some calls (by id) their own result instead of ``text``.
        """
        for call in completion.tool_calls:
            result = per_call.get(call.id, text) if per_call else text
            self.conversation.add(ToolResultMessage(call.id, call.name, result))

    # -- requests ------------------------------------------------------------------------------
    async def _draft(self, plan: TurnPlan, entries: Sequence[Entry], view: CompressedView | None) -> _Draft:
        """Render stored messages under ``view``, ask the context providers, build the request."""
        history = render(entries, view)
        blocks = await self._blocks(history, compressed=view is not None)
        return _Draft(view, history, blocks, _build(plan, history, blocks))

    async def _stream(
        self, request: ModelRequest, on_event: Callable[[StreamEvent], None] | None
    ) -> Completion:
        out = Completion()
        text: list[str] = []
        reasoning: list[str] = []
        started = time.perf_counter()
        try:
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
        finally:
            self.backend_seconds += time.perf_counter() - started
        out.text = "".join(text)
        out.reasoning = "".join(reasoning)
        if out.usage is None:
            out.usage = _estimated_usage(request, out, self.counter)
        return out

    # -- compression ---------------------------------------------------------------------------
    async def _proactive(
        self,
        plan: TurnPlan,
        entries: Sequence[Entry],
        draft: _Draft,
        on_context: Callable[[ContextNotice], None] | None,
    ) -> _Draft:
        """Compress before the call when the estimate passes the trigger (else send as is)."""
        window = self.context_window
        settings = self.compression
        if not settings.proactive or window is None:
            return draft
        before = self.counter.request(draft.request)
        if before <= settings.trigger_threshold * window:
            return draft
        result = None
        try:
            result = await self._summarise(
                entries, draft.view, draft.request, window, budget=int(settings.target_ratio * window)
            )
        except BackendError as error:
            # Not fatal: the call goes out as it is, and a real overflow is handled reactively.
            log.warning("agent %s: proactive compression failed, sending uncompressed: %s", self.id, error)
        rebuilt = draft if result is None else await self._rebuilt(plan, entries, result)
        rebuilt, trimmed = self._fit(plan, rebuilt, int(settings.fit_ratio * window))
        if result is None and not trimmed:
            return draft
        await self._report("proactive", entries, draft, rebuilt, result, trimmed, before, window, on_context)
        return rebuilt

    async def _reactive(
        self,
        plan: TurnPlan,
        entries: Sequence[Entry],
        draft: _Draft,
        error: ContextLengthExceeded,
        on_context: Callable[[ContextNotice], None] | None,
    ) -> _Draft:
        """The provider refused the request as too long: learn, summarise, rebuild (or fail clearly).

        Older messages are summarised first; if the request is still too big for the window
        (or nothing could be summarised), the injected context blocks (memories, shared
        memory — rendered, never stored) are cut down as well.
        """
        if error.agent_id is None:
            error.agent_id = self.id
        self._learn_from(error, draft.request)
        window = self.context_window
        settings = self.compression
        before = error.requested_tokens or self.counter.request(draft.request)
        budget = int(settings.trigger_threshold * window) if window else None
        why = "there are no older messages to summarise"
        try:
            result = await self._summarise(
                entries, draft.view, draft.request, window, keep_ratio=settings.reactive_ratio, budget=budget
            )
        except ContextLengthExceeded:
            result, why = None, "even the summary requests were too long"
        rebuilt = draft if result is None else await self._rebuilt(plan, entries, result)
        # Window unknown and nothing summarised: leaving the injected context out is all that is left.
        limit = int(settings.fit_ratio * window) if window else (None if result is not None else 0)
        trimmed = 0
        if limit is not None:
            rebuilt, trimmed = self._fit(plan, rebuilt, limit)
        if result is None and not trimmed:
            raise self._overflow(
                f"the request (~{before:,} tokens) does not fit the context window ({_size(window)}) "
                f"and {why}",
                error,
            ) from None
        await self._report(
            "reactive", entries, draft, rebuilt, result, trimmed, before, window, on_context, error
        )
        return rebuilt

    async def _retry(
        self, request: ModelRequest, on_event: Callable[[StreamEvent], None] | None
    ) -> Completion:
        """The one retry after a reactive compression; a second overflow ends the turn."""
        try:
            return await self._stream(request, on_event)
        except ContextLengthExceeded as again:
            self._learn_from(again, request)
            sent = again.requested_tokens or self.counter.request(request)
            raise self._overflow(
                f"the conversation still does not fit the context window after compression "
                f"(~{sent:,} tokens sent, window {_size(self.context_window)})",
                again,
            ) from None

    async def _summarise(
        self,
        entries: Sequence[Entry],
        view: CompressedView | None,
        request: ModelRequest,
        window: int | None,
        *,
        keep_ratio: float | None = None,
        budget: int | None = None,
    ) -> CompressionResult | None:
        fixed = self.counter.request(
            ModelRequest(
                messages=list(request.messages[:1]),
                tools=request.tools,
                response_format=request.response_format,
            )
        )
        started = time.perf_counter()
        try:
            result = await compress(
                entries,
                view,
                counter=self.counter,
                backend=self.backend,
                fixed=fixed,
                window=window,
                keep_ratio=keep_ratio,
                budget=budget,
                learn=self.learn_window,
                cache=self._summaries,
            )
        finally:
            self.backend_seconds += time.perf_counter() - started
        if result is not None:
            self.summary_usage = _add_usage(self.summary_usage, result.usage)
        return result

    async def _rebuilt(self, plan: TurnPlan, entries: Sequence[Entry], result: CompressionResult) -> _Draft:
        # Older messages left the request: the providers hear it (``compressed``) and may add what they held.
        return await self._draft(plan, entries, result.view)

    def _fit(self, plan: TurnPlan, draft: _Draft, limit: int) -> tuple[_Draft, int]:
        """Cut the injected context blocks until the request is estimated under ``limit``.

        The last block goes first (it is cut in the middle, keeping its head and its newest
        lines, or left out when little would remain).  Returns the new draft and the tokens
        saved.  Blocks are rendered per call, so nothing stored is lost.
        """
        size = self.counter.request(draft.request)
        if size <= limit or not draft.blocks:
            return draft, 0
        excess = math.ceil((size - limit) / max(self.counter.calibration, 0.25))
        blocks = list(draft.blocks)
        for i in range(len(blocks) - 1, -1, -1):
            if excess <= 0:
                break
            block = blocks[i]
            have = self.counter.text(block.text)
            if have - excess < 32:
                blocks.pop(i)
                excess -= have + 10  # the block's wrapper too
                continue
            text = cut_middle(block.text, len(block.text) * (have - excess) // max(have, 1))
            excess -= have - self.counter.text(text)
            blocks[i] = ContextBlock(block.label, text)
        fitted = _Draft(draft.view, draft.history, blocks, _build(plan, draft.history, blocks))
        saved = size - self.counter.request(fitted.request)
        log.info("agent %s: injected context cut by ~%d tokens to fit the context window", self.id, saved)
        return fitted, max(saved, 1)

    async def _report(
        self,
        reason: Literal["proactive", "reactive"],
        entries: Sequence[Entry],
        before: _Draft,
        after: _Draft,
        result: CompressionResult | None,
        trimmed: int,
        tokens_before: int,
        window: int | None,
        on_context: Callable[[ContextNotice], None] | None,
        error: ContextLengthExceeded | None = None,
    ) -> None:
        tokens_after = self.counter.request(after.request)
        covered = after.view.ids if after.view is not None else frozenset()
        report = CompressionReport(
            agent_id=self.id,
            reason=reason,
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            window=window,
            summarised_messages=len(result.summarised) if result is not None else 0,
            kept_messages=sum(1 for m, _ in entries if id(m) not in covered),
            summary_calls=result.summary_calls if result is not None else 0,
            context_trimmed=trimmed,
        )
        self.compressions.append(report)
        log.info(
            "agent %s: %s compression %d -> %d tokens (window %s), %d messages summarised, context cut by %d",
            self.id, reason, tokens_before, tokens_after, _size(window), report.summarised_messages, trimmed,
        )  # fmt: skip
        if self.debug_dir is not None:
            await self._dump(report, before.request, after.request, result, error)
        if on_context is not None:
            on_context(report)

    async def _dump(
        self,
        report: CompressionReport,
        before: ModelRequest,
        after: ModelRequest,
        result: CompressionResult | None,
        error: ContextLengthExceeded | None,
    ) -> None:
        assert self.debug_dir is not None
        payload: dict[str, Any] = {
            "agent_id": self.id,
            "reason": report.reason,
            "window": report.window,
            "tokens_before": report.tokens_before,
            "tokens_after": report.tokens_after,
            "context_trimmed": report.context_trimmed,
            "counter": {"source": self.counter.source, "calibration": self.counter.calibration},
            "error": None if error is None else str(error),
            "input_messages": [message_to_dict(m) for m in before.messages],
            "summarised_messages": [message_to_dict(m) for m in result.summarised] if result else [],
            "summary": result.summary if result else "",
            "summary_requests": [request_to_dict(r) for r in result.summary_requests] if result else [],
            "result_messages": [message_to_dict(m) for m in after.messages],
            "retry_request" if report.reason == "reactive" else "request": request_to_dict(after),
        }
        try:
            await write_dump(self.debug_dir, self.id, len(self.compressions), payload)
        except OSError as problem:
            log.warning("agent %s: could not write the compression dump: %s", self.id, problem)

    def _learn_from(self, error: ContextLengthExceeded, request: ModelRequest) -> None:
        if error.requested_tokens:
            self.counter.observe(self.counter.raw_request(request), error.requested_tokens)
        if error.allowed_tokens:
            self.learn_window(error.allowed_tokens)

    def _overflow(self, text: str, cause: ContextLengthExceeded) -> ContextLengthExceeded:
        return ContextLengthExceeded(
            text,
            requested_tokens=cause.requested_tokens,
            allowed_tokens=cause.allowed_tokens,
            provider=cause.provider,
            agent_id=self.id,
        )

    # -- accounting ----------------------------------------------------------------------------
    def _account(
        self,
        request: ModelRequest,
        completion: Completion,
        on_context: Callable[[ContextNotice], None] | None,
    ) -> None:
        """Record the call's context figure; calibrate the counter on the provider's own count."""
        usage = completion.usage
        raw = self.counter.raw_request(request)
        output = usage.output_tokens if usage is not None else 0
        if usage is not None and not usage.estimated and usage.input_tokens > 0:
            self.counter.observe(raw, usage.input_tokens)
            sent, source = usage.input_tokens, "api"
        else:
            sent, source = self.counter.scale(raw), "estimate"
        self.context_usage = ContextUsage(self.id, sent + output, self.context_window, source, sent)  # type: ignore[arg-type]
        if on_context is not None:
            on_context(self.context_usage)

    async def _blocks(self, history: Sequence[Message], *, compressed: bool) -> list[ContextBlock]:
        """Ask every context provider for this call's blocks; a failing provider is skipped."""
        if not self.context_providers:
            return []
        context = TurnContext(self.id, self.question, tuple(history), compressed)
        results = await asyncio.gather(
            *(provider(context) for provider in self.context_providers), return_exceptions=True
        )
        blocks: list[ContextBlock] = []
        for provider, result in zip(self.context_providers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                log.warning("agent %s: context provider %r failed: %s", self.id, provider, result)
                continue
            blocks += [b for b in result if b.text]
        return blocks

    async def _after(self, record: TurnRecord) -> None:
        for hook in self.after_turn:
            try:
                await hook(record)
            except Exception as error:
                log.warning("agent %s: after-turn hook %r failed: %s", self.id, hook, error)


@dataclass(frozen=True, slots=True)
class _Draft:
    """A request in the making: the view it renders, its history, its context blocks, the request."""

    view: CompressedView | None
    history: list[Message]
    blocks: list[ContextBlock]
    request: ModelRequest


def _build(plan: TurnPlan, history: Sequence[Message], blocks: Sequence[ContextBlock]) -> ModelRequest:
    parts = [f'<context label="{b.label}">\n{b.text.strip()}\n</context>' for b in blocks]
    system = plan.system + ("\n\n" + "\n\n".join(parts) if parts else "")
    return ModelRequest(
        messages=[SystemMessage(system), *history],
        tools=plan.tools,
        tool_choice=plan.tool_choice,
        response_format=plan.response_format,
    )


def _entries(conversation: ConversationMemory) -> list[Entry]:
    """The stored messages with their pinned flags."""
    entries = getattr(conversation, "entries", None)
    if callable(entries):
        return list(entries())
    return list(zip(conversation.messages(), conversation._pinned, strict=True))


def _size(window: int | None) -> str:
    return f"{window:,} tokens" if window else "size unknown"


def _add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
        cached_tokens=a.cached_tokens + b.cached_tokens,
        estimated=a.estimated or b.estimated,
    )


def _estimated_usage(
    request: ModelRequest, completion: Completion, counter: TokenCounter | None = None
) -> Usage:
    """Usage for a call whose provider reported none, marked as an estimate."""
    counter = counter or TokenCounter()
    made = counter.text(completion.text) + counter.text(completion.reasoning)
    made += sum(counter.text(c.raw_arguments or str(c.arguments)) for c in completion.tool_calls)
    return Usage(input_tokens=counter.request(request), output_tokens=counter.scale(made), estimated=True)
