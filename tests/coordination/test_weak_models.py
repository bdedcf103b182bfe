"""Graceful degradation: JSON actions, JSON-mode retries, and teams that only write plain text."""

from __future__ import annotations

import itertools

from massmem.agents import Agent
from massmem.backends.base import Capabilities, ModelRequest
from massmem.backends.scripted import AnswerReply, FunctionBackend, ScriptedBackend, TextReply, VoteReply
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import AgentRetry, AgentStarted, AnswerSubmitted, VoteCast
from tests.coordination.helpers import backend_of, of_kind, run_team

NO_TOOLS = Capabilities(tool_calling=False, json_schema=False)
JSON_ONLY = Capabilities(tool_calling=False, json_schema=True)


async def test_json_mode_action_is_parsed() -> None:
    agent = Agent(
        "j", ScriptedBackend([AnswerReply("Four"), VoteReply("agent1", "sure")], capabilities=JSON_ONLY)
    )
    result, events = await run_team([agent])
    first = backend_of(agent).requests[0]
    assert not first.tools and first.response_format is not None
    # Nothing to vote for yet: the first call may only answer, with content.
    assert first.response_format.schema["properties"]["action"]["enum"] == ["new_answer"]
    assert first.response_format.schema["required"] == ["action", "content"]
    second = backend_of(agent).requests[1]
    assert second.response_format is not None
    assert second.response_format.schema["properties"]["agent_id"]["enum"] == ["agent1"]
    assert {e.protocol for e in of_kind(events, AgentStarted)} == {"json"}
    assert result.final_answer == "Four" and result.votes[0].reason == "sure" and not result.votes[0].implicit


async def test_forced_json_mode_without_schema_support_uses_instructions() -> None:
    def fn(request: ModelRequest) -> str:
        assert not request.tools and request.response_format is None
        if "recorded as" in str(request.messages[-1]):
            return 'Okay. {"action": "vote", "agent_id": "agent1", "reason": "fine"}'
        return '```json\n{"action": "new_answer", "content": "Four"}\n```'

    agent = Agent("j", FunctionBackend(fn, capabilities=NO_TOOLS), action_mode="json")
    result, _ = await run_team([agent], OrchestratorConfig(present_final_answer=False))
    assert '"action": "vote"' in str(backend_of_fn(agent).requests[0].messages[0])
    assert result.final_answer == "Four" and not result.votes[0].implicit


def backend_of_fn(agent: Agent) -> FunctionBackend:
    assert isinstance(agent.backend, FunctionBackend)
    return agent.backend


async def test_auto_mode_reads_json_written_as_text_even_when_offered_tools() -> None:
    agent = Agent(
        "t",
        ScriptedBackend(
            ['{"action": "new_answer", "content": "Four"}', '{"action": "vote", "agent_id": "agent1"}']
        ),
    )
    result, events = await run_team([agent])
    assert not of_kind(events, AgentRetry)
    assert backend_of(agent).requests[0].tools
    assert result.final_answer == "Four" or result.winning_answer.content == "Four"


async def test_auto_mode_switches_retries_to_json_mode() -> None:
    agent = Agent("t", ScriptedBackend([TextReply("hmm"), AnswerReply("Four"), VoteReply("agent1")]))
    result, events = await run_team([agent])
    requests = backend_of(agent).requests
    assert requests[0].tools and requests[0].response_format is None
    assert not requests[1].tools and requests[1].response_format is not None
    assert "one JSON object" in str(requests[1].messages[-1])
    assert of_kind(events, AgentRetry)[0].protocol == "json"
    assert requests[2].tools  # a new turn starts with tools again
    assert result.winning_answer.content == "Four"


async def test_team_of_plain_text_models_still_produces_a_winner_and_final_answer() -> None:
    babble = itertools.count()

    def base_model(request: ModelRequest) -> str:
        return f"the the sky is {next(babble)} purple purple"  # nonsense, never an action

    agents = [Agent(f"tiny{i}", FunctionBackend(base_model, capabilities=NO_TOOLS)) for i in range(3)]
    result, events = await run_team(agents, OrchestratorConfig(max_invalid_retries=2))
    assert result.failures == {}
    answers = of_kind(events, AnswerSubmitted)
    assert len(answers) == 3 and all(a.from_text for a in answers)
    votes = of_kind(events, VoteCast)
    assert votes and all(v.implicit and v.target_agent_id == v.agent_id for v in votes)
    assert result.winner == "tiny0"  # 1-1-1 tie: registration order
    assert result.final_answer.strip() and result.presented
    # once retries ran out, later turns use the plain-text protocol instead of retrying again
    protocols = [e.protocol for e in of_kind(events, AgentStarted) if e.agent_id == "tiny0"]
    assert protocols[:3] == ["json"] * 3 and protocols[-1] == "text"
    assert all(r.calls <= 6 for r in result.agents)
    for agent in agents:
        assert all(not r.tools for r in backend_of_fn(agent).requests)


async def test_text_mode_takes_plain_text_at_once() -> None:
    texts = iter(["Four, because 2+2=4.", "Still four."])
    agent = Agent(
        "t", FunctionBackend(lambda r: next(texts, "ok"), capabilities=NO_TOOLS), action_mode="text"
    )
    result, events = await run_team([agent])
    assert not of_kind(events, AgentRetry)
    assert result.winning_answer.content == "Four, because 2+2=4."
    assert result.votes[0].implicit
    assert len(backend_of_fn(agent).requests) == 3  # answer, implicit vote, presentation


async def test_weak_model_text_repeating_an_answer_becomes_a_vote_for_it() -> None:
    strong = Agent("strong", ScriptedBackend([AnswerReply("Four."), VoteReply("agent1")]))
    weak = Agent(
        "weak", ScriptedBackend([TextReply("Four.", delay=0.02)], capabilities=NO_TOOLS), action_mode="text"
    )
    result, events = await run_team([strong, weak])
    assert [a.author for a in result.answers] == ["strong"]
    assert result.vote_counts == {"strong": 2}
    weak_votes = [v for v in of_kind(events, VoteCast) if v.agent_id == "weak"]
    assert weak_votes and weak_votes[0].implicit


async def test_weak_model_with_nothing_to_say_fails_cleanly() -> None:
    mute = Agent("mute", ScriptedBackend([TextReply("")], capabilities=NO_TOOLS))
    helper = Agent("helper", ScriptedBackend([AnswerReply("Four"), VoteReply("agent2")]))
    result, _ = await run_team([mute, helper], OrchestratorConfig(max_invalid_retries=1))
    assert "mute" in result.failures and result.winner == "helper"


async def test_fallback_skips_json_without_content_and_uses_later_plain_text() -> None:
    replies = ['{"action": "vote", "agent_id": "agent1"}', "The answer is four."]
    agent = Agent("w", ScriptedBackend(replies, capabilities=JSON_ONLY))
    result, events = await run_team([agent], OrchestratorConfig(max_invalid_retries=1))
    assert [r.reason for r in of_kind(events, AgentRetry)] == ["vote_without_answers"]
    assert result.winning_answer.content == "The answer is four."
    assert of_kind(events, AnswerSubmitted)[0].from_text and result.votes[0].implicit
