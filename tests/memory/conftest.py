"""Memory tests run on the real embedded Qdrant and the real local embedder.

The embedder is one process-wide model, loaded once for the whole session; every test
gets its own MASSMEM_HOME (root conftest), so its store lives in a fresh folder, and the
stores a test opened are closed when it ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from massmem.config.schema import PersistentMemoryConfig, RecordingConfig, RetrievalConfig
from massmem.memory.embedder import LocalEmbedder
from massmem.memory.store import close_all_stores


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    model = LocalEmbedder()
    model.embed_one("load the model once for the whole test session")
    return model


@pytest.fixture(autouse=True)
def _close_stores(massmem_home: Path) -> Iterator[None]:
    yield
    close_all_stores()


def facts_fn(*facts: str) -> Callable[[list[dict[str, str]]], str]:
    """An extraction LLM stand-in that always answers with ``facts`` in mem0's JSON shape."""

    def extract(messages: list[dict[str, str]]) -> str:
        return json.dumps(
            {"memory": [{"id": str(i), "text": f, "attributed_to": "assistant"} for i, f in enumerate(facts)]}
        )

    return extract


@pytest.fixture
def make_memory(embedder: LocalEmbedder) -> Callable[..., Any]:
    """Build a PersistentMemory on the test's MASSMEM_HOME with the shared embedder."""
    from massmem.memory.persistent import PersistentMemory

    made: list[PersistentMemory] = []

    def make(
        agent_id: str = "agent_a",
        session_id: str = "session_1",
        *,
        session_name: str | None = None,
        llm: str = "none",
        limit: int = 5,
        exclude_recent: bool = True,
        record_all_tool_calls: bool = False,
        record_reasoning: bool = False,
        sentence_vectors: bool = True,
        **kwargs: Any,
    ) -> PersistentMemory:
        config = PersistentMemoryConfig(enabled=True, session_name=session_name, llm={"provider": llm})
        memory = PersistentMemory(
            config,
            agent_id=agent_id,
            session_id=session_id,
            embedder=embedder,
            retrieval=RetrievalConfig(limit=limit, exclude_recent=exclude_recent),
            recording=RecordingConfig(
                record_all_tool_calls=record_all_tool_calls,
                record_reasoning=record_reasoning,
                sentence_vectors=sentence_vectors,
            ),
            **kwargs,
        )
        made.append(memory)
        return memory

    yield make
    for memory in made:
        memory.close()
