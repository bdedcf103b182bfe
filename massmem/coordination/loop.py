"""The team loop for one question: a single coordinator over concurrent model calls.

Each model call runs in its own asyncio task and reports back through one queue (deltas
as they stream, then a :class:`_Done`).  Only the coordinator — the async generator in
:meth:`RunLoop.events` — reads that queue and changes the :class:`CoordinationState`, so
every rule is applied in one place, in order, without locks.  A call that ends always
leads to exactly one of: a counted vote (the agent rests), another call (retry, update or
follow-up), or the agent's failure.  Hence "no call in flight" means the run is over.

Calls are never cancelled because someone else answered: when a call ends on an outdated
revision, its vote is discarded and the agent is asked again with the news injected.

Shared entries (the ``share`` tool, when the team enables it) are published as soon as a
reply carrying them ends; the round's entries are the loop's, handed out in the result, and
only the session decides whether they outlive the round (a failed round is never saved).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from massmem.agents.agent import Agent, ContextNotice, MemoryActivity, TurnPlan
from massmem.backends.base import Completion
from massmem.config.schema import OrchestratorConfig
from massmem.context.compression import CompressionReport
from massmem.coordination import prompts
from massmem.coordination.entry_board import EntryBoard
from massmem.coordination.events import (
    AgentContextUsage,
    AgentFailed,
    AgentReasoningDelta,
    AgentRetry,
    AgentStarted,
    AgentTextDelta,
    AgentUpdateInjected,
    AnswerSubmitted,
    ContextCompressed,
    Event,
    FinalAnswerDelta,
    MemoryAccessed,
    ProviderToolUsed,
    VoteCast,
)
from massmem.coordination.prompts import Protocol
from massmem.coordination.scaffolding import clean_answer
from massmem.coordination.state import Answer, CoordinationState, PastTurn
from massmem.coordination.tools import (
    Action,
    Invalid,
    NewAnswer,
    ShareRequest,
    VoteAction,
    action_format,
    extract_json_action,
    parse_action,
    share_requests,
    workflow_tools,
)
from massmem.errors import InvalidResponse, ProviderUnavailable
from massmem.memory.scoped_entries import ScopedEntry
from massmem.messages import Message, ReasoningDelta, ServerToolActivity, StreamEvent, TextDelta, Usage

__all__ = ["RunLoop", "one_line"]


def one_line(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` — short enough for a status line."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _answer_text(text: str) -> str:
    """What a reply offers as an answer: its text, or the content of a JSON action it wrote."""
    data = extract_json_action(text)
    if data is None:
        return text
    content = data.get("content")
    return content.strip() if isinstance(content, str) else ""


@dataclass(frozen=True, slots=True)
class _Done:
    """A model call ended: with a completion, or with a one-line failure reason."""

    agent_id: str
    completion: Completion | None
    failure: str | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class _FromText:
    """A weak model's plain text standing in for an action (see :meth:`RunLoop._fallback`)."""

    action: NewAnswer | VoteAction


@dataclass
class _Seat:
    """The coordinator's bookkeeping for one agent on this question."""

    agent: Agent
    calls: int = 0
    invalid: int = 0
    seen_revision: int = 0
    #: the non-empty texts of the current turn's replies (weak-model fallback material)
    texts: list[str] = field(default_factory=list)
    protocol: Protocol = "tools"
    usage: Usage = field(default_factory=Usage)
    #: the agent's cumulative backend time when this question began
    backend_base: float = 0.0
    #: the agent's summary-request usage when this question began (compression costs tokens too)
    summary_base: Usage = field(default_factory=Usage)
    #: ``auto`` agent whose retries ran out once: it evidently cannot act, so later turns
    #: use the plain-text protocol instead of spending every retry again
    degraded: bool = False
    #: requests the provider failed because of their protocol: many OpenAI-compatible servers
    #: reject or crash on ``tools`` or ``response_format``, so ``auto`` steps down a rung each
    #: time — tools, then JSON actions, then plain text
    refused: int = 0
    #: results for the last reply's ``share`` calls, by call id (handed to ``acknowledge``)
    receipts: dict[str, str] = field(default_factory=dict)
    #: replies in a row that only shared (bounded by ``shared_entries.max_shares_per_turn``)
    share_only: int = 0


class RunLoop:
    """Drives one question from the first call to a chosen answer (presentation included)."""

    def __init__(
        self,
        agents: Sequence[Agent],
        config: OrchestratorConfig,
        question: str,
        history: Sequence[PastTurn],
        *,
        shared_entries: Sequence[ScopedEntry] = (),
        turn: int | None = None,
    ) -> None:
        self.config = config
        self.question = question
        self.history = tuple(history)
        #: the round's number (the session's turn number); entries are tagged with it
        self.turn = turn if turn is not None else len(self.history) + 1
        self.board = EntryBoard(config.shared_entries, self.turn, shared_entries)
        self.sharing = config.shared_entries.enabled
        self.state = CoordinationState(tuple(a.id for a in agents))
        self.seats = {
            a.id: _Seat(a, backend_base=a.backend_seconds, summary_base=a.context.summary_usage)
            for a in agents
        }
        for agent in agents:
            agent.context.settings.reactive_ratio = config.compression_target_ratio
        self.queue: asyncio.Queue[_Done | Event] = asyncio.Queue()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.outbox: list[Event] = []
        self.timed_out = False
        share_types = config.shared_entries.types
        anon = self.state.anon_ids()
        self._tools = tuple(workflow_tools(anon, share=self.sharing, share_types=share_types))
        self._format = action_format(anon, share=self.sharing, share_types=share_types)
        self._answer_format = action_format(
            anon, share=self.sharing, share_types=share_types, answer_only=True
        )

    # -- the coordinator ------------------------------------------------------------------------

    async def coordinate(self) -> AsyncGenerator[Event, None]:
        """Run until every active agent rests on a current vote, everyone failed, or time ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        for agent_id in self.state.agent_ids:
            self._launch(agent_id)
        for event in self._drain():
            yield event
        while self.tasks:
            try:
                async with asyncio.timeout_at(deadline):
                    item = await self.queue.get()
            except TimeoutError:
                self.timed_out = True
                break
            if isinstance(item, _Done):
                self.tasks.pop(item.agent_id, None)
                self._handle(item)
                for event in self._drain():
                    yield event
            else:
                yield item
        await self.cancel()

    async def cancel(self) -> None:
        """Cancel every call in flight and wait for them, so nothing outlives the run."""
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _drain(self) -> list[Event]:
        events, self.outbox = self.outbox, []
        return events

    # -- launching calls ------------------------------------------------------------------------

    def _protocol(self, seat: _Seat) -> Protocol:
        mode = seat.agent.action_mode
        if mode != "auto":
            return mode
        if seat.degraded or seat.refused >= 2:
            return "text"
        if seat.invalid > 0 or seat.refused or not seat.agent.backend.capabilities.tool_calling:
            return "json"
        return "tools"

    def _launch(self, agent_id: str, lead: str = "", *, retry: bool = False, discarded: bool = False) -> None:
        """Start the agent's next call; ``lead`` opens its prompt (enforcement or a receipt)."""
        seat = self.seats[agent_id]
        if seat.calls >= self.config.max_turns_per_agent:
            # Decided on the agent's behalf against the state as it is now, so never stale.
            seat.seen_revision = self.state.revision
            self._exhausted(agent_id, f"reached max_turns_per_agent ({self.config.max_turns_per_agent})")
            return
        if not retry:
            seat.invalid = 0
            seat.texts.clear()
        state = self.state
        history: tuple[Message, ...] = ()
        protocol = self._protocol(seat)
        plain_vote = protocol == "text" and state.latest_answer(agent_id) is not None
        if seat.calls == 0:
            # Earlier turns go first as real user/assistant pairs, compressible like any older message.
            if protocol == "text":
                prompt = prompts.plain_task_message(self.question)
            else:
                prompt = prompts.task_message(self.question, state)
            pin = True
            history = prompts.history_messages(self.history)
        elif plain_vote:
            # The text protocol's second step: every current answer side by side, one vote to cast.
            pin = False
            missed = [a for a in state.answers_since(seat.seen_revision) if a.author != agent_id]
            if missed:
                self.outbox.append(AgentUpdateInjected(agent_id, tuple(a.label for a in missed), discarded))
            prompt = "\n\n".join(
                [*([lead] if retry and lead else []), prompts.plain_vote_message(self.question, state)]
            )
        else:
            pin = False
            missed = [a for a in state.answers_since(seat.seen_revision) if a.author != agent_id]
            parts = [lead] if lead else []
            if missed:
                parts.append(prompts.update_message(state, missed))
                labels = tuple(a.label for a in missed)
                self.outbox.append(AgentUpdateInjected(agent_id, labels, discarded))
            elif not retry:
                parts.append(prompts.next_step_message(state))
            prompt = "\n\n".join(parts)
        seat.seen_revision = state.revision
        seat.protocol = protocol
        seat.calls += 1
        agent = seat.agent
        auto = agent.action_mode == "auto"
        json_schema = agent.backend.capabilities.json_schema
        if protocol == "json" and json_schema:
            response_format = self._format if state.answers else self._answer_format
        elif plain_vote and json_schema and not seat.refused:
            # (not after the provider refused a response format: then the vote is asked in words)
            response_format = action_format(
                [state.anon_id(a.author) for a in state.current_answers()], vote_only=True
            )
        else:
            response_format = None
        plan = TurnPlan(
            system=prompts.system_prompt(
                state,
                agent_id,
                agent.system_message,
                protocol,
                auto=auto,
                sharing=self.sharing,
                entries=self._entries_block(agent_id),
            ),
            prompt=prompt,
            pin_prompt=pin,
            tools=self._tools if protocol == "tools" else (),
            response_format=response_format,
            context_in_prompt=protocol == "text",
            history=history,
        )
        state.mark_working(agent_id)
        self.outbox.append(AgentStarted(agent_id, seat.calls, protocol))
        self.tasks[agent_id] = asyncio.create_task(self._call(agent, plan), name=f"massmem:{agent_id}")

    async def _call(self, agent: Agent, plan: TurnPlan, *, final: bool = False) -> None:
        """One model call as a task.  It never raises (except cancellation): it reports."""
        put = self.queue.put_nowait
        agent_id = agent.id

        def forward(event: StreamEvent) -> None:
            match event:
                case TextDelta(text=t):
                    put(FinalAnswerDelta(agent_id, t) if final else AgentTextDelta(agent_id, t))
                case ReasoningDelta(text=t):
                    put(AgentReasoningDelta(agent_id, t))
                case ServerToolActivity(tool=tool, detail=detail):
                    put(ProviderToolUsed(agent_id, tool, detail))

        def context(notice: ContextNotice) -> None:
            if isinstance(notice, MemoryActivity):
                put(MemoryAccessed(agent_id, notice.store, notice.op, notice.text, notice.results, notice.ms))
            elif isinstance(notice, CompressionReport):
                put(
                    ContextCompressed(
                        agent_id,
                        notice.reason,
                        notice.tokens_before,
                        notice.tokens_after,
                        notice.window,
                        notice.summarised_messages,
                        notice.kept_messages,
                        notice.context_trimmed,
                    )
                )
            else:
                turn = self.seats[agent_id].calls
                put(AgentContextUsage(agent_id, turn, notice.used, notice.window, notice.estimated))

        limit = self.config.agent_timeout
        try:
            async with asyncio.timeout(limit) as scope:
                completion = await agent.take_turn(plan, forward, on_context=context)
        except Exception as error:
            if isinstance(error, TimeoutError) and scope.expired():
                put(_Done(agent_id, None, f"no reply within agent_timeout ({limit:g} s)"))
            else:
                put(_Done(agent_id, None, one_line(error), error))
        else:
            put(_Done(agent_id, completion))

    # -- handling a finished call ---------------------------------------------------------------

    def _handle(self, done: _Done) -> None:
        agent_id, seat = done.agent_id, self.seats[done.agent_id]
        if done.completion is None:
            if self._protocol_refused(seat, done.error):
                failed = seat.protocol
                seat.refused = 2 if failed == "json" else 1
                reason = f"the provider failed a {failed}-protocol request ({done.failure}); stepping down"
                self.outbox.append(AgentRetry(agent_id, reason, seat.invalid, self._protocol(seat)))
                self._launch(agent_id, "", retry=True)
                return
            self._fail(agent_id, done.failure or "failed")
            return
        completion = done.completion
        seat.usage = seat.usage + completion.usage
        if completion.text.strip():
            seat.texts.append(completion.text.strip())
        mode = seat.agent.action_mode
        accept_tools = seat.protocol == "tools" or mode == "auto"
        accept_json = seat.protocol != "tools" or mode == "auto"
        notes: list[str] = []
        if self.sharing and seat.protocol != "text":
            requests = share_requests(completion, accept_tools=accept_tools, accept_json=accept_json)
            for request in requests:
                note = self._share(agent_id, request)
                notes.append(note)
                if request.call_id is not None:
                    seat.receipts[request.call_id] = note
        action: Action | _FromText = parse_action(
            completion,
            self.state,
            agent_id,
            accept_tools=accept_tools,
            accept_json=accept_json,
            max_answers=self.config.max_answers_per_agent,
            novelty=self.config.answer_novelty,
            allow_share=self.sharing,
        )
        if notes and isinstance(action, Invalid) and action.code == "no_action":
            # Sharing is a step, not a mistake: say what was published and ask for the action.
            seat.share_only += 1
            if seat.share_only <= self.config.shared_entries.max_shares_per_turn:
                self._ack(seat, completion, "Shared.")
                self._launch(agent_id, prompts.shared_message(notes), retry=True)
                return
        if not isinstance(action, Invalid):
            seat.share_only = 0
        if isinstance(action, Invalid):
            if seat.protocol == "text" and action.code == "no_action":
                # Plain text is this protocol's normal reply, not a mistake.
                fallback = self._fallback(agent_id)
                if fallback is not None:
                    self._apply(agent_id, completion, fallback)
                    return
            if seat.invalid < self.config.max_invalid_retries:
                self._retry(agent_id, completion, action)
                return
            self._give_up(
                agent_id, completion, f"no valid action after {seat.invalid} retries ({action.code})"
            )
            return
        self._apply(agent_id, completion, action)

    @staticmethod
    def _protocol_refused(seat: _Seat, error: BaseException | None) -> bool:
        """Might a simpler protocol have avoided this failure?  Then step down instead of failing.

        Only in ``auto`` mode, at most once per rung, and only for faults a plainer request could
        avoid: auth, context-length and rate-limit errors would be the same without tools.
        """
        return (
            seat.agent.action_mode == "auto"
            and seat.protocol in ("tools", "json")
            and seat.refused < 2
            and isinstance(error, (InvalidResponse, ProviderUnavailable))
        )

    def _retry(self, agent_id: str, completion: Completion, why: Invalid) -> None:
        seat = self.seats[agent_id]
        seat.invalid += 1
        self._ack(seat, completion, f"Not recorded: {why.code.replace('_', ' ')}.")
        protocol = self._protocol(seat)
        reason = why.code + (f" ({why.detail})" if why.detail else "")
        self.outbox.append(AgentRetry(agent_id, reason, seat.invalid, protocol))
        self._launch(agent_id, prompts.enforcement_message(why.code, why.detail, protocol), retry=True)

    def _give_up(self, agent_id: str, completion: Completion | None, reason: str) -> None:
        """Retries are spent: weak-model fallback in ``auto``/``text`` mode, else the agent fails."""
        if completion is not None:
            self._ack(self.seats[agent_id], completion, "Not recorded.")
        self._exhausted(agent_id, reason)

    def _exhausted(self, agent_id: str, reason: str) -> None:
        seat = self.seats[agent_id]
        fallback = self._fallback(agent_id) if seat.agent.action_mode in ("auto", "text") else None
        if fallback is None:
            if seat.texts and seat.agent.action_mode in ("auto", "text"):
                reason += "; none of its replies held a clean answer (only prompt markup or placeholders)"
            self._fail(agent_id, reason)
        else:
            seat.degraded = True
            self._apply(agent_id, None, fallback)

    def _fallback(self, agent_id: str) -> _FromText | None:
        """Read a weak model's plain text as an action.

        No answer yet: the turn's first usable text is its answer (or, if it repeats an
        existing answer, a vote for that answer's author).  Has an answer: it stands by it —
        an implicit vote.
        """
        state, seat = self.state, self.seats[agent_id]
        own = state.latest_answer(agent_id)
        if own is not None:
            return _FromText(VoteAction(state.anon_id(agent_id), "stands by its own answer"))
        # Only clean text stands in for an answer: a reply that is markup or a copied
        # placeholder contributes nothing, and a reply that ran on into markup keeps what came first.
        cleaned = (clean_answer(t) for t in map(_answer_text, seat.texts) if t)
        text = next((t for t in cleaned if t), None)
        if text is None:
            return None
        duplicate = state.duplicate_of(text, self.config.answer_novelty)
        if duplicate is not None:
            return _FromText(VoteAction(state.anon_id(duplicate.author), "gave the same answer"))
        return _FromText(NewAnswer(text))

    def _apply(
        self, agent_id: str, completion: Completion | None, action: NewAnswer | VoteAction | _FromText
    ) -> None:
        seat, state = self.seats[agent_id], self.state
        implicit = isinstance(action, _FromText)
        if isinstance(action, _FromText):
            action = action.action
        stale = state.revision != seat.seen_revision
        match action:
            case NewAnswer(content=content):
                answer = state.add_answer(agent_id, content)
                if completion is not None:
                    self._ack(seat, completion, f"Recorded as {answer.label}.")
                self.outbox.append(
                    AnswerSubmitted(agent_id, answer.label, answer.content, answer.revision, implicit)
                )
                self._launch(agent_id, prompts.recorded_message(answer))
                self._wake_waiting(exclude=agent_id)
            case VoteAction() if stale:
                if completion is not None:
                    self._ack(seat, completion, "Not counted: new answers arrived meanwhile.")
                self._launch(agent_id, discarded=True)
            case VoteAction(agent_id=target, reason=reason):
                vote = state.add_vote(agent_id, target, reason, implicit=implicit)
                if completion is not None:
                    self._ack(seat, completion, "Vote recorded.")
                author = state.real_id(target) or target
                latest = state.latest_answer(author)
                label = latest.label if latest is not None else ""
                self.outbox.append(VoteCast(agent_id, author, label, vote.reason, vote.implicit))

    @staticmethod
    def _ack(seat: _Seat, completion: Completion, text: str) -> None:
        """Answer the reply's tool calls: ``share`` calls with their receipts, the rest with ``text``."""
        receipts, seat.receipts = seat.receipts, {}
        seat.agent.acknowledge(completion, text, receipts)

    # -- shared entries -------------------------------------------------------------------------

    @property
    def entries(self) -> list[ScopedEntry]:
        """Entries published during this round, in order."""
        return self.board.entries

    def _entries_block(self, agent_id: str) -> str | None:
        return self.board.block_for(
            agent_id, lambda author: self.state.anon_id(author) if author in self.state.status else None
        )

    def _share(self, agent_id: str, request: ShareRequest) -> str:
        """Publish one requested entry (or refuse it); return the receipt the model is shown."""
        receipt, event = self.board.publish(agent_id, request)
        self.outbox.append(event)
        return receipt

    def _wake_waiting(self, exclude: str) -> None:
        """Agents resting on votes that a new answer just cleared: ask them again, with the news."""
        for agent_id in self.state.agent_ids:
            if (
                agent_id != exclude
                and agent_id not in self.tasks
                and self.state.status[agent_id] == "waiting"
            ):
                self._launch(agent_id)

    def _fail(self, agent_id: str, reason: str) -> None:
        self.state.mark_failed(agent_id, reason)
        self.outbox.append(AgentFailed(agent_id, reason))

    # -- choosing and presenting ----------------------------------------------------------------

    def chosen(self) -> Answer | None:
        if not self.timed_out and self.state.everyone_voted():
            return self.state.winner()
        return self.state.best_available()

    async def present(self, answer: Answer, timeout: float | None) -> AsyncGenerator[Event | _Done, None]:
        """Stream the winner's final presentation; the last item is the call's :class:`_Done`."""
        agent = self.seats[answer.author].agent
        anon = self.state.anon_id(answer.author)
        votes = [v for v in self.state.votes.values() if v.target == anon]
        plan = TurnPlan(
            system=prompts.presentation_system(agent.system_message),
            prompt=prompts.presentation_prompt(self.question, answer, votes),
            standalone=True,
            history=prompts.history_messages(self.history),
        )
        # A fresh queue: leftovers of cancelled coordination calls must not end the presentation.
        self.queue = asyncio.Queue()
        task = asyncio.create_task(self._call(agent, plan, final=True), name=f"massmem:{agent.id}:final")
        self.tasks[agent.id] = task
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await self.queue.get()
                except TimeoutError:
                    yield _Done(agent.id, None, f"presentation took longer than {timeout:g} s")
                    return
                if isinstance(item, _Done):
                    self.tasks.pop(agent.id, None)
                    yield item
                    return
                yield item
        finally:
            await self.cancel()
