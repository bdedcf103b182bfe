"""Retry and fallback wrappers: the policy with a scripted inner backend, and ``wrap`` with real SDKs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from massmem.backends.base import Backend, Capabilities, ModelRequest, collect
from massmem.backends.retry import FallbackBackend, RetryingBackend, RetryPolicy, wrap
from massmem.config.schema import ClaudeBackendConfig, GeminiBackendConfig, OpenAIBackendConfig
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
)
from massmem.messages import Finished, StreamEvent, TextDelta, UserMessage
from tests.support import anthropic_protocol as ap
from tests.support import responses_protocol as rp
from tests.support.loopback import LoopbackServer

HELLO = ModelRequest([UserMessage("hi")])

# One step of a scripted call: an error raised before anything, text then an error, or a clean answer.
Step = BackendError | tuple[str, BackendError] | str


class Scripted(Backend):
    """A backend whose calls follow a script; records how often it was called and closed."""

    type_name = "fake"

    def __init__(self, steps: Sequence[Step], name: str = "fake") -> None:
        super().__init__(model=name, capabilities=Capabilities(context_window=1234))
        self.steps = list(steps)
        self.calls = 0
        self.closed = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        match step:
            case BackendError():
                raise step
            case (str() as text, BackendError() as error):
                yield TextDelta(text)
                raise error
            case str():
                yield TextDelta(step)
                yield Finished("stop")

    async def aclose(self) -> None:
        self.closed += 1


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def retrying(inner: Backend, sleeps: Sleeps, max_retries: int = 3, **policy: float) -> RetryingBackend:
    return RetryingBackend(
        inner, max_retries=max_retries, policy=RetryPolicy(rng=lambda: 1.0, **policy), sleep=sleeps
    )


# -- RetryingBackend ----------------------------------------------------------------------------


async def test_rate_limit_waits_what_the_provider_asked() -> None:
    inner = Scripted([RateLimited("slow down", retry_after=7.0), "ok"])
    sleeps = Sleeps()
    completion = await collect(retrying(inner, sleeps).stream(HELLO))
    assert completion.text == "ok" and inner.calls == 2
    assert sleeps.waits == [7.0]


async def test_retry_after_is_capped() -> None:
    inner = Scripted([RateLimited("daily quota", retry_after=3600.0), "ok"])
    sleeps = Sleeps()
    await collect(retrying(inner, sleeps, max_retry_after=30.0).stream(HELLO))
    assert sleeps.waits == [30.0]


async def test_unavailable_backs_off_exponentially_then_gives_up() -> None:
    inner = Scripted([ProviderUnavailable("503")])
    sleeps = Sleeps()
    with pytest.raises(ProviderUnavailable) as info:
        await collect(retrying(inner, sleeps, max_retries=4, base_delay=1.0, max_delay=5.0).stream(HELLO))
    assert inner.calls == 5
    assert sleeps.waits == [1.0, 2.0, 4.0, 5.0]  # doubled each time, bounded by max_delay
    assert any("gave up after 5 attempts" in note for note in info.value.__notes__)


def test_jitter_stays_between_half_and_the_whole_step() -> None:
    low = RetryPolicy(base_delay=2.0, rng=lambda: 0.0).delay(1, ProviderUnavailable("x"))
    high = RetryPolicy(base_delay=2.0, rng=lambda: 0.999).delay(1, ProviderUnavailable("x"))
    assert low == 2.0 and 3.99 < high <= 4.0


@pytest.mark.parametrize(
    "error",
    [
        AuthenticationFailed("bad key"),
        ContextLengthExceeded("too long"),
        InvalidResponse("junk"),
        BackendError("400"),
    ],
)
async def test_errors_that_would_repeat_are_not_retried(error: BackendError) -> None:
    inner = Scripted([error, "never"])
    sleeps = Sleeps()
    with pytest.raises(type(error)):
        await collect(retrying(inner, sleeps).stream(HELLO))
    assert inner.calls == 1 and sleeps.waits == []


async def test_never_retries_once_text_was_yielded() -> None:
    inner = Scripted([("partial ", ProviderUnavailable("dropped")), "again"])
    sleeps = Sleeps()
    seen: list[StreamEvent] = []
    with pytest.raises(ProviderUnavailable):
        async for event in retrying(inner, sleeps).stream(HELLO):
            seen.append(event)
    assert seen == [TextDelta("partial ")] and inner.calls == 1


async def test_zero_retries_means_one_attempt() -> None:
    inner = Scripted([ProviderUnavailable("503"), "ok"])
    with pytest.raises(ProviderUnavailable):
        await collect(retrying(inner, Sleeps(), max_retries=0).stream(HELLO))
    assert inner.calls == 1


async def test_wrapper_keeps_identity_and_closes_inner() -> None:
    inner = Scripted(["ok"], name="m1")
    wrapper = retrying(inner, Sleeps())
    assert wrapper.model == "m1" and wrapper.capabilities.context_window == 1234
    assert wrapper.describe() == "fake:m1"
    await wrapper.aclose()
    assert inner.closed == 1


# -- FallbackBackend ----------------------------------------------------------------------------


async def test_fallback_answers_when_the_primary_fails_for_good() -> None:
    primary = Scripted([AuthenticationFailed("no key")], "primary")
    backup = Scripted(["from backup"], "backup")
    chain = FallbackBackend(primary, [backup])
    completion = await collect(chain.stream(HELLO))
    assert completion.text == "from backup"
    assert chain.last_used is backup
    assert chain.describe() == "fake:primary (fallback: fake:backup)"


async def test_fallbacks_are_tried_in_order_and_the_last_error_carries_the_story() -> None:
    first = Scripted([ProviderUnavailable("first down")], "first")
    second = Scripted([RateLimited("second limited")], "second")
    third = Scripted([AuthenticationFailed("third bad key")], "third")
    with pytest.raises(AuthenticationFailed) as info:
        await collect(FallbackBackend(first, [second, third]).stream(HELLO))
    notes = "\n".join(info.value.__notes__)
    assert "fake:first failed first: first down" in notes and "second limited" in notes
    assert (first.calls, second.calls, third.calls) == (1, 1, 1)


async def test_no_fallback_after_the_primary_yielded() -> None:
    primary = Scripted([("half", ProviderUnavailable("dropped"))])
    backup = Scripted(["whole"])
    with pytest.raises(ProviderUnavailable):
        await collect(FallbackBackend(primary, [backup]).stream(HELLO))
    assert backup.calls == 0


async def test_context_overflow_goes_back_to_the_agent_not_to_a_fallback() -> None:
    primary = Scripted([ContextLengthExceeded("too long", requested_tokens=9, allowed_tokens=8)])
    backup = Scripted(["whole"])
    with pytest.raises(ContextLengthExceeded):
        await collect(FallbackBackend(primary, [backup]).stream(HELLO))
    assert backup.calls == 0


async def test_fallback_closes_every_backend() -> None:
    backends = [Scripted(["a"]), Scripted(["b"])]
    await FallbackBackend(backends[0], backends[1:]).aclose()
    assert [b.closed for b in backends] == [1, 1]


# -- wrap(): built from config, through the registry, against real SDKs -------------------------


async def test_wrap_retries_then_falls_back_across_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = Sleeps()
    with LoopbackServer() as openai_srv, LoopbackServer() as claude_srv, LoopbackServer() as gemini_srv:
        openai_srv.default = rp.server_error()
        claude_srv.push(ap.overloaded_error(), ap.text_reply("from claude"))
        config = OpenAIBackendConfig(
            type="openai",
            model="gpt-5-mini",
            api_key="sk-primary-000000000000",
            base_url=f"{openai_srv.url}/v1",
            max_retries=2,
            fallback=[
                ClaudeBackendConfig(
                    type="claude",
                    model="claude-sonnet-4-6",
                    api_key="sk-ant-fb-00000000",
                    base_url=claude_srv.url,
                    max_retries=1,
                ),
                GeminiBackendConfig(
                    type="gemini",
                    model="gemini-2.5-flash",
                    api_key="AIza-fb-0000000000",
                    base_url=gemini_srv.url,
                ),
            ],
        )
        from massmem.backends.registry import build_backend

        backend = wrap(build_backend(config, agent_id="a1"), config, sleep=sleeps, agent_id="a1")
        try:
            assert isinstance(backend, FallbackBackend)
            completion = await collect(backend.stream(HELLO))
        finally:
            await backend.aclose()
    assert completion.text == "from claude"
    assert len(openai_srv.requests) == 3  # first try + max_retries
    assert len(claude_srv.requests) == 2  # overloaded once, then answered
    assert gemini_srv.requests == []
    assert len(sleeps.waits) == 3


def test_wrap_without_retries_or_fallbacks_is_the_backend_itself() -> None:
    inner = Scripted(["x"])
    config = OpenAIBackendConfig(type="openai", model="m", max_retries=0)
    assert wrap(inner, config) is inner
    assert isinstance(wrap(inner, OpenAIBackendConfig(type="openai", model="m")), RetryingBackend)


class Endless(Backend):
    """Streams until told to stop; records whether its stream was closed."""

    type_name = "endless"

    def __init__(self) -> None:
        super().__init__(model="endless")
        self.finished = False

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        try:
            while True:
                yield TextDelta("x")
        finally:
            self.finished = True


@pytest.mark.parametrize("wrapper", ["retry", "fallback"])
async def test_stopping_early_closes_the_inner_stream_at_once(wrapper: str) -> None:
    inner = Endless()
    outer: Backend = (
        retrying(inner, Sleeps()) if wrapper == "retry" else FallbackBackend(inner, [Scripted(["b"])])
    )
    stream = outer.stream(HELLO)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert inner.finished
