"""Failures, timeouts and cancellation: one agent's trouble never ends the run or leaks tasks."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import AnswerReply, FunctionBackend, TextReply, VoteReply
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import AgentFailed, FinalAnswerDelta, Orchestrator, WinnerSelected
from massmem.errors import AuthenticationFailed, CoordinationError, ProviderUnavailable
from tests.coordination.helpers import backend_of, of_kind, run_team, scripted_agent


def massmem_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("massmem:") and not t.done()]


async def test_one_agent_raising_does_not_end_the_run() -> None:
    broken = scripted_agent("broken", [ProviderUnavailable("503 from upstream\nwith details")])
    alice = scripted_agent("alice", [AnswerReply("4"), VoteReply("agent2")])
    result, events = await run_team([broken, alice])
    assert result.winner == "alice" and result.final_answer == "4"
    assert result.failures == {"broken": "ProviderUnavailable: 503 from upstream"}
    assert [e.agent_id for e in of_kind(events, AgentFailed)] == ["broken"]


async def test_unexpected_exception_is_contained_too() -> None:
    def explode(request: ModelRequest) -> str:
        raise KeyError("bug")

    alice = scripted_agent("alice", [AnswerReply("4"), VoteReply("agent1")])
    result, _ = await run_team([alice, Agent("buggy", FunctionBackend(explode))])
    assert result.failures["buggy"].startswith("KeyError")
    assert result.winner == "alice"


async def test_every_agent_failing_raises_coordination_error_with_reasons() -> None:
    agents = [
        scripted_agent("a", [ProviderUnavailable("down")]),
        scripted_agent("b", [AuthenticationFailed("set OPENAI_API_KEY")]),
    ]
    with pytest.raises(CoordinationError) as caught:
        await Orchestrator(agents).run("q")
    message = str(caught.value)
    assert "every agent failed" in message and "a: ProviderUnavailable: down" in message
    assert "b: AuthenticationFailed: set OPENAI_API_KEY" in message
    assert massmem_tasks() == []


async def test_answer_survives_its_author_failing() -> None:
    flaky = scripted_agent("flaky", [AnswerReply("kept"), ProviderUnavailable("gone")])
    result, _ = await run_team([flaky], OrchestratorConfig(present_final_answer=False))
    assert result.final_answer == "kept" and "flaky" in result.failures


async def test_timeout_picks_the_best_answer_and_still_presents() -> None:
    alice = scripted_agent(
        "alice", [AnswerReply("Alice's answer"), VoteReply("agent1"), TextReply("Presented.")]
    )
    bob = scripted_agent("bob", [AnswerReply("Bob's", delay=0.01), AnswerReply("never", delay=30)])
    config = OrchestratorConfig(timeout=0.2)
    result, events = await run_team([alice, bob], config, grace_period=1.0)
    assert result.timed_out
    assert result.winning_answer.content == "Alice's answer"  # the most-voted so far
    assert result.final_answer == "Presented."
    assert of_kind(events, WinnerSelected)[0].timed_out
    assert result.coordination_seconds < 5
    assert massmem_tasks() == []


async def test_timeout_without_votes_uses_the_latest_answer_text() -> None:
    alice = scripted_agent(
        "alice", [AnswerReply("first"), AnswerReply("second", delay=0.01), TextReply("x", delay=30)]
    )
    config = OrchestratorConfig(timeout=0.2)
    result, _ = await run_team([alice], config, grace_period=0.05)
    assert result.timed_out and result.winning_answer.content == "second"
    assert result.final_answer == "second" and "longer than" in (result.presentation_error or "")


async def test_timeout_before_any_answer_raises() -> None:
    slow = scripted_agent("slow", [AnswerReply("late", delay=30)])
    with pytest.raises(CoordinationError, match="no agent answered within the timeout"):
        await Orchestrator([slow], OrchestratorConfig(timeout=0.1)).run("q")
    assert massmem_tasks() == []


async def test_agent_timeout_fails_only_that_agent() -> None:
    slow = scripted_agent("slow", [AnswerReply("late", delay=30)])
    alice = scripted_agent("alice", [AnswerReply("4"), VoteReply("agent2")])
    result, _ = await run_team([slow, alice], OrchestratorConfig(agent_timeout=0.1))
    assert result.failures == {"slow": "no reply within agent_timeout (0.1 s)"}
    assert result.winner == "alice"


async def test_cancelling_the_run_cancels_every_call() -> None:
    agents = [scripted_agent(f"a{i}", [AnswerReply(f"x{i}", delay=30)]) for i in range(3)]
    task = asyncio.create_task(Orchestrator(agents).run("q"))
    await asyncio.sleep(0.05)
    assert len(massmem_tasks()) == 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert massmem_tasks() == []


async def test_closing_the_stream_early_cancels_every_call() -> None:
    agents = [
        scripted_agent("fast", [AnswerReply("x")]),
        scripted_agent("slow", [AnswerReply("y", delay=30)]),
    ]
    orchestrator = Orchestrator(agents)
    async with aclosing(orchestrator.stream("q")) as events:
        async for _ in events:
            break
    assert massmem_tasks() == []


async def test_consumer_exception_cancels_and_propagates() -> None:
    agents = [scripted_agent("slow", [AnswerReply("y", delay=30)])]

    def display(event: object) -> None:
        raise RuntimeError("display broke")

    with pytest.raises(RuntimeError, match="display broke"):
        await Orchestrator(agents).run("q", on_event=display)
    assert massmem_tasks() == []


async def test_presentation_streams_final_deltas_even_after_timeout() -> None:
    alice = scripted_agent("alice", [AnswerReply("a"), TextReply("never", delay=30)], chunk_size=1)
    backend_of(alice).replies.append(TextReply("final!", delay=0))
    # the third call (presentation) is the only zero-delay one left
    result, events = await run_team([alice], OrchestratorConfig(timeout=0.1), grace_period=1.0)
    assert result.timed_out and result.final_answer == "final!"
    assert "".join(e.text for e in of_kind(events, FinalAnswerDelta)) == "final!"
