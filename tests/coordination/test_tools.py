"""Parsing and validating actions: every enforcement rule, tools and JSON."""

from __future__ import annotations

import pytest

from massmem.backends.base import Completion
from massmem.coordination.state import CoordinationState
from massmem.coordination.tools import (
    Invalid,
    NewAnswer,
    VoteAction,
    action_format,
    extract_json_action,
    parse_action,
    workflow_tools,
)
from massmem.messages import ToolCall


def call(name: str, **args: object) -> ToolCall:
    return ToolCall(f"id-{name}", name, dict(args))


def with_answer() -> CoordinationState:
    state = CoordinationState(("alice", "bob"))
    state.add_answer("alice", "four")
    return state


def test_tool_specs_use_anonymous_ids() -> None:
    new_answer, vote = workflow_tools(["agent1", "agent2"])
    assert new_answer.name == "new_answer" and vote.name == "vote"
    assert vote.parameters["properties"]["agent_id"]["enum"] == ["agent1", "agent2"]
    assert action_format(["agent1"]).schema["properties"]["action"]["enum"] == ["new_answer", "vote"]


def test_valid_tool_actions() -> None:
    state = with_answer()
    answer = parse_action(Completion(tool_calls=[call("new_answer", content="five")]), state, "bob")
    assert answer == NewAnswer("five")
    vote = parse_action(Completion(tool_calls=[call("vote", agent_id="Agent1.1", reason="r")]), state, "bob")
    assert vote == VoteAction("agent1", "r")


@pytest.mark.parametrize(
    ("completion", "code"),
    [
        (Completion(text="I think it's four"), "no_action"),
        (
            Completion(tool_calls=[call("new_answer", content="x"), call("vote", agent_id="agent1")]),
            "vote_and_answer",
        ),
        (
            Completion(tool_calls=[call("vote", agent_id="agent1"), call("vote", agent_id="agent1")]),
            "several_actions",
        ),
        (Completion(tool_calls=[call("search", q="x")]), "unknown_tool"),
        (Completion(tool_calls=[call("new_answer", content="   ")]), "empty_answer"),
        # A weak model copying the instructions' placeholder has not answered.
        (Completion(tool_calls=[call("new_answer", content="<your full answer>")]), "empty_answer"),
        (Completion(tool_calls=[call("new_answer", content="...")]), "empty_answer"),
        (Completion(tool_calls=[call("vote", agent_id="agent7")]), "unknown_agent"),
        (Completion(tool_calls=[call("vote", agent_id="agent2")]), "unknown_agent"),  # bob has no answer
        (Completion(tool_calls=[call("vote", agent_id="alice")]), "unknown_agent"),  # real ids are not ids
        (Completion(tool_calls=[call("new_answer", content=" four\n")]), "duplicate_answer"),
    ],
)
def test_invalid_actions(completion: Completion, code: str) -> None:
    action = parse_action(completion, with_answer(), "bob")
    assert isinstance(action, Invalid) and action.code == code


def test_vote_without_answers() -> None:
    state = CoordinationState(("alice", "bob"))
    action = parse_action(Completion(tool_calls=[call("vote", agent_id="agent1")]), state, "bob")
    assert action == Invalid("vote_without_answers")


def test_answer_limit() -> None:
    state = with_answer()
    action = parse_action(
        Completion(tool_calls=[call("new_answer", content="five")]), state, "alice", max_answers=1
    )
    assert isinstance(action, Invalid) and action.code == "answer_limit"


def test_json_in_text_bare_fenced_and_without_action_key() -> None:
    state = with_answer()
    bare = parse_action(
        Completion(text='Sure! {"action": "new_answer", "content": "five"} done'), state, "bob"
    )
    assert bare == NewAnswer("five")
    fenced = Completion(text='```json\n{"action": "vote", "agent_id": "agent1", "reason": "ok"}\n```')
    assert parse_action(fenced, state, "bob") == VoteAction("agent1", "ok")
    keyless = parse_action(Completion(text='{"agent_id": "agent1"}'), state, "bob")
    assert keyless == VoteAction("agent1", "")
    both = parse_action(Completion(text='{"content": "x", "agent_id": "agent1"}'), state, "bob")
    assert isinstance(both, Invalid) and both.code == "vote_and_answer"


def test_protocol_switches() -> None:
    state = with_answer()
    text_only = Completion(text='{"action": "new_answer", "content": "five"}')
    assert isinstance(parse_action(text_only, state, "bob", accept_json=False), Invalid)
    tools_only = Completion(tool_calls=[call("new_answer", content="five")])
    assert isinstance(parse_action(tools_only, state, "bob", accept_tools=False), Invalid)


def test_extract_json_ignores_unrelated_objects() -> None:
    assert extract_json_action('{"foo": 1} then {"action": "vote", "agent_id": "agent1"}') == {
        "action": "vote",
        "agent_id": "agent1",
    }
    assert extract_json_action("no json {here") is None
