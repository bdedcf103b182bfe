"""The ``openai`` backend through the real ``openai`` SDK against a loopback Responses server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from massmem.backends import registry
from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.openai_responses import OpenAIResponsesBackend, from_config, resolve_key
from massmem.config.schema import OpenAIBackendConfig
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    ProviderUnavailable,
    RateLimited,
)
from massmem.messages import (
    AssistantMessage,
    Finished,
    ServerToolActivity,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from tests.support import responses_protocol as rp
from tests.support.loopback import LoopbackServer, Reply

SENTINEL = "sk-SENTINEL-openai-0123456789abcdef"
HELLO = ModelRequest([UserMessage("hi")])

Factory = Callable[..., OpenAIResponsesBackend]


@pytest.fixture
async def make(loopback: LoopbackServer) -> AsyncIterator[Factory]:
    built: list[OpenAIResponsesBackend] = []

    def factory(**options: Any) -> OpenAIResponsesBackend:
        options.setdefault("model", "gpt-5-mini")
        options.setdefault("api_key", SENTINEL)
        options.setdefault("timeout", 5.0)
        config = OpenAIBackendConfig(type="openai", base_url=f"{loopback.url}/v1", **options)
        backend = from_config(config, agent_id="agent-a")
        built.append(backend)
        return backend

    yield factory
    for backend in built:
        await backend.aclose()


async def events_of(backend: OpenAIResponsesBackend, request: ModelRequest = HELLO) -> list[Any]:
    return [event async for event in backend.stream(request)]


# -- answers ------------------------------------------------------------------------------------


async def test_text_streams_in_order_with_usage(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        rp.ResponsesStream()
        .text("Hel", "lo", "!")
        .completed(input_tokens=30, output_tokens=4, cached_tokens=10)
        .reply()
    )
    events = await events_of(make())
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta("!"),
    ]
    usage = events[-2]
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (30, 4, 10)
    assert events[-1] == Finished("stop")


async def test_reasoning_summary_becomes_reasoning_deltas(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        rp.ResponsesStream().reasoning("Weigh ", "both.").text("B").completed(reasoning_tokens=42).reply()
    )
    completion = await collect(make(reasoning_effort="high", reasoning_summary="auto").stream(HELLO))
    assert completion.reasoning == "Weigh both."
    assert completion.text == "B"
    assert completion.usage is not None and completion.usage.reasoning_tokens == 42


async def test_function_call_arguments_stream_into_one_tool_call(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(
        rp.ResponsesStream()
        .function_call("new_answer", {"content": "4", "why": "arithmetic"}, call_id="call_a", pieces=5)
        .function_call("vote", {"agent_id": "b"}, call_id="call_b")
        .completed()
        .reply()
    )
    events = await events_of(make())
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "new_answer", {"content": "4", "why": "arithmetic"}),
        ("call_b", "vote", {"agent_id": "b"}),
    ]
    assert events[-1] == Finished("tool_calls")


async def test_malformed_tool_arguments_are_kept_raw(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        rp.ResponsesStream().function_call("vote", '{"agent_id": ', call_id="c1").completed().reply()
    )
    completion = await collect(make().stream(HELLO))
    (call,) = completion.tool_calls
    assert call.arguments == {} and call.raw_arguments == '{"agent_id": '


async def test_incomplete_response_finishes_with_length(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(rp.ResponsesStream().text("cut").incomplete("max_output_tokens").reply())
    completion = await collect(make().stream(HELLO))
    assert completion.finish_reason == "length"
    assert completion.text == "cut"


async def test_early_close_by_the_consumer_is_clean(
    loopback: LoopbackServer, make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer that stops after the first delta closes the SDK stream and its HTTP response
    at once, without an error, and the backend answers the next call as usual."""
    import openai

    closed: list[bool] = []
    close = openai.AsyncStream.close

    async def recording_close(self: Any) -> None:
        await close(self)
        closed.append(self.response.is_closed)

    monkeypatch.setattr(openai.AsyncStream, "close", recording_close)
    loopback.push(
        rp.ResponsesStream().text("a", "b", "c", delay=0.05).completed().reply(), rp.text_reply("next")
    )
    backend = make()
    stream = backend.stream(HELLO)
    seen: list[Any] = []
    async for event in stream:
        seen.append(event)
        if isinstance(event, TextDelta):
            break
    assert closed == []  # still open while the consumer holds the stream
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]
    assert [event.text for event in seen if isinstance(event, TextDelta)] == ["a"]
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert (await collect(backend.stream(HELLO))).text == "next"
    assert len(loopback.requests) == 2


# -- request shape ------------------------------------------------------------------------------


async def test_request_body_shape(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(rp.text_reply("ok"))
    request = ModelRequest(
        [
            SystemMessage("You are agent A."),
            UserMessage("What is 2+2?"),
            AssistantMessage(
                "Let me vote.", (ToolCall("call_1", "vote", {"agent_id": "b"}, '{"agent_id": "b"}'),)
            ),
            ToolResultMessage("call_1", "vote", "vote recorded"),
            SystemMessage("Answer briefly now."),
        ],
        tools=[
            ToolSpec(
                "vote",
                "Vote for an answer",
                {"type": "object", "properties": {"agent_id": {"type": "string"}}},
            )
        ],
        tool_choice="required",
        max_tokens=256,
    )
    await collect(make(reasoning_effort="low", reasoning_summary="concise").stream(request))
    sent = loopback.requests[-1]
    assert sent.method == "POST" and sent.path == "/v1/responses"
    assert sent.headers["authorization"] == f"Bearer {SENTINEL}"
    body = sent.json()
    assert body["model"] == "gpt-5-mini"
    assert body["stream"] is True and body["store"] is False
    assert body["instructions"] == "You are agent A."
    assert body["input"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Let me vote."},
        {"type": "function_call", "call_id": "call_1", "name": "vote", "arguments": '{"agent_id": "b"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "vote recorded"},
        {"role": "developer", "content": "Answer briefly now."},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "vote",
            "description": "Vote for an answer",
            "parameters": {"type": "object", "properties": {"agent_id": {"type": "string"}}},
            "strict": False,
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["max_output_tokens"] == 256
    assert body["reasoning"] == {"effort": "low", "summary": "concise"}
    assert "temperature" not in body  # reasoning models refuse it


async def test_temperature_and_json_schema_for_a_non_reasoning_model(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(rp.text_reply('{"answer": "4"}', model="gpt-4o"))
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    request = ModelRequest([UserMessage("2+2?")], response_format=JsonSchemaFormat("answer", schema))
    await collect(make(model="gpt-4o", temperature=0.3).stream(request))
    body = loopback.last_json()
    assert body["temperature"] == 0.3
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": False}
    }
    assert "instructions" not in body and "tools" not in body and "reasoning" not in body


# -- faults specific to the Responses stream ----------------------------------------------------


async def test_response_failed_maps_its_error_code(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(rp.ResponsesStream().failed("server_error", "The model crashed").reply())
    with pytest.raises(ProviderUnavailable, match="The model crashed"):
        await collect(make().stream(HELLO))
    loopback.push(rp.ResponsesStream().failed("rate_limit_exceeded", "Slow down").reply())
    with pytest.raises(RateLimited):
        await collect(make().stream(HELLO))


async def test_error_event_after_text_surfaces_after_the_text(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(
        rp.ResponsesStream()
        .text("partial")
        .error("An error occurred while processing.", code="server_error")
        .reply()
    )
    seen: list[Any] = []
    with pytest.raises(ProviderUnavailable):
        async for event in make().stream(HELLO):
            seen.append(event)
    assert seen == [TextDelta("partial")]


async def test_context_length_in_responses_wording(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(rp.context_length_error())
    with pytest.raises(ContextLengthExceeded) as info:
        await collect(make().stream(HELLO))
    assert info.value.requested_tokens is None and info.value.provider == "openai"
    assert info.value.agent_id == "agent-a"


async def test_retry_after_ms_header_wins(loopback: LoopbackServer, make: Factory) -> None:
    limited = rp.rate_limit_error("7")
    limited.headers["retry-after-ms"] = "1500"
    loopback.push(limited)
    with pytest.raises(RateLimited) as info:
        await collect(make().stream(HELLO))
    assert info.value.retry_after == 1.5


async def test_stall_mid_stream_is_a_timeout(loopback: LoopbackServer, make: Factory) -> None:
    stream = rp.ResponsesStream().text("slow")
    stream.events[3].delay = 1.5  # the server goes quiet before the first text delta
    loopback.push(Reply(sse=stream.events))
    with pytest.raises(ProviderUnavailable, match="in time"):
        await collect(make(timeout=0.4).stream(HELLO))


# -- keys, config, registry ---------------------------------------------------------------------


async def test_missing_key_fails_before_any_request(loopback: LoopbackServer, make: Factory) -> None:
    with pytest.raises(AuthenticationFailed, match="OPENAI_API_KEY"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_key_comes_from_the_environment_for_openai_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000000")
    assert resolve_key(OpenAIBackendConfig(type="openai", model="m")) == "sk-from-env-000000000000"
    explicit = OpenAIBackendConfig(type="openai", model="m", api_key="sk-explicit-0000000")
    assert resolve_key(explicit) == "sk-explicit-0000000"


async def test_environment_key_is_never_sent_to_another_host(
    loopback: LoopbackServer, make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000000")
    with pytest.raises(AuthenticationFailed, match="api_key in the backend config"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_registry_builds_the_openai_type() -> None:
    config = OpenAIBackendConfig(
        type="openai", model="gpt-4.1-mini", api_key="sk-x-0000000000", context_window=5000
    )
    backend = registry.build_backend(config, agent_id="a")
    assert isinstance(backend, OpenAIResponsesBackend)
    assert backend.capabilities.context_window == 5000
    assert backend.capabilities.system_prompt == "parameter"
    assert backend.capabilities.json_schema and backend.capabilities.tool_calling


@pytest.mark.parametrize(
    ("model", "window", "reasoning"),
    [
        ("gpt-5-mini", 400_000, True),
        ("gpt-4.1", 1_047_576, False),
        ("gpt-4o-mini", 128_000, False),
        ("o3", 200_000, True),
        ("my-finetune", None, False),
    ],
)
def test_capability_profile(model: str, window: int | None, reasoning: bool) -> None:
    backend = OpenAIResponsesBackend(model=model, api_key="sk-x-0000000000")
    assert backend.capabilities.context_window == window
    assert backend.capabilities.reasoning is reasoning


def test_reasoning_effort_marks_any_model_as_reasoning() -> None:
    backend = OpenAIResponsesBackend(model="custom", api_key="sk-x-0000000000", reasoning_effort="low")
    assert backend.capabilities.reasoning


def test_no_exception_type_escapes_the_boundary() -> None:
    from massmem.backends.openai_responses import translate_exception

    error = translate_exception(ValueError("odd"), agent_id="a")
    assert type(error) is BackendError and "ValueError: odd" in str(error)


# -- provider-side tools ------------------------------------------------------------------------

VOTE_TOOL = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)


async def test_provider_tools_ride_beside_function_tools(loopback: LoopbackServer, make: Factory) -> None:
    """OpenAI's own tool definitions go in ``tools`` as they are; the function tools stay functions."""
    loopback.push(rp.ResponsesStream().text("ok").completed().reply())
    request = ModelRequest([UserMessage("hi")], tools=[VOTE_TOOL])
    await collect(make(enable_web_search=True, enable_code_interpreter=True).stream(request))
    tools = loopback.last_json()["tools"]
    assert [t["type"] for t in tools] == ["function", "web_search", "code_interpreter"]
    assert tools[1] == {"type": "web_search"}
    assert tools[2] == {"type": "code_interpreter", "container": {"type": "auto"}}


async def test_provider_tools_sent_without_function_tools(loopback: LoopbackServer, make: Factory) -> None:
    """In the JSON/text protocols there are no function tools, but the search is still asked for."""
    loopback.push(rp.ResponsesStream().text("ok").completed().reply())
    await collect(make(enable_web_search=True).stream(HELLO))
    body = loopback.last_json()
    assert body["tools"] == [{"type": "web_search"}] and "tool_choice" not in body


async def test_web_search_call_is_shown_not_answered(loopback: LoopbackServer, make: Factory) -> None:
    """A streamed ``web_search_call`` becomes ServerToolActivity, never a ToolCall; the text is whole."""
    loopback.push(
        rp.ResponsesStream()
        .web_search_call("massmem release date")
        .text("It was ", "2026.")
        .completed()
        .reply()
    )
    request = ModelRequest([UserMessage("when?")], tools=[VOTE_TOOL])
    seen: list[Any] = []
    done = await collect(make(enable_web_search=True).stream(request), seen.append)
    assert done.tool_calls == [] and done.finish_reason == "stop"
    assert done.text == "It was 2026."
    assert ServerToolActivity("web_search", "massmem release date") in seen
