"""ConversationMemory: bounded window, pinning, tool-result integrity, save/load."""

from __future__ import annotations

import json

import pytest

from massmem.memory.conversation import ConversationMemory
from massmem.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage


def test_add_messages_clear() -> None:
    memory = ConversationMemory()
    memory.add(UserMessage("a"))
    memory.extend([AssistantMessage("b"), UserMessage("c")])
    assert [m.content for m in memory.messages()] == ["a", "b", "c"]
    memory.messages().clear()  # a copy: the memory is unaffected
    assert len(memory) == 3
    memory.clear()
    assert memory.messages() == []


def test_max_messages_keeps_most_recent_and_pinned() -> None:
    memory = ConversationMemory(max_messages=3)
    memory.add(UserMessage("task"), pinned=True)
    for i in range(5):
        memory.add(UserMessage(f"m{i}"))
    assert [m.content for m in memory.messages()] == ["task", "m3", "m4"]


def test_eviction_never_leaves_orphan_tool_results() -> None:
    memory = ConversationMemory(max_messages=3)
    memory.add(AssistantMessage("", (ToolCall("c1", "vote", {}),)))
    memory.add(ToolResultMessage("c1", "vote", "ok"))
    memory.add(UserMessage("next"))
    memory.add(AssistantMessage("reply"))
    kinds = [m.kind for m in memory.messages()]
    assert "tool_result" not in kinds
    assert kinds == ["user", "assistant"]


def test_round_trip_through_json() -> None:
    memory = ConversationMemory(max_messages=10)
    memory.add(UserMessage("task"), pinned=True)
    memory.add(AssistantMessage("", (ToolCall("c1", "new_answer", {"content": "x"}, '{"content": "x"}'),)))
    memory.add(ToolResultMessage("c1", "new_answer", "Recorded"))
    restored = ConversationMemory.from_dict(json.loads(json.dumps(memory.to_dict())))
    assert restored.messages() == memory.messages()
    assert restored.max_messages == 10
    for i in range(12):
        restored.add(UserMessage(str(i)))
    assert restored.messages()[0] == UserMessage("task")  # pin survived the round trip


def test_rejects_bad_bound() -> None:
    with pytest.raises(ValueError):
        ConversationMemory(max_messages=0)
