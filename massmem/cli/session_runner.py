"""Glue between the CLI and the library for one-shot and interactive runs.

It owns the lifetime of one invocation: open (or resume) the session, build the team,
feed the orchestrator's events to a display, save the session's state after every turn,
record how it ended, and close every backend (a local model server included) whatever
happens.  The interactive loop itself lives in :mod:`massmem.cli.repl`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.cli.display import Display, make_display
from massmem.config.schema import TeamConfig
from massmem.errors import CoordinationError, MassmemError, UsageError
from massmem.sessions import OpenSession, open_session
from massmem.sessions.state import AgentTurn, AnswerRecord, TurnState, VoteRecord

if TYPE_CHECKING:
    from massmem.coordination.orchestrator import Orchestrator
    from massmem.coordination.result import RunResult

__all__ = [
    "RunOptions",
    "TeamSession",
    "TurnNotSaved",
    "check_question",
    "open_for",
    "result_as_dict",
    "result_notes",
    "run_interactive",
    "run_once",
    "turn_from_result",
]

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 3, 130

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


@dataclass(frozen=True, slots=True)
class RunOptions:
    config_path: str | None = None
    #: ``--session-id`` / ``--resume``: wins over the config's ``session_id``
    session_id: str | None = None
    #: the session must already exist (``--resume``)
    must_exist: bool = False
    display: str = "auto"
    as_json: bool = False
    debug: bool = False


def result_as_dict(
    result: Any, session_id: str, *, turn: int | None = None, history_turns: int | None = None
) -> dict[str, Any]:
    """The ``--json`` shape of a finished run (no secrets: only ids, text, counts)."""
    return {
        "session_id": session_id,
        "turn": turn,
        "history_turns": history_turns,
        "question": result.question,
        "final_answer": result.final_answer,
        "winner": result.winner,
        "winning_answer": {"label": result.winning_answer.label, "content": result.winning_answer.content},
        "vote_counts": result.vote_counts,
        "answers": [{"label": a.label, "author": a.author, "content": a.content} for a in result.answers],
        "agents": [
            {
                "id": r.agent_id,
                "status": str(r.status),
                "failure": r.failure,
                "answers": r.answers,
                "calls": r.calls,
                "input_tokens": r.usage.input_tokens,
                "output_tokens": r.usage.output_tokens,
            }
            for r in result.agents
        ],
        "timed_out": result.timed_out,
        "presented": result.presented,
        "presentation_error": result.presentation_error,
        "seconds": round(result.total_seconds, 3),
        "usage": {"input_tokens": result.usage.input_tokens, "output_tokens": result.usage.output_tokens},
        "shared_entries": [e.to_dict() for e in getattr(result, "shared_entries", ())],
    }


def turn_from_result(
    result: RunResult,
    *,
    number: int,
    started_at: float,
    history_turns: int,
    conversations: dict[str, dict[str, Any]],
) -> TurnState:
    """A finished run as the plain data a session state stores."""
    by_anon = {r.anon_id: r.agent_id for r in result.agents}
    return TurnState(
        number=number,
        question=result.question,
        final_answer=result.final_answer,
        winner=result.winner,
        winning_label=result.winning_answer.label,
        votes=[
            VoteRecord(v.voter, by_anon.get(v.target, v.target), v.reason, v.implicit) for v in result.votes
        ],
        answers=[AnswerRecord(a.label, a.author, a.content) for a in result.answers],
        agents=[
            AgentTurn(
                agent_id=r.agent_id,
                status=str(r.status),
                failure=r.failure,
                answers=r.answers,
                calls=r.calls,
                input_tokens=r.usage.input_tokens,
                output_tokens=r.usage.output_tokens,
                estimated=r.usage.estimated,
                conversation=conversations.get(r.agent_id),
            )
            for r in result.agents
        ],
        timed_out=result.timed_out,
        presented=result.presented,
        presentation_error=result.presentation_error,
        started_at=started_at,
        finished_at=time.time(),
        history_turns=history_turns,
        shared_entries=[e.to_dict() for e in result.shared_entries],
    )


def models_of(team: TeamConfig) -> list[str]:
    return [f"{a.backend.type}:{a.backend.model}" for a in team.agents]


def open_for(team: TeamConfig, options: RunOptions) -> OpenSession:
    """``--session-id``/``--resume`` wins over the config's ``session_id``; otherwise a new id."""
    wanted = options.session_id or team.session_id
    return open_session(
        session_id=wanted,
        must_exist=options.must_exist and options.session_id is not None,
        config=team.redacted(),
        config_path=options.config_path,
        models=models_of(team),
        description=team.description,
    )


def announce(session: OpenSession, say: Any) -> None:
    """One line saying which session this is (and any notes about it)."""
    if session.created:
        say(f"session {session.id} (new)")
    else:
        say(
            f"session {session.id} · resuming at turn {session.state.next_turn} "
            f"({len(session.history())} earlier turn(s) in context)"
        )
    for note in session.notes:
        say(f"note: {note}")


def _build_orchestrator(team: TeamConfig, session: OpenSession) -> Orchestrator:
    """The team's orchestrator; handed the session when it knows what to do with one.

    The memory layer needs the session id, the coming turn number and the winners history
    (``session.state.winners``); an ``Orchestrator.from_config`` that declares a ``session``
    parameter receives the live :class:`~massmem.sessions.SessionState`.
    """
    from massmem.coordination.orchestrator import Orchestrator

    if "session" in inspect.signature(Orchestrator.from_config).parameters:
        return Orchestrator.from_config(team, session=session.state)  # type: ignore[call-arg]
    return Orchestrator.from_config(team)


class TeamSession:
    """A built team bound to an open session: asks questions and saves every turn."""

    def __init__(self, team: TeamConfig, session: OpenSession, *, debug: bool = False) -> None:
        from massmem import paths

        # Before anything that logs (the local model server, --debug dumps) asks where to.
        paths.use_logs_dir(team.ui.log_dir)
        self.team = team
        self.session = session
        self.orchestrator = _build_orchestrator(team, session)
        self.last_result: RunResult | None = None
        self.turns_this_run = 0
        self._restore_conversations()
        #: where --debug writes memory dumps and compression records for this session
        self.log_dir = self._debug_dir() if debug else None
        self.memory = self._attach_memory()
        from massmem.agents.store_binding import attach_memory_stores

        #: the named ``memory_stores`` the agents attach under ``memories`` (None when unused)
        self.stores = attach_memory_stores(team, self.orchestrator.agents, log_dir=self.log_dir)

    def _debug_dir(self) -> Path:
        from massmem import paths

        log_dir = paths.safe_child(paths.logs_dir(), self.session.id)
        log_dir.mkdir(parents=True, exist_ok=True)
        for agent in self.orchestrator.agents:
            agent.debug_dir = log_dir
        print(f"debug: memory dumps and compression records go to {log_dir}", file=sys.stderr)
        return log_dir

    def _attach_memory(self) -> Any:
        """Persistent and shared memory for this session (``TeamMemory``), when the team uses them.

        It is told the session id, the coming turn number and the winners history.
        """
        memory = self.team.memory
        if not memory.enabled or not (memory.persistent_memory.enabled or memory.shared_memory.enabled):
            return None
        try:
            from massmem.agents.team_memory import TeamMemory
        except ImportError:  # pragma: no cover - an install without the memory layer
            return None
        state = self.session.state
        return TeamMemory(
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
                print(
                    f"note: the saved conversation of {agent.id} could not be restored: {exc}",
                    file=sys.stderr,
                )
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
                print(f"note: a saved shared entry could not be read and is skipped: {exc}", file=sys.stderr)
        return entries

    async def ask(self, question: str, display: Display) -> RunResult:
        """Run one turn; on success the turn is saved before this returns."""
        history = self.history()
        number = self.session.state.next_turn
        started = time.time()
        before = {a.id: len(getattr(a, "compressions", ())) for a in self.orchestrator.agents}
        on_event = display.handle
        if self.memory is not None:
            self.memory.turn = number  # the session's numbering is the one memories are tagged with
            on_event = _both(display.handle, self.memory.on_event)
        if self.log_dir is not None:
            on_event = _both(on_event, self._debug_event)
        try:
            result = await self.orchestrator.run(
                question,
                history=history,
                shared_entries=self.shared_entries(),
                turn=number,
                on_event=on_event,
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
            await self.memory.finish_turn(question, result)
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
            print(f"note: cannot write {self.log_dir / 'memory_events.jsonl'}: {exc}", file=sys.stderr)

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
                self.memory.close()
            if self.stores is not None:
                await self.stores.aclose()


def _both(first: Any, second: Any) -> Any:
    def handle(event: Any) -> None:
        first(event)
        second(event)

    return handle


def make_turn_display(team: TeamConfig, options: RunOptions) -> Display:
    return make_display(options.display, [a.id for a in team.agents], show_reasoning=team.ui.show_reasoning)


def run_once(team: TeamConfig, question: str, options: RunOptions) -> int:
    """Answer one question (continuing the session's history); print the answer; return the exit code."""
    session = open_for(team, options)
    display = make_turn_display(team, options)
    announce(session, display.note)
    if options.display == "none" and not options.as_json:
        # No display to show them: notes (config changed, state recovered) go to stderr.
        for note in session.notes:
            print(f"note: {note}", file=sys.stderr)
    holder: list[TeamSession] = []

    async def go() -> RunResult:
        built = TeamSession(team, session, debug=options.debug)
        holder.append(built)
        try:
            return await built.ask(question, display)
        finally:
            await built.close()

    not_saved: MassmemError | None = None
    try:
        result = asyncio.run(go())
    except TurnNotSaved as exc:
        result, not_saved = exc.result, exc
    except KeyboardInterrupt as exc:
        from massmem.cli.signals import interrupt_reason

        display.close()
        finish_quietly(session, "interrupted", interrupt_reason(exc))
        raise
    except (CoordinationError, MassmemError) as exc:
        display.close()
        if not holder and session.created:
            # Refused before the team existed (a memory store locked by another process):
            # nothing happened, so no failed, empty session is left behind.
            session.discard()
        else:
            finish_quietly(session, "failed", str(exc).splitlines()[0][:500])
        raise
    except BaseException:
        display.close()
        finish_quietly(session, "failed", "massmem stopped unexpectedly")
        raise
    display.close()
    # The answer is printed before anything else can fail: a turn that finished is never lost
    # from the screen, whatever happens to the disk afterwards.
    turn = session.state.last_turn
    if options.as_json:
        history_turns = session.state.turns[-1].history_turns if session.state.turns else 0
        payload = result_as_dict(result, session.id, turn=turn, history_turns=history_turns)
        payload["saved"] = not_saved is None
        if not_saved is not None:
            payload["error"] = str(not_saved)
        payload["notes"] = [*session.notes, *result_notes(result)]
        print(json.dumps(payload, indent=2), flush=True)
    elif options.display == "none":
        print(result.final_answer, flush=True)
    for note in result_notes(result):
        print(f"note: {note}", file=sys.stderr)
    if not_saved is not None:
        finish_quietly(session, "failed", str(not_saved).splitlines()[0][:500])
        print(f"error: {not_saved}", file=sys.stderr)
        return EXIT_FAILED
    session.finish("completed")
    return EXIT_TIMEOUT if result.timed_out else EXIT_OK


def result_notes(result: RunResult) -> list[str]:
    """What the user should hear about a finished turn besides its answer."""
    notes = [f"agent {agent_id} dropped out: {reason}" for agent_id, reason in result.failures.items()]
    if result.timed_out:
        notes.append("the team ran out of time; this is the best answer so far")
    return notes


def finish_quietly(session: OpenSession, status: str, error: str | None) -> None:
    """Record how the run ended when it already failed: a second failure must not hide the first."""
    try:
        session.finish(status, error)  # type: ignore[arg-type]
    except MassmemError as exc:
        print(f"note: the session's status could not be recorded: {exc}", file=sys.stderr)


def run_interactive(team: TeamConfig, options: RunOptions, *, first_question: str | None = None) -> int:
    """The read-answer loop (see :mod:`massmem.cli.repl`)."""
    from massmem.cli.repl import Repl

    return Repl(team, options).run(first_question)
