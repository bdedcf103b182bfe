"""The ``claude`` backend through the real ``anthropic`` SDK against a loopback Messages server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from massmem.backends import registry
from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.claude import ClaudeBackend, from_config, resolve_key
from massmem.config.schema import ClaudeBackendConfig
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
    ReasoningDelta,
    ServerToolActivity,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from tests.support import anthropic_protocol as ap
from tests.support.loopback import LoopbackServer, Reply

SENTINEL = "sk-ant-SENTINEL-0123456789abcdef"
HELLO = ModelRequest([UserMessage("hi")])
VOTE = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)

Factory = Callable[..., ClaudeBackend]


@pytest.fixture
async def make(loopback: LoopbackServer) -> AsyncIterator[Factory]:
    built: list[ClaudeBackend] = []

    def factory(**options: Any) -> ClaudeBackend:
        options.setdefault("model", "claude-sonnet-4-6")
        options.setdefault("api_key", SENTINEL)
        options.setdefault("timeout", 5.0)
        backend = from_config(
            ClaudeBackendConfig(type="claude", base_url=loopback.url, **options), agent_id="agent-c"
        )
        built.append(backend)
        return backend

    yield factory
    for backend in built:
        await backend.aclose()


# -- answers ------------------------------------------------------------------------------------


async def test_text_streams_with_split_usage(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        ap.MessageStream(input_tokens=40, cache_read_input_tokens=100)
        .text("Hel", "lo")
        .stop(output_tokens=12)
        .reply()
    )
    events = [e async for e in make().stream(HELLO)]
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hel"), TextDelta("lo")]
    # Cached prompt tokens count toward the prompt; Claude reports them apart.
    assert events[-2] == Usage(input_tokens=140, output_tokens=12, cached_tokens=100)
    assert events[-1] == Finished("stop")


async def test_tool_use_input_fragments_make_one_call(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        ap.MessageStream()
        .text("I'll vote.")
        .tool_use("vote", {"agent_id": "b", "reason": "best"}, tool_id="toolu_A", pieces=4)
        .stop("tool_use")
        .reply()
    )
    completion = await collect(make().stream(ModelRequest([UserMessage("go")], tools=[VOTE])))
    assert completion.text == "I'll vote."
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("toolu_A", "vote", {"agent_id": "b", "reason": "best"})
    ]
    assert completion.finish_reason == "tool_calls"


async def test_thinking_streams_and_is_handed_back_with_the_tool_result(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(
        ap.MessageStream()
        .thinking("Both agree", " on 4.", signature="sig-xyz")
        .tool_use("vote", {"agent_id": "b"}, tool_id="toolu_T")
        .stop("tool_use")
        .reply(),
        ap.text_reply("Voted."),
    )
    backend = make(thinking_budget=2048)
    history: list[Any] = [UserMessage("Vote.")]
    first = await collect(backend.stream(ModelRequest(history, tools=[VOTE], tool_choice="required")))
    assert first.reasoning == "Both agree on 4."
    body = loopback.requests[0].json()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["tool_choice"] == {"type": "auto"}  # forced tool use is refused with thinking on
    assert body["max_tokens"] == 8192

    history += [first.as_message(), ToolResultMessage("toolu_T", "vote", "recorded")]
    await collect(backend.stream(ModelRequest(history, tools=[VOTE])))
    replayed = loopback.requests[1].json()["messages"]
    assert replayed[1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Both agree on 4.", "signature": "sig-xyz"},
            {"type": "tool_use", "id": "toolu_T", "name": "vote", "input": {"agent_id": "b"}},
        ],
    }


async def test_thinking_deltas_are_reasoning_events(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.MessageStream().thinking("hmm").text("ok").stop().reply())
    events = [e async for e in make(thinking_budget=1024).stream(HELLO)]
    assert ReasoningDelta("hmm") in events and TextDelta("ok") in events


async def test_max_tokens_stop_is_length(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.MessageStream().text("trunc").stop("max_tokens").reply())
    assert (await collect(make().stream(HELLO))).finish_reason == "length"


# -- request shape ------------------------------------------------------------------------------


async def test_request_body_shape(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.text_reply("ok"))
    request = ModelRequest(
        [
            SystemMessage("You are agent C."),
            UserMessage("What is 2+2?"),
            AssistantMessage(
                "Checking.",
                (ToolCall("toolu_1", "lookup", {"q": "2+2"}), ToolCall("toolu_2", "lookup", {"q": "sum"})),
            ),
            ToolResultMessage("toolu_1", "lookup", "4"),
            ToolResultMessage("toolu_2", "lookup", "four"),
            UserMessage("Now answer."),
            SystemMessage("Be brief."),
        ],
        tools=[VOTE],
        tool_choice="required",
        temperature=1.7,
        max_tokens=300,
    )
    await collect(make().stream(request))
    sent = loopback.requests[-1]
    assert sent.path == "/v1/messages"
    assert SENTINEL in (sent.headers.get("x-api-key", "") + sent.headers.get("authorization", ""))
    body = sent.json()
    assert body["model"] == "claude-sonnet-4-6" and body["stream"] is True
    assert body["system"] == "You are agent C.\n\nBe brief."
    assert body["max_tokens"] == 300
    assert "temperature" not in body  # the Messages API has no sampling parameters any more
    assert body["tools"] == [
        {"name": "vote", "description": "Vote for an answer", "input_schema": VOTE.parameters}
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "2+2"}},
                {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"q": "sum"}},
            ],
        },
        # Both results and the next user text travel in one user turn, results first.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "4"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "four"},
                {"type": "text", "text": "Now answer."},
            ],
        },
    ]


async def test_json_schema_output_config(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.text_reply('{"answer": "4"}'))
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    await collect(
        make().stream(ModelRequest([UserMessage("2+2")], response_format=JsonSchemaFormat("a", schema)))
    )
    assert loopback.last_json()["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


# -- faults specific to Anthropic ---------------------------------------------------------------


async def test_529_overloaded_is_unavailable(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.overloaded_error())
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        await collect(make().stream(HELLO))


async def test_error_event_mid_stream_after_text(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.MessageStream().text("part").error("overloaded_error", "Overloaded").reply())
    seen: list[Any] = []
    with pytest.raises(ProviderUnavailable):
        async for event in make().stream(HELLO):
            seen.append(event)
    assert seen == [TextDelta("part")]


async def test_rate_limit_error_event_mid_stream(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        ap.MessageStream()
        .error("rate_limit_error", "Number of request tokens has exceeded your limit")
        .reply()
    )
    with pytest.raises(RateLimited):
        await collect(make().stream(HELLO))


async def test_not_found_model_is_a_plain_backend_error(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.error_reply(404, "not_found_error", "model: claude-nope"))
    with pytest.raises(BackendError, match="claude-nope") as info:
        await collect(make().stream(HELLO))
    assert not info.value.retryable
    assert not isinstance(info.value, (ProviderUnavailable, RateLimited, AuthenticationFailed))


async def test_context_length_keeps_numbers(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(ap.context_length_error(205_123, 200_000))
    with pytest.raises(ContextLengthExceeded) as info:
        await collect(make().stream(HELLO))
    assert (info.value.requested_tokens, info.value.allowed_tokens) == (205_123, 200_000)


async def test_stall_mid_stream_is_a_timeout(loopback: LoopbackServer, make: Factory) -> None:
    stream = ap.MessageStream().text("slow").stop()
    stream.events[3].delay = 1.5
    loopback.push(Reply(sse=stream.events))
    with pytest.raises(ProviderUnavailable, match="in time"):
        await collect(make(timeout=0.4).stream(HELLO))


# -- keys, config, registry ---------------------------------------------------------------------


async def test_missing_key_fails_before_any_request(loopback: LoopbackServer, make: Factory) -> None:
    with pytest.raises(AuthenticationFailed, match="ANTHROPIC_API_KEY"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_key_comes_from_the_environment_for_anthropic_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-00000000")
    assert resolve_key(ClaudeBackendConfig(type="claude", model="m")) == "sk-ant-from-env-00000000"
    custom = ClaudeBackendConfig(type="claude", model="m", base_url="http://proxy.internal:9000")
    assert resolve_key(custom) is None


async def test_environment_key_is_never_sent_to_another_host(
    loopback: LoopbackServer, make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-00000000")
    with pytest.raises(AuthenticationFailed, match="api_key in the backend config"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_registry_and_capabilities() -> None:
    backend = registry.build_backend(
        ClaudeBackendConfig(type="claude", model="claude-opus-4-1", api_key="sk-ant-x-000000")
    )
    assert isinstance(backend, ClaudeBackend)
    caps = backend.capabilities
    assert caps.system_prompt == "parameter" and caps.context_window == 200_000
    assert caps.tool_calling and caps.json_schema and not caps.reasoning
    thinking = ClaudeBackend(
        model="claude-sonnet-4-6", api_key="k" * 10, thinking_budget=4096, context_window=1_000_000
    )
    assert thinking.capabilities.reasoning and thinking.capabilities.context_window == 1_000_000


def test_max_tokens_grows_past_the_thinking_budget() -> None:
    backend = ClaudeBackend(
        model="claude-sonnet-4-6", api_key="k" * 10, thinking_budget=16_000, max_tokens=4000
    )
    assert backend.params(HELLO)["max_tokens"] == 17_024


def test_no_exception_type_escapes_the_boundary() -> None:
    from massmem.backends.claude import translate_exception

    error = translate_exception(TypeError("odd"), agent_id="a")
    assert type(error) is BackendError and "TypeError: odd" in str(error)


# -- provider-side tools ------------------------------------------------------------------------

VOTE_TOOL = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)


async def test_server_tools_ride_beside_function_tools(loopback: LoopbackServer, make: Factory) -> None:
    """Anthropic's own server tool definitions go in ``tools`` unchanged, after the function tools."""
    loopback.push(ap.text_reply("ok"))
    request = ModelRequest([UserMessage("hi")], tools=[VOTE_TOOL])
    await collect(make(enable_web_search=True, enable_code_execution=True).stream(request))
    sent = loopback.requests[-1]
    tools = sent.json()["tools"]
    assert tools[0]["name"] == "vote" and "input_schema" in tools[0]
    assert tools[1:] == [
        {"type": "web_search_20250305", "name": "web_search"},
        {"type": "code_execution_20250825", "name": "code_execution"},
    ]
    assert "anthropic-beta" not in sent.headers  # both are generally available


async def test_server_tool_use_is_shown_not_answered(loopback: LoopbackServer, make: Factory) -> None:
    """``server_tool_use`` + ``web_search_tool_result`` blocks: ServerToolActivity, no ToolCall, text whole."""
    loopback.push(
        ap.MessageStream().web_search("massmem release").text("It shipped ", "in 2026.").stop().reply()
    )
    request = ModelRequest([UserMessage("when?")], tools=[VOTE_TOOL])
    seen: list[Any] = []
    done = await collect(make(enable_web_search=True).stream(request), seen.append)
    assert done.tool_calls == [] and done.finish_reason == "stop"
    assert done.text == "It shipped in 2026."
    assert ServerToolActivity("web_search", "massmem release") in seen
