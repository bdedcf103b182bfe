"""The public face of the team loop: :class:`Orchestrator`.

One design for consumers: :meth:`Orchestrator.stream` yields :mod:`events
<massmem.coordination.events>` and ends with :class:`CoordinationFinished` carrying the
:class:`RunResult`; :meth:`Orchestrator.run` drains that stream (optionally handing each
event to a callback) and returns the result.  Displays subscribe by iterating; the loop
never calls them.

Closing the stream early, an exception in the consumer, or cancellation (Ctrl-C) cancels
every model call still in flight before the stream finishes closing — use
``contextlib.aclosing`` when you iterate :meth:`stream` yourself and may stop early.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING

from massmem.agents.agent import Agent
from massmem.config.schema import OrchestratorConfig
from massmem.coordination.events import CoordinationFinished, Event, WinnerSelected
from massmem.coordination.loop import RunLoop, _Done
from massmem.coordination.result import AgentReport, RunResult
from massmem.coordination.scaffolding import clean_answer, find_scaffolding
from massmem.coordination.state import Answer, PastTurn
from massmem.errors import CoordinationError, UsageError
from massmem.memory.scoped_entries import ScopedEntry
from massmem.messages import Usage

if TYPE_CHECKING:
    from massmem.config.schema import TeamConfig

__all__ = ["Orchestrator"]


class Orchestrator:
    """Runs a team of agents on one question at a time.

    ``grace_period`` bounds the final presentation after the coordination timed out (the
    user has already waited the full timeout; a short presentation is better than none).
    """

    def __init__(
        self,
        agents: Sequence[Agent],
        config: OrchestratorConfig | None = None,
        *,
        grace_period: float = 30.0,
    ) -> None:
        if not agents:
            raise UsageError("a team needs at least one agent")
        ids = [a.id for a in agents]
        if len(set(ids)) != len(ids):
            raise UsageError(f"agent ids must be unique, got {ids}")
        self.agents = list(agents)
        self.config = config or OrchestratorConfig()
        self.grace_period = grace_period
        self._busy = False

    @classmethod
    def from_config(cls, team: TeamConfig) -> Orchestrator:
        """Build every agent (and its backend, through the registry) from a loaded team file."""
        agents = [Agent.from_config(a, memory=team.memory) for a in team.agents]
        return cls(agents, team.orchestrator)

    async def aclose(self) -> None:
        """Close every agent's backend (connections, local servers)."""
        for agent in self.agents:
            await agent.backend.aclose()

    async def run(
        self,
        question: str,
        *,
        history: Sequence[PastTurn] = (),
        shared_entries: Sequence[ScopedEntry] = (),
        turn: int | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> RunResult:
        """Coordinate on ``question`` and return the result; ``on_event`` sees every event."""
        result: RunResult | None = None
        stream = self.stream(question, history=history, shared_entries=shared_entries, turn=turn)
        async with aclosing(stream) as events:
            async for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, CoordinationFinished):
                    result = event.result
        assert result is not None, "stream ended without CoordinationFinished"
        return result

    async def stream(
        self,
        question: str,
        *,
        history: Sequence[PastTurn] = (),
        shared_entries: Sequence[ScopedEntry] = (),
        turn: int | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Coordinate on ``question``, yielding events; the last one is :class:`CoordinationFinished`.

        ``history`` holds the session's earlier questions and final answers;
        ``shared_entries`` the entries earlier *completed* rounds published (conversation-
        scoped ones stay in effect); ``turn`` numbers this round (default: after ``history``).

        Raises :class:`CoordinationError` when no answer at all came out (every agent failed,
        or the timeout passed before anyone answered).
        """
        if self._busy:
            raise UsageError("this orchestrator is already running a question; wait for it to finish")
        self._busy = True
        for agent in self.agents:
            agent.begin(question)
        loop = RunLoop(self.agents, self.config, question, history, shared_entries=shared_entries, turn=turn)
        started = time.perf_counter()
        try:
            async with aclosing(loop.coordinate()) as events:
                async for event in events:
                    yield event
            coordination_s = time.perf_counter() - started
            answer = loop.chosen()
            if answer is None:
                raise CoordinationError(self._no_answer(loop))
            anon = loop.state.anon_id(answer.author)
            votes = loop.state.vote_counts().get(anon, 0)
            yield WinnerSelected(answer.author, answer.label, votes, loop.timed_out)

            final, presented, error = answer.content, False, None
            presentation_usage: Usage | None = None
            began = time.perf_counter()
            if self.config.present_final_answer:
                timeout = self.grace_period if loop.timed_out else self.config.agent_timeout
                async with aclosing(loop.present(answer, timeout)) as items:
                    async for item in items:
                        if not isinstance(item, _Done):
                            yield item
                        elif item.completion is None:
                            error = item.failure
                        else:
                            presentation_usage = item.completion.usage
                            text = item.completion.text
                            clean = clean_answer(text)
                            if clean is not None:
                                final, presented = clean, True
                            elif text.strip():
                                marker = find_scaffolding(text) or "a placeholder"
                                error = f"the presentation held prompt markup ({marker}); the winning answer is shown instead"
                            else:
                                error = "the presentation came back empty"
            presentation_s = time.perf_counter() - began if self.config.present_final_answer else 0.0
            yield CoordinationFinished(
                self._result(
                    loop, answer, final, presented, error, coordination_s, presentation_s, presentation_usage
                )
            )
        finally:
            await loop.cancel()
            self._busy = False

    def _no_answer(self, loop: RunLoop) -> str:
        failures = "; ".join(f"{a}: {r}" for a, r in loop.state.failures.items())
        if loop.timed_out:
            head = f"no agent answered within the timeout ({self.config.timeout:g} s)"
        else:
            head = "every agent failed before any answer was given"
        return f"{head}{' — ' + failures if failures else ''}"

    def _result(
        self,
        loop: RunLoop,
        answer: Answer,
        final: str,
        presented: bool,
        error: str | None,
        coordination_s: float,
        presentation_s: float,
        presentation_usage: Usage | None,
    ) -> RunResult:
        state = loop.state
        reports = []
        total = Usage()
        for agent_id in state.agent_ids:
            seat = loop.seats[agent_id]
            # what the agent's compression spent on summaries during this question
            summaries = seat.agent.context.summary_usage - seat.summary_base
            usage = seat.usage + (summaries if summaries.total_tokens > 0 else None)
            if agent_id == answer.author:
                usage = usage + presentation_usage
            total = total + usage
            reports.append(
                AgentReport(
                    agent_id=agent_id,
                    anon_id=state.anon_id(agent_id),
                    status=state.status[agent_id],
                    failure=state.failures.get(agent_id),
                    answers=len(state.answers_by(agent_id)),
                    calls=seat.calls,
                    usage=usage,
                    backend_seconds=seat.agent.backend_seconds - seat.backend_base,
                )
            )
        return RunResult(
            question=loop.question,
            final_answer=final,
            winner=answer.author,
            winning_answer=answer,
            votes=tuple(state.votes.values()),
            answers=tuple(state.answers),
            agents=tuple(reports),
            timed_out=loop.timed_out,
            presented=presented,
            presentation_error=error,
            coordination_seconds=coordination_s,
            presentation_seconds=presentation_s,
            usage=total,
            shared_entries=tuple(loop.entries),
        )
