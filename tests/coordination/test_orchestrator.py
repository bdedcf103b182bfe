"""The team loop over scripted backends: agreement, updates, stale votes, winners, presentation."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import AnswerReply, FunctionBackend, ScriptedBackend, TextReply, VoteReply
from massmem.config.schema import OrchestratorConfig, TeamConfig
from massmem.coordination import (
    AgentStarted,
    AgentUpdateInjected,
    AnswerSubmitted,
    CoordinationFinished,
    FinalAnswerDelta,
    Orchestrator,
    PastTurn,
    VoteCast,
    WinnerSelected,
)
from massmem.errors import ProviderUnavailable, UsageError
from tests.coordination.helpers import backend_of, of_kind, request_text, run_team, scripted_agent


async def test_two_agents_agree() -> None:
    alice = scripted_agent("alice", [AnswerReply("4"), VoteReply("agent1", "correct")])
    bob = scripted_agent("bob", [VoteReply("agent1", "agree")], latency=0.02)
    result, events = await run_team([alice, bob])
    assert result.winner == "alice"
    assert result.winning_answer.content == "4"
    assert result.final_answer == "4" and result.presented
    assert result.vote_counts == {"alice": 2}
    assert not result.timed_out and result.failures == {}
    assert isinstance(events[-1], CoordinationFinished) and events[-1].result is result
    assert of_kind(events, WinnerSelected)[0].votes == 2
    assert result.usage.total_tokens > 0
    assert all(r.status == "voted" for r in result.agents)


async def test_new_answer_injects_update_into_a_still_working_agent() -> None:
    alice = scripted_agent("alice", [AnswerReply("Alice says 4"), VoteReply("agent1")])
    # Bob's first turn is slow: Alice answers while he works, and he is not cancelled.
    bob = scripted_agent("bob", [AnswerReply("Bob says four", delay=0.05), VoteReply("agent1")])
    result, events = await run_team([alice, bob])
    assert [a.content for a in result.answers] == ["Alice says 4", "Bob says four"]
    later = backend_of(bob).requests[1]
    text = request_text(later)
    assert "While you were working, new answers arrived" in text and "Alice says 4" in text
    # his own earlier work stays in his conversation
    assert "Bob says four" in text
    updates = [e for e in of_kind(events, AgentUpdateInjected) if e.agent_id == "bob"]
    assert updates and updates[0].new_labels == ("agent1.1",)
    # Alice had voted at revision 1; Bob's answer cleared it and she was asked again with the news.
    alice_last = request_text(backend_of(alice).requests[-2])  # [-1] is the presentation
    assert "Bob says four" in alice_last
    assert result.winner == "alice" and len(result.votes) == 2


async def test_stale_vote_is_not_counted() -> None:
    alice = scripted_agent("alice", [AnswerReply("A"), VoteReply("agent1", "mine", delay=0.05)])
    bob = scripted_agent("bob", [AnswerReply("B", delay=0.01), VoteReply("agent2", "mine")])
    result, events = await run_team([alice, bob])
    discarded = [e for e in of_kind(events, AgentUpdateInjected) if e.discarded_vote]
    assert [e.agent_id for e in discarded] == ["alice"]
    # Alice's first vote (cast on revision 1) never shows up as counted before Bob's answer landed
    first_answer_b = next(
        i for i, e in enumerate(events) if isinstance(e, AnswerSubmitted) and e.agent_id == "bob"
    )
    alice_votes = [i for i, e in enumerate(events) if isinstance(e, VoteCast) and e.agent_id == "alice"]
    assert alice_votes and all(i > first_answer_b for i in alice_votes)
    assert all(v.revision == 2 for v in result.votes)
    assert "B" in request_text(backend_of(alice).requests[2])
    assert result.winner == "alice"  # 1-1 tie goes to registration order


async def test_tie_goes_to_registration_order() -> None:
    first = scripted_agent("zed", [AnswerReply("Z"), VoteReply("agent2")])
    second = scripted_agent("amy", [AnswerReply("A"), VoteReply("agent1")])
    result, _ = await run_team([first, second])
    assert result.vote_counts == {"zed": 1, "amy": 1}
    assert result.winner == "zed"


async def test_final_presentation_is_streamed_without_tools() -> None:
    alice = Agent(
        "alice",
        ScriptedBackend(
            [AnswerReply("draft"), VoteReply("agent1"), TextReply("A polished final answer.")], chunk_size=5
        ),
    )
    result, events = await run_team([alice])
    deltas = of_kind(events, FinalAnswerDelta)
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == result.final_answer == "A polished final answer."
    presentation = backend_of(alice).requests[-1]
    assert not presentation.tools and presentation.response_format is None
    assert "draft" in request_text(presentation)


async def test_presentation_failure_falls_back_to_answer_text() -> None:
    def fn(request: ModelRequest) -> object:
        if not request.tools:
            raise ProviderUnavailable("presenter fell over")
        return VoteReply("agent1") if "Recorded as" in request_text(request) else AnswerReply("the answer")

    agent = Agent("solo", FunctionBackend(fn))
    result, _ = await run_team([agent])
    assert result.final_answer == "the answer" and not result.presented
    assert result.presentation_error is not None and "presenter fell over" in result.presentation_error


async def test_empty_presentation_falls_back_and_skipping_presentation() -> None:
    agent = scripted_agent("solo", [AnswerReply("the answer"), VoteReply("agent1"), TextReply("")])
    result, _ = await run_team([agent])
    assert (
        result.final_answer == "the answer"
        and result.presentation_error == "the presentation came back empty"
    )
    quiet = scripted_agent("solo", [AnswerReply("x"), VoteReply("agent1")], on_exhausted="raise")
    result, events = await run_team([quiet], OrchestratorConfig(present_final_answer=False))
    assert result.final_answer == "x" and not result.presented and not of_kind(events, FinalAnswerDelta)


async def test_models_never_see_real_ids() -> None:
    ids = ["alice-secret-7", "bob-secret-9", "carol-secret-3"]
    agents = [
        scripted_agent(ids[0], [AnswerReply("one"), VoteReply("agent2")]),
        scripted_agent(ids[1], [AnswerReply("two", delay=0.01), VoteReply("agent2")]),
        scripted_agent(ids[2], [VoteReply("agent1", delay=0.02), VoteReply("agent2")]),
    ]
    result, _ = await run_team(agents)
    assert result.winner == ids[1]
    for agent in agents:
        for request in backend_of(agent).requests:
            text = request_text(request)
            assert all(real not in text for real in ids), text


async def test_earlier_turns_appear_in_the_prompt() -> None:
    agent = scripted_agent("solo", [AnswerReply("Paris"), VoteReply("agent1")])
    history = [PastTurn("What is the capital of Italy?", "Rome.")]
    await Orchestrator([agent]).run("And of France?", history=history)
    first = request_text(backend_of(agent).requests[0])
    assert "What is the capital of Italy?" in first and "Rome." in first
    assert first.index("Rome.") < first.index("And of France?")
    assert "Rome." in request_text(backend_of(agent).requests[-1])  # the presentation too


async def test_stream_yields_finished_last_and_run_is_not_reentrant() -> None:
    agent = scripted_agent("solo", [AnswerReply("x", delay=0.01), VoteReply("agent1")])
    orchestrator = Orchestrator([agent])
    async with aclosing(orchestrator.stream("q")) as events:
        first = await anext(events)
        assert isinstance(first, AgentStarted)
        with pytest.raises(UsageError):
            await orchestrator.run("again")
        rest = [e async for e in events]
    assert isinstance(rest[-1], CoordinationFinished)
    backend_of(agent).replies += ScriptedBackend([AnswerReply("y"), VoteReply("agent1")]).replies
    again = await orchestrator.run("second question")  # usable once the first finished
    assert again.question == "second question"


def test_constructor_rejects_bad_teams() -> None:
    with pytest.raises(UsageError):
        Orchestrator([])
    with pytest.raises(UsageError):
        Orchestrator([scripted_agent("a", []), scripted_agent("a", [])])


async def test_from_team_config() -> None:
    team = TeamConfig.model_validate(
        {
            "agents": [
                {
                    "id": "a",
                    "backend": {"type": "scripted", "replies": [{"new_answer": "42"}, {"vote": "agent1"}]},
                },
                {
                    "id": "b",
                    "backend": {
                        "type": "scripted",
                        "replies": [{"vote": "agent1", "reason": "ok"}],
                        "latency": 0.01,
                    },
                },
            ],
            "orchestrator": {"timeout": 30},
        }
    )
    orchestrator = Orchestrator.from_config(team)
    result = await orchestrator.run("q")
    await orchestrator.aclose()
    assert result.winner == "a" and result.final_answer == "42"
    assert orchestrator.config.timeout == 30
