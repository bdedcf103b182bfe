"""Sessions through the command line: resume, list/show/delete/export, unsafe ids, damaged files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.teams import run_massmem, write_team


def massmem(*args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_massmem(*args, stdin=stdin if stdin is not None else "", timeout=timeout)


def state_of(home: Path, session_id: str) -> dict:
    return json.loads((home / "sessions" / session_id / "state.json").read_text())


def conversation_text(saved: dict, agent_id: str) -> str:
    """Everything the agent was shown on the last turn (its saved conversation memory)."""
    messages = saved["agents"][agent_id]["conversation"]["messages"]
    return "\n".join(m.get("content") or "" for m in messages)


@pytest.fixture
def team(tmp_path: Path) -> Path:
    return write_team(tmp_path)


def test_one_shot_resume_shows_the_model_the_earlier_turn(team: Path, massmem_home: Path) -> None:
    first = massmem("run", "-c", str(team), "--session-id", "trip", "--json", "Where shall we go?")
    assert first.returncode == 0, first.stderr
    one = json.loads(first.stdout)
    assert (one["session_id"], one["turn"], one["history_turns"]) == ("trip", 1, 0)

    second = massmem("run", "-c", str(team), "--session-id", "trip", "--json", "And after that?")
    assert second.returncode == 0, second.stderr
    two = json.loads(second.stdout)
    assert (two["turn"], two["history_turns"]) == (2, 1)
    saved = state_of(massmem_home, "trip")
    prompt = conversation_text(saved, "alice")
    assert "Where shall we go?" in prompt and "Answer one." in prompt and "And after that?" in prompt
    assert saved["winners"] == [{"turn": 1, "agent_id": "alice"}, {"turn": 2, "agent_id": "alice"}]
    row = json.loads(massmem("run", "--list-sessions", "--json").stdout)[0]
    assert (row["turns"], row["question"], row["winner"]) == (2, "And after that?", "alice")


def test_interactive_from_a_pipe_reads_line_by_line(team: Path, massmem_home: Path) -> None:
    script = "first question\nsecond question\n/reset\nthird question\n/status\n"
    done = massmem("run", "-c", str(team), "-i", "--json", "--session-id", "piped", stdin=script)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    results = [json.loads(line) for line in lines if line.startswith("{")]
    assert [(r["turn"], r["history_turns"], r["final_answer"]) for r in results] == [
        (1, 0, "Answer one."),
        (2, 1, "Answer two."),
        (3, 0, "Answer three."),
    ]
    assert any(line.startswith("session   piped") for line in lines)  # /status output on stdout
    assert "massmem interactive" in done.stderr  # banners stay off stdout


def test_a_pipe_without_interactive_is_one_question(team: Path) -> None:
    done = massmem("run", "-c", str(team), "--no-display", stdin="line one\nline two\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Answer one."
    sessions = json.loads(massmem("run", "--list-sessions", "--json").stdout)
    assert sessions[0]["question"] == "line one\nline two"


def test_unknown_ids_are_errors_that_list_recent_sessions(team: Path) -> None:
    assert massmem("run", "-c", str(team), "--session-id", "real-one", "q").returncode == 0
    for args in (
        ("run", "-c", str(team), "--resume", "missing", "q"),
        ("run", "-c", str(team), "--session-id", "session_20200101_000000", "q"),
        ("sessions", "show", "missing"),
        ("sessions", "export", "missing"),
        ("sessions", "delete", "--yes", "missing"),
    ):
        done = massmem(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "no session" in done.stderr and "recent sessions: real-one" in done.stderr
        assert "Traceback" not in done.stderr
    clash = massmem("run", "-c", str(team), "--session-id", "a", "--resume", "b", "q")
    assert clash.returncode == 2


def test_a_new_name_starts_a_named_session(team: Path) -> None:
    done = massmem("run", "-c", str(team), "--session-id", "my-project", "q")
    assert done.returncode == 0
    assert "session my-project (new)" in done.stderr


def test_the_config_session_id_is_used_and_the_flag_wins(tmp_path: Path) -> None:
    team = write_team(tmp_path, extra="session_id: from-config\n")
    assert massmem("run", "-c", str(team), "q1").returncode == 0
    assert massmem("run", "-c", str(team), "--session-id", "from-flag", "q2").returncode == 0
    ids = {s["id"] for s in json.loads(massmem("run", "--list-sessions", "--json").stdout)}
    assert ids == {"from-config", "from-flag"}


BAD_IDS = ["../etc", "a/b", "..", ".hidden", "x/../../y"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_path_traversal_ids_are_rejected_everywhere(team: Path, bad: str, massmem_home: Path) -> None:
    for args in (
        ("run", "-c", str(team), "--session-id", bad, "q"),
        ("run", "-c", str(team), "--resume", bad, "q"),
        ("run", "-c", str(team), "-i", "--session-id", bad),
        ("sessions", "show", bad),
        ("sessions", "export", bad),
        ("sessions", "delete", "--yes", bad),
        ("memory", "list", "--session", bad),
        ("memory", "search", "--session", bad, "anything"),
        ("memory", "forget", "--session", bad, "--yes"),
        ("memory", "export", "--session", bad),
    ):
        done = massmem(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "not a safe name" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert not (massmem_home / "etc").exists()
    assert not any(p.name == "y" for p in massmem_home.rglob("*"))


def _recorded_session(session_id: str, question: str, *, created: float) -> None:
    """A finished one-turn session, made in-process (the CLI path is covered above)."""
    from massmem.sessions import SessionRegistry, open_session
    from massmem.sessions.state import AgentTurn, TurnState, VoteRecord

    SessionRegistry().create(
        session_id=session_id, models=["scripted:scripted"], description=DESCRIPTION, now=created
    )
    session = open_session(session_id=session_id, config={"agents": []}, models=["scripted:scripted"])
    session.record_turn(
        TurnState(
            1,
            question,
            "Answer one.",
            "alice",
            votes=[VoteRecord("bob", "alice")],
            agents=[AgentTurn("alice")],
        )
    )
    session.finish("completed")


DESCRIPTION = "two scripted agents for multi-turn tests"


def test_sessions_list_show_and_export(tmp_path: Path) -> None:
    for n in range(12):
        _recorded_session(f"s{n:02d}", f"question {n}", created=1_800_000_000.0 + n)
    listed = massmem("sessions", "list")
    assert listed.returncode == 0
    rows = [line for line in listed.stdout.splitlines() if line.startswith("s")]
    assert [r.split()[0] for r in rows] == [f"s{n:02d}" for n in range(11, 1, -1)]
    assert "10 of 12 shown" in listed.stdout
    assert "two scripted agents for multi-turn tests · question 11" in listed.stdout
    assert len(json.loads(massmem("sessions", "list", "--all", "--json").stdout)) == 12
    assert len(json.loads(massmem("sessions", "list", "-n", "3", "--json").stdout)) == 3
    # The fast path (run --list-sessions, sessions list) prints what the full command prints.
    assert massmem("run", "--list-sessions").stdout == listed.stdout
    assert massmem("sessions", "list", "-n", "10").stdout == listed.stdout
    assert (
        massmem("run", "--list-sessions", "--all", "--json").stdout
        == massmem("sessions", "list", "-n", "1000", "--json").stdout
    )

    shown = massmem("sessions", "show", "s03")
    assert shown.returncode == 0
    assert "Q: question 3" in shown.stdout and "A: Answer one." in shown.stdout
    assert "winner alice" in shown.stdout
    as_json = json.loads(massmem("sessions", "show", "s03", "--json").stdout)
    assert as_json["session"]["id"] == "s03" and as_json["state"]["turns"][0]["question"] == "question 3"

    out = tmp_path / "export.json"
    exported = massmem("sessions", "export", "s03", "-o", str(out))
    assert exported.returncode == 0
    data = json.loads(out.read_text())
    assert data["session"]["turns"] == 1 and data["state"]["session_id"] == "s03"
    to_stdout = json.loads(massmem("sessions", "export", "s03").stdout)
    assert {k: v for k, v in to_stdout.items() if k != "exported_at"} == {
        k: v for k, v in data.items() if k != "exported_at"
    }


def test_secrets_never_reach_state_or_export(tmp_path: Path, massmem_home: Path) -> None:
    secret = "sk-test-SENTINEL-0123456789abcdef"
    team = write_team(tmp_path)
    text = team.read_text().replace("type: scripted\n", f"type: scripted\n      api_key: {secret}\n", 1)
    team.write_text(text)
    assert massmem("run", "-c", str(team), "--session-id", "keyed", "q").returncode == 0
    state_text = (massmem_home / "sessions" / "keyed" / "state.json").read_text()
    assert secret not in state_text
    assert json.loads(state_text)["config"]["agents"][0]["backend"]["api_key"] == "**********"
    exported = massmem("sessions", "export", "keyed")
    assert secret not in exported.stdout
    for path in massmem_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_delete_asks_first_and_removes_state_and_row(team: Path, massmem_home: Path) -> None:
    assert massmem("run", "-c", str(team), "--session-id", "doomed", "q").returncode == 0
    refused = massmem("sessions", "delete", "doomed")  # stdin is not a terminal, no --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert (massmem_home / "sessions" / "doomed" / "state.json").exists()

    done = massmem("sessions", "delete", "doomed", "--yes")
    assert done.returncode == 0, done.stderr
    assert "deleted doomed" in done.stdout
    assert not (massmem_home / "sessions" / "doomed").exists()
    assert json.loads(massmem("run", "--list-sessions", "--json").stdout) == []


def test_delete_confirmation_on_a_terminal(team: Path, massmem_home: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    assert massmem("run", "-c", str(team), "--session-id", "keepme", "q").returncode == 0
    assert massmem("run", "-c", str(team), "--session-id", "dropme", "q").returncode == 0
    child = pexpect.spawn(
        sys.executable,
        ["-m", "massmem", "sessions", "delete", "keepme"],
        env=os.environ.copy(),
        encoding="utf-8",
    )
    child.expect("Delete keepme")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert (massmem_home / "sessions" / "keepme").exists()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "massmem", "sessions", "delete", "dropme"],
        env=os.environ.copy(),
        encoding="utf-8",
    )
    child.expect("Delete dropme")
    child.sendline("y")
    child.expect("deleted dropme")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not (massmem_home / "sessions" / "dropme").exists()


def test_a_corrupt_state_file_is_set_aside_reported_and_the_session_goes_on(
    team: Path, massmem_home: Path
) -> None:
    for q in ("q1", "q2"):
        assert massmem("run", "-c", str(team), "--session-id", "torn", q).returncode == 0
    state = massmem_home / "sessions" / "torn" / "state.json"
    state.write_text('{"format": 1, "session_id": "torn", "turns": [{"num')
    done = massmem("run", "-c", str(team), "--session-id", "torn", "--json", "q3")
    assert done.returncode == 1
    assert "was unreadable" in done.stderr and "moved to" in done.stderr
    assert "Traceback" not in done.stderr
    kept = list(state.parent.glob("state.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_text().endswith('"num')

    again = massmem("run", "-c", str(team), "--session-id", "torn", "--json", "q3")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert (result["turn"], result["history_turns"]) == (3, 0)
    assert "no saved state" in again.stderr or result["turn"] == 3


def test_a_corrupt_registry_is_reported_through_the_cli(team: Path, massmem_home: Path) -> None:
    massmem_home.mkdir(parents=True, exist_ok=True)
    (massmem_home / "sessions.db").write_bytes(b"garbage" * 1000)
    done = massmem("run", "--list-sessions")
    assert done.returncode == 1
    assert "moved to" in done.stderr and "Traceback" not in done.stderr
    assert massmem("run", "--list-sessions").stdout.startswith("No sessions yet")


def test_compressions_an_agent_makes_are_kept_in_the_state(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    text = team.read_text().replace("type: scripted\n", "type: scripted\n      context_window: 400\n", 1)
    team.write_text(text)
    done = massmem("run", "-c", str(team), "--session-id", "squeezed", "--no-display", "a question " * 20)
    assert done.returncode == 0, done.stderr
    summaries = state_of(massmem_home, "squeezed")["agents"]["alice"]["summaries"]
    assert summaries, "alice's 400-token window forces compression"
    assert all(s["turn"] == 1 and s["reason"] in ("proactive", "reactive") for s in summaries)
