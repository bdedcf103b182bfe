"""Memory attached to a real team: turn-aware sharing of the previous winner's knowledge,
shared memory injection, retrieval after compression — on the real store and embedder."""

from __future__ import annotations

import json
from typing import Any

import pytest

from massmem.agents import TurnContext
from massmem.backends.scripted import AnswerReply, TextReply, VoteReply
from massmem.config.schema import TeamConfig
from massmem.coordination import MemoryAccessed, Orchestrator, PastTurn
from massmem.team.memory_binding import MemoryBinding
from massmem.team.memory_setup import bind_memory, memory_listener
from tests.coordination.helpers import script, system_of

FACT = "The Bluebird project ships its first release on the 14th of March."


def bound(config: TeamConfig, orchestrator: Orchestrator, **session: Any) -> MemoryBinding:
    memory = bind_memory(config, orchestrator.agents, session_id="s1", **session)
    assert memory is not None
    return memory


def team(**memory: Any) -> TeamConfig:
    return TeamConfig.model_validate(
        {
            "agents": [
                {"id": "alice", "backend": {"type": "scripted"}},
                {"id": "bob", "backend": {"type": "scripted"}},
            ],
            "memory": {
                "persistent_memory": {"enabled": True, "session_name": None, "llm": {"provider": "none"}},
                **memory,
            },
        }
    )


@pytest.mark.usefixtures("embedder")
async def test_previous_winners_knowledge_reaches_the_other_agent_next_turn() -> None:
    config = team(retrieval={"exclude_recent": False, "limit": 5})
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    script(alice, AnswerReply(FACT), VoteReply("agent1", "mine"))
    script(bob, VoteReply("agent1", "agreed"))
    memory = bound(config, orchestrator, turn=1)
    result = await orchestrator.run("When does Bluebird ship?", on_event=memory_listener(memory))
    assert result.winner == "alice"
    await memory.finish_turn("When does Bluebird ship?", result.winner)
    assert [(w.agent_id, w.turn) for w in memory.winners] == [("alice", 1)]

    # Turn 2: bob starts from scratch, but alice's turn-1 knowledge and the shared record reach him.
    script(bob, AnswerReply("March 14th."), VoteReply("agent2", "ok"))
    script(alice, VoteReply("agent2", "right"))
    seen: list[Any] = []

    listen = memory_listener(memory)

    def both(event: Any) -> None:
        seen.append(event)
        listen(event)

    await orchestrator.run("Remind me: what ships in March?", on_event=both)
    # each retrieval is an event for the live view: store, query, results, timing
    retrievals = [e for e in seen if isinstance(e, MemoryAccessed) and e.agent_id == "bob"]
    assert retrievals and retrievals[0].store == "persistent" and retrievals[0].op == "query"
    assert retrievals[0].results >= 1 and "March" in retrievals[0].text and retrievals[0].ms > 0
    first_call = system_of(bob)
    assert "Relevant memories" in first_call
    assert "Bluebird" in first_call
    assert "[alice answer]" in first_call  # shared memory, attributed
    await memory.aclose()


@pytest.mark.usefixtures("embedder")
async def test_exclude_recent_leaves_out_what_the_history_holds_until_compression() -> None:
    config = team(retrieval={"exclude_recent": True}, shared_memory={"enabled": False})
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    script(alice, AnswerReply(FACT), VoteReply("agent1", "mine"))
    script(bob, VoteReply("agent1", "agreed"))
    memory = bound(config, orchestrator, turn=1)
    result = await orchestrator.run("When does Bluebird ship?")
    await memory.finish_turn("When does Bluebird ship?", result.winner)
    assert memory.held  # turn 1 is now history

    script(alice, AnswerReply("Mid March."), VoteReply("agent1", "mine"))
    script(bob, VoteReply("agent1", "agreed"))
    await orchestrator.run("When does Bluebird ship?", history=[PastTurn("When does Bluebird ship?", FACT)])
    assert "Relevant memories" not in system_of(alice)  # turn 1 is in the history: not repeated

    # A request rendered from a compressed view: the history's words may be gone, so memory brings them back.
    provide = alice.context_providers[0]
    blocks = await provide(TurnContext("alice", "When does Bluebird ship?", (), compressed=True))
    assert any(b.label == "Relevant memories" and "14th of March" in b.text for b in blocks)
    await memory.aclose()


@pytest.mark.usefixtures("embedder")
async def test_resumed_session_retrieves_on_its_first_call() -> None:
    config = team(retrieval={"exclude_recent": True}, shared_memory={"enabled": False})
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    script(alice, AnswerReply(FACT), VoteReply("agent1", "mine"))
    script(bob, VoteReply("agent1", "agreed"))
    first = bound(config, orchestrator, turn=1)
    result = await orchestrator.run("When does Bluebird ship?")
    await first.finish_turn("When does Bluebird ship?", result.winner)
    await first.aclose()

    # A later process resumes the session: new agents, the winners history from the session state.
    later = Orchestrator.from_config(config)
    alice2, bob2 = later.agents
    script(bob2, AnswerReply("On March 14th."), VoteReply("agent2", "x"))
    script(alice2, VoteReply("agent2", "x"))
    resumed = bound(config, later, turn=2, winners=[("alice", 1)])
    await later.run("When is the release?")
    assert "Bluebird" in system_of(bob2)
    await resumed.aclose()


@pytest.mark.usefixtures("embedder")
async def test_actions_written_as_json_text_are_remembered_as_answers_and_votes() -> None:
    """A JSON-protocol reply is an action, not prose: memory keeps the answer, never the raw JSON."""
    config = team(retrieval={"exclude_recent": False}, shared_memory={"enabled": False})
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    script(
        alice,
        TextReply(json.dumps({"action": "new_answer", "content": FACT})),
        TextReply('{"action": "vote", "agent_id": "agent1", "reason": "mine"}'),
    )
    script(bob, TextReply('{"action": "vote", "agent_id": "agent1"}'))
    memory = bound(config, orchestrator, turn=1)
    result = await orchestrator.run("When does Bluebird ship?")
    assert result.winner == "alice"
    await memory.finish_turn("When does Bluebird ship?", result.winner)
    seat = memory.seats["alice"]
    assert seat.persistent is not None
    hits = await seat.persistent.memory.retrieve("Bluebird release", limit=20)
    texts = [h.text for h in hits]
    assert any("14th of March" in t for t in texts), texts
    assert not any('"action"' in t for t in texts), texts
    await memory.aclose()
