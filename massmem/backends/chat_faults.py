"""How a Chat Completions server's failures read as massmem errors.

One protocol, many servers: OpenAI and the compatible clouds answer with
OpenAI's error envelope, self-hosted servers with their own words (llama.cpp
puts the token numbers beside the message, llama-cpp-python answers 500 to a
request it cannot validate), and some send an error object inside a ``200``
stream.  The status is read with the shared table of
:mod:`massmem.backends.faults`; a conflict (409) is not transient here, since
no server behind this protocol documents it so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from massmem.backends.faults import (
    Fault,
    detect_context_overflow,
    fault_for_status,
    is_transport_error,
    retry_after_from,
)
from massmem.errors import (
    AuthenticationFailed,
    BackendError,
    ContextLengthExceeded,
    InvalidResponse,
    ProviderUnavailable,
    RateLimited,
)

__all__ = ["ChatServer", "translate_exception"]


@dataclass(frozen=True, slots=True)
class ChatServer:
    """The server that failed, as error messages name it."""

    provider: str
    base_url: str
    timeout: float
    agent_id: str | None
    #: what to set when the server rejects the key
    key_hint: str
    #: the window to report when the server does not say
    context_window: int | None

    def where(self) -> dict[str, Any]:
        return {"provider": self.provider, "agent_id": self.agent_id}


def translate_exception(exc: BaseException, server: ChatServer) -> BackendError:
    """Any exception from the SDK or the transport, as a massmem error (never an SDK type)."""
    if isinstance(exc, BackendError):
        if exc.agent_id is None:
            exc.agent_id = server.agent_id
        return exc
    import openai

    where = server.where()
    if isinstance(exc, openai.APITimeoutError):
        return ProviderUnavailable(
            f"{server.provider}: no answer from {server.base_url} within {server.timeout:g}s", **where
        )
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f": {type(cause).__name__}: {cause}" if cause else ""
        return ProviderUnavailable(f"{server.provider}: could not reach {server.base_url}{detail}", **where)
    if isinstance(exc, openai.APIResponseValidationError):
        return InvalidResponse(f"{server.provider}: unexpected response: {exc.message}", **where)
    if isinstance(exc, openai.APIStatusError):
        return _translate_status(exc, server)
    if isinstance(exc, openai.APIError):
        return _translate_stream_error(exc, server)
    if isinstance(exc, ValueError):  # json.JSONDecodeError from a malformed SSE event
        return InvalidResponse(f"{server.provider}: malformed event in the stream: {exc}", **where)
    if is_transport_error(exc):
        return ProviderUnavailable(
            f"{server.provider}: connection to {server.base_url} failed: {type(exc).__name__}: {exc}",
            **where,
        )
    return BackendError(f"{server.provider}: {type(exc).__name__}: {exc}", **where)


def _translate_status(exc: Any, server: ChatServer) -> BackendError:
    status: int = exc.status_code
    fault = fault_for_status(status, conflict_is_transient=False)  # no server here documents 409
    message = _server_message(exc)
    where = server.where()
    if fault is Fault.AUTH:
        # The hint before the server's words: a status line cuts the end, never what to do.
        return AuthenticationFailed(
            f"{server.provider} rejected the API key (HTTP {status}). {server.key_hint} "
            f"The server said: {message}",
            **where,
        )
    if fault is Fault.RATE_LIMIT:
        return RateLimited(
            f"{server.provider} is rate limiting requests (HTTP 429): {message}",
            retry_after=retry_after_from(exc.response.headers),
            **where,
        )
    overflow = _overflow(exc, message, server)
    if overflow is not None:
        return overflow
    if fault is Fault.UNAVAILABLE and "validation error" not in message.lower():
        # llama-cpp-python answers 500 to a request it cannot validate; retrying cannot help,
        # so that one falls through to the non-retryable "refused" below.
        return ProviderUnavailable(
            f"{server.provider} failed on its side (HTTP {status}): {message}", **where
        )
    return BackendError(f"{server.provider} refused the request (HTTP {status}): {message}", **where)


def _translate_stream_error(exc: Any, server: ChatServer) -> BackendError:
    """An error object sent inside a 200 stream (vLLM, OpenRouter, llama.cpp do this)."""
    message = _server_message(exc)
    where = server.where()
    overflow = _overflow(exc, message, server)
    if overflow is not None:
        return overflow
    code = str(getattr(exc, "code", "") or "")
    if code == "429" or "rate limit" in message.lower():
        return RateLimited(f"{server.provider} is rate limiting requests: {message}", **where)
    return ProviderUnavailable(f"{server.provider} reported an error mid-stream: {message}", **where)


def _overflow(exc: Any, message: str, server: ChatServer) -> ContextLengthExceeded | None:
    code = getattr(exc, "code", None)
    found = detect_context_overflow(message, code) or detect_context_overflow(
        message, getattr(exc, "type", None)
    )
    if found is None:
        return None
    body = exc.body if isinstance(getattr(exc, "body", None), dict) else {}
    requested = found.requested_tokens
    allowed = found.allowed_tokens
    if requested is None:  # llama.cpp puts the numbers beside the message
        requested = _opt_int(body.get("n_prompt_tokens"))
    if allowed is None:
        allowed = _opt_int(body.get("n_ctx")) or server.context_window
    return ContextLengthExceeded(
        f"{server.provider}: the request does not fit the model's context window: {message}",
        requested_tokens=requested,
        allowed_tokens=allowed,
        provider=server.provider,
        agent_id=server.agent_id,
    )


def _server_message(exc: Any) -> str:
    """The provider's own words: ``error.message`` from the body, else the SDK's summary."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
        if isinstance(body.get("error"), str):
            return str(body["error"])
    if isinstance(body, str) and body.strip():
        text = " ".join(body.split())
        return text[:300] + ("…" if len(text) > 300 else "")
    message = str(getattr(exc, "message", "") or exc)
    return re.sub(r"^Error code: \d+( - )?", "", message) or "no details"


def _opt_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
