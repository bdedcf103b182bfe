"""Memory's own remote calls follow the chat backends' key rule (issue 12, tests/privacy/test_key_routing.py).

The embedder (``memory.persistent_memory.embedding``) and a mem0-native extraction LLM
(``memory.persistent_memory.llm``) reach their hosts through the official ``openai`` SDK.
A provider's environment key goes only to that provider's own URL: two loopback servers
stand in for that URL (the defaults table is pointed at one) and for a custom ``base_url``,
and what is asserted is what crossed each socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from massmem.config.schema import EmbeddingConfig, ExtractionLLMConfig, PersistentMemoryConfig
from massmem.errors import MemoryError_
from massmem.memory import embedder as embedder_module
from massmem.memory.embedder import create_embedder
from massmem.memory.persistent import _native_llm_config
from tests.support.loopback import LoopbackServer, Recorded, Reply

SENTINEL = "sk-SENTINEL-memory-0123456789"
CONFIG_KEY = "sk-CONFIGKEY-memory-9876543210"


@pytest.fixture
def custom() -> Iterator[LoopbackServer]:
    """A second host: whatever a user's ``base_url`` names."""
    with LoopbackServer() as server:
        yield server


def _embeddings(request: Recorded) -> Reply:
    texts = request.json()["input"]
    data = [{"object": "embedding", "index": i, "embedding": [1.0, 0.0, 0.0]} for i in range(len(texts))]
    return Reply(
        json_body={
            "object": "list",
            "data": data,
            "model": "m",
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }
    )


def _completion(_: Recorded) -> Reply:
    message = {"role": "assistant", "content": '{"facts": []}'}
    return Reply(
        json_body={
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
    )


def _sent_sentinel(server: LoopbackServer) -> bool:
    return any(SENTINEL in str(r.headers) or SENTINEL.encode() in r.body for r in server.requests)


def _embed(**fields: Any) -> None:
    create_embedder(EmbeddingConfig(model="text-embedding-3-small", **fields)).embed(["hello"])


@pytest.mark.parametrize(
    ("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("together", "TOGETHER_API_KEY")]
)
def test_the_embedder_sends_the_environment_key_only_to_the_provider_url(
    provider: str,
    variable: str,
    loopback: LoopbackServer,
    custom: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, SENTINEL)
    own = f"{loopback.url}/v1"
    monkeypatch.setitem(embedder_module._REMOTE_DEFAULTS, provider, ("text-embedding-3-small", variable, own))
    loopback.responder = custom.responder = _embeddings

    _embed(provider=provider)
    assert loopback.requests[0].headers["authorization"] == f"Bearer {SENTINEL}"

    with pytest.raises(MemoryError_) as failure:
        _embed(provider=provider, base_url=f"{custom.url}/v1")
    assert custom.requests == []
    assert "set memory.persistent_memory.embedding.api_key" in str(failure.value)
    assert f"{variable} is sent only to {own}" in str(failure.value)


def test_a_key_in_the_embedding_config_does_reach_the_custom_host(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    custom.responder = _embeddings
    _embed(provider="openai", base_url=f"{custom.url}/v1", api_key=CONFIG_KEY)
    assert custom.requests[0].headers["authorization"] == f"Bearer {CONFIG_KEY}"
    assert not _sent_sentinel(custom)


def test_azure_sends_its_key_only_to_its_own_endpoint(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SENTINEL)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example-resource.openai.azure.com")
    with pytest.raises(MemoryError_, match="AZURE_OPENAI_API_KEY is sent only to https://example-resource"):
        _embed(provider="azure_openai", base_url=custom.url)
    assert custom.requests == []


def _extract(**fields: Any) -> None:
    from massmem.memory.mem0_setup import import_mem0

    import_mem0()
    from mem0.utils.factory import LlmFactory

    llm_config = ExtractionLLMConfig(provider="openai", model="m", **fields)
    native = _native_llm_config(PersistentMemoryConfig(llm=llm_config))
    llm = LlmFactory.create("openai", native)
    llm.generate_response([{"role": "user", "content": "hi"}], response_format={"type": "json_object"})


def test_mem0_extraction_llm_never_gets_the_environment_key_at_a_custom_url(
    custom: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    custom.responder = _completion
    with pytest.raises(MemoryError_) as failure:
        _extract(base_url=f"{custom.url}/v1")
    assert not _sent_sentinel(custom)
    assert "set memory.persistent_memory.llm.api_key" in str(failure.value)
    assert "OPENAI_API_KEY is sent only to https://api.openai.com/v1" in str(failure.value)

    _extract(base_url=f"{custom.url}/v1", api_key=CONFIG_KEY)
    assert custom.requests[-1].headers["authorization"] == f"Bearer {CONFIG_KEY}"
    assert not _sent_sentinel(custom)
