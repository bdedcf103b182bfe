"""MassGen's and DevAll's spellings are accepted, their local tool machinery refused by name.

The corpus test reads MassGen's own configs from ``../shared/bench/massgen_configs`` (a read-only
copy beside the clone in CI); without it that test is skipped, saying so.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import massmem
from massmem.config import TeamConfig, load_config, load_config_text
from massmem.config.dialects import NOT_RUN, REFUSED_KEYS, REFUSED_TYPES
from massmem.errors import ConfigError
from tests.config.conftest import run_validate

REPO = Path(massmem.__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "bench" / "massgen_configs"


def _load(text: str, **env: str) -> TeamConfig:
    return load_config_text(text, env=env)


def _issues(text: str, **env: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env=env)
    return [(i.path, i.line, i.message) for i in info.value.issues]


def test_massgen_single_agent_ui_and_reasoning_aliases() -> None:
    config = _load(
        """\
agent:
  id: solo
  backend:
    type: openai
    model: gpt-5-nano
    reasoning:
      effort: low
      summary: auto
ui:
  display_type: rich_terminal
  logging_enabled: true
"""
    )
    assert [a.id for a in config.agents] == ["solo"]
    backend = config.agents[0].backend
    assert backend.type == "openai"
    assert (backend.reasoning_effort, backend.reasoning_summary) == ("low", "auto")
    assert config.ui.display == "rich"
    dumped = config.redacted()
    assert "display_type" not in dumped["ui"] and "logging_enabled" not in dumped["ui"]


def test_aliased_value_errors_point_at_the_users_line() -> None:
    issues = _issues(
        """\
agent:
  id: solo
  backend:
    type: openai
    model: gpt-5-nano
    reasoning:
      effort: enormous
ui:
  display_type: simple
"""
    )
    assert issues == [
        ("agents[0].backend.reasoning_effort", 7, issues[0][2]),
    ]
    assert "'enormous'" in issues[0][2]


@pytest.mark.parametrize("kind", ["grok", "lmstudio", "vllm", "sglang", "zai"])
def test_massgen_backend_types_become_chatcompletion_presets(kind: str) -> None:
    config = _load(f"agents:\n  - id: a\n    backend: {{type: {kind}, model: m}}\n")
    backend = config.agents[0].backend
    assert backend.type == "chatcompletion"
    assert backend.provider == kind  # type: ignore[union-attr]


def test_azure_openai_reads_massgens_variables() -> None:
    text = "agents:\n  - id: a\n    backend: {type: azure_openai, model: gpt-4.1}\n"
    config = _load(
        text, AZURE_OPENAI_ENDPOINT="https://x.openai.azure.com/openai/v1", AZURE_OPENAI_API_KEY="k"
    )
    assert config.agents[0].backend.base_url == "https://x.openai.azure.com/openai/v1"
    issues = _issues(text)
    assert any("AZURE_OPENAI_ENDPOINT" in message for _, _, message in issues)


def test_orchestrator_and_timeout_aliases() -> None:
    config = _load(
        """\
agents:
  - id: a
    backend: {type: scripted}
orchestrator:
  max_new_answers_per_agent: 2
  answer_novelty_requirement: strict
  coordination:
    compression_target_ratio: 0.3
timeout_settings:
  orchestrator_timeout_seconds: 90
"""
    )
    orch = config.orchestrator
    assert (orch.max_answers_per_agent, orch.answer_novelty, orch.compression_target_ratio) == (
        2,
        "strict",
        0.3,
    )
    assert orch.timeout == 90


def test_massgen_memory_keys_and_per_agent_overrides() -> None:
    config = _load(
        """\
memory:
  persistent_memory:
    enabled: true
    on_disk: false
    vector_store: qdrant
    qdrant:
      mode: server
  retrieval:
    limit: 5
agents:
  - id: researcher
    backend: {type: scripted}
    memory:
      retrieval:
        limit: 20
        exclude_recent: false
  - id: writer
    backend: {type: scripted}
"""
    )
    persistent = config.memory.persistent_memory
    assert (persistent.qdrant.host, persistent.qdrant.port, persistent.on_disk) == ("localhost", 6333, False)
    overrides = config.agents[0].memory
    assert overrides is not None
    assert (overrides.retrieval_limit, overrides.exclude_recent) == (20, False)
    assert config.agents[1].memory is None  # inherits the team's limit of 5


def test_other_vector_store_is_refused_at_its_line() -> None:
    issues = _issues(
        "memory:\n  persistent_memory:\n    vector_store: faiss\nagents:\n  - id: a\n    backend: {type: scripted}\n"
    )
    assert [(p, line) for p, line, _ in issues] == [("memory.persistent_memory.vector_store", 3)]


def test_devall_store_list_and_attachments(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    config = _load(
        f"""\
memory:
  - name: chat_notes
    type: simple
    config:
      memory_path: notes/chat.json
  - name: board
    type: blackboard
    config:
      memory_path: shared/board.json
      max_items: 50
  - name: handbook
    type: file
    config:
      index_path: idx/handbook.json
      file_sources:
        - path: {docs}
          file_types: [".md", ".mdx"]
          recursive: true
agents:
  - id: answer
    backend: {{type: scripted}}
    memories:
      - name: chat_notes
        retrieve_stage: ["gen"]
        top_k: 5
        similarity_threshold: -1
        read: true
        write: true
      - name: handbook
        read: true
        write: false
"""
    )
    stores = {s.name: s for s in config.memory_stores}
    assert [s.type for s in config.memory_stores] == ["list", "blackboard", "file"]
    assert stores["board"].config.max_items == 50  # type: ignore[union-attr]
    file_config = stores["handbook"].config
    assert (file_config.path, file_config.suffixes, file_config.recursive) == (  # type: ignore[union-attr]
        str(docs),
        [".md", ".mdx"],
        True,
    )
    first = config.agents[0].memories[0]
    assert (first.retrieve_stage, first.top_k, first.similarity_threshold, first.write) == (
        "every_call",
        5,
        0.0,
        True,
    )


def test_devall_hosted_mem0_keys_are_refused_by_name() -> None:
    issues = _issues(
        """\
memory:
  - name: agent_memory
    type: mem0
    config:
      api_key: m0-secret-value
      agent_id: my-agent
agents:
  - id: a
    backend: {type: scripted}
"""
    )
    assert [(p, line) for p, line, _ in issues] == [
        ("memory_stores[0].config.api_key", 5),
        ("memory_stores[0].config.agent_id", 6),
    ]
    assert all("m0-secret-value" not in message for _, _, message in issues)


def test_devall_file_store_with_two_sources_is_refused() -> None:
    issues = _issues(
        """\
memory:
  - name: docs
    type: file
    config:
      file_sources:
        - path: a
        - path: b
agents:
  - id: a
    backend: {type: scripted}
"""
    )
    assert ("memory_stores[0].config.file_sources", 5) in [(p, line) for p, line, _ in issues]


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
          args: ["${cwd}"]
      custom_tools:
        - name: add
  - id: b
    backend:
      type: ag2
      model: gpt-4o
orchestrator:
  snapshot_storage: snapshots
  agent_temporary_workspace: temp
  context_paths:
    - path: .
"""


def test_local_tool_machinery_is_refused_by_name_at_each_line() -> None:
    issues = _issues(MACHINERY)
    assert [(p, line) for p, line, _ in issues] == [
        ("agents[0].backend.type", 4),
        ("agents[0].backend.cwd", 6),
        ("agents[0].backend.mcp_servers", 7),
        ("agents[0].backend.custom_tools", 11),
        ("agents[1].backend.type", 15),
        ("orchestrator.snapshot_storage", 18),
        ("orchestrator.agent_temporary_workspace", 19),
        ("orchestrator.context_paths", 20),
    ]
    for _, _, message in issues:
        assert NOT_RUN in message


def test_refusal_exits_2_and_names_migrate(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(MACHINERY)
    result = run_validate("team.yaml", cwd=tmp_path)
    assert result.code == 2
    assert "team.yaml:7: agents[0].backend.mcp_servers" in result.output
    assert "massmem migrate" in result.output
    assert "Traceback" not in result.output


def test_alias_and_canonical_key_together_is_an_error() -> None:
    issues = _issues(
        "agents:\n  - id: a\n    backend: {type: scripted}\nui:\n  display: plain\n  display_type: simple\n"
    )
    assert [(p, line) for p, line, _ in issues] == [("ui.display_type", 6)]


def test_massmem_configs_are_unchanged() -> None:
    text = (REPO / "massmem" / "examples" / "scripted.yaml").read_text()
    assert _load(text) == load_config("@examples/scripted", env={}, read_dotenv=False)


# -- the whole MassGen corpus ------------------------------------------------------------------------

_REFUSED_WORDS = tuple(REFUSED_KEYS) + tuple(REFUSED_TYPES)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"MassGen corpus not found at {CORPUS} (../shared absent)")
def test_massgen_corpus_validates_or_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml"))
    assert files, f"no YAML under {CORPUS}"
    valid = refused_machinery = refused_other = 0
    for path in files:
        try:
            load_config(path, env={}, read_dotenv=False)
        except ConfigError as err:
            assert err.issues, path
            for issue in err.issues:
                assert issue.path, f"{path.name}: an issue names no key: {issue.message}"
                assert issue.line is not None, f"{path.name}: {issue.path} has no line"
            if any(NOT_RUN in i.message for i in err.issues):
                assert any(any(w in i.path for w in _REFUSED_WORDS) for i in err.issues), path
                refused_machinery += 1
            else:
                refused_other += 1
        else:
            valid += 1
    with capsys.disabled():
        print(
            f"\nMassGen corpus: {len(files)} files, {valid} validate, "
            f"{refused_machinery} refused for local tool machinery, {refused_other} for other named keys"
        )
    for path in (p for p in files if "memory" in p.parts):
        # every memory config that uses no local tool machinery validates unchanged
        try:
            load_config(path, env={}, read_dotenv=False)
        except ConfigError as err:
            assert any(NOT_RUN in i.message for i in err.issues), path


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"MassGen corpus not found at {CORPUS} (../shared absent)")
def test_validate_of_a_massgen_config_is_fast(tmp_path: Path) -> None:
    path = CORPUS / "memory" / "gpt5mini_gemini_context_window_management.yaml"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in the corpus")
    start = time.perf_counter()
    result = run_validate(str(path), cwd=tmp_path)
    elapsed = time.perf_counter() - start
    assert result.code in (0, 2) and "Traceback" not in result.output, result.output
    assert elapsed < 3.0  # generous on a busy CI box; scripts/bench_startup.py measures the 0.3 s goal


def test_older_massgen_display_section() -> None:
    config = _load(
        "agents:\n  - id: a\n    backend: {type: scripted}\ndisplay:\n  type: simple\n  logging_enabled: false\n"
    )
    assert config.ui.display == "plain"


def test_devall_simple_store_with_an_embedding_is_a_vector_store() -> None:
    config = _load(
        """\
memory:
  - name: notes
    type: simple
    config:
      embedding: {provider: openai, model: text-embedding-3-small, api_key: sk-test}
agents:
  - id: a
    backend: {type: scripted}
    memories: [{name: notes, write: true}]
"""
    )
    store = config.memory_stores[0]
    assert store.type == "vector"
    assert store.config.embedding.provider == "openai"  # type: ignore[union-attr]


def test_devall_alias_error_keeps_its_line() -> None:
    issues = _issues(
        """\
memory:
  - name: docs
    type: file
    config:
      file_sources:
        - path: docs
          file_types: ".md"
agents:
  - id: a
    backend: {type: scripted}
"""
    )
    assert [(p, line) for p, line, _ in issues] == [("memory_stores[0].config.suffixes", 7)]
