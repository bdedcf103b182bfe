"""massmem's pieces in mem0's shapes (imported only once mem0 is; never at massmem start-up).

* :class:`Mem0Embedding` — mem0's embedder interface over a massmem :class:`Embedder`
  (the shared local model by default).
* :class:`AgentExtractionLLM` — mem0's LLM interface over a sync ``extract_fn``.
* :class:`CapturingLLM` — wraps whatever LLM mem0 uses and records its answers per thread.
* :class:`StoreVectorStore` — mem0's vector-store interface over a massmem
  :class:`~massmem.memory.qdrant_store.Store`, whichever engine runs it (mem0 provider
  ``massmem``; :class:`MassmemStoreConfig` is its config).  mem0's writes get the same BM25
  vectors as massmem's own, and its keyword search is the engine's BM25.
* :func:`build_memory` — a ``mem0.Memory`` on a shared :class:`~massmem.memory.qdrant_store.Store`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

from massmem.memory.mem0_setup import import_mem0

import_mem0()

from mem0 import Memory  # noqa: E402
from mem0.embeddings.base import EmbeddingBase  # noqa: E402
from mem0.llms.base import LLMBase  # noqa: E402
from mem0.vector_stores.base import VectorStoreBase  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from massmem.errors import MemoryError_  # noqa: E402
from massmem.memory.embedder import Embedder  # noqa: E402
from massmem.memory.extraction import ExtractFn, capture  # noqa: E402
from massmem.memory.points import Equals, PointRecord  # noqa: E402
from massmem.memory.qdrant_store import Store  # noqa: E402

__all__ = [
    "AgentExtractionLLM",
    "CapturingLLM",
    "MassmemStoreConfig",
    "Mem0Embedding",
    "StoreVectorStore",
    "build_memory",
]

log = logging.getLogger(__name__)


class Mem0Embedding(EmbeddingBase):
    """mem0 embedder backed by a massmem embedder; bound after mem0 builds it."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.embedder: Embedder | None = None

    def bind(self, embedder: Embedder) -> Mem0Embedding:
        self.embedder = embedder
        self.config.embedding_dims = embedder.dims
        return self

    def _require(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("Mem0Embedding used before bind()")
        return self.embedder

    def embed(self, text: Any, memory_action: Any = None) -> list[float]:
        return [float(x) for x in self._require().embed_one(str(text))]

    def embed_batch(self, texts: Any, memory_action: Any = "add") -> list[list[float]]:
        return [[float(x) for x in row] for row in self._require().embed([str(t) for t in texts])]


class AgentExtractionLLM(LLMBase):
    """mem0 LLM that hands the prompt to a sync callable (the agent's own backend)."""

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.extract_fn: ExtractFn | None = None

    def bind(self, extract_fn: ExtractFn) -> AgentExtractionLLM:
        self.extract_fn = extract_fn
        return self

    def generate_response(
        self,
        messages: list[dict[str, str]],
        response_format: Any = None,
        tools: Any = None,
        tool_choice: str = "auto",
        **kwargs: Any,
    ) -> str:
        if self.extract_fn is None:
            raise RuntimeError("no extraction callable bound")
        answer = self.extract_fn(
            [{"role": m.get("role", "user"), "content": m.get("content", "")} for m in messages]
        )
        return "" if answer is None else str(answer)


class CapturingLLM:
    """Delegates to mem0's LLM and notes each answer (or error) in :data:`capture`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def generate_response(self, *args: Any, **kwargs: Any) -> Any:
        capture.calls += 1
        try:
            answer = self.inner.generate_response(*args, **kwargs)
        except BaseException as exc:
            capture.error = exc
            raise
        capture.raw = answer if isinstance(answer, str) else str(answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class MassmemStoreConfig(BaseModel):
    """mem0's config for provider ``massmem``: which open store, which collection."""

    collection_name: str = "mem0"
    embedding_model_dims: int = 384
    store_key: str


def _where(filters: dict[str, Any] | None) -> Equals | None:
    """mem0's filters (equality on user/agent/run ids and metadata) as massmem's :class:`Equals`."""
    if not filters:
        return None
    fields: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if isinstance(value, dict):
            if set(value) == {"eq"}:
                value = value["eq"]
            elif set(value) == {"in"} and isinstance(value["in"], list):
                value = list(value["in"])
            else:
                raise MemoryError_(
                    f"memory filter {key}: {value!r} is not supported (only equality and 'in' are)"
                )
        elif not isinstance(value, str | int | float | bool | list):
            raise MemoryError_(
                f"memory filter {key}: {value!r} is not supported (only equality and 'in' are)"
            )
        fields[key] = value
    return Equals(fields) if fields else None


class StoreVectorStore(VectorStoreBase):
    """mem0's vector store on a massmem :class:`Store` (found by key in the open-store registry)."""

    def __init__(self, collection_name: str, embedding_model_dims: int, store_key: str) -> None:
        from massmem.memory.store import store_for_key

        self.store = store_for_key(store_key)
        self.collection_name = collection_name
        self.embedding_model_dims = embedding_model_dims
        self.create_col(collection_name, embedding_model_dims, "cosine")

    def create_col(self, name: str, vector_size: int, distance: Any = "cosine") -> None:
        self.store.ensure_collection(name, int(vector_size))

    def insert(self, vectors: list, payloads: list | None = None, ids: list | None = None) -> None:
        if ids is None:
            raise MemoryError_("mem0 wrote points without ids")
        self.store.upsert(self.collection_name, [str(i) for i in ids], vectors, payloads or [{}] * len(ids))

    def search(
        self, query: str, vectors: list, top_k: int = 5, filters: dict | None = None
    ) -> list[PointRecord]:
        return self.store.query(self.collection_name, vector=vectors, where=_where(filters), limit=top_k)

    def search_batch(
        self, queries: list, vectors_list: list, top_k: int = 1, filters: dict | None = None
    ) -> list[list[PointRecord]]:
        return [
            self.search(q, v, top_k=top_k, filters=filters)
            for q, v in zip(queries, vectors_list, strict=True)
        ]

    def keyword_search(
        self, query: str, top_k: int = 5, filters: dict | None = None
    ) -> list[PointRecord] | None:
        if not query or not query.strip():
            return None
        return self.store.query(self.collection_name, text=query, where=_where(filters), limit=top_k)

    def delete(self, vector_id: Any) -> None:
        self.store.delete_points(self.collection_name, [str(vector_id)])

    def update(self, vector_id: Any, vector: list | None = None, payload: dict | None = None) -> None:
        self.store.update(self.collection_name, str(vector_id), vector=vector, payload=payload)

    def get(self, vector_id: Any) -> PointRecord | None:
        found = self.store.retrieve(self.collection_name, [str(vector_id)])
        return found[0] if found else None

    def list_cols(self) -> list[str]:
        return self.store.collections()

    def delete_col(self) -> None:
        self.store.drop_collection(self.collection_name)

    def col_info(self) -> dict[str, Any]:
        return {"name": self.collection_name, "points_count": self.store.count(self.collection_name)}

    def list(self, filters: dict | None = None, top_k: int | None = 100) -> tuple[list[PointRecord], Any]:
        points, _ = self.store.scroll(self.collection_name, _where(filters), limit=top_k or 100)
        return points, None

    def reset(self) -> None:
        self.delete_col()
        self.create_col(self.collection_name, self.embedding_model_dims)


# mem0 finds a provider's config class in ``mem0.configs.vector_stores.<provider>``.
sys.modules.setdefault("mem0.configs.vector_stores.massmem", sys.modules[__name__])


def build_memory(
    store: Store,
    collection: str,
    embedder: Embedder,
    *,
    llm_provider: str | None,
    llm_config: dict[str, Any] | None = None,
    extract_fn: ExtractFn | None = None,
    history_db_path: str,
    custom_instructions: str | None = None,
) -> Memory:
    """A mem0 ``Memory`` over ``store``'s shared client, massmem's embedder and the chosen LLM.

    ``llm_provider`` ``None`` or ``"massmem"`` uses ``extract_fn``; anything else is a mem0
    provider configured by ``llm_config``.
    """
    from massmem.memory.store import register_store

    store.ensure_collection(collection, embedder.dims)
    register_store(store)  # mem0's vector store finds it by key
    provider = llm_provider or "massmem"
    llm_section: dict[str, Any] = {"provider": provider}
    if provider != "massmem" and llm_config:
        llm_section["config"] = llm_config
    config = {
        "vector_store": {
            "provider": "massmem",
            "config": {
                "collection_name": collection,
                "embedding_model_dims": embedder.dims,
                "store_key": store.key,
            },
        },
        "llm": llm_section,
        "embedder": {"provider": "massmem"},
        "history_db_path": history_db_path,
        "custom_instructions": custom_instructions,
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        mem = Memory.from_config(config)
    mem.embedding_model.bind(embedder)
    if provider == "massmem":
        if extract_fn is None:
            raise ValueError("the agent extraction provider needs an extract_fn")
        mem.llm.bind(extract_fn)
    mem.llm = CapturingLLM(mem.llm)
    return mem
