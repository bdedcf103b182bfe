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
holds, so nothing is injected twice (see :mod:`massmem.agents.team_memory`).

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
import json
import logging
import re
import threading
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem import paths
from massmem.errors import MemoryError_, redact
from massmem.memory.extraction import EXTRACTION_RULES, ExtractFn, capture, dumps_for_log, parse_extraction
from massmem.memory.lexical import ScopeClause

if TYPE_CHECKING:
    from massmem.config.schema import PersistentMemoryConfig, RecordingConfig, RetrievalConfig
    from massmem.memory.embedder import Embedder
    from massmem.memory.retrieval import FusionWeights
    from massmem.memory.store import Store

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

#: contents shorter than this (after trimming) are not worth a memory
MIN_CONTENT_CHARS = 10
#: the coordination tools whose calls are always recorded
WORKFLOW_TOOLS = frozenset({"new_answer", "vote"})
#: longest passage embedded as one raw record (the local model reads ~256 tokens)
PASSAGE_CHARS = 1000
#: a tool result longer than this is cut before recording
TOOL_RESULT_CHARS = 8000


@dataclass(frozen=True, slots=True)
class Winner:
    """The agent whose answer won a turn."""

    agent_id: str
    turn: int


@dataclass(frozen=True, slots=True)
class MemoryHit:
    id: str
    text: str
    score: float
    agent_id: str | None
    session_id: str | None
    turn: int | None
    kind: str
    own: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RecordResult:
    batch_id: str
    turn: int
    raw_ids: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    #: ``disabled`` | ``ok`` | ``empty`` | ``unusable`` | ``error`` | ``skipped``
    extraction: str = "disabled"
    #: the raw text was kept because extraction failed
    kept_raw: bool = False
    skipped: str | None = None
    messages_sent: list[dict[str, str]] = field(default_factory=list)
    llm_answer: str | None = None


@dataclass(slots=True)
class _Entry:
    role: str
    text: str
    metadata: dict[str, Any]


def prepare_entries(
    messages: Iterable[Any],
    *,
    record_all_tool_calls: bool = False,
    record_reasoning: bool = False,
    reasoning: str | None = None,
) -> tuple[list[_Entry], list[str]]:
    """What of ``messages`` is recorded, and the names of the tools they used.

    Accepts massmem messages or plain dicts (``role``, ``content``, optional ``tool_calls``,
    ``name``, ``metadata``).  System messages are skipped; so is anything under
    :data:`MIN_CONTENT_CHARS` characters.  Workflow tool calls are always kept; other tool
    calls and tool results only with ``record_all_tool_calls``; reasoning only with
    ``record_reasoning``.
    """
    entries: list[_Entry] = []
    tools: list[str] = []

    def keep(role: str, text: str, metadata: dict[str, Any] | None = None) -> None:
        if len(text.strip()) >= MIN_CONTENT_CHARS:
            entries.append(_Entry(role, text.strip(), dict(metadata or {})))

    for message in messages:
        role, content, calls, name, metadata = _unpack(message)
        if role == "system":
            continue
        if role == "reasoning":
            if record_reasoning:
                keep("assistant", f"[Reasoning]\n{content}", metadata)
            continue
        if role in ("tool", "tool_result"):
            if record_all_tool_calls:
                text = (
                    content if len(content) <= TOOL_RESULT_CHARS else content[:TOOL_RESULT_CHARS] + " …[cut]"
                )
                keep("assistant", f"[Tool Result: {name or 'tool'}]\n{text}", metadata)
            continue
        if role == "assistant":
            keep("assistant", content, metadata)
            for call_name, arguments in calls:
                tools.append(call_name)
                if call_name in WORKFLOW_TOOLS:
                    keep("assistant", _render_workflow_call(call_name, arguments), metadata)
                elif record_all_tool_calls:
                    keep(
                        "assistant",
                        f"[Tool Call: {call_name}]\nArguments: {json.dumps(arguments, ensure_ascii=False, default=str)}",
                        metadata,
                    )
            continue
        keep("user", content, metadata)
    if reasoning and record_reasoning:
        keep("assistant", f"[Reasoning]\n{reasoning}")
    return entries, list(dict.fromkeys(tools))


def _unpack(message: Any) -> tuple[str, str, list[tuple[str, dict[str, Any]]], str | None, dict[str, Any]]:
    if isinstance(message, Mapping):
        role = str(message.get("role") or message.get("kind") or "user")
        if role == "tool_result":
            role = "tool"
        content = message.get("content")
        calls = []
        for call in message.get("tool_calls") or ():
            if isinstance(call, Mapping):
                function = call.get("function")
                fn: Mapping[str, Any] = function if isinstance(function, Mapping) else call
                args = fn.get("arguments", {})
                if isinstance(args, str):
                    try:
                        args = json.loads(args)
                    except json.JSONDecodeError:
                        args = {"raw": args}
                calls.append((str(fn.get("name", "tool")), dict(args) if isinstance(args, Mapping) else {}))
            else:
                calls.append((str(getattr(call, "name", "tool")), dict(getattr(call, "arguments", {}) or {})))
        return role, _text(content), calls, message.get("name"), dict(message.get("metadata") or {})
    kind = getattr(message, "kind", None)
    if kind is None:
        return "user", str(message), [], None, {}
    role = {"tool_result": "tool"}.get(kind, kind)
    calls = [(c.name, dict(c.arguments)) for c in getattr(message, "tool_calls", ())]
    return role, _text(getattr(message, "content", "")), calls, getattr(message, "name", None), {}


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        return "\n".join(str(p.get("text", "")) if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)


def _render_workflow_call(name: str, arguments: Mapping[str, Any]) -> str:
    if name == "new_answer":
        body = arguments.get("content") or arguments.get("answer") or ""
        if body:
            return f"[Tool Call: new_answer]\n{body}"
    if name == "vote":
        target = arguments.get("agent_id") or arguments.get("target") or "?"
        reason = arguments.get("reason") or ""
        return f"[Tool Call: vote] for {target}: {reason}".rstrip(": ")
    return f"[Tool Call: {name}]\nArguments: {json.dumps(dict(arguments), ensure_ascii=False, default=str)}"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")


def split_passages(text: str, limit: int = PASSAGE_CHARS) -> list[str]:
    """Cut ``text`` into passages of at most ``limit`` characters at paragraph or sentence ends."""
    if len(text) <= limit:
        return [text]
    pieces = [p for p in _SENTENCE_END.split(text) if p and p.strip()]
    out: list[str] = []
    current = ""
    for piece in pieces:
        while len(piece) > limit:  # a single sentence longer than a passage
            if current:
                out.append(current)
                current = ""
            out.append(piece[:limit])
            piece = piece[limit:]
        if current and len(current) + 1 + len(piece) > limit:
            out.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    if current:
        out.append(current)
    return [p.strip() for p in out if p.strip()]


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
        self.store = store if store is not None else open_store(self.config.qdrant)
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

    def _store_raw(self, entries: Sequence[_Entry], base: Mapping[str, Any]) -> list[str]:
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
        vectors = self.embedder.embed(texts)
        ids = [str(uuid.uuid4()) for _ in texts]
        self.store.upsert(self.collection, ids, vectors, payloads)
        return ids

    def _extract(self, entries: Sequence[_Entry], base: Mapping[str, Any], result: RecordResult) -> None:
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

    def scope(
        self, previous_winners: Iterable[Winner | tuple[str, int] | Mapping[str, Any]] = ()
    ) -> list[ScopeClause]:
        """Own memories (every turn) plus each previous winner's memories up to its winning turn."""
        session = None if self.search_all_sessions else self.session_id
        clauses = [ScopeClause(self.agent_id, session, None)]
        best: dict[str, int] = {}
        for winner in previous_winners:
            w = _as_winner(winner)
            if w.agent_id == self.agent_id:
                continue
            best[w.agent_id] = max(best.get(w.agent_id, w.turn), w.turn)
        clauses += [ScopeClause(agent, session, turn) for agent, turn in sorted(best.items())]
        return clauses

    async def retrieve(
        self,
        query: str,
        *,
        previous_winners: Iterable[Winner | tuple[str, int] | Mapping[str, Any]] = (),
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
        previous_winners: Iterable[Winner | tuple[str, int] | Mapping[str, Any]] = (),
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
        return [self._hit(p) for p in points if str(p.id) not in exclude][:wanted]

    def _hit(self, point: Any) -> MemoryHit:
        payload = point.payload
        turn = payload.get("turn")
        core = {
            "data",
            "hash",
            "created_at",
            "updated_at",
            "agent_id",
            "run_id",
            "session_id",
            "turn",
            "kind",
            "text_lemmatized",
        }
        return MemoryHit(
            id=point.id,
            text=str(payload.get("data", "")),
            score=float(point.score),
            agent_id=payload.get("agent_id"),
            session_id=payload.get("run_id"),
            turn=int(turn) if isinstance(turn, int | float) else None,
            kind=str(payload.get("kind", "fact")),
            own=payload.get("agent_id") == self.agent_id,
            metadata={k: v for k, v in payload.items() if k not in core},
        )

    async def retrieve_block(
        self,
        query: str,
        *,
        previous_winners: Iterable[Winner | tuple[str, int] | Mapping[str, Any]] = (),
        limit: int | None = None,
        exclude: Collection[str] = (),
    ) -> str | None:
        """The rendered block to put before the agent works, or ``None`` when nothing was found."""
        hits = await self.retrieve(query, previous_winners=previous_winners, limit=limit, exclude=exclude)
        return self.render(hits) if hits else None

    @staticmethod
    def render(hits: Sequence[MemoryHit], *, max_chars: int = 600) -> str:
        """One clearly labelled block listing ``hits``, most relevant first."""
        lines = [
            "=== RELEVANT MEMORIES (from persistent memory) ===",
            "Facts and notes from earlier work, most relevant first. They may be out of date.",
        ]
        seen: set[tuple[str | None, str]] = set()
        for hit in hits:
            text = " ".join(hit.text.split())
            if (hit.agent_id, text) in seen:  # e.g. the same vote cast twice: once is enough
                continue
            seen.add((hit.agent_id, text))
            if len(text) > max_chars:
                text = text[: max_chars - 1] + "…"
            if hit.own:
                where = f"[Turn {hit.turn}] " if hit.turn is not None else ""
            else:
                where = f"[From {hit.agent_id} Turn {hit.turn}] "
            lines.append(f"• {where}{text}")
        lines.append("=== END OF RELEVANT MEMORIES ===")
        return "\n".join(lines)

    # ------------------------------------------------------------------ housekeeping

    async def warm_up(self) -> None:
        """Load the embedding model now rather than on the first record or query."""
        await asyncio.to_thread(self.embedder.embed_one, "warm up")

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


def _as_winner(value: Winner | tuple[str, int] | Mapping[str, Any]) -> Winner:
    if isinstance(value, Winner):
        return value
    if isinstance(value, Mapping):
        return Winner(str(value["agent_id"]), int(value["turn"]))
    agent_id, turn = value
    return Winner(str(agent_id), int(turn))


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


def _native_llm_config(config: PersistentMemoryConfig) -> dict[str, Any]:
    llm = config.llm
    out: dict[str, Any] = {}
    if llm.model:
        out["model"] = llm.model
    if llm.api_key is not None:
        out["api_key"] = llm.api_key.get_secret_value()
    if llm.base_url:
        field_name = _BASE_URL_FIELD.get(llm.provider.lower())
        if field_name is None:
            raise MemoryError_(
                f"memory.persistent_memory.llm.base_url is not supported for provider {llm.provider!r}"
            )
        out[field_name] = llm.base_url
    return out
