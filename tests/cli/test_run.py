"""The ``massmem run`` command, driven as a user drives it: a real subprocess."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem

SCRIPTED_TEAM = """
agents:
  - id: alice
    backend:
      type: scripted
      replies:
        - new_answer: "Paris is the capital of France."
        - vote: agent1
          reason: it is right
  - id: bob
    backend:
      type: scripted
      latency: {bob_latency}
      replies:
        - vote: agent1
          reason: agreed
"""


@pytest.fixture
def team_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(SCRIPTED_TEAM.format(bob_latency=0.05))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_shot_prints_the_answer_and_records_a_completed_session(team_file: Path) -> None:
    done = run_massmem("run", "-c", str(team_file), "Capital of France?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Paris is the capital of France."
    assert "winner: alice" in done.stderr
    listed = run_massmem("run", "--list-sessions", "--json")
    sessions = json.loads(listed.stdout)
    assert len(sessions) == 1
    assert sessions[0]["status"] == "completed"
    assert sessions[0]["turns"] == 1
    assert sessions[0]["question"] == "Capital of France?"
    assert sessions[0]["id"].startswith("session_")


def test_json_output_is_machine_readable(team_file: Path) -> None:
    done = run_massmem("run", "-c", str(team_file), "--json", "Capital of France?")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["winner"] == "alice"
    assert result["final_answer"] == "Paris is the capital of France."
    assert result["vote_counts"] == {"alice": 2}
    assert result["timed_out"] is False
    assert {a["id"] for a in result["agents"]} == {"alice", "bob"}


def test_question_from_stdin_when_not_a_terminal(team_file: Path) -> None:
    done = run_massmem("run", "-c", str(team_file), stdin="Capital of France?\n")
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout


def test_session_id_names_the_session_and_is_reused(team_file: Path) -> None:
    for _ in range(2):
        done = run_massmem("run", "-c", str(team_file), "--session-id", "trip-planning", "Capital of France?")
        assert done.returncode == 0, done.stderr
    sessions = json.loads(run_massmem("run", "--list-sessions", "--json").stdout)
    assert [s["id"] for s in sessions] == ["trip-planning"]
    assert sessions[0]["turns"] == 2


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "..", ".hidden"])
def test_unsafe_session_ids_are_rejected(team_file: Path, bad_id: str, massmem_home: Path) -> None:
    done = run_massmem("run", "-c", str(team_file), "--session-id", bad_id, "q")
    assert done.returncode == 2
    assert "not a safe name" in done.stderr
    assert "Traceback" not in done.stderr


def test_timeout_presents_the_best_answer_and_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(SCRIPTED_TEAM.format(bob_latency=30))
    done = run_massmem("run", "-c", str(path), "--timeout", "2", "Capital of France?")
    assert done.returncode == 3, done.stderr
    assert "Paris" in done.stdout
    assert "timed out" in done.stderr


def test_a_team_that_cannot_answer_exits_1_and_the_session_is_failed(tmp_path: Path) -> None:
    path = tmp_path / "down.yaml"
    path.write_text(
        f"""
agents:
  - id: solo
    backend:
      type: chatcompletion
      model: m
      base_url: http://127.0.0.1:{_closed_port()}/v1
      max_retries: 0
      timeout: 5
"""
    )
    done = run_massmem("run", "-c", str(path), "q")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert "solo" in done.stderr
    sessions = json.loads(run_massmem("run", "--list-sessions", "--json").stdout)
    assert sessions[0]["status"] == "failed"
    assert sessions[0]["error"]


def test_run_without_config_is_a_usage_error() -> None:
    done = run_massmem("run", "question")
    assert done.returncode == 2
    assert "-c" in done.stderr


def test_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agents:\n  - id: a\n    backend:\n      type: chatcompleton\n      model: m\n")
    done = run_massmem("run", "-c", str(path), "q")
    assert done.returncode == 2
    assert "agents[0].backend" in done.stderr
    assert "Traceback" not in done.stderr


def test_version_and_help() -> None:
    assert run_massmem("--version").stdout.startswith("massmem ")
    helped = run_massmem("--help")
    assert helped.returncode == 0
    assert "run" in helped.stdout and "validate" in helped.stdout


def test_list_sessions_on_an_empty_home() -> None:
    done = run_massmem("run", "--list-sessions")
    assert done.returncode == 0
    assert "No sessions yet" in done.stdout


def test_no_display_prints_only_the_answer(team_file: Path) -> None:
    done = run_massmem("run", "-c", str(team_file), "--no-display", "Capital of France?")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Paris is the capital of France."
    assert "winner" not in done.stderr
