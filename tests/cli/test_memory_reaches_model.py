"""What persistent memory puts in front of the model, seen on the wire.

A recording loopback server speaks Chat Completions to the official ``openai`` SDK (the
``chatcompletion`` backend); every agent is told apart by its model name.  The team runs
through the real CLI in child processes, on the real embedded Qdrant and the real local
embedder under the test's MASSMEM_HOME.  The tests assert what each agent's requests carry:

* an earlier run under the same ``session_name`` (a new process, a new session): an agent
  that was in it gets its own memory, an agent that joined later gets the team's shared
  memory — on every call of the new run, not just the first;
* a resumed session: a previous winner's memories reach the other agents, only up to the
  turn it won;
* one process, a second interactive turn: what the history already holds is not
  injected again.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.cli.teams import run_massmem
from tests.support.chat_protocol import ScriptedToolCall, sse, text_reply, tool_calls_chunks
from tests.support.loopback import LoopbackServer, Recorded, Reply

WORD = "PELICAN-7"
LATER_WORD = "ALBATROSS-9"
MEMORY_BLOCK = "=== RELEVANT MEMORIES"
SHARED_BLOCK = "=== SHARED PERSISTENT MEMORY"


@dataclass
class Stage:
    """What each agent does on the question being asked: its answer, then a vote."""

    answers: dict[str, str]
    vote: str = "agent1"
    present: str = "Presented."


@dataclass
class Team:
    """The loopback model: replies by agent (the model name) and by the current stage."""

    server: LoopbackServer
    stage: Stage = field(default_factory=lambda: Stage({}))
    calls: int = 0

    def reply(self, recorded: Recorded) -> Reply:
        body = recorded.json()
        self.calls += 1
        if not body.get("tools"):  # the winner's final presentation
            return text_reply(self.stage.present)
        agent = body["model"]
        answered = any(
            call["function"]["name"] == "new_answer"
            for m in body["messages"]
            if m["role"] == "assistant"
            for call in m.get("tool_calls") or ()
        )
        answer = self.stage.answers.get(agent)
        if answer is not None and not answered:
            call = ScriptedToolCall(f"call_{self.calls}", "new_answer", [json.dumps({"content": answer})])
        else:
            arguments = json.dumps({"agent_id": self.stage.vote, "reason": "It answers the question."})
            call = ScriptedToolCall(f"call_{self.calls}", "vote", [arguments])
        return sse(tool_calls_chunks(call))

    def requests(self, agent: str, since: int = 0) -> list[dict[str, Any]]:
        """The coordination requests ``agent`` sent (presentations left out), oldest first."""
        bodies = [r.json() for r in self.server.requests[since:]]
        return [b for b in bodies if b.get("model") == agent and b.get("tools")]


@pytest.fixture
def team(massmem_home: Path) -> Iterator[Team]:
    with LoopbackServer() as server:
        scripted = Team(server)
        server.responder = scripted.reply
        yield scripted


def write_config(
    folder: Path,
    server: LoopbackServer,
    agents: list[str],
    *,
    name: str,
    shared: bool = True,
    present: bool = False,
) -> Path:
    lines = ["agents:"]
    for agent in agents:
        lines += [
            f"  - id: {agent}",
            "    backend:",
            "      type: chatcompletion",
            f"      model: {agent}",
            f'      base_url: "{server.url}/v1"',
            "      api_key: loopback-key",
            "      max_retries: 0",
        ]
    lines += [
        "memory:",
        "  persistent_memory:",
        "    enabled: true",
        "    session_name: codeword",
        "    llm: {provider: none}",
        # shared persistent memory is on by default (with persistent memory): nothing to switch on
        "  shared_memory:" if shared else "  shared_memory: {enabled: false, persistent: false}",
        *(["    window: 10"] if shared else []),
        "  retrieval: {exclude_recent: true, limit: 5}",
        "orchestrator:",
        f"  present_final_answer: {str(present).lower()}",
    ]
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def ask(config: Path, question: str, *extra: str) -> None:
    done = run_massmem("run", "-c", str(config), "--no-display", *extra, question, timeout=180)
    assert done.returncode == 0, (done.stdout, done.stderr)


def system(body: dict[str, Any]) -> str:
    return str(body["messages"][0]["content"])


def section(text: str, head: str) -> str:
    """The part of a system prompt from ``head`` to the end of its block ('' when absent)."""
    at = text.find(head)
    if at < 0:
        return ""
    end = text.find("=== END OF", at)
    return text[at : end if end >= 0 else len(text)]


def test_a_new_run_under_the_same_session_name_brings_the_word_to_every_agent(
    tmp_path: Path, team: Team
) -> None:
    """Run 1 tells alice and bob a code word; run 2, a new process and session, asks alice and carol."""
    first = write_config(tmp_path, team.server, ["alice", "bob"], name="first.yaml")
    team.stage = Stage({"alice": f"Noted: the code word is {WORD}.", "bob": "Understood, I will keep it."})
    ask(first, f"The code word for the launch is {WORD}. Remember it.")

    second = write_config(tmp_path, team.server, ["alice", "carol"], name="second.yaml")
    team.stage = Stage({"alice": "I will check my notes.", "carol": "Let me look it up."})
    mark = len(team.server.requests)
    ask(second, "What is the code word for the launch?")

    alice, carol = team.requests("alice", mark), team.requests("carol", mark)
    assert len(alice) >= 2 and len(carol) >= 2  # an answer and a vote each
    # alice was told: her own memory carries the word on every call of the new run.
    assert all(WORD in section(system(b), MEMORY_BLOCK) for b in alice)
    # carol was not in run 1: the team's shared memory, searched with the task, carries it.
    assert all(WORD in section(system(b), SHARED_BLOCK) for b in carol)
    assert not any(section(system(b), MEMORY_BLOCK) for b in carol)  # she has no memories of her own
    carried = {a: sum(WORD in json.dumps(b) for b in team.requests(a, mark)) for a in ("alice", "carol")}
    print(f"requests carrying the word in run 2: {carried} of {len(alice)} / {len(carol)}", file=sys.stderr)


def test_a_previous_winner_is_remembered_up_to_the_turn_it_won(tmp_path: Path, team: Team) -> None:
    """alice wins turn 1 with the word and loses turn 2 with another; a resumed session asks bob."""
    config = write_config(
        tmp_path, team.server, ["alice", "bob"], name="team.yaml", shared=False, present=True
    )
    team.stage = Stage({"alice": f"My proposal: {WORD}.", "bob": "No proposal from me."}, vote="agent1")
    ask(config, "Propose a code word for the launch.", "--session-id", "launch")
    team.stage = Stage({"alice": f"A second one: {LATER_WORD}.", "bob": "Keep the first."}, vote="agent2")
    ask(config, "Propose a second code word.", "--session-id", "launch")

    team.stage = Stage({"alice": "Checking.", "bob": "Looking it up."}, vote="agent1")
    mark = len(team.server.requests)
    ask(config, "Which code word did the winner propose?", "--session-id", "launch")

    bob = team.requests("bob", mark)
    assert len(bob) >= 2
    # The history holds only the questions and the presentations ("Presented."): the word
    # reaches bob through alice's memories of turn 1, which she won, on every call.
    assert all(WORD in section(system(b), MEMORY_BLOCK) for b in bob)
    assert all("[From alice Turn 1]" in system(b) for b in bob)
    # Turn 2 was bob's: what alice said in it stays hers.
    assert not any(LATER_WORD in json.dumps(b) for b in bob)


def test_a_second_interactive_turn_does_not_repeat_what_the_history_holds(tmp_path: Path, team: Team) -> None:
    """One process, two questions: turn 1 is history on turn 2, so memory does not inject it again."""
    pexpect = pytest.importorskip("pexpect")
    config = write_config(tmp_path, team.server, ["alice", "bob"], name="team.yaml")
    team.stage = Stage({"alice": f"Noted: the code word is {WORD}.", "bob": "Understood."})
    child = pexpect.spawn(
        sys.executable,
        ["-m", "massmem", "run", "-c", str(config), "--no-display", "--session-id", "chat"],
        env={**os.environ, "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
    )
    child.expect_exact("massmem> ")
    child.sendline(f"The code word for the launch is {WORD}. Remember it.")
    child.expect_exact(f"Noted: the code word is {WORD}.")
    child.expect_exact("massmem> ")
    team.stage = Stage({"alice": "I will check my notes.", "bob": "Let me look it up."})
    mark = len(team.server.requests)
    child.sendline("What is the code word for the launch?")
    child.expect_exact("I will check my notes.")
    child.expect_exact("massmem> ")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    for agent in ("alice", "bob"):
        bodies = team.requests(agent, mark)
        assert bodies
        for body in bodies:
            history = [m["content"] for m in body["messages"][1:] if m["role"] in ("user", "assistant")]
            assert any(WORD in (text or "") for text in history)  # the history holds turn 1 ...
            assert WORD not in section(system(body), MEMORY_BLOCK)  # ... so memory does not repeat it
            assert WORD not in section(system(body), SHARED_BLOCK)
