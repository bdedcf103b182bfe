"""How a run begins and ends: signals, killed owners, failed turns, notes, refusals, log folders.

Every test drives the real CLI in a child process; "killed" means a real ``SIGTERM`` or
``SIGKILL`` sent to that process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from massmem.sessions.owners import process_start
from massmem.sessions.registry import SessionRegistry
from tests.cli.teams import run_massmem, write_team


def _sessions() -> list[dict[str, Any]]:
    listed = run_massmem("sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def _start(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "massmem", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def _wait_until_running(massmem_home: Path, session_id: str, process: subprocess.Popen[str]) -> None:
    """Until the child's session row is active and the child has had time to reach its turn."""
    state = massmem_home / "sessions" / session_id / "state.json"
    deadline = time.monotonic() + 30
    while not state.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)
    time.sleep(1.0)  # the team is built and bob is waiting on his (long) latency
    assert process.poll() is None, process.communicate()


def test_sigterm_ends_a_one_shot_run_like_ctrl_c(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path, bob_latency=60)
    process = _start("run", "-c", str(team), "--no-display", "--session-id", "termed", "Slow question?")
    _wait_until_running(massmem_home, "termed", process)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert "terminated (SIGTERM)" in err
    [row] = _sessions()
    assert (row["status"], row["error"]) == ("interrupted", "terminated (SIGTERM)")


def test_sigterm_ends_an_interactive_session_waiting_for_input(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    process = _start("run", "-c", str(team), "-i", "--session-id", "waiting", stdin=subprocess.PIPE)
    _wait_until_running(massmem_home, "waiting", process)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    [row] = _sessions()
    assert row["status"] == "interrupted"


def test_a_killed_run_is_marked_interrupted_when_listed_and_resumes(
    tmp_path: Path, massmem_home: Path
) -> None:
    slow = write_team(tmp_path, bob_latency=60, name="slow.yaml")
    process = _start("run", "-c", str(slow), "--no-display", "--session-id", "killed", "Slow question?")
    _wait_until_running(massmem_home, "killed", process)
    assert _sessions()[0]["status"] == "active"  # the owner is alive: left alone
    process.kill()
    process.communicate(timeout=30)
    [row] = _sessions()
    assert row["status"] == "interrupted"
    assert f"pid {process.pid}" in row["error"]

    fast = write_team(tmp_path, name="fast.yaml")
    resumed = run_massmem("run", "-c", str(fast), "--no-display", "--session-id", "killed", "Again?")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "Answer one."
    assert _sessions()[0]["status"] == "completed"


def test_a_reused_pid_does_not_keep_a_dead_session_active(massmem_home: Path) -> None:
    registry = SessionRegistry()
    mine = registry.create(session_id="mine")
    assert (mine.owner_pid, mine.owner_start) == (os.getpid(), process_start(os.getpid()))
    registry.create(session_id="reused")
    with sqlite3.connect(registry.path) as db:  # same pid, started at another time: another process
        db.execute("UPDATE sessions SET owner_start = 'another-start' WHERE id = 'reused'")
    statuses = {r.id: r.status for r in registry.list()}
    assert statuses == {"mine": "active", "reused": "interrupted"}
    assert registry.get("reused").status == "interrupted"  # written, not only shown


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _down_team(tmp_path: Path) -> Path:
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
    return path


def test_piped_interactive_json_reports_failed_turns_and_exits_1(tmp_path: Path) -> None:
    done = run_massmem("run", "-c", str(_down_team(tmp_path)), "-i", "--json", stdin="first?\nsecond?\n")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["question"], x["turn"], x["saved"]) for x in lines] == [
        ("first?", None, False),
        ("second?", None, False),
    ]
    assert all("solo" in x["error"] for x in lines)
    [row] = _sessions()
    assert row["status"] == "failed"
    assert row["error"].startswith("2 of 2 turn(s) failed")


def test_notes_reach_json_and_stderr_without_a_display(tmp_path: Path) -> None:
    first = write_team(tmp_path, name="first.yaml")
    assert (
        run_massmem("run", "-c", str(first), "--no-display", "--session-id", "noted", "One?").returncode == 0
    )
    changed = write_team(tmp_path, name="changed.yaml", bob_latency=0.01)  # a different team config
    plain = run_massmem("run", "-c", str(changed), "--no-display", "--session-id", "noted", "Two?")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "Answer one."
    assert "note: the team config differs from the one session 'noted' last ran with" in plain.stderr
    as_json = run_massmem("run", "-c", str(first), "--json", "--session-id", "noted", "Three?")
    assert as_json.returncode == 0, as_json.stderr
    assert (
        "the team config differs from the one session 'noted' last ran with"
        in json.loads(as_json.stdout)["notes"]
    )


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_an_empty_question_is_a_usage_error(tmp_path: Path, massmem_home: Path, question: str) -> None:
    done = run_massmem("run", "-c", str(write_team(tmp_path)), question)
    assert done.returncode == 2
    assert "the question is empty" in done.stderr
    assert not (massmem_home / "sessions.db").exists()


@contextmanager
def _held_store(folder: Path) -> Iterator[None]:
    """Hold an embedded store's lock as another massmem process would."""
    folder.mkdir(parents=True)
    with open(folder / ".massmem.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write("4242\n")
        handle.flush()
        yield


@pytest.mark.parametrize("interactive", [False, True])
def test_a_run_refused_for_a_locked_store_leaves_no_session(tmp_path: Path, interactive: bool) -> None:
    pytest.importorskip("portalocker")
    store = tmp_path / "store"
    team = write_team(
        tmp_path,
        extra=f"""
memory_stores:
  - name: notes
    type: vector
    config:
      qdrant: {{path: "{store}"}}
""",
    )
    text = team.read_text().replace("  - id: bob\n", "  - id: bob\n    memories: [{name: notes}]\n")
    team.write_text(text)
    args = ("-i",) if interactive else ()
    with _held_store(store):
        done = run_massmem("run", "-c", str(team), "--no-display", *args, "Hello?", stdin="")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{store}" in done.stderr and "already open in another process" in done.stderr
    assert _sessions() == []
    assert not list((tmp_path / "massmem_home" / "sessions").glob("*"))


def test_ui_log_dir_is_where_debug_output_goes(tmp_path: Path, massmem_home: Path) -> None:
    logs = tmp_path / "my logs"
    team = write_team(tmp_path, extra=f'ui:\n  log_dir: "{logs}"\n')
    done = run_massmem("run", "-c", str(team), "--no-display", "--debug", "--session-id", "dbg", "Hello?")
    assert done.returncode == 0, done.stderr
    assert f"go to {logs / 'dbg'}" in done.stderr
    assert (logs / "dbg").is_dir()
    assert not (massmem_home / "logs").exists()
