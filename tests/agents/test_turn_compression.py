"""Compression inside Agent.take_turn: proactive, reactive (retry exactly once), chunked, lossless."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from massmem.agents import Agent, ContextBlock, TurnContext, TurnPlan
from massmem.backends.base import Capabilities, ModelRequest
from massmem.backends.scripted import FunctionBackend
from massmem.context.compression import CompressionReport
from massmem.context.usage import ContextUsage
from massmem.errors import ContextLengthExceeded, ProviderUnavailable
from massmem.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage
from tests.context.helpers import SmallWindowModel, is_summary_request, model_tokens

TASK = "TASK: plan a three-day trip to Lisbon and list what to see each day."


async def grow(agent: Agent, turns: int, size: int = 120, notes: list | None = None) -> None:
    """The task (pinned), then ``turns`` follow-ups with long replies."""
    await agent.take_turn(TurnPlan(system="SYS", prompt=TASK, pin_prompt=True), on_context=_sink(notes))
    for i in range(turns):
        await agent.take_turn(
            TurnPlan(system="SYS", prompt=f"step {i}: " + "more detail " * (size // 12)),
            on_context=_sink(notes),
        )


def _sink(notes: list | None):  # type: ignore[no-untyped-def]
    return None if notes is None else notes.append


def reports(notes: list) -> list[CompressionReport]:
    return [n for n in notes if isinstance(n, CompressionReport)]


async def test_reactive_compression_retries_once_with_a_smaller_request() -> None:
    toy = SmallWindowModel(window=450, reply="r" * 90)
    agent = Agent("a", toy.backend())
    compressed: list[bool] = []  # what context providers are told about each request

    async def provider(context: TurnContext) -> list[ContextBlock]:
        compressed.append(context.compressed)
        return []

    agent.context_providers.append(provider)
    agent.begin("q")
    notes: list = []
    await grow(agent, 8, notes=notes)
    assert toy.refused, "the conversation should have outgrown the window"
    refused = toy.refused[0]
    # The call after the refusal is the retry: smaller, and accepted.
    index = next(i for i, r in enumerate(toy.main_requests) if r is refused)
    retry = toy.main_requests[index + 1]
    assert model_tokens(retry) < model_tokens(refused) <= model_tokens(retry) + 10_000
    assert model_tokens(retry) <= toy.window
    assert toy.main_requests.count(refused) == 1
    first = reports(notes)[0]
    assert first.reason == "reactive" and first.window == 450
    assert first.tokens_before == model_tokens(refused)  # the provider's own figure
    assert first.tokens_after < first.tokens_before
    # Learnt from the error, and calibrated on the requested size.
    assert agent.context.learnt_window == 450 and agent.context_window == 450
    assert agent.context.counter.observations >= 1
    # The rebuilt request tells memory that older messages left it; the first requests did not.
    assert compressed[0] is False and compressed[-1] is True


async def test_rebuilt_request_keeps_system_request_and_recent_with_summary_as_assistant() -> None:
    toy = SmallWindowModel(window=450, reply="r" * 90, summary="I planned days one and two.")
    agent = Agent("a", toy.backend())
    agent.begin("q")
    await grow(agent, 8)
    retry = toy.main_requests[toy.main_requests.index(toy.refused[0]) + 1]
    system, request, summary, *recent = retry.messages
    assert system.content == "SYS"
    assert request == UserMessage(TASK)
    assert isinstance(summary, AssistantMessage) and "I planned days one and two." in summary.content
    assert recent and isinstance(recent[0], UserMessage) and isinstance(recent[-1], UserMessage)
    assert recent[-1].content.startswith("step ")  # the newest prompt is last
    stored = agent.conversation.messages()
    at = stored.index(recent[-1])
    assert recent == stored[at + 1 - len(recent) : at + 1]  # verbatim, the most recent run
    assert stored[at + 1] == AssistantMessage("r" * 90)  # the retry's reply followed


async def test_nothing_stored_is_lost() -> None:
    toy = SmallWindowModel(window=450, reply="r" * 90)
    agent = Agent("a", toy.backend())
    agent.begin("q")
    await grow(agent, 10)
    assert toy.refused
    stored = agent.conversation.messages()
    assert len(stored) == 22  # 11 prompts and 11 replies, every one of them
    assert stored[0] == UserMessage(TASK)
    assert all(isinstance(m, UserMessage) for m in stored[::2])
    assert all(m == AssistantMessage("r" * 90) for m in stored[1::2])


async def test_second_overflow_fails_once_with_a_clear_message() -> None:
    calls: list[ModelRequest] = []

    def always_too_long(request: ModelRequest) -> str:
        calls.append(request)
        if is_summary_request(request):
            return "short summary"
        raise ContextLengthExceeded("too long", requested_tokens=999, allowed_tokens=500, provider="toy")

    agent = Agent("a", FunctionBackend(always_too_long, model="toy-model"))
    agent.begin("q")
    agent.conversation.add(UserMessage(TASK), pinned=True)
    for i in range(6):
        agent.conversation.add(UserMessage(f"u{i}"))
        agent.conversation.add(AssistantMessage(f"a{i}"))
    before = agent.conversation.messages()
    with pytest.raises(ContextLengthExceeded) as caught:
        await agent.take_turn(TurnPlan(system="SYS", prompt="now"))
    text = str(caught.value)
    assert "\n" not in text and "after compression" in text
    assert caught.value.agent_id == "a" and caught.value.allowed_tokens == 500
    main = [r for r in calls if not is_summary_request(r)]
    assert len(main) == 2  # the call and exactly one retry
    assert agent.conversation.messages() == [*before, UserMessage("now")]  # nothing lost


async def test_nothing_to_summarise_is_a_clear_failure() -> None:
    toy = SmallWindowModel(window=20)
    agent = Agent("a", toy.backend())
    with pytest.raises(ContextLengthExceeded) as caught:
        await agent.take_turn(TurnPlan(system="SYS", prompt="x" * 400, pin_prompt=True))
    assert "no older messages to summarise" in str(caught.value)
    assert len(toy.main_requests) == 1 and not toy.summary_requests


async def test_summary_requests_that_would_overflow_are_made_in_chunks() -> None:
    toy = SmallWindowModel(window=420, reply="r" * 60, summary="S.")
    agent = Agent("a", toy.backend())
    agent.begin("q")
    notes: list = []
    await grow(agent, 14, size=100, notes=notes)
    first = reports(notes)[0]
    assert first.summary_calls > 1
    # Every summary request the model accepted fitted its window; refused ones were split again.
    accepted = [r for r in toy.summary_requests if r not in toy.refused]
    assert len(accepted) >= 2 and all(model_tokens(r) <= toy.window for r in accepted)
    # Later chunks fold in the summary so far.
    assert any("S." in r.messages[1].content for r in accepted[1:])


async def test_chunking_learns_the_window_from_the_summary_request_itself() -> None:
    """Window unknown until the summariser's own request overflows: it learns and splits."""
    toy = SmallWindowModel(window=300, reply="r" * 60, summary="S.")
    agent = Agent("a", toy.backend())
    agent.conversation.add(UserMessage(TASK), pinned=True)
    for i in range(30):  # a long history sent in one go
        agent.conversation.add(UserMessage(f"q{i} " + "w" * 60))
        agent.conversation.add(AssistantMessage(f"a{i} " + "v" * 60))
    completion = await agent.take_turn(TurnPlan(system="SYS", prompt="go on"))
    assert completion.text == "r" * 60
    assert agent.context.learnt_window == 300
    assert len([r for r in toy.summary_requests if r not in toy.refused]) >= 2


async def test_proactive_compression_means_no_error_ever_reaches_the_model() -> None:
    toy = SmallWindowModel(window=600, reply="r" * 90)
    backend = FunctionBackend(toy, model="toy-model", capabilities=Capabilities(context_window=600))
    agent = Agent("a", backend)
    agent.begin("q")
    notes: list = []
    await grow(agent, 14, notes=notes)
    assert not toy.refused
    found = reports(notes)
    assert found and all(r.reason == "proactive" for r in found)
    assert all(r.tokens_after < r.tokens_before for r in found)
    assert max(model_tokens(r) for r in toy.main_requests) <= 600
    usages = [n for n in notes if isinstance(n, ContextUsage)]
    assert len(usages) == 15 and all(u.window == 600 for u in usages)


async def test_proactive_uses_configured_threshold_and_target() -> None:
    toy = SmallWindowModel(window=10_000, reply="r" * 90)
    agent = Agent("a", toy.backend())
    agent.context.configured_window = 1000
    agent.context.settings.trigger_threshold = 0.5
    agent.context.settings.target_ratio = 0.2
    agent.begin("q")
    notes: list = []
    await grow(agent, 10, notes=notes)
    found = reports(notes)
    assert found
    for report in found:
        assert report.tokens_before > 500
        assert report.tokens_after <= 1000 * 0.2 + 150  # near the target (one summary's slack)


async def test_proactive_summary_failure_sends_uncompressed() -> None:
    def model(request: ModelRequest) -> str:
        if is_summary_request(request):
            raise ProviderUnavailable("summariser down")
        return "fine"

    agent = Agent("a", FunctionBackend(model, model="toy-model"))
    agent.context.configured_window = 100
    agent.conversation.add(UserMessage(TASK), pinned=True)
    for i in range(10):
        agent.conversation.add(UserMessage("u" * 50))
        agent.conversation.add(AssistantMessage(f"a{i}"))
    completion = await agent.take_turn(TurnPlan(system="SYS", prompt="go"))
    assert completion.text == "fine" and not agent.context.compressions


async def test_tool_calls_and_results_stay_together_in_the_rebuilt_request() -> None:
    toy = SmallWindowModel(window=500, reply="ok")
    agent = Agent("a", toy.backend())
    agent.begin("q")
    agent.conversation.add(UserMessage(TASK), pinned=True)
    for i in range(8):
        call = ToolCall(f"c{i}", "new_answer", {"content": "x" * 40}, json.dumps({"content": "x" * 40}))
        agent.conversation.add(AssistantMessage("thinking " * 5, (call,)))
        agent.conversation.add(ToolResultMessage(f"c{i}", "new_answer", f"Recorded as agent1.{i}."))
        agent.conversation.add(UserMessage(f"next {i} " + "z" * 60))
    await agent.take_turn(TurnPlan(system="SYS", prompt="vote now"))
    assert toy.refused
    retry = toy.main_requests[-1]
    calls = {c.id for m in retry.messages if isinstance(m, AssistantMessage) for c in m.tool_calls}
    results = {m.tool_call_id for m in retry.messages if isinstance(m, ToolResultMessage)}
    assert calls == results


async def test_standalone_calls_compress_their_history_without_touching_the_conversation() -> None:
    toy = SmallWindowModel(window=300, reply="final")
    agent = Agent("a", toy.backend())
    agent.conversation.add(UserMessage("kept"))
    history = tuple(
        m
        for i in range(10)
        for m in (UserMessage(f"old q{i} " + "q" * 50), AssistantMessage(f"old a{i} " + "a" * 50))
    )
    completion = await agent.take_turn(
        TurnPlan(system="SYS", prompt="present", standalone=True, history=history)
    )
    assert completion.text == "final" and toy.refused
    assert toy.main_requests[-1].messages[-1] == UserMessage("present")
    assert agent.conversation.messages() == [UserMessage("kept")]


async def test_compression_persists_across_turns_and_resets_on_begin() -> None:
    toy = SmallWindowModel(window=450, reply="r" * 90)
    agent = Agent("a", toy.backend())
    agent.begin("q")
    await grow(agent, 8)
    refusals = len(toy.refused)
    await agent.take_turn(TurnPlan(system="SYS", prompt="one more"))
    # The next call reuses the summary (and compresses proactively now the window is known).
    assert len(toy.refused) == refusals
    summary_seen = toy.main_requests[-1].messages[2]
    assert isinstance(summary_seen, AssistantMessage) and "summary" in summary_seen.content.lower()
    agent.begin("another question")
    await agent.take_turn(TurnPlan(system="SYS", prompt="fresh", pin_prompt=True))
    assert [m.content for m in toy.main_requests[-1].messages] == ["SYS", "fresh"]


async def test_usage_line_uses_the_providers_figure_when_reported() -> None:
    from massmem.messages import Finished, TextDelta, Usage

    backend = FunctionBackend(
        lambda r: [TextDelta("hi"), Usage(input_tokens=1234, output_tokens=6), Finished()],
        model="gpt-4o",
    )
    agent = Agent("a", backend)
    notes: list = []
    await agent.take_turn(TurnPlan(system="S", prompt="p"), on_context=notes.append)
    usage = notes[-1]
    assert isinstance(usage, ContextUsage) and usage.source == "api"
    assert usage.used == 1240 and usage.sent == 1234 and usage.window == 128_000
    assert usage.line() == "1,240 / 128,000 tokens (1%) [API]"
    assert agent.context_usage == usage
    assert agent.context.counter.calibration == 4.0  # learnt, and clamped: the provider counted far more


async def test_debug_dumps_record_each_compression(tmp_path: Path) -> None:
    toy = SmallWindowModel(window=450, reply="r" * 90, summary="the summary text")
    agent = Agent("a", toy.backend())
    agent.debug_dir = tmp_path
    agent.begin("q")
    await grow(agent, 10)
    files = sorted((tmp_path / "compression" / "a").glob("*.json"))
    assert len(files) == len(agent.context.compressions) >= 2
    assert files[0].name.startswith("001_")
    first = json.loads(files[0].read_text())
    assert first["reason"] == "reactive"
    for key in (
        "input_messages",
        "summarised_messages",
        "summary",
        "summary_requests",
        "result_messages",
        "retry_request",
    ):
        assert key in first
    assert first["summary"] == "the summary text"
    assert first["retry_request"]["messages"] == first["result_messages"]
    assert any(json.loads(f.read_text())["reason"] == "proactive" for f in files[1:])
    assert "request" in json.loads(files[-1].read_text())


def memories(size: int):  # type: ignore[no-untyped-def]
    """A context provider injecting ``size`` characters of 'shared memory' into every call."""
    from massmem.agents import ContextBlock

    async def provide(context: object) -> list[ContextBlock]:
        lines = [
            f"[agent{i % 3 + 1}.{i}] answered: " + "the garden needs compost " * 3 for i in range(size // 90)
        ]
        return [ContextBlock("Shared memory", "\n".join(lines))]

    return provide


async def test_injected_context_is_cut_when_nothing_older_can_be_summarised() -> None:
    toy = SmallWindowModel(window=400, reply="ok")
    agent = Agent("a", toy.backend(), context_providers=[memories(3000)])
    notes: list = []
    completion = await agent.take_turn(
        TurnPlan(system="SYS", prompt=TASK, pin_prompt=True), on_context=notes.append
    )
    assert completion.text == "ok" and len(toy.refused) == 1
    retry = toy.main_requests[-1]
    assert model_tokens(retry) <= 400
    assert '<context label="Shared memory">' in retry.messages[0].content  # cut, not dropped
    assert "characters left out" in retry.messages[0].content
    report = reports(notes)[0]
    assert report.reason == "reactive" and report.summarised_messages == 0 and report.context_trimmed > 0
    assert agent.conversation.messages()[0] == UserMessage(TASK)


async def test_injected_context_is_cut_proactively_when_the_window_is_known() -> None:
    toy = SmallWindowModel(window=400, reply="ok")
    backend = FunctionBackend(toy, model="toy-model", capabilities=Capabilities(context_window=400))
    agent = Agent("a", backend, context_providers=[memories(3000)])
    agent.context.counter.calibration = (
        1.4  # as learnt from earlier calls (the toy counts 3 characters a token)
    )
    notes: list = []
    for i in range(4):
        await agent.take_turn(
            TurnPlan(system="SYS", prompt=f"{TASK} {i}", pin_prompt=i == 0), on_context=notes.append
        )
    assert not toy.refused
    assert reports(notes) and all(r.reason == "proactive" and r.context_trimmed > 0 for r in reports(notes))


async def test_unknown_window_and_nothing_to_summarise_leaves_injected_context_out() -> None:
    toy = SmallWindowModel(window=300, reply="ok", report_window=False)
    agent = Agent("a", toy.backend(), context_providers=[memories(3000)])
    completion = await agent.take_turn(TurnPlan(system="SYS", prompt=TASK, pin_prompt=True))
    assert completion.text == "ok"
    assert toy.main_requests[-1].messages[0].content == "SYS"


def test_a_swapped_backend_also_writes_the_summaries() -> None:
    """One agent, one model: replacing ``agent.backend`` must reach the context manager too."""
    from massmem.agents import Agent
    from massmem.backends.scripted import ScriptedBackend

    first, second = ScriptedBackend(["a"]), ScriptedBackend(["b"])
    agent = Agent("a", first)
    agent.backend = second
    assert agent.backend is second and agent.context.backend is second
