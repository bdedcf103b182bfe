"""The session registry: one SQLite file under ``MASSMEM_HOME``.

SQLite gives us what a JSON file cannot: atomic, crash-safe updates and
several processes writing at once without losing each other's rows.  The
format is versioned with ``PRAGMA user_version`` and ordered migrations, so
a newer massmem upgrades an older registry in place.  A file that is not a
database is moved aside and reported — never silently replaced.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from massmem import paths
from massmem.errors import SessionNotFound, StateCorrupt, UsageError
from massmem.ids import is_safe_id

__all__ = ["SessionRecord", "SessionRegistry", "SessionStatus"]

SessionStatus = Literal["active", "completed", "failed", "interrupted"]


def _migration_1(db: sqlite3.Connection) -> None:
    db.execute(
        """
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
        )
        """
    )
    db.execute("CREATE INDEX sessions_created ON sessions(created_at DESC)")


#: Ordered migrations; index + 1 is the schema version each one produces.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_migration_1,)


@dataclass(slots=True)
class SessionRecord:
    id: str
    status: SessionStatus
    created_at: float
    updated_at: float
    config_path: str | None = None
    models: list[str] = field(default_factory=list)
    question: str | None = None
    description: str | None = None
    turns: int = 0
    error: str | None = None

    @property
    def started(self) -> str:
        return datetime.fromtimestamp(self.created_at).strftime("%Y-%m-%d %H:%M:%S")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "started": datetime.fromtimestamp(self.created_at).isoformat(timespec="seconds"),
            "updated": datetime.fromtimestamp(self.updated_at).isoformat(timespec="seconds"),
            "config_path": self.config_path,
            "models": self.models,
            "question": self.question,
            "description": self.description,
            "turns": self.turns,
            "error": self.error,
        }


_COLUMNS = "id, status, created_at, updated_at, config_path, models, question, description, turns, error"


def _row_to_record(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(
        id=row[0],
        status=row[1],
        created_at=row[2],
        updated_at=row[3],
        config_path=row[4],
        models=json.loads(row[5] or "[]"),
        question=row[6],
        description=row[7],
        turns=row[8],
        error=row[9],
    )


class SessionRegistry:
    """All sessions known on this machine (per ``MASSMEM_HOME``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.home() / "sessions.db"

    # -- connection -----------------------------------------------------------------------------
    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA busy_timeout = 30000")
            try:
                self._migrate(db)
            except sqlite3.DatabaseError as exc:
                db.close()
                raise self._quarantine(exc) from None
            if write:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            else:
                yield db
        finally:
            db.close()

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if version == 0:
            db.execute("PRAGMA journal_mode = WAL")

    def _quarantine(self, exc: Exception) -> StateCorrupt:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(aside)
        except OSError:
            return StateCorrupt(
                f"the session registry {self.path} cannot be read ({exc}); move it away and retry"
            )
        return StateCorrupt(
            f"the session registry {self.path} was unreadable ({exc}); it was moved to {aside} "
            "and a new registry will be started on the next run"
        )

    # -- writes ---------------------------------------------------------------------------------
    def create(
        self,
        *,
        session_id: str | None = None,
        config_path: str | None = None,
        models: Sequence[str] = (),
        question: str | None = None,
        description: str | None = None,
        now: float | None = None,
    ) -> SessionRecord:
        """Register a new active session.  Without an id, one is made from the time (collision-safe)."""
        now = time.time() if now is None else now
        if session_id is not None and not is_safe_id(session_id):
            raise UsageError(f"session id {session_id!r} is not a safe name (letters, digits, '_', '.', '-')")
        base = session_id or datetime.fromtimestamp(now).strftime("session_%Y%m%d_%H%M%S")
        with self._connect(write=True) as db:
            candidate, n = base, 1
            while db.execute("SELECT 1 FROM sessions WHERE id = ?", (candidate,)).fetchone():
                if session_id is not None:
                    raise UsageError(f"session {session_id!r} already exists")
                n += 1
                candidate = f"{base}_{n}"
            db.execute(
                f"INSERT INTO sessions ({_COLUMNS}) VALUES (?, 'active', ?, ?, ?, ?, ?, ?, 0, NULL)",
                (candidate, now, now, config_path, json.dumps(list(models)), question, description),
            )
        return SessionRecord(
            id=candidate,
            status="active",
            created_at=now,
            updated_at=now,
            config_path=config_path,
            models=list(models),
            question=question,
            description=description,
        )

    def update(
        self,
        session_id: str,
        *,
        status: SessionStatus | None = None,
        add_turns: int = 0,
        question: str | None = None,
        error: str | None = None,
    ) -> SessionRecord:
        with self._connect(write=True) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no session {session_id!r}")
            record = _row_to_record(row)
            record.status = status or record.status
            record.turns += add_turns
            record.question = question if question is not None else record.question
            record.error = error
            record.updated_at = time.time()
            db.execute(
                "UPDATE sessions SET status=?, turns=?, question=?, error=?, updated_at=? WHERE id=?",
                (record.status, record.turns, record.question, record.error, record.updated_at, session_id),
            )
        return record

    def delete(self, session_id: str) -> None:
        with self._connect(write=True) as db:
            if db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount == 0:
                raise SessionNotFound(f"no session {session_id!r}")

    # -- reads ----------------------------------------------------------------------------------
    def get(self, session_id: str) -> SessionRecord:
        if not self.path.exists():
            raise SessionNotFound(f"no session {session_id!r} (no sessions recorded yet)")
        with self._connect(write=False) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            recent = ", ".join(r.id for r in self.list(limit=5)) or "none"
            raise SessionNotFound(f"no session {session_id!r}; recent sessions: {recent}")
        return _row_to_record(row)

    def list(self, *, limit: int | None = None) -> list[SessionRecord]:
        """Sessions newest first."""
        if not self.path.exists():
            return []
        query = f"SELECT {_COLUMNS} FROM sessions ORDER BY created_at DESC, id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            params = (limit,)
        with self._connect(write=False) as db:
            return [_row_to_record(row) for row in db.execute(query, params)]

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect(write=False) as db:
            return int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
