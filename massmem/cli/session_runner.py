"""Glue between the CLI and the library for one-shot and interactive runs.

It owns the lifetime of one invocation: register the session, build the team,
feed the orchestrator's events to a display, record how it ended, and close
every backend (a local model server included) whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import Any

from massmem.cli.display import Display, make_display
from massmem.config.schema import TeamConfig
from massmem.errors import CoordinationError, MassmemError, SessionNotFound
from massmem.sessions import SessionRecord, SessionRegistry

__all__ = ["RunOptions", "result_as_dict", "run_interactive", "run_once"]

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass(frozen=True, slots=True)
class RunOptions:
    config_path: str | None = None
    session_id: str | None = None
    display: str = "auto"
    as_json: bool = False
    debug: bool = False


def result_as_dict(result: Any, session_id: str) -> dict[str, Any]:
    """The ``--json`` shape of a finished run (no secrets: only ids, text, counts)."""
    return {
        "session_id": session_id,
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
    }


def _models(team: TeamConfig) -> list[str]:
    return [f"{a.backend.type}:{a.backend.model}" for a in team.agents]


def _open_session(team: TeamConfig, options: RunOptions, question: str | None) -> SessionRecord:
    """``--session-id`` wins over the config's ``session_id``; otherwise a new id is made."""
    registry = SessionRegistry()
    wanted = options.session_id or team.session_id
    if wanted is not None:
        try:
            record = registry.get(wanted)
        except SessionNotFound:
            pass
        else:
            return registry.update(record.id, status="active", question=question)
    return registry.create(
        session_id=wanted,
        config_path=options.config_path,
        models=_models(team),
        question=question,
        description=team.description,
    )


class _Team:
    """The built orchestrator for the lifetime of one invocation."""

    def __init__(self, team: TeamConfig) -> None:
        from massmem.coordination.orchestrator import Orchestrator

        self.orchestrator = Orchestrator.from_config(team)

    async def ask(self, question: str, display: Display, history: list[Any]) -> Any:
        return await self.orchestrator.run(question, history=history, on_event=display.handle)

    async def close(self) -> None:
        await self.orchestrator.aclose()


def run_once(team: TeamConfig, question: str, options: RunOptions) -> int:
    """Answer one question; print the answer (or JSON); return the exit code."""
    registry = SessionRegistry()
    session = _open_session(team, options, question)
    display = make_display(options.display, [a.id for a in team.agents], show_reasoning=team.ui.show_reasoning)
    display.note(f"session {session.id}")

    async def go() -> Any:
        built = _Team(team)
        try:
            return await built.ask(question, display, [])
        finally:
            await built.close()

    try:
        result = asyncio.run(go())
    except KeyboardInterrupt:
        display.close()
        registry.update(session.id, status="interrupted", error="interrupted by the user")
        raise
    except (CoordinationError, MassmemError) as exc:
        display.close()
        registry.update(session.id, status="failed", error=str(exc).splitlines()[0][:500])
        raise
    display.close()
    registry.update(session.id, status="completed", add_turns=1)
    if options.as_json:
        print(json.dumps(result_as_dict(result, session.id), indent=2))
    elif options.display == "none":
        print(result.final_answer)
    for agent_id, reason in result.failures.items():
        print(f"note: agent {agent_id} dropped out: {reason}", file=sys.stderr)
    return EXIT_TIMEOUT if result.timed_out else EXIT_OK


_HELP = """Commands:
  /help     this text
  /status   session, agents and turns so far
  /reset    forget this conversation's earlier turns
  /quit     leave (Ctrl-D works too)
Anything else is a question for the team."""


def run_interactive(team: TeamConfig, options: RunOptions) -> int:
    """A read-answer loop; earlier questions and final answers become context for later ones."""
    from massmem.coordination.state import PastTurn

    registry = SessionRegistry()
    session = _open_session(team, options, None)
    print(f"massmem interactive · session {session.id} · {len(team.agents)} agents · /help for commands")
    history: list[PastTurn] = []

    async def loop() -> int:
        built = _Team(team)
        status = "completed"
        try:
            while True:
                try:
                    line = await asyncio.to_thread(input, "\nmassmem> ")
                except EOFError:
                    print()
                    break
                text = line.strip()
                if not text:
                    continue
                if text.startswith("/"):
                    command = text.split()[0].lower()
                    if command in ("/quit", "/exit"):
                        break
                    if command == "/help":
                        print(_HELP)
                    elif command == "/reset":
                        history.clear()
                        print("Earlier turns forgotten; the next question starts fresh.")
                    elif command == "/status":
                        ids = ", ".join(f"{a.id} ({a.backend.type}:{a.backend.model})" for a in team.agents)
                        print(f"session {session.id} · turns this run: {len(history)} · agents: {ids}")
                    else:
                        print(f"unknown command {command}; /help lists them")
                    continue
                display = make_display(
                    options.display, [a.id for a in team.agents], show_reasoning=team.ui.show_reasoning
                )
                try:
                    result = await built.ask(text, display, list(history))
                except MassmemError as exc:
                    display.close()
                    print(f"error: {exc}", file=sys.stderr)
                    continue
                display.close()
                if options.display == "none":
                    print(result.final_answer)
                history.append(PastTurn(text, result.final_answer))
                registry.update(session.id, add_turns=1, question=text)
        except (KeyboardInterrupt, asyncio.CancelledError):
            status = "interrupted"
            raise
        finally:
            await built.close()
            registry.update(session.id, status=status)  # type: ignore[arg-type]
        return EXIT_OK

    try:
        return asyncio.run(loop())
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
