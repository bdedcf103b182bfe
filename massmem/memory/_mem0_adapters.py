"""massmem's pieces in mem0's shapes (imported only once mem0 is; never at massmem start-up).

* :class:`Mem0Embedding` — mem0's embedder interface over a massmem :class:`Embedder`
  (the shared local model by default).
* :class:`AgentExtractionLLM` — mem0's LLM interface over a sync ``extract_fn``.
* :class:`CapturingLLM` — wraps whatever LLM mem0 uses and records its answers per thread.
* :class:`SyncedVectorStore` — wraps mem0's Qdrant wrapper so every write also reaches the
  store's lexical index and mirror, and every call holds the store's lock where local
  Qdrant needs it.
* :func:`build_memory` — a ``mem0.Memory`` on a shared :class:`~massmem.memory.qdrant_store.Store`.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from massmem.memory.mem0_setup import import_mem0

import_mem0()

from mem0 import Memory  # noqa: E402
from mem0.embeddings.base import EmbeddingBase  # noqa: E402
from mem0.llms.base import LLMBase  # noqa: E402

from massmem.memory.embedder import Embedder  # noqa: E402
from massmem.memory.extraction import ExtractFn, capture  # noqa: E402
from massmem.memory.qdrant_store import Store  # noqa: E402

__all__ = ["AgentExtractionLLM", "CapturingLLM", "Mem0Embedding", "SyncedVectorStore", "build_memory"]

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


class SyncedVectorStore:
    """mem0's vector-store wrapper with the store's lock and index upkeep around each call."""

    _WRITES = frozenset({"insert", "update", "delete", "delete_col", "reset", "create_col"})

    def __init__(self, inner: Any, store: Store) -> None:
        self._inner = inner
        self._store = store

    @property
    def collection_name(self) -> str:
        return self._inner.collection_name

    def insert(self, vectors: list, payloads: list | None = None, ids: list | None = None) -> Any:
        with self._store.lock:
            result = self._inner.insert(vectors=vectors, payloads=payloads, ids=ids)
            if ids is not None:
                self._store.after_upsert(
                    self.collection_name, [str(i) for i in ids], vectors, payloads or [{}] * len(ids)
                )
        return result

    def update(self, vector_id: Any, vector: list | None = None, payload: dict | None = None) -> Any:
        with self._store.lock:
            result = self._inner.update(vector_id=vector_id, vector=vector, payload=payload)
            self._store.after_change(self.collection_name, str(vector_id))
        return result

    def delete(self, vector_id: Any) -> Any:
        with self._store.lock:
            result = self._inner.delete(vector_id=vector_id)
            self._store.after_delete(self.collection_name, [str(vector_id)])
        return result

    def delete_col(self) -> Any:
        with self._store.lock:
            result = self._inner.delete_col()
            self._store.forget_collection(self.collection_name)
        return result

    def reset(self) -> Any:
        with self._store.lock:
            result = self._inner.reset()
            self._store.forget_collection(self.collection_name)
        return result

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or not self._store.is_local:
            return attr
        store = self._store

        def locked(*args: Any, **kwargs: Any) -> Any:
            with store.lock:
                return attr(*args, **kwargs)

        return locked


class _MassmemMemory(Memory):
    """mem0's Memory whose lazily built entity store also goes through the store's lock."""

    massmem_store: Store | None = None

    @property
    def entity_store(self) -> Any:  # type: ignore[override]
        if getattr(self, "_entity_store", None) is None:
            inner = Memory.entity_store.fget(self)  # type: ignore[attr-defined]
            if self.massmem_store is not None and not isinstance(inner, SyncedVectorStore):
                self._entity_store = SyncedVectorStore(inner, self.massmem_store)
        return self._entity_store


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
    store.ensure_collection(collection, embedder.dims)
    provider = llm_provider or "massmem"
    llm_section: dict[str, Any] = {"provider": provider}
    if provider != "massmem" and llm_config:
        llm_section["config"] = llm_config
    config = {
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "collection_name": collection,
                "embedding_model_dims": embedder.dims,
                "client": store.client,
            },
        },
        "llm": llm_section,
        "embedder": {"provider": "massmem"},
        "history_db_path": history_db_path,
        "custom_instructions": custom_instructions,
    }
    with store.lock, warnings.catch_warnings():  # building the wrapper inspects collections
        # mem0 asks for payload indexes, which local Qdrant ignores with a warning.
        warnings.filterwarnings("ignore", message="Payload indexes have no effect")
        mem = _MassmemMemory.from_config(config)
    mem.massmem_store = store
    mem.embedding_model.bind(embedder)
    if provider == "massmem":
        if extract_fn is None:
            raise ValueError("the agent extraction provider needs an extract_fn")
        mem.llm.bind(extract_fn)
    mem.llm = CapturingLLM(mem.llm)
    mem.vector_store = SyncedVectorStore(mem.vector_store, store)
    return mem
