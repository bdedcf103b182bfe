"""``massmem memory ...`` on the real embedded Qdrant store and the real local embedder."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem

pytest.importorskip("qdrant_client")
pytest.importorskip("sentence_transformers")


def massmem(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_massmem(*args, stdin=stdin, timeout=180)


TRIP = [
    {"role": "user", "content": "We are planning a trip to Lisbon in May, two adults."},
    {
        "role": "assistant",
        "content": "Lisbon in May is warm and dry; book the tram 28 ride early in the day.",
    },
]
COOKING = [
    {"role": "user", "content": "How long should a soft-boiled egg cook for?"},
    {"role": "assistant", "content": "Six minutes in boiling water, then straight into cold water."},
]


@pytest.fixture
def stored(massmem_home: Path) -> Iterator[None]:
    """Memories of two sessions and two agents, written by the real persistent-memory module."""
    from massmem.config.schema import ExtractionLLMConfig, PersistentMemoryConfig
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.store import close_all_stores

    config = PersistentMemoryConfig(enabled=True, llm=ExtractionLLMConfig(provider="none"))
    try:
        PersistentMemory(config, agent_id="alice", session_id="trip").record_sync(TRIP, turn=1)
        PersistentMemory(config, agent_id="bob", session_id="trip").record_sync(TRIP[1:], turn=2)
        PersistentMemory(config, agent_id="alice", session_id="kitchen").record_sync(COOKING, turn=1)
    finally:
        close_all_stores()  # the commands run in other processes; local Qdrant is one-process
    yield


def test_without_a_store_nothing_is_listed_and_nothing_heavy_loads(massmem_home: Path) -> None:
    done = massmem("memory", "list")
    assert done.returncode == 0 and "No memories." in done.stdout
    assert not (massmem_home / "qdrant").exists()
    assert json.loads(massmem("memory", "list", "--json").stdout) == []


def test_list_shows_every_memory_with_its_origin(stored: None) -> None:
    everything = json.loads(massmem("memory", "list", "--json").stdout)
    origins = sorted((m["session_id"], m["agent_id"], m["turn"], m["kind"]) for m in everything)
    assert origins == [
        ("kitchen", "alice", 1, "raw"),
        ("kitchen", "alice", 1, "raw"),
        ("trip", "alice", 1, "raw"),
        ("trip", "alice", 1, "raw"),
        ("trip", "bob", 2, "raw"),
    ]
    trip_bob = json.loads(massmem("memory", "list", "--session", "trip", "--agent", "bob", "--json").stdout)
    assert [m["text"] for m in trip_bob] == [TRIP[1]["content"]]
    table = massmem("memory", "list", "--session", "kitchen")
    assert table.returncode == 0
    assert "Six minutes" in table.stdout and "Lisbon" not in table.stdout and "(2 memories" in table.stdout


def test_show_search_forget_and_export(stored: None, tmp_path: Path) -> None:
    listed = json.loads(massmem("memory", "list", "--session", "trip", "--agent", "alice", "--json").stdout)
    target = next(m for m in listed if "tram 28" in m["text"])

    shown = massmem("memory", "show", target["id"][:8])
    assert shown.returncode == 0, shown.stderr
    assert (
        "session   trip" in shown.stdout
        and "agent     alice" in shown.stdout
        and "turn      1" in shown.stdout
    )
    assert target["text"] in shown.stdout
    assert massmem("memory", "show", "ffffffff").returncode == 2

    found = json.loads(massmem("memory", "search", "what is the weather like in Portugal", "--json").stdout)
    assert found and "Lisbon" in found[0]["text"]
    scoped = json.loads(massmem("memory", "search", "Lisbon", "--session", "kitchen", "--json").stdout)
    assert all(m["session_id"] == "kitchen" for m in scoped)

    refused = massmem("memory", "forget", target["id"])
    assert refused.returncode == 2 and "--yes" in refused.stderr
    gone = massmem("memory", "forget", target["id"], "--yes")
    assert gone.returncode == 0 and "forgot 1 memory" in gone.stdout
    remaining = json.loads(massmem("memory", "list", "--json").stdout)
    assert target["id"] not in {m["id"] for m in remaining} and len(remaining) == 4

    out = tmp_path / "memories.json"
    assert massmem("memory", "export", "--session", "kitchen", "-o", str(out)).returncode == 0
    exported = json.loads(out.read_text())
    assert {m["session_id"] for m in exported["memories"]} == {"kitchen"} and len(exported["memories"]) == 2

    wiped = massmem("memory", "forget", "--session", "kitchen", "--yes")
    assert "forgot 2 memories" in wiped.stdout
    assert json.loads(massmem("memory", "list", "--session", "kitchen", "--json").stdout) == []
    assert massmem("memory", "forget").returncode == 2


def test_deleting_a_session_deletes_its_memories(stored: None) -> None:
    from massmem.sessions import open_session

    open_session(session_id="trip").finish("completed")
    done = massmem("sessions", "delete", "trip", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted trip (3 memories)" in done.stdout
    left = json.loads(massmem("memory", "list", "--json").stdout)
    assert {m["session_id"] for m in left} == {"kitchen"}


def test_the_memory_command_in_interactive_mode(stored: None, tmp_path: Path) -> None:
    from tests.cli.teams import write_team

    team = write_team(
        tmp_path,
        extra="memory:\n  persistent_memory:\n    enabled: true\n    llm:\n      provider: none\n",
    )
    done = massmem(
        "run", "-c", str(team), "-i", "--session-id", "trip", stdin="/memory\n/memory weather in Portugal\n"
    )
    assert done.returncode == 0, done.stderr
    listing, _, searched = done.stdout.partition("SCORE")
    assert "tram 28" in listing and "Six minutes" not in listing  # only this session's memories
    assert "Lisbon" in searched.splitlines()[1]  # best hit first

    off = write_team(tmp_path, name="off.yaml")
    done = massmem("run", "-c", str(off), "-i", stdin="/memory\n")
    assert "Persistent memory is off" in done.stdout


MEMORY_TEAM = "memory:\n  persistent_memory:\n    enabled: true\n    llm:\n      provider: none\n"


def test_a_resumed_session_keeps_and_retrieves_its_persistent_memory(
    tmp_path: Path, massmem_home: Path
) -> None:
    import asyncio

    from massmem.agents.agent import TurnContext
    from massmem.config.loader import load_config
    from massmem.memory.store import close_all_stores
    from massmem.sessions import open_session
    from massmem.team.session import TeamSession
    from tests.cli.teams import write_team

    team_file = write_team(tmp_path, extra=MEMORY_TEAM)
    first = massmem(
        "run", "-c", str(team_file), "--session-id", "budget", "--json", "Our Lisbon budget is 1200 euros."
    )
    assert first.returncode == 0, first.stderr
    second = massmem(
        "run", "-c", str(team_file), "--session-id", "budget", "--json", "Which museums are free?"
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["turn"] == 2

    # Both processes recorded into the same memory session, each under its own turn number.
    memories = json.loads(massmem("memory", "list", "--session", "budget", "--json").stdout)
    assert {(m["agent_id"], m["turn"]) for m in memories} >= {("alice", 1), ("alice", 2)}
    assert any("1200 euros" in m["text"] and m["turn"] == 1 for m in memories)

    # A third process resuming the session retrieves turn 1 on its first call.
    team = load_config(str(team_file))
    session = open_session(session_id="budget", config=team.redacted())
    try:
        built = TeamSession(team, session)
        assert built.memory is not None and built.memory.turn == 3
        assert [(w.agent_id, w.turn) for w in built.memory.winners] == [("alice", 1), ("alice", 2)]
        alice = next(a for a in built.orchestrator.agents if a.id == "alice")
        provider = alice.context_providers[-1]
        blocks = asyncio.run(provider(TurnContext("alice", "How much money do we have for Lisbon?", ())))
        rendered = "\n".join(b.text for b in blocks)
        assert "RELEVANT MEMORIES" in rendered and "1200 euros" in rendered
        asyncio.run(built.memory.aclose())
    finally:
        session.finish("completed")
        close_all_stores()
