"""Interactive mode driven in a real pseudo-terminal, as a person at a keyboard drives it."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.teams import write_team

pexpect = pytest.importorskip("pexpect")

PROMPT = "massmem> "


def spawn(*args: str, term: str = "dumb", preexec_fn: Callable[[], None] | None = None) -> pexpect.spawn:
    env = {**os.environ, "TERM": term, "COLUMNS": "120", "LINES": "40"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "massmem", "run", *args],
        env=env,
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 120),
        preexec_fn=preexec_fn,
    )
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    assert child.signalstatus is None
    return int(child.exitstatus)


def state_of(home: Path, session_id: str) -> dict:
    return json.loads((home / "sessions" / session_id / "state.json").read_text())


def conversation_text(saved: dict, agent_id: str) -> str:
    """Everything the agent was shown on the last turn (its saved conversation memory)."""
    messages = saved["agents"][agent_id]["conversation"]["messages"]
    return "\n".join(m.get("content") or "" for m in messages)


def test_ask_status_reset_and_ctrl_d(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    child = spawn("-c", str(team), "--no-display", "--session-id", "chat")
    child.expect("session chat \\(new\\)")
    child.expect_exact(PROMPT)

    child.sendline("What is the first thing?")
    child.expect_exact("Answer one.")
    child.expect_exact(PROMPT)
    # Saved after the turn, while the session is still open.
    saved = state_of(massmem_home, "chat")
    assert [t["question"] for t in saved["turns"]] == ["What is the first thing?"]
    assert saved["winners"] == [{"turn": 1, "agent_id": "alice"}]

    child.sendline("/status")
    child.expect("turns +1 in all, 1 in this run, 1 in the team's context")
    child.expect("last +turn 1 won by alice")
    child.expect_exact(PROMPT)

    # A multi-line question, continued with a backslash: the team sees the earlier turn.
    child.sendline("And the \\")
    child.expect_exact("...> ")
    child.sendline("second?")
    child.expect_exact("Answer two.")
    child.expect_exact(PROMPT)
    saved = state_of(massmem_home, "chat")
    assert saved["turns"][1]["question"] == "And the \nsecond?"
    assert saved["turns"][1]["history_turns"] == 1
    alice = conversation_text(saved, "alice")
    assert "What is the first thing?" in alice and "Answer one." in alice

    child.sendline("/reset")
    child.expect("Reset: the next question starts fresh")
    child.expect_exact(PROMPT)
    saved = state_of(massmem_home, "chat")
    assert saved["reset_after"] == 2
    assert all(a["conversation"] is None for a in saved["agents"].values())

    child.sendline('"""')
    child.sendline("a block")
    child.sendline('of lines"""')
    child.expect_exact("Answer three.")
    child.expect_exact(PROMPT)
    saved = state_of(massmem_home, "chat")
    third = saved["turns"][2]
    assert third["number"] == 3 and third["question"] == "a block\nof lines"
    assert third["history_turns"] == 0
    assert "What is the first thing?" not in conversation_text(saved, "alice")

    child.sendline("/context")
    child.expect("alice")
    child.expect_exact(PROMPT)
    child.sendline("/memory")
    child.expect("Persistent memory is off")
    child.expect_exact(PROMPT)
    child.sendline("/sessions")
    child.expect("chat +active")
    child.expect_exact(PROMPT)
    child.sendline("/history")
    child.expect("1\\. What is the first thing\\?.*before /reset")
    child.expect_exact(PROMPT)
    child.sendline("/nonsense")
    child.expect("unknown command /nonsense")
    child.expect_exact(PROMPT)
    child.sendline("/help")
    child.expect("/reset")
    child.expect_exact(PROMPT)

    child.sendeof()  # Ctrl-D
    assert finish(child) == 0
    listed = json.loads(
        __import__("subprocess")
        .run(
            [sys.executable, "-m", "massmem", "run", "--list-sessions", "--json"],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            check=True,
        )
        .stdout
    )
    assert [(s["id"], s["status"], s["turns"]) for s in listed] == [("chat", "completed", 3)]


def test_ctrl_c_cancels_the_turn_not_the_session(tmp_path: Path, massmem_home: Path) -> None:
    # bob takes 1.5 s per call: Ctrl-C lands while the team is still working.  The default
    # display (a rich live view on a terminal) is used here on purpose.
    team = write_team(tmp_path, bob_latency=1.5)
    child = spawn("-c", str(team), "--session-id", "slow", term="xterm")
    child.expect_exact(PROMPT)
    child.sendline("a slow question")
    # Ctrl-C once the live view shows the team at work (a fixed wait could land before the turn
    # starts on a loaded machine); bob still has more than a second to go.
    child.expect("bob")
    time.sleep(0.2)
    started = time.monotonic()
    child.sendintr()  # Ctrl-C
    child.expect("turn cancelled")
    child.expect_exact(PROMPT)
    assert time.monotonic() - started < 5, "cancelling should not wait for the model"
    assert state_of(massmem_home, "slow")["turns"] == []

    # The session goes on: the next question is answered as turn 1.
    child.sendline("another question")
    child.expect_exact("Answer two.", timeout=30)
    child.expect_exact(PROMPT)
    saved = state_of(massmem_home, "slow")
    assert [(t["number"], t["question"]) for t in saved["turns"]] == [(1, "another question")]

    # Ctrl-C at the prompt drops the line and keeps the session.
    child.send("half typed")
    time.sleep(0.3)
    child.sendintr()
    if child.expect(["input dropped", pexpect.TIMEOUT], timeout=5) == 1:
        # On a loaded machine a Ctrl-C can land before the prompt is reading again; a person
        # would press it once more, and so does the test (it must then work).
        child.sendintr()
        child.expect("input dropped", timeout=15)
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    assert finish(child) == 0


def test_ctrl_c_works_when_started_with_sigint_ignored(tmp_path: Path, massmem_home: Path) -> None:
    """A shell without job control starts ``massmem run ... &`` with SIGINT ignored; on a
    terminal, Ctrl-C must still cancel the turn."""
    team = write_team(tmp_path, bob_latency=1.5)
    child = spawn(
        "-c",
        str(team),
        "--session-id",
        "ignored",
        "--no-display",
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    child.expect_exact(PROMPT)
    child.sendline("a slow question")
    time.sleep(0.5)
    child.sendintr()
    child.expect("turn cancelled", timeout=10)
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    assert finish(child) == 0


def test_resume_in_a_second_process_keeps_the_history(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    first = spawn("-c", str(team), "--no-display", "--session-id", "resumable")
    first.expect_exact(PROMPT)
    first.sendline("Where do we start?")
    first.expect_exact("Answer one.")
    first.expect_exact(PROMPT)
    first.sendeof()
    assert finish(first) == 0

    second = spawn("-c", str(team), "--no-display", "--resume", "resumable")
    second.expect("session resumable · resuming at turn 2 \\(1 earlier turn\\(s\\) in context\\)")
    second.expect_exact(PROMPT)
    second.sendline("Where next?")
    second.expect_exact("Answer one.")  # a fresh process: the script starts again
    second.expect_exact(PROMPT)
    second.sendeof()
    assert finish(second) == 0

    saved = state_of(massmem_home, "resumable")
    assert [t["number"] for t in saved["turns"]] == [1, 2]
    assert saved["turns"][1]["history_turns"] == 1
    prompt = conversation_text(saved, "alice")
    assert "Where do we start?" in prompt and "Answer one." in prompt and "Where next?" in prompt


def test_history_file_is_written_under_massmem_home(tmp_path: Path, massmem_home: Path) -> None:
    team = write_team(tmp_path)
    child = spawn("-c", str(team), "--no-display")
    child.expect_exact(PROMPT)
    child.sendline("/status")
    child.expect_exact(PROMPT)
    child.sendeof()
    assert finish(child) == 0
    assert "/status" in (massmem_home / "repl_history").read_text()
