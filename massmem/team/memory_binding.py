"""The one way memory reaches a team's agents: every kind of memory is a :class:`MemoryStore`.

An agent knows nothing about memory; the binding plugs it in through the agent's two seams,
once per agent:

* one **context provider** reads every store the agent reads (:class:`Reading`) and adds
  one labelled block per store to each call: the agent's persistent memory (scoped to its
  own memories and previous winners', each up to the turn it won), the team's shared memory,
  and the named ``memory_stores`` it attaches — these share one token budget, the first
  attached served first;
* one **after-turn hook** writes what the agent said to every store it writes at once
  (named stores: answers, votes, or its plain text), and buffers the turn for its
  persistent memory, which records it once the question is answered
  (:meth:`MemoryBinding.finish_turn`), so a team of ten agents does not run fact extraction
  after every call.

Every call retrieves, so the memories are in every request an agent sends (context blocks
are rendered per call, never stored).  With ``exclude_recent`` persistent retrieval leaves
out what the agent's conversation already holds: the records this process wrote for turns
whose questions and answers are in its history.  Records from another process — an earlier
run under the same ``session_name``, a resumed session — are not held, so they are
retrieved from the first call; once a request is rendered from a compressed view
(:attr:`TurnContext.compressed`) nothing is assumed held any more.

The binding knows no team protocol: answers and votes reach shared memory as plain data
(:meth:`MemoryBinding.answer_given`, :meth:`MemoryBinding.vote_cast`) and the winner of a
question as an agent id.  Each query and write is reported to the running call as a
:class:`~massmem.agents.agent.MemoryActivity` and, with ``--debug``, named-store events
are written as JSON lines to ``<log dir>/memory_stores.jsonl``.  Memory is an aid: any
failure here is logged and the run goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.agents import Agent, ContextBlock, TurnContext, TurnRecord
from massmem.agents.agent import MemoryActivity
from massmem.memory.recall import Winner

if TYPE_CHECKING:
    from massmem.memory.shared import SharedMemory
    from massmem.memory.stores.base import MemoryStore
    from massmem.memory.stores.mem0_store import PersistentStore

__all__ = ["DEFAULT_BUDGET_TOKENS", "MemoryBinding", "Reading", "latest_query", "said", "task_query"]

log = logging.getLogger(__name__)

#: tokens all of one agent's named-store blocks may take per call together
DEFAULT_BUDGET_TOKENS = 1500
_EVENTS_FILE = "memory_stores.jsonl"


def task_query(context: TurnContext) -> str:
    """What to search long-term memory for: the task.

    Later messages of a question are the team's own protocol (receipts, updates of other
    answers, enforcement); searched with, they find old votes and receipts rather than what
    the task is about.  The latest message stands in only when there is no question.
    """
    if context.question.strip():
        return context.question[:1500]
    return _latest(context)[:1500]


def latest_query(context: TurnContext) -> str:
    """What to search a named store for: the question plus the latest thing the agent was asked."""
    latest = _latest(context)
    if latest and context.question and context.question not in latest:
        return f"{context.question}\n{latest[:500]}"
    return latest[:1500] or context.question


def _latest(context: TurnContext) -> str:
    from massmem.messages import UserMessage

    return next((m.content for m in reversed(context.messages) if isinstance(m, UserMessage)), "")


def _no_options(context: TurnContext) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Reading:
    """How one store is read into an agent's calls."""

    store: MemoryStore
    #: the context block's label
    label: str
    top_k: int = 3
    similarity_threshold: float = 0.0
    #: queried on the first call of a question only (``retrieve_stage: first_call``)
    once_per_question: bool = False
    #: the block draws on the agent's store budget (named stores do; persistent and shared do not)
    budgeted: bool = True
    #: the store name each query is reported under as :class:`MemoryActivity` (None: not reported)
    reported_as: str | None = None
    #: each query is also a line in ``memory_stores.jsonl`` (``--debug``)
    journaled: bool = False
    query: Callable[[TurnContext], str] = latest_query
    #: the store's own query options for this call (persistent memory: its winner/turn scope)
    options: Callable[[TurnContext], Mapping[str, Any]] = _no_options


@dataclass
class _Seat:
    agent: Agent
    readings: list[Reading] = field(default_factory=list)
    #: stores written after every call with what the agent said
    writes: list[MemoryStore] = field(default_factory=list)
    #: the agent's persistent memory, which records whole turns once the question is answered
    persistent: PersistentStore | None = None
    said: list[dict[str, Any]] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    extractor_bound: bool = False
    has_provider: bool = False
    has_hook: bool = False
    #: stores already queried for the current question (``once_per_question``)
    queried: set[str] = field(default_factory=set)
    question: str | None = None


class MemoryBinding:
    """Everything a session remembers beyond one agent's working conversation."""

    def __init__(
        self,
        *,
        turn: int = 1,
        winners: Sequence[tuple[str, int]] = (),
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        log_dir: Path | None = None,
    ) -> None:
        #: the session's turn number of the question being worked on (1-based, continues on resume)
        self.turn = turn
        self.winners: list[Winner] = [Winner(a, t) for a, t in winners]
        #: ids of the records this process wrote for turns the agents' history now holds
        self.held: set[str] = set()
        self.budget_tokens = budget_tokens
        self.log_dir = log_dir
        #: the named ``memory_stores`` in use, by name
        self.stores: dict[str, MemoryStore] = {}
        self.shared: SharedMemory | None = None
        self.seats: dict[str, _Seat] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._events_lock = threading.Lock()

    # -- building ---------------------------------------------------------------------------------

    def _seat(self, agent: Agent) -> _Seat:
        seat = self.seats.get(agent.id)
        if seat is None:
            seat = self.seats[agent.id] = _Seat(agent)
        return seat

    def read(self, agent: Agent, reading: Reading) -> None:
        """``agent`` sees ``reading``'s store in every call."""
        seat = self._seat(agent)
        seat.readings.append(reading)
        if not seat.has_provider:
            seat.has_provider = True
            agent.context_providers.append(self._provider(seat))

    def write(self, agent: Agent, store: MemoryStore) -> None:
        """What ``agent`` says goes to ``store`` after every call (never to a read-only one)."""
        if not store.writable:
            return
        seat = self._seat(agent)
        seat.writes.append(store)
        self._hook(seat)

    def remember(self, agent: Agent, persistent: PersistentStore | None) -> None:
        """``agent``'s persistent memory: read with its scope, each turn recorded when answered."""
        if persistent is None:
            return
        seat = self._seat(agent)
        seat.persistent = persistent
        self._hook(seat)
        memory = persistent.memory
        self.read(
            agent,
            Reading(
                persistent,
                "Relevant memories",
                top_k=memory.limit,
                budgeted=False,
                reported_as="persistent",
                query=task_query,
                options=lambda context: {
                    "previous_winners": self.winners,
                    "exclude": self.held if memory.exclude_recent and not context.compressed else (),
                },
            ),
        )

    def share(self, agents: Sequence[Agent], shared: SharedMemory) -> None:
        """The team's shared memory: every agent reads it; answers and votes are recorded in it."""
        self.shared = shared
        for agent in agents:
            self.read(
                agent,
                Reading(
                    shared,
                    "Shared memory",
                    budgeted=False,
                    query=task_query,
                    options=lambda context: {"agent_id": context.agent_id},
                ),
            )

    def _hook(self, seat: _Seat) -> None:
        if not seat.has_hook:
            seat.has_hook = True
            seat.agent.after_turn.append(self._after_turn(seat))

    # -- per call ---------------------------------------------------------------------------------

    def _provider(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def provide(context: TurnContext) -> list[ContextBlock]:
            self._bind_extractor(seat)
            if seat.question != context.question:
                seat.question = context.question
                seat.queried.clear()
            remaining = self.budget_tokens
            blocks: list[ContextBlock] = []
            for reading in seat.readings:
                if reading.budgeted and remaining <= 0:
                    continue
                if reading.once_per_question:
                    if reading.store.name in seat.queried:
                        continue
                    seat.queried.add(reading.store.name)
                text = await self._query(
                    seat.agent, reading, context, remaining if reading.budgeted else None
                )
                if text:
                    if reading.budgeted:
                        from massmem.context.tokens import estimate_tokens

                        remaining -= estimate_tokens(text)
                    blocks.append(ContextBlock(reading.label, text))
            return blocks

        return provide

    async def _query(
        self, agent: Agent, reading: Reading, context: TurnContext, budget: int | None
    ) -> str | None:
        store = reading.store
        query = reading.query(context)
        started = time.perf_counter()
        try:
            text = await store.update_context(
                query,
                top_k=reading.top_k,
                similarity_threshold=reading.similarity_threshold,
                max_tokens=budget,
                **reading.options(context),
            )
        except Exception as exc:
            log.warning("agent %s: memory %s query failed: %s", agent.id, store.name, exc)
            return None
        if reading.reported_as is not None:
            results = 0 if not text else sum(1 for line in text.splitlines() if line.startswith("• "))
            if reading.journaled:
                ms = self._event(
                    "memory_queried",
                    store=store.name,
                    agent_id=agent.id,
                    query=query,
                    results=results,
                    t0=started,
                )
            else:
                ms = round((time.perf_counter() - started) * 1000, 2)
            agent.notify(MemoryActivity(reading.reported_as, "query", query, results, ms))
        return text

    def _bind_extractor(self, seat: _Seat) -> None:
        """Extraction through the agent's own backend, scheduled on the loop that owns it.

        Bound on the first call, from inside the running loop, because the backend's
        connections belong to that loop and mem0 calls the extractor from a worker thread.
        """
        if seat.persistent is None or seat.extractor_bound:
            return
        seat.extractor_bound = True
        memory = seat.persistent.memory
        if memory.extraction_provider == "agent":
            from massmem.memory.extraction import backend_extract_fn

            loop = asyncio.get_running_loop()
            memory.bind_extractor(backend_extract_fn(seat.agent.backend, loop=loop))

    def _after_turn(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def after(record: TurnRecord) -> None:
            if seat.persistent is not None:
                completion = record.completion
                text, calls = (
                    completion.text,
                    [{"name": c.name, "arguments": c.arguments} for c in completion.tool_calls],
                )
                if not calls and (action := _json_action(text)) is not None:
                    # An action written as JSON text is recorded as the call it stands for, not as prose.
                    text, calls = "", [action]
                if text.strip() or calls:
                    seat.said.append({"role": "assistant", "content": text, "tool_calls": calls})
                if completion.reasoning.strip():
                    seat.reasoning.append(completion.reasoning)
            if seat.writes:
                await self._write(seat, record)

        return after

    async def _write(self, seat: _Seat, record: TurnRecord) -> None:
        entries = said(record)
        for store in seat.writes:
            for kind, text in entries:
                started = time.perf_counter()
                metadata = {"agent_id": record.agent_id, "kind": kind, "question": record.question[:200]}
                try:
                    await store.add(text, metadata=metadata)
                except Exception as exc:
                    log.warning(
                        "agent %s: writing to memory store %s failed: %s", record.agent_id, store.name, exc
                    )
                    continue
                ms = self._event(
                    "memory_added", store=store.name, agent_id=record.agent_id, kind=kind, t0=started
                )
                seat.agent.notify(MemoryActivity(store.name, "add", f"{kind}: {text[:200]}", 1, ms))

    # -- shared memory ----------------------------------------------------------------------------

    def answer_given(self, agent_id: str, content: str) -> None:
        """An agent's answer, for shared memory (recorded in the background)."""
        if self.shared is not None:
            self._spawn(
                self.shared.add(content, metadata={"agent_id": agent_id, "kind": "answer", "turn": self.turn})
            )

    def vote_cast(self, agent_id: str, target: str, reason: str) -> None:
        """An agent's vote, for shared memory (recorded in the background)."""
        if self.shared is not None:
            metadata = {"agent_id": agent_id, "kind": "vote", "target": target, "turn": self.turn}
            self._spawn(self.shared.add(reason, metadata=metadata))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # -- per question -----------------------------------------------------------------------------

    async def finish_turn(self, question: str, winner: str | None) -> None:
        """Record what each agent said this turn; remember the winner for later turns."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        jobs = [
            self._record(seat, [{"role": "user", "content": question}, *seat.said])
            for seat in self.seats.values()
            if seat.persistent is not None and seat.said
        ]
        if jobs:
            await asyncio.gather(*jobs)
        self._reset_buffers()
        if winner is not None:
            self.winners.append(Winner(winner, self.turn))
        self.turn += 1

    async def _record(self, seat: _Seat, messages: list[dict[str, Any]]) -> None:
        assert seat.persistent is not None
        try:
            result = await seat.persistent.record_turn(
                messages, turn=self.turn, reasoning="\n".join(seat.reasoning) or None
            )
        except Exception as exc:
            log.warning("agent %s: recording turn %d failed: %s", seat.agent.id, self.turn, exc)
            return
        # The turn's question and answer come back as history from the next question on.
        self.held.update(result.raw_ids)
        self.held.update(str(f["id"]) for f in result.facts if isinstance(f, dict) and f.get("id"))

    def history_cleared(self) -> None:
        """The session's earlier turns left the agents' context (a reset): nothing is held any more."""
        self.held.clear()

    def abandon_turn(self) -> None:
        """Forget what was buffered for a cancelled or failed turn: it is not recorded."""
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        for seat in self.seats.values():
            seat.said.clear()
            seat.reasoning.clear()

    # -- events -----------------------------------------------------------------------------------

    def _event(self, name: str, *, t0: float, **fields: Any) -> float:
        """Log one store event (and write it to the debug file); return its duration in ms."""
        ms = round((time.perf_counter() - t0) * 1000, 2)
        log.debug("%s %s (%.1f ms)", name, fields, ms)
        if self.log_dir is None:
            return ms
        line = json.dumps({"event": name, **fields, "ms": ms, "at": time.time()}, ensure_ascii=False)
        try:
            with self._events_lock, open(self.log_dir / _EVENTS_FILE, "a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:  # pragma: no cover - a debug aid only
            log.warning("cannot write memory store events: %s", exc)
        return ms

    # -- lifecycle --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every store the binding holds (persistent, shared, named), each on its own."""
        stores: list[MemoryStore] = [s.persistent for s in self.seats.values() if s.persistent is not None]
        if self.shared is not None:
            stores.append(self.shared)
        stores += self.stores.values()
        for store in stores:
            try:
                await store.close()
            except Exception as exc:  # pragma: no cover - best effort
                log.warning("closing memory %s failed: %s", store.name, exc)


def said(record: TurnRecord) -> list[tuple[str, str]]:
    """What an agent said in one call, as (kind, text): answers, votes, or else its plain text."""
    out: list[tuple[str, str]] = []
    for call in record.completion.tool_calls:
        args = call.arguments if isinstance(call.arguments, Mapping) else {}
        if call.name == "new_answer" and str(args.get("content", "")).strip():
            out.append(("answer", str(args["content"]).strip()))
        elif call.name == "vote":
            reason = str(args.get("reason", "")).strip()
            target = str(args.get("agent_id", "")).strip()
            out.append(("vote", f"Voted for {target}: {reason}" if reason else f"Voted for {target}"))
    if not out and not record.completion.tool_calls and record.completion.text.strip():
        action = _json_action(record.completion.text)
        if action is None:
            out.append(("text", record.completion.text.strip()))
        elif action["name"] == "new_answer" and str(action["arguments"].get("content", "")).strip():
            out.append(("answer", str(action["arguments"]["content"]).strip()))
        elif action["name"] == "vote":
            out.append(("vote", f"Voted for {action['arguments'].get('agent_id', '')}".strip()))
    return out


def _json_action(text: str) -> dict[str, Any] | None:
    """A reply that is only a JSON action (``{"action": "vote", ...}``) as the tool call it stands for."""
    from massmem.coordination.tools import extract_json_action

    stripped = text.strip()
    if not stripped.startswith(("{", "```")):
        return None
    data = extract_json_action(stripped)
    if data is None or data.get("action") not in ("new_answer", "vote"):
        return None
    return {
        "name": data["action"],
        "arguments": {k: v for k, v in data.items() if k not in ("action", "share")},
    }
