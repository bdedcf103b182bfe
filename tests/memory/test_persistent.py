"""PersistentMemory on the real embedded Qdrant and the real local embedder."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from massmem.memory.recall import Winner
from massmem.memory.recording import prepare_entries
from massmem.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage
from tests.memory.conftest import facts_fn


def _texts(hits) -> list[str]:
    return [h.text for h in hits]


async def test_record_then_retrieve_across_turns(make_memory) -> None:
    memory = make_memory()
    await memory.record(
        [
            UserMessage("Which database holds the billing data?"),
            AssistantMessage("The billing service stores invoices in PostgreSQL 16 on the primary cluster."),
        ],
        turn=1,
    )
    await memory.record(
        [
            UserMessage("How do we cache sessions?"),
            AssistantMessage("Session tokens are cached in Redis 7 with a 30 minute expiry."),
        ],
        turn=2,
    )
    hits = await memory.retrieve("where are invoices stored?")
    assert hits and "PostgreSQL 16" in hits[0].text
    assert hits[0].turn == 1 and hits[0].own and hits[0].kind == "raw"
    hits = await memory.retrieve("session token expiry in the cache")
    assert "Redis 7" in hits[0].text and hits[0].turn == 2
    assert memory.count() == 4


async def test_a_users_message_keeps_a_vector_per_sentence(make_memory, embedder) -> None:
    """A user's message of several sentences is one record with its whole text's vector and one
    per sentence (the engine scores it by the best: see test_engines); an answer keeps one."""
    memory = make_memory(limit=3)
    aside = "By the way, my locker combination at the gym is 4-17-32."
    asked = "Anyway: how much paint do I need for a 12-square-metre living room?"
    result = await memory.record(
        [UserMessage(f"{aside} {asked}"), AssistantMessage("About 3 litres for two coats.")], turn=1
    )
    user, answer = memory.store.retrieve(memory.collection, result.raw_ids, with_vectors=True)
    assert user.payload["data"] == f"{aside} {asked}" and answer.payload["role"] == "assistant"
    assert user.vector.shape == (3, embedder.dims) and answer.vector.shape == (1, embedder.dims)
    expected = embedder.embed([f"{aside} {asked}", aside, asked])
    assert float((user.vector * expected).sum(axis=1).min()) > 0.99  # whole, then each sentence
    hits = await memory.retrieve("What's the code that opens my locker at the gym?")
    assert hits[0].text == f"{aside} {asked}"
    assert memory.count() == 2  # the sentences are vectors, not records


async def test_sentence_vectors_can_be_turned_off(make_memory) -> None:
    memory = make_memory(sentence_vectors=False)
    result = await memory.record(
        [UserMessage("By the way, my locker code is 4-17-32. Anyway: how do I paint a wall?")], turn=1
    )
    (user,) = memory.store.retrieve(memory.collection, result.raw_ids, with_vectors=True)
    assert user.vector.shape == (1, memory.embedder.dims)  # the whole text's vector alone


async def test_limit_is_respected(make_memory) -> None:
    memory = make_memory(limit=2)
    await memory.record(
        [AssistantMessage(f"Fact number {i} about the deployment pipeline.") for i in range(6)], turn=1
    )
    assert len(await memory.retrieve("deployment pipeline")) == 2
    assert len(await memory.retrieve("deployment pipeline", limit=4)) == 4


async def test_named_session_continues_and_stays_isolated(make_memory) -> None:
    first_run = make_memory(session_id="run_1", session_name="project_x")
    await first_run.record(
        [AssistantMessage("Project X ships its API behind an nginx reverse proxy.")], turn=1
    )
    other = make_memory(session_id="run_2", session_name="project_y")
    await other.record([AssistantMessage("Project Y ships its API behind a Caddy reverse proxy.")], turn=1)

    later_run = make_memory(session_id="run_3", session_name="project_x")
    texts = _texts(await later_run.retrieve("reverse proxy in front of the API"))
    assert any("nginx" in t for t in texts)
    assert not any("Caddy" in t for t in texts)


async def test_session_name_null_searches_across_sessions(make_memory) -> None:
    monday = make_memory(session_id="session_monday")
    await monday.record([AssistantMessage("The staging cluster runs in the eu-west-1 region.")], turn=1)
    tuesday = make_memory(session_id="session_tuesday")
    await tuesday.record([AssistantMessage("The production cluster runs in the us-east-2 region.")], turn=1)

    wednesday = make_memory(session_id="session_wednesday")
    assert wednesday.search_all_sessions
    texts = _texts(await wednesday.retrieve("which region does each cluster run in"))
    assert any("eu-west-1" in t for t in texts) and any("us-east-2" in t for t in texts)
    hits = await wednesday.retrieve("staging cluster region")
    assert hits[0].session_id == "session_monday"


async def test_previous_winners_are_filtered_by_turn(make_memory) -> None:
    winner = make_memory("agent_b")
    await winner.record([AssistantMessage("Turn one finding: the cache layer uses memcached.")], turn=1)
    await winner.record(
        [AssistantMessage("Turn two work in progress: the cache layer may move to memcached 2.")], turn=2
    )
    loser = make_memory("agent_c")
    await loser.record([AssistantMessage("Agent C notes that the cache layer is memcached too.")], turn=1)
    me = make_memory("agent_a")
    await me.record([AssistantMessage("My own note: the cache layer was benchmarked at 40k ops/s.")], turn=1)

    hits = await me.retrieve("cache layer memcached", previous_winners=[Winner("agent_b", 1)], limit=10)
    by_agent = {(h.agent_id, h.turn) for h in hits}
    assert ("agent_a", 1) in by_agent
    assert ("agent_b", 1) in by_agent
    assert ("agent_b", 2) not in by_agent  # the winner of turn 1 gives turn <= 1 only
    assert all(h.agent_id != "agent_c" for h in hits)  # never a non-winner
    winner_hit = next(h for h in hits if h.agent_id == "agent_b")
    assert not winner_hit.own

    hits = await me.retrieve("cache layer memcached", previous_winners=[("agent_b", 2)], limit=10)
    assert ("agent_b", 2) in {(h.agent_id, h.turn) for h in hits}
    assert "[From agent_b Turn 1]" in me.render(
        await me.retrieve("cache layer", previous_winners=[{"agent_id": "agent_b", "turn": 1}], limit=10)
    )
    # the scope is the filter itself: own memories at every turn, the winner up to its turn
    clauses = me.scope([Winner("agent_b", 1), Winner("agent_b", 3), Winner("agent_a", 2)])
    assert [(c.agent_id, c.max_turn) for c in clauses] == [("agent_a", None), ("agent_b", 3)]


async def test_retrieval_leaves_out_the_records_it_is_told_to(make_memory) -> None:
    memory = make_memory(exclude_recent=True)
    held = await memory.record(
        [AssistantMessage("The report generator writes PDF files with WeasyPrint.")], turn=1
    )
    await memory.record([AssistantMessage("Every night the PDF reports are archived on the NAS.")], turn=2)
    block = await memory.retrieve_block("PDF report")
    assert block is not None and "WeasyPrint" in block and "NAS" in block
    # What the caller already has in context is left out; the rest still fills the block.
    left = await memory.retrieve("PDF report", exclude=held.raw_ids)
    assert left and not any("WeasyPrint" in h.text for h in left)
    assert any("NAS" in h.text for h in left)
    assert await memory.retrieve_block("WeasyPrint", exclude=held.raw_ids, limit=1) is not None


async def test_render_is_one_labelled_block(make_memory) -> None:
    memory = make_memory(exclude_recent=False)
    await memory.record(
        [AssistantMessage("The nightly job rotates the TLS certificates with certbot.")], turn=3
    )
    block = await memory.retrieve_block("TLS certificate rotation")
    assert block is not None
    lines = block.splitlines()
    assert lines[0].startswith("=== RELEVANT MEMORIES") and lines[-1].startswith("=== END")
    assert sum(line.startswith("===") for line in lines) == 2
    # a raw passage says who said it
    assert (
        '• [Turn 3] The assistant answered: "The nightly job rotates the TLS certificates with certbot."'
        in lines
    )
    assert await memory.retrieve_block("") is None


def test_recording_rules() -> None:
    messages = [
        SystemMessage("You are agent A in a team. Vote or answer."),
        UserMessage("ok"),  # under 10 characters
        UserMessage("Compare the two sorting algorithms for large inputs."),
        AssistantMessage(
            "Merge sort keeps O(n log n) in the worst case.",
            (
                ToolCall("c1", "read_file", {"path": "sort.py"}),
                ToolCall("c2", "new_answer", {"content": "Use merge sort for worst-case guarantees."}),
                ToolCall("c3", "vote", {"agent_id": "agent_b", "reason": "clearer explanation"}),
            ),
        ),
        ToolResultMessage("c1", "read_file", "def merge_sort(xs): ..."),
        {"role": "system", "content": "orchestrator boilerplate that must never be stored"},
    ]
    entries, tools = prepare_entries(messages)
    texts = [e.text for e in entries]
    assert tools == ["read_file", "new_answer", "vote"]
    assert texts[0] == "Compare the two sorting algorithms for large inputs."
    assert any(t.startswith("[Tool Call: new_answer]") and "merge sort" in t for t in texts)
    assert any(t.startswith("[Tool Call: vote] for agent_b") for t in texts)
    assert not any("read_file" in t or "orchestrator" in t or t == "ok" for t in texts)

    entries, _ = prepare_entries(
        messages, record_all_tool_calls=True, reasoning="I compared both.", record_reasoning=True
    )
    texts = [e.text for e in entries]
    assert any(t.startswith("[Tool Call: read_file]") for t in texts)
    assert any(t.startswith("[Tool Result: read_file]") for t in texts)
    assert texts[-1] == "[Reasoning]\nI compared both."
    entries, _ = prepare_entries(messages, reasoning="I compared both.")
    assert not any("[Reasoning]" in e.text for e in entries)


async def test_record_metadata_and_skips(make_memory) -> None:
    memory = make_memory()
    result = await memory.record(
        [SystemMessage("system prompt text that is long"), UserMessage("short")], turn=1
    )
    assert result.skipped and not result.raw_ids and memory.count() == 0

    result = await memory.record(
        [
            AssistantMessage(
                "Kafka topics keep 7 days of order events.", (ToolCall("t", "vote", {"agent_id": "b"}),)
            )
        ],
        turn=4,
        tools_used=["web_search"],
        metadata={"question_id": "q-17"},
    )
    point = memory.store.retrieve(memory.collection, result.raw_ids[:1])[0]
    payload = point.payload
    assert payload["agent_id"] == "agent_a" and payload["run_id"] == "session_1"
    assert payload["session_id"] == "session_1" and payload["turn"] == 4
    assert payload["tools_used"] == ["vote", "web_search"]
    assert payload["question_id"] == "q-17" and payload["kind"] == "raw"
    assert payload["batch_id"] == result.batch_id and payload["seq"] == 0
    assert {"data", "hash", "created_at", "updated_at", "role"} <= set(payload)  # mem0's payload layout


async def test_long_messages_are_split_into_passages(make_memory) -> None:
    memory = make_memory()
    sentence = "The ingestion worker parses CSV exports from the finance team and validates every row. "
    result = await memory.record([AssistantMessage(sentence * 40 + "The final checksum is 0xBEEF.")], turn=1)
    assert len(result.raw_ids) > 1
    hits = await memory.retrieve("final checksum value")
    assert "0xBEEF" in hits[0].text


async def test_extraction_stores_facts(make_memory) -> None:
    memory = make_memory(
        llm="agent", extract_fn=facts_fn("The billing service stores invoices in PostgreSQL 16.")
    )
    result = await memory.record(
        [
            UserMessage("Where do invoices live?"),
            AssistantMessage("Invoices live in the PostgreSQL 16 billing database."),
        ],
        turn=2,
    )
    assert result.extraction == "ok" and not result.kept_raw
    assert [f["memory"] for f in result.facts] == ["The billing service stores invoices in PostgreSQL 16."]
    hits = await memory.retrieve("invoice database", limit=10)
    fact = next(h for h in hits if h.kind == "fact")
    assert fact.turn == 2 and fact.agent_id == "agent_a" and fact.session_id == "session_1"


async def test_extraction_sees_massmem_prompt(make_memory) -> None:
    seen: list[list[dict[str, str]]] = []

    def extract(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return json.dumps({"memory": []})

    memory = make_memory(llm="agent", extract_fn=extract)
    result = await memory.record(
        [AssistantMessage("We picked uvicorn with 4 workers for the API server.")], turn=1
    )
    assert result.extraction == "empty"
    prompt = "\n".join(m["content"] for m in seen[0])
    assert "uvicorn with 4 workers" in prompt
    assert "votes and their reasons" in prompt  # massmem's rules travel as custom instructions


@pytest.mark.parametrize("store_raw", [True, False])
async def test_garbage_from_a_weak_model_keeps_the_raw_text(make_memory, store_raw, caplog) -> None:
    memory = make_memory(
        llm="agent", extract_fn=lambda messages: "Sure!! here is facts: {memory: oops", store_raw=store_raw
    )
    with caplog.at_level(logging.WARNING, logger="massmem.memory.persistent"):
        result = await memory.record(
            [AssistantMessage("The data lake partitions parquet files by ingestion date.")], turn=1
        )
    assert result.extraction == "unusable" and result.kept_raw
    assert result.llm_answer.startswith("Sure!!")
    assert any("unusable" in r.getMessage() and "raw text" in r.getMessage() for r in caplog.records)
    hits = await memory.retrieve("how are parquet files partitioned")
    assert hits and "partitions parquet files by ingestion date" in hits[0].text
    assert hits[0].kind == "raw"


async def test_extraction_llm_error_keeps_the_raw_text(make_memory) -> None:
    def broken(messages: list[dict[str, str]]) -> str:
        raise TimeoutError("model server timed out")

    memory = make_memory(llm="agent", extract_fn=broken, store_raw=False)
    result = await memory.record(
        [AssistantMessage("The CDN caches images for 24 hours at the edge.")], turn=1
    )
    assert result.extraction == "error" and result.kept_raw and result.raw_ids
    assert "24 hours" in (await memory.retrieve("CDN image cache duration"))[0].text


async def test_concurrent_agents_share_one_store(make_memory) -> None:
    agents = [
        make_memory(f"agent_{i}", llm="agent", extract_fn=facts_fn(f"Agent {i} measured latency {i}0 ms."))
        for i in range(4)
    ]
    assert len({id(a.store) for a in agents}) == 1
    assert len({id(a.store.engine) for a in agents}) == 1

    async def work(i: int) -> None:
        for turn in range(1, 4):
            await agents[i].record(
                [
                    AssistantMessage(
                        f"Agent {i} turn {turn}: the p99 latency of service {i} is {turn * 10 + i} ms."
                    )
                ],
                turn=turn,
            )
            await agents[i].retrieve(f"latency of service {i}")

    await asyncio.gather(*(work(i) for i in range(4)))
    # 4 agents x 3 turns x (1 raw record + 1 fact; identical facts are deduplicated by mem0 per agent)
    assert agents[0].count() == 4 * 3 + 4
    for i, agent in enumerate(agents):
        hits = await agent.retrieve(f"p99 latency of service {i}", limit=10)
        assert {h.agent_id for h in hits} == {f"agent_{i}"}


async def test_memories_survive_a_restart(make_memory, embedder) -> None:
    from massmem.memory.store import close_all_stores

    memory = make_memory()
    await memory.record(
        [AssistantMessage("The backup job copies snapshots to cold storage nightly.")], turn=1
    )
    close_all_stores()
    reopened = make_memory(session_id="session_2")
    hits = await reopened.retrieve("where do snapshots go", limit=3)
    assert "cold storage" in hits[0].text
    assert reopened.count() == 1


async def test_debug_dump_contents(make_memory, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    memory = make_memory(
        llm="agent", extract_fn=facts_fn("Grafana dashboards read from Prometheus."), debug_dir=logs
    )
    await memory.record(
        [
            SystemMessage("ignored system prompt"),
            UserMessage("What feeds the dashboards?"),
            AssistantMessage(
                "Grafana dashboards read metrics from Prometheus.",
                (ToolCall("x", "new_answer", {"content": "Prometheus"}),),
            ),
        ],
        turn=3,
        tools_used=["web_search"],
    )
    files = list((logs / "memory_debug" / "agent_a").glob("turn_3_*.json"))
    assert len(files) == 1
    dump = json.loads(files[0].read_text())
    assert dump["agent_id"] == "agent_a" and dump["turn"] == 3 and dump["session_id"] == "session_1"
    assert [m["role"] for m in dump["messages_sent"]] == ["user", "assistant", "assistant"]
    assert dump["messages_sent"][0]["content"] == "What feeds the dashboards?"
    assert dump["facts_extracted"][0]["memory"] == "Grafana dashboards read from Prometheus."
    assert dump["extraction_count"] == 1
    assert dump["metadata"]["tools_used"] == ["new_answer", "web_search"]
    assert dump["metadata"]["has_tools"] is True and dump["metadata"]["message_count"] == 3
    assert dump["metadata"]["extraction"] == "ok"
    assert "Grafana" in dump["llm_answer"]

    # a caller that already resolved the per-agent folder gets the same layout, not a nested one
    from massmem.memory.debug import debug_dir_for

    other = make_memory("agent_b", debug_dir=debug_dir_for(logs, "agent_b"))
    await other.record([AssistantMessage("Loki keeps the application logs for 14 days.")], turn=1)
    assert len(list((logs / "memory_debug" / "agent_b").glob("turn_1_*.json"))) == 1


async def test_server_engine_answers_like_the_local_engine(make_memory) -> None:
    """The server code path (qdrant-client's Query API, here over its in-memory mode: everything
    but the socket) ranks and scopes exactly like the in-process Qdrant Edge engine."""
    from qdrant_client import QdrantClient

    from massmem.memory.qdrant_store import Store
    from massmem.memory.server_engine import ServerEngine

    server = Store(key="test-server", engine=ServerEngine(QdrantClient(location=":memory:"), "memory"))
    memories = {
        "local": (make_memory("agent_a"), make_memory("agent_b")),
        "server": (make_memory("agent_a", store=server), make_memory("agent_b", store=server)),
    }
    results = {}
    for name, (me, winner) in memories.items():
        assert me.store.mode == ("server" if name == "server" else "local")
        await winner.record([AssistantMessage("Turn one: the queue is RabbitMQ with quorum queues.")], turn=1)
        await winner.record(
            [AssistantMessage("Turn two draft: maybe move the queue to NATS JetStream.")], turn=2
        )
        await me.record([AssistantMessage("My note: the queue handles 5k messages per second.")], turn=1)
        hits = await me.retrieve("which queue technology", previous_winners=[Winner("agent_b", 1)], limit=10)
        results[name] = sorted((h.agent_id, h.turn, h.text, round(h.score, 4)) for h in hits)
    assert results["local"] == results["server"]  # same points, same fused scores
    assert {(a, t) for a, t, _, _ in results["server"]} == {("agent_a", 1), ("agent_b", 1)}
    server.close()
