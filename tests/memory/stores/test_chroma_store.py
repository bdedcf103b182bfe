"""The ``chroma`` store on real ChromaDB storage (embedded, under MASSMEM_HOME) with the real
local embedder: ranking and scores, metadata, persistence, run-only stores, config, an agent
that writes to it, and proof that chroma neither downloads its own model nor reports telemetry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from massmem.backends.scripted import AnswerReply, VoteReply
from massmem.config.schema import TeamConfig
from massmem.context.tokens import estimate_tokens
from massmem.coordination import Orchestrator
from massmem.errors import MemoryError_
from massmem.memory.embedder import LocalEmbedder, collection_slug
from massmem.memory.stores import build_store
from massmem.memory.stores.chroma_store import ChromaStore
from massmem.messages import SystemMessage
from massmem.team.memory_setup import bind_memory
from tests.coordination.helpers import scripted

FACTS = (
    "The office cat is named Biscuit.",
    "Quarterly taxes are due in April.",
    "The staging cluster runs on three nodes in Frankfurt.",
)


def store_config(**entry: Any) -> Any:
    team = TeamConfig.model_validate(
        {"agents": [{"id": "a", "backend": {"type": "scripted"}}], "memory_stores": [entry]}
    )
    return team.memory_stores[0]


@pytest.fixture
async def make_store(embedder: LocalEmbedder) -> AsyncIterator[Callable[..., ChromaStore]]:
    """ChromaStores sharing the session's embedder; every one is closed when the test ends."""
    made: list[ChromaStore] = []

    def make(name: str = "facts", **kwargs: Any) -> ChromaStore:
        store = ChromaStore(name, embedder=embedder, **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


# ----------------------------------------------------------------------------- add / query


async def test_ranks_by_meaning_with_cosine_scores(make_store: Callable[..., ChromaStore]) -> None:
    store = make_store()
    for fact in FACTS:
        await store.add(fact)
    hits = await store.query("What is the name of the cat?", top_k=3)
    assert len(hits) == 3
    assert hits[0].content == "The office cat is named Biscuit."
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > 0.4 > scores[-1]
    # an exact repeat is a cosine of 1
    assert (await store.query("Quarterly taxes are due in April.", top_k=1))[0].score == pytest.approx(
        1.0, abs=1e-3
    )
    assert await store.count() == 3


async def test_threshold_and_top_k(make_store: Callable[..., ChromaStore]) -> None:
    store = make_store()
    assert await store.query("anything") == []  # empty collection
    for fact in FACTS:
        await store.add(fact)
    assert len(await store.query("cat", top_k=1)) == 1
    assert len(await store.query("cat", top_k=10)) == 3  # more than there is: all of it
    strict = await store.query("What is the name of the cat?", top_k=3, similarity_threshold=0.4)
    assert [h.content for h in strict] == ["The office cat is named Biscuit."]
    assert await store.query("cat", similarity_threshold=0.99) == []
    assert await store.query("   ") == [] and await store.query("cat", top_k=0) == []


async def test_metadata_and_mime_type_round_trip(make_store: Callable[..., ChromaStore]) -> None:
    store = make_store()
    metadata = {
        "agent_id": "alice",
        "kind": "answer",
        "nested": {"scores": [1, 2.5, None], "ok": True, "tags": {"a": "ü"}},
    }
    await store.add(
        "# Release notes\nVersion 2 ships on Friday.", mime_type="text/markdown", metadata=metadata
    )
    await store.add("No metadata here.")
    hits = await store.query("When does version 2 ship?", top_k=2)
    assert hits[0].metadata == metadata and hits[0].mime_type == "text/markdown"
    assert hits[0].content == "# Release notes\nVersion 2 ships on Friday."
    assert hits[1].metadata == {} and hits[1].mime_type == "text/plain"


async def test_update_context_renders_a_labelled_block_within_budget(
    make_store: Callable[..., ChromaStore],
) -> None:
    store = make_store("ops")
    for i in range(12):
        await store.add(f"Runbook step {i}: roll back the deployment, then page the on-call engineer.")
    block = await store.update_context("how do I roll back a deployment", top_k=12, max_tokens=100)
    assert block is not None
    assert block.startswith("=== MEMORY STORE 'ops' (chroma) ===")
    assert block.endswith("=== END OF MEMORY STORE 'ops' (chroma) ===")
    assert estimate_tokens(block) <= 100
    assert 1 <= block.count("• ") < 12
    assert await store.update_context("rollback", similarity_threshold=0.99) is None


# ----------------------------------------------------------------------------- storage


async def test_persists_across_close_and_reopen(
    make_store: Callable[..., ChromaStore], embedder: LocalEmbedder, massmem_home: Path
) -> None:
    store = make_store()
    await store.add("The office cat is named Biscuit.", metadata={"by": "alice"})
    folder = massmem_home / "memory_stores" / "chroma-facts"
    assert store.path == folder.resolve() and (folder / "chroma.sqlite3").is_file()
    assert store.collection == f"massmem_store_facts_{collection_slug(embedder)}"
    await store.close()
    await store.close()  # twice is fine
    with pytest.raises(MemoryError_, match="closed"):
        await store.add("too late")

    again = make_store()  # a later run
    assert await again.count() == 1
    hit = (await again.query("cat's name", top_k=1))[0]
    assert hit.content == "The office cat is named Biscuit." and hit.metadata == {"by": "alice"}
    await again.clear()
    assert await again.count() == 0 and await again.query("cat") == []
    await again.add("A fresh start after clearing.")  # the collection is back after clear
    assert await again.count() == 1


async def test_a_clear_by_another_store_on_the_same_folder(make_store: Callable[..., ChromaStore]) -> None:
    first, second = make_store(), make_store()
    await first.add("one")
    await second.clear()  # drops and recreates the collection under first's feet
    assert await first.count() == 0
    await first.add("two")
    assert await second.count() == 1


async def test_collection_option_and_custom_path(
    make_store: Callable[..., ChromaStore], tmp_path: Path
) -> None:
    a = make_store("a", collection="shared")
    b = make_store("b", collection="shared", path=a.path)
    assert a.collection == b.collection
    await a.add("written through a")
    assert await b.count() == 1

    elsewhere = make_store("c", path=tmp_path / "chroma" / "kb")
    assert elsewhere.path == (tmp_path / "chroma" / "kb").resolve() and elsewhere.path.is_dir()
    await elsewhere.add("lives elsewhere")
    assert await elsewhere.count() == 1

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(MemoryError_, match="is a file, not a folder"):
        make_store("d", path=tmp_path / "a-file")


async def test_persist_false_is_run_only(make_store: Callable[..., ChromaStore], massmem_home: Path) -> None:
    store = make_store("scratch", persist=False)
    other = make_store("scratch", persist=False)  # chroma shares one in-memory database per process
    assert store.path is None
    await store.add("only for this run")
    assert [h.content for h in await store.query("this run")] == ["only for this run"]
    assert await other.count() == 0
    await store.close()
    again = make_store("scratch", persist=False)
    assert await again.count() == 0
    assert not (massmem_home / "memory_stores" / "chroma-scratch").exists()
    with pytest.raises(MemoryError_, match="path only applies"):
        make_store("x", persist=False, path=massmem_home / "x")


# ----------------------------------------------------------------------------- config


async def test_built_from_config(embedder: LocalEmbedder, massmem_home: Path, tmp_path: Path) -> None:
    store = build_store(store_config(name="kb", type="chroma", config={"collection": "handbook"}))
    try:
        assert isinstance(store, ChromaStore) and store.persist and store.writable
        assert store.collection.startswith("massmem_store_handbook_")
        assert store.path == (massmem_home / "memory_stores" / "chroma-kb").resolve()
        await store.add("Expenses are filed by the fifth of the month.")
        assert (await store.query("when are expenses filed", top_k=1))[0].score > 0.4
    finally:
        await store.close()

    run_only = build_store(store_config(name="tmp", type="chroma", config={"persist": False}))
    assert isinstance(run_only, ChromaStore) and run_only.path is None
    await run_only.close()

    placed = build_store(store_config(name="p", type="chroma", config={"path": str(tmp_path / "db")}))
    assert isinstance(placed, ChromaStore) and placed.path == (tmp_path / "db").resolve()
    await placed.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": "x", "persist": False}, "path only applies with persist: true"),
        ({"collection": "../up"}, "not a safe name"),
        ({"path": "  "}, "path must be a folder"),
        ({"distance": "l2"}, "Extra inputs"),
    ],
)
def test_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store_config(name="kb", type="chroma", config=options)


def test_a_missing_chromadb_names_the_extra(monkeypatch: pytest.MonkeyPatch, massmem_home: Path) -> None:
    monkeypatch.setitem(sys.modules, "chromadb", None)  # import chromadb -> ImportError
    with pytest.raises(MemoryError_, match=r"pip install 'massmem\[chroma\]'"):
        build_store(store_config(name="kb", type="chroma"))
    assert not (massmem_home / "memory_stores" / "chroma-kb").exists()


# ----------------------------------------------------------------------------- agents


async def test_an_agent_writes_and_another_reads(embedder: LocalEmbedder, tmp_path: Path) -> None:
    config = TeamConfig.model_validate(
        {
            "agents": [
                {"id": "alice", "backend": {"type": "scripted"}, "memories": [{"name": "kb", "write": True}]},
                {"id": "bob", "backend": {"type": "scripted"}, "memories": [{"name": "kb"}]},
            ],
            "memory_stores": [{"name": "kb", "type": "chroma"}],
        }
    )
    orchestrator = Orchestrator.from_config(config)
    alice, bob = orchestrator.agents
    binding = bind_memory(config, orchestrator.agents, session_id="s", log_dir=tmp_path)
    assert binding is not None
    kb = binding.stores["kb"]
    assert isinstance(kb, ChromaStore)
    try:
        await kb.add("Release trains leave every second Thursday.")

        scripted(alice).replies = [
            AnswerReply("Releases go out every second Thursday."),
            VoteReply("agent1", "mine is complete"),
        ]
        scripted(bob).replies = [VoteReply("agent1", "agreed with the Thursday answer")]
        result = await orchestrator.run("When do releases go out?")
        assert result.winner == "alice"

        message = scripted(bob).requests[0].messages[0]
        assert isinstance(message, SystemMessage)
        assert "MEMORY STORE 'kb' (chroma)" in message.content and "second Thursday" in message.content

        rows = await kb.query("releases every second Thursday", top_k=10)
        kinds = {(h.metadata.get("agent_id"), h.metadata.get("kind")) for h in rows}
        assert ("alice", "answer") in kinds and ("alice", "vote") in kinds
        assert all(h.metadata.get("agent_id") != "bob" for h in rows)  # bob only reads
    finally:
        await binding.aclose()
    with pytest.raises(MemoryError_, match="closed"):
        await kb.count()


# ----------------------------------------------------------------------------- no network


async def test_chroma_never_embeds_downloads_or_reports(
    make_store: Callable[..., ChromaStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.telemetry.product import ProductTelemetryClient
    from chromadb.telemetry.product.posthog import Posthog
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("chroma tried to embed, download or report")

    monkeypatch.setattr(ONNXMiniLM_L6_V2, "__call__", forbidden)
    monkeypatch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", forbidden)
    monkeypatch.setattr(Posthog, "capture", forbidden)

    store = make_store()
    await store.add("The office cat is named Biscuit.")
    assert (await store.query("cat", top_k=1))[0].content.startswith("The office cat")
    await store.clear()

    system = SharedSystemClient._identifier_to_system[str(store.path)]
    telemetry = system.instance(ProductTelemetryClient)
    assert type(telemetry).__name__ == "NoTelemetry" and not isinstance(telemetry, Posthog)
    assert telemetry.capture(object()) is None  # type: ignore[arg-type]
    assert system.settings.anonymized_telemetry is False
    assert system.settings.chroma_otel_collection_endpoint == ""


def test_no_download_no_socket_in_a_fresh_process(tmp_path: Path) -> None:
    """A whole add/query/clear run with every outgoing socket refused and a fresh HOME: nothing
    is fetched, and chroma's model and telemetry folder (~/.cache/chroma) never appears."""
    home = tmp_path / "home"
    home.mkdir()
    script = textwrap.dedent(
        """
        import asyncio, json, socket

        attempts = []

        def refuse(self, address, *args, **kwargs):
            attempts.append(repr(address))
            raise OSError("network is off in this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = lambda address, *a, **k: refuse(None, address)

        from massmem.memory.stores import build_store
        from massmem.config.schema import TeamConfig

        entry = {"name": "kb", "type": "chroma"}
        team = TeamConfig.model_validate(
            {"agents": [{"id": "a", "backend": {"type": "scripted"}}], "memory_stores": [entry]}
        )

        async def main():
            store = build_store(team.memory_stores[0])
            await store.add("The office cat is named Biscuit.", metadata={"n": {"x": 1}})
            hits = await store.query("cat name", top_k=1)
            await store.clear()
            await store.close()
            return hits[0].content, hits[0].metadata

        content, metadata = asyncio.run(main())
        print(json.dumps({"content": content, "metadata": metadata, "attempts": attempts}))
        """
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MASSMEM_HOME": str(tmp_path / "massmem_home"),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "content": "The office cat is named Biscuit.",
        "metadata": {"n": {"x": 1}},
        "attempts": [],
    }
    assert not (home / ".cache" / "chroma").exists()
    assert (tmp_path / "massmem_home" / "memory_stores" / "chroma-kb" / "chroma.sqlite3").is_file()
