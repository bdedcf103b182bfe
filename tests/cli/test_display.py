"""What the live view says about an event (one line each)."""

from __future__ import annotations

from massmem.cli.display import describe
from massmem.coordination import MemoryAccessed


def test_a_memory_query_and_a_write_are_one_line_each() -> None:
    query = MemoryAccessed("alice", "kb", "query", "When do releases go out?", 1, 3.2)
    assert describe(query) == "[alice] memory kb: 1 result for 'When do releases go out?' (3 ms)"
    added = MemoryAccessed("alice", "board", "add", "answer: Thursdays", 1, 1.0)
    assert describe(added) == "[alice] memory board: added answer: Thursdays (1 ms)"
