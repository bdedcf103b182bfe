"""ScriptedBackend and FunctionBackend: rendering per request, exhaustion, errors, registry."""

from __future__ import annotations

import json

import pytest

from massmem.backends.base import Capabilities, JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.registry import build_backend
from massmem.backends.scripted import (
    AnswerReply,
    FunctionBackend,
    RaiseReply,
    ScriptedBackend,
    TextReply,
    VoteReply,
)
from massmem.config.schema import ScriptedBackendConfig
from massmem.errors import InvalidResponse, ProviderUnavailable
from massmem.messages import Finished, TextDelta, ToolCall, Usage, UserMessage

TOOLS = (ToolSpec("new_answer", "", {}), ToolSpec("vote", "", {}))
WITH_TOOLS = ModelRequest([UserMessage("q")], tools=TOOLS)
JSON_MODE = ModelRequest([UserMessage("q")], response_format=JsonSchemaFormat("a", {}))
PLAIN = ModelRequest([UserMessage("q")])


async def test_text_answer_and_vote_with_tools() -> None:
    backend = ScriptedBackend(["hello", AnswerReply("42"), VoteReply("agent2", "best")])
    first = await collect(backend.stream(WITH_TOOLS))
    assert first.text == "hello" and not first.tool_calls
    second = await collect(backend.stream(WITH_TOOLS))
    assert second.tool_calls[0].name == "new_answer"
    assert second.tool_calls[0].arguments == {"content": "42"}
    assert second.finish_reason == "tool_calls"
    third = await collect(backend.stream(WITH_TOOLS))
    assert third.tool_calls[0].arguments == {"agent_id": "agent2", "reason": "best"}
    assert backend.calls == 3 and backend.requests[0] is WITH_TOOLS


async def test_stream_shape_ends_with_usage_then_finished() -> None:
    events = [e async for e in ScriptedBackend(["hi there"]).stream(PLAIN)]
    assert isinstance(events[0], TextDelta)
    assert isinstance(events[-2], Usage) and events[-2].estimated
    assert isinstance(events[-1], Finished)


async def test_json_mode_renders_actions_as_json() -> None:
    backend = ScriptedBackend([AnswerReply("42"), VoteReply("agent1", "ok")])
    answer = json.loads((await collect(backend.stream(JSON_MODE))).text)
    assert answer == {"action": "new_answer", "content": "42"}
    vote = json.loads((await collect(backend.stream(JSON_MODE))).text)
    assert vote == {"action": "vote", "agent_id": "agent1", "reason": "ok"}


async def test_no_tools_renders_plain_text_and_vote_presents_last_answer() -> None:
    backend = ScriptedBackend([AnswerReply("the answer"), VoteReply("agent1", "why")])
    assert (await collect(backend.stream(PLAIN))).text == "the answer"
    assert (await collect(backend.stream(PLAIN))).text == "the answer"
    never_answered = ScriptedBackend([VoteReply("agent1", "my reason")])
    assert (await collect(never_answered.stream(PLAIN))).text == "my reason"


async def test_capabilities_are_honoured_like_a_weak_model() -> None:
    weak = ScriptedBackend(
        [AnswerReply("42")], capabilities=Capabilities(tool_calling=False, json_schema=False)
    )
    out = await collect(
        weak.stream(ModelRequest([UserMessage("q")], tools=TOOLS, response_format=JSON_MODE.response_format))
    )
    assert out.text == "42" and not out.tool_calls


async def test_exhausted_repeats_last_by_default_or_raises() -> None:
    backend = ScriptedBackend(["a", "b"])
    texts = [(await collect(backend.stream(PLAIN))).text for _ in range(4)]
    assert texts == ["a", "b", "b", "b"]
    strict = ScriptedBackend(["a"], on_exhausted="raise")
    await collect(strict.stream(PLAIN))
    with pytest.raises(InvalidResponse, match="ran out"):
        await collect(strict.stream(PLAIN))
    assert (await collect(ScriptedBackend().stream(PLAIN))).text == ""


async def test_exception_replies_raise() -> None:
    backend = ScriptedBackend([ProviderUnavailable("down"), RaiseReply(ValueError("boom"))])
    with pytest.raises(ProviderUnavailable):
        await collect(backend.stream(PLAIN))
    with pytest.raises(ValueError, match="boom"):
        await collect(backend.stream(PLAIN))


async def test_chunked_text_and_reasoning() -> None:
    backend = ScriptedBackend([TextReply("abcdefgh", reasoning="think")], chunk_size=3)
    events = [e async for e in backend.stream(PLAIN)]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["abc", "def", "gh"]
    assert (await collect(ScriptedBackend([TextReply("x", reasoning="r")]).stream(PLAIN))).reasoning == "r"


async def test_latency_per_backend_and_per_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: object, **kwargs: object) -> None:
        slept.append(delay)  # what the backend waits for, counted instead of timed
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    backend = ScriptedBackend([TextReply("fast", delay=0.0), "slow"], latency=0.05)
    await collect(backend.stream(PLAIN))
    assert slept == []  # the reply's own delay (none) overrides the backend's latency
    await collect(backend.stream(PLAIN))
    assert slept == [0.05]


async def test_function_backend_sync_async_events_and_iterators() -> None:
    sync = FunctionBackend(lambda r: AnswerReply("from fn"))
    assert (await collect(sync.stream(WITH_TOOLS))).tool_calls[0].arguments == {"content": "from fn"}

    async def async_fn(request: ModelRequest) -> str:
        return f"{len(request.messages)} messages"

    assert (await collect(FunctionBackend(async_fn).stream(PLAIN))).text == "1 messages"

    events = FunctionBackend(lambda r: [TextDelta("a"), ToolCall("1", "vote", {"agent_id": "agent1"})])
    out = await collect(events.stream(PLAIN))
    assert out.text == "a" and out.tool_calls[0].name == "vote"

    async def gen(request: ModelRequest):  # an async iterator is streamed as produced
        yield TextDelta("x")
        yield TextDelta("y")

    streamed = FunctionBackend(lambda r: gen(r))
    assert (await collect(streamed.stream(PLAIN))).text == "xy"
    assert len(streamed.requests) == 1


async def test_function_backend_propagates_errors() -> None:
    def broken(request: ModelRequest) -> str:
        raise ProviderUnavailable("nope")

    with pytest.raises(ProviderUnavailable):
        await collect(FunctionBackend(broken).stream(PLAIN))


async def test_registry_builds_scripted_from_config() -> None:
    config = ScriptedBackendConfig.model_validate(
        {
            "type": "scripted",
            "replies": ["hi", {"new_answer": "42"}, {"vote": "agent1", "reason": "r"}],
            "latency": 0,
        }
    )
    backend = build_backend(config, agent_id="a")
    assert isinstance(backend, ScriptedBackend)
    assert backend.capabilities.tool_calling and backend.capabilities.json_schema
    assert (await collect(backend.stream(WITH_TOOLS))).text == "hi"
    assert (await collect(backend.stream(WITH_TOOLS))).tool_calls[0].name == "new_answer"
    vote = (await collect(backend.stream(WITH_TOOLS))).tool_calls[0]
    assert vote.arguments == {"agent_id": "agent1", "reason": "r"}
