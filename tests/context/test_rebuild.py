"""The rebuild rules, as pure functions: what is kept, where the summary goes, where splits may fall."""

from __future__ import annotations

from massmem.context.compression import (
    CompressedView,
    Entry,
    bridge_message,
    choose_split,
    render,
    split_candidates,
    summary_budget,
    summary_message,
    transcript_line,
)
from massmem.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage


def conversation() -> list[Entry]:
    call = ToolCall("c1", "new_answer", {"content": "4"}, '{"content": "4"}')
    return [
        (UserMessage("TASK: what is 2+2?"), True),  # 0 the original request, pinned
        (AssistantMessage("thinking", (call,)), False),  # 1
        (ToolResultMessage("c1", "new_answer", "Recorded as agent1.1."), False),  # 2
        (UserMessage("Your answer was recorded. Vote now."), False),  # 3
        (AssistantMessage("I vote for agent1."), False),  # 4
        (UserMessage("New answers arrived: agent2.1."), False),  # 5
        (AssistantMessage("Still agent1."), False),  # 6
        (UserMessage("Vote again."), False),  # 7 the newest prompt
    ]


def test_render_without_view_is_the_stored_conversation() -> None:
    entries = conversation()
    assert render(entries, None) == [m for m, _ in entries]


def test_rebuilt_order_is_request_then_summary_then_recent() -> None:
    entries = conversation()
    covered = [entries[i][0] for i in (1, 2, 3, 4)]
    out = render(entries, CompressedView.of("I answered 4 and voted.", covered))
    assert out[0] == entries[0][0]  # the pinned request, verbatim, first
    assert isinstance(out[1], AssistantMessage) and "I answered 4 and voted." in out[1].content
    assert out[1] == summary_message("I answered 4 and voted.")
    assert out[2:] == [entries[i][0] for i in (5, 6, 7)]  # recent messages verbatim
    # A valid chat: alternates user/assistant after the request and ends with the newest prompt.
    roles = [m.kind for m in out]
    assert roles == ["user", "assistant", "user", "assistant", "user"]


def test_summary_is_bridged_when_no_pinned_request_precedes_it() -> None:
    entries: list[Entry] = [
        (UserMessage("earlier question"), False),
        (AssistantMessage("earlier answer"), False),
        (UserMessage("TASK: the current question"), True),
    ]
    out = render(entries, CompressedView.of("We talked about X.", [entries[0][0], entries[1][0]]))
    assert out[0] == bridge_message()
    assert isinstance(out[1], AssistantMessage) and "We talked about X." in out[1].content
    assert out[2] == entries[2][0]
    assert [m.kind for m in out] == ["user", "assistant", "user"]


def test_pinned_messages_are_never_covered_and_stay_verbatim() -> None:
    entries = conversation()
    counts = [10] * len(entries)
    split = choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, keep_ratio=0.2)
    assert split is not None
    assert entries[0][0] in render(entries, CompressedView.of("s", [m for m, p in entries[:split] if not p]))


def test_splits_fall_on_user_messages_and_never_part_a_call_from_its_result() -> None:
    entries = conversation()
    assert split_candidates(entries, None) == [3, 5, 7]
    # A (malformed) user message between a call and its result must not become a split.
    call = ToolCall("c9", "vote", {}, "{}")
    odd: list[Entry] = [
        (UserMessage("TASK"), True),
        (AssistantMessage("a"), False),
        (UserMessage("u1"), False),
        (AssistantMessage("", (call,)), False),
        (UserMessage("interjection"), False),
        (ToolResultMessage("c9", "vote", "ok"), False),
        (UserMessage("u2"), False),
    ]
    assert split_candidates(odd, None) == [2, 6]


def test_splits_start_after_what_a_view_already_covers() -> None:
    entries = conversation()
    view = CompressedView.of("s", [entries[i][0] for i in (1, 2)])
    assert split_candidates(entries, view) == [5, 7]  # 3 would summarise nothing new


def test_nothing_to_summarise_gives_no_split() -> None:
    only: list[Entry] = [(UserMessage("TASK"), True)]
    assert split_candidates(only, None) == []
    assert choose_split(only, None, [5], fixed=0, summary_tokens=5, bridge_tokens=3, keep_ratio=0.2) is None


def test_ratio_keeps_about_that_share_and_budget_moves_the_split_later() -> None:
    entries = conversation()
    counts = [10] * len(entries)
    # 7 unpinned messages: 0.5 keeps at least 4 of them verbatim -> split at 3 (tail 3..7 = 5 messages)
    assert (
        choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, keep_ratio=0.5) == 3
    )
    # 0.2 keeps 1: the latest split
    assert (
        choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, keep_ratio=0.2) == 7
    )
    # by budget: the longest tail that fits
    assert choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, budget=1000) == 3
    assert choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, budget=45) == 5
    assert choose_split(entries, None, counts, fixed=0, summary_tokens=5, bridge_tokens=3, budget=1) == 7


def test_summary_budget_and_transcript_lines() -> None:
    assert summary_budget(None) == 512
    assert summary_budget(1024) == 102
    assert summary_budget(100) == 48
    assert summary_budget(1_000_000) == 2048
    call = ToolCall("c1", "vote", {"agent_id": "agent1"}, '{"agent_id": "agent1"}')
    assert (
        transcript_line(AssistantMessage("hm", (call,)))
        == '[assistant]\nhm\n(called vote {"agent_id": "agent1"})'
    )
    assert transcript_line(ToolResultMessage("c1", "vote", "ok")) == "[tool result: vote]\nok"
