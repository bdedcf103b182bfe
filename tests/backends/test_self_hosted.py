"""What self-hosted Chat Completions servers do differently, learnt from the server itself.

Through the real openai SDK against a loopback server: the llama-cpp-python
dialect (switched to once, on its validation error), a server that refuses
``stream_options``, and errors hidden in an empty ``200`` stream, found by a
non-streamed probe that turns the preflight on (``massmem.backends.self_hosted``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from massmem.backends.base import JsonSchemaFormat, ModelRequest, collect
from massmem.backends.chat_completions import ChatCompletionsBackend, from_config
from massmem.config.schema import ChatCompletionBackendConfig
from massmem.errors import ContextLengthExceeded, ProviderUnavailable
from massmem.messages import AssistantMessage, ToolCall, ToolResultMessage, UserMessage
from tests.backends.test_chat_faults import failure
from tests.support import chat_protocol as wire
from tests.support.chat_protocol import text_reply
from tests.support.loopback import LoopbackServer, Reply

SENTINEL = "sk-SENTINEL-abcdef123456"
HELLO = ModelRequest(messages=[UserMessage("hello")])


def make_backend(loopback: LoopbackServer, **overrides: Any) -> ChatCompletionsBackend:
    fields: dict[str, Any] = {
        "type": "chatcompletion",
        "model": "test-model",
        "base_url": f"{loopback.url}/v1",
        "api_key": SENTINEL,
        "timeout": 2.0,
    }
    fields.update(overrides)
    return from_config(ChatCompletionBackendConfig(**fields), agent_id="agent_a")


async def events_of(backend: ChatCompletionsBackend, request: ModelRequest = HELLO) -> list[Any]:
    try:
        return [event async for event in backend.stream(request)]
    finally:
        await backend.aclose()


# --------------------------------------------------------------------------- the llama-cpp-python dialect


async def test_json_object_dialect_for_llama_cpp_python(loopback: LoopbackServer) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    backend = ChatCompletionsBackend(
        model="m", base_url=f"{loopback.url}/v1", api_key=None, dialect="llama-cpp-python"
    )
    loopback.push(text_reply('{"a": 1}'))
    await events_of(
        backend, ModelRequest(messages=[UserMessage("q")], response_format=JsonSchemaFormat("x", schema))
    )
    assert loopback.last_json()["response_format"] == {"type": "json_object", "schema": schema}


@pytest.mark.parametrize("field", ["response_format", "assistant_content"])
async def test_llama_cpp_python_validation_error_switches_dialect_once(
    loopback: LoopbackServer, field: str
) -> None:
    from tests.support.chat_protocol import llama_cpp_python_validation_error

    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    call = ToolCall.from_raw("c1", "f", "{}")
    request = ModelRequest(
        messages=[UserMessage("q"), AssistantMessage("", (call,)), ToolResultMessage("c1", "f", "r")],
        response_format=JsonSchemaFormat("x", schema),
    )
    loopback.push(llama_cpp_python_validation_error(field), text_reply('{"a": 1}'), text_reply('{"a": 2}'))
    backend = make_backend(loopback)
    first = await collect(backend.stream(request))
    second = await collect(backend.stream(request))
    await backend.aclose()
    assert (first.text, second.text) == ('{"a": 1}', '{"a": 2}')
    bodies = [r.json() for r in loopback.requests]
    assert len(bodies) == 3  # one refusal, then every request in the server's dialect
    assert bodies[0]["response_format"]["type"] == "json_schema"
    assert bodies[0]["messages"][1]["content"] is None
    for body in bodies[1:]:
        assert body["response_format"] == {"type": "json_object", "schema": schema}
        assert body["messages"][1]["content"] == ""


async def test_a_real_500_is_not_mistaken_for_a_dialect_problem(loopback: LoopbackServer) -> None:
    from massmem.errors import ProviderUnavailable
    from tests.support.chat_protocol import server_error

    loopback.push(server_error(500, "CUDA error: out of memory"))
    backend = make_backend(loopback)
    with pytest.raises(ProviderUnavailable):
        await collect(backend.stream(HELLO))
    await backend.aclose()
    assert len(loopback.requests) == 1


# --------------------------------------------------------------------------- no stream_options


async def test_server_rejecting_stream_options_is_retried_once_without(loopback: LoopbackServer) -> None:
    from tests.support.chat_protocol import error_reply, openai_error

    rejection = error_reply(400, openai_error("Unrecognized request argument supplied: stream_options"))
    loopback.push(rejection, text_reply("fine", usage=None), text_reply("again", usage=None))
    backend = make_backend(loopback)
    first = await collect(backend.stream(HELLO))
    second = await collect(backend.stream(HELLO))
    await backend.aclose()
    assert (first.text, second.text) == ("fine", "again")
    bodies = [r.json() for r in loopback.requests]
    assert ["stream_options" in b for b in bodies] == [True, False, False]


# ----------------------------------------------------------------------------- errors hidden in streams


def one_token_completion() -> Reply:
    """A non-streamed chat completion of one token, as a preflight gets it."""
    return Reply(
        json_body={
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": "test-model",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "H"}, "finish_reason": "length"}
            ],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
        }
    )


async def test_a_self_hosted_empty_stream_is_explained_by_a_non_streamed_probe(
    loopback: LoopbackServer,
) -> None:
    """llama-cpp-python answers a streamed overflow with an empty 200: the backend asks once
    without streaming, reports the real context error, and preflights from then on."""
    loopback.push(wire.sse([], done=False))  # an empty 200 stream, no finish
    loopback.push(wire.llama_cpp_python_context_error(512, 710, 16))  # the non-streamed twin
    backend = make_backend(loopback, provider="llamacpp", api_key=None, base_url=f"{loopback.url}/v1")
    loopback.push(one_token_completion())  # later: the preflight of the next request...
    loopback.push(wire.text_reply("hi", usage=None))  # ...then its stream
    try:
        with pytest.raises(ContextLengthExceeded) as caught:
            async for _ in backend.stream(HELLO):
                pass
        assert (caught.value.requested_tokens, caught.value.allowed_tokens) == (726, 512)
        probe = json.loads(loopback.requests[1].body)
        assert "stream" not in probe and probe["max_tokens"] == 1
        events = [e async for e in backend.stream(HELLO)]
        assert json.loads(loopback.requests[2].body)["max_tokens"] == 1  # preflight now on
    finally:
        await backend.aclose()
    assert any(getattr(e, "text", "") == "hi" for e in events)


async def test_an_empty_stream_the_probe_cannot_explain_stays_a_dropped_stream(
    loopback: LoopbackServer,
) -> None:
    loopback.push(wire.sse([], done=False))
    loopback.push(one_token_completion())  # the probe succeeds: nothing hidden
    error = await failure(
        make_backend(loopback, provider="llamacpp", api_key=None, base_url=f"{loopback.url}/v1")
    )
    assert isinstance(error, ProviderUnavailable) and "ended before the model finished" in str(error)
    assert len(loopback.requests) == 2


async def test_cloud_providers_are_never_probed(loopback: LoopbackServer) -> None:
    loopback.push(wire.sse([], done=False))
    error = await failure(make_backend(loopback, provider="openai"))
    assert isinstance(error, ProviderUnavailable)
    assert len(loopback.requests) == 1
