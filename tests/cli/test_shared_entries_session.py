"""Shared entries across a session's rounds: saved with completed turns, gone with failed or
cancelled ones, restored on resume, and written to ``--debug``'s memory_events.jsonl."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from massmem.backends.scripted import AnswerReply, RaiseReply, ScriptedBackend, ShareReply, VoteReply
from massmem.cli.display import NullDisplay
from massmem.config.loader import load_config
from massmem.coordination import EntryShared, Event
from massmem.errors import CoordinationError, ProviderUnavailable
from massmem.sessions import load_state, open_session
from massmem.team.session import TeamSession
from tests.cli.teams import run_massmem
from tests.coordination.helpers import system_of as system_prompt

TEAM = """
agents:
  - id: alice
    backend:
      type: scripted
      replies:
        - new_answer: "First answer."
          share:
            - {type: style, content: "Answer in one sentence.", scope: conversation}
            - {type: plan, content: "Only for question one.", scope: round}
        - vote: agent1
        - new_answer: "Second answer."
        - vote: agent1
  - id: bob
    backend:
      type: scripted
      latency: 0.05
      replies:
        - vote: agent1
orchestrator:
  present_final_answer: false
  shared_entries:
    enabled: true
"""


class Recorder(NullDisplay):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def handle(self, event: Event) -> None:
        self.events.append(event)


def write_team(folder: Path) -> Path:
    path = folder / "team.yaml"
    path.write_text(TEAM)
    return path


def system_of(runner: TeamSession, agent_id: str, call: int) -> str:
    return system_prompt(next(a for a in runner.orchestrator.agents if a.id == agent_id), call)


def session_for(config_path: Path, session_id: str, *, debug: bool = False) -> TeamSession:
    team = load_config(config_path)
    session = open_session(session_id=session_id, config=team.redacted())
    return TeamSession(team, session, debug=debug)


async def test_conversation_entries_outlive_their_round_and_the_process(
    tmp_path: Path, massmem_home: Path
) -> None:
    path = write_team(tmp_path)
    runner = session_for(path, "shares", debug=True)
    await runner.ask("Question one?", Recorder().handle)
    saved = load_state("shares")
    assert saved is not None
    assert [(e["type"], e["scope"]) for e in saved.turns[0].shared_entries] == [
        ("style", "conversation"),
        ("plan", "round"),
    ]
    debug_lines = [
        json.loads(line)
        for line in (runner.log_dir / "memory_events.jsonl").read_text().splitlines()  # type: ignore[operator]
    ]
    assert [(d["kind"], d["entry_type"]) for d in debug_lines] == [
        ("entry_shared", "style"),
        ("entry_shared", "plan"),
    ]
    await runner.close()
    runner.session.close()

    # a new process resumes the session: the conversation entry is in effect, the round one is not
    resumed = session_for(path, "shares")
    await resumed.ask("Question two?", Recorder().handle)
    system = system_of(resumed, "alice", 0)
    assert "[style] by you (conversation, from question 1):" in system
    assert "Answer in one sentence." in system and "Only for question one." not in system
    assert "[style] by agent1" in system_of(resumed, "bob", 0)
    await resumed.close()
    resumed.session.close()


async def test_a_failed_round_leaves_no_entries_behind(tmp_path: Path, massmem_home: Path) -> None:
    runner = session_for(write_team(tmp_path), "failing")
    alice, bob = runner.orchestrator.agents
    down = ProviderUnavailable("server down", provider="scripted")
    alice.backend = ScriptedBackend(
        [ShareReply((("style", "Use Latin.", "conversation"),)), RaiseReply(down)], on_exhausted="raise"
    )
    bob.backend = ScriptedBackend([RaiseReply(down)])
    recorder = Recorder()
    with pytest.raises(CoordinationError):
        await runner.ask("Question one?", recorder.handle)
    assert [e.entry_type for e in recorder.events if isinstance(e, EntryShared)] == ["style"]
    assert runner.session.state.turns == [] and runner.shared_entries() == []

    alice.backend = ScriptedBackend([AnswerReply("Fine."), VoteReply("agent1")])
    bob.backend = ScriptedBackend([VoteReply("agent1")])
    await runner.ask("Question again?", Recorder().handle)
    assert "Use Latin." not in alice.backend.requests[0].messages[0].content
    await runner.close()
    runner.session.close()


async def test_a_cancelled_round_leaves_no_entries_behind(tmp_path: Path, massmem_home: Path) -> None:
    runner = session_for(write_team(tmp_path), "cancelled")
    bob = runner.orchestrator.agents[1]
    bob.backend = ScriptedBackend([VoteReply("agent1")], latency=30)  # still working when we stop

    shared = asyncio.Event()

    class Watch(Recorder):
        def handle(self, event: Event) -> None:
            super().handle(event)
            if isinstance(event, EntryShared):
                shared.set()

    task = asyncio.create_task(runner.ask("Question one?", Watch().handle))
    await asyncio.wait_for(shared.wait(), 10)
    task.cancel()  # what Ctrl-C does in the interactive mode
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.session.state.turns == [] and runner.shared_entries() == []
    await runner.close()
    runner.session.close()


def test_the_cli_runs_a_sharing_team_and_lists_entries_in_json(tmp_path: Path, massmem_home: Path) -> None:
    path = write_team(tmp_path)
    done = run_massmem("run", "-c", str(path), "--session-id", "cli-shares", "--json", "Q?")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [(e["type"], e["author"]) for e in out["shared_entries"]] == [
        ("style", "alice"),
        ("plan", "alice"),
    ]

    shown = run_massmem("sessions", "show", "cli-shares")
    assert "shared [style] by alice (conversation): Answer in one sentence." in shown.stdout

    # the interactive /entries command: what carries over to the next question
    piped = run_massmem(
        "run", "-c", str(path), "-i", "--session-id", "cli-shares", "--json", stdin="/entries\n"
    )
    assert piped.returncode == 0, piped.stderr
    assert "[style] by alice (conversation, from question 1):" in piped.stdout
    assert "Only for question one." not in piped.stdout
