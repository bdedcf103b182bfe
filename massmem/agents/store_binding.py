"""Named memory stores (``memory_stores`` + each agent's ``memories``) attached to agents.

Like :mod:`massmem.agents.team_memory`, this plugs in through the agent's two seams:

* a **context provider** per agent queries every store the agent reads and adds one
  labelled block per store, all of them within one token budget (the first store in
  the agent's ``memories`` list is served first; later ones get what is left);
* an **after-turn hook** per agent adds what the agent said — its ``new_answer``
  content, its ``vote`` with the reason, or plain text when it used no tool — to every
  store attached with ``write: true``.  A store attached read-only is never written.

Each query and write is reported to the running call as a
:class:`~massmem.agents.agent.MemoryActivity` (the live view shows it), logged, and with
``--debug`` written as a JSON line to ``<log dir>/memory_stores.jsonl``.  Memory is an
aid: a failing store is logged and the run goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.agents.agent import Agent, ContextBlock, MemoryActivity, TurnContext, TurnRecord

if TYPE_CHECKING:
    from massmem.config.schema import MemoryAttachment, TeamConfig
    from massmem.memory.stores.base import MemoryStore

__all__ = ["DEFAULT_BUDGET_TOKENS", "StoreBinding", "attach_memory_stores"]

log = logging.getLogger(__name__)

#: tokens all of one agent's store blocks may take per call together
DEFAULT_BUDGET_TOKENS = 1500
_EVENTS_FILE = "memory_stores.jsonl"


@dataclass
class _Seat:
    agent: Agent
    attachments: list[MemoryAttachment]
    #: stores already queried for the current question (``retrieve_stage: first_call``)
    queried: set[str] = field(default_factory=set)
    question: str | None = None


class StoreBinding:
    """The session's named stores and the agents attached to them."""

    def __init__(
        self,
        stores: Mapping[str, MemoryStore],
        *,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        log_dir: Path | None = None,
    ) -> None:
        self.stores = dict(stores)
        self.budget_tokens = budget_tokens
        self.log_dir = log_dir
        self.seats: dict[str, _Seat] = {}
        self._events_lock = threading.Lock()

    # -- building ---------------------------------------------------------------------------

    def attach(self, agent: Agent, attachments: Sequence[MemoryAttachment]) -> None:
        usable = [a for a in attachments if a.name in self.stores]
        if not usable:
            return
        seat = _Seat(agent, usable)
        self.seats[agent.id] = seat
        if any(a.read for a in usable):
            agent.context_providers.append(self._provider(seat))
        if any(a.write and self.stores[a.name].writable for a in usable):
            agent.after_turn.append(self._writer(seat))

    # -- reading ----------------------------------------------------------------------------

    def _provider(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def provide(context: TurnContext) -> list[ContextBlock]:
            if seat.question != context.question:
                seat.question = context.question
                seat.queried.clear()
            query = _query(context)
            remaining = self.budget_tokens
            blocks: list[ContextBlock] = []
            for attachment in seat.attachments:
                if not attachment.read or remaining <= 0:
                    continue
                if attachment.retrieve_stage == "first_call" and attachment.name in seat.queried:
                    continue
                seat.queried.add(attachment.name)
                text = await self._render(seat.agent, attachment, query, remaining)
                if text:
                    from massmem.context.tokens import estimate_tokens

                    remaining -= estimate_tokens(text)
                    blocks.append(ContextBlock(f"Memory store {attachment.name}", text))
            return blocks

        return provide

    async def _render(
        self, agent: Agent, attachment: MemoryAttachment, query: str, budget: int
    ) -> str | None:
        agent_id = agent.id
        store = self.stores[attachment.name]
        started = time.perf_counter()
        try:
            text = await store.update_context(
                query,
                top_k=attachment.top_k,
                similarity_threshold=attachment.similarity_threshold,
                max_tokens=budget,
            )
        except Exception as exc:
            log.warning("agent %s: memory store %s query failed: %s", agent_id, store.name, exc)
            return None
        results = 0 if not text else sum(1 for line in text.splitlines() if line.startswith("• "))
        ms = self._event(
            "memory_queried", store=store.name, agent_id=agent_id, query=query, results=results, t0=started
        )
        agent.notify(MemoryActivity(store.name, "query", query, results, ms))
        return text

    # -- writing ----------------------------------------------------------------------------

    def _writer(self, seat: _Seat):  # type: ignore[no-untyped-def]
        async def write(record: TurnRecord) -> None:
            entries = said(record)
            if not entries:
                return
            for attachment in seat.attachments:
                store = self.stores[attachment.name]
                if not attachment.write or not store.writable:
                    continue
                for kind, text in entries:
                    started = time.perf_counter()
                    metadata = {"agent_id": record.agent_id, "kind": kind, "question": record.question[:200]}
                    try:
                        await store.add(text, metadata=metadata)
                    except Exception as exc:
                        log.warning(
                            "agent %s: writing to memory store %s failed: %s",
                            record.agent_id,
                            store.name,
                            exc,
                        )
                        continue
                    ms = self._event(
                        "memory_added", store=store.name, agent_id=record.agent_id, kind=kind, t0=started
                    )
                    seat.agent.notify(MemoryActivity(store.name, "add", f"{kind}: {text[:200]}", 1, ms))

        return write

    # -- events -----------------------------------------------------------------------------

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

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        for store in self.stores.values():
            try:
                await store.close()
            except Exception as exc:  # pragma: no cover - best effort
                log.warning("closing memory store %s failed: %s", store.name, exc)


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
        out.append(("text", record.completion.text.strip()))
    return out


def attach_memory_stores(
    team: TeamConfig,
    agents: Sequence[Agent],
    *,
    log_dir: Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> StoreBinding | None:
    """Build the team's declared stores and attach them to its agents (None when none are used)."""
    wanted = {a.name for agent in team.agents for a in agent.memories}
    if not team.memory_stores or not wanted:
        return None
    from massmem.memory.stores import build_store

    stores: dict[str, MemoryStore] = {}
    for store_config in team.memory_stores:
        if store_config.name not in wanted:
            continue
        try:
            stores[store_config.name] = build_store(store_config)
        except Exception as exc:
            from massmem.errors import StoreLocked

            if isinstance(exc, StoreLocked):
                raise  # the user asked for this store; running without it would lose what it learns
            log.warning("memory store %s (%s) is unavailable: %s", store_config.name, store_config.type, exc)
    binding = StoreBinding(stores, budget_tokens=budget_tokens, log_dir=log_dir)
    by_id = {a.id: a for a in team.agents}
    for agent in agents:
        config = by_id.get(agent.id)
        if config is not None and config.memories:
            binding.attach(agent, config.memories)
    return binding


def _query(context: TurnContext) -> str:
    """The question plus the latest thing the agent was asked."""
    from massmem.messages import UserMessage

    latest = next((m.content for m in reversed(context.messages) if isinstance(m, UserMessage)), "")
    if latest and context.question and context.question not in latest:
        return f"{context.question}\n{latest[:500]}"
    return latest[:1500] or context.question
