"""One agent's context control: what each call sends, and what it learnt from the last one.

The agent runs a turn; everything about *fitting* that turn into the model's window is
here, in the order a call meets it:

* :meth:`ContextManager.prepare` — render the stored messages under the current compressed
  view, ask the context providers, build the request; past ``trigger_threshold × window``
  older messages are summarised by the agent's own backend first (**proactive**
  compression);
* :meth:`ContextManager.recover` — the backend refused the request as too long
  (:class:`~massmem.errors.ContextLengthExceeded`): learn the window from the error,
  summarise, rebuild, and hand back a request for exactly one retry (**reactive**
  compression); :meth:`ContextManager.still_too_long` is the clear failure when the retry
  is refused too;
* :meth:`ContextManager.account` — after the call, record a
  :class:`~massmem.context.usage.ContextUsage` (used / window, the provider's figure or an
  estimate), calibrate the counter, and keep the view the request was rendered from.

Compression only changes what is rendered into requests: the conversation keeps every
message.  A request rendered from a compressed view tells its context providers so
(:attr:`~massmem.context.request.TurnContext.compressed`): what the summarised messages said
verbatim is no longer in context, and memory may bring it back.  When summarising cannot
make a request fit, the injected context blocks are cut for that call (:meth:`_fit`).
With ``debug_dir`` set, each compression is dumped as JSON.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from massmem.backends.base import Backend, Completion, ModelRequest
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
from massmem.context.request import (
    ContextBlock,
    ContextProvider,
    Draft,
    TurnContext,
    TurnPlan,
    ask_providers,
    build_request,
)
from massmem.context.tokens import TokenCounter
from massmem.context.usage import ContextUsage
from massmem.context.windows import resolve_window
from massmem.errors import BackendError, ContextLengthExceeded
from massmem.messages import Usage, message_to_dict

__all__ = ["ContextManager", "estimated_usage"]

log = logging.getLogger(__name__)

#: what the manager tells the running call's listener: a compression, or the call's figure
Notice = Callable[[CompressionReport | ContextUsage], None]


class ContextManager:
    """Fits one agent's calls into its model's window, and remembers what it learnt.

    ``providers`` is the agent's own list of context providers (shared, so providers
    attached after construction count).  The manager summarises with ``backend`` and
    counts for its model.
    """

    def __init__(self, agent_id: str, backend: Backend, providers: list[ContextProvider]) -> None:
        self.agent_id = agent_id
        self.backend = backend
        self.providers = providers
        #: counts tokens for this agent's model (tiktoken offline or a calibrated estimate)
        self.counter = TokenCounter(backend.model)
        self.settings = CompressionSettings()
        #: ``context_window`` from the backend config (wins over capabilities and the table)
        self.configured_window: int | None = None
        #: the window a context-length error revealed (wins over everything else)
        self.learnt_window: int | None = None
        #: with a folder here (``--debug``), each compression is written there as JSON
        self.debug_dir: Path | None = None
        #: the last call's context figure (used / window, API or estimate)
        self.usage: ContextUsage | None = None
        #: every compression since construction, oldest first
        self.compressions: list[CompressionReport] = []
        #: tokens the summary requests cost (they are real spend, outside any turn's usage)
        self.summary_usage = Usage()
        #: seconds the summary requests spent inside the backend
        self.summary_seconds = 0.0
        self._view: CompressedView | None = None
        #: summaries by the messages they cover: a session's earlier turns are summarised once
        self._summaries = SummaryCache()

    @property
    def window(self) -> int | None:
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

    def forget_view(self) -> None:
        """A new question: requests are rendered from the whole conversation again."""
        self._view = None

    # -- before the call -------------------------------------------------------------------
    async def prepare(
        self, plan: TurnPlan, entries: Sequence[Entry], question: str, on_context: Notice | None = None
    ) -> Draft:
        """The request for ``entries`` under ``plan``, compressed first when it passes the trigger.

        ``entries`` are the stored messages with their pinned flags; a standalone plan's
        entries are its own and are rendered without the conversation's compressed view.
        """
        view = None if plan.standalone else self._view
        draft = await self._draft(plan, entries, question, view)
        return await self._proactive(draft, on_context)

    async def _draft(
        self, plan: TurnPlan, entries: Sequence[Entry], question: str, view: CompressedView | None
    ) -> Draft:
        """Render stored messages under ``view``, ask the context providers, build the request."""
        history = render(entries, view)
        # Older messages left the request under a view: the providers hear it and may add what they held.
        context = TurnContext(self.agent_id, question, tuple(history), view is not None)
        blocks = await ask_providers(self.providers, context)
        return Draft(plan, entries, question, view, history, blocks, build_request(plan, history, blocks))

    async def _rebuilt(self, draft: Draft, result: CompressionResult) -> Draft:
        return await self._draft(draft.plan, draft.entries, draft.question, result.view)

    async def _proactive(self, draft: Draft, on_context: Notice | None) -> Draft:
        """Compress before the call when the estimate passes the trigger (else send as is)."""
        window = self.window
        settings = self.settings
        if not settings.proactive or window is None:
            return draft
        before = self.counter.request(draft.request)
        if before <= settings.trigger_threshold * window:
            return draft
        result = None
        try:
            result = await self._summarise(draft, window, budget=int(settings.target_ratio * window))
        except BackendError as error:
            # Not fatal: the call goes out as it is, and a real overflow is handled reactively.
            log.warning(
                "agent %s: proactive compression failed, sending uncompressed: %s", self.agent_id, error
            )
        rebuilt = draft if result is None else await self._rebuilt(draft, result)
        rebuilt, trimmed = self._fit(rebuilt, int(settings.fit_ratio * window))
        if result is None and not trimmed:
            return draft
        await self._report("proactive", draft, rebuilt, result, trimmed, before, window, on_context)
        return rebuilt

    # -- the provider refused ------------------------------------------------------------------
    async def recover(
        self, error: ContextLengthExceeded, draft: Draft, on_context: Notice | None = None
    ) -> Draft:
        """The provider refused ``draft`` as too long: learn, summarise, rebuild (or fail clearly).

        Older messages are summarised first; if the request is still too big for the window
        (or nothing could be summarised), the injected context blocks (memories, shared
        memory — rendered, never stored) are cut down as well.  The draft returned is for
        exactly one retry.
        """
        if error.agent_id is None:
            error.agent_id = self.agent_id
        self._learn_from(error, draft.request)
        window = self.window
        settings = self.settings
        before = error.requested_tokens or self.counter.request(draft.request)
        budget = int(settings.trigger_threshold * window) if window else None
        why = "there are no older messages to summarise"
        try:
            result = await self._summarise(draft, window, keep_ratio=settings.reactive_ratio, budget=budget)
        except ContextLengthExceeded:
            result, why = None, "even the summary requests were too long"
        rebuilt = draft if result is None else await self._rebuilt(draft, result)
        # Window unknown and nothing summarised: leaving the injected context out is all that is left.
        limit = int(settings.fit_ratio * window) if window else (None if result is not None else 0)
        trimmed = 0
        if limit is not None:
            rebuilt, trimmed = self._fit(rebuilt, limit)
        if result is None and not trimmed:
            raise self._overflow(
                f"the request (~{before:,} tokens) does not fit the context window ({_size(window)}) "
                f"and {why}",
                error,
            ) from None
        await self._report("reactive", draft, rebuilt, result, trimmed, before, window, on_context, error)
        return rebuilt

    def still_too_long(self, again: ContextLengthExceeded, draft: Draft) -> ContextLengthExceeded:
        """The retry after :meth:`recover` was refused too: learn from it, and say so once."""
        request = draft.request
        self._learn_from(again, request)
        sent = again.requested_tokens or self.counter.request(request)
        return self._overflow(
            f"the conversation still does not fit the context window after compression "
            f"(~{sent:,} tokens sent, window {_size(self.window)})",
            again,
        )

    # -- after the call ------------------------------------------------------------------------
    def account(self, draft: Draft, completion: Completion, on_context: Notice | None = None) -> None:
        """Record the call's context figure; calibrate the counter on the provider's own count.

        A completion whose provider reported no usage gets an estimate (marked ``estimated``),
        and a conversation's request keeps its compressed view for the next call.
        """
        request = draft.request
        if completion.usage is None:
            completion.usage = estimated_usage(request, completion, self.counter)
        if not draft.plan.standalone:
            self._view = draft.view
        usage = completion.usage
        raw = self.counter.raw_request(request)
        output = usage.output_tokens
        if not usage.estimated and usage.input_tokens > 0:
            self.counter.observe(raw, usage.input_tokens)
            sent, source = usage.input_tokens, "api"
        else:
            sent, source = self.counter.scale(raw), "estimate"
        self.usage = ContextUsage(self.agent_id, sent + output, self.window, source, sent)  # type: ignore[arg-type]
        if on_context is not None:
            on_context(self.usage)

    # -- compression ---------------------------------------------------------------------------
    async def _summarise(
        self,
        draft: Draft,
        window: int | None,
        *,
        keep_ratio: float | None = None,
        budget: int | None = None,
    ) -> CompressionResult | None:
        request = draft.request
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
                draft.entries,
                draft.view,
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
            self.summary_seconds += time.perf_counter() - started
        if result is not None:
            self.summary_usage = self.summary_usage + result.usage
        return result

    def _fit(self, draft: Draft, limit: int) -> tuple[Draft, int]:
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
        fitted = Draft(
            draft.plan,
            draft.entries,
            draft.question,
            draft.view,
            draft.history,
            blocks,
            build_request(draft.plan, draft.history, blocks),
        )
        saved = size - self.counter.request(fitted.request)
        log.info(
            "agent %s: injected context cut by ~%d tokens to fit the context window", self.agent_id, saved
        )
        return fitted, max(saved, 1)

    async def _report(
        self,
        reason: Literal["proactive", "reactive"],
        before: Draft,
        after: Draft,
        result: CompressionResult | None,
        trimmed: int,
        tokens_before: int,
        window: int | None,
        on_context: Notice | None,
        error: ContextLengthExceeded | None = None,
    ) -> None:
        tokens_after = self.counter.request(after.request)
        covered = after.view.ids if after.view is not None else frozenset()
        report = CompressionReport(
            agent_id=self.agent_id,
            reason=reason,
            tokens_before=tokens_before,
            tokens_after=tokens_after,
            window=window,
            summarised_messages=len(result.summarised) if result is not None else 0,
            kept_messages=sum(1 for m, _ in before.entries if id(m) not in covered),
            summary_calls=result.summary_calls if result is not None else 0,
            context_trimmed=trimmed,
        )
        self.compressions.append(report)
        log.info(
            "agent %s: %s compression %d -> %d tokens (window %s), %d messages summarised, context cut by %d",
            self.agent_id, reason, tokens_before, tokens_after, _size(window), report.summarised_messages, trimmed,
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
            "agent_id": self.agent_id,
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
            await write_dump(self.debug_dir, self.agent_id, len(self.compressions), payload)
        except OSError as problem:
            log.warning("agent %s: could not write the compression dump: %s", self.agent_id, problem)

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
            agent_id=self.agent_id,
        )


def _size(window: int | None) -> str:
    return f"{window:,} tokens" if window else "size unknown"


def estimated_usage(
    request: ModelRequest, completion: Completion, counter: TokenCounter | None = None
) -> Usage:
    """Usage for a call whose provider reported none, marked as an estimate."""
    counter = counter or TokenCounter()
    made = counter.text(completion.text) + counter.text(completion.reasoning)
    made += sum(counter.text(c.raw_arguments or str(c.arguments)) for c in completion.tool_calls)
    return Usage(input_tokens=counter.request(request), output_tokens=counter.scale(made), estimated=True)
