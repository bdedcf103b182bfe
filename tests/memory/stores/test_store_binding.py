"""Named stores attached to a real team (scripted models): what reaches each agent's context,
what is written where, the shared token budget, and the session wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from massmem.agents import Agent
from massmem.backends.scripted import AnswerReply, VoteReply
from massmem.config.schema import MemoryAttachment, TeamConfig
from massmem.coordination import MemoryAccessed, Orchestrator
from massmem.memory.stores.base import MemoryStore
from massmem.memory.stores.list_store import ListStore
from massmem.team.memory_binding import MemoryBinding
from massmem.team.memory_setup import attach_store, bind_memory
from tests.coordination.helpers import script, system_of


def attach(binding: MemoryBinding, agent: Agent, attachments: list[MemoryAttachment]) -> None:
    """``agent``'s ``memories`` entries bound to the stores the binding was given."""
    for attachment in attachments:
        attach_store(binding, agent, binding.stores[attachment.name], attachment)


def binding_of(stores: dict[str, MemoryStore], **options: Any) -> MemoryBinding:
    binding = MemoryBinding(**options)
    binding.stores.update(stores)
    return binding


def team(alice: list[dict[str, Any]], bob: list[dict[str, Any]], stores: list[dict[str, Any]]) -> TeamConfig:
    return TeamConfig.model_validate(
        {
            "agents": [
                {"id": "alice", "backend": {"type": "scripted"}, "memories": alice},
                {"id": "bob", "backend": {"type": "scripted"}, "memories": bob},
            ],
            "memory_stores": stores,
        }
    )


async def test_reads_and_writes_follow_the_attachments(tmp_path: Path) -> None:
    config = team(
        alice=[{"name": "board", "read": True, "write": True}, {"name": "kb"}],
        bob=[{"name": "board", "read": True, "write": False}],
        stores=[
            {"name": "board", "type": "blackboard"},
            {"name": "kb", "type": "list"},
        ],
    )
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    binding = bind_memory(config, orchestrator.agents, session_id="s", log_dir=tmp_path)
    assert binding is not None
    kb = binding.stores["kb"]
    await kb.add("Release trains leave every second Thursday.")
    await binding.stores["board"].add("Earlier note: releases are frozen in December.")

    script(
        alice, AnswerReply("Releases go out every second Thursday."), VoteReply("agent1", "mine is complete")
    )
    script(bob, VoteReply("agent1", "agreed with the Thursday answer"))
    seen: list[Any] = []
    result = await orchestrator.run("When do releases go out?", on_event=seen.append)
    assert result.winner == "alice"

    # every query and write also reaches the event stream (the live view), attributed
    live = [e for e in seen if isinstance(e, MemoryAccessed)]
    assert {(e.agent_id, e.store, e.op) for e in live} == {
        ("alice", "kb", "query"),
        ("alice", "board", "query"),
        ("alice", "board", "add"),
        ("bob", "board", "query"),
    }
    kb_query = next(e for e in live if e.store == "kb")
    assert kb_query.results == 1 and kb_query.ms >= 0 and "releases" in kb_query.text.lower()

    alice_sees, bob_sees = system_of(alice), system_of(bob)
    assert "MEMORY STORE 'kb' (list)" in alice_sees and "second Thursday" in alice_sees
    assert "MEMORY STORE 'board' (blackboard)" in bob_sees and "frozen in December" in bob_sees
    assert "MEMORY STORE 'kb'" not in bob_sees  # bob is not attached to kb

    board = await binding.stores["board"].query("", top_k=10)
    kinds = [(h.metadata.get("agent_id"), h.metadata.get("kind")) for h in board]
    assert ("alice", "answer") in kinds and ("alice", "vote") in kinds
    assert all(agent != "bob" for agent, _ in kinds)  # bob reads the board but never writes it
    assert len(await kb.query("", top_k=10)) == 1  # kb is read-only for alice (write defaults to false)

    events = [json.loads(line) for line in (tmp_path / "memory_stores.jsonl").read_text().splitlines()]
    assert {e["event"] for e in events} == {"memory_queried", "memory_added"}
    queried = next(e for e in events if e["event"] == "memory_queried" and e["store"] == "kb")
    assert queried["results"] == 1 and queried["ms"] >= 0 and "releases" in queried["query"].lower()
    await binding.aclose()


async def test_a_read_only_store_is_never_written() -> None:
    class Spy(ListStore):
        writable = False
        adds = 0

        async def add(self, content: str, **kwargs: Any) -> None:  # type: ignore[override]
            Spy.adds += 1

    config = team(
        alice=[{"name": "ro", "write": True}],
        bob=[{"name": "ro"}],
        stores=[{"name": "ro", "type": "list"}],
    )
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    binding = binding_of({"ro": Spy("ro")})
    hooks_before = len(alice.after_turn)
    for agent, cfg in zip(orchestrator.agents, config.agents, strict=True):
        attach(binding, agent, cfg.memories)
    assert len(alice.after_turn) == hooks_before  # write: true on a read-only store adds no writer
    script(alice, AnswerReply("An answer."), VoteReply("agent1", "mine"))
    script(bob, VoteReply("agent1", "fine"))
    await orchestrator.run("Q?")
    assert Spy.adds == 0


async def test_all_blocks_share_one_token_budget() -> None:
    from massmem.context.tokens import estimate_tokens

    stores = {name: ListStore(name) for name in ("a1", "a2", "a3")}
    for store in stores.values():
        for i in range(20):
            await store.add(f"entry {i}: the migration plan moves the billing tables to the new cluster")
    config = team(
        alice=[{"name": n, "top_k": 20} for n in stores],
        bob=[],
        stores=[{"name": n, "type": "list"} for n in stores],
    )
    orchestrator = Orchestrator.from_config(config)
    binding = binding_of(stores, budget_tokens=300)
    attach(binding, orchestrator.agents[0], config.agents[0].memories)
    provider = orchestrator.agents[0].context_providers[-1]
    from massmem.agents.agent import TurnContext

    blocks = await provider(TurnContext("alice", "billing migration", []))
    assert 1 <= len(blocks) <= 3
    assert blocks[0].label == "Memory store a1"
    assert sum(estimate_tokens(b.text) for b in blocks) <= 300
    # with a generous budget every store gets its block
    roomy = binding_of(stores, budget_tokens=100_000)
    agent = orchestrator.agents[1]
    attach(roomy, agent, config.agents[0].memories)
    assert len(await agent.context_providers[-1](TurnContext("bob", "billing migration", []))) == 3


async def test_first_call_stage_queries_once_per_question() -> None:
    store = ListStore("notes")
    await store.add("Note about the weather.")
    config = team(
        alice=[{"name": "notes", "retrieve_stage": "first_call"}],
        bob=[],
        stores=[{"name": "notes", "type": "list"}],
    )
    orchestrator = Orchestrator.from_config(config)
    binding = binding_of({"notes": store})
    attach(binding, orchestrator.agents[0], config.agents[0].memories)
    provider = orchestrator.agents[0].context_providers[-1]
    from massmem.agents.agent import TurnContext

    assert len(await provider(TurnContext("alice", "weather?", []))) == 1
    assert await provider(TurnContext("alice", "weather?", [])) == []
    assert len(await provider(TurnContext("alice", "another question about weather", []))) == 1


def test_nothing_is_built_when_no_agent_attaches_a_store() -> None:
    config = team(alice=[], bob=[], stores=[{"name": "n", "type": "list"}])
    binding = bind_memory(config, Orchestrator.from_config(config).agents, session_id="s")
    assert binding is None or binding.stores == {}


@pytest.mark.usefixtures("embedder")
async def test_team_session_attaches_and_closes_stores(tmp_path: Path) -> None:
    from massmem.sessions import open_session
    from massmem.team.session import TeamSession

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("The VPN gateway is vpn.example.org.\n")
    config = team(
        alice=[{"name": "kb"}],
        bob=[],
        stores=[{"name": "kb", "type": "file", "config": {"path": str(docs), "retrieval": "lexical"}}],
    )
    session = open_session(session_id="stores", config=config.redacted())
    runner = TeamSession(config, session)
    assert runner.memory is not None and set(runner.memory.stores) == {"kb"}
    await runner.close()
