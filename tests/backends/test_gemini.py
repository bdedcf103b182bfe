"""The ``gemini`` backend through the real ``google-genai`` SDK against a loopback streamGenerateContent server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from massmem.backends import registry
from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.gemini import GeminiBackend, from_config, resolve_key
from massmem.config.schema import GeminiBackendConfig
from massmem.errors import AuthenticationFailed, ContextLengthExceeded, ProviderUnavailable, RateLimited
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
from tests.support import gemini_protocol as gp
from tests.support.loopback import LoopbackServer, Reply, SSEEvent

SENTINEL = "AIzaSENTINEL0123456789abcdefghijklmno"
HELLO = ModelRequest([UserMessage("hi")])
VOTE = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)

Factory = Callable[..., GeminiBackend]


@pytest.fixture
async def make(loopback: LoopbackServer) -> AsyncIterator[Factory]:
    built: list[GeminiBackend] = []

    def factory(**options: Any) -> GeminiBackend:
        options.setdefault("model", "gemini-2.5-flash")
        options.setdefault("api_key", SENTINEL)
        options.setdefault("timeout", 5.0)
        backend = from_config(
            GeminiBackendConfig(type="gemini", base_url=loopback.url, **options), agent_id="agent-g"
        )
        built.append(backend)
        return backend

    yield factory
    for backend in built:
        await backend.aclose()


# -- answers ------------------------------------------------------------------------------------


async def test_text_streams_with_usage(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(gp.GeminiStream(prompt_tokens=11).text("Hel", "lo").finish().reply())
    events = [e async for e in make().stream(HELLO)]
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("Hel"), TextDelta("lo")]
    assert events[-2] == Usage(input_tokens=11, output_tokens=2)
    assert events[-1] == Finished("stop")


async def test_thought_parts_are_reasoning_and_count_as_output(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(gp.GeminiStream().thought("Let me ", "think.").text("4").finish().reply())
    events = [e async for e in make(thinking_budget=512).stream(HELLO)]
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
    ]
    usage = events[-2]
    assert usage.reasoning_tokens == 4 and usage.output_tokens == 5
    assert loopback.last_json()["generationConfig"]["thinkingConfig"] == {
        "include_thoughts": True,
        "thinking_budget": 512,
    }


async def test_function_calls_with_and_without_ids(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        gp.GeminiStream()
        .function_call("vote", {"agent_id": "b"}, call_id="fc-1")
        .function_call("lookup", {"q": "2+2"})
        .finish()
        .reply()
    )
    completion = await collect(make().stream(ModelRequest([UserMessage("go")], tools=[VOTE])))
    first, second = completion.tool_calls
    assert (first.id, first.name, first.arguments) == ("fc-1", "vote", {"agent_id": "b"})
    assert (
        second.name == "lookup" and second.arguments == {"q": "2+2"} and second.id.startswith("gemini_call_")
    )
    assert completion.finish_reason == "tool_calls"


async def test_calls_are_replayed_with_their_signature_and_real_ids_only(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(
        gp.GeminiStream()
        .function_call("vote", {"agent_id": "b"}, signature=b"opaque-signature")
        .function_call("lookup", {"q": "x"}, call_id="fc-9")
        .finish()
        .reply(),
        gp.text_reply("done"),
    )
    backend = make()
    history: list[Any] = [UserMessage("go")]
    first = await collect(backend.stream(ModelRequest(history, tools=[VOTE])))
    vote, lookup = first.tool_calls
    history += [
        first.as_message(),
        ToolResultMessage(vote.id, "vote", "recorded"),
        ToolResultMessage(lookup.id, "lookup", '{"value": 4}'),
    ]
    await collect(backend.stream(ModelRequest(history, tools=[VOTE])))
    contents = loopback.requests[1].json()["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "vote", "args": {"agent_id": "b"}},
                "thoughtSignature": base64.urlsafe_b64encode(b"opaque-signature").decode(),
            },
            {"functionCall": {"id": "fc-9", "name": "lookup", "args": {"q": "x"}}},
        ],
    }
    # Both results in one user turn; a JSON object result is passed as the object itself.
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "vote", "response": {"result": "recorded"}}},
            {"functionResponse": {"id": "fc-9", "name": "lookup", "response": {"value": 4}}},
        ],
    }


async def test_gemini_3_gets_the_skip_signature_for_calls_it_did_not_sign(
    loopback: LoopbackServer, make: Factory
) -> None:
    loopback.push(gp.text_reply("ok", model="gemini-3-pro"))
    history = [
        UserMessage("go"),
        AssistantMessage("", (ToolCall("call_from_elsewhere", "vote", {"agent_id": "b"}),)),
        ToolResultMessage("call_from_elsewhere", "vote", "ok"),
    ]
    await collect(make(model="gemini-3-pro").stream(ModelRequest(history)))
    part = loopback.last_json()["contents"][1]["parts"][0]
    assert part["thoughtSignature"] == "skip_thought_signature_validator"


@pytest.mark.parametrize(
    ("reason", "expected"), [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("OTHER", "other")]
)
async def test_finish_reasons(loopback: LoopbackServer, make: Factory, reason: str, expected: str) -> None:
    loopback.push(gp.GeminiStream().text("x").finish(reason).reply())
    assert (await collect(make().stream(HELLO))).finish_reason == expected


async def test_blocked_prompt_ends_with_content_filter(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        Reply(
            sse=[
                SSEEvent(
                    data='{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}'
                )
            ]
        )
    )
    completion = await collect(make().stream(HELLO))
    assert completion.finish_reason == "content_filter" and completion.text == ""


# -- request shape ------------------------------------------------------------------------------


async def test_request_shape(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(gp.text_reply("ok"))
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    request = ModelRequest(
        [SystemMessage("You are agent G."), UserMessage("2+2?"), SystemMessage("Be brief.")],
        tools=[VOTE],
        tool_choice="required",
        response_format=JsonSchemaFormat("answer", schema),
        max_tokens=128,
        temperature=0.2,
    )
    await collect(make().stream(request))
    sent = loopback.requests[-1]
    assert sent.method == "POST"
    assert sent.path.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert sent.headers["x-goog-api-key"] == SENTINEL
    body = sent.json()
    assert body["systemInstruction"] == {"parts": [{"text": "You are agent G.\n\nBe brief."}], "role": "user"}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "2+2?"}]}]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "vote",
                    "description": "Vote for an answer",
                    "parameters_json_schema": VOTE.parameters,
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    generation = body["generationConfig"]
    assert generation["responseMimeType"] == "application/json"
    assert generation["responseJsonSchema"] == schema
    assert generation["maxOutputTokens"] == 128 and generation["temperature"] == 0.2
    assert "thinkingConfig" not in generation


# -- faults specific to Gemini ------------------------------------------------------------------


async def test_retry_delay_from_retry_info(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(gp.rate_limit_error("20s"))
    with pytest.raises(RateLimited) as info:
        await collect(make().stream(HELLO))
    assert info.value.retry_after == 20.0


async def test_401_unauthenticated_is_an_auth_failure(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(gp.unauthenticated_error())
    with pytest.raises(AuthenticationFailed, match="GEMINI_API_KEY"):
        await collect(make().stream(HELLO))


async def test_error_chunk_mid_stream_after_text(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(
        gp.GeminiStream().text("part").error(503, "UNAVAILABLE", "The model is overloaded.").reply()
    )
    seen: list[Any] = []
    with pytest.raises(ProviderUnavailable):
        async for event in make().stream(HELLO):
            seen.append(event)
    assert seen == [TextDelta("part")]


async def test_context_length_keeps_numbers(loopback: LoopbackServer, make: Factory) -> None:
    loopback.push(gp.context_length_error(1_500_000, 1_048_576))
    with pytest.raises(ContextLengthExceeded) as info:
        await collect(make().stream(HELLO))
    assert (info.value.requested_tokens, info.value.allowed_tokens) == (1_500_000, 1_048_576)


async def test_stall_mid_stream_is_a_timeout(loopback: LoopbackServer, make: Factory) -> None:
    stream = gp.GeminiStream().text("a", "b").finish()
    stream.events[1].delay = 1.5
    loopback.push(Reply(sse=stream.events))
    with pytest.raises(ProviderUnavailable, match="in time"):
        await collect(make(timeout=0.4).stream(HELLO))


# -- keys, config, registry ---------------------------------------------------------------------


async def test_missing_key_fails_before_any_request(loopback: LoopbackServer, make: Factory) -> None:
    with pytest.raises(AuthenticationFailed, match="GEMINI_API_KEY"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_gemini_api_key_wins_over_google_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google-000000000000000000000")
    config = GeminiBackendConfig(type="gemini", model="gemini-2.5-flash")
    assert resolve_key(config) == "AIza-google-000000000000000000000"
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini-000000000000000000000")
    assert resolve_key(config) == "AIza-gemini-000000000000000000000"


async def test_environment_key_is_never_sent_to_another_host(
    loopback: LoopbackServer, make: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini-000000000000000000000")
    with pytest.raises(AuthenticationFailed, match="api_key in the backend config"):
        await collect(make(api_key=None).stream(HELLO))
    assert loopback.requests == []


def test_registry_and_capabilities() -> None:
    backend = registry.build_backend(
        GeminiBackendConfig(type="gemini", model="gemini-2.0-flash", api_key="AIza-x-000000")
    )
    assert isinstance(backend, GeminiBackend)
    caps = backend.capabilities
    assert caps.system_prompt == "parameter" and caps.context_window == 1_048_576
    assert caps.tool_calling and caps.json_schema and not caps.reasoning
    assert GeminiBackend(model="gemini-2.5-pro", api_key="k" * 10).capabilities.reasoning
    assert not GeminiBackend(
        model="gemini-2.5-pro", api_key="k" * 10, thinking_budget=0
    ).capabilities.reasoning
    assert GeminiBackend(model="gemini-1.5-pro", api_key="k" * 10).capabilities.context_window == 2_097_152


def test_no_exception_type_escapes_the_boundary() -> None:
    from massmem.backends.gemini import translate_exception
    from massmem.errors import BackendError

    error = translate_exception(ValueError("partial_args is not supported"), agent_id="a")
    assert type(error) is BackendError and "ValueError" in str(error)


# -- provider-side tools ------------------------------------------------------------------------

VOTE_TOOL = ToolSpec(
    "vote", "Vote for an answer", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
)


async def test_builtin_tools_ride_beside_function_declarations(
    loopback: LoopbackServer, make: Factory
) -> None:
    """``google_search`` and ``code_execution`` are their own Tool entries, not function declarations."""
    loopback.push(gp.text_reply("ok"))
    request = ModelRequest([UserMessage("hi")], tools=[VOTE_TOOL])
    await collect(make(enable_web_search=True, enable_code_execution=True).stream(request))
    tools = loopback.last_json()["tools"]
    # google-genai puts the function declarations last on the wire; the order carries no meaning.
    declared = [t for t in tools if "functionDeclarations" in t]
    assert [[d["name"] for d in t["functionDeclarations"]] for t in declared] == [["vote"]]
    assert [t for t in tools if "functionDeclarations" not in t] == [
        {"googleSearch": {}},
        {"codeExecution": {}},
    ]


async def test_code_execution_and_grounding_are_shown_not_answered(
    loopback: LoopbackServer, make: Factory
) -> None:
    """``executableCode``/``codeExecutionResult`` parts and grounding queries: activity, no ToolCall."""
    loopback.push(
        gp.GeminiStream()
        .code_execution("print(2 + 2)", "4\n")
        .grounded_text("It is 4.", "two plus two")
        .finish()
        .reply()
    )
    request = ModelRequest([UserMessage("2+2?")], tools=[VOTE_TOOL])
    seen: list[Any] = []
    done = await collect(
        make(enable_web_search=True, enable_code_execution=True).stream(request), seen.append
    )
    assert done.tool_calls == [] and done.finish_reason == "stop"
    assert done.text == "It is 4."
    activity = [e for e in seen if isinstance(e, ServerToolActivity)]
    assert activity == [
        ServerToolActivity("code_execution", "print(2 + 2)"),
        ServerToolActivity("code_execution", "OUTCOME_OK: 4"),
        ServerToolActivity("google_search", "two plus two"),
    ]
