"""Provider-side tool switches in the config: accepted where the provider runs the tool,
refused at the key's own line where it has none, and built into each backend's request."""

from __future__ import annotations

import textwrap

import pytest

from massmem.config.loader import load_config_text
from massmem.errors import ConfigError


def _config(backend: str) -> str:
    body = textwrap.indent(textwrap.dedent(backend).strip(), " " * 6)
    return f"agents:\n  - id: a\n    backend:\n{body}\n"


@pytest.mark.parametrize(
    "backend",
    [
        "type: openai\nmodel: gpt-5-mini\nenable_web_search: true\nenable_code_interpreter: true",
        "type: claude\nmodel: claude-sonnet-4-6\nenable_web_search: true\nenable_code_execution: true",
        "type: gemini\nmodel: gemini-2.5-flash\nenable_web_search: true\nenable_code_execution: true",
        "type: chatcompletion\nprovider: grok\nmodel: grok-4\nenable_web_search: true",
        "type: local\nenable_web_search: false",
    ],
)
def test_supported_switches_validate(backend: str) -> None:
    load_config_text(_config(backend), env={})


@pytest.mark.parametrize(
    ("backend", "key", "runs_on"),
    [
        ("type: claude\nmodel: c\nenable_code_interpreter: true", "enable_code_interpreter", "openai"),
        ("type: gemini\nmodel: g\nenable_code_interpreter: true", "enable_code_interpreter", "openai"),
        ("type: openai\nmodel: o\nenable_code_execution: true", "enable_code_execution", "claude or gemini"),
        ("type: local\nenable_web_search: true", "enable_web_search", "grok"),
        (
            "type: chatcompletion\nprovider: groq\nmodel: m\nenable_web_search: true",
            "enable_web_search",
            "grok",
        ),
        (
            "type: chatcompletion\nprovider: grok\nmodel: m\nenable_code_execution: true",
            "enable_code_execution",
            "gemini",
        ),
    ],
)
def test_unsupported_switch_is_refused_at_its_line(backend: str, key: str, runs_on: str) -> None:
    text = _config(backend)
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={})
    [issue] = caught.value.issues
    assert issue.path == f"agents[0].backend.{key}"
    assert issue.line == 1 + text.splitlines().index(f"      {key}: true")
    assert "no provider-side tool" in issue.message and runs_on in issue.message


def test_each_refused_switch_is_its_own_issue() -> None:
    text = _config("type: local\nenable_web_search: true\nenable_code_execution: true")
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={})
    assert [(i.path, i.line) for i in caught.value.issues] == [
        ("agents[0].backend.enable_web_search", 5),
        ("agents[0].backend.enable_code_execution", 6),
    ]
