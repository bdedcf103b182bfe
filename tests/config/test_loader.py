"""The good paths of the loader: examples, ${VAR} interpolation, .env files, JSON output, secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import massmem
from massmem.config import (
    TeamConfig,
    example_names,
    format_issues,
    issues_as_json,
    load_config,
    load_config_text,
    resolve_example,
)
from massmem.errors import ConfigError
from tests.config.conftest import run_validate

REPO = Path(massmem.__file__).resolve().parent.parent
EXAMPLES = Path(massmem.__file__).resolve().parent / "examples"
FAKE_KEYS = {
    "OPENAI_API_KEY": "sk-test-openai",
    "ANTHROPIC_API_KEY": "ant-test",
    "GEMINI_API_KEY": "gem-test",
}
EXPECTED_EXAMPLES = {
    "local",
    "scripted",
    "shared_entries",
    "openai",
    "claude",
    "gemini",
    "mixed",
    "ollama",
    "llamacpp_server",
    "memory",
}

SCRIPTED_TEAM = "agents:\n  - id: a\n    backend: {type: scripted}\n"


def openai_team(api_key: str = "${OPENAI_API_KEY}", model: str = "gpt-4.1-mini") -> str:
    return f"agents:\n  - id: a\n    backend:\n      type: openai\n      model: {model}\n      api_key: {api_key}\n"


# ----------------------------------------------------------------------------- examples


def test_all_expected_examples_are_shipped() -> None:
    assert set(example_names()) >= EXPECTED_EXAMPLES


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_every_example_validates(name: str, workdir: Path) -> None:
    config = load_config(f"@examples/{name}", env=FAKE_KEYS)
    assert isinstance(config, TeamConfig)
    assert len(config.agents) >= 2


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_example_header_says_how_to_run(name: str) -> None:
    text = (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.startswith("# ")
    header = text.split("\n\n", 1)[0]
    assert f'massmem run -c @examples/{name} "' in header


@pytest.mark.parametrize("name", sorted(EXPECTED_EXAMPLES))
def test_examples_take_keys_only_from_the_environment(name: str) -> None:
    for line in (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if "api_key:" in line:
            value = line.split("api_key:", 1)[1].split("#", 1)[0].strip()
            assert re.fullmatch(r"\$\{[A-Z_]+\}", value), line


def test_example_suffix_is_optional(workdir: Path) -> None:
    assert resolve_example("local") == resolve_example("local.yaml")
    assert load_config("@examples/scripted.yaml").agents[0].id == "alice"


def test_configs_directory_is_the_examples(workdir: Path) -> None:
    configs = REPO / "configs"
    assert configs.is_symlink()
    assert configs.resolve() == EXAMPLES.resolve()
    assert load_config(configs / "scripted.yaml") == load_config("@examples/scripted")


def test_local_example_shape(workdir: Path) -> None:
    team = load_config("@examples/local")
    assert [a.backend.type for a in team.agents] == ["local", "local"]
    assert team.agents[0].system_message != team.agents[1].system_message
    for agent in team.agents:
        assert agent.backend.n_ctx == 2048  # type: ignore[union-attr]
        assert agent.backend.max_tokens is not None and 150 <= agent.backend.max_tokens <= 256


def test_scripted_example_answers_and_votes(workdir: Path) -> None:
    team = load_config("@examples/scripted")
    # Models only ever see anonymous ids, so scripted votes name agent1..agentN.
    ids = {f"agent{i}" for i in range(1, len(team.agents) + 1)}
    for agent in team.agents:
        replies = agent.backend.replies  # type: ignore[union-attr]
        kinds = [r.new_answer is not None for r in replies if not isinstance(r, str)]
        votes = [r.vote for r in replies if not isinstance(r, str) and r.vote is not None]
        assert any(kinds) and votes and set(votes) <= ids


def test_provider_examples(workdir: Path) -> None:
    mixed = load_config("@examples/mixed", env=FAKE_KEYS)
    assert {a.backend.type for a in mixed.agents} == {"openai", "claude", "gemini"}
    server = load_config("@examples/llamacpp_server")
    for agent in server.agents:
        assert agent.backend.type == "chatcompletion"
        assert agent.backend.provider == "llamacpp"  # type: ignore[union-attr]
        assert agent.backend.base_url == "http://127.0.0.1:8080/v1"
    ollama = load_config("@examples/ollama")
    assert {a.backend.provider for a in ollama.agents} == {"ollama"}  # type: ignore[union-attr]
    openai = load_config("@examples/openai", env=FAKE_KEYS)
    assert openai.agents[0].backend.api_key is not None
    assert openai.agents[0].backend.api_key.get_secret_value() == "sk-test-openai"


def test_memory_example(workdir: Path) -> None:
    memory = load_config("@examples/memory").memory
    assert memory.enabled and memory.persistent_memory.enabled
    assert memory.persistent_memory.qdrant.mode == "local"
    assert memory.persistent_memory.embedding.provider == "local"


def test_cli_validates_examples(workdir: Path) -> None:
    for name in ("local", "scripted"):
        result = run_validate(f"@examples/{name}", cwd=workdir)
        assert result.code == 0, result.output
        assert "valid" in result.output


def test_example_without_its_key_is_an_error(workdir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("@examples/openai", env={})
    assert {i.path for i in info.value.issues} == {"agents[0].backend.api_key", "agents[1].backend.api_key"}
    assert all("OPENAI_API_KEY is not set" in i.message for i in info.value.issues)


# ----------------------------------------------------------------------------- ${VAR}


def test_default_used_when_unset_or_empty() -> None:
    text = openai_team(model="${MODEL:-gpt-default}", api_key="${KEY:-}")
    for env in ({}, {"MODEL": ""}):
        team = load_config_text(text, source_name="t", env=env)
        assert team.agents[0].backend.model == "gpt-default"


def test_set_variable_beats_default() -> None:
    team = load_config_text(
        openai_team(model="${MODEL:-gpt-default}"), env={"MODEL": "o4", "OPENAI_API_KEY": "k"}
    )
    assert team.agents[0].backend.model == "o4"


def test_embedded_references_and_escape() -> None:
    text = (
        "agents:\n  - id: a\n    backend:\n      type: chatcompletion\n"
        "      base_url: http://${HOST}:${PORT:-8080}/v1\n      model: m\n"
        "    system_message: 'literal $${NOT_A_VAR} and ${WHO}'\n"
    )
    team = load_config_text(text, env={"HOST": "10.0.0.2", "WHO": "me"})
    assert team.agents[0].backend.base_url == "http://10.0.0.2:8080/v1"
    assert team.agents[0].system_message == "literal ${NOT_A_VAR} and me"


def test_interpolated_number_is_coerced() -> None:
    text = "agents:\n  - id: a\n    backend:\n      type: local\n      port: ${PORT}\n      n_ctx: 4096\n"
    team = load_config_text(text, env={"PORT": "9123"})
    assert team.agents[0].backend.port == 9123  # type: ignore[union-attr]


def test_unset_variable_reported_once() -> None:
    """The empty string left behind must not also fail 'model' for being empty."""
    with pytest.raises(ConfigError) as info:
        load_config_text(openai_team(model="${NO_MODEL}", api_key="x"), env={})
    assert [(i.path, i.line) for i in info.value.issues] == [("agents[0].backend.model", 5)]


def test_load_config_text_reads_no_dotenv(workdir: Path) -> None:
    (workdir / ".env").write_text("OPENAI_API_KEY=from-dotenv\n")
    with pytest.raises(ConfigError):
        load_config_text(openai_team(), env={})


# ----------------------------------------------------------------------------- .env


def _key(team: TeamConfig) -> str:
    secret = team.agents[0].backend.api_key
    assert secret is not None
    return secret.get_secret_value()


def test_dotenv_next_to_config(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team())
    (path.parent / ".env").write_text("OPENAI_API_KEY=sk-from-config-dir\n")
    assert _key(load_config(path, env={})) == "sk-from-config-dir"
    assert "OPENAI_API_KEY" not in os.environ  # read, never exported


def test_dotenv_in_current_directory(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team())
    (workdir / ".env").write_text("OPENAI_API_KEY=sk-from-cwd\n")
    assert _key(load_config(path, env={})) == "sk-from-cwd"
    assert _key(load_config("@examples/openai", env={})) == "sk-from-cwd"


def test_config_dir_dotenv_beats_cwd(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team())
    (workdir / ".env").write_text("OPENAI_API_KEY=sk-from-cwd\n")
    (path.parent / ".env").write_text("OPENAI_API_KEY=sk-from-config-dir\n")
    assert _key(load_config(path, env={})) == "sk-from-config-dir"


def test_environment_beats_dotenv(
    write_config: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(openai_team())
    (path.parent / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    assert _key(load_config(path, env={"OPENAI_API_KEY": "sk-from-env"})) == "sk-from-env"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-environ")
    assert _key(load_config(path)) == "sk-real-environ"


def test_dotenv_can_be_skipped(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team())
    (path.parent / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    with pytest.raises(ConfigError):
        load_config(path, env={}, read_dotenv=False)


def test_cli_reads_dotenv(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team())
    (path.parent / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv-file\n")
    result = run_validate(str(path), cwd=workdir)
    assert result.code == 0, result.output
    assert "sk-from-dotenv-file" not in result.output


# ----------------------------------------------------------------------------- output formats


BROKEN = (
    "agents:\n"  # 1
    "  - id: a\n"  # 2
    "    backend:\n"  # 3
    "      type: openai\n"  # 4
    "      temperature: 7\n"  # 5
    "ui:\n"  # 6
    "  dispaly: plain\n"  # 7
)


def test_format_issues_is_readable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BROKEN, source_name="team.yaml")
    text = format_issues(info.value)
    assert text.splitlines()[0] == "team.yaml: 3 problems found"
    assert "team.yaml:3: agents[0].backend.model: 'model' is required" in text
    assert "team.yaml:5: agents[0].backend.temperature:" in text
    assert "team.yaml:7: ui.dispaly: unknown key 'dispaly'" in text
    assert "    hint: did you mean 'display'?" in text


def test_issues_as_json_shape() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(BROKEN, source_name="team.yaml")
    issues = issues_as_json(info.value)
    assert [i["line"] for i in issues] == [3, 5, 7]
    for issue in issues:
        assert set(issue) == {"path", "line", "message", "hint"}
    json.dumps(issues)


def test_cli_json_for_broken_config(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(BROKEN)
    result = run_validate(str(path), "--json", cwd=workdir)
    assert result.code == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] is False
    assert [(i["path"], i["line"]) for i in payload["issues"]] == [
        ("agents[0].backend.model", 3),
        ("agents[0].backend.temperature", 5),
        ("ui.dispaly", 7),
    ]
    for issue in payload["issues"]:
        assert {"path", "line", "message", "hint"} <= set(issue)
        assert issue["message"]


def test_cli_json_for_valid_config(workdir: Path) -> None:
    result = run_validate("@examples/scripted", "--json", cwd=workdir)
    assert result.code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["valid"] is True and payload["issues"] == []


def test_cli_json_for_missing_file(workdir: Path) -> None:
    result = run_validate("missing.yaml", "--json", cwd=workdir)
    assert result.code == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] is False and "not found" in payload["issues"][0]["message"]


# ----------------------------------------------------------------------------- secrets

SECRET = "sk-proj-DoNotPrintThis1234567890"


@pytest.mark.parametrize(
    "backend",
    [
        # a typo'd type: pydantic's error carries the whole mapping, key included
        f"type: openia\n      model: m\n      api_key: {SECRET}",
        # another error next to the key
        f"type: openai\n      model: m\n      temperature: 9\n      api_key: {SECRET}",
        # the key itself malformed
        f"type: openai\n      model: m\n      api_key: [{SECRET}]",
        # a misspelt key name: the value must not be echoed either
        f"type: openai\n      model: m\n      apikey: {SECRET}",
        # a header holding a bearer token
        f"type: chatcompletion\n      model: m\n      extra_headers: {{Authorization: 5}}\n      api_key: {SECRET}",
    ],
    ids=["bad_type", "sibling_error", "key_not_text", "key_name_typo", "extra_headers"],
)
def test_api_key_never_printed(backend: str, write_config: Callable[..., Path], workdir: Path) -> None:
    text = f"agents:\n  - id: a\n    backend:\n      {backend}\n"
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert SECRET not in str(info.value)
    assert SECRET not in format_issues(info.value)
    assert SECRET not in json.dumps(issues_as_json(info.value))
    for args in ((str(path),), (str(path), "--json")):
        result = run_validate(*args, cwd=workdir)
        assert result.code == 2
        assert SECRET not in result.output
        assert "Traceback" not in result.output


def test_interpolated_key_never_printed(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(openai_team().replace("model: gpt-4.1-mini", "model: gpt\n      temperature: -3"))
    result = run_validate(str(path), cwd=workdir, env={"OPENAI_API_KEY": SECRET})
    assert result.code == 2
    assert "agents[0].backend.temperature" in result.output
    assert SECRET not in result.output


def test_key_pasted_into_an_id_is_redacted() -> None:
    text = f"agents:\n  - id: {SECRET}/x\n    backend: {{type: scripted}}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    assert SECRET not in format_issues(info.value)
    assert info.value.issues[0].path == "agents[0].id"


# ----------------------------------------------------------------------------- YAML details


def test_anchors_and_merge_keys() -> None:
    text = (
        "agents:\n"  # 1
        "  - id: a\n"  # 2
        "    backend: &base\n"  # 3
        "      type: scripted\n"  # 4
        "      latency: 0.5\n"  # 5
        "  - id: b\n"  # 6
        "    backend:\n"  # 7
        "      <<: *base\n"  # 8
        "      latency: 0.1\n"  # 9
        "  - id: c\n"  # 10
        "    backend: *base\n"  # 11
    )
    team = load_config_text(text)
    assert [a.backend.latency for a in team.agents] == [0.5, 0.1, 0.5]  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as info:
        load_config_text(text.replace("latency: 0.1", "latency: -1"))
    assert [(i.path, i.line) for i in info.value.issues] == [("agents[1].backend.latency", 9)]


def test_duplicate_ids_reported_once() -> None:
    text = "agents:\n  - id: a\n    backend: {type: scripted}\n  - id: a\n    backend: {type: scripted}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    assert len(info.value.issues) == 1


def test_alias_bomb_is_refused_quickly() -> None:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    with pytest.raises(ConfigError) as info:
        load_config_text("\n".join(rows) + "\n")
    assert "expands to more than" in info.value.issues[0].message


def test_json_style_config_works() -> None:
    team = load_config_text('{"agents": [{"id": "a", "backend": {"type": "scripted"}}]}')
    assert team.agents[0].id == "a"


def test_accepts_str_and_path(write_config: Callable[..., Path], workdir: Path) -> None:
    path = write_config(SCRIPTED_TEAM)
    assert load_config(path) == load_config(str(path))


# ----------------------------------------------------------------------------- import weight


def test_loader_imports_nothing_heavy() -> None:
    heavy = [
        "openai",
        "anthropic",
        "google",
        "httpx",
        "mem0",
        "qdrant_client",
        "torch",
        "tiktoken",
        "llama_cpp",
        "onnxruntime",
        "chromadb",
        "rich",
    ]
    code = (
        "import sys, massmem.config.schema\n"
        "assert 'yaml' not in sys.modules, 'schema alone must not load yaml'\n"
        "from massmem.config import load_config\n"
        "load_config('@examples/mixed', env={'OPENAI_API_KEY': 'a', 'ANTHROPIC_API_KEY': 'b', 'GEMINI_API_KEY': 'c'})\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
