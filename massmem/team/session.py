"""A built team bound to an open session: it asks questions and saves every turn.

:class:`TeamSession` owns what one session needs beyond one run of the orchestrator:
the agents' restored conversations, the session's memory (one
:class:`~massmem.team.memory_binding.MemoryBinding`), the history and shared entries each
question starts from, the turn saved before memory records it, and compression records.
It prints nothing: notes reach ``on_note`` (kept in :attr:`TeamSession.notes` when none is
given) and events reach the ``on_event`` of each :meth:`TeamSession.ask`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import MassmemError, UsageError
from massmem.team.turns import turn_from_result

if TYPE_CHECKING:
    from massmem.config.schema import TeamConfig
    from massmem.coordination.events import Event
    from massmem.coordination.result import RunResult
    from massmem.sessions import OpenSession
    from massmem.team.memory_binding import MemoryBinding

__all__ = ["MAX_QUESTION_CHARS", "TeamSession", "TurnNotSaved", "check_question"]

#: longest question accepted, in characters (about 250k tokens: more than most context windows)
MAX_QUESTION_CHARS = 1_000_000


def check_question(question: str) -> str:
    """``question`` if the team can be asked it; a :class:`UsageError` saying why not otherwise."""
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"the question has {len(question):,} characters, more than the limit of {MAX_QUESTION_CHARS:,}; "
            "shorten it or put the material in a memory store (memory_stores: type file)"
        )
    return question


class TurnNotSaved(MassmemError):
    """A turn finished but could not be saved (full disk, file-size limit, a file in the way).

    Carries the finished ``result`` so the caller still prints the answer, then the reason.
    """

    def __init__(self, result: RunResult, cause: MassmemError) -> None:
        super().__init__(f"the answer above was not saved: {cause}")
        self.result = result
        self.cause = cause


class TeamSession:
    """A built team bound to an open session: asks questions and saves every turn."""

    def __init__(
        self,
        team: TeamConfig,
        session: OpenSession,
        *,
        debug: bool = False,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        from massmem import paths
        from massmem.coordination.orchestrator import Orchestrator

        # Before anything that logs (the local model server, --debug dumps) asks where to.
        paths.use_logs_dir(team.ui.log_dir)
        self.team = team
        self.session = session
        #: what the user should hear (a conversation that could not be restored, ...)
        self.notes: list[str] = []
        self._on_note = on_note if on_note is not None else self.notes.append
        self.orchestrator = Orchestrator.from_config(team)
        self.last_result: RunResult | None = None
        self.turns_this_run = 0
        self._restore_conversations()
        #: where --debug writes memory dumps and compression records for this session
        self.log_dir = self._debug_dir() if debug else None
        #: the session's memory (persistent, shared, named stores); None when the team uses none
        self.memory = self._bind_memory()

    def _debug_dir(self) -> Path:
        from massmem import paths

        log_dir = paths.safe_child(paths.logs_dir(), self.session.id)
        log_dir.mkdir(parents=True, exist_ok=True)
        for agent in self.orchestrator.agents:
            agent.debug_dir = log_dir
        return log_dir

    def _bind_memory(self) -> MemoryBinding | None:
        """The team's memory, told the session id, the coming turn number and the winners history."""
        from massmem.team.memory_setup import bind_memory

        state = self.session.state
        return bind_memory(
            self.team,
            self.orchestrator.agents,
            session_id=self.session.id,
            turn=state.next_turn,
            winners=[(w.agent_id, w.turn) for w in state.winners],
            log_dir=self.log_dir,
        )

    def _restore_conversations(self) -> None:
        from massmem.memory.conversation import ConversationMemory

        for agent in self.orchestrator.agents:
            saved = self.session.state.agents.get(agent.id)
            if saved is None or not saved.conversation:
                continue
            try:
                restored = ConversationMemory.from_dict(saved.conversation)
            except (KeyError, TypeError, ValueError) as exc:
                self._on_note(f"the saved conversation of {agent.id} could not be restored: {exc}")
                continue
            restored.max_messages = agent.conversation.max_messages
            agent.conversation = restored

    def history(self) -> list[Any]:
        from massmem.coordination.state import PastTurn

        return [PastTurn(q, a) for q, a in self.session.history()]

    def shared_entries(self) -> list[Any]:
        """Conversation-scoped entries of the session's completed turns (unreadable ones skipped)."""
        from massmem.memory.scoped_entries import ScopedEntry

        entries = []
        for data in self.session.state.shared_entries():
            try:
                entries.append(ScopedEntry.from_dict(data))
            except (KeyError, TypeError, ValueError) as exc:
                self._on_note(f"a saved shared entry could not be read and is skipped: {exc}")
        return entries

    async def ask(self, question: str, on_event: Callable[[Event], None] | None = None) -> RunResult:
        """Run one turn, its events to ``on_event``; on success the turn is saved before this returns."""
        history = self.history()
        number = self.session.state.next_turn
        started = time.time()
        before = {a.id: len(getattr(a, "compressions", ())) for a in self.orchestrator.agents}
        listeners = [on_event] if on_event is not None else []
        if self.memory is not None:
            from massmem.team.memory_setup import memory_listener

            self.memory.turn = number  # the session's numbering is the one memories are tagged with
            listeners.append(memory_listener(self.memory))
        if self.log_dir is not None:
            listeners.append(self._debug_event)
        try:
            result = await self.orchestrator.run(
                question,
                history=history,
                shared_entries=self.shared_entries(),
                turn=number,
                on_event=_all(listeners),
            )
        except BaseException:
            self._abandon_memory_turn()
            raise
        conversations = {a.id: a.conversation.to_dict() for a in self.orchestrator.agents}
        self._keep_compressions(number, before)
        turn = turn_from_result(
            result, number=number, started_at=started, history_turns=len(history), conversations=conversations
        )
        # The turn is saved before memory records it: a slow or interrupted recording never
        # costs the turn itself.
        try:
            self.session.record_turn(turn)
        except MassmemError as exc:  # a full disk, a file in the way: the answer still exists
            self._abandon_memory_turn()
            raise TurnNotSaved(result, exc) from exc
        self.last_result = result
        self.turns_this_run += 1
        if self.memory is not None:
            await self.memory.finish_turn(question, result.winner)
        return result

    def _debug_event(self, event: Any) -> None:
        """``--debug``: memory accesses and shared entries as JSON lines in ``memory_events.jsonl``."""
        from massmem.coordination.events import EntryShared, MemoryAccessed, ShareRefused

        if self.log_dir is None or not isinstance(event, MemoryAccessed | EntryShared | ShareRefused):
            return
        line = {"at": time.time(), "turn": self.session.state.next_turn, **dataclasses.asdict(event)}
        try:
            with open(self.log_dir / "memory_events.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as exc:  # a debug aid: never worth failing the turn
            self._on_note(f"cannot write {self.log_dir / 'memory_events.jsonl'}: {exc}")

    def _abandon_memory_turn(self) -> None:
        """A cancelled or failed turn is not recorded in the state; memory drops it too."""
        if self.memory is not None:
            self.memory.abandon_turn()

    def _keep_compressions(self, turn: int, before: dict[str, int]) -> None:
        """Record the compressions each agent made during the turn (saved with the turn)."""
        from massmem.sessions.state import AgentState

        for agent in self.orchestrator.agents:
            reports = list(getattr(agent, "compressions", ()))
            start = before.get(agent.id, 0)
            new = reports[start:] if len(reports) >= start else reports
            if not new:
                continue
            kept = self.session.state.agents.setdefault(agent.id, AgentState())
            for report in new:
                is_record = dataclasses.is_dataclass(report) and not isinstance(report, type)
                entry = dataclasses.asdict(report) if is_record else {"report": str(report)}
                kept.summaries.append({"turn": turn, **entry})

    def reset(self) -> None:
        """Really start over: no earlier turns in the context, every agent's conversation empty."""
        for agent in self.orchestrator.agents:
            agent.conversation.clear()
        if self.memory is not None:
            self.memory.history_cleared()
        self.session.reset()

    async def close(self) -> None:
        try:
            await self.orchestrator.aclose()
        finally:
            if self.memory is not None:
                await self.memory.aclose()


def _all(listeners: list[Callable[[Any], None]]) -> Callable[[Any], None] | None:
    """One ``on_event`` handler calling each of ``listeners`` in turn (None when there is none)."""
    if not listeners:
        return None
    if len(listeners) == 1:
        return listeners[0]

    def handle(event: Any) -> None:
        for listener in listeners:
            listener(event)

    return handle
