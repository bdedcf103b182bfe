"""Opening, resuming, deleting and exporting sessions (registry + state together)."""

from __future__ import annotations

import pytest

from massmem.errors import SessionError, SessionNotFound, StateCorrupt, UsageError
from massmem.sessions import SessionRegistry, delete_session, export_session, open_session
from massmem.sessions.state import AgentTurn, SessionLock, TurnState, load_state, state_dir, state_path

CONFIG = {"agents": [{"id": "alice", "backend": {"type": "scripted", "api_key": "**********"}}]}


def _turn(number: int, question: str = "q", answer: str = "a") -> TurnState:
    conv = {"max_messages": None, "messages": [{"kind": "user", "content": question}], "pinned": [0]}
    return TurnState(number, question, answer, "alice", agents=[AgentTurn("alice", conversation=conv)])


def test_a_new_session_gets_a_clock_id_and_saved_state() -> None:
    session = open_session(config=CONFIG, config_path="t.yaml", models=["scripted:x"])
    try:
        assert session.created and session.id.startswith("session_")
        saved = load_state(session.id)
        assert saved is not None and saved.config == CONFIG and saved.config_hash
        record = SessionRegistry().get(session.id)
        assert (record.status, record.config_hash) == ("active", saved.config_hash)
    finally:
        session.finish("completed")


def test_resume_carries_history_winners_and_turn_numbers() -> None:
    first = open_session(session_id="trip", config=CONFIG)
    assert first.created
    first.record_turn(_turn(1, "Where to?", "Lisbon"))
    first.finish("completed")

    again = open_session(session_id="trip", config=CONFIG)
    try:
        assert not again.created
        assert again.history() == [("Where to?", "Lisbon")]
        assert again.state.next_turn == 2
        assert [tuple(w) for w in again.state.winners] == [("alice", 1)]
        record = SessionRegistry().get("trip")
        assert (record.turns, record.last_answer, record.winner, record.status) == (
            1,
            "Lisbon",
            "alice",
            "active",
        )
    finally:
        again.finish("completed")


def test_must_exist_and_generated_looking_ids_are_not_created() -> None:
    open_session(session_id="known").finish("completed")
    with pytest.raises(SessionNotFound, match="recent sessions: known"):
        open_session(session_id="unknown", must_exist=True)
    with pytest.raises(SessionNotFound, match="no session 'session_20240101_120000'"):
        open_session(session_id="session_20240101_120000")
    # Nothing was left behind by the refusals.
    assert not state_dir("unknown").exists()
    assert [r.id for r in SessionRegistry().list()] == ["known"]


def test_unsafe_ids_are_refused() -> None:
    with pytest.raises(UsageError, match="not a safe name"):
        open_session(session_id="../../etc")
    with pytest.raises(UsageError):
        delete_session("../x")
    with pytest.raises(UsageError):
        export_session("a/b")


def test_a_session_open_elsewhere_cannot_be_opened_or_deleted() -> None:
    session = open_session(session_id="busy")
    try:
        # flock is per open file: a second lock in the same process conflicts like another process.
        with pytest.raises(SessionError, match="in use"):
            open_session(session_id="busy")
        with pytest.raises(SessionError, match="in use"):
            delete_session("busy")
    finally:
        session.finish("completed")
    delete_session("busy")


def test_a_lost_registry_row_is_rebuilt_from_the_state() -> None:
    session = open_session(session_id="survivor", config=CONFIG)
    session.record_turn(_turn(1))
    session.record_turn(_turn(2))
    session.finish("completed")
    SessionRegistry().path.unlink()  # e.g. a corrupt registry was set aside

    again = open_session(session_id="survivor", config=CONFIG)
    try:
        assert not again.created
        assert any("re-registered" in n for n in again.notes)
        assert again.state.next_turn == 3
        assert SessionRegistry().get("survivor").turns == 2
    finally:
        again.finish("completed")


def test_a_corrupt_state_is_reported_then_turn_numbers_carry_on() -> None:
    session = open_session(session_id="damaged")
    session.record_turn(_turn(1))
    session.record_turn(_turn(2))
    session.finish("completed")
    state_path("damaged").write_text("{ torn")
    with pytest.raises(StateCorrupt, match="moved to"):
        open_session(session_id="damaged")
    assert list(state_dir("damaged").glob("state.json.corrupt-*"))
    again = open_session(session_id="damaged")
    try:
        assert again.history() == []
        assert again.state.next_turn == 3
        assert any("no saved state" in n for n in again.notes)
    finally:
        again.finish("completed")


def test_a_changed_config_is_noted() -> None:
    open_session(session_id="t", config=CONFIG).finish("completed")
    again = open_session(session_id="t", config={"agents": [{"id": "bob"}]})
    try:
        assert any("config differs" in n for n in again.notes)
    finally:
        again.finish("completed")


def test_delete_calls_the_memory_hook_first_and_removes_everything() -> None:
    session = open_session(session_id="gone")
    session.record_turn(_turn(1))
    session.finish("completed")
    seen: list[str] = []

    def hook(session_id: str) -> int:
        seen.append(session_id)
        return 7

    report = delete_session("gone", delete_memories=hook)
    assert seen == ["gone"]
    assert (report.memories, report.registry_row, report.state_folder) == (7, True, True)
    assert not state_dir("gone").exists()
    assert SessionRegistry().find("gone") is None
    with pytest.raises(SessionNotFound):
        delete_session("gone")


def test_a_failing_memory_hook_leaves_the_session_whole() -> None:
    open_session(session_id="kept").finish("completed")

    def hook(session_id: str) -> int:
        raise SessionError("memory store is locked")

    with pytest.raises(SessionError, match="locked"):
        delete_session("kept", delete_memories=hook)
    assert state_path("kept").exists()
    assert SessionRegistry().find("kept") is not None


def test_delete_without_a_memory_hook_says_so() -> None:
    open_session(session_id="x").finish("completed")
    report = delete_session("x")
    assert report.memories is None and "not available" in (report.memory_note or "")


def test_export_holds_row_and_state_with_secrets_scrubbed() -> None:
    session = open_session(session_id="exp", config=CONFIG)
    session.record_turn(_turn(1, "my key is sk-abcdefghijklmnop1234, keep it", "noted"))
    session.finish("completed")
    data = export_session("exp")
    assert data["session"]["id"] == "exp" and data["session"]["turns"] == 1
    assert data["state"]["turns"][0]["final_answer"] == "noted"
    text = str(data)
    assert "sk-abcdefghijklmnop1234" not in text
    assert "my key is ***" in data["state"]["turns"][0]["question"]
    with pytest.raises(SessionNotFound):
        export_session("nope")


def test_lock_is_released_after_finish() -> None:
    session = open_session(session_id="free")
    with pytest.raises(SessionError, match="in use by another massmem process"):
        SessionLock("free").acquire()  # held while the session is open
    session.finish("completed")
    lock = SessionLock("free").acquire()  # free again once it finished: taken without a refusal
    try:
        with pytest.raises(SessionError, match="in use"):
            SessionLock("free").acquire()  # and really held by the new taker
    finally:
        lock.release()
