"""Scoped shared entries: typed notes an agent publishes for the whole team.

An agent that has worked something out that others should build on — a plan, a
constraint, a finding — publishes it with the ``share`` tool as a :class:`ScopedEntry`
of a *type* it chooses and a *scope*:

* ``round`` — in effect for the current question only;
* ``conversation`` — in effect for the rest of the session, later questions included.

Two rules decide what is in effect (:func:`effective_entries`): out-of-scope entries drop
out, and of the entries of one type from one author only the latest counts, so an agent
revises its plan by sharing a new one.

Entries are stored *with the round that produced them* (the session saves them inside the
turn's record), the way a database keeps writes inside their transaction: a round that
fails or is cancelled is never saved, so its entries disappear with it and can never
mislead a later question.  Nothing here touches disk; the session layer persists the
entries of completed turns.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "SCOPES",
    "EntryRefused",
    "Scope",
    "ScopedEntry",
    "check_entry",
    "effective_entries",
    "render_entries",
]

Scope: TypeAlias = Literal["round", "conversation"]
SCOPES: tuple[Scope, ...] = ("round", "conversation")

_order = itertools.count()


@dataclass(frozen=True, slots=True)
class ScopedEntry:
    """One published entry.  ``turn`` is the round (session turn number) that produced it."""

    type: str
    content: str
    scope: Scope
    author: str
    turn: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created_at: float = field(default_factory=time.time)
    #: tie-breaker for entries published within the clock's resolution
    seq: int = field(default_factory=lambda: next(_order))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "content": self.content,
            "scope": self.scope,
            "author": self.author,
            "turn": self.turn,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScopedEntry:
        scope = data.get("scope")
        if scope not in SCOPES:
            raise ValueError(f"shared entry scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        return cls(
            type=str(data["type"]),
            content=str(data["content"]),
            scope=scope,
            author=str(data["author"]),
            turn=int(data["turn"]),
            id=str(data.get("id") or uuid.uuid4().hex[:12]),
            created_at=float(data.get("created_at", 0.0)),
        )


class EntryRefused(ValueError):
    """A ``share`` request that cannot be published; the message is shown to the model."""


def check_entry(
    entry_type: Any,
    content: Any,
    scope: Any,
    *,
    allowed_types: Sequence[str] | None = None,
    max_chars: int = 4000,
) -> tuple[str, str, Scope]:
    """Validate a share request's arguments; return them cleaned or raise :class:`EntryRefused`."""
    kind = str(entry_type or "").strip().lower()
    text = str(content or "").strip()
    where = str(scope or "round").strip().lower()
    if not kind:
        raise EntryRefused("an entry needs a type (a short word such as 'plan' or 'finding')")
    if len(kind) > 40 or not all(c.isalnum() or c in "_-" for c in kind):
        raise EntryRefused(f"entry type {kind[:40]!r} must be one short word (letters, digits, - or _)")
    if allowed_types is not None and kind not in allowed_types:
        raise EntryRefused(f"entry type {kind!r} is not allowed here; use one of: {', '.join(allowed_types)}")
    if not text:
        raise EntryRefused("an entry needs content")
    if len(text) > max_chars:
        raise EntryRefused(f"entry content is {len(text)} characters; the limit is {max_chars}")
    if where not in SCOPES:
        raise EntryRefused(f"scope must be 'round' or 'conversation', got {where!r}")
    return kind, text, where  # type: ignore[return-value]


def effective_entries(entries: Iterable[ScopedEntry], turn: int) -> list[ScopedEntry]:
    """The entries in effect during round ``turn``, oldest first.

    ``entries`` may mix rounds: conversation-scoped entries of this and earlier rounds
    count, round-scoped ones only from this round, nothing from later rounds.  Of the
    remaining entries with the same type and author, only the most recent is kept.
    """
    latest: dict[tuple[str, str], ScopedEntry] = {}
    in_scope = (e for e in entries if e.turn <= turn and (e.scope == "conversation" or e.turn == turn))
    for entry in sorted(in_scope, key=lambda e: (e.turn, e.created_at, e.seq)):
        key = (entry.type, entry.author)
        latest.pop(key, None)  # re-insert so the dict stays in publication order
        latest[key] = entry
    return list(latest.values())


def render_entries(
    entries: Sequence[ScopedEntry], name_of: Callable[[str], str], *, turn: int | None = None
) -> str | None:
    """One labelled block listing ``entries`` (None when there are none).

    ``name_of`` maps an author's real id to the name the reader knows it by (agents see
    each other anonymously); ``turn`` marks entries carried over from earlier questions.
    """
    if not entries:
        return None
    lines = ["=== SHARED ENTRIES (published by the team with the share tool) ==="]
    for entry in entries:
        origin = ""
        if turn is not None and entry.turn != turn:
            origin = f", from question {entry.turn}"
        lines.append(f"[{entry.type}] by {name_of(entry.author)} ({entry.scope}{origin}):")
        lines.extend("  " + line for line in entry.content.splitlines() or [""])
    lines.append("=== END OF SHARED ENTRIES ===")
    return "\n".join(lines)
