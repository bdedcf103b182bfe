"""The session registry: ordering, collision-safe ids, corruption, several processes at once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from massmem.errors import SessionError, SessionNotFound, StateCorrupt, UsageError
from massmem.sessions import SessionRegistry
from massmem.sessions.migrations import MIGRATIONS
from tests.cli.teams import run_massmem


def test_ids_from_the_clock_never_collide() -> None:
    registry = SessionRegistry()
    first = registry.create(now=1_800_000_000.0)
    second = registry.create(now=1_800_000_000.0)
    assert first.id != second.id
    assert second.id == f"{first.id}_2"


def test_newest_first_and_limit() -> None:
    registry = SessionRegistry()
    ids = [registry.create(now=1_800_000_000.0 + i).id for i in range(5)]
    assert [r.id for r in registry.list()] == ids[::-1]
    assert [r.id for r in registry.list(limit=2)] == ids[::-1][:2]
    assert registry.count() == 5


def test_update_and_unknown_ids() -> None:
    registry = SessionRegistry()
    record = registry.create(models=["scripted:x"], question="q")
    updated = registry.update(record.id, status="completed", add_turns=1)
    assert (updated.status, updated.turns) == ("completed", 1)
    assert registry.get(record.id).status == "completed"
    with pytest.raises(SessionNotFound, match=record.id):
        registry.get("nope")
    with pytest.raises(UsageError):
        registry.create(session_id="../escape")


def test_a_corrupt_registry_is_kept_aside_and_reported(massmem_home: Path) -> None:
    registry = SessionRegistry()
    registry.path.parent.mkdir(parents=True, exist_ok=True)
    registry.path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateCorrupt, match="moved to"):
        registry.list()
    kept = list(registry.path.parent.glob("sessions.db.corrupt-*"))
    assert len(kept) == 1
    assert kept[0].read_bytes().startswith(b"this is not a database")
    # The next use starts a fresh registry instead of failing forever.
    assert registry.create().status == "active"


def test_processes_writing_at_once_lose_nothing(massmem_home: Path) -> None:
    worker = (
        "from massmem.sessions import SessionRegistry\n"
        "r = SessionRegistry()\n"
        "for _ in range(25):\n"
        "    s = r.create()\n"
        "    r.update(s.id, status='completed', add_turns=1)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", worker]) for _ in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = SessionRegistry().list()
    assert len(records) == 100
    assert len({r.id for r in records}) == 100
    assert all(r.status == "completed" and r.turns == 1 for r in records)


# -- format versions -------------------------------------------------------------------------------

V1_SCHEMA = """
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    config_path TEXT,
    models      TEXT NOT NULL DEFAULT '[]',
    question    TEXT,
    description TEXT,
    turns       INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX sessions_created ON sessions(created_at DESC);
PRAGMA user_version = 1;
"""


def _write_v1(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.execute(
        "INSERT INTO sessions VALUES ('old-one', 'completed', 1700000000, 1700000100, 'team.yaml', "
        "'[\"scripted:x\"]', 'what?', 'a v1 session', 3, NULL)"
    )
    db.commit()
    db.close()


def test_a_v1_registry_is_upgraded_in_place_and_keeps_its_rows() -> None:
    registry = SessionRegistry()
    _write_v1(registry.path)
    record = registry.get("old-one")
    assert registry.version == len(MIGRATIONS) == 3
    assert (record.status, record.turns, record.question, record.description) == (
        "completed",
        3,
        "what?",
        "a v1 session",
    )
    assert (record.last_answer, record.winner, record.config_hash) == (None, None, None)
    assert (record.owner_pid, record.owner_start) == (None, None)  # rows from before owners: left alone
    updated = registry.update("old-one", add_turns=1, last_answer="42", winner="alice", config_hash="abc")
    assert (updated.turns, updated.last_answer, updated.winner) == (4, "42", "alice")
    assert registry.get("old-one").config_hash == "abc"


def test_migrations_run_once_even_with_processes_racing(massmem_home: Path) -> None:
    registry = SessionRegistry()
    _write_v1(registry.path)
    worker = "from massmem.sessions import SessionRegistry\nSessionRegistry().list()\n"
    procs = [subprocess.Popen([sys.executable, "-c", worker]) for _ in range(4)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    assert registry.version == len(MIGRATIONS)
    assert registry.get("old-one").turns == 3


def test_a_registry_from_a_newer_massmem_is_refused_and_left_alone() -> None:
    registry = SessionRegistry()
    registry.create(session_id="keep-me")
    db = sqlite3.connect(registry.path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(SessionError, match="newer than this massmem"):
        registry.list()
    assert registry.path.exists()
    assert not list(registry.path.parent.glob("sessions.db.corrupt-*"))


def test_damaged_pages_are_quarantined_with_the_write_ahead_log(massmem_home: Path) -> None:
    registry = SessionRegistry()
    for i in range(200):
        registry.create(session_id=f"s{i}", question="x" * 500)
    # Scribble over the middle of the file, past the header: the damage shows up mid-query.
    raw = bytearray(registry.path.read_bytes())
    raw[8192:40960] = b"\xff" * (40960 - 8192)
    registry.path.write_bytes(bytes(raw))
    with pytest.raises(StateCorrupt, match="moved to"):
        registry.list()
    assert len(list(registry.path.parent.glob("sessions.db.corrupt-*"))) >= 1
    assert registry.list() == []


def test_a_busy_registry_is_reported_not_quarantined(massmem_home: Path) -> None:
    registry = SessionRegistry()
    registry.create(session_id="held")
    holder = sqlite3.connect(registry.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(SessionError, match="another massmem process is writing") as caught:
            SessionRegistry(timeout=0.2).update("held", add_turns=1)
        assert not isinstance(caught.value, StateCorrupt)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(registry.path.parent.glob("sessions.db.corrupt-*"))
    assert SessionRegistry().get("held").turns == 0


# -- many processes, and processes killed mid-write -------------------------------------------------

_EIGHT_BY_HUNDRED = """
import sys
from massmem.sessions import SessionRegistry
r = SessionRegistry()
mine = r.create(session_id=f"worker-{sys.argv[1]}")
for _ in range(100):
    r.update("shared", add_turns=1)
    r.update(mine.id, add_turns=1, question="q")
"""


def test_eight_processes_times_a_hundred_updates_lose_nothing(massmem_home: Path) -> None:
    SessionRegistry().create(session_id="shared")
    procs = [subprocess.Popen([sys.executable, "-c", _EIGHT_BY_HUNDRED, str(n)]) for n in range(8)]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    registry = SessionRegistry()
    assert registry.get("shared").turns == 800
    workers = [r for r in registry.list() if r.id.startswith("worker-")]
    assert len(workers) == 8
    assert all(r.turns == 100 for r in workers)
    assert registry.integrity() == "ok"


_WRITER = """
import sys
from massmem.sessions import SessionRegistry
r = SessionRegistry()
n = 0
while True:
    r.update("victim", add_turns=1, last_answer=str(n) * 20000)
    n += 1
    r.create(question="y" * 5000)
    print(n, flush=True)
"""


@pytest.mark.parametrize("after", [3, 17, 40])
def test_a_process_killed_mid_write_leaves_a_readable_registry(massmem_home: Path, after: int) -> None:
    SessionRegistry().create(session_id="victim")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = 0
    for line in proc.stdout:
        last = int(line)
        if last >= after:
            break
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up, no atexit: as a crash
    proc.wait(timeout=30)
    registry = SessionRegistry()
    assert registry.integrity() == "ok"
    turns = registry.get("victim").turns
    # Every update the writer saw committed is there; at most one more committed unseen.
    assert last <= turns <= last + 1
    assert registry.count() >= 1 + last
    # And the registry keeps working.
    assert registry.update("victim", add_turns=1).turns == turns + 1


def test_an_error_with_a_key_is_scrubbed_before_it_is_stored(massmem_home: Path) -> None:
    """The registry scrubs its error column itself, whatever a caller passed (issue 12)."""
    key = "sk-SENTINELREGISTRY-9d8c7b6a5f"
    masked = "sk-SENTI**********3XYZ"
    registry = SessionRegistry()
    record = registry.create(session_id="leaky")
    registry.update(record.id, status="failed", error=f"HTTP 401 for {key}: Incorrect API key {masked}.")

    stored = registry.get(record.id).error or ""
    assert "HTTP 401 for ***" in stored and "Incorrect API key ***." in stored
    files = [p for p in massmem_home.rglob("sessions.db*") if p.is_file()]
    assert files
    for path in files:
        assert b"SENTI" not in path.read_bytes(), path
    listed = run_massmem("sessions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "SENTI" not in listed.stdout and "SENTI" not in listed.stderr
    assert json.loads(listed.stdout)[0]["error"] == stored
