"""One HTTP status means one massmem error, whichever SDK backend meets it.

Each backend is driven through its official SDK against its loopback server,
which answers with the status and a neutral error body (no provider error
type, RPC status or code that would decide on its own), so the status table
in ``massmem.backends.faults`` is what decides.  The expectations are written
out here, not read from that table: a change to the table has to change this
file too.  409 is the one status whose meaning depends on the provider:
OpenAI's and Anthropic's SDKs document it as transient, google-genai and
self-hosted servers do not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from massmem.backends.base import ModelRequest, collect
from massmem.backends.registry import build_backend
from massmem.config.schema import (
    ChatCompletionBackendConfig,
    ClaudeBackendConfig,
    GeminiBackendConfig,
    OpenAIBackendConfig,
)
from massmem.errors import AuthenticationFailed, BackendError, ProviderUnavailable, RateLimited
from massmem.messages import UserMessage
from tests.support import anthropic_protocol as ap
from tests.support import chat_protocol as cp
from tests.support import gemini_protocol as gp
from tests.support import responses_protocol as rp
from tests.support.loopback import LoopbackServer, Reply

HELLO = ModelRequest([UserMessage("hi")])
KEY = "sk-status-table-0123456789"
MESSAGE = "the loopback server says no"

Column = tuple[Callable[[str], Any], Callable[[int], Reply]]  # (url -> config, status -> reply)

COLUMNS: dict[str, Column] = {
    "openai": (
        lambda url: OpenAIBackendConfig(type="openai", model="gpt-5-mini", base_url=f"{url}/v1", api_key=KEY),
        lambda status: rp.error_reply(status, MESSAGE, type="loopback"),
    ),
    "claude": (
        lambda url: ClaudeBackendConfig(type="claude", model="claude-sonnet-4-6", base_url=url, api_key=KEY),
        lambda status: ap.error_reply(status, "loopback", MESSAGE),
    ),
    "gemini": (
        lambda url: GeminiBackendConfig(type="gemini", model="gemini-2.5-flash", base_url=url, api_key=KEY),
        lambda status: gp.error_reply(status, "LOOPBACK", MESSAGE),
    ),
    "chatcompletion": (
        lambda url: ChatCompletionBackendConfig(
            type="chatcompletion", model="some-model", base_url=f"{url}/v1", api_key=KEY
        ),
        lambda status: cp.error_reply(status, cp.openai_error(MESSAGE, type="loopback")),
    ),
}

REFUSED = (BackendError, False)
UNAVAILABLE = (ProviderUnavailable, True)

# status -> (error class, retryable), the same for every backend
SAME_FOR_ALL: dict[int, tuple[type[BackendError], bool]] = {
    400: REFUSED,
    401: (AuthenticationFailed, False),
    403: (AuthenticationFailed, False),
    404: REFUSED,
    408: UNAVAILABLE,
    413: REFUSED,
    422: REFUSED,
    429: (RateLimited, True),
    500: UNAVAILABLE,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: UNAVAILABLE,
    529: UNAVAILABLE,
}
# 409 Conflict: transient where the provider documents it so
CONFLICT: dict[str, tuple[type[BackendError], bool]] = {
    "openai": UNAVAILABLE,
    "claude": UNAVAILABLE,
    "gemini": REFUSED,
    "chatcompletion": REFUSED,
}

CASES = [
    pytest.param(name, status, expected, id=f"{name}-{status}")
    for name in COLUMNS
    for status, expected in sorted({**SAME_FOR_ALL, 409: CONFLICT[name]}.items())
]


@pytest.mark.parametrize(("backend_type", "status", "expected"), CASES)
async def test_status_maps_to_one_error(
    backend_type: str, status: int, expected: tuple[type[BackendError], bool], loopback: LoopbackServer
) -> None:
    config_for, reply_for = COLUMNS[backend_type]
    error_class, retryable = expected
    loopback.push(reply_for(status))
    backend = build_backend(config_for(loopback.url), agent_id="agent-s")
    try:
        with pytest.raises(BackendError) as info:
            await collect(backend.stream(HELLO))
    finally:
        await backend.aclose()
    error = info.value
    assert type(error) is error_class, f"{backend_type} HTTP {status}: {type(error).__name__}: {error}"
    assert error.retryable is retryable
    assert error.agent_id == "agent-s"
    assert len(loopback.requests) == 1  # the SDK's own retries are off: one status, one request
