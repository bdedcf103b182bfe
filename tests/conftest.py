"""Shared fixtures: every test gets its own MASSMEM_HOME and no cloud keys from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.loopback import LoopbackServer

_KEY_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GROQ_API_KEY",
    "XAI_API_KEY",
    "TOGETHER_API_KEY",
    "CEREBRAS_API_KEY",
    "FIREWORKS_API_KEY",
    "OPENROUTER_API_KEY",
)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the whole run (the ONNX embedding model is built once, ~10 s),
    shared by every test's MASSMEM_HOME and the CLI processes tests start."""
    return tmp_path_factory.mktemp("model_cache")


@pytest.fixture(autouse=True)
def massmem_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_cache: Path) -> Iterator[Path]:
    home = tmp_path / "massmem_home"
    monkeypatch.setenv("MASSMEM_HOME", str(home))
    monkeypatch.setenv("MASSMEM_CACHE_DIR", str(model_cache))
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    # Forbid the SDKs from reaching any real host through proxies or defaults.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("MEM0_TELEMETRY", "False")
    yield home


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
