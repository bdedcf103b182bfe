"""Long-term memory for one agent: record what a turn said, retrieve what matters later.

:class:`PersistentMemory` is what an agent uses.  It keeps two kinds of memory in one Qdrant
collection (mem0's layout, shared by every agent of the store):

* **raw records** — the turn's messages themselves (user messages, the answer, workflow tool
  calls; other tool calls and reasoning when the recording settings ask), split into
  passages, embedded in one batch and written straight to Qdrant with mem0's payload
  fields.  Nothing an agent said is ever lost to a weak extraction model.
* **facts** — what mem0 extracts from the turn with massmem's rules
  (:mod:`massmem.memory.extraction`), through the agent's own backend or a mem0 provider.

Every point carries ``agent_id``, ``run_id`` (the memory session), ``turn``, ``batch_id``
(one per record call), ``seq`` (order within it), ``kind`` and ``tools_used``.

Retrieval (:meth:`PersistentMemory.retrieve`) searches the agent's own memories plus those
of previous winners — the winner of turn *t* contributes only memories with turn <= *t* —
with the hybrid search of :mod:`massmem.memory.retrieval`, and :meth:`render` turns the
hits into one labelled block.  Retrieval can leave out given records (``exclude``): with
``exclude_recent`` (the default) the team leaves out what the agent's conversation already
holds, so nothing is injected twice (see :mod:`massmem.team.memory_binding`).

The blocking work (embedding, Qdrant, mem0) runs in worker threads: the async methods are
what agents call; the ``*_sync`` ones are the same code for scripts and benchmarks.
Writes to a store are serialised by the store's lock, so concurrent agents never interleave
a write.

Sessions: points are tagged with ``session_name`` when the config names one (a later run
with the same name continues it) and with the run's session id otherwise.  With
``session_name: null`` retrieval searches across all sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem import paths
from massmem.errors import MemoryError_, redact
from massmem.memory.extraction import EXTRACTION_RULES, ExtractFn, capture, dumps_for_log, parse_extraction
from massmem.memory.points import ScopeClause
from massmem.memory.recall import MemoryHit, Winner, WinnerLike, hit_from_point, render_hits, scope_clauses
from massmem.memory.recording import (
    MIN_CONTENT_CHARS,
    WORKFLOW_TOOLS,
    Entry,
    RecordResult,
    prepare_entries,
    split_passages,
)

if TYPE_CHECKING:
    from massmem.config.schema import PersistentMemoryConfig, RecordingConfig, RetrievalConfig
    from massmem.memory.embedder import Embedder
    from massmem.memory.qdrant_store import Store
    from massmem.memory.retrieval import FusionWeights

__all__ = [
    "MIN_CONTENT_CHARS",
    "WORKFLOW_TOOLS",
    "MemoryHit",
    "PersistentMemory",
    "RecordResult",
    "Winner",
    "prepare_entries",
]

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class PersistentMemory:
    """One agent's view of the long-term store."""

    def __init__(
        self,
        config: PersistentMemoryConfig | None = None,
        *,
        agent_id: str,
        session_id: str,
        retrieval: RetrievalConfig | None = None,
        recording: RecordingConfig | None = None,
        extract_fn: ExtractFn | None = None,
        embedder: Embedder | None = None,
        store: Store | None = None,
        collection: str | None = None,
        debug_dir: str | Path | None = None,
        store_raw: bool = True,
        search_all_sessions: bool | None = None,
        weights: FusionWeights | None = None,
    ) -> None:
        from massmem.config.schema import PersistentMemoryConfig, RecordingConfig, RetrievalConfig
        from massmem.memory.embedder import collection_slug, create_embedder
        from massmem.memory.retrieval import DEFAULT_WEIGHTS
        from massmem.memory.store import open_store

        self.config = config if config is not None else PersistentMemoryConfig(enabled=True)
        self.retrieval_config = retrieval if retrieval is not None else RetrievalConfig()
        self.recording = recording if recording is not None else RecordingConfig()
        self.agent_id = agent_id
        self.run_session_id = session_id
        #: the session the memories are tagged with (the configured name wins)
        self.session_id = self.config.session_name or session_id
        self.search_all_sessions = (
            self.config.session_name is None if search_all_sessions is None else search_all_sessions
        )
        self.embedder = embedder if embedder is not None else create_embedder(self.config.embedding)
        self.store = (
            store if store is not None else open_store(self.config.qdrant, on_disk=self.config.on_disk)
        )
        self.collection = collection or f"massmem_{collection_slug(self.embedder)}"
        self.store.ensure_collection(self.collection, self.embedder.dims)
        #: the run's log directory; dumps go to ``<debug_dir>/memory_debug/<agent_id>/``
        #: (a path that already ends in ``memory_debug/<agent_id>`` is taken as meant)
        self.debug_dir = _log_dir_of(Path(debug_dir), agent_id) if debug_dir is not None else None
        self.store_raw = store_raw
        self.weights = weights if weights is not None else DEFAULT_WEIGHTS
        self._extract_fn = extract_fn
        self._mem0: Any = None
        self._mem0_lock = threading.Lock()
        self._warned_no_llm = False

    # ------------------------------------------------------------------ settings

    @property
    def limit(self) -> int:
        return self.retrieval_config.limit

    @property
    def exclude_recent(self) -> bool:
        return self.retrieval_config.exclude_recent

    @property
    def extraction_provider(self) -> str:
        """``agent``, ``none``, or the mem0 provider name."""
        return (self.config.llm.provider or "agent").lower()

    @property
    def extraction_available(self) -> bool:
        provider = self.extraction_provider
        if provider in ("none", "off", "disabled"):
            return False
        if provider == "agent":
            return self._extract_fn is not None
        return True

    def bind_extractor(self, extract_fn: ExtractFn | None) -> None:
        """Set (or replace) the callable that serves ``provider: agent`` extraction."""
        with self._mem0_lock:
            self._extract_fn = extract_fn
            self._mem0 = None

    # ------------------------------------------------------------------ mem0

    def _memory(self) -> Any:
        """The mem0 ``Memory`` used for extraction (built on first use)."""
        if self._mem0 is not None:
            return self._mem0
        with self._mem0_lock:
            if self._mem0 is None:
                from massmem.memory._mem0_adapters import build_memory

                provider = self.extraction_provider
                llm_provider = "massmem" if provider in ("agent", "none", "off", "disabled") else provider
                extract_fn = self._extract_fn
                if llm_provider == "massmem" and extract_fn is None:
                    extract_fn = _no_extractor
                self._mem0 = build_memory(
                    self.store,
                    self.collection,
                    self.embedder,
                    llm_provider=llm_provider,
                    llm_config=_native_llm_config(self.config) if llm_provider != "massmem" else None,
                    extract_fn=extract_fn,
                    history_db_path=str(_history_path(self.store)),
                    custom_instructions=EXTRACTION_RULES,
                )
        return self._mem0

    # ------------------------------------------------------------------ recording

    async def record(
        self,
        messages: Sequence[Any],
        *,
        turn: int,
        reasoning: str | None = None,
        tools_used: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> RecordResult:
        """Record one turn's messages (see :func:`prepare_entries`) in a worker thread."""
        return await asyncio.to_thread(
            self.record_sync,
            messages,
            turn=turn,
            reasoning=reasoning,
            tools_used=tools_used,
            metadata=metadata,
        )

    def record_sync(
        self,
        messages: Sequence[Any],
        *,
        turn: int,
        reasoning: str | None = None,
        tools_used: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> RecordResult:
        entries, used = prepare_entries(
            messages,
            record_all_tool_calls=self.recording.record_all_tool_calls,
            record_reasoning=self.recording.record_reasoning,
            reasoning=reasoning,
        )
        tools = list(dict.fromkeys([*used, *tools_used]))
        result = RecordResult(batch_id=uuid.uuid4().hex, turn=turn)
        result.messages_sent = [{"role": e.role, "content": e.text} for e in entries]
        if not entries:
            result.skipped = (
                "nothing to record (system messages and contents under 10 characters are skipped)"
            )
            result.extraction = "skipped"
            log.debug("memory %s turn %s: %s", self.agent_id, turn, result.skipped)
            self._debug_dump(result, tools, metadata)
            return result
        base = {
            "session_id": self.session_id,
            "turn": int(turn),
            "batch_id": result.batch_id,
            "tools_used": tools,
            **dict(metadata or {}),
        }
        try:
            if self.store_raw:
                result.raw_ids = self._store_raw(entries, base)
            if self.extraction_available:
                self._extract(entries, base, result)
            elif self.extraction_provider == "agent" and not self._warned_no_llm:
                self._warned_no_llm = True
                log.info(
                    "memory %s: no extraction LLM is wired for provider 'agent'; keeping raw records only",
                    self.agent_id,
                )
        except MemoryError_:
            raise
        except Exception as exc:
            raise MemoryError_(
                f"recording turn {turn} of {self.agent_id} failed: {redact(str(exc))}"
            ) from exc
        finally:
            self._debug_dump(result, tools, metadata)
        log.debug(
            "memory %s turn %s: %d raw record(s), %d fact(s), extraction %s",
            self.agent_id,
            turn,
            len(result.raw_ids),
            len(result.facts),
            result.extraction,
        )
        return result

    def _payload(
        self, text: str, role: str, base: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        now = _now()
        payload = {
            **base,
            **extra,
            "data": text,
            "hash": hashlib.md5(text.encode("utf-8")).hexdigest(),
            "created_at": now,
            "updated_at": now,
            "agent_id": self.agent_id,
            "run_id": self.session_id,
            "role": role,
        }
        return payload

    def _store_raw(self, entries: Sequence[Entry], base: Mapping[str, Any]) -> list[str]:
        texts: list[str] = []
        payloads: list[dict[str, Any]] = []
        seq = 0
        for entry in entries:
            for passage in split_passages(entry.text):
                payloads.append(
                    self._payload(passage, entry.role, base, {**entry.metadata, "kind": "raw", "seq": seq})
                )
                texts.append(passage)
                seq += 1
        if self.recording.sentence_vectors and self.store.multivector(self.collection):
            vectors = self._with_sentences(texts, [p["role"] for p in payloads])
        else:
            vectors = list(self.embedder.embed(texts))
        ids = [str(uuid.uuid4()) for _ in texts]
        self.store.upsert(self.collection, ids, vectors, payloads)
        return ids

    def _with_sentences(self, texts: Sequence[str], roles: Sequence[str]) -> list[Any]:
        """Each passage's vector; a user's passage of several sentences also gets one per sentence.

        The engine scores a point by its best vector (MaxSim), so a fact the user mentions in
        passing before asking something else is found by its own sentence.  Only the user's
        messages: that is where such asides are, and an answer's sentences would double the
        embedding work of recording.  Planted facts found at 100k records: 0.82 -> 0.90; LoCoMo
        recall@10 held out 0.763 -> 0.765; vectors of the sentences alone (no whole-text vector):
        0.747 (docs/benchmarks.md).  ``recording.sentence_vectors: false`` turns it off: a log
        whose every line is a user's several sentences embeds about twice as much.
        """
        parts = [
            split_passages(t, by_sentence=True) if role == "user" else [t]
            for t, role in zip(texts, roles, strict=True)
        ]
        extra = sorted({s for p in parts if len(p) > 1 for s in p} - set(texts))
        embedded = self.embedder.embed([*texts, *extra])  # one call: one shared forward pass
        found = dict(zip([*texts, *extra], embedded, strict=True))
        return [
            [found[t], *(found[s] for s in p)] if len(p) > 1 else found[t]
            for t, p in zip(texts, parts, strict=True)
        ]

    def _extract(self, entries: Sequence[Entry], base: Mapping[str, Any], result: RecordResult) -> None:
        memory = self._memory()
        messages = [{"role": e.role, "content": e.text} for e in entries]
        fact_meta = {k: v for k, v in base.items() if k not in ("agent_id", "run_id", "user_id")}
        fact_meta["kind"] = "fact"
        capture.reset()
        answer: Any = None
        try:
            answer = memory.add(
                messages,
                agent_id=self.agent_id,
                run_id=self.session_id,
                metadata=fact_meta,
                infer=True,
                prompt=EXTRACTION_RULES,
            )
        except Exception as exc:
            result.extraction = "error"
            result.llm_answer = capture.raw
            log.warning(
                "memory %s turn %s: fact extraction failed (%s); keeping the raw text",
                self.agent_id,
                result.turn,
                redact(str(exc)),
            )
            self._keep_raw(memory, messages, base, result)
            return
        result.llm_answer = capture.raw
        facts = list((answer or {}).get("results", []))
        result.facts = facts
        if capture.error is not None:
            result.extraction = "error"
        elif capture.calls and parse_extraction(capture.raw) is None:
            result.extraction = "unusable"
        else:
            result.extraction = "ok" if facts else "empty"
        if result.extraction in ("error", "unusable"):
            log.warning(
                "memory %s turn %s: the extraction LLM's answer was unusable (%s); keeping the raw text",
                self.agent_id,
                result.turn,
                dumps_for_log(capture.raw),
            )
            self._keep_raw(memory, messages, base, result)
        elif not facts:
            log.info("memory %s turn %s: extraction kept no facts", self.agent_id, result.turn)

    def _keep_raw(
        self, memory: Any, messages: list[dict[str, str]], base: Mapping[str, Any], result: RecordResult
    ) -> None:
        result.kept_raw = True
        if self.store_raw and result.raw_ids:
            return  # the raw records written before extraction already keep every word
        meta = {k: v for k, v in base.items() if k not in ("agent_id", "run_id", "user_id")}
        meta["kind"] = "raw"
        kept = memory.add(
            messages, agent_id=self.agent_id, run_id=self.session_id, metadata=meta, infer=False
        )
        result.raw_ids.extend(str(r["id"]) for r in (kept or {}).get("results", []))

    def _debug_dump(
        self, result: RecordResult, tools: Sequence[str], metadata: Mapping[str, Any] | None
    ) -> None:
        if self.debug_dir is None:
            return
        from massmem.memory.debug import write_memory_debug

        try:
            write_memory_debug(
                self.debug_dir,
                agent_id=self.agent_id,
                session_id=self.session_id,
                turn=result.turn,
                messages_sent=result.messages_sent,
                facts_extracted=result.facts,
                metadata={
                    "tools_used": list(tools),
                    "has_tools": bool(tools),
                    "message_count": len(result.messages_sent),
                    "batch_id": result.batch_id,
                    "raw_records": len(result.raw_ids),
                    "extraction": result.extraction,
                    "kept_raw": result.kept_raw,
                    "skipped": result.skipped,
                    **dict(metadata or {}),
                },
                llm_answer=result.llm_answer,
            )
        except Exception as exc:  # a debug aid must never break recording
            log.warning("memory %s: could not write the debug dump: %s", self.agent_id, exc)

    # ------------------------------------------------------------------ retrieval

    def scope(self, previous_winners: Iterable[WinnerLike] = ()) -> list[ScopeClause]:
        """Own memories (every turn) plus each previous winner's memories up to its winning turn."""
        session = None if self.search_all_sessions else self.session_id
        return scope_clauses(self.agent_id, session, previous_winners)

    async def retrieve(
        self,
        query: str,
        *,
        previous_winners: Iterable[WinnerLike] = (),
        limit: int | None = None,
        exclude: Collection[str] = (),
    ) -> list[MemoryHit]:
        """The most relevant memories for ``query`` (own + previous winners), best first.

        Records whose id is in ``exclude`` are left out (what the caller already has in context).
        """
        winners = list(previous_winners)
        return await asyncio.to_thread(
            self.retrieve_sync, query, previous_winners=winners, limit=limit, exclude=frozenset(exclude)
        )

    def retrieve_sync(
        self,
        query: str,
        *,
        previous_winners: Iterable[WinnerLike] = (),
        limit: int | None = None,
        exclude: Collection[str] = (),
    ) -> list[MemoryHit]:
        from massmem.memory.retrieval import hybrid_search

        wanted = limit if limit is not None else self.limit
        # Excluded records are dropped after ranking (they still lift their neighbours, which is
        # what they would do in context), so ask for enough to fill ``wanted`` without them.
        points = hybrid_search(
            self.store,
            self.collection,
            self.embedder,
            query,
            self.scope(previous_winners),
            wanted + len(exclude),
            self.weights,
        )
        return [hit_from_point(p, self.agent_id) for p in points if str(p.id) not in exclude][:wanted]

    async def retrieve_block(
        self,
        query: str,
        *,
        previous_winners: Iterable[WinnerLike] = (),
        limit: int | None = None,
        exclude: Collection[str] = (),
    ) -> str | None:
        """The rendered block to put before the agent works, or ``None`` when nothing was found."""
        hits = await self.retrieve(query, previous_winners=previous_winners, limit=limit, exclude=exclude)
        return self.render(hits) if hits else None

    #: one clearly labelled block listing the hits, most relevant first
    render = staticmethod(render_hits)

    # ------------------------------------------------------------------ housekeeping

    def count(self) -> int:
        return self.store.count(self.collection)

    def close(self) -> None:
        """Release this agent's mem0 objects (the shared store stays open for the others)."""
        with self._mem0_lock:
            mem, self._mem0 = self._mem0, None
        if mem is not None:
            with contextlib.suppress(Exception):
                mem.db.close()


def _log_dir_of(path: Path, agent_id: str) -> Path:
    if path.name == agent_id and path.parent.name == "memory_debug":
        return path.parent.parent
    return path


def _no_extractor(messages: list[dict[str, str]]) -> str:
    raise MemoryError_("no extraction LLM is wired (provider 'agent' without an extract_fn)")


def _history_path(store: Store) -> Path:
    if store.path is not None:
        return store.path / "mem0_history.sqlite3"
    folder = paths.home() / "mem0"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "history.sqlite3"


_BASE_URL_FIELD = {
    "openai": "openai_base_url",
    "ollama": "ollama_base_url",
    "lmstudio": "lmstudio_base_url",
    "vllm": "vllm_base_url",
    "deepseek": "deepseek_base_url",
    "anthropic": "anthropic_base_url",
    "xai": "xai_base_url",
    "minimax": "minimax_base_url",
}


#: mem0 provider: (the variable mem0 reads its key from, the provider's own URL, whether a key is
#: required).  mem0 sends that variable's key to whatever ``*_base_url`` it is given.
_NATIVE_KEYS: dict[str, tuple[str, str, bool]] = {
    "openai": ("OPENAI_API_KEY", "https://api.openai.com/v1", True),
    "deepseek": ("DEEPSEEK_API_KEY", "https://api.deepseek.com", True),
    "anthropic": ("ANTHROPIC_API_KEY", "https://api.anthropic.com", True),
    "xai": ("XAI_API_KEY", "https://api.x.ai/v1", True),
    "minimax": ("MINIMAX_API_KEY", "https://api.minimax.io/v1", True),
    # a vLLM server often takes no key: mem0 then sends a placeholder, which is no secret
    "vllm": ("VLLM_API_KEY", "http://localhost:8000/v1", False),
}


def _native_llm_config(config: PersistentMemoryConfig) -> dict[str, Any]:
    """mem0's config for a mem0-native extraction LLM, with the key routing of the chat backends.

    mem0 itself falls back to the provider's environment variable (``OPENAI_API_KEY``, …)
    whatever ``base_url`` it is given, so a custom ``llm.base_url`` would receive that key.
    The environment's key goes only to the provider's own URL: a custom URL needs
    ``llm.api_key`` in the config, and its absence is an error here, before any request.
    """
    llm = config.llm
    out: dict[str, Any] = {}
    if llm.model:
        out["model"] = llm.model
    if llm.api_key is not None:
        out["api_key"] = llm.api_key.get_secret_value()
    if llm.base_url:
        provider = llm.provider.lower()
        field_name = _BASE_URL_FIELD.get(provider)
        if field_name is None:
            raise MemoryError_(
                f"memory.persistent_memory.llm.base_url is not supported for provider {llm.provider!r}"
            )
        out[field_name] = llm.base_url
        variable, own_url, needs_key = _NATIVE_KEYS.get(provider, ("", "", False))
        custom = bool(variable) and llm.base_url.rstrip("/") != own_url.rstrip("/")
        if custom and llm.api_key is None and (needs_key or os.environ.get(variable)):
            raise MemoryError_(
                f"no API key for the {provider} extraction LLM at {llm.base_url}: set "
                f"memory.persistent_memory.llm.api_key ({variable} is sent only to {own_url})"
            )
    return out
