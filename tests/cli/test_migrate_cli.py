"""``massmem migrate FILE [-o OUT] [--force]`` through the real command line."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

import massmem
from tests.cli.teams import run_massmem

CORPUS = Path(massmem.__file__).resolve().parent.parent.parent / "shared" / "bench" / "massgen_configs"
SECRET = "sk-live-abcdef0123456789"

SOURCE = """\
agents:
  - id: coder
    backend:
      type: claude_code
      cwd: ws
  - id: writer
    backend:
      type: openai
      model: gpt-5-nano
      api_key: ${OPENAI_API_KEY}
      mcp_servers:
        - name: weather
          command: npx
ui:
  display_type: simple
"""


def migrate(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    child.update(env)
    return run_massmem("migrate", *args, cwd=cwd, env=child)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "massgen.yaml"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def test_yaml_on_stdout_report_on_stderr(source: Path, tmp_path: Path) -> None:
    done = migrate(str(source), cwd=tmp_path, OPENAI_API_KEY=SECRET)
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(done.stdout)
    assert [a["id"] for a in data["agents"]] == ["writer"]
    assert data["agents"][0]["backend"]["api_key"] == "${OPENAI_API_KEY}"
    assert data["ui"] == {"display": "plain"}
    assert f"{source}:2: agents[0]: dropped: agent 'coder' is removed" in done.stderr
    assert f"{source}:11: agents[1].backend.mcp_servers: dropped:" in done.stderr
    assert f"{source}:15: ui.display_type: changed: written as ui.display" in done.stderr
    assert "migrated — 1 agent: writer" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # what it wrote is a config massmem accepts
    out = tmp_path / "out.yaml"
    out.write_text(done.stdout, encoding="utf-8")
    checked = run_massmem("validate", str(out), cwd=tmp_path, env={**os.environ, "OPENAI_API_KEY": "sk-x"})
    assert checked.returncode == 0, checked.stderr


def test_output_file_is_written_whole_and_never_overwritten_without_force(
    source: Path, tmp_path: Path
) -> None:
    out = tmp_path / "team.yaml"
    done = migrate(str(source), "-o", str(out), cwd=tmp_path, OPENAI_API_KEY=SECRET)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and f"wrote {out}" in done.stderr
    text = out.read_text(encoding="utf-8")
    assert "${OPENAI_API_KEY}" in text and SECRET not in text
    assert stat.S_IMODE(out.stat().st_mode) & stat.S_IWUSR
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []

    out.write_text("mine\n", encoding="utf-8")
    again = migrate(str(source), "-o", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert out.read_text(encoding="utf-8") == "mine\n"

    forced = migrate(str(source), "-o", str(out), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert out.read_text(encoding="utf-8") == text


def test_refusal_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "only_tools.yaml"
    source.write_text("agent:\n  id: cc\n  backend:\n    type: claude_code\n    cwd: ws\n", encoding="utf-8")
    out = tmp_path / "out.yaml"
    done = migrate(str(source), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 2
    assert not out.exists() and done.stdout == ""
    assert f"{source}:1: agent: dropped:" in done.stderr
    assert "no agent remains" in done.stderr and "nothing written" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_that_would_not_validate_is_refused_with_its_errors(tmp_path: Path) -> None:
    source = tmp_path / "typo.yaml"
    source.write_text(
        "agents:\n  - id: a\n    backend:\n      type: openai\n      modle: gpt-5\n", encoding="utf-8"
    )
    done = migrate(str(source), cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{source}:5: agents[0].backend.modle: unknown key 'modle'" in done.stderr
    assert "did you mean 'model'?" in done.stderr


def test_missing_file_and_directory_output(tmp_path: Path, source: Path) -> None:
    missing = migrate(str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    folder = migrate(str(source), "-o", str(tmp_path), "--force", cwd=tmp_path)
    assert folder.returncode == 2 and "not a regular file" in folder.stderr
    no_dir = migrate(str(source), "-o", str(tmp_path / "absent" / "x.yaml"), cwd=tmp_path)
    assert no_dir.returncode == 1 and "cannot write" in no_dir.stderr
    assert "Traceback" not in folder.stderr + no_dir.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"MassGen corpus not found at {CORPUS} (../shared absent)")
@pytest.mark.parametrize(
    "name",
    [
        "memory/gpt5mini_gemini_context_window_management.yaml",
        "providers/azure/azure_openai_single.yaml",
        "tools/mcp/claude_code_simple_mcp.yaml",
    ],
)
def test_corpus_files_through_the_cli(name: str, tmp_path: Path) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus")
    done = migrate(str(path), cwd=tmp_path)
    assert "Traceback" not in done.stderr
    if "claude_code" in name:
        assert done.returncode == 2 and done.stdout == ""
        return
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out.yaml"
    out.write_text(done.stdout, encoding="utf-8")
    env = {
        **os.environ,
        "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com/openai/v1",
        "AZURE_OPENAI_API_KEY": "k",
    }
    checked = run_massmem("validate", str(out), cwd=tmp_path, env=env)
    assert checked.returncode == 0, checked.stderr
