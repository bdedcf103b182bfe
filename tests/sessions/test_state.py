"""Per-session state files: round trip, atomic writes, corruption, locks, crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from massmem.errors import SessionError, StateCorrupt, UsageError
from massmem.sessions.state import (
    STATE_FORMAT,
    AgentTurn,
    AnswerRecord,
    SessionLock,
    SessionState,
    TurnState,
    TurnWinner,
    VoteRecord,
    config_hash,
    delete_state,
    load_state,
    save_state,
    state_dir,
    state_path,
)


def _turn(number: int, winner: str = "alice", question: str | None = None) -> TurnState:
    return TurnState(
        number=number,
        question=question or f"question {number}",
        final_answer=f"answer {number}",
        winner=winner,
        winning_label="agent1.1",
        votes=[VoteRecord("alice", winner, "good"), VoteRecord("bob", winner, "agreed", implicit=True)],
        answers=[AnswerRecord("agent1.1", winner, f"answer {number}")],
        agents=[
            AgentTurn(
                "alice",
                "voted",
                None,
                1,
                2,
                100,
                20,
                False,
                {"max_messages": None, "messages": [], "pinned": []},
            ),
            AgentTurn("bob", "voted", None, 0, 1, 50, 5, True, None),
        ],
        started_at=1.0,
        finished_at=2.0,
    )


def test_round_trip_keeps_everything() -> None:
    state = SessionState(
        "trip", config={"agents": [{"id": "alice"}]}, config_hash="abc", config_path="t.yaml"
    )
    state.add_turn(_turn(1))
    state.add_turn(_turn(2, winner="bob"))
    state.agents["alice"].summaries.append({"turn": 2, "text": "summary"})
    save_state(state)
    loaded = load_state("trip")
    assert loaded is not None
    assert loaded.to_dict() == state.to_dict()
    assert loaded.winners == [TurnWinner("alice", 1), TurnWinner("bob", 2)]
    assert loaded.turns[1].vote_counts == {"bob": 2}
    assert loaded.agents["alice"].summaries == [{"turn": 2, "text": "summary"}]
    raw = json.loads(state_path("trip").read_text())
    assert raw["format"] == STATE_FORMAT
    assert raw["winners"] == [{"turn": 1, "agent_id": "alice"}, {"turn": 2, "agent_id": "bob"}]


def test_missing_state_is_none() -> None:
    assert load_state("never-saved") is None


def test_turn_numbers_continue_and_never_repeat() -> None:
    state = SessionState("s", turn_offset=4)
    assert state.next_turn == 5
    state.add_turn(_turn(5))
    assert state.next_turn == 6
    with pytest.raises(SessionError):
        state.add_turn(_turn(5))


def test_reset_hides_earlier_turns_from_the_history_but_keeps_them() -> None:
    state = SessionState("s")
    state.add_turn(_turn(1))
    state.add_turn(_turn(2))
    assert state.history() == [("question 1", "answer 1"), ("question 2", "answer 2")]
    state.reset()
    assert state.history() == []
    assert len(state.turns) == 2 and state.next_turn == 3
    assert state.agents["alice"].conversation is None
    state.add_turn(_turn(3))
    assert state.history() == [("question 3", "answer 3")]
    assert [w.turn for w in state.winners] == [1, 2, 3]


@pytest.mark.parametrize(
    "content",
    [b"{ not json", b"\x00\xff\xfe garbage", b"[1, 2, 3]", b'{"format": 1}', b'{"session_id": "s"}'],
)
def test_a_corrupt_state_file_is_moved_aside_and_reported(content: bytes) -> None:
    path = state_path("s")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StateCorrupt, match="moved to"):
        load_state("s")
    assert not path.exists()
    kept = list(path.parent.glob("state.json.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == content
    assert load_state("s") is None  # the next run starts from no state, having been told


def test_a_state_from_another_session_is_not_taken() -> None:
    save_state(SessionState("a"))
    state_path("b").parent.mkdir(parents=True)
    state_path("b").write_bytes(state_path("a").read_bytes())
    with pytest.raises(StateCorrupt, match="belongs to session 'a'"):
        load_state("b")


def test_a_state_from_a_newer_massmem_is_refused_and_left_in_place() -> None:
    path = state_path("s")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": STATE_FORMAT + 1, "session_id": "s"}))
    with pytest.raises(SessionError, match="newer than this massmem") as caught:
        load_state("s")
    assert not isinstance(caught.value, StateCorrupt)
    assert path.exists()


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".hidden", "", "x" * 65, "a\\b"])
def test_unsafe_ids_never_become_paths(bad: str) -> None:
    with pytest.raises(UsageError, match="not a safe name"):
        state_dir(bad)
    with pytest.raises(UsageError):
        load_state(bad)
    with pytest.raises(UsageError):
        save_state(SessionState(bad))
    with pytest.raises(UsageError):
        delete_state(bad)


def test_writes_leave_no_temporary_files() -> None:
    state = SessionState("s")
    for n in range(1, 6):
        state.add_turn(_turn(n))
        save_state(state)
    assert sorted(p.name for p in state_dir("s").iterdir()) == ["state.json"]


def test_delete_state_removes_the_folder() -> None:
    save_state(SessionState("s"))
    assert delete_state("s") is True
    assert not state_dir("s").exists()
    assert delete_state("s") is False


def test_config_hash_is_stable_and_order_free() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash(None) is None


_HOLD = """
import sys, time
from massmem.sessions.state import SessionLock
with SessionLock("busy"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_session_in_use_by_another_process_is_refused(massmem_home: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(SessionError, match=f"in use by another massmem process \\(pid {proc.pid}\\)"):
            SessionLock("busy").acquire()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # The lock dies with its holder: a killed process never leaves a session locked.
    with SessionLock("busy"):
        pass


_STATE_WRITER = """
from massmem.sessions.state import SessionState, TurnState, AgentTurn, save_state
state = SessionState("crashy")
n = 0
while True:
    n += 1
    conv = {"max_messages": None, "messages": [{"kind": "user", "content": "x" * 20000}] * 5, "pinned": []}
    state.add_turn(TurnState(n, "q" * 1000, "a" * 5000, "alice", agents=[AgentTurn("alice", conversation=conv)]))
    save_state(state)
    print(n, flush=True)
"""


@pytest.mark.parametrize("after", [2, 9])
def test_a_process_killed_while_saving_leaves_a_readable_state(massmem_home: Path, after: int) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _STATE_WRITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = 0
    for line in proc.stdout:
        last = int(line)
        if last >= after:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    state = load_state("crashy")
    assert state is not None
    assert last <= state.last_turn <= last + 1
    assert [t.number for t in state.turns] == list(range(1, state.last_turn + 1))
