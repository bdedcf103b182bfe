"""Each memory store on real storage: in memory, JSON under MASSMEM_HOME, an indexed folder,
the embedded Qdrant with the real local embedder, and persistent memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from massmem.config.schema import TeamConfig
from massmem.errors import MemoryError_, UsageError
from massmem.memory.embedder import LocalEmbedder
from massmem.memory.store import close_all_stores
from massmem.memory.stores import build_store, known_store_types, register_store
from massmem.memory.stores.base import MemoryResult, render_results
from massmem.memory.stores.blackboard import BlackboardStore
from massmem.memory.stores.file_store import FileStore, chunk_text
from massmem.memory.stores.list_store import ListStore


def store_config(**entry: Any) -> Any:
    team = TeamConfig.model_validate(
        {"agents": [{"id": "a", "backend": {"type": "scripted"}}], "memory_stores": [entry]}
    )
    return team.memory_stores[0]


# ----------------------------------------------------------------------------- registry


def test_registry_knows_the_shipped_types() -> None:
    assert known_store_types() == ["blackboard", "chroma", "file", "list", "mem0", "vector"]
    with pytest.raises(UsageError, match="known types"):
        build_store(type("C", (), {"type": "pinecone", "name": "x"})())


def test_registry_accepts_a_new_type() -> None:
    class Custom(ListStore):
        type_name = "custom"

    register_store("custom", Custom)
    try:
        assert "custom" in known_store_types()
        built = build_store(
            type("C", (), {"type": "custom", "name": "c", "config": type("O", (), {"max_items": 2})()})()
        )
        assert isinstance(built, Custom)
    finally:
        from massmem.memory.stores import _LOADED

        _LOADED.pop("custom", None)


# ----------------------------------------------------------------------------- list


async def test_list_ranks_by_overlap_then_recency() -> None:
    store = build_store(store_config(name="notes", type="list"))
    assert isinstance(store, ListStore)
    await store.add("The deploy script lives in tools/deploy.sh", metadata={"by": "a"})
    await store.add("Lunch is at noon")
    await store.add("Deploy only on Tuesdays", mime_type="text/markdown")
    hits = await store.query("how do I deploy", top_k=2)
    assert [h.content for h in hits] == [
        "Deploy only on Tuesdays",
        "The deploy script lives in tools/deploy.sh",
    ]
    assert hits[0].mime_type == "text/markdown" and hits[1].metadata == {"by": "a"}
    assert all(h.score > 0 for h in hits)
    # an empty query gives the newest entries
    assert [h.content for h in await store.query("", top_k=1)] == ["Deploy only on Tuesdays"]
    # the threshold drops the unrelated entry
    assert len(await store.query("deploy", top_k=10, similarity_threshold=0.1)) == 2
    await store.clear()
    assert await store.query("deploy") == []


async def test_list_max_items_forgets_the_oldest() -> None:
    store = ListStore("n", max_items=2)
    for word in ("one", "two", "three"):
        await store.add(word)
    assert len(store) == 2
    assert {h.content for h in await store.query("", top_k=5)} == {"two", "three"}


async def test_update_context_renders_a_labelled_block_within_budget() -> None:
    store = ListStore("notes")
    for i in range(30):
        await store.add(f"fact number {i} about deployment windows and rollback procedures in production")
    block = await store.update_context("deployment", top_k=30, max_tokens=120)
    assert block is not None
    assert block.startswith("=== MEMORY STORE 'notes' (list) ===")
    assert block.endswith("=== END OF MEMORY STORE 'notes' (list) ===")
    from massmem.context.tokens import estimate_tokens

    assert estimate_tokens(block) <= 120
    assert 1 <= block.count("• ") < 30
    assert await ListStore("empty").update_context("x") is None


def test_render_shortens_a_single_result_rather_than_dropping_it() -> None:
    text = render_results("L", [MemoryResult("word " * 400)], max_tokens=60)
    assert text is not None and text.count("• ") == 1 and "…" in text


# ----------------------------------------------------------------------------- blackboard


async def test_blackboard_is_append_only_newest_first_and_persisted(massmem_home: Path) -> None:
    config = store_config(name="board", type="blackboard", config={"max_items": 3})
    board = build_store(config)
    assert isinstance(board, BlackboardStore)
    for i in range(5):
        await board.add(f"note {i}", metadata={"i": i})
    assert [h.content for h in await board.query("", top_k=10)] == ["note 4", "note 3", "note 2"]
    path = massmem_home / "memory_stores" / "blackboard-board" / "blackboard.json"
    assert [e["content"] for e in json.loads(path.read_text())["entries"]] == ["note 2", "note 3", "note 4"]

    again = build_store(config)  # a later run
    hits = await again.query("", top_k=1)
    assert hits[0].content == "note 4" and hits[0].metadata == {"i": 4}
    await again.clear()
    assert await build_store(config).query("") == []


async def test_blackboard_without_persist_writes_nothing(massmem_home: Path) -> None:
    board = build_store(store_config(name="tmp", type="blackboard", config={"persist": False}))
    await board.add("scratch")
    assert [h.content for h in await board.query("scratch")] == ["scratch"]
    assert not (massmem_home / "memory_stores" / "blackboard-tmp" / "blackboard.json").exists()


async def test_blackboard_rejects_a_corrupt_file(massmem_home: Path) -> None:
    folder = massmem_home / "memory_stores" / "blackboard-bad"
    folder.mkdir(parents=True)
    (folder / "blackboard.json").write_text("{not json")
    with pytest.raises(MemoryError_, match="cannot read the blackboard"):
        build_store(store_config(name="bad", type="blackboard"))


# ----------------------------------------------------------------------------- file


def test_chunks_overlap_and_cut_at_breaks() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 40 for i in range(6))
    chunks = chunk_text(text, 400, 50)
    assert len(chunks) > 1 and all(len(c) <= 400 for c in chunks)
    assert all(c.startswith("Paragraph") or c[0].isalnum() for c in chunks)
    assert chunk_text("   ", 100, 10) == []


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    (root / "guides" / "deep").mkdir(parents=True)
    (root / "intro.md").write_text("# Intro\nThe staging cluster is called heron.\n")
    (root / "guides" / "deploy.md").write_text(
        "Deploys need two approvals and run from the release branch.\n"
    )
    (root / "guides" / "deep" / "billing.txt").write_text("Invoices are sent on the first working day.\n")
    (root / "guides" / "image.png").write_bytes(b"\x89PNG not text")
    (root / "notes.log").write_text("deploy logs mention approvals too\n")
    return root


async def test_file_store_filters_suffixes_and_recurses(docs: Path) -> None:
    store = build_store(
        store_config(
            name="kb",
            type="file",
            config={"path": str(docs), "suffixes": [".md", "txt"], "retrieval": "lexical"},
        )
    )
    assert isinstance(store, FileStore) and not store.writable
    hits = await store.query("how many approvals does a deploy need", top_k=3)
    assert hits[0].metadata["source"] == "guides/deploy.md"
    assert "two approvals" in hits[0].content
    assert sorted(store._files) == ["guides/deep/billing.txt", "guides/deploy.md", "intro.md"]
    assert all(h.metadata["source"] != "notes.log" for h in hits)
    block = await store.update_context("approvals deploy", top_k=1)
    assert block is not None and "[guides/deploy.md]" in block

    flat = FileStore("flat", docs, suffixes=[".md", ".txt"], recursive=False)
    flat.refresh()
    assert sorted(flat._files) == ["intro.md"]


async def test_file_store_is_read_only(docs: Path) -> None:
    store = FileStore("kb", docs)
    with pytest.raises(MemoryError_, match="read-only"):
        await store.add("anything")


async def test_file_store_rebuilds_only_changed_files(docs: Path, massmem_home: Path) -> None:
    config = store_config(name="kb", type="file", config={"path": str(docs), "retrieval": "lexical"})
    first = build_store(config)
    assert isinstance(first, FileStore)
    assert sorted(first.refresh()) == ["guides/deep/billing.txt", "guides/deploy.md", "intro.md"]
    assert (massmem_home / "memory_stores" / "file-kb" / "index.json").is_file()

    second = build_store(config)  # a later run: everything comes from the saved index
    assert isinstance(second, FileStore)
    assert second.refresh() == []
    assert second.chunk_count == first.chunk_count

    # touching the mtime alone changes nothing; changing the content re-indexes that file only
    os.utime(docs / "intro.md")
    assert second.refresh() == []
    (docs / "intro.md").write_text("# Intro\nThe staging cluster is now called osprey.\n")
    (docs / "new.md").write_text("A brand new page about osprey.\n")
    (docs / "guides" / "deploy.md").unlink()
    third = build_store(config)
    assert isinstance(third, FileStore)
    assert sorted(third.refresh()) == ["intro.md", "new.md"]
    assert sorted(third._files) == ["guides/deep/billing.txt", "intro.md", "new.md"]
    hits = await third.query("what is the staging cluster called")
    assert "osprey" in hits[0].content

    # other chunk settings invalidate the whole index
    resized = FileStore("kb", docs, chunk_chars=300, chunk_overlap=20)
    assert sorted(resized.refresh()) == ["guides/deep/billing.txt", "intro.md", "new.md"]


async def test_file_store_with_the_local_embedder(docs: Path, embedder: LocalEmbedder) -> None:
    store = FileStore("kb-sem", docs, suffixes=[".md", ".txt"], embedder=embedder)
    hits = await store.query("When do customers receive their bills?", top_k=1)
    assert hits[0].metadata["source"] == "guides/deep/billing.txt"
    assert 0.0 < hits[0].score <= 1.0
    reopened = FileStore("kb-sem", docs, suffixes=[".md", ".txt"], embedder=embedder)
    assert reopened.refresh() == []  # vectors came back from the saved index
    assert (await reopened.query("bills", top_k=1))[0].metadata["source"] == "guides/deep/billing.txt"
    assert await store.query("bills", similarity_threshold=0.99) == []


# ----------------------------------------------------------------------------- vector


async def test_vector_store_on_embedded_qdrant(embedder: LocalEmbedder, massmem_home: Path) -> None:
    from massmem.memory.store import open_store
    from massmem.memory.stores.vector import VectorStore

    store = VectorStore("facts", store=open_store(), embedder=embedder)
    await store.add("The office cat is named Biscuit.", metadata={"by": "alice"})
    await store.add("Quarterly taxes are due in April.")
    hits = await store.query("What is the name of the cat?", top_k=1)
    assert hits[0].content == "The office cat is named Biscuit." and hits[0].metadata == {"by": "alice"}
    assert hits[0].score > 0.3
    assert await store.query("cat", similarity_threshold=0.99) == []
    assert (massmem_home / "qdrant").is_dir()

    close_all_stores()  # a later process: the collection is still there
    again = VectorStore("facts", store=open_store(), embedder=embedder)
    assert await again.count() == 2
    await again.clear()
    assert await again.count() == 0


# ----------------------------------------------------------------------------- mem0


async def test_mem0_store_over_persistent_memory(embedder: LocalEmbedder) -> None:
    from massmem.memory.stores.mem0_store import Mem0Store

    config = store_config(name="longterm", type="mem0")
    store = Mem0Store.from_config(config, embedder=embedder)
    await store.add("The customer prefers invoices in euros.", mime_type="text/markdown", metadata={"k": 1})
    await store.add("Support hours are nine to five on weekdays.")
    hits = await store.query("Which currency for invoices?", top_k=1)
    assert "euros" in hits[0].content
    assert hits[0].mime_type == "text/markdown" and hits[0].metadata == {"k": 1}
    assert await store.count() == 2
    await store.clear()
    assert await store.count() == 0
    await store.close()


# ----------------------------------------------------------------------------- conversation adapter


async def test_conversation_memory_adapts_to_the_protocol() -> None:
    from massmem.memory.conversation import ConversationMemory
    from massmem.memory.stores.conversation_store import ConversationStore
    from massmem.messages import AssistantMessage, UserMessage

    memory = ConversationMemory(max_messages=10)
    memory.add(UserMessage("When does the Bluebird release ship?"), pinned=True)
    memory.add(AssistantMessage("Bluebird ships on March 14th."))
    store = ConversationStore(memory)
    await store.add("Remember: the freeze starts in December.", metadata={"role": "assistant"})
    assert isinstance(memory.messages()[-1], AssistantMessage)  # a real message, nothing else

    hits = await store.query("When does Bluebird ship?", top_k=2)
    assert [h.metadata["role"] for h in hits] == ["user", "assistant"]
    assert hits[0].score >= hits[1].score > 0
    frozen = await store.query("freeze december", similarity_threshold=0.3)
    assert [(h.content, dict(h.metadata)) for h in frozen] == [
        ("Remember: the freeze starts in December.", {"role": "assistant", "position": 2})
    ]
    block = await store.update_context("Bluebird", top_k=1)
    assert block is not None and block.startswith("=== MEMORY STORE 'conversation' (conversation) ===")
    newest = await store.query("", top_k=1)  # no words: the newest message
    assert newest[0].content.startswith("Remember")
    with pytest.raises(MemoryError_, match="role"):
        await store.add("x", metadata={"role": "robot"})
    await store.clear()
    assert len(memory) == 0 and await store.query("Bluebird") == []
