"""Pieces of retrieval and extraction that need no model: re-ranking, BM25 vectors, parsing,
the backend bridge, the doctor, and the benchmark's evidence normalisation."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import threading
from pathlib import Path

import pytest

from massmem.backends.scripted import ScriptedBackend
from massmem.memory.bm25 import encode_documents, encode_query
from massmem.memory.extraction import backend_extract_fn, parse_extraction, to_backend_messages
from massmem.memory.retrieval import Candidate, FusionWeights, fuse
from massmem.messages import SystemMessage, UserMessage

ROOT = Path(__file__).resolve().parents[2]


def test_without_context_the_engine_score_decides() -> None:
    ranked = fuse(
        [Candidate("b", 1.2), Candidate("a", 1.9), Candidate("c", 0.1)], FusionWeights(neighbour=0, group=0)
    )
    assert [i for i, _ in ranked] == ["a", "b", "c"]
    assert ranked[-1][1] == 0.0  # scores are lifted off the weakest candidate


def test_neighbour_and_turn_context_lift_a_quiet_answer() -> None:
    question = Candidate("question", 1.8, group="t1", seq=0)
    answer = Candidate("answer", 0.3, group="t1", seq=1)
    stray = Candidate("stray", 0.35, group="t2", seq=0)
    filler = [Candidate(f"f{i}", 0.2, group=f"g{i}", seq=0) for i in range(5)]
    plain = dict(fuse([question, answer, stray, *filler], FusionWeights(neighbour=0, group=0)))
    assert plain["stray"] > plain["answer"]
    lifted = dict(fuse([question, answer, stray, *filler]))
    assert lifted["answer"] > lifted["stray"]


def test_fusion_handles_degenerate_pools() -> None:
    assert fuse([]) == []
    assert fuse([Candidate("only", 0.5)]) == [("only", 0.0)]


def test_bm25_vectors_drop_stop_words_and_stem() -> None:
    question = encode_query("When did Caroline go to the LGBTQ support groups?")
    keywords = encode_query("caroline supporting group LGBTQ go")
    assert question is not None and keywords is not None
    assert set(question[0]) == set(keywords[0])  # stop words gone, "supporting"/"groups" stemmed
    assert question[1] == [1.0] * len(question[0])  # a query weighs each word once
    assert encode_query("what is it?") is None  # nothing but stop words
    document, empty = encode_documents(["Caroline went to the support group on Tuesday", ""])
    assert empty is None and document is not None
    assert set(encode_query("support group")[0]) <= set(document[0])  # type: ignore[index]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"memory": [{"id": "0", "text": "A fact."}]}', [{"id": "0", "text": "A fact."}]),
        ('```json\n{"memory": []}\n```', []),
        ('Here you go: {"memory": [{"text": "B"}]} hope it helps', [{"text": "B"}]),
        ("Sure! The facts are: Postgres.", None),
        ('[{"text": "a bare list"}]', None),
        ('{"memory": [{"fact": "no text key"}]}', None),
        ('{"memory": [{"text": "cut off', None),
        (None, None),
    ],
)
def test_parse_extraction(answer, expected) -> None:
    assert parse_extraction(answer) == expected


def test_backend_messages_replace_mem0_system_prompt() -> None:
    converted = to_backend_messages(
        [{"role": "system", "content": "x" * 30000}, {"role": "user", "content": "## New Messages"}]
    )
    assert isinstance(converted[0], SystemMessage) and len(converted[0].content) < 2000
    assert converted[1] == UserMessage("## New Messages")


async def test_backend_extract_fn_runs_off_the_event_loop() -> None:
    reply = json.dumps({"memory": [{"id": "0", "text": "Fact from the agent's own model."}]})
    backend = ScriptedBackend([reply])
    loop = asyncio.get_running_loop()
    extract = backend_extract_fn(backend, loop=loop)
    ticks = 0
    stop = threading.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    beat = asyncio.create_task(heartbeat())
    answer = await asyncio.to_thread(
        extract, [{"role": "system", "content": "mem0"}, {"role": "user", "content": "hi"}]
    )
    stop.set()
    await beat
    assert parse_extraction(answer) == [{"id": "0", "text": "Fact from the agent's own model."}]
    request = backend.requests[0]
    assert request.messages[0].content.startswith("You turn a conversation")
    assert request.response_format is not None and request.tool_choice == "none"
    with pytest.raises(RuntimeError, match="worker thread"):
        extract([{"role": "user", "content": "on the loop"}])
    # without a loop it runs on a private one in the calling thread
    assert (
        parse_extraction(
            await asyncio.to_thread(backend_extract_fn(backend), [{"role": "user", "content": "x"}])
        )
        is not None
    )


def test_doctor_reports_one_line_per_check(embedder) -> None:
    from massmem.memory.doctor import check_memory_setup, checks_passed, format_checks
    from tests.memory.conftest import facts_fn

    checks = check_memory_setup(extract_fn=facts_fn("The doctor checked the umbrella."))
    text = format_checks(checks)
    assert [c.name for c in checks] == [
        "API keys",
        "embedder",
        "extraction LLM",
        "Qdrant",
        "record -> retrieve",
    ]
    assert checks_passed(checks), text
    assert len(text.splitlines()) == 5
    assert "[PASS] extraction LLM" in text
    from massmem.memory.onnx_minilm import precision

    # the embedder's line says which model this CPU runs (int8 or float32): it explains its speed
    assert f"(onnx, {precision()} runtime)" in text.splitlines()[1]

    bad = check_memory_setup(extract_fn=lambda messages: "no json here")
    assert not checks_passed(bad)
    assert "[FAIL] extraction LLM" in format_checks(bad)


def test_doctor_names_missing_keys() -> None:
    from massmem.config.schema import PersistentMemoryConfig
    from massmem.memory.doctor import check_memory_setup

    config = PersistentMemoryConfig(
        enabled=True, embedding={"provider": "openai"}, llm={"provider": "openai"}
    )
    keys = check_memory_setup(config)[0]
    assert keys.status == "fail" and "OPENAI_API_KEY" in keys.detail


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_retrieval", ROOT / "scripts" / "bench_retrieval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_retrieval"] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_normalises_evidence(tmp_path: Path) -> None:
    bench = _bench_module()
    assert bench.normalise_evidence(["D:11:26", "D8:6; D9:17", "D01:05", "D", "D3:4"]) == [
        "D11:26",
        "D8:6",
        "D9:17",
        "D1:5",
        "D3:4",
    ]
    data = [
        {
            "sample_id": "x",
            "conversation": {
                "speaker_a": "A",
                "speaker_b": "B",
                "session_1_date_time": "1 May 2023",
                "session_1": [
                    {"speaker": "A", "dia_id": "D1:1", "text": "hello there"},
                    {"speaker": "B", "dia_id": "D1:2", "text": "look", "blip_caption": "a photo of a cat"},
                ],
            },
            "qa": [
                {"question": "q1", "answer": "a", "evidence": ["D1:2", "D7:7"], "category": 4},
                {"question": "q2", "answer": "a", "evidence": ["D9:9"], "category": 1},
                {"question": "q3", "answer": "a", "evidence": ["D1:1"], "category": 5},
            ],
        }
    ]
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(data))
    [conv] = bench.load_conversations(path)
    assert conv.turns[1].document == "(1 May 2023) B: look [shares a photo of a cat]"
    assert [(q.text, q.evidence) for q in conv.questions] == [("q1", {"D1:2"})]
    assert conv.skipped_questions == 1 and conv.dropped_ids == 2
