"""One-shot runs from the command line: open the session, show the turn, print the answer.

It owns the lifetime of one invocation: open (or resume) the session, build the team
(:class:`~massmem.team.session.TeamSession`), feed its events to a display, print its notes
and the answer, record how it ended, and close every backend (a local model server
included) whatever happens.  The interactive loop lives in :mod:`massmem.cli.repl`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from massmem.cli.display import Display, make_display
from massmem.config.schema import TeamConfig
from massmem.errors import CoordinationError, MassmemError
from massmem.sessions import OpenSession, open_session
from massmem.team.session import TeamSession, TurnNotSaved
from massmem.team.turns import result_as_dict, result_notes

if TYPE_CHECKING:
    from massmem.coordination.result import RunResult

__all__ = [
    "RunOptions",
    "build_team",
    "finish_quietly",
    "open_for",
    "run_once",
]

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 3, 130


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


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def build_team(team: TeamConfig, session: OpenSession, options: RunOptions) -> TeamSession:
    """The team bound to ``session``; its notes go to stderr as they come."""
    built = TeamSession(team, session, debug=options.debug, on_note=_note)
    if built.log_dir is not None:
        print(f"debug: memory dumps and compression records go to {built.log_dir}", file=sys.stderr)
    return built


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
        built = build_team(team, session, options)
        holder.append(built)
        try:
            return await built.ask(question, display.handle)
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


def finish_quietly(session: OpenSession, status: str, error: str | None) -> None:
    """Record how the run ended when it already failed: a second failure must not hide the first."""
    try:
        session.finish(status, error)  # type: ignore[arg-type]
    except MassmemError as exc:
        print(f"note: the session's status could not be recorded: {exc}", file=sys.stderr)
