"""Whose memories an agent may recall, and how the recalled ones read in its context.

Retrieval searches the agent's own memories plus those of previous winners — the winner of
turn *t* contributes only memories with turn <= *t* (:func:`scope_clauses`).  A hit
(:class:`MemoryHit`) is one stored point with its origin; :func:`render_hits` turns the hits
of one call into one labelled block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from massmem.memory.points import ScopeClause

__all__ = ["MemoryHit", "Winner", "WinnerLike", "as_winner", "hit_from_point", "render_hits", "scope_clauses"]

#: payload fields that are a hit's own attributes rather than its metadata
_CORE = frozenset(
    {
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
)


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


#: the shapes a winner may be given in (saved state carries tuples or dicts)
WinnerLike = Winner | tuple[str, int] | Mapping[str, Any]


def as_winner(value: Winner | tuple[str, int] | Mapping[str, Any]) -> Winner:
    if isinstance(value, Winner):
        return value
    if isinstance(value, Mapping):
        return Winner(str(value["agent_id"]), int(value["turn"]))
    agent_id, turn = value
    return Winner(str(agent_id), int(turn))


def scope_clauses(
    agent_id: str, session: str | None, previous_winners: Iterable[WinnerLike] = ()
) -> list[ScopeClause]:
    """Own memories (every turn) plus each previous winner's memories up to its winning turn.

    ``session`` None searches every memory session.
    """
    clauses = [ScopeClause(agent_id, session, None)]
    best: dict[str, int] = {}
    for winner in previous_winners:
        w = as_winner(winner)
        if w.agent_id == agent_id:
            continue
        best[w.agent_id] = max(best.get(w.agent_id, w.turn), w.turn)
    clauses += [ScopeClause(agent, session, turn) for agent, turn in sorted(best.items())]
    return clauses


def hit_from_point(point: Any, agent_id: str) -> MemoryHit:
    """A search result as a :class:`MemoryHit`; ``own`` when ``agent_id`` wrote it."""
    payload = point.payload
    turn = payload.get("turn")
    return MemoryHit(
        id=point.id,
        text=str(payload.get("data", "")),
        score=float(point.score),
        agent_id=payload.get("agent_id"),
        session_id=payload.get("run_id"),
        turn=int(turn) if isinstance(turn, int | float) else None,
        kind=str(payload.get("kind", "fact")),
        own=payload.get("agent_id") == agent_id,
        metadata={k: v for k, v in payload.items() if k not in _CORE},
    )


#: how a raw passage is introduced, by the role of the message it came from
_SPEAKERS = {"user": "The user said:", "assistant": "The assistant answered:"}


def render_hits(hits: Sequence[MemoryHit], *, max_chars: int = 600) -> str:
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
        # A raw passage says who said it: "my favourite colour" is the user's, not the model's.
        raw_words = hit.kind == "raw" and not text.startswith("[")  # not a recorded tool call
        speaker = _SPEAKERS.get(str(hit.metadata.get("role"))) if raw_words else None
        lines.append(f'• {where}{speaker} "{text}"' if speaker else f"• {where}{text}")
    lines.append("=== END OF RELEVANT MEMORIES ===")
    return "\n".join(lines)
