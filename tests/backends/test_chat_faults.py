"""The fault matrix: every way a Chat Completions call goes wrong comes out as a massmem error.

Each fault is produced on a real socket (status codes, real error bodies,
slow replies, dropped connections, broken SSE) and read through the real
openai SDK.  Nothing above ``massmem.backends`` may see an ``openai``
exception, and the API key must never appear in any message.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from massmem.backends.base import ModelRequest
from massmem.backends.chat_completions import ChatCompletionsBackend, from_config
from massmem.backends.presets import PRESETS, ChatPreset
from massmem.config.schema import ChatCompletionBackendConfig
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
)
from massmem.messages import UserMessage
from tests.support import chat_protocol as wire
from tests.support.loopback import LoopbackServer, Reply, SSEEvent

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


async def failure(backend: ChatCompletionsBackend, request: ModelRequest = HELLO) -> BackendError:
    """Drain the stream, expecting a massmem error; check it is clean before handing it back."""
    try:
        with pytest.raises(BackendError) as caught:
            async for _ in backend.stream(request):
                pass
    finally:
        await backend.aclose()
    error = caught.value
    assert_clean(error)
    return error


def assert_clean(error: BaseException) -> None:
    """No SDK type anywhere in what a caller sees, and no key in any rendering of it."""
    rendered = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), rendered):
        assert SENTINEL not in text
        assert "SENTINEL-abcdef" not in text
    assert type(error).__module__ == "massmem.errors"
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None  # no SDK exception in the traceback
    assert not any(line.startswith(("openai.", "httpx")) for line in rendered.splitlines())


# --------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (wire.rate_limited("7"), 7.0),
        (wire.rate_limited(None, retry_after_ms="1500"), 1.5),
        (wire.rate_limited("3", retry_after_ms="250"), 0.25),
        (wire.rate_limited(None), None),
    ],
    ids=["retry-after", "retry-after-ms", "ms-wins", "no-header"],
)
async def test_429_is_rate_limited_with_retry_after(
    loopback: LoopbackServer, reply: Reply, expected: float | None
) -> None:
    loopback.push(reply)
    error = await failure(make_backend(loopback))
    assert isinstance(error, RateLimited)
    assert error.retryable
    assert error.retry_after == expected
    assert error.agent_id == "agent_a"
    assert "Rate limit reached" in str(error)


async def test_retry_after_http_date(loopback: LoopbackServer) -> None:
    loopback.push(wire.rate_limited("Wed, 21 Oct 2015 07:28:00 GMT"))
    error = await failure(make_backend(loopback))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 0.0  # a date in the past means "now"


# --------------------------------------------------------------------------- server side


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_provider_unavailable(loopback: LoopbackServer, status: int) -> None:
    loopback.push(wire.server_error(status, "upstream overloaded"))
    error = await failure(make_backend(loopback))
    assert isinstance(error, ProviderUnavailable)
    assert error.retryable
    assert f"HTTP {status}" in str(error) and "upstream overloaded" in str(error)


async def test_5xx_with_html_body(loopback: LoopbackServer) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    loopback.push(Reply(status=502, raw_body=page, headers={"Content-Type": "text/html"}))
    error = await failure(make_backend(loopback))
    assert isinstance(error, ProviderUnavailable)
    assert "502 Bad Gateway" in str(error)


async def test_read_timeout_is_provider_unavailable(loopback: LoopbackServer) -> None:
    loopback.push(Reply(delay=1.5, sse=[SSEEvent("[DONE]")]))
    error = await failure(make_backend(loopback, timeout=0.5))
    assert isinstance(error, ProviderUnavailable)
    assert "0.5s" in str(error)


async def test_stall_mid_stream_is_provider_unavailable(loopback: LoopbackServer) -> None:
    chunks = wire.text_chunks("a", "b")
    events = [SSEEvent(json.dumps(c)) for c in chunks]
    events[2].delay = 1.5
    loopback.push(Reply(sse=events))
    error = await failure(make_backend(loopback, timeout=0.5))
    assert isinstance(error, ProviderUnavailable)


async def test_connection_dropped_mid_stream_is_provider_unavailable(loopback: LoopbackServer) -> None:
    loopback.push(wire.sse(wire.text_chunks("partial", " answer", " never", " finished"), drop_after=3))
    backend = make_backend(loopback)
    seen: list[Any] = []
    with pytest.raises(ProviderUnavailable) as caught:
        async for event in backend.stream(HELLO):
            seen.append(event)
    await backend.aclose()
    assert_clean(caught.value)
    assert [getattr(e, "text", None) for e in seen] == ["partial", " answer"]
    assert "ended before the model finished" in str(caught.value)


async def test_nothing_listening_is_provider_unavailable() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = from_config(
        ChatCompletionBackendConfig(
            type="chatcompletion", model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key=SENTINEL
        )
    )
    error = await failure(backend)
    assert isinstance(error, ProviderUnavailable)
    assert f"127.0.0.1:{port}" in str(error)


async def test_error_event_inside_a_200_stream(loopback: LoopbackServer) -> None:
    boom = {"error": {"message": "Provider returned error", "code": 502}}
    loopback.push(wire.sse([*wire.text_chunks("a")[:2], boom]))
    error = await failure(make_backend(loopback))
    assert isinstance(error, ProviderUnavailable)
    assert "Provider returned error" in str(error)


async def test_context_error_event_inside_a_200_stream(loopback: LoopbackServer) -> None:
    overflow = {"error": {"message": "request (900 tokens) exceeds the available context size (512 tokens)"}}
    loopback.push(wire.sse([wire.chunk({"role": "assistant"}), overflow]))
    error = await failure(make_backend(loopback))
    assert isinstance(error, ContextLengthExceeded)
    assert (error.requested_tokens, error.allowed_tokens) == (900, 512)


# --------------------------------------------------------------------------- malformed


async def test_malformed_sse_json_is_invalid_response(loopback: LoopbackServer) -> None:
    loopback.push(
        wire.sse([wire.chunk({"content": "fine"}), '{"id": "x", "choices": [{"delta": '], done=True)
    )
    error = await failure(make_backend(loopback))
    assert isinstance(error, InvalidResponse)
    assert not error.retryable


@pytest.mark.parametrize(
    "payload",
    [
        '{"id": "x", "object": "chat.completion.chunk", "choices": "oops"}',
        '{"id": "x", "object": "chat.completion.chunk"}',
        '{"id": "x", "choices": [{"index": 0, "delta": {"content": {"nested": 1}}}]}',
    ],
    ids=["choices-not-a-list", "no-choices-no-usage", "content-not-text"],
)
async def test_unexpected_payload_is_invalid_response(loopback: LoopbackServer, payload: str) -> None:
    loopback.push(wire.sse([payload]))
    error = await failure(make_backend(loopback))
    assert isinstance(error, InvalidResponse)


# --------------------------------------------------------------------------- keys


async def test_401_names_the_variable_and_hides_the_key(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", SENTINEL)
    # The loopback server plays Groq's own endpoint: the variable's key is sent only there.
    monkeypatch.setitem(PRESETS, "groq", ChatPreset("groq", f"{loopback.url}/v1", "GROQ_API_KEY"))
    loopback.push(wire.invalid_key(f"{SENTINEL} (full key echoed by a careless proxy)"))
    error = await failure(make_backend(loopback, provider="groq", api_key=None, base_url=None))
    assert isinstance(error, AuthenticationFailed)
    assert "GROQ_API_KEY" in str(error)
    assert "HTTP 401" in str(error)
    assert error.provider == "groq" and error.agent_id == "agent_a"


async def test_403_is_authentication_failed(loopback: LoopbackServer) -> None:
    body = wire.openai_error("Project does not have access to model", type="invalid_request_error")
    loopback.push(wire.error_reply(403, body))
    error = await failure(make_backend(loopback, provider="openrouter"))
    assert isinstance(error, AuthenticationFailed)
    assert "OPENROUTER_API_KEY" in str(error)


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("grok", "XAI_API_KEY"),
        ("groq", "GROQ_API_KEY"),
        ("together", "TOGETHER_API_KEY"),
        ("cerebras", "CEREBRAS_API_KEY"),
        ("fireworks", "FIREWORKS_API_KEY"),
        ("openrouter", "OPENROUTER_API_KEY"),
    ],
)
async def test_missing_cloud_key_fails_before_any_request(
    loopback: LoopbackServer, provider: str, variable: str
) -> None:
    backend = make_backend(loopback, provider=provider, api_key=None)
    error = await failure(backend)
    assert isinstance(error, AuthenticationFailed)
    assert variable in str(error)
    assert loopback.requests == []


async def test_other_4xx_carries_the_server_message(loopback: LoopbackServer) -> None:
    body = wire.openai_error("The model `nope` does not exist", code="model_not_found")
    loopback.push(wire.error_reply(404, body))
    error = await failure(make_backend(loopback))
    assert type(error) is BackendError
    assert not error.retryable
    assert "HTTP 404" in str(error) and "does not exist" in str(error)


async def test_sentinel_never_leaks_from_any_fault(loopback: LoopbackServer) -> None:
    """Every fault above once more, with the key echoed back in the server's words."""
    echo = f"key {SENTINEL} was used"
    replies = [
        wire.error_reply(400, wire.openai_error(echo)),
        wire.error_reply(401, wire.openai_error(echo)),
        wire.error_reply(429, wire.openai_error(echo)),
        wire.error_reply(500, wire.openai_error(echo)),
        wire.error_reply(400, wire.openai_error(f"maximum context length is 10 tokens; {echo}")),
        wire.sse([{"error": {"message": echo}}]),
    ]
    for reply in replies:
        loopback.push(reply)
        error = await failure(make_backend(loopback))
        assert "***" in str(error)


# --------------------------------------------------------------------------- context length


@pytest.mark.parametrize(
    ("make_reply", "requested", "allowed"),
    [
        (lambda: wire.openai_context_error(128000, 130532), 130532, 128000),
        (lambda: wire.llama_cpp_python_context_error(512, 710, 16), 726, 512),
        (lambda: wire.llamacpp_context_error(1200, 512), 1200, 512),
        (lambda: wire.llamacpp_context_error_fields_only(1300, 1024), 1300, 1024),
        (lambda: wire.vllm_context_error(4096, 4000, 1000), 5000, 4096),
        (lambda: wire.openrouter_context_error(131072, 7884, 131072), 138956, 131072),
        (lambda: wire.groq_context_error(), None, 8192),  # Groq says no numbers: the configured window
    ],
    ids=["openai", "llama-cpp-python", "llama.cpp", "llama.cpp-fields", "vllm", "openrouter", "groq"],
)
async def test_context_length_bodies(
    loopback: LoopbackServer, make_reply: Callable[[], Reply], requested: int | None, allowed: int | None
) -> None:
    loopback.push(make_reply())
    error = await failure(make_backend(loopback, context_window=8192))
    assert isinstance(error, ContextLengthExceeded)
    assert (error.requested_tokens, error.allowed_tokens) == (requested, allowed)
    assert not error.retryable
    assert error.agent_id == "agent_a"


async def test_413_context_shape(loopback: LoopbackServer) -> None:
    body = wire.openai_error(
        "Request too large: prompt is too long: 210000 tokens > 200000 maximum", type="request_too_large"
    )
    loopback.push(wire.error_reply(413, body))
    error = await failure(make_backend(loopback))
    assert isinstance(error, ContextLengthExceeded)
    assert (error.requested_tokens, error.allowed_tokens) == (210000, 200000)


async def test_plain_400_is_not_mistaken_for_context_length(loopback: LoopbackServer) -> None:
    body = wire.openai_error("Invalid value for 'temperature': must be <= 2.", param="temperature")
    loopback.push(wire.error_reply(400, body))
    error = await failure(make_backend(loopback))
    assert type(error) is BackendError
    assert "temperature" in str(error)
