"""Every wire protocol × every fault, through the official SDKs, bare and behind the retry wrapper.

Each protocol column knows how to build its backend config and how its
provider really spells each fault on the wire; each fault row says which
massmem error must come out and whether the retry wrapper may try again.
Retryable faults are followed by a good answer, so "retried" is proven by the
wrapper returning that answer after exactly one wait; non-retryable ones must
surface after a single request and no wait.  Every error message is checked
for the sentinel key.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from massmem.backends.base import Backend, ModelRequest, collect
from massmem.backends.registry import build_backend
from massmem.backends.retry import RetryingBackend, wrap
from massmem.config.schema import (
    ChatCompletionBackendConfig,
    ClaudeBackendConfig,
    GeminiBackendConfig,
    OpenAIBackendConfig,
)
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
)
from massmem.messages import TextDelta, UserMessage
from tests.support import anthropic_protocol as ap
from tests.support import gemini_protocol as gp
from tests.support import responses_protocol as rp
from tests.support.loopback import LoopbackServer, Reply, SSEEvent

HELLO = ModelRequest([UserMessage("hi")])
TIMEOUT = 0.5  # the backends' read timeout in these tests
STALL = 1.5  # how long a "timed out" server waits before answering
RETRY_AFTER = 2.0  # what every rate-limit reply asks for


@dataclass(frozen=True)
class Protocol:
    """One wire protocol: how to configure it and how its provider spells each fault."""

    name: str
    sentinel: str
    key_env: str
    config: Callable[[str, str | None], Any]  # (server url, api key) -> backend config
    ok: Callable[[str], Reply]
    faults: dict[str, Callable[[], Reply]]
    drop_after_text: Callable[[], Reply]
    context_numbers: tuple[int | None, int | None]


# -- the columns --------------------------------------------------------------------------------


def _responses() -> Protocol:
    def drop_before_content() -> Reply:
        return rp.ResponsesStream().text("never seen").completed().reply(drop_after=2)

    return Protocol(
        name="responses",
        sentinel="sk-SENTINEL-responses-0123456789",
        key_env="OPENAI_API_KEY",
        config=lambda url, key: OpenAIBackendConfig(
            type="openai", model="gpt-5-mini", base_url=f"{url}/v1", api_key=key, timeout=TIMEOUT
        ),
        ok=lambda text: rp.text_reply(text),
        faults={
            "429 + Retry-After": lambda: rp.rate_limit_error(f"{RETRY_AFTER:g}"),
            "500": rp.server_error,
            "503": rp.unavailable_error,
            "read timeout": lambda: Reply(
                delay=STALL, sse=rp.ResponsesStream().text("late").completed().events
            ),
            "dropped mid-stream": drop_before_content,
            "error event in stream": lambda: (
                rp.ResponsesStream().error("The server had an error", "server_error").reply()
            ),
            "malformed event": rp.malformed_event_reply,
            "401 bad key": rp.auth_error,
            "context length": lambda: rp.context_length_error(9_000, 8_192),
        },
        drop_after_text=lambda: rp.ResponsesStream().text("partial", " more").completed().reply(drop_after=5),
        context_numbers=(9_000, 8_192),
    )


def _claude() -> Protocol:
    return Protocol(
        name="claude",
        sentinel="sk-ant-SENTINEL-claude-0123456789",
        key_env="ANTHROPIC_API_KEY",
        config=lambda url, key: ClaudeBackendConfig(
            type="claude", model="claude-sonnet-4-6", base_url=url, api_key=key, timeout=TIMEOUT
        ),
        ok=lambda text: ap.text_reply(text),
        faults={
            "429 + Retry-After": lambda: ap.rate_limit_error(f"{RETRY_AFTER:g}"),
            "500": ap.server_error,
            "503": ap.unavailable_error,
            "read timeout": lambda: Reply(delay=STALL, sse=ap.MessageStream().text("late").stop().events),
            "dropped mid-stream": lambda: ap.MessageStream().text("never seen").stop().reply(drop_after=2),
            "error event in stream": lambda: (
                ap.MessageStream().error("overloaded_error", "Overloaded").reply()
            ),
            "malformed event": ap.malformed_event_reply,
            "401 bad key": ap.auth_error,
            "context length": lambda: ap.context_length_error(210_000, 200_000),
        },
        # message_start, ping, block start, one text delta: then the line goes dead.
        drop_after_text=lambda: ap.MessageStream().text("partial", " more").stop().reply(drop_after=4),
        context_numbers=(210_000, 200_000),
    )


def _gemini() -> Protocol:
    return Protocol(
        name="gemini",
        sentinel="AIzaSENTINELgemini0123456789abcdefgh",
        key_env="GEMINI_API_KEY",
        config=lambda url, key: GeminiBackendConfig(
            type="gemini", model="gemini-2.5-flash", base_url=url, api_key=key, timeout=TIMEOUT
        ),
        ok=lambda text: gp.text_reply(text),
        faults={
            "429 + Retry-After": lambda: gp.rate_limit_error(f"{RETRY_AFTER:g}s"),
            "500": gp.server_error,
            "503": gp.unavailable_error,
            "read timeout": lambda: Reply(delay=STALL, sse=gp.GeminiStream().text("late").finish().events),
            "dropped mid-stream": lambda: gp.GeminiStream().text("never seen").finish().reply(drop_after=0),
            "error event in stream": lambda: (
                gp.GeminiStream().error(503, "UNAVAILABLE", "The model is overloaded.").reply()
            ),
            "malformed event": lambda: Reply(sse=[SSEEvent(data='{"candidates": [{"content": ')]),
            "401 bad key": gp.auth_error,
            "context length": lambda: gp.context_length_error(1_200_000, 1_048_576),
        },
        drop_after_text=lambda: gp.GeminiStream().text("partial", " more").finish().reply(drop_after=1),
        context_numbers=(1_200_000, 1_048_576),
    )


def _chat() -> Protocol:
    from tests.support import chat_protocol as cp

    def error_in_stream() -> Reply:
        body = {
            "error": {
                "message": "The server had an error",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return cp.sse([cp.chunk({"role": "assistant", "content": ""}), body], done=False)

    return Protocol(
        name="chatcompletion",
        sentinel="sk-SENTINEL-chat-0123456789abcdef",
        key_env="OPENAI_API_KEY",
        config=lambda url, key: ChatCompletionBackendConfig(
            type="chatcompletion",
            provider="openai",
            model="gpt-4o-mini",
            base_url=f"{url}/v1",
            api_key=key,
            timeout=TIMEOUT,
        ),
        ok=lambda text: cp.text_reply(text),
        faults={
            "429 + Retry-After": lambda: cp.rate_limited(f"{RETRY_AFTER:g}"),
            "500": lambda: cp.server_error(500),
            "503": lambda: cp.server_error(
                503, "The engine is currently overloaded, please try again later."
            ),
            "read timeout": lambda: Reply(delay=STALL, sse=cp.text_reply("late").sse),
            "dropped mid-stream": lambda: cp.sse(cp.text_chunks("never seen"), drop_after=1),
            "error event in stream": error_in_stream,
            "malformed event": lambda: cp.sse(
                [cp.chunk({"role": "assistant", "content": ""}), "{not json"], done=False
            ),
            "401 bad key": cp.invalid_key,
            "context length": lambda: cp.openai_context_error(allowed=8_192, requested=9_000),
        },
        drop_after_text=lambda: cp.sse(cp.text_chunks("partial", " more"), drop_after=2),
        context_numbers=(9_000, 8_192),
    )


def _chat_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("massmem.backends.chat_completions", "tests.support.chat_protocol")
    )


PROTOCOLS = [
    pytest.param(_responses, id="responses"),
    pytest.param(_claude, id="claude"),
    pytest.param(_gemini, id="gemini"),
    pytest.param(
        _chat,
        id="chatcompletion",
        marks=pytest.mark.skipif(not _chat_available(), reason="chat_completions backend not present yet"),
    ),
]

# fault -> (error that must come out, whether the retry wrapper tries again)
EXPECTED: dict[str, tuple[type[BackendError], bool]] = {
    "429 + Retry-After": (RateLimited, True),
    "500": (ProviderUnavailable, True),
    "503": (ProviderUnavailable, True),
    "read timeout": (ProviderUnavailable, True),
    "dropped mid-stream": (ProviderUnavailable, True),
    "error event in stream": (ProviderUnavailable, True),
    "malformed event": (InvalidResponse, False),
    "401 bad key": (AuthenticationFailed, False),
    "context length": (ContextLengthExceeded, False),
}
FAULTS = list(EXPECTED)


# -- helpers ------------------------------------------------------------------------------------


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def assert_no_secret(error: BaseException, protocol: Protocol) -> None:
    text = "\n".join([str(error), repr(error), *getattr(error, "__notes__", [])])
    assert protocol.sentinel not in text
    assert "SENTINEL" not in text, f"part of the key leaked into: {text}"


def check_error(error: BackendError, fault: str, protocol: Protocol) -> None:
    """What each fault's error must carry beyond its type."""
    assert_no_secret(error, protocol)
    assert error.agent_id == "agent-x"
    if fault == "429 + Retry-After":
        assert isinstance(error, RateLimited) and error.retry_after == RETRY_AFTER
    if fault == "401 bad key":
        assert protocol.key_env in str(error)
    if fault == "context length":
        assert isinstance(error, ContextLengthExceeded)
        assert (error.requested_tokens, error.allowed_tokens) == protocol.context_numbers


def build(protocol: Protocol, url: str, key: str | None) -> tuple[Any, Backend]:
    config = protocol.config(url, key)
    return config, build_backend(config, agent_id="agent-x")


# -- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("make_protocol", PROTOCOLS)
async def test_bare_backend(
    make_protocol: Callable[[], Protocol], fault: str, loopback: LoopbackServer
) -> None:
    protocol = make_protocol()
    expected, _ = EXPECTED[fault]
    loopback.push(protocol.faults[fault]())
    _, backend = build(protocol, loopback.url, protocol.sentinel)
    try:
        with pytest.raises(BackendError) as info:
            await collect(backend.stream(HELLO))
    finally:
        await backend.aclose()
    assert type(info.value) is expected, (
        f"{protocol.name} / {fault}: got {type(info.value).__name__}: {info.value}"
    )
    check_error(info.value, fault, protocol)
    assert len(loopback.requests) == 1


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("make_protocol", PROTOCOLS)
async def test_through_retry_wrapper(
    make_protocol: Callable[[], Protocol], fault: str, loopback: LoopbackServer
) -> None:
    protocol = make_protocol()
    expected, retried = EXPECTED[fault]
    loopback.push(protocol.faults[fault](), protocol.ok("recovered"))
    config, bare = build(protocol, loopback.url, protocol.sentinel)
    sleeps = Sleeps()
    backend = wrap(bare, config, sleep=sleeps, agent_id="agent-x")
    assert isinstance(backend, RetryingBackend)
    try:
        if retried:
            completion = await collect(backend.stream(HELLO))
            assert completion.text == "recovered"
            assert len(loopback.requests) == 2
            # One wait before the retried request; rarely one more, when the connection the faulty
            # stream left behind is reused and fails before a request is sent (seen once in CI).
            assert 1 <= len(sleeps.waits) <= 2
            if fault == "429 + Retry-After":
                assert sleeps.waits == [RETRY_AFTER]
        else:
            with pytest.raises(expected) as info:
                await collect(backend.stream(HELLO))
            check_error(info.value, fault, protocol)
            assert len(loopback.requests) == 1 and sleeps.waits == []
    finally:
        await backend.aclose()


@pytest.mark.parametrize("make_protocol", PROTOCOLS)
async def test_drop_after_text_is_surfaced_never_replayed(
    make_protocol: Callable[[], Protocol], loopback: LoopbackServer
) -> None:
    protocol = make_protocol()
    loopback.push(protocol.drop_after_text(), protocol.ok("a second answer"))
    config, bare = build(protocol, loopback.url, protocol.sentinel)
    sleeps = Sleeps()
    backend = wrap(bare, config, sleep=sleeps, agent_id="agent-x")
    seen: list[Any] = []
    try:
        with pytest.raises(ProviderUnavailable) as info:
            async for event in backend.stream(HELLO):
                seen.append(event)
    finally:
        await backend.aclose()
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["partial"]
    assert len(loopback.requests) == 1 and sleeps.waits == []
    assert_no_secret(info.value, protocol)


@pytest.mark.parametrize("make_protocol", PROTOCOLS)
async def test_missing_key_fails_before_any_request(
    make_protocol: Callable[[], Protocol], loopback: LoopbackServer
) -> None:
    protocol = make_protocol()
    config, bare = build(protocol, loopback.url, None)
    backend = wrap(bare, config, sleep=Sleeps(), agent_id="agent-x")
    try:
        with pytest.raises(AuthenticationFailed) as info:
            await collect(backend.stream(HELLO))
    finally:
        await backend.aclose()
    assert loopback.requests == []
    assert protocol.key_env in str(info.value) or "api_key" in str(info.value)
