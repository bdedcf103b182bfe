"""An environment key goes only to the host it belongs to (docs/backends.md, "How keys are found").

Two loopback servers stand in for two hosts: one is made the preset's own URL (the preset
table is pointed at it), the other is a custom ``base_url``.  Requests go through the official
``openai`` SDK, and what is asserted is what crossed each socket: the sentinel key must reach
the preset's host and never the custom one, whether the custom URL stands alone or overrides
a preset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from massmem.backends.base import ModelRequest
from massmem.backends.chat_completions import from_config
from massmem.backends.presets import PRESETS, ChatPreset
from massmem.config.schema import ChatCompletionBackendConfig
from massmem.errors import AuthenticationFailed
from massmem.messages import TextDelta, UserMessage
from tests.support.chat_protocol import invalid_key, text_reply
from tests.support.loopback import LoopbackServer

SENTINEL = "sk-SENTINEL-routing-0123456789"
HELLO = ModelRequest(messages=[UserMessage("hello")])


@pytest.fixture
def custom() -> Iterator[LoopbackServer]:
    """A second host: whatever a user's ``base_url`` names."""
    with LoopbackServer() as server:
        yield server


def _point_preset(monkeypatch: pytest.MonkeyPatch, name: str, server: LoopbackServer) -> None:
    """Make ``server`` the preset's own endpoint, keeping the preset's key variable."""
    monkeypatch.setitem(PRESETS, name, ChatPreset(name, f"{server.url}/v1", PRESETS[name].key_env))


async def _ask(**fields: Any) -> str:
    backend = from_config(
        ChatCompletionBackendConfig(type="chatcompletion", model="m", timeout=5.0, **fields), agent_id="a"
    )
    try:
        return "".join([e.text async for e in backend.stream(HELLO) if isinstance(e, TextDelta)])
    finally:
        await backend.aclose()


def _sent_sentinel(server: LoopbackServer) -> bool:
    return any(SENTINEL in str(r.headers) or SENTINEL.encode() in r.body for r in server.requests)


@pytest.mark.parametrize(("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("groq", "GROQ_API_KEY")])
async def test_the_preset_host_gets_its_key_and_a_custom_base_url_never_does(
    provider: str,
    variable: str,
    loopback: LoopbackServer,
    custom: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, SENTINEL)
    _point_preset(monkeypatch, provider, loopback)
    loopback.queue.append(text_reply("from the preset host"))

    assert await _ask(provider=provider) == "from the preset host"
    assert loopback.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"

    # The same preset pointed elsewhere: the key stays home, and the user is told what to do.
    with pytest.raises(AuthenticationFailed) as failure:
        await _ask(provider=provider, base_url=f"{custom.url}/v1")
    assert custom.requests == []
    assert "set api_key in the backend config" in str(failure.value)
    assert f"{variable} is sent only to {loopback.url}/v1" in str(failure.value)


async def test_a_bare_base_url_never_gets_openai_api_key(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    custom.queue.append(text_reply("ok"))
    assert await _ask(base_url=f"{custom.url}/v1") == "ok"
    assert len(custom.requests) == 1 and not _sent_sentinel(custom)


async def test_a_key_named_in_the_config_does_reach_the_custom_host(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``api_key: ${VAR}`` is how a custom host gets a key: the user chose to send it there."""
    monkeypatch.setenv("GROQ_API_KEY", "gsk_not_this_one_0000")
    custom.queue.append(text_reply("ok"))
    assert await _ask(provider="groq", base_url=f"{custom.url}/v1", api_key=SENTINEL) == "ok"
    assert custom.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"


async def test_a_rejected_custom_host_is_told_to_set_api_key(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    custom.queue.append(invalid_key())
    with pytest.raises(AuthenticationFailed) as failure:
        await _ask(base_url=f"{custom.url}/v1")
    assert "Set api_key in the backend config to a key this server accepts." in str(failure.value)
    assert not _sent_sentinel(custom)
