"""The session registry: ordering, collision-safe ids, corruption, several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from massmem.errors import SessionNotFound, StateCorrupt, UsageError
from massmem.sessions import SessionRegistry


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
