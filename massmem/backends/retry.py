"""Retries and fallbacks as wrapper backends.

Both wrap the one seam (:meth:`Backend.stream`) instead of living inside the
orchestrator or the protocol modules, so every backend type gets the same
behaviour and tests can drive it with any backend.

The rule both follow: a stream that has already yielded an event is never
restarted.  Retrying after text reached the user would show it twice, so a
failure after the first event surfaces as it is; a failure *before* the first
event is safe to retry (or to hand to the next backend).

* :class:`RetryingBackend` retries :class:`RateLimited` and
  :class:`ProviderUnavailable` (errors whose ``retryable`` is true) with
  bounded exponential backoff and jitter, waiting what the provider asked for
  (``Retry-After``) up to a cap.  It never retries :class:`AuthenticationFailed`,
  :class:`ContextLengthExceeded` or :class:`InvalidResponse`: the same request
  would fail the same way.
* :class:`FallbackBackend` tries its backends in order and moves on when one
  fails for good before yielding.  A :class:`ContextLengthExceeded` is not a
  reason to move on: the agent answers it by compressing its context, and it
  needs to see the error to do so.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from massmem.backends.base import Backend, ModelRequest
from massmem.errors import BackendError, ContextLengthExceeded, RateLimited
from massmem.messages import StreamEvent

__all__ = ["FallbackBackend", "RetryPolicy", "RetryingBackend", "Sleep", "wrap"]

Sleep = Callable[[float], Awaitable[None]]


@asynccontextmanager
async def closing(events: AsyncIterator[StreamEvent]) -> AsyncIterator[AsyncIterator[StreamEvent]]:
    """Close an inner stream when the outer one ends early, so its connection is released now."""
    try:
        yield events
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


class RetryPolicy:
    """How long to wait before retry number ``attempt`` (0-based).

    Exponential from ``base_delay``, never above ``max_delay``, with "equal
    jitter" (between half and all of the step) so many agents hitting the same
    limit do not retry in lock-step.  A provider's ``retry_after`` wins over the
    computed step but is capped at ``max_retry_after``: a provider asking for an
    hour should not stall a team run for an hour.
    """

    def __init__(
        self,
        *,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        max_retry_after: float = 60.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.rng = rng

    def delay(self, attempt: int, error: BackendError) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return min(max(0.0, error.retry_after), self.max_retry_after)
        step = min(self.max_delay, self.base_delay * (2**attempt))
        return step / 2 + self.rng() * step / 2


class RetryingBackend(Backend):
    """Retries a backend's failed calls that failed before yielding anything."""

    def __init__(
        self,
        inner: Backend,
        *,
        max_retries: int = 3,
        policy: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(model=inner.model, capabilities=inner.capabilities)
        self.inner = inner
        self.type_name = inner.type_name
        self.max_retries = max(0, max_retries)
        self.policy = policy or RetryPolicy()
        self._sleep: Sleep = sleep or asyncio.sleep
        #: Retries made so far, across calls (for metering and tests).
        self.retries = 0

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        attempt = 0
        while True:
            yielded = False
            try:
                async with closing(self.inner.stream(request)) as events:
                    async for event in events:
                        yielded = True
                        yield event
                return
            except BackendError as error:
                if yielded or not error.retryable or attempt >= self.max_retries:
                    if attempt and not yielded:
                        error.add_note(f"gave up after {attempt + 1} attempts on {self.inner.describe()}")
                    raise
                delay = self.policy.delay(attempt, error)
                attempt += 1
                self.retries += 1
            await self._sleep(delay)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def describe(self) -> str:
        return self.inner.describe()


class FallbackBackend(Backend):
    """Tries ``primary``, then each of ``fallbacks`` in order, until one answers."""

    def __init__(self, primary: Backend, fallbacks: Sequence[Backend]) -> None:
        super().__init__(model=primary.model, capabilities=primary.capabilities)
        self.type_name = primary.type_name
        self.backends: list[Backend] = [primary, *fallbacks]
        #: The backend that answered the last successful call (for display and metering).
        self.last_used: Backend | None = None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        failures: list[str] = []
        for position, backend in enumerate(self.backends):
            yielded = False
            try:
                async with closing(backend.stream(request)) as events:
                    async for event in events:
                        yielded = True
                        self.last_used = backend
                        yield event
                return
            except BackendError as error:
                last = position == len(self.backends) - 1
                if yielded or last or isinstance(error, ContextLengthExceeded):
                    for note in failures:
                        error.add_note(note)
                    raise
                failures.append(f"{backend.describe()} failed first: {error}")

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()

    def describe(self) -> str:
        head, *rest = self.backends
        if not rest:
            return head.describe()
        return f"{head.describe()} (fallback: {', '.join(b.describe() for b in rest)})"


def wrap(
    backend: Backend,
    config: Any,
    *,
    sleep: Sleep | None = None,
    policy: RetryPolicy | None = None,
    **context: Any,
) -> Backend:
    """``backend`` with the retries and fallbacks its config asks for.

    ``config`` is the backend's options model (``max_retries``, ``fallback``).
    Each fallback is built through the registry and wrapped the same way, so
    a fallback retries by its own ``max_retries``.  ``context`` (e.g.
    ``agent_id``) is passed on to the fallbacks' factories.
    """
    from massmem.backends.registry import build_backend

    wrapped: Backend = backend
    retries = int(getattr(config, "max_retries", 0) or 0)
    if retries > 0:
        wrapped = RetryingBackend(backend, max_retries=retries, policy=policy, sleep=sleep)
    fallback_configs = list(getattr(config, "fallback", None) or [])
    if fallback_configs:
        fallbacks = [
            wrap(build_backend(option, **context), option, sleep=sleep, policy=policy, **context)
            for option in fallback_configs
        ]
        wrapped = FallbackBackend(wrapped, fallbacks)
    return wrapped
