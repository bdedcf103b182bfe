"""The memory engine under the store: Qdrant Edge in-process, old stores converted, in-memory stores,
the index step, and what a store refuses.  Real engines and the real local embedder throughout."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from massmem.config.schema import PersistentMemoryConfig, QdrantConfig
from massmem.errors import MemoryError_
from massmem.memory import edge_engine
from massmem.memory.points import Equals, ScopeClause
from massmem.memory.store import close_all_stores, open_store

TEXTS = [
    "The deploy pipeline pushes images to the Harbor registry.",
    "Caroline adopted a grey cat named Pixel in March.",
    "Our Postgres replicas lag by about 200 milliseconds.",
]


def _legacy_store(path: Path, embedder, texts: list[str]) -> list[str]:
    """A store as massmem 0.2 wrote it: qdrant-client's local mode, mem0's layout, an FTS5 file."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(path))
    client.create_collection(
        "massmem_minilm",
        vectors_config=models.VectorParams(size=embedder.dims, distance=models.Distance.COSINE),
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    ids = [str(uuid.uuid4()) for _ in texts]
    client.upsert(
        "massmem_minilm",
        points=[
            models.PointStruct(
                id=i,
                vector={"": [float(x) for x in v]},
                payload={"data": t, "agent_id": "a", "run_id": "s", "turn": n},
            )
            for n, (i, t, v) in enumerate(zip(ids, texts, embedder.embed(texts), strict=True))
        ],
    )
    client.close()
    (path / "massmem_lexical.sqlite3").write_bytes(b"old lexical cache")
    return ids


def test_an_old_store_is_converted_on_open_losing_nothing(tmp_path: Path, embedder, capsys) -> None:
    folder = tmp_path / "store"
    ids = _legacy_store(folder, embedder, TEXTS)
    store = open_store(QdrantConfig(path=str(folder)))
    assert "converted the memory store" in capsys.readouterr().err
    assert store.collections() == ["massmem_minilm"]
    assert store.count("massmem_minilm") == len(TEXTS)
    kept = {p.id: p.payload for p in store.retrieve("massmem_minilm", ids)}
    assert {kept[i]["data"] for i in ids} == set(TEXTS) and kept[ids[2]]["turn"] == 2
    hits = store.query("massmem_minilm", vector=embedder.embed_one("which cat?"), text="which cat?", limit=1)
    assert "Pixel" in hits[0].payload["data"]  # both halves answer: dense and the new BM25 vectors
    assert store.query("massmem_minilm", text="Harbor registry", limit=1)[0].id == ids[0]
    # the old files are kept aside, untouched; a second open converts nothing
    assert (folder / "legacy-qdrant-local" / "collection").is_dir()
    assert (folder / "legacy-qdrant-local" / "massmem_lexical.sqlite3").read_bytes() == b"old lexical cache"
    close_all_stores()
    again = open_store(QdrantConfig(path=str(folder)))
    assert again.count("massmem_minilm") == len(TEXTS)
    assert "converted" not in capsys.readouterr().err


def test_an_interrupted_conversion_starts_again(tmp_path: Path, embedder) -> None:
    folder = tmp_path / "store"
    _legacy_store(folder, embedder, TEXTS)
    (folder / "edge.converting" / "junk").mkdir(parents=True)  # a conversion killed half-way
    store = open_store(QdrantConfig(path=str(folder)))
    assert store.count("massmem_minilm") == len(TEXTS)
    assert not (folder / "edge.converting").exists()


def test_on_disk_false_keeps_the_store_in_memory(massmem_home: Path, embedder) -> None:
    from massmem.memory.persistent import PersistentMemory

    folder = massmem_home / "qdrant-here"
    config = PersistentMemoryConfig(
        enabled=True, on_disk=False, llm={"provider": "none"}, qdrant=QdrantConfig(path=str(folder))
    )
    memory = PersistentMemory(config, agent_id="a", session_id="s", embedder=embedder)
    memory.record_sync([{"role": "user", "content": "The staging database is called tern."}], turn=1)
    assert "tern" in memory.retrieve_sync("staging database name", limit=1)[0].text
    temporary = memory.store.engine.root
    assert not folder.exists() and temporary.exists()
    close_all_stores()
    assert not temporary.exists()  # gone with the process's stores


def test_the_index_step_keeps_answers_right(monkeypatch: pytest.MonkeyPatch, embedder) -> None:
    monkeypatch.setattr(edge_engine, "INDEX_EVERY", 40)
    store = open_store()
    store.ensure_collection("c", embedder.dims)
    texts = [f"Filler note {i} about routine maintenance of server rack {i}." for i in range(100)]
    texts[57] = "The spare key to the data centre cage is in locker 12."
    vectors = embedder.embed(texts)
    for start in range(0, len(texts), 30):  # as agents write: a turn at a time
        store.upsert(
            "c",
            [str(uuid.uuid4()) for _ in texts[start : start + 30]],
            vectors[start : start + 30],
            [
                {"data": t, "agent_id": f"a{i % 2}", "turn": i}
                for i, t in enumerate(texts)
                if start <= i < start + 30
            ],
        )
    assert store.engine._shards["c"].pending == 0  # the index step ran at 60 and at 100 points
    question = "where is the spare cage key?"
    hit = store.query(
        "c", vector=embedder.embed_one(question), text=question, where=[ScopeClause("a1")], limit=3
    )[0]
    assert "locker 12" in hit.payload["data"]
    assert (
        store.query("c", text=question, where=[ScopeClause("a0")], limit=3) == []
    )  # no a0 note has the words
    assert {
        p.payload["agent_id"]
        for p in store.query("c", text="rack maintenance", where=[ScopeClause("a0")], limit=9)
    } == {"a0"}
    assert store.query("c", text=question, where=[], limit=3) == []  # no clause: nothing in scope
    assert store.count("c", Equals({"agent_id": "a1"})) == 50
    assert store.count("c", [ScopeClause("a1", max_turn=9)]) == 5


def test_a_collection_from_before_gets_its_int8_vectors_once_and_keeps_one_vector_a_point(
    massmem_home: Path, embedder, caplog: pytest.LogCaptureFixture
) -> None:
    """A format-1 collection (one float vector a point, no int8 copies) as the previous version
    made it: optimised on its first open, then marked; its points keep one vector each."""
    import json

    folder = massmem_home / "q"
    engine = edge_engine.EdgeEngine(folder / "edge")
    shard_folder = folder / "edge" / "c"
    shard = engine._qe.EdgeShard.create(str(shard_folder), engine._config(embedder.dims, multi=False))
    texts = [f"Note {i}: the backup of volume {i} runs at {i % 24}:00." for i in range(1200)]
    texts[700] = "The spare key to the data centre cage is in locker 12."
    qe = engine._qe
    shard.update(
        qe.UpdateOperation.upsert_points(
            [
                qe.Point(str(uuid.uuid4()), {"": [float(x) for x in v]}, {"data": t})
                for t, v in zip(texts, embedder.embed(texts), strict=True)
            ]
        )
    )
    shard.flush()
    shard.close()
    meta = shard_folder / "massmem-collection.json"
    meta.write_text(json.dumps({"dims": embedder.dims, "format": 1}), encoding="utf-8")

    with caplog.at_level("WARNING", logger="massmem.memory.edge_engine"):
        store = open_store(QdrantConfig(path=str(folder)))
        question = "where is the spare cage key?"
        hits = store.query("c", vector=embedder.embed_one(question), text=question, limit=3)
    assert "preparing the faster index of c (1200 records, once)" in caplog.text
    assert "locker 12" in hits[0].payload["data"]
    assert json.loads(meta.read_text(encoding="utf-8")) == {
        "dims": embedder.dims,
        "format": 2,
        "multivector": False,
    }
    assert store.engine._open("c").shard.info().indexed_vectors_count >= 1200
    assert not store.multivector("c")
    # a new record through the store still goes in as one vector
    store.upsert(
        "c",
        ["00000000-0000-0000-0000-000000000001"],
        [embedder.embed_one("late note")],
        [{"data": "late note"}],
    )
    assert store.count("c") == 1201
    close_all_stores()
    caplog.clear()
    with caplog.at_level("WARNING", logger="massmem.memory.edge_engine"):
        open_store(QdrantConfig(path=str(folder))).count("c")
    assert "preparing" not in caplog.text  # once


def test_a_new_collection_scores_a_point_by_its_best_sentence(embedder) -> None:
    """MaxSim: a point's vectors are its whole text's and its sentences'; the best one counts."""
    store = open_store()
    store.ensure_collection("c", embedder.dims)
    assert store.multivector("c")
    aside = "By the way, my mentor at work is Adaeze Nwosu."
    message = f"{aside} Anyway: what is a good 35-minute workout I can do in a hotel room?"
    other = "How often should an old dog see the vet?"
    store.upsert(
        "c",
        ["00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"],
        [[embedder.embed_one(message), embedder.embed_one(aside)], embedder.embed_one(other)],
        [{"data": message}, {"data": other}],
    )
    question = embedder.embed_one("Who is my mentor at the company?")
    hits = store.query("c", vector=question, limit=2)
    assert hits[0].payload["data"] == message
    whole_only = float(question @ embedder.embed_one(message))
    assert hits[0].score == pytest.approx(float(question @ embedder.embed_one(aside)), abs=1e-3)
    assert hits[0].score > whole_only + 0.1  # the aside's own sentence, not the diluted whole
    kept = store.retrieve("c", [hits[0].id], with_vectors=True)[0].vector
    assert kept is not None and kept.shape == (2, embedder.dims)


def test_a_query_returns_only_the_payload_keys_asked_for(embedder) -> None:
    store = open_store()
    store.ensure_collection("c", embedder.dims)
    store.upsert(
        "c",
        [str(uuid.uuid4()) for _ in TEXTS],
        embedder.embed(TEXTS),
        [{"data": t, "batch_id": "b1", "seq": i, "agent_id": "a"} for i, t in enumerate(TEXTS)],
    )
    question = "which cat did Caroline adopt?"
    vector = embedder.embed_one(question)
    slim = store.query("c", vector=vector, text=question, limit=3, fields=("batch_id", "seq"))
    assert [set(p.payload) for p in slim] == [{"batch_id", "seq"}] * 3
    full = store.query("c", vector=vector, text=question, limit=3)
    assert [p.id for p in slim] == [p.id for p in full]
    assert "Pixel" in full[0].payload["data"]


def test_a_write_through_another_client_is_in_the_next_answer(embedder) -> None:
    """Server mode keeps nothing beside the engine: another process's write is visible at once."""
    from qdrant_client import QdrantClient, models

    from massmem.memory.qdrant_store import Store
    from massmem.memory.server_engine import ServerEngine

    client = QdrantClient(location=":memory:")
    store = Store(key="shared", engine=ServerEngine(client, "memory"))
    store.ensure_collection("c", embedder.dims)
    store.upsert("c", [str(uuid.uuid4())], embedder.embed([TEXTS[0]]), [{"data": TEXTS[0], "agent_id": "a"}])
    # "another machine" writes with its own code path, straight to the server
    other = Store(key="other", engine=ServerEngine(client, "memory"))
    other.upsert("c", [str(uuid.uuid4())], embedder.embed([TEXTS[1]]), [{"data": TEXTS[1], "agent_id": "a"}])
    hits = store.query("c", text="grey cat Pixel", limit=1)
    assert hits and "Pixel" in hits[0].payload["data"]
    assert client.count("c").count == 2
    assert client.get_collection("c").config.params.sparse_vectors["bm25"].modifier == models.Modifier.IDF


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 200])
def test_a_collection_name_never_becomes_a_path(name: str, embedder) -> None:
    store = open_store()
    with pytest.raises(MemoryError_, match="cannot be used"):
        store.ensure_collection(name, embedder.dims)


def test_a_damaged_collection_file_is_named(massmem_home: Path, embedder) -> None:
    store = open_store()
    store.ensure_collection("c", embedder.dims)
    folder = store.engine.root / "c"
    close_all_stores()
    (folder / "massmem-collection.json").write_text("{not json")
    with pytest.raises(MemoryError_, match="damaged"):
        open_store().ensure_collection("c", embedder.dims)


def test_a_server_collection_from_before_gets_bm25_vectors_on_open(embedder) -> None:
    """Older massmem wrote dense vectors only to a server; opening it gives those points BM25 vectors."""
    from qdrant_client import QdrantClient, models

    from massmem.memory.qdrant_store import Store
    from massmem.memory.server_engine import ServerEngine

    client = QdrantClient(location=":memory:")
    client.create_collection(
        "old",
        vectors_config=models.VectorParams(size=embedder.dims, distance=models.Distance.COSINE),
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    texts = [*TEXTS, ""]
    client.upsert(
        "old",
        points=[
            models.PointStruct(id=str(uuid.uuid4()), vector={"": [float(x) for x in v]}, payload={"data": t})
            for t, v in zip(texts, embedder.embed([t or " " for t in texts]), strict=True)
        ],
    )
    store = Store(key="old-server", engine=ServerEngine(client, "memory"))
    assert store.query("old", text="Harbor registry", limit=3) == []  # no BM25 vectors yet
    store.ensure_collection("old", embedder.dims)
    hits = store.query("old", text="Harbor registry", limit=3)
    assert [h.payload["data"] for h in hits] == [TEXTS[0]]
    assert store.count("old") == len(texts)  # nothing lost, nothing added


async def test_mem0_extraction_writes_through_the_server_engine(make_memory) -> None:
    """mem0 (fact extraction) on a server store: its facts carry BM25 vectors and come back."""
    from qdrant_client import QdrantClient

    from massmem.memory.qdrant_store import Store
    from massmem.memory.server_engine import ServerEngine
    from massmem.messages import AssistantMessage
    from tests.memory.conftest import facts_fn

    server = Store(key="mem0-server", engine=ServerEngine(QdrantClient(location=":memory:"), "memory"))
    memory = make_memory(
        "agent_a", store=server, llm="agent", extract_fn=facts_fn("The cache TTL for avatars is 36 hours.")
    )
    result = await memory.record([AssistantMessage("We settled the avatar cache question.")], turn=1)
    assert result.extraction == "ok"
    facts = server.query(memory.collection, text="avatars cache TTL", limit=5)
    assert any("36 hours" in p.payload["data"] and p.payload.get("kind") == "fact" for p in facts)
    hits = await memory.retrieve("how long are avatars cached?", limit=3)
    assert any("36 hours" in h.text and h.kind == "fact" for h in hits)
    server.close()
