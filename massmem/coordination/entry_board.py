"""The round's board of shared entries: what is in effect, and publishing one more.

Kept apart from the run loop because it is a small state machine of its own (scopes,
replacement by type and author, a cap on types per author) that the loop only consults:
it renders the block an agent sees and turns a ``share`` request into a receipt and an event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from massmem.config.schema import SharedEntriesConfig
from massmem.coordination.events import EntryShared, Event, ShareRefused
from massmem.coordination.tools import ShareRequest
from massmem.memory.scoped_entries import (
    EntryRefused,
    ScopedEntry,
    check_entry,
    effective_entries,
    render_entries,
)

__all__ = ["MAX_ENTRY_TYPES_PER_AGENT", "EntryBoard"]

#: distinct entry types one agent may have in effect at once (a new type beyond is refused)
MAX_ENTRY_TYPES_PER_AGENT = 8


class EntryBoard:
    """Entries of earlier completed rounds plus those published in this round (``turn``)."""

    def __init__(self, options: SharedEntriesConfig, turn: int, past: Sequence[ScopedEntry] = ()) -> None:
        self.options = options
        self.turn = turn
        #: entries of earlier, completed rounds (only conversation-scoped ones can apply)
        self.past = tuple(past)
        #: entries published during this round, in order
        self.entries: list[ScopedEntry] = []

    def effective(self) -> list[ScopedEntry]:
        """The shared entries in effect right now (earlier rounds' and this round's)."""
        return effective_entries([*self.past, *self.entries], self.turn)

    def block_for(self, agent_id: str, anon_of: Callable[[str], str | None]) -> str | None:
        """The rendered entries ``agent_id`` sees (its own as "you", others by anonymous id)."""
        entries = self.effective()
        if not entries:
            return None

        def name_of(author: str) -> str:
            if author == agent_id:
                return "you"
            return anon_of(author) or author

        return render_entries(entries, name_of, turn=self.turn)

    def publish(self, agent_id: str, request: ShareRequest) -> tuple[str, Event]:
        """Publish one requested entry (or refuse it): the receipt the model is shown, and the event."""
        current = self.effective()
        try:
            kind, content, scope = check_entry(
                request.type,
                request.content,
                request.scope,
                allowed_types=self.options.types,
                max_chars=self.options.max_chars,
            )
            own_types = {e.type for e in current if e.author == agent_id}
            if kind not in own_types and len(own_types) >= MAX_ENTRY_TYPES_PER_AGENT:
                raise EntryRefused(
                    f"you already have {len(own_types)} entry types in effect; share a new "
                    f"version of one of them ({', '.join(sorted(own_types))}) instead"
                )
        except EntryRefused as why:
            return f"Not shared: {why}.", ShareRefused(agent_id, str(why))
        replaced = any(e.type == kind and e.author == agent_id for e in current)
        self.entries.append(ScopedEntry(kind, content, scope, agent_id, self.turn))
        suffix = "; it replaces your earlier entry of that type" if replaced else ""
        return f"Shared as [{kind}] ({scope}){suffix}.", EntryShared(agent_id, kind, scope, content, replaced)
