"""Persistent and shared memory attached to a team's agents for one session.

The agent and the team loop know nothing about memory; this module plugs it in
through the agent's two seams:

* a **context provider** per agent renders retrieved memories (own + previous
  winners', turn-filtered) and the shared memory (its window, and its persistent part
  searched with the task) into each call;
* an **after-turn hook** per agent buffers what the agent said; the turn is
  recorded once, when the question is finished (:meth:`TeamMemory.finish_turn`),
  so a team of ten agents does not run fact extraction after every call.

Every call retrieves, so the memories are in every request an agent sends (context blocks
are rendered per call, never stored).  With ``exclude_recent`` retrieval leaves out what the
agent's conversation already holds: the records this process wrote for the session's earlier
turns, whose questions and answers are in its history.  Records from another process — an
earlier run under the same ``session_name``, a resumed session, a restart — are not held, so
they are retrieved from the first call; once compression summarised older messages
(:attr:`TurnContext.compressed`) nothing is assumed held any more.

Memory is an aid: any failure here is logged and the run goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.agents.agent import Agent, ContextBlock, MemoryActivity, TurnContext, TurnRecord

if TYPE_CHECKING:
    from massmem.config.schema import RetrievalConfig, TeamConfig
    from massmem.coordination.events import Event
    from massmem.coordination.result import RunResult
    from massmem.memory.persistent import PersistentMemory, Winner
    from massmem.memory.shared import SharedMemory

__all__ = ["TeamMemory"]

log = logging.getLogger(__name__)


@dataclass
class _Seat:
    agent: Agent
    memory: PersistentMemory | None
    said: list[dict[str, Any]] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    extractor_bound: bool = False


class TeamMemory:
    """Everything a session remembers beyond one agent's working conversation."""

    def __init__(
        self,
        team: TeamConfig,
        agents: Sequence[Agent],
        *,
        session_id: str,
        turn: int = 1,
        winners: Sequence[tuple[str, int]] = (),
        log_dir: Path | None = None,
    ) -> None:
        from massmem.memory.persistent import Winner

        self.team = team
        self.session_id = session_id
        self.winners: list[Winner] = [Winner(a, t) for a, t in winners]
        #: ids of the records this process wrote for turns the agents' history now holds
        self.held: set[str] = set()
        #: the session's turn number of the question being worked on (1-based, continues on resume)
        self.turn = turn
        self.log_dir = log_dir
        self.shared: SharedMemory | None = None
        self.seats: dict[str, _Seat] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._attach(agents)

    # -- building ---------------------------------------------------------------------------------

    def _wants_persistent(self, agent_id: str) -> bool:
        memory = self.team.memory
        override = next((a.memory for a in self.team.agents if a.id == agent_id), None)
        if not memory.enabled or (override is not None and override.enabled is False):
            return False
        if override is not None and override.persistent is not None:
            return override.persistent
        return memory.persistent_memory.enabled

    def _retrieval_for(self, agent_id: str) -> RetrievalConfig:
        base = self.team.memory.retrieval
        override = next((a.memory for a in self.team.agents if a.id == agent_id), None)
        if override is None:
            return base
        changes: dict[str, Any] = {}
        if override.retrieval_limit is not None:
            changes["limit"] = override.retrieval_limit
        if override.exclude_recent is not None:
            changes["exclude_recent"] = override.exclude_recent
        return base.model_copy(update=changes)

    def _attach(self, agents: Sequence[Agent]) -> None:
        from massmem.memory.shared import SharedMemory

        memory = self.team.memory
        for agent in agents:
            persistent = self._open_persistent(agent.id) if self._wants_persistent(agent.id) else None
            seat = _Seat(agent, persistent)
            self.seats[agent.id] = seat
            agent.context_providers.append(self._provider(seat))
            agent.after_turn.append(self._listener(seat))
        if memory.enabled and memory.shared_memory.enabled:
            from massmem.memory.shared import SHARED_AGENT_ID

            # Shared entries live under their own id, so they never pass for one agent's memories.
            persistent = None
            if memory.shared_memory.persistent and memory.persistent_memory.enabled:
                persistent = self._open_persistent(SHARED_AGENT_ID)
            self.shared = SharedMemory(memory.shared_memory, persistent=persistent)

    def _open_persistent(self, agent_id: str) -> PersistentMemory | None:
        from massmem.memory.persistent import PersistentMemory

        memory = self.team.memory
        try:
            return PersistentMemory(
                memory.persistent_memory,
                agent_id=agent_id,
                session_id=self.session_id,
                retrieval=self._retrieval_for(agent_id),
                recording=memory.recording,
                debug_dir=self.log_dir,
            )
        except Exception as exc:
            # A store held by another process is the one failure worth stopping for: the user
            # asked for memory, and silently running without it would lose what this run learns.
            from massmem.errors import StoreLocked

            if isinstance(exc, StoreLocked):
                raise
            log.warning("agent %s: persistent memory is unavailable: %s", agent_id, exc)
            return None

    # -- per call ---------------------------------------------------------------------------------

    def _provider(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def provide(context: TurnContext) -> list[ContextBlock]:
            self._bind_extractor(seat)
            blocks: list[ContextBlock] = []
            query = _query(context)
            if seat.memory is not None:
                held = self.held if seat.memory.exclude_recent and not context.compressed else ()
                started = time.perf_counter()
                text = await seat.memory.retrieve_block(query, previous_winners=self.winners, exclude=held)
                ms = round((time.perf_counter() - started) * 1000, 2)
                found = text.count("\n• ") if text else 0
                seat.agent.notify(MemoryActivity("persistent", "query", query, found, ms))
                if text:
                    blocks.append(ContextBlock("Relevant memories", text))
            if self.shared is not None:
                shared = await self.shared.render_for(seat.agent.id, query=query)
                if shared:
                    blocks.append(ContextBlock("Shared memory", shared))
            return blocks

        return provide

    def _bind_extractor(self, seat: _Seat) -> None:
        """Extraction through the agent's own backend, scheduled on the loop that owns it.

        Bound on the first call, from inside the running loop, because the backend's
        connections belong to that loop and mem0 calls the extractor from a worker thread.
        """
        if seat.memory is None or seat.extractor_bound:
            return
        seat.extractor_bound = True
        if seat.memory.extraction_provider == "agent":
            from massmem.memory.extraction import backend_extract_fn

            loop = asyncio.get_running_loop()
            seat.memory.bind_extractor(backend_extract_fn(seat.agent.backend, loop=loop))

    def _listener(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def listen(record: TurnRecord) -> None:
            completion = record.completion
            calls = [{"name": c.name, "arguments": c.arguments} for c in completion.tool_calls]
            if completion.text.strip() or calls:
                seat.said.append({"role": "assistant", "content": completion.text, "tool_calls": calls})
            if completion.reasoning.strip():
                seat.reasoning.append(completion.reasoning)

        return listen

    def on_event(self, event: Event) -> None:
        """Feed answers and votes, with attribution, to shared memory (called for every event)."""
        if self.shared is None:
            return
        from massmem.coordination.events import AnswerSubmitted, VoteCast

        match event:
            case AnswerSubmitted(agent_id=a, content=c):
                self._spawn(self.shared.record_answer(a, c, turn=self.turn))
            case VoteCast(agent_id=a, target_agent_id=t, reason=r):
                self._spawn(self.shared.record_vote(a, t, r, turn=self.turn))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- per question -----------------------------------------------------------------------------

    async def finish_turn(self, question: str, result: RunResult | None) -> None:
        """Record what each agent said this turn; remember the winner for later turns."""
        from massmem.memory.persistent import Winner

        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        jobs = []
        for seat in self.seats.values():
            if seat.memory is not None and seat.said:
                messages = [{"role": "user", "content": question}, *seat.said]
                jobs.append(self._record(seat, messages))
        if jobs:
            await asyncio.gather(*jobs)
        self._reset_buffers()
        if result is not None:
            self.winners.append(Winner(result.winner, self.turn))
        self.turn += 1

    async def _record(self, seat: _Seat, messages: list[dict[str, Any]]) -> None:
        assert seat.memory is not None
        try:
            result = await seat.memory.record(
                messages, turn=self.turn, reasoning="\n".join(seat.reasoning) or None
            )
        except Exception as exc:
            log.warning("agent %s: recording turn %d failed: %s", seat.agent.id, self.turn, exc)
            return
        # The turn's question and answer come back as history from the next question on.
        self.held.update(result.raw_ids)
        self.held.update(str(f["id"]) for f in result.facts if isinstance(f, dict) and f.get("id"))

    def history_cleared(self) -> None:
        """The session's earlier turns left the agents' context (a reset): nothing is held any more."""
        self.held.clear()

    def abandon_turn(self) -> None:
        """Forget what was buffered for a cancelled or failed turn: it is not recorded."""
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        for seat in self.seats.values():
            seat.said.clear()
            seat.reasoning.clear()

    def close(self) -> None:
        memories = [s.memory for s in self.seats.values() if s.memory is not None]
        if self.shared is not None and self.shared.persistent is not None:
            memories.append(self.shared.persistent)
        for memory in memories:
            try:
                memory.close()
            except Exception as exc:  # pragma: no cover - best effort
                log.warning("agent %s: closing memory failed: %s", memory.agent_id, exc)


def _query(context: TurnContext) -> str:
    """What to search memory for: the task.

    Later messages of a question are the team's own protocol (receipts, updates of other
    answers, enforcement); searched with, they find old votes and receipts rather than what
    the task is about.  The latest message stands in only when there is no question.
    """
    from massmem.messages import UserMessage

    if context.question.strip():
        return context.question[:1500]
    latest = next((m.content for m in reversed(context.messages) if isinstance(m, UserMessage)), "")
    return latest[:1500]
