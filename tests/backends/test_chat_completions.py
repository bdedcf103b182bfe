"""ChatCompletionsBackend through the real openai SDK against a loopback server speaking the wire format.

What is asserted is what crossed the socket: the events massmem yields from
real SSE bytes, and the JSON body the SDK actually sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec, collect
from massmem.backends.chat_completions import ChatCompletionsBackend, from_config
from massmem.config.schema import ChatCompletionBackendConfig
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
from tests.support.chat_protocol import (
    ScriptedToolCall,
    chunk,
    citations_chunk,
    reasoning_chunks,
    sse,
    text_chunks,
    text_reply,
    tool_calls_chunks,
    usage_chunk,
)
from tests.support.loopback import LoopbackServer

SENTINEL = "sk-SENTINEL-abcdef123456"
HELLO = ModelRequest(messages=[UserMessage("hello")])


def make_backend(loopback: LoopbackServer, **overrides: Any) -> ChatCompletionsBackend:
    fields: dict[str, Any] = {
        "type": "chatcompletion",
        "model": "test-model",
        "base_url": f"{loopback.url}/v1",
        "api_key": SENTINEL,
        "timeout": 5.0,
    }
    fields.update(overrides)
    return from_config(ChatCompletionBackendConfig(**fields), agent_id="agent_a")


async def events_of(backend: ChatCompletionsBackend, request: ModelRequest = HELLO) -> list[Any]:
    try:
        return [event async for event in backend.stream(request)]
    finally:
        await backend.aclose()


async def test_text_streams_as_deltas_then_usage_then_one_finished(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("Hel", "lo", " there", usage=(21, 3)))
    events = await events_of(make_backend(loopback))
    assert events == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta(" there"),
        Usage(input_tokens=21, output_tokens=3),
        Finished("stop"),
    ]


async def test_request_asks_for_streamed_usage_and_sends_the_key(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("ok"))
    await events_of(make_backend(loopback))
    sent = loopback.requests[-1]
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SENTINEL}"
    body = sent.json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["model"] == "test-model"
    assert "tools" not in body and "response_format" not in body


async def test_usage_details_are_kept(loopback: LoopbackServer) -> None:
    chunks = [*text_chunks("x"), usage_chunk(100, 40, reasoning_tokens=30, cached_tokens=64)]
    loopback.push(sse(chunks))
    done = await collect(make_backend(loopback).stream(HELLO))
    assert done.usage == Usage(input_tokens=100, output_tokens=40, reasoning_tokens=30, cached_tokens=64)


async def test_two_tool_calls_split_across_chunks_are_assembled(loopback: LoopbackServer) -> None:
    weather = ScriptedToolCall("call_w1", "get_weather", ['{"ci', 'ty": "Pa', 'ris", "unit"', ': "C"}'])
    search = ScriptedToolCall("call_s2", "search", ['{"query":', ' "tides', ' today"}'])
    loopback.push(sse([*tool_calls_chunks(weather, search), usage_chunk(50, 31)]))
    events = await events_of(make_backend(loopback))
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [
        ToolCall("call_w1", "get_weather", {"city": "Paris", "unit": "C"}, '{"city": "Paris", "unit": "C"}'),
        ToolCall("call_s2", "search", {"query": "tides today"}, '{"query": "tides today"}'),
    ]
    assert events[-2:] == [Usage(input_tokens=50, output_tokens=31), Finished("tool_calls")]


async def test_tool_call_fragments_repeating_id_and_name_are_not_duplicated(loopback: LoopbackServer) -> None:
    """llama-cpp-python repeats id and name on every fragment; the call must come out once."""
    pieces = ["{", ' "city"', ': "Oslo"', "}"]
    frags = [
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call__0_get_weather",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": p},
                    }
                ]
            }
        )
        for p in pieces
    ]
    loopback.push(sse([chunk({"role": "assistant"}), *frags, chunk({}, "tool_calls")]))
    done = await collect(make_backend(loopback).stream(HELLO))
    assert done.tool_calls == [ToolCall.from_raw("call__0_get_weather", "get_weather", '{ "city": "Oslo"}')]
    assert done.finish_reason == "tool_calls"


async def test_malformed_tool_arguments_are_kept_raw(loopback: LoopbackServer) -> None:
    loopback.push(sse(tool_calls_chunks(ScriptedToolCall("c1", "vote", ['{"agent": "a1"', ", oops"]))))
    done = await collect(make_backend(loopback).stream(HELLO))
    assert done.tool_calls[0].arguments == {}
    assert done.tool_calls[0].raw_arguments == '{"agent": "a1", oops'


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas_from_either_field(loopback: LoopbackServer, field: str) -> None:
    chunks = [*reasoning_chunks("First, ", "think.", field=field), *text_chunks("Answer"), usage_chunk(9, 7)]
    loopback.push(sse(chunks))
    events = await events_of(make_backend(loopback))
    assert events[:3] == [ReasoningDelta("First, "), ReasoningDelta("think."), TextDelta("Answer")]
    done_reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert done_reasoning == "First, think."


async def test_finish_reason_length_is_mapped(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("trunc", finish_reason="length"))
    done = await collect(make_backend(loopback).stream(HELLO))
    assert done.finish_reason == "length"


async def test_stream_without_usage_still_finishes_once(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("hi", usage=None))
    events = await events_of(make_backend(loopback))
    assert events == [TextDelta("hi"), Finished("stop")]


async def test_messages_tools_and_tool_choice_go_out_in_wire_shape(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("done"))
    call = ToolCall.from_raw("call_1", "get_weather", '{"city": "Paris"}')
    request = ModelRequest(
        messages=[
            SystemMessage("You are terse."),
            UserMessage("Weather in Paris?"),
            AssistantMessage("", (call,)),
            ToolResultMessage("call_1", "get_weather", "18C, cloudy"),
            AssistantMessage("It is 18C."),
            UserMessage("Thanks"),
        ],
        tools=[
            ToolSpec(
                "get_weather",
                "Current weather for a city",
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            )
        ],
        tool_choice="required",
        max_tokens=64,
        temperature=0.3,
    )
    await events_of(make_backend(loopback), request)
    body = loopback.last_json()
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C, cloudy"},
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "Thanks"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    assert body["tool_choice"] == "required"
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.3


async def test_json_schema_request_body(loopback: LoopbackServer) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    loopback.push(text_reply('{"answer": "42"}'))
    request = ModelRequest(
        messages=[UserMessage("q")], response_format=JsonSchemaFormat("final answer", schema)
    )
    done = await collect(make_backend(loopback).stream(request))
    assert json.loads(done.text) == {"answer": "42"}
    assert loopback.last_json()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "final_answer", "schema": schema, "strict": True},
    }


async def test_config_defaults_apply_and_request_values_win(loopback: LoopbackServer) -> None:
    backend = make_backend(loopback, max_tokens=100, temperature=0.9)
    loopback.push(text_reply("a"), text_reply("b"))
    await collect(backend.stream(HELLO))
    first = loopback.last_json()
    await collect(backend.stream(ModelRequest(messages=[UserMessage("x")], max_tokens=5, temperature=0.0)))
    second = loopback.last_json()
    await backend.aclose()
    assert (first["max_tokens"], first["temperature"]) == (100, 0.9)
    assert (second["max_tokens"], second["temperature"]) == (5, 0.0)


async def test_openai_preset_uses_max_completion_tokens(loopback: LoopbackServer) -> None:
    backend = make_backend(loopback, provider="openai", max_tokens=77)
    loopback.push(text_reply("a"))
    await events_of(backend)
    body = loopback.last_json()
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body


async def test_extra_headers_are_sent(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("a"))
    await events_of(make_backend(loopback, extra_headers={"HTTP-Referer": "https://massmem.test"}))
    assert loopback.requests[-1].headers["http-referer"] == "https://massmem.test"


async def test_local_preset_sends_a_placeholder_key(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("a"))
    backend = make_backend(loopback, provider="vllm", api_key=None)
    await events_of(backend)
    auth = loopback.requests[-1].headers["authorization"]
    assert auth.startswith("Bearer ") and len(auth) > len("Bearer ")


async def test_capabilities_and_describe(loopback: LoopbackServer) -> None:
    backend = make_backend(loopback, provider="groq", context_window=8192)
    assert backend.capabilities.tool_calling is True
    assert backend.capabilities.json_schema is True
    assert backend.capabilities.context_window == 8192
    assert backend.describe() == "chatcompletion[groq]:test-model"


# -- provider-side tools (xAI live search) ------------------------------------------------------


async def test_grok_web_search_sends_search_parameters(loopback: LoopbackServer) -> None:
    """``enable_web_search`` on grok asks xAI's live search in the body, beside the function tools."""
    loopback.push(
        sse([*text_chunks("It is ", "2026."), citations_chunk("https://example.org/a", "https://x.ai/b")])
    )
    backend = make_backend(loopback, provider="grok", enable_web_search=True)
    request = ModelRequest(
        messages=[UserMessage("when?")],
        tools=[ToolSpec("vote", "Vote", {"type": "object", "properties": {}})],
    )
    events = await events_of(backend, request)
    body = loopback.last_json()
    assert body["search_parameters"] == {"mode": "auto", "return_citations": True}
    assert [t["function"]["name"] for t in body["tools"]] == ["vote"]  # no client tool for the search
    assert not [e for e in events if isinstance(e, ToolCall)]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is 2026."
    assert ServerToolActivity("live_search", "2 sources, first https://example.org/a") in events
    assert events[-1] == Finished("stop")


async def test_no_search_parameters_without_the_switch(loopback: LoopbackServer) -> None:
    loopback.push(text_reply("hi"))
    await events_of(make_backend(loopback, provider="grok"))
    assert "search_parameters" not in loopback.last_json()
