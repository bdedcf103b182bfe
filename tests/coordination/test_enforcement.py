"""Each enforcement rule: a refused reply gets the enforcement message and a retry; then failure."""

from __future__ import annotations

import pytest

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import (
    AnswerReply,
    FunctionBackend,
    Reply,
    ScriptedBackend,
    TextReply,
    VoteReply,
)
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import AgentFailed, AgentRetry, AnswerSubmitted
from massmem.messages import Finished, ToolCall
from tests.coordination.helpers import backend_of, of_kind, request_text, run_team, scripted_agent

ENFORCEMENT_TEXT = {
    "no_action": "did not contain an action",
    "vote_without_answers": "nobody has answered yet",
    "unknown_agent": "has no answer to vote for",
    "duplicate_answer": "repeats the existing answer agent1.1",
    "answer_limit": "most answers allowed (1)",
}


@pytest.mark.parametrize(
    ("code", "bad", "good"),
    [
        ("no_action", TextReply("I believe it is four."), AnswerReply("Four")),
        ("vote_without_answers", VoteReply("agent1"), AnswerReply("Four")),
    ],
)
async def test_refused_first_reply_is_retried_with_enforcement(code: str, bad: Reply, good: Reply) -> None:
    agent = Agent("solo", ScriptedBackend([bad, good, VoteReply("agent1")]), action_mode="tools")
    result, events = await run_team([agent])
    retries = of_kind(events, AgentRetry)
    assert [r.reason.split(" ")[0] for r in retries] == [code]
    retry_request = backend_of(agent).requests[1]
    assert ENFORCEMENT_TEXT[code] in request_text(retry_request)
    assert retry_request.tools  # tools mode stays in tools
    assert result.final_answer == "Four"


async def test_vote_for_unknown_agent_is_refused() -> None:
    agent = scripted_agent("solo", [AnswerReply("Four"), VoteReply("agent7"), VoteReply("agent1")])
    result, events = await run_team([agent])
    assert [r.reason for r in of_kind(events, AgentRetry)] == ["unknown_agent ('agent7' (valid: agent1))"]
    assert ENFORCEMENT_TEXT["unknown_agent"] in request_text(backend_of(agent).requests[2])
    assert result.winner == "solo"


async def test_vote_and_answer_together_is_refused() -> None:
    replies = iter(
        [
            [
                ToolCall("1", "new_answer", {"content": "x"}),
                ToolCall("2", "vote", {"agent_id": "agent1"}),
                Finished("tool_calls"),
            ],
            AnswerReply("x"),
            VoteReply("agent1"),
        ]
    )
    seen: list[ModelRequest] = []

    def fn(request: ModelRequest) -> object:
        seen.append(request)
        return next(replies, VoteReply("agent1"))

    result, events = await run_team([Agent("solo", FunctionBackend(fn))])
    assert [r.reason for r in of_kind(events, AgentRetry)] == ["vote_and_answer"]
    assert "both answered and voted" in request_text(seen[1])
    assert result.final_answer == "x"


async def test_duplicate_answer_is_refused() -> None:
    alice = scripted_agent("alice", [AnswerReply("It is four."), VoteReply("agent1")])
    bob = scripted_agent("bob", [AnswerReply("  It is\nfour. ", delay=0.02), VoteReply("agent1")])
    result, events = await run_team([alice, bob])
    assert [(r.agent_id, r.reason) for r in of_kind(events, AgentRetry)] == [
        ("bob", "duplicate_answer (agent1.1)")
    ]
    assert ENFORCEMENT_TEXT["duplicate_answer"] in request_text(backend_of(bob).requests[1])
    assert len(result.answers) == 1 and result.vote_counts == {"alice": 2}


async def test_answer_limit_forces_a_vote() -> None:
    agent = scripted_agent("solo", [AnswerReply("v1"), AnswerReply("v2"), VoteReply("agent1")])
    result, events = await run_team([agent], OrchestratorConfig(max_answers_per_agent=1))
    assert [r.reason for r in of_kind(events, AgentRetry)] == ["answer_limit (1)"]
    assert ENFORCEMENT_TEXT["answer_limit"] in request_text(backend_of(agent).requests[2])
    assert [a.content for a in result.answers] == ["v1"]


async def test_failure_after_retries_in_forced_tools_mode() -> None:
    stubborn = Agent("stubborn", ScriptedBackend([TextReply("no tools for me")]), action_mode="tools")
    helper = scripted_agent("helper", [AnswerReply("Four"), VoteReply("agent2")])
    result, events = await run_team([stubborn, helper], OrchestratorConfig(max_invalid_retries=2))
    assert len(backend_of(stubborn).requests) == 3  # first try + 2 retries
    assert [r.attempt for r in of_kind(events, AgentRetry) if r.agent_id == "stubborn"] == [1, 2]
    failed = of_kind(events, AgentFailed)
    assert [f.agent_id for f in failed] == ["stubborn"]
    assert "no valid action after 2 retries" in failed[0].reason
    assert result.failures == {"stubborn": failed[0].reason}
    assert result.winner == "helper" and result.agent("stubborn").status == "failed"


async def test_retry_after_new_answer_arrived_also_injects_the_update() -> None:
    slow = Agent(
        "slow", ScriptedBackend([TextReply("thinking", delay=0.03), VoteReply("agent2")]), action_mode="tools"
    )
    fast = scripted_agent("fast", [AnswerReply("Four"), VoteReply("agent2")])
    result, _ = await run_team([slow, fast])
    retry = request_text(backend_of(slow).requests[1])
    assert "did not contain an action" in retry and "While you were working" in retry and "Four" in retry
    assert result.vote_counts == {"fast": 2}


async def test_max_turns_per_agent_caps_an_agent_that_never_settles() -> None:
    counter = iter(range(1000))
    restless = Agent("restless", FunctionBackend(lambda r: AnswerReply(f"version {next(counter)}")))
    result, events = await run_team([restless], OrchestratorConfig(max_turns_per_agent=3))
    assert len(of_kind(events, AnswerSubmitted)) == 3
    # auto mode: over the cap it stands by its latest answer
    assert result.votes[0].implicit and result.winning_answer.content == "version 2"
    forced = Agent(
        "forced", FunctionBackend(lambda r: AnswerReply(f"v {next(counter)}")), action_mode="tools"
    )
    helper = scripted_agent("helper", [VoteReply("agent1", delay=0.01)])
    result, events = await run_team([forced, helper], OrchestratorConfig(max_turns_per_agent=2))
    assert "max_turns_per_agent" in result.failures["forced"]
    assert result.winner == "forced"  # its answers still count
