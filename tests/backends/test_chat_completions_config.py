"""Building a ChatCompletionsBackend from config: presets, where the key comes from, lazy SDK import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from massmem.backends.chat_completions import ChatCompletionsBackend, from_config
from massmem.backends.presets import PRESETS, get_preset
from massmem.backends.registry import build_backend
from massmem.config.schema import CHAT_PRESETS, ChatCompletionBackendConfig
from massmem.errors import UsageError

SENTINEL = "sk-SENTINEL-abcdef123456"


def config(**fields: object) -> ChatCompletionBackendConfig:
    return ChatCompletionBackendConfig(type="chatcompletion", model="m", **fields)  # type: ignore[arg-type]


def test_every_schema_provider_has_a_preset() -> None:
    assert set(CHAT_PRESETS) == set(PRESETS)


@pytest.mark.parametrize(
    ("name", "url", "variable"),
    [
        ("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
        ("grok", "https://api.x.ai/v1", "XAI_API_KEY"),
        ("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
        ("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
        ("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
        ("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
        ("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
        ("vllm", "http://localhost:8000/v1", None),
        ("sglang", "http://localhost:30000/v1", None),
        ("lmstudio", "http://localhost:1234/v1", None),
        ("ollama", "http://localhost:11434/v1", None),
        ("llamacpp", "http://localhost:8080/v1", None),
    ],
)
def test_preset_endpoints(name: str, url: str, variable: str | None) -> None:
    preset = get_preset(name)
    assert (preset.base_url, preset.key_env, preset.needs_key) == (url, variable, variable is not None)
    backend = from_config(config(provider=name))
    assert backend.base_url == url
    assert backend.provider == name


def test_unknown_preset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="known providers"):
        get_preset("nope")


def test_key_comes_from_the_preset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", SENTINEL)
    backend = from_config(config(provider="together"))
    assert backend._api_key == SENTINEL


def test_config_key_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk_fromenvironment123")
    backend = from_config(config(provider="groq", api_key=SENTINEL))
    assert backend._api_key == SENTINEL


def test_bare_base_url_never_takes_openai_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    backend = from_config(config(base_url="http://10.0.0.5:9000/v1"))
    assert backend._api_key is None
    assert backend.provider == "10.0.0.5"


def test_base_url_overrides_the_preset_url() -> None:
    backend = from_config(config(provider="vllm", base_url="http://gpu-box:8000/v1"))
    assert backend.base_url == "http://gpu-box:8000/v1"


def test_registry_builds_it_with_agent_id() -> None:
    backend = build_backend(config(provider="ollama"), agent_id="scout")
    assert isinstance(backend, ChatCompletionsBackend)
    assert backend.agent_id == "scout"


def test_sentinel_is_not_in_repr_of_backend_or_config() -> None:
    cfg = config(provider="openai", api_key=SENTINEL)
    backend = from_config(cfg)
    assert SENTINEL not in repr(cfg)
    assert SENTINEL not in repr(backend.__dict__.get("capabilities"))
    assert SENTINEL not in backend.describe()


def test_building_a_backend_does_not_import_the_sdk() -> None:
    """The SDK loads on the first call, not when a team is built (keeps validate/--help fast)."""
    code = (
        "import sys\n"
        "from massmem.config.schema import ChatCompletionBackendConfig\n"
        "from massmem.backends.registry import build_backend\n"
        "b = build_backend(ChatCompletionBackendConfig(type='chatcompletion', model='m', provider='vllm'))\n"
        "assert 'openai' not in sys.modules, 'openai imported too early'\n"
        "assert 'httpx2' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
