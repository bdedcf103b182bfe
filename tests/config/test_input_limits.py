"""Oversized input is refused at once, at its location, never with a traceback or minutes of work.

The limits (``MAX_*`` in :mod:`massmem.config.limits`, ``MAX_QUESTION_CHARS`` for questions,
``MAX_COLUMN_CHARS`` for the registry) are far above any real team file; these tests drive
each one just past its bound through the real loader or the real CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from massmem.config import load_config, load_config_text
from massmem.config.limits import MAX_AGENTS, MAX_CONFIG_BYTES, MAX_DEPTH, MAX_STRING_CHARS
from massmem.errors import ConfigError
from massmem.sessions.registry import MAX_COLUMN_CHARS
from massmem.team.session import MAX_QUESTION_CHARS
from tests.cli.teams import MULTI_TURN, run_massmem
from tests.config.conftest import run_validate

AGENT = "  - id: a{i}\n    backend: {{type: scripted, replies: [{{new_answer: hi}}]}}\n"


def _only_issue(text: str) -> tuple[str, str, int | None]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text)
    issue = info.value.issues[0]
    return issue.path, issue.message, issue.line


def test_a_4301_digit_integer_is_refused_at_its_line(
    workdir: Path, write_config: Callable[..., Path]
) -> None:
    path = write_config(f"agents:\n{AGENT.format(i=1)}orchestrator:\n  timeout: {'9' * 4301}\n")
    done = run_validate(str(path), cwd=workdir)
    assert done.code == 2
    assert "Traceback" not in done.output
    assert f"{path}:5: orchestrator.timeout: a number of 4,301 characters" in done.stderr


def test_dev_zero_as_config_is_refused_without_reading_it_all(workdir: Path) -> None:
    started = time.perf_counter()
    done = run_validate("/dev/zero", cwd=workdir)
    assert time.perf_counter() - started < 20
    assert done.code == 2
    assert "Traceback" not in done.output
    assert f"larger than {MAX_CONFIG_BYTES:,} bytes" in done.stderr


def test_too_many_agents_is_refused_with_the_right_reason(
    workdir: Path, write_config: Callable[..., Path]
) -> None:
    # Just under the size limit, thousands of agents: refused for their number, quickly, and
    # not with a hint about aliases (there are none).
    count = (MAX_CONFIG_BYTES - 100) // len(AGENT.format(i=99999))
    path = write_config("agents:\n" + "".join(AGENT.format(i=i) for i in range(count)))
    assert path.stat().st_size <= MAX_CONFIG_BYTES
    started = time.perf_counter()
    done = run_validate(str(path), cwd=workdir)
    elapsed = time.perf_counter() - started
    assert done.code == 2
    assert f"{path}:1: agents: {count:,} agents is more than the limit of {MAX_AGENTS}" in done.stderr
    assert "alias" not in done.stderr
    assert elapsed < 10, elapsed


def test_the_agent_limit_itself_is_allowed() -> None:
    team = load_config_text("agents:\n" + "".join(AGENT.format(i=i) for i in range(MAX_AGENTS)))
    assert len(team.agents) == MAX_AGENTS
    path, message, _ = _only_issue("agents:\n" + "".join(AGENT.format(i=i) for i in range(MAX_AGENTS + 1)))
    assert path == "agents"
    assert "more than the limit" in message


def test_a_long_string_is_an_issue_at_its_path() -> None:
    text = f"description: {'y' * (MAX_STRING_CHARS + 1)}\nagents:\n{AGENT.format(i=1)}"
    path, message, line = _only_issue(text)
    assert (path, line) == ("description", 1)
    assert f"{MAX_STRING_CHARS + 1:,} characters is longer than the limit" in message
    load_config_text(f"description: {'y' * MAX_STRING_CHARS}\nagents:\n{AGENT.format(i=1)}")


def test_deep_nesting_is_refused_with_its_path() -> None:
    depth = MAX_DEPTH + 5
    text = f"agents:\n{AGENT.format(i=1)}ui: " + "[" * depth + "]" * depth + "\n"
    path, message, line = _only_issue(text)
    assert message == f"nesting deeper than {MAX_DEPTH} levels"
    assert path.startswith("ui[0][0]")
    assert line == 4


def test_a_config_just_under_the_size_limit_still_loads(tmp_path: Path) -> None:
    padding = "# " + "x" * 1000 + "\n"
    body = f"agents:\n{AGENT.format(i=1)}"
    path = tmp_path / "team.yaml"
    path.write_text(body + padding * ((MAX_CONFIG_BYTES - len(body)) // len(padding)))
    assert path.stat().st_size <= MAX_CONFIG_BYTES
    assert load_config(path, read_dotenv=False).agents[0].id == "a1"


def test_a_huge_question_is_kept_whole_in_the_state_but_clipped_in_the_registry(
    tmp_path: Path, massmem_home: Path
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(MULTI_TURN.format(bob_latency=0.01))
    question = "Summarise: " + "word " * 180_000  # 900 KB
    done = run_massmem(
        "run", "-c", str(team), "--no-display", "--session-id", "big", stdin=question, timeout=120
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(run_massmem("sessions", "list", "--json", timeout=120).stdout)[0]
    assert len(row["question"]) == MAX_COLUMN_CHARS
    assert (massmem_home / "sessions.db").stat().st_size < 200_000
    state = json.loads((massmem_home / "sessions" / "big" / "state.json").read_text())
    assert state["turns"][0]["question"] == question.strip()


def test_a_question_over_the_limit_is_a_usage_error_and_starts_nothing(
    tmp_path: Path, massmem_home: Path
) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(MULTI_TURN.format(bob_latency=0.01))
    done = run_massmem(
        "run", "-c", str(team), "--no-display", stdin="x" * (MAX_QUESTION_CHARS + 10), timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"limit of {MAX_QUESTION_CHARS:,}" in done.stderr
    assert not (massmem_home / "sessions.db").exists()
