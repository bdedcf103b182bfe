"""Scoped shared entries: what is in effect, replacement, validation and round trips."""

from __future__ import annotations

import pytest

from massmem.memory.scoped_entries import (
    EntryRefused,
    ScopedEntry,
    check_entry,
    effective_entries,
    render_entries,
)


def entry(kind: str, content: str, scope: str, author: str, turn: int) -> ScopedEntry:
    return ScopedEntry(kind, content, scope, author, turn)  # type: ignore[arg-type]


def test_round_entries_stay_in_their_round_conversation_entries_carry_on() -> None:
    plan = entry("plan", "round-1 plan", "round", "alice", 1)
    rule = entry("constraint", "answer in French", "conversation", "bob", 1)
    assert effective_entries([plan, rule], 1) == [plan, rule]
    assert effective_entries([plan, rule], 2) == [rule]
    # nothing from a later round leaks backwards
    later = entry("plan", "round-3 plan", "conversation", "alice", 3)
    assert effective_entries([plan, rule, later], 2) == [rule]


def test_a_later_entry_of_the_same_type_and_author_replaces_the_earlier() -> None:
    first = entry("plan", "v1", "conversation", "alice", 1)
    other_author = entry("plan", "bob's plan", "round", "bob", 2)
    other_type = entry("finding", "x = 3", "round", "alice", 2)
    second = entry("plan", "v2", "round", "alice", 2)
    effective = effective_entries([first, other_author, other_type, second], 2)
    assert [e.content for e in effective] == ["bob's plan", "x = 3", "v2"]
    # once round 2 is over, alice's conversation-scoped v1 is what remains of her plans
    assert [e.content for e in effective_entries([first, other_author, other_type, second], 3)] == ["v1"]


def test_entries_published_within_one_clock_tick_keep_their_order() -> None:
    a = ScopedEntry("plan", "a", "round", "alice", 1, created_at=5.0)
    b = ScopedEntry("plan", "b", "round", "alice", 1, created_at=5.0)
    assert effective_entries([a, b], 1) == [b]
    assert effective_entries([b, a], 1) == [b]  # publication order, not list order


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "x", "round"), "needs a type"),
        (("two words", "x", "round"), "one short word"),
        (("plan", "   ", "round"), "needs content"),
        (("plan", "x", "forever"), "scope must be"),
        (("note", "x", "round"), "not allowed"),
        (("plan", "x" * 101, "round"), "limit is 100"),
    ],
)
def test_bad_share_requests_are_refused_with_a_reason(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(EntryRefused, match=message):
        check_entry(*args, allowed_types=["plan"], max_chars=100)


def test_a_good_request_is_cleaned() -> None:
    assert check_entry(" Plan ", "  do X  ", None) == ("plan", "do X", "round")


def test_round_trip_and_rendering() -> None:
    original = entry("plan", "step 1\nstep 2", "conversation", "alice", 2)
    assert ScopedEntry.from_dict(original.to_dict()).to_dict() == original.to_dict()
    with pytest.raises(ValueError, match="scope"):
        ScopedEntry.from_dict({**original.to_dict(), "scope": "galaxy"})
    block = render_entries([original], {"alice": "agent1"}.__getitem__, turn=3)
    assert block is not None
    assert "[plan] by agent1 (conversation, from question 2):" in block
    assert "  step 1\n  step 2" in block
    assert render_entries([], str) is None
