"""ContextManager on its own: prepare, recover, account — one call's context, without an agent.

The model is a real scripted backend (``SmallWindowModel``: refuses any request over its
window, summarises when asked); only the manager's steps are driven by hand.
"""

from __future__ import annotations

import pytest

from massmem.backends.base import Completion
from massmem.backends.scripted import FunctionBackend
from massmem.context.compression import CompressionReport, Entry
from massmem.context.manager import ContextManager
from massmem.context.request import ContextBlock, ContextProvider, TurnContext, TurnPlan
from massmem.context.usage import ContextUsage
from massmem.errors import ContextLengthExceeded
from massmem.messages import AssistantMessage, SystemMessage, Usage, UserMessage
from tests.context.helpers import SmallWindowModel, model_tokens

PLAN = TurnPlan(system="SYS")


def long_entries(turns: int, size: int = 300) -> list[Entry]:
    """A pinned task, then ``turns`` exchanges of long user and assistant messages."""
    entries: list[Entry] = [(UserMessage("TASK: the task"), True)]
    for i in range(turns):
        entries.append((UserMessage(f"step {i}: " + "x" * size), False))
        entries.append((AssistantMessage("y" * size), False))
    entries.append((UserMessage("go on"), False))
    return entries


async def test_prepare_renders_the_plan_the_messages_and_the_providers_blocks() -> None:
    told: list[TurnContext] = []

    async def memories(context: TurnContext) -> list[ContextBlock]:
        told.append(context)
        return [ContextBlock("Relevant memories", "the sky is green"), ContextBlock("Empty", "")]

    providers: list[ContextProvider] = [memories]
    manager = ContextManager("a", FunctionBackend(lambda r: "ok", model="toy-model"), providers)
    draft = await manager.prepare(PLAN, [(UserMessage("hello"), True)], "the question")
    system, hello = draft.request.messages
    assert isinstance(system, SystemMessage) and system.content.startswith("SYS\n\n<context label=")
    assert "the sky is green" in system.content and "Empty" not in system.content
    assert hello == UserMessage("hello")
    assert told == [TurnContext("a", "the question", (UserMessage("hello"),), False)]
    assert draft.view is None and not manager.compressions


async def test_prepare_compresses_before_the_call_past_the_trigger() -> None:
    toy = SmallWindowModel(window=10_000, summary="SUMMARY: steps so far.")
    told: list[bool] = []

    async def provider(context: TurnContext) -> list[ContextBlock]:
        told.append(context.compressed)
        return []

    manager = ContextManager("a", toy.backend(), [provider])
    manager.configured_window = 1000
    notes: list[CompressionReport | ContextUsage] = []
    entries = long_entries(8)
    draft = await manager.prepare(PLAN, entries, "q", notes.append)
    assert [n.reason for n in notes if isinstance(n, CompressionReport)] == ["proactive"]
    assert draft.view is not None and manager.counter.request(draft.request) < 1000
    assert any("SUMMARY: steps so far." in getattr(m, "content", "") for m in draft.request.messages)
    assert told == [False, True]  # the rebuilt request tells the providers
    assert manager.summary_usage.total_tokens > 0  # the summary request is real spend
    # Nothing is kept until the call went through.
    again = await manager.prepare(PLAN, entries, "q")
    assert len(manager.compressions) == 2 and again.view is not None


async def test_recover_learns_the_window_and_hands_back_a_smaller_request() -> None:
    toy = SmallWindowModel(window=600)
    manager = ContextManager("a", toy.backend(), [])
    draft = await manager.prepare(PLAN, long_entries(8), "q")  # window unknown: no proactive step
    size = model_tokens(draft.request)
    error = ContextLengthExceeded("too long", requested_tokens=size, allowed_tokens=600, provider="toy")
    notes: list[CompressionReport | ContextUsage] = []
    retry = await manager.recover(error, draft, notes.append)
    assert manager.learnt_window == 600 and manager.window == 600
    assert error.agent_id == "a"
    assert model_tokens(retry.request) <= 600 < size
    (report,) = notes
    assert isinstance(report, CompressionReport) and report.reason == "reactive"
    assert report.tokens_before == size


async def test_recover_with_nothing_to_summarise_and_a_refused_retry_fail_clearly() -> None:
    manager = ContextManager("a", SmallWindowModel(window=10).backend(), [])
    draft = await manager.prepare(PLAN, [(UserMessage("x" * 400), True)], "q")
    error = ContextLengthExceeded("too long", requested_tokens=140, allowed_tokens=10, provider="toy")
    with pytest.raises(ContextLengthExceeded, match="no older messages to summarise") as failed:
        await manager.recover(error, draft)
    assert failed.value.agent_id == "a" and failed.value.provider == "toy"
    again = manager.still_too_long(ContextLengthExceeded("still", requested_tokens=120), draft)
    assert "still does not fit the context window after compression (~120 tokens sent" in str(again)


async def test_account_records_the_figure_and_keeps_the_view_of_a_conversation_call() -> None:
    toy = SmallWindowModel(window=10_000)
    manager = ContextManager("a", toy.backend(), [])
    manager.configured_window = 1000
    entries = long_entries(8)
    draft = await manager.prepare(PLAN, entries, "q")
    assert draft.view is not None
    told: list[CompressionReport | ContextUsage] = []
    reported = Completion(text="ok", usage=Usage(input_tokens=400, output_tokens=2))
    manager.account(draft, reported, told.append)
    assert told == [manager.usage] and manager.usage is not None
    assert (manager.usage.source, manager.usage.sent, manager.usage.used) == ("api", 400, 402)
    assert manager.counter.observations == 1  # calibrated on the provider's count
    # The next call renders from the kept view: no second compression for the same messages.
    again = await manager.prepare(PLAN, entries, "q")
    assert len(manager.compressions) == 1 and again.view is draft.view


async def test_account_estimates_a_call_without_usage_and_forgets_nothing_for_a_standalone_call() -> None:
    manager = ContextManager("a", FunctionBackend(lambda r: "ok", model="toy-model"), [])
    plan = TurnPlan(system="SYS", standalone=True)
    draft = await manager.prepare(plan, [(UserMessage("present it"), True)], "q")
    silent = Completion(text="the final answer")
    manager.account(draft, silent)
    assert silent.usage is not None and silent.usage.estimated and silent.usage.output_tokens > 0
    assert manager.usage is not None and manager.usage.source == "estimate"
    assert manager.counter.observations == 0
    assert manager._view is None  # a standalone call never changes the conversation's view


def test_window_learnt_only_narrows() -> None:
    manager = ContextManager("a", FunctionBackend(lambda r: "ok", model="gpt-4o"), [])
    assert manager.window == 128_000
    manager.configured_window = 4096
    assert manager.window == 4096
    manager.learn_window(1000)
    manager.learn_window(4000)
    assert manager.window == 1000
