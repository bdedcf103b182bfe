"""Broken configs: each must fail with exit 2, the right dotted path and line, and no traceback.

Every case is checked twice: in process through :func:`load_config` (exact path and
line of the issue) and through the real ``python -m massmem validate`` command.
The YAML is written line by line so the expected line numbers can be read off.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from massmem.config import load_config
from massmem.errors import ConfigError
from tests.config.conftest import run_validate


def lines(*rows: str) -> str:
    """Join rows into YAML text; row N of the call is line N of the file."""
    return "\n".join(rows) + "\n"


# A valid agent, for cases whose mistake lies elsewhere (two lines).
OK_AGENT = ("agents:", "  - {id: a, backend: {type: scripted}}")


@dataclass
class Case:
    id: str
    text: str
    path: str  # dotted path of the expected issue ("" for file-level problems)
    line: int | None
    contains: tuple[str, ...] = ()  # more text the CLI output must include
    extra: list[tuple[str, int | None]] = field(default_factory=list)  # further (path, line) issues


CASES: list[Case] = [
    Case(
        "unknown_top_key",
        lines(*OK_AGENT, "orchestrater:", "  timeout: 10"),
        "orchestrater",
        3,
        ("unknown key", "did you mean 'orchestrator'?"),
    ),
    Case(
        "unknown_backend_type",
        lines("agents:", "  - id: a", "    backend:", "      type: chatcompletions", "      model: m"),
        "agents[0].backend.type",
        4,
        ("unknown backend type", "did you mean 'chatcompletion'?"),
    ),
    Case(
        "bad_provider_preset",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: chatcompletion",
            "      provider: olama",
            "      model: llama3.2",
        ),
        "agents[0].backend.provider",
        5,
        ("did you mean 'ollama'?", "llamacpp"),
    ),
    Case(
        "missing_model",
        lines("agents:", "  - id: a", "    backend:", "      type: openai", "      max_tokens: 10"),
        "agents[0].backend.model",
        3,
        ("required",),
    ),
    Case(
        "negative_temperature",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: claude",
            "      model: m",
            "      temperature: -0.5",
        ),
        "agents[0].backend.temperature",
        6,
        ("-0.5", "at least 0 and at most 2"),
    ),
    Case(
        "temperature_above_two",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: gemini",
            "      model: m",
            "      temperature: 2.5",
        ),
        "agents[0].backend.temperature",
        6,
        ("less than or equal to 2",),
    ),
    Case(
        "bad_base_url",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: chatcompletion",
            "      model: m",
            "      base_url: localhost:8080/v1",
        ),
        "agents[0].backend.base_url",
        6,
        ("http://",),
    ),
    Case(
        "duplicate_agent_ids",
        lines(
            "agents:",
            "  - id: twin",
            "    backend: {type: scripted}",
            "  - id: twin",
            "    backend: {type: scripted}",
        ),
        "agents[1].id",
        4,
        ("used twice", "line 2"),
    ),
    Case(
        "agent_id_with_slash",
        lines("agents:", "  - id: team/a", "    backend: {type: scripted}"),
        "agents[0].id",
        2,
        ("not a safe name",),
    ),
    Case(
        "agent_id_with_dotdot",
        lines("agents:", "  - id: a..b", "    backend: {type: scripted}"),
        "agents[0].id",
        2,
        ("'..'",),
    ),
    Case(
        "unsafe_session_id",
        lines(*OK_AGENT, "session_id: ../../etc"),
        "session_id",
        3,
        ("not a safe name",),
    ),
    Case("empty_agents_list", lines("agents: []"), "agents", 1, ("no agents",)),
    Case(
        "agents_is_a_mapping",
        lines("agents:", "  alice:", "    backend: {type: scripted}"),
        "agents",
        1,
        ("must be a list", "- id:"),
    ),
    Case("agents_is_text", lines("description: x", "agents: alice"), "agents", 2, ("must be a list",)),
    Case(
        "yaml_unclosed_bracket",
        lines("agents:", "  - id: a", "    backend: {type: scripted", "ui:", "  display: plain"),
        "",
        4,
        ("YAML syntax error",),
    ),
    Case(
        "yaml_bad_indentation",
        lines("agents:", "  - id: a", "    backend:", "      type: scripted", "     model: x"),
        "",
        5,
        ("YAML syntax error",),
    ),
    Case(
        "tab_indentation",
        lines("agents:", "  - id: a", "\tbackend: {type: scripted}"),
        "",
        3,
        ("tabs",),
    ),
    Case(
        "unset_env_var",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: openai",
            "      model: gpt-4.1-mini",
            "      api_key: ${MASSMEM_TEST_UNSET_KEY}",
        ),
        "agents[0].backend.api_key",
        6,
        ("MASSMEM_TEST_UNSET_KEY is not set", ".env"),
    ),
    Case(
        "malformed_env_reference",
        lines("agents:", "  - id: a", "    backend:", "      type: openai", "      model: ${1BAD}"),
        "agents[0].backend.model",
        5,
        ("malformed",),
    ),
    Case(
        "qdrant_server_without_host",
        lines(
            *OK_AGENT,
            "memory:",
            "  persistent_memory:",
            "    qdrant:",
            "      mode: server",
            "      port: 6333",
        ),
        "memory.persistent_memory.qdrant",
        5,
        ("needs 'url' or 'host'",),
    ),
    Case(
        "compression_threshold_above_one",
        lines(*OK_AGENT, "memory:", "  compression:", "    trigger_threshold: 1.5"),
        "memory.compression.trigger_threshold",
        5,
        ("1.5", "at most 1"),
    ),
    Case(
        "compression_threshold_zero",
        lines(*OK_AGENT, "memory:", "  compression:", "    trigger_threshold: 0"),
        "memory.compression.trigger_threshold",
        5,
        ("greater than 0",),
    ),
    Case(
        "retrieval_limit_zero",
        lines(*OK_AGENT, "memory:", "  retrieval:", "    limit: 0"),
        "memory.retrieval.limit",
        5,
        ("at least 1 and at most 100",),
    ),
    Case(
        "unknown_key_deep_in_qdrant",
        lines(
            *OK_AGENT,
            "memory:",
            "  persistent_memory:",
            "    enabled: true",
            "    qdrant:",
            "      mode: server",
            "      hots: db.internal",
        ),
        "memory.persistent_memory.qdrant.hots",
        8,
        ("did you mean 'host'?",),
    ),
    Case(
        "qdrant_mode_typo",
        lines(*OK_AGENT, "memory:", "  persistent_memory:", "    qdrant:", "      mode: lokal"),
        "memory.persistent_memory.qdrant.mode",
        6,
        ("did you mean 'local'?",),
    ),
    Case(
        "string_for_int",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: openai",
            "      model: m",
            "      max_tokens: many",
        ),
        "agents[0].backend.max_tokens",
        6,
        ("whole number", "'many'"),
    ),
    Case(
        "number_for_model_name",
        lines("agents:", "  - id: a", "    backend:", "      type: openai", "      model: 4.5"),
        "agents[0].backend.model",
        5,
        ("quotes",),
    ),
    Case(
        "scripted_reply_with_two_kinds",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: scripted",
            "      replies:",
            "        - new_answer: four",
            "          vote: a",
        ),
        "agents[0].backend.replies[0]",
        6,
        ("exactly one of",),
    ),
    Case(
        "scripted_reply_of_wrong_type",
        lines(
            "agents:", "  - id: a", "    backend:", "      type: scripted", "      replies:", "        - 42"
        ),
        "agents[0].backend.replies[0]",
        6,
        ("should be",),
    ),
    Case(
        "chatcompletion_without_base_url_or_provider",
        lines("agents:", "  - id: a", "    backend:", "      type: chatcompletion", "      model: m"),
        "agents[0].backend",
        3,
        ("'base_url' or 'provider'",),
    ),
    Case("empty_file", lines("# only a comment"), "", None, ("empty",)),
    Case("top_level_is_a_list", lines("- id: a", "- id: b"), "", 1, ("top level must be a mapping",)),
    Case(
        "missing_agents",
        lines("description: no team", "ui:", "  display: plain"),
        "agents",
        None,
        ("required",),
    ),
    Case(
        "backend_without_type",
        lines("agents:", "  - id: a", "    backend:", "      model: m"),
        "agents[0].backend",
        3,
        ("no 'type'", "scripted"),
    ),
    Case("agent_is_text", lines("agents:", "  - alice"), "agents[0]", 2, ("mapping",)),
    Case(
        "agent_without_id",
        lines("agents:", "  - backend: {type: scripted}"),
        "agents[0].id",
        2,
        ("required",),
    ),
    Case(
        "backend_key_at_agent_level",
        lines("agents:", "  - id: a", "    temperature: 0.2", "    backend: {type: scripted}"),
        "agents[0].temperature",
        3,
        ("move it under 'backend:'",),
    ),
    Case(
        "key_of_another_backend_type",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: openai",
            "      model: m",
            "      provider: groq",
        ),
        "agents[0].backend.provider",
        6,
        ("belongs to backend type 'chatcompletion'",),
    ),
    Case(
        "ui_display_typo",
        lines(*OK_AGENT, "ui:", "  display: richh"),
        "ui.display",
        4,
        ("did you mean 'rich'?",),
    ),
    Case(
        "action_mode_typo",
        lines("agents:", "  - id: a", "    backend:", "      type: local", "      action_mode: tool"),
        "agents[0].backend.action_mode",
        5,
        ("did you mean 'tools'?",),
    ),
    Case(
        "duplicate_yaml_key",
        lines("agents:", "  - id: a", "    backend:", "      type: scripted", "      type: local"),
        "agents[0].backend.type",
        5,
        ("appears twice", "line 4"),
    ),
    Case(
        "fallback_backend_without_model",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: openai",
            "      model: m",
            "      fallback:",
            "        - type: claude",
            "          max_tokens: 100",
        ),
        "agents[0].backend.fallback[0].model",
        7,
        ("required",),
    ),
    Case(
        "bool_not_understood",
        lines(*OK_AGENT, "memory:", "  enabled: perhaps"),
        "memory.enabled",
        4,
        ("true or false",),
    ),
    Case(
        "port_out_of_range",
        lines("agents:", "  - id: a", "    backend:", "      type: local", "      port: 70000"),
        "agents[0].backend.port",
        5,
        ("70000",),
    ),
    Case(
        "claude_thinking_budget_too_small",
        lines(
            "agents:",
            "  - id: a",
            "    backend:",
            "      type: claude",
            "      model: m",
            "      thinking_budget: 100",
        ),
        "agents[0].backend.thinking_budget",
        6,
        ("1024",),
    ),
    Case(
        "two_yaml_documents",
        lines(*OK_AGENT, "---", "agents: []"),
        "",
        3,
        ("'---'",),
    ),
    Case(
        "python_object_tag_refused",
        lines(*OK_AGENT, "description: !!python/object/apply:os.system ['echo hi']"),
        "",
        3,
        ("not supported",),
    ),
    Case(
        "unquoted_yes_as_key",
        lines(*OK_AGENT, "ui:", "  yes: 1"),
        "ui.yes",
        4,
        ("read by YAML as true/false", "quotes"),
    ),
    Case(
        "recursive_alias",
        lines(*OK_AGENT, "description: &loop [1, *loop]"),
        "",
        3,
        ("refers to a mapping or list that contains it",),
    ),
    Case(
        "several_errors_in_one_file",
        lines(
            "agentz: 1",  # 1
            "agents:",  # 2
            "  - id: a",  # 3
            "    backend:",  # 4
            "      type: chatcompletion",  # 5
            "      model: m",  # 6
            "      provider: oopenai",  # 7
            "      temperature: 9",  # 8
            "  - id: b/c",  # 9
            "    backend:",  # 10
            "      type: scriptd",  # 11
            "memory:",  # 12
            "  retrieval:",  # 13
            "    limit: 0",  # 14
        ),
        "agentz",
        1,
        ("6 problems found",),
        extra=[
            ("agents[0].backend.provider", 7),
            ("agents[0].backend.temperature", 8),
            ("agents[1].id", 9),
            ("agents[1].backend.type", 11),
            ("memory.retrieval.limit", 14),
        ],
    ),
]


def _issue_lines(err: ConfigError) -> dict[str, int | None]:
    return {issue.path: issue.line for issue in err.issues}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_loader_reports_path_and_line(
    case: Case, write_config: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MASSMEM_TEST_UNSET_KEY", raising=False)
    path = write_config(case.text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = _issue_lines(info.value)
    for want_path, want_line in [(case.path, case.line), *case.extra]:
        assert want_path in found, f"{want_path!r} not among {found}"
        assert found[want_path] == want_line, f"{want_path}: line {found[want_path]}, expected {want_line}"
    # Issues come sorted by line, file-level ones (no line) last.
    numbered = [i.line for i in info.value.issues if i.line is not None]
    assert numbered == sorted(numbered)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_validate_rejects(case: Case, write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(case.text)
    result = run_validate(str(path), cwd=workdir, unset=("MASSMEM_TEST_UNSET_KEY",))
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    if case.path:
        assert case.path in result.output
    if case.line is not None:
        assert f"{path}:{case.line}:" in result.output
    for extra_path, extra_line in case.extra:
        assert f"{path}:{extra_line}: {extra_path}:" in result.output
    for text in case.contains:
        assert text in result.output, f"{text!r} missing from:\n{result.output}"


def test_broken_case_count() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_cli_missing_file(workdir: Path) -> None:
    result = run_validate("no/such/team.yaml", cwd=workdir)
    assert result.code == 2
    assert "not found" in result.output and "no/such/team.yaml" in result.output
    assert "Traceback" not in result.output


def test_cli_example_name_given_as_path_suggests_prefix(workdir: Path) -> None:
    result = run_validate("scripted.yaml", cwd=workdir)
    assert result.code == 2
    assert "@examples/scripted" in result.output


def test_cli_unknown_example(workdir: Path) -> None:
    result = run_validate("@examples/scriptd", cwd=workdir)
    assert result.code == 2
    assert "did you mean 'scripted'?" in result.output
    assert "local" in result.output  # the available names are listed
    assert "Traceback" not in result.output


def test_cli_directory_instead_of_file(workdir: Path) -> None:
    result = run_validate(str(workdir), cwd=workdir)
    assert result.code == 2
    assert "directory" in result.output
    assert "Traceback" not in result.output


def test_cli_not_utf8(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config("")
    path.write_bytes(b"agents:\n  - id: \xff\xfe\n")
    result = run_validate(str(path), cwd=workdir)
    assert result.code == 2
    assert "UTF-8" in result.output
    assert "Traceback" not in result.output
