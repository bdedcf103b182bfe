"""A team's memory as its config declares it, bound to its agents (:func:`bind_memory`).

Which agents get persistent memory (the team's switch, each agent's override), with which
retrieval settings; whether the team shares a memory, and whether that is kept in the
long-term store too; which named ``memory_stores`` are built and who reads and writes them.
Everything is bound through one :class:`~massmem.team.memory_binding.MemoryBinding`.

A store held by another process (:class:`~massmem.errors.StoreLocked`) stops the run: the
user asked for memory, and running without it would lose what the run learns.  Any other
store that cannot be opened is logged and left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from massmem.errors import StoreLocked
from massmem.team.memory_binding import DEFAULT_BUDGET_TOKENS, MemoryBinding, Reading

if TYPE_CHECKING:
    from massmem.agents import Agent
    from massmem.config.schema import MemoryAttachment, RetrievalConfig, TeamConfig
    from massmem.coordination.events import Event
    from massmem.memory.stores.base import MemoryStore
    from massmem.memory.stores.mem0_store import PersistentStore

__all__ = ["attach_store", "bind_memory", "memory_listener"]

log = logging.getLogger(__name__)


def bind_memory(
    team: TeamConfig,
    agents: Sequence[Agent],
    *,
    session_id: str,
    turn: int = 1,
    winners: Sequence[tuple[str, int]] = (),
    log_dir: Path | None = None,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> MemoryBinding | None:
    """The team's persistent, shared and named memory bound to ``agents`` (None when it uses none).

    ``session_id``, ``turn`` and ``winners`` are the session's: what memories are tagged with,
    the coming turn number, and who won which earlier turn.
    """
    binding = MemoryBinding(turn=turn, winners=winners, budget_tokens=budget_tokens, log_dir=log_dir)
    memory = team.memory
    used = False
    if memory.enabled and (memory.persistent_memory.enabled or memory.shared_memory.enabled):
        used = True
        for agent in agents:
            if _wants_persistent(team, agent.id):
                binding.remember(agent, _open_persistent(team, agent.id, session_id, log_dir))
        if memory.shared_memory.enabled:
            from massmem.memory.shared import SHARED_AGENT_ID, SharedMemory

            # Shared entries live under their own id, so they never pass for one agent's memories.
            persistent = None
            if memory.shared_memory.persistent and memory.persistent_memory.enabled:
                opened = _open_persistent(team, SHARED_AGENT_ID, session_id, log_dir)
                persistent = opened.memory if opened is not None else None
            binding.share(agents, SharedMemory(memory.shared_memory, persistent=persistent))
    used = _bind_stores(binding, team, agents) or used
    return binding if used else None


def _wants_persistent(team: TeamConfig, agent_id: str) -> bool:
    memory = team.memory
    override = next((a.memory for a in team.agents if a.id == agent_id), None)
    if not memory.enabled or (override is not None and override.enabled is False):
        return False
    if override is not None and override.persistent is not None:
        return override.persistent
    return memory.persistent_memory.enabled


def _retrieval_for(team: TeamConfig, agent_id: str) -> RetrievalConfig:
    base = team.memory.retrieval
    override = next((a.memory for a in team.agents if a.id == agent_id), None)
    if override is None:
        return base
    changes: dict[str, Any] = {}
    if override.retrieval_limit is not None:
        changes["limit"] = override.retrieval_limit
    if override.exclude_recent is not None:
        changes["exclude_recent"] = override.exclude_recent
    return base.model_copy(update=changes)


def _open_persistent(
    team: TeamConfig, agent_id: str, session_id: str, log_dir: Path | None
) -> PersistentStore | None:
    from massmem.memory.persistent import PersistentMemory
    from massmem.memory.stores.mem0_store import PersistentStore

    memory = team.memory
    try:
        return PersistentStore(
            PersistentMemory(
                memory.persistent_memory,
                agent_id=agent_id,
                session_id=session_id,
                retrieval=_retrieval_for(team, agent_id),
                recording=memory.recording,
                debug_dir=log_dir,
            )
        )
    except StoreLocked:
        raise
    except Exception as exc:
        log.warning("agent %s: persistent memory is unavailable: %s", agent_id, exc)
        return None


def _bind_stores(binding: MemoryBinding, team: TeamConfig, agents: Sequence[Agent]) -> bool:
    """Build the declared stores some agent attaches and bind them (False when none is used)."""
    wanted = {a.name for agent in team.agents for a in agent.memories}
    if not team.memory_stores or not wanted:
        return False
    from massmem.memory.stores import build_store

    stores: dict[str, MemoryStore] = {}
    for store_config in team.memory_stores:
        if store_config.name not in wanted:
            continue
        try:
            stores[store_config.name] = build_store(store_config)
        except StoreLocked:
            raise  # the user asked for this store; running without it would lose what it learns
        except Exception as exc:
            log.warning("memory store %s (%s) is unavailable: %s", store_config.name, store_config.type, exc)
    binding.stores.update(stores)
    by_id = {a.id: a for a in team.agents}
    for agent in agents:
        config = by_id.get(agent.id)
        for attachment in config.memories if config is not None else ():
            store = stores.get(attachment.name)
            if store is not None:
                attach_store(binding, agent, store, attachment)
    return True


def attach_store(
    binding: MemoryBinding, agent: Agent, store: MemoryStore, attachment: MemoryAttachment
) -> None:
    """``agent`` reads and writes ``store`` as one of its ``memories`` entries says."""
    if attachment.read:
        binding.read(
            agent,
            Reading(
                store,
                f"Memory store {attachment.name}",
                top_k=attachment.top_k,
                similarity_threshold=attachment.similarity_threshold,
                once_per_question=attachment.retrieve_stage == "first_call",
                reported_as=store.name,
                journaled=True,
            ),
        )
    if attachment.write:
        binding.write(agent, store)


def memory_listener(binding: MemoryBinding) -> Callable[[Event], None]:
    """An ``on_event`` handler that hands the team's answers and votes to shared memory."""
    from massmem.coordination.events import AnswerSubmitted, VoteCast

    def listen(event: Event) -> None:
        match event:
            case AnswerSubmitted(agent_id=a, content=c):
                binding.answer_given(a, c)
            case VoteCast(agent_id=a, target_agent_id=t, reason=r):
                binding.vote_cast(a, t, r)

    return listen
