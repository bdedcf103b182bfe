"""``massmem.config.migrate``: MassGen/DevAll configs rewritten into massmem configs that validate.

The corpus tests read MassGen's own configs from ``../shared/bench/massgen_configs`` (a read-only
copy beside the clone in CI); without it they are skipped, saying so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import massmem
from massmem.config import load_config, load_config_text
from massmem.config.dialects import NOT_RUN, normalise
from massmem.config.migrate import PLACEHOLDER, MigrationResult, migrate_text, parse_path
from massmem.config.yaml_lines import parse_yaml
from massmem.errors import ConfigError

REPO = Path(massmem.__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "bench" / "massgen_configs"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _migrate(text: str, **env: str) -> MigrationResult:
    return migrate_text(text, source_name="team.yaml", env=env)


def _assert_valid(result: MigrationResult) -> None:
    """The output validates with massmem's own loader (unset variables given a placeholder)."""
    assert result.runnable and result.text is not None, result.issues
    env = {name: PLACEHOLDER for name in _VAR.findall(result.text)}
    load_config_text(result.text, env=env)


def _dropped(result: MigrationResult) -> list[tuple[str, int | None]]:
    return [(d.path, d.line) for d in result.dropped]


MACHINERY = """\
agents:
  - id: a
    backend:
      type: claude_code
      model: claude-sonnet-4
      cwd: workspace1
      mcp_servers:
        - name: weather
          command: npx
  - id: b
    backend:
      type: openai
      model: gpt-5-nano
      cwd: workspace2
      custom_tools:
        - name: add
  - id: c
    backend:
      type: ag2
      model: gpt-4o
  - id: d
    backend:
      type: grok
      model: grok-3-mini
orchestrator:
  snapshot_storage: snapshots
  agent_temporary_workspace: temp
  context_paths:
    - path: .
"""


def test_local_tools_and_refused_agents_are_dropped_each_at_its_line() -> None:
    result = _migrate(MACHINERY)
    _assert_valid(result)
    assert result.agents == ["b", "d"]
    assert _dropped(result) == [
        ("agents[0]", 2),  # claude_code: the whole agent, its own keys not listed again
        ("agents[1].backend.cwd", 14),
        ("agents[1].backend.custom_tools", 15),
        ("agents[2]", 17),  # ag2
        ("orchestrator.snapshot_storage", 26),
        ("orchestrator.agent_temporary_workspace", 27),
        ("orchestrator.context_paths", 28),
    ]
    assert all(NOT_RUN in d.reason for d in result.dropped)
    assert "'a'" in result.dropped[0].reason and "claude_code" in result.dropped[0].reason
    config = load_config_text(result.text or "")
    assert config.agents[1].backend.type == "chatcompletion"
    assert config.agents[1].backend.provider == "grok"  # type: ignore[union-attr]
    # the source's indexes: d was agents[3] there
    assert ("agents[3].backend.type", 23) in [(c.path, c.line) for c in result.changes]


def test_the_output_says_what_was_dropped_in_comments() -> None:
    text = _migrate(MACHINERY).text or ""
    assert text.startswith("# Migrated from team.yaml by `massmem migrate`.")
    assert "# dropped custom_tools (line 15):" in text
    assert re.search(r"^\s+# dropped cwd \(line 14\)", text, re.M)
    assert "mcp_servers" not in yaml.safe_load(text)["agents"][0]["backend"]


def test_no_agent_left_is_refused_with_the_reason() -> None:
    result = _migrate("agent:\n  id: cc\n  backend:\n    type: claude_code\n    cwd: ws\n")
    assert not result.runnable and result.text is None
    assert [(i.path, i.message) for i in result.issues] == [
        ("agents", "no agent remains once the agents massmem does not run are removed")
    ]
    assert _dropped(result) == [("agent", 1)]


def test_env_references_are_written_back_never_resolved() -> None:
    secret = "sk-live-0123456789abcdef"
    source = """\
agents:
  - id: a
    backend:
      type: openai
      model: ${MODEL:-gpt-5-nano}
      api_key: ${OPENAI_API_KEY}
      cwd: ${HOME}/work
ui:
  log_dir: $${literal}
"""
    result = _migrate(source, OPENAI_API_KEY=secret, HOME="/home/me")
    _assert_valid(result)
    text = result.text or ""
    assert "${OPENAI_API_KEY}" in text and "${MODEL:-gpt-5-nano}" in text and "$${literal}" in text
    assert secret not in text and "/home/me" not in text
    everything = repr(result.dropped) + repr(result.changes) + text
    assert secret not in everything
    assert result.unset_variables == []
    assert _migrate(source).unset_variables == ["OPENAI_API_KEY"]  # MODEL has a default


def test_azure_preset_keeps_massgens_variables_as_text() -> None:
    result = _migrate("agents:\n  - id: a\n    backend: {type: azure_openai, model: gpt-4.1}\n")
    _assert_valid(result)
    backend = yaml.safe_load(result.text or "")["agents"][0]["backend"]
    assert backend == {
        "type": "chatcompletion",
        "model": "gpt-4.1",
        "base_url": "${AZURE_OPENAI_ENDPOINT}",
        "api_key": "${AZURE_OPENAI_API_KEY}",
    }
    assert result.unset_variables == ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"]
    added = [c.description for c in result.changes if "added" in c.description]
    assert any("api_key" in d for d in added) and not any("${AZURE_OPENAI_API_KEY}" in d for d in added)


def test_aliases_are_written_canonically_and_reported() -> None:
    source = """\
agent:
  id: solo
  backend:
    type: openai
    model: gpt-5-nano
    reasoning:
      effort: low
    text:
      verbosity: medium
ui:
  display_type: rich_terminal
  logging_enabled: true
timeout_settings:
  orchestrator_timeout_seconds: 90
"""
    result = _migrate(source)
    _assert_valid(result)
    data = yaml.safe_load(result.text or "")
    assert list(data) == ["agents", "orchestrator", "ui"]
    assert data["agents"][0]["backend"] == {
        "type": "openai",
        "model": "gpt-5-nano",
        "reasoning_effort": "low",
    }
    assert data["ui"] == {"display": "rich"} and data["orchestrator"] == {"timeout": 90}
    changes = {(c.path, c.line): c.description for c in result.changes}
    assert changes[("agent", 1)] == "written as agents[0]"
    assert changes[("ui.display_type", 11)] == "written as ui.display: rich_terminal -> rich"
    assert changes[("timeout_settings.orchestrator_timeout_seconds", 14)] == "written as orchestrator.timeout"
    dropped = {(d.path, d.line): d.reason for d in result.dropped}
    assert "verbosity" in dropped[("agent.backend.text", 8)]
    assert "logging" in dropped[("ui.logging_enabled", 12)]


def test_a_typo_is_not_dropped_but_refused_at_the_source_line() -> None:
    result = _migrate("agent:\n  id: a\n  backend:\n    type: openai\n    modle: gpt-5\n    cwd: ws\n")
    assert result.text is None and not result.runnable
    issues = {(i.path, i.line): i for i in result.issues}
    assert set(issues) == {("agent.backend.model", 3), ("agent.backend.modle", 5)}  # required; unknown
    assert issues[("agent.backend.modle", 5)].hint == "did you mean 'model'?"
    assert _dropped(result) == [("agent.backend.cwd", 6)]


def test_unknown_memory_keys_refuse_rather_than_change_memory() -> None:
    source = (
        "agents:\n  - id: a\n    backend: {type: scripted}\n"
        "memory:\n  persistent_memory:\n    enabled: true\n    frobnicate: 3\n"
    )
    result = _migrate(source)
    assert result.text is None
    assert [(i.path, i.line) for i in result.issues] == [("memory.persistent_memory.frobnicate", 7)]


def test_bad_values_and_broken_yaml_are_refused_without_an_exception() -> None:
    bad_value = _migrate("agents:\n  - id: a\n    backend: {type: openai, model: m, temperature: 9}\n")
    assert bad_value.text is None and bad_value.issues[0].line == 3
    for text in ("agents: [", "agents:\n  - id: a\n    id: b\n", "- just a list\n", ""):
        result = _migrate(text)
        assert result.text is None and result.issues, text


def test_massmem_configs_pass_through_unchanged() -> None:
    for name in ("scripted", "local"):
        path = REPO / "massmem" / "examples" / f"{name}.yaml"
        result = migrate_text(path.read_text(), source_name=str(path), env={})
        _assert_valid(result)
        assert result.dropped == [] and result.changes == []
        original = load_config(path, env={"MASSMEM_TEST": "1"}, read_dotenv=False)
        assert load_config_text(result.text or "", env={}) == original


def test_multiline_text_anchors_and_odd_values_survive() -> None:
    source = """\
base: &base
  type: openai
  model: gpt-5-nano
agents:
  - id: a
    backend: *base
    system_message: |
      Line one.
        indented: with a colon
      Last line.
  - id: b
    backend:
      <<: *base
      temperature: 0.5
    system_message: "yes"
"""
    result = _migrate(source)
    # 'base' is no massmem key: dropped with a reason, the anchors resolved into each agent
    assert ("base", 1) in _dropped(result)
    _assert_valid(result)
    assert "&" not in (result.text or "").split("agents:")[1]
    config = load_config_text(result.text or "")
    assert config.agents[0].system_message == "Line one.\n  indented: with a colon\nLast line.\n"
    assert config.agents[1].system_message == "yes"
    assert config.agents[1].backend.temperature == 0.5


def test_devall_store_list_migrates() -> None:
    source = """\
memory:
  - name: notes
    type: simple
    config:
      memory_path: notes/chat.json
  - name: hosted
    type: mem0
    config:
      api_key: m0-secret-value-123
agents:
  - id: answer
    backend: {type: scripted}
    memories:
      - name: notes
        retrieve_stage: ["gen"]
        similarity_threshold: -1
        write: true
"""
    result = _migrate(source)
    _assert_valid(result)
    assert "m0-secret-value-123" not in (result.text or "") + repr(result.dropped) + repr(result.changes)
    config = load_config_text(result.text or "")
    assert [s.type for s in config.memory_stores] == ["list", "mem0"]
    assert ("memory[1].config.api_key", 9) in _dropped(result)
    assert ("memory", 1) in [(c.path, c.line) for c in result.changes]


def test_migrating_twice_changes_nothing_more() -> None:
    first = _migrate(MACHINERY)
    second = _migrate(first.text or "")
    _assert_valid(second)
    assert second.dropped == [] and second.changes == []
    assert yaml.safe_load(second.text or "") == yaml.safe_load(first.text or "")


def test_parse_path_inverts_format_path() -> None:
    assert parse_path('agents[1].backend["odd key"].x') == ("agents", 1, "backend", "odd key", "x")


# -- the whole MassGen corpus ------------------------------------------------------------------------


def _corpus() -> list[Path]:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert files, f"no YAML under {CORPUS}"
    return files


def _leaves(value: Any, at: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_leaves(child, f"{at}.{key}"))
        return out or {at: {}}
    return {at: value}


def _memory_after_aliases(text: str) -> Any:
    data, lines, _ = parse_yaml(text, "source")
    normalise(data, lines)
    return data.get("memory") if isinstance(data, dict) else None


needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"MassGen corpus not found at {CORPUS} (../shared absent)"
)


@needs_corpus
def test_massgen_corpus_migrates_or_is_refused_with_reasons(capsys: pytest.CaptureFixture[str]) -> None:
    files = _corpus()
    migrated = refused = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        result = migrate_text(text, source_name=path.name, env={})  # never raises
        for item in result.dropped:
            assert item.reason and item.line is not None, (path.name, item)
        if result.runnable:
            migrated += 1
            _assert_valid(result)
            memory = _memory_after_aliases(text)
            if isinstance(memory, dict):  # memory settings keep every value
                after = yaml.safe_load(result.text or "")["memory"]
                assert _leaves(after) == _leaves(memory), path.name
        else:
            refused += 1
            assert result.text is None and result.issues, path.name
            for issue in result.issues:
                assert issue.message and issue.line is not None, (path.name, issue)
    with capsys.disabled():
        print(
            f"\nMassGen corpus: {len(files)} files, {migrated} migrate to a valid config, {refused} refused"
        )
    assert migrated >= 0.9 * len(files)


@needs_corpus
def test_every_refusal_in_the_corpus_is_no_agent_left_or_named() -> None:
    for path in _corpus():
        result = migrate_text(path.read_text(encoding="utf-8"), source_name=path.name, env={})
        if not result.runnable:
            assert all(i.path for i in result.issues), path.name
            assert any(NOT_RUN in d.reason for d in result.dropped), path.name


@needs_corpus
def test_corpus_configs_that_validate_migrate_to_the_same_team() -> None:
    for path in _corpus():
        try:
            before = load_config(path, env={}, read_dotenv=False)
        except ConfigError:
            continue
        result = migrate_text(path.read_text(encoding="utf-8"), source_name=path.name, env={})
        assert result.runnable, path.name
        assert load_config_text(result.text or "", env={}) == before, path.name
