"""Recognising provider faults from what providers actually send.

Each backend maps its SDK's exceptions here, at the boundary.  Three things
are decided once, for every provider:

* **What an HTTP status means** (:func:`fault_for_status`).  One table for
  all four SDK backends, so a status never means "try again" to one provider
  and "give up" to another:

  =========  ====================  ==========  ==========================================
  status     massmem error         retried     why
  =========  ====================  ==========  ==========================================
  401, 403   AuthenticationFailed  no          the same key fails the same way
  408        ProviderUnavailable   yes         request timeout: the server gave up waiting
  409        ProviderUnavailable   OpenAI and  the openai and anthropic SDKs document
             for OpenAI and        Anthropic   "409 Conflict" among the errors they retry
             Anthropic, else       only        by default (a lock timeout); google-genai
             BackendError                      does not retry it (Google's 409 is ABORTED
                                               or ALREADY_EXISTS), and a self-hosted
                                               server documents nothing, so there a
                                               conflict is the request's own problem
  429        RateLimited           yes         after the provider's Retry-After
  5xx        ProviderUnavailable   yes         the provider failed on its side
  other 4xx  BackendError          no          the request itself was refused
  =========  ====================  ==========  ==========================================

  A backend still reads its provider's own words first where they say more
  (an error *type* such as ``overloaded_error``, an RPC status, a code inside
  a 200 stream), and a context overflow wins over "refused": a provider
  reports it as a 400.
* **Which exceptions are the network's** (:func:`is_timeout`,
  :func:`is_transport_error`): raw transport errors an SDK lets through while
  a stream is read are :class:`ProviderUnavailable`, like its own
  connection errors.
* **Context-length errors**, which matter most: every provider words them
  differently, and massmem's reactive compression depends on spotting them,
  so the recogniser knows the shapes of OpenAI, Anthropic, Gemini, llama.cpp,
  vLLM, Ollama, Groq and OpenRouter, and keeps the token numbers they report.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ProviderUnavailable,
    RateLimited,
)

__all__ = [
    "ERROR_CLASSES",
    "ContextOverflow",
    "Fault",
    "detect_context_overflow",
    "fault_for_status",
    "is_timeout",
    "is_transport_error",
    "parse_retry_after",
    "retry_after_from",
]


class Fault(enum.Enum):
    """What a failed call's HTTP status says, whatever the provider."""

    AUTH = "auth"
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"
    REFUSED = "refused"


#: The massmem error each fault becomes; its ``retryable`` decides whether the retry wrapper tries again.
ERROR_CLASSES: Mapping[Fault, type[BackendError]] = {
    Fault.AUTH: AuthenticationFailed,
    Fault.RATE_LIMIT: RateLimited,
    Fault.UNAVAILABLE: ProviderUnavailable,
    Fault.REFUSED: BackendError,
}

_STATUS_FAULTS: Mapping[int, Fault] = {
    401: Fault.AUTH,
    403: Fault.AUTH,
    408: Fault.UNAVAILABLE,
    429: Fault.RATE_LIMIT,
}


def fault_for_status(status: int | None, *, conflict_is_transient: bool) -> Fault | None:
    """The fault an HTTP error status means (the table above); None for no status or a success.

    ``conflict_is_transient`` is the provider's documented reading of 409: true
    for OpenAI and Anthropic, false for Gemini and for self-hosted servers.
    """
    if status is None or status < 400:
        return None
    if status in _STATUS_FAULTS:
        return _STATUS_FAULTS[status]
    if status == 409:
        return Fault.UNAVAILABLE if conflict_is_transient else Fault.REFUSED
    return Fault.UNAVAILABLE if status >= 500 else Fault.REFUSED


#: packages whose exceptions mean "the network or the connection failed"
_TRANSPORT_PACKAGES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "anyio", "aiohttp"})
_HTTP_PACKAGES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2"})


def _package(exc: BaseException) -> str:
    return (type(exc).__module__ or "").split(".", 1)[0]


def is_timeout(exc: BaseException) -> bool:
    """A read/connect timeout from the HTTP stack (or asyncio's own)."""
    return isinstance(exc, TimeoutError) or (
        _package(exc) in _HTTP_PACKAGES and "Timeout" in type(exc).__name__
    )


def is_transport_error(exc: BaseException) -> bool:
    """A network error an SDK let through unwrapped, typically while a stream is being read."""
    return isinstance(exc, OSError) or _package(exc) in _TRANSPORT_PACKAGES


@dataclass(frozen=True, slots=True)
class ContextOverflow:
    requested_tokens: int | None = None
    allowed_tokens: int | None = None


# Phrases that mean "the prompt did not fit", lower-cased.
_MARKERS = (
    "context_length_exceeded",  # OpenAI code
    "maximum context length",  # OpenAI, vLLM, Groq, OpenRouter
    "context length",  # generic
    "context window",  # generic
    "prompt is too long",  # Anthropic
    "input is too long",  # Anthropic / Bedrock
    "exceeds the context size",  # llama.cpp server
    "exceed_context_size_error",  # llama.cpp server type
    "exceeds the available context size",  # llama.cpp
    "requested tokens",  # llama-cpp-python server
    "input token count",  # Gemini
    "exceeds the maximum number of tokens",  # Gemini
    "too many tokens",  # generic
    "reduce the length of the messages",  # OpenAI
    "prompt too long",  # Ollama / others
    "input length exceeds",  # various
)

# (regex, group for requested, group for allowed) — first match wins.
_NUMBER_PATTERNS: tuple[tuple[re.Pattern[str], int, int], ...] = (
    # OpenAI / vLLM: "maximum context length is 8192 tokens. However, you requested 9000 tokens"
    # OpenRouter: "This endpoint's maximum context length is 131072 tokens. However, you requested about 138956"
    (
        re.compile(
            r"maximum context length is (\d+).*?(?:requested|resulted in) (?:about )?(\d+)", re.S | re.I
        ),
        2,
        1,
    ),
    # vLLM newer: "This model's maximum context length is 4096 tokens. However, your request has 5000 input tokens"
    (re.compile(r"maximum context length is (\d+).*?request has (\d+)", re.S | re.I), 2, 1),
    # llama-cpp-python: "Requested tokens (1200) exceed context window of 512"
    (re.compile(r"requested tokens \((\d+)\) exceed context window of (\d+)", re.I), 1, 2),
    # llama.cpp server: "request (1200 tokens) exceeds the available context size (512 tokens)"
    (re.compile(r"request \((\d+) tokens\) exceeds the available context size \((\d+) tokens\)", re.I), 1, 2),
    # Anthropic: "prompt is too long: 210000 tokens > 200000 maximum"
    (re.compile(r"(\d+) tokens > (\d+)(?: maximum)?", re.I), 1, 2),
    # Gemini: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)"
    (
        re.compile(
            r"input token count \(?(\d+)\)? exceeds the maximum number of tokens allowed \(?(\d+)\)?", re.I
        ),
        1,
        2,
    ),
)


def detect_context_overflow(message: str, code: str | None = None) -> ContextOverflow | None:
    """Return the overflow (with any numbers) if ``message``/``code`` describe one, else None."""
    text = message.lower()
    if code and code.lower() in {
        "context_length_exceeded",
        "exceed_context_size_error",
        "string_above_max_length",
    }:
        hit = True
    else:
        hit = any(marker in text for marker in _MARKERS)
    if not hit:
        return None
    for pattern, req_group, allowed_group in _NUMBER_PATTERNS:
        m = pattern.search(message)
        if m:
            return ContextOverflow(int(m.group(req_group)), int(m.group(allowed_group)))
    n_ctx = re.search(r"n_ctx[^0-9]{0,10}(\d+)", message)
    return ContextOverflow(None, int(n_ctx.group(1)) if n_ctx else None)


def retry_after_from(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from a response's headers: ``retry-after-ms`` (OpenAI's precise form) first."""
    if headers is None:
        return None
    millis = parse_retry_after(headers.get("retry-after-ms"))
    return millis / 1000.0 if millis is not None else parse_retry_after(headers.get("retry-after"))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After (or retry-after-ms) header value; None if absent or junk."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds)
