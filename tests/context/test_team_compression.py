"""Through the orchestrator: earlier turns as message pairs, compression events, display lines."""

from __future__ import annotations

from massmem.agents import Agent
from massmem.backends.base import ModelRequest
from massmem.backends.scripted import FunctionBackend
from massmem.cli.display import describe
from massmem.config.schema import OrchestratorConfig
from massmem.coordination import Orchestrator, PastTurn
from massmem.coordination.events import AgentContextUsage, ContextCompressed, Event
from massmem.coordination.prompts import history_messages
from massmem.messages import AssistantMessage, UserMessage
from tests.context.helpers import SmallWindowModel, is_summary_request, model_tokens

HISTORY = [PastTurn(f"Question {i}: " + "why " * 30, f"Answer {i}: " + "because " * 30) for i in range(12)]


def test_history_becomes_user_and_assistant_pairs() -> None:
    pairs = history_messages([PastTurn(" What is 1+1? ", "Two. "), PastTurn("And 2+2?", "Four.")])
    assert pairs == (
        UserMessage("What is 1+1?"),
        AssistantMessage("Two."),
        UserMessage("And 2+2?"),
        AssistantMessage("Four."),
    )


async def test_earlier_turns_are_real_messages_before_the_task() -> None:
    seen: list[ModelRequest] = []

    def model(request: ModelRequest) -> str:
        seen.append(request)
        return "Paris"

    agent = Agent("solo", FunctionBackend(model))
    agent.action_mode = "text"
    await Orchestrator([agent]).run("And of France?", history=[PastTurn("Capital of Italy?", "Rome.")])
    first = seen[0].messages
    assert first[1] == UserMessage("Capital of Italy?") and first[2] == AssistantMessage("Rome.")
    assert isinstance(first[3], UserMessage) and "And of France?" in first[3].content
    assert "Rome." not in first[3].content  # no longer pasted into the task message
    presentation = seen[-1].messages
    assert presentation[1:3] == first[1:3] and "And of France?" in presentation[-1].content


async def test_a_long_session_is_compressed_reactively_and_the_run_goes_on() -> None:
    toy = SmallWindowModel(window=900, reply="Paris is the answer.")
    agent = Agent("solo", toy.backend())
    agent.action_mode = "text"
    events: list[Event] = []
    result = await Orchestrator([agent], OrchestratorConfig(compression_target_ratio=0.3)).run(
        "And of France?", history=HISTORY, on_event=events.append
    )
    assert result.final_answer
    assert agent.context.settings.reactive_ratio == 0.3
    compressed = [e for e in events if isinstance(e, ContextCompressed)]
    assert compressed and compressed[0].reason == "reactive"
    assert compressed[0].tokens_after < compressed[0].tokens_before
    assert compressed[0].window == 900
    # The earlier turns were summarised: the accepted request no longer carries them all.
    accepted = [r for r in toy.main_requests if r not in toy.refused]
    assert all(model_tokens(r) <= 900 for r in accepted)
    assert toy.refused and not any(r in toy.refused for r in accepted)
    # The summary requests are real spend: they count in the run's usage.
    summary_in = sum(model_tokens(r) for r in toy.summary_requests if r not in toy.refused)
    main_in = sum(model_tokens(r) for r in toy.main_requests if r not in toy.refused)
    assert summary_in > 0 and result.usage.input_tokens == main_in + summary_in
    assert result.agent("solo").usage == result.usage
    usage = [e for e in events if isinstance(e, AgentContextUsage)]
    assert usage and usage[0].agent_id == "solo" and usage[0].window == 900
    assert usage[0].turn == 1 and not usage[0].estimated
    # The display's one-liners.
    line = describe(compressed[0])
    assert line is not None and line.startswith("[solo] context compressed (reactive") and "of 900" in line
    assert (
        describe(usage[0])
        == f"[solo] context after turn 1: {usage[0].used:,} / 900 tokens ({usage[0].percent}%) [API]"
    )


async def test_a_long_session_is_compressed_proactively_when_the_window_is_known() -> None:
    toy = SmallWindowModel(window=900, reply="Paris is the answer.")
    agent = Agent("solo", toy.backend())
    agent.action_mode = "text"
    agent.context.configured_window = 900
    events: list[Event] = []
    await Orchestrator([agent]).run("And of France?", history=HISTORY, on_event=events.append)
    compressed = [e for e in events if isinstance(e, ContextCompressed)]
    assert compressed and compressed[0].reason == "proactive"
    assert describe(compressed[0]).startswith("[solo] context compressed (proactive: near the limit)")  # type: ignore[union-attr]
    # No request of the agent's was ever refused (a summary request may be, and is then split).
    assert not any(r in toy.refused for r in toy.main_requests)
    assert all(is_summary_request(r) for r in toy.refused)
    assert any(is_summary_request(r) for r in toy.requests)


async def test_earlier_turns_are_summarised_once_per_session_not_once_per_question() -> None:
    toy = SmallWindowModel(window=900, reply="Paris is the answer.")
    agent = Agent("solo", toy.backend())
    agent.action_mode = "text"
    agent.context.configured_window = 900
    orchestrator = Orchestrator([agent])
    await orchestrator.run("And of France?", history=HISTORY)
    first = len(toy.summary_requests)
    await orchestrator.run("And of Spain?", history=[*HISTORY, PastTurn("And of France?", "Paris.")])
    second = len(toy.summary_requests) - first
    assert first >= 2 and second < first
    # What the second question summarised was the new turn, folded into the cached summary.
    transcripts = [r.messages[1].content for r in toy.summary_requests[first:]]
    assert (
        transcripts
        and "Question 0:" not in transcripts[0]
        and "My summary of the conversation" in transcripts[0]
    )
