"""The session registry: one SQLite file under ``MASSMEM_HOME``.

SQLite gives us what a JSON file cannot: atomic, crash-safe updates and
several processes writing at once without losing each other's rows.  Every
write runs in a ``BEGIN IMMEDIATE`` transaction (read-modify-write included),
the journal is a write-ahead log, and a process killed mid-write leaves the
last committed state behind.

The format is versioned with ``PRAGMA user_version`` and ordered migrations
(:mod:`massmem.sessions.migrations`), so a newer massmem upgrades an older registry in
place; a registry written by a *newer* massmem is refused with a clear message, never
downgraded.  A file that is not a database (or whose pages are damaged) is
moved aside with its ``-wal``/``-shm`` companions and reported — never
silently replaced.  The per-session details (every turn, every agent's
conversation) live in state files next to it: :mod:`massmem.sessions.state`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from massmem import paths
from massmem.errors import (
    MassmemError,
    SessionError,
    SessionNotFound,
    StateCorrupt,
    StorageError,
    UsageError,
    redact,
)
from massmem.ids import is_safe_id
from massmem.sessions.migrations import MIGRATIONS
from massmem.sessions.owners import current_owner, owner_alive

__all__ = [
    "AUTO_ID_PATTERN",
    "SessionRecord",
    "SessionRegistry",
    "SessionStatus",
    "check_session_id",
]

SessionStatus = Literal["active", "completed", "failed", "interrupted"]

#: ids massmem makes itself (``session_20251028_143000`` or ``..._2``)
AUTO_ID_PATTERN = r"session_\d{8}_\d{6}(?:_\d+)?"


def check_session_id(session_id: str) -> str:
    """``session_id`` if it may become a file name; a :class:`UsageError` otherwise."""
    if not is_safe_id(session_id):
        raise UsageError(
            f"session id {session_id!r} is not a safe name: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, with no '/' and no '..'"
        )
    return session_id


#: sqlite result codes that mean the file itself is damaged (not busy, not read-only)
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
#: sqlite result codes for a file or folder that cannot be written, and for a full disk
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14


def _is_unwritable(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN)
    text = str(exc).lower()
    return "readonly" in text or "unable to open" in text


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


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
    last_answer: str | None = None
    winner: str | None = None
    config_hash: str | None = None
    #: the process using the session while it is ``active`` (pid, start time from /proc)
    owner_pid: int | None = None
    owner_start: str | None = None

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
            "last_answer": self.last_answer,
            "winner": self.winner,
            "config_hash": self.config_hash,
        }


_COLUMNS = (
    "id, status, created_at, updated_at, config_path, models, question, description, turns, error, "
    "last_answer, winner, config_hash, owner_pid, owner_start"
)


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
        last_answer=row[10],
        winner=row[11],
        config_hash=row[12],
        owner_pid=row[13],
        owner_start=row[14],
    )


#: longest text a registry column keeps (a list shows one line; the state file keeps it whole)
MAX_COLUMN_CHARS = 2000


def _clip(text: str | None) -> str | None:
    """``text`` cut to :data:`MAX_COLUMN_CHARS`: a pasted megabyte must not bloat every listing."""
    if text is None or len(text) <= MAX_COLUMN_CHARS:
        return text
    return text[: MAX_COLUMN_CHARS - 1] + "…"


_UNSET: Any = object()
#: spelled out here because ``SessionRegistry.list`` shadows the builtin inside the class
_Records = list[SessionRecord]


class SessionRegistry:
    """All sessions known on this machine (per ``MASSMEM_HOME``)."""

    def __init__(self, path: Path | None = None, *, timeout: float = 30.0) -> None:
        self.path = path or paths.home() / "sessions.db"
        #: seconds a write waits for another process's write to finish
        self.timeout = timeout

    # -- connection -----------------------------------------------------------------------------
    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        paths.ensure_dir(self.path.parent)
        corrupt: sqlite3.Error | None = None
        db = self._open()
        try:
            try:
                try:
                    db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                    self._migrate(db)
                except sqlite3.OperationalError as exc:
                    if write or not _is_unwritable(exc):
                        raise
                    # A read-only MASSMEM_HOME (or file): listing must still work.
                    db.close()
                    db = self._open_read_only(exc)
                if write:
                    db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if write:
                        with suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
                if write:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                if not _is_corruption(exc):
                    raise self._failure(exc) from exc
                corrupt = exc
        finally:
            db.close()
        if corrupt is not None:
            raise self._quarantine(corrupt) from None

    def _open(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._failure(exc) from exc

    def _open_read_only(self, first: sqlite3.Error) -> sqlite3.Connection:
        """The registry opened for reading only, for a folder or file this process cannot write.

        ``mode=ro`` still needs the write-ahead log's index file; ``immutable=1`` does not (and
        nobody can be writing to a registry in a folder that cannot be written).
        """
        for query in ("mode=ro", "immutable=1"):
            uri = f"{self.path.resolve().as_uri()}?{query}"
            db = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
            try:
                version = db.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.Error:
                db.close()
                continue
            if version != len(MIGRATIONS):
                db.close()
                raise StorageError(
                    f"the session registry {self.path} has format {version} and cannot be upgraded to "
                    f"{len(MIGRATIONS)} because it cannot be written ({first}) — make MASSMEM_HOME "
                    f"({self.path.parent}) writable once"
                )
            return db
        raise self._failure(first)

    def _failure(self, exc: sqlite3.Error) -> MassmemError:
        """What a failed registry operation tells the user: the file, the reason, what to do."""
        if "locked" in str(exc):
            return SessionError(
                f"the session registry {self.path} failed: {exc} (another massmem process is writing; try again)"
            )
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == _SQLITE_FULL:
            return StorageError(
                f"cannot write the session registry {self.path}: {exc} — free some space on that disk, "
                "or set MASSMEM_HOME to a folder on another disk"
            )
        if _is_unwritable(exc) or code == _SQLITE_IOERR:
            return StorageError(
                f"cannot write the session registry {self.path}: {exc} — MASSMEM_HOME ({self.path.parent}) "
                "must be a folder you can write: fix its permissions or set MASSMEM_HOME to another folder"
            )
        return SessionError(f"the session registry {self.path} failed: {exc}")

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return
        if version > len(MIGRATIONS):
            raise SessionError(
                f"the session registry {self.path} has format {version}, newer than this massmem "
                f"understands ({len(MIGRATIONS)}); upgrade massmem to use it (the file was left untouched)"
            )
        db.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        if version == 0:
            self._use_wal(db)

    @staticmethod
    def _use_wal(db: sqlite3.Connection) -> None:
        """Switch a new registry to write-ahead logging (readers never wait for a writer).

        The switch needs the file to itself; while other processes are opening it the
        attempt can be refused.  The setting is persistent, so the first attempt that gets
        through is enough — and a registry left in rollback-journal mode is still correct.
        """
        for _ in range(20):
            try:
                if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                    return
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)

    def _quarantine(self, exc: Exception) -> StateCorrupt:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        try:
            self.path.replace(aside)
        except OSError:
            return StateCorrupt(
                f"the session registry {self.path} cannot be read ({exc}); move it away and retry"
            )
        # A stale write-ahead log must not be replayed into the fresh registry.
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            with suppress(OSError):
                if companion.exists():
                    companion.replace(aside.with_name(aside.name + suffix))
        return StateCorrupt(
            f"the session registry {self.path} was unreadable ({exc}); it was moved to {aside} "
            "and a new registry will be started on the next run (session state folders under "
            f"{self.path.parent / 'sessions'} are untouched)"
        )

    @property
    def version(self) -> int:
        """The schema version of the file (0 when there is none yet)."""
        if not self.path.exists():
            return 0
        with self._connect(write=False) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])

    # -- writes ---------------------------------------------------------------------------------
    def create(
        self,
        *,
        session_id: str | None = None,
        config_path: str | None = None,
        models: Sequence[str] = (),
        question: str | None = None,
        description: str | None = None,
        config_hash: str | None = None,
        turns: int = 0,
        now: float | None = None,
    ) -> SessionRecord:
        """Register a new active session.  Without an id, one is made from the time (collision-safe)."""
        now = time.time() if now is None else now
        if session_id is not None:
            check_session_id(session_id)
        config_path, question, description = _clip(config_path), _clip(question), _clip(description)
        models = [_clip(m) or "" for m in models]
        owner = current_owner()
        base = session_id or datetime.fromtimestamp(now).strftime("session_%Y%m%d_%H%M%S")
        with self._connect(write=True) as db:
            candidate, n = base, 1
            while db.execute("SELECT 1 FROM sessions WHERE id = ?", (candidate,)).fetchone():
                if session_id is not None:
                    raise UsageError(f"session {session_id!r} already exists")
                n += 1
                candidate = f"{base}_{n}"
            db.execute(
                f"INSERT INTO sessions ({_COLUMNS}) "
                "VALUES (?, 'active', ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)",
                (
                    candidate,
                    now,
                    now,
                    config_path,
                    json.dumps(list(models)),
                    question,
                    description,
                    turns,
                    config_hash,
                    *owner,
                ),
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
            turns=turns,
            config_hash=config_hash,
            owner_pid=owner[0],
            owner_start=owner[1],
        )

    def update(
        self,
        session_id: str,
        *,
        status: SessionStatus | None = None,
        add_turns: int = 0,
        turns: int | None = None,
        question: str | None = None,
        error: str | None = None,
        last_answer: str | None = None,
        winner: str | None = None,
        models: Sequence[str] | None = None,
        config_path: str | None = _UNSET,
        config_hash: str | None = None,
    ) -> SessionRecord:
        """Change one row atomically (the read and the write share one transaction).

        ``turns`` sets the count (it never goes down); ``add_turns`` adds to it.  ``error`` is
        replaced on every update, so a successful turn clears an earlier failure.

        ``error`` is scrubbed with :func:`~massmem.errors.redact` (key patterns, masked echoes
        such as ``sk-SENTI**********3XYZ``, and every key this process registered) before it is
        stored: the column is shown by ``sessions list`` and kept on disk, and a caller's
        message must not depend on having been scrubbed upstream.  It is scrubbed before it is
        clipped, so a cut never leaves half a key that the patterns no longer match.
        """
        error = redact(error) if error is not None else None
        question, error, last_answer = _clip(question), _clip(error), _clip(last_answer)
        if config_path is not _UNSET:
            config_path = _clip(config_path)
        if models is not None:
            models = [_clip(m) or "" for m in models]
        with self._connect(write=True) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise SessionNotFound(f"no session {session_id!r}")
            record = _row_to_record(row)
            record.status = status or record.status
            record.turns += add_turns
            if turns is not None:
                record.turns = max(record.turns, turns)
            record.question = question if question is not None else record.question
            record.last_answer = last_answer if last_answer is not None else record.last_answer
            record.winner = winner if winner is not None else record.winner
            record.models = list(models) if models is not None else record.models
            record.config_path = record.config_path if config_path is _UNSET else config_path
            record.config_hash = config_hash if config_hash is not None else record.config_hash
            record.error = error
            record.updated_at = time.time()
            if status == "active":  # this process takes the session over
                record.owner_pid, record.owner_start = current_owner()
            elif status is not None:
                record.owner_pid = record.owner_start = None
            db.execute(
                "UPDATE sessions SET status=?, turns=?, question=?, error=?, updated_at=?, last_answer=?, "
                "winner=?, models=?, config_path=?, config_hash=?, owner_pid=?, owner_start=? WHERE id=?",
                (
                    record.status,
                    record.turns,
                    record.question,
                    record.error,
                    record.updated_at,
                    record.last_answer,
                    record.winner,
                    json.dumps(record.models),
                    record.config_path,
                    record.config_hash,
                    record.owner_pid,
                    record.owner_start,
                    session_id,
                ),
            )
        return record

    def delete(self, session_id: str) -> None:
        with self._connect(write=True) as db:
            if db.execute("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount == 0:
                raise SessionNotFound(f"no session {session_id!r}")

    # -- reads ----------------------------------------------------------------------------------
    def find(self, session_id: str) -> SessionRecord | None:
        """The session, or ``None`` when no session has that id."""
        if not self.path.exists():
            return None
        with self._connect(write=False) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        record = _row_to_record(row)
        self._reap([record])
        return record

    def get(self, session_id: str) -> SessionRecord:
        record = self.find(session_id)
        if record is None:
            raise SessionNotFound(self.not_found_message(session_id))
        return record

    def not_found_message(self, session_id: str) -> str:
        """``no session 'x'`` plus the most recent ids, so a typo is easy to fix."""
        recent = ", ".join(r.id for r in self.list(limit=5)) if self.path.exists() else ""
        tail = f"recent sessions: {recent}" if recent else "no sessions recorded yet"
        return f"no session {session_id!r}; {tail} (massmem sessions list shows them all)"

    def list(self, *, limit: int | None = None) -> list[SessionRecord]:
        """Sessions newest first."""
        return self.page(limit=limit)[0]

    def page(self, *, limit: int | None = None) -> tuple[_Records, int]:
        """Sessions newest first and how many there are in all, in one read."""
        if not self.path.exists():
            return [], 0
        query = f"SELECT {_COLUMNS} FROM sessions ORDER BY created_at DESC, id DESC"
        params: tuple[Any, ...] = ()
        if limit is not None:
            query += " LIMIT ?"
            params = (limit,)
        with self._connect(write=False) as db:
            db.execute("BEGIN")  # one snapshot for the rows and the count
            records = [_row_to_record(row) for row in db.execute(query, params)]
            total = int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
            db.execute("COMMIT")
        self._reap(records)
        return records, total

    def _reap(self, records: Sequence[SessionRecord]) -> None:
        """Mark ``active`` sessions whose process is gone (``kill -9``, a crash) as interrupted.

        Such a session would otherwise stay ``active`` forever.  The row changes only if the
        same process still owns it (a resume that took it over meanwhile is left alone); a
        registry that cannot be written (read-only ``MASSMEM_HOME``) is only reported so.
        """
        for record in records:
            if record.status != "active" or owner_alive(record.owner_pid, record.owner_start):
                continue
            error = f"the process running it (pid {record.owner_pid}) ended without finishing"
            with suppress(MassmemError), self._connect(write=True) as db:
                db.execute(
                    "UPDATE sessions SET status='interrupted', error=?, owner_pid=NULL, owner_start=NULL "
                    "WHERE id=? AND status='active' AND owner_pid=?",
                    (error, record.id, record.owner_pid),
                )
            record.status, record.error = "interrupted", error

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect(write=False) as db:
            return int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])

    def integrity(self) -> str:
        """SQLite's own check of the file: ``ok`` or what is wrong."""
        with self._connect(write=False) as db:
            return "; ".join(str(r[0]) for r in db.execute("PRAGMA integrity_check"))
